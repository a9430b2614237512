//! A group or score decision over the review queue, as the command line and the service take
//! it: the connection's pairs and links are read, `mlc_sync::review_queue::select` (pure)
//! chooses, and unless it is a dry run the choice is written in one transaction, each pair with
//! its own decision record naming the rule.

use std::collections::HashMap;

use mlc_store::{EntityKind, NewReviewDecision, ReviewItem, ReviewStatus, StateStore, StoreError};
use mlc_sync::review_queue::{self, QueueRule, RuleError, Selection};

/// What a rule chose and what was written.
#[derive(Debug, Clone)]
pub struct RuleOutcome {
    /// What the rule decides (on a dry run: would decide).
    pub selection: Selection,
    /// The connection's pairs as read before deciding, decided ones included.
    pub items: Vec<ReviewItem>,
    /// The pairs decided, as they are now; empty on a dry run. A pair the selection named but
    /// someone decided in the meantime is left as it was and missing here.
    pub decided: Vec<ReviewItem>,
}

impl RuleOutcome {
    pub fn item(&self, id: i64) -> Option<&ReviewItem> {
        self.items.iter().find(|item| item.id == id)
    }

    pub fn count(&self, status: ReviewStatus) -> usize {
        self.decided
            .iter()
            .filter(|item| item.status == status)
            .count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewRuleError {
    /// The rule names a pair that is not in the queue, or no longer pending.
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Decides the pairs `rule` selects among `connection`'s queue, recorded as decided by
/// `decided_by`; on a `dry_run` only selects.
pub async fn decide_by_rule(
    store: &dyn StateStore,
    connection: &str,
    rule: QueueRule,
    decided_by: &str,
    dry_run: bool,
) -> Result<RuleOutcome, ReviewRuleError> {
    let items = store.reviews(connection, None).await?;
    // Who holds each record a pending pair proposes, looked up record by record: the queue
    // holds what people decide, while the link table holds millions at a large company (read
    // whole, it took hundreds of MB of the service for each decision).
    let mut links: HashMap<(EntityKind, i64), Option<String>> = HashMap::new();
    for item in items
        .iter()
        .filter(|item| item.status == ReviewStatus::Pending)
    {
        let record = (item.kind, item.pipedrive_id);
        if links.contains_key(&record) {
            continue;
        }
        let holder = store
            .link_by_pipedrive_id(connection, item.kind, item.pipedrive_id)
            .await?
            .map(|link| link.ecc_key);
        links.insert(record, holder);
    }
    let selection = review_queue::select(&items, rule, &|kind, id| {
        links.get(&(kind, id)).cloned().flatten()
    })?;
    let mut pairs: Vec<(i64, ReviewStatus)> = selection
        .accept
        .iter()
        .map(|id| (*id, ReviewStatus::Accepted))
        .collect();
    pairs.extend(
        selection
            .reject
            .iter()
            .map(|id| (*id, ReviewStatus::Rejected)),
    );
    let decided = if dry_run || pairs.is_empty() {
        Vec::new()
    } else {
        store
            .decide_reviews(&NewReviewDecision {
                pairs,
                rule: rule.decision_rule(),
                decided_by: decided_by.to_string(),
            })
            .await?
    };
    for item in &decided {
        tracing::info!(
            review = item.id,
            decision = item.status.as_str(),
            rule = %rule.decision_rule(),
            decided_by,
            ecc_key = %item.ecc_key,
            pipedrive_id = item.pipedrive_id,
            "review decided by rule"
        );
    }
    Ok(RuleOutcome {
        selection,
        items,
        decided,
    })
}

/// The connection a pair belongs to, among `connections`; `None` when no such pair exists.
pub async fn connection_of_pair(
    store: &dyn StateStore,
    connections: &[&str],
    pair: i64,
) -> Result<Option<String>, StoreError> {
    for connection in connections {
        let items = store.reviews(connection, None).await?;
        if items.iter().any(|item| item.id == pair) {
            return Ok(Some(connection.to_string()));
        }
    }
    Ok(None)
}
