//! A company's own Gateway service (the simulator's `--odata-custom-service`): addresses in a
//! complex type, payment terms behind a navigation, numbers without leading zeros, the last
//! change as a date (and a local time). The extract equals the truth field by field, `check`
//! names a path the service lacks, and deltas read the date as a date.

mod common;

use common::{
    acceptance_options, assert_matches_truth, assert_no_hidden_communication, changed_customers,
    collect, config_with_lines, spawn,
};
use mlc_config::EccConfig;
use mlc_ecc::Extractor;
use mlc_sim_ecc::{MutationRequest, SpawnedEcc};

const CUSTOMER_PATHS: &[(&str, &str)] = &[
    ("street", "Address/Street"),
    ("house_number", "Address/HouseNumber"),
    ("postal_code", "Address/PostalCode"),
    ("city", "Address/City"),
    ("region", "Address/Region"),
    ("country", "Address/Country"),
    ("ship_to_street", "ShipToAddress/Street"),
    ("ship_to_house_number", "ShipToAddress/HouseNumber"),
    ("ship_to_postal_code", "ShipToAddress/PostalCode"),
    ("ship_to_city", "ShipToAddress/City"),
    ("ship_to_region", "ShipToAddress/Region"),
    ("ship_to_country", "ShipToAddress/Country"),
    ("payment_terms", "ToPaymentTerms/PaymentTerms"),
    ("payment_terms_text", "ToPaymentTerms/PaymentTermsText"),
];

async fn custom_service(customers: usize) -> SpawnedEcc {
    let mut options = acceptance_options(customers);
    options.odata_custom_service = true;
    // Server paging cuts inside each window, so `__next` is followed too.
    options.page_size = 70;
    spawn(options).await
}

/// `[ecc]` for the custom service: `paths` over `CUSTOMER_PATHS`, and `overrides` of `[ecc]`.
fn custom_config(
    sim: &SpawnedEcc,
    overrides: &[(&str, &str)],
    replaced: &[(&str, &str)],
) -> EccConfig {
    let lines: Vec<String> = CUSTOMER_PATHS
        .iter()
        .map(|(field, path)| {
            let path = replaced
                .iter()
                .find(|(replaced, _)| replaced == field)
                .map_or(*path, |(_, path)| *path);
            format!("{field} = \"{path}\"")
        })
        .collect();
    let lines: Vec<(&str, &str)> = lines
        .iter()
        .map(|line| ("[ecc.odata.customer_properties]", line.as_str()))
        .collect();
    let mut all = vec![
        ("page_size", "200"),
        ("changed_at_property", "\"ChangedOn\""),
    ];
    all.extend_from_slice(overrides);
    config_with_lines(sim, "odata", &all, &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_addresses_in_a_complex_type_and_numbers_without_zeros_equals_the_truth() {
    let sim = custom_service(300).await;
    // The service really is shaped so: a number without leading zeros, an Address object.
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet?$top=1&$format=json&sap-client=100",
            sim.base_url()
        ))
        .basic_auth(sim.user(), Some(sim.password()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &page["d"]["results"][0];
    let number = first["CustomerNumber"].as_str().unwrap();
    assert!(!number.starts_with('0'), "{number}");
    assert!(first["Address"]["City"].is_string(), "{first}");
    assert!(first.get("City").is_none());

    // Contacts inline, from the contact set, both: the truth field by field.
    for expand in ["\"ToContacts\"", "\"\""] {
        let config = custom_config(&sim, &[("expand_contacts", expand)], &[]);
        let extractor = Extractor::connect(&config).await.unwrap();
        let collected = collect(extractor.full()).await.unwrap();
        assert_matches_truth(&collected, &sim.truth());
        assert_no_hidden_communication(&collected, &sim.hidden_communication());
        assert!(collected
            .records
            .iter()
            .any(|record| record.customer.payment_terms.is_some()
                && record.customer.shipping_address.is_some()));

        // Customers asked for by their internal numbers are found by the service's.
        let wanted: Vec<String> = sim
            .truth()
            .iter()
            .filter(|record| record.dirty.is_none())
            .skip(5)
            .take(3)
            .map(|record| record.customer.customer_number.to_string())
            .collect();
        let batch = extractor.customers(&wanted).await.unwrap();
        let got: Vec<String> = batch
            .records
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .collect();
        assert_eq!(got, wanted);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_follows_paths_through_the_complex_type_and_names_the_missing_step() {
    let sim = custom_service(10).await;
    let metadata_line = |lines: Vec<mlc_ecc::CheckLine>| {
        lines
            .into_iter()
            .find(|line| line.name == "ecc odata metadata")
            .expect("a metadata line")
    };
    let extractor = Extractor::connect(&custom_config(&sim, &[], &[]))
        .await
        .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(line.ok, "{}", line.detail);
    assert!(line.detail.contains("date only"), "{}", line.detail);

    let extractor = Extractor::connect(&custom_config(
        &sim,
        &[],
        &[("city", "Address/Citty"), ("street", "Adress/Street")],
    ))
    .await
    .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(!line.ok);
    assert!(
        line.detail.contains(
            "ecc.odata.customer_properties.city = \"Address/Citty\": Address has no property Citty; the nearest property is City"
        ),
        "{}",
        line.detail
    );
    assert!(
        line.detail.contains("ecc.odata.customer_properties.street")
            && line.detail.contains("nearest property is Address"),
        "{}",
        line.detail
    );
    // The flat name of the standard service is named with the complex property it moved into.
    let extractor = Extractor::connect(&custom_config(&sim, &[], &[("city", "City")]))
        .await
        .unwrap();
    let line = metadata_line(extractor.check().await);
    assert!(!line.ok && line.detail.contains("Customer has no property City"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_date_without_time_is_read_as_a_date_with_a_day_of_overlap() {
    let sim = custom_service(150).await;
    let extractor = Extractor::connect(&custom_config(&sim, &[], &[]))
        .await
        .unwrap();
    let cursor = extractor.cursor_now();
    let report = sim.mutate(&MutationRequest {
        customers: 4,
        contacts: 2,
        address_only: 0,
        seed: 11,
    });
    let expected = changed_customers(&report);
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got = delta.customer_numbers();
    assert!(
        got.is_superset(&expected),
        "{got:?} lacks some of {expected:?}"
    );
    // A date cannot tell a second change on the same day: the next poll reads them again.
    let again = collect(extractor.delta(delta.cursor.as_ref().unwrap()))
        .await
        .unwrap();
    let again = again.customer_numbers();
    assert!(again.is_superset(&expected));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_date_and_local_time_in_two_properties_give_exact_deltas() {
    let sim = custom_service(150).await;
    let config = custom_config(&sim, &[("changed_time_property", "\"ChangedTime\"")], &[]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let cursor = extractor.cursor_now();
    let quiet = collect(extractor.delta(&cursor)).await.unwrap();
    assert!(quiet.records.is_empty() && quiet.rejected.is_empty());
    let report = sim.mutate(&MutationRequest {
        customers: 4,
        contacts: 2,
        address_only: 0,
        seed: 12,
    });
    let delta = collect(extractor.delta(&cursor)).await.unwrap();
    let got = delta.customer_numbers();
    assert_eq!(got, changed_customers(&report));
    // Seen once: the next poll over the same window returns nothing.
    let again = collect(extractor.delta(delta.cursor.as_ref().unwrap()))
        .await
        .unwrap();
    assert!(again.records.is_empty(), "{:?}", again.records.len());
    sim.shutdown().await;
}
