//! The summaries of runs that stop before they write: paused (after a 403 or a used budget
//! share) or interrupted by shutdown.

use mlc_store::{ActionCounts, RunStatus};

use super::RunSummary;

/// Why a run that shutdown stopped ends `interrupted`.
pub(super) const SHUTDOWN_REASON: &str =
    "interrupted: the process is shutting down; the next run resumes";

impl RunSummary {
    /// A run that called nothing because the connection is paused.
    pub fn paused(run_id: i64, pause: &crate::Pause) -> RunSummary {
        RunSummary {
            status: RunStatus::Deferred,
            error: None,
            alert: Some(crate::pause::pause_message(pause)),
            ..RunSummary::interrupted(run_id)
        }
    }

    /// A run stopped by shutdown before its read ended: it wrote nothing, or only what it
    /// planned while ECC was read (its counts say).
    pub(super) fn interrupted(run_id: i64) -> RunSummary {
        RunSummary {
            run_id,
            status: RunStatus::Interrupted,
            counts: ActionCounts::new(),
            tokens_used: 0,
            index_tokens: 0,
            customers_read: 0,
            customers_planned_early: 0,
            ecc_read_secs: None,
            phase_secs: Default::default(),
            peak_rss_mb_after: Default::default(),
            rejected: Vec::new(),
            ecc_duplicates: 0,
            ecc_duplicates_kept: false,
            plan: None,
            alert: None,
            error: Some(SHUTDOWN_REASON.to_string()),
        }
    }
}
