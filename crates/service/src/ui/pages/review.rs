//! The review queue: each pair side by side (the ECC record as last extracted, the Pipedrive
//! record read live), the score and why, and the accept and reject forms.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use mlc_canonical::alpha_output;
use mlc_engine::RunMode;
use mlc_store::{AuditQuery, EntityKind, ReviewItem, ReviewStatus, StoreError};
use serde::Deserialize;
use serde_json::Value;

use super::{address_line, pipedrive_record_link, record_name, time, PageResult};
use crate::ui::{html, message, Session, Ui};
use crate::ServiceState;

/// Pending pairs whose Pipedrive record is read live on one view of the review page (each read
/// costs tokens of the budget share).
const REVIEW_LIVE_READS: usize = 20;
const REVIEW_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
