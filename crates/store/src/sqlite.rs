//! The SQLite backend, the default: one file (WAL mode) for a single instance. Write
//! transactions start with `BEGIN IMMEDIATE`, taking the file's write lock up front, so two
//! writers queue behind the busy timeout instead of failing halfway.
//!
//! Timestamps are bound as fixed-width UTC text (see `timestamp`): SQLite compares them as text.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::query::QueryAs;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions,
};
use sqlx::{Sqlite, Transaction};

use crate::rows::{
    self, AuditRow, CursorRow, FailureColumns, IntentRow, LeaseHolderRow, LinkRow, RecordStateRow,
    ReviewDecisionRow, ReviewRow, RunRow,
};
use crate::rules;
use crate::secret::SealedSecret;
use crate::sql::{self, Param};
use crate::sqlite_skips;
use crate::{
    query_error, redact_url, AuditEvent, AuditQuery, Cursor, CursorAdvance, EntityKind, Intent,
    Lease, LeaseHolder, Link, LinkChange, NewIntent, NewReview, NewReviewDecision, NewRun,
    OutcomeBatch, PersonCustomer, RecordOutcome, RecordState, ReviewDecisionRecord, ReviewItem,
    ReviewStatus, RunFinish, RunQuery, RunRecord, SecretKey, StateStore, StoreError, StoreResult,
    TokenCharge,
};

/// How long a writer waits for another (in this or another process) to commit.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: u32 = 4;

pub(crate) struct SqliteStore {
    pool: SqlitePool,
    secret_key: Option<SecretKey>,
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory`, as sqlx reads them.
fn is_in_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

/// The database file a `sqlite:` URL names; `None` for an in-memory database.
pub(crate) fn database_file(url: &str) -> StoreResult<Option<PathBuf>> {
    if is_in_memory(url) {
        return Ok(None);
    }
    Ok(Some(connect_options(url)?.get_filename().to_path_buf()))
}

fn connect_options(url: &str) -> StoreResult<SqliteConnectOptions> {
    SqliteConnectOptions::from_str(url).map_err(|error| StoreError::Open {
        url: redact_url(url),
        message: error.to_string(),
    })
}

/// The audit trail holds customers' personal data: the database file is created readable by its
/// owner only (0600), and an existing one, with its `-wal` and `-shm` side files, is made so.
/// SQLite gives the side files it creates the database file's mode.
fn keep_private(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(file)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_os_string();
            name.push(suffix);
            let path = Path::new(&name);
            match std::fs::metadata(path) {
                Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// `rows` (keys, or rows of values) as one JSON array, bound to a statement that reads it with
/// `json_each`: one statement, compiled once, whatever the count.
pub(crate) fn json_array<T: serde::Serialize + ?Sized>(rows: &T) -> StoreResult<String> {
    serde_json::to_string(rows).map_err(|error| {
        StoreError::Database(format!("writing a statement's rows as JSON: {error}"))
    })
}

/// The rows of a statement that lists them as one JSON array (`json_group_array`): one value
/// back instead of a row each, which sqlx copies value by value and hands over one at a time.
/// `what` names them in the error.
pub(crate) fn json_rows<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &str,
) -> StoreResult<Vec<T>> {
    serde_json::from_str(json)
        .map_err(|error| StoreError::Database(format!("{what} as SQLite listed them: {error}")))
}

/// Fixed-width UTC text, microseconds like PostgreSQL: comparing the text compares the times.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(timestamp)
}

fn bind_params<'q, O>(
    mut query: QueryAs<'q, Sqlite, O, SqliteArguments<'q>>,
    params: &'q [Param],
) -> QueryAs<'q, Sqlite, O, SqliteArguments<'q>> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Integer(number) => query.bind(*number),
            Param::Time(at) => query.bind(timestamp(*at)),
            Param::SkipTime(at) => query.bind(rules::unix_micros(*at)),
        };
    }
    query
}

impl SqliteStore {
    pub(crate) async fn open(url: &str, secret_key: Option<SecretKey>) -> StoreResult<SqliteStore> {
        let open_error = |message: String| StoreError::Open {
            url: redact_url(url),
            message,
        };
        let options = connect_options(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = match database_file(url)? {
            // An in-memory database lives as long as its one connection.
            None => SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            Some(file) => {
                if let Some(folder) = file
                    .parent()
                    .filter(|folder| !folder.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(folder).map_err(|error| {
                        open_error(format!(
                            "cannot create folder {}: {error}",
                            folder.display()
                        ))
                    })?;
                }
                keep_private(&file).map_err(|error| {
                    open_error(format!(
                        "cannot make {} readable by its owner only: {error}",
                        file.display()
                    ))
                })?;
                SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
            }
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|error| open_error(error.to_string()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|error| open_error(format!("applying migrations: {error}")))?;
        tracing::debug!(url = %redact_url(url), "sqlite state store open");
        Ok(SqliteStore { pool, secret_key })
    }

    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(query_error(operation))
    }

    fn secret_key(&self, name: &str) -> StoreResult<&SecretKey> {
        self.secret_key
            .as_ref()
            .ok_or_else(|| rules::no_secret_key(name))
    }
}

async fn current_cursor_version(
    connection: &mut SqliteConnection,
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
    connection: &mut SqliteConnection,
    connection_name: &str,
    advance: &CursorAdvance,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let affected = match advance.expected_version {
        None => sqlx::query(sql::INSERT_FIRST_CURSOR)
            .bind(connection_name)
            .bind(&advance.stream)
            .bind(&advance.value)
            .bind(timestamp(now))
            .execute(&mut *connection)
            .await
            .map_err(query_error("creating cursor"))?,
        Some(expected) => sqlx::query(sql::ADVANCE_CURSOR_FROM_VERSION)
            .bind(connection_name)
            .bind(&advance.stream)
            .bind(&advance.value)
            .bind(timestamp(now))
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
    connection: &mut SqliteConnection,
    connection_name: &str,
    presented: i64,
) -> StoreResult<()> {
    let current: Option<i64> = sqlx::query_scalar(sql::LEASE_TOKEN)
        .bind(connection_name)
        .fetch_optional(connection)
        .await
        .map_err(query_error("reading lease token"))?;
    rules::check_fencing(connection_name, presented, current)
}

async fn write_outcome(
    connection: &mut SqliteConnection,
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
        .bind(timestamp(now))
        .bind(batch.run_id)
        .bind(failure.failures)
        .bind(optional_timestamp(failure.retry_after))
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
                .bind(timestamp(now))
                .execute(&mut *connection)
                .await
                .map_err(query_error("writing link"))?;
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
pub(crate) async fn insert_audit_event(
    connection: &mut SqliteConnection,
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
            let id: i64 = sqlx::query_scalar(sql::NEXT_AUDIT_ID_SQLITE)
                .fetch_one(&mut *connection)
                .await
                .map_err(query_error("taking an audit event id"))?;
            sqlx::query(sql::INSERT_AUDIT_SKIP_SQLITE)
                .bind(id)
                .bind(event.run_id)
                .bind(narrow.full_copy_id)
                .bind(narrow.content_hash)
                .bind(event.pipedrive_id)
                .bind(outcome_id)
                .bind(rules::unix_micros(event.read_at))
                .bind(rules::unix_micros(event.recorded_at))
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
        .bind(timestamp(event.read_at))
        .bind(&event.source)
        .bind(extracted.as_ref())
        .bind(&event.content_hash)
        .bind(event.action.as_str())
        .bind(event.pipedrive_id)
        .bind(&event.outcome)
        .bind(event.error.as_deref())
        .bind(timestamp(event.recorded_at))
        .execute(connection)
        .await
        .map_err(|error| rules::run_reference_error(error, event.run_id, "writing audit event"))?;
    Ok(())
}

/// The id of an outcome text in `audit_outcomes`, stored on first use.
pub(crate) async fn outcome_id(
    connection: &mut SqliteConnection,
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
impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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
        // One statement whatever the count of keys: a list of placeholders made each count a
        // statement of its own, compiled again each time, and a bind per key.
        let keys = json_array(ecc_keys)?;
        let links: String = sqlx::query_scalar(sql::LINKS_OF_JSON_KEYS)
            .bind(connection)
            .bind(kind.as_str())
            .bind(keys)
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("reading the links of a batch"))?;
        json_rows::<rows::LinkJson>(&links, "the links of a batch")?
            .into_iter()
            .map(|link| rows::link_of_json(connection, kind, link))
            .collect()
    }

    async fn links_page(
        &self,
        connection: &str,
        kind: EntityKind,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let links: String = sqlx::query_scalar(sql::LINKS_JSON_PAGE)
            .bind(connection)
            .bind(kind.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("reading a page of links"))?;
        json_rows::<rows::LinkJson>(&links, "a page of links")?
            .into_iter()
            .map(|link| rows::link_of_json(connection, kind, link))
            .collect()
    }

    async fn person_customers_page(
        &self,
        connection: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<PersonCustomer>> {
        let rows: String = sqlx::query_scalar(sql::LINKS_WITH_CUSTOMERS_JSON_PAGE)
            .bind(connection)
            .bind(EntityKind::Person.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_one(&self.pool)
            .await
            .map_err(query_error(
                "reading a page of person links with their customers",
            ))?;
        let rows: Vec<rows::PersonCustomerRow> =
            json_rows(&rows, "a page of person links with their customers")?;
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
        // One statement whatever the count of keys, as in `links_of_keys`.
        let keys = json_array(ecc_keys)?;
        let states: String = sqlx::query_scalar(sql::RECORD_STATES_OF_JSON_KEYS)
            .bind(connection)
            .bind(kind.as_str())
            .bind(keys)
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("reading the record states of a batch"))?;
        json_rows::<rows::RecordStateJson>(&states, "the record states of a batch")?
            .into_iter()
            .map(|state| rows::record_state_of_json(connection, kind, state))
            .collect()
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
                .bind(timestamp(Utc::now()))
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
        let mut rest = batch.outcomes.as_slice();
        while let Some(outcome) = rest.first() {
            let skips = sqlite_skips::plain_skip_chunk(rest);
            if skips > 0 {
                sqlite_skips::write_plain_skips(
                    &mut transaction,
                    batch,
                    &rest[..skips],
                    now,
                    &mut outcome_ids,
                )
                .await?;
                rest = &rest[skips..];
            } else {
                write_outcome(&mut transaction, batch, outcome, now, &mut outcome_ids).await?;
                rest = &rest[1..];
            }
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
        let select = sql::audit_query(query, sql::sqlite_skip_time);
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
            .bind(timestamp(Utc::now()))
            .bind(crate::RunStatus::Running.as_str())
            .bind(serde_json::json!({}))
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("starting run"))
    }

    async fn finish_run(&self, run_id: i64, finish: &RunFinish) -> StoreResult<()> {
        let result = sqlx::query(sql::FINISH_RUN)
            .bind(run_id)
            .bind(timestamp(Utc::now()))
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
            .bind(timestamp(Utc::now()))
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
                .bind(optional_timestamp(decided_at))
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
                .bind(timestamp(now))
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
            .bind(timestamp(expires_at))
            .bind(timestamp(now))
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
            .bind(timestamp(expires_at))
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
            .bind(timestamp(expires_at))
            .bind(timestamp(now))
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
            .bind(timestamp(now))
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
            .bind(timestamp(received_at))
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("noting a webhook delivery"))?;
        Ok(taken.is_some())
    }

    async fn prune_audit(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let mut transaction = self.begin_write("starting audit prune").await?;
        let first_recent_run: Option<i64> = sqlx::query_scalar(sql::FIRST_RUN_STARTED_SINCE)
            .bind(timestamp(older_than))
            .fetch_one(&mut *transaction)
            .await
            .map_err(query_error("finding the runs to prune"))?;
        let skips = sqlx::query(sql::PRUNE_AUDIT_SKIPS)
            .bind(rules::unix_micros(older_than))
            .bind(first_recent_run.unwrap_or(i64::MAX))
            .execute(&mut *transaction)
            .await
            .map_err(query_error("pruning audit skips"))?;
        let events = sqlx::query(sql::PRUNE_AUDIT_EVENTS)
            .bind(timestamp(older_than))
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
            .bind(timestamp(before))
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
            .bind(timestamp(Utc::now()))
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

/// What a SQLite store takes on disk: the database file and its WAL, after a checkpoint that
/// empties the WAL into the file (the measure of BRIEF §4).
pub async fn bytes_on_disk(file: &Path) -> Result<u64, sqlx::Error> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display())).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    pool.close().await;
    let size = |path: PathBuf| std::fs::metadata(path).map_or(0, |meta| meta.len());
    let mut wal = file.as_os_str().to_os_string();
    wal.push("-wal");
    Ok(size(file.to_path_buf()) + size(PathBuf::from(wal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_or_memory() {
        let file = |url: &str| database_file(url).unwrap();
        assert_eq!(
            file("sqlite://ml-connector.db"),
            Some(PathBuf::from("ml-connector.db"))
        );
        assert_eq!(
            file("sqlite:data/state.db"),
            Some(PathBuf::from("data/state.db"))
        );
        assert_eq!(
            file("sqlite:///var/lib/mlc/state.db"),
            Some(PathBuf::from("/var/lib/mlc/state.db"))
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://:memory:"), None);
        assert_eq!(file("sqlite://x.db?mode=memory"), None);
    }

    #[test]
    fn timestamps_have_a_fixed_width_so_text_order_is_time_order() {
        let whole = chrono::DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z").unwrap();
        let fraction = chrono::DateTime::parse_from_rfc3339("2026-01-05T08:00:00.5Z").unwrap();
        let (whole, fraction) = (whole.with_timezone(&Utc), fraction.with_timezone(&Utc));
        assert_eq!(timestamp(whole), "2026-01-05T08:00:00.000000Z");
        assert_eq!(timestamp(fraction), "2026-01-05T08:00:00.500000Z");
        assert!(timestamp(whole) < timestamp(fraction));
    }
}
