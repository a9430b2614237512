//! How fast the store takes the writes of a sync: outcome batches (record state, link, audit
//! event and cursor in one transaction), token charges, and audit reads by customer.
//!
//! ```sh
//! cargo run --release -p mlc-store --example store_bench                  # SQLite in a temp dir
//! MLC_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p mlc-store --example store_bench              # and PostgreSQL
//! ```
//!
//! Prints one line per backend and measure. Options: `--records N` (default 5000),
//! `--batch N` (default 100).

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use mlc_store::{
    Action, AuditEvent, AuditQuery, CursorAdvance, EntityKind, FailureChange, LinkChange, NewRun,
    OutcomeBatch, RecordOutcome, SecretKey, StateStore,
};

const CONNECTION: &str = "bench";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records = 5000usize;
    let mut batch_size = 100usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--records" => records = value.parse()?,
            "--batch" => batch_size = value.parse()?,
            _ => return Err(format!("unknown option {arg}; use --records N, --batch N").into()),
        }
    }

    let directory = tempfile::tempdir()?;
    let sqlite_url = format!("sqlite://{}", directory.path().join("bench.db").display());
    let sqlite = mlc_store::open(&sqlite_url, Some(SecretKey::generate())).await?;
    bench(sqlite.as_ref(), records, batch_size).await?;

    if let Ok(admin_url) = std::env::var("MLC_BENCH_POSTGRES_URL") {
        let schema = format!("mlc_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&admin_url).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await?;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
        let postgres = mlc_store::open(&url, Some(SecretKey::generate())).await?;
        let result = bench(postgres.as_ref(), records, batch_size).await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await?;
        result?;
    } else {
        println!("postgres: skipped (set MLC_BENCH_POSTGRES_URL)");
    }
    Ok(())
}

async fn bench(
    store: &dyn StateStore,
    records: usize,
    batch_size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let backend = store.backend();
    let run_id = store
        .start_run(&NewRun {
            connection: CONNECTION.to_string(),
            instance: mlc_store::instance_name(),
            mode: "bench".to_string(),
        })
        .await?;

    let started = Instant::now();
    let mut version = None;
    let mut written = 0;
    while written < records {
        let count = batch_size.min(records - written);
        let outcomes = (written..written + count)
            .map(|index| outcome(run_id, index))
            .collect();
        store
            .commit_outcomes(&OutcomeBatch {
                connection: CONNECTION.to_string(),
                run_id,
                fencing_token: None,
                outcomes,
                cursor: Some(CursorAdvance {
                    stream: "KNA1".to_string(),
                    expected_version: version,
                    value: written.to_string(),
                }),
            })
            .await?;
        version = Some(version.unwrap_or(0) + 1);
        written += count;
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}: commit_outcomes {records} records in batches of {batch_size}: {:.2} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );

    let charges = 2000;
    let day = NaiveDate::from_ymd_opt(2026, 1, 5).ok_or("date")?;
    let started = Instant::now();
    for _ in 0..charges {
        store.charge_tokens("bench", day, 10, u64::MAX / 2).await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}: charge_tokens {charges} sequential charges: {:.0} charges/s",
        charges as f64 / elapsed.as_secs_f64()
    );

    let lookups = 500;
    let started = Instant::now();
    for index in 0..lookups {
        let customer = ecc_key(index * records / lookups);
        let events = store
            .audit(&AuditQuery {
                customer_number: Some(customer),
                limit: Some(50),
                ..AuditQuery::default()
            })
            .await?;
        if events.len() != 1 {
            return Err(format!("expected one audit event, found {}", events.len()).into());
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}: audit by customer, {lookups} queries over {records} events: {:.2} ms each",
        elapsed.as_secs_f64() * 1000.0 / lookups as f64
    );
    Ok(())
}

fn ecc_key(index: usize) -> String {
    format!("{:010}", 1000 + index)
}

fn outcome(run_id: i64, index: usize) -> RecordOutcome {
    let key = ecc_key(index);
    RecordOutcome {
        kind: EntityKind::Organization,
        ecc_key: key.clone(),
        pushed_hash: Some(format!("{index:064x}")),
        pipedrive_verified: None,
        link: LinkChange::Set(index as i64 + 1),
        failure: FailureChange::Reset,
        closes_intent: None,
        audit: AuditEvent {
            id: 0,
            connection: CONNECTION.to_string(),
            run_id,
            kind: EntityKind::Organization,
            ecc_key: key.clone(),
            customer_number: key,
            read_at: Utc::now(),
            source: "soap-rfc:KNA1".to_string(),
            extracted: serde_json::json!({ "NAME1": format!("Customer {index}"), "ORT01": "Berlin" }),
            extracted_later: None,
            content_hash: format!("{index:064x}"),
            action: Action::Create,
            pipedrive_id: Some(index as i64 + 1),
            outcome: "201 created".to_string(),
            error: None,
            recorded_at: Utc::now(),
            full_copy_id: None,
        },
    }
}
