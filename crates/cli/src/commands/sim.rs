//! `ml-connector sim ecc|pipedrive`: runs a simulator standalone until Ctrl-C.

use crate::exit::CliError;

/// Run a simulator of ECC or Pipedrive standalone.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector sim ecc --listen 127.0.0.1:18001 --customers 5000 --seed 7\n  ml-connector sim pipedrive --listen 127.0.0.1:18002 --plan lite --api-token T"
)]
pub struct SimArgs {
    #[command(subcommand)]
    pub target: SimTarget,
}

#[derive(clap::Subcommand, Debug)]
pub enum SimTarget {
    /// ECC 6.0: SOAP RFC (RFC_READ_TABLE, BAPIs) and OData V2 on Gateway.
    Ecc(mlc_sim_ecc::SimEccOptions),
    /// Pipedrive API v2 and v1 fields, OAuth2, rate limits, token budget, webhooks.
    Pipedrive(mlc_sim_pipedrive::SimPipedriveOptions),
}

pub fn run(args: &SimArgs) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    let outcome = runtime.block_on(async {
        match &args.target {
            SimTarget::Ecc(options) => mlc_sim_ecc::serve_until_ctrl_c(options.clone()).await,
            SimTarget::Pipedrive(options) => {
                mlc_sim_pipedrive::serve_until_ctrl_c(options.clone()).await
            }
        }
    });
    outcome.map_err(CliError::failed)
}
