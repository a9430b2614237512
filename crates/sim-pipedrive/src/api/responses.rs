//! The shapes every answer takes: the `{success, data, additional_data}` envelopes (built
//! from values, or serialized straight from borrowed views), v1 errors and times, and the
//! parsing of what every handler reads (query, id, JSON body) into those errors.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::errors::{json_response, not_found, validation_failed, ERROR_INFO};
use crate::state::OpError;
use crate::validate::Invalid;

pub(super) fn query_map(query: &Option<String>) -> HashMap<String, String> {
    query
        .as_deref()
        .map(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn parse_id(text: &str) -> Result<u64, Response> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| validation_failed("Validation failed: id: Expected 'integer'"))
}

pub(super) fn invalid_response(invalid: Invalid) -> Response {
    validation_failed(&invalid.0)
}

pub(super) fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(validation_failed(
            "Validation failed: body: Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|_| validation_failed("Validation failed: body: Invalid JSON"))
}

pub(super) fn ok(data: Value) -> Response {
    json_response(StatusCode::OK, &json!({"success": true, "data": data}))
}

pub(super) fn ok_with_cursor(data: Value, next_cursor: Option<String>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}}),
    )
}

pub(super) fn op_error_response(error: OpError) -> Response {
    match error {
        OpError::Invalid(message) => validation_failed(&message),
        OpError::NotFound(entity) => not_found(entity),
    }
}

/// `{success, data, additional_data:{next_cursor}}` serialized straight from borrowed views.
pub(super) fn ok_page<T: serde::Serialize>(data: &[T], next_cursor: Option<String>) -> Response {
    #[derive(serde::Serialize)]
    struct Page<'a, T> {
        success: bool,
        data: &'a [T],
        additional_data: Cursor,
    }
    #[derive(serde::Serialize)]
    struct Cursor {
        next_cursor: Option<String>,
    }
    let page = Page {
        success: true,
        data,
        additional_data: Cursor { next_cursor },
    };
    bytes_response(serde_json::to_vec(&page).unwrap_or_default())
}

pub(super) fn ok_one<T: serde::Serialize>(data: &T) -> Response {
    #[derive(serde::Serialize)]
    struct One<'a, T> {
        success: bool,
        data: &'a T,
    }
    bytes_response(
        serde_json::to_vec(&One {
            success: true,
            data,
        })
        .unwrap_or_default(),
    )
}

pub(super) fn bytes_response(bytes: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(super) fn v1_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"success": false, "error": message, "error_info": ERROR_INFO, "data": null, "additional_data": null}),
    )
}

pub(super) fn v1_time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}
