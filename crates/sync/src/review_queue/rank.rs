//! The order the queue is worked in. A pending pair keeps its customer out of Pipedrive (no
//! create, no link) until someone decides, so a decision matters by how many customers it
//! settles, then by how quickly it is taken:
//!
//! 1. Groups first: pairs proposing the same Pipedrive record for several customers, largest
//!    group first. One group decision settles every customer of the group.
//! 2. Then the score's distance to the nearer threshold of the review band, nearest first: just
//!    under `link_threshold` the matcher almost linked (the evidence leans to accept), just over
//!    `review_threshold` it almost created (it leans to reject); both are quick to confirm,
//!    while the middle of the band is where the evidence is split. A score outside the band
//!    (a pair reviewed for its reason, such as an organization linked to another customer) has
//!    distance 0: its reason, not its score, is what the reviewer checks, and it is quickly
//!    checked.
//! 3. Then the oldest pair first.
//!
//! Decided pairs follow the pending ones, in id order.

use std::collections::BTreeMap;

use mlc_canonical::state::{EntityKind, ReviewItem, ReviewStatus};
use serde::Serialize;

/// The matcher's review band: `[review_threshold, link_threshold)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreBand {
    pub review_threshold: f64,
    pub link_threshold: f64,
}

impl ScoreBand {
    pub fn from_config(sync: &mlc_config::SyncConfig) -> ScoreBand {
        ScoreBand {
            review_threshold: sync.review_threshold,
            link_threshold: sync.link_threshold,
        }
    }

    /// How far `score` is from the nearer edge of the band; 0 outside it.
    pub fn distance_to_threshold(&self, score: f64) -> f64 {
        if score < self.review_threshold || score >= self.link_threshold {
            return 0.0;
        }
        (score - self.review_threshold).min(self.link_threshold - score)
    }
}

/// The pending pairs proposing one Pipedrive record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewGroup {
    pub kind: EntityKind,
    pub pipedrive_id: i64,
    /// The pending pairs' ids, oldest first.
    pub pair_ids: Vec<i64>,
    /// The distinct ECC keys among them: the customers (or contacts) one decision settles.
    pub ecc_keys: Vec<String>,
}

impl ReviewGroup {
    pub fn settles(&self) -> usize {
        self.ecc_keys.len()
    }
}

/// A pair in the queue's order, with its group and why it stands where it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedPair {
    /// 1 for the first pair to decide.
    pub rank: usize,
    pub item: ReviewItem,
    /// The pending pairs proposing the same Pipedrive record (this one included); empty for a
    /// decided pair.
    pub group: Vec<i64>,
    /// How many customers deciding its group settles (1 for a pair alone, 0 when decided).
    pub settles: usize,
    pub distance_to_threshold: f64,
}

/// The groups of `items`' pending pairs, keyed by the record they propose.
pub fn groups(items: &[ReviewItem]) -> BTreeMap<(EntityKind, i64), ReviewGroup> {
    let mut groups: BTreeMap<(EntityKind, i64), ReviewGroup> = BTreeMap::new();
    let mut pending: Vec<&ReviewItem> = items
        .iter()
        .filter(|item| item.status == ReviewStatus::Pending)
        .collect();
    pending.sort_by_key(|item| item.id);
    for item in pending {
        let group = groups
            .entry((item.kind, item.pipedrive_id))
            .or_insert_with(|| ReviewGroup {
                kind: item.kind,
                pipedrive_id: item.pipedrive_id,
                pair_ids: Vec::new(),
                ecc_keys: Vec::new(),
            });
        group.pair_ids.push(item.id);
        if !group.ecc_keys.contains(&item.ecc_key) {
            group.ecc_keys.push(item.ecc_key.clone());
        }
    }
    groups
}

/// `items` in the order the module comment gives, numbered from 1.
pub fn rank(items: &[ReviewItem], band: ScoreBand) -> Vec<RankedPair> {
    let groups = groups(items);
    let mut ranked: Vec<RankedPair> = items
        .iter()
        .map(|item| {
            let group = (item.status == ReviewStatus::Pending)
                .then(|| groups.get(&(item.kind, item.pipedrive_id)))
                .flatten();
            RankedPair {
                rank: 0,
                item: item.clone(),
                group: group
                    .map(|group| group.pair_ids.clone())
                    .unwrap_or_default(),
                settles: group.map(ReviewGroup::settles).unwrap_or(0),
                distance_to_threshold: band.distance_to_threshold(item.score),
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        let decided = |pair: &RankedPair| pair.item.status != ReviewStatus::Pending;
        // Members of one group stay together, oldest group first, each in id order.
        let group_of = |pair: &RankedPair| (pair.group.len() > 1).then(|| pair.group[0]);
        decided(a)
            .cmp(&decided(b))
            .then(b.settles.cmp(&a.settles))
            .then(group_of(a).cmp(&group_of(b)))
            .then_with(|| match group_of(a) {
                Some(_) => std::cmp::Ordering::Equal,
                None => a.distance_to_threshold.total_cmp(&b.distance_to_threshold),
            })
            .then(a.item.id.cmp(&b.item.id))
    });
    for (index, pair) in ranked.iter_mut().enumerate() {
        pair.rank = index + 1;
    }
    ranked
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    pub fn pair(id: i64, ecc_key: &str, pipedrive_id: i64, score: f64) -> ReviewItem {
        ReviewItem {
            id,
            connection: "prod".into(),
            kind: EntityKind::Organization,
            ecc_key: ecc_key.into(),
            pipedrive_id,
            score,
            evidence: serde_json::Value::Null,
            status: ReviewStatus::Pending,
            created_at: Utc.timestamp_opt(1_700_000_000 + id, 0).unwrap(),
            decided_at: None,
        }
    }

    const BAND: ScoreBand = ScoreBand {
        review_threshold: 0.70,
        link_threshold: 0.90,
    };

    fn order(ranked: &[RankedPair]) -> Vec<i64> {
        ranked.iter().map(|pair| pair.item.id).collect()
    }

    #[test]
    fn a_group_settling_most_customers_comes_first_then_scores_near_a_threshold() {
        let mut decided = pair(1, "0000000001", 10, 0.89);
        decided.status = ReviewStatus::Rejected;
        let items = vec![
            decided,
            pair(2, "0000000002", 20, 0.80), // middle of the band
            pair(3, "0000000003", 30, 0.89), // nearest the link threshold
            pair(4, "0000000004", 40, 0.72), // near the review threshold
            pair(5, "0000000005", 50, 0.85), // a group of two, with 7
            pair(6, "0000000006", 60, 0.79), // a group of three, with 8 and 9
            pair(7, "0000000007", 50, 0.75),
            pair(8, "0000000008", 60, 0.81),
            pair(9, "0000000009", 60, 0.77),
            pair(10, "0000000010", 70, 0.97), // outside the band: reviewed for its reason
        ];
        let ranked = rank(&items, BAND);
        assert_eq!(order(&ranked), [6, 8, 9, 5, 7, 10, 3, 4, 2, 1]);
        assert_eq!(ranked[0].rank, 1);
        assert_eq!(ranked[0].group, [6, 8, 9]);
        assert_eq!(ranked[0].settles, 3);
        assert_eq!(ranked[3].settles, 2);
        assert_eq!(ranked[6].settles, 1);
        assert_eq!(ranked[9].settles, 0, "a decided pair settles nothing");
        assert!(ranked[9].group.is_empty());
    }

    #[test]
    fn two_pairs_of_one_customer_for_one_record_settle_one_customer() {
        let mut person = pair(3, "0000000001", 50, 0.8);
        person.kind = EntityKind::Person;
        let items = vec![
            pair(1, "0000000001", 50, 0.8),
            pair(2, "0000000001", 50, 0.8),
            person,
        ];
        let groups = groups(&items);
        let organization = &groups[&(EntityKind::Organization, 50)];
        assert_eq!(organization.pair_ids, [1, 2]);
        assert_eq!(organization.settles(), 1);
        assert_eq!(
            groups[&(EntityKind::Person, 50)].pair_ids,
            [3],
            "a person is not grouped with an organization of the same id"
        );
    }

    #[test]
    fn distance_to_the_band_edges() {
        assert!((BAND.distance_to_threshold(0.72) - 0.02).abs() < 1e-9);
        assert!((BAND.distance_to_threshold(0.88) - 0.02).abs() < 1e-9);
        assert!((BAND.distance_to_threshold(0.80) - 0.10).abs() < 1e-9);
        assert_eq!(BAND.distance_to_threshold(0.95), 0.0);
        assert_eq!(BAND.distance_to_threshold(0.40), 0.0);
    }
}
