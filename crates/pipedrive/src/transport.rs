//! One call to Pipedrive, with its manners: charged and paced by the governor, authenticated,
//! and classified when it comes back. [`classify`] is the pure decision (success, back off and
//! send again, wait out a burst 429, renew OAuth credentials, or give up with an error that
//! names what to do); [`Transport::send`] is the short loop that carries it out. A create is
//! never sent twice blindly: when its outcome is unknown the caller gets `OutcomeUnknown` and
//! checks by external id.

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
    /// Answers longer than this are refused (`pipedrive.max_response_mib`).
    pub max_response_bytes: usize,
}

impl Transport {
    /// Sends a call and decodes the envelope's `data` (and `additional_data`).
    pub async fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<Envelope<T>> {
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|error| PipedriveError::Malformed {
            endpoint: call.endpoint(),
            message: error.to_string(),
        })
    }

    /// Sends a call until [`classify`] says it succeeded or gives up; the answer's JSON body on
    /// success, as it came (decoded once, by the caller, into the type it expects).
    pub async fn send(&self, call: &Call) -> Result<Vec<u8>> {
        let endpoint = call.endpoint();
        let url = format!("{}{}", self.api_domain.trim_end_matches('/'), call.path);
        let cost = token_cost(&call.method, call.path_template);
        let mut so_far = AttemptsSoFar::first(
            call.replay,
            self.retry.retries,
            self.credentials.can_renew(),
        );
        // A call refused with 429 was not served: its tokens pay for the next attempt.
        let mut charged = false;
        loop {
            self.governor.check_not_stopped(&endpoint)?;
            self.governor.check_write_allowance(call.method.as_str())?;
            if !charged {
                self.governor.charge(cost).await?;
            }
            self.governor.pace(call.lane).await;
            let (header_name, header_value) = self.credentials.header().await?;
            let reply = self.exchange(call, &url, header_name, &header_value).await;
            self.governor.count_answer(reply.answer_class());
            so_far.until_budget_reset = self.governor.until_reset(chrono::Utc::now());
            let Classified { verdict, governor } = classify(&reply, &so_far, &endpoint);
            match governor {
                GovernorNote::Nothing => {}
                GovernorNote::Observe(headers) => self.governor.observe(call.lane, &headers),
                GovernorNote::TooManyRequests(too_many) => {
                    self.governor.on_too_many_requests(call.lane, &too_many)
                }
                GovernorNote::Stop { detail } => self.governor.stop(&endpoint, &detail),
            }
            charged = false;
            match verdict {
                Verdict::Success => return Ok(reply.into_body()),
                Verdict::GiveUp(error) => return Err(error),
                Verdict::Backoff => {
                    tokio::time::sleep(self.retry.delay(so_far.failures)).await;
                    so_far.failures += 1;
                }
                // The lane is blocked until the wait is over; `pace` waits for it.
                Verdict::AfterBurstWait => {
                    so_far.answers_429 += 1;
                    charged = true;
                }
                Verdict::RenewCredentials => {
                    self.credentials
                        .renew_after_unauthorized(&header_value)
                        .await?;
                    so_far.may_renew_credentials = false;
                }
            }
        }
    }

    /// One request and its answer, read to the end; no decision about it.
    async fn exchange(
        &self,
        call: &Call,
        url: &str,
        header_name: &'static str,
        header_value: &str,
    ) -> Reply {
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(header_name, header_value)
            .header("accept", "application/json");
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        tracing::debug!(endpoint = %call.endpoint(), "pipedrive call");
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
            // Not connected: nothing reached Pipedrive.
            Err(error) if error.is_connect() => {
                return Reply::NotDelivered {
                    cause: transport_cause(&error),
                }
            }
            Err(error) => {
                return Reply::NoAnswer {
                    cause: transport_cause(&error),
                }
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
        match read_bounded(response, self.max_response_bytes).await {
            Ok(body) => Reply::Answered {
                status,
                headers,
                content_type,
                body,
            },
            Err(BodyFailure::TooLarge { seen }) => Reply::TooLarge {
                limit: self.max_response_bytes,
                seen,
            },
            Err(BodyFailure::Broken(error)) => Reply::BrokenAnswer {
                cause: transport_cause(&error),
            },
        }
    }
}

pub(crate) enum BodyFailure {
    TooLarge { seen: u64 },
    Broken(reqwest::Error),
}

impl std::fmt::Display for BodyFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyFailure::TooLarge { seen } => {
                write!(formatter, "the answer is too large ({seen} bytes and more)")
            }
            BodyFailure::Broken(error) => write!(formatter, "{}", transport_cause(error)),
        }
    }
}

/// Reads a body up to `cap` bytes; a longer one (by its Content-Length or as it streams in)
/// is read no further.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyFailure> {
    if let Some(length) = response.content_length() {
        if length > cap as u64 {
            return Err(BodyFailure::TooLarge { seen: length });
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyFailure::Broken)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyFailure::TooLarge {
                seen: (body.len() + chunk.len()) as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What came back from one attempt.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// The connection could not be made: nothing reached Pipedrive.
    NotDelivered { cause: String },
    /// Sent, but no answer came (timeout, reset): it may have been carried out.
    NoAnswer { cause: String },
    /// The answer began and broke off before its body was read.
    BrokenAnswer { cause: String },
    /// The answer was longer than `limit` bytes (`seen` and more) and was not read.
    TooLarge { limit: usize, seen: u64 },
    Answered {
        status: StatusCode,
        headers: RateLimitHeaders,
        /// Lowercase.
        content_type: String,
        body: Vec<u8>,
    },
}

impl Reply {
    /// The body of an answer; empty when nothing was answered.
    fn into_body(self) -> Vec<u8> {
        match self {
            Reply::Answered { body, .. } => body,
            _ => Vec::new(),
        }
    }

    /// The answer's status ("200", "429", ...), or what came instead ("not-delivered",
    /// "no-answer", "broken-answer"), for the request counts by status.
    fn answer_class(&self) -> String {
        match self {
            Reply::NotDelivered { .. } => "not-delivered".to_string(),
            Reply::NoAnswer { .. } => "no-answer".to_string(),
            Reply::BrokenAnswer { .. } => "broken-answer".to_string(),
            Reply::TooLarge { .. } => "too-large".to_string(),
            Reply::Answered { status, .. } => status.as_u16().to_string(),
        }
    }
}

/// What one call has met so far, and what it may still do.
#[derive(Debug, Clone)]
pub(crate) struct AttemptsSoFar {
    pub replay: Replay,
    /// Failed attempts (5xx, lost or broken answers) so far.
    pub failures: u32,
    /// Retries allowed after the first attempt.
    pub retries: u32,
    /// 429s of the burst window so far.
    pub answers_429: u32,
    /// OAuth credentials not renewed yet in this call: a 401 may be cured once.
    pub may_renew_credentials: bool,
    /// How long until the daily budget resets (for a daily-budget 429 that names no time).
    pub until_budget_reset: Duration,
}

impl AttemptsSoFar {
    pub fn first(replay: Replay, retries: u32, may_renew_credentials: bool) -> AttemptsSoFar {
        AttemptsSoFar {
            replay,
            failures: 0,
            retries,
            answers_429: 0,
            may_renew_credentials,
            until_budget_reset: Duration::ZERO,
        }
    }
}

/// What the call does next.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A 2xx with a JSON body.
    Success,
    /// Send again after the retry policy's backoff for `failures` (a 5xx, a lost or broken
    /// answer of a replay-safe call, or one that never left).
    Backoff,
    /// A burst 429: send again (already paid for) once the lane's wait is over.
    AfterBurstWait,
    /// A 401 with OAuth: refresh the access token, then send again.
    RenewCredentials,
    GiveUp(PipedriveError),
}

/// What the governor must hear about an answer, whatever the call does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GovernorNote {
    Nothing,
    /// A 2xx: the server's rate-limit headers.
    Observe(RateLimitHeaders),
    /// A 429 (counted, and the lane or the whole company waits).
    TooManyRequests(TooManyRequests),
    /// A 403 that is not Pipedrive's: stop the connection.
    Stop {
        detail: String,
    },
}

#[derive(Debug)]
pub(crate) struct Classified {
    pub verdict: Verdict,
    pub governor: GovernorNote,
}

/// Decides what one attempt's reply means: pure, so every answer can be tried in a test. A
/// call that is not safe to replay (a create) is never sent again once it may have reached
/// Pipedrive: a lost or broken answer, a 5xx or an unreadable 2xx is `OutcomeUnknown`.
pub(crate) fn classify(reply: &Reply, so_far: &AttemptsSoFar, endpoint: &str) -> Classified {
    let endpoint = endpoint.to_string();
    let retry_or = |error: PipedriveError| {
        if so_far.failures >= so_far.retries {
            Verdict::GiveUp(error)
        } else {
            Verdict::Backoff
        }
    };
    let unknown_or = |cause: String, error: PipedriveError| {
        if so_far.replay == Replay::Unsafe {
            Verdict::GiveUp(PipedriveError::OutcomeUnknown {
                endpoint: endpoint.clone(),
                cause,
            })
        } else {
            retry_or(error)
        }
    };
    let only = |verdict: Verdict| Classified {
        verdict,
        governor: GovernorNote::Nothing,
    };
    let http_error = |message: String| PipedriveError::Http {
        endpoint: endpoint.clone(),
        message,
        attempts: so_far.failures + 1,
    };
    let (status, headers, content_type, body) = match reply {
        // Nothing reached Pipedrive, so even a create may go again.
        Reply::NotDelivered { cause } => return only(retry_or(http_error(cause.clone()))),
        Reply::NoAnswer { cause } => {
            return only(unknown_or(cause.clone(), http_error(cause.clone())))
        }
        Reply::BrokenAnswer { cause } => {
            return only(unknown_or(
                format!("the answer broke off: {cause}"),
                http_error(cause.clone()),
            ))
        }
        // Sending it again brings the same answer; a create it answered may have been done.
        Reply::TooLarge { limit, seen } => {
            let error = PipedriveError::ResponseTooLarge {
                endpoint: endpoint.clone(),
                limit_mib: limit / (1024 * 1024),
                seen: *seen,
            };
            let verdict = if so_far.replay == Replay::Unsafe {
                Verdict::GiveUp(PipedriveError::OutcomeUnknown {
                    endpoint: endpoint.clone(),
                    cause: error.to_string(),
                })
            } else {
                Verdict::GiveUp(error)
            };
            return only(verdict);
        }
        Reply::Answered {
            status,
            headers,
            content_type,
            body,
        } => (*status, headers, content_type, body),
    };
    if status.is_success() {
        // Checked, not built: the caller decodes the body into its own type.
        let verdict = match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Verdict::Success,
            Err(error) => {
                let message = format!("HTTP {status} with a body that is not JSON ({error})");
                unknown_or(
                    message.clone(),
                    PipedriveError::Malformed {
                        endpoint: endpoint.clone(),
                        message,
                    },
                )
            }
        };
        return Classified {
            verdict,
            governor: GovernorNote::Observe(*headers),
        };
    }
    let message = error_message(body);
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            let too_many = TooManyRequests::read(headers, so_far.until_budget_reset);
            let verdict = match too_many {
                TooManyRequests::DailyBudget {
                    retry_after_secs, ..
                } => Verdict::GiveUp(PipedriveError::CompanyBudgetExhausted {
                    endpoint,
                    retry_after_secs,
                }),
                TooManyRequests::WaitBurst(_) if so_far.answers_429 + 1 >= MAX_429_PER_CALL => {
                    Verdict::GiveUp(PipedriveError::RateLimited {
                        endpoint,
                        attempts: so_far.answers_429 + 1,
                    })
                }
                TooManyRequests::WaitBurst(_) => Verdict::AfterBurstWait,
            };
            Classified {
                verdict,
                governor: GovernorNote::TooManyRequests(too_many),
            }
        }
        StatusCode::FORBIDDEN => {
            let is_html = content_type.contains("html");
            let is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
            if is_json && !is_html {
                if message.to_ascii_lowercase().contains("scope") {
                    return only(Verdict::GiveUp(PipedriveError::ScopeMissing {
                        endpoint,
                        message,
                    }));
                }
                return only(Verdict::GiveUp(PipedriveError::PermissionDenied {
                    endpoint,
                    message,
                }));
            }
            let detail = if is_html {
                "an HTML block page (Cloudflare) after repeated 429s".to_string()
            } else {
                format!("a non-JSON 403: {message}")
            };
            Classified {
                verdict: Verdict::GiveUp(PipedriveError::Forbidden403 {
                    endpoint,
                    detail: detail.clone(),
                }),
                governor: GovernorNote::Stop { detail },
            }
        }
        StatusCode::UNAUTHORIZED if so_far.may_renew_credentials => only(Verdict::RenewCredentials),
        StatusCode::UNAUTHORIZED => only(Verdict::GiveUp(PipedriveError::Unauthorized {
            endpoint,
            message,
        })),
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            only(Verdict::GiveUp(PipedriveError::NotFound { endpoint }))
        }
        status if status.is_server_error() => {
            let message = format!("HTTP {status}: {message}");
            only(unknown_or(message.clone(), http_error(message)))
        }
        status => only(Verdict::GiveUp(PipedriveError::Validation {
            status: status.as_u16(),
            message,
            endpoint,
        })),
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

    use proptest::prelude::*;

    fn answered(status: u16, content_type: &str, body: &[u8]) -> Reply {
        Reply::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            headers: RateLimitHeaders::default(),
            content_type: content_type.to_string(),
            body: body.to_vec(),
        }
    }

    fn fresh(replay: Replay) -> AttemptsSoFar {
        AttemptsSoFar {
            until_budget_reset: Duration::from_secs(3600),
            ..AttemptsSoFar::first(replay, 5, true)
        }
    }

    fn verdict(reply: &Reply, so_far: &AttemptsSoFar) -> Verdict {
        classify(reply, so_far, "POST /api/v2/organizations").verdict
    }

    fn any_headers() -> impl Strategy<Value = RateLimitHeaders> {
        (
            proptest::option::of(0u32..100),
            proptest::option::of(0u32..100),
            proptest::option::of(0u64..10),
            proptest::option::of(0u64..100_000),
            proptest::option::of(0u64..3),
        )
            .prop_map(
                |(limit, remaining, reset_secs, retry_after_secs, daily_token_remaining)| {
                    RateLimitHeaders {
                        limit,
                        remaining,
                        reset_secs,
                        retry_after_secs,
                        daily_token_remaining,
                        writes_left: None,
                    }
                },
            )
    }

    fn any_reply() -> impl Strategy<Value = Reply> {
        let body = prop_oneof![
            Just(br#"{"success":true,"data":{"id":1}}"#.to_vec()),
            Just(br#"{"success":false,"error":"Validation failed"}"#.to_vec()),
            Just(b"<html>blocked</html>".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..64),
        ];
        let content_type = prop_oneof![
            Just("application/json".to_string()),
            Just("text/html; charset=utf-8".to_string()),
            Just(String::new()),
        ];
        prop_oneof![
            ".{0,20}".prop_map(|cause| Reply::NotDelivered { cause }),
            ".{0,20}".prop_map(|cause| Reply::NoAnswer { cause }),
            ".{0,20}".prop_map(|cause| Reply::BrokenAnswer { cause }),
            (1usize..64, 0u64..1_000).prop_map(|(limit, seen)| Reply::TooLarge { limit, seen }),
            (
                prop_oneof![
                    Just(200u16),
                    Just(201),
                    Just(401),
                    Just(403),
                    Just(404),
                    Just(429),
                    Just(500),
                    Just(503),
                    100u16..600
                ],
                any_headers(),
                content_type,
                body
            )
                .prop_map(|(status, headers, content_type, body)| Reply::Answered {
                    status: StatusCode::from_u16(status).unwrap(),
                    headers,
                    content_type,
                    body,
                }),
        ]
    }

    fn any_attempts() -> impl Strategy<Value = AttemptsSoFar> {
        (
            prop_oneof![Just(Replay::Safe), Just(Replay::Unsafe)],
            0u32..8,
            0u32..8,
            0u32..4,
            any::<bool>(),
            0u64..100_000,
        )
            .prop_map(
                |(replay, failures, retries, answers_429, may_renew_credentials, reset)| {
                    AttemptsSoFar {
                        replay,
                        failures,
                        retries,
                        answers_429,
                        may_renew_credentials,
                        until_budget_reset: Duration::from_secs(reset),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn a_create_is_sent_again_only_when_it_never_reached_pipedrive(reply in any_reply(), so_far in any_attempts()) {
            let so_far = AttemptsSoFar { replay: Replay::Unsafe, ..so_far };
            if let Verdict::Backoff = verdict(&reply, &so_far) {
                prop_assert!(matches!(reply, Reply::NotDelivered { .. }), "{reply:?}");
            }
        }

        #[test]
        fn a_lost_or_unreadable_answer_to_a_create_is_an_unknown_outcome(reply in any_reply(), so_far in any_attempts()) {
            let so_far = AttemptsSoFar { replay: Replay::Unsafe, ..so_far };
            let may_have_happened = match &reply {
                Reply::NotDelivered { .. } => false,
                Reply::NoAnswer { .. } | Reply::BrokenAnswer { .. } | Reply::TooLarge { .. } => true,
                Reply::Answered { status, body, .. } => {
                    status.is_server_error()
                        || (status.is_success() && serde_json::from_slice::<serde_json::Value>(body).is_err())
                }
            };
            if may_have_happened {
                let outcome_unknown = matches!(verdict(&reply, &so_far), Verdict::GiveUp(PipedriveError::OutcomeUnknown { .. }));
                prop_assert!(outcome_unknown);
            }
        }

        #[test]
        fn the_limits_of_one_call_are_kept(reply in any_reply(), so_far in any_attempts()) {
            match verdict(&reply, &so_far) {
                Verdict::Backoff => prop_assert!(so_far.failures < so_far.retries),
                Verdict::AfterBurstWait => prop_assert!(so_far.answers_429 + 1 < MAX_429_PER_CALL),
                Verdict::RenewCredentials => prop_assert!(so_far.may_renew_credentials),
                Verdict::Success | Verdict::GiveUp(_) => {}
            }
        }

        #[test]
        fn the_governor_hears_every_2xx_and_every_429(reply in any_reply(), so_far in any_attempts()) {
            let Classified { verdict, governor } = classify(&reply, &so_far, "GET /x");
            if let Reply::Answered { status, headers, body, .. } = &reply {
                if status.is_success() {
                    prop_assert_eq!(governor, GovernorNote::Observe(*headers));
                    let is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
                    prop_assert_eq!(matches!(verdict, Verdict::Success), is_json);
                } else if *status == StatusCode::TOO_MANY_REQUESTS {
                    prop_assert!(matches!(governor, GovernorNote::TooManyRequests(_)));
                    let waits_or_defers = matches!(verdict, Verdict::AfterBurstWait)
                        || matches!(&verdict, Verdict::GiveUp(error) if error.is_deferred());
                    prop_assert!(waits_or_defers);
                }
            } else {
                prop_assert_eq!(governor, GovernorNote::Nothing);
            }
        }

        #[test]
        fn any_run_of_answers_ends_within_the_bounded_attempts(
            replies in proptest::collection::vec(any_reply(), 1..12),
            replay in prop_oneof![Just(Replay::Safe), Just(Replay::Unsafe)],
            retries in 0u32..6,
        ) {
            let mut so_far = AttemptsSoFar::first(replay, retries, true);
            let bound = retries + MAX_429_PER_CALL + 2;
            let mut attempts = 0;
            loop {
                attempts += 1;
                prop_assert!(attempts <= bound, "{attempts} attempts");
                let reply = &replies[(attempts as usize - 1) % replies.len()];
                match verdict(reply, &so_far) {
                    Verdict::Success | Verdict::GiveUp(_) => break,
                    Verdict::Backoff => so_far.failures += 1,
                    Verdict::AfterBurstWait => so_far.answers_429 += 1,
                    Verdict::RenewCredentials => so_far.may_renew_credentials = false,
                }
            }
        }
    }

    #[test]
    fn statuses_give_the_errors_that_name_what_to_do() {
        let so_far = fresh(Replay::Safe);
        let json = br#"{"success":false,"error":"nope"}"#;
        assert!(matches!(
            verdict(&answered(400, "application/json", json), &so_far),
            Verdict::GiveUp(PipedriveError::Validation { status: 400, .. })
        ));
        assert!(matches!(
            verdict(&answered(410, "application/json", json), &so_far),
            Verdict::GiveUp(PipedriveError::NotFound { .. })
        ));
        let denied = classify(&answered(403, "application/json", json), &so_far, "GET /x");
        assert!(matches!(
            denied.verdict,
            Verdict::GiveUp(PipedriveError::PermissionDenied { .. })
        ));
        assert_eq!(
            denied.governor,
            GovernorNote::Nothing,
            "a permission is not a block"
        );
        let scope = br#"{"success":false,"error":"Scope and URL mismatch","errorCode":403}"#;
        assert!(matches!(
            verdict(&answered(403, "application/json", scope), &so_far),
            Verdict::GiveUp(PipedriveError::ScopeMissing { .. })
        ));
        let blocked = classify(&answered(403, "text/html", b"<html>"), &so_far, "GET /x");
        assert!(matches!(
            blocked.verdict,
            Verdict::GiveUp(PipedriveError::Forbidden403 { .. })
        ));
        assert!(matches!(blocked.governor, GovernorNote::Stop { .. }));
        assert!(matches!(
            verdict(&answered(401, "application/json", json), &so_far),
            Verdict::RenewCredentials
        ));
        let renewed = AttemptsSoFar {
            may_renew_credentials: false,
            ..fresh(Replay::Safe)
        };
        assert!(matches!(
            verdict(&answered(401, "application/json", json), &renewed),
            Verdict::GiveUp(PipedriveError::Unauthorized { .. })
        ));
    }

    #[test]
    fn a_5xx_is_retried_for_a_read_and_unknown_for_a_create() {
        let reply = answered(502, "text/html", b"bad gateway");
        assert!(matches!(
            verdict(&reply, &fresh(Replay::Safe)),
            Verdict::Backoff
        ));
        assert!(matches!(
            verdict(&reply, &fresh(Replay::Unsafe)),
            Verdict::GiveUp(PipedriveError::OutcomeUnknown { .. })
        ));
        let spent = AttemptsSoFar {
            failures: 5,
            ..fresh(Replay::Safe)
        };
        assert!(matches!(
            verdict(&reply, &spent),
            Verdict::GiveUp(PipedriveError::Http { attempts: 6, .. })
        ));
        let never_sent = Reply::NotDelivered {
            cause: "cannot connect".into(),
        };
        assert!(matches!(
            verdict(&never_sent, &fresh(Replay::Unsafe)),
            Verdict::Backoff
        ));
    }

    #[test]
    fn a_daily_budget_429_defers_and_a_burst_429_waits_until_the_third() {
        let daily = Reply::Answered {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: RateLimitHeaders {
                daily_token_remaining: Some(0),
                ..RateLimitHeaders::default()
            },
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
        };
        match verdict(&daily, &fresh(Replay::Safe)) {
            Verdict::GiveUp(error @ PipedriveError::CompanyBudgetExhausted { .. }) => {
                assert!(error.is_deferred());
                assert!(matches!(
                    error,
                    PipedriveError::CompanyBudgetExhausted {
                        retry_after_secs: 3600,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        let burst = answered(429, "application/json", b"{}");
        assert!(matches!(
            verdict(&burst, &fresh(Replay::Unsafe)),
            Verdict::AfterBurstWait
        ));
        // No daily headers and no Retry-After (both optional): a window that still had room
        // did not refuse it, so it is the day's limit, never retried into Cloudflare's block.
        let budget_without_daily_headers = Reply::Answered {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: RateLimitHeaders {
                limit: Some(40),
                remaining: Some(31),
                reset_secs: Some(2),
                ..RateLimitHeaders::default()
            },
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
        };
        assert!(matches!(
            verdict(&budget_without_daily_headers, &fresh(Replay::Safe)),
            Verdict::GiveUp(PipedriveError::CompanyBudgetExhausted {
                retry_after_secs: 3600,
                ..
            })
        ));
        let third = AttemptsSoFar {
            answers_429: 2,
            ..fresh(Replay::Safe)
        };
        assert!(matches!(
            verdict(&burst, &third),
            Verdict::GiveUp(PipedriveError::RateLimited { attempts: 3, .. })
        ));
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
