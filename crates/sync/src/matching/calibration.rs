//! What a proposed pair's evidence means: a Fellegi-Sunter model over the comparisons of the
//! pair the matcher proposes for a customer (its link, review candidate or nearest
//! organization), giving the probability that both records are one company and, per
//! comparison, how much it weighs for or against.
//!
//! The rules of [`super::organization`] still decide link, review or create; this model only
//! says how often pairs like this one are the same company. m, u and the share of true pairs
//! (λ) are estimated by expectation maximisation over the proposals of the run itself, as
//! Splink does, starting from the rules' own view (a link is most likely true, a create most
//! likely not). A run with too few proposals ([`MIN_PAIRS_TO_ESTIMATE`]: a delta, the demo)
//! gets the fixed default model ([`MatchModel::defaults`]), and says so
//! ([`ModelSource::Defaults`]).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::score::Evidence;

/// The comparisons of a pair, in the order of a [`ComparisonVector`].
pub const COMPARISONS: [&str; 6] = ["name", "address", "vat", "phone", "domain", "owner"];

const NAME: usize = 0;
const ADDRESS: usize = 1;
const VAT: usize = 2;
const PHONE: usize = 3;
const DOMAIN: usize = 4;
const OWNER: usize = 5;

/// Each comparison's levels. A comparison that could not be made (one side lacks the value)
/// has no level and weighs nothing either way, except the address, whose absence has a level
/// of its own.
pub const LEVELS: [&[&str]; 6] = [
    // An exact name says less when other customers of the run have it too: the organization
    // may be any of theirs. (Placed nowhere, a pair's name is weighed against the rivals'
    // instead: see `NameRivals`.)
    &[
        "exact_unique",
        "exact_shared_by_2_or_3",
        "exact_shared_by_4_or_more",
        "from_0_95",
        "from_0_90",
        "from_0_80",
        "below_0_80",
    ],
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
        // Nothing of the address could be compared: among the pairs the rules propose that
        // says something (a wrong candidate survives where no address contradicts it).
        "not_compared",
    ],
    // "shared": another customer of the run has the same VAT number (a group's branches).
    &["same", "same_shared", "different"],
    &["same", "different"],
    &["same", "same_shared", "different"],
    // Whom the organization belongs to: its external-id field holds this customer's number,
    // nobody's, or another customer's (or the link table gives it to another).
    &["this_customer", "free", "another_customer"],
];

const MAX_LEVELS: usize = 10;

/// No m or u goes below this, so no single level decides a pair alone.
const PROBABILITY_FLOOR: f64 = 1e-3;

/// Fewer proposals than this do not estimate a model: their pairs get the defaults'
/// probability ([`MatchModel::defaults`]).
pub const MIN_PAIRS_TO_ESTIMATE: usize = 500;

const EM_MAX_ITERATIONS: usize = 200;
const EM_TOLERANCE: f64 = 1e-7;

/// One pair's comparisons: for each of [`COMPARISONS`], its level (an index into [`LEVELS`]),
/// or none when it could not be compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ComparisonVector {
    /// Level + 1; 0 = not compared.
    levels: [u8; 6],
    /// For a pair nothing places at one site (see [`Self::is_unplaced`]): the other customers
    /// of the run the organization's name fits as well, by how well (exactly, from 0.95, from
    /// 0.90: [`NameRivals`]), each capped at 255. All zero otherwise.
    rivals: [u8; 3],
}

/// The other customers of the run an organization nothing places at a site could as well be:
/// those whose name fits the organization's (exactly, from 0.95, from 0.90), and that no
/// organization of their own (their number in its external-id field, their name at their
/// address) already accounts for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameRivals {
    pub exact: usize,
    pub from_0_95: usize,
    pub from_0_90: usize,
}

impl NameRivals {
    pub fn total(&self) -> usize {
        self.exact + self.from_0_95 + self.from_0_90
    }

    /// Counts a rival by its name score against the organization; below 0.90 it does not
    /// count (its name's weight is against).
    pub fn add(&mut self, name_score: f64) {
        match name_score {
            s if s >= 0.999 => self.exact += 1,
            s if s >= 0.95 => self.from_0_95 += 1,
            s if s >= 0.90 => self.from_0_90 += 1,
            _ => {}
        }
    }
}

/// The name levels a rival is counted at, in the order of `ComparisonVector::rivals`:
/// exact_unique, from_0_95, from_0_90.
const RIVAL_LEVELS: [usize; 3] = [0, 3, 4];

/// What a pair's comparison vector is read from besides its [`Evidence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairContext {
    /// How many customers of the run have the customer's normalized name (at least 1).
    pub customers_with_the_name: usize,
    /// Whether other customers of the run have its VAT number, its domain.
    pub vat_shared: bool,
    pub domain_shared: bool,
    /// The organization's external id holds this customer's number.
    pub this_customers: bool,
    /// The organization is linked to another customer number.
    pub another_customers: bool,
}

impl ComparisonVector {
    fn set(&mut self, comparison: usize, level: Option<usize>) {
        debug_assert!(level.is_none_or(|level| level < LEVELS[comparison].len()));
        self.levels[comparison] = level.map_or(0, |level| level as u8 + 1);
    }

    /// The level of `comparison`, if it was compared.
    pub fn level(&self, comparison: usize) -> Option<usize> {
        self.levels[comparison].checked_sub(1).map(usize::from)
    }

    /// The comparisons the score's evidence records, placed on their levels.
    pub fn of(evidence: &Evidence, context: PairContext) -> Self {
        let said = |part: &str| -> Option<bool> {
            if evidence.agreed.iter().any(|agreed| agreed == part) {
                Some(true)
            } else if evidence.disagreed.iter().any(|disagreed| disagreed == part) {
                Some(false)
            } else {
                None
            }
        };
        let mut vector = ComparisonVector::default();
        let name = match evidence.name_score {
            s if s >= 0.999 => match context.customers_with_the_name {
                0 | 1 => 0,
                2 | 3 => 1,
                _ => 2,
            },
            s if s >= 0.95 => 3,
            s if s >= 0.90 => 4,
            s if s >= 0.80 => 5,
            _ => 6,
        };
        vector.set(NAME, Some(name));
        // The parts of one address agree or differ together, so they are one comparison with
        // ordered levels: the strongest "against" first, then the most precise "for".
        let address = match (
            said("country"),
            said("postal_code"),
            said("street"),
            said("house_number"),
            said("city"),
        ) {
            (Some(false), ..) => Some(8),
            (_, Some(false), ..) => Some(5),
            (_, _, Some(false), ..) => Some(6),
            (_, _, Some(true), Some(false), _) => Some(7),
            (_, _, Some(true), Some(true), _) => Some(0),
            (_, _, Some(true), ..) => Some(1),
            (_, Some(true), ..) => Some(2),
            (.., Some(true)) => Some(3),
            (.., Some(false)) => Some(4),
            _ => Some(9),
        };
        vector.set(ADDRESS, address);
        let shared_level = |same: Option<bool>, shared: bool| {
            same.map(|same| match (same, shared) {
                (true, false) => 0,
                (true, true) => 1,
                (false, _) => 2,
            })
        };
        vector.set(VAT, shared_level(said("vat"), context.vat_shared));
        vector.set(PHONE, said("phone").map(|same| usize::from(!same)));
        vector.set(DOMAIN, shared_level(said("domain"), context.domain_shared));
        let owner = if context.this_customers || said("external_id") == Some(true) {
            0
        } else if context.another_customers {
            2
        } else {
            1
        };
        vector.set(OWNER, Some(owner));
        if name <= 2 && vector.is_unplaced() {
            // Nothing places it: how many customers the exact name fits is the rivals'
            // adjustment (see `MatchModel::probability`), as Splink adjusts an exact level for
            // how common its value is.
            vector.set(NAME, Some(0));
        }
        vector
    }

    /// Whether nothing places the pair at one site while its name fits from 0.90 on: no
    /// address compared, no phone line agreeing, no VAT number or domain of this customer
    /// alone agreeing, and the organization not carrying this customer's number. Its
    /// organization may then be any customer's whose name fits it ([`Self::with_rivals`]).
    pub fn is_unplaced(&self) -> bool {
        let identifying = |comparison: usize| self.level(comparison) == Some(0);
        self.level(ADDRESS) == Some(9)
            && !identifying(PHONE)
            && !identifying(VAT)
            && !identifying(DOMAIN)
            && !identifying(OWNER)
            && self.level(NAME).is_some_and(|level| level <= 4)
    }

    /// The vector of an unplaced pair with the run's other customers its organization's name
    /// fits; a placed pair is returned as it is.
    pub fn with_rivals(mut self, rivals: NameRivals) -> Self {
        if self.is_unplaced() {
            let cap = |count: usize| count.min(255) as u8;
            self.rivals = [
                cap(rivals.exact),
                cap(rivals.from_0_95),
                cap(rivals.from_0_90),
            ];
        }
        self
    }

    /// How many customers of the run (this one included) the organization's name fits when
    /// nothing places the pair at a site (2 or more), else none.
    pub fn name_sharers(&self) -> Option<usize> {
        let rivals: usize = self.rivals.iter().map(|count| usize::from(*count)).sum();
        (rivals > 0).then_some(rivals + 1)
    }
}

/// What the rules decided for a proposed pair: where EM starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleView {
    Linked,
    Reviewed,
    Created,
}

impl RuleView {
    /// The probability EM's first step gives a pair the rules decided so.
    fn starting_probability(self) -> f64 {
        match self {
            RuleView::Linked => 0.95,
            RuleView::Reviewed => 0.5,
            RuleView::Created => 0.05,
        }
    }
}

/// Proposed pairs counted by comparison vector: what EM needs, in little memory.
#[derive(Debug, Clone, Default)]
pub struct ProposedPairs {
    /// Per vector: how many pairs, and the sum of their starting probabilities.
    counts: HashMap<ComparisonVector, (f64, f64)>,
}

impl ProposedPairs {
    pub fn add(&mut self, vector: ComparisonVector, view: RuleView) {
        let entry = self.counts.entry(vector).or_default();
        entry.0 += 1.0;
        entry.1 += view.starting_probability();
    }

    pub fn merge(&mut self, other: ProposedPairs) {
        for (vector, (count, start)) in other.counts {
            let entry = self.counts.entry(vector).or_default();
            entry.0 += count;
            entry.1 += start;
        }
    }

    pub fn total(&self) -> usize {
        self.counts.values().map(|(count, _)| *count).sum::<f64>() as usize
    }
}

/// One comparison of a pair with its weight, for the dry run and the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedComparison {
    /// Static names: every pair of a run carries these, so they cost no allocation.
    pub comparison: Cow<'static, str>,
    pub level: Cow<'static, str>,
    /// log2 of the Bayes factor m/u: positive for the pair, negative against.
    pub weight: f64,
}

/// Where a model's m, u and λ come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// Estimated by EM over the run's own proposals.
    Run,
    /// The fixed defaults: the run had too few proposals to estimate its own.
    Defaults,
}

/// λ of the default model: a small run's proposals are as likely true as not.
const DEFAULT_LAMBDA: f64 = 0.5;

/// m and u of the default model per comparison level, in the order of [`LEVELS`]: what each
/// level says among the pairs the rules propose (a customer's best candidate, so most
/// non-matching pairs already have a similar name), from what the comparisons mean, not from
/// any one data set. With them the evidence the rules link on (an exact name at the same
/// address, or with this customer's VAT number, phone or domain) gives 0.9 or more, and a
/// name below 0.80 with nothing for it 0.05 or less (`the_default_model_*` tests). A run
/// estimates its own as soon as it has [`MIN_PAIRS_TO_ESTIMATE`] proposals; BENCHMARKS.md
/// shows how the defaults hold on `bench match`.
const DEFAULT_M_U: [&[(f64, f64)]; 6] = [
    // name: an exact name is the usual sign of one company typed twice; a name two or more
    // customers have is also theirs; one below 0.80 is rarely a company's own spelling.
    &[
        (0.60, 0.03),
        (0.06, 0.02),
        (0.04, 0.03),
        (0.15, 0.05),
        (0.08, 0.07),
        (0.05, 0.30),
        (0.02, 0.50),
    ],
    // address: the same street and number is a site; another house number, postal code,
    // street or country is another site; most proposals that are not the company have an
    // address elsewhere or none.
    &[
        (0.70, 0.002),
        (0.04, 0.005),
        (0.06, 0.05),
        (0.03, 0.08),
        (0.005, 0.20),
        (0.005, 0.12),
        (0.005, 0.10),
        (0.005, 0.05),
        (0.002, 0.05),
        (0.148, 0.343),
    ],
    // VAT number: the same number is one company, unless a group's branches share it.
    &[(0.85, 0.01), (0.13, 0.15), (0.02, 0.84)],
    // phone: one line is one site; a different number is mostly another company.
    &[(0.90, 0.01), (0.10, 0.99)],
    // domain: as the VAT number.
    &[(0.85, 0.005), (0.12, 0.10), (0.03, 0.895)],
    // owner: the customer's own number in the field is nearly sure; another customer's nearly
    // excludes it.
    &[(0.30, 0.001), (0.69, 0.70), (0.01, 0.299)],
];

/// m and u per comparison level, and λ: estimated from one run's proposals, or the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchModel {
    lambda: f64,
    m: [[f64; MAX_LEVELS]; 6],
    u: [[f64; MAX_LEVELS]; 6],
    /// log2(m/u) per level.
    weights: [[f64; MAX_LEVELS]; 6],
    /// log2(λ/(1−λ)).
    prior_weight: f64,
    pairs: usize,
    iterations: usize,
    source: ModelSource,
}

impl MatchModel {
    fn from_parts(lambda: f64, m: [[f64; MAX_LEVELS]; 6], u: [[f64; MAX_LEVELS]; 6]) -> Self {
        let mut weights = [[0.0; MAX_LEVELS]; 6];
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
            pairs: 0,
            iterations: 0,
            source: ModelSource::Run,
        }
    }

    /// The fixed default model ([`DEFAULT_M_U`], [`DEFAULT_LAMBDA`]), for a run with too few
    /// proposals to estimate its own.
    pub fn defaults() -> Self {
        let mut m = [[0.0; MAX_LEVELS]; 6];
        let mut u = [[0.0; MAX_LEVELS]; 6];
        for (comparison, levels) in DEFAULT_M_U.iter().enumerate() {
            debug_assert_eq!(levels.len(), LEVELS[comparison].len());
            for (level, (m_level, u_level)) in levels.iter().enumerate() {
                m[comparison][level] = *m_level;
                u[comparison][level] = *u_level;
            }
            let count = LEVELS[comparison].len();
            floor_and_normalize(&mut m[comparison][..count]);
            floor_and_normalize(&mut u[comparison][..count]);
        }
        MatchModel {
            source: ModelSource::Defaults,
            ..MatchModel::from_parts(DEFAULT_LAMBDA, m, u)
        }
    }

    /// The run's own model when its proposals estimate one ([`Self::estimate`]), else the
    /// defaults (with how many proposals there were).
    pub fn estimate_or_defaults(pairs: &ProposedPairs) -> Self {
        MatchModel::estimate(pairs).unwrap_or_else(|| MatchModel {
            pairs: pairs.total(),
            ..MatchModel::defaults()
        })
    }

    /// Whether the model was estimated from the run or is the defaults.
    pub fn source(&self) -> ModelSource {
        self.source
    }

    /// Estimates the model from a run's proposals; `None` when they are too few, or when the
    /// estimate is not a matching model (the "true" class agreeing on names no more often than
    /// the other).
    pub fn estimate(pairs: &ProposedPairs) -> Option<Self> {
        let total = pairs.total();
        if total < MIN_PAIRS_TO_ESTIMATE {
            return None;
        }
        // Pairs placed nowhere whose organization's name fits other customers too teach nothing
        // about m or u: nothing in them tells the right customer from the others, so EM could
        // put them in either class. Their probability is the rivals' adjustment of the rest's
        // estimate.
        let vectors: Vec<(ComparisonVector, f64, f64)> = pairs
            .counts
            .iter()
            .filter(|(vector, _)| vector.name_sharers().is_none())
            .map(|(vector, (count, start))| (*vector, *count, *start / *count))
            .collect();
        // The first M step counts the rules' view; each E step after it the model's.
        let mut model = maximise(
            vectors
                .iter()
                .map(|(vector, count, start)| (vector, *count, *start)),
        );
        let mut iterations = 0;
        for iteration in 1..=EM_MAX_ITERATIONS {
            iterations = iteration;
            let next = maximise(
                vectors
                    .iter()
                    .map(|(vector, count, _)| (vector, *count, model.probability(vector))),
            );
            let change = largest_change(&next, &model);
            model = next;
            if change < EM_TOLERANCE {
                break;
            }
        }
        let exact_unique_for = model.m[NAME][0] > model.u[NAME][0];
        model.pairs = total;
        model.iterations = iterations;
        exact_unique_for.then_some(model)
    }

    /// The share of proposed pairs that are true pairs.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// How many proposals the run had, and in how many EM iterations the model was estimated
    /// from them (0 for the defaults).
    pub fn estimated_from(&self) -> (usize, usize) {
        (self.pairs, self.iterations)
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

    /// The probability that a pair with these comparisons is one company. A pair nothing
    /// places at a site is one of several customers whose name fits the organization, of whom
    /// at most one is right: its probability is the one the same evidence would have for a
    /// name no other customer has, times this customer's share of the name's Bayes factors
    /// (its own and each rival's: 1/k for k customers of one exact name; little for a name
    /// that fits less well than a rival's).
    pub fn probability(&self, vector: &ComparisonVector) -> f64 {
        let unshared = 1.0 / (1.0 + (-self.match_weight(vector)).exp2());
        if vector.name_sharers().is_none() {
            return unshared;
        }
        let bayes_factor = |level: usize| self.weights[NAME][level].exp2();
        let own = vector.level(NAME).map_or(1.0, bayes_factor);
        let rivals: f64 = RIVAL_LEVELS
            .iter()
            .zip(vector.rivals)
            .map(|(level, count)| f64::from(count) * bayes_factor(*level))
            .sum();
        unshared * own / (own + rivals)
    }

    /// Each compared level with its weight, heaviest first.
    pub fn explain(&self, vector: &ComparisonVector) -> Vec<WeightedComparison> {
        let mut explained: Vec<WeightedComparison> = (0..COMPARISONS.len())
            .filter_map(|comparison| {
                let level = vector.level(comparison)?;
                Some(WeightedComparison {
                    comparison: Cow::Borrowed(COMPARISONS[comparison]),
                    level: Cow::Borrowed(LEVELS[comparison][level]),
                    weight: (self.weights[comparison][level] * 100.0).round() / 100.0,
                })
            })
            .collect();
        if let Some(customers) = vector.name_sharers() {
            // What the rivals' adjustment of the probability weighs, in the same log2-odds as
            // the other comparisons.
            let log_odds = |probability: f64| (probability / (1.0 - probability)).log2();
            let unshared = 1.0 / (1.0 + (-self.match_weight(vector)).exp2());
            let weight =
                log_odds(self.probability(vector).max(1e-12)) - log_odds(unshared.min(1.0 - 1e-12));
            explained.push(WeightedComparison {
                comparison: Cow::Borrowed("name_shared"),
                level: Cow::Owned(format!("by_{customers}_customers")),
                weight: (weight * 100.0).round() / 100.0,
            });
        }
        explained.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        explained
    }

    /// The model as JSON (λ, and m, u and weight by comparison and level), for the benchmark.
    pub fn to_json(&self) -> serde_json::Value {
        let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
        let mut comparisons = serde_json::Map::new();
        for (comparison, name) in COMPARISONS.iter().enumerate() {
            let levels: serde_json::Map<String, serde_json::Value> = LEVELS[comparison]
                .iter()
                .enumerate()
                .map(|(level, level_name)| {
                    (
                        level_name.to_string(),
                        serde_json::json!({
                            "m": round(self.m[comparison][level]),
                            "u": round(self.u[comparison][level]),
                            "weight": round(self.weights[comparison][level]),
                        }),
                    )
                })
                .collect();
            comparisons.insert(name.to_string(), serde_json::Value::Object(levels));
        }
        serde_json::json!({
            "estimated_from": self.source,
            "pairs": self.pairs,
            "iterations": self.iterations,
            "lambda": round(self.lambda),
            "comparisons": comparisons,
        })
    }
}

/// The M step: m, u and λ counted over the vectors, each weighted by its probability of being
/// a true pair. Compared levels only: a comparison that could not be made says nothing.
fn maximise<'a>(weighted: impl Iterator<Item = (&'a ComparisonVector, f64, f64)>) -> MatchModel {
    let mut m = [[0.0; MAX_LEVELS]; 6];
    let mut u = [[0.0; MAX_LEVELS]; 6];
    let mut true_pairs = 0.0;
    let mut total = 0.0;
    for (vector, count, probability) in weighted {
        true_pairs += count * probability;
        total += count;
        for comparison in 0..COMPARISONS.len() {
            if let Some(level) = vector.level(comparison) {
                m[comparison][level] += count * probability;
                u[comparison][level] += count * (1.0 - probability);
            }
        }
    }
    for (comparison, levels) in LEVELS.iter().enumerate() {
        for table in [&mut m, &mut u] {
            floor_and_normalize(&mut table[comparison][..levels.len()]);
        }
    }
    MatchModel::from_parts(true_pairs / total.max(1.0), m, u)
}

/// Scales the counts to probabilities, raises each to the floor and scales them back to a sum
/// of 1 (a level nobody reached weighs nothing: floor on both sides).
fn floor_and_normalize(row: &mut [f64]) {
    let sum: f64 = row.iter().sum();
    for value in row.iter_mut() {
        *value = if sum > 0.0 { *value / sum } else { 0.0 };
        *value = value.max(PROBABILITY_FLOOR);
    }
    let sum: f64 = row.iter().sum();
    row.iter_mut().for_each(|value| *value /= sum);
}

fn largest_change(a: &MatchModel, b: &MatchModel) -> f64 {
    let mut largest = (a.lambda - b.lambda).abs();
    for (comparison, levels) in LEVELS.iter().enumerate() {
        for level in 0..levels.len() {
            largest = largest
                .max((a.m[comparison][level] - b.m[comparison][level]).abs())
                .max((a.u[comparison][level] - b.u[comparison][level]).abs());
        }
    }
    largest
}

#[cfg(test)]
#[path = "calibration_tests.rs"]
mod tests;
