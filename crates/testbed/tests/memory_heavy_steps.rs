//! The steps where a run's memory peaks (the ECC duplicates search, the matcher's build) are
//! told to the process, which the command line uses to have its allocator give freed memory
//! back at once there and a few milliseconds later elsewhere. This file is a process of its own:
//! the hook is process-wide, and another test's run would add to what it records.

use std::sync::Mutex;

use mlc_engine::{NoProgress, RunMode, RunOptions};
use mlc_store::RunStatus;
use mlc_testbed::{Testbed, TestbedOptions};

static TOLD: Mutex<Vec<bool>> = Mutex::new(Vec::new());

fn record(heavy: bool) {
    TOLD.lock().unwrap().push(heavy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_tells_where_its_memory_peaks_and_when_that_ends() {
    mlc_engine::on_memory_heavy_steps(record);
    let mut options = TestbedOptions::new(40, 23);
    options.duplicate_rate = 0.1;
    let testbed = Testbed::start(options).await.expect("the testbed starts");
    let engine = testbed.engine().await.expect("the engine connects");
    testbed.setup(&engine).await.expect("setup");
    assert!(TOLD.lock().unwrap().is_empty(), "setup has no heavy step");

    let first = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .expect("the first sync");
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    assert!(first.ecc_duplicates > 0, "{first:?}");
    let told = TOLD.lock().unwrap().clone();
    // The read with the duplicates search (a first run's read is part of that step), then
    // the organizations' matcher and the persons of each organization for the records to
    // match: each starts and ends, one after the other.
    assert_eq!(told.len(), 6, "{told:?}");
    for (position, heavy) in told.iter().enumerate() {
        assert_eq!(*heavy, position % 2 == 0, "{told:?}");
    }
    testbed.shutdown().await;
}
