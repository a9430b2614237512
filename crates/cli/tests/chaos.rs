//! Chaos: `ml-connector sync` as a user runs it, against an ECC and a Pipedrive that both fail
//! the way real ones do (server errors, connection resets, answers held past the timeout,
//! bodies cut in half, latency), while ECC keeps changing, and the process is SIGKILLed at
//! random moments many times. Then the faults stop, a last sync runs to the end, and:
//! no duplicate organization or person, no lost update (every value equals ECC's truth after
//! all its changes), one final audit outcome per record, no open intent, no run left running.
//!
//! Seeded: the kill moments and the simulators' faults follow `MLC_CHAOS_SEED` (printed). Short
//! in CI; the long run on demand, e.g.
//! `MLC_CHAOS_CUSTOMERS=5000 MLC_CHAOS_KILLS=40 cargo test -p ml-connector --release --test chaos`.

mod support;

use support::connector;
use support::converged::{assert_converged, env_number, writes_so_far, Moments};

use std::process::Stdio;
use std::time::{Duration, Instant};

use mlc_sim_ecc::MutationRequest;
use mlc_sim_pipedrive::FaultSettings;
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

/// The faults of both sides while the kills go on. Each request draws its fate once; the
/// answers held back outlast the connector's timeouts (2 s on both sides here).
fn faults(latency_ms: u64) -> FaultSettings {
    FaultSettings {
        error_rate: 0.03,
        latency_ms,
        timeout_rate: 0.01,
        timeout_ms: 2_500,
        reset_rate: 0.02,
        malformed_rate: 0.02,
        ..FaultSettings::default()
    }
}

/// The testbed's config with short timeouts on both sides, so held answers cost seconds.
fn chaos_config(testbed: &Testbed) -> String {
    testbed
        .config_text
        .replacen(
            "timezone = \"Europe/Berlin\"",
            "timezone = \"Europe/Berlin\"\ntimeout_secs = 2\nretries = 4",
            1,
        )
        .replacen("\n[sync]", "timeout_secs = 2\nretries = 5\n\n[sync]", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_under_faults_on_both_sides_and_random_kills_converges_on_the_truth() {
    let customers = env_number("MLC_CHAOS_CUSTOMERS", 1_500);
    let kills = env_number("MLC_CHAOS_KILLS", 8);
    let seed = env_number("MLC_CHAOS_SEED", 0xC4A05) as u64;
    println!("chaos test: seed {seed} (MLC_CHAOS_SEED), {customers} customers, {kills} kills");
    let started = Instant::now();

    let mut options = TestbedOptions::new(customers, seed);
    options.sync_lines = vec![r#"on_deleted = "label""#.to_string()];
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, chaos_config(&testbed)).unwrap();
    let log_path = testbed.directory.path().join("sync.log");
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(
        setup.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );

    testbed.ecc.set_faults(faults(2));
    testbed.pipedrive.state().set_faults(faults(1));
    let mut moments = Moments(seed | 1);
    // The latest kill moment, in ms. The first sync writes for minutes, the later ones (a few
    // dozen changes) for well under a second: each run that ends on its own before its moment
    // brings the moments closer, so the kills keep landing inside runs whatever this machine's
    // speed.
    let mut ceiling_ms: u64 = 3_000;
    let mut kills_done = 0;
    let mut kills_during_writes = 0;
    let mut runs_ended = 0;
    let mut changed = 0;
    let mut round = 0;
    while kills_done < kills {
        round += 1;
        assert!(
            round <= kills * 8,
            "{round} rounds for {kills} kills: the runs end before any kill moment \
             (moments now up to {ceiling_ms} ms)"
        );
        // ECC changes between the runs (after the first), and some while a run reads.
        if round > 1 {
            let report = testbed.ecc.mutate(&MutationRequest {
                customers: 15,
                contacts: 15,
                address_only: 5,
                seed: seed + round as u64,
            });
            changed += report.customers.len() + report.address_only.len();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let writes_before = writes_so_far(&testbed);
        let mut child = connector(&config, &["sync"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Every other kill counts its moment from the run's first write, so kills land in
        // the writes and not only while the run reads ECC and plans.
        let wait = Duration::from_millis(moments.between(ceiling_ms / 10, ceiling_ms));
        let from_first_write = round % 2 == 1;
        let spawned = Instant::now();
        let mut deadline = (!from_first_write).then(|| spawned + wait);
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if deadline.is_none()
                && (writes_so_far(&testbed) > writes_before
                    || spawned.elapsed() > Duration::from_secs(20))
            {
                deadline = Some(Instant::now() + wait);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break None;
            }
            assert!(
                spawned.elapsed() < Duration::from_secs(180),
                "a sync under faults ran three minutes without ending"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        println!(
            "round {round}: {} after {:.2} s (moment {} ms from {}), {} writes",
            if exited.is_some() { "ended" } else { "killed" },
            spawned.elapsed().as_secs_f64(),
            wait.as_millis(),
            if from_first_write {
                "the first write"
            } else {
                "the start"
            },
            writes_so_far(&testbed) - writes_before
        );
        match exited {
            // A run may fail or be deferred under these faults; it must never crash.
            Some(status) => {
                assert!(
                    matches!(status.code(), Some(0 | 1)),
                    "sync exited with {status}; log: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                runs_ended += 1;
                ceiling_ms = (ceiling_ms * 2 / 3).max(30);
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills_done += 1;
                if writes_so_far(&testbed) > writes_before {
                    kills_during_writes += 1;
                }
            }
        }
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!log.contains("panicked"), "a sync panicked: {log}");
    assert!(
        kills_during_writes > 0,
        "no kill landed while a run wrote to Pipedrive: the test proved little; log: {}",
        &log[log.len().saturating_sub(4_000)..]
    );

    // The faults stop; one more change in ECC; the last sync runs to the end (a run the
    // governor deferred, or one that met the last held answers, is started again).
    testbed.ecc.set_faults(FaultSettings::default());
    testbed
        .pipedrive
        .state()
        .set_faults(FaultSettings::default());
    let report = testbed.ecc.mutate(&MutationRequest {
        customers: 10,
        contacts: 10,
        address_only: 5,
        seed: seed ^ 0xFFFF,
    });
    changed += report.customers.len() + report.address_only.len();
    let mut final_runs = 0;
    loop {
        final_runs += 1;
        let output = connector(&config, &["sync", "--json"]).output().unwrap();
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if output.status.success() && (summary["status"] == "ok" || summary["status"] == "partial")
        {
            break;
        }
        assert!(
            final_runs < 4,
            "the sync after the faults does not end well: {summary}; {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let converged = assert_converged(&testbed, customers).await;
    let ecc_faults = testbed.ecc.stats().faults_injected;
    // Pipedrive's simulator counts answers by status: its injected server errors are the 5xx.
    let pipedrive_faults: u64 = testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .filter(|request| request.status >= 500)
        .map(|request| request.count)
        .sum();
    assert!(
        ecc_faults > 0 && pipedrive_faults > 0,
        "faults on both sides: ECC {ecc_faults}, Pipedrive {pipedrive_faults}"
    );
    println!(
        "chaos test (seed {seed}): {customers} customers, {changed} changed in ECC meanwhile; \
         {kills_done} kills ({kills_during_writes} while writing), {runs_ended} run(s) ended on \
         their own, {final_runs} final run(s); faults injected: ECC {ecc_faults}, Pipedrive \
         server errors {pipedrive_faults}; {} organizations, {} persons, 0 duplicates; {} customers equal to \
         the truth; {} intents closed after a kill ({} found created); {:.1} s in all",
        converged.organizations,
        converged.persons,
        converged.checked,
        converged.recovered,
        converged.recovered_created,
        started.elapsed().as_secs_f64()
    );
    testbed.shutdown().await;
}
