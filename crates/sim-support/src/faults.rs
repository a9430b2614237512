//! One vocabulary of injected faults for both simulators, set at run time through
//! `POST /_sim/faults` (or the in-process handles). Each request draws its fate once:
//!
//! - `error_rate`: answered with a server error *before* it is processed (nothing is written);
//!   `error_status` sets its status (default one of 500, 502, 503; a 4xx such as 400 stands
//!   for a refusal about the record);
//! - `latency_ms`: added before every affected request;
//! - `timeout_rate`: processed, then the answer is held back, so it never comes within the
//!   client's timeout: for `timeout_ms` milliseconds when set, otherwise until the simulator
//!   stops (at most an hour). A client that waits longer than `timeout_ms` gets the answer;
//! - `reset_rate`: processed, then the connection is broken instead of the body being sent;
//! - `malformed_rate` (also accepted as `truncate_rate`): processed, then the body is cut in
//!   half, as a dropped connection would leave it;
//! - `methods`, `path_contains`: only requests with one of these methods and a path containing
//!   this text are affected (empty: all).
//!
//! The three after-processing faults leave a write done that the client does not learn about.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The fault rates and filters; `{}` (the default) is no fault at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share of requests answered with a server error before they are processed.
    pub error_rate: f64,
    /// The status those are answered with; by default one of 500, 502 and 503 (an outage).
    /// A 4xx here makes a refusal about the record instead, e.g. 400.
    pub error_status: Option<u16>,
    /// Milliseconds added before every affected request.
    pub latency_ms: u64,
    /// Share of requests processed and then not answered within the client's timeout.
    pub timeout_rate: f64,
    /// How long such an answer is held back; 0: until the simulator stops (at most an hour).
    pub timeout_ms: u64,
    /// Share of requests processed and then answered by breaking the connection.
    pub reset_rate: f64,
    /// Share of requests processed and then answered with the body cut in half.
    #[serde(alias = "truncate_rate")]
    pub malformed_rate: f64,
    /// Only requests with one of these methods are affected (empty: all), e.g. `["POST"]`.
    pub methods: Vec<String>,
    /// Only requests whose path contains this text are affected (empty: all).
    pub path_contains: String,
}

/// The longest an answer is held back when `timeout_ms` is 0.
const HOLD_AT_MOST: Duration = Duration::from_secs(3600);

impl FaultSettings {
    /// Reads a `POST /_sim/faults` body. Unknown keys and rates outside 0..=1 are refused with
    /// a message naming the key, so a typo does not silently inject nothing.
    pub fn from_json(body: &[u8]) -> Result<FaultSettings, String> {
        let settings: FaultSettings = serde_json::from_slice(body)
            .map_err(|error| format!("invalid fault settings: {error}"))?;
        for (name, rate) in [
            ("error_rate", settings.error_rate),
            ("timeout_rate", settings.timeout_rate),
            ("reset_rate", settings.reset_rate),
            ("malformed_rate", settings.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        Ok(settings)
    }

    fn applies_to(&self, method: &str, path: &str) -> bool {
        let method_chosen = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(method));
        let path_chosen = self.path_contains.is_empty() || path.contains(&self.path_contains);
        method_chosen && path_chosen
    }
}

/// What happens to a processed request instead of a plain answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFault {
    /// The answer is held back this long (`None`: until the simulator stops).
    Timeout { answer_after: Option<Duration> },
    /// The connection breaks where the body would be.
    Reset,
    /// The body is cut in half.
    Malformed,
}

/// The fate of one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Wait this long before handling the request.
    pub latency: Option<Duration>,
    /// Answer this error (500, 502 or 503, or the configured status) without processing the
    /// request.
    pub error_status: Option<u16>,
    /// Process the request, then spoil its answer this way.
    pub after: Option<AfterFault>,
}

impl FaultPlan {
    /// Whether a fault (not just latency) was drawn, for the simulators' statistics.
    pub fn is_fault(&self) -> bool {
        self.error_status.is_some() || self.after.is_some()
    }
}

/// The current settings and the seeded random source the fates are drawn from, so a run with
/// the same seed and the same requests meets the same faults.
pub struct FaultInjector {
    settings: FaultSettings,
    rng: ChaCha8Rng,
}

impl FaultInjector {
    pub fn new(seed: u64) -> Self {
        FaultInjector {
            settings: FaultSettings::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn settings(&self) -> &FaultSettings {
        &self.settings
    }

    pub fn set(&mut self, settings: FaultSettings) {
        self.settings = settings;
    }

    /// Draws the fate of one request.
    pub fn plan(&mut self, method: &str, path: &str) -> FaultPlan {
        let settings = &self.settings;
        if *settings == FaultSettings::default() || !settings.applies_to(method, path) {
            return FaultPlan::default();
        }
        let mut plan = FaultPlan {
            latency: (settings.latency_ms > 0).then(|| Duration::from_millis(settings.latency_ms)),
            ..FaultPlan::default()
        };
        if settings.error_rate > 0.0 && self.rng.gen_bool(settings.error_rate.clamp(0.0, 1.0)) {
            let drawn = [500, 502, 503][self.rng.gen_range(0..3)];
            plan.error_status = Some(settings.error_status.unwrap_or(drawn));
            return plan;
        }
        let roll: f64 = self.rng.gen();
        let (timeout, reset, malformed) = (
            settings.timeout_rate,
            settings.reset_rate,
            settings.malformed_rate,
        );
        plan.after = if roll < timeout {
            Some(AfterFault::Timeout {
                answer_after: (settings.timeout_ms > 0)
                    .then(|| Duration::from_millis(settings.timeout_ms)),
            })
        } else if roll < timeout + reset {
            Some(AfterFault::Reset)
        } else if roll < timeout + reset + malformed {
            Some(AfterFault::Malformed)
        } else {
            None
        };
        plan
    }
}

impl AfterFault {
    /// Spoils the answer to a processed request. `stopping` ends a held-back answer early, so
    /// a simulator that shuts down does not wait for it.
    pub async fn apply(self, response: Response, stopping: impl Future<Output = ()>) -> Response {
        match self {
            AfterFault::Timeout { answer_after } => {
                tokio::select! {
                    _ = tokio::time::sleep(answer_after.unwrap_or(HOLD_AT_MOST)) => {}
                    _ = stopping => {}
                }
                response
            }
            AfterFault::Reset => {
                let (mut parts, _) = response.into_parts();
                let failing = futures::stream::once(async {
                    Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "simulated connection reset",
                    ))
                });
                parts.headers.remove(axum::http::header::CONTENT_LENGTH);
                Response::from_parts(parts, Body::from_stream(failing))
            }
            AfterFault::Malformed => {
                let (mut parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                parts.headers.remove(axum::http::header::CONTENT_LENGTH);
                Response::from_parts(parts, Body::from(first_half(&bytes)))
            }
        }
    }
}

/// The first half of a body, cut on a character boundary so a text body stays valid UTF-8.
fn first_half(bytes: &bytes::Bytes) -> bytes::Bytes {
    let mut cut = bytes.len() / 2;
    while cut > 0 && bytes.get(cut).is_some_and(|byte| byte & 0xC0 == 0x80) {
        cut -= 1;
    }
    bytes.slice(0..cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_settings_no_fault() {
        let mut injector = FaultInjector::new(1);
        assert_eq!(injector.plan("POST", "/x"), FaultPlan::default());
    }

    #[test]
    fn filters_choose_the_requests_hit() {
        let mut injector = FaultInjector::new(1);
        injector.set(FaultSettings {
            error_rate: 1.0,
            methods: vec!["post".into()],
            path_contains: "/organizations".into(),
            ..FaultSettings::default()
        });
        assert!(injector
            .plan("POST", "/api/v2/organizations")
            .error_status
            .is_some());
        assert!(!injector.plan("GET", "/api/v2/organizations").is_fault());
        assert!(!injector.plan("POST", "/api/v2/persons").is_fault());
    }

    #[test]
    fn a_timeout_is_held_as_long_as_asked_or_until_stopped() {
        let mut injector = FaultInjector::new(1);
        injector.set(FaultSettings {
            timeout_rate: 1.0,
            timeout_ms: 300,
            ..FaultSettings::default()
        });
        assert_eq!(
            injector.plan("GET", "/").after,
            Some(AfterFault::Timeout {
                answer_after: Some(Duration::from_millis(300))
            })
        );
        injector.set(FaultSettings {
            timeout_rate: 1.0,
            ..FaultSettings::default()
        });
        assert_eq!(
            injector.plan("GET", "/").after,
            Some(AfterFault::Timeout { answer_after: None })
        );
    }

    #[test]
    fn bodies_are_read_strictly() {
        assert_eq!(
            FaultSettings::from_json(br#"{"truncate_rate": 1.0}"#)
                .unwrap()
                .malformed_rate,
            1.0
        );
        assert!(FaultSettings::from_json(br#"{"eror_rate": 0.5}"#)
            .unwrap_err()
            .contains("eror_rate"));
        assert!(FaultSettings::from_json(br#"{"error_rate": 2}"#)
            .unwrap_err()
            .contains("error_rate"));
        assert_eq!(
            FaultSettings::from_json(b"{}").unwrap(),
            FaultSettings::default()
        );
    }

    #[test]
    fn a_cut_body_stays_text() {
        let body = bytes::Bytes::from("aäää");
        assert!(std::str::from_utf8(&first_half(&body)).is_ok());
    }
}
