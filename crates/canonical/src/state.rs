//! What the connector knows and decides about a record between runs: the domain vocabulary the
//! pure planner, the engine and the state store share (entity kinds, actions, links, record
//! state, outcomes, audit events, reviews). Plain data, no I/O; the store persists it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// An ECC customer ↔ a Pipedrive organization.
    Organization,
    /// An ECC contact person ↔ a Pipedrive person.
    Person,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Organization => "organization",
            EntityKind::Person => "person",
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        match text {
            "organization" => Some(EntityKind::Organization),
            "person" => Some(EntityKind::Person),
            _ => None,
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What was done with a record in a run: the audit trail's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Link,
    Skip,
    Review,
    Error,
    Deferred,
    Delete,
    Label,
    /// An ECC-mastered field edited in Pipedrive was set back to what ECC says (drift policy
    /// `enforce`).
    #[serde(rename = "re-asserted")]
    ReAsserted,
    /// An ECC-mastered field edited in Pipedrive was recorded and left as it is (drift policy
    /// `flag`, or edited back and forth too often in a day).
    #[serde(rename = "drift-flagged")]
    DriftFlagged,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Create,
        Action::Update,
        Action::Link,
        Action::Skip,
        Action::Review,
        Action::Error,
        Action::Deferred,
        Action::Delete,
        Action::Label,
        Action::ReAsserted,
        Action::DriftFlagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Link => "link",
            Action::Skip => "skip",
            Action::Review => "review",
            Action::Error => "error",
            Action::Deferred => "deferred",
            Action::Delete => "delete",
            Action::Label => "label",
            Action::ReAsserted => "re-asserted",
            Action::DriftFlagged => "drift-flagged",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub connection: String,
    pub kind: EntityKind,
    pub ecc_key: String,
    pub pipedrive_id: i64,
    pub linked_at: DateTime<Utc>,
}

/// What the connector knows about one ECC record between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordState {
    pub connection: String,
    pub kind: EntityKind,
    pub ecc_key: String,
    /// The customer the record belongs to (its own number for an organization), from the last
    /// outcome committed for it; `None` only for a state nothing was committed to since.
    pub customer_number: Option<String>,
    /// Hash of the mapped content last written to Pipedrive (or found equal there).
    pub pushed_hash: Option<String>,
    /// A fingerprint of Pipedrive's copy of the record, of the content pushed and of the
    /// labels the connector manages, from the last run that compared them and found Pipedrive
    /// holding what was pushed: a run that finds the same fingerprint skips the comparison.
    pub pipedrive_verified: Option<i64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_run_id: Option<i64>,
    /// Consecutive failed writes; reset by a success.
    pub failures: u32,
    /// Earliest time a failed record is tried again.
    pub retry_after: Option<DateTime<Utc>>,
    /// Parked after too many failures, until ECC changes it or it is replayed.
    pub parked: bool,
    pub last_error: Option<String>,
}

/// How a record's link changes with an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkChange {
    Keep,
    Set(i64),
    Remove,
}

/// How a record's failure count changes with an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FailureChange {
    /// Success: failures back to 0, not parked.
    Reset,
    /// One more failure; retry no earlier than `retry_after`; parked when `park` is set.
    Increment {
        retry_after: DateTime<Utc>,
        park: bool,
        error: String,
    },
    /// Leave the count as it is (a skip, a review, a deferral).
    Keep,
}

/// One record's outcome in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordOutcome {
    pub kind: EntityKind,
    pub ecc_key: String,
    /// New pushed hash; `None` keeps the stored one.
    pub pushed_hash: Option<String>,
    /// New fingerprint of what was found verified in Pipedrive (see
    /// [`RecordState::pipedrive_verified`]); `None` keeps the stored one.
    pub pipedrive_verified: Option<i64>,
    pub link: LinkChange,
    pub failure: FailureChange,
    /// The intent this outcome closes (deleted with the commit).
    pub closes_intent: Option<i64>,
    pub audit: AuditEvent,
}

/// One line of the audit trail: what was read, what was decided, what Pipedrive answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store; 0 before it is written.
    pub id: i64,
    pub connection: String,
    pub run_id: i64,
    pub kind: EntityKind,
    pub ecc_key: String,
    /// For a person, the customer it belongs to; for an organization, its own key.
    pub customer_number: String,
    pub read_at: DateTime<Utc>,
    /// Transport and table or entity set, e.g. "soap-rfc:KNA1".
    pub source: String,
    pub extracted: serde_json::Value,
    /// What was read, made only if the store writes the event whole: set, with `extracted`
    /// null, for a skip, which the store mostly keeps narrow (pointing at the record's last
    /// full copy), so a full run with nothing to write copies no record. Never serialized;
    /// `None` for an event read back. See [`AuditEvent::extracted_copy`].
    #[serde(skip)]
    pub extracted_later: Option<ExtractedLater>,
    pub content_hash: String,
    pub action: Action,
    pub pipedrive_id: Option<i64>,
    /// What happened, e.g. "201 created", "200 updated 3 fields", "dry run".
    pub outcome: String,
    pub error: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Set when read back for a skip the store kept narrow: the event holding the last full copy
    /// of what was read for the record, whose `extracted` this event shows (its own read had
    /// `content_hash`). `None` for an event that holds its own copy, and when writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_copy_id: Option<i64>,
}

impl AuditEvent {
    /// What was read, as the store writes it whole: `extracted`, or the copy made now when it
    /// was left for later.
    pub fn extracted_copy(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        match (&self.extracted, &self.extracted_later) {
            (serde_json::Value::Null, Some(later)) => std::borrow::Cow::Owned(later.make()),
            (extracted, _) => std::borrow::Cow::Borrowed(extracted),
        }
    }
}

/// A copy of what was read, made when asked for (see [`AuditEvent::extracted_later`]).
#[derive(Clone)]
pub struct ExtractedLater(std::sync::Arc<dyn Fn() -> serde_json::Value + Send + Sync>);

impl ExtractedLater {
    pub fn new(make: impl Fn() -> serde_json::Value + Send + Sync + 'static) -> Self {
        ExtractedLater(std::sync::Arc::new(make))
    }

    pub fn make(&self) -> serde_json::Value {
        (self.0)()
    }
}

impl fmt::Debug for ExtractedLater {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ExtractedLater(..)")
    }
}

/// Two are equal when they are the same maker: what they make is not compared.
impl PartialEq for ExtractedLater {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Ok,
    Partial,
    Deferred,
    Failed,
    /// Its process stopped (killed, or shut down) before it finished; marked so when the next
    /// run takes the connection's lease over.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Deferred => "deferred",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Ok,
            RunStatus::Partial,
            RunStatus::Deferred,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Counts by action; serialized as `{"create": 3, "update": 1, ...}`.
pub type ActionCounts = std::collections::BTreeMap<Action, u64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    Accepted,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Accepted => "accepted",
            ReviewStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewStatus> {
        [
            ReviewStatus::Pending,
            ReviewStatus::Accepted,
            ReviewStatus::Rejected,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReview {
    pub connection: String,
    pub kind: EntityKind,
    pub ecc_key: String,
    pub pipedrive_id: i64,
    pub score: f64,
    /// Why they look alike: the evidence of the matcher.
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub id: i64,
    pub connection: String,
    pub kind: EntityKind,
    pub ecc_key: String,
    pub pipedrive_id: i64,
    pub score: f64,
    pub evidence: serde_json::Value,
    pub status: ReviewStatus,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// How a review decision was taken, recorded with every pair it decided: one pair by its id,
/// a group (every pending pair proposing the same Pipedrive record as pair `of_pair`), or a
/// score rule over the pending queue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum DecisionRule {
    Single,
    Group { of_pair: i64 },
    ScoreAtOrAbove { score: f64 },
    ScoreBelow { score: f64 },
}

impl DecisionRule {
    /// Pairs decided by a rule other than `Single` must still be pending when the decision is
    /// written: a pair someone decided in the meantime keeps that decision.
    pub fn only_pending(self) -> bool {
        self != DecisionRule::Single
    }

    /// The stored form: `single`, `group:12`, `score>=0.9`, `score<0.75`.
    pub fn to_stored(self) -> String {
        match self {
            DecisionRule::Single => "single".to_string(),
            DecisionRule::Group { of_pair } => format!("group:{of_pair}"),
            DecisionRule::ScoreAtOrAbove { score } => format!("score>={score}"),
            DecisionRule::ScoreBelow { score } => format!("score<{score}"),
        }
    }

    pub fn parse_stored(text: &str) -> Option<DecisionRule> {
        if text == "single" {
            return Some(DecisionRule::Single);
        }
        if let Some(pair) = text.strip_prefix("group:") {
            return pair
                .parse()
                .ok()
                .map(|of_pair| DecisionRule::Group { of_pair });
        }
        if let Some(score) = text.strip_prefix("score>=") {
            return score
                .parse()
                .ok()
                .map(|score| DecisionRule::ScoreAtOrAbove { score });
        }
        text.strip_prefix("score<")
            .and_then(|score| score.parse().ok())
            .map(|score| DecisionRule::ScoreBelow { score })
    }
}

impl fmt::Display for DecisionRule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionRule::Single => formatter.write_str("single pair"),
            DecisionRule::Group { of_pair } => write!(formatter, "group of pair {of_pair}"),
            DecisionRule::ScoreAtOrAbove { score } => write!(formatter, "bulk: score >= {score}"),
            DecisionRule::ScoreBelow { score } => write!(formatter, "bulk: score < {score}"),
        }
    }
}

/// Pairs to decide in one transaction (a group decision accepts one pair and rejects the
/// others at once), each getting its own decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReviewDecision {
    /// Each pair's id and its new status: accepted or rejected (pending puts a pair back in
    /// the queue).
    pub pairs: Vec<(i64, ReviewStatus)>,
    pub rule: DecisionRule,
    /// Who or what decided: `cli:USER`, `api`, `ui`.
    pub decided_by: String,
}

impl NewReviewDecision {
    pub fn single(id: i64, decision: ReviewStatus, decided_by: &str) -> NewReviewDecision {
        NewReviewDecision {
            pairs: vec![(id, decision)],
            rule: DecisionRule::Single,
            decided_by: decided_by.to_string(),
        }
    }
}

/// One decision on one pair, as recorded: the review queue's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewDecisionRecord {
    pub id: i64,
    pub review_id: i64,
    pub connection: String,
    pub kind: EntityKind,
    pub ecc_key: String,
    pub pipedrive_id: i64,
    pub score: f64,
    pub decision: ReviewStatus,
    pub rule: DecisionRule,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenCharge {
    /// Charged; the day's total is now `used`.
    Charged { used: u64 },
    /// Not charged: it would cross the limit; the day's total stays `used`.
    Refused { used: u64 },
}
