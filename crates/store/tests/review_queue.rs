//! The review queue on SQLite and PostgreSQL (`store_test_suite!` makes one test per backend):
//! queuing is idempotent, and every decision, single, group or by score, writes the pair's
//! status and a decision record of its own naming the rule and who decided, in one transaction.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::Utc;
use mlc_store::{
    DecisionRule, EntityKind, NewReview, NewReviewDecision, ReviewStatus, StateStore, StoreError,
};
use support::{Backend, TestStore};

const CONNECTION: &str = "prod";

async fn queue(store: &dyn StateStore, ecc_key: &str, pipedrive_id: i64, score: f64) -> i64 {
    store
        .enqueue_review(&NewReview {
            connection: CONNECTION.to_string(),
            kind: EntityKind::Organization,
            ecc_key: ecc_key.to_string(),
            pipedrive_id,
            score,
            evidence: serde_json::json!({ "candidate": { "agreed": ["city"] } }),
        })
        .await
        .expect("queue a pair")
}

async fn review_queue_is_idempotent_and_records_decisions(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let pair = |pipedrive_id: i64| NewReview {
        connection: CONNECTION.to_string(),
        kind: EntityKind::Organization,
        ecc_key: "0000001000".to_string(),
        pipedrive_id,
        score: 0.87,
        evidence: serde_json::json!({ "name": 0.91, "city": "equal" }),
    };
    let first = store.enqueue_review(&pair(500)).await.unwrap();
    assert_eq!(
        store.enqueue_review(&pair(500)).await.unwrap(),
        first,
        "queued once"
    );
    let second = store.enqueue_review(&pair(501)).await.unwrap();
    assert_ne!(first, second);

    let pending = store
        .reviews(CONNECTION, Some(ReviewStatus::Pending))
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|item| item.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(pending[0].score, 0.87);
    assert_eq!(
        pending[0].evidence,
        serde_json::json!({ "name": 0.91, "city": "equal" })
    );
    assert!(pending[0].decided_at.is_none());

    let before = Utc::now() - chrono::Duration::seconds(1);
    let decided = store
        .decide_review(first, ReviewStatus::Accepted, "test")
        .await
        .unwrap();
    assert_eq!(decided.status, ReviewStatus::Accepted);
    assert!(decided.decided_at.is_some_and(|at| at >= before));
    assert_eq!(
        store.enqueue_review(&pair(500)).await.unwrap(),
        first,
        "a decided pair is not asked again"
    );
    let pending = store
        .reviews(CONNECTION, Some(ReviewStatus::Pending))
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|item| item.id).collect::<Vec<_>>(),
        vec![second]
    );
    let accepted = store
        .reviews(CONNECTION, Some(ReviewStatus::Accepted))
        .await
        .unwrap();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].status, ReviewStatus::Accepted);
    assert_eq!(store.reviews(CONNECTION, None).await.unwrap().len(), 2);
    assert!(store.reviews("other", None).await.unwrap().is_empty());

    let missing = second + 1000;
    assert!(matches!(
        store
            .decide_review(missing, ReviewStatus::Rejected, "test")
            .await,
        Err(StoreError::NoSuchReview(id)) if id == missing
    ));
}

async fn a_rule_decides_only_pending_pairs_and_records_each_with_its_rule(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let first = queue(store, "0000001000", 500, 0.95).await;
    let second = queue(store, "0000002000", 500, 0.91).await;
    let third = queue(store, "0000003000", 600, 0.72).await;
    // Someone rejects the second pair before the rule is written.
    store
        .decide_review(second, ReviewStatus::Rejected, "cli:anna")
        .await
        .unwrap();
    let decided = store
        .decide_reviews(&NewReviewDecision {
            pairs: vec![
                (first, ReviewStatus::Accepted),
                (second, ReviewStatus::Accepted),
                (third, ReviewStatus::Rejected),
            ],
            rule: DecisionRule::ScoreAtOrAbove { score: 0.9 },
            decided_by: "api".to_string(),
        })
        .await
        .unwrap();
    assert_eq!(
        decided
            .iter()
            .map(|item| (item.id, item.status))
            .collect::<Vec<_>>(),
        vec![
            (first, ReviewStatus::Accepted),
            (third, ReviewStatus::Rejected)
        ],
        "the pair decided meanwhile keeps its decision"
    );
    let all = store.reviews(CONNECTION, None).await.unwrap();
    assert_eq!(all[1].status, ReviewStatus::Rejected);
    assert!(all.iter().all(|item| item.decided_at.is_some()));

    let records = store.review_decisions(CONNECTION, None).await.unwrap();
    let summary: Vec<(i64, ReviewStatus, DecisionRule, &str)> = records
        .iter()
        .map(|record| {
            (
                record.review_id,
                record.decision,
                record.rule,
                record.decided_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                second,
                ReviewStatus::Rejected,
                DecisionRule::Single,
                "cli:anna"
            ),
            (
                first,
                ReviewStatus::Accepted,
                DecisionRule::ScoreAtOrAbove { score: 0.9 },
                "api"
            ),
            (
                third,
                ReviewStatus::Rejected,
                DecisionRule::ScoreAtOrAbove { score: 0.9 },
                "api"
            ),
        ]
    );
    assert_eq!(records[1].ecc_key, "0000001000");
    assert_eq!(records[1].pipedrive_id, 500);
    assert_eq!(records[1].score, 0.95);
    assert_eq!(records[1].kind, EntityKind::Organization);
    let of_first = store
        .review_decisions(CONNECTION, Some(first))
        .await
        .unwrap();
    assert_eq!(of_first.len(), 1);
    assert!(store
        .review_decisions("other", None)
        .await
        .unwrap()
        .is_empty());
}

async fn a_group_decision_is_one_transaction_and_a_pair_decided_again_has_two_records(
    fixture: Arc<TestStore>,
) {
    let store = fixture.store.as_ref();
    let first = queue(store, "0000001000", 500, 0.85).await;
    let second = queue(store, "0000002000", 500, 0.80).await;
    let group = DecisionRule::Group { of_pair: first };
    let decided = store
        .decide_reviews(&NewReviewDecision {
            pairs: vec![
                (first, ReviewStatus::Accepted),
                (second, ReviewStatus::Rejected),
            ],
            rule: group,
            decided_by: "ui".to_string(),
        })
        .await
        .unwrap();
    assert_eq!(decided.len(), 2);
    // A single decision changes a decided pair's mind; a missing pair refuses the whole batch.
    store
        .decide_review(second, ReviewStatus::Pending, "cli:anna")
        .await
        .unwrap();
    let refused = store
        .decide_reviews(&NewReviewDecision {
            pairs: vec![
                (second, ReviewStatus::Accepted),
                (second + 1000, ReviewStatus::Accepted),
            ],
            rule: DecisionRule::Single,
            decided_by: "cli:anna".to_string(),
        })
        .await;
    assert!(matches!(refused, Err(StoreError::NoSuchReview(id)) if id == second + 1000));
    let pending = store
        .reviews(CONNECTION, Some(ReviewStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "the refused batch wrote nothing");
    assert_eq!(pending[0].id, second);
    assert!(pending[0].decided_at.is_none());
    let of_second = store
        .review_decisions(CONNECTION, Some(second))
        .await
        .unwrap();
    assert_eq!(
        of_second
            .iter()
            .map(|record| (record.decision, record.rule))
            .collect::<Vec<_>>(),
        vec![
            (ReviewStatus::Rejected, group),
            (ReviewStatus::Pending, DecisionRule::Single)
        ]
    );
}

store_test_suite!(
    review_queue_is_idempotent_and_records_decisions,
    a_rule_decides_only_pending_pairs_and_records_each_with_its_rule,
    a_group_decision_is_one_transaction_and_a_pair_decided_again_has_two_records,
);
