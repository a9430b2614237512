//! Shared state of a running simulator: the data behind a lock, the call statistics, the fault
//! settings, and logon checks (HTTP Basic with user, password and client).

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use mlc_sim_support::{CancellationToken, FaultInjector, FaultPlan, FaultSettings};
use serde::{Deserialize, Serialize};

use crate::generate::GenerationSettings;
use crate::model::EccData;
use crate::options::SimEccOptions;
use crate::truth::TruthScope;

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

pub struct SimState {
    pub options: SimEccOptions,
    pub generation: GenerationSettings,
    pub scope: TruthScope,
    pub timezone: chrono_tz::Tz,
    pub data: RwLock<EccData>,
    pub stats: Mutex<SimStats>,
    pub faults: Mutex<FaultInjector>,
    /// Cancelled when the server stops: ends answers held back by an injected timeout.
    pub stopping: CancellationToken,
}

impl SimState {
    pub fn new(
        options: SimEccOptions,
        data: EccData,
        generation: GenerationSettings,
        scope: TruthScope,
        timezone: chrono_tz::Tz,
        stopping: CancellationToken,
    ) -> Self {
        let seed = options.seed;
        Self {
            options,
            generation,
            scope,
            timezone,
            data: RwLock::new(data),
            stats: Mutex::new(SimStats::default()),
            faults: Mutex::new(FaultInjector::new(seed ^ 0xfa17)),
            stopping,
        }
    }

    /// Now on the simulated host's clock (`--clock-offset-secs` from the real time).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.options.clock_offset_secs)
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

    /// Draws the fault for one request (see `mlc_sim_support`'s fault vocabulary) and waits
    /// out its latency.
    pub async fn injected_fault(&self, method: &str, path: &str) -> FaultPlan {
        let plan = lock(&self.faults).plan(method, path);
        if let Some(latency) = plan.latency {
            tokio::time::sleep(latency).await;
        }
        if plan.is_fault() {
            self.count_fault();
        }
        plan
    }

    /// The answer to a processed request, spoiled as the drawn fault says.
    pub async fn deliver(&self, plan: FaultPlan, response: Response) -> Response {
        match plan.after {
            None => response,
            Some(after) => {
                after
                    .apply(response, self.stopping.clone().cancelled_owned())
                    .await
            }
        }
    }

    fn count_fault(&self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.faults_injected += 1;
        }
    }

    pub fn set_faults(&self, settings: FaultSettings) {
        lock(&self.faults).set(settings);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SAP's answer to a failed logon: 401 with an HTML page.
pub fn unauthorized(client: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, format!("Basic realm=\"SAP NetWeaver Application Server [ECC/{client}]\"")),
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        ],
        "<html><head><title>Logon Error Message</title></head><body><h1>Anmeldung fehlgeschlagen</h1><p>Logon failed</p></body></html>",
    )
        .into_response()
}

/// What the ICF answers for a service switched off in SICF: HTTP 403 with its error page, before
/// any logon.
pub fn service_not_active(path: &str) -> Response {
    let page = format!(
        "<html><head><title>Service cannot be reached</title></head><body>\
         <h2>Service cannot be reached</h2><p><b>What has happened?</b></p>\
         <p>URL http://ecc{path} call was terminated because the corresponding service is not \
         available.</p><p>Note: The termination occurred in system ECC with error code 403 and \
         for the reason Forbidden.</p><p>Error: Service is not active</p></body></html>"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}
