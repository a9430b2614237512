//! A full reconciliation plans its linked customers while ECC is still read, and the others
//! (new customers, customers deleted or blocked in ECC, customers with a new contact or a contact
//! deleted in ECC) once the read is done. The same changes in ECC and in Pipedrive, reconciled
//! with the early pass taking every batch it can (`Always`) and with none (`Off`), end in the
//! same Pipedrive with the same action for every record.

use std::collections::{BTreeMap, HashSet};

use mlc_engine::{EarlyPlanning, NoProgress, RunMode, RunOptions, RunSummary};
use mlc_sim_ecc::MutationRequest;
use mlc_sim_pipedrive::FaultSettings;
use mlc_store::{Action, AuditQuery, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::json;

/// Each record's action in one run, by (kind, ECC key).
type Actions = BTreeMap<(String, String), Action>;

/// Each linked record's Pipedrive name, with its organization's name for a person.
type Linked = BTreeMap<(String, String), (String, String)>;

/// A synced testbed whose ECC and Pipedrive then change, reconciled with `early`.
async fn reconciled(early: EarlyPlanning) -> (Actions, Linked, RunSummary) {
    let mut options = TestbedOptions::new(60, 29);
    options.contacts_per_customer = 2;
    options.duplicate_rate = 0.08;
    options.hand_typed = 0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec!["on_contact_deleted = \"delete\"".to_string()];
    let testbed = Testbed::start(options).await.expect("the testbed starts");
    let engine = testbed.engine().await.expect("the engine connects");
    testbed.setup(&engine).await.expect("setup");
    let first = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .expect("the first sync");
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");

    let linked_contacts: HashSet<String> = testbed
        .store
        .links("testbed", EntityKind::Person)
        .await
        .unwrap()
        .into_iter()
        .map(|link| link.ecc_key)
        .collect();
    let changed = testbed.ecc.mutate(&MutationRequest {
        customers: 6,
        contacts: 4,
        address_only: 2,
        seed: 5,
    });
    let created = testbed.ecc.create(3);
    assert_eq!(created.len(), 3);
    let gone = testbed.ecc.delete_contacts(3);
    assert!(!gone.is_empty());
    let deleted = testbed.ecc.delete(1);
    let blocked = testbed.ecc.block(1);
    let touched: HashSet<&String> = changed
        .customers
        .iter()
        .chain(&changed.address_only)
        .chain(&changed.ship_to_affected)
        .chain(
            changed
                .contacts
                .iter()
                .map(|contact| &contact.customer_number),
        )
        .chain(gone.iter().map(|contact| &contact.customer_number))
        .chain(&deleted)
        .chain(&blocked)
        .collect();
    // A salesperson renames the organization of a customer ECC did not change: the
    // reconciliation sets it back.
    let renamed = testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .find(|link| !touched.contains(&link.ecc_key))
        .expect("a customer ECC did not change");
    let name_before = testbed
        .pipedrive
        .state()
        .organization(renamed.pipedrive_id as u64)
        .expect("the linked organization")
        .name;
    testbed
        .pipedrive
        .state()
        .ui_edit(
            &json!({"entity": "organization", "id": renamed.pipedrive_id,
                         "action": "change", "changes": {"name": "Renamed by sales"}}),
        )
        .unwrap();

    let mut full = RunOptions::new(RunMode::Full);
    full.batch_size = 7;
    full.early = early;
    let summary = engine.run(&full, &NoProgress).await.expect("the full run");
    assert_eq!(summary.status, RunStatus::Ok, "{summary:?}");

    let actions: Actions = testbed
        .store
        .audit(&AuditQuery {
            run_id: Some(summary.run_id),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|event| ((event.kind.to_string(), event.ecc_key), event.action))
        .collect();
    let state = testbed.pipedrive.state();
    assert_eq!(
        actions.get(&("organization".to_string(), renamed.ecc_key.clone())),
        Some(&Action::ReAsserted)
    );
    assert_eq!(
        state
            .organization(renamed.pipedrive_id as u64)
            .map(|organization| organization.name),
        Some(name_before),
        "the rename is set back"
    );
    // A synced contact deleted in ECC under a customer that is neither deleted nor blocked:
    // its person is deleted, whichever pass planned the customer.
    let judged: Vec<_> = gone
        .iter()
        .filter(|contact| {
            linked_contacts.contains(&contact.contact_number)
                && !deleted.contains(&contact.customer_number)
                && !blocked.contains(&contact.customer_number)
                && !created.contains(&contact.customer_number)
        })
        .collect();
    assert!(!judged.is_empty(), "{gone:?}");
    for contact in judged {
        assert_eq!(
            actions.get(&("person".to_string(), contact.contact_number.clone())),
            Some(&Action::Delete),
            "{contact:?}"
        );
    }
    let organization_name = |id: u64| {
        state
            .organization(id)
            .filter(|organization| !organization.is_deleted)
            .map(|organization| organization.name)
            .unwrap_or_default()
    };
    let mut linked = Linked::new();
    for link in testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
    {
        let name = organization_name(link.pipedrive_id as u64);
        linked.insert(("organization".into(), link.ecc_key), (name, String::new()));
    }
    for link in testbed
        .store
        .links("testbed", EntityKind::Person)
        .await
        .unwrap()
    {
        let person = state
            .person(link.pipedrive_id as u64)
            .expect("a linked person");
        let organization = person.org_id.map(organization_name).unwrap_or_default();
        linked.insert(("person".into(), link.ecc_key), (person.name, organization));
    }
    testbed.shutdown().await;
    (actions, linked, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_customers_planned_while_ecc_is_read_end_as_planned_after_it() {
    let (early_actions, early_linked, early) = reconciled(EarlyPlanning::Always).await;
    let (late_actions, late_linked, late) = reconciled(EarlyPlanning::Off).await;

    assert_eq!(late.customers_planned_early, 0, "{late:?}");
    assert_eq!(early.customers_read, late.customers_read);
    // New, deleted, blocked and changed-contact customers wait for the read; the rest do not.
    assert!(
        early.customers_planned_early > early.customers_read / 2
            && early.customers_planned_early < early.customers_read - 5,
        "{} of {} planned while ECC was read",
        early.customers_planned_early,
        early.customers_read
    );
    assert!(early.phase_secs.contains_key("early"), "{early:?}");
    for action in [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::ReAsserted,
        Action::Skip,
    ] {
        assert!(
            early_actions.values().any(|done| *done == action),
            "no {action:?} among {early_actions:?}"
        );
    }
    assert_eq!(early_actions, late_actions);
    assert_eq!(early_linked, late_linked);
    assert_eq!(early.counts, late.counts);
}

/// A first run: no customer can qualify, and the early pass ends as soon as the index has loaded
/// and it sees the store links nothing. A batch the read offered it while the index loaded is
/// planned after the read with the rest, not dropped with the pass: the run links what a run
/// without the early pass links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_offered_while_the_index_loads_in_a_first_run_is_planned_after_the_read() {
    let mut outcomes = Vec::new();
    for early in [
        EarlyPlanning::Off,
        EarlyPlanning::WhenReady,
        EarlyPlanning::Always,
    ] {
        let mut options = TestbedOptions::new(30, 17);
        options.contacts_per_customer = 1;
        options.duplicate_rate = 0.0;
        options.dirty_rate = 0.0;
        let mut testbed = Testbed::start(options).await.expect("the testbed starts");
        // ECC hands over 5 customers at a time; Pipedrive's index pages take longer than the
        // first of them.
        testbed.config.ecc.rows_per_call = 5;
        let engine = testbed.engine().await.expect("the engine connects");
        testbed.setup(&engine).await.expect("setup");
        testbed.pipedrive.state().set_faults(FaultSettings {
            latency_ms: 400,
            methods: vec!["GET".into()],
            ..FaultSettings::default()
        });
        let mut full = RunOptions::new(RunMode::Full);
        full.early = early;
        let summary = engine.run(&full, &NoProgress).await.expect("the first run");
        assert_eq!(summary.status, RunStatus::Ok, "{summary:?}");
        assert_eq!(summary.customers_read, 30, "{summary:?}");
        assert_eq!(summary.customers_planned_early, 0, "{summary:?}");
        let linked: HashSet<String> = testbed
            .store
            .links("testbed", EntityKind::Organization)
            .await
            .unwrap()
            .into_iter()
            .map(|link| link.ecc_key)
            .collect();
        assert!(linked.len() > 20, "{early:?}: {summary:?}");
        outcomes.push((early, linked, summary.counts));
        testbed.shutdown().await;
    }
    let (_, off_linked, off_counts) = &outcomes[0];
    for (early, linked, counts) in &outcomes[1..] {
        assert_eq!(linked, off_linked, "{early:?}");
        assert_eq!(counts, off_counts, "{early:?}");
    }
}
