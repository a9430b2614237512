//! `bench match`: the matcher against the generated truth ([`match_corpus`]): N ECC customers
//! matched against N existing organizations, in process, as a first sync does it (the index
//! built record by record as the list endpoint's pages would arrive, the run's customers held
//! compact as a sync holds them, the customers matched in batches so only the index and the
//! compact run stay in memory). Reports how many customers were linked to the
//! right organization, to a wrong one, would get a duplicate created, or go to review, and the
//! wall time (building the index and the compact run, and matching; not generating the data)
//! and peak memory.
//!
//! [`match_corpus`]: super::match_corpus

use std::collections::BTreeMap;
use std::time::Instant;

use mlc_canonical::{Customer, CustomerNumber};
use mlc_sync::matching::{
    find_ecc_duplicates, MatchOutcome, MatchRule, MatchSettings, OrganizationEvidenceFields,
    OrganizationMatcher, RunCustomersBuilder,
};
use serde_json::{json, Value};

use super::match_corpus::{
    hand_typed_name, MatchCorpus, Random, NUMBER_KEY, PHONE_KEY, VAT_KEY, WEBSITE_KEY,
};
use super::round;

/// Customers generated and matched at once.
const BATCH: usize = 20_000;

/// The score bands of the default `[sync]` configuration.
fn settings() -> MatchSettings {
    MatchSettings {
        link_threshold: 0.90,
        review_threshold: 0.70,
    }
}

/// The outcomes against the truth.
#[derive(Debug, Default)]
struct Tally {
    customers: usize,
    with_organization: usize,
    linked_right: usize,
    linked_wrong: usize,
    missed_would_create: usize,
    review: usize,
    review_without_true_match: usize,
    /// Review reasons, and whether the customer has a true organization.
    review_reasons: BTreeMap<String, usize>,
    /// Links by the rule that made them.
    link_rules: BTreeMap<String, usize>,
    /// Links the probability made where the rules would have reviewed.
    linked_on_probability: usize,
    /// Scored pairs (the fuzzy rule's link, review candidate or nearest organization) by score
    /// band (0.7, 0.8, 0.9: the band from there to 0.1 above): how many, and how many of them
    /// are the customer's true organization. What a score means is the second over the first.
    scored_pairs: BTreeMap<&'static str, (usize, usize)>,
    /// Proposed pairs of every rule (link, review candidate, nearest) by tenth of their
    /// calibrated probability: how many, how many true, and their probabilities summed.
    calibration: [(usize, usize, f64); 10],
    /// Reviews by tenth of their candidate's probability: how many, how many of them have the
    /// candidate as their true organization, and how many have a true organization at all
    /// (those a create instead of the review would duplicate).
    reviews_by_probability: [(usize, usize, usize); 10],
    /// Links whose calibrated probability is below the link threshold, and creates whose
    /// nearest organization is at or above the review threshold: where the rules overrule
    /// the score.
    links_below_link_threshold: usize,
    creates_above_review_threshold: usize,
}

/// The score bands of `Tally::scored_pairs`.
fn score_band(score: f64) -> Option<&'static str> {
    match score {
        s if s >= 0.9 => Some("0_9"),
        s if s >= 0.8 => Some("0_8"),
        s if s >= 0.7 => Some("0_7"),
        _ => None,
    }
}

impl Tally {
    fn add(&mut self, outcome: &MatchOutcome, truth: Option<i64>) {
        self.customers += 1;
        if truth.is_some() {
            self.with_organization += 1;
        }
        let pair = match outcome {
            MatchOutcome::Link { evidence } => Some(evidence),
            MatchOutcome::Review { candidate, .. } => Some(candidate),
            MatchOutcome::Create { nearest } => nearest.as_ref(),
        };
        if let Some((pair, probability)) = pair.and_then(|pair| Some((pair, pair.probability?))) {
            let band = &mut self.calibration[((probability * 10.0) as usize).min(9)];
            band.0 += 1;
            band.1 += usize::from(truth == Some(pair.pipedrive_id));
            band.2 += probability;
            if let MatchOutcome::Review { .. } = outcome {
                let band = &mut self.reviews_by_probability[((probability * 10.0) as usize).min(9)];
                band.0 += 1;
                band.1 += usize::from(truth == Some(pair.pipedrive_id));
                band.2 += usize::from(truth.is_some());
            }
            let settings = settings();
            match outcome {
                MatchOutcome::Link { .. } if probability < settings.link_threshold => {
                    self.links_below_link_threshold += 1;
                }
                MatchOutcome::Create { .. } if probability >= settings.review_threshold => {
                    self.creates_above_review_threshold += 1;
                }
                _ => {}
            }
        }
        if let Some(pair) = pair.filter(|pair| pair.rule == MatchRule::NameAndAddress) {
            if let Some(band) = score_band(pair.score) {
                let (pairs, true_pairs) = self.scored_pairs.entry(band).or_default();
                *pairs += 1;
                if truth == Some(pair.pipedrive_id) {
                    *true_pairs += 1;
                }
            }
        }
        match outcome {
            MatchOutcome::Link { evidence } => {
                self.linked_on_probability += usize::from(evidence.linked_on_probability);
                let rule = serde_json::to_value(evidence.rule).unwrap_or_default();
                *self
                    .link_rules
                    .entry(rule.as_str().unwrap_or_default().to_string())
                    .or_default() += 1;
                if truth == Some(evidence.pipedrive_id) {
                    self.linked_right += 1;
                } else {
                    self.linked_wrong += 1;
                }
            }
            MatchOutcome::Review { reason, .. } => {
                self.review += 1;
                if truth.is_none() {
                    self.review_without_true_match += 1;
                }
                let reason = serde_json::to_value(reason).unwrap_or_default();
                let key = format!(
                    "{}_{}",
                    reason.as_str().unwrap_or_default(),
                    if truth.is_some() {
                        "with_truth"
                    } else {
                        "without_truth"
                    }
                );
                *self.review_reasons.entry(key).or_default() += 1;
            }
            MatchOutcome::Create { .. } => {
                if truth.is_some() {
                    self.missed_would_create += 1;
                }
            }
        }
    }
}

/// The custom fields the corpus's organizations carry their evidence in, as a field map that
/// writes the customer number, VAT number, phone and website would name them.
fn evidence_fields() -> OrganizationEvidenceFields {
    OrganizationEvidenceFields {
        customer_number: Some(NUMBER_KEY.into()),
        vat: Some(VAT_KEY.into()),
        phone: Some(PHONE_KEY.into()),
        email: None,
        website: Some(WEBSITE_KEY.into()),
    }
}

/// Peak resident memory of this process so far (VmHWM), in MB; NaN where /proc is missing.
fn peak_rss_mb() -> f64 {
    mlc_engine::peak_rss_kb().map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}

pub(super) fn run(customers: usize, organizations: usize, seed: u64, threads: usize) -> Value {
    let corpus = MatchCorpus {
        seed,
        customers,
        organizations,
    };
    let settings = settings();
    eprintln!("bench match: {customers} customers x {organizations} organizations");

    // The index: organizations 1..=customers are the hand-typed twins of customers, the rest
    // other companies. Generating them is not the matcher's time.
    let mut generate_secs = 0.0;
    let started = Instant::now();
    let mut builder = OrganizationMatcher::builder(settings, evidence_fields(), organizations);
    let mut added = 0usize;
    for index in 0..customers.min(organizations) {
        let generated_at = Instant::now();
        let organization = corpus.customer(index).organization;
        generate_secs += generated_at.elapsed().as_secs_f64();
        if let Some(organization) = organization {
            builder.add_organization(&organization);
            added += 1;
        }
    }
    let mut next_id = customers as i64 + 1;
    while added < organizations {
        let generated_at = Instant::now();
        let organization = corpus.other_organization(next_id);
        generate_secs += generated_at.elapsed().as_secs_f64();
        builder.add_organization(&organization);
        next_id += 1;
        added += 1;
    }
    let mut matcher = builder.finish();
    let index_secs = started.elapsed().as_secs_f64() - generate_secs;

    // The run's customers, compact, as a sync holds them before it plans: they tell a VAT
    // number or domain of one customer from a group's.
    let mut generate_secs = 0.0;
    let started = Instant::now();
    let mut run_builder = RunCustomersBuilder::with_capacity(customers);
    for index in 0..customers {
        let generated_at = Instant::now();
        let customer = corpus.customer(index).customer;
        generate_secs += generated_at.elapsed().as_secs_f64();
        run_builder.add(&customer);
    }
    let run = run_builder.finish();
    let run_secs = started.elapsed().as_secs_f64() - generate_secs;

    // What the evidence means on this run's data: EM over a sample's proposed pairs.
    let started = Instant::now();
    let model = matcher.calibrate(&run, threads).to_json();
    let calibrate_secs = started.elapsed().as_secs_f64();

    let mut tally = Tally::default();
    let mut match_secs = 0.0;
    let mut start = 0;
    while start < customers {
        let end = (start + BATCH).min(customers);
        let (batch, truths): (Vec<Customer>, Vec<Option<i64>>) = (start..end)
            .map(|index| {
                let generated = corpus.customer(index);
                let truth = generated.organization.map(|organization| organization.id);
                (generated.customer, truth)
            })
            .unzip();
        let matched_at = Instant::now();
        let outcomes = matcher.match_customers(&batch, Some(&run), threads);
        match_secs += matched_at.elapsed().as_secs_f64();
        for (outcome, truth) in outcomes.iter().zip(truths) {
            tally.add(outcome, truth);
        }
        start = end;
    }
    let index_mb = matcher.heap_bytes() as f64 / 1_048_576.0;
    let run_mb = run.heap_bytes() as f64 / 1_048_576.0;
    let peak_rss_mb = peak_rss_mb();
    drop(matcher);
    drop(run);
    let (duplicates_planted, duplicates_found) = ecc_duplicates(&corpus, settings, threads);

    let share = |part: usize, of: usize| part as f64 / of.max(1) as f64;
    let mut metrics = json!({
        "customers": customers,
        "organizations": organizations,
        "customers_with_organization": tally.with_organization,
        "linked_right_share": round(share(tally.linked_right, tally.with_organization)),
        "linked_right": tally.linked_right,
        "linked_wrong": tally.linked_wrong,
        "missed_would_create": tally.missed_would_create,
        "review_share": round(share(tally.review, tally.customers)),
        "review": tally.review,
        "review_without_true_match": tally.review_without_true_match,
        "wall_secs": round(index_secs + run_secs + calibrate_secs + match_secs),
        "index_secs": round(index_secs),
        "run_customers_secs": round(run_secs),
        "calibrate_secs": round(calibrate_secs),
        "match_secs": round(match_secs),
        "threads": threads,
        "index_mb": round(index_mb),
        "run_customers_mb": round(run_mb),
        "peak_rss_mb": round(peak_rss_mb),
        "ecc_duplicates_planted": duplicates_planted,
        "ecc_duplicates_found": duplicates_found,
        "calibration": calibration_table(&tally.calibration),
        "reviews_by_probability": reviews_table(&tally.reviews_by_probability),
        "linked_on_probability": tally.linked_on_probability,
        "links_below_link_threshold": tally.links_below_link_threshold,
        "creates_above_review_threshold": tally.creates_above_review_threshold,
        "calibration_model": model,
    });
    if let Some(object) = metrics.as_object_mut() {
        for (rule, count) in tally.link_rules {
            object.insert(format!("link_by_{rule}"), json!(count));
        }
        for (reason, count) in tally.review_reasons {
            object.insert(format!("review_{reason}"), json!(count));
        }
        for (band, (pairs, true_pairs)) in tally.scored_pairs {
            object.insert(format!("scored_pairs_from_{band}"), json!(pairs));
            object.insert(
                format!("true_share_from_{band}"),
                json!(round(share(true_pairs, pairs))),
            );
        }
    }
    json!({ "name": "match", "metrics": metrics })
}

/// The calibration table: per tenth of the calibrated probability, how many proposed pairs,
/// the share of them that is the customer's true organization, and their mean probability. A
/// calibrated score has the share close to the mean in every band.
fn calibration_table(bands: &[(usize, usize, f64); 10]) -> Value {
    let rows: Vec<Value> = bands
        .iter()
        .enumerate()
        .filter(|(_, (pairs, _, _))| *pairs > 0)
        .map(|(tenth, (pairs, true_pairs, probability_sum))| {
            json!({
                "band": format!("{:.1}-{:.1}", tenth as f64 / 10.0, (tenth + 1) as f64 / 10.0),
                "pairs": pairs,
                "true_share": round(*true_pairs as f64 / *pairs as f64),
                "mean_probability": round(probability_sum / *pairs as f64),
            })
        })
        .collect();
    Value::Array(rows)
}

/// The reviews per tenth of their candidate's probability: what deciding them on the
/// probability would do (linking a band links its `candidate_true` right and the rest wrong;
/// creating for a band duplicates its `with_organization`).
fn reviews_table(bands: &[(usize, usize, usize); 10]) -> Value {
    let rows: Vec<Value> = bands
        .iter()
        .enumerate()
        .filter(|(_, (reviews, _, _))| *reviews > 0)
        .map(|(tenth, (reviews, candidate_true, with_organization))| {
            json!({
                "band": format!("{:.1}-{:.1}", tenth as f64 / 10.0, (tenth + 1) as f64 / 10.0),
                "reviews": reviews,
                "candidate_true": candidate_true,
                "with_organization": with_organization,
            })
        })
        .collect();
    Value::Array(rows)
}

/// Duplicates inside ECC: near-duplicates of 2% of the first customers (up to 100,000), typed
/// again under another number; how many of them the duplicate search finds.
fn ecc_duplicates(corpus: &MatchCorpus, settings: MatchSettings, threads: usize) -> (usize, usize) {
    let count = corpus.customers.min(100_000);
    let mut ecc: Vec<Customer> = (0..count)
        .map(|index| corpus.customer(index).customer)
        .collect();
    let mut random = Random::new(corpus.seed ^ 0x1234);
    let mut planted = Vec::new();
    for twin in 0..count / 50 {
        let original = ecc[(twin * 7_919) % count].clone();
        let mut copy = original.clone();
        copy.customer_number = CustomerNumber::from_internal(format!("{:010}", 5_000_000 + twin));
        copy.customer_number_display = copy.customer_number.display();
        copy.name = hand_typed_name(&mut random, &original.name);
        copy.billing_address.street = copy.billing_address.street.replace("straße", "str.");
        planted.push((
            copy.customer_number.clone(),
            original.customer_number.clone(),
        ));
        ecc.push(copy);
    }
    let duplicates = find_ecc_duplicates(&ecc, settings, threads);
    let found = planted
        .iter()
        .filter(|(copy, original)| {
            duplicates.iter().any(|duplicate| {
                duplicate.customer_number == copy.as_str()
                    && duplicate.duplicate_of == original.as_str()
            })
        })
        .count();
    (planted.len(), found)
}
