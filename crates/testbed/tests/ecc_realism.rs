//! ECC as it really is, end to end: what the customer master holds besides the data the
//! connector should carry (contacts' private addresses, rows not in use), and changes ECC
//! records elsewhere than in the customer's own change documents.

use std::collections::BTreeSet;

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
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
