//! Shared by the integration tests: a ledger and a vault, a config, the spec checks.

#![allow(dead_code)]

// The OpenAPI checks are the workspace's one harness.
pub use mlc_spec_check as spec;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::{PipedriveAuth, PipedriveConfig, PipedrivePlan, Secret};
use mlc_pipedrive::ClientStorage;

/// A fresh token ledger and secret vault, in memory.
pub fn store() -> ClientStorage {
    ClientStorage::in_memory()
}

pub fn api_token_config(base_url: &str, token: &str, plan: PipedrivePlan) -> PipedriveConfig {
    PipedriveConfig {
        base_url: base_url.to_string(),
        auth: PipedriveAuth::ApiToken(Secret::new(token)),
        plan,
        seats: 5,
        burst_limit: None,
        budget_share: 0.5,
        daily_budget_tokens: None,
        budget_timezone: chrono_tz::UTC,
        timeout: Duration::from_secs(5),
        retries: 5,
        max_response_bytes: 32 * 1024 * 1024,
    }
}

pub fn oauth_config(base_url: &str, oauth: OauthConfig, plan: PipedrivePlan) -> PipedriveConfig {
    PipedriveConfig {
        auth: PipedriveAuth::Oauth(oauth),
        ..api_token_config(base_url, "unused", plan)
    }
}

/// Fast retries for tests.
pub fn quick() -> mlc_pipedrive::ConnectOptions {
    mlc_pipedrive::ConnectOptions {
        retry_base_delay: Duration::from_millis(20),
        retry_max_delay: Duration::from_millis(200),
        ..mlc_pipedrive::ConnectOptions::default()
    }
}

/// Keeps every API request a client sends, to check them against the spec at the end.
#[derive(Clone, Default)]
pub struct Recorder {
    sent: Arc<Mutex<Vec<mlc_pipedrive::SentRequest>>>,
}

impl Recorder {
    pub fn options(&self, base: mlc_pipedrive::ConnectOptions) -> mlc_pipedrive::ConnectOptions {
        let sent = self.sent.clone();
        mlc_pipedrive::ConnectOptions {
            request_observer: Some(Arc::new(move |request| {
                sent.lock().unwrap().push(request.clone());
            })),
            ..base
        }
    }

    /// Every recorded request matches the OpenAPI documents (when they are there).
    pub fn assert_match_spec(&self) {
        let sent = self.sent.lock().unwrap().clone();
        assert!(!sent.is_empty(), "no request was recorded");
        let Some(specs) = spec::load() else {
            return;
        };
        let mut problems = Vec::new();
        for request in &sent {
            problems.extend(specs.check_request(
                &request.method,
                &request.path,
                &request.query,
                request.body.as_ref(),
            ));
        }
        problems.dedup();
        assert!(
            problems.is_empty(),
            "requests outside the spec:\n{}",
            problems.join("\n")
        );
    }
}

/// Connects with every request recorded.
pub async fn connect_recorded(
    config: &PipedriveConfig,
    store: ClientStorage,
    base: mlc_pipedrive::ConnectOptions,
) -> (mlc_pipedrive::PipedriveClient, Recorder) {
    let recorder = Recorder::default();
    let client =
        mlc_pipedrive::PipedriveClient::connect_with(config, store, recorder.options(base))
            .await
            .expect("connects");
    (client, recorder)
}
