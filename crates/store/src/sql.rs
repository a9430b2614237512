//! SQL both backends run as written: SQLite and PostgreSQL agree on `$N` parameters, upserts
//! (`ON CONFLICT ... DO UPDATE ... WHERE`) and `RETURNING`. What differs (binding timestamps,
//! locking the lease row, how a write transaction starts) lives in the backend modules.

use chrono::{DateTime, Utc};

use crate::{AuditQuery, RunQuery};

// ── links ──

const LINK_COLUMNS: &str = "connection, kind, ecc_key, pipedrive_id, linked_at";

pub fn link_by_ecc_key() -> String {
    format!("SELECT {LINK_COLUMNS} FROM links WHERE connection = $1 AND kind = $2 AND ecc_key = $3")
}

pub fn link_by_pipedrive_id() -> String {
    format!(
        "SELECT {LINK_COLUMNS} FROM links \
         WHERE connection = $1 AND kind = $2 AND pipedrive_id = $3"
    )
}

pub fn links_of_kind() -> String {
    format!("SELECT {LINK_COLUMNS} FROM links WHERE connection = $1 AND kind = $2 ORDER BY ecc_key")
}

/// `$1` connection, `$2` kind, then `count` ECC keys from `$3` on.
pub fn links_of_keys(count: usize) -> String {
    format!(
        "SELECT {LINK_COLUMNS} FROM links WHERE connection = $1 AND kind = $2 AND ecc_key IN ({})",
        key_placeholders(count)
    )
}

/// The links of the keys of JSON array `$3`, as one JSON array of `[ecc_key, pipedrive_id,
/// linked_at]` (see `rows::link_of_json`). SQLite: one statement, prepared once, whatever the
/// count of keys, and one row back instead of a row a link, which sqlx copies value by value
/// and hands from its worker thread one at a time.
pub const LINKS_OF_JSON_KEYS: &str =
    "SELECT json_group_array(json_array(ecc_key, pipedrive_id, linked_at)) FROM links \
     WHERE connection = $1 AND kind = $2 AND ecc_key IN (SELECT value FROM json_each($3))";

/// The next `$4` links after ECC key `$3` ("" for the first), in ECC key order.
pub fn links_page() -> String {
    format!(
        "SELECT {LINK_COLUMNS} FROM links WHERE connection = $1 AND kind = $2 AND ecc_key > $3 \
         ORDER BY ecc_key LIMIT $4"
    )
}

/// The next `$4` links of kind `$2` after ECC key `$3` ("" for the first), in ECC key order,
/// each with the customer number of its record state (NULL without one).
pub const LINKS_WITH_CUSTOMERS_PAGE: &str = "SELECT l.ecc_key, s.customer_number FROM links l \
     LEFT JOIN record_state s \
     ON s.connection = l.connection AND s.kind = l.kind AND s.ecc_key = l.ecc_key \
     WHERE l.connection = $1 AND l.kind = $2 AND l.ecc_key > $3 \
     ORDER BY l.ecc_key LIMIT $4";

/// `links_page` in SQLite, as one JSON array of rows (see `rows::link_of_json`), as
/// `LINKS_OF_JSON_KEYS` reads links: one value handed over from sqlx's worker thread a page,
/// instead of a row a link.
pub const LINKS_JSON_PAGE: &str = "SELECT \
     json_group_array(json_array(ecc_key, pipedrive_id, linked_at) ORDER BY ecc_key) \
     FROM (SELECT ecc_key, pipedrive_id, linked_at FROM links \
           WHERE connection = $1 AND kind = $2 AND ecc_key > $3 ORDER BY ecc_key LIMIT $4)";

/// `LINKS_WITH_CUSTOMERS_PAGE` in SQLite, as one JSON array of [contact, customer] rows (see
/// `LINKS_JSON_PAGE`).
pub const LINKS_WITH_CUSTOMERS_JSON_PAGE: &str = "SELECT \
     json_group_array(json_array(ecc_key, customer_number) ORDER BY ecc_key) \
     FROM (SELECT l.ecc_key, s.customer_number FROM links l \
           LEFT JOIN record_state s \
           ON s.connection = l.connection AND s.kind = l.kind AND s.ecc_key = l.ecc_key \
           WHERE l.connection = $1 AND l.kind = $2 AND l.ecc_key > $3 \
           ORDER BY l.ecc_key LIMIT $4)";

/// `$3, $4, ...`: `count` parameters after the connection and the kind.
fn key_placeholders(count: usize) -> String {
    (0..count)
        .map(|index| format!("${}", index + 3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ECC key other than `$3` that holds Pipedrive id `$4`, if any.
pub const LINK_HOLDER_OF_PIPEDRIVE_ID: &str = "SELECT ecc_key FROM links \
     WHERE connection = $1 AND kind = $2 AND ecc_key <> $3 AND pipedrive_id = $4";

/// Links `$3` to `$4`; an unchanged link keeps its `linked_at`.
pub const UPSERT_LINK: &str =
    "INSERT INTO links (connection, kind, ecc_key, pipedrive_id, linked_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (connection, kind, ecc_key) DO UPDATE \
     SET pipedrive_id = excluded.pipedrive_id, linked_at = excluded.linked_at \
     WHERE links.pipedrive_id <> excluded.pipedrive_id";

pub const DELETE_LINK: &str =
    "DELETE FROM links WHERE connection = $1 AND kind = $2 AND ecc_key = $3";

// ── record state ──

const RECORD_STATE_COLUMNS: &str = "connection, kind, ecc_key, customer_number, pushed_hash, \
     pipedrive_verified, last_seen_at, last_run_id, failures, retry_after, parked, last_error";

pub fn record_state_by_ecc_key() -> String {
    format!(
        "SELECT {RECORD_STATE_COLUMNS} FROM record_state \
         WHERE connection = $1 AND kind = $2 AND ecc_key = $3"
    )
}

pub fn record_states_of_kind() -> String {
    format!(
        "SELECT {RECORD_STATE_COLUMNS} FROM record_state \
         WHERE connection = $1 AND kind = $2 ORDER BY ecc_key"
    )
}

/// `$1` connection, `$2` kind, then `count` ECC keys from `$3` on.
pub fn record_states_of_keys(count: usize) -> String {
    format!(
        "SELECT {RECORD_STATE_COLUMNS} FROM record_state \
         WHERE connection = $1 AND kind = $2 AND ecc_key IN ({})",
        key_placeholders(count)
    )
}

/// The states of the keys of JSON array `$3`, as one JSON array of rows (see
/// `rows::record_state_of_json`), as `LINKS_OF_JSON_KEYS` reads links.
pub const RECORD_STATES_OF_JSON_KEYS: &str = "SELECT json_group_array(json_array(\
     ecc_key, customer_number, pushed_hash, last_seen_at, last_run_id, failures, retry_after, \
     parked, last_error, pipedrive_verified)) FROM record_state \
     WHERE connection = $1 AND kind = $2 AND ecc_key IN (SELECT value FROM json_each($3))";

pub fn failing_record_states() -> String {
    format!(
        "SELECT {RECORD_STATE_COLUMNS} FROM record_state \
         WHERE connection = $1 AND failures > 0 ORDER BY kind, ecc_key"
    )
}

/// One outcome's effect on a record's state. `$4` is the new pushed hash (NULL keeps the old
/// one); `$7..$10` are the failure columns of a first sighting; `$11` is the `FailureChange`
/// ("reset", "increment" or "keep") that says how they change on a known record; `$12` is the
/// customer the record belongs to (the outcome's audit names it; NULL keeps the old one);
/// `$13` is what was found verified in Pipedrive (NULL keeps the old one).
pub const UPSERT_RECORD_STATE: &str = "INSERT INTO record_state \
     (connection, kind, ecc_key, pushed_hash, last_seen_at, last_run_id, \
      failures, retry_after, parked, last_error, customer_number, pipedrive_verified) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13) \
     ON CONFLICT (connection, kind, ecc_key) DO UPDATE SET \
     customer_number = COALESCE(excluded.customer_number, record_state.customer_number), \
     pushed_hash = COALESCE(excluded.pushed_hash, record_state.pushed_hash), \
     pipedrive_verified = COALESCE(excluded.pipedrive_verified, record_state.pipedrive_verified), \
     last_seen_at = excluded.last_seen_at, \
     last_run_id = excluded.last_run_id, \
     failures = CASE $11 WHEN 'keep' THEN record_state.failures \
                         WHEN 'increment' THEN record_state.failures + 1 \
                         ELSE 0 END, \
     retry_after = CASE $11 WHEN 'keep' THEN record_state.retry_after ELSE excluded.retry_after END, \
     parked = CASE $11 WHEN 'keep' THEN record_state.parked ELSE excluded.parked END, \
     last_error = CASE $11 WHEN 'keep' THEN record_state.last_error ELSE excluded.last_error END";

// ── intents ──

pub const INSERT_INTENT: &str = "INSERT INTO intents \
     (connection, run_id, kind, ecc_key, operation, payload, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

pub const OPEN_INTENTS: &str = "SELECT id, connection, run_id, kind, ecc_key, operation, payload, \
     created_at FROM intents WHERE connection = $1 ORDER BY id";

pub const DELETE_INTENT: &str = "DELETE FROM intents WHERE id = $1 AND connection = $2";

// ── audit ──

pub const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events \
     (connection, run_id, kind, ecc_key, customer_number, read_at, source, extracted, \
      content_hash, action, pipedrive_id, outcome, error, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";

/// The newest full copy of a record (an `audit_events` row with a content hash: a kept-out dirty
/// record has none), which its skips point at.
pub const FULL_COPY_OF_RECORD: &str = "SELECT id, customer_number, source, content_hash \
     FROM audit_events WHERE connection = $1 AND kind = $2 AND ecc_key = $3 AND content_hash <> '' \
     ORDER BY id DESC LIMIT 1";

/// A narrow skip; SQLite gives the id (`NEXT_AUDIT_ID_SQLITE`), PostgreSQL's default takes it
/// from audit_events' sequence.
pub const INSERT_AUDIT_SKIP_SQLITE: &str = "INSERT INTO audit_skips \
     (id, run_id, full_copy_id, content_hash, pipedrive_id, outcome_id, read_at, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const INSERT_AUDIT_SKIP_POSTGRES: &str = "INSERT INTO audit_skips \
     (run_id, full_copy_id, content_hash, pipedrive_id, outcome_id, read_at, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Takes the next id of audit_events' sequence for a skip (SQLite keeps it in sqlite_sequence,
/// where an AUTOINCREMENT insert into audit_events takes its ids too).
pub const NEXT_AUDIT_ID_SQLITE: &str =
    "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'audit_events' RETURNING seq";

/// Stores an outcome text once; no row when it is there already.
pub const INSERT_AUDIT_OUTCOME: &str =
    "INSERT INTO audit_outcomes (text) VALUES ($1) ON CONFLICT (text) DO NOTHING RETURNING id";

pub const AUDIT_OUTCOME_ID: &str = "SELECT id FROM audit_outcomes WHERE text = $1";

/// How a backend turns a skip's stored time column into the type of audit_events' times.
pub type SkipTimeColumn = fn(&str) -> String;

/// SQLite keeps skip times as microseconds: back to the fixed-width text of the other times.
pub fn sqlite_skip_time(column: &str) -> String {
    format!(
        "(strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000000, 'unixepoch') \
         || printf('.%06dZ', {column} % 1000000))"
    )
}

/// PostgreSQL keeps them as `timestamptz` already.
pub fn postgres_skip_time(column: &str) -> String {
    column.to_string()
}

const AUDIT_COLUMNS: &str = "id, connection, run_id, kind, ecc_key, customer_number, read_at, \
     source, extracted, content_hash, action, pipedrive_id, outcome, error, recorded_at, \
     CAST(NULL AS BIGINT) AS full_copy_id";

/// Newest first over both tables of the trail: full events, and narrow skips read back whole
/// (record, customer, source and extracted record from the full copy they point at, the hash
/// their own when they differ). `since` is inclusive, `until` exclusive, both on `recorded_at`.
pub fn audit_query(query: &AuditQuery, skip_time: SkipTimeColumn) -> Select {
    let mut select = Select::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events"));
    if let Some(connection) = &query.connection {
        select.filter("connection =", Param::Text(connection.clone()));
    }
    if let Some(customer_number) = &query.customer_number {
        select.filter("customer_number =", Param::Text(customer_number.clone()));
    }
    if let Some(run_id) = query.run_id {
        select.filter("run_id =", Param::Integer(run_id));
    }
    if let Some(action) = query.action {
        select.filter("action =", Param::Text(action.as_str().to_string()));
    }
    if let Some(kind) = query.kind {
        select.filter("kind =", Param::Text(kind.as_str().to_string()));
    }
    if let Some(since) = query.since {
        select.filter("recorded_at >=", Param::Time(since));
    }
    if let Some(until) = query.until {
        select.filter("recorded_at <", Param::Time(until));
    }
    if let Some(before_id) = query.before_id {
        select.filter("id <", Param::Integer(before_id));
    }
    if let Some(after_id) = query.after_id {
        select.filter("id >", Param::Integer(after_id));
    }
    if query
        .action
        .is_none_or(|action| action == crate::Action::Skip)
    {
        select.union_all(format!(
            "SELECT s.id, f.connection, s.run_id, f.kind, f.ecc_key, f.customer_number, \
             {read_at} AS read_at, f.source, f.extracted, \
             COALESCE(s.content_hash, f.content_hash) AS content_hash, 'skip' AS action, \
             s.pipedrive_id, o.text AS outcome, NULL AS error, {recorded_at} AS recorded_at, \
             s.full_copy_id \
             FROM audit_skips s JOIN audit_events f ON f.id = s.full_copy_id \
             JOIN audit_outcomes o ON o.id = s.outcome_id",
            read_at = skip_time("s.read_at"),
            recorded_at = skip_time("s.recorded_at"),
        ));
        if let Some(connection) = &query.connection {
            select.filter("f.connection =", Param::Text(connection.clone()));
        }
        if let Some(customer_number) = &query.customer_number {
            select.filter("f.customer_number =", Param::Text(customer_number.clone()));
        }
        if let Some(run_id) = query.run_id {
            select.filter("s.run_id =", Param::Integer(run_id));
        }
        if let Some(kind) = query.kind {
            select.filter("f.kind =", Param::Text(kind.as_str().to_string()));
        }
        if let Some(since) = query.since {
            select.filter("s.recorded_at >=", Param::SkipTime(since));
        }
        if let Some(until) = query.until {
            select.filter("s.recorded_at <", Param::SkipTime(until));
        }
        if let Some(before_id) = query.before_id {
            select.filter("s.id <", Param::Integer(before_id));
        }
        if let Some(after_id) = query.after_id {
            select.filter("s.id >", Param::Integer(after_id));
        }
    }
    select.finish("ORDER BY id DESC", query.limit)
}

/// The first audit id of the runs started at or after `$1`: no skip of a later run is old
/// enough to prune, so the prune reads the skips index of the earlier runs only.
pub const FIRST_RUN_STARTED_SINCE: &str = "SELECT MIN(id) FROM runs WHERE started_at >= $1";

/// Skips recorded before `$1` (of runs before `$2`) that are not their record's latest event:
/// a later skip points at the same copy, or a later event of the record is in audit_events.
pub const PRUNE_AUDIT_SKIPS: &str = "DELETE FROM audit_skips \
     WHERE run_id < $2 AND recorded_at < $1 AND ( \
       EXISTS (SELECT 1 FROM audit_skips later \
               WHERE later.full_copy_id = audit_skips.full_copy_id AND later.id > audit_skips.id) \
       OR EXISTS (SELECT 1 FROM audit_events copy JOIN audit_events later \
                  ON later.connection = copy.connection AND later.kind = copy.kind \
                  AND later.ecc_key = copy.ecc_key AND later.id > audit_skips.id \
                  WHERE copy.id = audit_skips.full_copy_id))";

/// Full events recorded before `$1` with a later event of the same record, unless a skip still
/// points at them: each record's latest event stays, and the copy its latest skip reads back.
pub const PRUNE_AUDIT_EVENTS: &str = "DELETE FROM audit_events \
     WHERE recorded_at < $1 \
       AND EXISTS (SELECT 1 FROM audit_events later \
                   WHERE later.connection = audit_events.connection \
                   AND later.kind = audit_events.kind AND later.ecc_key = audit_events.ecc_key \
                   AND later.id > audit_events.id) \
       AND NOT EXISTS (SELECT 1 FROM audit_skips WHERE audit_skips.full_copy_id = audit_events.id)";

// ── cursors ──

pub const CURSOR_BY_STREAM: &str = "SELECT connection, stream, value, version, updated_at \
     FROM cursors WHERE connection = $1 AND stream = $2";

pub const CURSOR_VERSION: &str =
    "SELECT version FROM cursors WHERE connection = $1 AND stream = $2";

/// Creates the cursor at version 1 unless it exists; no row affected means it does.
pub const INSERT_FIRST_CURSOR: &str = "INSERT INTO cursors \
     (connection, stream, value, version, updated_at) VALUES ($1, $2, $3, 1, $4) \
     ON CONFLICT (connection, stream) DO NOTHING";

/// Moves the cursor if it is still at version `$5`; no row affected means another writer won.
pub const ADVANCE_CURSOR_FROM_VERSION: &str = "UPDATE cursors \
     SET value = $3, version = version + 1, updated_at = $4 \
     WHERE connection = $1 AND stream = $2 AND version = $5";

// ── runs ──

pub const INSERT_RUN: &str = "INSERT INTO runs \
     (connection, instance, mode, started_at, status, counts, tokens_used) \
     VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id";

pub const FINISH_RUN: &str = "UPDATE runs SET finished_at = $2, status = $3, counts = $4, \
     tokens_used = $5, alert = $6, error = $7 WHERE id = $1";

/// Newest first.
pub fn runs_query(query: &RunQuery) -> Select {
    let mut select = Select::new(
        "SELECT id, connection, instance, mode, started_at, finished_at, status, counts, \
         tokens_used, alert, error FROM runs"
            .to_string(),
    );
    if let Some(connection) = &query.connection {
        select.filter("connection =", Param::Text(connection.clone()));
    }
    if let Some(id) = query.id {
        select.filter("id =", Param::Integer(id));
    }
    select.finish("ORDER BY id DESC", query.limit)
}

// ── review queue ──

const REVIEW_COLUMNS: &str = "id, connection, kind, ecc_key, pipedrive_id, score, evidence, \
     status, created_at, decided_at";

/// Queues the pair unless it is queued already (no row returned then).
pub const INSERT_REVIEW: &str = "INSERT INTO reviews \
     (connection, kind, ecc_key, pipedrive_id, score, evidence, status, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
     ON CONFLICT (connection, kind, ecc_key, pipedrive_id) DO NOTHING RETURNING id";

pub const REVIEW_ID_OF_PAIR: &str = "SELECT id FROM reviews \
     WHERE connection = $1 AND kind = $2 AND ecc_key = $3 AND pipedrive_id = $4";

/// Decides pair `$1`; with `only_pending`, only while it is still pending (no row otherwise).
pub fn decide_review(only_pending: bool) -> String {
    let guard = if only_pending {
        " AND status = 'pending'"
    } else {
        ""
    };
    format!(
        "UPDATE reviews SET status = $2, decided_at = $3 WHERE id = $1{guard} \
         RETURNING {REVIEW_COLUMNS}"
    )
}

pub const INSERT_REVIEW_DECISION: &str = "INSERT INTO review_decisions \
     (review_id, decision, rule, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5)";

/// The decisions of a connection (of one pair with `$2`), oldest first, with their pair.
pub const REVIEW_DECISIONS: &str = "SELECT decisions.id, decisions.review_id, \
     reviews.connection, reviews.kind, reviews.ecc_key, reviews.pipedrive_id, reviews.score, \
     decisions.decision, decisions.rule, decisions.decided_by, decisions.decided_at \
     FROM review_decisions decisions JOIN reviews ON reviews.id = decisions.review_id \
     WHERE reviews.connection = $1 AND ($2 IS NULL OR decisions.review_id = $2) \
     ORDER BY decisions.id";

/// Oldest first: the queue is worked in the order it filled.
pub fn reviews_query(connection: &str, status: Option<crate::ReviewStatus>) -> Select {
    let mut select = Select::new(format!("SELECT {REVIEW_COLUMNS} FROM reviews"));
    select.filter("connection =", Param::Text(connection.to_string()));
    if let Some(status) = status {
        select.filter("status =", Param::Text(status.as_str().to_string()));
    }
    select.finish("ORDER BY id", None)
}

// ── token ledger ──

/// Adds `$3` tokens to the day's total unless that crosses `$4`; returns the new total, or no
/// row when refused. The first charge of a day inserts; callers refuse `$3 > $4` beforehand.
/// One statement, so concurrent chargers (in any process) serialize on the row.
pub const CHARGE_TOKENS: &str =
    "INSERT INTO token_ledger (company, day, used) VALUES ($1, $2, $3) \
     ON CONFLICT (company, day) DO UPDATE SET used = token_ledger.used + excluded.used \
     WHERE token_ledger.used + excluded.used <= $4 \
     RETURNING used";

pub const TOKENS_USED: &str = "SELECT used FROM token_ledger WHERE company = $1 AND day = $2";

// ── leases ──

/// Takes the lease when there is none, it was released, or it expired before `$4`; every new
/// holder gets the previous token plus one. Returns the token, or no row when the lease is held.
pub const ACQUIRE_LEASE: &str =
    "INSERT INTO leases (connection, holder, fencing_token, expires_at, acquired_at) \
     VALUES ($1, $2, 1, $3, $4) \
     ON CONFLICT (connection) DO UPDATE \
     SET holder = excluded.holder, fencing_token = leases.fencing_token + 1, \
         expires_at = excluded.expires_at, acquired_at = excluded.acquired_at \
     WHERE leases.holder IS NULL OR leases.expires_at <= $4 \
     RETURNING fencing_token";

/// Extends the lease if holder and token still match. An expired lease nobody took over yet
/// is still ours: nobody else wrote, since a takeover would have raised the token.
pub const RENEW_LEASE: &str = "UPDATE leases SET expires_at = $4 \
     WHERE connection = $1 AND holder = $2 AND fencing_token = $3";

/// Frees the lease and keeps its token, so the next holder's is larger.
pub const RELEASE_LEASE: &str = "UPDATE leases SET holder = NULL \
     WHERE connection = $1 AND holder = $2 AND fencing_token = $3";

/// Takes the lease from a holder known to be gone (its process no longer exists), before it
/// expires: only while that holder still has it with that token, so two takers cannot both win.
pub const TAKE_OVER_LEASE: &str = "UPDATE leases \
     SET holder = $4, fencing_token = fencing_token + 1, expires_at = $5, acquired_at = $6 \
     WHERE connection = $1 AND holder = $2 AND fencing_token = $3 \
     RETURNING fencing_token";

/// The lease's holder, while someone holds it (expired or not).
pub const LEASE_HOLDER: &str = "SELECT connection, holder, fencing_token, acquired_at, expires_at \
     FROM leases WHERE connection = $1 AND holder IS NOT NULL";

/// Marks the connection's runs still `running` as interrupted: called by a new lease holder, so
/// they belong to a process that stopped without finishing them. Dry runs hold no lease and are
/// left alone.
pub const INTERRUPT_RUNS: &str = "UPDATE runs SET status = 'interrupted', finished_at = $2, \
     error = COALESCE(error, $3) \
     WHERE connection = $1 AND status = 'running' AND mode <> 'dry-run'";

/// The current token. SQLite needs no row lock: `BEGIN IMMEDIATE` already holds the file's.
pub const LEASE_TOKEN: &str = "SELECT fencing_token FROM leases WHERE connection = $1";

/// The current token, with the row locked against a takeover until the transaction ends
/// (PostgreSQL only; SQLite has no `FOR SHARE`).
pub const LEASE_TOKEN_FOR_SHARE: &str =
    "SELECT fencing_token FROM leases WHERE connection = $1 FOR SHARE";

// ── secrets ──

pub const UPSERT_SECRET: &str = "INSERT INTO secrets (name, nonce, ciphertext, updated_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE \
     SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at";

pub const SECRET_BY_NAME: &str = "SELECT nonce, ciphertext FROM secrets WHERE name = $1";

// ── webhook deliveries taken ──

/// Takes delivery `$2`; returns a row only when it was not taken before.
pub const NOTE_WEBHOOK_EVENT: &str =
    "INSERT INTO webhook_events (connection, event_id, received_at) VALUES ($1, $2, $3) \
     ON CONFLICT (connection, event_id) DO NOTHING RETURNING event_id";

pub const PRUNE_WEBHOOK_EVENTS: &str = "DELETE FROM webhook_events WHERE received_at < $1";

// ── queries with optional filters ──

/// A value bound to a query built at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Integer(i64),
    Time(DateTime<Utc>),
    /// A time compared with a column of `audit_skips` (microseconds in SQLite).
    SkipTime(DateTime<Utc>),
}

/// A SELECT whose WHERE clause depends on which filters are set.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub sql: String,
    pub params: Vec<Param>,
    /// Filters of the current SELECT so far (a UNION ALL starts a new one).
    filters: usize,
}

impl Select {
    fn new(head: String) -> Select {
        Select {
            sql: head,
            params: Vec::new(),
            filters: 0,
        }
    }

    /// Starts `UNION ALL <head>`; later filters apply to it, numbering their parameters on.
    fn union_all(&mut self, head: String) {
        self.sql.push_str(" UNION ALL ");
        self.sql.push_str(&head);
        self.filters = 0;
    }

    /// Adds `AND <column_and_operator> $N`.
    fn filter(&mut self, column_and_operator: &str, value: Param) {
        self.params.push(value);
        self.filters += 1;
        let keyword = if self.filters == 1 { "WHERE" } else { "AND" };
        self.sql.push_str(&format!(
            " {keyword} {column_and_operator} ${}",
            self.params.len()
        ));
    }

    fn finish(mut self, order: &str, limit: Option<u32>) -> Select {
        self.sql.push(' ');
        self.sql.push_str(order);
        if let Some(limit) = limit {
            self.params.push(Param::Integer(i64::from(limit)));
            self.sql.push_str(&format!(" LIMIT ${}", self.params.len()));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_query_numbers_only_the_filters_that_are_set() {
        let query = AuditQuery {
            customer_number: Some("0000001000".to_string()),
            action: Some(crate::Action::Create),
            limit: Some(10),
            ..AuditQuery::default()
        };
        let select = audit_query(&query, postgres_skip_time);
        assert!(
            select.sql.ends_with(
                "FROM audit_events WHERE customer_number = $1 AND action = $2 \
                 ORDER BY id DESC LIMIT $3"
            ),
            "{}",
            select.sql
        );
        assert_eq!(
            select.params,
            vec![
                Param::Text("0000001000".to_string()),
                Param::Text("create".to_string()),
                Param::Integer(10),
            ]
        );
    }

    #[test]
    fn unfiltered_runs_query_has_no_where() {
        let select = runs_query(&RunQuery::default());
        assert!(
            select.sql.ends_with("FROM runs ORDER BY id DESC"),
            "{}",
            select.sql
        );
        assert!(select.params.is_empty());
    }
}
