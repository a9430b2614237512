//! Who is calling: an API token (`x-api-token` header, or the older `api_token` query
//! parameter) or an OAuth access token (`Authorization: Bearer`), else the 401 Pipedrive sends.

use axum::http::{header, HeaderMap};
use axum::response::Response;

use crate::errors::unauthorized;
use crate::limits::AuthKind;
use crate::oauth::AccessCheck;
use crate::state::Shared;

pub fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<AuthKind, Response> {
    if let Some(token) = headers.get("x-api-token") {
        return if token.as_bytes() == shared.api_token.as_bytes() {
            Ok(AuthKind::ApiToken)
        } else {
            Err(unauthorized("unauthorized access"))
        };
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return Err(unauthorized("unauthorized access"));
        };
        // A personal API token is not a bearer token.
        if !shared.oauth_enabled {
            return Err(unauthorized("unauthorized access"));
        }
        return match shared.oauth().check(token.trim()) {
            AccessCheck::Valid => Ok(AuthKind::OAuth),
            AccessCheck::Expired => Err(unauthorized("Invalid token: access token has expired")),
            AccessCheck::Unknown => Err(unauthorized("Invalid token: access token is invalid")),
        };
    }
    if let Some(query) = query {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == "api_token" {
                return if value == shared.api_token.as_str() {
                    Ok(AuthKind::ApiToken)
                } else {
                    Err(unauthorized("unauthorized access"))
                };
            }
        }
    }
    Err(unauthorized("unauthorized access"))
}
