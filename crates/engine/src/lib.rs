//! The executor: the one place with I/O in the sync. It reads ECC through the extractor, hands
//! plain data to the pure core (`mlc_sync`: map, match, plan), carries the plan out through the
//! Pipedrive client (paced by the governor), and commits each record's outcome, link and audit
//! event to the store.
//!
//! Crash safety: an intent is written before every create and closed with the outcome in one
//! transaction; a run that finds open intents first looks the records up in Pipedrive by their
//! external id (ECC customer or contact number) and links what it finds instead of creating
//! again. The delta cursor moves only after every record it covers has its outcome. A run that
//! writes holds the connection's lease (`RunLease`), so two runs of one connection never overlap.

mod convert;
mod engine;
mod lease;
mod memory;
mod outcome;
mod pause;
pub mod pipedrive_wiring;
pub mod review_rules;

pub use engine::{
    EarlyPlanning, MergedRecord, PipedriveEvents, RunMode, RunOptions, RunSummary, SyncEngine,
    SyncError,
};
pub use lease::{LeaseError, RunLease, DEFAULT_LEASE_TTL};
pub use memory::{on_memory_heavy_steps, peak_rss_kb};
pub use outcome::{NoProgress, Progress};
pub use pause::{pause_in_effect, pause_message, record_pause, record_paused_run, Pause};
pub use pipedrive_wiring::{connect_pipedrive, pipedrive_storage};
pub use tokio_util::sync::CancellationToken;
