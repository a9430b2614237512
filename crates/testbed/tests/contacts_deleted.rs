//! Contact persons deleted in ECC (`sync.on_contact_deleted`: leave, field, delete) against both
//! simulators: contacts synced earlier are deleted in ECC (their KNVK rows gone, a change
//! document under the customer), the next delta does what the setting says to their persons and
//! nothing to the others, and a full run afterwards writes nothing more.

use std::collections::HashMap;

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_pipedrive::ResolvedField;
use mlc_store::{Action, AuditQuery, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    let summary = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes");
    assert_eq!(summary.status, RunStatus::Ok, "{summary:?}");
    assert_eq!(summary.counts.get(&Action::Error), None, "{summary:?}");
    summary
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

async fn person_links(testbed: &Testbed) -> HashMap<String, i64> {
    testbed
        .store
        .links("testbed", EntityKind::Person)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect()
}

/// A contact deleted in ECC whose person was synced before.
struct GoneContact {
    contact_number: String,
    customer_number: String,
    person_id: i64,
    before: Value,
}

struct Scenario {
    testbed: Testbed,
    engine: SyncEngine,
    fields: Vec<ResolvedField>,
    gone: Vec<GoneContact>,
    /// Every other person, before the contacts were deleted.
    others: Vec<(i64, Value)>,
    /// The run after the contacts were deleted (a delta unless said otherwise).
    delta: RunSummary,
}

/// Syncs a fresh testbed with `policy`, deletes contacts in ECC, lets `before_delta` act on the
/// scenario's persons (a salesperson, say), and syncs the delta.
async fn scenario(policy: &str, before_delta: impl FnOnce(&Testbed, &[GoneContact])) -> Scenario {
    scenario_then(policy, before_delta, RunMode::Delta).await
}

/// As [`scenario`], with a run of `mode` after the contacts were deleted.
async fn scenario_then(
    policy: &str,
    before_delta: impl FnOnce(&Testbed, &[GoneContact]),
    mode: RunMode,
) -> Scenario {
    let mut options = TestbedOptions::new(30, 71);
    options.contacts_per_customer = 2;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec![format!("on_contact_deleted = \"{policy}\"")];
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    sync(&engine, RunMode::Delta).await;

    let links = person_links(&testbed).await;
    let state = testbed.pipedrive.state();
    let deleted = testbed.ecc.delete_contacts(8);
    let gone: Vec<GoneContact> = deleted
        .iter()
        .filter_map(|change| {
            let person_id = *links.get(&change.contact_number)?;
            Some(GoneContact {
                contact_number: change.contact_number.clone(),
                customer_number: change.customer_number.clone(),
                person_id,
                before: state.person(person_id as u64)?.json,
            })
        })
        .collect();
    assert!(
        gone.len() >= 2,
        "too few of {deleted:?} were synced: {}",
        gone.len()
    );
    let others: Vec<(i64, Value)> = links
        .iter()
        .filter(|(contact, _)| !deleted.iter().any(|c| &c.contact_number == *contact))
        .filter_map(|(_, id)| Some((*id, state.person(*id as u64)?.json)))
        .collect();
    assert!(!others.is_empty());
    before_delta(&testbed, &gone);

    let delta = sync(&engine, mode).await;
    Scenario {
        testbed,
        engine,
        fields,
        gone,
        others,
        delta,
    }
}

/// The persons of contacts ECC did not delete are exactly as they were.
fn assert_others_untouched(scenario: &Scenario) {
    let state = scenario.testbed.pipedrive.state();
    for (id, before) in &scenario.others {
        let now = state.person(*id as u64).unwrap();
        assert!(!now.is_deleted, "person {id} was deleted");
        assert_eq!(&now.json, before, "person {id} was changed");
    }
}

/// A full run and another delta afterwards find nothing to do: the outcome is remembered.
async fn assert_nothing_more_is_written(scenario: &Scenario) {
    for mode in [RunMode::Full, RunMode::Delta] {
        let before = write_calls(&scenario.testbed);
        let run = sync(&scenario.engine, mode.clone()).await;
        assert_eq!(
            write_calls(&scenario.testbed),
            before,
            "a {mode:?} run after the policy was applied wrote again: {:?}",
            run.counts
        );
        for action in [Action::Update, Action::Delete, Action::Create] {
            assert_eq!(run.counts.get(&action), None, "{mode:?}: {run:?}");
        }
    }
}

async fn person_events(scenario: &Scenario, gone: &GoneContact) -> Vec<mlc_store::AuditEvent> {
    scenario
        .testbed
        .store
        .audit(&AuditQuery {
            customer_number: Some(gone.customer_number.clone()),
            kind: Some(EntityKind::Person),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.ecc_key == gone.contact_number)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_field_the_persons_of_deleted_contacts_carry_the_status() {
    let scenario = scenario("field", |_, _| {}).await;
    let status_key = scenario
        .fields
        .iter()
        .find(|field| field.entity == EntityKind::Person && field.name == "ECC Status")
        .map(|field| field.key.clone())
        .expect("setup created the person field \"ECC Status\"");
    assert_eq!(
        scenario.delta.counts.get(&Action::Update),
        Some(&(scenario.gone.len() as u64)),
        "{:?}",
        scenario.delta
    );
    let state = scenario.testbed.pipedrive.state();
    let links = person_links(&scenario.testbed).await;
    for gone in &scenario.gone {
        let now = state.person(gone.person_id as u64).unwrap();
        assert!(!now.is_deleted, "{}: person deleted", gone.contact_number);
        assert_eq!(
            now.json["custom_fields"][&status_key], "deleted",
            "contact {}: person {}",
            gone.contact_number, gone.person_id
        );
        assert_eq!(now.json["name"], gone.before["name"]);
        assert_eq!(now.json["emails"], gone.before["emails"]);
        assert_eq!(links.get(&gone.contact_number), Some(&gone.person_id));
    }
    assert_others_untouched(&scenario);
    assert_nothing_more_is_written(&scenario).await;
    scenario.testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_delete_the_persons_of_deleted_contacts_are_deleted_and_unlinked() {
    let scenario = scenario("delete", |_, _| {}).await;
    assert_eq!(
        scenario.delta.counts.get(&Action::Delete),
        Some(&(scenario.gone.len() as u64)),
        "{:?}",
        scenario.delta
    );
    let state = scenario.testbed.pipedrive.state();
    let links = person_links(&scenario.testbed).await;
    for gone in &scenario.gone {
        let now = state.person(gone.person_id as u64).unwrap();
        assert!(
            now.is_deleted,
            "contact {}: person alive",
            gone.contact_number
        );
        assert!(!links.contains_key(&gone.contact_number));
        let events = person_events(&scenario, gone).await;
        assert!(
            events.iter().any(|event| event.action == Action::Delete
                && event.outcome.contains("is deleted in ECC")),
            "{events:?}"
        );
    }
    assert_others_untouched(&scenario);
    assert_nothing_more_is_written(&scenario).await;
    scenario.testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_deletes_the_persons_of_deleted_contacts_of_customers_it_settles_while_reading()
{
    // Every customer is linked and unchanged but for its contacts: the full run settles them
    // while it reads ECC, and their deleted contacts once the read has seen every contact.
    let scenario = scenario_then("delete", |_, _| {}, RunMode::Full).await;
    assert_eq!(
        scenario.delta.counts.get(&Action::Delete),
        Some(&(scenario.gone.len() as u64)),
        "{:?}",
        scenario.delta
    );
    let state = scenario.testbed.pipedrive.state();
    let links = person_links(&scenario.testbed).await;
    for gone in &scenario.gone {
        let now = state.person(gone.person_id as u64).unwrap();
        assert!(
            now.is_deleted,
            "contact {}: person alive",
            gone.contact_number
        );
        assert!(!links.contains_key(&gone.contact_number));
        let events = person_events(&scenario, gone).await;
        let deleted: Vec<_> = events
            .iter()
            .filter(|event| event.action == Action::Delete)
            .collect();
        assert_eq!(deleted.len(), 1, "{events:?}");
        assert!(
            deleted[0].outcome.contains("is deleted in ECC"),
            "{events:?}"
        );
        // Audited as read with its customer, like the entries planned with the customer.
        assert_ne!(deleted[0].source, "unknown", "{events:?}");
    }
    assert_others_untouched(&scenario);
    assert_nothing_more_is_written(&scenario).await;
    scenario.testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leave_the_persons_of_deleted_contacts_stay_as_they_were() {
    let scenario = scenario("leave", |_, _| {}).await;
    let state = scenario.testbed.pipedrive.state();
    let links = person_links(&scenario.testbed).await;
    for gone in &scenario.gone {
        let now = state.person(gone.person_id as u64).unwrap();
        assert!(!now.is_deleted);
        assert_eq!(now.json, gone.before, "contact {}", gone.contact_number);
        assert_eq!(links.get(&gone.contact_number), Some(&gone.person_id));
        let events = person_events(&scenario, gone).await;
        assert!(
            events.iter().any(|event| event.action == Action::Skip
                && event.outcome.contains("on_contact_deleted = \"leave\"")),
            "the audit says why: {events:?}"
        );
    }
    assert_others_untouched(&scenario);
    assert_nothing_more_is_written(&scenario).await;
    scenario.testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deleted_in_pipedrive_too_is_only_unlinked() {
    // A salesperson deleted the persons of the first two contacts before the delta.
    let trashed = std::sync::Mutex::new(Vec::new());
    let scenario = scenario("field", |testbed, gone| {
        for contact in gone.iter().take(2) {
            assert!(testbed
                .pipedrive
                .state()
                .delete_person_in_app(contact.person_id as u64));
            trashed.lock().unwrap().push(contact.person_id);
        }
    })
    .await;
    let trashed = trashed.into_inner().unwrap();
    let state = scenario.testbed.pipedrive.state();
    let links = person_links(&scenario.testbed).await;
    for gone in &scenario.gone {
        if trashed.contains(&gone.person_id) {
            assert!(!links.contains_key(&gone.contact_number));
            let now = state.person(gone.person_id as u64).unwrap();
            assert!(now.is_deleted, "left in the trash");
            assert_eq!(
                now.json["custom_fields"], gone.before["custom_fields"],
                "never written to in the trash"
            );
        } else {
            assert_eq!(links.get(&gone.contact_number), Some(&gone.person_id));
        }
    }
    // Nothing to retry: the customers are not read again for them.
    let states = scenario
        .testbed
        .store
        .record_states("testbed", EntityKind::Person)
        .await
        .unwrap();
    for state in states.iter().filter(|state| {
        scenario
            .gone
            .iter()
            .any(|g| g.contact_number == state.ecc_key)
    }) {
        assert_eq!(state.failures, 0, "{state:?}");
    }
    assert_others_untouched(&scenario);
    assert_nothing_more_is_written(&scenario).await;
    scenario.testbed.shutdown().await;
}
