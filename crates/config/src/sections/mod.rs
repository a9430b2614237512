//! One module per config table, each with its raw form (as written) and its validated form.

pub mod alerts;
pub mod audit;
pub mod ecc;
pub mod mapping;
pub mod pipedrive;
pub mod server;
pub mod store;
pub mod sync;
