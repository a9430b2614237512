//! RFC_READ_TABLE as ECC writes it: packed (type P) fields in their number of digits, cut off
//! with `*` when a value needs more room; the name in ADRC's 40-character lines, of which KNA1
//! keeps copies cut at 35.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{acceptance_options, spawn};
use mlc_ecc::rfc::soap::SoapRfcTransport;
use mlc_ecc::rfc::table_reader::{TableRead, TableReader};
use mlc_ecc::rfc::where_clause::Condition;
use mlc_sim_ecc::SpawnedEcc;

fn reader(sim: &SpawnedEcc) -> TableReader {
    let transport = Arc::new(SoapRfcTransport::new(
        reqwest::Client::new(),
        &sim.base_url(),
        sim.client(),
        "EN",
        sim.user(),
        sim.password(),
        0,
    ));
    TableReader::new(transport, "auto", 100, 100)
}

const KNVV_KEYS: &[&str] = &["KUNNR", "VKORG", "VTWEG", "SPART"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packed_fields_are_read_as_numbers_and_a_cut_off_one_is_named() {
    let sim = spawn(acceptance_options(60)).await;
    let reader = reader(&sim);
    let read = |fields: Vec<&'static str>| TableRead {
        table: "KNVV",
        keys: KNVV_KEYS,
        fields,
        filter: Condition::all(vec![]),
    };
    let rows = reader
        .read_all(&read(vec!["ANTLF", "UEBTO"]))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in &rows {
        *seen
            .entry((
                row.value("ANTLF").to_string(),
                row.value("UEBTO").to_string(),
            ))
            .or_default() += 1;
    }
    // Each pair of the simulator's delivery terms, as numbers (UEBTO 9.9 fills its 3 digits).
    let pairs: Vec<(&str, &str)> = seen
        .keys()
        .map(|(antlf, uebto)| (antlf.as_str(), uebto.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("0", "0.0"), ("1", "2.5"), ("3", "9.9"), ("9", "5.0")],
        "{seen:?}"
    );

    // An underdelivery tolerance of 10.0 % does not fit UNTTO's three digits: SAP writes "*.0".
    let error = reader
        .read_all(&read(vec!["UNTTO"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("KNVV-UNTTO") && error.contains("*.0") && error.contains("KUNNR="),
        "{error}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_is_adrcs_forty_characters_a_line_not_kna1s_copy() {
    let sim = spawn(acceptance_options(400)).await;
    let reader = reader(&sim);
    let kna1 = reader
        .read_all(&TableRead {
            table: "KNA1",
            keys: &["KUNNR"],
            fields: vec!["NAME2", "ADRNR"],
            filter: Condition::all(vec![]),
        })
        .await
        .unwrap();
    let adrc = reader
        .read_all(&TableRead {
            table: "ADRC",
            keys: &["ADDRNUMBER", "DATE_FROM", "NATION"],
            fields: vec!["NAME2"],
            filter: Condition::eq("NATION", " "),
        })
        .await
        .unwrap();
    let adrc: BTreeMap<&str, &str> = adrc
        .iter()
        .map(|row| (row.value("ADDRNUMBER"), row.value("NAME2")))
        .collect();
    let truth = sim.truth();
    let by_number: BTreeMap<&str, &mlc_sim_ecc::TruthRecord> = truth
        .iter()
        .map(|record| (record.customer.customer_number.as_str(), record))
        .collect();
    let mut cut = 0;
    for row in &kna1 {
        let full = adrc[row.value("ADRNR")];
        let copy = row.value("NAME2");
        assert_eq!(copy, full.chars().take(35).collect::<String>().trim_end());
        if full.chars().count() > 35 {
            cut += 1;
            let record = by_number[row.value("KUNNR")];
            assert_eq!(record.customer.name_parts[1], full);
        }
    }
    assert!(cut > 3, "{cut} names longer than KNA1's 35 characters");
    sim.shutdown().await;
}
