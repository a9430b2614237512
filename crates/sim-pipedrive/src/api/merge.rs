//! `PUT /v1/organizations/{id}/merge` and `PUT /v1/persons/{id}/merge`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::responses::{json_body, ok, parse_id, v1_error, v1_time};
use crate::state::{OpError, Shared};
use crate::webhooks::ChangeSource;

fn merge_with_id(headers: &HeaderMap, body: &Bytes) -> Result<u64, Response> {
    let body = json_body(headers, body)?;
    match body.get("merge_with_id") {
        Some(Value::Number(number)) if number.is_u64() => Ok(number.as_u64().unwrap_or_default()),
        Some(_) => Err(v1_error(
            StatusCode::BAD_REQUEST,
            "merge_with_id must be an integer",
        )),
        None => Err(v1_error(
            StatusCode::BAD_REQUEST,
            "merge_with_id is required",
        )),
    }
}

fn merge_error(error: OpError, entity: &str) -> Response {
    match error {
        OpError::Invalid(message) => v1_error(StatusCode::BAD_REQUEST, &message),
        OpError::NotFound(_) => v1_error(StatusCode::NOT_FOUND, &format!("{entity} not found")),
    }
}

pub(super) async fn merge_organizations(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let into = match merge_with_id(&headers, &body) {
        Ok(into) => into,
        Err(response) => return response,
    };
    match shared.merge_organizations(id, into, ChangeSource::Api) {
        Ok(survivor) => ok(json!({"id": survivor})),
        Err(error) => merge_error(error, "Organization"),
    }
}

pub(super) async fn merge_persons(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let into = match merge_with_id(&headers, &body) {
        Ok(into) => into,
        Err(response) => return response,
    };
    let person = match shared.merge_persons(id, into, ChangeSource::Api) {
        Ok(person) => person,
        Err(error) => return merge_error(error, "Person"),
    };
    let org_name = person.org_id.and_then(|org_id| {
        shared
            .read()
            .organization(org_id)
            .map(|org| org.name.clone())
    });
    let (first_name, last_name) = person.first_last();
    let contact = |values: &Vec<crate::model::ContactValue>| -> Value {
        Value::Array(values.iter().map(|value| json!({"value": value.value, "primary": value.primary, "label": value.label})).collect())
    };
    let mut data = json!({
        "id": person.id, "company_id": shared.company_id, "owner_id": person.owner_id,
        "name": person.name, "first_name": first_name, "last_name": if last_name.is_empty() { Value::Null } else { json!(last_name) },
        "active_flag": true, "phone": contact(&person.phones), "email": contact(&person.emails),
        "first_char": person.name.chars().next().map(|c| c.to_lowercase().to_string()).unwrap_or_default(),
        "add_time": v1_time(person.add_time), "update_time": v1_time(person.update_time),
        "visible_to": person.visible_to.to_string(), "picture_id": null, "label": null, "label_ids": person.label_ids,
        "org_name": org_name, "owner_name": format!("Sim User {}", person.owner_id), "cc_email": null,
        "open_deals_count": 0, "related_open_deals_count": 0, "closed_deals_count": 0, "related_closed_deals_count": 0,
        "participant_open_deals_count": 0, "participant_closed_deals_count": 0, "email_messages_count": 0,
        "activities_count": 0, "done_activities_count": 0, "undone_activities_count": 0, "files_count": 0,
        "notes_count": 0, "followers_count": 1, "won_deals_count": 0, "related_won_deals_count": 0,
        "lost_deals_count": 0, "related_lost_deals_count": 0, "next_activity_date": null, "next_activity_time": null,
        "next_activity_id": null, "last_activity_id": null, "last_activity_date": null,
        "last_incoming_mail_time": null, "last_outgoing_mail_time": null, "merge_what_id": id,
    });
    if let Some(org_id) = person.org_id {
        data["org_id"] = json!(org_id);
    }
    ok(data)
}
