//! A run is read, planned and carried out batch by batch; the rules over the whole run (ECC
//! duplicates, an organization with exactly one customer's name and address, two customers
//! never on one organization) decide as they would with the run in one batch. The same
//! simulated data synced in batches of 7 customers and in one batch ends in the same
//! Pipedrive, record for record.

use std::collections::BTreeMap;

use mlc_engine::{NoProgress, RunMode, RunOptions};
use mlc_store::{Action, AuditQuery, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};

/// What one testbed ends with after a first sync in batches of `batch_size`: each record's
/// action, and the name of the organization each customer is linked to.
async fn first_sync(
    batch_size: usize,
) -> (BTreeMap<(String, String), Action>, BTreeMap<String, String>) {
    let mut options = TestbedOptions::new(100, 41);
    options.duplicate_rate = 0.06;
    options.hand_typed = 16;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.expect("the testbed starts");
    let engine = testbed.engine().await.expect("the engine connects");
    testbed.setup(&engine).await.expect("setup");
    let mut run = RunOptions::new(RunMode::Delta);
    run.batch_size = batch_size;
    let summary = engine.run(&run, &NoProgress).await.expect("the run");
    assert_ne!(summary.status, RunStatus::Failed, "{summary:?}");
    assert!(summary.ecc_duplicates > 0, "the data has ECC duplicates");

    let events = testbed
        .store
        .audit(&AuditQuery {
            run_id: Some(summary.run_id),
            ..AuditQuery::default()
        })
        .await
        .expect("the audit");
    let actions: BTreeMap<(String, String), Action> = events
        .into_iter()
        .map(|event| ((event.kind.to_string(), event.ecc_key), event.action))
        .collect();
    let names: BTreeMap<u64, String> = testbed
        .pipedrive
        .state()
        .organizations()
        .into_iter()
        .map(|organization| {
            let name = organization.json["name"].as_str().unwrap_or("").to_string();
            (organization.id, name)
        })
        .collect();
    let links = testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .expect("the links");
    let linked: BTreeMap<String, String> = links
        .into_iter()
        .map(|link| {
            let name = names
                .get(&(link.pipedrive_id as u64))
                .cloned()
                .unwrap_or_default();
            (link.ecc_key, name)
        })
        .collect();

    // A full run right after finds nothing to write, whatever the batches.
    let mut full = RunOptions::new(RunMode::Full);
    full.batch_size = batch_size;
    let again = engine.run(&full, &NoProgress).await.expect("the full run");
    assert_eq!(again.tokens_used - again.index_tokens, 0, "{again:?}");
    testbed.shutdown().await;
    (actions, linked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_small_batches_decides_as_one_batch_does() {
    let (whole_actions, whole_links) = first_sync(10_000).await;
    let (batched_actions, batched_links) = first_sync(7).await;
    assert!(
        whole_actions.values().any(|action| *action == Action::Link),
        "some hand-typed organization is linked: {whole_actions:?}"
    );
    assert_eq!(batched_actions, whole_actions);
    assert_eq!(batched_links, whole_links);
}
