//! OAuth refresh when the stored refresh token is refused: the one it replaced is tried (our
//! last rotation never took effect at Pipedrive), and only then is it the re-authorize error.

mod support;

use chrono::Utc;
use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::{PipedrivePlan, Secret};
use mlc_pipedrive::{auth, PipedriveClient, PipedriveError};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn oauth(server: &MockServer) -> OauthConfig {
    OauthConfig {
        client_id: "cid".into(),
        client_secret: Secret::new("csecret"),
        redirect_uri: "http://127.0.0.1:8765/callback".into(),
        authorize_url: format!("{}/oauth/authorize", server.uri()),
        token_url: format!("{}/oauth/token", server.uri()),
    }
}

fn tokens(server: &MockServer, refresh: &str, previous: Option<&str>) -> auth::TokenSet {
    auth::TokenSet {
        access_token: "expired-access".into(),
        refresh_token: refresh.into(),
        expires_at: Utc::now(),
        api_domain: server.uri(),
        scope: None,
        previous_refresh_token: previous.map(str::to_string),
    }
}

async fn mount(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("authorization", "Basic Y2lkOmNzZWNyZXQ="))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=old-refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fresh-access", "token_type": "Bearer", "expires_in": 3599,
            "refresh_token": "rotated-refresh", "scope": "base", "api_domain": server.uri()})))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "success": false, "error": "Invalid grant: refresh_token is invalid", "errorCode": 400})))
        .with_priority(10)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users/me"))
        .and(header("authorization", "Bearer fresh-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "data": {"id": 1, "name": "U", "email": "u@acme.test", "company_id": 9,
                                      "company_name": "ACME", "company_domain": "acme"}})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_the_one_it_replaced() {
    let server = MockServer::start().await;
    mount(&server).await;
    let oauth = oauth(&server);
    let store = support::store();
    auth::store_tokens(
        store.vault.as_ref(),
        &oauth,
        &tokens(&server, "new-refresh", Some("old-refresh")),
    )
    .await
    .unwrap();
    let config = support::oauth_config(
        "https://unused.example.com",
        oauth.clone(),
        PipedrivePlan::Lite,
    );
    let client = PipedriveClient::connect(&config, store.clone())
        .await
        .unwrap();
    assert_eq!(client.current_user().company_id, 9);
    let stored = auth::load_tokens(store.vault.as_ref(), &oauth)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.refresh_token, "rotated-refresh",
        "the rotation is stored"
    );
    assert_eq!(
        stored.previous_refresh_token.as_deref(),
        Some("old-refresh")
    );
    assert_eq!(stored.access_token, "fresh-access");
}

#[tokio::test]
async fn without_a_usable_refresh_token_the_error_says_to_re_authorize() {
    let server = MockServer::start().await;
    mount(&server).await;
    let oauth = oauth(&server);
    let store = support::store();
    auth::store_tokens(
        store.vault.as_ref(),
        &oauth,
        &tokens(&server, "new-refresh", Some("older-refresh")),
    )
    .await
    .unwrap();
    let config = support::oauth_config("https://unused.example.com", oauth, PipedrivePlan::Lite);
    let error = PipedriveClient::connect(&config, store).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::InvalidGrant { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("ml-connector auth pipedrive"),
        "{error}"
    );
    let refresh_attempts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/oauth/token")
        .count();
    assert_eq!(
        refresh_attempts, 2,
        "the current and the previous token, then stop"
    );
}
