//! The pages behind the login: overview (`overview.rs`), runs and one run (`runs.rs`), the audit
//! trail and one customer's history (`audit.rs`), the review queue (`review.rs`). Each handler
//! reads the store as the API does and hands plain strings to a template; what they share to
//! format a run or an audit event is here.

mod audit;
mod overview;
mod review;
mod runs;

#[cfg(test)]
pub use audit::parse_time;
pub use audit::{audit, customer};
pub use overview::{overview, trigger_run};
#[cfg(test)]
pub use review::review_reason;
pub use review::{bulk, decide, review};
pub use runs::{run, runs};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mlc_canonical::alpha_output;
use mlc_store::{AuditEvent, EntityKind, RunRecord, StoreError};
use serde_json::Value;

use crate::ServiceState;

pub(super) type PageResult = Result<Response, PageError>;

/// A store failure while building a page: logged, and shown without its detail.
pub struct PageError(StoreError);

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "UI page failed in the store");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the state store failed; the service's log says why",
        )
            .into_response()
    }
}

// ── formatting shared by the pages ──

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn duration(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    let Some(end) = end else {
        return "running".into();
    };
    let seconds = (end - start).num_seconds().max(0);
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3_599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3_600, seconds % 3_600 / 60),
    }
}

/// "create 30, update 2" (actions with a count, in the store's order).
fn counts_summary(counts: &mlc_store::ActionCounts) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(action, count)| format!("{action} {count}"))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// The address of a record in Pipedrive's web app. The connector's `pipedrive.base_url` is
/// the company domain (`https://acme.pipedrive.com`); the generic API host is the app's.
pub fn pipedrive_record_link(base_url: &str, kind: EntityKind, id: i64) -> String {
    let base = base_url.trim_end_matches('/');
    let base = match base {
        "https://api.pipedrive.com" | "https://api-proxy.pipedrive.com" => {
            "https://app.pipedrive.com"
        }
        other => other,
    };
    format!("{base}/{}/{id}", kind.as_str())
}

/// A JSON document as (path, value) lines: `billing_address.city = Stuttgart`,
/// `contacts[0].last_name = Schmidt`; nulls and empty strings as "—".
pub fn flatten_fields(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, inner, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, inner) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{index}]"), inner, out);
                }
            }
            Value::Array(_) | Value::Null => out.push((prefix.to_string(), "—".into())),
            Value::String(text) if text.is_empty() => out.push((prefix.to_string(), "—".into())),
            Value::String(text) => out.push((prefix.to_string(), text.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The name an event's extracted record carries: a customer's name, a contact's first and last.
fn record_name(extracted: &Value) -> String {
    if let Some(name) = extracted["name"].as_str() {
        return name.to_string();
    }
    [&extracted["first_name"], &extracted["last_name"]]
        .iter()
        .filter_map(|part| part.as_str())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn address_line(address: &Value) -> String {
    let text = |key: &str| address[key].as_str().unwrap_or("").trim().to_string();
    let street = [text("street"), text("house_number")].join(" ");
    let town = [text("postal_code"), text("city")].join(" ");
    [street.trim(), town.trim(), text("country").as_str()]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_row(run: &RunRecord) -> RunRow {
    RunRow {
        id: run.id,
        connection: run.connection.clone(),
        mode: run.mode.clone(),
        status: run.status.as_str().to_string(),
        started: time(run.started_at),
        finished: run
            .finished_at
            .map(time)
            .unwrap_or_else(|| "not yet".into()),
        duration: duration(run.started_at, run.finished_at),
        counts_summary: counts_summary(&run.counts),
        tokens: run.tokens_used,
        instance: run.instance.clone(),
        alert: run.alert.clone(),
        error: run.error.clone(),
    }
}

struct RunRow {
    id: i64,
    connection: String,
    mode: String,
    status: String,
    started: String,
    finished: String,
    duration: String,
    counts_summary: String,
    tokens: u64,
    instance: String,
    alert: Option<String>,
    error: Option<String>,
}

struct EventRow {
    id: i64,
    connection: String,
    run_id: i64,
    kind: String,
    ecc_key: String,
    customer_display: String,
    name: String,
    action: String,
    pipedrive_id: i64,
    pipedrive_link: Option<String>,
    outcome: String,
    error: Option<String>,
    recorded: String,
    read: String,
    source: String,
    content_hash: String,
    /// The hash's first characters, for a table cell.
    short_hash: String,
    /// A skip that keeps its hash only: the event holding the record as read.
    full_copy_id: Option<i64>,
    /// The extracted record's fields; empty for such a skip, whose copy shows them.
    fields: Vec<(String, String)>,
}

fn event_row(state: &ServiceState, event: &AuditEvent) -> EventRow {
    let pipedrive_link = event.pipedrive_id.and_then(|id| {
        state.connection(&event.connection).map(|connection| {
            pipedrive_record_link(&connection.config().pipedrive.base_url, event.kind, id)
        })
    });
    EventRow {
        id: event.id,
        connection: event.connection.clone(),
        run_id: event.run_id,
        kind: event.kind.to_string(),
        ecc_key: alpha_output(&event.ecc_key),
        customer_display: alpha_output(&event.customer_number),
        name: record_name(&event.extracted),
        action: event.action.to_string(),
        pipedrive_id: event.pipedrive_id.unwrap_or_default(),
        pipedrive_link,
        outcome: event.outcome.clone(),
        error: event.error.clone(),
        recorded: time(event.recorded_at),
        read: time(event.read_at),
        source: event.source.clone(),
        content_hash: event.content_hash.clone(),
        short_hash: event.content_hash.chars().take(12).collect(),
        full_copy_id: event.full_copy_id,
        fields: if event.full_copy_id.is_some() {
            Vec::new()
        } else {
            flatten_fields(&event.extracted)
        },
    }
}
