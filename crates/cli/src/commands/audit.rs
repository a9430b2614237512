//! `ml-connector audit`: the audit trail a page at a time. Machine formats stream every matching
//! event as the store pages them out (never the whole trail in memory); the table shows the
//! newest `--limit` events cut to the terminal's width, `--wide` adds the record as read.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use mlc_store::{Action, AuditEvent, AuditQuery, StateStore};

use super::history::{parse_action, parse_time, HistoryFormat};
use crate::exit::CliError;
use crate::Cli;

/// Events read from the store at a time while streaming.
const PAGE: u32 = 1_000;
/// Events the table shows without `--limit`.
const TABLE_ROWS: u32 = 50;
/// The width a table is cut to when it goes to a pipe and `COLUMNS` is not set.
const PIPE_WIDTH: usize = 120;

/// Search the audit trail: what was read, what was decided, what Pipedrive answered.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector audit --customer 4711\n  ml-connector audit --customer 4711 --wide\n  ml-connector audit --action error --format csv > errors.csv\n  ml-connector audit --run 12 --format jsonl\n  ml-connector audit --before 81234          # the page older than event 81234"
)]
pub struct AuditArgs {
    /// Customer number, with or without leading zeros.
    #[arg(long)]
    pub customer: Option<String>,
    #[arg(long)]
    pub run: Option<i64>,
    /// create, update, link, skip, review, error, deferred, delete, label, re-asserted,
    /// drift-flagged
    #[arg(long, value_parser = parse_action)]
    pub action: Option<Action>,
    /// Only events recorded at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events recorded before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this event id (the next page: the last id a page showed).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// Only events newer than this event id.
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    /// At most this many events, newest first (table: 50 unless given; other formats: all).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Table: every column, uncut, with the record as read (`extracted`).
    #[arg(long)]
    pub wide: bool,
}

pub fn run(cli: &Cli, args: &AuditArgs) -> Result<(), CliError> {
    let config = super::load_config(cli)?;
    let customer_number = match &args.customer {
        Some(number) => Some(mlc_canonical::alpha_input(number, 10).ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "--customer {number}: longer than a KUNNR (10)"
            ))
        })?),
        None => None,
    };
    let limit = match (args.format, args.limit) {
        (HistoryFormat::Table, None) => Some(TABLE_ROWS),
        (_, limit) => limit,
    };
    let query = AuditQuery {
        connection: Some(config.sync.connection.clone()),
        customer_number,
        run_id: args.run,
        action: args.action,
        kind: None,
        since: args.since,
        until: args.until,
        before_id: args.before,
        after_id: args.after,
        limit,
    };
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_events(store.as_ref(), &query, args.format, args.wide, &mut out).await
    })
}

/// Calls `each` with every event `query` matches, newest first, reading `PAGE` at a time.
async fn page_through(
    store: &dyn StateStore,
    query: &AuditQuery,
    mut each: impl FnMut(AuditEvent) -> anyhow::Result<()>,
) -> Result<(), CliError> {
    let mut remaining = query.limit;
    let mut page_query = query.clone();
    loop {
        let page_size = remaining.map_or(PAGE, |left| left.min(PAGE));
        if page_size == 0 {
            return Ok(());
        }
        page_query.limit = Some(page_size);
        let page = store.audit(&page_query).await.map_err(CliError::failed)?;
        let read = page.len() as u32;
        page_query.before_id = page.last().map(|event| event.id);
        for event in page {
            each(event).map_err(CliError::failed)?;
        }
        remaining = remaining.map(|left| left - read);
        if read < page_size {
            return Ok(());
        }
    }
}

/// Writes the events `query` matches: machine formats as the pages come, the table once its
/// (limited) rows are read, since its columns take the width of their cells.
async fn write_events(
    store: &dyn StateStore,
    query: &AuditQuery,
    format: HistoryFormat,
    wide: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match format {
        HistoryFormat::Table => {
            let mut events = Vec::new();
            page_through(store, query, |event| {
                events.push(event);
                Ok(())
            })
            .await?;
            let width = if wide { None } else { Some(terminal_width()) };
            write_table(&mut *out, &events, width, query.limit).map_err(CliError::failed)?;
        }
        HistoryFormat::Json => {
            let mut first = true;
            write!(out, "[").map_err(CliError::failed)?;
            page_through(store, query, |event| {
                if !first {
                    write!(out, ",")?;
                }
                first = false;
                write!(out, "\n  ")?;
                serde_json::to_writer(&mut *out, &audit_json(&event))?;
                Ok(())
            })
            .await?;
            writeln!(out, "\n]").map_err(CliError::failed)?;
        }
        HistoryFormat::Jsonl => {
            page_through(store, query, |event| {
                serde_json::to_writer(&mut *out, &audit_json(&event))?;
                writeln!(out)?;
                Ok(())
            })
            .await?;
        }
        HistoryFormat::Csv => {
            let mut writer = csv::Writer::from_writer(&mut *out);
            writer
                .write_record(CSV_COLUMNS)
                .context("cannot write CSV")
                .map_err(CliError::failed)?;
            page_through(store, query, |event| {
                let row = audit_json(&event);
                writer.write_record(CSV_COLUMNS.iter().map(|column| plain(&row[*column])))?;
                Ok(())
            })
            .await?;
            writer
                .flush()
                .context("cannot write CSV")
                .map_err(CliError::failed)?;
        }
    }
    out.flush().map_err(CliError::failed)
}

/// An event as JSON, for `--format json`, `jsonl` and CSV: a skip kept narrow carries the
/// record as read by `full_copy_id`, the event that holds it.
pub fn audit_json(event: &AuditEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "connection": event.connection,
        "run_id": event.run_id,
        "kind": event.kind.as_str(),
        "ecc_key": event.ecc_key,
        "customer_number": event.customer_number,
        "read_at": event.read_at.to_rfc3339(),
        "source": event.source,
        "extracted": event.extracted,
        "full_copy_id": event.full_copy_id,
        "content_hash": event.content_hash,
        "action": event.action.as_str(),
        "pipedrive_id": event.pipedrive_id,
        "outcome": event.outcome,
        "error": event.error,
        "recorded_at": event.recorded_at.to_rfc3339(),
    })
}

const CSV_COLUMNS: [&str; 16] = [
    "id",
    "run_id",
    "recorded_at",
    "kind",
    "ecc_key",
    "customer_number",
    "action",
    "pipedrive_id",
    "outcome",
    "error",
    "source",
    "read_at",
    "content_hash",
    "full_copy_id",
    "extracted",
    "connection",
];

/// A JSON value as a CSV or table cell: strings bare, null empty, the rest as compact JSON.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The terminal's width when stdout is one, else `COLUMNS`, else `PIPE_WIDTH`.
fn terminal_width() -> usize {
    if let Some(width) = comfy_table::Table::new().width() {
        return usize::from(width);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .filter(|width| *width >= 40)
        .unwrap_or(PIPE_WIDTH)
}

/// One table column: its header, and its cell for an event.
struct Column {
    header: &'static str,
    cell: fn(&AuditEvent) -> String,
    /// Takes what the other columns leave (the outcome); the others keep their content's width.
    flexible: bool,
}

const fn column(header: &'static str, cell: fn(&AuditEvent) -> String) -> Column {
    Column {
        header,
        cell,
        flexible: false,
    }
}

fn id_cell(event: &AuditEvent) -> String {
    event.id.to_string()
}

fn run_cell(event: &AuditEvent) -> String {
    event.run_id.to_string()
}

fn recorded_cell(event: &AuditEvent) -> String {
    event.recorded_at.format("%Y-%m-%d %H:%M").to_string()
}

fn kind_cell(event: &AuditEvent) -> String {
    event.kind.to_string()
}

fn key_cell(event: &AuditEvent) -> String {
    mlc_canonical::alpha_output(&event.ecc_key)
}

fn action_cell(event: &AuditEvent) -> String {
    event.action.to_string()
}

fn pipedrive_cell(event: &AuditEvent) -> String {
    event
        .pipedrive_id
        .map(|id| id.to_string())
        .unwrap_or_default()
}

fn short_hash_cell(event: &AuditEvent) -> String {
    event.content_hash.chars().take(10).collect()
}

/// The outcome and the error after it; for a narrow skip first the event holding the record as
/// read (first, so a cut keeps it).
fn outcome_cell(event: &AuditEvent) -> String {
    let mut text = match event.full_copy_id {
        Some(copy) => format!("copy #{copy}: {}", event.outcome),
        None => event.outcome.clone(),
    };
    if let Some(error) = &event.error {
        text.push_str(": ");
        text.push_str(error);
    }
    text
}

/// The columns for a table `width` wide (`None`: `--wide`, every column).
fn columns_for(width: Option<usize>) -> Vec<Column> {
    let outcome = Column {
        header: "outcome",
        cell: outcome_cell,
        flexible: true,
    };
    match width {
        None => vec![
            column("id", id_cell),
            column("run", run_cell),
            column("recorded", recorded_cell),
            column("kind", kind_cell),
            column("ecc_key", key_cell),
            column("action", action_cell),
            column("pipedrive_id", pipedrive_cell),
            column("outcome", outcome_cell),
            column("source", |event| event.source.clone()),
            column("read_at", |event| event.read_at.to_rfc3339()),
            column("content_hash", |event| event.content_hash.clone()),
            column("extracted", |event| event.extracted.to_string()),
        ],
        Some(width) if width < 110 => vec![
            column("id", id_cell),
            column("run", run_cell),
            column("kind", kind_cell),
            column("ecc_key", key_cell),
            column("action", action_cell),
            outcome,
        ],
        Some(_) => vec![
            column("id", id_cell),
            column("run", run_cell),
            column("recorded", recorded_cell),
            column("kind", kind_cell),
            column("ecc_key", key_cell),
            column("action", action_cell),
            column("pipedrive", pipedrive_cell),
            column("hash", short_hash_cell),
            outcome,
        ],
    }
}

/// Cuts `text` to `width` characters, marking the cut with `…`.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut shortened: String = text.chars().take(width.saturating_sub(1)).collect();
    shortened.push('…');
    shortened
}

/// The table of `events`, every line at most `width` characters (`None`: uncut), then a line
/// saying how to see more.
fn write_table(
    out: &mut impl Write,
    events: &[AuditEvent],
    width: Option<usize>,
    limit: Option<u32>,
) -> anyhow::Result<()> {
    let columns = columns_for(width);
    let mut cells: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            columns
                .iter()
                .map(|column| {
                    // One line a row: newlines in a record or an error would break the table.
                    (column.cell)(event).replace(['\n', '\r'], " ")
                })
                .collect()
        })
        .collect();
    if let Some(width) = width {
        // Each column takes one space either side; the outer border one character each side.
        let frame = columns.len() * 3 + 1;
        let fixed: usize = columns
            .iter()
            .enumerate()
            .filter(|(_, column)| !column.flexible)
            .map(|(index, column)| {
                cells
                    .iter()
                    .map(|row| row[index].chars().count())
                    .chain([column.header.len()])
                    .max()
                    .unwrap_or(0)
            })
            .sum();
        let flexible_width = width.saturating_sub(frame + fixed).max(8);
        for (index, column) in columns.iter().enumerate() {
            if column.flexible {
                for row in &mut cells {
                    row[index] = cut(&row[index], flexible_width);
                }
            }
        }
    }
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(columns.iter().map(|column| column.header));
    for row in cells {
        table.add_row(row);
    }
    writeln!(out, "{table}")?;
    let shown = events.len();
    match (events.last(), limit) {
        (Some(last), Some(limit)) if shown as u32 == limit => writeln!(
            out,
            "{shown} newest event(s) shown; older ones: --before {}",
            last.id
        )?,
        _ => writeln!(out, "{shown} event(s)")?,
    }
    if width.is_some() && events.iter().any(|event| event.full_copy_id.is_some()) {
        writeln!(
            out,
            "copy #N: a skip keeps its hash; event N holds the record as read (--wide)."
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlc_store::EntityKind;

    fn event(id: i64, action: Action, outcome: &str) -> AuditEvent {
        AuditEvent {
            id,
            connection: "default".into(),
            run_id: 12,
            kind: EntityKind::Person,
            ecc_key: "0000004711-0000000001".into(),
            customer_number: "0000004711".into(),
            read_at: Utc::now(),
            source: "soap-rfc:KNVK".into(),
            extracted: serde_json::json!({"first_name": "Anna", "last_name": "Schmidt",
                "notes": "x".repeat(500)}),
            extracted_later: None,
            content_hash: "ab".repeat(32),
            action,
            pipedrive_id: Some(123_456),
            outcome: outcome.into(),
            error: (action == Action::Error).then(|| "y\n".repeat(300)),
            recorded_at: Utc::now(),
            full_copy_id: (action == Action::Skip).then_some(id - 1),
        }
    }

    fn table(width: Option<usize>) -> String {
        let events = vec![
            event(
                81_235,
                Action::Skip,
                "no call: unchanged since the last write",
            ),
            event(81_234, Action::Error, "not written"),
            event(81_233, Action::Create, &"201 created ".repeat(20)),
        ];
        let mut out = Vec::new();
        write_table(&mut out, &events, width, Some(3)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_fits_80_and_120_column_terminals() {
        for width in [80, 120] {
            let text = table(Some(width));
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width,
                    "{} > {width}: {line}",
                    line.chars().count()
                );
            }
            assert!(text.contains("81235"), "{text}");
            assert!(text.contains("--before 81233"), "{text}");
        }
        assert!(
            table(Some(120)).contains("abababab"),
            "the hash at 120 columns"
        );
    }

    #[test]
    fn a_narrow_skip_points_at_the_event_holding_the_record_as_read() {
        let text = table(Some(120));
        assert!(text.contains("copy #81234"), "{text}");
    }

    #[test]
    fn wide_shows_the_extracted_record_uncut() {
        let text = table(None);
        assert!(text.contains(&"x".repeat(500)), "{text}");
        assert!(text.contains("content_hash"), "{text}");
    }
}
