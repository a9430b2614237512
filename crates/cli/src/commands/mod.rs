//! One module per command. Each takes its parsed arguments and returns `CliError` on failure.

pub mod agent;
pub mod audit;
pub mod auth;
#[cfg(feature = "simulators")]
pub mod bench;
pub mod check;
#[cfg(feature = "simulators")]
pub mod demo;
pub mod extract;
pub mod fields;
pub mod history;
pub mod init;
pub mod review;
pub mod run;
pub mod setup;
#[cfg(feature = "simulators")]
pub mod sim;
pub mod sync;

use crate::exit::CliError;
use crate::{Cli, Command};

pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Init(args) => init::run(args),
        Command::Check(args) => check::run(cli, args),
        #[cfg(feature = "simulators")]
        Command::Sim(args) => sim::run(args),
        Command::Runs(args) => history::runs(cli, args),
        Command::Audit(args) => audit::run(cli, args),
        Command::Review(args) => review::run(cli, args),
        Command::Extract(args) => extract::run(cli, args),
        Command::Agent(args) => agent::run(args),
        Command::Auth(args) => auth::run(cli, args),
        Command::Setup(args) => setup::run(cli, args),
        Command::Fields(args) => fields::run(cli, args),
        Command::Sync(args) => sync::run(cli, args),
        Command::Run(args) => run::run(cli, args),
        #[cfg(feature = "simulators")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "simulators")]
        Command::Bench(args) => bench::run(args),
    }
}

/// Loads and validates the config named on the command line (exit 2 when it is bad).
pub fn load_config(cli: &Cli) -> Result<mlc_config::Config, CliError> {
    match cli.config.as_slice() {
        [path] => Ok(mlc_config::load(path)?),
        _ => Err(CliError::usage(anyhow::anyhow!(
            "this command takes one config file; only `run` takes several"
        ))),
    }
}

/// Opens the state store the config names, applying migrations.
pub async fn open_store(
    config: &mlc_config::Config,
) -> Result<std::sync::Arc<dyn mlc_store::StateStore>, CliError> {
    // The secret key only where one is configured (or SQLite's own key file): OAuth tokens need
    // it, a store that keeps no secrets does not.
    let key_file = config
        .store
        .secret_key_file
        .as_deref()
        .map(std::path::Path::new);
    let secret_key = mlc_store::SecretKey::if_configured(key_file, &config.store.url)
        .map_err(CliError::failed)?;
    mlc_store::open(&config.store.url, secret_key)
        .await
        .map_err(CliError::failed)
}
