//! OAuth 2.0 as Pipedrive runs it: code exchange, Basic client auth, expiring access tokens,
//! rotating refresh tokens, `api_domain`.

mod common;

use std::time::Duration;

use common::Api;
use serde_json::Value;

struct TokenAnswer {
    status: u16,
    body: Value,
}

async fn token_request(base: &str, client: (&str, &str), form: &[(&str, &str)]) -> TokenAnswer {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap();
    if let Some(specs) = mlc_spec_check::load() {
        let problems = specs.check_response("POST", "/oauth/token", status, &content_type, &text);
        assert!(problems.is_empty(), "{problems:?}");
    }
    TokenAnswer {
        status,
        body: serde_json::from_str(&text).unwrap(),
    }
}

const CLIENT: (&str, &str) = ("sim-client-id", "sim-client-secret");
const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn authorization_code(base: &str) -> String {
    let page = reqwest::Client::new()
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", CLIENT.0),
            ("redirect_uri", REDIRECT),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_string();
    let html = page.text().await.unwrap();
    if let Some(specs) = mlc_spec_check::load() {
        assert!(specs
            .check_response("GET", "/oauth/authorize", 200, &content_type, &html)
            .is_empty());
    }
    let start = html.find("href=\"").expect("a link back") + 6;
    let link = &html[start..start + html[start..].find('"').unwrap()];
    let link = link.replace("&amp;", "&");
    assert!(link.starts_with(REDIRECT), "{link}");
    let url = url::Url::parse(&link).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "xyz");
    pairs["code"].clone()
}

#[tokio::test]
async fn code_exchange_refresh_rotation_and_expiry() {
    let sim = common::spawn_with(|options| {
        options.auth = "oauth".to_string();
        options.token_lifetime_secs = 1;
    })
    .await;
    let base = sim.base_url();
    let code = authorization_code(&base).await;

    let tokens = token_request(
        &base,
        CLIENT,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 1);
    assert_eq!(tokens.body["api_domain"], base.as_str());
    let access = tokens.body["access_token"].as_str().unwrap().to_string();
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_string();

    let reused = token_request(
        &base,
        CLIENT,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(reused.status, 400, "a code works once");

    let api = Api {
        api_token: None,
        bearer: Some(access.clone()),
        ..Api::new(&base, "")
    };
    let listed = api.get("/api/v2/organizations", &[], &[]).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.header("x-ratelimit-limit").as_deref(),
        Some("160"),
        "growth, OAuth"
    );

    // Rotation: a refresh token works once and its successor comes with the answer.
    let refreshed = token_request(
        &base,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(refreshed.status, 200);
    let next_refresh = refreshed.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let next_access = refreshed.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(next_refresh, refresh);
    let old_again = token_request(
        &base,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(old_again.status, 400);
    assert_eq!(
        old_again.body["error"],
        "Invalid grant: refresh_token is invalid"
    );
    let newest = token_request(
        &base,
        CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &next_refresh),
        ],
    )
    .await;
    assert_eq!(newest.status, 200);

    // Expiry.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = Api {
        api_token: None,
        bearer: Some(next_access),
        ..Api::new(&base, "")
    };
    let refused = expired.get("/api/v2/organizations", &[], &[]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.json()["error"]
        .as_str()
        .unwrap()
        .contains("expired"));

    // Client authentication and the form encoding are required.
    let wrong_client = token_request(
        &base,
        ("sim-client-id", "wrong"),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(wrong_client.status, 400);
    assert_eq!(
        wrong_client.body["error"],
        "Invalid client: client is invalid"
    );
    let json_body = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT.0, Some(CLIENT.1))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let anonymous = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_personal_api_token_is_not_a_bearer_token() {
    let sim = common::spawn_with(|_| {}).await;
    let api = Api {
        api_token: None,
        bearer: Some(sim.api_token().to_string()),
        ..Api::new(&sim.base_url(), "")
    };
    assert_eq!(api.get("/api/v2/organizations", &[], &[]).await.status, 401);
    sim.shutdown().await;
}

async fn first_tokens(base: &str) -> (String, String) {
    let code = authorization_code(base).await;
    let tokens = token_request(
        base,
        CLIENT,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    (
        tokens.body["access_token"].as_str().unwrap().to_string(),
        tokens.body["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_kept_refresh_token_comes_back_and_expires_only_when_unused() {
    let sim = common::spawn_with(|options| {
        options.auth = "oauth".to_string();
        options.oauth_refresh = "keep".to_string();
        options.refresh_token_idle_secs = 1;
    })
    .await;
    let base = sim.base_url();
    let (_, refresh) = first_tokens(&base).await;
    for _ in 0..3 {
        // Each use starts its expiry again: used every 0.6 s, it outlives its 1 s.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let refreshed = token_request(
            &base,
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        assert_eq!(
            refreshed.body["refresh_token"],
            refresh.as_str(),
            "not rotated"
        );
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let unused = token_request(
        &base,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(unused.status, 400);
    assert_eq!(
        unused.body["error"],
        "Invalid grant: refresh_token has expired"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_operation_outside_the_granted_scopes_gets_pipedrives_403() {
    let sim = common::spawn_with(|options| {
        options.auth = "oauth".to_string();
        options.oauth_scopes = "base contacts:read".to_string();
    })
    .await;
    let base = sim.base_url();
    let (access, _) = first_tokens(&base).await;
    let api = Api {
        api_token: None,
        bearer: Some(access),
        ..Api::new(&base, "")
    };
    let listed = api.get("/api/v2/organizations", &[], &[]).await;
    assert_eq!(listed.status, 200, "contacts:read reads: {}", listed.text);
    let created = api
        .post(
            "/api/v2/organizations",
            &[],
            &serde_json::json!({"name": "Scope GmbH"}),
        )
        .await;
    assert_eq!(created.status, 403, "{}", created.text);
    assert_eq!(created.json()["error"], "Scope and URL mismatch");
    assert_eq!(sim.state().stats().organizations, 0, "nothing written");
    // An API token is not limited by scopes.
    let token_api = Api::new(&base, sim.api_token());
    let by_token = token_api
        .post(
            "/api/v2/organizations",
            &[],
            &serde_json::json!({"name": "Token GmbH"}),
        )
        .await;
    assert_eq!(by_token.status, 200, "{}", by_token.text);
    sim.shutdown().await;
}
