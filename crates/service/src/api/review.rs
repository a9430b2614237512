//! `/api/review`: the review queue ranked with its evidence read (`mlc_sync::review_queue`),
//! one pair's decision, a group's, and the score rules, each decided pair recorded with how it
//! was decided and `decided_by` = `api`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use mlc_engine::review_rules::{connection_of_pair, decide_by_rule, ReviewRuleError, RuleOutcome};
use mlc_engine::RunMode;
use mlc_store::{ReviewDecisionRecord, ReviewItem, ReviewStatus};
use mlc_sync::review_queue::{
    self, check_score, Comparison, QueueRule, RankedPair, ReviewEvidence, ScoreBand,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, ErrorBody};
use crate::ServiceState;

/// Who decides through the API, in the decision records.
const DECIDED_BY: &str = "api";

/// One piece of a pair's evidence.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ComparisonView {
    pub name: String,
    pub value: Option<String>,
    /// The matcher's weight for it, where it gave one.
    pub weight: Option<f64>,
    /// for, against or neutral.
    pub direction: String,
}

impl From<&Comparison> for ComparisonView {
    fn from(comparison: &Comparison) -> Self {
        ComparisonView {
            name: comparison.name.clone(),
            value: comparison.value.clone(),
            weight: comparison.weight,
            direction: match comparison.direction {
                review_queue::Direction::For => "for",
                review_queue::Direction::Against => "against",
                review_queue::Direction::Neutral => "neutral",
            }
            .to_string(),
        }
    }
}

/// A pair waiting for (or given) a person's decision: an ECC record and the existing Pipedrive
/// record it may be.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub id: i64,
    pub connection: String,
    pub kind: String,
    pub ecc_key: String,
    pub pipedrive_id: i64,
    pub score: f64,
    /// How likely the pair is one company by the matcher's calibrated model, when it gave one.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Which model gave it: "run" (estimated from the run's proposals) or "defaults" (the run
    /// was too small to estimate its own).
    #[serde(default)]
    pub probability_from: Option<String>,
    /// The evidence as the matcher stored it.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// The evidence read: for first, then against, then values without a verdict.
    pub comparisons: Vec<ComparisonView>,
    /// Why the matcher asked, in words.
    pub reason: Option<String>,
    /// pending, accepted or rejected.
    pub status: String,
    /// The pair's place in the queue (1 first), in a ranked list.
    pub rank: Option<usize>,
    /// The pending pairs proposing the same Pipedrive record, this one included.
    pub group: Vec<i64>,
    /// How many ECC records deciding its group settles.
    pub settles: usize,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Who took the pair's latest decision (`api`, `ui`, `cli:USER`).
    pub decided_by: Option<String>,
    /// How: single pair, group of pair N, bulk: score >= S, bulk: score < S.
    pub decision_rule: Option<String>,
}

impl ReviewView {
    fn of(item: ReviewItem, decision: Option<&ReviewDecisionRecord>) -> ReviewView {
        let read = ReviewEvidence::read(&item.evidence);
        ReviewView {
            id: item.id,
            connection: item.connection,
            kind: item.kind.to_string(),
            ecc_key: item.ecc_key,
            pipedrive_id: item.pipedrive_id,
            score: item.score,
            probability: read.probability,
            probability_from: read.probability_from.clone(),
            evidence: item.evidence,
            comparisons: read.comparisons.iter().map(ComparisonView::from).collect(),
            reason: read.reason,
            status: item.status.as_str().to_string(),
            rank: None,
            group: Vec::new(),
            settles: 0,
            created_at: item.created_at,
            decided_at: item.decided_at,
            decided_by: decision.map(|decision| decision.decided_by.clone()),
            decision_rule: decision.map(|decision| decision.rule.to_string()),
        }
    }

    fn ranked(pair: RankedPair, decision: Option<&ReviewDecisionRecord>) -> ReviewView {
        ReviewView {
            rank: Some(pair.rank),
            group: pair.group,
            settles: pair.settles,
            ..ReviewView::of(pair.item, decision)
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReviewParams {
    pub connection: Option<String>,
    /// pending (default), accepted, rejected or all.
    pub status: Option<String>,
    /// priority (default: groups settling most records first, then scores nearest a
    /// threshold, then oldest; decided pairs last) or oldest.
    pub order: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DryRunParams {
    /// true: say what would be decided, decide nothing.
    pub dry_run: Option<bool>,
}

/// `POST /api/review/accept`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptAbove {
    /// Accept every pending pair scoring at least this (0 to 1).
    pub above: f64,
    /// Required when the service runs several connections.
    pub connection: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/review/reject`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RejectBelow {
    /// Reject every pending pair scoring below this (0 to 1).
    pub below: f64,
    /// Required when the service runs several connections.
    pub connection: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HeldBackView {
    pub id: i64,
    pub reason: String,
}

/// What a group or score decision did (or, on a dry run, would do).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionReport {
    pub connection: String,
    /// group of pair N, bulk: score >= S, bulk: score < S.
    pub rule: String,
    pub dry_run: bool,
    /// The pairs accepted (on a dry run: that would be).
    pub accepted: Vec<i64>,
    /// The pairs rejected (on a dry run: that would be).
    pub rejected: Vec<i64>,
    /// Pairs the rule leaves to a person, each with why.
    pub held_back: Vec<HeldBackView>,
    /// The pairs as decided; empty on a dry run.
    pub decided: Vec<ReviewView>,
}

impl DecisionReport {
    fn of(connection: String, rule: QueueRule, dry_run: bool, outcome: RuleOutcome) -> Self {
        let ids = |status: ReviewStatus| -> Vec<i64> {
            outcome
                .decided
                .iter()
                .filter(|item| item.status == status)
                .map(|item| item.id)
                .collect()
        };
        let (accepted, rejected) = if dry_run {
            (
                outcome.selection.accept.clone(),
                outcome.selection.reject.clone(),
            )
        } else {
            (ids(ReviewStatus::Accepted), ids(ReviewStatus::Rejected))
        };
        DecisionReport {
            connection,
            rule: rule.decision_rule().to_string(),
            dry_run,
            accepted,
            rejected,
            held_back: outcome
                .selection
                .held_back
                .into_iter()
                .map(|held| HeldBackView {
                    id: held.id,
                    reason: held.reason,
                })
                .collect(),
            decided: outcome
                .decided
                .into_iter()
                .map(|item| ReviewView::of(item, None))
                .collect(),
        }
    }
}

/// The review queue, ranked (or oldest first).
#[utoipa::path(
    get,
    path = "/api/review",
    params(ReviewParams),
    responses(
        (status = 200, description = "Review items, in the order asked for", body = ReviewList),
        (status = 400, description = "An unknown status, order or connection", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn list_reviews(
    State(state): State<Arc<ServiceState>>,
    Query(params): Query<ReviewParams>,
) -> ApiResult<Json<ReviewList>> {
    let status = match params.status.as_deref().unwrap_or("pending") {
        "all" => None,
        text => Some(ReviewStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status `{text}`: use pending, accepted, rejected or all"
            ))
        })?),
    };
    let by_priority = match params.order.as_deref().unwrap_or("priority") {
        "priority" => true,
        "oldest" => false,
        text => {
            return Err(ApiError::bad_request(format!(
                "order `{text}`: use priority or oldest"
            )))
        }
    };
    if let Some(name) = &params.connection {
        if state.connection(name).is_none() {
            return Err(ApiError::bad_request(format!(
                "no connection named `{name}`"
            )));
        }
    }
    let connections = state.connections.iter().filter(|connection| {
        params
            .connection
            .as_deref()
            .is_none_or(|name| name == connection.name())
    });
    let mut reviews = Vec::new();
    for connection in connections {
        let name = connection.name();
        let items = state.store.reviews(name, status).await?;
        let decisions: HashMap<i64, ReviewDecisionRecord> = state
            .store
            .review_decisions(name, None)
            .await?
            .into_iter()
            .map(|decision| (decision.review_id, decision))
            .collect();
        if by_priority {
            let band = ScoreBand::from_config(&connection.config().sync);
            reviews.extend(review_queue::rank(&items, band).into_iter().map(|pair| {
                let decision = decisions.get(&pair.item.id);
                ReviewView::ranked(pair, decision)
            }));
        } else {
            reviews.extend(items.into_iter().map(|item| {
                let decision = decisions.get(&item.id);
                ReviewView::of(item, decision)
            }));
        }
    }
    Ok(Json(ReviewList { reviews }))
}

/// Accepts a pair: the next run links the ECC record to the Pipedrive record.
#[utoipa::path(
    post,
    path = "/api/review/{id}/accept",
    params(("id" = i64, Path, description = "The review item's id")),
    responses(
        (status = 200, description = "The decided item", body = ReviewView),
        (status = 404, description = "No such review item", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn accept_review(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReviewView>> {
    decide(&state, id, ReviewStatus::Accepted).await
}

/// Rejects a pair: the next run creates a new record for the ECC one.
#[utoipa::path(
    post,
    path = "/api/review/{id}/reject",
    params(("id" = i64, Path, description = "The review item's id")),
    responses(
        (status = 200, description = "The decided item", body = ReviewView),
        (status = 404, description = "No such review item", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn reject_review(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReviewView>> {
    decide(&state, id, ReviewStatus::Rejected).await
}

async fn decide(
    state: &ServiceState,
    id: i64,
    decision: ReviewStatus,
) -> ApiResult<Json<ReviewView>> {
    let item = state.store.decide_review(id, decision, DECIDED_BY).await?;
    tracing::info!(
        review = id,
        decision = decision.as_str(),
        ecc_key = %item.ecc_key,
        pipedrive_id = item.pipedrive_id,
        "review decided through the API"
    );
    if let Some(connection) = state.connection(&item.connection) {
        connection.request_run(RunMode::Delta);
    }
    let recorded = state
        .store
        .review_decisions(&item.connection, Some(id))
        .await?;
    Ok(Json(ReviewView::of(item, recorded.last())))
}

/// Settles pair `id`'s group: accepts the pair, rejects the other pending pairs proposing the
/// same Pipedrive record (a record is linked to one ECC record only).
#[utoipa::path(
    post,
    path = "/api/review/{id}/accept-group",
    params(("id" = i64, Path, description = "The pair that gets the Pipedrive record"), DryRunParams),
    responses(
        (status = 200, description = "What was decided", body = DecisionReport),
        (status = 404, description = "No such review item", body = ErrorBody),
        (status = 409, description = "The pair is no longer pending", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn accept_group(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<i64>,
    Query(params): Query<DryRunParams>,
) -> ApiResult<Json<DecisionReport>> {
    group(&state, id, QueueRule::AcceptGroup { pair: id }, params).await
}

/// Rejects every pending pair proposing the same Pipedrive record as pair `id`.
#[utoipa::path(
    post,
    path = "/api/review/{id}/reject-group",
    params(("id" = i64, Path, description = "Any pair of the group"), DryRunParams),
    responses(
        (status = 200, description = "What was decided", body = DecisionReport),
        (status = 404, description = "No such review item", body = ErrorBody),
        (status = 409, description = "The pair is no longer pending", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn reject_group(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<i64>,
    Query(params): Query<DryRunParams>,
) -> ApiResult<Json<DecisionReport>> {
    group(&state, id, QueueRule::RejectGroup { pair: id }, params).await
}

/// `rule`, a decision of pair `pair`'s group, in the connection the pair belongs to.
async fn group(
    state: &ServiceState,
    pair: i64,
    rule: QueueRule,
    params: DryRunParams,
) -> ApiResult<Json<DecisionReport>> {
    let names: Vec<&str> = state
        .connections
        .iter()
        .map(|connection| connection.name())
        .collect();
    let Some(connection) = connection_of_pair(state.store.as_ref(), &names, pair).await? else {
        return Err(ApiError::not_found(format!(
            "review item {pair} does not exist"
        )));
    };
    by_rule(state, connection, rule, params.dry_run.unwrap_or(false)).await
}

/// Accepts every pending pair scoring at least `above`, except those a person must decide
/// (a record proposed for several ECC records, already linked or accepted for another, or an
/// ECC record with several pending pairs), which are listed with why.
#[utoipa::path(
    post,
    path = "/api/review/accept",
    request_body = AcceptAbove,
    responses(
        (status = 200, description = "What was decided", body = DecisionReport),
        (status = 400, description = "A score outside 0..1, or no such connection", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn accept_above(
    State(state): State<Arc<ServiceState>>,
    Json(request): Json<AcceptAbove>,
) -> ApiResult<Json<DecisionReport>> {
    let score = check_score(request.above).map_err(ApiError::bad_request)?;
    let connection = one_connection(&state, request.connection)?;
    by_rule(
        &state,
        connection,
        QueueRule::AcceptAtOrAbove { score },
        request.dry_run,
    )
    .await
}

/// Rejects every pending pair scoring below `below`.
#[utoipa::path(
    post,
    path = "/api/review/reject",
    request_body = RejectBelow,
    responses(
        (status = 200, description = "What was decided", body = DecisionReport),
        (status = 400, description = "A score outside 0..1, or no such connection", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token", body = ErrorBody)
    )
)]
pub(super) async fn reject_below(
    State(state): State<Arc<ServiceState>>,
    Json(request): Json<RejectBelow>,
) -> ApiResult<Json<DecisionReport>> {
    let score = check_score(request.below).map_err(ApiError::bad_request)?;
    let connection = one_connection(&state, request.connection)?;
    by_rule(
        &state,
        connection,
        QueueRule::RejectBelow { score },
        request.dry_run,
    )
    .await
}

/// The connection named, or the service's only one.
fn one_connection(state: &ServiceState, named: Option<String>) -> ApiResult<String> {
    match named {
        Some(name) if state.connection(&name).is_some() => Ok(name),
        Some(name) => Err(ApiError::bad_request(format!(
            "no connection named `{name}`"
        ))),
        None => match state.connections.as_slice() {
            [only] => Ok(only.name().to_string()),
            [] => Err(ApiError::bad_request("this service runs no connection")),
            _ => Err(ApiError::bad_request(
                "this service runs several connections: name one in `connection`",
            )),
        },
    }
}

async fn by_rule(
    state: &ServiceState,
    connection: String,
    rule: QueueRule,
    dry_run: bool,
) -> ApiResult<Json<DecisionReport>> {
    let outcome = decide_by_rule(state.store.as_ref(), &connection, rule, DECIDED_BY, dry_run)
        .await
        .map_err(|error| match error {
            ReviewRuleError::Rule(review_queue::RuleError::NoSuchPair(_)) => {
                ApiError::not_found(error.to_string())
            }
            ReviewRuleError::Rule(rule) => ApiError::conflict(rule.to_string()),
            ReviewRuleError::Store(store) => store.into(),
        })?;
    if !outcome.decided.is_empty() {
        if let Some(connection) = state.connection(&connection) {
            connection.request_run(RunMode::Delta);
        }
    }
    Ok(Json(DecisionReport::of(connection, rule, dry_run, outcome)))
}
