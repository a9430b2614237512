//! The client against the Pipedrive simulator (which refuses every request the real API would
//! refuse): pacing on the lite plan, the budget share, creates under injected faults, custom
//! fields, OAuth with rotating refresh tokens, the check lines.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::{PipedrivePlan, Secret};
use mlc_pipedrive::{
    auth, check_lines, CustomFieldResolver, EntityKind, FieldSpec, OrganizationWrite, PersonWrite,
    PipedriveClient, PipedriveError, DEFAULT_CUSTOMER_NUMBER_FIELD,
};
use mlc_sim_pipedrive::{spawn, FaultSettings, SimPipedriveOptions};

fn sim_options(plan: &str) -> SimPipedriveOptions {
    SimPipedriveOptions {
        plan: plan.to_string(),
        api_token: "T".to_string(),
        ..SimPipedriveOptions::for_tests()
    }
}

fn organization(index: usize) -> OrganizationWrite {
    OrganizationWrite {
        name: Some(format!("Kunde {index} GmbH")),
        ..OrganizationWrite::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_on_lite_keep_within_the_burst_limit() {
    let sim = spawn(sim_options("lite")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Lite);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    assert_eq!(client.governor().snapshot().burst_limit, 20);
    for index in 0..60 {
        client
            .create_organization(&organization(index))
            .await
            .unwrap();
    }
    let stats = sim.state().stats();
    assert_eq!(stats.organizations, 60);
    let answered_429 = stats.count_status(429);
    println!("60 creates on lite: {answered_429} answers 429");
    assert!(
        answered_429 <= 1,
        "{answered_429} answers 429 for 60 creates"
    );
    let snapshot = client.governor().snapshot();
    assert_eq!(
        snapshot.tokens_used_today,
        2 + 60 * 5,
        "users/me + 60 creates"
    );
    assert_eq!(
        stats.tokens_used_today, snapshot.tokens_used_today,
        "our ledger agrees with Pipedrive's"
    );
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_that_would_cross_the_budget_share_is_not_sent() {
    let sim = spawn(sim_options("ultimate")).await.unwrap();
    let mut config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Ultimate);
    // users/me (2 tokens) and 100 creates (5 each): the share is 502 tokens.
    config.daily_budget_tokens = Some(502);
    config.budget_share = 1.0;
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    for index in 0..100 {
        client
            .create_organization(&organization(index))
            .await
            .unwrap();
    }
    let error = client
        .create_organization(&organization(100))
        .await
        .unwrap_err();
    match &error {
        PipedriveError::BudgetShareUsed { used, limit, .. } => {
            assert_eq!((*used, *limit), (502, 502));
        }
        other => panic!("expected the budget share to be used, got {other}"),
    }
    assert!(error.is_deferred());
    assert!(error.to_string().contains("deferred"), "{error}");
    let stats = sim.state().stats();
    assert_eq!(
        stats.count("POST", "/api/v2/organizations", 201)
            + stats.count("POST", "/api/v2/organizations", 200),
        100
    );
    assert_eq!(stats.organizations, 100, "the 101st was not sent");
    let snapshot = client.governor().snapshot();
    assert!(snapshot.deferred_until.is_some());
    assert_eq!(snapshot.tokens_used_today, 502);
    // Later calls are refused without asking the store or Pipedrive.
    assert!(client.get_organization(1).await.unwrap_err().is_deferred());
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_creates_under_faults_make_five_hundred_organizations() {
    let sim = spawn(sim_options("unlimited")).await.unwrap();
    let mut config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Ultimate);
    config.timeout = Duration::from_secs(1);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), support::quick()).await;
    let fields = CustomFieldResolver::new(client.clone());
    let resolved = fields
        .ensure_fields(&FieldSpec::default_needs())
        .await
        .unwrap();
    let key = resolved[0].key.clone();
    sim.state().set_faults(FaultSettings {
        error_rate: 0.05,
        reset_rate: 0.02,
        timeout_rate: 0.02,
        methods: vec!["POST".to_string()],
        ..FaultSettings::default()
    });
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, next, key) = (client.clone(), next.clone(), key.clone());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= 500 {
                    return Ok::<(), PipedriveError>(());
                }
                client
                    .create_organization_idempotent(&organization(index), &key, &index.to_string())
                    .await?;
            }
        });
    }
    while let Some(worker) = workers.join_next().await {
        worker
            .unwrap()
            .expect("every create ends with an organization");
    }
    let organizations = sim.state().organizations();
    let live: Vec<_> = organizations
        .iter()
        .filter(|organization| !organization.is_deleted)
        .collect();
    let mut by_external_id: BTreeMap<String, usize> = BTreeMap::new();
    for organization in &live {
        let external_id = organization.json["custom_fields"][&key]
            .as_str()
            .unwrap_or("none")
            .to_string();
        *by_external_id.entry(external_id).or_default() += 1;
    }
    let twice: Vec<_> = by_external_id
        .iter()
        .filter(|(_, count)| **count > 1)
        .collect();
    assert!(twice.is_empty(), "created twice: {twice:?}");
    assert_eq!(live.len(), 500);
    assert_eq!(by_external_id.len(), 500);
    let stats = sim.state().stats();
    let faulted: u64 = [500, 502, 503]
        .iter()
        .map(|status| stats.count("POST", "/api/v2/organizations", *status))
        .sum();
    println!(
        "faults answered on creates: {faulted} 5xx; requests: {:?}",
        stats.requests
    );
    assert!(faulted > 0, "the faults were injected");
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_are_created_once_and_found_by_name() {
    // This test searches for what it has just written: no index lag.
    let sim = spawn(SimPipedriveOptions {
        search_lag_ms: 0,
        ..sim_options("growth")
    })
    .await
    .unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Growth);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    let resolver = CustomFieldResolver::new(client.clone());
    let mut needs = FieldSpec::default_needs();
    needs.push(FieldSpec {
        options: vec!["30 days net".into(), "14 days 2% discount".into()],
        ..FieldSpec::new(EntityKind::Organization, "ECC Payment Terms", "enum")
    });
    let first = resolver.ensure_fields(&needs).await.unwrap();
    assert!(first.iter().all(|field| field.created));
    assert!(first.iter().all(|field| field.key.len() == 40), "{first:?}");
    let again = CustomFieldResolver::new(client.clone());
    let second = again.ensure_fields(&needs).await.unwrap();
    assert!(
        second
            .iter()
            .all(|field| !field.created && field.warning.is_none()),
        "{second:?}"
    );
    assert_eq!(
        first.iter().map(|field| &field.key).collect::<Vec<_>>(),
        second.iter().map(|field| &field.key).collect::<Vec<_>>()
    );
    assert_eq!(
        again
            .key(EntityKind::Organization, DEFAULT_CUSTOMER_NUMBER_FIELD)
            .await
            .unwrap(),
        first[0].key
    );
    // A field added in Pipedrive after the cache was filled is found by refreshing.
    let added = sim
        .state()
        .create_custom_field("person", "ECC Department", "varchar", &[])
        .unwrap();
    assert_eq!(
        again
            .key(EntityKind::Person, "ECC Department")
            .await
            .unwrap(),
        added
    );
    let missing = again
        .key(EntityKind::Person, "No Such Field")
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("ml-connector setup"),
        "{missing}"
    );
    // Values written through the keys arrive.
    let mut write = organization(1);
    write
        .custom_fields
        .insert(first[0].key.clone(), serde_json::json!("4711"));
    let created = client.create_organization(&write).await.unwrap();
    assert_eq!(created.custom_fields[&first[0].key], "4711");
    let hits = client
        .search_by_field(EntityKind::Organization, &first[0].key, "4711")
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|hit| hit.id).collect::<Vec<_>>(),
        vec![created.id]
    );
    let hits = client
        .search_organizations("4711", &[mlc_pipedrive::SearchField::CustomFields], true)
        .await
        .unwrap();
    assert_eq!(hits[0].item.id, created.id);
    let person = PersonWrite {
        name: Some("Anna Schmidt".into()),
        org_id: Some(created.id),
        emails: Some(mlc_pipedrive::ContactValue::list(
            &["a.schmidt@kunde1.de".into()],
            "work",
        )),
        ..PersonWrite::default()
    };
    let person = client
        .create_person_idempotent(&person, &first[1].key, "12345")
        .await
        .unwrap();
    assert_eq!(person.org_id, Some(created.id));
    assert_eq!(person.emails[0].label, "work");
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_address_keeps_every_part() {
    let sim = spawn(sim_options("growth")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Growth);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    let address = mlc_pipedrive::AddressWrite {
        route: Some("Hauptstraße".into()),
        street_number: Some("12".into()),
        postal_code: Some("70173".into()),
        locality: Some("Stuttgart".into()),
        country: Some("Germany".into()),
        ..Default::default()
    }
    .completed();
    let mut write = organization(1);
    write.address = Some(address.clone());
    let created = client.create_organization(&write).await.unwrap();
    let moved = mlc_pipedrive::AddressWrite {
        street_number: Some("14".into()),
        value: String::new(),
        ..address
    }
    .completed();
    let patch = OrganizationWrite {
        address: Some(moved),
        ..OrganizationWrite::default()
    };
    let updated = client
        .update_organization(created.id, &patch)
        .await
        .unwrap();
    let stored = client
        .get_organization(updated.id)
        .await
        .unwrap()
        .address
        .unwrap();
    assert_eq!(stored.street_number.as_deref(), Some("14"));
    assert_eq!(
        stored.locality.as_deref(),
        Some("Stuttgart"),
        "the other parts stay"
    );
    assert_eq!(stored.postal_code.as_deref(), Some("70173"));
    assert_eq!(
        stored.value.as_deref(),
        Some("Hauptstraße 14, 70173 Stuttgart, Germany")
    );
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_user_company_plan_and_budget_share() {
    let sim = spawn(sim_options("growth")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Growth);
    let lines = check_lines(&config, support::store()).await;
    assert!(lines.iter().all(|line| line.ok), "{lines:#?}");
    let text: Vec<String> = lines
        .iter()
        .map(|line| format!("{}: {}", line.subject, line.detail))
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("growth with 5 seat(s): 40 requests per 2 s"),
        "{text}"
    );
    assert!(text.contains("150000 tokens/day (50% of 300000)"), "{text}");
    assert!(text.contains("company"), "{text}");
    let bad = support::api_token_config(&sim.base_url(), "wrong", PipedrivePlan::Growth);
    let lines = check_lines(&bad, support::store()).await;
    assert!(
        !lines[0].ok && lines[0].detail.contains("401"),
        "{lines:#?}"
    );
}

// ── OAuth ──

fn oauth_for(sim_base: &str, redirect_uri: &str) -> OauthConfig {
    OauthConfig {
        client_id: "sim-client-id".into(),
        client_secret: Secret::new("sim-client-secret"),
        redirect_uri: redirect_uri.into(),
        authorize_url: format!("{sim_base}/oauth/authorize"),
        token_url: format!("{sim_base}/oauth/token"),
    }
}

/// What the user's browser does: opens the authorize URL, follows Pipedrive's redirect back to
/// the connector's loopback callback.
async fn browser_allows(authorize_url: &str) {
    let page = reqwest::get(authorize_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("href=\"").expect("the page links back") + 6;
    let end = start + page[start..].find('"').unwrap();
    let redirect = page[start..end].replace("&amp;", "&");
    let answer = reqwest::get(&redirect).await.unwrap();
    assert!(answer.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_authorizes_refreshes_rotates_and_survives_a_restart() {
    let sim = spawn(SimPipedriveOptions {
        auth: "oauth".into(),
        // Every call refreshes first (tokens are refreshed 2 minutes before they expire).
        token_lifetime_secs: 1,
        ..sim_options("growth")
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!("http://{}/callback", listener.local_addr().unwrap());
    let oauth = oauth_for(&sim.base_url(), &redirect_uri);
    let store = support::store();
    let config = support::oauth_config(
        "https://unused.example.com",
        oauth.clone(),
        PipedrivePlan::Growth,
    );

    // Not yet authorized: the error says what to run.
    let error = PipedriveClient::connect(&config, store.clone())
        .await
        .unwrap_err();
    assert!(matches!(error, PipedriveError::NotAuthorized), "{error}");
    assert!(error.to_string().contains("ml-connector auth pipedrive"));

    // `ml-connector auth pipedrive`: authorize URL, code on the local callback, exchange.
    let state = auth::new_state();
    let url = auth::authorize_url(&oauth, &state).unwrap();
    let expected = state.clone();
    let callback = tokio::spawn(async move { auth::receive_callback(listener, &expected).await });
    browser_allows(&url).await;
    let code = callback.await.unwrap().unwrap();
    let http = reqwest::Client::new();
    let granted = auth::exchange_code(&http, store.vault.as_ref(), &oauth, &code)
        .await
        .unwrap();
    assert_eq!(granted.api_domain, sim.base_url());

    // Requests go to api_domain; each call refreshes and the rotated token is stored at once.
    let (client, recorder) =
        support::connect_recorded(&config, store.clone(), Default::default()).await;
    assert_eq!(client.api_domain(), sim.base_url());
    client.list_organizations(None).await.unwrap();
    let stored = auth::load_tokens(store.vault.as_ref(), &oauth)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.refresh_token, granted.refresh_token, "rotated");
    assert_ne!(stored.access_token, granted.access_token);

    // Another instance on the same store refreshes: the first one's refresh token is now
    // spent, and it recovers by taking the stored one instead of failing.
    let other = PipedriveClient::connect(&config, store.clone())
        .await
        .unwrap();
    other.list_organizations(None).await.unwrap();
    client
        .list_organizations(None)
        .await
        .expect("recovers the rotated token from the store");

    // A restart uses the stored token.
    drop((client, other));
    let restarted = PipedriveClient::connect(&config, store.clone())
        .await
        .unwrap();
    restarted.users_me().await.unwrap();

    // A refresh token Pipedrive no longer knows: the clear re-authorize error.
    let mut revoked = auth::load_tokens(store.vault.as_ref(), &oauth)
        .await
        .unwrap()
        .unwrap();
    revoked.refresh_token = "1:1:revoked".into();
    revoked.previous_refresh_token = None;
    revoked.expires_at = chrono::Utc::now();
    auth::store_tokens(store.vault.as_ref(), &oauth, &revoked)
        .await
        .unwrap();
    // Connecting calls nothing (the identity is cached); the first call needs a refresh.
    let error = PipedriveClient::connect(&config, store.clone())
        .await
        .expect("the identity is cached")
        .list_organizations(None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PipedriveError::InvalidGrant { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("re-authorize with `ml-connector auth pipedrive`"),
        "{error}"
    );
    assert!(error.stops_connection());
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_to_one_company_share_one_governor() {
    let sim = spawn(sim_options("lite")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Lite);
    let store = support::store();
    let (first, recorder) =
        support::connect_recorded(&config, store.clone(), Default::default()).await;
    let second = PipedriveClient::connect(&config, store.clone())
        .await
        .unwrap();
    // Both write at once: together they keep to the one burst limit of the token.
    let (a, b) = tokio::join!(
        async {
            for index in 0..15 {
                first
                    .create_organization(&organization(index))
                    .await
                    .unwrap();
            }
        },
        async {
            for index in 15..30 {
                second
                    .create_organization(&organization(index))
                    .await
                    .unwrap();
            }
        }
    );
    let _ = (a, b);
    let stats = sim.state().stats();
    assert_eq!(stats.organizations, 30);
    println!(
        "two connections, 30 creates on lite: {} answers 429",
        stats.count_status(429)
    );
    assert!(stats.count_status(429) <= 1, "{:?}", stats.requests);
    assert_eq!(first.governor().snapshot(), second.governor().snapshot());
    // One `/v1/users/me` (2 tokens): the second connection found the identity in the cache.
    assert_eq!(first.governor().snapshot().tokens_used_today, 2 + 30 * 5);
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_keep_to_their_own_lane_of_ten_per_two_seconds() {
    let sim = spawn(sim_options("ultimate")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Ultimate);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    let started = std::time::Instant::now();
    for index in 0..15 {
        client
            .search_organizations(
                &format!("Kunde {index}"),
                &[mlc_pipedrive::SearchField::Name],
                false,
            )
            .await
            .unwrap();
    }
    let stats = sim.state().stats();
    assert_eq!(stats.count("GET", "/api/v2/organizations/search", 200), 15);
    assert_eq!(stats.count_status(429), 0, "{:?}", stats.requests);
    // The eleventh search waited for the search window, though the general one had room.
    assert!(started.elapsed() >= Duration::from_secs(2));
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_company_s_exhausted_budget_defers_without_a_second_429() {
    let sim = spawn(sim_options("growth")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Growth);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    // The sales team's other tools spent the company's whole day.
    sim.state().set_tokens_spent_today(300_000);
    let error = client.list_organizations(None).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::CompanyBudgetExhausted { .. }),
        "{error}"
    );
    assert!(error.is_deferred());
    let again = client
        .create_organization(&organization(1))
        .await
        .unwrap_err();
    assert!(again.is_deferred(), "{again}");
    let stats = sim.state().stats();
    assert_eq!(stats.count_status(429), 1, "{:?}", stats.requests);
    assert_eq!(stats.organizations, 0);
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_s_block_stops_the_connection_and_raises_an_alert() {
    let sim = spawn(SimPipedriveOptions {
        block_after_429s: 5,
        ..sim_options("lite")
    })
    .await
    .unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Lite);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    // Another integration on the same API token ignores its 429s and gets the token blocked.
    let http = reqwest::Client::new();
    for _ in 0..30 {
        let _ = http
            .get(format!("{}/v1/users/me", sim.base_url()))
            .header("x-api-token", "T")
            .send()
            .await
            .unwrap();
    }
    let error = client.list_organizations(None).await.unwrap_err();
    assert!(
        matches!(error, PipedriveError::Forbidden403 { .. }),
        "{error}"
    );
    assert!(error.stops_connection());
    let snapshot = client.governor().snapshot();
    assert!(snapshot.stopped.is_some());
    assert_eq!(snapshot.alerts.len(), 1, "{:?}", snapshot.alerts);
    let before = sim
        .state()
        .stats()
        .requests
        .iter()
        .map(|entry| entry.count)
        .sum::<u64>();
    assert!(client
        .get_organization(1)
        .await
        .unwrap_err()
        .stops_connection());
    let after = sim
        .state()
        .stats()
        .requests
        .iter()
        .map(|entry| entry.count)
        .sum::<u64>();
    assert_eq!(before, after, "nothing is sent once stopped");
    recorder.assert_match_spec();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_on_the_same_token_does_not_drive_us_into_429s() {
    let sim = spawn(sim_options("lite")).await.unwrap();
    let config = support::api_token_config(&sim.base_url(), "T", PipedrivePlan::Lite);
    let (client, recorder) =
        support::connect_recorded(&config, support::store(), Default::default()).await;
    let base = sim.base_url();
    // Another integration with the same API token reads steadily meanwhile.
    let other = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for _ in 0..10 {
            let _ = http
                .get(format!("{base}/v1/users/me"))
                .header("x-api-token", "T")
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    for index in 0..40 {
        client
            .create_organization(&organization(index))
            .await
            .unwrap();
    }
    other.await.unwrap();
    let ours_429 = client.governor().snapshot().responses_429;
    println!("40 creates beside another client on the token: {ours_429} answers 429 to us");
    assert!(ours_429 <= 2, "{ours_429} answers 429");
    assert_eq!(sim.state().stats().organizations, 40);
    recorder.assert_match_spec();
}
