//! One module per command. Each takes its parsed arguments and returns `CliError` on failure.

pub mod check;
pub mod history;
pub mod init;
pub mod review;
pub mod sim;

use crate::exit::CliError;
use crate::{Cli, Command};

pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Init(args) => init::run(args),
        Command::Check(args) => check::run(cli, args),
        Command::Sim(args) => sim::run(args),
        Command::Runs(args) => history::runs(cli, args),
        Command::Audit(args) => history::audit(cli, args),
        Command::Review(args) => review::run(cli, args),
    }
}

/// Loads and validates the config named on the command line (exit 2 when it is bad).
pub fn load_config(cli: &Cli) -> Result<mlc_config::Config, CliError> {
    Ok(mlc_config::load(&cli.config)?)
}

/// Opens the state store the config names, applying migrations.
pub async fn open_store(
    config: &mlc_config::Config,
) -> Result<std::sync::Arc<dyn mlc_store::StateStore>, CliError> {
    mlc_store::open(&config.store.url, None)
        .await
        .map_err(CliError::failed)
}
