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
    /// Geocode written addresses as Pipedrive does: fill the regions nobody sent, spell out a
    /// street's abbreviation, capitalize the postal code; `value` stays as sent (a guess for
    /// API writes, documented for UI edits; `false` keeps addresses exactly as sent).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub address_enrichment: bool,
    /// What a merge does with a text custom field set on both records: `keep` the survivor's
    /// value (empty fields are filled from the merged record either way), or `join` both
    /// ("survivor's, merged's"): Pipedrive's help says data of both is merged "where possible
    /// (e.g., text fields)"; how is not documented.
    #[arg(long, default_value = "keep")]
    pub merge_text_fields: String,
    /// Lifetime of OAuth access tokens (`expires_in`).
    #[arg(long, default_value_t = 3599)]
    pub token_lifetime_secs: u64,
    /// `rotate`: a refresh token works once, the answer carries a new one; `keep`: the same
    /// token comes back and its expiry starts again (the v1 document's example). Pipedrive's
    /// behaviour is not certain; rotation is the harder case for a client.
    #[arg(long, default_value = "rotate")]
    pub oauth_refresh: String,
    /// A refresh token unused this long stops working (Pipedrive: 60 days).
    #[arg(long, default_value_t = 60 * 86_400)]
    pub refresh_token_idle_secs: u64,
    /// Scopes the OAuth app is granted (space- or comma-separated); an operation none of whose
    /// documented scopes is granted gets 403 "Scope and URL mismatch".
    #[arg(long, default_value = crate::scopes::DEFAULT_SCOPES)]
    pub oauth_scopes: String,
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
    /// When answers carry the undocumented `x-daily-ratelimit-token-*` headers: `always`,
    /// `after-idle` (missing from the first 5 answers after 10 quiet minutes, scaled, as a
    /// Pipedrive staff answer describes), `never`.
    #[arg(long, default_value = "after-idle")]
    pub daily_token_headers: String,
    /// Whether the 429 of a spent daily budget carries `Retry-After` (seen in the wild, not
    /// documented).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub budget_retry_after: bool,
    /// POST/PUT/PATCH requests per API token and UTC day (the documented fair-use limit of
    /// 2019, announced in `x-daily-requests-left`); over it, 429. 0: no limit. Whether PATCH
    /// counts is not documented; it does here.
    #[arg(long, default_value_t = 10_000)]
    pub post_put_per_day: u64,
    /// 429 answers to one API token within 10 s after which it gets Cloudflare's HTML 403.
    #[arg(long, default_value_t = 40)]
    pub block_after_429s: u32,
    /// How long such a client stays blocked (scaled by --time-scale).
    #[arg(long, default_value_t = 60)]
    pub block_secs: u64,
    /// Requests per 2 s instead of the plan's figure, reported in `x-ratelimit-limit` (a
    /// company with a custom limit; `bench scale` sets a high one to get pacing out of the
    /// way, as the connector follows the limit the server reports).
    #[arg(long)]
    pub burst_limit: Option<u32>,
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
            address_enrichment: true,
            merge_text_fields: "keep".to_string(),
            token_lifetime_secs: 3599,
            oauth_refresh: "rotate".to_string(),
            refresh_token_idle_secs: 60 * 86_400,
            oauth_scopes: crate::scopes::DEFAULT_SCOPES.to_string(),
            timezone: "Europe/Tallinn".to_string(),
            oauth_client_id: "sim-client-id".to_string(),
            oauth_client_secret: "sim-client-secret".to_string(),
            daily_token_headers: "after-idle".to_string(),
            budget_retry_after: true,
            post_put_per_day: 10_000,
            block_after_429s: 40,
            block_secs: 60,
            burst_limit: None,
        }
    }
}
