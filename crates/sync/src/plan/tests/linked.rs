//! A linked record: unchanged it costs nothing (and a reconciliation finds what was edited in
//! Pipedrive since), changed it is sent only what differs, lost in Pipedrive it is an error
//! and never a second create, failed it waits its turn.

use super::*;

#[test]
fn an_unchanged_record_is_skipped_at_no_cost_and_without_the_index() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.with_index = false;
    let plan = world.plan();
    assert!(
        actions(&plan).iter().all(|action| *action == Action::Skip),
        "{plan:#?}"
    );
    assert_eq!(plan.write_tokens(), 0);
    assert!(!plan.writes_anything());
    assert!(!plan.needs_index());
    assert_eq!(plan.entries[0].reason, "unchanged since the last write");
}

#[test]
fn a_reconciliation_finds_a_field_edited_in_pipedrive_since_the_last_write() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.drift = DriftCheck::AgainstIndex;
    let untouched = world.plan();
    assert!(!untouched.writes_anything(), "{untouched:#?}");
    assert!(untouched.entries[0]
        .reason
        .contains("Pipedrive holds what was pushed"));

    world.organizations.get_mut(&7).unwrap().name = "Mueller (typed by sales)".into();
    let plan = world.plan();
    let organization = organization_entry(&plan, &world.customers[0]);
    assert!(organization.drift);
    let Operation::Update {
        id: 7,
        changes,
        diffed: true,
    } = &organization.operation
    else {
        panic!("{organization:?}");
    };
    assert_eq!(changes.owned_fields().collect::<Vec<_>>(), ["name"]);
    assert_eq!(
        organization.evidence.as_ref().unwrap()["pipedrive"]["name"],
        "Mueller (typed by sales)"
    );
    assert_eq!(organization.pushed_hash, {
        let stored = world
            .known
            .organization_states
            .get(world.customers[0].customer_number.as_str());
        stored.unwrap().pushed_hash.clone()
    });
    assert!(
        person_entries(&plan).iter().all(|person| !person.drift),
        "the persons were not edited: {plan:#?}"
    );
}

#[test]
fn a_reconciliation_does_not_compare_again_what_it_found_holding_under_the_same_fingerprint() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.drift = DriftCheck::AgainstIndex;
    let compared = world.plan();
    assert!(!compared.writes_anything(), "{compared:#?}");
    assert!(
        compared
            .entries
            .iter()
            .all(|entry| entry.pipedrive_verified.is_some()),
        "{compared:#?}"
    );
    world.keep_verified(&compared);

    // The next reconciliation finds the same copies: it neither parses nor compares them.
    world.index_parses = false;
    let again = world.plan();
    assert_eq!(actions(&again), actions(&compared));
    for (entry, before) in again.entries.iter().zip(&compared.entries) {
        assert_eq!(entry.reason, before.reason);
        assert_eq!(entry.pushed_hash, None);
    }

    // Edited in Pipedrive since, the organization's copy is compared again and the edit found;
    // its persons, untouched, are still not parsed.
    world.index_parses = true;
    world.organizations.get_mut(&7).unwrap().name = "Mueller (typed by sales)".into();
    let edited = world.plan();
    let organization = organization_entry(&edited, &world.customers[0]);
    assert!(organization.drift, "{organization:#?}");
    assert_eq!(organization.pipedrive_verified, None);
    assert!(person_entries(&edited)
        .iter()
        .all(|person| person.action() == Action::Skip && !person.drift));
}

#[test]
fn a_delta_run_does_not_look_for_drift() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.organizations.get_mut(&7).unwrap().name = "Typed".into();
    let plan = world.plan();
    assert!(!plan.writes_anything(), "{plan:#?}");
}

#[test]
fn a_reconciliation_without_the_index_asks_for_it_and_a_webhook_run_fetches_the_record() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.with_index = false;
    world.drift = DriftCheck::AgainstIndex;
    let plan = world.plan();
    assert!(plan.needs_index());
    assert!(!plan.writes_anything());

    world.drift = DriftCheck::AgainstRecord;
    let plan = world.plan();
    assert!(!plan.needs_index());
    let organization = organization_entry(&plan, &world.customers[0]);
    assert!(organization.drift);
    assert!(matches!(
        organization.operation,
        Operation::Update {
            id: 7,
            diffed: false,
            ..
        }
    ));
    assert_eq!(organization.tokens, GET_TOKENS + UPDATE_TOKENS);
}

#[test]
fn a_reconciliation_looks_up_a_linked_organization_gone_from_the_list() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.drift = DriftCheck::AgainstIndex;
    world.organizations.remove(&7);
    let plan = world.plan();
    let organization = organization_entry(&plan, &world.customers[0]);
    assert!(
        matches!(
            organization.operation,
            Operation::Update {
                id: 7,
                diffed: false,
                ..
            }
        ),
        "fetched by id, so a deletion follows sync.on_pipedrive_deleted: {organization:?}"
    );
}

#[test]
fn a_reconciliation_finds_a_person_edited_in_pipedrive() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.drift = DriftCheck::AgainstIndex;
    world.persons.get_mut(&700).unwrap().name = "Anna S.".into();
    let plan = world.plan();
    let persons = person_entries(&plan);
    assert!(persons[0].drift, "{persons:#?}");
    let Operation::Update { changes, .. } = &persons[0].operation else {
        panic!("{persons:?}");
    };
    assert_eq!(changes.owned_fields().collect::<Vec<_>>(), ["name"]);
}

#[test]
fn a_change_sends_only_the_changed_fields_and_never_the_salespersons_own() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world
        .organizations
        .get_mut(&7)
        .unwrap()
        .custom_fields
        .insert("salesperson-field".into(), json!("mine"));
    world.customers[0].billing_address.postal_code = "70174".into();
    world.customers[0].contacts[0].phones = vec!["0711 999".into()];
    let plan = world.plan();
    let organization = &plan.entries[0];
    assert_eq!(organization.action(), Action::Update);
    let Operation::Update {
        id: 7,
        changes,
        diffed: true,
    } = &organization.operation
    else {
        panic!("{organization:?}");
    };
    assert_eq!(changes.owned_fields().collect::<Vec<_>>(), vec!["address"]);
    assert_eq!(changes.patch_body()["address"]["postal_code"], "70174");
    assert_eq!(
        changes.patch_body()["address"]["route"],
        "Hauptstraße",
        "the whole address is sent"
    );
    assert!(changes.patch_body().get("custom_fields").is_none());
    let person = &plan.entries[1];
    assert_eq!(person.action(), Action::Update);
    let Operation::Update { changes, .. } = &person.operation else {
        panic!()
    };
    assert_eq!(changes.owned_fields().collect::<Vec<_>>(), vec!["phones"]);
    assert_eq!(plan.write_tokens(), 10);
}

#[test]
fn a_change_without_the_index_is_diffed_by_the_executor() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.with_index = false;
    world.customers[0].name = "Müller Maschinenbau GmbH".into();
    let plan = world.plan();
    assert!(matches!(
        plan.entries[0].operation,
        Operation::Update {
            id: 7,
            diffed: false,
            ..
        }
    ));
    assert_eq!(plan.entries[0].tokens, 6);
    assert!(!plan.needs_index());
}

#[test]
fn a_change_pipedrive_already_holds_costs_nothing_and_stores_the_hash() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world
        .known
        .organization_states
        .get_mut("0000004711")
        .unwrap()
        .pushed_hash = None;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Skip);
    assert!(plan.entries[0].pushed_hash.is_some());
    assert_eq!(plan.entries[0].operation, Operation::Skip);
}

#[test]
fn a_linked_organization_gone_from_pipedrive_is_an_error_never_a_second_create() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.organizations.clear();
    world.customers[0].name = "Müller Maschinenbau GmbH".into();
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(!actions(&plan).contains(&Action::Create));
}

#[test]
fn failed_records_wait_park_and_are_replayed() {
    let failing = |failures: u32, retry_in: i64, parked: bool| {
        let mut world = World::new(vec![customer()]).synced(0, 7);
        world.customers[0].name = "Müller Maschinenbau GmbH".into();
        let state = world
            .known
            .organization_states
            .get_mut("0000004711")
            .unwrap();
        state.failures = failures;
        state.retry_after = Some(Utc::now() + Duration::minutes(retry_in));
        state.parked = parked;
        state.last_error = Some("500".into());
        world
    };
    let plan = failing(2, 10, false).plan();
    assert_eq!(plan.entries[0].action(), Action::Skip);
    assert!(
        plan.entries[0].reason.contains("next try after"),
        "{}",
        plan.entries[0].reason
    );
    let plan = failing(2, -1, false).plan();
    assert_eq!(plan.entries[0].action(), Action::Update, "due again");
    let plan = failing(5, -1, true).plan();
    assert!(plan.entries[0].reason.contains("parked"));
    let mut replayed = failing(5, -1, true);
    replayed.replay = true;
    assert_eq!(replayed.plan().entries[0].action(), Action::Update);
    let mut changed = failing(5, -1, true);
    changed.changed = true;
    assert_eq!(changed.plan().entries[0].action(), Action::Update);
    // A failed record is tried even when its hash did not change.
    let mut unchanged_but_failed = World::new(vec![customer()]).synced(0, 7);
    unchanged_but_failed
        .known
        .organization_states
        .get_mut("0000004711")
        .unwrap()
        .failures = 1;
    unchanged_but_failed.organizations.get_mut(&7).unwrap().name = "Other".into();
    assert_eq!(
        unchanged_but_failed.plan().entries[0].action(),
        Action::Update
    );
}
