use std::collections::HashMap;

use chrono::{Duration, Utc};
use mlc_canonical::state::{Action, EntityKind, RecordState, ReviewItem, ReviewStatus};
use mlc_canonical::Customer;
use mlc_config::sections::sync::{EccDuplicatePolicy, LifecyclePolicy};
use mlc_config::MappingConfig;
use serde_json::{json, Value};

use super::cost::{GET_TOKENS, UPDATE_TOKENS};
use super::*;
use crate::existing::{
    ContactEntry, ExistingOrganization, ExistingPerson, ExistingRecords, PipedriveAddress,
};
use crate::map::{FieldMap, MappedRecord, CUSTOMER_NUMBER_FIELD};
use crate::matching::{find_ecc_duplicates, MatchSettings, OrganizationMatcher};
use crate::testing::{
    customer, field_map_with, key_for, other_customer, record_state, stranger, sync_config,
};

mod branches;
mod deleted_contacts;
mod linked;
mod organization;

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
        pushed_hash: pushed,
        pipedrive_verified: None,
        ..record_state(kind, key)
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
    /// The index is loaded with its matcher built (a run builds it only when a batch needs it).
    with_matcher: bool,
    /// The index knows the persons of each organization (a run reads them only when a batch
    /// needs them).
    with_persons_of: bool,
    replay: bool,
    changed: bool,
    problems: Vec<String>,
    drift: DriftCheck,
    /// The planner may parse Pipedrive's copies; when not, only their JSON may be asked for.
    index_parses: bool,
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
            with_matcher: true,
            with_persons_of: true,
            replay: false,
            changed: false,
            problems: Vec::new(),
            drift: DriftCheck::Off,
            index_parses: true,
        }
    }

    /// Stores what `plan` found verified in Pipedrive in the records' states, as a run's
    /// commit does.
    fn keep_verified(&mut self, plan: &Plan) {
        for entry in &plan.entries {
            let Some(fingerprint) = entry.pipedrive_verified else {
                continue;
            };
            let states = match entry.kind {
                EntityKind::Organization => &mut self.known.organization_states,
                EntityKind::Person => &mut self.known.person_states,
            };
            states
                .get_mut(entry.ecc_key.as_str())
                .expect("a verified record has a state")
                .pipedrive_verified = Some(fingerprint);
        }
    }

    /// Marks `customer` (and its contacts) as synced before: linked, Pipedrive holding exactly
    /// the mapped values, hashes and the customer stored.
    fn synced(mut self, index: usize, org_id: i64) -> Self {
        let customer = self.customers[index].clone();
        let mut mapped = self.map.map_organization(&customer).unwrap();
        mapped.set("label_ids", json!([]));
        let key = customer.customer_number.to_string();
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
                review_threshold: 0.7,
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
        let without_persons_of = WithoutPersonsOf(&existing);
        let unparsed = Unparsed(&existing);
        plan(&PlanInputs {
            records: &records,
            field_map: &self.map,
            settings: &self.settings,
            known: &self.known,
            pipedrive: self.with_index.then_some(PipedriveView {
                matcher: self.with_matcher.then_some(&matcher),
                existing: match (self.with_persons_of, self.index_parses) {
                    (_, false) => &unparsed,
                    (true, true) => &existing,
                    (false, true) => &without_persons_of,
                },
            }),
            ecc_duplicates: &self.duplicates,
            now: Utc::now(),
            whole_run: None,
        })
    }
}

/// An index that has not read the persons of its organizations yet.
struct WithoutPersonsOf<'e>(&'e ExistingRecords);

impl crate::existing::ExistingLookup for WithoutPersonsOf<'_> {
    fn organization(&self, id: i64) -> Option<ExistingOrganization> {
        self.0.organization(id)
    }

    fn person(&self, id: i64) -> Option<ExistingPerson> {
        self.0.person(id)
    }

    fn persons_of(&self, _organization_id: i64) -> Vec<ExistingPerson> {
        panic!("the persons of an organization asked for before they were read")
    }

    fn knows_persons_of_organizations(&self) -> bool {
        false
    }
}

/// An index whose records may be fingerprinted, never parsed.
struct Unparsed<'e>(&'e ExistingRecords);

impl crate::existing::ExistingLookup for Unparsed<'_> {
    fn organization(&self, id: i64) -> Option<ExistingOrganization> {
        panic!("organization {id} parsed")
    }

    fn person(&self, id: i64) -> Option<ExistingPerson> {
        panic!("person {id} parsed")
    }

    fn organization_json(&self, id: i64) -> Option<Vec<u8>> {
        self.0.organization_json(id)
    }

    fn person_json(&self, id: i64) -> Option<Vec<u8>> {
        self.0.person_json(id)
    }

    fn persons_of(&self, organization_id: i64) -> Vec<ExistingPerson> {
        self.0.persons_of(organization_id)
    }
}

fn organization_entry(plan: &Plan, customer: &Customer) -> PlanEntry {
    plan.entries
        .iter()
        .find(|entry| {
            entry.kind == EntityKind::Organization
                && entry.ecc_key == customer.customer_number.as_str()
        })
        .cloned()
        .expect("an organization entry")
}

/// The actions of the plan's entries, in plan order.
fn actions(plan: &Plan) -> Vec<Action> {
    plan.entries.iter().map(PlanEntry::action).collect()
}

fn person_entries(plan: &Plan) -> Vec<PlanEntry> {
    plan.entries
        .iter()
        .filter(|entry| entry.kind == EntityKind::Person)
        .cloned()
        .collect()
}

#[test]
fn dirty_and_unmappable_records_are_errors_with_reasons() {
    let mut world = World::new(vec![customer()]);
    world.problems = vec!["KNA1-NAME1 contains control characters".into()];
    let plan = world.plan();
    assert!(actions(&plan).iter().all(|action| *action == Action::Error));
    assert!(plan.entries[0].reason.contains("control characters"));

    let mut unknown_country = customer();
    unknown_country.billing_address.country = "XX".into();
    let plan = World::new(vec![unknown_country]).plan();
    assert_eq!(plan.entries[0].action(), Action::Error);
    assert!(plan.entries[0].reason.contains("unknown country code `XX`"));
    assert_eq!(plan.entries[1].action(), Action::Deferred);
}

/// Another contact of the first customer, not in Pipedrive yet.
fn second_contact(world: &World) -> mlc_canonical::ContactPerson {
    let mut second = world.customers[0].contacts[0].clone();
    second.contact_number = "0000012346".into();
    second.first_name = "Bernd".into();
    second
}

#[test]
fn a_new_contact_of_a_linked_organization_is_created_there() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    let mut second = second_contact(&world);
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
fn without_the_matcher_a_linked_customer_is_planned_and_an_unlinked_one_waits() {
    let mut stranger = stranger();
    let mut world = World::new(vec![customer(), stranger.clone()]).synced(0, 7);
    world.customers[0].name = "Müller Maschinenbau AG".into();
    world.with_matcher = false;
    assert!(!may_need_matcher(
        &CustomerRecord::new(&world.customers[0]),
        &world.known,
        Utc::now()
    ));
    assert!(may_need_matcher(
        &CustomerRecord::new(&world.customers[1]),
        &world.known,
        Utc::now()
    ));
    let plan = world.plan();
    assert_eq!(
        organization_entry(&plan, &world.customers[0]).action(),
        Action::Update
    );
    let waiting = organization_entry(&plan, &stranger);
    assert_eq!(waiting.action(), Action::Deferred, "{waiting:#?}");
    assert!(waiting.needs_index);

    // Deleted and blocked customers are never created, so never matched.
    stranger.deleted = true;
    assert!(!may_need_matcher(
        &CustomerRecord::new(&stranger),
        &world.known,
        Utc::now()
    ));
    stranger.deleted = false;
    stranger.blocked = true;
    assert!(!may_need_matcher(
        &CustomerRecord::new(&stranger),
        &world.known,
        Utc::now()
    ));

    world.with_matcher = true;
    let plan = world.plan();
    assert_eq!(
        organization_entry(&plan, &world.customers[1]).action(),
        Action::Create
    );
}

#[test]
fn a_parked_unlinked_customer_asks_for_no_matcher_until_it_changes_or_is_replayed() {
    let stranger = stranger();
    let mut world = World::new(vec![stranger.clone()]);
    let key = stranger.customer_number.to_string();
    world.known.organization_states.insert(
        key.clone(),
        RecordState {
            failures: 5,
            parked: true,
            last_error: Some("400 from Pipedrive".into()),
            customer_number: Some(key.clone()),
            ..state(EntityKind::Organization, &key, None)
        },
    );
    let now = Utc::now();
    // A full reconciliation reads it unchanged: it stays parked, planned without the matcher.
    let unchanged = CustomerRecord::new(&stranger);
    assert!(!may_need_matcher(&unchanged, &world.known, now));
    world.with_matcher = false;
    let plan = world.plan();
    let parked = organization_entry(&plan, &stranger);
    assert!(parked.reason.contains("parked"), "{parked:#?}");
    assert!(!parked.needs_index, "{parked:#?}");
    // Changed in ECC, or replayed, it is tried again: then it is matched.
    let changed = CustomerRecord {
        changed_in_ecc: true,
        ..CustomerRecord::new(&stranger)
    };
    assert!(may_need_matcher(&changed, &world.known, now));
    let replayed = CustomerRecord {
        replay: true,
        ..CustomerRecord::new(&stranger)
    };
    assert!(may_need_matcher(&replayed, &world.known, now));
    // Waiting for its backoff, too, until the backoff is over.
    let state = world.known.organization_states.get_mut(&key).unwrap();
    state.parked = false;
    state.failures = 1;
    state.retry_after = Some(now + chrono::Duration::minutes(5));
    assert!(!may_need_matcher(&unchanged, &world.known, now));
    assert!(may_need_matcher(
        &unchanged,
        &world.known,
        now + chrono::Duration::minutes(6)
    ));
}

#[test]
fn without_the_persons_of_organizations_a_linked_contact_is_planned_and_a_new_one_waits() {
    let mut world = World::new(vec![customer()]).synced(0, 7);
    let second = second_contact(&world);
    world.customers[0].contacts.push(second.clone());
    world.with_persons_of = false;
    let customer = world.customers[0].clone();
    assert!(!may_need_persons_of(
        &customer,
        &customer.contacts[0],
        &world.known
    ));
    assert!(may_need_persons_of(&customer, &second, &world.known));
    // The contacts of a customer deleted before it was ever synced are never written.
    let mut never_synced = stranger();
    never_synced.deleted = true;
    assert!(!may_need_persons_of(&never_synced, &second, &world.known));
    let plan = world.plan();
    let persons = person_entries(&plan);
    assert_eq!(persons[0].action(), Action::Skip);
    assert_eq!(persons[1].action(), Action::Deferred, "{:#?}", persons[1]);
    assert!(persons[1].needs_index);

    world.with_persons_of = true;
    let persons = person_entries(&world.plan());
    assert_eq!(persons[1].action(), Action::Create, "{:#?}", persons[1]);
}

#[test]
fn claims_keep_each_organizations_latest_customer() {
    let mut claims = Claims::default();
    claims.insert(7, "0000004711");
    claims.insert(9, "0000000815");
    claims.insert(9, "0000000815");
    assert_eq!(claims.get(7), Some("0000004711"));
    claims.insert(7, "0000000042");
    assert_eq!(claims.get(7), Some("0000000042"));
    assert_eq!(claims.get(9), Some("0000000815"));
    assert_eq!(claims.get(8), None);
    let long = "ä".repeat(40_000);
    claims.insert(10, &long);
    let kept = claims.get(10).unwrap();
    assert!(kept.len() <= usize::from(u16::MAX) && long.starts_with(kept));
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
