//! The OData V2 service as a Gateway client sees it: paging, counts, filters, errors, formats,
//! and the "lazy custom service" modes.

mod common;

use std::collections::BTreeSet;

use common::{parse_xml, Ecc};
use mlc_sim_ecc::SimEccOptions;

async fn ecc(customers: usize, page_size: usize) -> Ecc {
    let mut options = SimEccOptions::for_tests(customers, 5);
    options.page_size = page_size;
    Ecc::start(options).await
}

#[tokio::test]
async fn paging_through_next_returns_every_customer_exactly_once() {
    let ecc = ecc(53, 10).await;
    let mut url = format!("{}/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet?$format=json&$select=CustomerNumber,Name1", ecc.sim.base_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = ecc.odata_url(&url).await;
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let results = page["d"]["results"].as_array().unwrap();
        assert!(results.len() <= 10);
        for entity in results {
            assert!(entity["__metadata"]["uri"]
                .as_str()
                .unwrap()
                .contains("CustomerSet('"));
            assert!(
                entity.get("City").is_none(),
                "$select limits the properties"
            );
            seen.push(entity["CustomerNumber"].as_str().unwrap().to_string());
        }
        pages += 1;
        match page["d"]["__next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 6);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no customer twice");
    let expected: BTreeSet<String> = ecc
        .sim
        .truth()
        .iter()
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    assert_eq!(unique, expected);
}

#[tokio::test]
async fn inline_count_is_a_string_and_top_skip_cut_the_window() {
    let ecc = ecc(30, 1000).await;
    let page = ecc
        .odata_json("CustomerSet?$format=json&$inlinecount=allpages&$top=5&$skip=3")
        .await;
    assert_eq!(page["d"]["__count"], serde_json::json!("30"));
    let results = page["d"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let mut numbers: Vec<String> = ecc
        .sim
        .truth()
        .iter()
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    numbers.sort();
    assert_eq!(results[0]["CustomerNumber"], serde_json::json!(numbers[3]));
    assert!(page["d"].get("__next").is_none());
    let without = ecc.odata_json("CustomerSet?$format=json&$top=1").await;
    assert!(without["d"].get("__count").is_none());
}

#[tokio::test]
async fn filter_on_changed_at_finds_the_changed_customers() {
    let ecc = ecc(40, 1000).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let literal = before.format("%Y-%m-%dT%H:%M:%S").to_string();
    let changed = ecc
        .admin(
            "/_sim/mutate",
            serde_json::json!({"customers": 4, "address_only": 3, "seed": 9}),
        )
        .await;
    let expected: BTreeSet<String> = changed["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let page = ecc
        .odata_json(&format!(
            "CustomerSet?$format=json&$filter=ChangedAt%20ge%20datetime'{literal}'"
        ))
        .await;
    let found: BTreeSet<String> = page["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["CustomerNumber"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found, expected, "BAS-only changes do not move ChangedAt");
    let first = &page["d"]["results"][0]["ChangedAt"];
    let text = first.as_str().unwrap();
    assert!(text.starts_with("/Date(") && text.ends_with(")/"), "{text}");
    let millis: i64 = text
        .trim_start_matches("/Date(")
        .trim_end_matches(")/")
        .parse()
        .unwrap();
    assert!(
        (millis - chrono::Utc::now().timestamp_millis()).abs() < 60_000,
        "ChangedAt is UTC"
    );
}

#[tokio::test]
async fn filters_combine_functions_and_logic() {
    let ecc = ecc(80, 1000).await;
    let truth = ecc.sim.truth();
    let page = ecc
        .odata_json("CustomerSet?$format=json&$filter=(Country eq 'DE' or Country eq 'AT') and not DeletionFlag eq true and startswith(CustomerNumber,'00001')")
        .await;
    let found: BTreeSet<String> = page["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["CustomerNumber"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = truth
        .iter()
        .filter(|r| {
            ["DE", "AT"].contains(&r.customer.billing_address.country.as_str())
                && !r.customer.deleted
        })
        .filter(|r| r.customer.customer_number.as_str().starts_with("00001"))
        .map(|r| r.customer.customer_number.to_string())
        .collect();
    assert_eq!(found, expected);
    let name = truth
        .iter()
        .find(|r| r.customer.name_parts[0].contains("GmbH"))
        .map(|r| r.customer.customer_number.to_string());
    if let Some(number) = name {
        let page = ecc
            .odata_json("CustomerSet?$format=json&$filter=substringof('GmbH',Name1)")
            .await;
        assert!(page["d"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["CustomerNumber"] == serde_json::json!(number)));
    }
    let ordered = ecc
        .odata_json("CustomerSet?$format=json&$orderby=CustomerNumber desc&$top=3")
        .await;
    let numbers: Vec<&str> = ordered["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["CustomerNumber"].as_str().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(numbers, sorted);
}

#[tokio::test]
async fn a_bad_filter_gets_sap_error_body_and_400() {
    let ecc = ecc(5, 1000).await;
    for query in [
        "CustomerSet?$format=json&$filter=Nope eq 'x'",
        "CustomerSet?$format=json&$filter=Country eq",
        "CustomerSet?$format=json&$top=abc",
    ] {
        let (status, body) = ecc.odata(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"]["code"].as_str().unwrap().contains('/'));
        assert_eq!(error["error"]["message"]["lang"], "en");
        assert!(error["error"]["innererror"]["transactionid"].is_string());
    }
    let (status, body) = ecc.odata("CustomerSet?$filter=Nope eq 'x'").await;
    assert_eq!(status, 400);
    assert_eq!(
        parse_xml(&body).find("error").map(|e| e.name.clone()),
        Some("error".into())
    );
    let (status, _) = ecc.odata("NoSuchSet?$format=json").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn ignoring_top_returns_everything() {
    let mut options = SimEccOptions::for_tests(25, 5);
    options.odata_ignore_paging = true;
    options.page_size = 10;
    let ecc = Ecc::start(options).await;
    let page = ecc
        .odata_json("CustomerSet?$format=json&$top=1&$skip=2")
        .await;
    assert_eq!(page["d"]["results"].as_array().unwrap().len(), 25);
    assert!(page["d"].get("__next").is_none());

    let mut options = SimEccOptions::for_tests(25, 5);
    options.odata_ignore_filter = true;
    let ecc = Ecc::start(options).await;
    let page = ecc
        .odata_json("CustomerSet?$format=json&$filter=Country eq 'ZZ'")
        .await;
    assert_eq!(page["d"]["results"].as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn atom_is_the_default_and_metadata_carries_sap_annotations() {
    let ecc = ecc(12, 5).await;
    let (status, body) = ecc.odata("CustomerSet?$inlinecount=allpages").await;
    assert_eq!(status, 200);
    let feed = parse_xml(&body);
    let feed = feed.find("feed").unwrap();
    assert_eq!(
        feed.children.iter().filter(|c| c.name == "entry").count(),
        5
    );
    assert_eq!(feed.text_of("count"), "12");
    assert!(body.contains("rel=\"next\""));
    let (status, metadata) = ecc.odata("$metadata").await;
    assert_eq!(status, 200);
    assert!(
        metadata.contains("sap:label=")
            && metadata.contains("Name=\"ChangedAt\" Type=\"Edm.DateTime\"")
    );
    assert!(metadata.contains("NavigationProperty Name=\"ToContacts\""));
}

#[tokio::test]
async fn contacts_expand_and_navigate_like_the_truth() {
    let ecc = ecc(20, 1000).await;
    let truth = ecc.sim.truth();
    let with_contacts = truth
        .iter()
        .find(|r| r.customer.contacts.len() >= 2)
        .expect("a customer with contacts");
    let number = &with_contacts.customer.customer_number;
    let expanded = ecc
        .odata_json(&format!(
            "CustomerSet('{number}')?$format=json&$expand=ToContacts"
        ))
        .await;
    let contacts = expanded["d"]["ToContacts"]["results"].as_array().unwrap();
    assert_eq!(contacts.len(), with_contacts.customer.contacts.len());
    let navigated = ecc
        .odata_json(&format!("CustomerSet('{number}')/ToContacts?$format=json"))
        .await;
    assert_eq!(
        navigated["d"]["results"].as_array().unwrap().len(),
        contacts.len()
    );
    for expected in &with_contacts.customer.contacts {
        let contact = contacts
            .iter()
            .find(|c| c["ContactNumber"] == serde_json::json!(expected.contact_number))
            .unwrap();
        assert_eq!(contact["LastName"], serde_json::json!(expected.last_name));
        let emails: Vec<String> = contact["EmailList"]
            .as_str()
            .unwrap()
            .split(';')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(emails, expected.emails);
        assert_eq!(
            contact["Function"]
                .as_str()
                .filter(|f| !f.is_empty())
                .map(str::to_string),
            expected.function
        );
    }
    let all = ecc
        .odata_json("ContactPersonSet?$format=json&$inlinecount=allpages")
        .await;
    let total: usize = truth.iter().map(|r| r.customer.contacts.len()).sum();
    assert_eq!(all["d"]["__count"], serde_json::json!(total.to_string()));
    let (status, _) = ecc
        .http
        .get(format!(
            "{}/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet",
            ecc.sim.base_url()
        ))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);
}
