//! `ml-connector runs`: the history of runs in the state store, as a table for people or as
//! JSON / JSON lines / CSV for machines; the formats and parsers `audit` shares.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use mlc_store::{Action, RunQuery, RunRecord};

use crate::exit::CliError;
use crate::Cli;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    Csv,
}

/// List the runs, newest first.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector runs\n  ml-connector runs --format json --limit 5"
)]
pub struct RunsArgs {
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only this connection (default: the config's).
    #[arg(long)]
    pub connection: Option<String>,
}

pub(crate) fn parse_action(text: &str) -> Result<Action, String> {
    Action::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|action| action.as_str()).collect();
        format!("`{text}` is not one of {}", names.join(", "))
    })
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
        .ok_or_else(|| {
            format!("`{text}` is neither RFC 3339 (2026-11-26T08:00:00Z) nor YYYY-MM-DD")
        })
}

pub fn runs(cli: &Cli, args: &RunsArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let runtime = crate::runtime()?;
    let runs = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        store
            .runs(&RunQuery {
                connection: Some(
                    args.connection
                        .clone()
                        .unwrap_or(config.sync.connection.clone()),
                ),
                limit: Some(args.limit),
                id: None,
            })
            .await
            .map_err(CliError::failed)
    })?;
    let rows: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
    let columns = [
        "id",
        "connection",
        "mode",
        "started_at",
        "finished_at",
        "status",
        "instance",
        "counts",
        "tokens_used",
        "alert",
    ];
    print_rows(args.format, &columns, &rows).map_err(CliError::failed)
}

/// A run as JSON: the fields of `runs --format json` the brief promises, counts by action.
pub fn run_json(run: &RunRecord) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = run
        .counts
        .iter()
        .map(|(action, count)| (action.as_str().to_string(), serde_json::Value::from(*count)))
        .collect();
    serde_json::json!({
        "id": run.id,
        "connection": run.connection,
        "mode": run.mode,
        "started_at": run.started_at.to_rfc3339(),
        "finished_at": run.finished_at.map(|time| time.to_rfc3339()),
        "status": run.status.as_str(),
        "instance": run.instance,
        "counts": counts,
        "tokens_used": run.tokens_used,
        "alert": run.alert,
        "error": run.error,
    })
}

/// Prints JSON rows in the chosen format; `columns` picks and orders the table/CSV columns.
pub fn print_rows(
    format: HistoryFormat,
    columns: &[&str],
    rows: &[serde_json::Value],
) -> anyhow::Result<()> {
    print_rows_cut(format, columns, rows, 60)
}

/// `print_rows` with table cells cut at `max_cell_chars` characters.
pub fn print_rows_cut(
    format: HistoryFormat,
    columns: &[&str],
    rows: &[serde_json::Value],
    max_cell_chars: usize,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        HistoryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, rows)?;
            writeln!(out)?;
        }
        HistoryFormat::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, row)?;
                writeln!(out)?;
            }
        }
        HistoryFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(columns)?;
            for row in rows {
                writer
                    .write_record(columns.iter().map(|column| cell(&row[*column], usize::MAX)))?;
            }
            writer.flush().context("cannot write CSV")?;
        }
        HistoryFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
            table.set_header(columns.iter().copied());
            for row in rows {
                table.add_row(
                    columns
                        .iter()
                        .map(|column| cell(&row[*column], max_cell_chars)),
                );
            }
            writeln!(out, "{table}")?;
            writeln!(out, "{} row(s)", rows.len())?;
        }
    }
    Ok(())
}

/// One value as a table or CSV cell: strings bare, null empty, objects as compact JSON.
fn cell(value: &serde_json::Value, max_chars: usize) -> String {
    let text = match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(map) if map.values().all(|value| value.is_number()) => map
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    if text.chars().count() <= max_chars {
        return text;
    }
    let mut shortened: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    shortened.push('…');
    shortened
}
