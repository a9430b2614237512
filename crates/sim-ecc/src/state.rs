//! Shared state of a running simulator: the data behind a lock, the call statistics, the fault
//! settings, and logon checks (HTTP Basic with user, password and client).

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::generate::GenerationSettings;
use crate::model::EccData;
use crate::truth::TruthScope;
use crate::SimEccOptions;

/// What `GET /_sim/stats` reports.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SimStats {
    pub requests: u64,
    pub unauthorized: u64,
    pub calls_by_function: BTreeMap<String, u64>,
    pub calls_by_table: BTreeMap<String, u64>,
    pub calls_by_entity_set: BTreeMap<String, u64>,
    pub rows_returned: u64,
    pub faults_injected: u64,
}

/// Faults injected into SOAP and OData responses at run time (`POST /_sim/faults`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    /// Share of requests answered with HTTP 500 (a SOAP fault SYSTEM_FAILURE, or an OData error).
    pub error_rate: f64,
    /// Added to every response.
    pub latency_ms: u64,
    /// Share of requests that hang for `timeout_ms` before being answered.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// Share of responses whose body is cut in half.
    pub truncate_rate: f64,
}

/// The fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Error,
    Truncate,
}

pub struct SimState {
    pub options: SimEccOptions,
    pub generation: GenerationSettings,
    pub scope: TruthScope,
    pub timezone: chrono_tz::Tz,
    pub data: RwLock<EccData>,
    pub stats: Mutex<SimStats>,
    pub faults: Mutex<(FaultSettings, ChaCha8Rng)>,
}

impl SimState {
    pub fn new(
        options: SimEccOptions,
        data: EccData,
        generation: GenerationSettings,
        scope: TruthScope,
        timezone: chrono_tz::Tz,
    ) -> Self {
        let seed = options.seed;
        Self {
            options,
            generation,
            scope,
            timezone,
            data: RwLock::new(data),
            stats: Mutex::new(SimStats::default()),
            faults: Mutex::new((
                FaultSettings::default(),
                ChaCha8Rng::seed_from_u64(seed ^ 0xfa17),
            )),
        }
    }

    pub fn read_data(&self) -> std::sync::RwLockReadGuard<'_, EccData> {
        self.data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write_data(&self) -> std::sync::RwLockWriteGuard<'_, EccData> {
        self.data
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn count_request(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.requests += 1;
        }
    }

    /// Checks HTTP Basic credentials and the client; a wrong client is a logon failure.
    pub fn authorized(&self, authorization: Option<&str>, client: Option<&str>) -> bool {
        if let Some(client) = client {
            if client.trim() != self.options.client {
                return false;
            }
        }
        let Some(encoded) = authorization.and_then(|value| value.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(credentials) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = credentials.split_once(':') else {
            return false;
        };
        user.eq_ignore_ascii_case(&self.options.user) && password == self.options.password
    }

    /// Applies latency and timeouts, and picks the fault for this request.
    pub async fn injected_fault(&self) -> Fault {
        let (settings, error_roll, timeout_roll, truncate_roll) = {
            let Ok(mut guard) = self.faults.lock() else {
                return Fault::None;
            };
            let settings = guard.0.clone();
            let rng = &mut guard.1;
            (
                settings,
                rng.gen::<f64>(),
                rng.gen::<f64>(),
                rng.gen::<f64>(),
            )
        };
        if settings.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(settings.latency_ms)).await;
        }
        if timeout_roll < settings.timeout_rate {
            self.count_fault();
            tokio::time::sleep(std::time::Duration::from_millis(settings.timeout_ms.max(1))).await;
        }
        if error_roll < settings.error_rate {
            self.count_fault();
            return Fault::Error;
        }
        if truncate_roll < settings.truncate_rate {
            self.count_fault();
            return Fault::Truncate;
        }
        Fault::None
    }

    fn count_fault(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.faults_injected += 1;
        }
    }

    pub fn set_faults(&self, settings: FaultSettings) {
        if let Ok(mut guard) = self.faults.lock() {
            guard.0 = settings;
        }
    }
}

/// Cuts a body in half on a character boundary, as a dropped connection would.
pub fn truncate_body(body: &str) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body[..cut].to_string()
}
