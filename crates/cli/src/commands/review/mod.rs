//! `ml-connector review`: the queue of pairs the matcher was not sure about. `list` shows them
//! ranked with their evidence (`list.rs`); `accept` and `reject` decide one pair, a group or
//! every pair on one side of a score, each pair with its own decision record (`decide.rs`);
//! `history` shows those records. Accepting links the ECC record to the proposed Pipedrive
//! record on the next run; rejecting makes the next run match it again without that record
//! (usually: create a new one), and the decision is remembered.

mod decide;
mod list;

use crate::exit::CliError;
use crate::Cli;

const RANKING_HELP: &str = "\
Ranking (review list): a pending pair keeps its customer out of Pipedrive until it is decided, so
pairs are ranked by how much one decision settles, then by how quickly it is taken:
  1. groups first: pairs proposing the same Pipedrive record for several customers, the largest
     group first (one group decision settles all of them);
  2. then the score's distance to the nearer threshold of the review band, nearest first: just
     under sync.link_threshold the evidence leans to accept, just over sync.review_threshold it
     leans to reject, and both are quick to confirm; the middle of the band comes last. A pair
     scored outside the band is reviewed for its reason (e.g. the organization is linked to
     another customer) and counts as nearest;
  3. then the oldest pair first. Decided pairs (with --all) follow, in id order.

Evidence: + for, − against, ~ a value without a verdict; (n) is the matcher's weight where it
gave one. `--wide` shows all of it and the reason, `--format json` everything, the stored
evidence included.

Groups: a Pipedrive record is linked to one ECC record only. `accept --group ID` accepts pair ID
and rejects the other pending pairs proposing the same record; `reject --group ID` rejects them
all. `accept --above SCORE` accepts every pending pair scoring at least SCORE except those it
must leave to a person (a record proposed for several customers, already linked to, accepted
for or, by the matcher's evidence, carrying another customer, or a customer with several
pending pairs): each is listed with its reason. `reject --below SCORE` rejects every pending
pair scoring below SCORE. Score rules decide organization pairs only (a person pair has no
match score). `--dry-run` shows what would be decided. Every decided pair gets its own decision record (`review history`) naming
the rule (single pair, group of pair ID, score >= S, score < S) and who decided.";

/// The duplicate review queue: pairs of an ECC record and an existing Pipedrive record the
/// matcher was not sure about.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector review list\n  ml-connector review list --groups\n  ml-connector review accept 3\n  ml-connector review reject --group 4\n  ml-connector review accept --above 0.88 --dry-run\n  ml-connector review reject --below 0.75\n  ml-connector review history 3",
    after_long_help = RANKING_HELP
)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub action: ReviewAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReviewAction {
    /// Pending pairs, the most important first (see `review --help` for the ranking), with
    /// their evidence for and against.
    #[command(after_long_help = RANKING_HELP)]
    List(list::ListArgs),
    /// Accept one pair (ID), settle a group (--group ID) or accept every pending pair scoring
    /// at least SCORE (--above SCORE).
    #[command(after_long_help = RANKING_HELP)]
    Accept(decide::AcceptArgs),
    /// Reject one pair (ID), a whole group (--group ID) or every pending pair scoring below
    /// SCORE (--below SCORE).
    #[command(after_long_help = RANKING_HELP)]
    Reject(decide::RejectArgs),
    /// The decisions taken (of pair ID only, when given), oldest first, each naming how it was
    /// decided and by whom.
    History(list::HistoryArgs),
}

pub fn run(cli: &Cli, args: &ReviewArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        match &args.action {
            ReviewAction::List(list) => list::list(&config, store.as_ref(), list).await,
            ReviewAction::Accept(accept) => decide::accept(&config, store.as_ref(), accept).await,
            ReviewAction::Reject(reject) => decide::reject(&config, store.as_ref(), reject).await,
            ReviewAction::History(history) => list::history(&config, store.as_ref(), history).await,
        }
    })
}

/// A score argument: a number from 0 to 1.
fn score_argument(text: &str) -> Result<f64, String> {
    mlc_sync::review_queue::parse_score(text)
}
