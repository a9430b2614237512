//! `ml-connector init`: writes the commented config template.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::exit::CliError;

/// Write a commented config template covering every key.
///
/// Example: `ml-connector init --output ml-connector.toml`
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ml-connector init --output ml-connector.toml\n  export ECC_PASSWORD=... PIPEDRIVE_API_TOKEN=... MLC_ADMIN_TOKEN=...\n  ml-connector check"
)]
pub struct InitArgs {
    /// Where to write the template.
    #[arg(long, short, default_value = "ml-connector.toml")]
    pub output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &InitArgs) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(&args.output) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::usage(anyhow::anyhow!(
                "{} exists already; use --force to overwrite it",
                args.output.display()
            )));
        }
        Err(error) => {
            return Err(CliError::failed(
                anyhow::Error::new(error)
                    .context(format!("cannot write {}", args.output.display())),
            ))
        }
    };
    file.write_all(mlc_config::TEMPLATE.as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))
        .map_err(CliError::failed)?;
    println!(
        "wrote {}; set ECC_PASSWORD, PIPEDRIVE_API_TOKEN and MLC_ADMIN_TOKEN, then run `ml-connector check`",
        args.output.display()
    );
    Ok(())
}
