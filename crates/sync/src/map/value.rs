//! How a value read from a record becomes what Pipedrive takes: the transforms a rule names
//! (trim, ALPHA conversion, country names, code tables, join), then the checks and the JSON
//! shape of its target (a required name, text within Pipedrive's length, a visibility level,
//! an address object, e-mail and phone entries). A value that fails is a `MappingProblem`.

use std::collections::BTreeSet;

use mlc_canonical::{alpha_output, Address};
use mlc_config::Transform;
use serde_json::{json, Value};

use super::source::{address_line, SourceValue};
use super::spec::{EntryKind, ResolvedRule, TargetKind};
use super::{country_name, FieldMap, MAX_TEXT_LENGTH};

impl FieldMap {
    pub(super) fn transform(
        &self,
        value: SourceValue,
        transform: &Transform,
    ) -> Result<SourceValue, String> {
        let each = |value: SourceValue,
                    f: &dyn Fn(&str) -> Result<String, String>|
         -> Result<SourceValue, String> {
            Ok(match value {
                SourceValue::Text(text) => SourceValue::Text(f(&text)?),
                SourceValue::List(items) => {
                    SourceValue::List(items.iter().map(|item| f(item)).collect::<Result<_, _>>()?)
                }
                SourceValue::Labelled(items) => SourceValue::Labelled(
                    items
                        .iter()
                        .map(|(item, label)| Ok((f(item)?, *label)))
                        .collect::<Result<_, String>>()?,
                ),
                other => other,
            })
        };
        match transform {
            Transform::Trim => each(value, &|text| Ok(text.trim().to_string())),
            Transform::AlphaOutput => each(value, &|text| Ok(alpha_output(text))),
            Transform::Upper => each(value, &|text| Ok(text.to_uppercase())),
            Transform::Lower => each(value, &|text| Ok(text.to_lowercase())),
            Transform::CountryName => each(value, &|text| {
                if text.trim().is_empty() {
                    return Ok(String::new());
                }
                country_name(text)
                    .map(str::to_string)
                    .ok_or_else(|| format!("unknown country code `{}`", text.trim()))
            }),
            Transform::Table(table) => {
                let entries = self.tables.get(table);
                each(value, &|text| {
                    Ok(entries
                        .and_then(|entries| entries.get(text.trim()))
                        .cloned()
                        .unwrap_or_else(|| text.to_string()))
                })
            }
            Transform::Join(separator) => Ok(match value {
                SourceValue::Labelled(items) => SourceValue::Text(
                    items
                        .iter()
                        .map(|(item, _)| item.trim())
                        .filter(|item| !item.is_empty())
                        .collect::<Vec<_>>()
                        .join(separator),
                ),
                SourceValue::List(items) => SourceValue::Text(
                    items
                        .iter()
                        .map(|item| item.trim())
                        .filter(|item| !item.is_empty())
                        .collect::<Vec<_>>()
                        .join(separator),
                ),
                other => other,
            }),
        }
    }

    pub(super) fn to_json(&self, rule: &ResolvedRule, value: SourceValue) -> Result<Value, String> {
        match rule.target {
            TargetKind::Name => {
                let text = value.as_text();
                let text = text.trim();
                if text.is_empty() {
                    return Err("is empty; Pipedrive requires a name".to_string());
                }
                check_text(text)?;
                Ok(Value::String(text.to_string()))
            }
            TargetKind::Text => {
                let text = value.as_text();
                let text = text.trim();
                if text.is_empty() {
                    return Ok(Value::Null);
                }
                check_text(text)?;
                Ok(Value::String(text.to_string()))
            }
            TargetKind::VisibleTo => {
                let text = value.as_text();
                match text.trim().parse::<i64>() {
                    Ok(level @ (1 | 3 | 5 | 7)) => Ok(json!(level)),
                    _ => Err(format!(
                        "`{}` is not a visibility (1, 3, 5 or 7)",
                        text.trim()
                    )),
                }
            }
            TargetKind::Address => match value {
                SourceValue::Absent => Ok(Value::Null),
                SourceValue::Address(address) => pipedrive_address(&address),
                other => {
                    let text = other.as_text();
                    let text = text.trim();
                    if text.is_empty() {
                        return Ok(Value::Null);
                    }
                    check_text(text)?;
                    Ok(json!({ "value": text }))
                }
            },
            TargetKind::Entries(kind) => {
                let items: Vec<(String, Option<&str>)> = match value {
                    SourceValue::Absent => Vec::new(),
                    SourceValue::List(items) => {
                        items.into_iter().map(|item| (item, None)).collect()
                    }
                    SourceValue::Labelled(items) => items,
                    other => vec![(other.as_text(), None)],
                };
                let default_label = match kind {
                    EntryKind::Email => &self.email_label,
                    EntryKind::Phone => &self.phone_label,
                };
                let mut entries = Vec::new();
                let mut seen = BTreeSet::new();
                for (item, own_label) in items {
                    let label = own_label.unwrap_or(default_label);
                    let item = item.trim();
                    if item.is_empty() || !seen.insert(item.to_lowercase()) {
                        continue;
                    }
                    check_text(item)?;
                    if kind == EntryKind::Email && !is_plausible_email(item) {
                        return Err(format!("`{item}` is not an e-mail address"));
                    }
                    entries.push(json!({
                        "value": item,
                        "primary": entries.is_empty(),
                        "label": label,
                    }));
                }
                Ok(Value::Array(entries))
            }
        }
    }
}

fn check_text(text: &str) -> Result<(), String> {
    if has_control_characters(text) {
        return Err(format!("{text:?} contains control characters"));
    }
    let length = text.chars().count();
    if length > MAX_TEXT_LENGTH {
        return Err(format!(
            "is {length} characters long; Pipedrive takes at most {MAX_TEXT_LENGTH}"
        ));
    }
    Ok(())
}

/// Pipedrive's address object for an ECC address: `value` as one line, the parts in their
/// subfields, the country as its English name. An address without any part is null.
fn pipedrive_address(address: &Address) -> Result<Value, String> {
    let parts = [
        &address.street,
        &address.house_number,
        &address.postal_code,
        &address.city,
        &address.region,
        &address.country,
    ];
    if parts.iter().all(|part| part.trim().is_empty()) {
        return Ok(Value::Null);
    }
    for part in parts {
        check_text(part.trim())?;
    }
    let country = if address.country.trim().is_empty() {
        String::new()
    } else {
        country_name(&address.country)
            .ok_or_else(|| format!("unknown country code `{}`", address.country.trim()))?
            .to_string()
    };
    let blank_is_null = |text: &str| {
        let text = text.trim();
        if text.is_empty() {
            Value::Null
        } else {
            Value::String(text.to_string())
        }
    };
    Ok(json!({
        "value": address_line(address, Some(&country)),
        "route": blank_is_null(&address.street),
        "street_number": blank_is_null(&address.house_number),
        "postal_code": blank_is_null(&address.postal_code),
        "locality": blank_is_null(&address.city),
        "admin_area_level_1": blank_is_null(&address.region),
        "country": blank_is_null(&country),
    }))
}

fn has_control_characters(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A plausible e-mail address: one @, something on both sides, a dot in the domain, no blanks.
pub fn is_plausible_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}
