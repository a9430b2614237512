//! The product end to end against both simulators: ECC customers and contacts in, the right
//! Pipedrive organizations and persons out, never twice, with an answer for every record.

use std::collections::{BTreeMap, HashMap};

use mlc_canonical::alpha_output;
use mlc_engine::{NoProgress, RunMode, RunOptions, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, AuditQuery, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

fn field_key(fields: &[mlc_pipedrive::ResolvedField], name: &str) -> String {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| field.key.clone())
        .unwrap_or_else(|| panic!("setup resolved no field {name}"))
}

fn organizations_by_number(testbed: &Testbed, number_key: &str) -> HashMap<String, Vec<Value>> {
    let mut by_number: HashMap<String, Vec<Value>> = HashMap::new();
    for organization in testbed.pipedrive.state().organizations() {
        if organization.is_deleted {
            continue;
        }
        let number = organization.json["custom_fields"][number_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        by_number.entry(number).or_default().push(organization.json);
    }
    by_number
}

async fn sync(engine: &SyncEngine, mode: RunMode) -> mlc_engine::RunSummary {
    engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_creates_links_and_audits_then_costs_nothing_then_follows_changes() {
    // CI runs a small load; MLC_E2E_CUSTOMERS=3000 MLC_E2E_HAND_TYPED=300 is the scale.
    let scale = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let mut options = TestbedOptions::new(scale("MLC_E2E_CUSTOMERS", 240), 11);
    options.hand_typed = scale("MLC_E2E_HAND_TYPED", 24);
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");
    let contact_key = field_key(&fields, "ECC Contact Number");

    // ── first sync ──
    let first = sync(&engine, RunMode::Delta).await;
    assert_ne!(first.status, RunStatus::Failed, "{first:?}");
    let truth = testbed.truth();
    let by_number = organizations_by_number(&testbed, &number_key);
    let links: HashMap<String, i64> = testbed
        .store
        .links("testbed", mlc_store::EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    let pending_reviews: Vec<String> = testbed
        .store
        .reviews("testbed", Some(mlc_store::ReviewStatus::Pending))
        .await
        .unwrap()
        .into_iter()
        .map(|review| review.ecc_key)
        .collect();

    let mut checked = 0;
    for record in &truth {
        let customer = &record.customer;
        let display = customer.customer_number.display().into_string();
        if record.dirty.is_some() || customer.deleted || customer.blocked {
            assert!(
                !by_number.contains_key(&display) || record.dirty.is_none(),
                "dirty customer {display} ({:?}) reached Pipedrive: {:?}",
                record.dirty,
                by_number.get(&display)
            );
            continue;
        }
        if pending_reviews.contains(&customer.customer_number.to_string()) {
            assert!(
                !links.contains_key(customer.customer_number.as_str()),
                "customer {display} is both linked and in review"
            );
            continue;
        }
        let organizations = by_number
            .get(&display)
            .unwrap_or_else(|| panic!("customer {display} has no organization"));
        assert_eq!(
            organizations.len(),
            1,
            "customer {display} has {} organizations",
            organizations.len()
        );
        let organization = &organizations[0];
        assert_eq!(
            organization["name"],
            customer.name.as_str(),
            "name of {display}"
        );
        // Pipedrive keeps a blank address part as null.
        let part = |name: &str| {
            organization["address"][name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            part("postal_code"),
            customer.billing_address.postal_code,
            "postal code of {display}"
        );
        assert_eq!(
            part("locality"),
            customer.billing_address.city,
            "city of {display}"
        );
        // Pipedrive geocodes the parts ("High St." becomes "High Street"); the line stays as
        // sent.
        assert!(
            part("value").starts_with(customer.billing_address.street.trim()),
            "street of {display}: {}",
            part("value")
        );
        assert_eq!(
            links.get(customer.customer_number.as_str()),
            organization["id"].as_i64().as_ref()
        );
        checked += 1;
    }
    assert!(checked > 150, "only {checked} customers checked");

    // The hand-typed organizations were linked (or queued for review), never duplicated.
    let mut missed = Vec::new();
    for typed in &testbed.hand_typed {
        let linked = links.get(&typed.customer_number).copied();
        let reviewed = pending_reviews.contains(&typed.customer_number.to_string());
        if linked != Some(typed.organization_id as i64) && !reviewed {
            let customer = truth
                .iter()
                .find(|record| record.customer.customer_number.as_str() == typed.customer_number)
                .map(|record| record.customer.name.clone())
                .unwrap_or_default();
            missed.push(format!(
                "customer {} {customer:?}: hand-typed {:?} (organization {}) not linked; linked to {linked:?}",
                mlc_canonical::alpha_output(&typed.customer_number),
                typed.typed_name,
                typed.organization_id
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {} hand-typed organizations missed:\n{}",
        missed.len(),
        testbed.hand_typed.len(),
        missed.join("\n")
    );
    let linked_count = testbed
        .hand_typed
        .iter()
        .filter(|typed| links.get(&typed.customer_number) == Some(&(typed.organization_id as i64)))
        .count();
    assert!(
        linked_count * 2 >= testbed.hand_typed.len(),
        "only {linked_count} hand-typed linked"
    );

    // Persons belong to their organizations.
    let persons = testbed.pipedrive.state().persons();
    let mut persons_by_number: HashMap<String, Vec<&mlc_sim_pipedrive::StoredPerson>> =
        HashMap::new();
    for person in persons.iter().filter(|person| !person.is_deleted) {
        let number = person.json["custom_fields"][&contact_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        persons_by_number.entry(number).or_default().push(person);
    }
    for record in &truth {
        let Some(org_id) = links.get(record.customer.customer_number.as_str()) else {
            continue;
        };
        if record.dirty.is_some() {
            continue;
        }
        for contact in &record.customer.contacts {
            let display = alpha_output(&contact.contact_number);
            let found = persons_by_number
                .get(&display)
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(
                found.len(),
                1,
                "contact {display} has {} persons",
                found.len()
            );
            assert_eq!(
                found[0].org_id,
                Some(*org_id as u64),
                "person of contact {display}"
            );
        }
    }

    // Dirty records are errors in the audit, with their reason.
    for record in truth.iter().filter(|record| record.dirty.is_some()) {
        let events = testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(record.customer.customer_number.to_string()),
                action: Some(Action::Error),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            events.iter().any(|event| event.error.is_some()),
            "dirty customer {} ({:?}) has no error in the audit",
            record.customer.customer_number.display().into_string(),
            record.dirty
        );
    }

    // ── a second sync with no change in ECC spends nothing ──
    let requests_before = testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .map(|r| r.count)
        .sum::<u64>();
    let second = sync(&engine, RunMode::Delta).await;
    let requests_after = testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .map(|r| r.count)
        .sum::<u64>();
    assert_eq!(second.tokens_used, 0, "{second:?}");
    assert_eq!(
        requests_after, requests_before,
        "a no-change poll called Pipedrive"
    );

    // ── a salesperson's own field survives the connector's updates ──
    let notes_key = testbed
        .pipedrive
        .state()
        .create_custom_field("organization", "Sales Notes", "text", &[])
        .unwrap();
    let report = testbed.ecc.mutate(&MutationRequest {
        customers: 10,
        contacts: 10,
        address_only: 0,
        seed: 3,
    });
    let mut noted = BTreeMap::new();
    for number in &report.customers {
        if let Some(id) = links.get(number) {
            testbed
                .pipedrive
                .state()
                .ui_edit(&serde_json::json!({
                    "entity": "organization", "id": id, "action": "change",
                    "changes": {"custom_fields": {notes_key.clone(): "call back in May"}}
                }))
                .unwrap();
            noted.insert(*id, number.clone());
        }
    }
    let stats_before = testbed.pipedrive.state().stats();
    let third = sync(&engine, RunMode::Delta).await;
    assert_ne!(third.status, RunStatus::Failed, "{third:?}");
    let stats_after = testbed.pipedrive.state().stats();
    let creates = stats_after.count("POST", "/api/v2/organizations", 201)
        - stats_before.count("POST", "/api/v2/organizations", 201);
    let patches = stats_after.count("PATCH", "/api/v2/organizations/{id}", 200)
        - stats_before.count("PATCH", "/api/v2/organizations/{id}", 200);
    assert_eq!(creates, 0, "changes must not create organizations");
    assert!(
        patches as usize <= report.customers.len(),
        "{patches} PATCHes for {} changed customers",
        report.customers.len()
    );
    let truth_after: HashMap<String, mlc_canonical::Customer> = testbed
        .truth()
        .into_iter()
        .map(|record| (record.customer.customer_number.to_string(), record.customer))
        .collect();
    for (id, number) in &noted {
        let organization = testbed.pipedrive.state().organization(*id as u64).unwrap();
        let customer = &truth_after[number];
        assert_eq!(
            organization.json["name"],
            customer.name.as_str(),
            "name of {number} after the change"
        );
        assert_eq!(
            organization.json["custom_fields"][&notes_key], "call back in May",
            "the salesperson's field on organization {id} was touched"
        );
    }
    testbed.shutdown().await;
}
