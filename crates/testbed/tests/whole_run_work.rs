//! A full reconciliation does the work its data asks for, and no more: with every customer
//! linked, or waiting for a reviewer, it builds no matcher, and with the same customers as the
//! last full read it takes the ECC duplicates from the store instead of searching them again.
//! Once ECC changes a customer they are searched again and come out as a search of the data
//! finds them.

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    let summary = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run");
    assert_ne!(summary.status, RunStatus::Failed, "{summary:?}");
    summary
}

fn built_the_matcher(summary: &RunSummary) -> bool {
    summary.phase_secs.contains_key("matcher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_of_linked_unchanged_customers_builds_no_matcher_and_searches_no_duplicates() {
    let mut options = TestbedOptions::new(80, 23);
    options.duplicate_rate = 0.08;
    // No hand-typed organizations: nothing waits for a review after the first sync.
    options.hand_typed = 0;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.expect("the testbed starts");
    let engine = testbed.engine().await.expect("the engine connects");
    testbed.setup(&engine).await.expect("setup");

    let first = sync(&engine, RunMode::Delta).await;
    assert!(built_the_matcher(&first), "{:?}", first.phase_secs);
    assert!(first.ecc_duplicates > 0, "the data has ECC duplicates");
    assert!(!first.ecc_duplicates_kept);

    // Every customer is linked now: the duplicates are taken from the store, and no matcher
    // is built.
    let full = sync(&engine, RunMode::Full).await;
    assert!(full.ecc_duplicates_kept, "{full:?}");
    assert_eq!(full.ecc_duplicates, first.ecc_duplicates);
    assert_eq!(full.tokens_used - full.index_tokens, 0, "{full:?}");
    assert!(
        !built_the_matcher(&full),
        "{:?} {:?}",
        full.counts,
        full.phase_secs
    );

    // ECC changes customers: the duplicates are searched again (and kept again); their
    // organizations are updated by id, still without a matcher.
    let report = testbed.ecc.mutate(&MutationRequest {
        customers: 6,
        contacts: 0,
        address_only: 0,
        seed: 5,
    });
    assert!(!report.customers.is_empty());
    let changed = sync(&engine, RunMode::Full).await;
    assert!(!changed.ecc_duplicates_kept, "{changed:?}");
    assert!(
        changed.counts.get(&Action::Update).copied().unwrap_or(0) > 0,
        "{changed:?}"
    );
    assert!(!built_the_matcher(&changed), "{:?}", changed.phase_secs);
    let again = sync(&engine, RunMode::Full).await;
    assert!(again.ecc_duplicates_kept, "{again:?}");
    assert_eq!(again.ecc_duplicates, changed.ecc_duplicates);

    // Other thresholds find other duplicates: the kept ones are not taken.
    let mut stricter = testbed.config.clone();
    stricter.sync.link_threshold = 0.99;
    let strict_engine = SyncEngine::connect(&stricter, testbed.store.clone())
        .await
        .expect("the engine connects");
    let mut dry = RunOptions::new(RunMode::Full);
    dry.dry_run = true;
    let strict = strict_engine
        .run(&dry, &NoProgress)
        .await
        .expect("the dry run");
    assert!(!strict.ecc_duplicates_kept, "{strict:?}");
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_whose_only_unlinked_customers_wait_for_a_reviewer_builds_no_matcher() {
    let mut options = TestbedOptions::new(80, 29);
    options.dirty_rate = 0.0;
    // Organizations typed by hand in another spelling: some are the rules' middle band.
    options.hand_typed = 40;
    let testbed = Testbed::start(options).await.expect("the testbed starts");
    let engine = testbed.engine().await.expect("the engine connects");
    testbed.setup(&engine).await.expect("setup");

    let first = sync(&engine, RunMode::Delta).await;
    let reviews = first.counts.get(&Action::Review).copied().unwrap_or(0);
    assert!(
        reviews > 0,
        "hand-typed look-alikes wait for a reviewer: {first:?}"
    );

    // They still wait: the full run plans them as waiting, and builds neither the matcher nor
    // the persons of organizations for them.
    let full = sync(&engine, RunMode::Full).await;
    assert_eq!(
        full.counts.get(&Action::Review).copied(),
        Some(reviews),
        "{full:?}"
    );
    assert_eq!(full.counts.get(&Action::Create), None, "{full:?}");
    assert!(
        !built_the_matcher(&full),
        "{:?} {:?}",
        full.counts,
        full.phase_secs
    );

    // A new customer is matched: the matcher is built for it.
    testbed.ecc.create(1);
    let with_new = sync(&engine, RunMode::Full).await;
    assert!(built_the_matcher(&with_new), "{:?}", with_new.phase_secs);
    testbed.shutdown().await;
}
