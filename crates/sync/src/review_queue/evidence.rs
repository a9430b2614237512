//! A review pair's evidence as a reviewer reads it: comparisons for and against, with their
//! weights where the matcher gave any, read generically from whatever JSON the pair holds.
//!
//! The matcher's evidence format changes with the matcher, and pairs queued by an older version
//! stay in the store, so nothing here depends on one shape. Read, in this order, from the
//! evidence object and its `candidate` (or `best`, `match`) object:
//! - lists of comparisons: arrays of objects with a name (`name`, `field`, `feature`,
//!   `comparison`), an optional value (`value`, `outcome`, `level`, `result`, or the two sides
//!   `ecc`/`pipedrive`) and an optional weight (`weight`, `match_weight`, `log_weight`, `bits`);
//!   the direction is the weight's sign, else an `agrees`/`for` flag or a word in the value
//!   ("agree", "equal", "differ", ...), else the list's own name (`for`, `against`, ...);
//! - maps of comparisons: `comparisons`, `weights` or `features` objects, name → weight or
//!   name → comparison object;
//! - lists of names: `agreed` (for), `disagreed` (against), as the matcher stores them today;
//! - today's scalars: `name_score`, `address_factor` (neutral values), `linked_to` (against: the
//!   organization carries another customer number), and a person pair's `rule` (for);
//! - anything else that is a plain scalar of a flat evidence object, as a value (for or against
//!   when it is a word such as "equal" or "differs").

use serde::Serialize;
use serde_json::{Map, Value};

/// Which way a comparison points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    For,
    Against,
    /// A value without a verdict (a similarity, a factor).
    Neutral,
}

/// One piece of evidence about a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub name: String,
    /// The compared values or the outcome, as text; `None` when only the name was stored.
    pub value: Option<String>,
    /// The log-weight (or any signed weight) the matcher gave it, when it gave one.
    pub weight: Option<f64>,
    pub direction: Direction,
}

/// A pair's evidence, read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReviewEvidence {
    /// Why the matcher asked, in words ("middle band", "2 persons fit").
    pub reason: Option<String>,
    /// How the candidate was found ("name and address", "vat number").
    pub rule: Option<String>,
    /// For first (heaviest first), then against (heaviest first), then neutral values.
    pub comparisons: Vec<Comparison>,
    /// The ECC key the proposed record already carries or is linked to, when the matcher said
    /// so (`linked_to`): accepting the pair would take it from that record.
    pub linked_to: Option<String>,
    /// How likely the pair is one company by the matcher's calibrated model (`probability`,
    /// or `match_probability`), when it gave one.
    pub probability: Option<f64>,
    /// Which model gave it (`probability_from`): "run" (estimated from the run's own
    /// proposals) or "defaults" (a run too small to estimate one).
    pub probability_from: Option<String>,
}

/// Keys that name a comparison in a comparison object.
const NAME_KEYS: [&str; 4] = ["name", "field", "feature", "comparison"];
const VALUE_KEYS: [&str; 5] = ["value", "outcome", "level", "result", "comparison"];
const WEIGHT_KEYS: [&str; 5] = [
    "weight",
    "match_weight",
    "log_weight",
    "bits",
    "log2_bayes_factor",
];
/// Objects inside the evidence that describe the proposed candidate (not a runner-up); a link
/// the planner turned into a review (the organization taken by another customer of the run)
/// keeps its pair under `evidence`.
const CANDIDATE_KEYS: [&str; 4] = ["candidate", "best", "match", "evidence"];
/// Objects that map comparison names to weights or comparison objects.
const MAP_KEYS: [&str; 3] = ["comparisons", "weights", "features"];
/// Scalars that are bookkeeping, never evidence.
const BOOKKEEPING: [&str; 11] = [
    "decision",
    "reason",
    "rule",
    "score",
    "pipedrive_id",
    "candidate_name",
    "person_ids",
    "total_weight",
    "match_probability",
    "probability",
    "probability_from",
];

impl ReviewEvidence {
    /// Reads `evidence` as the module comment describes; never fails: what it cannot read is
    /// left out, and the raw JSON stays available to whoever wants it.
    pub fn read(evidence: &Value) -> ReviewEvidence {
        let Some(root) = evidence.as_object() else {
            return ReviewEvidence::default();
        };
        let mut read = ReviewEvidence {
            reason: text(root.get("reason")).map(|reason| words(&reason)),
            rule: None,
            comparisons: Vec::new(),
            linked_to: None,
            probability: None,
            probability_from: None,
        };
        let candidates: Vec<&Map<String, Value>> = CANDIDATE_KEYS
            .iter()
            .filter_map(|key| root.get(*key).and_then(Value::as_object))
            .collect();
        for object in std::iter::once(root).chain(candidates.iter().copied()) {
            read.read_object(object);
        }
        read.rule = candidates
            .iter()
            .chain(std::iter::once(&root))
            .find_map(|object| text(object.get("rule")))
            .map(|rule| words(&rule));
        let probability_of = |object: &&Map<String, Value>| {
            ["probability", "match_probability"]
                .iter()
                .find_map(|key| object.get(*key).and_then(Value::as_f64))
                .map(|probability| (probability, text(object.get("probability_from"))))
        };
        if let Some((probability, from)) = candidates
            .iter()
            .chain(std::iter::once(&root))
            .find_map(probability_of)
        {
            read.probability = Some(probability);
            read.probability_from = from;
        }
        let is_person_pair = root.contains_key("person_ids");
        if is_person_pair {
            if let Some(rule) = &read.rule {
                read.comparisons.push(Comparison {
                    name: rule.clone(),
                    value: Some("fits".into()),
                    weight: None,
                    direction: Direction::For,
                });
            }
        }
        let flat = candidates.is_empty() && !root.contains_key("decision");
        if flat && read.comparisons.is_empty() {
            for (key, value) in root {
                if BOOKKEEPING.contains(&key.as_str()) {
                    continue;
                }
                if let Some(value) = scalar(value) {
                    read.comparisons.push(Comparison {
                        name: words(key),
                        direction: value_direction(&value).unwrap_or(Direction::Neutral),
                        value: Some(value),
                        weight: None,
                    });
                }
            }
        }
        read.comparisons.sort_by(|a, b| {
            let heavier = |c: &Comparison| -c.weight.map(f64::abs).unwrap_or(0.0);
            (a.direction, heavier(a))
                .partial_cmp(&(b.direction, heavier(b)))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        read
    }

    fn read_object(&mut self, object: &Map<String, Value>) {
        for (key, value) in object {
            let default = list_direction(key);
            match value {
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(name) => self.push(Comparison {
                                name: words(name),
                                value: None,
                                weight: None,
                                direction: default.unwrap_or(Direction::Neutral),
                            }),
                            Value::Object(fields) => {
                                if let Some(comparison) = comparison_object(None, fields, default) {
                                    self.push(comparison);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Value::Object(fields) if MAP_KEYS.contains(&key.as_str()) => {
                    for (name, entry) in fields {
                        let comparison = match entry {
                            Value::Number(weight) => weight.as_f64().map(|weight| Comparison {
                                name: words(name),
                                value: None,
                                weight: Some(weight),
                                direction: sign(weight),
                            }),
                            Value::Object(fields) => comparison_object(Some(name), fields, None),
                            other => scalar(other).map(|value| Comparison {
                                name: words(name),
                                direction: value_direction(&value).unwrap_or(Direction::Neutral),
                                value: Some(value),
                                weight: None,
                            }),
                        };
                        if let Some(comparison) = comparison {
                            self.push(comparison);
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(score) = object.get("name_score").and_then(Value::as_f64) {
            self.push(neutral("name similarity", format!("{score:.2}")));
        }
        if let Some(factor) = object.get("address_factor").and_then(Value::as_f64) {
            self.push(neutral("address factor", format!("{factor:.2}")));
        }
        if let Some(linked) = text(object.get("linked_to")) {
            self.linked_to.get_or_insert(linked.clone());
            self.push(Comparison {
                name: "linked to".into(),
                value: Some(format!("customer {}", mlc_canonical::alpha_output(&linked))),
                weight: None,
                direction: Direction::Against,
            });
        }
    }

    /// Adds a comparison unless one of the same name and direction is there already (the same
    /// list may appear on the evidence and on its candidate).
    fn push(&mut self, comparison: Comparison) {
        let known = self.comparisons.iter().any(|existing| {
            existing.name == comparison.name && existing.direction == comparison.direction
        });
        if !known {
            self.comparisons.push(comparison);
        }
    }

    /// The comparisons pointing `direction`'s way, heaviest first.
    pub fn pointing(&self, direction: Direction) -> impl Iterator<Item = &Comparison> {
        self.comparisons
            .iter()
            .filter(move |comparison| comparison.direction == direction)
    }

    /// One line for a terminal table, at most `max_chars` characters: `+vat(4.2) +postal code
    /// −street ~name similarity 0.91`, heaviest first, cut with `…`.
    pub fn summary(&self, max_chars: usize) -> String {
        let parts: Vec<String> = self.comparisons.iter().map(Comparison::short).collect();
        let line = parts.join(" ");
        if line.chars().count() <= max_chars {
            return line;
        }
        let mut shortened: String = line.chars().take(max_chars.saturating_sub(1)).collect();
        shortened.push('…');
        shortened
    }
}

impl Comparison {
    /// `+name(weight)`, `−name`, `~name value`; a value that says more than its direction
    /// (`−linked to customer 4711`) is kept.
    pub fn short(&self) -> String {
        let sign = match self.direction {
            Direction::For => "+",
            Direction::Against => "−",
            Direction::Neutral => "~",
        };
        match (self.weight, &self.value) {
            (Some(weight), _) => format!("{sign}{}({weight:.1})", self.name),
            (None, Some(value))
                if self.direction == Direction::Neutral || value_direction(value).is_none() =>
            {
                format!("{sign}{} {value}", self.name)
            }
            _ => format!("{sign}{}", self.name),
        }
    }
}

fn neutral(name: &str, value: String) -> Comparison {
    Comparison {
        name: name.into(),
        value: Some(value),
        weight: None,
        direction: Direction::Neutral,
    }
}

/// A comparison object; `name` when the map key names it.
fn comparison_object(
    name: Option<&str>,
    fields: &Map<String, Value>,
    default: Option<Direction>,
) -> Option<Comparison> {
    let name = name
        .map(str::to_string)
        .or_else(|| NAME_KEYS.iter().find_map(|key| text(fields.get(*key))))?;
    let weight = WEIGHT_KEYS
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_f64));
    let value = VALUE_KEYS
        .iter()
        .filter(|key| fields.get(**key).and_then(Value::as_str) != Some(name.as_str()))
        .find_map(|key| fields.get(*key).and_then(scalar))
        .or_else(|| sides(fields));
    let flag = ["agrees", "agree", "for", "supports", "matches"]
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_bool))
        .map(|agrees| {
            if agrees {
                Direction::For
            } else {
                Direction::Against
            }
        });
    let named = text(fields.get("direction")).and_then(|word| value_direction(&word));
    let direction = weight
        .filter(|weight| *weight != 0.0)
        .map(sign)
        .or(flag)
        .or(named)
        .or_else(|| value.as_deref().and_then(value_direction))
        .or(default)
        .unwrap_or(Direction::Neutral);
    Some(Comparison {
        name: words(&name),
        value,
        weight,
        direction,
    })
}

/// `ECC value ≠ Pipedrive value` from the two sides of a comparison object.
fn sides(fields: &Map<String, Value>) -> Option<String> {
    let pairs = [
        ("ecc", "pipedrive"),
        ("left", "right"),
        ("customer", "organization"),
    ];
    pairs.iter().find_map(|(left, right)| {
        let left = fields.get(*left).and_then(scalar)?;
        let right = fields.get(*right).and_then(scalar)?;
        let relation = if left == right { "=" } else { "≠" };
        Some(format!("{left} {relation} {right}"))
    })
}

fn sign(weight: f64) -> Direction {
    if weight > 0.0 {
        Direction::For
    } else if weight < 0.0 {
        Direction::Against
    } else {
        Direction::Neutral
    }
}

/// The direction a list's name gives its items: `agreed` for, `disagreed` against.
fn list_direction(key: &str) -> Option<Direction> {
    match key {
        "agreed" | "agree" | "for" | "supporting" | "pro" | "evidence_for" => Some(Direction::For),
        "disagreed" | "disagree" | "against" | "opposing" | "contra" | "evidence_against" => {
            Some(Direction::Against)
        }
        _ => None,
    }
}

/// The direction a value's word gives ("equal", "differs", ...); none for other values.
fn value_direction(value: &str) -> Option<Direction> {
    let word = value.trim().to_ascii_lowercase();
    let agrees = [
        "agree", "agrees", "agreed", "equal", "same", "match", "matches", "exact", "yes", "for",
    ];
    let differs = [
        "disagree",
        "disagrees",
        "disagreed",
        "differ",
        "differs",
        "different",
        "mismatch",
        "conflict",
        "no",
        "against",
    ];
    if agrees.contains(&word.as_str()) {
        Some(Direction::For)
    } else if differs.contains(&word.as_str()) {
        Some(Direction::Against)
    } else {
        None
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

/// A scalar as text: strings bare, numbers as written, booleans as yes/no.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(if *flag { "yes" } else { "no" }.to_string()),
        _ => None,
    }
}

/// `postal_code` → `postal code`.
fn words(key: &str) -> String {
    key.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(evidence: &ReviewEvidence, direction: Direction) -> Vec<String> {
        evidence
            .pointing(direction)
            .map(|comparison| comparison.name.clone())
            .collect()
    }

    #[test]
    fn todays_organization_evidence_reads_as_agreed_for_and_disagreed_against() {
        let stored = json!({
            "decision": "review", "reason": "middle_band",
            "candidate": {"pipedrive_id": 17, "rule": "name_and_address", "score": 0.81,
                          "name_score": 0.93, "address_factor": 0.87,
                          "agreed": ["postal_code", "city"], "disagreed": ["street"],
                          "linked_to": "0000004711", "candidate_name": "mueller"},
            "other": {"pipedrive_id": 18, "agreed": ["country"], "disagreed": []}
        });
        let read = ReviewEvidence::read(&stored);
        assert_eq!(read.reason.as_deref(), Some("middle band"));
        assert_eq!(read.rule.as_deref(), Some("name and address"));
        assert_eq!(names(&read, Direction::For), ["postal code", "city"]);
        assert_eq!(names(&read, Direction::Against), ["street", "linked to"]);
        assert_eq!(
            names(&read, Direction::Neutral),
            ["name similarity", "address factor"]
        );
        let linked = read.pointing(Direction::Against).nth(1).unwrap();
        assert_eq!(linked.value.as_deref(), Some("customer 4711"));
        assert_eq!(read.linked_to.as_deref(), Some("0000004711"));
        assert!(read
            .summary(200)
            .contains("−street −linked to customer 4711"));
        assert!(
            !read.comparisons.iter().any(|c| c.name == "country"),
            "the runner-up's evidence is not the candidate's"
        );
    }

    #[test]
    fn the_candidates_calibrated_probability_is_read_with_the_model_it_came_from() {
        let stored = json!({
            "decision": "review", "reason": "middle_band",
            "candidate": {"pipedrive_id": 17, "score": 0.84, "probability": 0.127,
                          "probability_from": "defaults",
                          "weights": [{"comparison": "name", "level": "from_0_95", "weight": 1.58}]},
            "other": {"pipedrive_id": 18, "probability": 0.9}
        });
        let read = ReviewEvidence::read(&stored);
        assert_eq!(read.probability, Some(0.127));
        assert_eq!(read.probability_from.as_deref(), Some("defaults"));
        assert!(
            !read
                .comparisons
                .iter()
                .any(|c| c.name.contains("probability")),
            "the probability is the verdict, not a piece of evidence: {:?}",
            read.comparisons
        );
        let before_models = json!({"decision": "review", "candidate": {"score": 0.8}});
        assert_eq!(ReviewEvidence::read(&before_models).probability, None);
        // A link the planner held back for review keeps its pair under `evidence`.
        let held_back = json!({"decision": "link", "evidence": {"pipedrive_id": 2,
            "agreed": ["name", "street"], "disagreed": [], "probability": 0.998,
            "probability_from": "defaults"}});
        let read = ReviewEvidence::read(&held_back);
        assert_eq!(read.probability, Some(0.998));
        assert_eq!(names(&read, Direction::For), ["name", "street"]);
    }

    #[test]
    fn a_list_of_weighted_comparisons_reads_with_weights_heaviest_first() {
        let stored = json!({
            "decision": "review", "reason": "middle_band",
            "candidate": {"pipedrive_id": 17, "score": 0.8, "comparisons": [
                {"name": "city", "value": "equal", "weight": 0.4},
                {"name": "vat_number", "ecc": "DE123", "pipedrive": "DE999", "weight": -6.5},
                {"name": "postal_code", "value": "equal", "weight": 2.3},
                {"name": "phone", "value": "unknown"},
                {"name": "house_number", "agrees": false}
            ]}
        });
        let read = ReviewEvidence::read(&stored);
        assert_eq!(names(&read, Direction::For), ["postal code", "city"]);
        assert_eq!(
            names(&read, Direction::Against),
            ["vat number", "house number"]
        );
        assert_eq!(names(&read, Direction::Neutral), ["phone"]);
        let vat = read.pointing(Direction::Against).next().unwrap();
        assert_eq!(vat.weight, Some(-6.5));
        assert_eq!(vat.value.as_deref(), Some("DE123 ≠ DE999"));
        assert_eq!(
            read.summary(200),
            "+postal code(2.3) +city(0.4) −vat number(-6.5) −house number ~phone unknown"
        );
    }

    #[test]
    fn a_map_of_weights_and_top_level_for_and_against_lists_are_read() {
        let stored = json!({
            "decision": "review",
            "weights": {"vat": 5.0, "country": -3.0},
            "against": [{"field": "street", "value": "Hauptstr. ≠ Ringstr."}]
        });
        let read = ReviewEvidence::read(&stored);
        assert_eq!(names(&read, Direction::For), ["vat"]);
        assert_eq!(names(&read, Direction::Against), ["country", "street"]);
    }

    #[test]
    fn a_person_pair_says_which_rule_fits() {
        let stored = json!({"decision": "review", "person_ids": [5, 6], "rule": "email",
                            "reason": "2 persons fit"});
        let read = ReviewEvidence::read(&stored);
        assert_eq!(read.reason.as_deref(), Some("2 persons fit"));
        assert_eq!(names(&read, Direction::For), ["email"]);
    }

    #[test]
    fn a_flat_object_reads_as_neutral_values_and_anything_else_as_nothing() {
        let read = ReviewEvidence::read(&json!({"name": 0.91, "city": "equal"}));
        assert_eq!(read.comparisons.len(), 2);
        assert_eq!(names(&read, Direction::For), ["city"]);
        for nothing in [json!(null), json!("text"), json!([1, 2]), json!({})] {
            let read = ReviewEvidence::read(&nothing);
            assert!(read.comparisons.is_empty() && read.reason.is_none());
            assert_eq!(read.summary(40), "");
        }
    }

    #[test]
    fn the_summary_fits_the_width_it_is_given() {
        let stored = json!({"candidate": {"agreed": ["postal_code", "city", "street",
            "house_number", "country"], "disagreed": ["vat_number"]}});
        let summary = ReviewEvidence::read(&stored).summary(30);
        assert_eq!(summary.chars().count(), 30);
        assert!(summary.ends_with('…'));
        assert!(summary.starts_with("+postal code +city"));
    }
}
