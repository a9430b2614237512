//! Contacts deleted in ECC: the person of a contact that is no longer among its customer's
//! contacts gets what `sync.on_contact_deleted` says, once; persons of customers not read, or
//! deleted or blocked in ECC, are not judged.

use chrono::{Duration, Utc};
use mlc_canonical::state::{Action, EntityKind};
use mlc_canonical::Customer;
use mlc_config::sections::sync::ContactDeletedPolicy;
use mlc_config::{FieldRule, FieldTarget, MappingConfig, ValueSource};
use serde_json::json;

use super::{actions, person_entries, World};
use crate::map::STATUS_FIELD;
use crate::plan::{Operation, Plan, PlanEntry};
use crate::testing::{contact, customer, field_map_with, key_for, other_customer, sync_config};

/// The contact that is deleted in ECC, and its person (the second one of organization 7).
const GONE: &str = "0000012346";
const GONE_PERSON: i64 = 701;

fn with_two_contacts() -> Customer {
    let mut customer = customer();
    customer.contacts.push(contact(
        GONE,
        "Bernd",
        "Weber",
        "b.weber@mueller-maschinenbau.de",
    ));
    customer
}

/// Customer 4711 synced with two contacts, then the second deleted in ECC (KNVK row gone).
fn contact_deleted(policy: ContactDeletedPolicy) -> World {
    let mut world = World::new(vec![with_two_contacts()]).synced(0, 7);
    world.customers[0].contacts.truncate(1);
    world.settings.on_contact_deleted = policy;
    world
}

fn gone_entries(plan: &Plan) -> Vec<PlanEntry> {
    person_entries(plan)
        .into_iter()
        .filter(|entry| entry.ecc_key == GONE)
        .collect()
}

fn the_gone_entry(plan: &Plan) -> PlanEntry {
    let gone = gone_entries(plan);
    assert_eq!(gone.len(), 1, "{plan:#?}");
    gone[0].clone()
}

fn status_key() -> String {
    format!("custom_fields.{}", key_for(STATUS_FIELD))
}

#[test]
fn with_field_the_person_of_a_deleted_contact_says_deleted_and_nothing_else_changes() {
    let plan = contact_deleted(ContactDeletedPolicy::Field).plan();
    assert_eq!(plan.entries[0].action(), Action::Skip, "the organization");
    let persons = person_entries(&plan);
    assert_eq!(persons.len(), 2);
    assert_eq!(
        persons[0].action(),
        Action::Skip,
        "the contact still in ECC"
    );
    let gone = &persons[1];
    assert_eq!(gone.ecc_key, GONE);
    assert_eq!(gone.customer_number.as_str(), "0000004711");
    assert!(gone.gone_from_ecc);
    assert!(gone.reason.contains("contact 12346 is deleted in ECC"));
    let Operation::Update {
        id: GONE_PERSON,
        changes,
        diffed: true,
    } = &gone.operation
    else {
        panic!("{gone:?}");
    };
    assert_eq!(
        changes.owned_fields().collect::<Vec<_>>(),
        vec![status_key().as_str()],
        "only the status: the person keeps what ECC last said"
    );
    assert_eq!(changes.get(&status_key()), Some(&json!("deleted")));
    assert_eq!(gone.tokens, 5);
    assert!(gone.pushed_hash.is_some());
    assert_eq!(plan.write_tokens(), 5);
}

#[test]
fn without_the_index_the_executor_decides_against_the_current_person() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    world.with_index = false;
    let plan = world.plan();
    let gone = the_gone_entry(&plan);
    assert!(
        matches!(
            &gone.operation,
            Operation::Update {
                id: GONE_PERSON,
                diffed: false,
                ..
            }
        ),
        "{gone:?}"
    );
    assert_eq!(gone.tokens, 6);
    assert!(
        !plan.needs_index(),
        "a deleted contact never waits for the index"
    );
}

#[test]
fn a_person_marked_once_is_not_written_again() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    let first = the_gone_entry(&world.plan());
    // The write succeeded: the store keeps the entry's hash, Pipedrive the status.
    world.known.person_states.get_mut(GONE).unwrap().pushed_hash = first.pushed_hash.clone();
    world
        .persons
        .get_mut(&GONE_PERSON)
        .unwrap()
        .custom_fields
        .insert(key_for(STATUS_FIELD), json!("deleted"));
    for with_index in [true, false] {
        world.with_index = with_index;
        let plan = world.plan();
        let gone = the_gone_entry(&plan);
        assert_eq!(gone.operation, Operation::Skip, "{gone:?}");
        assert!(gone.reason.contains("carries the status already"));
        assert!(!plan.writes_anything(), "{plan:#?}");
        assert_eq!(plan.write_tokens(), 0);
    }
    // `sync --customer 4711` writes it again.
    world.replay = true;
    world.with_index = false;
    let gone = the_gone_entry(&world.plan());
    assert_eq!(gone.action(), Action::Update);
}

#[test]
fn a_person_that_holds_the_status_already_is_remembered_without_a_call() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    world
        .persons
        .get_mut(&GONE_PERSON)
        .unwrap()
        .custom_fields
        .insert(key_for(STATUS_FIELD), json!("deleted"));
    let gone = the_gone_entry(&world.plan());
    let Operation::Update {
        changes,
        diffed: true,
        ..
    } = &gone.operation
    else {
        panic!("{gone:?}");
    };
    assert!(changes.is_empty(), "nothing is sent");
    assert_eq!(gone.tokens, 0);
    assert!(gone.pushed_hash.is_some(), "the hash is stored");
}

#[test]
fn a_person_gone_from_pipedrive_too_is_looked_up_not_written_blind() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    world.persons.remove(&GONE_PERSON);
    let gone = the_gone_entry(&world.plan());
    assert!(
        matches!(
            gone.operation,
            Operation::Update {
                id: GONE_PERSON,
                diffed: false,
                ..
            }
        ),
        "{gone:?}"
    );
    assert!(
        gone.gone_from_ecc,
        "the executor unlinks it, never recreates"
    );
}

#[test]
fn with_delete_the_person_is_deleted_and_with_leave_left_alone() {
    let plan = contact_deleted(ContactDeletedPolicy::Delete).plan();
    let gone = the_gone_entry(&plan);
    assert_eq!(gone.operation, Operation::Delete { id: GONE_PERSON });
    assert_eq!(gone.tokens, 3);
    assert!(gone.reason.contains("sync.on_contact_deleted = \"delete\""));
    assert_eq!(plan.write_tokens(), 3);

    let plan = contact_deleted(ContactDeletedPolicy::Leave).plan();
    let gone = the_gone_entry(&plan);
    assert_eq!(gone.operation, Operation::Skip);
    assert!(
        gone.reason.contains("\"leave\": person 701 stays as it is"),
        "{}",
        gone.reason
    );
    assert!(!plan.writes_anything());
}

#[test]
fn only_customers_read_in_this_run_are_judged() {
    // A delta that read another customer: 4711's persons are not touched, though their
    // contacts were not read.
    let mut world = contact_deleted(ContactDeletedPolicy::Delete);
    world.customers = vec![other_customer(
        4712,
        "Schmidt Logistik GmbH",
        "Bahnhofstraße",
        "3",
        "70174",
        "Stuttgart",
    )];
    let plan = world.plan();
    assert!(person_entries(&plan).is_empty(), "{plan:#?}");
    assert!(!actions(&plan).contains(&Action::Delete));
}

#[test]
fn a_contact_read_under_another_customer_is_not_deleted() {
    let mut world = contact_deleted(ContactDeletedPolicy::Delete);
    let mut other = other_customer(
        4712,
        "Schmidt Logistik GmbH",
        "Bahnhofstraße",
        "3",
        "70174",
        "Stuttgart",
    );
    other.contacts = vec![contact(GONE, "Bernd", "Weber", "b.weber@schmidt.de")];
    world.customers.push(other);
    let plan = world.plan();
    assert!(
        gone_entries(&plan)
            .iter()
            .all(|entry| !entry.gone_from_ecc && entry.action() != Action::Delete),
        "{plan:#?}"
    );
}

#[test]
fn a_deleted_or_blocked_customer_follows_the_organization_policies() {
    for lifecycle in ["deleted", "blocked"] {
        let mut world = contact_deleted(ContactDeletedPolicy::Delete);
        match lifecycle {
            "deleted" => world.customers[0].deleted = true,
            _ => world.customers[0].blocked = true,
        }
        let plan = world.plan();
        assert!(gone_entries(&plan).is_empty(), "{lifecycle}: {plan:#?}");
    }
    // A customer read dirty is an error as a whole; its contacts are not judged either.
    let mut world = contact_deleted(ContactDeletedPolicy::Delete);
    world.problems = vec!["KNA1-NAME1 contains control characters".into()];
    assert!(gone_entries(&world.plan()).is_empty());
}

#[test]
fn an_unlinked_person_or_one_without_a_known_customer_is_not_judged() {
    let mut world = contact_deleted(ContactDeletedPolicy::Delete);
    world.known.person_links.remove(GONE);
    assert!(gone_entries(&world.plan()).is_empty());

    let mut world = contact_deleted(ContactDeletedPolicy::Delete);
    world
        .known
        .person_states
        .get_mut(GONE)
        .unwrap()
        .customer_number = None;
    assert!(gone_entries(&world.plan()).is_empty());
}

#[test]
fn a_failed_mark_waits_for_its_backoff_unless_ecc_changed_the_customer() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    let state = world.known.person_states.get_mut(GONE).unwrap();
    state.failures = 2;
    state.retry_after = Some(Utc::now() + Duration::minutes(10));
    let gone = the_gone_entry(&world.plan());
    assert_eq!(gone.operation, Operation::Skip);
    assert!(gone.reason.contains("next try after"), "{}", gone.reason);
    world.changed = true;
    assert_eq!(the_gone_entry(&world.plan()).action(), Action::Update);
}

#[test]
fn field_without_a_status_rule_is_an_error_naming_the_rule_to_add() {
    let mut world = contact_deleted(ContactDeletedPolicy::Field);
    let mapping = MappingConfig {
        person: vec![FieldRule {
            target: FieldTarget::CustomByName(STATUS_FIELD.into()),
            source: ValueSource::Field("status".into()),
            transforms: vec![],
            enabled: false,
        }],
        ..MappingConfig::default()
    };
    world.map = field_map_with(&mapping, &sync_config());
    let gone = the_gone_entry(&world.plan());
    assert_eq!(gone.action(), Action::Error);
    assert!(
        gone.reason.contains("source = \"status\""),
        "{}",
        gone.reason
    );
}

#[test]
fn the_dry_run_shows_the_contact_is_gone_from_ecc() {
    let plan = contact_deleted(ContactDeletedPolicy::Delete).plan();
    let json = serde_json::to_value(&plan).unwrap();
    let gone = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["ecc_key"] == GONE)
        .unwrap();
    assert_eq!(gone["action"], "delete");
    assert_eq!(gone["gone_from_ecc"], true);
    assert_eq!(
        gone["kind"],
        serde_json::to_value(EntityKind::Person).unwrap()
    );
    assert!(json["entries"][0].get("gone_from_ecc").is_none());
}
