//! The Fellegi–Sunter model that turns a pair's comparisons into the probability that both
//! records are one company: each comparison lands on one level, and each level weighs by how
//! much more often it occurs among true pairs (m) than among the other candidates (u).
//!
//! m, u and the share of true pairs among the candidates (λ) are estimated with expectation
//! maximisation over the run's own candidate pairs, as Splink does, when the run has enough of
//! them ([`MIN_PAIRS_TO_ESTIMATE`]); a small run (a delta of three customers) cannot estimate
//! anything and uses [`MatchModel::defaults`]. u is estimated over the pairs blocking produced,
//! not over random pairs: the score is a probability among candidates, which is what the
//! thresholds are applied to, so u and λ must describe the same population.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The comparisons of a pair, in the order of a [`ComparisonVector`].
pub const COMPARISONS: [&str; 5] = ["name", "address", "vat", "phone", "domain"];

const NAME: usize = 0;
const ADDRESS: usize = 1;
const VAT: usize = 2;
const PHONE: usize = 3;
const DOMAIN: usize = 4;

/// Each comparison's levels, best first. A comparison that could not be made (one side lacks
/// the value) has no level: it weighs nothing either way.
pub const LEVELS: [&[&str]; 5] = [
    &["exact", "from_0_95", "from_0_90", "from_0_80", "below_0_80"],
    &[
        "same_street_and_number",
        "same_street",
        "same_postal_code",
        "same_city",
        "other_city",
        "other_postal_code",
        "other_street",
        "other_house_number",
        "another_country",
    ],
    // "shared": another customer of the run has the same VAT number (a group's branches).
    &["same", "same_shared", "different"],
    &["same", "different"],
    &["same", "same_shared", "different"],
];

const MAX_LEVELS: usize = 9;

/// Below this no probability goes, so no single level decides a pair alone (log2 of 1/1000 is
/// about −10 bits, as much as three strong agreements).
pub const PROBABILITY_FLOOR: f64 = 1e-3;

/// Fewer candidate pairs than this do not estimate a model: the defaults score the run.
pub const MIN_PAIRS_TO_ESTIMATE: usize = 2_000;

const EM_MAX_ITERATIONS: usize = 100;
const EM_TOLERANCE: f64 = 1e-6;

/// One pair's comparisons: for each of [`COMPARISONS`], its level (an index into [`LEVELS`]),
/// or none when it could not be compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ComparisonVector {
    /// Level + 1; 0 = not compared.
    levels: [u8; 5],
}

/// What a comparison said about the address, as [`ComparisonVector::with_address`] reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressComparison {
    pub postal_code: Option<bool>,
    pub city: Option<bool>,
    pub street: Option<bool>,
    pub house_number: Option<bool>,
    pub country: Option<bool>,
}

impl ComparisonVector {
    fn set(mut self, comparison: usize, level: Option<usize>) -> Self {
        debug_assert!(level.is_none_or(|level| level < LEVELS[comparison].len()));
        self.levels[comparison] = level.map_or(0, |level| level as u8 + 1);
        self
    }

    /// The level of `comparison`, if it was compared.
    pub fn level(&self, comparison: usize) -> Option<usize> {
        self.levels[comparison].checked_sub(1).map(usize::from)
    }

    /// The name similarity (0 to 1) in its band.
    pub fn with_name(self, similarity: f64) -> Self {
        let level = match similarity {
            s if s >= 0.999 => 0,
            s if s >= 0.95 => 1,
            s if s >= 0.90 => 2,
            s if s >= 0.80 => 3,
            _ => 4,
        };
        self.set(NAME, Some(level))
    }

    /// The address parts as one comparison with ordered levels: the parts of one address agree
    /// or differ together, so weighing each alone would count one fact several times. The
    /// strongest "against" decides first (another country, postal code, street, house number),
    /// then the most precise "for".
    pub fn with_address(self, address: AddressComparison) -> Self {
        let level = match address {
            AddressComparison {
                country: Some(false),
                ..
            } => Some(8),
            AddressComparison {
                postal_code: Some(false),
                ..
            } => Some(5),
            AddressComparison {
                street: Some(false),
                ..
            } => Some(6),
            AddressComparison {
                street: Some(true),
                house_number: Some(false),
                ..
            } => Some(7),
            AddressComparison {
                street: Some(true),
                house_number: Some(true),
                ..
            } => Some(0),
            AddressComparison {
                street: Some(true), ..
            } => Some(1),
            AddressComparison {
                postal_code: Some(true),
                ..
            } => Some(2),
            AddressComparison {
                city: Some(true), ..
            } => Some(3),
            AddressComparison {
                city: Some(false), ..
            } => Some(4),
            _ => None,
        };
        self.set(ADDRESS, level)
    }

    /// The VAT number: `None` not compared; `shared` when other customers of the run have it.
    pub fn with_vat(self, same: Option<bool>, shared: bool) -> Self {
        self.set(VAT, shared_level(same, shared))
    }

    pub fn with_phone(self, same: Option<bool>) -> Self {
        self.set(PHONE, same.map(|same| if same { 0 } else { 1 }))
    }

    /// The internet domain, as the VAT number.
    pub fn with_domain(self, same: Option<bool>, shared: bool) -> Self {
        self.set(DOMAIN, shared_level(same, shared))
    }

    /// The same vector with the name at its best level: the most the pair could weigh before
    /// its name is compared.
    pub fn with_best_name(self) -> Self {
        self.set(NAME, Some(0))
    }
}

fn shared_level(same: Option<bool>, shared: bool) -> Option<usize> {
    same.map(|same| match (same, shared) {
        (true, false) => 0,
        (true, true) => 1,
        (false, _) => 2,
    })
}

/// Where a model's probabilities came from, for the dry run and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelSource {
    /// The built-in defaults: the run had too few candidate pairs to estimate its own (or the
    /// estimation failed).
    Defaults { candidate_pairs: usize },
    /// Estimated with EM over this run's candidate pairs.
    Estimated {
        candidate_pairs: usize,
        iterations: usize,
    },
}

impl ModelSource {
    /// One line for a person: "estimated from 41,230 candidate pairs of this run (37 EM
    /// iterations)".
    pub fn describe(&self) -> String {
        match self {
            ModelSource::Defaults { candidate_pairs } => format!(
                "built-in defaults ({candidate_pairs} candidate pairs, fewer than the {MIN_PAIRS_TO_ESTIMATE} needed to estimate)"
            ),
            ModelSource::Estimated {
                candidate_pairs,
                iterations,
            } => format!(
                "estimated from {candidate_pairs} candidate pairs of this run ({iterations} EM iterations)"
            ),
        }
    }
}

/// One comparison of a pair with its weight, for the dry run and the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedComparison {
    pub name: String,
    pub level: String,
    /// log2 of the Bayes factor m/u: positive for, negative against.
    pub weight: f64,
}

/// m and u probabilities per comparison level, and λ.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchModel {
    lambda: f64,
    m: [[f64; MAX_LEVELS]; 5],
    u: [[f64; MAX_LEVELS]; 5],
    /// log2(m/u) per level, and log2(λ/(1−λ)): what scoring reads.
    weights: [[f64; MAX_LEVELS]; 5],
    prior_weight: f64,
    /// How many customers of a run a pair's company-wide evidence fits on average (see
    /// [`MatchModel::sharing_adjustment`]).
    mean_customers_fitting: f64,
    source: ModelSource,
}

/// The defaults: the estimate of `ml-connector bench match --customers 5000` (seed 7; EM over
/// the 216,764 candidate pairs of its 5,000 customers, 14 iterations): hand-typed
/// organizations of 60 in 100 customers, typos, transliterations, missing address parts,
/// branches of one group sharing name, VAT number and domain. Levels no pair of that corpus
/// reached (a street without a house number, a city alone) sit at the floor on both sides and
/// weigh nothing.
const DEFAULT_LAMBDA: f64 = 0.0138;
const DEFAULT_MEAN_CUSTOMERS_FITTING: f64 = 3.171;
const DEFAULT_M: [&[f64]; 5] = [
    &[0.8885, 0.0987, 0.0047, 0.0071, 0.0010],
    &[
        0.9483, 0.0010, 0.0447, 0.0010, 0.0010, 0.0010, 0.0010, 0.0010, 0.0010,
    ],
    &[0.8800, 0.1190, 0.0010],
    &[0.9927, 0.0073],
    &[0.9438, 0.0552, 0.0010],
];
const DEFAULT_U: [&[f64]; 5] = [
    &[0.0070, 0.0016, 0.0010, 0.0106, 0.9798],
    &[
        0.0010, 0.0010, 0.0010, 0.0010, 0.0010, 0.4274, 0.0216, 0.0010, 0.5450,
    ],
    &[0.0010, 0.0117, 0.9873],
    &[0.0010, 0.9990],
    &[0.0010, 0.0018, 0.9972],
];

impl MatchModel {
    fn from_parts(
        lambda: f64,
        m: [[f64; MAX_LEVELS]; 5],
        u: [[f64; MAX_LEVELS]; 5],
        source: ModelSource,
    ) -> Self {
        let mut weights = [[0.0; MAX_LEVELS]; 5];
        for (comparison, levels) in LEVELS.iter().enumerate() {
            for level in 0..levels.len() {
                weights[comparison][level] = (m[comparison][level] / u[comparison][level]).log2();
            }
        }
        let lambda = lambda.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR);
        MatchModel {
            lambda,
            m,
            u,
            weights,
            prior_weight: (lambda / (1.0 - lambda)).log2(),
            mean_customers_fitting: DEFAULT_MEAN_CUSTOMERS_FITTING,
            source,
        }
    }

    /// The built-in model (see the constants' comment for where it came from).
    pub fn defaults() -> Self {
        Self::defaults_for(0)
    }

    fn defaults_for(candidate_pairs: usize) -> Self {
        let table = |rows: [&[f64]; 5]| {
            let mut table = [[0.0; MAX_LEVELS]; 5];
            for (comparison, row) in rows.iter().enumerate() {
                table[comparison][..row.len()].copy_from_slice(row);
                floor_and_normalize(&mut table[comparison][..row.len()]);
            }
            table
        };
        Self::from_parts(
            DEFAULT_LAMBDA,
            table(DEFAULT_M),
            table(DEFAULT_U),
            ModelSource::Defaults { candidate_pairs },
        )
    }

    pub fn source(&self) -> ModelSource {
        self.source
    }

    /// The share of candidate pairs that are true pairs.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// m of one level (`comparison` an index into [`COMPARISONS`]).
    pub fn m(&self, comparison: usize, level: usize) -> f64 {
        self.m[comparison][level]
    }

    pub fn u(&self, comparison: usize, level: usize) -> f64 {
        self.u[comparison][level]
    }

    /// log2 of the pair's posterior odds: the prior plus every compared level's weight.
    pub fn match_weight(&self, vector: &ComparisonVector) -> f64 {
        let mut total = self.prior_weight;
        for comparison in 0..COMPARISONS.len() {
            if let Some(level) = vector.level(comparison) {
                total += self.weights[comparison][level];
            }
        }
        total
    }

    /// The probability that a pair with these comparisons is one company.
    pub fn probability(&self, vector: &ComparisonVector) -> f64 {
        probability_of_weight(self.match_weight(vector))
    }

    /// The term-frequency adjustment of a pair whose company-wide evidence (a name, VAT number
    /// or domain) fits `customers` customers of the run, with nothing placing it at one site:
    /// log2 of how much more (or less) common that is than on average among such pairs, as
    /// Splink adjusts for a value's frequency. When several customers share it, the name, the
    /// VAT number and the domain are one fact (the group), counted once: by the heaviest.
    pub fn sharing_adjustment(&self, vector: &ComparisonVector, customers: usize) -> f64 {
        let frequency = -(customers as f64 / self.mean_customers_fitting).log2();
        if customers <= 1 {
            return frequency;
        }
        let company_wide: Vec<f64> = [(NAME, 1), (VAT, 1), (DOMAIN, 1)]
            .iter()
            .filter_map(|(comparison, last_agreeing)| {
                let level = vector.level(*comparison)?;
                (level <= *last_agreeing).then_some(self.weights[*comparison][level])
            })
            .collect();
        let sum: f64 = company_wide.iter().sum();
        let heaviest = company_wide.iter().copied().fold(0.0, f64::max);
        frequency + heaviest - sum
    }

    /// Each compared level with its weight, heaviest first.
    pub fn explain(&self, vector: &ComparisonVector) -> Vec<WeightedComparison> {
        let mut explained: Vec<WeightedComparison> = (0..COMPARISONS.len())
            .filter_map(|comparison| {
                let level = vector.level(comparison)?;
                Some(WeightedComparison {
                    name: COMPARISONS[comparison].to_string(),
                    level: LEVELS[comparison][level].to_string(),
                    weight: (self.weights[comparison][level] * 100.0).round() / 100.0,
                })
            })
            .collect();
        explained.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        explained
    }

    /// The model for a run with these candidate pairs: estimated from them with EM when there
    /// are enough and the estimate makes sense (agreeing names more common among true pairs),
    /// else the defaults.
    pub fn for_pairs(pairs: &PairCounts) -> Self {
        let total = pairs.total();
        if total < MIN_PAIRS_TO_ESTIMATE {
            return Self::defaults_for(total);
        }
        estimate(pairs, &Self::defaults()).unwrap_or_else(|| Self::defaults_for(total))
    }
}

/// The probability of a match weight (log2 odds).
pub fn probability_of_weight(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// More customers than this fitting a pair are counted as this many while estimating (the
/// adjustment grows slowly, log2).
const FITTING_CAP: usize = 64;

/// Candidate pairs counted by their comparison vector: what EM needs, in little memory (a run
/// of millions of pairs has a few hundred distinct vectors).
#[derive(Debug, Clone, Default)]
pub struct PairCounts {
    /// By vector and by how many customers its company-wide evidence fits (capped at
    /// [`FITTING_CAP`]).
    counts: HashMap<(ComparisonVector, Option<u16>), u64>,
    /// Over the pairs with company-wide evidence and no site: how many customers it fit, summed.
    fitting_sum: u64,
    fitting_pairs: u64,
}

impl PairCounts {
    /// Adds a pair; `customers_fitting` as [`MatchModel::sharing_adjustment`] takes it.
    pub fn add(&mut self, vector: ComparisonVector, customers_fitting: Option<usize>) {
        let fitting = customers_fitting.map(|customers| customers.min(FITTING_CAP) as u16);
        *self.counts.entry((vector, fitting)).or_default() += 1;
        if let Some(customers) = customers_fitting {
            self.fitting_sum += customers as u64;
            self.fitting_pairs += 1;
        }
    }

    pub fn merge(&mut self, other: PairCounts) {
        for (vector, count) in other.counts {
            *self.counts.entry(vector).or_default() += count;
        }
        self.fitting_sum += other.fitting_sum;
        self.fitting_pairs += other.fitting_pairs;
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum::<u64>() as usize
    }
}

/// Raises every probability to the floor and scales them back to a sum of 1.
fn floor_and_normalize(probabilities: &mut [f64]) {
    for probability in probabilities.iter_mut() {
        *probability = probability.max(PROBABILITY_FLOOR);
    }
    let sum: f64 = probabilities.iter().sum();
    for probability in probabilities.iter_mut() {
        *probability /= sum;
    }
}

/// EM from `start`: the E step gives each vector its probability of being a true pair, the M
/// step re-counts m, u and λ weighted by it. Compared levels only: a comparison that could not
/// be made says nothing about m or u. `None` when the result is not a matching model (label
/// switching: the "true" class agreeing on names less often than the other).
pub fn estimate(pairs: &PairCounts, start: &MatchModel) -> Option<MatchModel> {
    let vectors: Vec<(ComparisonVector, Option<u16>, f64)> = pairs
        .counts
        .iter()
        .map(|((vector, fitting), count)| (*vector, *fitting, *count as f64))
        .collect();
    let total: f64 = vectors.iter().map(|(_, _, count)| count).sum();
    if total == 0.0 {
        return None;
    }
    let mut model = start.clone();
    if pairs.fitting_pairs > 0 {
        model.mean_customers_fitting = pairs.fitting_sum as f64 / pairs.fitting_pairs as f64;
    }
    let mut iterations = 0;
    for iteration in 1..=EM_MAX_ITERATIONS {
        iterations = iteration;
        let mut true_pairs = 0.0;
        let mut m = [[0.0; MAX_LEVELS]; 5];
        let mut u = [[0.0; MAX_LEVELS]; 5];
        for (vector, fitting, count) in &vectors {
            // Scored as a pair is scored: the branches of one group that the adjustment
            // explains must not teach the model that a true pair's address may differ.
            let adjustment = fitting.map_or(0.0, |customers| {
                model.sharing_adjustment(vector, usize::from(customers))
            });
            let probability = probability_of_weight(model.match_weight(vector) + adjustment);
            true_pairs += count * probability;
            for (comparison, (m_row, u_row)) in m.iter_mut().zip(u.iter_mut()).enumerate() {
                if let Some(level) = vector.level(comparison) {
                    m_row[level] += count * probability;
                    u_row[level] += count * (1.0 - probability);
                }
            }
        }
        for (comparison, levels) in LEVELS.iter().enumerate() {
            let levels = levels.len();
            for table in [&mut m, &mut u] {
                let row = &mut table[comparison][..levels];
                let sum: f64 = row.iter().sum();
                if sum == 0.0 {
                    row.copy_from_slice(&start.m[comparison][..levels]);
                } else {
                    row.iter_mut().for_each(|value| *value /= sum);
                }
                floor_and_normalize(row);
            }
        }
        let lambda = true_pairs / total;
        let mut next = MatchModel::from_parts(lambda, m, u, model.source);
        next.mean_customers_fitting = model.mean_customers_fitting;
        let change = (next.lambda - model.lambda)
            .abs()
            .max(largest_change(&next, &model));
        model = next;
        if change < EM_TOLERANCE {
            break;
        }
    }
    if model.m[NAME][0] <= model.u[NAME][0] {
        return None;
    }
    model.source = ModelSource::Estimated {
        candidate_pairs: total as usize,
        iterations,
    };
    Some(model)
}

fn largest_change(a: &MatchModel, b: &MatchModel) -> f64 {
    let mut largest: f64 = 0.0;
    for (comparison, levels) in LEVELS.iter().enumerate() {
        for level in 0..levels.len() {
            largest = largest
                .max((a.m[comparison][level] - b.m[comparison][level]).abs())
                .max((a.u[comparison][level] - b.u[comparison][level]).abs());
        }
    }
    largest
}

/// The model as JSON (λ, and m and u by comparison and level), for the benchmark and for
/// deriving the defaults.
pub fn model_json(model: &MatchModel) -> serde_json::Value {
    let mut comparisons = serde_json::Map::new();
    for (comparison, name) in COMPARISONS.iter().enumerate() {
        let levels: serde_json::Map<String, serde_json::Value> = LEVELS[comparison]
            .iter()
            .enumerate()
            .map(|(level, level_name)| {
                let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
                (
                    level_name.to_string(),
                    serde_json::json!({
                        "m": round(model.m[comparison][level]),
                        "u": round(model.u[comparison][level]),
                        "weight": round(model.weights[comparison][level]),
                    }),
                )
            })
            .collect();
        comparisons.insert(name.to_string(), serde_json::Value::Object(levels));
    }
    serde_json::json!({
        "source": model.source,
        "mean_customers_fitting": (model.mean_customers_fitting * 1000.0).round() / 1000.0,
        "lambda": (model.lambda * 10_000.0).round() / 10_000.0,
        "comparisons": comparisons,
    })
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
