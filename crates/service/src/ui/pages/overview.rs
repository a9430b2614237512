//! The overview: each connection's last and next run, lease, pause, 429s, errors and reviews,
//! today's tokens against the share as a gauge, the 30-day chart, and "run now".

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use mlc_engine::RunMode;
use mlc_store::{Action, ReviewStatus, RunQuery, RunRecord};
use serde::Deserialize;

use super::{run_row, time, PageResult, RunRow};
use crate::ui::chart;
use crate::ui::{html, message, Session, Ui};

/// Days the overview's chart covers.
const CHART_DAYS: u32 = 30;
/// The most runs read for the chart (30 days of runs every minute is 43,200).
const CHART_RUNS: u32 = 50_000;

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
            paused_until: view
                .paused_until
                .map(|until| format!("{} UTC", time(until))),
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
            last_error: last_run.and_then(|run| run.error.clone().or_else(|| run.alert.clone())),
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
            &format!(
                "This service runs no connection named `{}`.",
                form.connection
            ),
        );
    };
    let mode = match form.mode.as_str() {
        "full" => RunMode::Full,
        _ => RunMode::Delta,
    };
    let mode_name = crate::worker::mode_name(&mode);
    connection.request_run(mode);
    tracing::info!(
        connection = connection.name(),
        mode = mode_name,
        "run requested through the UI"
    );
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("queued", connection.name())
        .append_pair("mode", mode_name)
        .finish();
    Redirect::to(&format!("/?{target}")).into_response()
}
