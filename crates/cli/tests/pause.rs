//! A used budget share pauses the connection in the store: the next `sync` (as cron starts it,
//! a new process) calls Pipedrive for nothing until the budget resets, and says so.

mod support;

use support::{connector, text};

use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

fn requests(testbed: &Testbed) -> u64 {
    testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .map(|entry| entry.count)
        .sum()
}

#[test]
fn a_used_budget_share_pauses_every_later_run_until_it_resets() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut options = TestbedOptions::new(40, 21);
    options.budget_share = 1.0;
    // Enough for the setup and part of the first load, not all of it.
    options.budget_tokens = Some(400);
    let testbed = runtime.block_on(Testbed::start(options)).unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, &testbed.config_text).unwrap();
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));

    let first = connector(&config, &["sync", "--json"]).output().unwrap();
    assert!(first.status.success(), "first: {}", text(&first));
    let summary: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(summary["status"], "deferred", "{summary}");

    let before = requests(&testbed);
    let second = connector(&config, &["sync", "--json"]).output().unwrap();
    assert!(second.status.success(), "second: {}", text(&second));
    let summary: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(summary["status"], "deferred", "{summary}");
    let alert = summary["alert"].as_str().unwrap_or_default();
    assert!(alert.starts_with("paused until "), "{summary}");
    assert!(alert.contains("budget"), "{summary}");
    assert_eq!(
        requests(&testbed),
        before,
        "the paused run called Pipedrive"
    );

    let runs = connector(&config, &["runs", "--format", "json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["mode"], "paused", "{runs}");
    assert_eq!(runs[0]["status"], "deferred", "{runs}");
}

/// A `sync` with nothing changed in ECC, as cron starts it (a new process each time), sends no
/// request at all to Pipedrive: the identity and the field keys come from the store.
#[test]
fn a_cron_sync_with_nothing_changed_sends_pipedrive_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let testbed = runtime
        .block_on(Testbed::start(TestbedOptions::new(20, 22)))
        .unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, &testbed.config_text).unwrap();
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    let first = connector(&config, &["sync", "--json"]).output().unwrap();
    assert!(first.status.success(), "first: {}", text(&first));

    let before = requests(&testbed);
    let poll = connector(&config, &["sync", "--json"]).output().unwrap();
    assert!(poll.status.success(), "poll: {}", text(&poll));
    let summary: Value = serde_json::from_slice(&poll.stdout).unwrap();
    assert_eq!(summary["status"], "ok", "{summary}");
    assert_eq!(summary["tokens_used"], 0, "{summary}");
    assert_eq!(requests(&testbed) - before, 0, "requests sent by a poll");
}
