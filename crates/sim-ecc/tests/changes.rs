//! Changes made through the admin endpoints: change documents where SAP writes them, in the
//! server's local time, none for BAS-only edits; the truth follows every change.

mod common;

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDateTime, Utc};
use common::{Ecc, ReadTable};
use mlc_sim_ecc::SimEccOptions;

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn ecc(timezone: &str) -> Ecc {
    let mut options = SimEccOptions::for_tests(60, 21);
    options.timezone = timezone.into();
    Ecc::start(options).await
}

#[tokio::test]
async fn mutations_write_change_documents_in_server_local_time_and_move_the_truth() {
    let ecc = ecc("America/New_York").await;
    let before: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    let report = ecc
        .admin(
            "/_sim/mutate",
            serde_json::json!({"customers": 5, "contacts": 4, "address_only": 3, "seed": 1}),
        )
        .await;
    let customers = strings(&report["customers"]);
    let address_only = strings(&report["address_only"]);
    let contact_owners: Vec<String> = report["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["customer_number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        (customers.len(), address_only.len(), contact_owners.len()),
        (5, 3, 4)
    );

    let after: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    for number in customers.iter().chain(&address_only) {
        assert_ne!(
            before[number].customer, after[number].customer,
            "truth of {number} changed"
        );
    }
    for contact in report["contacts"].as_array().unwrap() {
        let owner = contact["customer_number"].as_str().unwrap();
        let number = contact["contact_number"].as_str().unwrap();
        let old = before[owner]
            .customer
            .contacts
            .iter()
            .find(|c| c.contact_number == number)
            .unwrap();
        let new = after[owner]
            .customer
            .contacts
            .iter()
            .find(|c| c.contact_number == number)
            .unwrap();
        assert_ne!(old, new);
    }

    let headers = ecc
        .read_table(&ReadTable {
            options: &["OBJECTCLAS = 'DEBI' AND UDATE GE '20260101'"],
            ..ReadTable::new(
                "CDHDR",
                &[
                    "OBJECTID",
                    "CHANGENR",
                    "UDATE",
                    "UTIME",
                    "TCODE",
                    "CHANGE_IND",
                ],
            )
        })
        .await
        .unwrap();
    let documented: BTreeSet<String> = headers
        .rows
        .iter()
        .map(|row| row["OBJECTID"].clone())
        .collect();
    let expected: BTreeSet<String> = customers.iter().chain(&contact_owners).cloned().collect();
    assert_eq!(
        documented, expected,
        "change documents for XD02/VAP2 edits, none for BAS-only edits"
    );
    for number in &address_only {
        if !contact_owners.contains(number) {
            assert!(!documented.contains(number));
        }
    }
    let local_now = Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .naive_local();
    for row in &headers.rows {
        let stamp = NaiveDateTime::parse_from_str(
            &format!("{}{}", row["UDATE"], row["UTIME"]),
            "%Y%m%d%H%M%S",
        )
        .unwrap();
        assert!(
            (local_now - stamp).num_seconds().abs() < 120,
            "UDATE/UTIME {stamp} is New York time, now {local_now}"
        );
        assert_eq!(row["CHANGE_IND"], "U");
    }

    let items = ecc
        .read_table(&ReadTable {
            options: &["OBJECTCLAS = 'DEBI'"],
            ..ReadTable::new(
                "CDPOS",
                &[
                    "OBJECTID", "CHANGENR", "TABNAME", "TABKEY", "FNAME", "CHNGIND",
                ],
            )
        })
        .await
        .unwrap();
    let both_values = ReadTable::new("CDPOS", &["CHANGENR", "VALUE_OLD", "VALUE_NEW"]);
    assert_eq!(
        ecc.read_table(&both_values).await.unwrap_err().exception,
        "DATA_BUFFER_EXCEEDED",
        "CDPOS values come one at a time"
    );
    let old_values = knvk_values(&ecc, "VALUE_OLD").await;
    let new_values = knvk_values(&ecc, "VALUE_NEW").await;
    let knvk_items: Vec<_> = items
        .rows
        .iter()
        .filter(|row| row["TABNAME"] == "KNVK")
        .collect();
    assert_eq!(
        knvk_items.len(),
        4,
        "contact edits are logged under DEBI with TABNAME KNVK"
    );
    for item in &knvk_items {
        assert!(["NAME1", "ABTPA", "PAFKT"].contains(&item["FNAME"].as_str()));
        assert!(item["TABKEY"].starts_with(ecc.sim.client()));
        assert_ne!(old_values[&item["CHANGENR"]], new_values[&item["CHANGENR"]]);
    }
    for row in items.rows.iter().filter(|row| row["TABNAME"] == "KNA1") {
        assert_eq!(
            row["TABKEY"],
            format!("{}{}", ecc.sim.client(), row["OBJECTID"])
        );
    }
}

/// CHANGENR → one value column of the KNVK change items (each contact edit writes one).
async fn knvk_values(ecc: &Ecc, field: &str) -> HashMap<String, String> {
    let fields = ["CHANGENR", field];
    let answer = ecc
        .read_table(&ReadTable {
            options: &["TABNAME = 'KNVK'"],
            ..ReadTable::new("CDPOS", &fields)
        })
        .await
        .unwrap();
    answer
        .rows
        .into_iter()
        .map(|row| (row["CHANGENR"].clone(), row[field].clone()))
        .collect()
}

#[tokio::test]
async fn created_customers_carry_todays_date_and_an_insert_document() {
    let ecc = ecc("Asia/Tokyo").await;
    let created = ecc
        .admin("/_sim/create", serde_json::json!({"count": 3}))
        .await;
    let numbers = strings(&created["created"]);
    assert_eq!(numbers.len(), 3);
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%Y%m%d")
        .to_string();
    let clause = format!("ERDAT = '{today}'");
    let rows = ecc
        .read_table(&ReadTable {
            options: &[&clause],
            ..ReadTable::new("KNA1", &["KUNNR", "ERDAT"])
        })
        .await
        .unwrap();
    let found: BTreeSet<String> = rows.rows.iter().map(|row| row["KUNNR"].clone()).collect();
    assert_eq!(found, numbers.iter().cloned().collect());
    let headers = ecc
        .read_table(&ReadTable {
            options: &["CHANGE_IND = 'I'"],
            ..ReadTable::new("CDHDR", &["OBJECTID", "TCODE"])
        })
        .await
        .unwrap();
    assert_eq!(headers.rows.len(), 3);
    assert!(headers.rows.iter().all(|row| row["TCODE"] == "XD01"));
    let truth: BTreeSet<String> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| r.customer.customer_number.into_string())
        .collect();
    assert!(numbers.iter().all(|number| truth.contains(number)));
}

#[tokio::test]
async fn deletion_sets_loevm_with_a_change_document() {
    let ecc = ecc("Europe/Berlin").await;
    let deleted = strings(
        &ecc.admin("/_sim/delete", serde_json::json!({"count": 2}))
            .await["deleted"],
    );
    assert_eq!(deleted.len(), 2);
    let truth: HashMap<String, bool> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.into_string(), r.customer.deleted))
        .collect();
    assert!(deleted.iter().all(|number| truth[number]));
    let items = ecc
        .read_table(&ReadTable {
            options: &["FNAME = 'LOEVM'"],
            ..ReadTable::new("CDPOS", &["OBJECTID", "VALUE_NEW"])
        })
        .await
        .unwrap();
    let documented: BTreeSet<String> = items
        .rows
        .iter()
        .map(|row| row["OBJECTID"].clone())
        .collect();
    assert_eq!(documented, deleted.into_iter().collect());
    assert!(items.rows.iter().all(|row| row["VALUE_NEW"] == "X"));
}

#[tokio::test]
async fn deleting_contacts_removes_their_knvk_rows_with_a_change_document() {
    let ecc = ecc("Europe/Berlin").await;
    let before: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    let answer = ecc
        .admin("/_sim/delete_contacts", serde_json::json!({"count": 3}))
        .await;
    let deleted: Vec<mlc_sim_ecc::ContactChange> =
        serde_json::from_value(answer["deleted"].clone()).unwrap();
    assert_eq!(deleted.len(), 3);
    let after: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    for change in &deleted {
        let had = |truth: &HashMap<String, mlc_sim_ecc::TruthRecord>| {
            truth[&change.customer_number]
                .customer
                .contacts
                .iter()
                .any(|contact| contact.contact_number == change.contact_number)
        };
        assert!(had(&before), "{change:?} was a contact of its customer");
        assert!(!had(&after), "{change:?} is gone from the truth");
        let clause = format!("PARNR = '{}'", change.contact_number);
        let rows = ecc
            .read_table(&ReadTable {
                options: &[&clause],
                ..ReadTable::new("KNVK", &["PARNR", "KUNNR"])
            })
            .await
            .unwrap();
        assert!(rows.rows.is_empty(), "KNVK row of {change:?} is gone");
    }
    let removed: usize = before
        .values()
        .map(|r| r.customer.contacts.len())
        .sum::<usize>()
        - after
            .values()
            .map(|r| r.customer.contacts.len())
            .sum::<usize>();
    assert_eq!(removed, 3, "nothing else changed");

    let items = ecc
        .read_table(&ReadTable {
            options: &["TABNAME = 'KNVK' AND CHNGIND = 'D'"],
            ..ReadTable::new("CDPOS", &["OBJECTID", "CHANGENR", "TABKEY"])
        })
        .await
        .unwrap();
    let documented: BTreeSet<(String, String)> = items
        .rows
        .iter()
        .map(|row| (row["OBJECTID"].clone(), row["TABKEY"].clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = deleted
        .iter()
        .map(|change| {
            (
                change.customer_number.clone(),
                format!("{}{}", ecc.sim.client(), change.contact_number),
            )
        })
        .collect();
    assert_eq!(documented, expected, "one KNVK deletion item per contact");
    let headers = ecc
        .read_table(&ReadTable {
            options: &["TCODE = 'VAP2'"],
            ..ReadTable::new("CDHDR", &["OBJECTID", "CHANGE_IND"])
        })
        .await
        .unwrap();
    let customers: BTreeSet<String> = deleted
        .iter()
        .map(|change| change.customer_number.clone())
        .collect();
    let headed: BTreeSet<String> = headers
        .rows
        .iter()
        .map(|row| row["OBJECTID"].clone())
        .collect();
    assert_eq!(headed, customers, "a delta reads each customer again");
}

#[tokio::test]
async fn bas_only_address_change_leaves_kna1_copy_stale() {
    let ecc = ecc("Europe/Berlin").await;
    let report = ecc.sim.mutate(&mlc_sim_ecc::MutationRequest {
        address_only: 20,
        seed: 4,
        ..Default::default()
    });
    let truth: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    let rows = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR", "STRAS"]))
        .await
        .unwrap();
    let stale = rows
        .rows
        .iter()
        .filter(|row| report.address_only.contains(&row["KUNNR"]))
        .filter(|row| {
            let address = &truth[&row["KUNNR"]].customer.billing_address;
            !row["STRAS"].starts_with(&address.street)
                || !row["STRAS"].ends_with(&address.house_number)
        })
        .count();
    assert!(
        stale > 0,
        "KNA1-STRAS is a copy BAS-only edits do not update"
    );
    let all_headers = ecc
        .read_table(&ReadTable::new(
            "CDHDR",
            &["OBJECTCLAS", "OBJECTID", "UDATE"],
        ))
        .await
        .unwrap();
    assert!(
        !all_headers.rows.is_empty(),
        "the client has a history of change documents"
    );
    assert!(
        all_headers
            .rows
            .iter()
            .filter(|row| row["OBJECTCLAS"] == "DEBI")
            .all(|row| row["UDATE"].as_str() < "20260101"),
        "no DEBI document from today's BAS-only edits"
    );
    // BAS logs each edit under its own object class: address group BP, then the ADRNR.
    let address_numbers: HashMap<String, String> = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR", "ADRNR"]))
        .await
        .unwrap()
        .rows
        .iter()
        .map(|row| (row["KUNNR"].clone(), row["ADRNR"].clone()))
        .collect();
    let mut documented: Vec<String> = all_headers
        .rows
        .iter()
        .filter(|row| row["OBJECTCLAS"] == "ADRESSE")
        .map(|row| row["OBJECTID"].clone())
        .collect();
    documented.sort();
    let mut expected: Vec<String> = report
        .address_only
        .iter()
        .map(|number| format!("BP  {}", address_numbers[number]))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
}

#[tokio::test]
async fn without_address_change_documents_bas_edits_leave_no_trace_in_cdhdr() {
    let mut options = mlc_sim_ecc::SimEccOptions::for_tests(120, 1);
    options.no_address_change_documents = true;
    let sim = mlc_sim_ecc::spawn(options).await.unwrap();
    let report = sim.mutate(&mlc_sim_ecc::MutationRequest {
        address_only: 5,
        seed: 2,
        ..Default::default()
    });
    assert_eq!(report.address_only.len(), 5);
    assert!(report.change_numbers.is_empty(), "{report:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_calls_and_faults_break_responses() {
    let ecc = ecc("Europe/Berlin").await;
    ecc.read_table(&ReadTable::new("KNA1", &["KUNNR"]))
        .await
        .unwrap();
    ecc.odata("CustomerSet?$format=json").await;
    let stats: serde_json::Value = ecc
        .http
        .get(format!("{}/_sim/stats", ecc.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["calls_by_function"]["RFC_READ_TABLE"], 1);
    assert_eq!(stats["calls_by_table"]["KNA1"], 1);
    assert_eq!(stats["calls_by_entity_set"]["CustomerSet"], 1);
    assert_eq!(stats["rows_returned"], 120);

    ecc.admin("/_sim/faults", serde_json::json!({"error_rate": 1.0}))
        .await;
    let fault = ecc
        .read_table(&ReadTable::new("KNA1", &["KUNNR"]))
        .await
        .unwrap_err();
    assert_eq!(
        (fault.status, fault.exception.as_str()),
        (500, "SYSTEM_FAILURE")
    );
    assert_eq!(ecc.odata("CustomerSet?$format=json").await.0, 500);

    ecc.admin("/_sim/faults", serde_json::json!({"truncate_rate": 1.0}))
        .await;
    let (status, body) = ecc.odata("CustomerSet?$format=json").await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_err(),
        "a truncated body does not parse"
    );

    ecc.admin(
        "/_sim/faults",
        serde_json::json!({"timeout_rate": 1.0, "timeout_ms": 300}),
    )
    .await;
    let started = std::time::Instant::now();
    let (status, _) = ecc.odata("CustomerSet?$format=json&$top=1").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    ecc.admin("/_sim/faults", serde_json::json!({})).await;
    assert_eq!(ecc.odata("CustomerSet?$format=json&$top=1").await.0, 200);
}

#[tokio::test]
async fn truth_endpoint_matches_the_in_process_truth() {
    let mut options = SimEccOptions::for_tests(80, 8);
    options.duplicate_rate = 0.2;
    options.dirty_rate = 0.2;
    let ecc = Ecc::start(options).await;
    let over_http: Vec<mlc_sim_ecc::TruthRecord> = ecc
        .http
        .get(format!("{}/_sim/truth", ecc.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, ecc.sim.truth());
    let duplicates: Vec<_> = over_http
        .iter()
        .filter(|r| r.duplicate_of.is_some())
        .collect();
    assert!(!duplicates.is_empty());
    for duplicate in duplicates {
        let original = over_http
            .iter()
            .find(|r| {
                Some(r.customer.customer_number.as_str()) == duplicate.duplicate_of.as_deref()
            })
            .unwrap();
        assert_eq!(
            original.customer.billing_address.postal_code,
            duplicate.customer.billing_address.postal_code
        );
    }
    let reasons: BTreeSet<&str> = over_http
        .iter()
        .filter_map(|r| r.dirty.as_deref())
        .collect();
    assert!(
        reasons.len() >= 3,
        "several kinds of dirty rows: {reasons:?}"
    );
    for record in &over_http {
        let customer = &record.customer;
        assert!(customer.display_number_matches());
        assert_eq!(
            customer.name,
            mlc_canonical::record::join_name_parts(&customer.name_parts)
        );
        match record.dirty.as_deref() {
            Some("empty name") => assert!(customer.name.is_empty()),
            Some("control character in NAME1") => {
                assert!(customer.name.chars().any(char::is_control))
            }
            Some("unknown country code XX") => assert_eq!(customer.billing_address.country, "XX"),
            Some("invalid e-mail") => assert!(customer.email.as_deref().is_some_and(|e| e
                .matches('@')
                .count()
                != 1
                || e.ends_with('@'))),
            _ => {}
        }
        if customer.account_group == "CPD" {
            assert!(customer.billing_address.street.is_empty());
        }
    }
    assert!(over_http
        .iter()
        .any(|r| r.customer.shipping_address.is_some()));
    assert!(over_http.iter().any(|r| r
        .customer
        .payment_terms
        .as_ref()
        .is_some_and(|t| t.text.is_some())));
}

#[tokio::test]
async fn editing_a_ship_to_party_moves_its_sold_to_without_a_change_document_for_it() {
    let mut options = SimEccOptions::for_tests(300, 13);
    options.contacts_per_customer = 0;
    let ecc = Ecc::start(options).await;
    let before: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    let report = ecc.sim.mutate(&mlc_sim_ecc::MutationRequest {
        customers: 150,
        address_only: 150,
        seed: 2,
        ..Default::default()
    });
    assert!(
        !report.ship_to_affected.is_empty(),
        "the seed edits some ship-to parties"
    );
    let after: HashMap<String, mlc_sim_ecc::TruthRecord> = ecc
        .sim
        .truth()
        .into_iter()
        .map(|r| (r.customer.customer_number.to_string(), r))
        .collect();
    let moved = report
        .ship_to_affected
        .iter()
        .filter(|number| {
            before[*number].customer.shipping_address != after[*number].customer.shipping_address
        })
        .count();
    assert!(
        moved > 0,
        "some sold-to shipping addresses changed with their ship-to"
    );
    for number in &report.ship_to_affected {
        if !report.customers.contains(number) && !report.address_only.contains(number) {
            assert_eq!(
                before[number].customer.billing_address,
                after[number].customer.billing_address
            );
        }
    }
}
