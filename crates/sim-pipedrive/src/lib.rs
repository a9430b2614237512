#![recursion_limit = "256"]
// Handlers return early with a ready answer (`Result<_, Response>`), the usual axum shape;
// the answer is built once per refused request, so its size does not matter.
#![allow(clippy::result_large_err)]
//! A strict Pipedrive API simulator: API v2 organizations and persons, search, fields (v2 and
//! v1), merge, users/me, API-token and OAuth2 auth, the documented rate limits and daily token
//! budget, v2 webhooks, and `/_sim/...` admin endpoints for tests, benchmarks and the demo.
//!
//! Entry points: [`spawn`] (in-process, for tests and the demo) and [`serve_until_ctrl_c`]
//! (what `ml-connector sim pipedrive` runs).

mod admin;
mod api;
mod auth;
mod clock;
mod costs;
mod enrich;
mod errors;
mod fields;
mod gate;
mod limits;
mod model;
mod oauth;
mod options;
mod scopes;
mod state;
mod validate;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use mlc_sim_support::{CancellationToken, RunningServer};

pub use costs::{token_cost, TOKEN_COSTS};
pub use limits::{Plan, DAILY_BASE_TOKENS};
pub use mlc_sim_support::FaultSettings;
pub use options::SimPipedriveOptions;
pub use scopes::{DEFAULT_SCOPES, OPERATION_SCOPES};
pub use state::{
    NewOrganization, NewPerson, RequestCount, SimHandle, SimStats, StoredOrganization, StoredPerson,
};

/// A running simulator, owned by the caller; dropped or [`SpawnedPipedrive::shutdown`] stops it.
pub struct SpawnedPipedrive {
    pub addr: SocketAddr,
    handle: SimHandle,
    server: RunningServer,
}

impl SpawnedPipedrive {
    /// `http://127.0.0.1:PORT`: the company domain (and OAuth `api_domain`) of this simulator.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The API token the simulator accepts in `x-api-token`.
    pub fn api_token(&self) -> &str {
        self.handle.api_token()
    }

    /// Direct access to the state: seed records, read stats, change faults.
    pub fn state(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.handle.inner.webhooks.shutdown();
        self.server.shutdown().await;
    }
}

impl Drop for SpawnedPipedrive {
    fn drop(&mut self) {
        // Webhook deliveries and held-back answers end with the server.
        self.server.stop();
        self.handle.inner.webhooks.shutdown();
    }
}

/// Binds `options.listen` and serves in a background task.
pub async fn spawn(options: SimPipedriveOptions) -> anyhow::Result<SpawnedPipedrive> {
    let listener = mlc_sim_support::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(state::Shared::new(&options, addr)?);
    let handle = SimHandle {
        inner: shared.clone(),
    };
    let server = mlc_sim_support::serve(
        listener,
        api::router(shared),
        CancellationToken::new(),
        "pipedrive simulator",
    )?;
    Ok(SpawnedPipedrive {
        addr,
        handle,
        server,
    })
}

/// Runs the simulator until Ctrl-C; what `ml-connector sim pipedrive` calls.
pub async fn serve_until_ctrl_c(options: SimPipedriveOptions) -> anyhow::Result<()> {
    let spawned = spawn(options.clone()).await?;
    eprintln!(
        "pipedrive simulator on {} (plan {}, auth {}, api token {:?}); admin at {}/_sim/stats; Ctrl-C stops",
        spawned.base_url(),
        options.plan,
        options.auth,
        spawned.api_token(),
        spawned.base_url()
    );
    tokio::signal::ctrl_c().await?;
    spawned.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        options: SimPipedriveOptions,
    }

    #[test]
    fn the_command_line_takes_every_option() {
        let command = Command::try_parse_from([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--plan",
            "lite",
            "--seats",
            "3",
            "--auth",
            "oauth",
            "--api-token",
            "T",
            "--budget-tokens",
            "1000",
            "--seed",
            "9",
            "--time-scale",
            "0.01",
            "--search-lag-ms",
            "250",
            "--token-lifetime-secs",
            "60",
            "--timezone",
            "UTC",
            "--oauth-client-id",
            "c",
            "--oauth-client-secret",
            "s",
            "--block-after-429s",
            "5",
            "--block-secs",
            "10",
        ])
        .unwrap();
        let options = command.options;
        assert_eq!(
            (options.plan.as_str(), options.seats, options.auth.as_str()),
            ("lite", 3, "oauth")
        );
        assert_eq!(
            (
                options.budget_tokens,
                options.search_lag_ms,
                options.time_scale
            ),
            (Some(1000), 250, 0.01)
        );
    }

    #[tokio::test]
    async fn bad_options_are_refused_with_the_option_named() {
        for (change, named) in [
            (
                Box::new(|options: &mut SimPipedriveOptions| options.plan = "enterprise".into())
                    as Box<dyn Fn(&mut SimPipedriveOptions)>,
                "plan",
            ),
            (
                Box::new(|options: &mut SimPipedriveOptions| {
                    options.timezone = "Mars/Olympus".into()
                }),
                "--timezone",
            ),
            (
                Box::new(|options: &mut SimPipedriveOptions| options.auth = "basic".into()),
                "--auth",
            ),
            (
                Box::new(|options: &mut SimPipedriveOptions| options.time_scale = 0.0),
                "--time-scale",
            ),
        ] {
            let mut options = SimPipedriveOptions::for_tests();
            change(&mut options);
            let error = spawn(options).await.err().expect("refused").to_string();
            assert!(error.contains(named), "{error}");
        }
    }
}
