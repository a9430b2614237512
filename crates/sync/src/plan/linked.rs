//! A record linked to a Pipedrive record, organization and person alike. Unchanged since its
//! last write it costs nothing, unless the run looks for drift: then the fields edited in
//! Pipedrive since are an update, which the executor settles by `[sync.drift]`
//! (`crate::drift`). Changed, it is updated with what differs from Pipedrive's copy; linked
//! just now (matched, or accepted in review), it is given the mapped values. A linked record
//! Pipedrive lost is an error, never created again.

use mlc_canonical::state::{EntityKind, RecordState};
use serde_json::{json, Value};

use super::cost::{GET_TOKENS, UPDATE_TOKENS};
use super::{CustomerRecord, DriftCheck, Operation, PlanEntry, Planner};
use crate::existing::{verified_fingerprint, ExistingOrganization, ExistingPerson, ExistingRecord};
use crate::map::{diff, MappedRecord};

/// A mapped record and the Pipedrive record it is linked to.
pub(super) struct LinkedRecord<'s> {
    pub id: i64,
    pub mapped: MappedRecord,
    /// The hash of `mapped`, stored once the write succeeded; `None` for a person whose
    /// organization is created in this run (its `org_id` is not known yet).
    pub mapped_hash: Option<String>,
    pub state: Option<&'s RecordState>,
    /// The labels the connector manages: a diff leaves the salespeople's own alone.
    pub managed_labels: &'s [i64],
    /// The customer is deleted or blocked under the `label` policy: an update of the status
    /// label alone is the `label` action.
    pub labelled: bool,
}

/// Pipedrive's copy of a record, from the index.
enum IndexedRecord {
    Organization(ExistingOrganization),
    Person(ExistingPerson),
}

impl IndexedRecord {
    /// Pipedrive's copy from the JSON the index hands over (see
    /// `ExistingLookup::organization_json`); `None` when it does not parse.
    fn parse(kind: EntityKind, json: &[u8]) -> Option<Self> {
        match kind {
            EntityKind::Organization => serde_json::from_slice(json)
                .ok()
                .map(IndexedRecord::Organization),
            EntityKind::Person => serde_json::from_slice(json).ok().map(IndexedRecord::Person),
        }
    }

    fn as_existing(&self) -> &dyn ExistingRecord {
        match self {
            IndexedRecord::Organization(organization) => organization,
            IndexedRecord::Person(person) => person,
        }
    }
}

impl<'p, 'a> Planner<'p, 'a> {
    /// Pipedrive's copy of record `id`: `None` when the run has not loaded the index,
    /// `Some(None)` when the index does not hold it (deleted or merged in Pipedrive).
    fn indexed(&self, kind: EntityKind, id: i64) -> Option<Option<IndexedRecord>> {
        let view = self.inputs.pipedrive.as_ref()?;
        Some(match kind {
            EntityKind::Organization => view
                .existing
                .organization(id)
                .map(IndexedRecord::Organization),
            EntityKind::Person => view.existing.person(id).map(IndexedRecord::Person),
        })
    }

    /// Pipedrive's copy of record `id` as JSON, unparsed; `None` without the index or when it
    /// does not hold the record.
    fn indexed_json(&self, kind: EntityKind, id: i64) -> Option<Vec<u8>> {
        let existing = self.inputs.pipedrive.as_ref()?.existing;
        match kind {
            EntityKind::Organization => existing.organization_json(id),
            EntityKind::Person => existing.person_json(id),
        }
    }

    /// A linked record: left alone (or checked for drift) while its mapped content is what
    /// was last pushed without a failure since, else updated with what differs. A drift check
    /// that finds what the last one found holding (the same fingerprint) is not made again.
    pub(super) fn plan_linked_record(
        &self,
        record: &CustomerRecord<'_>,
        mut planned: PlanEntry,
        linked: LinkedRecord<'_>,
    ) -> PlanEntry {
        let LinkedRecord {
            id,
            mapped,
            mapped_hash,
            state,
            managed_labels,
            labelled,
        } = linked;
        let unchanged = state.is_some_and(|state| {
            state.pushed_hash.is_some() && state.pushed_hash == mapped_hash && state.failures == 0
        });
        // Pipedrive's copy as a drift check would read it, with its fingerprint (see
        // `verified_fingerprint`).
        let copy = match &mapped_hash {
            Some(hash) if unchanged && !record.replay && record.drift != DriftCheck::Off => self
                .indexed_json(planned.kind, id)
                .map(|json| (verified_fingerprint(&json, hash, managed_labels), json)),
            _ => None,
        };
        let fingerprint = copy.as_ref().map(|(fingerprint, _)| *fingerprint);
        planned.pushed_hash = mapped_hash;
        if fingerprint.is_some() && state.and_then(|state| state.pipedrive_verified) == fingerprint
        {
            planned.pushed_hash = None;
            planned.reason = HOLDS_WHAT_WAS_PUSHED.into();
            return planned;
        }
        // The copy read for the fingerprint is parsed, not read from the index again.
        let indexed = match copy.and_then(|(_, json)| IndexedRecord::parse(planned.kind, &json)) {
            Some(parsed) => Some(Some(parsed)),
            None => self.indexed(planned.kind, id),
        };
        let current = indexed
            .as_ref()
            .map(|indexed| indexed.as_ref().map(IndexedRecord::as_existing));
        if unchanged && !record.replay {
            return drift_check(
                record.drift,
                planned,
                DriftCompared {
                    mapped,
                    managed_labels,
                    id,
                    current,
                    fingerprint,
                },
            );
        }
        update_changed(planned, mapped, managed_labels, id, current, labelled)
    }

    /// Links the record to Pipedrive record `id` and gives it what differs of the mapped
    /// values (all of them, diffed by the executor, when the index is not loaded).
    pub(super) fn link_record(
        &self,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        mapped_hash: Option<String>,
        managed_labels: &[i64],
        id: i64,
        reason: String,
    ) -> PlanEntry {
        planned.pushed_hash = mapped_hash;
        planned.reason = reason;
        let (changes, diffed) = match self.indexed(planned.kind, id).flatten() {
            Some(current) => (diff(&mapped, current.as_existing(), managed_labels), true),
            None => (mapped, false),
        };
        planned.tokens = match (diffed, changes.is_empty()) {
            (true, true) => 0,
            (true, false) => UPDATE_TOKENS,
            (false, _) => GET_TOKENS + UPDATE_TOKENS,
        };
        planned.operation = Operation::Link {
            id,
            changes,
            diffed,
        };
        planned
    }
}

/// What a drift check compares: the mapped record, the labels the connector manages, and
/// Pipedrive's copy `current` of record `id` (`None` without an index, `Some(None)` when the
/// index does not hold it), under `fingerprint` (kept once Pipedrive is found holding what was
/// pushed).
struct DriftCompared<'c> {
    mapped: MappedRecord,
    managed_labels: &'c [i64],
    id: i64,
    current: Option<Option<&'c dyn ExistingRecord>>,
    fingerprint: Option<i64>,
}

/// Why an unchanged record whose Pipedrive copy holds what was pushed is skipped.
const HOLDS_WHAT_WAS_PUSHED: &str =
    "unchanged since the last write, and Pipedrive holds what was pushed";

/// A linked record whose mapped content is what was last pushed: skipped, unless the run looks
/// for drift; then the fields Pipedrive holds otherwise (edited there since) are an update
/// marked `drift`, which the executor settles by `[sync.drift]`.
fn drift_check(
    check: DriftCheck,
    mut planned: PlanEntry,
    compared: DriftCompared<'_>,
) -> PlanEntry {
    let DriftCompared {
        mapped,
        managed_labels,
        id,
        current,
        fingerprint,
    } = compared;
    planned.reason = "unchanged since the last write".into();
    match (check, current) {
        (DriftCheck::Off, _) => {
            planned.pushed_hash = None;
        }
        (_, Some(Some(current))) => {
            let changes = diff(&mapped, current, managed_labels);
            if changes.is_empty() {
                planned.pushed_hash = None;
                planned.reason = HOLDS_WHAT_WAS_PUSHED.into();
                planned.pipedrive_verified = fingerprint;
                return planned;
            }
            let fields: Vec<&str> = changes.owned_fields().collect();
            let held: serde_json::Map<String, Value> = fields
                .iter()
                .map(|field| {
                    (
                        field.to_string(),
                        current.current_value(field).unwrap_or(Value::Null),
                    )
                })
                .collect();
            planned.reason = format!(
                "edited in Pipedrive since the last write: {}",
                fields.join(", ")
            );
            planned.evidence = Some(json!({ "pipedrive": held }));
            planned.operation = Operation::Update {
                id,
                changes,
                diffed: true,
            };
            planned.drift = true;
            planned.tokens = UPDATE_TOKENS;
        }
        (DriftCheck::AgainstIndex, None) => {
            // Planned again once the index is loaded.
            planned.pushed_hash = None;
            planned.needs_index = true;
        }
        (DriftCheck::AgainstRecord, None) | (_, Some(None)) => {
            // Fetched by id: a record gone from the list is found deleted (and then follows
            // `sync.on_pipedrive_deleted`) or merged; one edited is settled field by field.
            planned.reason =
                "unchanged since the last write; compared with the record in Pipedrive".into();
            planned.operation = Operation::Update {
                id,
                changes: mapped,
                diffed: false,
            };
            planned.drift = true;
            planned.tokens = GET_TOKENS + UPDATE_TOKENS;
        }
    }
    planned
}

/// The update of a linked record whose mapped content changed: diffed against the index when
/// it is loaded, else left to the executor to diff against a fetched copy.
fn update_changed(
    mut planned: PlanEntry,
    mapped: MappedRecord,
    managed_labels: &[i64],
    id: i64,
    current: Option<Option<&dyn ExistingRecord>>,
    labelled: bool,
) -> PlanEntry {
    let kind = planned.kind;
    match current {
        Some(None) => {
            planned.operation = Operation::Error;
            planned.reason = match kind {
                EntityKind::Organization => format!(
                    "the linked organization {id} is not in Pipedrive any more (deleted or merged there); not re-created, check it and the link"
                ),
                EntityKind::Person => format!(
                    "the linked person {id} is not in Pipedrive any more (deleted or merged there); not re-created"
                ),
            };
            planned.pushed_hash = None;
        }
        Some(Some(current)) => {
            let changes = diff(&mapped, current, managed_labels);
            if changes.is_empty() {
                planned.reason =
                    "changed in ECC, but Pipedrive already holds the mapped values".into();
                return planned;
            }
            planned.reason = format!(
                "changed: {}",
                changes.owned_fields().collect::<Vec<_>>().join(", ")
            );
            planned.operation = if labelled && only_the_labels(&changes) {
                Operation::Label { id, changes }
            } else {
                Operation::Update {
                    id,
                    changes,
                    diffed: true,
                }
            };
            planned.tokens = UPDATE_TOKENS;
        }
        None => {
            planned.reason = format!(
                "mapped content changed; fields to send are decided against the current {kind}"
            );
            planned.operation = Operation::Update {
                id,
                changes: mapped,
                diffed: false,
            };
            planned.tokens = GET_TOKENS + UPDATE_TOKENS;
        }
    }
    planned
}

/// Whether an update changes nothing but the labels (under the `label` policy: the status
/// label, the `label` action).
fn only_the_labels(changes: &MappedRecord) -> bool {
    changes.len() == 1 && changes.get("label_ids").is_some()
}
