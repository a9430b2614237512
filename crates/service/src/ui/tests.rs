//! The login, the session and CSRF checks, and escaping, through the UI's router as a browser
//! reaches it (no listener: `oneshot` requests).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use mlc_store::{Action, AuditEvent, AuditQuery, EntityKind, NewRun};
use tower::ServiceExt;

use super::session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use super::{router_with, Sessions, Ui};
use crate::{ServiceOptions, ServiceState};

use crate::test_support::TOKEN;

async fn test_ui() -> Arc<Ui> {
    let store = mlc_store::open("sqlite::memory:", None).await.unwrap();
    Arc::new(Ui {
        service: Arc::new(ServiceState {
            store,
            connections: Vec::new(),
            metrics: crate::metrics::Metrics::new(),
            options: ServiceOptions::default(),
            started: Utc::now(),
            admin_token: Some(mlc_config::Secret::new(TOKEN)),
            shutdown: tokio_util::sync::CancellationToken::new(),
        }),
        sessions: Sessions::new(),
    })
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

impl Answer {
    /// The value a `Set-Cookie` of the answer gives cookie `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|cookie| {
            let value = cookie.strip_prefix(&format!("{name}="))?;
            Some(value.split(';').next().unwrap_or("").to_string())
        })
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|value| value.to_str().unwrap().to_string());
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        location,
        cookies,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(form.to_string())).unwrap()
}

/// The login form's CSRF token (from its cookie; the form carries the same).
async fn login_csrf(router: &Router) -> String {
    let form = send(router, get("/login", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    let token = form.cookie(LOGIN_CSRF_COOKIE).expect("a login CSRF cookie");
    assert!(form.body.contains(&format!("value=\"{token}\"")));
    token
}

/// Logs in; the session cookie (`mlc_session=...`) and the page's CSRF token.
async fn log_in(router: &Router) -> (String, String) {
    let csrf = login_csrf(router).await;
    let answer = send(
        router,
        post(
            "/login",
            Some(&format!("{LOGIN_CSRF_COOKIE}={csrf}")),
            &format!("csrf={csrf}&token={TOKEN}"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some("/"));
    let session = answer.cookie(SESSION_COOKIE).expect("a session cookie");
    let set = answer
        .cookies
        .iter()
        .find(|cookie| cookie.starts_with(SESSION_COOKIE))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"));
    assert_ne!(session, TOKEN, "the cookie is not the token");
    let cookie = format!("{SESSION_COOKIE}={session}");
    let overview = send(router, get("/", Some(&cookie))).await;
    assert_eq!(overview.status, StatusCode::OK);
    let page_csrf = overview
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's forms carry a CSRF token")
        .to_string();
    (cookie, page_csrf)
}

#[tokio::test]
async fn without_a_session_every_page_but_login_redirects_to_login() {
    let router = router_with(test_ui().await);
    for path in [
        "/",
        "/runs",
        "/runs/1",
        "/audit",
        "/audit/customer/4711",
        "/review",
    ] {
        let answer = send(&router, get(path, None)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location.as_deref(), Some("/login"), "{path}");
    }
    let answer = send(
        &router,
        get("/", Some(&format!("{SESSION_COOKIE}=made-up-session-id"))),
    )
    .await;
    assert_eq!(answer.location.as_deref(), Some("/login"));
    let answer = send(&router, post("/review/1/accept", None, "csrf=x")).await;
    assert_eq!(answer.location.as_deref(), Some("/login"));
    assert_eq!(
        send(&router, get("/login", None)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_gives_no_session() {
    let router = router_with(test_ui().await);
    let csrf = login_csrf(&router).await;
    let answer = send(
        &router,
        post(
            "/login",
            Some(&format!("{LOGIN_CSRF_COOKIE}={csrf}")),
            &format!("csrf={csrf}&token=guessed-0815"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("Wrong token."));
    assert!(answer.cookie(SESSION_COOKIE).is_none());
    assert!(
        !answer.body.contains("guessed-0815"),
        "the typed token is not echoed"
    );
}

#[tokio::test]
async fn a_login_without_the_forms_csrf_token_is_refused() {
    let router = router_with(test_ui().await);
    let csrf = login_csrf(&router).await;
    for (cookie, form) in [
        (None, format!("csrf={csrf}&token={TOKEN}")),
        (
            Some(format!("{LOGIN_CSRF_COOKIE}={csrf}")),
            format!("token={TOKEN}"),
        ),
        (
            Some(format!("{LOGIN_CSRF_COOKIE}={csrf}")),
            format!("csrf=other&token={TOKEN}"),
        ),
    ] {
        let answer = send(&router, post("/login", cookie.as_deref(), &form)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{form}");
        assert!(answer.cookie(SESSION_COOKIE).is_none());
    }
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused() {
    let ui = test_ui().await;
    let router = router_with(ui.clone());
    let (cookie, csrf) = log_in(&router).await;
    for form in [
        "".to_string(),
        "csrf=".to_string(),
        "csrf=0123abcd".to_string(),
    ] {
        let answer = send(&router, post("/review/1/accept", Some(&cookie), &form)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "form {form:?}");
        assert!(answer.body.contains("CSRF token is missing or wrong"));
    }
    // Another session's token does not do either.
    let (_, other_csrf) = log_in(&router).await;
    assert_ne!(other_csrf, csrf);
    let answer = send(
        &router,
        post(
            "/review/1/accept",
            Some(&cookie),
            &format!("csrf={other_csrf}"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // With it, the form reaches its handler (no such pair here).
    let answer = send(
        &router,
        post("/review/1/accept", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("There is no pair 1"));
}

#[tokio::test]
async fn an_expired_or_logged_out_session_is_refused() {
    let ui = test_ui().await;
    let router = router_with(ui.clone());
    let (cookie, csrf) = log_in(&router).await;
    let id = cookie.split('=').nth(1).unwrap();
    let expired = ui.sessions.find(id, Utc::now() + super::SESSION_LIFETIME);
    assert!(expired.is_none(), "12 hours after the login");
    let answer = send(&router, get("/", Some(&cookie))).await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/login"),
        "expired sessions are forgotten"
    );

    let (cookie, csrf_again) = log_in(&router).await;
    assert_ne!(csrf, csrf_again);
    let answer = send(
        &router,
        post("/logout", Some(&cookie), &format!("csrf={csrf_again}")),
    )
    .await;
    assert_eq!(answer.location.as_deref(), Some("/login"));
    assert!(answer
        .cookies
        .iter()
        .any(|set| set.starts_with(&format!("{SESSION_COOKIE}=;")) && set.contains("Max-Age=0")));
    let answer = send(&router, get("/runs", Some(&cookie))).await;
    assert_eq!(answer.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn what_ecc_and_pipedrive_hold_is_html_escaped_on_every_page() {
    let ui = test_ui().await;
    let store = ui.service.store.clone();
    let run_id = store
        .start_run(&NewRun {
            connection: "main".into(),
            instance: "host:1".into(),
            mode: "delta".into(),
        })
        .await
        .unwrap();
    let hostile = "<script>alert(1)</script> & \"Söhne\"";
    store
        .append_audit(&[AuditEvent {
            id: 0,
            connection: "main".into(),
            run_id,
            kind: EntityKind::Organization,
            ecc_key: "0000004711".into(),
            customer_number: "0000004711".into(),
            read_at: Utc::now(),
            source: "soap-rfc:KNA1".into(),
            extracted: serde_json::json!({"name": hostile, "billing_address": {"city": "<b>Ulm</b>"}}),
            extracted_later: None,
            content_hash: "abc".into(),
            action: Action::Error,
            pipedrive_id: None,
            outcome: "refused".into(),
            error: Some("<img src=x onerror=alert(2)>".into()),
            recorded_at: Utc::now(),
            full_copy_id: None,
        }])
        .await
        .unwrap();
    let router = router_with(ui);
    let (cookie, _) = log_in(&router).await;
    for path in [
        "/audit?customer=4711",
        "/audit/customer/4711",
        &format!("/runs/{run_id}"),
        "/audit?name=s%C3%B6hne",
    ] {
        let answer = send(&router, get(path, Some(&cookie))).await;
        assert!(
            !answer.body.contains("<script>alert"),
            "{path}: {}",
            answer.body
        );
        assert!(!answer.body.contains("<img src=x"), "{path}");
        assert!(!answer.body.contains("<b>Ulm"), "{path}");
    }
    let history = send(&router, get("/audit/customer/4711", Some(&cookie))).await;
    assert!(
        history
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || history.body.contains("&lt;script&gt;")
    );
    let search = send(&router, get("/audit?name=s%C3%B6hne", Some(&cookie))).await;
    assert!(
        search.body.contains("/audit/customer/4711"),
        "found by name: {}",
        search.body
    );
    // A hostile search term comes back escaped in the form.
    let answer = send(
        &router,
        get("/audit?customer=%22%3E%3Cscript%3E", Some(&cookie)),
    )
    .await;
    assert!(!answer.body.contains("\"><script>"));
}

#[tokio::test]
async fn a_skip_shows_its_hash_and_points_at_the_record_as_last_read() {
    let ui = test_ui().await;
    let store = ui.service.store.clone();
    let run = |mode: &str| NewRun {
        connection: "main".into(),
        instance: "host:1".into(),
        mode: mode.into(),
    };
    let first = store.start_run(&run("full")).await.unwrap();
    let second = store.start_run(&run("full")).await.unwrap();
    let read = |run_id, action, outcome: &str| AuditEvent {
        id: 0,
        connection: "main".into(),
        run_id,
        kind: EntityKind::Organization,
        ecc_key: "0000004711".into(),
        customer_number: "0000004711".into(),
        read_at: Utc::now(),
        source: "soap-rfc:KNA1".into(),
        extracted: serde_json::json!({"name": "Müller Maschinenbau GmbH", "billing_address": {"city": "Ulm"}}),
        extracted_later: None,
        content_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        action,
        pipedrive_id: Some(42),
        outcome: outcome.into(),
        error: None,
        recorded_at: Utc::now(),
        full_copy_id: None,
    };
    store
        .append_audit(&[read(first, Action::Create, "201 created")])
        .await
        .unwrap();
    store
        .append_audit(&[read(
            second,
            Action::Skip,
            "no call: unchanged since the last write",
        )])
        .await
        .unwrap();
    let events = store.audit(&AuditQuery::default()).await.unwrap();
    let (skip, created) = (&events[0], &events[1]);
    assert_eq!(
        skip.full_copy_id,
        Some(created.id),
        "the skip is stored narrow"
    );

    let router = router_with(ui);
    let (cookie, _) = log_in(&router).await;
    let history = send(&router, get("/audit/customer/4711", Some(&cookie))).await;
    assert_eq!(history.status, StatusCode::OK);
    assert!(
        history.body.contains("Müller Maschinenbau GmbH"),
        "the name from the full copy: {}",
        history.body
    );
    assert!(history
        .body
        .contains(&format!("href=\"#event-{}\"", created.id)));
    assert!(history
        .body
        .contains(&format!("id=\"event-{}\"", created.id)));
    assert_eq!(
        history.body.matches("Extracted fields").count(),
        1,
        "the record's fields once, with the create"
    );
    assert!(history.body.contains(&skip.content_hash));
    let list = send(&router, get("/audit?customer=4711", Some(&cookie))).await;
    assert!(list.body.contains("9f86d081884c"), "{}", list.body);
    assert!(list
        .body
        .contains(&format!("/audit/customer/4711#event-{}", created.id)));
}

#[tokio::test]
async fn a_bad_filter_is_named_on_the_audit_page() {
    let router = router_with(test_ui().await);
    let (cookie, _) = log_in(&router).await;
    for (query, expected) in [
        ("run=abc", "a run is a number"),
        ("action=nonsense", "not an action of the audit trail"),
        ("since=yesterday", "give a time as"),
        ("customer=12345678901", "at most 10 characters"),
    ] {
        let answer = send(&router, get(&format!("/audit?{query}"), Some(&cookie))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.body.contains(expected), "{query}: {}", answer.body);
    }
}

#[test]
fn pipedrive_links_go_to_the_company_domain() {
    use super::pages::pipedrive_record_link;
    assert_eq!(
        pipedrive_record_link("https://acme.pipedrive.com/", EntityKind::Organization, 42),
        "https://acme.pipedrive.com/organization/42"
    );
    assert_eq!(
        pipedrive_record_link("https://api.pipedrive.com", EntityKind::Person, 7),
        "https://app.pipedrive.com/person/7"
    );
}

#[test]
fn extracted_records_flatten_to_readable_paths() {
    let fields = super::pages::flatten_fields(&serde_json::json!({
        "name": "Müller GmbH",
        "billing_address": {"city": "Stuttgart", "region": ""},
        "contacts": [{"last_name": "Schmidt", "emails": []}],
        "shipping_address": null,
        "deleted": false
    }));
    let text: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        text,
        [
            "name=Müller GmbH",
            "billing_address.city=Stuttgart",
            "billing_address.region=—",
            "contacts[0].last_name=Schmidt",
            "contacts[0].emails=—",
            "shipping_address=—",
            "deleted=false"
        ]
    );
}

#[test]
fn times_typed_in_the_form_are_read_as_utc() {
    use super::pages::parse_time;
    let at = parse_time("From", "2026-12-03T08:30").unwrap().unwrap();
    assert_eq!(at.to_rfc3339(), "2026-12-03T08:30:00+00:00");
    assert!(parse_time("From", "").unwrap().is_none());
    assert!(parse_time("From", "2026-12-03T08:30:00+01:00")
        .unwrap()
        .is_some());
    assert!(parse_time("Until", "soon")
        .unwrap_err()
        .contains("Until “soon”"));
}

#[test]
fn the_review_reason_is_said_in_words() {
    let reason = super::pages::review_reason(&serde_json::json!({
        "decision": "review", "reason": "middle_band",
        "candidate": {"rule": "name_and_address", "name_score": 0.93, "agreed": ["postal_code", "city"],
                      "disagreed": ["street"], "linked_to": "0000004712"}
    }));
    assert!(reason.contains("between the review and the link thresholds"));
    assert!(reason.contains("name and address"));
    assert!(reason.contains("Name similarity 0.93"));
    assert!(reason.contains("Agree: postal code, city."));
    assert!(reason.contains("Differ: street."));
    assert!(reason.contains("customer number 4712"));
}

#[tokio::test]
async fn the_review_page_ranks_explains_and_settles_groups_and_score_rules() {
    let service = crate::test_support::state().await;
    crate::test_support::queue(service.store.as_ref()).await;
    let store = service.store.clone();
    let router = router_with(Arc::new(Ui {
        service,
        sessions: Sessions::new(),
    }));
    let (cookie, csrf) = log_in(&router).await;
    let page = send(&router, get("/review", Some(&cookie))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let position = |id: i64| {
        page.body
            .find(&format!("id=\"review-{id}\""))
            .unwrap_or_else(|| panic!("pair {id} is on the page"))
    };
    assert!(
        position(1) < position(2)
            && position(2) < position(3)
            && position(3) < position(5)
            && position(5) < position(4),
        "the group first, then by distance to a threshold"
    );
    assert!(page
        .body
        .contains("<td data-label=\"Comparison\">postal code</td>"));
    assert!(page.body.contains("<td data-label=\"Weight\">+4.00</td>"));
    assert!(page.body.contains("<td data-label=\"Value\">12 ≠ 14</td>"));
    assert!(page.body.contains("action=\"/review/1/accept-group\""));
    assert!(page.body.contains("action=\"/review/bulk\""));

    let pending = |store: Arc<dyn mlc_store::StateStore>| async move {
        store
            .reviews("default", Some(mlc_store::ReviewStatus::Pending))
            .await
            .unwrap()
            .len()
    };
    let preview = send(
        &router,
        post(
            "/review/bulk",
            Some(&cookie),
            &format!("csrf={csrf}&decision=accept&score=0.84&preview=1"),
        ),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview
            .body
            .contains("nothing decided: would accept 1 pair(s) [3]"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("Held back pair 5"));
    assert_eq!(pending(store.clone()).await, 5, "a preview decides nothing");

    let rejected = send(
        &router,
        post(
            "/review/bulk",
            Some(&cookie),
            &format!("csrf={csrf}&decision=reject&score=0.75"),
        ),
    )
    .await;
    assert!(
        rejected.body.contains("rejected 1 pair(s) [4]"),
        "{}",
        rejected.body
    );
    let group = send(
        &router,
        post(
            "/review/2/accept-group",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(group.status, StatusCode::OK, "{}", group.body);
    assert!(
        group
            .body
            .contains("accepted 1 pair(s) [2], rejected 1 pair(s) [1]"),
        "{}",
        group.body
    );
    assert_eq!(pending(store.clone()).await, 2);
    let records = store.review_decisions("default", None).await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|record| record.decided_by == "ui"));
    assert_eq!(
        records[0].rule,
        mlc_store::DecisionRule::ScoreBelow { score: 0.75 }
    );
    assert_eq!(
        records[1].rule,
        mlc_store::DecisionRule::Group { of_pair: 2 }
    );

    let refused = send(
        &router,
        post(
            "/review/bulk",
            Some(&cookie),
            &format!("csrf={csrf}&decision=accept&score=2"),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("outside 0..1"));
}
