//! Request-body validation as strict as API v2: exact JSON types (no "1" for 1, no 1 for
//! true), no unknown keys, custom fields only inside `custom_fields`, values checked against
//! the field's type and options. Messages follow the observed
//! `Validation failed: <key>: <what>` form (client-nodejs #651, client-php #227).

use serde_json::{Map, Value};

use crate::fields::FieldSet;
use crate::model::{Address, ContactValue, ADDRESS_PARTS};

/// A rejected request body; the message is the `error` of the 400 answer.
#[derive(Debug)]
pub struct Invalid(pub String);

fn invalid(key: &str, what: impl std::fmt::Display) -> Invalid {
    Invalid(format!("Validation failed: {key}: {what}"))
}

/// What the rest of the simulator needs to know to check references.
pub struct References<'a> {
    pub fields: &'a FieldSet,
    pub user_ids: std::ops::RangeInclusive<u64>,
    pub organization_exists: &'a dyn Fn(u64) -> bool,
    pub person_exists: &'a dyn Fn(u64) -> bool,
}

#[derive(Debug, Default)]
pub struct OrganizationInput {
    pub name: Option<String>,
    pub owner_id: Option<u64>,
    pub add_time: Option<i64>,
    pub update_time: Option<i64>,
    pub visible_to: Option<u8>,
    pub label_ids: Option<Vec<u64>>,
    /// `Some(None)` clears the address.
    pub address: Option<Option<Address>>,
    /// `Value::Null` clears the field.
    pub custom_fields: Vec<(u32, Value)>,
}

#[derive(Debug, Default)]
pub struct PersonInput {
    pub name: Option<String>,
    pub owner_id: Option<u64>,
    /// `Some(None)` unlinks the organization.
    pub org_id: Option<Option<u64>>,
    pub add_time: Option<i64>,
    pub update_time: Option<i64>,
    pub visible_to: Option<u8>,
    pub label_ids: Option<Vec<u64>>,
    pub emails: Option<Vec<ContactValue>>,
    pub phones: Option<Vec<ContactValue>>,
    pub marketing_status: Option<String>,
    pub custom_fields: Vec<(u32, Value)>,
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, Invalid> {
    body.as_object()
        .ok_or_else(|| Invalid("Validation failed: body: Expected 'object'".to_string()))
}

fn not_allowed(key: &str) -> Invalid {
    invalid(
        key,
        format!("Parameter '{key}' is not allowed for this request"),
    )
}

fn expect_string(key: &str, value: &Value) -> Result<String, Invalid> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(key, "Expected 'string'"))
}

fn expect_integer(key: &str, value: &Value) -> Result<u64, Invalid> {
    match value {
        Value::Number(number) if number.is_u64() => Ok(number.as_u64().unwrap_or_default()),
        Value::Number(number) if number.is_i64() => Err(invalid(key, "Must be a positive integer")),
        _ => Err(invalid(key, "Expected 'integer'")),
    }
}

fn expect_name(key: &str, value: &Value) -> Result<String, Invalid> {
    let name = expect_string(key, value)?;
    if name.trim().is_empty() {
        return Err(invalid(key, "Must not be empty"));
    }
    Ok(name)
}

/// RFC 3339 with a whole second, e.g. `2025-01-01T10:20:00Z`.
pub fn parse_time(key: &str, value: &str) -> Result<i64, Invalid> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|time| time.timestamp())
        .map_err(|_| invalid(key, "Expected RFC3339 date-time, e.g. 2025-01-01T10:20:00Z"))
}

fn expect_time(key: &str, value: &Value) -> Result<i64, Invalid> {
    let text = expect_string(key, value)?;
    parse_time(key, &text)
}

fn expect_visible_to(value: &Value) -> Result<u8, Invalid> {
    let number = expect_integer("visible_to", value)?;
    match number {
        1 | 3 | 5 | 7 => Ok(number as u8),
        _ => Err(invalid("visible_to", "Must be one of 1, 3, 5, 7")),
    }
}

fn expect_owner(value: &Value, refs: &References<'_>) -> Result<u64, Invalid> {
    let owner = expect_integer("owner_id", value)?;
    if !refs.user_ids.contains(&owner) {
        return Err(invalid(
            "owner_id",
            format!("User with id {owner} not found"),
        ));
    }
    Ok(owner)
}

fn expect_labels(value: &Value, refs: &References<'_>) -> Result<Vec<u64>, Invalid> {
    let Value::Array(items) = value else {
        return Err(invalid("label_ids", "Expected 'array'"));
    };
    let known = refs.fields.label_option_ids();
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = expect_integer("label_ids", item)?;
        if !known.contains(&id) {
            return Err(invalid(
                "label_ids",
                format!("Label with id {id} not found"),
            ));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// An address object: only `value` is required; parts not sent become null (MIG).
/// `formatted_address` is accepted and not kept (the v2 REST address has no such part).
pub fn parse_address(key: &str, value: &Value) -> Result<Option<Address>, Invalid> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => return Err(invalid(key, "Expected 'object'")),
    };
    let mut address = Address::default();
    for (part, part_value) in map {
        if part == "formatted_address" {
            if !part_value.is_string() && !part_value.is_null() {
                return Err(invalid(&format!("{key}.{part}"), "Expected 'string'"));
            }
            continue;
        }
        let Some(slot) = address.part_mut(part) else {
            return Err(invalid(
                &format!("{key}.{part}"),
                format!("Parameter '{part}' is not allowed for this request"),
            ));
        };
        *slot = match part_value {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            _ => return Err(invalid(&format!("{key}.{part}"), "Expected 'string'")),
        };
    }
    if address
        .value
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(invalid(
            &format!("{key}.value"),
            "Parameter 'value' is required",
        ));
    }
    debug_assert_eq!(ADDRESS_PARTS.len(), 10);
    Ok(Some(address))
}

fn parse_contact_values(
    key: &str,
    value: &Value,
    labels: &[&str],
) -> Result<Vec<ContactValue>, Invalid> {
    let Value::Array(items) = value else {
        return Err(invalid(key, "Expected 'array'"));
    };
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else {
            return Err(invalid(key, "Expected 'object' items"));
        };
        let mut contact = ContactValue {
            value: String::new(),
            primary: false,
            label: "work".to_string(),
        };
        let mut has_value = false;
        for (part, part_value) in map {
            match part.as_str() {
                "value" => {
                    contact.value = expect_string(&format!("{key}.value"), part_value)?;
                    has_value = true;
                }
                "primary" => {
                    contact.primary = part_value
                        .as_bool()
                        .ok_or_else(|| invalid(&format!("{key}.primary"), "Expected 'boolean'"))?;
                }
                "label" => {
                    let label = expect_string(&format!("{key}.label"), part_value)?;
                    if !labels.contains(&label.as_str()) {
                        return Err(invalid(
                            &format!("{key}.label"),
                            format!("Must be one of {}", labels.join(", ")),
                        ));
                    }
                    contact.label = label;
                }
                other => {
                    return Err(invalid(
                        &format!("{key}.{other}"),
                        format!("Parameter '{other}' is not allowed for this request"),
                    ))
                }
            }
        }
        if !has_value {
            return Err(invalid(
                &format!("{key}.value"),
                "Parameter 'value' is required",
            ));
        }
        values.push(contact);
    }
    let primaries = values.iter().filter(|contact| contact.primary).count();
    if primaries > 1 {
        return Err(invalid(key, "Only one value can be marked as primary"));
    }
    if primaries == 0 {
        if let Some(first) = values.first_mut() {
            first.primary = true;
        }
    }
    Ok(values)
}

fn is_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
}

fn is_time(text: &str) -> bool {
    chrono::NaiveTime::parse_from_str(text, "%H:%M:%S").is_ok() && text.len() == 8
}

/// Checks one custom field value against the field's type; returns the value to store.
fn check_custom_value(
    key: &str,
    field_type: &str,
    option_ids: &[u64],
    value: &Value,
    refs: &References<'_>,
) -> Result<Value, Invalid> {
    let at = format!("custom_fields.{key}");
    if value.is_null() {
        return Ok(Value::Null);
    }
    let text_limit = |limit: usize| -> Result<Value, Invalid> {
        let text = value.as_str().ok_or_else(|| {
            invalid(
                "custom_fields",
                format!("Expected 'string' as value for custom field '{key}'"),
            )
        })?;
        if text.chars().count() > limit {
            return Err(invalid(&at, format!("Must be at most {limit} characters")));
        }
        Ok(value.clone())
    };
    match field_type {
        "varchar" | "varchar_auto" | "phone" => text_limit(255),
        "text" => text_limit(65_535),
        "double" => {
            if value.is_number() {
                Ok(value.clone())
            } else {
                Err(invalid(
                    "custom_fields",
                    format!("Expected 'number' as value for numeric custom field '{key}'"),
                ))
            }
        }
        "monetary" => {
            let map = value.as_object().ok_or_else(|| {
                invalid(
                    "custom_fields",
                    format!("Expected 'object' as value for monetary custom field '{key}'"),
                )
            })?;
            for part in map.keys() {
                if part != "value" && part != "currency" {
                    return Err(invalid(
                        &at,
                        format!("Parameter '{part}' is not allowed for this request"),
                    ));
                }
            }
            if !map.get("value").is_some_and(Value::is_number) {
                return Err(invalid(&at, "Expected 'number' as value"));
            }
            let currency = map
                .get("currency")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if currency.len() != 3 || !currency.bytes().all(|byte| byte.is_ascii_uppercase()) {
                return Err(invalid(
                    &at,
                    "Expected a 3-letter currency code as currency",
                ));
            }
            Ok(value.clone())
        }
        "enum" => {
            let id = value.as_u64().filter(|_| value.is_u64()).ok_or_else(|| {
                invalid(
                    "custom_fields",
                    format!("Expected 'number' as value for single option custom field '{key}'"),
                )
            })?;
            if !option_ids.contains(&id) {
                return Err(invalid(&at, format!("Option with id {id} not found")));
            }
            Ok(value.clone())
        }
        "set" => {
            let Value::Array(items) = value else {
                return Err(invalid(
                    "custom_fields",
                    format!("Expected 'array' as value for multiple options custom field '{key}'"),
                ));
            };
            if items.is_empty() {
                return Err(invalid(
                    &at,
                    "Empty array is not supported, use null to clear the selection",
                ));
            }
            for item in items {
                let id = item.as_u64().filter(|_| item.is_u64()).ok_or_else(|| {
                    invalid("custom_fields", format!("Expected 'number' items as value for multiple options custom field '{key}'"))
                })?;
                if !option_ids.contains(&id) {
                    return Err(invalid(&at, format!("Option with id {id} not found")));
                }
            }
            Ok(value.clone())
        }
        "date" => match value.as_str() {
            Some(text) if is_date(text) => Ok(value.clone()),
            _ => Err(invalid(&at, "Expected a date in format YYYY-MM-DD")),
        },
        "daterange" => {
            let ok = value.as_object().is_some_and(|map| {
                map.len() == 2
                    && map
                        .get("value")
                        .and_then(Value::as_str)
                        .is_some_and(is_date)
                    && map
                        .get("until")
                        .and_then(Value::as_str)
                        .is_some_and(is_date)
            });
            if ok {
                Ok(value.clone())
            } else {
                Err(invalid(
                    &at,
                    "Expected {\"value\": \"YYYY-MM-DD\", \"until\": \"YYYY-MM-DD\"}",
                ))
            }
        }
        "time" | "timerange" => {
            let map = value
                .as_object()
                .ok_or_else(|| invalid(&at, "Expected 'object'"))?;
            if !map
                .get("value")
                .and_then(Value::as_str)
                .is_some_and(is_time)
            {
                return Err(invalid(&at, "Expected value in format HH:MM:SS"));
            }
            if field_type == "timerange"
                && !map
                    .get("until")
                    .and_then(Value::as_str)
                    .is_some_and(is_time)
            {
                return Err(invalid(&at, "Expected until in format HH:MM:SS"));
            }
            for part in map.keys() {
                if !["value", "until", "timezone_id", "timezone_name"].contains(&part.as_str()) {
                    return Err(invalid(
                        &at,
                        format!("Parameter '{part}' is not allowed for this request"),
                    ));
                }
            }
            Ok(value.clone())
        }
        "address" => {
            let address = parse_address(&at, value)?;
            Ok(address
                .map(|address| address.to_json())
                .unwrap_or(Value::Null))
        }
        "org" | "people" | "user" => {
            let id = value.as_u64().filter(|_| value.is_u64()).ok_or_else(|| {
                invalid(
                    "custom_fields",
                    format!("Expected 'number' as value for custom field '{key}'"),
                )
            })?;
            let exists = match field_type {
                "org" => (refs.organization_exists)(id),
                "people" => (refs.person_exists)(id),
                _ => refs.user_ids.contains(&id),
            };
            if !exists {
                return Err(invalid(&at, format!("Entity with id {id} not found")));
            }
            Ok(value.clone())
        }
        _ => Err(invalid(
            &at,
            format!("Custom field of type '{field_type}' cannot be set through the API"),
        )),
    }
}

fn parse_custom_fields(value: &Value, refs: &References<'_>) -> Result<Vec<(u32, Value)>, Invalid> {
    let Value::Object(map) = value else {
        return Err(invalid("custom_fields", "Expected 'object'"));
    };
    let mut values = Vec::with_capacity(map.len());
    for (key, field_value) in map {
        let Some(index) = refs.fields.index_of_key(key) else {
            return Err(invalid(
                "custom_fields",
                format!("Custom field '{key}' does not exist"),
            ));
        };
        let field = refs.fields.get(index).expect("index from index_of_key");
        if !field.is_custom {
            return Err(invalid(
                "custom_fields",
                format!("'{key}' is not a custom field"),
            ));
        }
        let option_ids: Vec<u64> = field.options.iter().map(|option| option.id).collect();
        let stored = check_custom_value(key, &field.field_type, &option_ids, field_value, refs)?;
        values.push((index, stored));
    }
    Ok(values)
}

pub fn organization_input(
    body: &Value,
    creating: bool,
    refs: &References<'_>,
) -> Result<OrganizationInput, Invalid> {
    let map = body_object(body)?;
    let mut input = OrganizationInput::default();
    for (key, value) in map {
        match key.as_str() {
            "name" => input.name = Some(expect_name(key, value)?),
            "owner_id" => input.owner_id = Some(expect_owner(value, refs)?),
            "add_time" if creating => input.add_time = Some(expect_time(key, value)?),
            "update_time" => input.update_time = Some(expect_time(key, value)?),
            "visible_to" => input.visible_to = Some(expect_visible_to(value)?),
            "label_ids" => input.label_ids = Some(expect_labels(value, refs)?),
            "address" => input.address = Some(parse_address(key, value)?),
            "custom_fields" => input.custom_fields = parse_custom_fields(value, refs)?,
            _ => return Err(not_allowed(key)),
        }
    }
    if creating && input.name.is_none() {
        return Err(invalid("name", "Parameter 'name' is required"));
    }
    Ok(input)
}

pub fn person_input(
    body: &Value,
    creating: bool,
    refs: &References<'_>,
) -> Result<PersonInput, Invalid> {
    let map = body_object(body)?;
    let mut input = PersonInput::default();
    for (key, value) in map {
        match key.as_str() {
            "name" => input.name = Some(expect_name(key, value)?),
            "owner_id" => input.owner_id = Some(expect_owner(value, refs)?),
            "org_id" => {
                if value.is_null() {
                    input.org_id = Some(None);
                } else {
                    let org_id = expect_integer(key, value)?;
                    if !(refs.organization_exists)(org_id) {
                        return Err(invalid(
                            key,
                            format!("Organization with id {org_id} not found"),
                        ));
                    }
                    input.org_id = Some(Some(org_id));
                }
            }
            "add_time" if creating => input.add_time = Some(expect_time(key, value)?),
            "update_time" => input.update_time = Some(expect_time(key, value)?),
            "visible_to" => input.visible_to = Some(expect_visible_to(value)?),
            "label_ids" => input.label_ids = Some(expect_labels(value, refs)?),
            "emails" => {
                input.emails = Some(parse_contact_values(
                    key,
                    value,
                    &["work", "home", "other"],
                )?)
            }
            "phones" => {
                input.phones = Some(parse_contact_values(
                    key,
                    value,
                    &["work", "home", "mobile", "other"],
                )?)
            }
            "marketing_status" => {
                let status = expect_string(key, value)?;
                if !["no_consent", "unsubscribed", "subscribed", "archived"]
                    .contains(&status.as_str())
                {
                    return Err(invalid(
                        key,
                        "Must be one of no_consent, unsubscribed, subscribed, archived",
                    ));
                }
                input.marketing_status = Some(status);
            }
            "custom_fields" => input.custom_fields = parse_custom_fields(value, refs)?,
            _ => return Err(not_allowed(key)),
        }
    }
    if creating && input.name.is_none() {
        return Err(invalid("name", "Parameter 'name' is required"));
    }
    Ok(input)
}

/// Parses a v2 boolean query parameter: only `true` and `false`.
pub fn query_bool(key: &str, value: Option<&str>) -> Result<Option<bool>, Invalid> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(invalid(key, "Expected 'boolean'")),
    }
}

/// Parses an integer query parameter.
pub fn query_integer(key: &str, value: Option<&str>) -> Result<Option<u64>, Invalid> {
    match value {
        None => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid(key, "Expected 'integer'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::EntityKind;
    use proptest::prelude::*;
    use serde_json::json;

    fn fields() -> FieldSet {
        let (mut next_id, mut next_option) = (1, 1);
        FieldSet::standard(EntityKind::Organization, 0, &mut next_id, &mut next_option)
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|number| json!(number)),
            any::<f64>().prop_map(|number| json!(number)),
            "[a-z_ ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("name".to_string()),
                        Just("address".to_string()),
                        Just("value".to_string()),
                        Just("custom_fields".to_string()),
                        Just("emails".to_string()),
                        Just("label_ids".to_string()),
                        Just("owner_id".to_string()),
                        "[a-z_]{1,10}"
                    ],
                    inner,
                    0..5
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_body_is_accepted_or_refused_with_a_message(body in any_json()) {
            let fields = fields();
            let refs = References {
                fields: &fields,
                user_ids: 1..=3,
                organization_exists: &|id| id == 1,
                person_exists: &|_| false,
            };
            for creating in [true, false] {
                if let Err(Invalid(message)) = organization_input(&body, creating, &refs) {
                    prop_assert!(message.starts_with("Validation failed: "));
                }
                if let Err(Invalid(message)) = person_input(&body, creating, &refs) {
                    prop_assert!(message.starts_with("Validation failed: "));
                }
            }
        }
    }

    #[test]
    fn an_address_needs_its_value_and_nulls_what_is_not_sent() {
        let address = parse_address(
            "address",
            &json!({"value": "Hauptstraße 1", "locality": "Stuttgart"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(address.locality.as_deref(), Some("Stuttgart"));
        assert_eq!(address.route, None);
        assert!(parse_address("address", &json!({"locality": "Stuttgart"})).is_err());
        assert!(parse_address("address", &json!({"value": "x", "city": "Stuttgart"})).is_err());
        assert!(parse_address(
            "address",
            &json!({"value": "x", "formatted_address": "x, y"})
        )
        .is_ok());
        assert_eq!(parse_address("address", &Value::Null).unwrap(), None);
    }
}
