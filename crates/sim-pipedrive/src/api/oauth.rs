//! OAuth 2.0 as Pipedrive runs it (research §4.2): `/oauth/authorize` answers a page that sends
//! the browser back with a code (the simulated user always clicks "Allow and install"),
//! `/oauth/token` exchanges the code or a refresh token, with the client's id and secret in
//! HTTP Basic auth and a form-encoded body. Access tokens expire; a refresh token is rotated
//! (works once, the answer carries its successor) or kept (`--oauth-refresh keep`), and
//! expires after `--refresh-token-idle-secs` unused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::errors::json_response;
use crate::oauth::RefreshCheck;
use crate::state::Shared;

/// Authorization codes live 5 minutes (OAuth status codes page).
const CODE_LIFETIME_SECS: f64 = 300.0;

fn oauth_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"success": false, "error": message, "errorCode": status.as_u16()}),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /oauth/authorize?client_id=…&redirect_uri=…&state=…`
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !shared.oauth_enabled {
        return html(StatusCode::BAD_REQUEST, "<html><body><h1>OAuth is not enabled on this simulator (--auth oauth)</h1></body></html>".to_string());
    }
    let client_id = query
        .get("client_id")
        .map(String::as_str)
        .unwrap_or_default();
    if client_id != shared.options.oauth_client_id {
        return html(
            StatusCode::BAD_REQUEST,
            "<html><body><h1>Invalid client: client is invalid</h1></body></html>".to_string(),
        );
    }
    let Some(redirect_uri) = query.get("redirect_uri").filter(|uri| url_like(uri)) else {
        return html(StatusCode::BAD_REQUEST, "<html><body><h1>Invalid request: redirect_uri is missing or invalid</h1></body></html>".to_string());
    };
    let code = {
        let lifetime = Duration::from_secs_f64(CODE_LIFETIME_SECS * shared.time_scale);
        shared.oauth().issue_code(redirect_uri.clone(), lifetime)
    };
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("code", &code);
    if let Some(state) = query.get("state") {
        target.append_pair("state", state);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}{}", target.finish());
    let location = escape_html(&location);
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html><html><head><title>Pipedrive: allow and install</title>\
             <meta http-equiv=\"refresh\" content=\"0;url={location}\"></head>\
             <body><p>The app was allowed. <a id=\"redirect\" href=\"{location}\">Continue</a></p></body></html>"
        ),
    )
}

fn url_like(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| url.scheme() == "http" || url.scheme() == "https")
}

fn client_is_valid(shared: &Shared, headers: &HeaderMap) -> Option<bool> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some(id == shared.options.oauth_client_id && secret == shared.options.oauth_client_secret)
}

/// `POST /oauth/token` with `grant_type=authorization_code` or `grant_type=refresh_token`.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !shared.oauth_enabled {
        return oauth_error(StatusCode::BAD_REQUEST, "Invalid client: client is invalid");
    }
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "Invalid request: content must be application/x-www-form-urlencoded",
        );
    }
    match client_is_valid(&shared, &headers) {
        None => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "Invalid client: client authentication required",
            )
        }
        Some(false) => {
            return oauth_error(StatusCode::BAD_REQUEST, "Invalid client: client is invalid")
        }
        Some(true) => {}
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let lifetime = Duration::from_secs(shared.options.token_lifetime_secs);
    let mut oauth = shared.oauth();
    let (access, refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((expires, redirect_uri)) = oauth.take_code(&code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid grant: authorization code is invalid",
                );
            };
            if Instant::now() >= expires {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid grant: authorization code has expired",
                );
            }
            if form.get("redirect_uri") != Some(&redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid grant: redirect_uri does not match",
                );
            }
            oauth.issue(lifetime, None)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let rotate = shared.options.oauth_refresh == "rotate";
            let idle = Duration::from_secs(shared.options.refresh_token_idle_secs);
            match oauth.use_refresh_token(&presented, rotate, idle) {
                RefreshCheck::Valid => {}
                RefreshCheck::Expired => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "Invalid grant: refresh_token has expired",
                    )
                }
                RefreshCheck::Unknown => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "Invalid grant: refresh_token is invalid",
                    )
                }
            }
            oauth.issue(lifetime, (!rotate).then_some(presented))
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "Invalid request: grant_type must be authorization_code or refresh_token",
            )
        }
    };
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": shared.options.token_lifetime_secs,
            "refresh_token": refresh,
            "scope": shared.options.oauth_scopes,
            "api_domain": shared.base_url,
        }),
    )
}
