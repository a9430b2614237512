//! Crash recovery: the create intents a killed run left open are closed at the start of the
//! next run, by looking the record up by its external id.

use super::*;

impl SyncEngine {
    /// Closes the intents a killed run left open: a record found in Pipedrive by its external id
    /// is linked (it was created), one not found is planned again in this run.
    pub(super) async fn recover_intents(
        &self,
        run_id: i64,
        fencing_token: Option<i64>,
    ) -> Result<(), SyncError> {
        let connection = &self.config.sync.connection;
        for intent in self.store.open_intents(connection).await? {
            let payload: IntentPayload =
                serde_json::from_value(intent.payload.clone()).map_err(|error| {
                    SyncError::Setup(format!(
                        "intent {} has an unreadable payload: {error}",
                        intent.id
                    ))
                })?;
            let since = intent.created_at - chrono::Duration::minutes(5);
            let found = match (&payload.external_id_key, &payload.external_id) {
                (Some(key), Some(value)) => match intent.kind {
                    EntityKind::Organization => self
                        .client
                        .find_organization_by_external_id(key, value, since)
                        .await?
                        .map(|organization| organization.id),
                    EntityKind::Person => self
                        .client
                        .find_person_by_external_id(key, value, since)
                        .await?
                        .map(|person| person.id),
                },
                _ => None,
            };
            let read = ReadContext {
                source: "recovery".to_string(),
                read_at: intent.created_at,
                extracted: payload.extracted.clone(),
            };
            let (action, link, pushed_hash, outcome) = match found {
                Some(id) => (
                    Action::Create,
                    LinkChange::Set(id),
                    payload.pushed_hash.clone(),
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
            let audit = AuditEvent {
                id: 0,
                connection: connection.clone(),
                run_id,
                kind: intent.kind,
                ecc_key: intent.ecc_key.clone(),
                customer_number: payload.customer_number.clone(),
                read_at: read.read_at,
                source: read.source,
                extracted: read.extracted,
                content_hash: payload.content_hash.clone(),
                action,
                pipedrive_id: found,
                outcome,
                error: None,
                recorded_at: Utc::now(),
                full_copy_id: None,
            };
            self.store
                .commit_outcomes(&OutcomeBatch {
                    connection: connection.clone(),
                    run_id,
                    fencing_token,
                    outcomes: vec![RecordOutcome {
                        kind: intent.kind,
                        ecc_key: intent.ecc_key.clone(),
                        pushed_hash,
                        link,
                        failure: if found.is_some() {
                            FailureChange::Reset
                        } else {
                            FailureChange::Keep
                        },
                        closes_intent: Some(intent.id),
                        audit,
                    }],
                    cursor: None,
                })
                .await?;
        }
        Ok(())
    }
}
