//! The connector against the Pipedrive simulator's harder behaviours, each an option of
//! `sim pipedrive` whose default is the realistic one: addresses geocoded by Pipedrive, the
//! POST/PUT fair-use limit, and a budget that resets at midnight of a zone that is not UTC.

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes")
}

fn write_calls(testbed: &Testbed) -> u64 {
    testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .filter(|request| request.method != "GET")
        .map(|request| request.count)
        .sum()
}

fn options(customers: usize, seed: u64) -> TestbedOptions {
    let mut options = TestbedOptions::new(customers, seed);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_pipedrive_adds_to_an_address_costs_no_further_patch() {
    let testbed = Testbed::start(options(30, 41)).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    let first = sync(&engine, RunMode::Delta).await;
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    let geocoded = testbed
        .pipedrive
        .state()
        .organizations()
        .iter()
        .filter(|org| org.json["address"]["admin_area_level_2"].is_string())
        .count();
    assert!(geocoded > 0, "the simulator geocoded no address");

    let report = testbed.ecc.mutate(&MutationRequest {
        customers: 10,
        contacts: 0,
        address_only: 0,
        seed: 5,
    });
    assert!(!report.customers.is_empty());
    let before = write_calls(&testbed);
    let changed = sync(&engine, RunMode::Delta).await;
    assert_eq!(changed.status, RunStatus::Ok, "{changed:?}");
    let after_change = write_calls(&testbed);
    assert!(after_change > before, "the changes were not written");

    let again = sync(&engine, RunMode::Delta).await;
    assert_eq!(again.status, RunStatus::Ok, "{again:?}");
    assert_eq!(
        write_calls(&testbed),
        after_change,
        "a second sync after the change wrote again"
    );
    // Named on the command line, each is compared with what Pipedrive shows now: its
    // geocoded regions and spelled-out streets are not a difference.
    let replay = sync(&engine, RunMode::Customers(report.customers.clone())).await;
    assert_eq!(replay.status, RunStatus::Ok, "{replay:?}");
    assert_eq!(
        write_calls(&testbed),
        after_change,
        "re-syncing unchanged customers PATCHed what Pipedrive had geocoded: {replay:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fair_use_limit_defers_the_run_before_it_is_used_up_and_charges_no_record() {
    let mut options = options(60, 43);
    options.plan = "growth".into();
    // 240 POST/PUT/PATCH a day: the connector keeps the last 200 for people and other
    // integrations, so it may write about 40 of the 120 records.
    options.sim_pipedrive = |sim| sim.post_put_per_day = 240;
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    let setup_writes = write_calls(&testbed);

    let run = sync(&engine, RunMode::Delta).await;
    assert_eq!(run.status, RunStatus::Deferred, "{run:?}");
    let reason = format!("{:?} {:?}", run.error, run.alert);
    assert!(reason.contains("fair-use"), "{reason}");
    assert_eq!(run.counts.get(&Action::Error), None, "{run:?}");
    let written = write_calls(&testbed) - setup_writes;
    assert!(
        (1..=48).contains(&written),
        "{written} writes: the limit of 240 minus the reserve of 200, plus those in flight"
    );
    let stats = testbed.pipedrive.state().stats();
    assert!(
        stats.requests.iter().all(|request| request.status != 429),
        "the connector ran into the limit: {:?}",
        stats.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_day_is_learned_from_the_server_and_kept_in_the_store() {
    let mut options = options(20, 47);
    options.plan = "growth".into();
    // The company's budget resets at midnight in India (UTC+05:30); the config says UTC.
    options.sim_pipedrive = |sim| sim.timezone = "Asia/Kolkata".into();
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    // Other integrations spent the company's budget but for a few tokens.
    let sim = testbed.pipedrive.state();
    let budget = sim.stats().daily_token_budget;
    sim.set_tokens_spent_today(budget - 30);

    // Refused while reading Pipedrive's index: the run ends on the company's budget.
    match engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
    {
        Ok(run) => assert_eq!(run.status, RunStatus::Deferred, "{run:?}"),
        Err(error) => assert!(error.to_string().contains("budget"), "{error}"),
    }
    let key = format!(
        "pipedrive-budget-reset:{}",
        testbed.pipedrive.base_url().trim_end_matches('/')
    );
    // Kept in the background while the run goes on: give it a moment.
    let mut learned = None;
    for _ in 0..40 {
        learned = testbed
            .store
            .cursor("(pipedrive client)", &key)
            .await
            .unwrap()
            .map(|cursor| cursor.value);
        if learned.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        learned.as_deref(),
        Some("19800"),
        "UTC+05:30 in seconds, kept for the next process"
    );
}
