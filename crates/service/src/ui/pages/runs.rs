//! The runs, newest first, and one run with its counts by action and its errors.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use mlc_store::{Action, AuditQuery, RunQuery};
use serde::Deserialize;

use super::{event_row, run_row, EventRow, PageResult, RunRow};
use crate::ui::{html, message, Session, Ui};

/// Runs on the runs page.
const RUNS_PAGE: u32 = 200;
/// Errors listed on a run's page.
const RUN_ERRORS: u32 = 100;

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
