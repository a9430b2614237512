//! Pipedrive told us (webhooks) or the full reconciliation found that a linked record changed
//! there: a merge moves the link to the survivor and retires the losing id; fields edited since
//! the last write are settled by `[sync.drift]` (decided in `mlc_sync::drift`): set back with a
//! PATCH of ECC's value (audited "re-asserted", paced and charged like any write), flagged
//! (audited "drift-flagged"), or ignored.

use std::collections::BTreeMap;

use chrono::Utc;
use mlc_pipedrive::PipedriveError;
use mlc_store::{
    Action, AuditEvent, AuditQuery, EntityKind, FailureChange, LinkChange, OutcomeBatch,
    RecordOutcome, StoreError,
};
use mlc_sync::drift::{drift_record, reasserted_fields, settle_drift};
use mlc_sync::existing::ExistingRecord;
use mlc_sync::map::{diff, MappedRecord};
use mlc_sync::plan::PlanEntry;
use serde_json::{json, Value};

use super::refusals::in_the_trash;
use super::{RunContext, SyncEngine, SyncError};
use crate::convert::{existing_organization, existing_person, organization_write, person_write};
use crate::outcome::ReadContext;

/// What webhooks asked a run to look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipedriveEvents {
    /// Customers (internal or display form) whose linked records changed in Pipedrive: read
    /// from ECC and compared with the records Pipedrive holds.
    pub customers: Vec<String>,
    /// Linked records merged into another in Pipedrive.
    pub merges: Vec<MergedRecord>,
}

impl PipedriveEvents {
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty() && self.merges.is_empty()
    }

    /// Adds `other`, each customer and merge once.
    pub fn absorb(&mut self, other: PipedriveEvents) {
        for customer in other.customers {
            if !self.customers.contains(&customer) {
                self.customers.push(customer);
            }
        }
        for merge in other.merges {
            if !self.merges.contains(&merge) {
                self.merges.push(merge);
            }
        }
    }
}

/// A linked record a person merged into another in Pipedrive (`meta.merged_to_id` of the
/// losing record's delete event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRecord {
    pub kind: EntityKind,
    pub ecc_key: String,
    pub customer_number: String,
    /// The losing id, retired.
    pub merged_id: i64,
    /// The survivor, which the link follows.
    pub survivor_id: i64,
}

/// A drift update's outcome, and the audit event of the flagged fields when some were set back
/// as well (one outcome holds one event).
pub(super) struct DriftOutcome {
    pub outcome: RecordOutcome,
    pub flagged_too: Option<AuditEvent>,
}

impl SyncEngine {
    /// Moves each merged record's link to its survivor (the losing id is retired). A survivor
    /// already linked to another ECC record is not taken: the link is removed and the record
    /// is matched again by the next run (a pair for the review queue, never a duplicate).
    pub(super) async fn follow_merges(
        &self,
        run_id: i64,
        fencing_token: Option<i64>,
        merges: &[MergedRecord],
    ) -> Result<(), SyncError> {
        let connection = &self.config.sync.connection;
        for merge in merges {
            let current = self
                .store
                .link(connection, merge.kind, &merge.ecc_key)
                .await?;
            if current.map(|link| link.pipedrive_id) != Some(merge.merged_id) {
                // Moved already (a retried delivery), or linked elsewhere since.
                continue;
            }
            let now = Utc::now();
            let audit = |action: Action, outcome: String, error: Option<String>| AuditEvent {
                id: 0,
                connection: connection.clone(),
                run_id,
                kind: merge.kind,
                ecc_key: merge.ecc_key.clone(),
                customer_number: merge.customer_number.clone(),
                read_at: now,
                source: "pipedrive-webhook".into(),
                extracted: json!({"merge": {"merged_id": merge.merged_id, "survivor_id": merge.survivor_id}}),
                extracted_later: None,
                content_hash: String::new(),
                action,
                pipedrive_id: Some(merge.survivor_id),
                outcome,
                error,
                recorded_at: now,
                full_copy_id: None,
            };
            let moved = RecordOutcome {
                kind: merge.kind,
                ecc_key: merge.ecc_key.clone(),
                pushed_hash: None,
                pipedrive_verified: None,
                link: LinkChange::Set(merge.survivor_id),
                failure: FailureChange::Keep,
                closes_intent: None,
                audit: audit(
                    Action::Link,
                    format!(
                        "{kind} {from} was merged into {kind} {into} in Pipedrive: the link \
                         follows to {into}; {from} is retired",
                        kind = merge.kind,
                        from = merge.merged_id,
                        into = merge.survivor_id
                    ),
                    None,
                ),
            };
            let batch = OutcomeBatch {
                connection: connection.clone(),
                run_id,
                fencing_token,
                outcomes: vec![moved],
                cursor: None,
            };
            match self.store.commit_outcomes(&batch).await {
                Ok(()) => {}
                Err(StoreError::LinkConflict { linked_to, .. }) => {
                    let message = format!(
                        "{kind} {from} was merged into {kind} {into} in Pipedrive, which is linked \
                         to ECC key {linked_to}: unlinked; the next run matches it again",
                        kind = merge.kind,
                        from = merge.merged_id,
                        into = merge.survivor_id
                    );
                    let unlinked = RecordOutcome {
                        link: LinkChange::Remove,
                        audit: audit(Action::Error, "unlinked".into(), Some(message)),
                        ..batch.outcomes[0].clone()
                    };
                    self.store
                        .commit_outcomes(&OutcomeBatch {
                            outcomes: vec![unlinked],
                            ..batch
                        })
                        .await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// How often each field of the entry's record was re-asserted in the last 24 hours.
    pub(super) async fn reasserted_today(
        &self,
        entry: &PlanEntry,
    ) -> Result<BTreeMap<String, u32>, StoreError> {
        let events = self
            .store
            .audit(&AuditQuery {
                connection: Some(self.config.sync.connection.clone()),
                customer_number: Some(entry.customer_number.clone()),
                action: Some(Action::ReAsserted),
                kind: Some(entry.kind),
                since: Some(Utc::now() - chrono::Duration::hours(24)),
                ..AuditQuery::default()
            })
            .await?;
        Ok(reasserted_fields(
            events
                .iter()
                .filter(|event| event.ecc_key == entry.ecc_key)
                .map(|event| &event.extracted),
        ))
    }

    /// A linked record whose mapped content is what was last pushed: what differs in Pipedrive
    /// was edited there, and is settled by `[sync.drift]`. Without `diffed` the record is
    /// fetched first (a webhook run); a record found deleted is the 404 it amounts to.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn settle_drift(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        id: i64,
        mapped: &MappedRecord,
        diffed: bool,
        reasserted_today: &BTreeMap<String, u32>,
    ) -> Result<DriftOutcome, PipedriveError> {
        let (drifted, held) = if diffed {
            let held: BTreeMap<String, Value> = entry
                .evidence
                .as_ref()
                .and_then(|evidence| evidence.get("pipedrive"))
                .and_then(Value::as_object)
                .map(|held| held.clone().into_iter().collect())
                .unwrap_or_default();
            (mapped.clone(), held)
        } else {
            let mut managed_labels = context.field_map.managed_label_ids().to_vec();
            managed_labels.extend(context.status_label_id);
            let current: Box<dyn ExistingRecord + Send + Sync> = match entry.kind {
                EntityKind::Organization => {
                    let current = self.client.get_organization(id).await?;
                    if current.is_deleted {
                        return Err(in_the_trash(entry.kind, id));
                    }
                    Box::new(existing_organization(&current))
                }
                EntityKind::Person => {
                    let current = self.client.get_person(id).await?;
                    if current.is_deleted {
                        return Err(in_the_trash(entry.kind, id));
                    }
                    Box::new(existing_person(&current))
                }
            };
            let drifted = diff(mapped, current.as_ref(), &managed_labels);
            let held = drifted
                .owned_fields()
                .map(|field| {
                    let value = current.current_value(field).unwrap_or(Value::Null);
                    (field.to_string(), value)
                })
                .collect();
            (drifted, held)
        };
        let found_by = if diffed { "reconciliation" } else { "webhook" };
        if drifted.is_empty() {
            let outcome = self.drift_outcome(
                context,
                entry,
                read,
                id,
                Action::Skip,
                format!("{} {id} holds what was last pushed: no call", entry.kind),
                None,
            );
            return Ok(DriftOutcome {
                outcome,
                flagged_too: None,
            });
        }
        let settlement = settle_drift(
            &drifted,
            &self.config.sync.drift,
            &context.field_names,
            reasserted_today,
        );
        let name = |field: &str| mlc_sync::drift::field_name(field, &context.field_names);
        let flagged_event = (!settlement.flagged.is_empty()).then(|| {
            let fields: Vec<&str> = settlement
                .flagged
                .iter()
                .map(|flag| flag.field.as_str())
                .collect();
            let reasons: Vec<String> = settlement
                .flagged
                .iter()
                .map(|flag| format!("{} ({})", flag.name, flag.reason))
                .collect();
            let mut event = self.audit(
                context,
                entry,
                read,
                Action::DriftFlagged,
                Some(id),
                format!(
                    "edited in Pipedrive, left as it is ({found_by}): {}",
                    reasons.join("; ")
                ),
                None,
            );
            event.extracted = with_drift(
                &read.extracted,
                drift_record(&fields, &held, &drifted, found_by),
            );
            event
        });
        if settlement.reassert.is_empty() {
            let outcome = match flagged_event {
                Some(event) => crate::outcome::note(entry.kind, &entry.ecc_key, event),
                None => self.drift_outcome(
                    context,
                    entry,
                    read,
                    id,
                    Action::Skip,
                    format!(
                        "edited in Pipedrive, ignored (sync.drift): {}",
                        settlement
                            .ignored
                            .iter()
                            .map(|field| name(field))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None,
                ),
            };
            return Ok(DriftOutcome {
                outcome,
                flagged_too: None,
            });
        }
        match entry.kind {
            EntityKind::Organization => {
                let write = organization_write(settlement.reassert.patch_body())?;
                if self
                    .client
                    .update_organization(id, &write)
                    .await?
                    .is_deleted
                {
                    return Err(in_the_trash(entry.kind, id));
                }
            }
            EntityKind::Person => {
                let write = person_write(settlement.reassert.patch_body())?;
                if self.client.update_person(id, &write).await?.is_deleted {
                    return Err(in_the_trash(entry.kind, id));
                }
            }
        }
        let fields: Vec<&str> = settlement.reassert.owned_fields().collect();
        let names: Vec<String> = fields.iter().map(|field| name(field)).collect();
        let mut outcome = self.drift_outcome(
            context,
            entry,
            read,
            id,
            Action::ReAsserted,
            format!(
                "edited in Pipedrive ({found_by}), set back to ECC's value: {} {id}: {}",
                entry.kind,
                names.join(", ")
            ),
            None,
        );
        outcome.audit.extracted = with_drift(
            &read.extracted,
            drift_record(&fields, &held, &drifted, found_by),
        );
        Ok(DriftOutcome {
            outcome,
            flagged_too: flagged_event,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn drift_outcome(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        id: i64,
        action: Action,
        outcome: String,
        error: Option<String>,
    ) -> RecordOutcome {
        RecordOutcome {
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            pushed_hash: entry.pushed_hash.clone(),
            pipedrive_verified: None,
            link: LinkChange::Keep,
            failure: FailureChange::Reset,
            closes_intent: None,
            audit: self.audit(context, entry, read, action, Some(id), outcome, error),
        }
    }
}

/// The record as read from ECC, with what drifted beside it under "drift".
fn with_drift(extracted: &Value, drift: Value) -> Value {
    let mut combined = match extracted {
        Value::Object(fields) => fields.clone(),
        Value::Null => serde_json::Map::new(),
        other => serde_json::Map::from_iter([("record".to_string(), other.clone())]),
    };
    if let Some(drift) = drift.get("drift") {
        combined.insert("drift".into(), drift.clone());
    }
    Value::Object(combined)
}
