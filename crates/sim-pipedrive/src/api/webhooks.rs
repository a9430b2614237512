//! `/v1/webhooks`: list, add (with Pipedrive's validation), delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::responses::json_body;
use crate::errors::{json_response, webhook_error};
use crate::state::Shared;

pub(super) async fn list_webhooks(State(shared): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status": "ok", "success": true, "data": shared.webhooks.list()}),
    )
}

pub(super) async fn add_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return webhook_error(StatusCode::BAD_REQUEST, "body", "must be a JSON object"),
        Err(response) => return response,
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    for key in body.keys() {
        if ![
            "subscription_url",
            "event_action",
            "event_object",
            "name",
            "user_id",
            "http_auth_user",
            "http_auth_password",
            "version",
        ]
        .contains(&key.as_str())
        {
            return webhook_error(StatusCode::BAD_REQUEST, key, "is not allowed");
        }
    }
    let Some(url) = text("subscription_url").filter(|url| {
        url::Url::parse(url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
    }) else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "subscription_url",
            "invalid or non-reachable URL",
        );
    };
    let Some(action) = text("event_action")
        .filter(|action| ["create", "change", "delete", "*"].contains(&action.as_str()))
    else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "event_action",
            "must be one of create, change, delete, *",
        );
    };
    let objects = [
        "activity",
        "deal",
        "lead",
        "note",
        "organization",
        "person",
        "pipeline",
        "product",
        "stage",
        "user",
        "*",
    ];
    let Some(object) = text("event_object").filter(|object| objects.contains(&object.as_str()))
    else {
        return webhook_error(StatusCode::BAD_REQUEST, "event_object", "must be one of activity, deal, lead, note, organization, person, pipeline, product, stage, user, *");
    };
    let Some(name) = text("name").filter(|name| !name.is_empty() && name.chars().count() <= 255)
    else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "name",
            "is required (at most 255 characters)",
        );
    };
    let user_id = match body.get("user_id") {
        None => 1,
        Some(value) => match value
            .as_u64()
            .filter(|id| (1..=u64::from(shared.seats)).contains(id))
        {
            Some(id) => id,
            None => {
                return webhook_error(
                    StatusCode::BAD_REQUEST,
                    "user_id",
                    "must be the id of a user of this company",
                )
            }
        },
    };
    let optional_text = |key: &str| -> Result<Option<String>, Response> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(webhook_error(
                StatusCode::BAD_REQUEST,
                key,
                "must be a string",
            )),
        }
    };
    let (auth_user, auth_password) = match (
        optional_text("http_auth_user"),
        optional_text("http_auth_password"),
    ) {
        (Ok(user), Ok(password)) => (user, password),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let version = match body.get("version") {
        None => "2.0".to_string(),
        Some(Value::String(version)) if version == "2.0" => version.clone(),
        Some(Value::String(version)) if version == "1.0" => {
            return webhook_error(
                StatusCode::BAD_REQUEST,
                "version",
                "this simulator delivers only version 2.0 payloads",
            );
        }
        Some(_) => return webhook_error(StatusCode::BAD_REQUEST, "version", "must be 1.0 or 2.0"),
    };
    match shared.webhooks.add(
        name,
        url,
        action,
        object,
        user_id,
        auth_user,
        auth_password,
        version,
    ) {
        Ok(data) => json_response(
            StatusCode::CREATED,
            &json!({"status": "ok", "success": true, "data": data}),
        ),
        Err(message) => webhook_error(StatusCode::BAD_REQUEST, "subscription_url", &message),
    }
}

pub(super) async fn delete_webhook(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return webhook_error(StatusCode::NOT_FOUND, "id", "not found");
    };
    if shared.webhooks.remove(id) {
        json_response(StatusCode::OK, &json!({"status": "ok", "success": true}))
    } else {
        webhook_error(StatusCode::NOT_FOUND, "id", "not found")
    }
}
