//! The review queue, ranked (`mlc_sync::review_queue::rank`): each pair side by side (the ECC
//! record as last extracted, the Pipedrive record read live), the score and why, its evidence
//! for and against with weights, its group, and the forms that decide one pair, a group, or
//! every pending pair on one side of a score (with a preview).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use mlc_canonical::alpha_output;
use mlc_engine::review_rules::{decide_by_rule, ReviewRuleError};
use mlc_engine::RunMode;
use mlc_store::{AuditQuery, EntityKind, ReviewItem, ReviewStatus, StoreError};
use mlc_sync::review_queue::{self, parse_score, Direction, QueueRule, ReviewEvidence, ScoreBand};
use serde::Deserialize;
use serde_json::Value;

use super::{address_line, pipedrive_record_link, record_name, time, PageResult};
use crate::ui::{html, message, Session, Ui};
use crate::ServiceState;

/// Pending pairs whose Pipedrive record is read live on one view of the review page (each read
/// costs tokens of the budget share).
const REVIEW_LIVE_READS: usize = 20;
const REVIEW_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Who decides through the web UI, in the decision records.
const DECIDED_BY: &str = "ui";

/// One row of a pair's evidence table.
struct EvidenceRow {
    /// for, against or value.
    direction: &'static str,
    name: String,
    value: String,
    weight: String,
}

struct ReviewCard {
    rank: usize,
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
    evidence: Vec<EvidenceRow>,
    /// The other pending pairs proposing the same Pipedrive record.
    group_others: Vec<i64>,
    /// How many ECC records a decision of the group settles.
    settles: usize,
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

fn evidence_rows(evidence: &Value) -> Vec<EvidenceRow> {
    ReviewEvidence::read(evidence)
        .comparisons
        .into_iter()
        .map(|comparison| EvidenceRow {
            direction: match comparison.direction {
                Direction::For => "for",
                Direction::Against => "against",
                Direction::Neutral => "value",
            },
            name: comparison.name,
            value: comparison.value.unwrap_or_default(),
            weight: comparison
                .weight
                .map(|weight| format!("{weight:+.2}"))
                .unwrap_or_default(),
        })
        .collect()
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
        Some("middle_band") => {
            parts.push("The score is between the review and the link thresholds.".to_string())
        }
        Some("linked_to_another_customer") => parts
            .push("The best candidate is already linked to another customer number.".to_string()),
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
    // Connecting may retry, and a paced or paused governor may hold the read back: the page
    // does not wait for either.
    let organization = tokio::time::timeout(REVIEW_READ_TIMEOUT, async {
        let engine = connection.engine(state).await?;
        engine
            .client()
            .get_organization(item.pipedrive_id)
            .await
            .map_err(|error| format!("Pipedrive did not answer: {error}"))
    })
    .await
    .map_err(|_| "Pipedrive did not answer within 5 seconds.".to_string())??;
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
    let read = ReviewEvidence::read(evidence);
    if let Some(probability) = read.probability {
        let model = match read.probability_from.as_deref() {
            Some("defaults") => " (default model: the run was too small to estimate its own)",
            _ => "",
        };
        fields.push((
            "probability".to_string(),
            format!("{probability:.2}{model}"),
        ));
    }
    fields
}

pub async fn review(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(params): Query<ReviewParams>,
) -> PageResult {
    let status_text = params.status.clone().unwrap_or_else(|| "pending".into());
    render(&ui, &session, &status_text, params.decided, None, true).await
}

/// The page for `status_text` (pending, accepted, rejected, all), with pair `decided`'s notice
/// or the `notice` given. With `read_live`, pending pairs' Pipedrive records are read live
/// until one read fails (Pipedrive is then not asked again for this view); the page that
/// answers a decision shows what the matcher saw instead, at once.
async fn render(
    ui: &Ui,
    session: &Session,
    status_text: &str,
    decided: Option<i64>,
    mut notice: Option<String>,
    read_live: bool,
) -> PageResult {
    let state = &ui.service;
    let status = match status_text {
        "all" => None,
        "accepted" => Some(ReviewStatus::Accepted),
        "rejected" => Some(ReviewStatus::Rejected),
        _ => Some(ReviewStatus::Pending),
    };
    let mut ranked = Vec::new();
    for connection in &state.connections {
        let items = state.store.reviews(connection.name(), status).await?;
        let band = ScoreBand::from_config(&connection.config().sync);
        ranked.extend(review_queue::rank(&items, band));
    }
    let mut cards = Vec::new();
    let mut live_reads = if read_live { 0 } else { REVIEW_LIVE_READS };
    for (position, pair) in ranked.iter().enumerate() {
        let item = &pair.item;
        if decided == Some(item.id) {
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
                    Err(note) => {
                        live_reads = REVIEW_LIVE_READS;
                        (evidence_fields(&item.evidence), Some(note))
                    }
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
            rank: position + 1,
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
            evidence: evidence_rows(&item.evidence),
            group_others: pair
                .group
                .iter()
                .copied()
                .filter(|id| *id != item.id)
                .collect(),
            settles: pair.settles,
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

/// Accept or reject a pair (as `POST /api/review/{id}/accept|reject`), or settle its group
/// (`accept-group`: the pair gets the record, the group's other pairs are rejected;
/// `reject-group`), then a run is asked for.
pub async fn decide(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Path((id, decision)): Path<(String, String)>,
) -> PageResult {
    let state = &ui.service;
    let no_such_pair = |id: &str| {
        message(
            StatusCode::NOT_FOUND,
            &session,
            "No such pair",
            &format!("There is no pair {id} in the review queue."),
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(no_such_pair(&id));
    };
    let decision = match decision.as_str() {
        "accept" => ReviewStatus::Accepted,
        "reject" => ReviewStatus::Rejected,
        "accept-group" => {
            return decide_group(&ui, &session, id, QueueRule::AcceptGroup { pair: id }).await
        }
        "reject-group" => {
            return decide_group(&ui, &session, id, QueueRule::RejectGroup { pair: id }).await
        }
        _ => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                &session,
                "No such decision",
                "A pair is accepted or rejected, alone or with its group.",
            ))
        }
    };
    let item = match state.store.decide_review(id, decision, DECIDED_BY).await {
        Ok(item) => item,
        Err(StoreError::NoSuchReview(_)) => return Ok(no_such_pair(&id.to_string())),
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

/// `rule`, a decision of pair `pair`'s group, in the connection the pair belongs to.
async fn decide_group(ui: &Ui, session: &Session, pair: i64, rule: QueueRule) -> PageResult {
    let state = &ui.service;
    let names: Vec<&str> = state.connections.iter().map(|c| c.name()).collect();
    let connection =
        mlc_engine::review_rules::connection_of_pair(state.store.as_ref(), &names, pair).await?;
    let Some(connection) = connection else {
        return Ok(message(
            StatusCode::NOT_FOUND,
            session,
            "No such pair",
            &format!("There is no pair {pair} in the review queue."),
        ));
    };
    let notice = decide_and_describe(ui, &connection, rule, false).await;
    match notice {
        Ok(notice) => render(ui, session, "pending", None, Some(notice), false).await,
        Err(text) => Ok(message(
            StatusCode::CONFLICT,
            session,
            "Group not decided",
            &text,
        )),
    }
}

#[derive(Deserialize)]
pub struct BulkForm {
    /// accept (score at least) or reject (score below).
    decision: String,
    score: String,
    /// Present: show what would be decided, decide nothing.
    preview: Option<String>,
}

/// Every pending pair of every connection on one side of a score: accepted at or above it (but
/// those a person must decide), or rejected below it; a preview decides nothing.
pub async fn bulk(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Form(form): Form<BulkForm>,
) -> PageResult {
    let score = match parse_score(&form.score) {
        Ok(score) => score,
        Err(text) => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                &session,
                "No such score",
                &text,
            ))
        }
    };
    let rule = match form.decision.as_str() {
        "accept" => QueueRule::AcceptAtOrAbove { score },
        "reject" => QueueRule::RejectBelow { score },
        _ => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                &session,
                "No such decision",
                "Pairs are accepted at or above a score, or rejected below one.",
            ))
        }
    };
    let preview = form.preview.is_some();
    let mut notices = Vec::new();
    for connection in &ui.service.connections {
        match decide_and_describe(&ui, connection.name(), rule, preview).await {
            Ok(notice) => notices.push(notice),
            Err(text) => notices.push(text),
        }
    }
    render(
        &ui,
        &session,
        "pending",
        None,
        Some(notices.join(" ")),
        false,
    )
    .await
}

/// Decides `rule` in `connection` (or previews it) and says what happened, pair by pair.
async fn decide_and_describe(
    ui: &Ui,
    connection: &str,
    rule: QueueRule,
    preview: bool,
) -> Result<String, String> {
    let state = &ui.service;
    let outcome = decide_by_rule(state.store.as_ref(), connection, rule, DECIDED_BY, preview)
        .await
        .map_err(|error| match error {
            ReviewRuleError::Rule(rule) => rule.to_string(),
            ReviewRuleError::Store(store) => format!("The store failed: {store}"),
        })?;
    if !outcome.decided.is_empty() {
        if let Some(connection) = state.connection(connection) {
            connection.request_run(RunMode::Delta);
        }
    }
    let how = rule.decision_rule();
    let selection = &outcome.selection;
    let list = |ids: &[i64]| {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = if preview {
        format!(
            "Preview ({how}), nothing decided: would accept {} pair(s) [{}], would reject {} \
             pair(s) [{}].",
            selection.accept.len(),
            list(&selection.accept),
            selection.reject.len(),
            list(&selection.reject)
        )
    } else {
        format!(
            "Decided ({how}): accepted {} pair(s) [{}], rejected {} pair(s) [{}].",
            outcome.count(ReviewStatus::Accepted),
            list(&selection.accept),
            outcome.count(ReviewStatus::Rejected),
            list(&selection.reject)
        )
    };
    for held in &selection.held_back {
        text.push_str(&format!(" Held back pair {}: {}.", held.id, held.reason));
    }
    Ok(format!("Connection {connection}: {text}"))
}
