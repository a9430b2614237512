//! The PostgreSQL backend: one database shared by several instances. Every statement that must
//! hold against writers in other processes is a single conditional statement (charging tokens,
//! taking a lease, moving a cursor) or runs in a transaction that locks the rows it depends on
//! (the lease row, `FOR SHARE`, while an outcome batch is written under its fencing token).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::query::QueryAs;
use sqlx::{Postgres, Transaction};

use crate::rows::{
    self, AuditRow, CursorRow, FailureColumns, IntentRow, LeaseHolderRow, LinkRow, RecordStateRow,
    ReviewDecisionRow, ReviewRow, RunRow,
};
use crate::rules;
use crate::secret::SealedSecret;
use crate::sql::{self, Param};
use crate::{
    query_error, redact_url, AuditEvent, AuditQuery, Cursor, CursorAdvance, EntityKind, Intent,
    Lease, LeaseHolder, Link, LinkChange, NewIntent, NewReview, NewReviewDecision, NewRun,
    OutcomeBatch, PersonCustomer, RecordOutcome, RecordState, ReviewDecisionRecord, ReviewItem,
    ReviewStatus, RunFinish, RunQuery, RunRecord, SecretKey, StateStore, StoreError, StoreResult,
    TokenCharge,
};

const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct PostgresStore {
    pool: PgPool,
    secret_key: Option<SecretKey>,
}

fn bind_params<'q, O>(
    mut query: QueryAs<'q, Postgres, O, PgArguments>,
    params: &'q [Param],
) -> QueryAs<'q, Postgres, O, PgArguments> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Integer(number) => query.bind(*number),
            Param::Time(at) => query.bind(*at),
            Param::SkipTime(at) => query.bind(*at),
        };
    }
    query
}

impl PostgresStore {
    pub(crate) async fn open(
        url: &str,
        secret_key: Option<SecretKey>,
    ) -> StoreResult<PostgresStore> {
        let open_error = |message: String| StoreError::Open {
            url: redact_url(url),
            message,
        };
        let mut options =
            PgConnectOptions::from_str(url).map_err(|error| open_error(error.to_string()))?;
        // Named in pg_stat_activity, unless the URL (or PGAPPNAME) names it otherwise.
        if options.get_application_name().is_none() {
            options = options.application_name("ml-connector");
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|error| open_error(error.to_string()))?;
        // Several instances starting at once are fine: the migrator holds an advisory lock.
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|error| open_error(format!("applying migrations: {error}")))?;
        tracing::debug!(url = %redact_url(url), "postgres state store open");
        Ok(PostgresStore { pool, secret_key })
    }

    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(query_error(operation))
    }

    fn secret_key(&self, name: &str) -> StoreResult<&SecretKey> {
        self.secret_key
            .as_ref()
            .ok_or_else(|| rules::no_secret_key(name))
    }
}

async fn current_cursor_version(
    connection: &mut PgConnection,
    connection_name: &str,
    stream: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar(sql::CURSOR_VERSION)
        .bind(connection_name)
        .bind(stream)
        .fetch_optional(connection)
        .await
        .map_err(query_error("reading cursor version"))
}

/// The compare-and-swap of a cursor, on a connection the caller may hold in a transaction.
async fn advance_cursor_on(
    connection: &mut PgConnection,
    connection_name: &str,
    advance: &CursorAdvance,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let affected = match advance.expected_version {
        None => sqlx::query(sql::INSERT_FIRST_CURSOR)
            .bind(connection_name)
            .bind(&advance.stream)
            .bind(&advance.value)
            .bind(now)
            .execute(&mut *connection)
            .await
            .map_err(query_error("creating cursor"))?,
        Some(expected) => sqlx::query(sql::ADVANCE_CURSOR_FROM_VERSION)
            .bind(connection_name)
            .bind(&advance.stream)
            .bind(&advance.value)
            .bind(now)
            .bind(expected)
            .execute(&mut *connection)
            .await
            .map_err(query_error("advancing cursor"))?,
    };
    if affected.rows_affected() == 1 {
        return Ok(advance.expected_version.unwrap_or(0) + 1);
    }
    let found = current_cursor_version(connection, connection_name, &advance.stream).await?;
    Err(StoreError::StaleCursor {
        connection: connection_name.to_string(),
        stream: advance.stream.clone(),
        expected: advance.expected_version,
        found,
    })
}

async fn check_fencing_token(
    connection: &mut PgConnection,
    connection_name: &str,
    presented: i64,
) -> StoreResult<()> {
    // FOR SHARE holds off a takeover (which updates the row) until this batch commits, so the
    // batch is written entirely under the lease it checked.
    let current: Option<i64> = sqlx::query_scalar(sql::LEASE_TOKEN_FOR_SHARE)
        .bind(connection_name)
        .fetch_optional(connection)
        .await
        .map_err(query_error("reading lease token"))?;
    rules::check_fencing(connection_name, presented, current)
}

async fn write_outcome(
    connection: &mut PgConnection,
    batch: &OutcomeBatch,
    outcome: &RecordOutcome,
    now: DateTime<Utc>,
    outcome_ids: &mut rules::OutcomeIds,
) -> StoreResult<()> {
    let kind = outcome.kind.as_str();
    let failure = FailureColumns::of(&outcome.failure);
    sqlx::query(sql::UPSERT_RECORD_STATE)
        .bind(&batch.connection)
        .bind(kind)
        .bind(&outcome.ecc_key)
        .bind(outcome.pushed_hash.as_deref())
        .bind(now)
        .bind(batch.run_id)
        .bind(failure.failures)
        .bind(failure.retry_after)
        .bind(failure.parked)
        .bind(failure.last_error)
        .bind(failure.change)
        .bind(rules::customer_of(outcome))
        .bind(outcome.pipedrive_verified)
        .execute(&mut *connection)
        .await
        .map_err(|error| rules::run_reference_error(error, batch.run_id, "writing record state"))?;

    match &outcome.link {
        LinkChange::Keep => {}
        LinkChange::Set(pipedrive_id) => {
            let holder: Option<String> = sqlx::query_scalar(sql::LINK_HOLDER_OF_PIPEDRIVE_ID)
                .bind(&batch.connection)
                .bind(kind)
                .bind(&outcome.ecc_key)
                .bind(pipedrive_id)
                .fetch_optional(&mut *connection)
                .await
                .map_err(query_error("checking link"))?;
            if let Some(linked_to) = holder {
                return Err(rules::link_conflict(
                    batch,
                    outcome.kind,
                    *pipedrive_id,
                    linked_to,
                ));
            }
            sqlx::query(sql::UPSERT_LINK)
                .bind(&batch.connection)
                .bind(kind)
                .bind(&outcome.ecc_key)
                .bind(pipedrive_id)
                .bind(now)
                .execute(&mut *connection)
                .await
                .map_err(|error| {
                    // Checked above; only a writer without a lease can slip in between.
                    if rules::is_unique_violation(&error) {
                        let linked_to = "another ECC key (linked concurrently)".to_string();
                        rules::link_conflict(batch, outcome.kind, *pipedrive_id, linked_to)
                    } else {
                        StoreError::Query {
                            operation: "writing link",
                            source: error,
                        }
                    }
                })?;
        }
        LinkChange::Remove => {
            sqlx::query(sql::DELETE_LINK)
                .bind(&batch.connection)
                .bind(kind)
                .bind(&outcome.ecc_key)
                .execute(&mut *connection)
                .await
                .map_err(query_error("removing link"))?;
        }
    }

    insert_audit_event(&mut *connection, &outcome.audit, outcome_ids).await?;

    if let Some(intent_id) = outcome.closes_intent {
        sqlx::query(sql::DELETE_INTENT)
            .bind(intent_id)
            .bind(&batch.connection)
            .execute(&mut *connection)
            .await
            .map_err(query_error("closing intent"))?;
    }
    Ok(())
}

/// Writes one audit event: a skip of a record with a full copy narrow (see `rules::narrow_skip`),
/// anything else whole.
async fn insert_audit_event(
    connection: &mut PgConnection,
    event: &AuditEvent,
    outcome_ids: &mut rules::OutcomeIds,
) -> StoreResult<()> {
    if event.action == crate::Action::Skip && event.error.is_none() {
        let copy: Option<rules::FullCopy> = sqlx::query_as(sql::FULL_COPY_OF_RECORD)
            .bind(&event.connection)
            .bind(event.kind.as_str())
            .bind(&event.ecc_key)
            .fetch_optional(&mut *connection)
            .await
            .map_err(query_error(
                "finding the record's full copy in the audit trail",
            ))?;
        if let Some(narrow) = rules::narrow_skip(event, copy.as_ref()) {
            let outcome_id = outcome_id(&mut *connection, &event.outcome, outcome_ids).await?;
            sqlx::query(sql::INSERT_AUDIT_SKIP_POSTGRES)
                .bind(event.run_id)
                .bind(narrow.full_copy_id)
                .bind(narrow.content_hash)
                .bind(event.pipedrive_id)
                .bind(outcome_id)
                .bind(event.read_at)
                .bind(event.recorded_at)
                .execute(&mut *connection)
                .await
                .map_err(|error| {
                    rules::run_reference_error(error, event.run_id, "writing audit event")
                })?;
            return Ok(());
        }
    }
    let extracted = event.extracted_copy();
    sqlx::query(sql::INSERT_AUDIT_EVENT)
        .bind(&event.connection)
        .bind(event.run_id)
        .bind(event.kind.as_str())
        .bind(&event.ecc_key)
        .bind(&event.customer_number)
        .bind(event.read_at)
        .bind(&event.source)
        .bind(extracted.as_ref())
        .bind(&event.content_hash)
        .bind(event.action.as_str())
        .bind(event.pipedrive_id)
        .bind(&event.outcome)
        .bind(event.error.as_deref())
        .bind(event.recorded_at)
        .execute(connection)
        .await
        .map_err(|error| rules::run_reference_error(error, event.run_id, "writing audit event"))?;
    Ok(())
}

/// The id of an outcome text in `audit_outcomes`, stored on first use.
async fn outcome_id(
    connection: &mut PgConnection,
    text: &str,
    known: &mut rules::OutcomeIds,
) -> StoreResult<i64> {
    if let Some(id) = known.get(text) {
        return Ok(*id);
    }
    let inserted: Option<i64> = sqlx::query_scalar(sql::INSERT_AUDIT_OUTCOME)
        .bind(text)
        .fetch_optional(&mut *connection)
        .await
        .map_err(query_error("storing an audit outcome text"))?;
    let id = match inserted {
        Some(id) => id,
        None => sqlx::query_scalar(sql::AUDIT_OUTCOME_ID)
            .bind(text)
            .fetch_one(&mut *connection)
            .await
            .map_err(query_error("reading an audit outcome text"))?,
    };
    known.insert(text.to_string(), id);
    Ok(id)
}

#[async_trait]
impl StateStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn link(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_key: &str,
    ) -> StoreResult<Option<Link>> {
        let row: Option<LinkRow> = sqlx::query_as(&sql::link_by_ecc_key())
            .bind(connection)
            .bind(kind.as_str())
            .bind(ecc_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading link"))?;
        row.map(LinkRow::into_model).transpose()
    }

    async fn link_by_pipedrive_id(
        &self,
        connection: &str,
        kind: EntityKind,
        pipedrive_id: i64,
    ) -> StoreResult<Option<Link>> {
        let row: Option<LinkRow> = sqlx::query_as(&sql::link_by_pipedrive_id())
            .bind(connection)
            .bind(kind.as_str())
            .bind(pipedrive_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading link"))?;
        row.map(LinkRow::into_model).transpose()
    }

    async fn links(&self, connection: &str, kind: EntityKind) -> StoreResult<Vec<Link>> {
        let rows: Vec<LinkRow> = sqlx::query_as(&sql::links_of_kind())
            .bind(connection)
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading links"))?;
        rows.into_iter().map(LinkRow::into_model).collect()
    }

    async fn links_of_keys(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_keys: &[String],
    ) -> StoreResult<Vec<Link>> {
        let mut links = Vec::new();
        for keys in ecc_keys.chunks(crate::KEYS_PER_QUERY) {
            let sql = sql::links_of_keys(keys.len());
            let mut query = sqlx::query_as::<_, LinkRow>(&sql)
                // Not kept prepared: each count of keys is a statement of its own, and a
                // thousand-key statement holds tens of kilobytes (20 MB over the pool).
                .persistent(false)
                .bind(connection)
                .bind(kind.as_str());
            for key in keys {
                query = query.bind(key);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("reading the links of a batch"))?;
            for row in rows {
                links.push(row.into_model()?);
            }
        }
        Ok(links)
    }

    async fn links_page(
        &self,
        connection: &str,
        kind: EntityKind,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let rows: Vec<LinkRow> = sqlx::query_as(&sql::links_page())
            .bind(connection)
            .bind(kind.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading a page of links"))?;
        rows.into_iter().map(LinkRow::into_model).collect()
    }

    async fn person_customers_page(
        &self,
        connection: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<PersonCustomer>> {
        let rows: Vec<rows::PersonCustomerRow> = sqlx::query_as(sql::LINKS_WITH_CUSTOMERS_PAGE)
            .bind(connection)
            .bind(EntityKind::Person.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(
                "reading a page of person links with their customers",
            ))?;
        Ok(rows::person_customers(rows))
    }

    async fn record_state(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_key: &str,
    ) -> StoreResult<Option<RecordState>> {
        let row: Option<RecordStateRow> = sqlx::query_as(&sql::record_state_by_ecc_key())
            .bind(connection)
            .bind(kind.as_str())
            .bind(ecc_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading record state"))?;
        row.map(RecordStateRow::into_model).transpose()
    }

    async fn record_states(
        &self,
        connection: &str,
        kind: EntityKind,
    ) -> StoreResult<Vec<RecordState>> {
        let rows: Vec<RecordStateRow> = sqlx::query_as(&sql::record_states_of_kind())
            .bind(connection)
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading record states"))?;
        rows.into_iter().map(RecordStateRow::into_model).collect()
    }

    async fn record_states_of_keys(
        &self,
        connection: &str,
        kind: EntityKind,
        ecc_keys: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        let mut states = Vec::new();
        for keys in ecc_keys.chunks(crate::KEYS_PER_QUERY) {
            let sql = sql::record_states_of_keys(keys.len());
            let mut query = sqlx::query_as::<_, RecordStateRow>(&sql)
                // Not kept prepared: each count of keys is a statement of its own, and a
                // thousand-key statement holds tens of kilobytes (20 MB over the pool).
                .persistent(false)
                .bind(connection)
                .bind(kind.as_str());
            for key in keys {
                query = query.bind(key);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("reading the record states of a batch"))?;
            for row in rows {
                states.push(row.into_model()?);
            }
        }
        Ok(states)
    }

    async fn failing_record_states(&self, connection: &str) -> StoreResult<Vec<RecordState>> {
        let rows: Vec<RecordStateRow> = sqlx::query_as(&sql::failing_record_states())
            .bind(connection)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading failing record states"))?;
        rows.into_iter().map(RecordStateRow::into_model).collect()
    }

    async fn record_intents(&self, intents: &[NewIntent]) -> StoreResult<Vec<i64>> {
        if intents.is_empty() {
            return Ok(Vec::new());
        }
        let mut transaction = self.begin_write("starting intents").await?;
        let mut checked: Option<(&str, i64)> = None;
        let mut ids = Vec::with_capacity(intents.len());
        for intent in intents {
            if let Some(presented) = intent.fencing_token {
                if checked != Some((intent.connection.as_str(), presented)) {
                    check_fencing_token(&mut transaction, &intent.connection, presented).await?;
                    checked = Some((intent.connection.as_str(), presented));
                }
            }
            let id = sqlx::query_scalar(sql::INSERT_INTENT)
                .bind(&intent.connection)
                .bind(intent.run_id)
                .bind(intent.kind.as_str())
                .bind(&intent.ecc_key)
                .bind(&intent.operation)
                .bind(&intent.payload)
                .bind(Utc::now())
                .fetch_one(&mut *transaction)
                .await
                .map_err(|error| {
                    rules::run_reference_error(error, intent.run_id, "writing intent")
                })?;
            ids.push(id);
        }
        transaction
            .commit()
            .await
            .map_err(query_error("committing intents"))?;
        Ok(ids)
    }

    async fn discard_intents(&self, connection: &str, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut transaction = self.begin_write("starting to discard intents").await?;
        for id in ids {
            sqlx::query(sql::DELETE_INTENT)
                .bind(id)
                .bind(connection)
                .execute(&mut *transaction)
                .await
                .map_err(query_error("discarding intent"))?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("committing discarded intents"))
    }

    async fn open_intents(&self, connection: &str) -> StoreResult<Vec<Intent>> {
        let rows: Vec<IntentRow> = sqlx::query_as(sql::OPEN_INTENTS)
            .bind(connection)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading intents"))?;
        rows.into_iter().map(IntentRow::into_model).collect()
    }

    async fn commit_outcomes(&self, batch: &OutcomeBatch) -> StoreResult<()> {
        let now = Utc::now();
        let mut transaction = self.begin_write("starting outcome batch").await?;
        if let Some(presented) = batch.fencing_token {
            check_fencing_token(&mut transaction, &batch.connection, presented).await?;
        }
        if let Some(advance) = &batch.cursor {
            advance_cursor_on(&mut transaction, &batch.connection, advance, now).await?;
        }
        let mut outcome_ids = rules::OutcomeIds::new();
        for outcome in &batch.outcomes {
            write_outcome(&mut transaction, batch, outcome, now, &mut outcome_ids).await?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("committing outcome batch"))
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut transaction = self.begin_write("starting audit append").await?;
        let mut outcome_ids = rules::OutcomeIds::new();
        for event in events {
            insert_audit_event(&mut transaction, event, &mut outcome_ids).await?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("committing audit events"))
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let select = sql::audit_query(query, sql::postgres_skip_time);
        let rows: Vec<AuditRow> = bind_params(sqlx::query_as(&select.sql), &select.params)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("querying audit events"))?;
        rows.into_iter().map(AuditRow::into_model).collect()
    }

    async fn cursor(&self, connection: &str, stream: &str) -> StoreResult<Option<Cursor>> {
        let row: Option<CursorRow> = sqlx::query_as(sql::CURSOR_BY_STREAM)
            .bind(connection)
            .bind(stream)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading cursor"))?;
        Ok(row.map(CursorRow::into_model))
    }

    async fn advance_cursor(
        &self,
        connection: &str,
        stream: &str,
        expected_version: Option<i64>,
        value: &str,
    ) -> StoreResult<i64> {
        let advance = CursorAdvance {
            stream: stream.to_string(),
            expected_version,
            value: value.to_string(),
        };
        let mut pooled = self
            .pool
            .acquire()
            .await
            .map_err(query_error("advancing cursor"))?;
        advance_cursor_on(&mut pooled, connection, &advance, Utc::now()).await
    }

    async fn start_run(&self, run: &NewRun) -> StoreResult<i64> {
        sqlx::query_scalar(sql::INSERT_RUN)
            .bind(&run.connection)
            .bind(&run.instance)
            .bind(&run.mode)
            .bind(Utc::now())
            .bind(crate::RunStatus::Running.as_str())
            .bind(serde_json::json!({}))
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("starting run"))
    }

    async fn finish_run(&self, run_id: i64, finish: &RunFinish) -> StoreResult<()> {
        let result = sqlx::query(sql::FINISH_RUN)
            .bind(run_id)
            .bind(Utc::now())
            .bind(finish.status.as_str())
            .bind(rows::counts_json(&finish.counts))
            .bind(rows::tokens_to_db(finish.tokens_used))
            .bind(finish.alert.as_deref())
            .bind(finish.error.as_deref())
            .execute(&self.pool)
            .await
            .map_err(query_error("finishing run"))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NoSuchRun(run_id));
        }
        Ok(())
    }

    async fn runs(&self, query: &RunQuery) -> StoreResult<Vec<RunRecord>> {
        let select = sql::runs_query(query);
        let rows: Vec<RunRow> = bind_params(sqlx::query_as(&select.sql), &select.params)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading runs"))?;
        rows.into_iter().map(RunRow::into_model).collect()
    }

    async fn enqueue_review(&self, item: &NewReview) -> StoreResult<i64> {
        let inserted: Option<i64> = sqlx::query_scalar(sql::INSERT_REVIEW)
            .bind(&item.connection)
            .bind(item.kind.as_str())
            .bind(&item.ecc_key)
            .bind(item.pipedrive_id)
            .bind(item.score)
            .bind(&item.evidence)
            .bind(Utc::now())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("queuing review"))?;
        if let Some(id) = inserted {
            return Ok(id);
        }
        sqlx::query_scalar(sql::REVIEW_ID_OF_PAIR)
            .bind(&item.connection)
            .bind(item.kind.as_str())
            .bind(&item.ecc_key)
            .bind(item.pipedrive_id)
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("reading queued review"))
    }

    async fn reviews(
        &self,
        connection: &str,
        status: Option<ReviewStatus>,
    ) -> StoreResult<Vec<ReviewItem>> {
        let select = sql::reviews_query(connection, status);
        let rows: Vec<ReviewRow> = bind_params(sqlx::query_as(&select.sql), &select.params)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading reviews"))?;
        rows.into_iter().map(ReviewRow::into_model).collect()
    }

    async fn decide_reviews(&self, decision: &NewReviewDecision) -> StoreResult<Vec<ReviewItem>> {
        let now = Utc::now();
        let update = sql::decide_review(decision.rule.only_pending());
        let rule = decision.rule.to_stored();
        let mut transaction = self.begin_write("starting review decision").await?;
        let mut decided = Vec::with_capacity(decision.pairs.len());
        for &(id, status) in &decision.pairs {
            let decided_at = (status != ReviewStatus::Pending).then_some(now);
            let row: Option<ReviewRow> = sqlx::query_as(&update)
                .bind(id)
                .bind(status.as_str())
                .bind(decided_at)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(query_error("deciding review"))?;
            let Some(row) = row else {
                if decision.rule.only_pending() {
                    continue;
                }
                return Err(StoreError::NoSuchReview(id));
            };
            sqlx::query(sql::INSERT_REVIEW_DECISION)
                .bind(id)
                .bind(status.as_str())
                .bind(&rule)
                .bind(&decision.decided_by)
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(query_error("recording review decision"))?;
            decided.push(row.into_model()?);
        }
        transaction
            .commit()
            .await
            .map_err(query_error("committing review decision"))?;
        Ok(decided)
    }

    async fn review_decisions(
        &self,
        connection: &str,
        review_id: Option<i64>,
    ) -> StoreResult<Vec<ReviewDecisionRecord>> {
        let rows: Vec<ReviewDecisionRow> = sqlx::query_as(sql::REVIEW_DECISIONS)
            .bind(connection)
            .bind(review_id)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("reading review decisions"))?;
        rows.into_iter()
            .map(ReviewDecisionRow::into_model)
            .collect()
    }

    async fn charge_tokens(
        &self,
        company: &str,
        day: NaiveDate,
        tokens: u64,
        limit: u64,
    ) -> StoreResult<TokenCharge> {
        if tokens <= limit {
            let charged: Option<i64> = sqlx::query_scalar(sql::CHARGE_TOKENS)
                .bind(company)
                .bind(day)
                .bind(rows::tokens_to_db(tokens))
                .bind(rows::tokens_to_db(limit))
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("charging tokens"))?;
            if let Some(used) = charged {
                return Ok(TokenCharge::Charged {
                    used: rows::tokens_from_db(company, used)?,
                });
            }
        }
        Ok(TokenCharge::Refused {
            used: self.tokens_used(company, day).await?,
        })
    }

    async fn tokens_used(&self, company: &str, day: NaiveDate) -> StoreResult<u64> {
        let used: Option<i64> = sqlx::query_scalar(sql::TOKENS_USED)
            .bind(company)
            .bind(day)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading token ledger"))?;
        rows::tokens_from_db(company, used.unwrap_or(0))
    }

    async fn acquire_lease(
        &self,
        connection: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>> {
        let expires_at = rules::lease_expiry(connection, now, ttl)?;
        let token: Option<i64> = sqlx::query_scalar(sql::ACQUIRE_LEASE)
            .bind(connection)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("acquiring lease"))?;
        Ok(token.map(|fencing_token| Lease {
            connection: connection.to_string(),
            holder: holder.to_string(),
            fencing_token,
            expires_at,
        }))
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let expires_at = rules::lease_expiry(&lease.connection, now, ttl)?;
        let result = sqlx::query(sql::RENEW_LEASE)
            .bind(&lease.connection)
            .bind(&lease.holder)
            .bind(lease.fencing_token)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(query_error("renewing lease"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        sqlx::query(sql::RELEASE_LEASE)
            .bind(&lease.connection)
            .bind(&lease.holder)
            .bind(lease.fencing_token)
            .execute(&self.pool)
            .await
            .map_err(query_error("releasing lease"))?;
        Ok(())
    }

    async fn take_over_lease(
        &self,
        gone: &LeaseHolder,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>> {
        let expires_at = rules::lease_expiry(&gone.connection, now, ttl)?;
        let token: Option<i64> = sqlx::query_scalar(sql::TAKE_OVER_LEASE)
            .bind(&gone.connection)
            .bind(&gone.holder)
            .bind(gone.fencing_token)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("taking over lease"))?;
        Ok(token.map(|fencing_token| Lease {
            connection: gone.connection.clone(),
            holder: holder.to_string(),
            fencing_token,
            expires_at,
        }))
    }

    async fn lease_holder(&self, connection: &str) -> StoreResult<Option<LeaseHolder>> {
        let row: Option<LeaseHolderRow> = sqlx::query_as(sql::LEASE_HOLDER)
            .bind(connection)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading lease holder"))?;
        Ok(row.map(LeaseHolderRow::into_model))
    }

    async fn interrupt_runs(
        &self,
        connection: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> StoreResult<u64> {
        let result = sqlx::query(sql::INTERRUPT_RUNS)
            .bind(connection)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(query_error("marking interrupted runs"))?;
        Ok(result.rows_affected())
    }

    async fn note_webhook_event(
        &self,
        connection: &str,
        event_id: &str,
        received_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let taken: Option<String> = sqlx::query_scalar(sql::NOTE_WEBHOOK_EVENT)
            .bind(connection)
            .bind(event_id)
            .bind(received_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("noting a webhook delivery"))?;
        Ok(taken.is_some())
    }

    async fn prune_audit(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let mut transaction = self.begin_write("starting audit prune").await?;
        let first_recent_run: Option<i64> = sqlx::query_scalar(sql::FIRST_RUN_STARTED_SINCE)
            .bind(older_than)
            .fetch_one(&mut *transaction)
            .await
            .map_err(query_error("finding the runs to prune"))?;
        let skips = sqlx::query(sql::PRUNE_AUDIT_SKIPS)
            .bind(older_than)
            .bind(first_recent_run.unwrap_or(i64::MAX))
            .execute(&mut *transaction)
            .await
            .map_err(query_error("pruning audit skips"))?;
        let events = sqlx::query(sql::PRUNE_AUDIT_EVENTS)
            .bind(older_than)
            .execute(&mut *transaction)
            .await
            .map_err(query_error("pruning audit events"))?;
        transaction
            .commit()
            .await
            .map_err(query_error("committing audit prune"))?;
        Ok(skips.rows_affected() + events.rows_affected())
    }

    async fn prune_webhook_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let pruned = sqlx::query(sql::PRUNE_WEBHOOK_EVENTS)
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(query_error("pruning webhook deliveries"))?;
        Ok(pruned.rows_affected())
    }

    async fn put_secret(&self, name: &str, plaintext: &[u8]) -> StoreResult<()> {
        let sealed = self.secret_key(name)?.seal(name, plaintext)?;
        sqlx::query(sql::UPSERT_SECRET)
            .bind(name)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(query_error("writing secret"))?;
        Ok(())
    }

    async fn get_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = self.secret_key(name)?;
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(sql::SECRET_BY_NAME)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("reading secret"))?;
        row.map(|(nonce, ciphertext)| key.open(name, &SealedSecret { nonce, ciphertext }))
            .transpose()
    }
}
