//! `ml-connector agent`: the on-premises relay. Runs inside the SAP network, connects out to the
//! connector's `/agent/connect` over a WebSocket (wss; ws only to loopback), presents its token,
//! and relays the connector's reads to ECC within its read-only allow-list.

use std::path::PathBuf;
use std::time::Duration;

use mlc_ecc::agent::allow::AllowList;
use mlc_ecc::agent::hub::stored_token_form;
use mlc_ecc::http::HttpSettings;
use mlc_ecc::{run_agent, AgentOptions, EccAccess};

use crate::exit::CliError;

/// Relay the connector's ECC reads from inside the SAP network (outbound connection only).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ECC_PASSWORD=... ml-connector agent --connect wss://connector.example.com/agent/connect \\\n      --token-file /etc/ml-connector/agent.token --ecc-url https://ecc.corp:44300 --ecc-user MLC_READER\n  ml-connector agent --token-file agent.token --hash-token   # the line for the connector's ecc.agent_token_file"
)]
pub struct AgentArgs {
    /// The connector's agent endpoint, wss://HOST/agent/connect (ws:// only to loopback).
    #[arg(long, required_unless_present = "hash_token")]
    pub connect: Option<String>,
    /// File holding the agent token (the connector stores only its hash).
    #[arg(long)]
    pub token_file: PathBuf,
    /// Print the `sha256:...` line for the connector's ecc.agent_token_file, and exit.
    #[arg(long)]
    pub hash_token: bool,
    /// ECC host the agent reads from, e.g. https://ecc.corp:44300.
    #[arg(long, env = "ECC_URL", required_unless_present = "hash_token")]
    pub ecc_url: Option<String>,
    #[arg(long, env = "ECC_CLIENT", default_value = "100")]
    pub ecc_client: String,
    #[arg(long, env = "ECC_USER", default_value = "MLC_READER")]
    pub ecc_user: String,
    /// The SAP password; from the environment only, so it stays out of process lists.
    #[arg(
        long = "ecc-password-env",
        default_value = "ECC_PASSWORD",
        value_name = "VAR"
    )]
    pub ecc_password_env: String,
    #[arg(long, default_value = "EN")]
    pub ecc_language: String,
    /// Company CA bundle (PEM), trusted besides the public web roots for HTTPS to ECC and for
    /// wss to the connector.
    #[arg(long)]
    pub ca_file: Option<String>,
    /// HTTP proxy to reach the connector through (CONNECT), e.g. http://proxy.corp:3128 or
    /// http://user:password@proxy.corp:3128; `none` connects directly. Unset: HTTPS_PROXY
    /// (wss) or HTTP_PROXY (ws), then ALL_PROXY, unless NO_PROXY names the connector's host.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Seconds connecting to the connector (proxy, TLS, upgrade) may take.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout_secs: u64,
    /// Connect to the connector once (proxy, CA, token), report, and exit.
    #[arg(long)]
    pub check: bool,
    /// Answers from ECC larger than this many MiB are refused instead of relayed.
    #[arg(long, default_value_t = 64)]
    pub max_response_mib: usize,
    /// Accept any ECC certificate (tests only; logged loudly).
    #[arg(long)]
    pub accept_invalid_certs: bool,
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Another table the agent may read with RFC_READ_TABLE (repeatable).
    #[arg(long = "allow-table", value_name = "TABLE")]
    pub allow_tables: Vec<String>,
    /// Requests relayed at once.
    #[arg(long, default_value_t = 8)]
    pub max_in_flight: usize,
    #[arg(long, default_value_t = 15)]
    pub heartbeat_secs: u64,
}

pub fn run(args: &AgentArgs) -> Result<(), CliError> {
    let token = std::fs::read_to_string(&args.token_file).map_err(|error| {
        CliError::usage(anyhow::anyhow!(
            "cannot read --token-file {}: {error}",
            args.token_file.display()
        ))
    })?;
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "--token-file {} is empty",
            args.token_file.display()
        )));
    }
    if args.hash_token {
        println!("{}", stored_token_form(&token));
        return Ok(());
    }
    let password = std::env::var(&args.ecc_password_env).map_err(|_| {
        CliError::usage(anyhow::anyhow!(
            "set the SAP password in the environment variable {}",
            args.ecc_password_env
        ))
    })?;
    let mut allow = AllowList::default();
    allow.tables.extend(
        args.allow_tables
            .iter()
            .map(|table| table.trim().to_ascii_uppercase()),
    );
    let options = AgentOptions {
        connect_url: args.connect.clone().unwrap_or_default(),
        token: mlc_config::Secret::new(token),
        ecc: EccAccess {
            base_url: args.ecc_url.clone().unwrap_or_default(),
            client: args.ecc_client.clone(),
            language: args.ecc_language.clone(),
            user: args.ecc_user.clone(),
            password: mlc_config::Secret::new(password),
            http: HttpSettings {
                timeout: Duration::from_secs(args.timeout_secs.max(1)),
                ca_file: args.ca_file.clone(),
                accept_invalid_certs: args.accept_invalid_certs,
            },
            retries: args.retries,
            max_response_bytes: args.max_response_mib.clamp(1, 4096) * 1024 * 1024,
        },
        allow,
        max_in_flight: args.max_in_flight.max(1),
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        max_backoff: Duration::from_secs(30),
        proxy: args.proxy.clone(),
        connector_ca_file: args.ca_file.clone(),
        connect_timeout: Duration::from_secs(args.connect_timeout_secs.max(1)),
    };
    mlc_ecc::agent::relay::validate_connect_url(&options.connect_url).map_err(CliError::usage)?;
    let runtime = crate::runtime()?;
    if args.check {
        return runtime.block_on(async {
            mlc_ecc::check_connection(&options)
                .await
                .map_err(agent_error)?;
            println!(
                "connected to {} and the agent token was accepted",
                options.connect_url
            );
            Ok(())
        });
    }
    runtime.block_on(async {
        tokio::select! {
            outcome = run_agent(options) => outcome.map_err(agent_error),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping the agent");
                Ok(())
            }
        }
    })
}

/// A wrong option (proxy, CA file, URL) is bad usage; anything else a failure.
fn agent_error(error: mlc_ecc::EccError) -> CliError {
    match error {
        mlc_ecc::EccError::Config(_) => CliError::usage(error),
        other => CliError::failed(other),
    }
}
