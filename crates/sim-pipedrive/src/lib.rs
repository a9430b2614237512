//! A strict Pipedrive API simulator.
//! (Being built under issue 3; `serve` is the entry point `ml-connector sim pipedrive` calls.)

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
}
