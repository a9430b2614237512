//! Two delta runs of one connection that overlap (a lease that expired under a slow run, or two
//! engines without one) cannot both advance the delta cursor: the compare-and-swap expects the
//! version each run started from, so the second to finish gets a clear conflict, its outcomes
//! stay committed, and the next delta run still brings every change.

use std::collections::HashMap;

use mlc_canonical::alpha_output;
use mlc_engine::{NoProgress, RunMode, RunOptions, SyncError};
use mlc_sim_ecc::MutationRequest;
use mlc_sim_pipedrive::FaultSettings;
use mlc_store::RunStatus;
use mlc_testbed::{Testbed, TestbedOptions};

async fn delta_cursor_version(testbed: &Testbed) -> Option<i64> {
    testbed
        .store
        .cursor("testbed", "ecc-delta")
        .await
        .unwrap()
        .map(|cursor| cursor.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_cannot_both_advance_the_delta_cursor() {
    let testbed = Testbed::start(TestbedOptions::new(60, 23)).await.unwrap();
    let first_engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&first_engine).await.unwrap();
    let number_key = fields
        .iter()
        .find(|field| field.name == "ECC Customer Number")
        .map(|field| field.key.clone())
        .unwrap();
    let first = first_engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .unwrap();
    assert_ne!(first.status, RunStatus::Failed, "{first:?}");
    let version_before = delta_cursor_version(&testbed).await;
    assert!(version_before.is_some(), "the first run set the cursor");

    // Changes in ECC, then two runs at once, each slowed on its ECC reads so both read the
    // cursor before either advances it.
    let changed = testbed.ecc.mutate(&MutationRequest {
        customers: 8,
        contacts: 0,
        address_only: 0,
        seed: 5,
    });
    testbed.ecc.set_faults(FaultSettings {
        latency_ms: 150,
        ..FaultSettings::default()
    });
    let second_engine = testbed.engine().await.unwrap();
    let options = RunOptions::new(RunMode::Delta);
    let (one, other) = tokio::join!(
        first_engine.run(&options, &NoProgress),
        second_engine.run(&options, &NoProgress)
    );
    testbed.ecc.set_faults(FaultSettings::default());

    let (succeeded, conflict) = match (one, other) {
        (Ok(summary), Err(error)) | (Err(error), Ok(summary)) => (summary, error),
        (one, other) => {
            panic!("exactly one overlapping run may advance the cursor: {one:?} / {other:?}")
        }
    };
    assert_ne!(succeeded.status, RunStatus::Failed, "{succeeded:?}");
    assert!(
        matches!(&conflict, SyncError::CursorConflict(message)
            if message.contains("another run moved the delta cursor") && message.contains("testbed")),
        "{conflict}"
    );
    assert_eq!(
        delta_cursor_version(&testbed).await,
        version_before.map(|version| version + 1),
        "the cursor moved once"
    );
    // The conflicting run is recorded as failed with the conflict as its error.
    let runs = testbed
        .store
        .runs(&mlc_store::RunQuery::default())
        .await
        .unwrap();
    assert!(
        runs.iter().any(|run| run.status == RunStatus::Failed
            && run
                .error
                .as_deref()
                .is_some_and(|error| error.contains("another run moved the delta cursor"))),
        "{runs:?}"
    );

    // Nothing lost: a change made now, and those of the overlap, all arrive with the next run.
    let later = testbed.ecc.mutate(&MutationRequest {
        customers: 5,
        contacts: 0,
        address_only: 0,
        seed: 9,
    });
    let next = first_engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .unwrap();
    assert_ne!(next.status, RunStatus::Failed, "{next:?}");
    let organizations: HashMap<String, serde_json::Value> = testbed
        .pipedrive
        .state()
        .organizations()
        .into_iter()
        .filter(|organization| !organization.is_deleted)
        .map(|organization| {
            let number = organization.json["custom_fields"][&number_key]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (number, organization.json)
        })
        .collect();
    let truth: HashMap<String, mlc_canonical::Customer> = testbed
        .truth()
        .into_iter()
        .map(|record| (record.customer.customer_number.to_string(), record.customer))
        .collect();
    let mut checked = 0;
    for number in changed.customers.iter().chain(&later.customers) {
        let customer = &truth[number];
        if customer.deleted || customer.blocked {
            continue;
        }
        let display = alpha_output(number);
        let Some(organization) = organizations.get(&display) else {
            continue; // a duplicate or dirty record waits in review
        };
        assert_eq!(
            organization["name"],
            customer.name.as_str(),
            "the change of {display} arrived"
        );
        checked += 1;
    }
    assert!(
        checked * 2 >= changed.customers.len() + later.customers.len(),
        "only {checked} changed customers found in Pipedrive"
    );
    testbed.shutdown().await;
}
