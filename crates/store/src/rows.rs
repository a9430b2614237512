//! Rows as both backends read them, and their checked conversion into the model: a value the
//! model does not know (an unknown kind, a negative count) is an error naming the table and key,
//! never a panic.

use chrono::{DateTime, Utc};

use crate::{
    Action, ActionCounts, AuditEvent, Cursor, DecisionRule, EntityKind, Intent, LeaseHolder, Link,
    PersonCustomer, RecordState, ReviewDecisionRecord, ReviewItem, ReviewStatus, RunRecord,
    RunStatus, StoreError, StoreResult,
};

fn corrupt(table: &str, key: impl std::fmt::Display, message: String) -> StoreError {
    StoreError::Database(format!("{table} row {key}: {message}"))
}

fn entity_kind(table: &str, key: impl std::fmt::Display, text: &str) -> StoreResult<EntityKind> {
    EntityKind::parse(text)
        .ok_or_else(|| corrupt(table, key, format!("unknown entity kind {text:?}")))
}

fn non_negative<T: TryFrom<i64>>(
    table: &str,
    key: impl std::fmt::Display,
    column: &str,
    value: i64,
) -> StoreResult<T> {
    T::try_from(value)
        .map_err(|_| corrupt(table, key, format!("{column} is out of range: {value}")))
}

#[derive(sqlx::FromRow)]
pub struct LinkRow {
    connection: String,
    kind: String,
    ecc_key: String,
    pipedrive_id: i64,
    linked_at: DateTime<Utc>,
}

impl LinkRow {
    pub fn into_model(self) -> StoreResult<Link> {
        Ok(Link {
            kind: entity_kind("links", &self.ecc_key, &self.kind)?,
            connection: self.connection,
            ecc_key: self.ecc_key,
            pipedrive_id: self.pipedrive_id,
            linked_at: self.linked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct RecordStateRow {
    connection: String,
    kind: String,
    ecc_key: String,
    customer_number: Option<String>,
    pushed_hash: Option<String>,
    pipedrive_verified: Option<i64>,
    last_seen_at: Option<DateTime<Utc>>,
    last_run_id: Option<i64>,
    failures: i64,
    retry_after: Option<DateTime<Utc>>,
    parked: bool,
    last_error: Option<String>,
}

impl RecordStateRow {
    pub fn into_model(self) -> StoreResult<RecordState> {
        Ok(RecordState {
            kind: entity_kind("record_state", &self.ecc_key, &self.kind)?,
            failures: non_negative("record_state", &self.ecc_key, "failures", self.failures)?,
            connection: self.connection,
            ecc_key: self.ecc_key,
            customer_number: self.customer_number,
            pushed_hash: self.pushed_hash,
            pipedrive_verified: self.pipedrive_verified,
            last_seen_at: self.last_seen_at,
            last_run_id: self.last_run_id,
            retry_after: self.retry_after,
            parked: self.parked,
            last_error: self.last_error,
        })
    }
}

/// A person link as `sql::LINKS_WITH_CUSTOMERS_PAGE` lists it: contact number, customer.
pub type PersonCustomerRow = (String, Option<String>);

pub fn person_customers(rows: Vec<PersonCustomerRow>) -> Vec<PersonCustomer> {
    rows.into_iter()
        .map(|(contact_number, customer_number)| PersonCustomer {
            contact_number,
            customer_number,
        })
        .collect()
}

/// A link as `sql::LINKS_OF_JSON_KEYS` lists it: ECC key, Pipedrive id, linked at.
pub type LinkJson = (String, i64, String);

pub fn link_of_json(connection: &str, kind: EntityKind, link: LinkJson) -> StoreResult<Link> {
    let (ecc_key, pipedrive_id, linked_at) = link;
    Ok(Link {
        linked_at: json_time("links", &ecc_key, "linked_at", &linked_at)?,
        connection: connection.to_string(),
        kind,
        ecc_key,
        pipedrive_id,
    })
}

/// A record state as `sql::RECORD_STATES_OF_JSON_KEYS` lists it: ECC key, customer number,
/// pushed hash, last seen at, last run, failures, retry after, parked (0 or 1), last error,
/// Pipedrive verified.
pub type RecordStateJson = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<String>,
    i64,
    Option<String>,
    Option<i64>,
);

pub fn record_state_of_json(
    connection: &str,
    kind: EntityKind,
    state: RecordStateJson,
) -> StoreResult<RecordState> {
    let (
        ecc_key,
        customer_number,
        pushed_hash,
        last_seen_at,
        last_run_id,
        failures,
        retry_after,
        parked,
        last_error,
        pipedrive_verified,
    ) = state;
    let time = |column: &str, text: Option<String>| {
        text.map(|text| json_time("record_state", &ecc_key, column, &text))
            .transpose()
    };
    Ok(RecordState {
        last_seen_at: time("last_seen_at", last_seen_at)?,
        retry_after: time("retry_after", retry_after)?,
        failures: non_negative("record_state", &ecc_key, "failures", failures)?,
        connection: connection.to_string(),
        kind,
        customer_number,
        pushed_hash,
        pipedrive_verified,
        last_run_id,
        parked: parked != 0,
        last_error,
        ecc_key,
    })
}

/// A time as SQLite keeps it (RFC 3339, as `sqlite::timestamp` writes it; or with a space and
/// an offset, as sqlx writes one).
fn json_time(table: &str, key: &str, column: &str, text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| {
            corrupt(
                table,
                key,
                format!("{column} {text:?} is not a time: {error}"),
            )
        })
}

#[derive(sqlx::FromRow)]
pub struct IntentRow {
    id: i64,
    connection: String,
    run_id: i64,
    kind: String,
    ecc_key: String,
    operation: String,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl IntentRow {
    pub fn into_model(self) -> StoreResult<Intent> {
        Ok(Intent {
            kind: entity_kind("intents", self.id, &self.kind)?,
            id: self.id,
            connection: self.connection,
            run_id: self.run_id,
            ecc_key: self.ecc_key,
            operation: self.operation,
            payload: self.payload,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    connection: String,
    run_id: i64,
    kind: String,
    ecc_key: String,
    customer_number: String,
    read_at: DateTime<Utc>,
    source: String,
    extracted: serde_json::Value,
    content_hash: String,
    action: String,
    pipedrive_id: Option<i64>,
    outcome: String,
    error: Option<String>,
    recorded_at: DateTime<Utc>,
    full_copy_id: Option<i64>,
}

impl AuditRow {
    pub fn into_model(self) -> StoreResult<AuditEvent> {
        let action = Action::parse(&self.action).ok_or_else(|| {
            corrupt(
                "audit_events",
                self.id,
                format!("unknown action {:?}", self.action),
            )
        })?;
        Ok(AuditEvent {
            kind: entity_kind("audit_events", self.id, &self.kind)?,
            action,
            id: self.id,
            connection: self.connection,
            run_id: self.run_id,
            ecc_key: self.ecc_key,
            customer_number: self.customer_number,
            read_at: self.read_at,
            source: self.source,
            extracted: self.extracted,
            extracted_later: None,
            content_hash: self.content_hash,
            pipedrive_id: self.pipedrive_id,
            outcome: self.outcome,
            error: self.error,
            recorded_at: self.recorded_at,
            full_copy_id: self.full_copy_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct CursorRow {
    connection: String,
    stream: String,
    value: String,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl CursorRow {
    pub fn into_model(self) -> Cursor {
        Cursor {
            connection: self.connection,
            stream: self.stream,
            value: self.value,
            version: self.version,
            updated_at: self.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct RunRow {
    id: i64,
    connection: String,
    instance: String,
    mode: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    status: String,
    counts: serde_json::Value,
    tokens_used: i64,
    alert: Option<String>,
    error: Option<String>,
}

impl RunRow {
    pub fn into_model(self) -> StoreResult<RunRecord> {
        let status = RunStatus::parse(&self.status)
            .ok_or_else(|| corrupt("runs", self.id, format!("unknown status {:?}", self.status)))?;
        let counts: ActionCounts = serde_json::from_value(self.counts)
            .map_err(|error| corrupt("runs", self.id, format!("counts: {error}")))?;
        Ok(RunRecord {
            tokens_used: non_negative("runs", self.id, "tokens_used", self.tokens_used)?,
            status,
            counts,
            id: self.id,
            connection: self.connection,
            instance: self.instance,
            mode: self.mode,
            started_at: self.started_at,
            finished_at: self.finished_at,
            alert: self.alert,
            error: self.error,
        })
    }
}

pub fn counts_json(counts: &ActionCounts) -> serde_json::Value {
    serde_json::Value::Object(
        counts
            .iter()
            .map(|(action, count)| (action.as_str().to_string(), serde_json::Value::from(*count)))
            .collect(),
    )
}

#[derive(sqlx::FromRow)]
pub struct ReviewRow {
    id: i64,
    connection: String,
    kind: String,
    ecc_key: String,
    pipedrive_id: i64,
    score: f64,
    evidence: serde_json::Value,
    status: String,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

impl ReviewRow {
    pub fn into_model(self) -> StoreResult<ReviewItem> {
        let status = review_status(&self.status).ok_or_else(|| {
            corrupt(
                "reviews",
                self.id,
                format!("unknown status {:?}", self.status),
            )
        })?;
        Ok(ReviewItem {
            kind: entity_kind("reviews", self.id, &self.kind)?,
            status,
            id: self.id,
            connection: self.connection,
            ecc_key: self.ecc_key,
            pipedrive_id: self.pipedrive_id,
            score: self.score,
            evidence: self.evidence,
            created_at: self.created_at,
            decided_at: self.decided_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ReviewDecisionRow {
    id: i64,
    review_id: i64,
    connection: String,
    kind: String,
    ecc_key: String,
    pipedrive_id: i64,
    score: f64,
    decision: String,
    rule: String,
    decided_by: String,
    decided_at: DateTime<Utc>,
}

impl ReviewDecisionRow {
    pub fn into_model(self) -> StoreResult<ReviewDecisionRecord> {
        let decision = review_status(&self.decision).ok_or_else(|| {
            corrupt(
                "review_decisions",
                self.id,
                format!("unknown decision {:?}", self.decision),
            )
        })?;
        let rule = DecisionRule::parse_stored(&self.rule).ok_or_else(|| {
            corrupt(
                "review_decisions",
                self.id,
                format!("unknown rule {:?}", self.rule),
            )
        })?;
        Ok(ReviewDecisionRecord {
            kind: entity_kind("review_decisions", self.id, &self.kind)?,
            decision,
            rule,
            id: self.id,
            review_id: self.review_id,
            connection: self.connection,
            ecc_key: self.ecc_key,
            pipedrive_id: self.pipedrive_id,
            score: self.score,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
        })
    }
}

fn review_status(text: &str) -> Option<ReviewStatus> {
    ReviewStatus::parse(text)
}

/// The token ledger stores totals as BIGINT.
pub fn tokens_from_db(company: &str, used: i64) -> StoreResult<u64> {
    non_negative("token_ledger", company, "used", used)
}

/// Counts beyond BIGINT are clamped: no daily budget comes near them.
pub fn tokens_to_db(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}

/// The columns a `FailureChange` writes on a record's first sighting, and its name for
/// `sql::UPSERT_RECORD_STATE`.
pub struct FailureColumns<'a> {
    pub change: &'static str,
    pub failures: i64,
    pub retry_after: Option<DateTime<Utc>>,
    pub parked: bool,
    pub last_error: Option<&'a str>,
}

impl<'a> FailureColumns<'a> {
    pub fn of(change: &'a crate::FailureChange) -> FailureColumns<'a> {
        match change {
            crate::FailureChange::Reset => FailureColumns {
                change: "reset",
                failures: 0,
                retry_after: None,
                parked: false,
                last_error: None,
            },
            crate::FailureChange::Increment {
                retry_after,
                park,
                error,
            } => FailureColumns {
                change: "increment",
                failures: 1,
                retry_after: Some(*retry_after),
                parked: *park,
                last_error: Some(error),
            },
            crate::FailureChange::Keep => FailureColumns {
                change: "keep",
                failures: 0,
                retry_after: None,
                parked: false,
                last_error: None,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct LeaseHolderRow {
    connection: String,
    holder: String,
    fencing_token: i64,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
}

impl LeaseHolderRow {
    pub fn into_model(self) -> LeaseHolder {
        LeaseHolder {
            connection: self.connection,
            holder: self.holder,
            fencing_token: self.fencing_token,
            acquired_at: self.acquired_at,
            expires_at: self.expires_at,
        }
    }
}
