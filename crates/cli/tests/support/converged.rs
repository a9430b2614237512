//! What the crash tests (kill, chaos) check once the connector has been killed many times and
//! a last sync ran to the end: no duplicate organization or person, every value equal to ECC's
//! truth (so no update was lost), every record's last audit event a final outcome, no create
//! intent left open, no run left "running". Also the seeded generator of kill moments.

use std::collections::{HashMap, HashSet};

use mlc_canonical::alpha_output;
use mlc_store::{Action, AuditQuery, EntityKind, ReviewStatus};
use mlc_testbed::Testbed;
use serde_json::Value;

/// A small seeded generator (xorshift64*): the same seed gives the same kill moments.
pub struct Moments(pub u64);

impl Moments {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Organizations and persons Pipedrive holds now.
pub fn creates_so_far(testbed: &Testbed) -> u64 {
    let stats = testbed.pipedrive.state().stats();
    (stats.organizations + stats.persons) as u64
}

/// Every write request Pipedrive's simulator has answered (creates, updates, deletes, whatever
/// the answer), so a run that only updates shows its writes too.
pub fn writes_so_far(testbed: &Testbed) -> u64 {
    let stats = testbed.pipedrive.state().stats();
    stats
        .requests
        .iter()
        .filter(|request| request.method != "GET")
        .map(|request| request.count)
        .sum()
}

/// What [`assert_converged`] found, for the test's summary line.
pub struct Converged {
    pub organizations: usize,
    pub persons: usize,
    /// Customers whose organization (and its persons) were compared with the truth.
    pub checked: usize,
    pub interrupted_runs: usize,
    /// Intents closed by the recovery after a kill, and of those, creates found done.
    pub recovered: usize,
    pub recovered_created: usize,
}

/// Checks Pipedrive and the store against ECC's truth after the last sync; panics naming the
/// first record that is wrong.
pub async fn assert_converged(testbed: &Testbed, customers: usize) -> Converged {
    // ── Runs: each killed run was marked interrupted by the process that took its lease ──
    let runs = testbed
        .store
        .runs(&mlc_store::RunQuery::default())
        .await
        .unwrap();
    let left_running: Vec<_> = runs
        .iter()
        .filter(|run| run.status == mlc_store::RunStatus::Running)
        .collect();
    assert!(
        left_running.is_empty(),
        "runs left running: {left_running:?}"
    );
    let interrupted_runs = runs
        .iter()
        .filter(|run| run.status == mlc_store::RunStatus::Interrupted)
        .count();

    // ── Pipedrive: no duplicates, right values ──
    let state = testbed.pipedrive.state();
    let resolver = {
        let engine = testbed.engine().await.unwrap();
        mlc_pipedrive::CustomFieldResolver::new(engine.client().clone())
    };
    let number_key = resolver
        .key(EntityKind::Organization, "ECC Customer Number")
        .await
        .unwrap();
    let contact_key = resolver
        .key(EntityKind::Person, "ECC Contact Number")
        .await
        .unwrap();
    let mut organizations: HashMap<String, Vec<Value>> = HashMap::new();
    for organization in state.organizations().into_iter().filter(|o| !o.is_deleted) {
        let number = organization.json["custom_fields"][&number_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        organizations
            .entry(number)
            .or_default()
            .push(organization.json);
    }
    let mut persons: HashMap<String, Vec<mlc_sim_pipedrive::StoredPerson>> = HashMap::new();
    for person in state.persons().into_iter().filter(|p| !p.is_deleted) {
        let number = person.json["custom_fields"][&contact_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        persons.entry(number).or_default().push(person);
    }
    let duplicate_organizations: Vec<&String> = organizations
        .iter()
        .filter(|(number, found)| !number.is_empty() && found.len() > 1)
        .map(|(number, _)| number)
        .collect();
    let duplicate_persons: Vec<&String> = persons
        .iter()
        .filter(|(number, found)| !number.is_empty() && found.len() > 1)
        .map(|(number, _)| number)
        .collect();
    assert!(
        duplicate_organizations.is_empty(),
        "duplicate organizations for customers {duplicate_organizations:?}"
    );
    assert!(
        duplicate_persons.is_empty(),
        "duplicate persons for contacts {duplicate_persons:?}"
    );
    assert!(
        !organizations.contains_key(""),
        "an organization without customer number was created"
    );

    let store = &testbed.store;
    let links: HashMap<String, i64> = store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    let pending: HashSet<String> = store
        .reviews("testbed", Some(ReviewStatus::Pending))
        .await
        .unwrap()
        .into_iter()
        .map(|review| review.ecc_key)
        .collect();
    // ── the audit trail: one final outcome per record, no open intent ──
    let open = store.open_intents("testbed").await.unwrap();
    assert!(open.is_empty(), "open intents remain: {open:?}");
    let events = store
        .audit(&AuditQuery {
            connection: Some("testbed".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut latest: HashMap<(EntityKind, String), &mlc_store::AuditEvent> = HashMap::new();
    for event in &events {
        let slot = latest
            .entry((event.kind, event.ecc_key.clone()))
            .or_insert(event);
        if event.id > slot.id {
            *slot = event;
        }
    }
    let truth = testbed.truth();
    let mut checked = 0;
    for record in &truth {
        let customer = &record.customer;
        let display = customer.customer_number.display().into_string();
        if record.dirty.is_some() || customer.deleted || customer.blocked {
            continue;
        }
        if pending.contains(customer.customer_number.as_str()) {
            continue;
        }
        let found = organizations.get(&display).unwrap_or_else(|| {
            panic!(
                "customer {display} (duplicate of {:?}) has no organization; linked to {:?}; last audit event: {:?}",
                record.duplicate_of,
                links.get(customer.customer_number.as_str()),
                latest.get(&(EntityKind::Organization, customer.customer_number.to_string()))
            )
        });
        let organization = &found[0];
        assert_eq!(organization["name"], customer.name.as_str(), "{display}");
        let part = |name: &str| {
            organization["address"][name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let address = &customer.billing_address;
        assert_eq!(part("postal_code"), address.postal_code, "{display}");
        assert_eq!(part("locality"), address.city, "{display}");
        // Pipedrive geocodes the parts ("Bahnhofstr." becomes "Bahnhofstraße"); the line
        // stays as sent.
        assert!(
            part("value").starts_with(address.street.trim()),
            "{display}: {}",
            part("value")
        );
        assert_eq!(
            links.get(customer.customer_number.as_str()),
            organization["id"].as_i64().as_ref(),
            "link of {display}"
        );
        for contact in &customer.contacts {
            let contact_display = alpha_output(&contact.contact_number);
            let person = persons
                .get(&contact_display)
                .and_then(|found| found.first())
                .unwrap_or_else(|| {
                    panic!(
                        "contact {contact_display} of customer {display} has no person; last audit event: {:?}",
                        latest.get(&(EntityKind::Person, contact.contact_number.clone()))
                    )
                });
            assert_eq!(
                person.org_id.map(|id| id as i64),
                organization["id"].as_i64(),
                "organization of contact {contact_display}"
            );
            let name = person.json["name"].as_str().unwrap_or_default();
            assert!(
                name.contains(contact.last_name.trim()),
                "name of contact {contact_display}: {name:?}, ECC's last name {:?}",
                contact.last_name
            );
        }
        checked += 1;
    }
    assert!(
        checked * 10 >= customers * 8,
        "only {checked} of {customers} customers checked"
    );

    let final_actions = [
        Action::Create,
        Action::Update,
        Action::Link,
        Action::Skip,
        Action::Review,
        Action::Error,
    ];
    for record in &truth {
        let customer = &record.customer;
        let key = (
            EntityKind::Organization,
            customer.customer_number.to_string(),
        );
        let event = latest.get(&key).unwrap_or_else(|| {
            panic!(
                "customer {} has no audit event",
                customer.customer_number.display().into_string()
            )
        });
        assert!(
            final_actions.contains(&event.action),
            "customer {}: last audit event is {:?} ({})",
            customer.customer_number,
            event.action,
            event.outcome
        );
        if record.dirty.is_some() {
            continue;
        }
        for contact in &customer.contacts {
            let key = (EntityKind::Person, contact.contact_number.clone());
            let event = latest
                .get(&key)
                .unwrap_or_else(|| panic!("contact {} has no audit event", contact.contact_number));
            // A person waits while its organization is in review: that is its answer.
            let waits_for_review = event.action == Action::Deferred
                && pending.contains(customer.customer_number.as_str());
            assert!(
                final_actions.contains(&event.action) || waits_for_review,
                "contact {}: last audit event is {:?} ({})",
                contact.contact_number,
                event.action,
                event.outcome
            );
        }
    }

    let recovered: Vec<Action> = events
        .iter()
        .filter(|event| event.source == "recovery")
        .map(|event| event.action)
        .collect();
    Converged {
        organizations: organizations.values().map(Vec::len).sum(),
        persons: persons.values().map(Vec::len).sum(),
        checked,
        interrupted_runs,
        recovered: recovered.len(),
        recovered_created: recovered
            .iter()
            .filter(|action| **action == Action::Create)
            .count(),
    }
}
