//! Two `ml-connector sync` processes of one connection at once, as cron starts them when a run
//! outlasts its interval: one runs, the other exits 1 naming the holder of the connection's
//! lease (or, with `--wait`, runs after it and finds nothing left to do). Pipedrive ends with
//! one organization per customer. On a SQLite file and on PostgreSQL.

mod support;

use support::{connector, organizations_by_customer, postgres_store_url, text};

use std::process::Stdio;

use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

async fn testbed(store_url: Option<String>) -> (Testbed, std::path::PathBuf) {
    let mut options = TestbedOptions::new(80, 41);
    // Paced to the premium plan's burst limit, so the first run is still writing when the
    // second starts.
    options.plan = "premium".into();
    options.budget_share = 1.0;
    options.budget_tokens = Some(50_000_000);
    options.store_url = store_url;
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, &testbed.config_text).unwrap();
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    (testbed, config)
}

/// The first sync's lease, once it holds it.
async fn first_holder(testbed: &Testbed) -> mlc_store::LeaseHolder {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(holder) = testbed.store.lease_holder("testbed").await.unwrap() {
            return holder;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first sync never took the lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn second_sync_exits_naming_the_holder(store_url: Option<String>) {
    let (testbed, config) = testbed(store_url).await;
    let first = connector(&config, &["sync", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Start the second once the first holds the lease, as cron would a few minutes later.
    let holder = first_holder(&testbed).await;
    let second = connector(&config, &["sync", "--json"]).output().unwrap();
    let first = first.wait_with_output().unwrap();

    assert!(first.status.success(), "first: {}", text(&first));
    assert_eq!(second.status.code(), Some(1), "second: {}", text(&second));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("connection testbed is busy") && message.contains(&holder.holder),
        "the refusal names the holder {}: {message}",
        holder.holder
    );
    assert!(message.contains(" since "), "and since when: {message}");

    let organizations = organizations_by_customer(&testbed).await;
    assert!(!organizations.is_empty());
    let doubled: Vec<_> = organizations.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "customers with two organizations: {doubled:?}"
    );
    let runs = testbed
        .store
        .runs(&mlc_store::RunQuery::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the refused sync started no run: {runs:?}");
    assert!(
        testbed
            .store
            .lease_holder("testbed")
            .await
            .unwrap()
            .is_none(),
        "the finished run released the lease"
    );
}

async fn waiting_sync_runs_after_the_first_and_writes_nothing_new(store_url: Option<String>) {
    let (testbed, config) = testbed(store_url).await;
    let first = connector(&config, &["sync", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    first_holder(&testbed).await;
    let second = connector(&config, &["sync", "--json", "--wait"])
        .output()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "first: {}", text(&first));
    assert!(second.status.success(), "second: {}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("waiting: connection testbed is held by"),
        "{}",
        text(&second)
    );
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert!(
        first["counts"]["create"].as_u64().unwrap_or(0) > 0,
        "{first}"
    );
    for action in ["create", "update", "link"] {
        assert_eq!(
            second["counts"][action].as_u64().unwrap_or(0),
            0,
            "the waiting run found the first one's work done: {second}"
        );
    }
    let organizations = organizations_by_customer(&testbed).await;
    let doubled: Vec<_> = organizations.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "customers with two organizations: {doubled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_second_sync_of_a_busy_connection_exits_1_naming_the_holder() {
    second_sync_exits_naming_the_holder(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sync_with_wait_runs_after_the_busy_one_and_writes_nothing_new() {
    waiting_sync_runs_after_the_first_and_writes_nothing_new(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_second_sync_of_a_busy_connection_exits_1_naming_the_holder() {
    if let Some(url) = postgres_store_url("mlc_overlap_busy").await {
        second_sync_exits_naming_the_holder(Some(url)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sync_with_wait_runs_after_the_busy_one_and_writes_nothing_new() {
    if let Some(url) = postgres_store_url("mlc_overlap_wait").await {
        waiting_sync_runs_after_the_first_and_writes_nothing_new(Some(url)).await;
    }
}
