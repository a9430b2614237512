//! ECC as it really is, end to end: what the customer master holds besides the data the
//! connector should carry (contacts' private addresses, rows not in use), and changes ECC
//! records elsewhere than in the customer's own change documents.

use std::collections::BTreeSet;

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_sim_ecc::MutationRequest;
use mlc_store::{Action, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    let summary = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes");
    assert_eq!(summary.status, RunStatus::Ok, "{summary:?}");
    assert_eq!(summary.counts.get(&Action::Error), None, "{summary:?}");
    summary
}

/// Every e-mail and phone value of a Pipedrive record.
fn communication_values(record: &Value) -> Vec<String> {
    ["emails", "phones"]
        .iter()
        .flat_map(|list| record[list].as_array().cloned().unwrap_or_default())
        .filter_map(|entry| entry["value"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_or_unused_e_mail_or_phone_reaches_pipedrive_and_mobiles_are_labelled() {
    let mut options = TestbedOptions::new(200, 21);
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    testbed.setup(&engine).await.unwrap();
    sync(&engine, RunMode::Full).await;

    let hidden: BTreeSet<String> = testbed.ecc.hidden_communication().into_iter().collect();
    assert!(
        hidden.len() > 10,
        "the simulator holds private and unused rows ({} values)",
        hidden.len()
    );
    let persons = testbed.pipedrive.state().persons();
    let written: Vec<String> = persons
        .iter()
        .flat_map(|person| communication_values(&person.json))
        .collect();
    assert!(
        written.len() > 100,
        "persons with work e-mails and phones were written ({})",
        written.len()
    );
    for value in &written {
        assert!(
            !hidden.contains(value),
            "{value:?} is a private or unused e-mail/phone and reached Pipedrive"
        );
    }
    // Every work e-mail of every synced contact did arrive: the join lost nothing it should keep.
    let expected: BTreeSet<String> = testbed
        .truth()
        .iter()
        .filter(|record| !record.customer.deleted && !record.customer.blocked)
        .flat_map(|record| record.customer.contacts.iter())
        .flat_map(|contact| contact.emails.iter().cloned())
        .collect();
    let written: BTreeSet<String> = written.into_iter().collect();
    let missing: Vec<&String> = expected.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "work e-mails missing in Pipedrive: {missing:?}"
    );
    // Mobile numbers (ADR2-R3_USER) arrive labelled "mobile", landlines "work".
    let labels: BTreeSet<(String, String)> = persons
        .iter()
        .flat_map(|person| {
            person.json["phones"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|entry| {
            (
                entry["value"].as_str().unwrap_or_default().to_string(),
                entry["label"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let synced_contacts = || {
        testbed
            .truth()
            .into_iter()
            .filter(|record| !record.customer.deleted && !record.customer.blocked)
            .flat_map(|record| record.customer.contacts)
    };
    let mobiles: Vec<String> = synced_contacts()
        .flat_map(|contact| contact.mobile_phones)
        .collect();
    assert!(mobiles.len() > 10, "contacts with mobile numbers");
    for mobile in &mobiles {
        assert!(
            labels.contains(&(mobile.clone(), "mobile".to_string())),
            "mobile {mobile:?} not labelled mobile in Pipedrive"
        );
    }
    for landline in synced_contacts().flat_map(|contact| contact.phones) {
        assert!(
            labels.contains(&(landline.clone(), "work".to_string())),
            "landline {landline:?} not labelled work in Pipedrive"
        );
    }
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_only_change_reaches_pipedrive_with_a_delta_run() {
    let mut options = TestbedOptions::new(200, 23);
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = fields
        .iter()
        .find(|field| field.name == "ECC Customer Number")
        .map(|field| field.key.clone())
        .unwrap();
    sync(&engine, RunMode::Delta).await;
    let before = testbed.truth();

    // Edits in Business Address Services only: ADRC, ADR6 or ADR2, each with its ADRESSE
    // change document and no DEBI one.
    let report = testbed.ecc.mutate(&MutationRequest {
        address_only: 15,
        seed: 3,
        ..Default::default()
    });
    let delta = sync(&engine, RunMode::Delta).await;
    assert!(
        delta.customers_read as usize >= report.address_only.len(),
        "the delta read every address-only change: {delta:?}"
    );

    let after = testbed.truth();
    let street_changes: Vec<_> = after
        .iter()
        .filter(|record| {
            report
                .address_only
                .contains(&record.customer.customer_number.to_string())
        })
        .filter(|record| !record.customer.deleted && !record.customer.blocked)
        .filter(|record| {
            before.iter().any(|old| {
                old.customer.customer_number == record.customer.customer_number
                    && old.customer.billing_address != record.customer.billing_address
            })
        })
        .collect();
    assert!(
        !street_changes.is_empty(),
        "some of the edits moved a street or house number"
    );
    let organizations = testbed.pipedrive.state().organizations();
    for record in street_changes {
        let display = record.customer.customer_number.display().into_string();
        let organization = organizations
            .iter()
            .find(|organization| {
                organization.json["custom_fields"][&number_key].as_str() == Some(display.as_str())
            })
            .unwrap_or_else(|| panic!("customer {display} has an organization"));
        let address = &record.customer.billing_address;
        assert_eq!(
            organization.json["address"]["route"].as_str().unwrap_or(""),
            address.street,
            "street of {display} after the delta"
        );
        assert_eq!(
            organization.json["address"]["street_number"]
                .as_str()
                .unwrap_or(""),
            address.house_number,
            "house number of {display} after the delta"
        );
    }
    testbed.shutdown().await;
}

/// Organizations in Pipedrive by "ECC Customer Number", and their "ECC Status".
fn organizations_by_number(
    testbed: &Testbed,
    fields: &[mlc_pipedrive::ResolvedField],
) -> Vec<(String, String)> {
    let key = |name: &str| {
        fields
            .iter()
            .find(|field| field.name == name)
            .map(|field| field.key.clone())
            .unwrap()
    };
    let (number_key, status_key) = (key("ECC Customer Number"), key("ECC Status"));
    testbed
        .pipedrive
        .state()
        .organizations()
        .iter()
        .map(|organization| {
            let text = |key: &str| {
                organization.json["custom_fields"][key]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            (text(&number_key), text(&status_key))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_selected_customers_reach_pipedrive_and_one_leaving_the_selection_follows_on_deleted()
{
    let mut options = TestbedOptions::new(240, 25);
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    options.extra_lines = vec![
        "[ecc.select]".into(),
        "countries = [\"DE\", \"AT\", \"FR\", \"US\"]".into(),
        "exclude_account_groups = [\"CPD\"]".into(),
        "only_with_company_code = true".into(),
    ];
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    sync(&engine, RunMode::Full).await;

    let truth = testbed.truth();
    let countries = ["DE", "AT", "FR", "US"];
    let in_selection = |record: &mlc_sim_ecc::TruthRecord| {
        countries.contains(&record.customer.billing_address.country.as_str())
            && record.customer.account_group != "CPD"
    };
    let organizations = organizations_by_number(&testbed, &fields);
    let synced: BTreeSet<&str> = organizations
        .iter()
        .map(|(number, _)| number.as_str())
        .collect();
    let outside: Vec<String> = truth
        .iter()
        .filter(|record| !in_selection(record))
        .map(|record| record.customer.customer_number.display().into_string())
        .collect();
    assert!(
        outside.len() > 20,
        "the data set has customers outside the selection"
    );
    for number in &outside {
        assert!(
            !synced.contains(number.as_str()),
            "customer {number} is outside [ecc.select] and reached Pipedrive"
        );
    }
    let inside = truth
        .iter()
        .filter(|record| in_selection(record))
        .filter(|record| !record.customer.deleted && !record.customer.blocked)
        .filter(|record| {
            synced.contains(
                record
                    .customer
                    .customer_number
                    .display()
                    .into_string()
                    .as_str(),
            )
        })
        .count();
    assert!(
        inside > 50,
        "selected customers reached Pipedrive ({inside})"
    );

    // A synced customer leaves the selection (its account group becomes CPD): the next delta
    // treats it like a customer flagged for deletion (on_deleted = "field": ECC Status).
    let leaving = truth
        .iter()
        .find(|record| {
            in_selection(record)
                && !record.customer.deleted
                && !record.customer.blocked
                && organizations.contains(&(
                    record.customer.customer_number.display().into_string(),
                    String::new(),
                ))
        })
        .expect("a synced active customer");
    let number = leaving.customer.customer_number.display().into_string();
    assert!(testbed
        .ecc
        .change_account_group(leaving.customer.customer_number.as_str(), "CPD"));
    sync(&engine, RunMode::Delta).await;
    let after = organizations_by_number(&testbed, &fields);
    assert!(
        after.contains(&(number.clone(), "deleted".to_string())),
        "customer {number} left the selection: its organization says deleted"
    );
    let changed: Vec<&(String, String)> = after
        .iter()
        .filter(|entry| !organizations.contains(entry))
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "only that organization changed: {changed:?}"
    );
    testbed.shutdown().await;
}
