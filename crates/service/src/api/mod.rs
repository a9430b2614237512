//! The HTTP surface: `/healthz`, `/readyz`, `/metrics` without authentication; `/api/...` behind
//! the bearer `server.admin_token`, described by the OpenAPI document at `/api/openapi.json`,
//! which is generated from the handlers and types below.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mlc_engine::RunMode;
use mlc_store::{Action, AuditEvent, AuditQuery, RunQuery, RunRecord, StoreError};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::ServiceState;

mod review;
pub use review::{
    AcceptAbove, ComparisonView, DecisionReport, HeldBackView, RejectBelow, ReviewList,
    ReviewParams, ReviewView,
};

/// Audit events per page when the caller does not say.
const DEFAULT_PAGE: u32 = 100;
/// The most audit events or runs one answer holds.
const MAX_PAGE: u32 = 1_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ml-connector",
        description = "The service API of ml-connector: runs, the audit trail, the duplicate review queue and the connections. Every path needs `Authorization: Bearer <server.admin_token>`."
    ),
    paths(
        list_runs,
        trigger_run,
        get_run,
        list_audit,
        review::list_reviews,
        review::accept_review,
        review::reject_review,
        review::accept_group,
        review::reject_group,
        review::accept_above,
        review::reject_below,
        list_connections
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole router of the service's listener.
pub fn router(state: Arc<ServiceState>) -> Router {
    let api = Router::new()
        .route("/api/runs", get(list_runs).post(trigger_run))
        .route("/api/runs/{id}", get(get_run))
        .route("/api/audit", get(list_audit))
        .route("/api/review", get(review::list_reviews))
        .route("/api/review/accept", post(review::accept_above))
        .route("/api/review/reject", post(review::reject_below))
        .route("/api/review/{id}/accept", post(review::accept_review))
        .route("/api/review/{id}/reject", post(review::reject_review))
        .route("/api/review/{id}/accept-group", post(review::accept_group))
        .route("/api/review/{id}/reject-group", post(review::reject_group))
        .route("/api/connections", get(list_connections))
        .route("/api/openapi.json", get(openapi_document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/webhooks/pipedrive",
            post(crate::webhooks::receive)
                .layer(DefaultBodyLimit::max(crate::webhooks::MAX_BODY_BYTES)),
        )
        .merge(api)
        .with_state(state)
}

/// Every `/api/` call presents the admin token; a refusal is logged without what was sent.
async fn require_admin_token(
    State(state): State<Arc<ServiceState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let accepted = match (&state.admin_token, presented) {
        (Some(expected), Some(presented)) => {
            bool::from(expected.expose().as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    };
    if accepted {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.to_string())
        .unwrap_or_default();
    tracing::warn!(
        path = request.uri().path(),
        peer,
        token_sent = presented.is_some(),
        "API call refused: missing or wrong bearer token"
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(ErrorBody {
            error: "a valid `Authorization: Bearer <server.admin_token>` is required".into(),
        }),
    )
        .into_response()
}

async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: String,
    pub connections: Vec<ConnectionReadiness>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionReadiness {
    pub name: String,
    /// Both sides answered when the engine connected (or since).
    pub connected: bool,
    pub error: Option<String>,
    pub last_ecc_contact: Option<DateTime<Utc>>,
    pub last_pipedrive_contact: Option<DateTime<Utc>>,
}

/// Ready when the store answers and every connection reached ECC and Pipedrive.
async fn readyz(State(state): State<Arc<ServiceState>>) -> Response {
    let store = match state
        .store
        .runs(&RunQuery {
            connection: None,
            limit: Some(1),
            id: None,
        })
        .await
    {
        Ok(_) => "ok".to_string(),
        Err(error) => error.to_string(),
    };
    let connections: Vec<ConnectionReadiness> = state
        .connections
        .iter()
        .map(|connection| {
            let status = connection.status();
            ConnectionReadiness {
                name: connection.name().to_string(),
                connected: status.engine_connected,
                error: status.connect_error,
                last_ecc_contact: status.last_ecc_contact,
                last_pipedrive_contact: status.last_pipedrive_contact,
            }
        })
        .collect();
    let ready = store == "ok" && connections.iter().all(|connection| connection.connected);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            ready,
            store,
            connections,
        }),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<ServiceState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

// ── the API's types ──

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// One run of a connection.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: i64,
    pub connection: String,
    /// The process that ran it (`host:pid`).
    pub instance: String,
    /// delta, full, replay, dry-run or paused.
    pub mode: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// running, ok, partial, deferred, failed or interrupted.
    pub status: String,
    /// Records by action (create, update, link, skip, review, error, deferred, ...).
    pub counts: BTreeMap<String, u64>,
    pub tokens_used: u64,
    pub alert: Option<String>,
    pub error: Option<String>,
}

impl From<RunRecord> for RunView {
    fn from(run: RunRecord) -> Self {
        RunView {
            id: run.id,
            connection: run.connection,
            instance: run.instance,
            mode: run.mode,
            started_at: run.started_at,
            finished_at: run.finished_at,
            status: run.status.as_str().to_string(),
            counts: counts(&run.counts),
            tokens_used: run.tokens_used,
            alert: run.alert,
            error: run.error,
        }
    }
}

fn counts(counts: &mlc_store::ActionCounts) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(action, count)| (action.to_string(), *count))
        .collect()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunsParams {
    /// Only this connection's runs.
    pub connection: Option<String>,
    /// Newest first, at most this many (default 50, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TriggerRequest {
    /// The connection to run; may be left out when the service runs only one.
    pub connection: Option<String>,
    /// `delta` (default) or `full`.
    pub mode: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TriggerAccepted {
    pub connection: String,
    pub mode: String,
    /// The run starts as soon as this instance holds the connection's lease.
    pub queued: bool,
}

/// One audit event: what was read, what was done, what Pipedrive answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub connection: String,
    pub run_id: i64,
    /// organization or person.
    pub kind: String,
    pub ecc_key: String,
    pub customer_number: String,
    pub read_at: DateTime<Utc>,
    pub source: String,
    /// The extracted record as read from ECC; for a skip that stores only its hash, the record
    /// as read in event `full_copy_id`.
    #[schema(value_type = Object)]
    pub extracted: serde_json::Value,
    /// A skip that stores only its hash: the event holding the last full copy of the record.
    pub full_copy_id: Option<i64>,
    /// The hash of what this event read.
    pub content_hash: String,
    pub action: String,
    pub pipedrive_id: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditView {
    fn from(event: AuditEvent) -> Self {
        AuditView {
            id: event.id,
            connection: event.connection,
            run_id: event.run_id,
            kind: event.kind.to_string(),
            ecc_key: event.ecc_key,
            customer_number: event.customer_number,
            read_at: event.read_at,
            source: event.source,
            extracted: event.extracted,
            full_copy_id: event.full_copy_id,
            content_hash: event.content_hash,
            action: event.action.to_string(),
            pipedrive_id: event.pipedrive_id,
            outcome: event.outcome,
            error: event.error,
            recorded_at: event.recorded_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Customer number, with or without leading zeros.
    pub customer: Option<String>,
    pub run: Option<i64>,
    /// create, update, link, skip, review, error, deferred, ...
    pub action: Option<String>,
    /// Events recorded at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Events recorded before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    pub connection: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Events per page (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LeaseView {
    pub holder: String,
    pub since: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A connection as this instance sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub name: String,
    pub last_run: Option<RunView>,
    pub next_run_at: Option<DateTime<Utc>>,
    /// delta or full.
    pub next_run_mode: Option<String>,
    /// Who holds the connection's lease now (any instance); absent when nobody runs it.
    pub lease: Option<LeaseView>,
    /// Tokens the company used today (every instance and connection), as of this instance's
    /// last run.
    pub tokens_used_today: Option<u64>,
    /// The connector's share of today's budget.
    pub tokens_share_today: Option<u64>,
    /// No run calls Pipedrive before this time (after a 403, or a used budget share).
    pub paused_until: Option<DateTime<Utc>>,
    pub connected: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

// ── errors ──

pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NoSuchReview(_) | StoreError::NoSuchRun(_) => {
                ApiError::not_found(error.to_string())
            }
            other => {
                tracing::error!(error = %other, "API call failed in the store");
                ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: other.to_string(),
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn page_size(limit: Option<u32>, default: u32) -> u32 {
    limit.unwrap_or(default).clamp(1, MAX_PAGE)
}

// ── handlers ──

/// The runs, newest first.
#[utoipa::path(
    get,
    path = "/api/runs",
    params(RunsParams),
    responses(
        (status = 200, description = "Runs, newest first", body = RunList),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
async fn list_runs(
    State(state): State<Arc<ServiceState>>,
    Query(params): Query<RunsParams>,
) -> ApiResult<Json<RunList>> {
    let runs = state
        .store
        .runs(&RunQuery {
            connection: params.connection,
            limit: Some(page_size(params.limit, 50)),
            id: None,
        })
        .await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunView::from).collect(),
    }))
}

/// Asks for a run now; it starts as soon as this instance holds the connection's lease.
#[utoipa::path(
    post,
    path = "/api/runs",
    request_body = TriggerRequest,
    responses(
        (status = 202, description = "The run is queued", body = TriggerAccepted),
        (status = 400, description = "Unknown connection or mode", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
async fn trigger_run(
    State(state): State<Arc<ServiceState>>,
    Json(request): Json<TriggerRequest>,
) -> ApiResult<(StatusCode, Json<TriggerAccepted>)> {
    let connection = match &request.connection {
        Some(name) => state
            .connection(name)
            .ok_or_else(|| ApiError::bad_request(format!("no connection named `{name}`")))?,
        None if state.connections.len() == 1 => &state.connections[0],
        None => {
            return Err(ApiError::bad_request(
                "this service runs several connections: name one in `connection`",
            ))
        }
    };
    let mode = match request.mode.as_deref().unwrap_or("delta") {
        "delta" => RunMode::Delta,
        "full" => RunMode::Full,
        other => {
            return Err(ApiError::bad_request(format!(
                "mode `{other}`: use delta or full"
            )))
        }
    };
    let mode_name = crate::worker::mode_name(&mode).to_string();
    connection.request_run(mode);
    tracing::info!(connection = connection.name(), mode = %mode_name, "run requested through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerAccepted {
            connection: connection.name().to_string(),
            mode: mode_name,
            queued: true,
        }),
    ))
}

/// One run.
#[utoipa::path(
    get,
    path = "/api/runs/{id}",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
async fn get_run(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<i64>,
) -> ApiResult<Json<RunView>> {
    state
        .store
        .runs(&RunQuery {
            connection: None,
            limit: Some(1),
            id: Some(id),
        })
        .await?
        .into_iter()
        .next()
        .map(|run| Json(RunView::from(run)))
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
}

/// Audit events, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of audit events, newest first", body = AuditPage),
        (status = 400, description = "An unknown action", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
async fn list_audit(
    State(state): State<Arc<ServiceState>>,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let action = match params.action.as_deref() {
        Some(text) => Some(
            Action::parse(text)
                .ok_or_else(|| ApiError::bad_request(format!("unknown action `{text}`")))?,
        ),
        None => None,
    };
    let customer_number = match params.customer.as_deref() {
        Some(number) => Some(mlc_canonical::alpha_input(number, 10).ok_or_else(|| {
            ApiError::bad_request(format!(
                "customer `{number}`: a customer number has at most 10 characters"
            ))
        })?),
        None => None,
    };
    let limit = page_size(params.limit, DEFAULT_PAGE);
    let events = state
        .store
        .audit(&AuditQuery {
            connection: params.connection,
            customer_number,
            run_id: params.run,
            action,
            kind: None,
            since: params.since,
            until: params.until,
            before_id: params.cursor,
            after_id: None,
            limit: Some(limit),
        })
        .await?;
    let next_cursor = (events.len() as u32 == limit)
        .then(|| events.last().map(|event| event.id))
        .flatten();
    Ok(Json(AuditPage {
        events: events.into_iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}

/// Each connection: last and next run, lease holder, tokens used today.
#[utoipa::path(
    get,
    path = "/api/connections",
    responses(
        (status = 200, description = "The service's connections", body = ConnectionList),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
async fn list_connections(
    State(state): State<Arc<ServiceState>>,
) -> ApiResult<Json<ConnectionList>> {
    Ok(Json(ConnectionList {
        connections: connection_views(&state).await?,
    }))
}

/// Each connection as `/api/connections` and the UI's overview show it.
pub(crate) async fn connection_views(
    state: &ServiceState,
) -> Result<Vec<ConnectionView>, StoreError> {
    let mut views = Vec::with_capacity(state.connections.len());
    let now = Utc::now();
    for connection in &state.connections {
        let name = connection.name();
        let last_run = state
            .store
            .runs(&RunQuery {
                connection: Some(name.to_string()),
                limit: Some(1),
                id: None,
            })
            .await?
            .into_iter()
            .next()
            .map(RunView::from);
        let next = connection
            .next_run(state.store.as_ref(), state.started)
            .await?;
        let lease = state
            .store
            .lease_holder(name)
            .await?
            .filter(|holder| holder.expires_at > now)
            .map(|holder| LeaseView {
                holder: holder.holder,
                since: holder.acquired_at,
                expires_at: holder.expires_at,
            });
        let paused_until = mlc_engine::pause_in_effect(state.store.as_ref(), name, now)
            .await?
            .map(|pause| pause.until);
        let status = connection.status();
        views.push(ConnectionView {
            name: name.to_string(),
            last_run,
            next_run_at: next.as_ref().map(|next| next.at),
            next_run_mode: next.map(|next| crate::worker::mode_name(&next.mode).to_string()),
            lease,
            tokens_used_today: status.tokens_used_today,
            tokens_share_today: status.tokens_share_today,
            paused_until,
            connected: status.engine_connected,
        });
    }
    Ok(views)
}

#[cfg(test)]
mod tests;
