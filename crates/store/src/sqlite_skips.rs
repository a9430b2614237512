//! The cheap path of a full reconciliation in SQLite: a run of plain skips (no call, nothing
//! changed but the record's last sighting) written a chunk at a time, a few statements per
//! chunk instead of four per record. Each statement is a round trip to SQLite's worker thread,
//! which bounded a no-change run by the store rather than by ECC. What is written is what
//! `write_outcome` writes for each of them, in the same order: the record's state, then its
//! audit event, narrow when the record has a full copy (see `rules::narrow_skip`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;

use crate::rules::{self, FullCopy};
use crate::sqlite::{json_array, json_rows};
use crate::{
    query_error, Action, EntityKind, FailureChange, LinkChange, OutcomeBatch, RecordOutcome,
    StoreResult,
};

/// Records per chunk: each of its statements takes them as one JSON array (`json_each`), so
/// the count is bounded by what a transaction should hold, not by SQLite's parameters.
const SKIPS_PER_STATEMENT: usize = 1000;

/// Whether `outcome` is a plain skip: no link, no intent, no failure change, no error. Only its
/// state's last sighting and its audit event are written.
pub(crate) fn is_plain_skip(outcome: &RecordOutcome) -> bool {
    outcome.audit.action == Action::Skip
        && outcome.audit.error.is_none()
        && matches!(outcome.link, LinkChange::Keep)
        && matches!(outcome.failure, FailureChange::Keep)
        && outcome.closes_intent.is_none()
}

/// How many of `outcomes`, from the first, form one chunk: plain skips of distinct records
/// (a record twice in a chunk would not see its own first event) audited for one run, at most
/// a statement's worth.
pub(crate) fn plain_skip_chunk(outcomes: &[RecordOutcome]) -> usize {
    let mut seen: HashSet<(EntityKind, &str)> = HashSet::new();
    let run_id = outcomes.first().map(|outcome| outcome.audit.run_id);
    outcomes
        .iter()
        .take(SKIPS_PER_STATEMENT)
        .take_while(|outcome| {
            is_plain_skip(outcome)
                && Some(outcome.audit.run_id) == run_id
                && seen.insert((outcome.kind, outcome.ecc_key.as_str()))
        })
        .count()
}

/// Writes one chunk of plain skips (see [`plain_skip_chunk`]) inside the caller's transaction.
pub(crate) async fn write_plain_skips(
    connection: &mut SqliteConnection,
    batch: &OutcomeBatch,
    skips: &[RecordOutcome],
    now: DateTime<Utc>,
    outcome_ids: &mut rules::OutcomeIds,
) -> StoreResult<()> {
    debug_assert!(skips.iter().all(is_plain_skip));
    if skips.is_empty() {
        return Ok(());
    }
    seen_again(connection, batch, skips, now).await?;
    let copies = full_copies(connection, &batch.connection, skips).await?;
    let mut narrow: Vec<(rules::NarrowSkip<'_>, &RecordOutcome)> = Vec::new();
    for outcome in skips {
        let copy = copies.get(&(outcome.kind, outcome.ecc_key.as_str()));
        match rules::narrow_skip(&outcome.audit, copy) {
            Some(skip) => narrow.push((skip, outcome)),
            None => {
                // The record's first event (or one that changed customer or source) keeps its
                // full copy: written where it stands, after the narrow ones before it.
                insert_narrow(connection, &narrow, outcome_ids).await?;
                narrow.clear();
                super::sqlite::insert_audit_event(connection, &outcome.audit, outcome_ids).await?;
            }
        }
    }
    insert_narrow(connection, &narrow, outcome_ids).await
}

/// A skipped record as the JSON row `seen_again` binds: kind, ECC key, pushed hash, customer,
/// what was found verified in Pipedrive.
type SeenRow<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
);

/// `UPSERT_RECORD_STATE` of a skip (failures kept) for every record of the chunk at once.
async fn seen_again(
    connection: &mut SqliteConnection,
    batch: &OutcomeBatch,
    skips: &[RecordOutcome],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // The records as one JSON array of rows: one statement, compiled once, whatever the count.
    let rows: Vec<SeenRow<'_>> = skips
        .iter()
        .map(|outcome| {
            (
                outcome.kind.as_str(),
                outcome.ecc_key.as_str(),
                outcome.pushed_hash.as_deref(),
                rules::customer_of(outcome),
                outcome.pipedrive_verified,
            )
        })
        .collect();
    let query = sqlx::query(
        "INSERT INTO record_state \
         (connection, kind, ecc_key, pushed_hash, last_seen_at, last_run_id, \
          failures, retry_after, parked, last_error, customer_number, pipedrive_verified) \
         SELECT ?1, row.value ->> 0, row.value ->> 1, row.value ->> 2, ?2, ?3, \
                0, NULL, FALSE, NULL, row.value ->> 3, row.value ->> 4 \
         FROM json_each(?4) AS row WHERE true \
         ON CONFLICT (connection, kind, ecc_key) DO UPDATE SET \
         customer_number = COALESCE(excluded.customer_number, record_state.customer_number), \
         pushed_hash = COALESCE(excluded.pushed_hash, record_state.pushed_hash), \
         pipedrive_verified = \
           COALESCE(excluded.pipedrive_verified, record_state.pipedrive_verified), \
         last_seen_at = excluded.last_seen_at, \
         last_run_id = excluded.last_run_id",
    )
    .bind(&batch.connection)
    .bind(super::sqlite::timestamp(now))
    .bind(batch.run_id)
    .bind(json_array(&rows)?);
    query.execute(connection).await.map_err(|error| {
        rules::run_reference_error(error, batch.run_id, "writing the states of skipped records")
    })?;
    Ok(())
}

/// The newest full copy of each record of the chunk (`FULL_COPY_OF_RECORD` for all of them).
async fn full_copies<'o>(
    connection: &mut SqliteConnection,
    connection_name: &str,
    skips: &'o [RecordOutcome],
) -> StoreResult<HashMap<(EntityKind, &'o str), FullCopy>> {
    let mut copies = HashMap::new();
    for kind in [EntityKind::Organization, EntityKind::Person] {
        let keys: Vec<&'o str> = skips
            .iter()
            .filter(|outcome| outcome.kind == kind)
            .map(|outcome| outcome.ecc_key.as_str())
            .collect();
        if keys.is_empty() {
            continue;
        }
        // One JSON array of [ecc key, id, customer, source, hash] back, not a row a record
        // (sqlx copies each row value by value and hands it over from its worker thread). Each
        // key's newest copy is found walking its events back from the newest (the chunk's keys
        // are distinct), one row read a record, rather than grouping all its events.
        let rows: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(e.ecc_key, e.id, e.customer_number, e.source, \
                                                e.content_hash)) \
             FROM json_each(?3) AS wanted JOIN audit_events e ON e.id = \
               (SELECT copy.id FROM audit_events copy \
                WHERE copy.connection = ?1 AND copy.kind = ?2 AND copy.ecc_key = wanted.value \
                AND copy.content_hash <> '' ORDER BY copy.id DESC LIMIT 1)",
        )
        .bind(connection_name)
        .bind(kind.as_str())
        .bind(json_array(&keys)?)
        .fetch_one(&mut *connection)
        .await
        .map_err(query_error(
            "finding the records' full copies in the audit trail",
        ))?;
        let rows: Vec<(String, i64, String, String, String)> =
            json_rows(&rows, "the records' full copies")?;
        let by_key: HashMap<&str, &'o str> = keys.iter().map(|key| (*key, *key)).collect();
        for (ecc_key, id, customer_number, source, content_hash) in rows {
            let Some(key) = by_key.get(ecc_key.as_str()) else {
                continue;
            };
            copies.insert(
                (kind, *key),
                FullCopy {
                    id,
                    customer_number,
                    source,
                    content_hash,
                },
            );
        }
    }
    Ok(copies)
}

/// A narrow skip as the JSON row `insert_narrow` binds: full copy, hash (when it differs from
/// the copy's), Pipedrive id, outcome text id, read and recorded (microseconds). Its id is
/// its place in the chunk after the first, and its run the batch's: bound once, not a row.
type NarrowRow<'a> = (i64, Option<&'a str>, Option<i64>, i64, i64, i64);

/// Narrow skips in one statement, with ids taken from audit_events' sequence in one step (as
/// `NEXT_AUDIT_ID_SQLITE` takes one), in the order given.
async fn insert_narrow(
    connection: &mut SqliteConnection,
    narrow: &[(rules::NarrowSkip<'_>, &RecordOutcome)],
    outcome_ids: &mut rules::OutcomeIds,
) -> StoreResult<()> {
    let Some((_, first)) = narrow.first() else {
        return Ok(());
    };
    let mut texts = Vec::with_capacity(narrow.len());
    for (_, outcome) in narrow {
        texts.push(
            super::sqlite::outcome_id(&mut *connection, &outcome.audit.outcome, outcome_ids)
                .await?,
        );
    }
    let count = i64::try_from(narrow.len()).unwrap_or(i64::MAX);
    let last_id: i64 = sqlx::query_scalar(
        "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'audit_events' RETURNING seq",
    )
    .bind(count)
    .fetch_one(&mut *connection)
    .await
    .map_err(query_error("taking audit event ids"))?;
    // One JSON array of rows, as in `seen_again`.
    let rows: Vec<NarrowRow<'_>> = narrow
        .iter()
        .zip(&texts)
        .map(|((skip, outcome), outcome_id)| {
            let event = &outcome.audit;
            (
                skip.full_copy_id,
                skip.content_hash,
                event.pipedrive_id,
                *outcome_id,
                rules::unix_micros(event.read_at),
                rules::unix_micros(event.recorded_at),
            )
        })
        .collect();
    // json_each's key is the row's place in the array.
    let query = sqlx::query(
        "INSERT INTO audit_skips \
         (id, run_id, full_copy_id, content_hash, pipedrive_id, outcome_id, read_at, recorded_at) \
         SELECT ?1 + row.key, ?2, row.value ->> 0, row.value ->> 1, row.value ->> 2, \
                row.value ->> 3, row.value ->> 4, row.value ->> 5 \
         FROM json_each(?3) AS row",
    )
    .bind(last_id - count + 1)
    .bind(first.audit.run_id)
    .bind(json_array(&rows)?);
    query.execute(connection).await.map_err(|error| {
        rules::run_reference_error(error, first.audit.run_id, "writing audit events")
    })?;
    Ok(())
}
