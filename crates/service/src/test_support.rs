//! For the crate's tests: a service state with one connection (the config template, nothing
//! contacted) over an in-memory store, and a review queue to decide.

use std::sync::Arc;

use chrono::Utc;
use mlc_store::{
    Action, AuditEvent, EntityKind, FailureChange, LinkChange, NewReview, NewRun, OutcomeBatch,
    RecordOutcome, StateStore,
};

use crate::{ServiceOptions, ServiceState};

pub const TOKEN: &str = "ui-test-token-4711";
pub const CONNECTION: &str = "default";

/// The template's config, its variables filled in; ECC and Pipedrive at a closed port, so a
/// page that reads Pipedrive live is refused at once.
pub fn config() -> mlc_config::Config {
    let text = mlc_config::TEMPLATE
        .replace("http://127.0.0.1:18001", "http://127.0.0.1:9")
        .replace("http://127.0.0.1:18002", "http://127.0.0.1:9");
    mlc_config::parse("test.toml", &text, &|_| Some("test-secret".to_string()))
        .expect("the template parses")
}

pub async fn state() -> Arc<ServiceState> {
    let store = mlc_store::open("sqlite::memory:", None).await.unwrap();
    let (connections, _) = crate::worker::connections(vec![config()]).unwrap();
    Arc::new(ServiceState {
        store,
        connections,
        metrics: crate::metrics::Metrics::new(),
        options: ServiceOptions::default(),
        started: Utc::now(),
        admin_token: Some(mlc_config::Secret::new(TOKEN)),
        shutdown: tokio_util::sync::CancellationToken::new(),
    })
}

/// Queues five pairs (ids 1 to 5) and links organization 800 to another customer:
/// 1 and 2 propose organization 500 (a group), 3 scores 0.93 with weighted evidence, 4 scores
/// 0.72, 5 proposes organization 800.
pub async fn queue(store: &dyn StateStore) {
    let today = serde_json::json!({
        "decision": "review", "reason": "middle_band",
        "candidate": {"pipedrive_id": 500, "rule": "name_and_address", "score": 0.85,
                      "name_score": 0.93, "address_factor": 0.9,
                      "agreed": ["postal_code", "city"], "disagreed": ["street"]}
    });
    let weighted = serde_json::json!({
        "decision": "review",
        "candidate": {"comparisons": [
            {"name": "vat_number", "value": "equal", "weight": 4.0},
            {"name": "house_number", "ecc": "12", "pipedrive": "14", "weight": -2.5}
        ]}
    });
    let pairs = [
        ("0000001001", 500, 0.85, &today),
        ("0000001002", 500, 0.80, &today),
        ("0000001003", 600, 0.93, &weighted),
        ("0000001004", 700, 0.72, &today),
        ("0000001005", 800, 0.91, &today),
    ];
    for (ecc_key, pipedrive_id, score, evidence) in pairs {
        store
            .enqueue_review(&NewReview {
                connection: CONNECTION.to_string(),
                kind: EntityKind::Organization,
                ecc_key: ecc_key.to_string(),
                pipedrive_id,
                score,
                evidence: evidence.clone(),
            })
            .await
            .unwrap();
    }
    let run_id = start_run(store, "delta").await;
    let mut linked = organization_outcome(run_id, "0000009999", Action::Link, "linked");
    linked.pushed_hash = Some("hash".to_string());
    linked.link = LinkChange::Set(800);
    linked.failure = FailureChange::Reset;
    linked.audit.pipedrive_id = Some(800);
    store
        .commit_outcomes(&OutcomeBatch {
            connection: CONNECTION.to_string(),
            run_id,
            fencing_token: None,
            outcomes: vec![linked],
            cursor: None,
        })
        .await
        .unwrap();
}

/// Starts a run of `mode` ("delta", "full"...) on the test connection.
pub async fn start_run(store: &dyn StateStore, mode: &str) -> i64 {
    store
        .start_run(&NewRun {
            connection: CONNECTION.to_string(),
            instance: "test".to_string(),
            mode: mode.to_string(),
        })
        .await
        .unwrap()
}

/// The outcome of organization `ecc_key` in run `run_id`, audited as `action` with `outcome`:
/// no link, failure or hash change, which the caller sets as its test needs.
pub fn organization_outcome(
    run_id: i64,
    ecc_key: &str,
    action: Action,
    outcome: &str,
) -> RecordOutcome {
    let now = Utc::now();
    RecordOutcome {
        kind: EntityKind::Organization,
        ecc_key: ecc_key.to_string(),
        pushed_hash: None,
        pipedrive_verified: None,
        link: LinkChange::Keep,
        failure: FailureChange::Keep,
        closes_intent: None,
        audit: AuditEvent {
            id: 0,
            connection: CONNECTION.to_string(),
            run_id,
            kind: EntityKind::Organization,
            ecc_key: ecc_key.to_string(),
            customer_number: ecc_key.to_string(),
            read_at: now,
            source: "soap-rfc:KNA1".to_string(),
            extracted: serde_json::json!({"name": ecc_key}),
            extracted_later: None,
            content_hash: format!("hash-{ecc_key}"),
            action,
            pipedrive_id: None,
            outcome: outcome.to_string(),
            error: None,
            recorded_at: now,
            full_copy_id: None,
        },
    }
}
