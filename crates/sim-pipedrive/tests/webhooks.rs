//! Webhooks v2: a receiver in the test gets `meta`/`data`/`previous` with HTTP Basic auth for
//! API writes and for a salesperson's UI edits; failed deliveries are retried after 3, 30 and
//! 150 s (scaled by --time-scale here).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use common::Api;
use serde_json::{json, Value};

#[derive(Default)]
struct Received {
    deliveries: Mutex<Vec<(Instant, Option<String>, Value)>>,
    /// Answer 500 to this many deliveries before answering 200.
    fail_first: AtomicU32,
    /// Sleep this long before answering (to trigger the sender's timeout).
    delay_ms: AtomicU32,
}

async fn receive(
    State(received): State<Arc<Received>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let auth = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    received
        .deliveries
        .lock()
        .unwrap()
        .push((Instant::now(), auth, body));
    let delay = received.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
    }
    let remaining = received.fail_first.load(Ordering::SeqCst);
    if remaining > 0 {
        received.fail_first.store(remaining - 1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

async fn receiver() -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

async fn wait_for(
    received: &Received,
    count: usize,
    within: Duration,
) -> Vec<(Instant, Option<String>, Value)> {
    let deadline = Instant::now() + within;
    loop {
        let deliveries = received.deliveries.lock().unwrap().clone();
        if deliveries.len() >= count || Instant::now() > deadline {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn subscribe(api: &Api, addr: SocketAddr, object: &str) {
    let answer = api
        .post("/v1/webhooks", &[], &json!({
            "subscription_url": format!("http://{addr}/hook"), "event_action": "*", "event_object": object,
            "name": "ml-connector", "http_auth_user": "hook", "http_auth_password": "s3cret", "version": "2.0"
        }))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn api_writes_and_ui_edits_are_delivered_as_v2_payloads_with_basic_auth() {
    let sim = common::spawn_with(|options| options.plan = "unlimited".to_string()).await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let (addr, received) = receiver().await;
    subscribe(&api, addr, "*").await;
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("hook:s3cret")
    );

    let created = api
        .post(
            "/api/v2/organizations",
            &[],
            &json!({"name": "Webhook GmbH"}),
        )
        .await
        .json();
    let id = created["data"]["id"].as_u64().unwrap();
    let deliveries = wait_for(&received, 1, Duration::from_secs(5)).await;
    let (_, auth, payload) = &deliveries[0];
    assert_eq!(auth.as_deref(), Some(expected_auth.as_str()));
    assert_eq!(payload["meta"]["action"], "create");
    assert_eq!(payload["meta"]["entity"], "organization");
    assert_eq!(payload["meta"]["entity_id"], id.to_string());
    assert_eq!(payload["meta"]["change_source"], "api");
    assert_eq!(payload["meta"]["version"], "2.0");
    assert_eq!(payload["meta"]["attempt"], 1);
    assert_eq!(payload["data"]["name"], "Webhook GmbH");
    assert_eq!(payload["previous"], Value::Null);

    api.patch(
        "/api/v2/organizations/{id}",
        &[("id", &id.to_string())],
        &json!({"name": "Webhook SE"}),
    )
    .await;
    let deliveries = wait_for(&received, 2, Duration::from_secs(5)).await;
    let change = &deliveries[1].2;
    assert_eq!(change["meta"]["action"], "change");
    assert_eq!(change["data"]["name"], "Webhook SE");
    assert_eq!(
        change["previous"]["name"], "Webhook GmbH",
        "previous holds the changed fields"
    );
    let previous = change["previous"].as_object().unwrap();
    assert_eq!(
        previous.keys().collect::<Vec<_>>(),
        ["name", "update_time"],
        "only the changed fields, and the old update_time: {previous:?}"
    );
    assert_eq!(
        change["data"]["custom_fields"],
        json!({}),
        "only custom fields that hold a value"
    );

    // A salesperson edits the name in the UI.
    let edit = reqwest::Client::new()
        .post(format!("{}/_sim/ui-edit", sim.base_url()))
        .json(&json!({"entity": "organization", "id": id, "action": "change", "changes": {"name": "Webhook Sales Edit"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 200);
    let deliveries = wait_for(&received, 3, Duration::from_secs(5)).await;
    let ui = &deliveries[2];
    assert_eq!(ui.1.as_deref(), Some(expected_auth.as_str()));
    assert_eq!(ui.2["meta"]["change_source"], "app");
    assert_eq!(ui.2["previous"]["name"], "Webhook SE");

    // The salesperson merges a second organization into it: delete(merged_to_id) + change(merged_from_id).
    let other = sim
        .state()
        .insert_organization(mlc_sim_pipedrive::NewOrganization {
            name: "Duplicate".into(),
            ..Default::default()
        })
        .unwrap();
    sim.state()
        .ui_edit(
            &json!({"entity": "organization", "id": other, "action": "merge", "merge_into": id}),
        )
        .unwrap();
    let deliveries = wait_for(&received, 5, Duration::from_secs(5)).await;
    let merge_events: Vec<&Value> = deliveries[3..]
        .iter()
        .map(|(_, _, payload)| payload)
        .collect();
    let deleted = merge_events
        .iter()
        .find(|payload| payload["meta"]["action"] == "delete")
        .expect("a delete event");
    assert_eq!(deleted["meta"]["entity_id"], other.to_string());
    assert_eq!(deleted["meta"]["merged_to_id"], id.to_string());
    assert_eq!(deleted["data"], Value::Null);
    assert_eq!(deleted["previous"]["name"], "Duplicate");
    let changed = merge_events
        .iter()
        .find(|payload| payload["meta"]["action"] == "change")
        .expect("a change event");
    assert_eq!(changed["meta"]["merged_from_id"], other.to_string());

    // A person created through the API.
    api.post(
        "/api/v2/persons",
        &[],
        &json!({"name": "Hook Person", "org_id": id}),
    )
    .await;
    let deliveries = wait_for(&received, 6, Duration::from_secs(5)).await;
    assert_eq!(deliveries[5].2["meta"]["entity"], "person");
    assert_eq!(deliveries[5].2["data"]["org_id"], id);

    // Seeding through the handle fires nothing.
    sim.state()
        .insert_organization(mlc_sim_pipedrive::NewOrganization {
            name: "Silent".into(),
            ..Default::default()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(received.deliveries.lock().unwrap().len(), 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_deliveries_are_retried_after_3_30_and_150_scaled_seconds() {
    // time scale 0.01: retries after 30 ms, 300 ms and 1.5 s; the 10 s timeout becomes 100 ms.
    let sim = common::spawn_with(|options| {
        options.plan = "unlimited".to_string();
        options.time_scale = 0.01;
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let (addr, received) = receiver().await;
    subscribe(&api, addr, "organization").await;

    received.fail_first.store(2, Ordering::SeqCst);
    api.post("/api/v2/organizations", &[], &json!({"name": "Retry GmbH"}))
        .await;
    let deliveries = wait_for(&received, 3, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 3);
    let attempts: Vec<u64> = deliveries
        .iter()
        .map(|(_, _, payload)| payload["meta"]["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    let ids: Vec<&Value> = deliveries
        .iter()
        .map(|(_, _, payload)| &payload["meta"]["id"])
        .collect();
    assert!(ids[0].is_string());
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one event id across the retries of one event: {ids:?}"
    );
    let first_gap = deliveries[1].0 - deliveries[0].0;
    let second_gap = deliveries[2].0 - deliveries[1].0;
    assert!(
        first_gap >= Duration::from_millis(30) && first_gap < Duration::from_millis(1000),
        "{first_gap:?}"
    );
    assert!(
        second_gap >= Duration::from_millis(300) && second_gap < Duration::from_millis(1500),
        "{second_gap:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        received.deliveries.lock().unwrap().len(),
        3,
        "no delivery after a success"
    );

    // A receiver that never answers in time: four attempts, then one failed delivery.
    received.deliveries.lock().unwrap().clear();
    received.delay_ms.store(400, Ordering::SeqCst);
    api.post(
        "/api/v2/organizations",
        &[],
        &json!({"name": "Timeout GmbH"}),
    )
    .await;
    let deliveries = wait_for(&received, 4, Duration::from_secs(6)).await;
    assert_eq!(deliveries.len(), 4);
    let last_gap = deliveries[3].0 - deliveries[2].0;
    assert!(last_gap >= Duration::from_millis(1500), "{last_gap:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while sim.state().stats().webhook_deliveries_failed == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = sim.state().stats();
    assert_eq!(stats.webhook_deliveries_failed, 1);
    assert_eq!(stats.webhook_deliveries_ok, 1);
    let hooks = api.get("/v1/webhooks", &[], &[]).await.json();
    assert_eq!(
        hooks["data"][0]["last_http_status"],
        Value::Null,
        "a timeout has no status"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn ten_failed_first_attempts_ban_the_webhook_and_its_events_are_lost() {
    // time scale 0.001: retries after 3, 30 and 150 ms, timeout 10 ms, the 30-minute ban 1.8 s.
    let sim = common::spawn_with(|options| {
        options.plan = "unlimited".to_string();
        options.time_scale = 0.001;
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let (addr, received) = receiver().await;
    subscribe(&api, addr, "organization").await;
    received.fail_first.store(u32::MAX, Ordering::SeqCst);
    for number in 0..10 {
        api.post(
            "/api/v2/organizations",
            &[],
            &json!({"name": format!("Failing {number}")}),
        )
        .await;
        // One at a time, so each event's first attempt is counted before the next.
        wait_for(&received, (number + 1) * 4, Duration::from_secs(3)).await;
    }
    assert_eq!(
        received.deliveries.lock().unwrap().len(),
        40,
        "each of the 10 events was tried 4 times"
    );
    received.fail_first.store(0, Ordering::SeqCst);
    api.post(
        "/api/v2/organizations",
        &[],
        &json!({"name": "Lost While Banned"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        received.deliveries.lock().unwrap().len(),
        40,
        "a banned webhook's event is lost"
    );
    tokio::time::sleep(Duration::from_millis(1800)).await;
    api.post(
        "/api/v2/organizations",
        &[],
        &json!({"name": "After The Ban"}),
    )
    .await;
    let deliveries = wait_for(&received, 41, Duration::from_secs(3)).await;
    assert_eq!(deliveries.len(), 41);
    assert_eq!(deliveries[40].2["data"]["name"], "After The Ban");
    sim.shutdown().await;
}
