//! Injected faults, settable at run time through `/_sim/faults` or [`crate::SimHandle`]:
//! server errors before the request is processed, added latency, and three faults after the
//! request was processed (so a write has happened that the client does not learn about):
//! a response that never comes, a reset connection, a malformed JSON body.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share of requests answered 500/502/503 before they are processed.
    pub error_rate: f64,
    /// Milliseconds added to every affected request.
    pub latency_ms: u64,
    /// Share of requests processed and then never answered.
    pub timeout_rate: f64,
    /// Share of requests processed and then answered by closing the connection.
    pub reset_rate: f64,
    /// Share of requests processed and then answered with a truncated JSON body.
    pub malformed_rate: f64,
    /// Only requests with one of these methods are affected (empty: all), e.g. `["POST"]`.
    pub methods: Vec<String>,
    /// Only requests whose path contains this text are affected (empty: all).
    pub path_contains: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFault {
    Timeout,
    Reset,
    Malformed,
}

#[derive(Debug, Default)]
pub struct FaultPlan {
    pub latency: Option<Duration>,
    pub error_status: Option<u16>,
    pub after: Option<AfterFault>,
}

pub struct FaultState {
    pub settings: FaultSettings,
    rng: ChaCha8Rng,
}

impl FaultState {
    pub fn new(rng: ChaCha8Rng) -> Self {
        FaultState {
            settings: FaultSettings::default(),
            rng,
        }
    }

    pub fn is_quiet(&self) -> bool {
        self.settings == FaultSettings::default()
    }

    pub fn plan(&mut self, method: &str, path: &str) -> FaultPlan {
        let settings = &self.settings;
        if !settings.methods.is_empty()
            && !settings
                .methods
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(method))
        {
            return FaultPlan::default();
        }
        if !settings.path_contains.is_empty() && !path.contains(&settings.path_contains) {
            return FaultPlan::default();
        }
        let mut plan = FaultPlan {
            latency: (settings.latency_ms > 0).then(|| Duration::from_millis(settings.latency_ms)),
            ..FaultPlan::default()
        };
        if settings.error_rate > 0.0 && self.rng.gen_bool(settings.error_rate.clamp(0.0, 1.0)) {
            plan.error_status = Some([500, 502, 503][self.rng.gen_range(0..3)]);
            return plan;
        }
        let roll: f64 = self.rng.gen();
        let (timeout, reset, malformed) = (
            settings.timeout_rate,
            settings.reset_rate,
            settings.malformed_rate,
        );
        plan.after = if roll < timeout {
            Some(AfterFault::Timeout)
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
