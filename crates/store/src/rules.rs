//! Decisions both backends make the same way once they have read the database: whether a
//! fencing token is current, what a link conflict or a missing run looks like, when a lease
//! expires.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::{EntityKind, OutcomeBatch, RecordOutcome, SecretKey, StoreError, StoreResult};

/// A write under fencing token `presented` may go ahead only if the lease still carries it.
pub(crate) fn check_fencing(
    connection: &str,
    presented: i64,
    current: Option<i64>,
) -> StoreResult<()> {
    match current {
        Some(current) if current == presented => Ok(()),
        current => Err(StoreError::Fenced {
            connection: connection.to_string(),
            presented,
            // No lease row at all: no token was ever handed out, so any presented one is stale.
            current: current.unwrap_or(0),
        }),
    }
}

/// The customer a record belongs to, as its outcome's audit event names it; kept with the
/// record's state so a failed person is retried by re-reading its customer. An empty number
/// (an event that names none) keeps the stored one.
pub(crate) fn customer_of(outcome: &RecordOutcome) -> Option<&str> {
    let customer_number = outcome.audit.customer_number.as_str();
    (!customer_number.is_empty()).then_some(customer_number)
}

pub(crate) fn link_conflict(
    batch: &OutcomeBatch,
    kind: EntityKind,
    pipedrive_id: i64,
    linked_to: String,
) -> StoreError {
    StoreError::LinkConflict {
        connection: batch.connection.clone(),
        kind,
        pipedrive_id,
        linked_to,
    }
}

fn is_violation(error: &sqlx::Error, kind: sqlx::error::ErrorKind) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.kind() == kind)
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    is_violation(error, sqlx::error::ErrorKind::UniqueViolation)
}

/// A write naming a run that `start_run` never created breaks the foreign key to `runs`.
pub(crate) fn run_reference_error(
    error: sqlx::Error,
    run_id: i64,
    operation: &'static str,
) -> StoreError {
    if is_violation(&error, sqlx::error::ErrorKind::ForeignKeyViolation) {
        return StoreError::NoSuchRun(run_id);
    }
    StoreError::Query {
        operation,
        source: error,
    }
}

pub(crate) fn no_secret_key(name: &str) -> StoreError {
    StoreError::Secret {
        name: name.to_string(),
        message: format!(
            "the store was opened without a secret key: set {} or store.secret_key_file",
            SecretKey::ENV_VAR
        ),
    }
}

/// Stored times keep microseconds (PostgreSQL's precision); both backends round down the same.
pub(crate) fn to_microseconds(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

pub(crate) fn lease_expiry(
    connection: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> StoreResult<DateTime<Utc>> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .map(to_microseconds)
        .ok_or_else(|| {
            StoreError::Database(format!(
                "lease of connection {connection}: time to live {ttl:?} is out of range"
            ))
        })
}

/// A record's newest full copy in the audit trail, as `FULL_COPY_OF_RECORD` reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct FullCopy {
    pub id: i64,
    pub customer_number: String,
    pub source: String,
    pub content_hash: String,
}

/// What a skip stores when it is kept narrow: the copy it points at, and its hash only when it
/// differs from the copy's.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NarrowSkip<'a> {
    pub full_copy_id: i64,
    pub content_hash: Option<&'a str>,
}

/// Whether `event` is written narrow, pointing at `copy`: a skip without an error, of a record
/// with a full copy whose customer and source it shares (those are read back from the copy).
/// Anything else, the first event of a record above all, keeps its own full copy.
pub(crate) fn narrow_skip<'a>(
    event: &'a crate::AuditEvent,
    copy: Option<&FullCopy>,
) -> Option<NarrowSkip<'a>> {
    if event.action != crate::Action::Skip || event.error.is_some() {
        return None;
    }
    let copy = copy?;
    if copy.customer_number != event.customer_number || copy.source != event.source {
        return None;
    }
    Some(NarrowSkip {
        full_copy_id: copy.id,
        content_hash: (copy.content_hash != event.content_hash)
            .then_some(event.content_hash.as_str()),
    })
}

/// Outcome texts of narrow skips already stored in this transaction, by text.
pub(crate) type OutcomeIds = std::collections::HashMap<String, i64>;

/// Microseconds since 1970, as SQLite keeps the times of narrow skips.
pub(crate) fn unix_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_token_passes_the_fence() {
        assert!(check_fencing("c", 3, Some(3)).is_ok());
        let stale = check_fencing("c", 2, Some(3)).unwrap_err().to_string();
        assert!(stale.contains("fencing token 2 is older than 3"), "{stale}");
        assert!(check_fencing("c", 1, None).is_err());
    }
}
