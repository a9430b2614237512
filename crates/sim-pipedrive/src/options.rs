//! What a simulator is started with: the command line of `ml-connector sim pipedrive`, and
//! the defaults tests start from.

use std::net::SocketAddr;

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
    /// index, not read-your-writes; Pipedrive states no figure, a few seconds is a guess). The
    /// connector never relies on search to avoid duplicates; tests of search itself set 0.
    #[arg(long, default_value_t = DEFAULT_SEARCH_LAG_MS)]
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

/// How long search lags behind writes unless told otherwise.
pub const DEFAULT_SEARCH_LAG_MS: u64 = 3_000;

impl SimPipedriveOptions {
    /// Options for in-process use: a free loopback port, plan growth with 5 seats, API-token
    /// auth with token "sim-token", search lagging as by default, real time. Callers change
    /// fields as needed.
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
            search_lag_ms: DEFAULT_SEARCH_LAG_MS,
            token_lifetime_secs: 3599,
            timezone: "Europe/Tallinn".to_string(),
            oauth_client_id: "sim-client-id".to_string(),
            oauth_client_secret: "sim-client-secret".to_string(),
            block_after_429s: 40,
            block_secs: 60,
        }
    }
}
