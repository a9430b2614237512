//! One module per command. Each takes its parsed arguments and returns `CliError` on failure.

pub mod check;
pub mod init;
pub mod sim;

use crate::exit::CliError;
use crate::{Cli, Command};

pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Init(args) => init::run(args),
        Command::Check(args) => check::run(cli, args),
        Command::Sim(args) => sim::run(args),
    }
}

/// Loads and validates the config named on the command line (exit 2 when it is bad).
pub fn load_config(cli: &Cli) -> Result<mlc_config::Config, CliError> {
    Ok(mlc_config::load(&cli.config)?)
}
