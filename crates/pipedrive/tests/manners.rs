//! The client's manners against a scripted server (wiremock): 429s wait for the whole lane and
//! never loop, the daily-budget 429 defers, Cloudflare's 403 stops the connection, reads are
//! retried a bounded number of times, a lost create is checked by external id before it is sent
//! again. Every request these tests send is checked against the OpenAPI documents.

mod support;

use std::time::{Duration, Instant};

use mlc_config::PipedrivePlan;
use mlc_pipedrive::{
    EntityKind, FieldCreate, ListQuery, OrganizationWrite, PersonWrite, PipedriveClient,
    PipedriveError, SearchField, WebhookCreate,
};
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const EXTERNAL_KEY: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/users/me"))
        .and(header("x-api-token", "T"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": {"id": 1, "name": "Integration User", "email": "sync@acme.test",
                     "company_id": 77, "company_name": "ACME", "company_domain": "acme"}
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    server
}

async fn connect(server: &MockServer) -> PipedriveClient {
    let config = support::api_token_config(&server.uri(), "T", PipedrivePlan::Growth);
    PipedriveClient::connect_with(&config, support::store(), support::quick())
        .await
        .expect("connects")
}

fn organization(id: i64, external_id: &str) -> serde_json::Value {
    json!({"id": id, "name": "Müller GmbH", "owner_id": 1, "is_deleted": false, "visible_to": 3,
           "label_ids": [], "address": null, "add_time": "2026-11-26T10:00:00Z",
           "update_time": "2026-11-26T10:00:00Z", "custom_fields": {EXTERNAL_KEY: external_id}})
}

/// Every request the server received matches the spec (when the spec files are there).
async fn assert_requests_match_spec(server: &MockServer) {
    let Some(specs) = support::spec::load() else {
        return;
    };
    let requests = server.received_requests().await.unwrap_or_default();
    let mut problems = Vec::new();
    for request in &requests {
        problems.extend(check(specs, request));
    }
    assert!(
        problems.is_empty(),
        "requests outside the spec:\n{}",
        problems.join("\n")
    );
}

fn check(specs: &support::spec::Specs, request: &Request) -> Vec<String> {
    let query: Vec<(String, String)> = request
        .url
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let body: Option<serde_json::Value> = if request.body.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&request.body).expect("bodies are JSON"))
    };
    specs.check_request(
        request.method.as_str(),
        request.url.path(),
        &query,
        body.as_ref(),
    )
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_holds_back_the_whole_lane() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({"success": false, "error": "Too many requests", "errorCode": 429}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"success": true, "data": organization(5, "4711")})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "data": organization(5, "4711")})),
        )
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let start = Instant::now();
    let write = OrganizationWrite {
        name: Some("Müller GmbH".into()),
        ..OrganizationWrite::default()
    };
    let other = client.clone();
    let read = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.get_organization(5).await.map(|_| Instant::now())
    });
    let created = client
        .create_organization(&write)
        .await
        .expect("created after the wait");
    assert_eq!(created.id, 5);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "the create waited for Retry-After"
    );
    let read_done = read.await.unwrap().expect("read succeeds");
    assert!(
        read_done.duration_since(start) >= Duration::from_secs(1),
        "a read of the same lane, started after the 429, waited too"
    );
    assert_eq!(client.governor().snapshot().responses_429, 1);
    assert_requests_match_spec(&server).await;
}

#[tokio::test]
async fn repeated_429s_end_the_call_instead_of_looping() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/9"))
        .respond_with(ResponseTemplate::new(429).insert_header("x-ratelimit-reset", "1"))
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let error = client.get_organization(9).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::RateLimited { attempts: 3, .. }),
        "{error}"
    );
    let sent = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/api/v2/organizations/9")
        .count();
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn a_daily_budget_429_defers_at_once() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3939")
                .set_body_json(json!({"success": false, "error": "daily request budget exceeded", "errorCode": 429})),
        )
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let error = client.list_organizations(None).await.unwrap_err();
    assert!(
        matches!(
            error,
            PipedriveError::CompanyBudgetExhausted {
                retry_after_secs: 3939,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_deferred());
    let snapshot = client.governor().snapshot();
    assert_eq!(snapshot.alerts.len(), 1);
    assert!(snapshot.deferred_until.is_some());
    // Nothing more is sent until the budget is back.
    let again = client.get_organization(1).await.unwrap_err();
    assert!(
        matches!(again, PipedriveError::CompanyBudgetExhausted { .. }),
        "{again}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "users/me and the one 429"
    );
}

#[tokio::test]
async fn cloudflare_s_html_403_stops_the_connection_with_an_alert() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>This error is produced by Cloudflare</body></html>"),
        )
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let first = client.list_organizations(None).await.unwrap_err();
    assert!(
        matches!(first, PipedriveError::Forbidden403 { .. }),
        "{first}"
    );
    assert!(first.stops_connection());
    let second = client.get_organization(1).await.unwrap_err();
    assert!(
        matches!(second, PipedriveError::Forbidden403 { .. }),
        "{second}"
    );
    let snapshot = client.governor().snapshot();
    assert!(snapshot.stopped.is_some());
    assert!(
        snapshot.alerts[0].message.contains("403"),
        "{:?}",
        snapshot.alerts
    );
    let sent_after_connect = server.received_requests().await.unwrap().len() - 1;
    assert_eq!(sent_after_connect, 1, "nothing is sent after the block");
}

#[tokio::test]
async fn a_json_403_is_a_permission_problem_not_a_block() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/1"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "success": false, "error": "You do not have permissions to do this.",
            "error_info": "Please check developers.pipedrive.com", "data": null, "additional_data": null})))
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let error = client.get_organization(1).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::PermissionDenied { .. }),
        "{error}"
    );
    assert!(client.governor().snapshot().stopped.is_none());
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_a_bounded_number_of_times() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "data": organization(5, "1")})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/6"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"success": false, "error": "Internal Server Error", "code": "ERR_UNKNOWN"}),
        ))
        .mount(&server)
        .await;
    let client = connect(&server).await;
    assert_eq!(client.get_organization(5).await.unwrap().id, 5);
    let error = client.get_organization(6).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::Http { attempts: 6, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("Internal Server Error"),
        "{error}"
    );
}

#[tokio::test]
async fn a_lost_create_is_found_by_its_external_id_and_not_sent_again() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [organization(3, "4710"), organization(4, "4711")],
            "additional_data": {"next_cursor": null}})))
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let write = OrganizationWrite {
        name: Some("Müller GmbH".into()),
        ..OrganizationWrite::default()
    };
    let found = client
        .create_organization_idempotent(&write, EXTERNAL_KEY, "4711")
        .await
        .expect("found by external id");
    assert_eq!(found.id, 4);
    let requests = server.received_requests().await.unwrap();
    let posts = requests
        .iter()
        .filter(|request| request.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1, "the create was not sent twice");
    let list = requests
        .iter()
        .find(|request| {
            request.method.as_str() == "GET" && request.url.path() == "/api/v2/organizations"
        })
        .expect("the list was asked");
    let query: Vec<(String, String)> = list
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(
        query.iter().any(|(key, _)| key == "updated_since"),
        "{query:?}"
    );
    assert_requests_match_spec(&server).await;
}

#[tokio::test]
async fn a_lost_create_that_did_not_happen_is_sent_again() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"success": true, "data": organization(8, "4711")})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "data": [], "additional_data": {"next_cursor": null}}),
        ))
        .mount(&server)
        .await;
    let client = connect(&server).await;
    let write = OrganizationWrite {
        name: Some("Müller GmbH".into()),
        ..OrganizationWrite::default()
    };
    let created = client
        .create_organization_idempotent(&write, EXTERNAL_KEY, "4711")
        .await
        .unwrap();
    assert_eq!(created.id, 8);
    let posts: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.method.as_str() == "POST")
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1]["custom_fields"][EXTERNAL_KEY], "4711",
        "the external id is written"
    );
}

#[tokio::test]
async fn a_rejected_api_token_names_the_config_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/users/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"success": false, "error": "unauthorized access", "errorCode": 401}),
        ))
        .mount(&server)
        .await;
    let config = support::api_token_config(&server.uri(), "wrong", PipedrivePlan::Growth);
    let error = PipedriveClient::connect_with(&config, support::store(), support::quick())
        .await
        .unwrap_err();
    assert!(
        matches!(error, PipedriveError::Unauthorized { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("pipedrive.api_token"), "{error}");
}

#[tokio::test]
async fn the_server_s_own_burst_limit_is_followed_when_it_differs() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-limit", "20")
                .insert_header("x-ratelimit-remaining", "19")
                .insert_header("x-ratelimit-reset", "2")
                .set_body_json(json!({"success": true, "data": organization(5, "1")})),
        )
        .mount(&server)
        .await;
    let client = connect(&server).await;
    assert_eq!(
        client.governor().snapshot().burst_limit,
        40,
        "growth with an API token"
    );
    client.get_organization(5).await.unwrap();
    assert_eq!(client.governor().snapshot().server_burst_limit, Some(20));
}

#[tokio::test]
async fn a_configured_burst_limit_replaces_the_plan_s_and_the_server_still_has_the_last_word() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-limit", "20")
                .insert_header("x-ratelimit-remaining", "0")
                .set_body_json(
                    json!({"success": false, "error": "Too many requests", "errorCode": 429}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-limit", "20")
                .insert_header("x-ratelimit-remaining", "19")
                .insert_header("x-ratelimit-reset", "2")
                .set_body_json(json!({"success": true, "data": organization(5, "1")})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let config = mlc_config::PipedriveConfig {
        burst_limit: Some(100_000),
        ..support::api_token_config(&server.uri(), "T", PipedrivePlan::Growth)
    };
    let client = PipedriveClient::connect_with(&config, support::store(), support::quick())
        .await
        .expect("connects");
    assert_eq!(
        client.governor().snapshot().burst_limit,
        100_000,
        "pipedrive.burst_limit instead of growth's 40"
    );
    client
        .get_organization(5)
        .await
        .expect("read after the 429's wait");
    let snapshot = client.governor().snapshot();
    assert_eq!(snapshot.responses_429, 1, "the 429 was taken as one");
    assert_eq!(
        snapshot.server_burst_limit,
        Some(20),
        "the limit in the server's headers is followed over the configured one"
    );
}

#[tokio::test]
async fn every_call_of_the_client_is_shaped_as_the_spec_says() {
    let server = server().await;
    let person = json!({"id": 3, "name": "Anna Schmidt", "org_id": 5, "owner_id": 1, "emails": [], "phones": [],
                        "is_deleted": false, "visible_to": 3, "label_ids": [], "custom_fields": {}});
    let field = json!({"field_name": "ECC Customer Number", "field_code": EXTERNAL_KEY, "field_type": "varchar",
                       "options": null, "subfields": null, "is_custom_field": true, "is_optional_response_field": false});
    let webhook = json!({"id": 12, "event_action": "*", "event_object": "organization",
                         "subscription_url": "https://connector.example.com/webhooks/pipedrive", "version": "2.0", "is_active": 1});
    let answers: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "GET",
            r"^/api/v2/organizations$",
            json!({"success": true, "data": [organization(5, "4711")], "additional_data": {"next_cursor": null}}),
        ),
        (
            "POST",
            r"^/api/v2/organizations$",
            json!({"success": true, "data": organization(5, "4711")}),
        ),
        (
            "GET",
            r"^/api/v2/itemSearch/field$",
            json!({"success": true, "data": [{"result_score": 1.0, "item": {"id": 5, "name": "Müller GmbH"}}], "additional_data": {"next_cursor": null}}),
        ),
        (
            "GET",
            r"^/api/v2/organizations/search$",
            json!({"success": true, "data": {"items": [{"result_score": 1.0, "item": {"id": 5, "type": "organization", "name": "Müller GmbH", "custom_fields": ["4711"]}}]}, "additional_data": {"next_cursor": null}}),
        ),
        (
            "GET",
            r"^/api/v2/organizations/\d+$",
            json!({"success": true, "data": organization(5, "4711")}),
        ),
        (
            "PATCH",
            r"^/api/v2/organizations/\d+$",
            json!({"success": true, "data": organization(5, "4711")}),
        ),
        (
            "DELETE",
            r"^/api/v2/organizations/\d+$",
            json!({"success": true, "data": {"id": 5}}),
        ),
        (
            "GET",
            r"^/api/v2/persons$",
            json!({"success": true, "data": [person], "additional_data": {"next_cursor": null}}),
        ),
        (
            "POST",
            r"^/api/v2/persons$",
            json!({"success": true, "data": person}),
        ),
        (
            "GET",
            r"^/api/v2/persons/search$",
            json!({"success": true, "data": {"items": []}, "additional_data": {"next_cursor": null}}),
        ),
        (
            "GET",
            r"^/api/v2/persons/\d+$",
            json!({"success": true, "data": person}),
        ),
        (
            "PATCH",
            r"^/api/v2/persons/\d+$",
            json!({"success": true, "data": person}),
        ),
        (
            "DELETE",
            r"^/api/v2/persons/\d+$",
            json!({"success": true, "data": {"id": 3}}),
        ),
        (
            "GET",
            r"^/api/v2/(organization|person)Fields$",
            json!({"success": true, "data": [field], "additional_data": {"next_cursor": null}}),
        ),
        (
            "POST",
            r"^/api/v2/(organization|person)Fields$",
            json!({"success": true, "data": field}),
        ),
        (
            "PUT",
            r"^/v1/(organizations|persons)/\d+/merge$",
            json!({"success": true, "data": {"id": 5}}),
        ),
        (
            "GET",
            r"^/v1/webhooks$",
            json!({"success": true, "status": "ok", "data": [webhook]}),
        ),
        (
            "POST",
            r"^/v1/webhooks$",
            json!({"success": true, "status": "ok", "data": webhook}),
        ),
        (
            "DELETE",
            r"^/v1/webhooks/\d+$",
            json!({"success": true, "status": "ok"}),
        ),
    ];
    for (verb, pattern, body) in answers {
        Mock::given(method(verb))
            .and(path_regex(pattern))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(5)
            .mount(&server)
            .await;
    }
    let client = connect(&server).await;
    let mut write = OrganizationWrite {
        name: Some("Müller Maschinenbau GmbH & Co. KG".into()),
        owner_id: Some(1),
        visible_to: Some(3),
        label_ids: Some(vec![2]),
        address: Some(
            mlc_pipedrive::AddressWrite {
                route: Some("Hauptstraße".into()),
                street_number: Some("12".into()),
                postal_code: Some("70173".into()),
                locality: Some("Stuttgart".into()),
                admin_area_level_1: Some("BW".into()),
                country: Some("Germany".into()),
                ..Default::default()
            }
            .completed(),
        ),
        ..OrganizationWrite::default()
    };
    write
        .custom_fields
        .insert(EXTERNAL_KEY.into(), json!("4711"));
    write
        .custom_fields
        .insert("d".repeat(40), serde_json::Value::Null);
    client
        .list_organizations(Some(chrono::Utc::now()))
        .await
        .unwrap();
    client.create_organization(&write).await.unwrap();
    client.update_organization(5, &write).await.unwrap();
    client.get_organization(5).await.unwrap();
    client.delete_organization(5).await.unwrap();
    client
        .search_organizations("4711", &[SearchField::CustomFields], true)
        .await
        .unwrap();
    client.merge_organizations(5, 6).await.unwrap();
    let hits = client
        .search_by_field(EntityKind::Organization, EXTERNAL_KEY, "4711")
        .await
        .unwrap();
    assert_eq!(hits[0].id, 5);
    let mut person = PersonWrite {
        name: Some("Anna Schmidt".into()),
        org_id: Some(5),
        owner_id: Some(1),
        emails: Some(mlc_pipedrive::ContactValue::list(
            &["a.schmidt@mueller.de".into()],
            "work",
        )),
        phones: Some(mlc_pipedrive::ContactValue::list(
            &["0711 123456-12".into(), "0172 1".into()],
            "work",
        )),
        ..PersonWrite::default()
    };
    person
        .custom_fields
        .insert(EXTERNAL_KEY.into(), json!("12345"));
    client
        .list_persons(&ListQuery {
            org_id: Some(5),
            custom_fields: vec![EXTERNAL_KEY.into()],
            ..ListQuery::default()
        })
        .await
        .unwrap();
    client.create_person(&person).await.unwrap();
    client.update_person(3, &person).await.unwrap();
    client.get_person(3).await.unwrap();
    client.delete_person(3).await.unwrap();
    client
        .search_persons("a.schmidt@mueller.de", &[SearchField::Email], true)
        .await
        .unwrap();
    client.merge_persons(3, 4).await.unwrap();
    for entity in [EntityKind::Organization, EntityKind::Person] {
        client.list_fields(entity).await.unwrap();
        client
            .create_field(
                entity,
                &FieldCreate {
                    field_name: "ECC Payment Terms".into(),
                    field_type: "enum".into(),
                    options: vec![mlc_pipedrive::FieldOptionCreate {
                        label: "30 days net".into(),
                    }],
                },
            )
            .await
            .unwrap();
    }
    client.users_me().await.unwrap();
    client.list_webhooks().await.unwrap();
    client
        .create_webhook(&WebhookCreate {
            subscription_url: "https://connector.example.com/webhooks/pipedrive".into(),
            event_action: "*".into(),
            event_object: "organization".into(),
            name: "ml-connector".into(),
            user_id: None,
            http_auth_user: Some("pipedrive".into()),
            http_auth_password: Some("secret".into()),
            version: "2.0".into(),
        })
        .await
        .unwrap();
    client.delete_webhook(12).await.unwrap();
    let sent = server.received_requests().await.unwrap();
    let paths: Vec<String> = sent
        .iter()
        .map(|request| format!("{} {}", request.method, request.url.path()))
        .collect();
    assert_eq!(sent.len(), 24, "{paths:#?}");
    assert_requests_match_spec(&server).await;
}
