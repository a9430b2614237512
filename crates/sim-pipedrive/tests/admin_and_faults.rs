//! The `/_sim` endpoints (stats, faults, ui-edit, reset) and what injected faults do to a client;
//! the search index lag.

mod common;

use std::time::Duration;

use common::Api;
use serde_json::{json, Value};

async fn admin_post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn stats_count_requests_by_route_and_status_and_reset_forgets_everything() {
    let sim = common::spawn_with(|options| options.plan = "growth".to_string()).await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let created = api
        .post("/api/v2/organizations", &[], &json!({"name": "Stats AG"}))
        .await
        .json();
    let id = created["data"]["id"].as_u64().unwrap().to_string();
    api.get("/api/v2/organizations/{id}", &[("id", &id)], &[])
        .await;
    api.get("/api/v2/organizations/{id}", &[("id", "424242")], &[])
        .await;
    api.post(
        "/api/v2/persons",
        &[],
        &json!({"name": "Stats Person", "org_id": created["data"]["id"]}),
    )
    .await;

    let stats: Value = reqwest::get(format!("{}/_sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = |method: &str, path: &str, status: u64| -> u64 {
        stats["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| {
                entry["method"] == method && entry["path"] == path && entry["status"] == status
            })
            .map(|entry| entry["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count("POST", "/api/v2/organizations", 200), 1);
    assert_eq!(count("GET", "/api/v2/organizations/{id}", 200), 1);
    assert_eq!(count("GET", "/api/v2/organizations/{id}", 404), 1);
    assert_eq!(stats["tokens_used_today"], 5 + 1 + 1 + 5);
    assert_eq!(stats["organizations"], 1);
    assert_eq!(stats["persons"], 1);
    assert_eq!(stats["daily_token_budget"], 30_000 * 2 * 5);

    let (status, _) = admin_post(&sim.base_url(), "/_sim/reset", &json!({})).await;
    assert_eq!(status, 200);
    let stats = sim.state().stats();
    assert_eq!(
        (stats.organizations, stats.persons, stats.tokens_used_today),
        (0, 0, 0)
    );
    assert!(stats.requests.is_empty());
    assert_eq!(
        api.get("/api/v2/organizations/{id}", &[("id", &id)], &[])
            .await
            .status,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn ui_edits_change_records_without_spending_tokens() {
    let sim = common::spawn_with(|_| {}).await;
    let state = sim.state();
    let org = state
        .insert_organization(mlc_sim_pipedrive::NewOrganization {
            name: "UI GmbH".into(),
            ..Default::default()
        })
        .unwrap();
    let (status, _) = admin_post(&sim.base_url(), "/_sim/ui-edit", &json!({"entity": "organization", "id": org, "action": "change", "changes": {"name": "UI Renamed GmbH"}})).await;
    assert_eq!(status, 200);
    assert_eq!(state.organization(org).unwrap().name, "UI Renamed GmbH");
    let (status, body) = admin_post(&sim.base_url(), "/_sim/ui-edit", &json!({"entity": "organization", "id": org, "action": "change", "changes": {"owner_id": "1"}})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = admin_post(
        &sim.base_url(),
        "/_sim/ui-edit",
        &json!({"entity": "person", "id": 99, "action": "delete"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = admin_post(
        &sim.base_url(),
        "/_sim/ui-edit",
        &json!({"entity": "organization", "id": org, "action": "delete"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(state.organization(org).unwrap().is_deleted);
    assert!(state.organizations().is_empty());
    assert_eq!(state.stats().tokens_used_today, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_set_at_run_time_hit_only_the_chosen_method() {
    let sim = common::spawn_with(|options| options.plan = "unlimited".to_string()).await;
    let base = sim.base_url();
    let api = Api::new(&base, sim.api_token());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let post = |name: &str| {
        client
            .post(format!("{base}/api/v2/organizations"))
            .header("x-api-token", sim.api_token())
            .json(&json!({"name": name}))
            .send()
    };

    // Server errors before processing, on POST only.
    let (status, _) = admin_post(
        &base,
        "/_sim/faults",
        &json!({"error_rate": 1.0, "methods": ["POST"]}),
    )
    .await;
    assert_eq!(status, 200);
    let refused = post("Never Stored").await.unwrap();
    assert!(refused.status().is_server_error());
    assert!(
        sim.state().organizations().is_empty(),
        "a 5xx before processing stores nothing"
    );
    assert_eq!(
        api.get("/api/v2/organizations", &[], &[]).await.status,
        200,
        "GET is not affected"
    );

    // A malformed body after processing: the write happened.
    admin_post(
        &base,
        "/_sim/faults",
        &json!({"malformed_rate": 1.0, "methods": ["POST"]}),
    )
    .await;
    let malformed = post("Malformed Answer AG").await.unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(serde_json::from_slice::<Value>(&malformed.bytes().await.unwrap()).is_err());
    assert_eq!(sim.state().organizations().len(), 1);

    // A reset connection after processing.
    admin_post(
        &base,
        "/_sim/faults",
        &json!({"reset_rate": 1.0, "methods": ["POST"]}),
    )
    .await;
    let reset = match post("Reset Connection AG").await {
        Ok(response) => response.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(reset, "the client sees a broken connection");
    assert_eq!(sim.state().organizations().len(), 2);

    // No answer at all after processing.
    admin_post(
        &base,
        "/_sim/faults",
        &json!({"timeout_rate": 1.0, "methods": ["POST"]}),
    )
    .await;
    let timed_out = post("Timed Out AG").await.unwrap_err();
    assert!(timed_out.is_timeout());
    assert_eq!(sim.state().organizations().len(), 3);

    // Latency, and faults off again.
    admin_post(&base, "/_sim/faults", &json!({"latency_ms": 150})).await;
    let started = std::time::Instant::now();
    assert_eq!(api.get("/api/v2/organizations", &[], &[]).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let (status, settings) = admin_post(&base, "/_sim/faults", &json!({})).await;
    assert_eq!((status, settings["latency_ms"].as_u64()), (200, Some(0)));
    let (status, _) = admin_post(&base, "/_sim/faults", &json!({"error_rate": 2.0})).await;
    assert_eq!(status, 400);
    let (status, _) = admin_post(&base, "/_sim/faults", &json!({"eror_rate": 0.5})).await;
    assert_eq!(status, 400, "unknown settings are refused, not ignored");
    sim.shutdown().await;
}

#[tokio::test]
async fn search_lags_behind_writes() {
    let sim = common::spawn_with(|options| options.search_lag_ms = 400).await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let search = |term: &'static str| {
        let api = &api;
        async move {
            api.get("/api/v2/organizations/search", &[], &[("term", term)])
                .await
                .json()["data"]["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    let created = api
        .post(
            "/api/v2/organizations",
            &[],
            &json!({"name": "Laggard Logistics"}),
        )
        .await
        .json();
    let id = created["data"]["id"].as_u64().unwrap().to_string();
    assert_eq!(
        search("laggard").await,
        0,
        "not searchable right after the create"
    );
    assert_eq!(
        api.get("/api/v2/organizations/{id}", &[("id", &id)], &[])
            .await
            .status,
        200,
        "but readable by id"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(search("laggard").await, 1);

    api.patch(
        "/api/v2/organizations/{id}",
        &[("id", &id)],
        &json!({"name": "Swift Shipping"}),
    )
    .await;
    assert_eq!(
        search("laggard").await,
        1,
        "the index still holds the old name"
    );
    assert_eq!(search("swift").await, 0);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(search("laggard").await, 0);
    assert_eq!(search("swift").await, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_answer_like_pipedrive() {
    let sim = common::spawn_with(|_| {}).await;
    let html = reqwest::get(format!("{}/v2/organizations", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(html.status(), 404);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "/v2 without /api answers HTML"
    );
    let json = reqwest::get(format!("{}/api/v2/nothing", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(json.status(), 404);
    assert_eq!(json.json::<Value>().await.unwrap()["success"], false);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_merge_keeps_the_survivors_text_or_joins_both_when_told() {
    for (mode, expected) in [("keep", "0000004711"), ("join", "0000004711, 0000004712")] {
        let sim = common::spawn_with(|options| options.merge_text_fields = mode.to_string()).await;
        let state = sim.state();
        let key = state
            .create_custom_field("organization", "ECC Customer Number", "varchar", &[])
            .unwrap();
        let note = state
            .create_custom_field("organization", "Note", "text", &[])
            .unwrap();
        let organization = |number: &str, with_note: bool| {
            let mut custom_fields = serde_json::Map::new();
            custom_fields.insert(key.clone(), json!(number));
            if with_note {
                custom_fields.insert(note.clone(), json!("call first"));
            }
            mlc_sim_pipedrive::NewOrganization {
                name: format!("Customer {number}"),
                custom_fields,
                ..Default::default()
            }
        };
        let survivor = state
            .insert_organization(organization("0000004711", false))
            .unwrap();
        let merged = state
            .insert_organization(organization("0000004712", true))
            .unwrap();
        let api = Api::new(&sim.base_url(), sim.api_token());
        let answer = api
            .put(
                "/v1/organizations/{id}/merge",
                &[("id", &merged.to_string())],
                &json!({"merge_with_id": survivor}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let kept = state
            .organizations()
            .into_iter()
            .find(|org| org.id == survivor)
            .unwrap();
        assert_eq!(kept.json["custom_fields"][&key], expected, "{mode}");
        assert_eq!(
            kept.json["custom_fields"][&note], "call first",
            "{mode}: an empty field is filled from the merged one"
        );
        sim.shutdown().await;
    }
}
