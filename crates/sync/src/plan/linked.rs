//! A record linked to a Pipedrive record, organization and person alike. Unchanged since its
//! last write it costs nothing, unless the run looks for drift: then the fields edited in
//! Pipedrive since are an update, which the executor settles by `[sync.drift]`
//! (`crate::drift`).

use serde_json::{json, Value};

use super::cost::{GET_TOKENS, UPDATE_TOKENS};
use super::{DriftCheck, Operation, PlanEntry};
use crate::existing::ExistingRecord;
use crate::map::{diff, MappedRecord};

/// A linked record whose mapped content is what was last pushed: skipped, unless the run looks
/// for drift; then the fields Pipedrive holds otherwise (edited there since) are an update
/// marked `drift`, which the executor settles by `[sync.drift]`. `current` is the record in the
/// index (`None` without an index, `Some(None)` when the index does not hold it).
pub(super) fn drift_check(
    check: DriftCheck,
    mut planned: PlanEntry,
    mapped: MappedRecord,
    managed_labels: &[i64],
    id: i64,
    current: Option<Option<&dyn ExistingRecord>>,
) -> PlanEntry {
    planned.reason = "unchanged since the last write".into();
    match (check, current) {
        (DriftCheck::Off, _) => {
            planned.pushed_hash = None;
        }
        (_, Some(Some(current))) => {
            let changes = diff(&mapped, current, managed_labels);
            if changes.is_empty() {
                planned.pushed_hash = None;
                planned.reason =
                    "unchanged since the last write, and Pipedrive holds what was pushed".into();
                return planned;
            }
            let fields: Vec<&str> = changes.owned_fields().collect();
            let held: serde_json::Map<String, Value> = fields
                .iter()
                .map(|field| {
                    (
                        field.to_string(),
                        current.current_value(field).unwrap_or(Value::Null),
                    )
                })
                .collect();
            planned.reason = format!(
                "edited in Pipedrive since the last write: {}",
                fields.join(", ")
            );
            planned.evidence = Some(json!({ "pipedrive": held }));
            planned.operation = Operation::Update {
                id,
                changes,
                diffed: true,
            };
            planned.drift = true;
            planned.tokens = UPDATE_TOKENS;
        }
        (DriftCheck::AgainstIndex, None) => {
            // Planned again once the index is loaded.
            planned.pushed_hash = None;
            planned.needs_index = true;
        }
        (DriftCheck::AgainstRecord, None) | (_, Some(None)) => {
            // Fetched by id: a record gone from the list is found deleted (and then follows
            // `sync.on_pipedrive_deleted`) or merged; one edited is settled field by field.
            planned.reason =
                "unchanged since the last write; compared with the record in Pipedrive".into();
            planned.operation = Operation::Update {
                id,
                changes: mapped,
                diffed: false,
            };
            planned.drift = true;
            planned.tokens = GET_TOKENS + UPDATE_TOKENS;
        }
    }
    planned
}
