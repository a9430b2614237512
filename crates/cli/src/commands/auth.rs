//! `ml-connector auth pipedrive`: the OAuth2 authorization. Prints the authorize URL, takes the
//! code from the browser's redirect to a local callback (or from what the user pastes), trades
//! it for tokens and stores them encrypted in the state store, where every later run finds them.

use std::io::Write;

use anyhow::{anyhow, Context};
use mlc_config::PipedriveAuth;
use mlc_engine::pipedrive_wiring::{connect_pipedrive, StoreSecretVault};
use mlc_pipedrive::auth;
use tokio::io::AsyncBufReadExt;

use crate::exit::CliError;
use crate::Cli;

/// Authorize ml-connector with an external system.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ml-connector auth pipedrive\n\nNeeds auth = \"oauth\" and [pipedrive.oauth] client_id, client_secret and redirect_uri in the\nconfig, and a store secret key (MLC_SECRET_KEY or store.secret_key_file; SQLite creates one)."
)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub target: AuthTarget,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuthTarget {
    /// OAuth2 with Pipedrive: prints the authorize URL, receives the code, stores the tokens.
    Pipedrive(PipedriveAuthArgs),
}

#[derive(clap::Args, Debug)]
pub struct PipedriveAuthArgs {
    /// Do not listen on the redirect URI; only read the pasted redirect URL or code.
    #[arg(long)]
    pub no_listen: bool,
    /// Give up after this many seconds (Pipedrive's codes live 5 minutes).
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

pub fn run(cli: &Cli, args: &AuthArgs) -> Result<(), CliError> {
    match &args.target {
        AuthTarget::Pipedrive(args) => pipedrive(cli, args),
    }
}

fn pipedrive(cli: &Cli, args: &PipedriveAuthArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let PipedriveAuth::Oauth(oauth) = &config.pipedrive.auth else {
        return Err(CliError::usage(anyhow!(
            "{}: pipedrive.auth is \"api-token\"; set auth = \"oauth\" and fill [pipedrive.oauth] to authorize with OAuth",
            config.source
        )));
    };
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let state = auth::new_state();
        let url = auth::authorize_url(oauth, &state).map_err(CliError::usage)?;
        let listener = if args.no_listen {
            None
        } else {
            bind_callback(&oauth.redirect_uri).await
        };
        println!("Open this address in a browser and allow access:\n\n  {url}\n");
        match &listener {
            Some(_) => println!(
                "Waiting for Pipedrive to send the browser back to {} ...\n(or paste the address the browser ends on, or the code, and press Enter)",
                oauth.redirect_uri
            ),
            None => println!(
                "Then paste the address the browser ends on ({}?code=...), or the code, and press Enter:",
                oauth.redirect_uri
            ),
        }
        let _ = std::io::stdout().flush();
        let code = tokio::time::timeout(
            std::time::Duration::from_secs(args.timeout_secs),
            receive_code(listener, &state),
        )
        .await
        .map_err(|_| CliError::failed(anyhow!("no authorization code within {} s; run `ml-connector auth pipedrive` again", args.timeout_secs)))?
        .map_err(CliError::failed)?;
        // The token endpoint gets the same bound as every Pipedrive call.
        let http = mlc_pipedrive::http_client(config.pipedrive.timeout).map_err(CliError::failed)?;
        let tokens = auth::exchange_code(&http, &StoreSecretVault(store.clone()), oauth, &code)
            .await
            .map_err(CliError::failed)?;
        println!(
            "authorized: requests go to {}; tokens stored encrypted in {}",
            tokens.api_domain,
            mlc_store::redact_url(&config.store.url)
        );
        let client = connect_pipedrive(&config.pipedrive, store)
            .await
            .context("the new tokens were stored, but the first call failed")
            .map_err(CliError::failed)?;
        let user = client.current_user();
        println!(
            "connected as {} <{}>, company {} (id {})",
            user.name, user.email, user.company_name, user.company_id
        );
        Ok(())
    })
}

/// Listens on the redirect URI when it is a loopback `http://` address.
async fn bind_callback(redirect_uri: &str) -> Option<tokio::net::TcpListener> {
    let url = reqwest::Url::parse(redirect_uri).ok()?;
    let host = url.host_str()?;
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
    if url.scheme() != "http" || !loopback {
        return None;
    }
    let port = url.port_or_known_default()?;
    let address = if host == "localhost" {
        "127.0.0.1"
    } else {
        host.trim_matches(['[', ']'])
    };
    match tokio::net::TcpListener::bind((address, port)).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%redirect_uri, %error, "cannot listen for the OAuth callback; paste the code instead");
            None
        }
    }
}

/// The code from the callback or from standard input, whichever comes first.
async fn receive_code(
    listener: Option<tokio::net::TcpListener>,
    state: &str,
) -> anyhow::Result<String> {
    let pasted = async {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            let Some(line) = lines.next_line().await? else {
                // No terminal input: wait for the callback alone.
                std::future::pending::<()>().await;
                unreachable!("pending never completes");
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.contains("code=") {
                match auth::parse_callback(line, state) {
                    Some(result) => return result.map_err(anyhow::Error::from),
                    None => eprintln!("that address carries no code; paste it again"),
                }
            } else {
                return Ok(line.to_string());
            }
        }
    };
    match listener {
        Some(listener) => tokio::select! {
            received = auth::receive_callback(listener, state) => Ok(received?),
            pasted = pasted => pasted,
        },
        None => pasted.await,
    }
}
