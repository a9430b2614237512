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
    source: ModelSource,
}

/// The defaults, from EM over the candidate pairs of `ml-connector bench match --customers
/// 100000` (seed 7): hand-typed organizations of 60% of the customers, typos, transliterations,
/// missing address parts, branches of one group sharing name, VAT number and domain.
const DEFAULT_LAMBDA: f64 = 0.0218;
const DEFAULT_M: [&[f64]; 5] = [
    &[0.5520, 0.2063, 0.1235, 0.0960, 0.0222],
    &[
        0.5400, 0.0600, 0.1431, 0.2150, 0.0010, 0.0078, 0.0039, 0.0010, 0.0282,
    ],
    &[0.6900, 0.2920, 0.0180],
    &[0.8900, 0.1100],
    &[0.7000, 0.2800, 0.0200],
];
const DEFAULT_U: [&[f64]; 5] = [
    &[0.0330, 0.0270, 0.0510, 0.2540, 0.6350],
    &[
        0.0060, 0.0010, 0.1050, 0.2700, 0.0290, 0.3550, 0.0540, 0.0010, 0.1790,
    ],
    &[0.0100, 0.3000, 0.6900],
    &[0.0100, 0.9900],
    &[0.0100, 0.3000, 0.6900],
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

/// Candidate pairs counted by their comparison vector: what EM needs, in little memory (a run
/// of millions of pairs has a few hundred distinct vectors).
#[derive(Debug, Clone, Default)]
pub struct PairCounts {
    counts: HashMap<ComparisonVector, u64>,
}

impl PairCounts {
    pub fn add(&mut self, vector: ComparisonVector) {
        *self.counts.entry(vector).or_default() += 1;
    }

    pub fn merge(&mut self, other: PairCounts) {
        for (vector, count) in other.counts {
            *self.counts.entry(vector).or_default() += count;
        }
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
    let vectors: Vec<(ComparisonVector, f64)> = pairs
        .counts
        .iter()
        .map(|(vector, count)| (*vector, *count as f64))
        .collect();
    let total: f64 = vectors.iter().map(|(_, count)| count).sum();
    if total == 0.0 {
        return None;
    }
    let mut model = start.clone();
    let mut iterations = 0;
    for iteration in 1..=EM_MAX_ITERATIONS {
        iterations = iteration;
        let mut true_pairs = 0.0;
        let mut m = [[0.0; MAX_LEVELS]; 5];
        let mut u = [[0.0; MAX_LEVELS]; 5];
        for (vector, count) in &vectors {
            let probability = model.probability(vector);
            true_pairs += count * probability;
            for (comparison, (m_row, u_row)) in m.iter_mut().zip(u.iter_mut()).enumerate() {
                if let Some(level) = vector.level(comparison) {
                    m_row[level] += count * probability;
                    u_row[level] += count * (1.0 - probability);
                }
            }
        }
        for comparison in 0..COMPARISONS.len() {
            let levels = LEVELS[comparison].len();
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
        let next = MatchModel::from_parts(lambda, m, u, model.source);
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
    for comparison in 0..COMPARISONS.len() {
        for level in 0..LEVELS[comparison].len() {
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
        "lambda": (model.lambda * 10_000.0).round() / 10_000.0,
        "comparisons": comparisons,
    })
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
