use std::collections::HashMap;

use chrono::{Duration, Utc};
use mlc_canonical::state::{Action, EntityKind, RecordState, ReviewItem, ReviewStatus};
use mlc_canonical::Customer;
use mlc_config::sections::sync::{EccDuplicatePolicy, LifecyclePolicy};
use mlc_config::MappingConfig;
use serde_json::{json, Value};

use super::*;
use crate::existing::{
    ContactEntry, ExistingOrganization, ExistingPerson, ExistingRecords, PipedriveAddress,
};
use crate::map::{FieldMap, MappedRecord, CUSTOMER_NUMBER_FIELD};
use crate::matching::{find_ecc_duplicates, MatchSettings, OrganizationMatcher};
use crate::testing::{customer, field_map_with, key_for, other_customer, sync_config};

mod branches;
mod deleted_contacts;

const STATUS_LABEL: i64 = 99;

fn settings() -> PlanSettings {
    PlanSettings::from_config(&sync_config(), Some(STATUS_LABEL))
}

fn map() -> FieldMap {
    field_map_with(&MappingConfig::default(), &sync_config())
}

/// Pipedrive's copy of what the map writes for `customer`, as the list endpoint returns it.
fn existing_from(mapped: &MappedRecord, id: i64) -> ExistingOrganization {
    let mut organization = ExistingOrganization {
        id,
        ..Default::default()
    };
    for (field, value) in mapped.fields() {
        if let Some(key) = field.strip_prefix("custom_fields.") {
            organization
                .custom_fields
                .insert(key.to_string(), value.clone());
            continue;
        }
        match field.as_str() {
            "name" => organization.name = value.as_str().unwrap().to_string(),
            "address" => {
                organization.address =
                    serde_json::from_value::<PipedriveAddress>(value.clone()).ok()
            }
            "label_ids" => organization.label_ids = serde_json::from_value(value.clone()).unwrap(),
            "owner_id" => organization.owner_id = value.as_i64(),
            _ => {}
        }
    }
    organization
}

fn person_from(mapped: &MappedRecord, id: i64, org_id: i64) -> ExistingPerson {
    let mut person = ExistingPerson {
        id,
        org_id: Some(org_id),
        ..Default::default()
    };
    for (field, value) in mapped.fields() {
        if let Some(key) = field.strip_prefix("custom_fields.") {
            person.custom_fields.insert(key.to_string(), value.clone());
            continue;
        }
        match field.as_str() {
            "name" => person.name = value.as_str().unwrap().to_string(),
            "emails" => {
                person.emails = serde_json::from_value::<Vec<ContactEntry>>(value.clone()).unwrap()
            }
            "phones" => {
                person.phones = serde_json::from_value::<Vec<ContactEntry>>(value.clone()).unwrap()
            }
            _ => {}
        }
    }
    person
}

fn state(kind: EntityKind, key: &str, pushed: Option<String>) -> RecordState {
    RecordState {
        connection: "default".into(),
        kind,
        ecc_key: key.into(),
        customer_number: None,
        pushed_hash: pushed,
        last_seen_at: None,
        last_run_id: None,
        failures: 0,
        retry_after: None,
        parked: false,
        last_error: None,
    }
}

/// A world: customers read, what the store knows, what Pipedrive holds.
struct World {
    customers: Vec<Customer>,
    known: KnownRecords,
    organizations: HashMap<i64, ExistingOrganization>,
    persons: HashMap<i64, ExistingPerson>,
    settings: PlanSettings,
    map: FieldMap,
    duplicates: Vec<crate::matching::EccDuplicate>,
    with_index: bool,
    replay: bool,
    changed: bool,
    problems: Vec<String>,
    drift: DriftCheck,
}

impl World {
    fn new(customers: Vec<Customer>) -> Self {
        World {
            customers,
            known: KnownRecords::default(),
            organizations: HashMap::new(),
            persons: HashMap::new(),
            settings: settings(),
            map: map(),
            duplicates: Vec::new(),
            with_index: true,
            replay: false,
            changed: false,
            problems: Vec::new(),
            drift: DriftCheck::Off,
        }
    }

    /// Marks `customer` (and its contacts) as synced before: linked, Pipedrive holding exactly
    /// the mapped values, hashes and the customer stored.
    fn synced(mut self, index: usize, org_id: i64) -> Self {
        let customer = self.customers[index].clone();
        let mut mapped = self.map.map_organization(&customer).unwrap();
        mapped.set("label_ids", json!([]));
        let key = customer.customer_number.clone();
        self.known.organization_links.insert(key.clone(), org_id);
        self.known.organization_states.insert(
            key.clone(),
            RecordState {
                customer_number: Some(key.clone()),
                ..state(
                    EntityKind::Organization,
                    &key,
                    Some(mapped.content_hash().to_string()),
                )
            },
        );
        self.organizations
            .insert(org_id, existing_from(&mapped, org_id));
        for (position, contact) in customer.contacts.iter().enumerate() {
            let mut person = self.map.map_person(&customer, contact).unwrap();
            person.set("org_id", json!(org_id));
            let person_id = org_id * 100 + position as i64;
            self.known
                .person_links
                .insert(contact.contact_number.clone(), person_id);
            self.known.person_states.insert(
                contact.contact_number.clone(),
                RecordState {
                    customer_number: Some(key.clone()),
                    ..state(
                        EntityKind::Person,
                        &contact.contact_number,
                        Some(person.content_hash().to_string()),
                    )
                },
            );
            self.persons
                .insert(person_id, person_from(&person, person_id, org_id));
        }
        self
    }

    fn plan(&self) -> Plan {
        let links: Vec<(&str, i64)> = self
            .known
            .organization_links
            .iter()
            .map(|(key, id)| (key.as_str(), *id))
            .collect();
        // In id order, so that no outcome depends on the order of a hash map.
        let mut organizations: Vec<&ExistingOrganization> = self.organizations.values().collect();
        organizations.sort_by_key(|organization| organization.id);
        let matcher = OrganizationMatcher::new(
            MatchSettings {
                link_threshold: 0.9,
                review_threshold: 0.30,
            },
            self.map.organization_evidence_fields(),
            organizations,
            links,
        );
        let records: Vec<CustomerRecord> = self
            .customers
            .iter()
            .map(|customer| CustomerRecord {
                customer,
                problems: self.problems.clone(),
                changed_in_ecc: self.changed,
                replay: self.replay,
                drift: self.drift,
            })
            .collect();
        let existing = ExistingRecords::new(
            self.organizations.values().cloned(),
            self.persons.values().cloned(),
        );
        plan(&PlanInputs {
            records: &records,
            field_map: &self.map,
            settings: &self.settings,
            known: &self.known,
            pipedrive: self.with_index.then_some(PipedriveView {
                matcher: &matcher,
                existing: &existing,
            }),
            ecc_duplicates: &self.duplicates,
            now: Utc::now(),
            whole_run: None,
        })
    }
}

fn organization_entry(plan: &Plan, customer: &Customer) -> PlanEntry {
    plan.entries
        .iter()
        .find(|entry| {
            entry.kind == EntityKind::Organization && entry.ecc_key == customer.customer_number
        })
        .cloned()
        .expect("an organization entry")
}

fn person_entries(plan: &Plan) -> Vec<PlanEntry> {
    plan.entries
        .iter()
        .filter(|entry| entry.kind == EntityKind::Person)
        .cloned()
        .collect()
}

#[test]
fn an_unchanged_record_is_skipped_at_no_cost_and_without_the_index() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.with_index = false;
    let plan = world.plan();
    assert!(
        plan.entries
            .iter()
            .all(|entry| entry.action() == Action::Skip),
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
            .get(&world.customers[0].customer_number);
        stored.unwrap().pushed_hash.clone()
    });
    assert!(
        person_entries(&plan).iter().all(|person| !person.drift),
        "the persons were not edited: {plan:#?}"
    );
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
fn a_new_customer_without_a_match_is_created_with_its_persons() {
    let plan = World::new(vec![customer()]).plan();
    let organization = &plan.entries[0];
    assert_eq!(organization.action(), Action::Create);
    assert_eq!(organization.tokens, 5);
    let Operation::Create {
        body,
        organization: None,
    } = &organization.operation
    else {
        panic!("{organization:?}");
    };
    assert_eq!(
        body.create_body()["custom_fields"][key_for(CUSTOMER_NUMBER_FIELD)],
        "4711"
    );
    assert!(organization.pushed_hash.is_some());
    let persons = person_entries(&plan);
    assert_eq!(persons.len(), 1);
    assert_eq!(persons[0].action(), Action::Create);
    assert_eq!(
        persons[0].operation,
        match &persons[0].operation {
            Operation::Create { body, .. } => Operation::Create {
                body: body.clone(),
                organization: Some(OrganizationRef::CreatedInThisRun {
                    customer_number: "0000004711".into()
                }),
            },
            other => panic!("{other:?}"),
        }
    );
    assert!(
        persons[0].pushed_hash.is_none(),
        "hashed by the executor once org_id is known"
    );
    assert_eq!(plan.write_tokens(), 10);
    assert_eq!(plan.counts().get(&Action::Create), Some(&2));
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
fn an_unlinked_customer_waits_for_the_index_instead_of_being_created() {
    let mut world = World::new(vec![customer()]);
    world.with_index = false;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Deferred);
    assert!(plan.needs_index());
    assert!(!plan
        .entries
        .iter()
        .any(|entry| entry.action() == Action::Create));
}

#[test]
fn a_hand_typed_organization_is_linked_and_given_the_ecc_values() {
    let mut world = World::new(vec![customer()]);
    world.organizations.insert(
        50,
        ExistingOrganization {
            id: 50,
            name: "Mueller Maschinenbau".into(),
            address: Some(PipedriveAddress {
                value: Some("Hauptstr. 12, 70173 Stuttgart".into()),
                ..Default::default()
            }),
            custom_fields: [("salesperson-field".to_string(), json!("keep me"))]
                .into_iter()
                .collect(),
            label_ids: vec![3],
            ..Default::default()
        },
    );
    world.persons.insert(
        501,
        ExistingPerson {
            id: 501,
            name: "A. Schmidt".into(),
            org_id: Some(50),
            emails: vec![ContactEntry {
                value: "a.schmidt@mueller-maschinenbau.de".into(),
                label: None,
                primary: true,
            }],
            ..Default::default()
        },
    );
    let plan = world.plan();
    let organization = &plan.entries[0];
    assert_eq!(organization.action(), Action::Link, "{organization:#?}");
    let Operation::Link {
        id: 50,
        changes,
        diffed: true,
    } = &organization.operation
    else {
        panic!()
    };
    let body = changes.patch_body();
    assert_eq!(
        body["custom_fields"][key_for(CUSTOMER_NUMBER_FIELD)],
        "4711"
    );
    assert!(body["custom_fields"].get("salesperson-field").is_none());
    assert!(body.get("label_ids").is_none(), "labels untouched: {body}");
    assert_eq!(organization.tokens, 5);
    assert_eq!(organization.evidence.as_ref().unwrap()["decision"], "link");
    let person = &plan.entries[1];
    assert_eq!(person.action(), Action::Link, "{person:#?}");
    assert!(matches!(person.operation, Operation::Link { id: 501, .. }));
}

#[test]
fn reviews_pending_accepted_and_rejected() {
    let mut world = World::new(vec![customer()]);
    world.organizations.insert(
        60,
        ExistingOrganization {
            id: 60,
            name: "Müller Maschinenbau".into(),
            ..Default::default()
        },
    );
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Review);
    assert!(matches!(
        plan.entries[0].operation,
        Operation::Review { id: 60, .. }
    ));
    assert_eq!(
        plan.entries[1].action(),
        Action::Deferred,
        "persons wait for their organization"
    );

    let review = |status| ReviewItem {
        id: 1,
        connection: "default".into(),
        kind: EntityKind::Organization,
        ecc_key: "0000004711".into(),
        pipedrive_id: 60,
        score: 0.85,
        evidence: json!({}),
        status,
        created_at: Utc::now(),
        decided_at: None,
    };
    let key = (EntityKind::Organization, "0000004711".to_string());
    world
        .known
        .reviews
        .insert(key.clone(), vec![review(ReviewStatus::Pending)]);
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Review);
    assert_eq!(
        plan.entries[0].operation,
        Operation::AwaitReview,
        "already queued"
    );

    world
        .known
        .reviews
        .insert(key.clone(), vec![review(ReviewStatus::Accepted)]);
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Link);
    assert!(matches!(
        plan.entries[0].operation,
        Operation::Link { id: 60, .. }
    ));

    world
        .known
        .reviews
        .insert(key, vec![review(ReviewStatus::Rejected)]);
    let plan = world.plan();
    assert_eq!(
        plan.entries[0].action(),
        Action::Create,
        "{:?}",
        plan.entries[0]
    );
}

#[test]
fn deleted_or_blocked_before_it_was_ever_synced_is_not_created() {
    for (deleted, blocked) in [(true, false), (false, true)] {
        let mut gone = customer();
        gone.deleted = deleted;
        gone.blocked = blocked;
        let plan = World::new(vec![gone]).plan();
        assert!(
            plan.entries
                .iter()
                .all(|entry| entry.action() == Action::Skip),
            "{plan:#?}"
        );
        assert!(plan.entries[0].reason.contains("before it was ever synced"));
        assert!(!plan.writes_anything());
    }
}

#[test]
fn the_deletion_and_block_policies() {
    let deleted = |policy: LifecyclePolicy| {
        let mut world = World::new(vec![customer()]).synced(0, 7);
        world.organizations.get_mut(&7).unwrap().label_ids = vec![3];
        world.customers[0].deleted = true;
        world.settings.on_deleted = policy;
        world.plan()
    };
    // leave: nothing lifecycle-specific happens; an otherwise unchanged record is skipped.
    let plan = deleted(LifecyclePolicy::Leave);
    assert_eq!(
        plan.entries[0].action(),
        Action::Skip,
        "{:?}",
        plan.entries[0]
    );

    // label: the status label joins the salesperson's labels.
    let plan = deleted(LifecyclePolicy::Label);
    assert_eq!(
        plan.entries[0].action(),
        Action::Label,
        "{:?}",
        plan.entries[0]
    );
    let Operation::Label { changes, .. } = &plan.entries[0].operation else {
        panic!()
    };
    assert_eq!(changes.get("label_ids"), Some(&json!([3, STATUS_LABEL])));

    // delete: the organization is deleted, its persons left alone.
    let plan = deleted(LifecyclePolicy::Delete);
    assert_eq!(plan.entries[0].action(), Action::Delete);
    assert_eq!(plan.entries[0].operation, Operation::Delete { id: 7 });
    assert_eq!(plan.entries[0].tokens, 3);
    assert_eq!(plan.entries[1].action(), Action::Skip);

    // field (the template's on_blocked): "ECC Status" says so.
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.customers[0].blocked = true;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Update);
    let Operation::Update { changes, .. } = &plan.entries[0].operation else {
        panic!()
    };
    assert_eq!(
        changes.get(&format!("custom_fields.{}", key_for("ECC Status"))),
        Some(&json!("blocked"))
    );
    assert_eq!(changes.len(), 1);

    // Unblocked again: the field is cleared; a label is taken off again.
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world
        .organizations
        .get_mut(&7)
        .unwrap()
        .custom_fields
        .insert(key_for("ECC Status"), json!("blocked"));
    world.organizations.get_mut(&7).unwrap().label_ids = vec![3, STATUS_LABEL];
    world
        .known
        .organization_states
        .get_mut("0000004711")
        .unwrap()
        .pushed_hash = Some("old".into());
    let plan = world.plan();
    let Operation::Update { changes, .. } = &plan.entries[0].operation else {
        panic!("{:?}", plan.entries[0])
    };
    assert_eq!(
        changes.get(&format!("custom_fields.{}", key_for("ECC Status"))),
        Some(&Value::Null)
    );
    assert_eq!(changes.get("label_ids"), Some(&json!([3])));
}

#[test]
fn the_label_policy_without_its_label_is_an_error_not_a_guess() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.customers[0].deleted = true;
    world.settings.status_label_id = None;
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(plan.entries[0].reason.contains("status label"));
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

#[test]
fn dirty_and_unmappable_records_are_errors_with_reasons() {
    let mut world = World::new(vec![customer()]);
    world.problems = vec!["KNA1-NAME1 contains control characters".into()];
    let plan = world.plan();
    assert!(plan
        .entries
        .iter()
        .all(|entry| entry.action() == Action::Error));
    assert!(plan.entries[0].reason.contains("control characters"));

    let mut unknown_country = customer();
    unknown_country.billing_address.country = "XX".into();
    let plan = World::new(vec![unknown_country]).plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(plan.entries[0].reason.contains("unknown country code `XX`"));
    assert_eq!(plan.entries[1].action(), Action::Deferred);
}

#[test]
fn a_linked_organization_gone_from_pipedrive_is_an_error_never_a_second_create() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    world.organizations.clear();
    world.customers[0].name = "Müller Maschinenbau GmbH".into();
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(!plan
        .entries
        .iter()
        .any(|entry| entry.action() == Action::Create));
}

#[test]
fn two_customers_never_take_one_organization_in_the_same_run() {
    let first = customer();
    let mut second = other_customer(
        4712,
        "Müller Maschinenbau",
        "Hauptstraße",
        "12",
        "70173",
        "Stuttgart",
    );
    second.billing_address.country = "DE".into();
    let mut world = World::new(vec![first, second.clone()]);
    world.organizations.insert(
        80,
        ExistingOrganization {
            id: 80,
            name: "Müller Maschinenbau GmbH".into(),
            address: Some(PipedriveAddress {
                value: Some("Hauptstraße 12, 70173 Stuttgart".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let plan = world.plan();
    assert_eq!(plan.entries[0].action(), Action::Link);
    let second_entry = organization_entry(&plan, &second);
    assert_eq!(second_entry.action(), Action::Review, "{second_entry:#?}");
}

#[test]
fn the_branch_down_the_street_is_not_linked_to_the_organization_typed_in_for_another() {
    let name = "Kowalski Handel Sp. z o.o.";
    let down_the_street = other_customer(1, name, "ul. Długa", "10", "00-950", "Warszawa");
    let typed_in_for = other_customer(2, name, "ul. Długa", "12", "00-950", "Warszawa");
    let mut world = World::new(vec![down_the_street.clone(), typed_in_for.clone()]);
    world.organizations.insert(
        70,
        ExistingOrganization {
            id: 70,
            name: "KOWALSKI HANDEL SP. Z O.O ".into(),
            address: Some(PipedriveAddress {
                route: Some("UL. DŁUGA".into()),
                street_number: Some("12".into()),
                postal_code: Some("00-950".into()),
                locality: Some("Warszawa".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let plan = world.plan();
    let typed = organization_entry(&plan, &typed_in_for);
    assert!(
        matches!(typed.operation, Operation::Link { id: 70, .. }),
        "{typed:?}"
    );
    assert!(
        typed.reason.contains("SameNameAndAddress"),
        "{}",
        typed.reason
    );
    // Planned first, one name on one street, it still is not that branch: the other house
    // number keeps it out of the link band, and the organization is left for a reviewer.
    let other = organization_entry(&plan, &down_the_street);
    assert!(
        matches!(other.operation, Operation::Review { id: 70, .. }),
        "{other:?}"
    );
}

#[test]
fn ecc_duplicates_are_mapped_to_one_or_kept_apart() {
    let primary = customer();
    let mut twin = other_customer(
        9001,
        "Mueller Maschinenbau GmbH",
        "Hauptstr.",
        "12",
        "70173",
        "Stuttgart",
    );
    twin.contacts = vec![];
    let duplicates = find_ecc_duplicates(
        &[primary.clone(), twin.clone()],
        MatchSettings {
            link_threshold: 0.9,
            review_threshold: 0.30,
        },
        1,
    );
    assert_eq!(duplicates.len(), 1);

    // map-to-one, primary already linked: the twin is linked to the same organization.
    let mut world = World::new(vec![primary.clone(), twin.clone()]).synced(0, 7);
    world.duplicates = duplicates.clone();
    world.settings.ecc_duplicates = EccDuplicatePolicy::MapToOne;
    let plan = world.plan();
    let entry = organization_entry(&plan, &twin);
    assert_eq!(entry.action(), Action::Link);
    assert!(
        matches!(entry.operation, Operation::Link { id: 7, ref changes, .. } if changes.is_empty())
    );

    // map-to-one, primary created in this run: the twin waits for it.
    let mut world = World::new(vec![primary.clone(), twin.clone()]);
    world.duplicates = duplicates.clone();
    world.settings.ecc_duplicates = EccDuplicatePolicy::MapToOne;
    let plan = world.plan();
    assert_eq!(organization_entry(&plan, &primary).action(), Action::Create);
    assert_eq!(organization_entry(&plan, &twin).action(), Action::Deferred);

    // keep-apart: the twin gets its own organization, not a review against the primary's.
    let mut world = World::new(vec![primary, twin.clone()]).synced(0, 7);
    world.duplicates = duplicates;
    let plan = world.plan();
    let entry = organization_entry(&plan, &twin);
    assert_eq!(entry.action(), Action::Create, "{entry:#?}");
    assert_eq!(plan.ecc_duplicates.len(), 1);
}

#[test]
fn a_new_contact_of_a_linked_organization_is_created_there() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    let mut second = world.customers[0].contacts[0].clone();
    second.contact_number = "0000012346".into();
    second.first_name = "Bernd".into();
    second.emails = vec!["b@mueller-maschinenbau.de".into()];
    world.customers[0].contacts.push(second);
    let plan = world.plan();
    let persons = person_entries(&plan);
    assert_eq!(persons[0].action(), Action::Skip);
    assert_eq!(persons[1].action(), Action::Create, "{:#?}", persons[1]);
    let Operation::Create { body, organization } = &persons[1].operation else {
        panic!()
    };
    assert_eq!(organization, &Some(OrganizationRef::Existing { id: 7 }));
    assert_eq!(body.get("org_id"), Some(&json!(7)));
    assert!(persons[1].pushed_hash.is_some());
}

#[test]
fn the_plan_serializes_for_dry_run() {
    let plan = World::new(vec![customer()]).plan();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["entries"][0]["action"], "create");
    assert_eq!(json["entries"][0]["operation"]["operation"], "create");
    assert_eq!(
        json["entries"][0]["operation"]["body"]["name"],
        "Müller Maschinenbau GmbH & Co. KG"
    );
    assert_eq!(json["entries"][0]["tokens"], 5);
}
