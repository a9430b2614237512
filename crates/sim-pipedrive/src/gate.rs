//! What every API request passes before its handler, in Pipedrive's order: injected faults,
//! authentication (401), the Cloudflare block (403), burst and search windows and the daily
//! budget (429), then the handler; rate-limit headers on the way out, and the request counted
//! in the stats by method, route template and status.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::authenticate;
use crate::costs::{is_search, token_cost};
use crate::errors;
use crate::limits::{Admission, AuthKind, RateHeaders};
use crate::scopes;
use crate::state::Shared;

fn set_header(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn add_rate_headers(headers: &mut HeaderMap, rate: &RateHeaders) {
    if rate.limit == 0 {
        // Plan "unlimited": no limits, so no headers.
        return;
    }
    set_header(headers, "x-ratelimit-limit", rate.limit);
    set_header(headers, "x-ratelimit-remaining", rate.remaining);
    set_header(headers, "x-ratelimit-reset", rate.reset_secs);
    if rate.daily_shown {
        set_header(headers, "x-daily-ratelimit-token-limit", rate.daily_limit);
        set_header(
            headers,
            "x-daily-ratelimit-token-remaining",
            rate.daily_remaining,
        );
    }
    if let Some(left) = rate.writes_left {
        set_header(headers, "x-daily-requests-left", left);
    }
}

pub async fn api_gate(
    State(shared): State<Arc<Shared>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let route = matched
        .map(|matched| matched.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let response = gate(&shared, &method, &route, request, next).await;
    shared.record_request(&method, &route, response.status().as_u16());
    response
}

async fn gate(
    shared: &Arc<Shared>,
    method: &str,
    route: &str,
    request: Request,
    next: Next,
) -> Response {
    let fault = shared.faults().plan(method, request.uri().path());
    if let Some(latency) = fault.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = fault.error_status {
        let mut response = errors::internal_error();
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return response;
    }
    let auth = match authenticate(shared, request.headers(), request.uri().query()) {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    if auth == AuthKind::OAuth && !scopes::allowed(&shared.options.oauth_scopes, method, route) {
        return errors::scope_mismatch();
    }
    let cost = token_cost(method, route).unwrap_or(0);
    let write = matches!(method, "POST" | "PUT" | "PATCH");
    let admission = shared.limits().admit(auth, is_search(route), write, cost);
    let rate = match admission {
        Admission::Admitted(rate) => rate,
        Admission::Burst(rate) => {
            let mut response = errors::too_many_requests("Request over limit");
            add_rate_headers(response.headers_mut(), &rate);
            return response;
        }
        Admission::Budget {
            headers,
            retry_after_secs,
        } => {
            let mut response = errors::too_many_requests("daily request budget exceeded");
            add_rate_headers(response.headers_mut(), &headers);
            if let Some(retry_after_secs) = retry_after_secs {
                set_header(response.headers_mut(), "retry-after", retry_after_secs);
            }
            return response;
        }
        Admission::FairUse {
            headers,
            retry_after_secs,
        } => {
            let mut response =
                errors::too_many_requests("daily limit of POST/PUT requests exceeded");
            add_rate_headers(response.headers_mut(), &headers);
            set_header(response.headers_mut(), "retry-after", retry_after_secs);
            return response;
        }
        Admission::Blocked => return errors::cloudflare_block(),
    };
    let mut response = next.run(request).await;
    add_rate_headers(response.headers_mut(), &rate);
    match fault.after {
        None => response,
        Some(after) => {
            let mut shutdown = shared.webhooks.shutdown_signal();
            after
                .apply(response, async move {
                    let _ = shutdown.changed().await;
                })
                .await
        }
    }
}
