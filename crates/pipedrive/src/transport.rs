//! One call to Pipedrive, with its manners: charged and paced by the governor, authenticated,
//! and classified when it comes back (success, wait and send again, retry with backoff, or an
//! error that names what to do). A create is never sent twice blindly: when its outcome is
//! unknown the caller gets `OutcomeUnknown` and checks by external id.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::Credentials;
use crate::client::{RequestObserver, SentRequest};
use crate::cost::token_cost;
use crate::error::{PipedriveError, Result};
use crate::governor::{Governor, Lane, RateLimitHeaders, TooManyRequests};

/// 429s one call may meet before it gives up (the lane keeps its slowdown).
const MAX_429_PER_CALL: u32 = 3;

/// Whether a call may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads, PATCHes and DELETEs: sending twice does no harm.
    Safe,
    /// Creates: a lost answer is `OutcomeUnknown`.
    Unsafe,
}

/// One request as the client builds it.
pub(crate) struct Call {
    pub method: Method,
    /// As in the cost table, e.g. `/api/v2/organizations/{id}`.
    pub path_template: &'static str,
    /// The real path, e.g. `/api/v2/organizations/42`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    pub lane: Lane,
    pub replay: Replay,
}

impl Call {
    pub fn new(method: Method, path_template: &'static str, path: String) -> Call {
        let replay = if method == Method::POST {
            Replay::Unsafe
        } else {
            Replay::Safe
        };
        Call {
            method,
            path_template,
            path,
            query: Vec::new(),
            body: None,
            lane: Lane::General,
            replay,
        }
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Call {
        self.query.push((key, value.into()));
        self
    }

    pub fn body(mut self, body: serde_json::Value) -> Call {
        self.body = Some(body);
        self
    }

    pub fn search(mut self) -> Call {
        self.lane = Lane::Search;
        self
    }

    fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// How retries back off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt for 5xx, timeouts and resets.
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Full jitter: a random wait up to base x 2^attempt, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_delay);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
    }
}

#[derive(Clone)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub credentials: Credentials,
    pub governor: Governor,
    pub api_domain: Arc<str>,
    pub retry: RetryPolicy,
    pub observer: Option<RequestObserver>,
}

impl Transport {
    /// Sends a call and decodes the envelope's `data` (and `additional_data`).
    pub async fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<Envelope<T>> {
        let value = self.send(call).await?;
        serde_json::from_value(value).map_err(|error| PipedriveError::Malformed {
            endpoint: call.endpoint(),
            message: error.to_string(),
        })
    }

    /// Sends a call; the answer's JSON body on success.
    pub async fn send(&self, call: &Call) -> Result<serde_json::Value> {
        let endpoint = call.endpoint();
        let url = format!("{}{}", self.api_domain.trim_end_matches('/'), call.path);
        let cost = token_cost(&call.method, call.path_template);
        let mut failures = 0u32;
        let mut answers_429 = 0u32;
        let mut renewed_credentials = false;
        // A call refused with 429 was not served: its tokens pay for the next attempt.
        let mut charged = false;
        loop {
            self.governor.check_not_stopped(&endpoint)?;
            if !charged {
                self.governor.charge(cost).await?;
            }
            charged = false;
            self.governor.pace(call.lane).await;
            let (header_name, header_value) = self.credentials.header().await?;
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .header(header_name, &header_value)
                .header("accept", "application/json");
            if !call.query.is_empty() {
                request = request.query(&call.query);
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            tracing::debug!(%endpoint, cost, "pipedrive call");
            if let Some(observer) = &self.observer {
                observer(&SentRequest {
                    method: call.method.to_string(),
                    path: call.path.clone(),
                    query: call
                        .query
                        .iter()
                        .map(|(key, value)| (key.to_string(), value.clone()))
                        .collect(),
                    body: call.body.clone(),
                });
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    // Not connected: nothing reached Pipedrive, so even a create may go again.
                    let never_sent = error.is_connect();
                    if call.replay == Replay::Unsafe && !never_sent {
                        return Err(PipedriveError::OutcomeUnknown {
                            endpoint,
                            cause: transport_cause(&error),
                        });
                    }
                    if failures >= self.retry.retries {
                        return Err(PipedriveError::Http {
                            endpoint,
                            message: transport_cause(&error),
                            attempts: failures + 1,
                        });
                    }
                    tokio::time::sleep(self.retry.delay(failures)).await;
                    failures += 1;
                    continue;
                }
            };
            let status = response.status();
            let headers = RateLimitHeaders::parse(response.headers());
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(error) => {
                    if call.replay == Replay::Unsafe {
                        return Err(PipedriveError::OutcomeUnknown {
                            endpoint,
                            cause: format!("the answer broke off: {}", transport_cause(&error)),
                        });
                    }
                    if failures >= self.retry.retries {
                        return Err(PipedriveError::Http {
                            endpoint,
                            message: transport_cause(&error),
                            attempts: failures + 1,
                        });
                    }
                    tokio::time::sleep(self.retry.delay(failures)).await;
                    failures += 1;
                    continue;
                }
            };
            if status.is_success() {
                self.governor.observe(call.lane, &headers);
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(value) => return Ok(value),
                    Err(error) => {
                        if call.replay == Replay::Unsafe {
                            return Err(PipedriveError::OutcomeUnknown {
                                endpoint,
                                cause: format!(
                                    "HTTP {status} with a body that is not JSON ({error})"
                                ),
                            });
                        }
                        if failures >= self.retry.retries {
                            return Err(PipedriveError::Malformed {
                                endpoint,
                                message: format!(
                                    "HTTP {status} with a body that is not JSON ({error})"
                                ),
                            });
                        }
                        tokio::time::sleep(self.retry.delay(failures)).await;
                        failures += 1;
                        continue;
                    }
                }
            }
            let is_json = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
            let message = error_message(&body);
            match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    answers_429 += 1;
                    charged = true;
                    match self.governor.on_too_many_requests(call.lane, &headers) {
                        TooManyRequests::DailyBudget { retry_after_secs } => {
                            return Err(PipedriveError::CompanyBudgetExhausted {
                                endpoint,
                                retry_after_secs,
                            })
                        }
                        TooManyRequests::WaitBurst(_) if answers_429 >= MAX_429_PER_CALL => {
                            return Err(PipedriveError::RateLimited {
                                endpoint,
                                attempts: answers_429,
                            })
                        }
                        // The lane is blocked until the wait is over; `pace` waits for it.
                        TooManyRequests::WaitBurst(_) => continue,
                    }
                }
                StatusCode::FORBIDDEN => {
                    if is_json && !content_type.contains("html") {
                        return Err(PipedriveError::PermissionDenied { endpoint, message });
                    }
                    let detail = if content_type.contains("html") {
                        "an HTML block page (Cloudflare) after repeated 429s".to_string()
                    } else {
                        format!("a non-JSON 403: {message}")
                    };
                    self.governor.stop(&endpoint, &detail);
                    return Err(PipedriveError::Forbidden403 { endpoint, detail });
                }
                StatusCode::UNAUTHORIZED => {
                    if !renewed_credentials
                        && self
                            .credentials
                            .renew_after_unauthorized(&header_value)
                            .await?
                    {
                        renewed_credentials = true;
                        continue;
                    }
                    return Err(PipedriveError::Unauthorized { endpoint, message });
                }
                StatusCode::NOT_FOUND | StatusCode::GONE => {
                    return Err(PipedriveError::NotFound { endpoint })
                }
                status if status.is_server_error() => {
                    if call.replay == Replay::Unsafe {
                        return Err(PipedriveError::OutcomeUnknown {
                            endpoint,
                            cause: format!("HTTP {status}: {message}"),
                        });
                    }
                    if failures >= self.retry.retries {
                        return Err(PipedriveError::Http {
                            endpoint,
                            message: format!("HTTP {status}: {message}"),
                            attempts: failures + 1,
                        });
                    }
                    tokio::time::sleep(self.retry.delay(failures)).await;
                    failures += 1;
                    continue;
                }
                status => {
                    return Err(PipedriveError::Validation {
                        status: status.as_u16(),
                        message,
                        endpoint,
                    })
                }
            }
        }
    }
}

/// The `{"success": true, "data": ..., "additional_data": ...}` envelope.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Envelope<T> {
    pub data: T,
    #[serde(default)]
    pub additional_data: Option<AdditionalData>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AdditionalData {
    #[serde(default)]
    pub next_cursor: Option<String>,
}

fn transport_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        format!("cannot connect: {error}")
    } else {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        cause
    }
}

/// Pipedrive's error text (`error`, `error_info`), or the start of a non-JSON body.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let error = value.get("error").map(|error| match error {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            let info = value
                .get("error_info")
                .and_then(|info| info.as_str())
                .map(str::to_string);
            match (error, info) {
                (Some(error), Some(info)) if !info.is_empty() => format!("{error} ({info})"),
                (Some(error), _) => error,
                (None, Some(info)) => info,
                (None, None) => value.to_string().chars().take(300).collect(),
            }
        }
        Err(_) => String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        let policy = RetryPolicy {
            retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..20 {
            assert!(policy.delay(0) <= Duration::from_millis(100));
            assert!(policy.delay(0) >= Duration::from_millis(50));
            assert!(policy.delay(10) <= Duration::from_secs(2));
            assert!(policy.delay(3) >= Duration::from_millis(400));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_error_body_gives_a_short_message(body in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let message = error_message(&body);
            proptest::prop_assert!(message.chars().count() <= 300);
        }
    }

    #[test]
    fn error_messages_come_from_json_or_from_the_start_of_html() {
        assert_eq!(
            error_message(br#"{"success":false,"error":"Validation failed","code":"ERR_SCHEMA_VALIDATION_FAILED"}"#),
            "Validation failed"
        );
        assert_eq!(
            error_message(
                br#"{"success":false,"error":"not found","error_info":"Object was not found."}"#
            ),
            "not found (Object was not found.)"
        );
        assert_eq!(
            error_message(b"<html>blocked</html>"),
            "<html>blocked</html>"
        );
    }
}
