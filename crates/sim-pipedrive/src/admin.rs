//! `/_sim/...`: not part of Pipedrive. Stats, faults, a salesperson's UI edit (which fires
//! webhooks with `change_source: "app"` and costs no tokens), and reset. No auth; loopback only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::errors::json_response;
use crate::state::{OpError, Shared, SimHandle};
use crate::webhooks::ChangeSource;
use mlc_sim_support::FaultSettings;

fn loopback_only(peer: &SocketAddr) -> Result<(), Response> {
    if peer.ip().is_loopback() {
        Ok(())
    } else {
        Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": "the /_sim endpoints answer loopback clients only"}),
        ))
    }
}

pub async fn stats(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(response) = loopback_only(&peer) {
        return response;
    }
    json_response(
        StatusCode::OK,
        &serde_json::to_value(shared.stats()).unwrap_or_default(),
    )
}

pub async fn get_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(response) = loopback_only(&peer) {
        return response;
    }
    let settings = shared.faults().settings().clone();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(settings).unwrap_or_default(),
    )
}

/// Replaces the fault settings; `{}` turns all faults off.
pub async fn set_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Err(response) = loopback_only(&peer) {
        return response;
    }
    let settings = match FaultSettings::from_json(&body) {
        Ok(settings) => settings,
        Err(error) => return json_response(StatusCode::BAD_REQUEST, &json!({ "error": error })),
    };
    shared.faults().set(settings.clone());
    json_response(
        StatusCode::OK,
        &serde_json::to_value(settings).unwrap_or_default(),
    )
}

pub async fn ui_edit_handler(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Err(response) = loopback_only(&peer) {
        return response;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "body must be JSON"}),
            )
        }
    };
    match ui_edit(&shared, &request) {
        Ok(result) => json_response(StatusCode::OK, &result),
        Err(message) => {
            let status = if message.ends_with("not found") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            json_response(status, &json!({"error": message}))
        }
    }
}

impl SimHandle {
    /// A salesperson's edit in the UI, as `POST /_sim/ui-edit` takes it; fires webhooks with
    /// `change_source: "app"`.
    pub fn ui_edit(&self, request: &Value) -> Result<Value, String> {
        ui_edit(&self.inner, request)
    }
}

/// `{"entity": "organization"|"person", "id": N, "action": "change"|"delete"|"merge",
///   "changes": {...v2 PATCH body...}, "merge_into": M, "silent": false}`; with `"silent": true`
/// the edit fires no webhook, as when Pipedrive's deliveries of it are lost (a banned webhook).
fn ui_edit(shared: &Arc<Shared>, request: &Value) -> Result<Value, String> {
    let entity = request["entity"]
        .as_str()
        .ok_or("entity must be \"organization\" or \"person\"")?;
    let id = request["id"]
        .as_u64()
        .ok_or("id must be a positive integer")?;
    let action = request["action"]
        .as_str()
        .ok_or("action must be \"change\", \"delete\" or \"merge\"")?;
    let message = |error: OpError| match error {
        OpError::Invalid(message) => message,
        OpError::NotFound(entity) => format!("{entity} not found"),
    };
    let source = if request["silent"].as_bool() == Some(true) {
        ChangeSource::Silent
    } else {
        ChangeSource::App
    };
    match (entity, action) {
        ("organization", "change") => shared
            .update_organization(id, request.get("changes").unwrap_or(&json!({})), source)
            .map_err(message),
        ("person", "change") => shared
            .update_person(id, request.get("changes").unwrap_or(&json!({})), source)
            .map_err(message),
        ("organization", "delete") => shared
            .delete_organization(id, source)
            .map(|()| json!({"id": id}))
            .map_err(message),
        ("person", "delete") => shared
            .delete_person(id, source)
            .map(|()| json!({"id": id}))
            .map_err(message),
        ("organization", "merge") => {
            let into = request["merge_into"]
                .as_u64()
                .ok_or("merge_into must be the id of the surviving organization")?;
            shared
                .merge_organizations(id, into, source)
                .map(|survivor| json!({"id": survivor}))
                .map_err(message)
        }
        ("person", "merge") => {
            let into = request["merge_into"]
                .as_u64()
                .ok_or("merge_into must be the id of the surviving person")?;
            shared
                .merge_persons(id, into, source)
                .map(|person| json!({"id": person.id}))
                .map_err(message)
        }
        _ => Err(format!("unknown entity/action {entity}/{action}")),
    }
}

pub async fn reset(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(response) = loopback_only(&peer) {
        return response;
    }
    shared.reset();
    json_response(StatusCode::OK, &json!({"reset": true}))
}
