//! Building the store's `RecordOutcome` for a plan entry, and the progress a run reports.

use chrono::{DateTime, Utc};
use mlc_store::{Action, AuditEvent, EntityKind, FailureChange, LinkChange, RecordOutcome};

use mlc_sync::plan::PlanEntry;

/// What a run tells the terminal or the UI as it goes.
pub trait Progress: Send + Sync {
    /// Customers read from ECC so far.
    fn read(&self, customers: u64);
    /// The plan is made: `entries` records, `writes` of them need a Pipedrive call.
    fn planned(&self, entries: u64, writes: u64);
    /// One more record handled; `tokens` spent so far in this run.
    fn handled(&self, action: Action, tokens: u64);
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn read(&self, _customers: u64) {}
    fn planned(&self, _entries: u64, _writes: u64) {}
    fn handled(&self, _action: Action, _tokens: u64) {}
}

/// Where and when a record was read, and what was read, for its audit event.
#[derive(Clone)]
pub struct ReadContext {
    pub source: String,
    pub read_at: DateTime<Utc>,
    pub extracted: serde_json::Value,
    /// The copy of what was read made later, when `extracted` is null for a skip (see
    /// `AuditEvent::extracted_later`).
    pub later: Option<mlc_store::ExtractedLater>,
}

/// The audit event of `entry` with the given result.
#[allow(clippy::too_many_arguments)]
pub fn audit_event(
    connection: &str,
    run_id: i64,
    entry: &PlanEntry,
    read: &ReadContext,
    action: Action,
    pipedrive_id: Option<i64>,
    outcome: String,
    error: Option<String>,
) -> AuditEvent {
    let now = Utc::now();
    AuditEvent {
        id: 0,
        connection: connection.to_string(),
        run_id,
        kind: entry.kind,
        ecc_key: entry.ecc_key.clone(),
        customer_number: entry.customer_number.clone(),
        read_at: read.read_at,
        source: read.source.clone(),
        extracted: read.extracted.clone(),
        extracted_later: read.later.clone(),
        content_hash: entry.content_hash.clone(),
        action,
        pipedrive_id,
        outcome,
        error,
        recorded_at: now,
        full_copy_id: None,
    }
}

/// An outcome that changes nothing but the audit trail (skip, review, deferred, a data error).
pub fn note(kind: EntityKind, ecc_key: &str, audit: AuditEvent) -> RecordOutcome {
    RecordOutcome {
        kind,
        ecc_key: ecc_key.to_string(),
        pushed_hash: None,
        pipedrive_verified: None,
        link: LinkChange::Keep,
        failure: FailureChange::Keep,
        closes_intent: None,
        audit,
    }
}
