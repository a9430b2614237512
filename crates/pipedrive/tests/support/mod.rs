//! Shared by the integration tests: a store, a config, the spec checks.

#![allow(dead_code)]

pub mod spec;

use std::sync::Arc;
use std::time::Duration;

use mlc_config::sections::pipedrive::OauthConfig;
use mlc_config::{PipedriveAuth, PipedriveConfig, PipedrivePlan, Secret};
use mlc_store::StateStore;

/// A fresh in-memory SQLite store with a random secret key.
pub async fn store() -> Arc<dyn StateStore> {
    mlc_store::open("sqlite::memory:", Some(mlc_store::SecretKey::generate()))
        .await
        .expect("in-memory store opens")
}

pub fn api_token_config(base_url: &str, token: &str, plan: PipedrivePlan) -> PipedriveConfig {
    PipedriveConfig {
        base_url: base_url.to_string(),
        auth: PipedriveAuth::ApiToken(Secret::new(token)),
        plan,
        seats: 5,
        budget_share: 0.5,
        daily_budget_tokens: None,
        budget_timezone: chrono_tz::UTC,
        timeout: Duration::from_secs(5),
        retries: 5,
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
    }
}
