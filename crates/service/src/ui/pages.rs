//! The pages behind the login: overview, runs, one run, the audit trail and one customer's
//! history, the review queue, and the two forms that change something (run now, decide a
//! pair). Each handler reads the store as the API does and hands plain strings to a template.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, NaiveDateTime, Utc};
use mlc_canonical::{alpha_input, alpha_output};
use mlc_engine::RunMode;
use mlc_store::{
    Action, AuditEvent, AuditQuery, EntityKind, ReviewItem, ReviewStatus, RunQuery, RunRecord,
    StoreError,
};
use serde::Deserialize;
use serde_json::Value;

use super::chart;
use super::{html, message, Session, Ui};
use crate::ServiceState;

/// Days the overview's chart covers.
const CHART_DAYS: u32 = 30;
/// The most runs read for the chart (30 days of runs every minute is 43,200).
const CHART_RUNS: u32 = 50_000;
/// Runs on the runs page.
const RUNS_PAGE: u32 = 200;
/// Audit events per page.
const AUDIT_PAGE: u32 = 50;
/// Events of one customer's history page.
const HISTORY_EVENTS: u32 = 200;
/// Errors listed on a run's page.
const RUN_ERRORS: u32 = 100;
/// Organization events a name search looks through, newest first, and the most customers it
/// lists.
const NAME_SEARCH_EVENTS: u32 = 20_000;
const NAME_SEARCH_CUSTOMERS: usize = 50;
/// Pending pairs whose Pipedrive record is read live on one view of the review page (each read
/// costs tokens of the budget share).
const REVIEW_LIVE_READS: usize = 20;
const REVIEW_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

type PageResult = Result<Response, PageError>;

/// A store failure while building a page: logged, and shown without detail.
pub struct PageError(StoreError);

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "UI page failed in the store");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the state store failed: {}", self.0),
        )
            .into_response()
    }
}

// ── formatting shared by the pages ──

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn duration(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    let Some(end) = end else {
        return "running".into();
    };
    let seconds = (end - start).num_seconds().max(0);
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3_599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3_600, seconds % 3_600 / 60),
    }
}

/// "create 30, update 2" (actions with a count, in the store's order).
fn counts_summary(counts: &mlc_store::ActionCounts) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(action, count)| format!("{action} {count}"))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// The address of a record in Pipedrive's web app. The connector's `pipedrive.base_url` is
/// the company domain (`https://acme.pipedrive.com`); the generic API host is the app's.
pub fn pipedrive_record_link(base_url: &str, kind: EntityKind, id: i64) -> String {
    let base = base_url.trim_end_matches('/');
    let base = match base {
        "https://api.pipedrive.com" | "https://api-proxy.pipedrive.com" => {
            "https://app.pipedrive.com"
        }
        other => other,
    };
    format!("{base}/{}/{id}", kind.as_str())
}

/// A JSON document as (path, value) lines: `billing_address.city = Stuttgart`,
/// `contacts[0].last_name = Schmidt`; nulls and empty strings as "—".
pub fn flatten_fields(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, inner, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, inner) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{index}]"), inner, out);
                }
            }
            Value::Array(_) | Value::Null => out.push((prefix.to_string(), "—".into())),
            Value::String(text) if text.is_empty() => out.push((prefix.to_string(), "—".into())),
            Value::String(text) => out.push((prefix.to_string(), text.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The name an event's extracted record carries: a customer's name, a contact's first and last.
fn record_name(extracted: &Value) -> String {
    if let Some(name) = extracted["name"].as_str() {
        return name.to_string();
    }
    [&extracted["first_name"], &extracted["last_name"]]
        .iter()
        .filter_map(|part| part.as_str())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn address_line(address: &Value) -> String {
    let text = |key: &str| address[key].as_str().unwrap_or("").trim().to_string();
    let street = [text("street"), text("house_number")].join(" ");
    let town = [text("postal_code"), text("city")].join(" ");
    [street.trim(), town.trim(), text("country").as_str()]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_row(run: &RunRecord) -> RunRow {
    RunRow {
        id: run.id,
        connection: run.connection.clone(),
        mode: run.mode.clone(),
        status: run.status.as_str().to_string(),
        started: time(run.started_at),
        finished: run
            .finished_at
            .map(time)
            .unwrap_or_else(|| "not yet".into()),
        duration: duration(run.started_at, run.finished_at),
        counts_summary: counts_summary(&run.counts),
        tokens: run.tokens_used,
        instance: run.instance.clone(),
        alert: run.alert.clone(),
        error: run.error.clone(),
    }
}

struct RunRow {
    id: i64,
    connection: String,
    mode: String,
    status: String,
    started: String,
    finished: String,
    duration: String,
    counts_summary: String,
    tokens: u64,
    instance: String,
    alert: Option<String>,
    error: Option<String>,
}

struct EventRow {
    id: i64,
    connection: String,
    run_id: i64,
    kind: String,
    ecc_key: String,
    customer_display: String,
    name: String,
    action: String,
    pipedrive_id: i64,
    pipedrive_link: Option<String>,
    outcome: String,
    error: Option<String>,
    recorded: String,
    read: String,
    source: String,
    content_hash: String,
    fields: Vec<(String, String)>,
}

fn event_row(state: &ServiceState, event: &AuditEvent) -> EventRow {
    let pipedrive_link = event.pipedrive_id.and_then(|id| {
        state
            .connection(&event.connection)
            .map(|connection| {
                pipedrive_record_link(&connection.config().pipedrive.base_url, event.kind, id)
            })
    });
    EventRow {
        id: event.id,
        connection: event.connection.clone(),
        run_id: event.run_id,
        kind: event.kind.to_string(),
        ecc_key: alpha_output(&event.ecc_key),
        customer_display: alpha_output(&event.customer_number),
        name: record_name(&event.extracted),
        action: event.action.to_string(),
        pipedrive_id: event.pipedrive_id.unwrap_or_default(),
        pipedrive_link,
        outcome: event.outcome.clone(),
        error: event.error.clone(),
        recorded: time(event.recorded_at),
        read: time(event.read_at),
        source: event.source.clone(),
        content_hash: event.content_hash.clone(),
        fields: flatten_fields(&event.extracted),
    }
}

// ── overview ──

struct ConnectionCard {
    name: String,
    connected: bool,
    connect_error: Option<String>,
    last_run: Option<RunRow>,
    next_run: String,
    lease: String,
    paused_until: Option<String>,
    tokens_used: u64,
    tokens_share: Option<u64>,
    gauge_percent: String,
    gauge_low: u64,
    gauge_high: u64,
    responses_429: String,
    errors_today: u64,
    last_error: Option<String>,
    pending_reviews: usize,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    connections: Vec<ConnectionCard>,
    chart_days: u32,
    chart_svg: String,
}

#[derive(Deserialize)]
pub struct OverviewParams {
    queued: Option<String>,
    mode: Option<String>,
}

pub async fn overview(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(params): Query<OverviewParams>,
) -> PageResult {
    let state = &ui.service;
    let now = Utc::now();
    let recent_runs = state
        .store
        .runs(&RunQuery {
            connection: None,
            limit: Some(CHART_RUNS),
            id: None,
        })
        .await?;
    let window_start = now - chrono::Duration::days(i64::from(CHART_DAYS));
    let recent_runs: Vec<RunRecord> = recent_runs
        .into_iter()
        .filter(|run| run.started_at >= window_start)
        .collect();
    let today = now.date_naive();
    let mut cards = Vec::new();
    for view in crate::api::connection_views(state).await? {
        let status = state
            .connection(&view.name)
            .map(|connection| connection.status())
            .unwrap_or_default();
        let errors_today: u64 = recent_runs
            .iter()
            .filter(|run| run.connection == view.name && run.started_at.date_naive() == today)
            .filter_map(|run| run.counts.get(&Action::Error))
            .sum();
        let last_run = recent_runs.iter().find(|run| run.connection == view.name);
        let pending_reviews = state
            .store
            .reviews(&view.name, Some(ReviewStatus::Pending))
            .await?
            .len();
        let tokens_used = view.tokens_used_today.unwrap_or(0);
        let share = view.tokens_share_today;
        let gauge_percent = match share {
            Some(share) if share > 0 => {
                format!("{:.0} %", tokens_used as f64 * 100.0 / share as f64)
            }
            _ => "—".into(),
        };
        cards.push(ConnectionCard {
            name: view.name.clone(),
            connected: view.connected,
            connect_error: status.connect_error.clone(),
            last_run: last_run.map(run_row),
            next_run: match (&view.next_run_at, &view.next_run_mode) {
                (Some(at), Some(mode)) => format!("{} UTC ({mode})", time(*at)),
                (Some(at), None) => format!("{} UTC", time(*at)),
                _ => "not scheduled".into(),
            },
            lease: match &view.lease {
                Some(lease) => format!(
                    "held by {} until {} UTC",
                    lease.holder,
                    time(lease.expires_at)
                ),
                None => "free (no run in progress)".into(),
            },
            paused_until: view.paused_until.map(|until| format!("{} UTC", time(until))),
            tokens_used,
            tokens_share: share,
            gauge_percent,
            gauge_low: share.map(|share| share * 7 / 10).unwrap_or(0),
            gauge_high: share.map(|share| share * 9 / 10).unwrap_or(0),
            responses_429: status
                .responses_429
                .map(|count| count.to_string())
                .unwrap_or_else(|| "not known until the first run of this process".into()),
            errors_today,
            last_error: last_run
                .and_then(|run| run.error.clone().or_else(|| run.alert.clone())),
            pending_reviews,
        });
    }
    let notice = params.queued.map(|connection| {
        format!(
            "A {} run of {connection} is queued; it starts as soon as this instance holds the \
             connection's lease.",
            params.mode.as_deref().unwrap_or("delta")
        )
    });
    let page = OverviewPage {
        section: "overview",
        csrf_token: session.csrf_token.clone(),
        notice,
        connections: cards,
        chart_days: CHART_DAYS,
        chart_svg: chart::svg(&chart::daily_totals(&recent_runs, today, CHART_DAYS)),
    };
    Ok(html(StatusCode::OK, page.render()))
}

#[derive(Deserialize)]
pub struct TriggerForm {
    connection: String,
    mode: String,
}

/// "Run now": queues a run as `POST /api/runs` does.
pub async fn trigger_run(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Form(form): Form<TriggerForm>,
) -> Response {
    let Some(connection) = ui.service.connection(&form.connection) else {
        return message(
            StatusCode::BAD_REQUEST,
            &session,
            "No such connection",
            &format!("This service runs no connection named `{}`.", form.connection),
        );
    };
    let mode = match form.mode.as_str() {
        "full" => RunMode::Full,
        _ => RunMode::Delta,
    };
    let mode_name = crate::worker::mode_name(&mode);
    connection.request_run(mode);
    tracing::info!(connection = connection.name(), mode = mode_name, "run requested through the UI");
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("queued", connection.name())
        .append_pair("mode", mode_name)
        .finish();
    Redirect::to(&format!("/?{target}")).into_response()
}

// ── runs ──

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    section: &'static str,
    csrf_token: String,
    connection: Option<String>,
    runs: Vec<RunRow>,
}

#[derive(Deserialize)]
pub struct RunsParams {
    connection: Option<String>,
}

pub async fn runs(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(params): Query<RunsParams>,
) -> PageResult {
    let connection = params.connection.filter(|name| !name.is_empty());
    let runs = ui
        .service
        .store
        .runs(&RunQuery {
            connection: connection.clone(),
            limit: Some(RUNS_PAGE),
            id: None,
        })
        .await?;
    let page = RunsPage {
        section: "runs",
        csrf_token: session.csrf_token.clone(),
        connection,
        runs: runs.iter().map(run_row).collect(),
    };
    Ok(html(StatusCode::OK, page.render()))
}

struct ActionCount {
    action: String,
    count: u64,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    section: &'static str,
    csrf_token: String,
    run: RunRow,
    counts: Vec<ActionCount>,
    errors: Vec<EventRow>,
    errors_truncated: bool,
}

pub async fn run(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> PageResult {
    let not_found = || {
        message(
            StatusCode::NOT_FOUND,
            &session,
            "No such run",
            &format!("There is no run {id}."),
        )
    };
    let Ok(run_id) = id.parse::<i64>() else {
        return Ok(not_found());
    };
    let state = &ui.service;
    let Some(run) = state
        .store
        .runs(&RunQuery {
            connection: None,
            limit: Some(1),
            id: Some(run_id),
        })
        .await?
        .into_iter()
        .next()
    else {
        return Ok(not_found());
    };
    let errors = state
        .store
        .audit(&AuditQuery {
            run_id: Some(run_id),
            action: Some(Action::Error),
            limit: Some(RUN_ERRORS),
            ..AuditQuery::default()
        })
        .await?;
    let page = RunPage {
        section: "runs",
        csrf_token: session.csrf_token.clone(),
        counts: run
            .counts
            .iter()
            .map(|(action, count)| ActionCount {
                action: action.to_string(),
                count: *count,
            })
            .collect(),
        errors_truncated: errors.len() as u32 == RUN_ERRORS,
        errors: errors.iter().map(|event| event_row(state, event)).collect(),
        run: run_row(&run),
    };
    Ok(html(StatusCode::OK, page.render()))
}

// ── audit trail ──

/// The audit form's fields as typed (empty fields are no filter).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditFilters {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    run: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    cursor: String,
}

impl AuditFilters {
    /// The store query the filters ask for, or what is wrong with one of them.
    fn query(&self) -> Result<AuditQuery, String> {
        let text = |value: &str| {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_string())
        };
        let customer_number = match text(&self.customer) {
            Some(number) => Some(alpha_input(&number, 10).ok_or_else(|| {
                format!("Customer number “{number}”: a customer number has at most 10 characters.")
            })?),
            None => None,
        };
        let run_id = match text(&self.run) {
            Some(run) => Some(
                run.parse::<i64>()
                    .map_err(|_| format!("Run “{run}”: a run is a number."))?,
            ),
            None => None,
        };
        let action = match text(&self.action) {
            Some(action) => Some(Action::parse(&action).ok_or_else(|| {
                format!("Action “{action}”: not an action of the audit trail.")
            })?),
            None => None,
        };
        let before_id = match text(&self.cursor) {
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| format!("Page “{cursor}”: not a page of the audit trail."))?,
            ),
            None => None,
        };
        Ok(AuditQuery {
            connection: text(&self.connection),
            customer_number,
            run_id,
            action,
            kind: None,
            since: parse_time("From", &self.since)?,
            until: parse_time("Until", &self.until)?,
            before_id,
            limit: Some(AUDIT_PAGE),
        })
    }

    /// `/audit?…` with these filters and another page cursor.
    fn link(&self, cursor: Option<i64>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("customer", &self.customer),
            ("name", &self.name),
            ("run", &self.run),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
            ("connection", &self.connection),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(key, value.trim());
            }
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", &cursor.to_string());
        }
        format!("/audit?{}", query.finish())
    }
}

/// A time typed in the form (`datetime-local`, in UTC) or RFC 3339.
pub fn parse_time(label: &str, value: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|at| at.and_utc()));
    }
    Err(format!(
        "{label} “{value}”: give a time as 2026-12-03T08:30 (UTC)."
    ))
}

struct CustomerHit {
    display: String,
    name: String,
    connection: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    section: &'static str,
    csrf_token: String,
    filters: AuditFilters,
    actions: Vec<&'static str>,
    error: Option<String>,
    customers: Vec<CustomerHit>,
    events: Vec<EventRow>,
    first_link: Option<String>,
    next_link: Option<String>,
}

pub async fn audit(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(filters): Query<AuditFilters>,
) -> PageResult {
    let state = &ui.service;
    let mut page = AuditPage {
        section: "audit",
        csrf_token: session.csrf_token.clone(),
        filters: filters.clone(),
        actions: Action::ALL.iter().map(|action| action.as_str()).collect(),
        error: None,
        customers: Vec::new(),
        events: Vec::new(),
        first_link: None,
        next_link: None,
    };
    let query = match filters.query() {
        Ok(query) => query,
        Err(error) => {
            page.error = Some(error);
            return Ok(html(StatusCode::BAD_REQUEST, page.render()));
        }
    };
    let name = filters.name.trim();
    if !name.is_empty() {
        let (hits, searched_all) = customers_named(state, &query, name).await?;
        if hits.is_empty() {
            page.error = Some(format!(
                "No customer named like “{name}” in {} organization events.",
                if searched_all {
                    "the audit trail's".to_string()
                } else {
                    format!("the newest {NAME_SEARCH_EVENTS}")
                }
            ));
        }
        // The events shown are those of the customers found.
        if query.customer_number.is_none() && !hits.is_empty() {
            let mut events = Vec::new();
            for hit in hits.iter().take(10) {
                events.extend(
                    state
                        .store
                        .audit(&AuditQuery {
                            customer_number: alpha_input(&hit.display, 10),
                            connection: Some(hit.connection.clone()),
                            limit: Some(AUDIT_PAGE),
                            ..query.clone()
                        })
                        .await?,
                );
            }
            events.sort_by(|a, b| b.id.cmp(&a.id));
            events.truncate(AUDIT_PAGE as usize);
            page.events = events.iter().map(|event| event_row(state, event)).collect();
            page.customers = hits;
            return Ok(html(StatusCode::OK, page.render()));
        }
        page.customers = hits;
    }
    let events = state.store.audit(&query).await?;
    if events.len() as u32 == AUDIT_PAGE {
        page.next_link = events.last().map(|event| filters.link(Some(event.id)));
    }
    if query.before_id.is_some() {
        page.first_link = Some(filters.link(None));
    }
    page.events = events.iter().map(|event| event_row(state, event)).collect();
    Ok(html(StatusCode::OK, page.render()))
}

/// Customers whose organization events carry a name containing `fragment` (case-insensitive),
/// from the newest organization events within the other filters; whether the whole trail
/// was searched.
async fn customers_named(
    state: &ServiceState,
    query: &AuditQuery,
    fragment: &str,
) -> Result<(Vec<CustomerHit>, bool), StoreError> {
    let wanted = fragment.to_lowercase();
    let mut hits: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut before_id = None;
    let mut searched = 0u32;
    let page_size = 1_000u32;
    loop {
        let events = state
            .store
            .audit(&AuditQuery {
                kind: Some(EntityKind::Organization),
                before_id,
                limit: Some(page_size),
                ..query.clone()
            })
            .await?;
        searched += events.len() as u32;
        for event in &events {
            let name = record_name(&event.extracted);
            if name.to_lowercase().contains(&wanted) {
                hits.entry((event.connection.clone(), event.customer_number.clone()))
                    .or_insert(name);
            }
        }
        let done = (events.len() as u32) < page_size;
        if done || hits.len() >= NAME_SEARCH_CUSTOMERS || searched >= NAME_SEARCH_EVENTS {
            let hits = hits
                .into_iter()
                .take(NAME_SEARCH_CUSTOMERS)
                .map(|((connection, number), name)| CustomerHit {
                    display: alpha_output(&number),
                    name,
                    connection,
                })
                .collect();
            return Ok((hits, done));
        }
        before_id = events.last().map(|event| event.id);
    }
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    section: &'static str,
    csrf_token: String,
    customer_display: String,
    name: String,
    organization_link: Option<String>,
    events: Vec<EventRow>,
    truncated: bool,
}

/// One customer's history: every event of it and its contacts, newest first.
pub async fn customer(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Path(number): Path<String>,
) -> PageResult {
    let state = &ui.service;
    let Some(internal) = alpha_input(&number, 10).filter(|number| !number.is_empty()) else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            &session,
            "No such customer number",
            &format!("“{number}”: a customer number has 1 to 10 characters."),
        ));
    };
    let events = state
        .store
        .audit(&AuditQuery {
            customer_number: Some(internal.clone()),
            limit: Some(HISTORY_EVENTS),
            ..AuditQuery::default()
        })
        .await?;
    let organization_event = events
        .iter()
        .find(|event| event.kind == EntityKind::Organization);
    let name = organization_event
        .map(|event| record_name(&event.extracted))
        .unwrap_or_default();
    let organization_link = events
        .iter()
        .find(|event| event.kind == EntityKind::Organization && event.pipedrive_id.is_some())
        .and_then(|event| event_row(state, event).pipedrive_link);
    let page = CustomerPage {
        section: "audit",
        csrf_token: session.csrf_token.clone(),
        customer_display: alpha_output(&internal),
        name,
        organization_link,
        truncated: events.len() as u32 == HISTORY_EVENTS,
        events: events.iter().map(|event| event_row(state, event)).collect(),
    };
    Ok(html(StatusCode::OK, page.render()))
}

// ── review queue ──

struct ReviewCard {
    id: i64,
    kind: String,
    kind_ecc: &'static str,
    ecc_display: String,
    customer_display: String,
    score: String,
    status: String,
    why: String,
    decided: String,
    ecc_fields: Vec<(String, String)>,
    pipedrive_id: i64,
    pipedrive_fields: Vec<(String, String)>,
    pipedrive_note: Option<String>,
    pipedrive_link: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    statuses: Vec<&'static str>,
    status: String,
    items: Vec<ReviewCard>,
}

#[derive(Deserialize)]
pub struct ReviewParams {
    status: Option<String>,
    decided: Option<i64>,
}

/// Why the matcher proposed a pair, in words, from its evidence.
pub fn review_reason(evidence: &Value) -> String {
    let mut parts = Vec::new();
    match evidence["reason"].as_str() {
        Some("middle_band") => parts.push("The score is between the review and the link thresholds.".to_string()),
        Some("linked_to_another_customer") => parts.push(
            "The best candidate is already linked to another customer number.".to_string(),
        ),
        Some("ambiguous") => parts.push("Two candidates are about equally good.".to_string()),
        Some("vat_name_mismatch") => {
            parts.push("The VAT numbers agree but the names do not.".to_string())
        }
        Some(other) => parts.push(format!("Reason: {other}.")),
        None => {}
    }
    let candidate = &evidence["candidate"];
    if let Some(rule) = candidate["rule"].as_str() {
        parts.push(format!("Matched by {}.", rule.replace('_', " ")));
    }
    if let Some(name_score) = candidate["name_score"].as_f64() {
        parts.push(format!("Name similarity {name_score:.2}."));
    }
    let list = |key: &str| -> Vec<String> {
        candidate[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(|text| text.replace('_', " ")))
                    .collect()
            })
            .unwrap_or_default()
    };
    let agreed = list("agreed");
    if !agreed.is_empty() {
        parts.push(format!("Agree: {}.", agreed.join(", ")));
    }
    let disagreed = list("disagreed");
    if !disagreed.is_empty() {
        parts.push(format!("Differ: {}.", disagreed.join(", ")));
    }
    if let Some(linked) = candidate["linked_to"].as_str() {
        parts.push(format!(
            "The organization carries customer number {}.",
            alpha_output(linked)
        ));
    }
    if parts.is_empty() {
        "The matcher recorded no reason.".into()
    } else {
        parts.join(" ")
    }
}

/// The ECC side of a pair: the fields the last event of the record extracted.
async fn ecc_side(
    state: &ServiceState,
    item: &ReviewItem,
) -> Result<(Vec<(String, String)>, String), StoreError> {
    let latest = if item.kind == EntityKind::Organization {
        state
            .store
            .audit(&AuditQuery {
                connection: Some(item.connection.clone()),
                customer_number: Some(item.ecc_key.clone()),
                kind: Some(EntityKind::Organization),
                limit: Some(1),
                ..AuditQuery::default()
            })
            .await?
            .into_iter()
            .next()
    } else {
        None
    };
    let Some(event) = latest else {
        return Ok((
            vec![("key".into(), alpha_output(&item.ecc_key))],
            alpha_output(&item.ecc_key),
        ));
    };
    let record = &event.extracted;
    let text = |key: &str| record[key].as_str().unwrap_or("").to_string();
    let mut fields = vec![
        ("name".to_string(), record_name(record)),
        (
            "billing address".to_string(),
            address_line(&record["billing_address"]),
        ),
    ];
    for key in ["vat_number", "email", "phone", "account_group"] {
        let value = text(key);
        if !value.is_empty() {
            fields.push((key.replace('_', " "), value));
        }
    }
    fields.push(("read".into(), format!("{} UTC", time(event.read_at))));
    Ok((fields, alpha_output(&event.customer_number)))
}

/// The Pipedrive side of a pair, read live (what a salesperson may have changed since), or
/// why it could not be.
async fn pipedrive_side(
    state: &ServiceState,
    item: &ReviewItem,
) -> Result<Vec<(String, String)>, String> {
    if item.kind != EntityKind::Organization {
        return Err("Persons are not read live here.".into());
    }
    let connection = state
        .connection(&item.connection)
        .ok_or_else(|| format!("This service does not run connection {}.", item.connection))?;
    let engine = connection.engine(state).await?;
    // A paced or paused governor may hold the read back: the page does not wait for it.
    let organization = tokio::time::timeout(
        REVIEW_READ_TIMEOUT,
        engine.client().get_organization(item.pipedrive_id),
    )
    .await
    .map_err(|_| "Pipedrive did not answer within 5 seconds.".to_string())?
    .map_err(|error| format!("Pipedrive did not answer: {error}"))?;
    let mut fields = vec![("name".to_string(), organization.name.clone())];
    if let Some(address) = &organization.address {
        let value = address.value.clone().unwrap_or_default();
        if !value.is_empty() {
            fields.push(("address".into(), value));
        }
    }
    if organization.is_deleted {
        fields.push(("state".into(), "deleted in Pipedrive".into()));
    }
    if let Some(added) = organization.add_time {
        fields.push(("added".into(), format!("{} UTC", time(added))));
    }
    Ok(fields)
}

fn evidence_fields(evidence: &Value) -> Vec<(String, String)> {
    let candidate = &evidence["candidate"];
    let mut fields = Vec::new();
    if let Some(name) = candidate["candidate_name"].as_str() {
        fields.push(("name (normalized)".to_string(), name.to_string()));
    }
    if let Some(score) = candidate["score"].as_f64() {
        fields.push(("score".to_string(), format!("{score:.3}")));
    }
    fields
}

pub async fn review(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(params): Query<ReviewParams>,
) -> PageResult {
    let state = &ui.service;
    let status_text = params.status.unwrap_or_else(|| "pending".into());
    let status = match status_text.as_str() {
        "all" => None,
        "accepted" => Some(ReviewStatus::Accepted),
        "rejected" => Some(ReviewStatus::Rejected),
        _ => Some(ReviewStatus::Pending),
    };
    let mut items = Vec::new();
    for connection in &state.connections {
        items.extend(state.store.reviews(connection.name(), status).await?);
    }
    let mut notice = None;
    let mut cards = Vec::new();
    let mut live_reads = 0;
    for item in &items {
        if params.decided == Some(item.id) {
            notice = Some(match item.status {
                ReviewStatus::Accepted => format!(
                    "Pair {} accepted: the next run links ECC {} to Pipedrive {} {}.",
                    item.id,
                    alpha_output(&item.ecc_key),
                    item.kind,
                    item.pipedrive_id
                ),
                ReviewStatus::Rejected => format!(
                    "Pair {} rejected: the next run creates a new {} for ECC {}.",
                    item.id,
                    item.kind,
                    alpha_output(&item.ecc_key)
                ),
                ReviewStatus::Pending => format!("Pair {} is pending.", item.id),
            });
        }
        let (ecc_fields, customer_display) = ecc_side(state, item).await?;
        let (pipedrive_fields, pipedrive_note) =
            if item.status == ReviewStatus::Pending && live_reads < REVIEW_LIVE_READS {
                live_reads += 1;
                match pipedrive_side(state, item).await {
                    Ok(fields) => (fields, None),
                    Err(note) => (evidence_fields(&item.evidence), Some(note)),
                }
            } else {
                (
                    evidence_fields(&item.evidence),
                    Some("As the matcher saw it (not read again from Pipedrive).".to_string()),
                )
            };
        let base_url = state
            .connection(&item.connection)
            .map(|connection| connection.config().pipedrive.base_url.clone())
            .unwrap_or_default();
        cards.push(ReviewCard {
            id: item.id,
            kind: item.kind.to_string(),
            kind_ecc: match item.kind {
                EntityKind::Organization => "customer",
                EntityKind::Person => "contact",
            },
            ecc_display: alpha_output(&item.ecc_key),
            customer_display,
            score: format!("{:.3}", item.score),
            status: item.status.as_str().to_string(),
            why: review_reason(&item.evidence),
            decided: item.decided_at.map(time).unwrap_or_default(),
            ecc_fields,
            pipedrive_id: item.pipedrive_id,
            pipedrive_fields,
            pipedrive_note,
            pipedrive_link: pipedrive_record_link(&base_url, item.kind, item.pipedrive_id),
        });
    }
    let page = ReviewPage {
        section: "review",
        csrf_token: session.csrf_token.clone(),
        notice,
        statuses: vec!["pending", "accepted", "rejected", "all"],
        status: match status {
            None => "all",
            Some(status) => status.as_str(),
        }
        .to_string(),
        items: cards,
    };
    Ok(html(StatusCode::OK, page.render()))
}

/// Accept or reject a pair (as `POST /api/review/{id}/accept|reject`), then a run is asked for.
pub async fn decide(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Path((id, decision)): Path<(String, String)>,
) -> PageResult {
    let state = &ui.service;
    let decision = match decision.as_str() {
        "accept" => ReviewStatus::Accepted,
        "reject" => ReviewStatus::Rejected,
        _ => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                &session,
                "No such decision",
                "A pair is accepted or rejected.",
            ))
        }
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(message(
            StatusCode::NOT_FOUND,
            &session,
            "No such pair",
            &format!("There is no pair {id} in the review queue."),
        ));
    };
    let item = match state.store.decide_review(id, decision).await {
        Ok(item) => item,
        Err(StoreError::NoSuchReview(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                &session,
                "No such pair",
                &format!("There is no pair {id} in the review queue."),
            ))
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(
        review = id,
        decision = decision.as_str(),
        ecc_key = %item.ecc_key,
        pipedrive_id = item.pipedrive_id,
        "review decided through the UI"
    );
    if let Some(connection) = state.connection(&item.connection) {
        connection.request_run(RunMode::Delta);
    }
    Ok(Redirect::to(&format!("/review?status=all&decided={id}#review-{id}")).into_response())
}
