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
mod costs;
mod errors;
mod fields;
mod gate;
mod limits;
mod model;
mod oauth;
mod state;
mod validate;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use mlc_sim_support::{CancellationToken, RunningServer};

pub use costs::{token_cost, TOKEN_COSTS};
pub use limits::{Plan, DAILY_BASE_TOKENS};
pub use mlc_sim_support::FaultSettings;
pub use state::{
    NewOrganization, NewPerson, RequestCount, SimHandle, SimStats, StoredOrganization, StoredPerson,
};

/// `ml-connector sim pipedrive` options.
#[derive(clap::Args, Debug, Clone)]
pub struct SimPipedriveOptions {
    /// Address to listen on, e.g. 127.0.0.1:18002.
    #[arg(long, default_value = "127.0.0.1:18002")]
    pub listen: SocketAddr,
    /// lite | growth | premium | ultimate | unlimited (no rate limits, for benchmarks).
    #[arg(long, default_value = "growth")]
    pub plan: String,
    #[arg(long, default_value_t = 5)]
    pub seats: u32,
    /// api-token | oauth
    #[arg(long, default_value = "api-token")]
    pub auth: String,
    #[arg(long, default_value = "sim-token")]
    pub api_token: String,
    /// Daily token budget instead of 30,000 x plan multiplier x seats.
    #[arg(long)]
    pub budget_tokens: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Multiplies every simulated delay (webhook retries after 3/30/150 s, the 10 s webhook
    /// timeout, the 403 block, OAuth code lifetime): 0.01 makes 150 s into 1.5 s.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Milliseconds before a created or changed record shows up in search (real search is an
    /// index, not read-your-writes).
    #[arg(long, default_value_t = 0)]
    pub search_lag_ms: u64,
    /// Lifetime of OAuth access tokens (`expires_in`).
    #[arg(long, default_value_t = 3599)]
    pub token_lifetime_secs: u64,
    /// Time zone whose midnight resets the daily token budget (Pipedrive: "server's timezone",
    /// not named; Pipedrive is run from Tallinn).
    #[arg(long, default_value = "Europe/Tallinn")]
    pub timezone: String,
    /// OAuth client id accepted by /oauth/token (Basic auth).
    #[arg(long, default_value = "sim-client-id")]
    pub oauth_client_id: String,
    /// OAuth client secret accepted by /oauth/token (Basic auth).
    #[arg(long, default_value = "sim-client-secret")]
    pub oauth_client_secret: String,
    /// 429 answers to one API token within 10 s after which it gets Cloudflare's HTML 403.
    #[arg(long, default_value_t = 40)]
    pub block_after_429s: u32,
    /// How long such a client stays blocked (scaled by --time-scale).
    #[arg(long, default_value_t = 60)]
    pub block_secs: u64,
}

impl SimPipedriveOptions {
    /// Options for in-process use: a free loopback port, plan growth with 5 seats, API-token
    /// auth with token "sim-token", no search lag, real time. Callers change fields as needed.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plan: "growth".to_string(),
            seats: 5,
            auth: "api-token".to_string(),
            api_token: "sim-token".to_string(),
            budget_tokens: None,
            seed: 1,
            time_scale: 1.0,
            search_lag_ms: 0,
            token_lifetime_secs: 3599,
            timezone: "Europe/Tallinn".to_string(),
            oauth_client_id: "sim-client-id".to_string(),
            oauth_client_secret: "sim-client-secret".to_string(),
            block_after_429s: 40,
            block_secs: 60,
        }
    }
}

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
