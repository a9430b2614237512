//! `ml-connector sync`: one run now. A progress line on a terminal (records read, planned,
//! written, tokens), a summary at the end; `--dry-run` shows the plan with its matches and the
//! tokens it would spend, and writes nothing to Pipedrive.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use mlc_engine::{
    LeaseError, Progress, RunLease, RunMode, RunOptions, RunSummary, SyncEngine, SyncError,
    DEFAULT_LEASE_TTL,
};
use mlc_store::{Action, RunStatus};
use mlc_sync::plan::{Operation, Plan};

use crate::exit::CliError;
use crate::Cli;

/// Run one sync now.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector sync                 # changes since the last run\n  ml-connector sync --dry-run       # the plan, matches and tokens, nothing written\n  ml-connector sync --full          # every customer; the content hash decides\n  ml-connector sync --customer 4711 # one customer, even if parked after failures"
)]
pub struct SyncArgs {
    /// Plan, match and count tokens; write nothing to Pipedrive.
    #[arg(long)]
    pub dry_run: bool,
    /// Read every customer instead of the changes since the last run.
    #[arg(long, conflicts_with = "customer")]
    pub full: bool,
    /// Only this customer (with or without leading zeros); repeat for several.
    #[arg(long)]
    pub customer: Vec<String>,
    /// Print the summary (and with --dry-run the plan) as JSON.
    #[arg(long)]
    pub json: bool,
    /// When another run of this connection holds its lease, wait for it instead of exiting 1.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(cli: &Cli, args: &SyncArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let mode = if !args.customer.is_empty() {
        RunMode::Customers(args.customer.clone())
    } else if args.full {
        RunMode::Full
    } else {
        RunMode::Delta
    };
    let mut options = RunOptions::new(mode);
    options.dry_run = args.dry_run;
    let runtime = crate::runtime()?;
    let summary = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        // A run that writes holds the connection's lease, so a cron-started sync never overlaps
        // the previous one; a dry run writes nothing to Pipedrive and needs none.
        let lease = if options.dry_run {
            None
        } else {
            Some(take_lease(store.clone(), &config.sync.connection, args.wait).await?)
        };
        options.fencing_token = lease.as_ref().map(RunLease::fencing_token);
        // A pause (after Pipedrive's 403, or a used budget share) holds even the first call.
        let connection = &config.sync.connection;
        let paused = if options.dry_run {
            None
        } else {
            mlc_engine::pause_in_effect(store.as_ref(), connection, chrono::Utc::now())
                .await
                .map_err(CliError::failed)?
        };
        let summary = match paused {
            Some(pause) => {
                let instance = mlc_store::instance_name();
                mlc_engine::record_paused_run(&store, connection, &instance, &pause)
                    .await
                    .map(|run_id| RunSummary::paused(run_id, &pause))
                    .map_err(SyncError::Store)
            }
            None => {
                let engine = SyncEngine::connect(&config, store)
                    .await
                    .map_err(engine_error)?;
                let progress = TerminalProgress::new();
                let summary = engine.run(&options, &progress).await;
                progress.finish();
                summary
            }
        };
        if let Some(lease) = lease {
            if let Err(error) = lease.release().await {
                tracing::warn!(%error, "cannot release the lease; it expires by itself");
            }
        }
        summary.map_err(engine_error)
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(CliError::failed)?
        );
    } else {
        if let Some(plan) = &summary.plan {
            print_plan(plan);
        }
        print_summary(&summary, args.dry_run);
    }
    match summary.status {
        RunStatus::Failed => Err(CliError::failed(anyhow::anyhow!(
            "run {} failed: {}",
            summary.run_id,
            summary.error.clone().unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

async fn take_lease(
    store: std::sync::Arc<dyn mlc_store::StateStore>,
    connection: &str,
    wait: bool,
) -> Result<RunLease, CliError> {
    let instance = mlc_store::instance_name();
    let taken = if wait {
        RunLease::acquire_waiting(store, connection, &instance, DEFAULT_LEASE_TTL, &|holder| {
            eprintln!(
                "waiting: connection {connection} is held by {} (lease until {})",
                holder.holder,
                holder.expires_at.format("%H:%M:%S UTC")
            )
        })
        .await
    } else {
        RunLease::acquire(store, connection, &instance, DEFAULT_LEASE_TTL).await
    };
    taken.map_err(|error: LeaseError| CliError::failed(anyhow::anyhow!(error)))
}

fn engine_error(error: SyncError) -> CliError {
    CliError::failed(error)
}

fn print_summary(summary: &RunSummary, dry_run: bool) {
    let counts: Vec<String> = summary
        .counts
        .iter()
        .map(|(action, count)| format!("{action} {count}"))
        .collect();
    let what = if dry_run { "dry run" } else { "run" };
    println!(
        "{what} {}: {}; read {} customers; {}",
        summary.run_id,
        summary.status.as_str(),
        summary.customers_read,
        if counts.is_empty() {
            "nothing to do".to_string()
        } else {
            counts.join(", ")
        }
    );
    if let Some(plan) = &summary.plan {
        println!(
            "tokens it would spend: {} (plus {} to read the index of existing organizations and persons)",
            plan.write_tokens(),
            summary.index_tokens
        );
    } else {
        println!(
            "pipedrive tokens used: {} (of which {} to read the index)",
            summary.tokens_used, summary.index_tokens
        );
    }
    if summary.ecc_duplicates > 0 {
        println!(
            "{} ECC customer(s) look like duplicates of another (see `ml-connector audit`)",
            summary.ecc_duplicates
        );
    }
    for problem in summary.rejected.iter().take(10) {
        println!(
            "kept out: customer {} {}: {}",
            mlc_canonical::alpha_output(&problem.customer_number),
            problem.field,
            problem.reason
        );
    }
    if summary.rejected.len() > 10 {
        println!(
            "… and {} more (ml-connector audit --action error)",
            summary.rejected.len() - 10
        );
    }
    if let Some(alert) = &summary.alert {
        println!("alert: {alert}");
    }
    if summary.status == RunStatus::Deferred {
        println!("the rest is deferred until the daily budget resets; the next run picks it up");
    }
}

/// The plan of a dry run: every record that would cost a call, or needs a person's attention.
fn print_plan(plan: &Plan) {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header([
        "customer", "kind", "key", "action", "target", "tokens", "why",
    ]);
    let mut shown = 0;
    for entry in &plan.entries {
        if entry.operation == Operation::Skip {
            continue;
        }
        let target = match &entry.operation {
            Operation::Create { .. } => "new".to_string(),
            operation => operation
                .pipedrive_id()
                .map(|id| id.to_string())
                .unwrap_or_default(),
        };
        let mut why = entry.reason.clone();
        if let Some(score) = entry
            .evidence
            .as_ref()
            .and_then(|evidence| evidence.get("score"))
            .and_then(|score| score.as_f64())
        {
            why = format!("{why} (score {score:.3})");
        }
        if let Some(pair) = entry.evidence.as_ref().and_then(pair_evidence) {
            why = format!("{why}; {pair}");
        }
        table.add_row([
            mlc_canonical::alpha_output(&entry.customer_number),
            entry.kind.to_string(),
            mlc_canonical::alpha_output(&entry.ecc_key),
            entry.action().to_string(),
            target,
            entry.tokens.to_string(),
            why,
        ]);
        shown += 1;
    }
    if shown > 0 {
        println!("{table}");
    }
}

/// What the matcher compared for the pair it decided on (the link, the review candidate or
/// the nearest organization below the review band): "for: name, postal_code, vat; against:
/// house_number"; with the pair's probability and what each comparison weighs (log2 of its
/// Bayes factor), by the run's model or, for a run too small to estimate one, the defaults:
/// "probability 0.31; for: name exact_unique +6.2, vat same +3.1; against: address
/// other_street -4.0", "probability 0.62 (default model); ...".
fn pair_evidence(outcome: &serde_json::Value) -> Option<String> {
    let pair = ["evidence", "candidate", "nearest"]
        .iter()
        .find_map(|key| outcome.get(*key).filter(|pair| pair.is_object()))?;
    if let Some(weighted) = weighed_evidence(pair) {
        return Some(weighted);
    }
    let parts = |key: &str| -> String {
        pair.get(key)
            .and_then(|parts| parts.as_array())
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|part| part.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|joined| !joined.is_empty())
            .unwrap_or_else(|| "-".to_string())
    };
    Some(format!(
        "for: {}; against: {}",
        parts("agreed"),
        parts("disagreed")
    ))
}

/// The calibrated form of [`pair_evidence`], when the pair carries a probability and weights.
fn weighed_evidence(pair: &serde_json::Value) -> Option<String> {
    let probability = pair.get("probability")?.as_f64()?;
    let weights = pair.get("weights")?.as_array()?;
    let (mut for_pair, mut against) = (Vec::new(), Vec::new());
    for weighted in weights {
        let (Some(comparison), Some(level), Some(weight)) = (
            weighted.get("comparison").and_then(|value| value.as_str()),
            weighted.get("level").and_then(|value| value.as_str()),
            weighted.get("weight").and_then(|value| value.as_f64()),
        ) else {
            continue;
        };
        let shown = format!("{comparison} {level} {weight:+.1}");
        if weight >= 0.0 {
            for_pair.push(shown);
        } else {
            against.push(shown);
        }
    }
    let joined = |parts: Vec<String>| {
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    };
    let model = match pair.get("probability_from").and_then(|from| from.as_str()) {
        Some("defaults") => " (default model)",
        _ => "",
    };
    Some(format!(
        "probability {probability:.2}{model}; for: {}; against: {}",
        joined(for_pair),
        joined(against)
    ))
}

/// The progress line on a terminal; silent when stderr is not one.
struct TerminalProgress {
    bar: Option<ProgressBar>,
    read: AtomicU64,
    planned: AtomicU64,
    written: AtomicU64,
    tokens: AtomicU64,
}

impl TerminalProgress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        TerminalProgress {
            bar,
            read: AtomicU64::new(0),
            planned: AtomicU64::new(0),
            written: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    fn show(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "read {} customers, planned {}, handled {}, tokens {}",
                self.read.load(Ordering::Relaxed),
                self.planned.load(Ordering::Relaxed),
                self.written.load(Ordering::Relaxed),
                self.tokens.load(Ordering::Relaxed),
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for TerminalProgress {
    fn read(&self, customers: u64) {
        self.read.store(customers, Ordering::Relaxed);
        self.show();
    }

    fn planned(&self, entries: u64, _writes: u64) {
        self.planned.store(entries, Ordering::Relaxed);
        self.show();
    }

    fn handled(&self, _action: Action, tokens: u64) {
        self.written.fetch_add(1, Ordering::Relaxed);
        self.tokens.store(tokens, Ordering::Relaxed);
        self.show();
    }
}

#[cfg(test)]
mod tests {
    use super::pair_evidence;
    use serde_json::json;

    #[test]
    fn the_dry_run_shows_the_evidence_for_and_against_the_pair() {
        let review = json!({
            "decision": "review",
            "reason": "middle_band",
            "candidate": {"pipedrive_id": 7, "agreed": ["name", "postal_code", "vat"], "disagreed": ["house_number"]},
            "other": null
        });
        assert_eq!(
            pair_evidence(&review).as_deref(),
            Some("for: name, postal_code, vat; against: house_number")
        );
        let create =
            json!({"decision": "create", "nearest": {"agreed": [], "disagreed": ["street"]}});
        assert_eq!(
            pair_evidence(&create).as_deref(),
            Some("for: -; against: street")
        );
        assert_eq!(
            pair_evidence(&json!({"decision": "create", "nearest": null})),
            None
        );
    }

    #[test]
    fn a_calibrated_pair_shows_its_probability_and_what_each_comparison_weighs() {
        let review = json!({
            "decision": "review",
            "reason": "middle_band",
            "candidate": {
                "pipedrive_id": 7,
                "agreed": ["name"],
                "disagreed": ["phone"],
                "probability": 0.3127,
                "weights": [
                    {"comparison": "name", "level": "exact_shared_by_2_or_3", "weight": 2.5},
                    {"comparison": "phone", "level": "different", "weight": -1.27},
                    {"comparison": "owner", "level": "free", "weight": 0.31}
                ]
            },
            "other": null
        });
        assert_eq!(
            pair_evidence(&review).as_deref(),
            Some("probability 0.31; for: name exact_shared_by_2_or_3 +2.5, owner free +0.3; against: phone different -1.3")
        );
        let mut small_run = review;
        small_run["candidate"]["probability_from"] = json!("defaults");
        assert_eq!(
            pair_evidence(&small_run).as_deref(),
            Some("probability 0.31 (default model); for: name exact_shared_by_2_or_3 +2.5, owner free +0.3; against: phone different -1.3")
        );
    }
}
