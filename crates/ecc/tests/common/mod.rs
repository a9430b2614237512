//! Shared by the extraction tests: a simulator in-process, a config pointing at it, and the
//! comparison of extracted records with the simulator's truth.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use futures::{Future, Stream, StreamExt};
use mlc_config::EccConfig;
use mlc_ecc::{DataProblem, DeltaCursor, EccError, ExtractBatch, ExtractedCustomer, Extractor};
use mlc_sim_ecc::{MutationReport, MutationRequest, SimEccOptions, SpawnedEcc, TruthRecord};

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

impl Collected {
    /// The customers the stream held, extracted or reported as dirty.
    pub fn customer_numbers(&self) -> BTreeSet<String> {
        self.records
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .chain(
                self.rejected
                    .iter()
                    .map(|problem| problem.customer_number.to_string()),
            )
            .collect()
    }
}

/// The customers a mutation wrote change documents under: those changed, and those whose
/// contacts changed.
pub fn changed_customers(report: &MutationReport) -> BTreeSet<String> {
    report
        .customers
        .iter()
        .cloned()
        .chain(
            report
                .contacts
                .iter()
                .map(|change| change.customer_number.to_string()),
        )
        .collect()
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
        let previous = by_number.insert(record.customer.customer_number.as_str(), record);
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

/// How far the skewed simulator's clock is behind ours: two hours, far beyond the template's
/// `delta_overlap_secs = 600`.
pub const SERVER_BEHIND: chrono::Duration = chrono::Duration::hours(2);

/// [`acceptance_options`] on a SAP host whose clock is [`SERVER_BEHIND`] ours: its change
/// documents and the `Date` header of its answers follow that clock.
pub fn server_behind_options(customers: usize) -> SimEccOptions {
    let mut options = acceptance_options(customers);
    options.clock_offset_secs = -SERVER_BEHIND.num_seconds();
    options
}

/// Against a simulator from [`server_behind_options`]: a change made in ECC after a delta
/// reaches the next delta, and `check` reports the skew. A window placed on the connector's
/// clock would start two hours after the change's stamp and miss it. `connect` builds a fresh
/// extractor for every step, as each `ml-connector sync` is a process of its own that has not
/// heard the server's clock before its first answer.
pub async fn assert_deltas_follow_the_servers_clock<Connect, Connecting>(
    sim: &SpawnedEcc,
    config: &EccConfig,
    connect: Connect,
) where
    Connect: Fn() -> Connecting,
    Connecting: Future<Output = Extractor>,
{
    let initial = collect(connect().await.full()).await.unwrap();
    let cursor = initial.cursor.expect("a full read yields a cursor");
    let previous = collect(connect().await.delta(&cursor)).await.unwrap();
    let cursor = previous.cursor.expect("a delta yields a cursor");
    let ours = DeltaCursor::now(config.timezone).server_time;
    let behind = ours - cursor.server_time;
    assert!(
        (behind - SERVER_BEHIND).num_seconds().abs() < 60,
        "the cursor {} is on the server's clock, {SERVER_BEHIND} behind ours ({ours}); it is {behind} behind",
        cursor.server_time
    );

    let report = sim.mutate(&MutationRequest {
        customers: 3,
        contacts: 2,
        address_only: 0,
        seed: 17,
    });
    let mut expected = changed_customers(&report);
    expected.extend(sim.create(1));

    let extractor = connect().await;
    let next = collect(extractor.delta(&cursor)).await.unwrap();
    let got = next.customer_numbers();
    assert!(
        expected.is_subset(&got),
        "the changes made after the previous delta, by the server's clock: {expected:?}, got {got:?}"
    );
    // Read too: customers whose ship-to partner is one of the changed ones.
    let truth = sim.truth();
    for extra in got.difference(&expected) {
        assert!(
            truth
                .iter()
                .any(|truth| truth.customer.customer_number.as_str() == extra
                    && truth.customer.shipping_address.is_some()),
            "customer {extra} was read, but it neither changed nor ships to another customer"
        );
    }

    let lines = extractor.check().await;
    let clock = lines
        .iter()
        .find(|line| line.name == "ecc clock")
        .unwrap_or_else(|| panic!("no clock line: {lines:?}"));
    assert!(
        !clock.ok
            && clock.detail.contains("-7200 s behind")
            && clock.detail.contains("ecc.delta_overlap_secs = 600"),
        "{}",
        clock.detail
    );
}
