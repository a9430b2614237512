//! What a refused or missing write becomes: a record deleted as asked, a linked record a person
//! deleted in Pipedrive (never written to in the trash; `sync.on_pipedrive_deleted` decides what
//! follows), and a write Pipedrive refused, whose one `disposition()` says whether it stops the
//! run or counts against the record.

use chrono::Utc;
use mlc_config::sections::sync::PipedriveDeletedPolicy;
use mlc_pipedrive::{Disposition, PipedriveError};
use mlc_store::{Action, EntityKind, FailureChange, LinkChange, RecordOutcome, RecordState};
use mlc_sync::plan::backoff::record_failure;
use mlc_sync::plan::run::RunStop;
use mlc_sync::plan::PlanEntry;

use super::{RunContext, SyncEngine};
use crate::outcome::{note, ReadContext};

impl SyncEngine {
    /// A record deleted in Pipedrive as asked (or found deleted already, which is what was
    /// asked): the link goes with it, so a later run does not delete it again.
    pub(super) fn deleted(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        id: i64,
        outcome: String,
    ) -> RecordOutcome {
        RecordOutcome {
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            pushed_hash: entry.pushed_hash.clone(),
            pipedrive_verified: None,
            link: LinkChange::Remove,
            failure: FailureChange::Reset,
            closes_intent: None,
            audit: self.audit(
                context,
                entry,
                read,
                Action::Delete,
                Some(id),
                outcome,
                None,
            ),
        }
    }

    /// The linked record is gone (404) or in the trash: it is not written to, the link goes,
    /// and `sync.on_pipedrive_deleted` says what follows, unless the record is gone from ECC
    /// as well (a contact deleted there): then it is only unlinked.
    pub(super) fn deleted_in_pipedrive(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        id: i64,
    ) -> RecordOutcome {
        let now = Utc::now();
        let gone = format!("{} {id} was deleted in Pipedrive by a person", entry.kind);
        if entry.gone_from_ecc {
            // Gone on both sides: nothing to write, nothing to create again, nothing to retry.
            return RecordOutcome {
                kind: entry.kind,
                ecc_key: entry.ecc_key.clone(),
                pushed_hash: None,
                pipedrive_verified: None,
                link: LinkChange::Remove,
                failure: FailureChange::Reset,
                closes_intent: None,
                audit: self.audit(
                    context,
                    entry,
                    read,
                    Action::Skip,
                    Some(id),
                    format!("{gone}, and its record is gone from ECC: link removed, not recreated"),
                    None,
                ),
            };
        }
        let (action, outcome, failure) = match self.config.sync.on_pipedrive_deleted {
            // Due again at once (the planner reads a failed record again): no link, so the
            // next run matches and, finding nothing alive, creates it.
            PipedriveDeletedPolicy::Recreate => (
                Action::Deferred,
                format!("{gone}: unlinked; the next run creates it again"),
                FailureChange::Increment {
                    retry_after: now,
                    park: false,
                    error: gone.clone(),
                },
            ),
            PipedriveDeletedPolicy::Flag => (
                Action::Error,
                format!(
                    "{gone}: unlinked and parked (sync.on_pipedrive_deleted = flag); \
                     `ml-connector sync --customer {}` creates it again",
                    mlc_canonical::alpha_output(&entry.customer_number)
                ),
                FailureChange::Increment {
                    retry_after: now,
                    park: true,
                    error: gone.clone(),
                },
            ),
            PipedriveDeletedPolicy::Unlink => (
                Action::Deferred,
                format!("{gone}: unlinked (sync.on_pipedrive_deleted = unlink)"),
                FailureChange::Keep,
            ),
        };
        let error = (action == Action::Error).then(|| gone.clone());
        RecordOutcome {
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            pushed_hash: None,
            pipedrive_verified: None,
            link: LinkChange::Remove,
            failure,
            closes_intent: None,
            audit: self.audit(context, entry, read, action, Some(id), outcome, error),
        }
    }

    /// The outcome of a write Pipedrive refused; stops the run's remaining writes when the
    /// refusal is about the connection rather than the record.
    pub(super) fn failed(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        state: Option<&RecordState>,
        pipedrive_id: Option<i64>,
        error: PipedriveError,
    ) -> RecordOutcome {
        let message = error.to_string();
        // The client's one classification decides; here it only becomes the run's stop.
        let stop = match error.disposition() {
            Disposition::DeferRun => Some(RunStop::Deferred(message.clone())),
            // An outage: the record keeps its place (nothing charged to it), the run stops
            // sending and ends deferred with its cursor where it was; the next run tries again.
            Disposition::ConnectionFault => Some(RunStop::Deferred(format!(
                "pipedrive is failing ({message}); the run is deferred, no record is charged"
            ))),
            Disposition::StopConnection | Disposition::FixConfig => {
                Some(RunStop::Failed(message.clone()))
            }
            Disposition::CountAgainstRecord => None,
        };
        if let Some(stop) = stop {
            if let Ok(mut current) = context.stop.lock() {
                current.get_or_insert(stop);
            }
            return note(
                entry.kind,
                &entry.ecc_key,
                self.audit(
                    context,
                    entry,
                    read,
                    Action::Deferred,
                    pipedrive_id,
                    format!("not written: {message}"),
                    None,
                ),
            );
        }
        RecordOutcome {
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            pushed_hash: None,
            pipedrive_verified: None,
            link: LinkChange::Keep,
            failure: record_failure(state, Utc::now(), self.config.sync.max_failures, &message),
            closes_intent: None,
            audit: self.audit(
                context,
                entry,
                read,
                Action::Error,
                pipedrive_id,
                "write failed".into(),
                Some(message),
            ),
        }
    }
}

/// A linked record found in Pipedrive's trash, reported as the 404 it amounts to.
pub(super) fn in_the_trash(kind: EntityKind, id: i64) -> PipedriveError {
    PipedriveError::NotFound {
        endpoint: format!("{kind} {id} (in the trash)"),
    }
}
