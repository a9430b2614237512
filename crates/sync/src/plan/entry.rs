//! The plan's vocabulary: per record, one entry with the operation that carries out the
//! decision in Pipedrive and the reason for it in words; the audit's action is derived from the
//! operation, so the two cannot disagree. This module decides nothing: it says what a decision
//! is, for the executor that carries it out and for `--dry-run` that prints it.

use mlc_canonical::state::{Action, ActionCounts, EntityKind};
use serde::Serialize;
use serde_json::Value;

use crate::map::MappedRecord;
use crate::matching::EccDuplicate;

/// Where a person's organization is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrganizationRef {
    Existing {
        id: i64,
    },
    /// Created earlier in this plan; the executor fills `org_id` once it has the id.
    CreatedInThisRun {
        customer_number: String,
    },
}

/// What is done with a record in Pipedrive: the decision and the call that carries it out, in
/// one, so the two cannot disagree. The audit's [`Action`] is derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum Operation {
    /// No call: unchanged, already held by Pipedrive, or not synced at all.
    Skip,
    /// No call: the record cannot be written (the reason says why).
    Error,
    /// No call in this run: it waits for the index, its organization or a later run.
    Deferred,
    /// No call: a review already queued waits for its decision.
    AwaitReview,
    /// POST; `body` is the whole mapped record (`create_body()`).
    Create {
        #[serde(serialize_with = "serialize_patch")]
        body: MappedRecord,
        /// For a person, its organization.
        organization: Option<OrganizationRef>,
    },
    /// PATCH of the changed fields. With `diffed` false the executor did not have the current
    /// record: it fetches it (1 token) and sends `map::diff(changes, current)`; if that is
    /// empty, it sends nothing.
    Update {
        id: i64,
        #[serde(serialize_with = "serialize_patch")]
        changes: MappedRecord,
        diffed: bool,
    },
    /// PATCH whose only change is the status label (the `label` lifecycle policy), already
    /// diffed against the current organization.
    Label {
        id: i64,
        #[serde(serialize_with = "serialize_patch")]
        changes: MappedRecord,
    },
    /// Link the record to an existing one, then PATCH what differs (nothing when `changes` is
    /// empty and `diffed`).
    Link {
        id: i64,
        #[serde(serialize_with = "serialize_patch")]
        changes: MappedRecord,
        diffed: bool,
    },
    /// DELETE (the `delete` policy); the link is removed with the outcome.
    Delete { id: i64 },
    /// Put the pair in the review queue.
    Review { id: i64, score: f64 },
}

impl Operation {
    /// The action the audit and the counts record for this operation.
    pub fn action(&self) -> Action {
        match self {
            Operation::Skip => Action::Skip,
            Operation::Error => Action::Error,
            Operation::Deferred => Action::Deferred,
            Operation::AwaitReview | Operation::Review { .. } => Action::Review,
            Operation::Create { .. } => Action::Create,
            Operation::Update { .. } => Action::Update,
            Operation::Label { .. } => Action::Label,
            Operation::Link { .. } => Action::Link,
            Operation::Delete { .. } => Action::Delete,
        }
    }

    /// Whether carrying it out calls Pipedrive (or the review queue) at all.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Operation::Skip | Operation::Error | Operation::Deferred | Operation::AwaitReview
        )
    }

    /// The Pipedrive record the operation works on, when it is an existing one.
    pub fn pipedrive_id(&self) -> Option<i64> {
        match self {
            Operation::Update { id, .. }
            | Operation::Label { id, .. }
            | Operation::Link { id, .. }
            | Operation::Delete { id }
            | Operation::Review { id, .. } => Some(*id),
            Operation::Skip
            | Operation::Error
            | Operation::Deferred
            | Operation::AwaitReview
            | Operation::Create { .. } => None,
        }
    }
}

fn serialize_patch<S: serde::Serializer>(
    record: &MappedRecord,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    record.patch_body().serialize(serializer)
}

/// One record's entry in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    pub kind: EntityKind,
    /// KUNNR or PARNR, internal form.
    pub ecc_key: String,
    /// The customer the record belongs to (its own number for an organization).
    pub customer_number: String,
    /// What is done, with the call that does it.
    pub operation: Operation,
    /// Why, in words, for the audit and `--dry-run`.
    pub reason: String,
    /// Hash of the canonical record as read (the audit's `content_hash`).
    pub content_hash: String,
    /// Hash of the mapped content to store as `pushed_hash` once the write succeeded; `None`
    /// for a person whose organization is created in this run (the executor hashes the body
    /// after filling `org_id`) and for entries that write nothing.
    pub pushed_hash: Option<String>,
    /// Pipedrive found holding what was pushed, with the fingerprint that says so (see
    /// `existing::verified_fingerprint`), to keep in the record's state.
    pub pipedrive_verified: Option<i64>,
    /// The matcher's decision and evidence, when it was asked.
    pub evidence: Option<Value>,
    /// Tokens the operation is estimated to cost.
    pub tokens: u32,
    /// The record could not be decided without the Pipedrive index.
    pub needs_index: bool,
    /// The ECC record is gone (a contact deleted in ECC): a Pipedrive record found deleted as
    /// well is the end of it, never something to create again.
    pub gone_from_ecc: bool,
    /// Its mapped content is what was last pushed, and the update is about fields edited in
    /// Pipedrive since: the executor settles them by `[sync.drift]` (`crate::drift`).
    pub drift: bool,
}

impl PlanEntry {
    /// An entry for a record, a skip without a reason until the planner decides.
    pub(super) fn new(
        kind: EntityKind,
        ecc_key: &str,
        customer_number: &str,
        content_hash: String,
    ) -> Self {
        PlanEntry {
            kind,
            ecc_key: ecc_key.to_string(),
            customer_number: customer_number.to_string(),
            operation: Operation::Skip,
            reason: String::new(),
            content_hash,
            pushed_hash: None,
            pipedrive_verified: None,
            evidence: None,
            tokens: 0,
            needs_index: false,
            gone_from_ecc: false,
            drift: false,
        }
    }

    /// The entry as an error: nothing is called, and `reason` says why.
    pub(super) fn into_error(mut self, reason: String) -> Self {
        self.operation = Operation::Error;
        self.reason = reason;
        self
    }

    /// The action the audit records for this entry.
    pub fn action(&self) -> Action {
        self.operation.action()
    }
}

/// `--dry-run --json` shows the action beside the operation it is derived from.
impl Serialize for PlanEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut entry = serializer.serialize_struct("PlanEntry", 12)?;
        entry.serialize_field("kind", &self.kind)?;
        entry.serialize_field("ecc_key", &self.ecc_key)?;
        entry.serialize_field("customer_number", &self.customer_number)?;
        entry.serialize_field("action", &self.action())?;
        entry.serialize_field("operation", &self.operation)?;
        entry.serialize_field("reason", &self.reason)?;
        entry.serialize_field("content_hash", &self.content_hash)?;
        entry.serialize_field("pushed_hash", &self.pushed_hash)?;
        entry.serialize_field("evidence", &self.evidence)?;
        entry.serialize_field("tokens", &self.tokens)?;
        // The flags appear only when set: most entries have none.
        let flags = [
            ("needs_index", self.needs_index),
            ("gone_from_ecc", self.gone_from_ecc),
            ("drift", self.drift),
        ];
        for (name, set) in flags {
            if set {
                entry.serialize_field(name, &set)?;
            } else {
                entry.skip_field(name)?;
            }
        }
        entry.end()
    }
}

/// The plan of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Per customer: its organization's entry, then its persons' (those of contacts deleted in
    /// ECC last).
    pub entries: Vec<PlanEntry>,
    /// ECC duplicates found among the customers read.
    pub ecc_duplicates: Vec<EccDuplicate>,
}

impl Plan {
    pub fn counts(&self) -> ActionCounts {
        let mut counts = ActionCounts::new();
        for entry in &self.entries {
            *counts.entry(entry.action()).or_default() += 1;
        }
        counts
    }

    /// Tokens the writes are estimated to cost (the index pages not included).
    pub fn write_tokens(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| u64::from(entry.tokens))
            .sum()
    }

    /// Whether some record waits for the Pipedrive index: load it and plan again.
    pub fn needs_index(&self) -> bool {
        self.entries.iter().any(|entry| entry.needs_index)
    }

    /// Whether anything at all is to be written (a run without it calls Pipedrive not once).
    pub fn writes_anything(&self) -> bool {
        self.entries.iter().any(|entry| entry.operation.writes())
    }
}
