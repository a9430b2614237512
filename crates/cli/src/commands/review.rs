//! `ml-connector review list|accept ID|reject ID`: the queue of pairs the matcher was not sure
//! about. Accepting links the ECC customer to that organization on the next run; rejecting
//! makes the next run create a new organization, and the decision is remembered.

use mlc_store::ReviewStatus;

use crate::commands::history::{print_rows, HistoryFormat};
use crate::exit::CliError;
use crate::Cli;

/// The duplicate review queue.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector review list\n  ml-connector review accept 3\n  ml-connector review reject 4"
)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub action: ReviewAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReviewAction {
    /// Pending pairs (or all with --all).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// Link the ECC customer to the proposed organization on the next run.
    Accept { id: i64 },
    /// Create a new organization for the ECC customer on the next run.
    Reject { id: i64 },
}

pub fn run(cli: &Cli, args: &ReviewArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        match &args.action {
            ReviewAction::List { all, format } => {
                let status = (!all).then_some(ReviewStatus::Pending);
                let items = store
                    .reviews(&config.sync.connection, status)
                    .await
                    .map_err(CliError::failed)?;
                let rows: Vec<serde_json::Value> = items
                    .iter()
                    .map(|item| {
                        serde_json::json!({
                            "id": item.id,
                            "kind": item.kind.as_str(),
                            "ecc_key": item.ecc_key,
                            "customer": mlc_canonical::alpha_output(&item.ecc_key),
                            "pipedrive_id": item.pipedrive_id,
                            "score": (item.score * 1000.0).round() / 1000.0,
                            "status": item.status.as_str(),
                            "evidence": item.evidence,
                            "created_at": item.created_at.to_rfc3339(),
                        })
                    })
                    .collect();
                let columns = [
                    "id",
                    "customer",
                    "pipedrive_id",
                    "score",
                    "status",
                    "evidence",
                    "created_at",
                ];
                print_rows(*format, &columns, &rows).map_err(CliError::failed)
            }
            ReviewAction::Accept { id } => {
                decide(store.as_ref(), *id, ReviewStatus::Accepted).await
            }
            ReviewAction::Reject { id } => {
                decide(store.as_ref(), *id, ReviewStatus::Rejected).await
            }
        }
    })
}

async fn decide(
    store: &dyn mlc_store::StateStore,
    id: i64,
    decision: ReviewStatus,
) -> Result<(), CliError> {
    let item = store
        .decide_review(id, decision)
        .await
        .map_err(|error| match error {
            mlc_store::StoreError::NoSuchReview(_) => CliError::usage(error),
            other => CliError::failed(other),
        })?;
    let customer = mlc_canonical::alpha_output(&item.ecc_key);
    match decision {
        ReviewStatus::Accepted => println!(
            "review {id} accepted: customer {customer} will be linked to organization {} on the next run",
            item.pipedrive_id
        ),
        _ => println!(
            "review {id} rejected: customer {customer} gets a new organization on the next run"
        ),
    }
    Ok(())
}
