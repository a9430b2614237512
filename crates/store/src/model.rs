//! The plain data only the store's callers exchange with it (queries, intents, cursors, runs,
//! leases). The domain vocabulary it persists lives in `mlc_canonical::state`. No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use mlc_canonical::state::*;

/// A linked contact and the customer its record state names (`None` when it names none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonCustomer {
    pub contact_number: String,
    pub customer_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIntent {
    pub connection: String,
    pub run_id: i64,
    pub kind: EntityKind,
    pub ecc_key: String,
    /// "create", or another operation whose outcome must be checked after a crash.
    pub operation: String,
    /// What is about to be sent, to recognise it in Pipedrive afterwards.
    pub payload: serde_json::Value,
    /// The lease's fencing token of the run; the intent (and so the create it announces) is
    /// refused with `Fenced` once the lease moved on. `None` without a lease (a dry run).
    pub fencing_token: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: i64,
    pub connection: String,
    pub run_id: i64,
    pub kind: EntityKind,
    pub ecc_key: String,
    pub operation: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A cursor move committed with the outcomes it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorAdvance {
    pub stream: String,
    pub expected_version: Option<i64>,
    pub value: String,
}

/// Outcomes committed in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeBatch {
    pub connection: String,
    pub run_id: i64,
    /// The lease's fencing token the writer holds; `None` when no lease is used (one-shot CLI).
    pub fencing_token: Option<i64>,
    pub outcomes: Vec<RecordOutcome>,
    pub cursor: Option<CursorAdvance>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub connection: Option<String>,
    pub customer_number: Option<String>,
    pub run_id: Option<i64>,
    pub action: Option<Action>,
    pub kind: Option<EntityKind>,
    /// Events recorded at or after this time (`recorded_at`).
    pub since: Option<DateTime<Utc>>,
    /// Events recorded before this time (`recorded_at`).
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this id (the next page after a page ending at it).
    pub before_id: Option<i64>,
    /// Only events newer than this id.
    pub after_id: Option<i64>,
    /// Newest first, at most this many; `None` for all.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub connection: String,
    pub stream: String,
    pub value: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    pub connection: String,
    /// Which process ran it (host:pid or a configured name).
    pub instance: String,
    /// "delta", "full", "dry-run", "replay".
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFinish {
    pub status: RunStatus,
    pub counts: ActionCounts,
    pub tokens_used: u64,
    /// An alert for the operator (a 403 from Pipedrive, the budget share used up).
    pub alert: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub connection: String,
    pub instance: String,
    pub mode: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: ActionCounts,
    pub tokens_used: u64,
    pub alert: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunQuery {
    pub connection: Option<String>,
    /// Only the run with this id.
    pub id: Option<i64>,
    /// Newest first, at most this many.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub connection: String,
    pub holder: String,
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
}

/// Who holds a connection's lease now, for a message to whoever finds it taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub connection: String,
    pub holder: String,
    pub fencing_token: i64,
    /// When the holder took it; `None` for a lease taken before the store recorded it.
    pub acquired_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}
