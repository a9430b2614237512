//! `review list` (pairs ranked, with their evidence, or their groups) and `review history`
//! (the decision records).

use mlc_canonical::alpha_output;
use mlc_store::{EntityKind, ReviewDecisionRecord, ReviewStatus, StateStore};
use mlc_sync::review_queue::{self, RankedPair, ReviewEvidence, ScoreBand};
use serde_json::{json, Value};

use crate::commands::history::{print_rows_cut, HistoryFormat};
use crate::exit::CliError;

/// The evidence column's width in the table: with the others, a row fits 100 columns.
const EVIDENCE_CHARS: usize = 36;
/// The group column's width in the table.
const GROUP_CHARS: usize = 14;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Decided pairs too (after the pending ones).
    #[arg(long)]
    all: bool,
    /// One row per group of pending pairs proposing the same Pipedrive record to several
    /// customers, instead of one per pair.
    #[arg(long)]
    groups: bool,
    /// The whole evidence and the reason in the table, however wide.
    #[arg(long)]
    wide: bool,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Only the decisions of this pair.
    id: Option<i64>,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,
}

pub async fn list(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    args: &ListArgs,
) -> Result<(), CliError> {
    let connection = &config.sync.connection;
    let status = (!args.all && !args.groups).then_some(ReviewStatus::Pending);
    let items = store
        .reviews(connection, status)
        .await
        .map_err(CliError::failed)?;
    if args.groups {
        return print_groups(&items, args.format);
    }
    let decisions = latest_decisions(store, connection).await?;
    let ranked = review_queue::rank(&items, ScoreBand::from_config(&config.sync));
    let rows: Vec<Value> = ranked
        .iter()
        .map(|pair| pair_json(pair, decisions.get(&pair.item.id), args.wide))
        .collect();
    let mut columns = vec![
        "id",
        "customer",
        "record",
        "score",
        "probability",
        "group",
        "evidence",
    ];
    if args.wide {
        columns.push("reason");
    }
    if args.all {
        columns.extend(["status", "decided_by"]);
    }
    let width = if args.wide { usize::MAX } else { 60 };
    print_rows_cut(args.format, &columns, &rows, width).map_err(CliError::failed)?;
    let from_defaults = rows
        .iter()
        .any(|row| row["probability_from"].as_str() == Some("defaults"));
    if args.format == HistoryFormat::Table && from_defaults {
        println!("probability: how likely the pair is one company. Some are by the default model");
        println!("(their run had too few pairs to estimate its own): see `--format json`.");
    }
    if args.format == HistoryFormat::Table && ranked.iter().any(|pair| pair.group.len() > 1) {
        println!("group: the pending pairs proposing the same Pipedrive record. Settle one with");
        println!("`review accept --group ID` (pair ID gets it, the others are rejected)");
        println!("or `review reject --group ID` (all rejected).");
    }
    Ok(())
}

/// A pair as `review list` prints it; the table shows some of these fields, JSON all.
fn pair_json(pair: &RankedPair, decision: Option<&ReviewDecisionRecord>, wide: bool) -> Value {
    let item = &pair.item;
    let evidence = ReviewEvidence::read(&item.evidence);
    let summary_chars = if wide { usize::MAX } else { EVIDENCE_CHARS };
    let group = if pair.group.len() > 1 {
        cut(
            &ids(&pair.group),
            if wide { usize::MAX } else { GROUP_CHARS },
        )
    } else {
        String::new()
    };
    json!({
        "rank": pair.rank,
        "id": item.id,
        "kind": item.kind.as_str(),
        "ecc_key": item.ecc_key,
        "customer": alpha_output(&item.ecc_key),
        "pipedrive_id": item.pipedrive_id,
        "record": record(item.kind, item.pipedrive_id),
        "score": (item.score * 1000.0).round() / 1000.0,
        "probability": evidence.probability.map(|probability| (probability * 100.0).round() / 100.0),
        "probability_from": evidence.probability_from,
        "status": item.status.as_str(),
        "group": group,
        "group_pairs": pair.group,
        "settles": pair.settles,
        "distance_to_threshold": (pair.distance_to_threshold * 1000.0).round() / 1000.0,
        "evidence": evidence.summary(summary_chars),
        "reason": evidence.reason,
        "rule": evidence.rule,
        "comparisons": evidence.comparisons,
        "evidence_stored": item.evidence,
        "created_at": item.created_at.to_rfc3339(),
        "decided_at": item.decided_at.map(|at| at.to_rfc3339()),
        "decided_by": decision.map(|decision| decision.decided_by.clone()),
        "decision_rule": decision.map(|decision| decision.rule.to_string()),
    })
}

fn print_groups(items: &[mlc_store::ReviewItem], format: HistoryFormat) -> Result<(), CliError> {
    let mut groups: Vec<review_queue::ReviewGroup> = review_queue::groups(items)
        .into_values()
        .filter(|group| group.pair_ids.len() > 1)
        .collect();
    groups.sort_by(|a, b| {
        b.settles()
            .cmp(&a.settles())
            .then(a.pair_ids[0].cmp(&b.pair_ids[0]))
    });
    let scores: std::collections::HashMap<i64, f64> =
        items.iter().map(|item| (item.id, item.score)).collect();
    let rows: Vec<Value> = groups
        .iter()
        .map(|group| {
            let best = group
                .pair_ids
                .iter()
                .filter_map(|id| scores.get(id).copied())
                .fold(f64::NAN, f64::max);
            json!({
                "group": group.pair_ids[0],
                "record": record(group.kind, group.pipedrive_id),
                "kind": group.kind.as_str(),
                "pipedrive_id": group.pipedrive_id,
                "settles": group.settles(),
                "pairs": ids(&group.pair_ids),
                "pair_ids": group.pair_ids,
                "customers": group.ecc_keys.iter().map(|key| alpha_output(key)).collect::<Vec<_>>().join(", "),
                "best_score": (best * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    let columns = [
        "group",
        "record",
        "settles",
        "pairs",
        "customers",
        "best_score",
    ];
    print_rows_cut(format, &columns, &rows, 60).map_err(CliError::failed)?;
    if format == HistoryFormat::Table {
        println!("Settle a group with `review accept --group ID` (pair ID gets the record, the");
        println!("others are rejected) or `review reject --group ID` (ID: any pair of the group).");
    }
    Ok(())
}

pub async fn history(
    config: &mlc_config::Config,
    store: &dyn StateStore,
    args: &HistoryArgs,
) -> Result<(), CliError> {
    let decisions = store
        .review_decisions(&config.sync.connection, args.id)
        .await
        .map_err(CliError::failed)?;
    let rows: Vec<Value> = decisions
        .iter()
        .map(|decision| {
            json!({
                "id": decision.id,
                "pair": decision.review_id,
                "customer": alpha_output(&decision.ecc_key),
                "ecc_key": decision.ecc_key,
                "record": record(decision.kind, decision.pipedrive_id),
                "kind": decision.kind.as_str(),
                "pipedrive_id": decision.pipedrive_id,
                "score": (decision.score * 1000.0).round() / 1000.0,
                "decision": decision.decision.as_str(),
                "how": decision.rule.to_string(),
                "rule": decision.rule,
                "decided_by": decision.decided_by,
                "decided_at": decision.decided_at.to_rfc3339(),
            })
        })
        .collect();
    let columns = [
        "pair",
        "customer",
        "record",
        "score",
        "decision",
        "how",
        "decided_by",
        "decided_at",
    ];
    print_rows_cut(args.format, &columns, &rows, 60).map_err(CliError::failed)
}

/// Each pair's newest decision record.
async fn latest_decisions(
    store: &dyn StateStore,
    connection: &str,
) -> Result<std::collections::HashMap<i64, ReviewDecisionRecord>, CliError> {
    let decisions = store
        .review_decisions(connection, None)
        .await
        .map_err(CliError::failed)?;
    Ok(decisions
        .into_iter()
        .map(|decision| (decision.review_id, decision))
        .collect())
}

/// `org 17` or `person 17`.
pub fn record(kind: EntityKind, pipedrive_id: i64) -> String {
    match kind {
        EntityKind::Organization => format!("org {pipedrive_id}"),
        EntityKind::Person => format!("person {pipedrive_id}"),
    }
}

pub fn ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut shortened: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    shortened.push('…');
    shortened
}
