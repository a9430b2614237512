//! What both simulators (ECC and Pipedrive) share, so they behave alike where they should:
//! [`serve`] runs an axum router on a loopback port in-process and stops it gracefully, and
//! [`FaultSettings`] with [`FaultInjector`] is the one vocabulary of injected faults
//! (`POST /_sim/faults` on either simulator).

mod faults;
mod server;

pub use faults::{AfterFault, FaultInjector, FaultPlan, FaultSettings};
pub use server::{bind, serve, RunningServer};
/// What stops a served simulator (see [`serve`]).
pub use tokio_util::sync::CancellationToken;
