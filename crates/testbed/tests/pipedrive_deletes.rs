//! Records a person deleted in Pipedrive: a DELETE answered 404 is done (the link goes, no
//! error, nothing loops), and a linked organization found deleted is never written to in the
//! trash; with `sync.on_pipedrive_deleted = "recreate"` (the default) it is created again.

use std::collections::HashMap;

use mlc_canonical::alpha_output;
use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, AuditQuery, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes")
}

async fn links(testbed: &Testbed) -> HashMap<String, i64> {
    testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect()
}

async fn testbed(sync_lines: &[&str]) -> (Testbed, SyncEngine, String) {
    let mut options = TestbedOptions::new(20, 97);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = sync_lines.iter().map(ToString::to_string).collect();
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = fields
        .iter()
        .find(|field| field.name == "ECC Customer Number")
        .map(|field| field.key.clone())
        .unwrap();
    let first = sync(&engine, RunMode::Delta).await;
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    (testbed, engine, number_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_answered_404_is_done_and_nothing_loops() {
    let (testbed, engine, _) = testbed(&["on_deleted = \"delete\""]).await;
    let linked = links(&testbed).await;
    let deleted = testbed.ecc.delete(3);
    let gone: Vec<(String, i64)> = deleted
        .iter()
        .filter_map(|number| Some((number.clone(), *linked.get(number)?)))
        .collect();
    assert!(!gone.is_empty(), "none of {deleted:?} was synced");
    // A salesperson deleted them in Pipedrive first.
    for (_, id) in &gone {
        assert!(testbed
            .pipedrive
            .state()
            .delete_organization_in_app(*id as u64));
    }

    let run = sync(&engine, RunMode::Delta).await;
    assert_eq!(run.counts.get(&Action::Error), None, "{run:?}");
    assert_eq!(run.status, RunStatus::Ok, "{run:?}");
    let after = links(&testbed).await;
    for (number, id) in &gone {
        assert!(
            !after.contains_key(number),
            "customer {number} still linked"
        );
        let events = testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                action: Some(Action::Delete),
                kind: Some(EntityKind::Organization),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0]
                .outcome
                .contains(&format!("{id} was deleted in Pipedrive already")),
            "{events:?}"
        );
    }
    // Nothing loops: the next runs have nothing to do for them.
    for mode in [RunMode::Delta, RunMode::Full] {
        let again = sync(&engine, mode).await;
        assert_eq!(again.counts.get(&Action::Error), None, "{again:?}");
        assert_eq!(again.counts.get(&Action::Delete), None, "{again:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_organization_deleted_in_pipedrive_is_left_in_the_trash_and_created_again() {
    let (testbed, engine, number_key) = testbed(&[]).await;
    let linked = links(&testbed).await;
    let changed = testbed.ecc.mutate(&MutationRequest {
        customers: 4,
        contacts: 0,
        address_only: 0,
        seed: 5,
    });
    let gone: Vec<(String, i64)> = changed
        .customers
        .iter()
        .filter_map(|number| Some((number.clone(), *linked.get(number)?)))
        .collect();
    assert!(
        !gone.is_empty(),
        "none of {:?} was synced",
        changed.customers
    );
    let state = testbed.pipedrive.state();
    let mut trashed = Vec::new();
    for (_, id) in &gone {
        assert!(state.delete_organization_in_app(*id as u64));
        trashed.push(state.organization(*id as u64).unwrap().json);
    }

    // The change finds its organization deleted: not written to, unlinked.
    let run = sync(&engine, RunMode::Delta).await;
    assert_ne!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.counts.get(&Action::Error), None, "{run:?}");
    for ((number, id), before) in gone.iter().zip(&trashed) {
        assert_eq!(
            &state.organization(*id as u64).unwrap().json,
            before,
            "organization {id} was written to in the trash"
        );
        assert!(!links(&testbed).await.contains_key(number));
        let events = testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                kind: Some(EntityKind::Organization),
                limit: Some(1),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            events[0]
                .outcome
                .contains("deleted in Pipedrive by a person"),
            "{events:?}"
        );
    }

    // The next run creates each again, once.
    let next = sync(&engine, RunMode::Delta).await;
    assert_eq!(next.status, RunStatus::Ok, "{next:?}");
    let organizations = state.organizations();
    for (number, id) in &gone {
        let display = alpha_output(number);
        let alive: Vec<i64> = organizations
            .iter()
            .filter(|organization| !organization.is_deleted)
            .filter(|organization| {
                organization.json["custom_fields"][&number_key] == display.as_str()
            })
            .map(|organization| organization.json["id"].as_i64().unwrap())
            .collect();
        assert_eq!(alive.len(), 1, "customer {number}: {alive:?}");
        assert_ne!(alive[0], *id);
        assert_eq!(links(&testbed).await.get(number), Some(&alive[0]));
    }
    let settled = sync(&engine, RunMode::Full).await;
    assert_eq!(settled.counts.get(&Action::Error), None, "{settled:?}");
    assert_eq!(settled.counts.get(&Action::Create), None, "{settled:?}");
}
