//! A mapped record: only the Pipedrive fields the field map owns, as JSON values in v2 request
//! shape, with a content hash for "unchanged costs nothing" and a diff against what Pipedrive
//! holds, so an update sends only what changed and never a field the map does not own.

use std::collections::{BTreeMap, BTreeSet};

use mlc_canonical::state::EntityKind;
use mlc_canonical::ContentHash;
use serde_json::{Map, Value};

use crate::existing::{ExistingRecord, CUSTOM_FIELD_PREFIX};

/// The fields the map owns for one record. Keys are v2 request keys ("name", "address",
/// "emails", "org_id", "owner_id", "label_ids"), custom fields as "custom_fields.<hash key>".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRecord {
    pub kind: EntityKind,
    fields: BTreeMap<String, Value>,
}

/// An organization as the field map writes it.
pub type MappedOrganization = MappedRecord;
/// A person as the field map writes it.
pub type MappedPerson = MappedRecord;

impl MappedRecord {
    pub fn new(kind: EntityKind) -> Self {
        MappedRecord {
            kind,
            fields: BTreeMap::new(),
        }
    }

    pub fn set(&mut self, field: impl Into<String>, value: Value) {
        self.fields.insert(field.into(), value);
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field)
    }

    /// The field keys this record owns, sorted.
    pub fn owned_fields(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Hash of the mapped content under a versioned domain: equal hashes mean equal requests.
    /// `marker` adds state that is not a field value (the lifecycle label, say).
    pub fn content_hash_with(&self, marker: &str) -> ContentHash {
        // The fields as one object in `canonical_json`'s bytes, written from the map itself
        // (its keys are in byte order already) rather than from a copy of it.
        let mut encoded = Vec::with_capacity(512);
        encoded.push(b'{');
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if index > 0 {
                encoded.push(b',');
            }
            write_json(key, &mut encoded);
            encoded.push(b':');
            canonical_json(value, &mut encoded);
        }
        encoded.push(b'}');
        encoded.push(0x1f);
        encoded.extend_from_slice(marker.as_bytes());
        let domain = match self.kind {
            EntityKind::Organization => "mapped-organization/v1",
            EntityKind::Person => "mapped-person/v1",
        };
        ContentHash::of_bytes(domain, &encoded)
    }

    pub fn content_hash(&self) -> ContentHash {
        self.content_hash_with("")
    }

    /// The JSON body of a PATCH: every field of this record, custom fields nested in
    /// `custom_fields` (root-level hash keys are refused by v2), nulls kept (they clear).
    pub fn patch_body(&self) -> Value {
        self.body(false)
    }

    /// The JSON body of a POST: as a PATCH, without the nulls and empty lists a new record does
    /// not need (v2 refuses `[]` for some field types).
    pub fn create_body(&self) -> Value {
        self.body(true)
    }

    fn body(&self, for_create: bool) -> Value {
        let mut root = Map::new();
        let mut custom = Map::new();
        for (field, value) in &self.fields {
            if for_create && is_blank(value) {
                continue;
            }
            match field.strip_prefix(CUSTOM_FIELD_PREFIX) {
                Some(key) => {
                    custom.insert(key.to_string(), value.clone());
                }
                None => {
                    root.insert(field.clone(), value.clone());
                }
            }
        }
        if !custom.is_empty() {
            root.insert("custom_fields".to_string(), Value::Object(custom));
        }
        Value::Object(root)
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// JSON with object keys sorted at every level and no whitespace, so equal values encode to
/// equal bytes whatever order they were built in.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json(key, out);
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// Compact JSON of `value` (a string is quoted and escaped), appended to `out`.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing to a Vec does not fail, and neither do a string's or a scalar's serializer.
    let _ = serde_json::to_writer(out, value);
}

/// The fields of `mapped` whose value differs from what Pipedrive holds in `existing`: the
/// body of the PATCH. Fields the map does not own are never in it.
///
/// `label_ids` is special: the map owns only the labels in `managed_labels` (those of its label
/// rules and the lifecycle label); the salesperson's other labels are kept, so the value sent is
/// (current − managed) ∪ wanted.
pub fn diff(
    mapped: &MappedRecord,
    existing: &dyn ExistingRecord,
    managed_labels: &[i64],
) -> MappedRecord {
    let mut changes = MappedRecord::new(mapped.kind);
    for (field, wanted) in &mapped.fields {
        let current = existing.current_value(field);
        if field == "label_ids" {
            if let Some(labels) = merged_labels(wanted, current.as_ref(), managed_labels) {
                changes.set(field.clone(), labels);
            }
            continue;
        }
        if !same_value(field, wanted, current.as_ref()) {
            changes.set(field.clone(), wanted.clone());
        }
    }
    changes
}

/// The label list to send, or `None` when the current labels already are right.
fn merged_labels(wanted: &Value, current: Option<&Value>, managed: &[i64]) -> Option<Value> {
    let wanted: BTreeSet<i64> = id_set(Some(wanted));
    let current: BTreeSet<i64> = id_set(current);
    let managed: BTreeSet<i64> = managed
        .iter()
        .copied()
        .chain(wanted.iter().copied())
        .collect();
    let result: BTreeSet<i64> = current
        .iter()
        .copied()
        .filter(|id| !managed.contains(id))
        .chain(wanted.iter().copied())
        .collect();
    if result == current {
        return None;
    }
    Some(Value::from(result.into_iter().collect::<Vec<_>>()))
}

fn id_set(value: Option<&Value>) -> BTreeSet<i64> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_i64).collect(),
        _ => BTreeSet::new(),
    }
}

/// Whether Pipedrive's value already says what the map wants. Null, absent and "" are the same
/// (Pipedrive answers null for a cleared text); text is compared trimmed; an address as
/// [`same_address`] says; e-mails and phones by value, label and primary flag, in order.
pub fn same_value(field: &str, wanted: &Value, current: Option<&Value>) -> bool {
    let current = current.unwrap_or(&Value::Null);
    match (wanted, current) {
        (wanted, current) if is_blank(wanted) && is_blank(current) => true,
        (Value::Object(a), Value::Object(b)) if a.contains_key("value") => same_address(a, b),
        (Value::String(a), Value::String(b)) => a.trim() == b.trim(),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => {
            a.trim().parse::<f64>().ok() == b.as_f64()
        }
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .all(|(key, value)| same_value(key, value, b.get(key))),
        (Value::Array(a), Value::Array(b)) if field == "emails" || field == "phones" => {
            a.len() == b.len()
                && a.iter().zip(b.iter()).all(|(x, y)| {
                    let text = |entry: &Value, key: &str| {
                        entry
                            .get(key)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .trim()
                            .to_lowercase()
                    };
                    text(x, "value") == text(y, "value")
                        && text(x, "label") == text(y, "label")
                        && x.get("primary").and_then(Value::as_bool).unwrap_or(false)
                            == y.get("primary").and_then(Value::as_bool).unwrap_or(false)
                })
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| same_value(field, x, Some(y)))
        }
        (a, b) => a == b,
    }
}

/// The parts of an address that its one-line `value` already says.
const PARTS_IN_THE_LINE: [&str; 5] = [
    "route",
    "street_number",
    "postal_code",
    "locality",
    "country",
];

/// Whether Pipedrive's address says what the map sent. Pipedrive geocodes addresses: it may
/// fill parts nobody sent (`admin_area_level_1/2`, `sublocality`, `formatted_address`) and
/// rewrite the parts it derives from the line (a street's abbreviation spelled out, a postal
/// code in capitals), while the line itself stays as sent. So the line decides (blanks
/// collapsed, case ignored), plus each part the line does not hold (the region) that the map
/// sets; a part the map leaves empty is Pipedrive's business. What the connector last pushed
/// is the reference, never what Pipedrive shows; a person's edit in Pipedrive changes the line.
pub fn same_address(wanted: &Map<String, Value>, current: &Map<String, Value>) -> bool {
    let line = |address: &Map<String, Value>| {
        address
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    line(wanted) == line(current)
        && wanted
            .iter()
            .filter(|(part, value)| {
                *part != "value" && !PARTS_IN_THE_LINE.contains(&part.as_str()) && !is_blank(value)
            })
            .all(|(part, value)| same_value(part, value, current.get(part)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::existing::{ExistingOrganization, PipedriveAddress};
    use serde_json::json;

    /// The hash as it was first computed (a copy of the fields as one JSON object, each key
    /// and scalar through `Value`'s display): the hashes stores hold must not change.
    fn hash_as_first_computed(record: &MappedRecord, marker: &str) -> ContentHash {
        fn encode(value: &Value, out: &mut String) {
            match value {
                Value::Object(map) => {
                    out.push('{');
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for (index, key) in keys.into_iter().enumerate() {
                        if index > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(key.clone()).to_string());
                        out.push(':');
                        encode(&map[key], out);
                    }
                    out.push('}');
                }
                Value::Array(items) => {
                    out.push('[');
                    for (index, item) in items.iter().enumerate() {
                        if index > 0 {
                            out.push(',');
                        }
                        encode(item, out);
                    }
                    out.push(']');
                }
                scalar => out.push_str(&scalar.to_string()),
            }
        }
        let mut encoded = String::new();
        encode(
            &Value::Object(record.fields.clone().into_iter().collect()),
            &mut encoded,
        );
        encoded.push('\u{1f}');
        encoded.push_str(marker);
        let domain = match record.kind {
            EntityKind::Organization => "mapped-organization/v1",
            EntityKind::Person => "mapped-person/v1",
        };
        ContentHash::of_bytes(domain, encoded.as_bytes())
    }

    #[test]
    fn the_content_hash_is_the_one_stores_hold() {
        let mut record = mapped();
        record.set(
            "custom_fields.z9",
            json!({"b": [1, 2.5, null], "a": "quote \" and \\ \n"}),
        );
        record.set("custom_fields.a1", json!(-7));
        record.set(
            "emails",
            json!([{"value": "x@y.de", "primary": true, "label": "work"}]),
        );
        record.set("ünïcode \u{1}", json!(false));
        for marker in ["", "label:12"] {
            assert_eq!(
                record.content_hash_with(marker),
                hash_as_first_computed(&record, marker)
            );
        }
        let person = MappedRecord::new(EntityKind::Person);
        assert_eq!(person.content_hash(), hash_as_first_computed(&person, ""));
    }

    fn mapped() -> MappedRecord {
        let mut record = MappedRecord::new(EntityKind::Organization);
        record.set("name", json!("Müller Maschinenbau GmbH"));
        record.set(
            "address",
            json!({"value": "Hauptstraße 12, 70173 Stuttgart, Germany", "route": "Hauptstraße",
                   "street_number": "12", "postal_code": "70173", "locality": "Stuttgart",
                   "admin_area_level_1": "BW", "country": "Germany"}),
        );
        record.set("custom_fields.aaaa", json!("4711"));
        record.set("custom_fields.bbbb", Value::Null);
        record
    }

    fn existing() -> ExistingOrganization {
        ExistingOrganization {
            id: 7,
            name: "Müller Maschinenbau GmbH".into(),
            address: Some(PipedriveAddress {
                value: Some("Hauptstraße 12, 70173 Stuttgart, Germany".into()),
                route: Some("Hauptstraße".into()),
                street_number: Some("12".into()),
                postal_code: Some("70173".into()),
                locality: Some("Stuttgart".into()),
                admin_area_level_1: Some("BW".into()),
                country: Some("Germany".into()),
                admin_area_level_2: Some("Stuttgart".into()),
                ..Default::default()
            }),
            custom_fields: [
                ("aaaa".to_string(), json!("4711")),
                ("salesperson".to_string(), json!("my own note")),
            ]
            .into_iter()
            .collect(),
            owner_id: Some(3),
            label_ids: vec![1, 2],
            other_fields: BTreeMap::new(),
        }
    }

    #[test]
    fn an_equal_organization_has_no_changes() {
        assert!(diff(&mapped(), &existing(), &[]).is_empty());
    }

    #[test]
    fn only_changed_owned_fields_are_sent_and_the_salespersons_field_never() {
        let mut current = existing();
        current.name = "Mueller Maschinenbau".into();
        current
            .custom_fields
            .insert("salesperson".into(), json!("changed by hand"));
        let changes = diff(&mapped(), &current, &[]);
        assert_eq!(changes.owned_fields().collect::<Vec<_>>(), vec!["name"]);
        let body = changes.patch_body();
        assert_eq!(body, json!({"name": "Müller Maschinenbau GmbH"}));
    }

    #[test]
    fn a_changed_address_sends_the_whole_address() {
        let mut current = existing();
        let address = current.address.as_mut().unwrap();
        address.value = Some("Hauptstraße 12, 70174 Stuttgart, Germany".into());
        address.postal_code = Some("70174".into());
        let changes = diff(&mapped(), &current, &[]);
        let address = changes.get("address").expect("address changed");
        assert_eq!(address["route"], "Hauptstraße");
        assert_eq!(address["postal_code"], "70173");
        assert_eq!(address["locality"], "Stuttgart");
    }

    #[test]
    fn labels_keep_the_salespersons_own_and_replace_only_managed_ones() {
        let mut record = MappedRecord::new(EntityKind::Organization);
        record.set("label_ids", json!([9]));
        let mut current = existing();
        current.label_ids = vec![1, 5];
        // 5 is managed (a rule label that no longer applies), 1 is the salesperson's.
        let changes = diff(&record, &current, &[5, 9]);
        assert_eq!(changes.get("label_ids"), Some(&json!([1, 9])));
        current.label_ids = vec![1, 9];
        assert!(diff(&record, &current, &[5, 9]).is_empty());
    }

    #[test]
    fn custom_fields_nest_and_create_drops_blanks() {
        let record = mapped();
        let create = record.create_body();
        assert_eq!(create["custom_fields"], json!({"aaaa": "4711"}));
        let patch = record.patch_body();
        assert_eq!(
            patch["custom_fields"],
            json!({"aaaa": "4711", "bbbb": null})
        );
        assert!(create.get("custom_fields.aaaa").is_none());
    }

    #[test]
    fn the_hash_ignores_build_order_and_sees_every_value() {
        let first = mapped();
        let mut second = MappedRecord::new(EntityKind::Organization);
        for (field, value) in first.fields().iter().rev() {
            second.set(field.clone(), value.clone());
        }
        assert_eq!(first.content_hash(), second.content_hash());
        second.set("custom_fields.aaaa", json!("4712"));
        assert_ne!(first.content_hash(), second.content_hash());
        assert_ne!(
            first.content_hash(),
            first.content_hash_with("label:deleted")
        );
    }

    #[test]
    fn what_pipedrive_adds_to_an_address_or_spells_out_is_no_change() {
        let mut record = mapped();
        let mut address = record.get("address").unwrap().clone();
        address["admin_area_level_1"] = Value::Null;
        address["route"] = json!("Hauptstr.");
        address["value"] = json!("Hauptstr. 12, 70173 Stuttgart, Germany");
        record.set("address", address);
        let mut current = existing();
        let geocoded = current.address.as_mut().unwrap();
        geocoded.value = Some("Hauptstr. 12,  70173 Stuttgart, germany".into());
        geocoded.admin_area_level_1 = Some("Baden-Württemberg".into());
        geocoded.sublocality = Some("Mitte".into());
        assert!(
            diff(&record, &current, &[]).is_empty(),
            "filled and spelled out by Pipedrive"
        );
    }

    #[test]
    fn a_region_the_map_sets_is_compared_and_an_edited_line_is_a_change() {
        let mut current = existing();
        current.address.as_mut().unwrap().admin_area_level_1 = Some("BY".into());
        assert!(diff(&mapped(), &current, &[]).get("address").is_some());
        let mut current = existing();
        current.address.as_mut().unwrap().value = Some("Königstraße 1, 70173 Stuttgart".into());
        assert!(diff(&mapped(), &current, &[]).get("address").is_some());
    }

    #[test]
    fn blanks_and_trimmed_text_compare_equal() {
        assert!(same_value("x", &json!(""), None));
        assert!(same_value("x", &Value::Null, Some(&json!(""))));
        assert!(same_value("x", &json!("a "), Some(&json!("a"))));
        assert!(!same_value("x", &json!("a"), Some(&json!("b"))));
        assert!(same_value(
            "emails",
            &json!([{"value": "A@x.de", "label": "work", "primary": true}]),
            Some(&json!([{"value": "a@x.de", "label": "work", "primary": true}]))
        ));
        assert!(!same_value(
            "emails",
            &json!([{"value": "a@x.de", "label": "work", "primary": true}]),
            Some(&json!([{"value": "a@x.de", "label": "home", "primary": true}]))
        ));
    }
}
