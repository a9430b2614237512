//! `review accept` and `review reject`: one pair by its id, a group, or a score rule. What a
//! group or rule decides is chosen by `mlc_sync::review_queue::select` (pure) and written by
//! `mlc_engine::review_rules` (one transaction, one decision record per pair); here it is shown.

use mlc_canonical::alpha_output;
use mlc_engine::review_rules::{decide_by_rule, ReviewRuleError, RuleOutcome};
use mlc_store::{DecisionRule, ReviewItem, ReviewStatus, StateStore, StoreError};
use mlc_sync::review_queue::QueueRule;

use super::list::{ids, record};
use crate::exit::CliError;

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "above"])))]
pub struct AcceptArgs {
    /// The pair to accept (with --group: the pair that gets the Pipedrive record).
    id: Option<i64>,
    /// Settle pair ID's group: accept pair ID and reject the other pending pairs proposing
    /// the same Pipedrive record.
    #[arg(long, requires = "id")]
    group: bool,
    /// Accept every pending pair scoring at least SCORE (0 to 1), except those a person must
    /// decide (each is listed with its reason).
    #[arg(long, value_name = "SCORE", value_parser = super::score_argument)]
    above: Option<f64>,
    /// Show what would be decided; decide nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "below"])))]
pub struct RejectArgs {
    /// The pair to reject (with --group: any pair of the group).
    id: Option<i64>,
    /// Reject every pending pair proposing the same Pipedrive record as pair ID.
    #[arg(long, requires = "id")]
    group: bool,
    /// Reject every pending pair scoring below SCORE (0 to 1).
    #[arg(long, value_name = "SCORE", value_parser = super::score_argument)]
    below: Option<f64>,
    /// Show what would be decided; decide nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn accept(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    args: &AcceptArgs,
) -> Result<(), CliError> {
    let rule = match (args.id, args.group, args.above) {
        (Some(id), false, _) => {
            return single(config, store, id, ReviewStatus::Accepted, args.dry_run).await
        }
        (Some(pair), true, _) => QueueRule::AcceptGroup { pair },
        (None, _, Some(score)) => QueueRule::AcceptAtOrAbove { score },
        (None, _, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "review accept: give a pair ID or --above SCORE"
            )))
        }
    };
    by_rule(config, store, rule, args.dry_run).await
}

pub async fn reject(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    args: &RejectArgs,
) -> Result<(), CliError> {
    let rule = match (args.id, args.group, args.below) {
        (Some(id), false, _) => {
            return single(config, store, id, ReviewStatus::Rejected, args.dry_run).await
        }
        (Some(pair), true, _) => QueueRule::RejectGroup { pair },
        (None, _, Some(score)) => QueueRule::RejectBelow { score },
        (None, _, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "review reject: give a pair ID or --below SCORE"
            )))
        }
    };
    by_rule(config, store, rule, args.dry_run).await
}

/// Who decides from this command line, for the decision records.
fn decided_by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    if user.trim().is_empty() {
        "cli".to_string()
    } else {
        format!("cli:{}", user.trim())
    }
}

async fn single(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    id: i64,
    decision: ReviewStatus,
    dry_run: bool,
) -> Result<(), CliError> {
    let items = store
        .reviews(&config.sync.connection, None)
        .await
        .map_err(CliError::failed)?;
    let Some(item) = items.iter().find(|item| item.id == id) else {
        return Err(CliError::usage(StoreError::NoSuchReview(id)));
    };
    let verb = if decision == ReviewStatus::Accepted {
        "accept"
    } else {
        "reject"
    };
    if decision == ReviewStatus::Accepted {
        warn_about_siblings(&items, item);
    }
    if dry_run {
        println!(
            "would {verb} review {id}: customer {} and {} (score {:.3}); dry run, nothing decided",
            alpha_output(&item.ecc_key),
            record(item.kind, item.pipedrive_id),
            item.score
        );
        return Ok(());
    }
    let item = store
        .decide_review(id, decision, &decided_by())
        .await
        .map_err(|error| match error {
            StoreError::NoSuchReview(_) => CliError::usage(error),
            other => CliError::failed(other),
        })?;
    let customer = alpha_output(&item.ecc_key);
    match decision {
        ReviewStatus::Accepted => println!(
            "review {id} accepted: customer {customer} will be linked to {} {} on the next run",
            item.kind, item.pipedrive_id
        ),
        _ => println!(
            "review {id} rejected: customer {customer} gets a new {} on the next run",
            item.kind
        ),
    }
    Ok(())
}

/// Accepting one pair of a group leaves the others pending: a later acceptance of one of them
/// could not link the record too, so say how to settle the rest.
fn warn_about_siblings(items: &[ReviewItem], item: &ReviewItem) {
    let siblings: Vec<i64> = items
        .iter()
        .filter(|other| {
            other.id != item.id
                && other.status == ReviewStatus::Pending
                && other.kind == item.kind
                && other.pipedrive_id == item.pipedrive_id
        })
        .map(|other| other.id)
        .collect();
    if !siblings.is_empty() {
        eprintln!(
            "note: pairs {} propose {} too; `review accept --group {}` would reject them at once",
            ids(&siblings),
            record(item.kind, item.pipedrive_id),
            item.id
        );
    }
}

async fn by_rule(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    rule: QueueRule,
    dry_run: bool,
) -> Result<(), CliError> {
    let outcome = decide_by_rule(store, &config.sync.connection, rule, &decided_by(), dry_run)
        .await
        .map_err(|error| match error {
            ReviewRuleError::Rule(rule) => CliError::usage(rule),
            ReviewRuleError::Store(store) => CliError::failed(store),
        })?;
    print_outcome(&outcome, rule.decision_rule(), dry_run);
    let selection = &outcome.selection;
    if selection.decides_nothing() && !selection.held_back.is_empty() {
        return Err(CliError::failed(anyhow::anyhow!(
            "nothing decided: every pair the rule named is held back"
        )));
    }
    Ok(())
}

fn print_outcome(outcome: &RuleOutcome, how: DecisionRule, dry_run: bool) {
    let selection = &outcome.selection;
    let line = |id: &i64, verb: &str| {
        if let Some(item) = outcome.item(*id) {
            println!(
                "{verb} pair {id}: customer {} and {} (score {:.3})",
                alpha_output(&item.ecc_key),
                record(item.kind, item.pipedrive_id),
                item.score
            );
        }
    };
    let (accept_verb, reject_verb) = if dry_run {
        ("would accept", "would reject")
    } else {
        ("accept", "reject")
    };
    for id in &selection.accept {
        line(id, accept_verb);
    }
    for id in &selection.reject {
        line(id, reject_verb);
    }
    for held in &selection.held_back {
        println!("held back pair {}: {}", held.id, held.reason);
    }
    if dry_run {
        println!(
            "dry run ({how}): would accept {}, would reject {}, {} held back; nothing decided",
            selection.accept.len(),
            selection.reject.len(),
            selection.held_back.len()
        );
        return;
    }
    let named = selection.accept.len() + selection.reject.len();
    let mut summary = format!(
        "{how}: accepted {}, rejected {}, {} held back",
        outcome.count(ReviewStatus::Accepted),
        outcome.count(ReviewStatus::Rejected),
        selection.held_back.len()
    );
    let skipped = named - outcome.decided.len();
    if skipped > 0 {
        summary.push_str(&format!(
            "; {skipped} decided by someone else meanwhile, left as they were"
        ));
    }
    println!("{summary}");
}
