//! The documented limits: requests per rolling 2 s by plan and auth type, 10 searches per 2 s,
//! the daily token budget charged at each operation's `x-token-cost`, and the HTML 403 that a
//! client gets for sending on through 429s.

mod common;

use common::Api;
use serde_json::json;

#[tokio::test]
async fn lite_with_an_api_token_allows_20_requests_per_2_seconds() {
    let sim = common::spawn_with(|options| {
        options.plan = "lite".to_string();
        options.seats = 1;
        options.daily_token_headers = "always".to_string();
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    for call in 1..=20u32 {
        let answer = api.get("/v1/users/me", &[], &[]).await;
        assert_eq!(answer.status, 200, "call {call}");
        assert_eq!(answer.header("x-ratelimit-limit").as_deref(), Some("20"));
        assert_eq!(
            answer.header("x-ratelimit-remaining"),
            Some((20 - call).to_string())
        );
        assert!(answer.header("x-ratelimit-reset").is_some());
        assert_eq!(
            answer.header("x-daily-ratelimit-token-limit").as_deref(),
            Some("30000")
        );
    }
    let refused = api.get("/v1/users/me", &[], &[]).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("x-ratelimit-limit").as_deref(), Some("20"));
    assert_eq!(
        refused.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    let reset: u64 = refused
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&reset), "reset {reset}");
    let body = refused.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["errorCode"], 429);
    // The refused call cost nothing: 20 calls of users/me at 2 tokens.
    assert_eq!(sim.state().stats().tokens_used_today, 40);

    // The window rolls: after 2 s the client may send again.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(api.get("/v1/users/me", &[], &[]).await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn search_is_limited_to_10_per_2_seconds_on_every_plan() {
    let sim = common::spawn_with(|options| options.plan = "ultimate".to_string()).await;
    sim.state()
        .insert_organization(mlc_sim_pipedrive::NewOrganization {
            name: "Searchable GmbH".into(),
            ..Default::default()
        })
        .unwrap();
    let api = Api::new(&sim.base_url(), sim.api_token());
    for call in 1..=10 {
        let answer = api
            .get(
                "/api/v2/organizations/search",
                &[],
                &[("term", "searchable")],
            )
            .await;
        assert_eq!(answer.status, 200, "search {call}");
        assert_eq!(answer.header("x-ratelimit-limit").as_deref(), Some("10"));
    }
    let refused = api
        .get(
            "/api/v2/organizations/search",
            &[],
            &[("term", "searchable")],
        )
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(
        api.get("/api/v2/persons/search", &[], &[("term", "anyone")])
            .await
            .status,
        429,
        "persons search shares the limit"
    );
    let other = api.get("/api/v2/organizations", &[], &[]).await;
    assert_eq!(
        other.status, 200,
        "other endpoints are not held back by the search limit"
    );
    assert_eq!(other.header("x-ratelimit-limit").as_deref(), Some("120"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_budget_is_charged_the_documented_costs_and_refuses_when_spent() {
    let sim = common::spawn_with(|options| {
        options.plan = "premium".to_string();
        options.budget_tokens = Some(200);
        options.daily_token_headers = "always".to_string();
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let mut spent = 0u64;
    let mut expect = |answer: &common::Answer, cost: u64| {
        spent += cost;
        assert_eq!(
            answer.header("x-daily-ratelimit-token-remaining"),
            Some((200 - spent).to_string()),
            "after an operation costing {cost}: {}",
            answer.text
        );
    };
    let created = api
        .post("/api/v2/organizations", &[], &json!({"name": "Budget AG"}))
        .await;
    expect(&created, 5);
    let id = created.json()["data"]["id"].as_u64().unwrap().to_string();
    expect(&api.get("/api/v2/organizations", &[], &[]).await, 10);
    expect(
        &api.get("/api/v2/organizations/{id}", &[("id", &id)], &[])
            .await,
        1,
    );
    expect(
        &api.patch(
            "/api/v2/organizations/{id}",
            &[("id", &id)],
            &json!({"name": "Budget SE"}),
        )
        .await,
        5,
    );
    expect(
        &api.get("/api/v2/organizations/search", &[], &[("term", "budget")])
            .await,
        20,
    );
    expect(&api.get("/api/v2/organizationFields", &[], &[]).await, 10);
    expect(&api.get("/v1/organizationFields", &[], &[]).await, 20);
    expect(&api.get("/v1/users/me", &[], &[]).await, 2);
    expect(
        &api.delete("/api/v2/organizations/{id}", &[("id", &id)], &[])
            .await,
        3,
    );
    // A refused request (validation) is still charged: it reached the endpoint.
    expect(&api.post("/api/v2/organizations", &[], &json!({})).await, 5);
    assert_eq!(sim.state().stats().tokens_used_today, spent);

    sim.state().set_tokens_spent_today(197);
    let last = api.get("/v1/users/me", &[], &[]).await;
    assert_eq!(last.status, 200, "2 tokens fit into the 3 left");
    let refused = api
        .post(
            "/api/v2/organizations",
            &[],
            &json!({"name": "Too Late Ltd"}),
        )
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"], "daily request budget exceeded");
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After on a budget 429")
        .parse()
        .unwrap();
    assert!((1..=25 * 3600).contains(&retry_after));
    assert_eq!(
        refused
            .header("x-daily-ratelimit-token-remaining")
            .as_deref(),
        Some("1")
    );
    assert!(sim
        .state()
        .organizations()
        .iter()
        .all(|org| org.name != "Too Late Ltd"));
    assert_eq!(
        api.get("/api/v2/organizations/{id}", &[("id", &id)], &[])
            .await
            .status,
        200,
        "a 1-token call still fits"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn sending_on_through_429s_gets_cloudflares_html_403() {
    let sim = common::spawn_with(|options| {
        options.plan = "lite".to_string();
        options.block_after_429s = 10;
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(api.get("/api/v2/organizations", &[], &[]).await.status);
    }
    assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 20);
    let first_403 = statuses
        .iter()
        .position(|status| *status == 403)
        .expect("a 403 after sustained 429s");
    assert_eq!(
        first_403, 31,
        "20 successes, 11 refusals, then the block: {statuses:?}"
    );
    assert!(
        statuses[first_403..].iter().all(|status| *status == 403),
        "the block holds: {statuses:?}"
    );
    let blocked = api.get("/api/v2/organizations", &[], &[]).await;
    assert!(blocked
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(blocked.text.contains("Cloudflare"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_unlimited_plan_has_no_limits_and_no_headers() {
    let sim = common::spawn_with(|options| options.plan = "unlimited".to_string()).await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    for _ in 0..150 {
        let answer = api.get("/api/v2/organizations", &[], &[]).await;
        assert_eq!(answer.status, 200);
        assert!(answer.header("x-ratelimit-limit").is_none());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_daily_headers_are_missing_after_a_quiet_while_and_writes_show_the_fair_use_count() {
    let sim = common::spawn_with(|options| {
        options.plan = "growth".to_string();
        options.post_put_per_day = 3;
    })
    .await;
    let api = Api::new(&sim.base_url(), sim.api_token());
    let mut shown = Vec::new();
    for _ in 0..6 {
        let answer = api.get("/v1/users/me", &[], &[]).await;
        assert_eq!(answer.status, 200);
        assert!(answer.header("x-ratelimit-remaining").is_some());
        assert_eq!(answer.header("x-daily-requests-left"), None, "not a write");
        shown.push(answer.header("x-daily-ratelimit-token-remaining").is_some());
    }
    assert_eq!(shown, [false, false, false, false, false, true]);
    for left in ["2", "1", "0"] {
        let created = api
            .post(
                "/api/v2/organizations",
                &[],
                &json!({"name": "Fair Use AG"}),
            )
            .await;
        assert_eq!(created.status, 200, "{}", created.text);
        assert_eq!(
            created.header("x-daily-requests-left").as_deref(),
            Some(left)
        );
    }
    let refused = api
        .post(
            "/api/v2/organizations",
            &[],
            &json!({"name": "One Too Many AG"}),
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.header("retry-after").is_some());
    assert_ne!(
        refused.header("x-ratelimit-remaining").as_deref(),
        Some("0"),
        "the burst window did not refuse it"
    );
    sim.shutdown().await;
}
