//! Tests of the RFC source's pure parts: `[ecc.select]`, the time zone check, and the numbers
//! in the object ids of address change documents.

use super::*;

fn kna1(group: &str, country: &str, created: &str) -> Row {
    [("KTOKD", group), ("LAND1", country), ("ERDAT", created)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn each_select_key_admits_and_refuses_customers() {
    let everything = CustomerSelection::default();
    assert!(selected(
        &everything,
        &kna1("CPD", "XX", "19990101"),
        false,
        false
    ));
    assert!(selection_condition(&everything).is_empty());

    let groups = CustomerSelection {
        account_groups: vec!["0001".into()],
        ..Default::default()
    };
    assert!(selected(
        &groups,
        &kna1("0001", "DE", "20200101"),
        false,
        false
    ));
    assert!(!selected(
        &groups,
        &kna1("0002", "DE", "20200101"),
        false,
        false
    ));

    let excluded = CustomerSelection {
        exclude_account_groups: vec!["CPD".into()],
        ..Default::default()
    };
    assert!(!selected(
        &excluded,
        &kna1("CPD", "DE", "20200101"),
        true,
        true
    ));
    assert!(selected(
        &excluded,
        &kna1("0001", "DE", "20200101"),
        true,
        true
    ));

    let countries = CustomerSelection {
        countries: vec!["DE".into(), "AT".into()],
        ..Default::default()
    };
    assert!(selected(
        &countries,
        &kna1("0001", "AT", "20200101"),
        false,
        false
    ));
    assert!(!selected(
        &countries,
        &kna1("0001", "FR", "20200101"),
        false,
        false
    ));

    let company = CustomerSelection {
        only_with_company_code: true,
        ..Default::default()
    };
    assert!(selected(
        &company,
        &kna1("0001", "DE", "20200101"),
        true,
        false
    ));
    assert!(!selected(
        &company,
        &kna1("0001", "DE", "20200101"),
        false,
        true
    ));

    let area = CustomerSelection {
        only_with_sales_area: true,
        ..Default::default()
    };
    assert!(selected(
        &area,
        &kna1("0001", "DE", "20200101"),
        false,
        true
    ));
    assert!(!selected(
        &area,
        &kna1("0001", "DE", "20200101"),
        true,
        false
    ));

    let created = CustomerSelection {
        created_after: Some("20200101".into()),
        ..Default::default()
    };
    assert!(selected(
        &created,
        &kna1("0001", "DE", "20200102"),
        false,
        false
    ));
    assert!(!selected(
        &created,
        &kna1("0001", "DE", "20200101"),
        false,
        false
    ));

    let all = CustomerSelection {
        account_groups: vec!["0001".into()],
        exclude_account_groups: vec!["CPD".into()],
        countries: vec!["DE".into()],
        created_after: Some("20200101".into()),
        ..Default::default()
    };
    assert_eq!(
        selection_condition(&all).to_lines().unwrap().join(" "),
        "( KTOKD IN ( '0001' ) AND KTOKD NE 'CPD' AND LAND1 IN ( 'DE' ) AND ERDAT GT '20200101' )"
    );
}

#[test]
fn the_time_zone_check_compares_the_systems_zone_with_the_configured_one() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let new_york: Tz = "America/New_York".parse().unwrap();
    assert!(time_zone_check("CET", berlin).ok);
    assert!(time_zone_check("CET", "Europe/Vienna".parse().unwrap()).ok);
    let mismatch = time_zone_check("CET", new_york);
    assert!(!mismatch.ok);
    assert!(
        mismatch.detail.contains("CET") && mismatch.detail.contains("America/New_York"),
        "{}",
        mismatch.detail
    );
    assert!(!time_zone_check("UTC", berlin).ok);
    assert!(time_zone_check("EST", new_york).ok);
    assert!(
        time_zone_check("ZZZ", berlin).ok,
        "unknown zones are not failed"
    );
}

#[test]
fn object_ids_of_address_change_documents_give_their_numbers() {
    assert_eq!(numbers_in_object_id("BP  0000010042"), vec!["0000010042"]);
    assert_eq!(
        numbers_in_object_id("BP  00000100420000500001"),
        vec!["0000010042", "0000500001"]
    );
    assert_eq!(
        numbers_in_object_id("BC01 0000010042 0000500001"),
        vec!["0000010042", "0000500001"]
    );
    assert!(numbers_in_object_id("0000004711").len() == 1);
    assert!(numbers_in_object_id("BP  123").is_empty());
}
