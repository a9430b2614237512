//! Drift found by the full reconciliation (Pipedrive drops webhooks after failures, so the
//! nightly run compares what Pipedrive holds with what was last pushed): an edited name is set
//! back under `enforce` and charged like any write, a delta run does not look, a field edited
//! back and forth more than `max_reasserts_per_day` times is flagged instead of fought over,
//! and `flag` only records. The index the reconciliation compares against is read while ECC is.

use std::collections::HashMap;

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_pipedrive::FaultSettings;
use mlc_store::{Action, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::json;

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    let run = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes");
    assert_eq!(run.status, RunStatus::Ok, "{run:?}");
    run
}

async fn synced(drift_lines: &[&str]) -> (Testbed, SyncEngine, HashMap<String, i64>) {
    let mut options = TestbedOptions::new(5, 41);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    // `[sync.drift]` is a table of its own after the `[sync]` lines.
    if !drift_lines.is_empty() {
        options.sync_lines.push("[sync.drift]".into());
        options
            .sync_lines
            .extend(drift_lines.iter().map(ToString::to_string));
    }
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    sync(&engine, RunMode::Delta).await;
    let links = testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    (testbed, engine, links)
}

fn rename(testbed: &Testbed, id: i64, name: &str) {
    testbed
        .pipedrive
        .state()
        .ui_edit(
            &json!({"entity": "organization", "id": id, "action": "change",
                         "changes": {"name": name}}),
        )
        .unwrap();
}

fn name_of(testbed: &Testbed, id: i64) -> String {
    testbed
        .pipedrive
        .state()
        .organization(id as u64)
        .unwrap()
        .name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_read_beside_the_ecc_read_still_finds_an_edit() {
    let (testbed, engine, links) = synced(&[]).await;
    let (_, &id) = links.iter().next().unwrap();
    let original = name_of(&testbed, id);
    rename(&testbed, id, "Renamed by sales");
    // A slow ECC (every RFC call) and a slower Pipedrive than the store: the index's pages
    // take a while, the ECC read longer.
    testbed.ecc.set_faults(FaultSettings {
        latency_ms: 250,
        ..FaultSettings::default()
    });
    testbed.pipedrive.state().set_faults(FaultSettings {
        latency_ms: 100,
        methods: vec!["GET".into()],
        ..FaultSettings::default()
    });
    let full = sync(&engine, RunMode::Full).await;
    testbed.ecc.set_faults(FaultSettings::default());
    testbed
        .pipedrive
        .state()
        .set_faults(FaultSettings::default());

    assert_eq!(
        full.counts.get(&Action::ReAsserted),
        Some(&1),
        "the edit is found against the index read beside ECC: {full:?}"
    );
    assert_eq!(name_of(&testbed, id), original);
    let phase = |name: &str| full.phase_secs.get(name).copied().unwrap_or_default();
    assert!(
        phase("index_read") >= 0.1,
        "an organization and a person page at 100 ms each, read at once: {:?}",
        full.phase_secs
    );
    assert!(
        phase("ecc_read") > phase("index_read"),
        "{:?}",
        full.phase_secs
    );
    assert!(
        phase("index_wait") < phase("index_read") / 2.0,
        "the index was read while ECC was, not after it: {:?}",
        full.phase_secs
    );
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciliation_sets_an_edit_back_and_flags_a_field_fought_over() {
    let (testbed, engine, links) = synced(&["max_reasserts_per_day = 2"]).await;
    let (_, &id) = links.iter().next().unwrap();
    let original = name_of(&testbed, id);

    rename(&testbed, id, "Renamed by sales");
    let delta = sync(&engine, RunMode::Delta).await;
    assert_eq!(
        delta.tokens_used, 0,
        "a delta does not look for drift: {delta:?}"
    );
    assert_eq!(name_of(&testbed, id), "Renamed by sales");

    for round in 1..=2 {
        let full = sync(&engine, RunMode::Full).await;
        assert_eq!(
            full.counts.get(&Action::ReAsserted),
            Some(&1),
            "round {round}: {full:?}"
        );
        assert_eq!(full.counts.get(&Action::Update), None, "{full:?}");
        assert!(
            full.tokens_used > 0,
            "a re-assert is charged like any write"
        );
        assert_eq!(name_of(&testbed, id), original);
        rename(&testbed, id, &format!("Renamed again {round}"));
    }
    // Set back twice today already: the third edit is flagged and left.
    let full = sync(&engine, RunMode::Full).await;
    assert_eq!(full.counts.get(&Action::ReAsserted), None, "{full:?}");
    assert_eq!(full.counts.get(&Action::DriftFlagged), Some(&1), "{full:?}");
    assert_eq!(name_of(&testbed, id), "Renamed again 2");

    // Still flagged, never set back, in the runs that follow the same day.
    let untouched = sync(&engine, RunMode::Full).await;
    assert_eq!(
        untouched.counts.get(&Action::ReAsserted),
        None,
        "{untouched:?}"
    );
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_flag_the_reconciliation_records_the_edit_and_leaves_it() {
    let (testbed, engine, links) = synced(&["name = \"flag\""]).await;
    let (_, &id) = links.iter().next().unwrap();
    rename(&testbed, id, "Renamed by sales");
    let full = sync(&engine, RunMode::Full).await;
    assert_eq!(full.counts.get(&Action::DriftFlagged), Some(&1), "{full:?}");
    assert_eq!(full.counts.get(&Action::ReAsserted), None, "{full:?}");
    assert_eq!(name_of(&testbed, id), "Renamed by sales");
    testbed.shutdown().await;
}
