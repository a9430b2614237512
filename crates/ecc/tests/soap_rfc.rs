//! Extraction over SOAP-RFC against the simulator: the full read equals the truth, dirty rows
//! are reported, reads by number, the read-function fallback, and errors a user can act on.

mod common;

use common::{
    acceptance_options, assert_matches_truth, assert_no_hidden_communication, collect, config,
    spawn,
};
use std::sync::Arc;

use mlc_ecc::{EccError, Extractor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_extract_equals_the_truth_and_reports_every_dirty_record() {
    let sim = spawn(acceptance_options(800)).await;
    // Pages of 150 customers: the read must cope with the simulator's shuffled row order.
    let config = config(&sim, "soap-rfc", &[("rows_per_call", "150")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    let truth = sim.truth();
    assert!(
        truth.iter().any(|record| record.dirty.is_some()),
        "the data set has dirty records"
    );
    assert_matches_truth(&collected, &truth);
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    assert!(
        collected.cursor.is_some(),
        "the full read ends with a cursor"
    );
    assert!(
        collected.batches > 5,
        "read in bounded batches, not at once ({} batches)",
        collected.batches
    );
    for record in &collected.records {
        assert_eq!(record.source, "soap-rfc:KNA1");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_by_number_and_a_quote_cannot_widen_the_read() {
    let sim = spawn(acceptance_options(120)).await;
    let config = config(&sim, "soap-rfc", &[]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let truth = sim.truth();
    let wanted: Vec<String> = truth
        .iter()
        .filter(|record| record.dirty.is_none())
        .take(3)
        .map(|record| record.customer.customer_number.to_string())
        .collect();
    let batch = extractor.customers(&wanted).await.unwrap();
    let got: Vec<&str> = batch
        .records
        .iter()
        .map(|record| record.customer.customer_number.as_str())
        .collect();
    assert_eq!(got, wanted.iter().map(String::as_str).collect::<Vec<_>>());

    // Values that would widen an ABAP WHERE clause if pasted in: each stays one literal.
    let attacks = vec![
        "X' OR KUNNR NE '".to_string(),
        "' OR '1' EQ '1".to_string(),
        format!("{}'", wanted[0]),
    ];
    let batch = extractor.customers(&attacks).await.unwrap();
    assert!(
        batch.records.is_empty(),
        "a quoted value matched customers: {:?}",
        batch.records.len()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_another_read_function_when_rfc_read_table_is_missing() {
    let mut options = acceptance_options(60);
    options.function_names = vec!["/SAPDS/RFC_READ_TABLE".to_string()];
    let sim = spawn(options).await;
    let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[]))
        .await
        .unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    let stats = sim.stats();
    assert!(
        stats
            .calls_by_function
            .get("/SAPDS/RFC_READ_TABLE")
            .copied()
            .unwrap_or(0)
            > 5,
        "{stats:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_table_and_authorization_a_user_lacks() {
    let mut options = acceptance_options(20);
    options.not_authorized = vec!["ADR6".to_string()];
    let sim = spawn(options).await;
    let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[]))
        .await
        .unwrap();
    let lines = extractor.check().await;
    let line = |name: &str| {
        lines
            .iter()
            .find(|line| line.name == name)
            .unwrap_or_else(|| panic!("no line {name}: {lines:?}"))
    };
    assert!(line("ecc reachable").ok && line("ecc logon").ok);
    assert!(line("ecc table KNA1").ok);
    let adr6 = line("ecc table ADR6");
    assert!(!adr6.ok);
    assert!(
        adr6.detail.contains("ADR6") && adr6.detail.contains("S_TABU_DIS"),
        "{}",
        adr6.detail
    );
    // The extraction itself stops with the same clear error.
    let error = common::collect(extractor.full()).await.unwrap_err();
    assert!(
        matches!(&error, EccError::NotAuthorized { table, .. } if table == "ADR6"),
        "{error}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_logon_failure() {
    let sim = spawn(acceptance_options(10)).await;
    let mut config = config(&sim, "soap-rfc", &[]);
    config.password = mlc_config::Secret::new("wrong");
    let extractor = Extractor::connect(&config).await.unwrap();
    let lines = extractor.check().await;
    assert!(
        lines
            .iter()
            .any(|line| line.name == "ecc logon" && !line.ok && line.detail.contains("MLC_READER")),
        "{lines:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_wider_than_one_row_are_read_in_groups_and_joined_on_the_key() {
    use mlc_ecc::rfc::soap::SoapRfcTransport;
    use mlc_ecc::rfc::table_reader::{TableRead, TableReader};
    use mlc_ecc::rfc::where_clause::Condition;

    let sim = spawn(acceptance_options(90)).await;
    let transport = Arc::new(SoapRfcTransport::new(
        reqwest::Client::new(),
        &sim.base_url(),
        sim.client(),
        "EN",
        sim.user(),
        sim.password(),
        0,
    ));
    let reader = TableReader::new(transport, "auto", 25, 100);
    // 35 * 8 + 25 * 5 + 30 * 2 + 31 + 20 + 16 = 532 characters before delimiters: two groups.
    let fields = vec![
        "NAME1", "NAME2", "NAME3", "NAME4", "ORT01", "ORT02", "STRAS", "MCOD1", "MCOD2", "MCOD3",
        "BAHNE", "BAHNS", "TELTX", "TELX1", "TELFX", "STCEG", "TELF1", "ADRNR",
    ];
    let read = TableRead {
        table: "KNA1",
        keys: &["KUNNR"],
        fields,
        filter: Condition::all(vec![]),
    };
    let rows = reader.read_all(&read).await.unwrap();
    let truth = sim.truth();
    assert_eq!(rows.len(), truth.len());
    for (row, expected) in rows.iter().zip(&truth) {
        assert_eq!(
            row.value("KUNNR"),
            expected.customer.customer_number.as_str()
        );
        // NAME1 comes from the first group, STCEG and ADRNR from the second.
        if expected.dirty.is_none() {
            // KNA1's copy of ADRC's name line, cut at 35 characters.
            let copy: String = expected.customer.name_parts[0].chars().take(35).collect();
            assert_eq!(row.value("NAME1"), copy.trim_end());
            assert_eq!(
                row.value("STCEG"),
                expected.customer.vat_number.clone().unwrap_or_default()
            );
        }
        assert!(!row.value("ADRNR").is_empty());
    }
    let stats = sim.stats();
    // Every row came once per field group.
    assert_eq!(stats.rows_returned, 2 * 90, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dirty_records_cleaned_every_customer_is_kept_and_its_problems_travel_with_it() {
    let mut options = acceptance_options(300);
    options.dirty_rate = 0.05;
    let sim = spawn(options).await;
    let config = config(&sim, "soap-rfc", &[("dirty_records", "\"clean\"")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    let truth = sim.truth();
    assert_eq!(collected.records.len(), truth.len());
    assert!(collected.rejected.is_empty());
    for expected in truth.iter().filter(|record| record.dirty.is_some()) {
        let record = collected
            .records
            .iter()
            .find(|record| record.customer.customer_number == expected.customer.customer_number)
            .unwrap();
        assert!(
            !record.problems.is_empty(),
            "{}: {:?}",
            expected.customer.customer_number,
            expected.dirty
        );
        assert!(
            !record.customer.name.chars().any(char::is_control),
            "cleaned: {:?}",
            record.customer.name
        );
        if let Some(email) = &record.customer.email {
            assert!(
                email.contains('@') && !email.contains(' '),
                "an invalid e-mail was kept: {email}"
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_read_holds_only_the_customers_ecc_select_names() {
    let sim = spawn(acceptance_options(400)).await;
    let numbers = |collected: &common::Collected| -> std::collections::BTreeSet<String> {
        collected
            .records
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .collect()
    };
    let selection = [
        ("account_groups", "[\"0001\"]"),
        ("countries", "[\"DE\", \"AT\"]"),
    ];
    let extractor = Extractor::connect(&config(&sim, "soap-rfc", &selection))
        .await
        .unwrap();
    let selected = numbers(&collect(extractor.full()).await.unwrap());
    let expected: std::collections::BTreeSet<String> = sim
        .truth()
        .iter()
        .filter(|record| record.dirty.is_none())
        .filter(|record| record.customer.account_group == "0001")
        .filter(|record| ["DE", "AT"].contains(&record.customer.billing_address.country.as_str()))
        .map(|record| record.customer.customer_number.to_string())
        .collect();
    assert_eq!(selected, expected);

    let newer = [
        selection[0],
        selection[1],
        ("created_after", "\"2018-01-01\""),
    ];
    let extractor = Extractor::connect(&config(&sim, "soap-rfc", &newer))
        .await
        .unwrap();
    let newer = numbers(&collect(extractor.full()).await.unwrap());
    assert!(
        newer.is_subset(&selected) && !newer.is_empty() && newer.len() < selected.len(),
        "created_after keeps the older ones out: {} of {}",
        newer.len(),
        selected.len()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_with_company_code_and_only_with_sales_area_keep_the_customers_that_have_them() {
    use mlc_ecc::rfc::soap::SoapRfcTransport;
    use mlc_ecc::rfc::table_reader::{TableRead, TableReader};
    use mlc_ecc::rfc::where_clause::Condition;
    use std::collections::BTreeSet;

    let sim = spawn(acceptance_options(300)).await;
    let transport = Arc::new(SoapRfcTransport::new(
        reqwest::Client::new(),
        &sim.base_url(),
        sim.client(),
        "EN",
        sim.user(),
        sim.password(),
        0,
    ));
    let reader = TableReader::new(transport, "auto", 200, 100);
    // Who has data in company code 1000, and in sales area 1000-10-00 (the template's).
    let holders = |table: &'static str, keys: &'static [&'static str], filter: Condition| {
        let read = TableRead {
            table,
            keys,
            fields: vec![],
            filter,
        };
        let reader = &reader;
        async move {
            reader
                .read_all(&read)
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.value("KUNNR").to_string())
                .collect::<BTreeSet<String>>()
        }
    };
    let in_company = holders("KNB1", &["KUNNR", "BUKRS"], Condition::eq("BUKRS", "1000")).await;
    let in_area = holders(
        "KNVV",
        &["KUNNR", "VKORG", "VTWEG", "SPART"],
        Condition::all(vec![
            Condition::eq("VKORG", "1000"),
            Condition::eq("VTWEG", "10"),
            Condition::eq("SPART", "00"),
        ]),
    )
    .await;
    let truth = sim.truth();
    let deleted_in_ecc: std::collections::BTreeMap<&str, bool> = truth
        .iter()
        .map(|record| {
            (
                record.customer.customer_number.as_str(),
                record.customer.deleted,
            )
        })
        .collect();
    for (key, holders) in [
        ("only_with_company_code", &in_company),
        ("only_with_sales_area", &in_area),
    ] {
        let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[(key, "true")]))
            .await
            .unwrap();
        let records = collect(extractor.full()).await.unwrap().records;
        // A customer outside the selection is read as deleted, so sync.on_deleted applies.
        let mut outside = 0;
        for record in &records {
            let number = record.customer.customer_number.as_str();
            let selected = holders.contains(number);
            outside += usize::from(!selected);
            assert_eq!(
                record.customer.deleted,
                deleted_in_ecc[number] || !selected,
                "{key}: customer {number}"
            );
        }
        assert!(
            outside > 0 && outside < records.len(),
            "{key}: {outside} of {} customers lack the data",
            records.len()
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecc_select_over_odata_is_refused_with_a_reason() {
    let sim = spawn(acceptance_options(20)).await;
    let config = config(&sim, "odata", &[("countries", "[\"DE\"]")]);
    let error = Extractor::connect(&config).await.err().expect("refused");
    assert!(error.to_string().contains("ecc.select"), "{error}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_when_ecc_timezone_is_not_the_systems_own_naming_both() {
    // The simulated server runs on Europe/Berlin (TTZCU-TZONESYS = CET).
    let sim = spawn(acceptance_options(20)).await;
    for (configured, ok) in [("\"Europe/Berlin\"", true), ("\"America/New_York\"", false)] {
        let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[("timezone", configured)]))
            .await
            .unwrap();
        let lines = extractor.check().await;
        let line = lines
            .iter()
            .find(|line| line.name == "ecc time zone")
            .unwrap_or_else(|| panic!("no time zone line: {lines:?}"));
        assert_eq!(line.ok, ok, "{configured}: {}", line.detail);
        assert!(line.detail.contains("CET"), "{}", line.detail);
        if !ok {
            assert!(
                line.detail.contains("America/New_York") && line.detail.contains("Europe/Berlin"),
                "{}",
                line.detail
            );
        }
        let clock = lines.iter().find(|line| line.name == "ecc clock").unwrap();
        assert!(
            clock.ok && clock.detail.contains("Date header"),
            "{}",
            clock.detail
        );
        assert!(
            lines
                .iter()
                .find(|line| line.name == "ecc table TTZCU")
                .is_some_and(|line| line.ok),
            "{lines:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ttzcu_the_time_zone_check_asks_rfc_system_info() {
    let mut options = acceptance_options(10);
    options.not_authorized = vec!["TTZCU".into()];
    let sim = spawn(options).await;
    for (configured, ok) in [("\"Europe/Berlin\"", true), ("\"Asia/Tokyo\"", false)] {
        let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[("timezone", configured)]))
            .await
            .unwrap();
        let lines = extractor.check().await;
        let line = lines
            .iter()
            .find(|line| line.name == "ecc time zone")
            .unwrap_or_else(|| panic!("no time zone line: {lines:?}"));
        assert_eq!(line.ok, ok, "{configured}: {}", line.detail);
        assert!(
            line.detail.contains("RFC_SYSTEM_INFO")
                && line.detail.contains("UTC+01:00")
                && line.detail.contains("S_TABU_NAM (table TTZCU)"),
            "{}",
            line.detail
        );
        if !ok {
            assert!(
                line.detail.contains("Asia/Tokyo is at UTC+09:00"),
                "{}",
                line.detail
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_service_switched_off_in_sicf_says_what_to_activate() {
    let mut options = acceptance_options(10);
    options.soap_service_inactive = true;
    let sim = spawn(options).await;
    let extractor = Extractor::connect(&config(&sim, "soap-rfc", &[]))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let lines = extractor.check().await;
    let logon = lines
        .iter()
        .find(|line| line.name == "ecc logon")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(!logon.ok);
    assert!(
        logon.detail.contains("SICF") && logon.detail.contains("/sap/bc/soap/rfc"),
        "{}",
        logon.detail
    );
    assert!(
        !logon.detail.contains("ecc.password"),
        "not a password problem: {}",
        logon.detail
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "no long retries"
    );
    sim.shutdown().await;
}
