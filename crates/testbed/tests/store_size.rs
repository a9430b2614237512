//! What a no-change full reconciliation costs the store on disk (BRIEF §4: under 100 bytes a
//! record): the SQLite file and its WAL, checkpointed, before and after the run.

use std::path::Path;

use mlc_engine::{NoProgress, RunMode, RunOptions};
use mlc_store::{Action, AuditQuery, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};

/// The database file and its WAL after a checkpoint that empties the WAL into the file.
async fn store_bytes(file: &Path) -> u64 {
    mlc_store::sqlite_bytes_on_disk(file)
        .await
        .expect("the SQLite store's size")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_change_full_run_adds_under_100_bytes_a_record_to_the_store() {
    // MLC_STORE_SIZE_CUSTOMERS=20000 for a larger sample.
    let customers = std::env::var("MLC_STORE_SIZE_CUSTOMERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(300);
    let mut options = TestbedOptions::new(customers, 17);
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    let file = testbed.directory.path().join("state.db");
    let full = || RunOptions::new(RunMode::Full);

    let first = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    // The first reconciliation may still compare with Pipedrive; the one after it is the steady
    // state of a night with nothing changed.
    engine.run(&full(), &NoProgress).await.unwrap();
    let before = store_bytes(&file).await;
    let quiet = engine.run(&full(), &NoProgress).await.unwrap();
    let after = store_bytes(&file).await;
    assert_eq!(quiet.status, RunStatus::Ok, "{quiet:?}");

    let events = testbed
        .store
        .audit(&AuditQuery {
            run_id: Some(quiet.run_id),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(
        events.len() >= customers,
        "an event for every customer and contact: {}",
        events.len()
    );
    assert!(
        events.iter().all(|event| event.action == Action::Skip),
        "nothing changed, nothing written: {:?}",
        events.iter().find(|event| event.action != Action::Skip)
    );
    assert!(
        events.iter().all(|event| event.full_copy_id.is_some()),
        "every skip points at its record's full copy"
    );
    let per_record = after.saturating_sub(before) as f64 / events.len() as f64;
    println!(
        "no-change full run over {customers} customers, {} records: {before} -> {after} bytes, {per_record:.1} bytes a record",
        events.len()
    );
    assert!(
        per_record < 100.0,
        "{per_record:.1} bytes a record ({before} -> {after} for {} records)",
        events.len()
    );
    testbed.shutdown().await;
}
