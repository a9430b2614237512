//! Error answers shaped as Pipedrive sends them (research §2.6, §1.5, §4).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A v2 error: `{success:false, error, code, error_info, data:null, additional_data:null}`.
pub fn v2_error(status: StatusCode, message: &str, code: &str) -> Response {
    json_response(
        status,
        &json!({"success": false, "error": message, "code": code, "error_info": ERROR_INFO,
                "data": null, "additional_data": null}),
    )
}

pub fn validation_failed(message: &str) -> Response {
    v2_error(
        StatusCode::BAD_REQUEST,
        message,
        "ERR_SCHEMA_VALIDATION_FAILED",
    )
}

pub fn not_found(entity: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        &format!("{entity} not found"),
        "ERR_NOT_FOUND",
    )
}

/// The 401 every API path answers without valid credentials (SPEC-v1 example).
pub fn unauthorized(message: &str) -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"success": false, "error": message, "errorCode": 401, "error_info": ERROR_INFO}),
    )
}

pub fn too_many_requests(message: &str) -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"success": false, "error": message, "errorCode": 429, "error_info": ERROR_INFO}),
    )
}

/// The 403 of an OAuth token without a scope the operation needs (the body as Pipedrive sends
/// it, seen in pipedrive/client-php#14).
pub fn scope_mismatch() -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        &json!({"success": false, "error": "Scope and URL mismatch", "errorCode": 403}),
    )
}

/// Cloudflare's block page for api_token clients that kept sending through 429s (RL).
pub fn cloudflare_block() -> Response {
    let page = "<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>Access denied | api.pipedrive.com used Cloudflare to restrict access</title></head>\n<body><div id=\"cf-wrapper\"><h1>Error 1015</h1><h2>You are being rate limited</h2>\n<p>The owner of this website (api.pipedrive.com) has banned you temporarily from accessing this website.</p>\n<p>This error is produced by Cloudflare, not by Pipedrive.</p></div></body></html>\n";
    let mut response = (StatusCode::FORBIDDEN, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    response
}

pub fn internal_error() -> Response {
    v2_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "ERR_UNKNOWN",
    )
}

/// The v1 webhooks error shape: `{status:"error", success:false, errors:{field:[...]}}`.
pub fn webhook_error(status: StatusCode, field: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"status": "error", "success": false, "errors": {field: [message]}}),
    )
}
