//! Drift: an ECC-mastered field of a linked record that someone edited in Pipedrive. Decided
//! here, purely: which `[sync.drift]` policy applies to which drifted field (by its group), and
//! when a field set back too often in a day is flagged instead of fought over. The executor
//! hands in the diff between what was last pushed and what Pipedrive holds now, and the fields
//! it re-asserted in the last 24 hours (from the audit trail, see [`reasserted_fields`]).

use std::collections::{BTreeMap, HashMap};

use mlc_config::{DriftConfig, DriftPolicy};
use serde::Serialize;
use serde_json::{json, Value};

use crate::existing::CUSTOM_FIELD_PREFIX;
use crate::map::MappedRecord;

/// The `[sync.drift]` group of a mapped field key ("name", "address", "custom_fields.<key>"...).
pub fn field_group(field: &str) -> &str {
    if field.starts_with(CUSTOM_FIELD_PREFIX) {
        return "custom_fields";
    }
    match field {
        "owner_id" => "owner",
        "label_ids" => "labels",
        "org_id" => "organization",
        other => other,
    }
}

/// The policy of one mapped field. `custom_name` is the custom field's Pipedrive name, when it
/// is one. A standard field the config has no group for (a mapped `website`, say) is ECC's like
/// every mapped field: enforced.
pub fn policy_for(config: &DriftConfig, field: &str, custom_name: Option<&str>) -> DriftPolicy {
    if let Some(policy) = custom_name.and_then(|name| config.custom.get(name)) {
        return *policy;
    }
    match field_group(field) {
        "name" => config.name,
        "address" => config.address,
        "emails" => config.emails,
        "phones" => config.phones,
        "owner" => config.owner,
        "labels" => config.labels,
        "organization" => config.organization,
        "custom_fields" => config.custom_fields,
        _ => DriftPolicy::Enforce,
    }
}

/// A drifted field left as Pipedrive holds it, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlaggedField {
    /// The mapped key.
    pub field: String,
    /// What a person reads: the custom field's name, or the key.
    pub name: String,
    pub reason: String,
}

/// What is done with the drifted fields of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSettlement {
    /// The fields to set back (the PATCH body), with the values ECC says.
    pub reassert: MappedRecord,
    pub flagged: Vec<FlaggedField>,
    /// Drifted fields whose policy is `ignore`.
    pub ignored: Vec<String>,
}

/// The readable name of a mapped field: a custom field's Pipedrive name, else its key.
pub fn field_name(field: &str, custom_names: &HashMap<String, String>) -> String {
    field
        .strip_prefix(CUSTOM_FIELD_PREFIX)
        .and_then(|key| custom_names.get(key))
        .cloned()
        .unwrap_or_else(|| field.to_string())
}

/// Splits the drifted fields (`drifted`: the diff of what was pushed against what Pipedrive
/// holds, with the values to push) by their policies. A field to enforce that was re-asserted
/// `max_reasserts_per_day` times in the last 24 hours already is flagged instead.
pub fn settle_drift(
    drifted: &MappedRecord,
    config: &DriftConfig,
    custom_names: &HashMap<String, String>,
    reasserted_today: &BTreeMap<String, u32>,
) -> DriftSettlement {
    let mut settlement = DriftSettlement {
        reassert: MappedRecord::new(drifted.kind),
        flagged: Vec::new(),
        ignored: Vec::new(),
    };
    for (field, wanted) in drifted.fields() {
        let name = field_name(field, custom_names);
        let custom_name = field
            .starts_with(CUSTOM_FIELD_PREFIX)
            .then_some(name.as_str());
        match policy_for(config, field, custom_name) {
            DriftPolicy::Ignore => settlement.ignored.push(field.clone()),
            DriftPolicy::Flag => settlement.flagged.push(FlaggedField {
                field: field.clone(),
                reason: format!(
                    "sync.drift.{} = \"flag\": left as edited in Pipedrive",
                    field_group(field)
                ),
                name,
            }),
            DriftPolicy::Enforce => {
                let times = reasserted_today.get(field).copied().unwrap_or(0);
                if times >= config.max_reasserts_per_day {
                    settlement.flagged.push(FlaggedField {
                        field: field.clone(),
                        reason: format!(
                            "set back {times} times in 24 hours and edited again \
                             (sync.drift.max_reasserts_per_day = {}): flagged instead of \
                             fought over",
                            config.max_reasserts_per_day
                        ),
                        name,
                    });
                } else {
                    settlement.reassert.set(field.clone(), wanted.clone());
                }
            }
        }
    }
    settlement
}

/// The `extracted` JSON of a drift audit event: what was read from Pipedrive for each drifted
/// field and what ECC says, so the trail answers "what did the salesperson type?".
pub fn drift_record(
    fields: &[&str],
    pipedrive: &BTreeMap<String, Value>,
    drifted: &MappedRecord,
    source: &str,
) -> Value {
    let pipedrive: BTreeMap<&str, &Value> = fields
        .iter()
        .map(|field| (*field, pipedrive.get(*field).unwrap_or(&Value::Null)))
        .collect();
    let ecc: BTreeMap<&str, &Value> = fields
        .iter()
        .map(|field| (*field, drifted.get(field).unwrap_or(&Value::Null)))
        .collect();
    json!({"drift": {"fields": fields, "pipedrive": pipedrive, "ecc": ecc, "found_by": source}})
}

/// How often each field was re-asserted, from the `extracted` JSON of the "re-asserted" audit
/// events of a record (as [`drift_record`] writes it).
pub fn reasserted_fields<'e>(extracted: impl Iterator<Item = &'e Value>) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for event in extracted {
        let fields = event
            .pointer("/drift/fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for field in fields {
            *counts.entry(field.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlc_canonical::state::EntityKind;

    fn drifted(fields: &[(&str, Value)]) -> MappedRecord {
        let mut record = MappedRecord::new(EntityKind::Organization);
        for (field, value) in fields {
            record.set(*field, value.clone());
        }
        record
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([("abc".to_string(), "ECC Payment Terms".to_string())])
    }

    #[test]
    fn every_mapped_field_belongs_to_its_group() {
        assert_eq!(field_group("name"), "name");
        assert_eq!(field_group("address"), "address");
        assert_eq!(field_group("owner_id"), "owner");
        assert_eq!(field_group("label_ids"), "labels");
        assert_eq!(field_group("org_id"), "organization");
        assert_eq!(field_group("custom_fields.abc"), "custom_fields");
        assert_eq!(field_group("emails"), "emails");
    }

    #[test]
    fn by_default_every_drifted_field_is_set_back() {
        let changes = drifted(&[
            ("name", json!("Müller GmbH")),
            ("address", json!({"value": "x"})),
        ]);
        let settled = settle_drift(
            &changes,
            &DriftConfig::default(),
            &names(),
            &BTreeMap::new(),
        );
        assert_eq!(settled.reassert, changes);
        assert!(settled.flagged.is_empty());
        assert!(settled.ignored.is_empty());
    }

    #[test]
    fn each_group_follows_its_own_policy() {
        let config = DriftConfig {
            address: DriftPolicy::Flag,
            phones: DriftPolicy::Ignore,
            ..DriftConfig::default()
        };
        let changes = drifted(&[
            ("name", json!("Müller GmbH")),
            ("address", json!({"value": "x"})),
            ("phones", json!([])),
        ]);
        let settled = settle_drift(&changes, &config, &names(), &BTreeMap::new());
        assert_eq!(
            settled.reassert.owned_fields().collect::<Vec<_>>(),
            ["name"]
        );
        assert_eq!(settled.flagged.len(), 1);
        assert_eq!(settled.flagged[0].field, "address");
        assert!(settled.flagged[0].reason.contains("sync.drift.address"));
        assert_eq!(settled.ignored, ["phones"]);
    }

    #[test]
    fn a_custom_field_named_in_the_config_wins_over_the_custom_fields_group() {
        let mut config = DriftConfig {
            custom_fields: DriftPolicy::Ignore,
            ..DriftConfig::default()
        };
        config
            .custom
            .insert("ECC Payment Terms".into(), DriftPolicy::Flag);
        let changes = drifted(&[
            ("custom_fields.abc", json!("ZB30")),
            ("custom_fields.other", json!("x")),
        ]);
        let settled = settle_drift(&changes, &config, &names(), &BTreeMap::new());
        assert_eq!(settled.flagged.len(), 1);
        assert_eq!(settled.flagged[0].name, "ECC Payment Terms");
        assert_eq!(settled.ignored, ["custom_fields.other"]);
        assert!(settled.reassert.is_empty());
    }

    #[test]
    fn a_field_set_back_too_often_today_is_flagged_instead_of_fought_over() {
        let config = DriftConfig::default();
        let changes = drifted(&[("name", json!("Müller GmbH")), ("emails", json!([]))]);
        let today = BTreeMap::from([("name".to_string(), 3), ("emails".to_string(), 2)]);
        let settled = settle_drift(&changes, &config, &names(), &today);
        assert_eq!(
            settled.reassert.owned_fields().collect::<Vec<_>>(),
            ["emails"],
            "two re-asserts are under the limit of three"
        );
        assert_eq!(settled.flagged.len(), 1);
        assert_eq!(settled.flagged[0].field, "name");
        assert!(settled.flagged[0].reason.contains("3 times"));
    }

    #[test]
    fn a_limit_of_zero_never_sets_anything_back() {
        let config = DriftConfig {
            max_reasserts_per_day: 0,
            ..DriftConfig::default()
        };
        let changes = drifted(&[("name", json!("X"))]);
        let settled = settle_drift(&changes, &config, &names(), &BTreeMap::new());
        assert!(settled.reassert.is_empty());
        assert_eq!(settled.flagged.len(), 1);
    }

    #[test]
    fn re_asserts_are_counted_per_field_from_what_the_audit_recorded() {
        let changes = drifted(&[("name", json!("A")), ("address", json!({"value": "B"}))]);
        let pipedrive = BTreeMap::from([("name".to_string(), json!("typed"))]);
        let first = drift_record(&["name", "address"], &pipedrive, &changes, "webhook");
        let second = drift_record(&["name"], &pipedrive, &changes, "reconcile");
        assert_eq!(
            first.pointer("/drift/pipedrive/name"),
            Some(&json!("typed"))
        );
        assert_eq!(first.pointer("/drift/ecc/name"), Some(&json!("A")));
        let counts = reasserted_fields([first, second, json!({"NAME1": "x"})].iter());
        assert_eq!(counts.get("name"), Some(&2));
        assert_eq!(counts.get("address"), Some(&1));
        assert_eq!(counts.len(), 2);
    }
}
