//! Which pairs one decision settles: a group (every pending pair proposing the same Pipedrive
//! record) or a score rule over the pending queue.
//!
//! A Pipedrive record is linked to one ECC record only (the store refuses a second link, and a
//! second accepted pair would have the run overwrite the record with another customer's data),
//! so an acceptance is never allowed to give one record to two customers:
//! - accepting a group accepts the one pair named and rejects the group's other pairs: "this
//!   organization is that customer, and none of the others";
//! - `accept --above` holds back a pair whose record is proposed for several customers (a group
//!   decision), already linked to or accepted for another ECC record (by the link table, an
//!   accepted pair, or the matcher's evidence: the organization carries another customer
//!   number), or whose customer has other pending pairs; each held-back pair says why;
//! - rejecting is always safe (the customer is matched again without that record), so a reject
//!   rule holds nothing back.
//!
//! The score rules decide organization pairs only: a person pair carries no match score (the
//! matcher queues it with 1.0 when several persons fit or the one that fits is taken).

use std::collections::{BTreeMap, HashMap};

use mlc_canonical::alpha_output;
use mlc_canonical::state::{DecisionRule, EntityKind, ReviewItem, ReviewStatus};
use serde::Serialize;

use super::evidence::ReviewEvidence;
use super::rank::groups;

/// A decision over the queue, as the reviewer asked for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueRule {
    /// Accept pair `pair`, reject the other pending pairs proposing its record.
    AcceptGroup { pair: i64 },
    /// Reject every pending pair proposing the record pair `pair` proposes.
    RejectGroup { pair: i64 },
    /// Accept every pending pair scoring at least `score` that can be accepted alone.
    AcceptAtOrAbove { score: f64 },
    /// Reject every pending pair scoring below `score`.
    RejectBelow { score: f64 },
}

impl QueueRule {
    /// The rule each decided pair's record names.
    pub fn decision_rule(self) -> DecisionRule {
        match self {
            QueueRule::AcceptGroup { pair } | QueueRule::RejectGroup { pair } => {
                DecisionRule::Group { of_pair: pair }
            }
            QueueRule::AcceptAtOrAbove { score } => DecisionRule::ScoreAtOrAbove { score },
            QueueRule::RejectBelow { score } => DecisionRule::ScoreBelow { score },
        }
    }
}

/// A pair a rule would have decided but leaves pending, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBack {
    pub id: i64,
    pub reason: String,
}

/// What one decision does: the pairs it accepts, those it rejects, those it leaves pending.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Selection {
    pub accept: Vec<i64>,
    pub reject: Vec<i64>,
    pub held_back: Vec<HeldBack>,
}

impl Selection {
    pub fn decides_nothing(&self) -> bool {
        self.accept.is_empty() && self.reject.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("review item {0} does not exist in this connection's queue")]
    NoSuchPair(i64),
    #[error("pair {id} is already {status}: a group is decided from one of its pending pairs")]
    NotPending { id: i64, status: &'static str },
}

/// A score given to `--above`/`--below` or the API: a number from 0 to 1.
pub fn parse_score(text: &str) -> Result<f64, String> {
    let score: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number (a score from 0 to 1, e.g. 0.85)"))?;
    check_score(score)
}

pub fn check_score(score: f64) -> Result<f64, String> {
    if score.is_finite() && (0.0..=1.0).contains(&score) {
        Ok(score)
    } else {
        Err(format!(
            "score {score} is outside 0..1 (match scores run from 0 to 1)"
        ))
    }
}

/// What `rule` decides among `items` (one connection's reviews, decided ones included: an
/// accepted pair holds its record). `linked_to(kind, pipedrive_id)` is the ECC key the record
/// is linked to in the link table, if any.
pub fn select(
    items: &[ReviewItem],
    rule: QueueRule,
    linked_to: &dyn Fn(EntityKind, i64) -> Option<String>,
) -> Result<Selection, RuleError> {
    let pending = |item: &&ReviewItem| item.status == ReviewStatus::Pending;
    match rule {
        QueueRule::AcceptGroup { pair } | QueueRule::RejectGroup { pair } => {
            let named = items
                .iter()
                .find(|item| item.id == pair)
                .ok_or(RuleError::NoSuchPair(pair))?;
            if named.status != ReviewStatus::Pending {
                return Err(RuleError::NotPending {
                    id: pair,
                    status: named.status.as_str(),
                });
            }
            let group: Vec<i64> = items
                .iter()
                .filter(pending)
                .filter(|item| item.kind == named.kind && item.pipedrive_id == named.pipedrive_id)
                .map(|item| item.id)
                .collect();
            if matches!(rule, QueueRule::RejectGroup { .. }) {
                return Ok(Selection {
                    reject: group,
                    ..Selection::default()
                });
            }
            if let Some(holder) = taken_by_another(&accepted_records(items), named, linked_to) {
                return Ok(Selection {
                    held_back: vec![HeldBack {
                        id: pair,
                        reason: holder,
                    }],
                    ..Selection::default()
                });
            }
            Ok(Selection {
                accept: vec![pair],
                reject: group.into_iter().filter(|id| *id != pair).collect(),
                held_back: Vec::new(),
            })
        }
        QueueRule::RejectBelow { score } => Ok(Selection {
            reject: items
                .iter()
                .filter(pending)
                .filter(|item| item.kind == EntityKind::Organization && item.score < score)
                .map(|item| item.id)
                .collect(),
            ..Selection::default()
        }),
        QueueRule::AcceptAtOrAbove { score } => {
            let groups = groups(items);
            let accepted = accepted_records(items);
            let mut pending_per_key: BTreeMap<(EntityKind, &str), Vec<i64>> = BTreeMap::new();
            for item in items.iter().filter(pending) {
                pending_per_key
                    .entry((item.kind, item.ecc_key.as_str()))
                    .or_default()
                    .push(item.id);
            }
            let mut selection = Selection::default();
            for item in items
                .iter()
                .filter(pending)
                .filter(|item| item.kind == EntityKind::Organization && item.score >= score)
            {
                let group = &groups[&(item.kind, item.pipedrive_id)];
                let others = &pending_per_key[&(item.kind, item.ecc_key.as_str())];
                let reason = if group.settles() > 1 {
                    Some(format!(
                        "{} {} is proposed for {} ECC records (pairs {}): decide the group with \
                         `review accept --group {}`",
                        item.kind,
                        item.pipedrive_id,
                        group.settles(),
                        join(&group.pair_ids),
                        item.id
                    ))
                } else if let Some(holder) = taken_by_another(&accepted, item, linked_to) {
                    Some(holder)
                } else if others.len() > 1 {
                    Some(format!(
                        "ECC record {} has {} pending pairs ({}): decide them one by one",
                        alpha_output(&item.ecc_key),
                        others.len(),
                        join(others)
                    ))
                } else {
                    None
                };
                match reason {
                    Some(reason) => selection.held_back.push(HeldBack {
                        id: item.id,
                        reason,
                    }),
                    None => selection.accept.push(item.id),
                }
            }
            Ok(selection)
        }
    }
}

/// The pairs accepted so far, by the record they give away: (kind, Pipedrive id) → the pair.
type Accepted<'a> = HashMap<(EntityKind, i64), &'a ReviewItem>;

fn accepted_records(items: &[ReviewItem]) -> Accepted<'_> {
    items
        .iter()
        .filter(|item| item.status == ReviewStatus::Accepted)
        .map(|item| ((item.kind, item.pipedrive_id), item))
        .collect()
}

/// Why `item`'s record cannot be given to its ECC record: linked to, accepted for, or (by the
/// matcher's evidence) carrying another.
fn taken_by_another(
    accepted: &Accepted<'_>,
    item: &ReviewItem,
    linked_to: &dyn Fn(EntityKind, i64) -> Option<String>,
) -> Option<String> {
    if let Some(holder) = linked_to(item.kind, item.pipedrive_id) {
        if holder != item.ecc_key {
            return Some(format!(
                "{} {} is already linked to ECC record {}",
                item.kind,
                item.pipedrive_id,
                alpha_output(&holder)
            ));
        }
    }
    if let Some(carried) = ReviewEvidence::read(&item.evidence).linked_to {
        if alpha_output(&carried) != alpha_output(&item.ecc_key) {
            return Some(format!(
                "{} {} carries ECC record {} (the matcher's evidence)",
                item.kind,
                item.pipedrive_id,
                alpha_output(&carried)
            ));
        }
    }
    accepted
        .get(&(item.kind, item.pipedrive_id))
        .filter(|other| other.ecc_key != item.ecc_key)
        .map(|other| {
            format!(
                "{} {} is already accepted for ECC record {} (pair {})",
                item.kind,
                item.pipedrive_id,
                alpha_output(&other.ecc_key),
                other.id
            )
        })
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::rank::tests::pair;
    use super::*;

    fn nothing_linked(_: EntityKind, _: i64) -> Option<String> {
        None
    }

    fn queue() -> Vec<ReviewItem> {
        let mut accepted = pair(6, "0000000006", 60, 0.95);
        accepted.status = ReviewStatus::Accepted;
        vec![
            pair(1, "0000000001", 10, 0.95), // alone: accepted by --above 0.9
            pair(2, "0000000002", 20, 0.93), // a group with 3
            pair(3, "0000000003", 20, 0.80),
            pair(4, "0000000004", 40, 0.91), // its record is linked to another customer
            pair(5, "0000000005", 60, 0.92), // its record is accepted for customer 6
            accepted,
            pair(7, "0000000007", 70, 0.96), // its customer has two pending pairs
            pair(8, "0000000007", 80, 0.74),
            pair(9, "0000000009", 90, 0.72),
            person(10, "0000000010", 100),
            carried(11, "0000000011", 110, 0.97, "0000004712"),
        ]
    }

    /// A person pair, queued with the matcher's placeholder score 1.0.
    fn person(id: i64, ecc_key: &str, pipedrive_id: i64) -> ReviewItem {
        let mut item = pair(id, ecc_key, pipedrive_id, 1.0);
        item.kind = EntityKind::Person;
        item
    }

    /// A pair whose organization carries another customer number, as the evidence says.
    fn carried(id: i64, ecc_key: &str, pipedrive_id: i64, score: f64, carried: &str) -> ReviewItem {
        let mut item = pair(id, ecc_key, pipedrive_id, score);
        item.evidence = serde_json::json!({"decision": "review",
            "reason": "linked_to_another_customer", "candidate": {"linked_to": carried}});
        item
    }

    fn linked(kind: EntityKind, id: i64) -> Option<String> {
        (kind == EntityKind::Organization && id == 40).then(|| "0000004711".to_string())
    }

    #[test]
    fn accepting_above_a_score_never_gives_one_record_to_two_customers() {
        let selection =
            select(&queue(), QueueRule::AcceptAtOrAbove { score: 0.9 }, &linked).unwrap();
        assert_eq!(selection.accept, [1]);
        assert!(selection.reject.is_empty());
        let held: Vec<(i64, &str)> = selection
            .held_back
            .iter()
            .map(|held| (held.id, held.reason.as_str()))
            .collect();
        assert_eq!(held.len(), 5, "{held:?}");
        assert_eq!(held[0].0, 2);
        assert!(held[0]
            .1
            .contains("proposed for 2 ECC records (pairs 2, 3)"));
        assert!(held[0].1.contains("review accept --group 2"));
        assert_eq!(held[1].0, 4);
        assert!(held[1].1.contains("already linked to ECC record 4711"));
        assert_eq!(held[2].0, 5);
        assert!(held[2]
            .1
            .contains("already accepted for ECC record 6 (pair 6)"));
        assert_eq!(held[3].0, 7);
        assert!(held[3].1.contains("has 2 pending pairs (7, 8)"));
        assert_eq!(held[4].0, 11);
        assert!(held[4].1.contains("carries ECC record 4712"));
        assert!(
            !selection.accept.contains(&10),
            "a person pair's placeholder score decides nothing"
        );
    }

    #[test]
    fn the_score_rules_are_inclusive_above_and_strict_below() {
        let items = queue();
        let above = select(
            &items,
            QueueRule::AcceptAtOrAbove { score: 0.95 },
            &nothing_linked,
        )
        .unwrap();
        assert_eq!(above.accept, [1], "0.95 itself is accepted, 0.93 not");
        let below = select(
            &items,
            QueueRule::RejectBelow { score: 0.80 },
            &nothing_linked,
        )
        .unwrap();
        assert_eq!(below.reject, [8, 9], "0.80 itself is not rejected");
        let everything = select(
            &items,
            QueueRule::RejectBelow { score: 1.0 },
            &nothing_linked,
        )
        .unwrap();
        assert!(
            !everything.reject.contains(&10),
            "person pairs are decided one by one"
        );
        assert!(below.held_back.is_empty() && below.accept.is_empty());
    }

    #[test]
    fn accepting_a_group_accepts_the_pair_named_and_rejects_the_rest() {
        let items = queue();
        let selection =
            select(&items, QueueRule::AcceptGroup { pair: 3 }, &nothing_linked).unwrap();
        assert_eq!(selection.accept, [3]);
        assert_eq!(selection.reject, [2]);
        let rejected = select(&items, QueueRule::RejectGroup { pair: 2 }, &nothing_linked).unwrap();
        assert_eq!(rejected.reject, [2, 3]);
        assert!(rejected.accept.is_empty());
        assert_eq!(
            QueueRule::RejectGroup { pair: 2 }.decision_rule(),
            DecisionRule::Group { of_pair: 2 }
        );
    }

    #[test]
    fn a_group_whose_record_is_taken_is_held_back_whole() {
        let selection = select(&queue(), QueueRule::AcceptGroup { pair: 4 }, &linked).unwrap();
        assert!(selection.decides_nothing());
        assert_eq!(selection.held_back[0].id, 4);
    }

    #[test]
    fn a_group_is_named_by_a_pending_pair_of_the_queue() {
        let items = queue();
        assert_eq!(
            select(&items, QueueRule::RejectGroup { pair: 99 }, &nothing_linked),
            Err(RuleError::NoSuchPair(99))
        );
        assert_eq!(
            select(&items, QueueRule::AcceptGroup { pair: 6 }, &nothing_linked),
            Err(RuleError::NotPending {
                id: 6,
                status: "accepted"
            })
        );
    }

    #[test]
    fn scores_are_numbers_from_0_to_1() {
        assert_eq!(parse_score("0.85"), Ok(0.85));
        assert_eq!(parse_score(" 1 "), Ok(1.0));
        assert!(parse_score("1.5").unwrap_err().contains("outside 0..1"));
        assert!(parse_score("-0.1").is_err());
        assert!(parse_score("NaN").is_err());
        assert!(parse_score("high").unwrap_err().contains("not a number"));
    }
}
