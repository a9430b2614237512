//! Deltas against the simulator: after SAP-style changes, a delta read returns exactly the
//! customers whose change documents say so (contact changes mapped to their customer), a second
//! poll returns nothing new; address-only changes come through their ADRESSE change documents,
//! or, on a system that writes none, through the full reconciliation.

mod common;

use std::collections::BTreeSet;

use common::{
    acceptance_options, assert_deltas_follow_the_servers_clock, assert_matches_truth,
    changed_customers, collect, config, server_behind_options, spawn,
};
use mlc_ecc::{DeltaCursor, Extractor};
use mlc_sim_ecc::MutationRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_returns_the_changed_customers_and_a_full_read_the_address_only_changes() {
    // A system that writes no Business Address Services change documents: address-only edits
    // are for the full reconciliation.
    let mut options = acceptance_options(300);
    options.no_address_change_documents = true;
    let sim = spawn(options).await;
    let config = config(&sim, "soap-rfc", &[("rows_per_call", "100")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let initial = collect(extractor.full()).await.unwrap();
    let cursor = initial.cursor.clone().expect("a full read yields a cursor");

    // Nothing changed yet: the delta is empty.
    let quiet = collect(extractor.delta(&cursor)).await.unwrap();
    assert!(
        quiet.records.is_empty() && quiet.rejected.is_empty(),
        "{:?}",
        quiet.records.len()
    );

    let report = sim.mutate(&MutationRequest {
        customers: 6,
        contacts: 5,
        address_only: 4,
        seed: 11,
    });
    let created = sim.create(2);
    let mut expected = changed_customers(&report);
    expected.extend(created.iter().cloned());
    let dirty: BTreeSet<String> = sim
        .truth()
        .into_iter()
        .filter(|record| record.dirty.is_some())
        .map(|record| record.customer.customer_number.into_string())
        .collect();

    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got = delta.customer_numbers();
    assert_eq!(
        got, expected,
        "the delta returns exactly the changed and created customers"
    );
    for address_only in &report.address_only {
        if !expected.contains(address_only) {
            assert!(
                !got.contains(address_only),
                "an address-only change wrote no change document"
            );
        }
    }
    assert!(got.iter().all(|number| !dirty.contains(number)
        || delta.rejected.iter().any(|p| &p.customer_number == number)));

    // The changed records are current: equal to the truth now.
    let truth = sim.truth();
    for record in &delta.records {
        let want = truth
            .iter()
            .find(|truth| truth.customer.customer_number == record.customer.customer_number)
            .unwrap();
        assert_eq!(
            record.customer.organization_hash(),
            want.customer.organization_hash(),
            "{}",
            record.customer.customer_number
        );
    }

    // The next poll from the new cursor re-reads the overlap window but returns nothing twice.
    let next_cursor = delta.cursor.clone().expect("the delta yields a cursor");
    let stored = DeltaCursor::decode(&next_cursor.encode()).unwrap();
    let again = collect(extractor.delta(&stored)).await.unwrap();
    assert!(
        again.records.is_empty(),
        "already returned: {:?}",
        again
            .records
            .iter()
            .map(|r| &r.customer.customer_number)
            .collect::<Vec<_>>()
    );

    // A full reconciliation reads everything as it is now, address-only changes included.
    let full = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&full, &truth);
    for number in &report.address_only {
        let before = initial
            .records
            .iter()
            .find(|record| record.customer.customer_number.as_str() == number);
        let after = full
            .records
            .iter()
            .find(|record| record.customer.customer_number.as_str() == number);
        if let (Some(before), Some(after)) = (before, after) {
            assert_ne!(
                before.customer.content_hash(),
                after.customer.content_hash(),
                "address-only change of {number} is seen"
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_only_changes_reach_the_delta_through_their_adresse_change_documents() {
    let sim = spawn(acceptance_options(300)).await;
    let config = config(&sim, "soap-rfc", &[("rows_per_call", "100")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let initial = collect(extractor.full()).await.unwrap();
    let cursor = initial.cursor.clone().expect("a full read yields a cursor");
    let report = sim.mutate(&MutationRequest {
        customers: 0,
        contacts: 0,
        address_only: 6,
        seed: 5,
    });
    assert_eq!(report.address_only.len(), 6);
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got = delta.customer_numbers();
    let expected: BTreeSet<String> = report.address_only.iter().cloned().collect();
    assert_eq!(got, expected, "every address-only change, nothing else");
    let truth = sim.truth();
    for record in &delta.records {
        let want = truth
            .iter()
            .find(|truth| truth.customer.customer_number == record.customer.customer_number)
            .unwrap();
        assert_eq!(record.customer, {
            let mut want = want.customer.clone();
            want.contacts
                .sort_by(|a, b| a.contact_number.cmp(&b.contact_number));
            want
        });
    }
    // Read once: the next poll re-reads the overlap window and returns nothing again.
    let again = collect(extractor.delta(delta.cursor.as_ref().unwrap()))
        .await
        .unwrap();
    assert!(again.records.is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_rfc_delta_follows_a_server_clock_two_hours_behind() {
    let sim = spawn(server_behind_options(150)).await;
    let config = config(&sim, "soap-rfc", &[]);
    assert_deltas_follow_the_servers_clock(&sim, &config, || async {
        Extractor::connect(&config).await.unwrap()
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ship_to_partners_address_change_reaches_the_delta_for_the_customers_it_ships_to() {
    let sim = spawn(acceptance_options(300)).await;
    let config = config(&sim, "soap-rfc", &[("rows_per_call", "100")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let initial = collect(extractor.full()).await.unwrap();
    let cursor = initial.cursor.clone().expect("a full read yields a cursor");
    let report = sim.mutate(&MutationRequest {
        customers: 0,
        contacts: 0,
        address_only: 60,
        seed: 11,
    });
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got = delta.customer_numbers();
    // Every customer read before whose record now differs: those whose address changed, and
    // those whose ship-to partner is one of them (a customer's shipping address is its
    // partner's, and the change documents name the partner only).
    let truth = sim.truth();
    let sorted = |customer: &mlc_canonical::Customer| {
        let mut customer = customer.clone();
        customer
            .contacts
            .sort_by(|a, b| a.contact_number.cmp(&b.contact_number));
        customer
    };
    let changed: BTreeSet<String> = initial
        .records
        .iter()
        .filter(|read| {
            truth
                .iter()
                .find(|truth| truth.customer.customer_number == read.customer.customer_number)
                .is_some_and(|truth| sorted(&truth.customer) != sorted(&read.customer))
        })
        .map(|read| read.customer.customer_number.to_string())
        .collect();
    let shipped_to: Vec<&String> = changed
        .iter()
        .filter(|number| !report.address_only.contains(number))
        .collect();
    assert!(
        !shipped_to.is_empty(),
        "the seed must change the address of some customer's ship-to partner"
    );
    for number in &changed {
        assert!(
            got.contains(number),
            "customer {number} changed but the delta did not read it (ship-to of a changed \
             partner: {})",
            shipped_to.contains(&number)
        );
    }
    sim.shutdown().await;
}
