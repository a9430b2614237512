//! `ml-connector run`: the service. Every config (`-c FILE`, repeatable, or `-c DIRECTORY` of
//! `*.toml`) is one connection; all share one store. SIGTERM or Ctrl-C stops it gracefully.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mlc_engine::CancellationToken;

use crate::exit::CliError;
use crate::Cli;

/// Run the service: schedules, HTTP API, metrics.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector run -c ml-connector.toml\n  ml-connector run -c sales-de.toml -c sales-at.toml\n  ml-connector run -c /etc/ml-connector          # every *.toml in the directory\n\nEndpoints: /healthz, /readyz, /metrics, /api/openapi.json, /api/runs, /api/audit,\n/api/review, /api/connections (the API needs `Authorization: Bearer <server.admin_token>`)."
)]
pub struct RunArgs {
    /// Listen here instead of the first config's server.listen.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// How long a connection's lease lasts unrenewed (a dead instance on another host holds
    /// its connections this long), in seconds.
    #[arg(long, default_value_t = 60)]
    pub lease_ttl_secs: u64,
    /// How long writes in flight may take to finish after SIGTERM, in seconds.
    #[arg(long, default_value_t = 20)]
    pub drain_secs: u64,
}

pub fn run(cli: &Cli, args: &RunArgs) -> Result<(), CliError> {
    let configs = load_configs(&cli.config)?;
    mlc_service::check_configs(&configs).map_err(CliError::usage)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&configs[0]).await?;
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let options = mlc_service::ServiceOptions {
            lease_ttl: Duration::from_secs(args.lease_ttl_secs.max(3)),
            drain: Duration::from_secs(args.drain_secs),
            listen: args.listen,
            ..mlc_service::ServiceOptions::default()
        };
        mlc_service::serve(configs, store, options, shutdown)
            .await
            .map_err(|error| match error {
                mlc_service::ServiceError::Config(_) => CliError::usage(error),
                other => CliError::failed(other),
            })
    })
}

/// The configs named on the command line: each file, and every `*.toml` of each directory
/// (sorted by name).
fn load_configs(paths: &[PathBuf]) -> Result<Vec<mlc_config::Config>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(toml_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    files
        .iter()
        .map(|file| mlc_config::load(file).map_err(CliError::from))
        .collect()
}

fn toml_files(directory: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(directory).map_err(|error| {
        CliError::usage(anyhow::anyhow!(
            "cannot read config directory {}: {error}",
            directory.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "config directory {} holds no *.toml file",
            directory.display()
        )));
    }
    Ok(files)
}

/// Cancels `shutdown` at the first SIGTERM or Ctrl-C.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
    }
    shutdown.cancel();
}
