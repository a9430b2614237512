//! Extraction over OData (the simulator's ZMLC_CUSTOMER_SRV): the full read equals the truth
//! with server paging, with contacts expanded inline, against a service that ignores $top and
//! $skip; deltas by ChangedAt.

mod common;

use std::collections::BTreeSet;

use common::{
    acceptance_options, assert_deltas_follow_the_servers_clock, assert_matches_truth,
    assert_no_hidden_communication, changed_customers, collect, config, server_behind_options,
    spawn,
};
use mlc_ecc::Extractor;
use mlc_sim_ecc::MutationRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_extract_over_odata_equals_the_truth() {
    let mut options = acceptance_options(800);
    // The server cuts pages at 70 entities: the reader must follow __next inside each window.
    options.page_size = 70;
    let sim = spawn(options).await;
    // Contacts from the contact set by customer number (no $expand).
    let config = config(
        &sim,
        "odata",
        &[("page_size", "200"), ("expand_contacts", "\"\"")],
    );
    let extractor = Extractor::connect(&config).await.unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    assert!(collected
        .records
        .iter()
        .all(|record| record.source == "odata:CustomerSet"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_expanded_inline_and_a_service_that_ignores_paging() {
    let mut options = acceptance_options(250);
    options.odata_ignore_paging = true;
    let sim = spawn(options).await;
    let config = config(
        &sim,
        "odata",
        &[("page_size", "100"), ("expand_contacts", "\"ToContacts\"")],
    );
    let extractor = Extractor::connect(&config).await.unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odata_delta_returns_the_customers_changed_since_the_cursor() {
    let sim = spawn(acceptance_options(200)).await;
    let config = config(&sim, "odata", &[]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let cursor = extractor.cursor_now();
    let quiet = collect(extractor.delta(&cursor)).await.unwrap();
    assert!(quiet.records.is_empty());
    let report = sim.mutate(&MutationRequest {
        customers: 4,
        contacts: 3,
        address_only: 2,
        seed: 5,
    });
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    assert_eq!(delta.customer_numbers(), changed_customers(&report));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_ignores_filter_still_gives_exact_reads_and_deltas() {
    let mut options = acceptance_options(120);
    options.odata_ignore_filter = true;
    let sim = spawn(options).await;
    let config = config(&sim, "odata", &[]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let truth = sim.truth();
    let wanted: Vec<String> = truth
        .iter()
        .filter(|record| record.dirty.is_none())
        .skip(3)
        .take(2)
        .map(|record| record.customer.customer_number.to_string())
        .collect();
    let batch = extractor.customers(&wanted).await.unwrap();
    let got: Vec<String> = batch
        .records
        .iter()
        .map(|record| record.customer.customer_number.to_string())
        .collect();
    assert_eq!(got, wanted);
    let cursor = extractor.cursor_now();
    let report = sim.mutate(&MutationRequest {
        customers: 3,
        contacts: 0,
        address_only: 0,
        seed: 9,
    });
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got: BTreeSet<String> = delta
        .records
        .iter()
        .map(|record| record.customer.customer_number.to_string())
        .collect();
    let expected: BTreeSet<String> = report.customers.iter().cloned().collect();
    assert_eq!(got, expected);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_metadata_and_names_a_mapped_property_the_service_lacks() {
    let sim = spawn(acceptance_options(10)).await;
    let metadata_line = |lines: Vec<mlc_ecc::CheckLine>| {
        lines
            .into_iter()
            .find(|line| line.name == "ecc odata metadata")
            .expect("a metadata line")
    };
    let extractor = Extractor::connect(&config(&sim, "odata", &[]))
        .await
        .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(line.ok, "{}", line.detail);

    let extractor = Extractor::connect(&config(
        &sim,
        "odata",
        &[
            ("department", "\"Departmnt\""),
            ("contact_set", "\"ContactSet\""),
        ],
    ))
    .await
    .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(!line.ok);
    assert!(
        line.detail.contains("ecc.odata.contact_set") && line.detail.contains("ContactPersonSet"),
        "{}",
        line.detail
    );
    let extractor = Extractor::connect(&config(&sim, "odata", &[("department", "\"Departmnt\"")]))
        .await
        .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(!line.ok);
    assert!(
        line.detail
            .contains("ecc.odata.contact_properties.department")
            && line.detail.contains("Departmnt")
            && line.detail.contains("nearest property is Department"),
        "{}",
        line.detail
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odata_delta_follows_a_gateway_clock_two_hours_behind() {
    let sim = spawn(server_behind_options(150)).await;
    let config = config(&sim, "odata", &[]);
    assert_deltas_follow_the_servers_clock(&sim, &config, || async {
        Extractor::connect(&config).await.unwrap()
    })
    .await;
    sim.shutdown().await;
}
