//! Crash safety of `ml-connector sync` as a user meets it: the process is killed with SIGKILL
//! at random moments while it writes to Pipedrive, and started again. At the end Pipedrive
//! holds no duplicate organization or person, every value is right, every record has one final
//! outcome in the audit trail, and no create intent is left open.
//!
//! Both simulators run in this test process; the connector runs as a child process on a
//! config file pointing at them. The Pipedrive plan is premium, so the governor paces the
//! writes and the kills land in the middle of a run.
//!
//! Scale by environment for a measurement: `MLC_KILL_CUSTOMERS` (default 250) and
//! `MLC_KILL_COUNT` (default 6), e.g. `MLC_KILL_CUSTOMERS=2000 MLC_KILL_COUNT=20`.

mod support;

use support::connector;
use support::converged::{assert_converged, creates_so_far, env_number, Moments};

use std::process::Stdio;
use std::time::{Duration, Instant};

use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_at_random_moments_ends_without_duplicates_and_with_one_outcome_per_record() {
    let customers = env_number("MLC_KILL_CUSTOMERS", 250);
    let kills = env_number("MLC_KILL_COUNT", 6);
    let started = Instant::now();

    let mut options = TestbedOptions::new(customers, 29);
    options.plan = "premium".into();
    options.budget_share = 1.0;
    options.budget_tokens = Some(50_000_000);
    options.sync_lines = vec![r#"on_deleted = "label""#.to_string()];
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, &testbed.config_text).unwrap();
    let log_path = testbed.directory.path().join("sync.log");

    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(
        setup.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    // With on_deleted = "label", the label must exist in Pipedrive, whose API cannot make one:
    // setup says so.
    assert!(
        String::from_utf8_lossy(&setup.stderr).contains("(sync.status_label) does not exist"),
        "setup did not warn about the missing status label: {}",
        String::from_utf8_lossy(&setup.stderr)
    );

    // Kill the sync at random moments, starting it again each time.
    let mut moments = Moments(0x5EED_0FC0_FFEE);
    let mut kills_done = 0;
    let mut kills_during_writes = 0;
    let mut finished_early = 0;
    while kills_done < kills {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let before = creates_so_far(&testbed);
        let mut child = connector(&config, &["sync"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Every other kill counts its moment from the run's first create, so kills land in
        // the middle of the writes and not only while the run reads ECC and plans.
        let wait = Duration::from_millis(moments.between(100, 2_500));
        let from_first_write = kills_done % 2 == 1;
        let spawned = Instant::now();
        let mut deadline = (!from_first_write).then(|| spawned + wait);
        let mut exited = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            if deadline.is_none() && creates_so_far(&testbed) > before {
                deadline = Some(Instant::now() + wait);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            assert!(
                spawned.elapsed() < Duration::from_secs(120),
                "the sync wrote nothing in two minutes"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match exited {
            Some(status) => {
                // The run finished before its kill moment: nothing was left to write.
                assert!(
                    status.success(),
                    "sync exited with {status}; log: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                finished_early += 1;
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills_done += 1;
                if creates_so_far(&testbed) > before {
                    kills_during_writes += 1;
                }
            }
        }
    }

    // The last run, to completion (a run the governor deferred is started again).
    let mut final_runs = 0;
    loop {
        final_runs += 1;
        let output = connector(&config, &["sync", "--json"]).output().unwrap();
        assert!(
            output.status.success(),
            "the final sync failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
        if summary["status"] != "deferred" {
            assert!(
                summary["status"] == "ok" || summary["status"] == "partial",
                "{summary}"
            );
            break;
        }
        assert!(
            final_runs < 5,
            "the final sync keeps being deferred: {summary}"
        );
    }

    let converged = assert_converged(&testbed, customers).await;
    assert!(
        converged.interrupted_runs >= 1 && converged.interrupted_runs <= kills_done,
        "{} runs interrupted after {kills_done} kills",
        converged.interrupted_runs
    );
    println!(
        "kill test: {customers} customers, {kills_done} kills ({kills_during_writes} while creating), \
         {finished_early} run(s) finished before their kill moment, {final_runs} final run(s); \
         {} organizations, {} persons; duplicates: 0 organizations, 0 persons; \
         {} customers checked against the truth; {} open intents closed after a kill \
         ({} found created by their external id); {:.1} s in all",
        converged.organizations,
        converged.persons,
        converged.checked,
        converged.recovered,
        converged.recovered_created,
        started.elapsed().as_secs_f64()
    );
    testbed.shutdown().await;
}
