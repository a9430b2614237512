//! Crash recovery: the create intents a killed run left open are closed at the start of the
//! next run, by looking the records up by their external ids: one pass over the records
//! changed since the oldest intent, per kind, however many intents a batch left open.

use std::collections::HashSet;

use chrono::DateTime;
use mlc_store::Intent;

use super::*;

impl SyncEngine {
    /// Closes the intents a killed run left open: a record found in Pipedrive by its external id
    /// is linked (it was created), one not found is planned again in this run. The outcomes are
    /// committed together.
    pub(super) async fn recover_intents(
        &self,
        run_id: i64,
        fencing_token: Option<i64>,
    ) -> Result<(), SyncError> {
        let connection = &self.config.sync.connection;
        let intents = self.store.open_intents(connection).await?;
        if intents.is_empty() {
            return Ok(());
        }
        let mut open = Vec::with_capacity(intents.len());
        for intent in intents {
            let payload: IntentPayload =
                serde_json::from_value(intent.payload.clone()).map_err(|error| {
                    SyncError::Setup(format!(
                        "intent {} has an unreadable payload: {error}",
                        intent.id
                    ))
                })?;
            open.push((intent, payload));
        }
        let found = self.find_created(&open).await?;
        let outcomes = open
            .into_iter()
            .map(|(intent, payload)| {
                let id = payload
                    .external_id
                    .as_ref()
                    .and_then(|value| found.get(&(intent.kind, value.clone())))
                    .copied();
                recovered(connection, run_id, intent, payload, id)
            })
            .collect();
        execute::commit_outcomes(
            self.store.as_ref(),
            OutcomeBatch {
                connection: connection.clone(),
                run_id,
                fencing_token,
                outcomes,
                cursor: None,
            },
        )
        .await
    }

    /// The Pipedrive ids of the intents' records that exist, by (kind, external id): one list
    /// pass per kind and external-id field, from five minutes before the oldest intent.
    async fn find_created(
        &self,
        open: &[(Intent, IntentPayload)],
    ) -> Result<HashMap<(EntityKind, String), i64>, SyncError> {
        let mut wanted: HashMap<(EntityKind, &str), Wanted> = HashMap::new();
        for (intent, payload) in open {
            let (Some(key), Some(value)) = (&payload.external_id_key, &payload.external_id) else {
                continue;
            };
            let since = intent.created_at - chrono::Duration::minutes(5);
            let wanted = wanted
                .entry((intent.kind, key.as_str()))
                .or_insert_with(|| Wanted {
                    values: HashSet::new(),
                    since,
                });
            wanted.values.insert(value.clone());
            wanted.since = wanted.since.min(since);
        }
        let mut found = HashMap::new();
        for ((kind, key), wanted) in wanted {
            let ids = match kind {
                EntityKind::Organization => self.found_ids::<Organization>(key, &wanted).await?,
                EntityKind::Person => self.found_ids::<Person>(key, &wanted).await?,
            };
            found.extend(ids.into_iter().map(|(value, id)| ((kind, value), id)));
        }
        Ok(found)
    }

    /// The Pipedrive ids of the records of one kind whose field `key` holds a wanted value.
    async fn found_ids<E: Entity>(
        &self,
        key: &str,
        wanted: &Wanted,
    ) -> Result<Vec<(String, i64)>, SyncError> {
        let found = self
            .client
            .find_by_external_ids::<E>(key, &wanted.values, wanted.since)
            .await?;
        Ok(found
            .into_iter()
            .map(|(value, record)| (value, record.id()))
            .collect())
    }
}

/// The external ids of one kind and field to look for, and since when.
struct Wanted {
    values: HashSet<String>,
    since: DateTime<Utc>,
}

/// The outcome that closes one open intent: the record linked when it was found (`found`),
/// planned again otherwise.
fn recovered(
    connection: &str,
    run_id: i64,
    intent: Intent,
    payload: IntentPayload,
    found: Option<i64>,
) -> RecordOutcome {
    let (action, link, pushed_hash, outcome) = match found {
        Some(id) => (
            Action::Create,
            LinkChange::Set(id),
            payload.pushed_hash,
            format!(
                "created {} {id} in run {}, which stopped before recording it; found by its external id",
                intent.kind, intent.run_id
            ),
        ),
        None => (
            Action::Skip,
            LinkChange::Keep,
            None,
            format!(
                "the create of run {} was not carried out before it stopped; planned again",
                intent.run_id
            ),
        ),
    };
    RecordOutcome {
        kind: intent.kind,
        ecc_key: intent.ecc_key.clone(),
        pushed_hash,
        pipedrive_verified: None,
        link,
        failure: if found.is_some() {
            FailureChange::Reset
        } else {
            FailureChange::Keep
        },
        closes_intent: Some(intent.id),
        audit: AuditEvent {
            id: 0,
            connection: connection.to_string(),
            run_id,
            kind: intent.kind,
            ecc_key: intent.ecc_key,
            customer_number: payload.customer_number,
            read_at: intent.created_at,
            source: "recovery".to_string(),
            extracted: payload.extracted,
            extracted_later: None,
            content_hash: payload.content_hash,
            action,
            pipedrive_id: found,
            outcome,
            error: None,
            recorded_at: Utc::now(),
            full_copy_id: None,
        },
    }
}
