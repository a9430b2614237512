//! The review API through the router as a script reaches it (no listener: `oneshot`): the
//! queue ranked with its evidence, group and score decisions with a dry run, each decided pair
//! recorded with its rule and `api`, and the admin token required everywhere.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use mlc_store::{DecisionRule, ReviewStatus};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::test_support::{queue, state, CONNECTION, TOKEN};

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ids(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.as_i64().or_else(|| entry["id"].as_i64()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_review_endpoints_refuse_calls_without_the_admin_token() {
    let state = state().await;
    queue(state.store.as_ref()).await;
    let router = super::router(state.clone());
    for (method, path, body) in [
        ("POST", "/api/review/accept", Some(json!({"above": 0.5}))),
        ("POST", "/api/review/reject", Some(json!({"below": 0.99}))),
        ("POST", "/api/review/1/accept-group", None),
        ("POST", "/api/review/1/reject-group", None),
        ("GET", "/api/review", None),
    ] {
        for token in [None, Some("wrong-token")] {
            let (status, _) = call(&router, method, path, token, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    let pending = state
        .store
        .reviews(CONNECTION, Some(ReviewStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 5, "nothing was decided");
}

#[tokio::test]
async fn the_queue_is_ranked_groups_first_with_its_evidence_read() {
    let state = state().await;
    queue(state.store.as_ref()).await;
    let router = super::router(state);
    let (status, body) = call(&router, "GET", "/api/review", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reviews = &body["reviews"];
    // The group (1, 2) first; then 3 and 5, scored above the band (reviewed for their reason);
    // then 4, near the review threshold.
    assert_eq!(ids(reviews), [1, 2, 3, 5, 4]);
    assert_eq!(reviews[0]["rank"], 1);
    assert_eq!(reviews[0]["group"], json!([1, 2]));
    assert_eq!(reviews[0]["settles"], 2);
    assert_eq!(reviews[0]["reason"], "middle band");
    let first: Vec<(&str, &str)> = reviews[0]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["direction"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        &first[..3],
        [
            ("postal code", "for"),
            ("city", "for"),
            ("street", "against")
        ]
    );
    let weighted = &reviews[2]["comparisons"];
    assert_eq!(weighted[0]["name"], "vat number");
    assert_eq!(weighted[0]["weight"], 4.0);
    assert_eq!(weighted[1]["direction"], "against");
    assert_eq!(weighted[1]["value"], "12 ≠ 14");

    let (_, oldest) = call(
        &router,
        "GET",
        "/api/review?order=oldest",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(ids(&oldest["reviews"]), [1, 2, 3, 4, 5]);
    let (status, body) = call(&router, "GET", "/api/review?order=best", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("order `best`"));
}

#[tokio::test]
async fn accept_above_previews_then_decides_holding_back_what_a_person_must_decide() {
    let state = state().await;
    queue(state.store.as_ref()).await;
    let router = super::router(state.clone());
    let request = json!({"above": 0.84, "dry_run": true});
    let (status, preview) = call(
        &router,
        "POST",
        "/api/review/accept",
        Some(TOKEN),
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert_eq!(ids(&preview["accepted"]), [3]);
    assert_eq!(ids(&preview["held_back"]), [1, 5]);
    assert!(preview["held_back"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("proposed for 2 ECC records"));
    assert!(preview["held_back"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("already linked to ECC record 9999"));
    assert_eq!(preview["decided"], json!([]));
    let pending = state
        .store
        .reviews(CONNECTION, Some(ReviewStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 5, "a dry run decides nothing");

    let request = json!({"above": 0.84});
    let (status, done) = call(
        &router,
        "POST",
        "/api/review/accept",
        Some(TOKEN),
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(ids(&done["accepted"]), [3]);
    assert_eq!(done["decided"][0]["status"], "accepted");
    assert_eq!(done["rule"], "bulk: score >= 0.84");
    let records = state
        .store
        .review_decisions(CONNECTION, None)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].review_id, 3);
    assert_eq!(
        records[0].rule,
        DecisionRule::ScoreAtOrAbove { score: 0.84 }
    );
    assert_eq!(records[0].decided_by, "api");

    let (status, body) = call(
        &router,
        "POST",
        "/api/review/accept",
        Some(TOKEN),
        Some(json!({"above": 1.5})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("outside 0..1"));
}

#[tokio::test]
async fn a_group_and_a_score_rule_decide_each_pair_with_its_own_record() {
    let state = state().await;
    queue(state.store.as_ref()).await;
    let router = super::router(state.clone());
    let (status, group) = call(
        &router,
        "POST",
        "/api/review/2/accept-group",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(ids(&group["accepted"]), [2]);
    assert_eq!(ids(&group["rejected"]), [1]);
    assert_eq!(group["rule"], "group of pair 2");

    let (status, below) = call(
        &router,
        "POST",
        "/api/review/reject",
        Some(TOKEN),
        Some(json!({"below": 0.75})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{below}");
    assert_eq!(ids(&below["rejected"]), [4]);

    let records = state
        .store
        .review_decisions(CONNECTION, None)
        .await
        .unwrap();
    let summary: Vec<(i64, ReviewStatus, DecisionRule)> = records
        .iter()
        .map(|record| (record.review_id, record.decision, record.rule))
        .collect();
    assert_eq!(
        summary,
        [
            (
                2,
                ReviewStatus::Accepted,
                DecisionRule::Group { of_pair: 2 }
            ),
            (
                1,
                ReviewStatus::Rejected,
                DecisionRule::Group { of_pair: 2 }
            ),
            (
                4,
                ReviewStatus::Rejected,
                DecisionRule::ScoreBelow { score: 0.75 }
            ),
        ]
    );
    assert!(records.iter().all(|record| record.decided_by == "api"));

    let (status, _) = call(
        &router,
        "POST",
        "/api/review/2/reject-group",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "pair 2 is no longer pending");
    let (status, _) = call(
        &router,
        "POST",
        "/api/review/99/reject-group",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A single decision is recorded too, and shows in the list with who took it.
    let (status, single) = call(&router, "POST", "/api/review/5/reject", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{single}");
    assert_eq!(single["decided_by"], "api");
    assert_eq!(single["decision_rule"], "single pair");
    let (_, all) = call(&router, "GET", "/api/review?status=all", Some(TOKEN), None).await;
    let decided = all["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|review| review["id"] == 4)
        .unwrap();
    assert_eq!(decided["decision_rule"], "bulk: score < 0.75");
}
