//! Shared by the extraction tests: a simulator in-process, a config pointing at it, and the
//! comparison of extracted records with the simulator's truth.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use futures::{Stream, StreamExt};
use mlc_config::EccConfig;
use mlc_ecc::{DataProblem, DeltaCursor, EccError, ExtractBatch, ExtractedCustomer};
use mlc_sim_ecc::{SimEccOptions, SpawnedEcc, TruthRecord};

/// The data set of the brief's acceptance run, smaller so the suite stays fast.
pub fn acceptance_options(customers: usize) -> SimEccOptions {
    let mut options = SimEccOptions::for_tests(customers, 7);
    options.dirty_rate = 0.01;
    options.duplicate_rate = 0.02;
    options
}

pub async fn spawn(options: SimEccOptions) -> SpawnedEcc {
    mlc_sim_ecc::spawn(options)
        .await
        .expect("the simulator starts")
}

/// `[ecc]` for the simulator: the template with the simulator's address and `overrides`
/// (`key = value` lines of `[ecc]`, replacing the template's line for that key).
pub fn config(sim: &SpawnedEcc, transport: &str, overrides: &[(&str, &str)]) -> EccConfig {
    config_with_lines(sim, transport, overrides, &[])
}

/// [`config`], and `lines` (`(table header, line)`) added at the top of their table, e.g.
/// `("[ecc.odata.customer_properties]", "city = \"Address/City\"")`.
pub fn config_with_lines(
    sim: &SpawnedEcc,
    transport: &str,
    overrides: &[(&str, &str)],
    lines: &[(&str, &str)],
) -> EccConfig {
    let mut text = mlc_config::TEMPLATE
        .replace(
            "base_url = \"http://127.0.0.1:18001\"",
            &format!("base_url = \"{}\"", sim.base_url()),
        )
        .replace(
            "transport = \"soap-rfc\"",
            &format!("transport = \"{transport}\""),
        );
    for (key, value) in overrides {
        let commented = format!("# {key} = ");
        let plain = format!("{key} = ");
        let line = text
            .lines()
            .find(|line| line.starts_with(&plain) || line.starts_with(&commented))
            .unwrap_or_else(|| panic!("the template has no `{key}` line"))
            .to_string();
        text = text.replacen(&line, &format!("{key} = {value}"), 1);
    }
    for (header, line) in lines {
        assert!(text.contains(header), "the template has no {header} table");
        text = text.replacen(&format!("{header}\n"), &format!("{header}\n{line}\n"), 1);
    }
    let password = sim.password().to_string();
    let lookup = move |name: &str| match name {
        "ECC_PASSWORD" => Some(password.clone()),
        _ => Some(format!("test-{name}")),
    };
    mlc_config::parse("test.toml", &text, &lookup)
        .expect("the test config validates")
        .ecc
}

/// Everything a stream of batches held.
#[derive(Debug, Default)]
pub struct Collected {
    pub records: Vec<ExtractedCustomer>,
    pub rejected: Vec<DataProblem>,
    pub cursor: Option<DeltaCursor>,
    pub batches: usize,
}

pub async fn collect(
    stream: impl Stream<Item = Result<ExtractBatch, EccError>>,
) -> Result<Collected, EccError> {
    let mut stream = Box::pin(stream);
    let mut collected = Collected::default();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        collected.batches += 1;
        collected.records.extend(batch.records);
        collected.rejected.extend(batch.rejected);
        if batch.cursor_after.is_some() {
            assert!(
                collected.cursor.is_none(),
                "only the last batch carries the cursor"
            );
            collected.cursor = batch.cursor_after;
        }
    }
    Ok(collected)
}

/// Every clean truth record extracted exactly once and equal field by field; every dirty one
/// reported with its number and kept out; nothing else extracted.
pub fn assert_matches_truth(collected: &Collected, truth: &[TruthRecord]) {
    let mut by_number: BTreeMap<&str, &ExtractedCustomer> = BTreeMap::new();
    for record in &collected.records {
        let previous = by_number.insert(&record.customer.customer_number, record);
        assert!(
            previous.is_none(),
            "customer {} extracted twice",
            record.customer.customer_number
        );
    }
    let reported: BTreeSet<&str> = collected
        .rejected
        .iter()
        .map(|problem| problem.customer_number.as_str())
        .collect();
    let mut clean = 0;
    for expected in truth {
        let number = expected.customer.customer_number.as_str();
        match &expected.dirty {
            None => {
                clean += 1;
                let extracted = by_number.get(number).unwrap_or_else(|| {
                    panic!(
                        "clean customer {number} was not extracted (reported: {:?})",
                        collected
                            .rejected
                            .iter()
                            .filter(|p| p.customer_number == number)
                            .collect::<Vec<_>>()
                    )
                });
                let mut want = expected.customer.clone();
                want.contacts
                    .sort_by(|a, b| a.contact_number.cmp(&b.contact_number));
                let got = &extracted.customer;
                assert_eq!(got, &want, "customer {number} differs from the truth");
                assert!(
                    extracted.problems.is_empty(),
                    "{number}: {:?}",
                    extracted.problems
                );
            }
            Some(reason) => {
                assert!(
                    reported.contains(number),
                    "dirty customer {number} ({reason}) was not reported"
                );
                assert!(
                    !by_number.contains_key(number),
                    "dirty customer {number} ({reason}) was not kept out"
                );
            }
        }
    }
    assert_eq!(
        collected.records.len(),
        clean,
        "extracted customers the truth does not know"
    );
    for problem in &collected.rejected {
        assert!(
            !problem.reason.is_empty() && !problem.field.is_empty(),
            "{problem:?}"
        );
    }
}

/// No e-mail address or phone number ECC holds privately (KNVK-ADRNP_2) or keeps unused
/// (FLG_NOUSE, validity) appears anywhere in the extracted records.
pub fn assert_no_hidden_communication(collected: &Collected, hidden: &[String]) {
    assert!(
        hidden.len() > 10,
        "the simulator holds private and unused rows to leak ({} found)",
        hidden.len()
    );
    let hidden: BTreeSet<&str> = hidden.iter().map(String::as_str).collect();
    for record in &collected.records {
        let customer = &record.customer;
        let values = customer.email.iter().chain(customer.phone.iter()).chain(
            customer
                .contacts
                .iter()
                .flat_map(|contact| contact.emails.iter().chain(contact.phones.iter())),
        );
        for value in values {
            assert!(
                !hidden.contains(value.as_str()),
                "customer {}: {value:?} is a private or unused e-mail/phone",
                customer.customer_number
            );
        }
    }
}
