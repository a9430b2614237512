//! The stored records (organizations, persons) and how they are written as API v2 JSON and as
//! webhook v2 JSON. Times are whole Unix seconds: Pipedrive v2 shows them without milliseconds.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::format_time;
use crate::fields::FieldSet;

/// Address parts as Pipedrive v2 names them; `None` is JSON null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub value: Option<String>,
    pub country: Option<String>,
    pub admin_area_level_1: Option<String>,
    pub admin_area_level_2: Option<String>,
    pub locality: Option<String>,
    pub sublocality: Option<String>,
    pub route: Option<String>,
    pub street_number: Option<String>,
    pub subpremise: Option<String>,
    pub postal_code: Option<String>,
}

pub const ADDRESS_PARTS: [&str; 10] = [
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
];

impl Address {
    pub fn part_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "value" => &mut self.value,
            "country" => &mut self.country,
            "admin_area_level_1" => &mut self.admin_area_level_1,
            "admin_area_level_2" => &mut self.admin_area_level_2,
            "locality" => &mut self.locality,
            "sublocality" => &mut self.sublocality,
            "route" => &mut self.route,
            "street_number" => &mut self.street_number,
            "subpremise" => &mut self.subpremise,
            "postal_code" => &mut self.postal_code,
            _ => return None,
        })
    }

    pub fn parts(&self) -> [(&'static str, &Option<String>); 10] {
        [
            ("value", &self.value),
            ("country", &self.country),
            ("admin_area_level_1", &self.admin_area_level_1),
            ("admin_area_level_2", &self.admin_area_level_2),
            ("locality", &self.locality),
            ("sublocality", &self.sublocality),
            ("route", &self.route),
            ("street_number", &self.street_number),
            ("subpremise", &self.subpremise),
            ("postal_code", &self.postal_code),
        ]
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::with_capacity(10);
        for (name, part) in self.parts() {
            map.insert(
                name.to_string(),
                part.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
        Value::Object(map)
    }

    /// The one-line form search items show.
    pub fn one_line(&self) -> Option<String> {
        if let Some(value) = &self.value {
            return Some(value.clone());
        }
        let parts: Vec<&str> = self
            .parts()
            .iter()
            .filter_map(|(_, part)| part.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One e-mail address or phone number of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactValue {
    pub value: String,
    pub primary: bool,
    pub label: String,
}

impl ContactValue {
    fn to_json(&self) -> Value {
        json!({"value": self.value, "primary": self.primary, "label": self.label})
    }
}

/// A custom field value, stored in the v2 REST shape, by the field's index in its [`FieldSet`].
pub type CustomValues = Vec<(u32, Value)>;

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    pub add_time: i64,
    pub update_time: i64,
    pub is_deleted: bool,
    pub visible_to: u8,
    pub label_ids: Vec<u64>,
    pub address: Option<Box<Address>>,
    pub custom_fields: CustomValues,
    pub search: SearchVisibility,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    pub org_id: Option<u64>,
    pub add_time: i64,
    pub update_time: i64,
    pub is_deleted: bool,
    pub visible_to: u8,
    pub label_ids: Vec<u64>,
    pub emails: Vec<ContactValue>,
    pub phones: Vec<ContactValue>,
    pub custom_fields: CustomValues,
    pub search: SearchVisibility,
}

/// When the search index has caught up with a record, and what it shows until then (the text
/// of the version before the last change; `None` for a record new to the index).
#[derive(Debug, Clone, Default)]
pub struct SearchVisibility {
    pub indexed_at_ms: u64,
    pub stale_text: Option<Box<SearchText>>,
}

/// The text the search index holds for one record.
#[derive(Debug, Clone, Default)]
pub struct SearchText {
    pub name: String,
    pub address: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub custom: Vec<String>,
}

impl Person {
    /// Pipedrive splits `name` at the first space.
    pub fn first_last(&self) -> (String, String) {
        match self.name.trim().split_once(' ') {
            Some((first, last)) => (first.to_string(), last.trim().to_string()),
            None => (self.name.trim().to_string(), String::new()),
        }
    }
}

/// Which custom fields a response carries (`custom_fields=` query parameter).
#[derive(Clone, Copy)]
pub enum CustomSelection<'a> {
    All,
    Only(&'a [u32]),
}

impl CustomSelection<'_> {
    fn includes(&self, index: u32) -> bool {
        match self {
            CustomSelection::All => true,
            CustomSelection::Only(indexes) => indexes.contains(&index),
        }
    }
}

/// Rendering options of the v2 entity endpoints.
#[derive(Clone, Copy)]
pub struct Render<'a> {
    pub custom: CustomSelection<'a>,
    pub option_labels: bool,
}

impl Default for Render<'_> {
    fn default() -> Self {
        Render {
            custom: CustomSelection::All,
            option_labels: false,
        }
    }
}

/// The `custom_fields` object of a v2 answer: every active custom field, null when unset.
struct CustomFieldsView<'a> {
    values: &'a CustomValues,
    fields: &'a FieldSet,
    render: Render<'a>,
}

impl Serialize for CustomFieldsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (index, field) in self.fields.custom_fields() {
            if !self.render.custom.includes(index) {
                continue;
            }
            let value = self
                .values
                .iter()
                .find(|(field_index, _)| *field_index == index)
                .map(|(_, value)| value);
            match value {
                Some(value) if self.render.option_labels => map.serialize_entry(
                    &field.key,
                    &self.fields.with_option_labels(index, value.clone()),
                )?,
                Some(value) => map.serialize_entry(&field.key, value)?,
                None => map.serialize_entry(&field.key, &Value::Null)?,
            }
        }
        map.end()
    }
}

struct AddressView<'a>(&'a Address);

impl Serialize for AddressView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(10))?;
        for (name, part) in self.0.parts() {
            map.serialize_entry(name, part)?;
        }
        map.end()
    }
}

struct TimeView(i64);

impl Serialize for TimeView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let time = chrono::DateTime::from_timestamp(self.0, 0).unwrap_or_default();
        serializer.collect_str(&time.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

struct ContactsView<'a>(&'a [ContactValue]);

impl Serialize for ContactsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_seq(Some(self.0.len()))?;
        for contact in self.0 {
            list.serialize_element(&ContactView(contact))?;
        }
        list.end()
    }
}

struct ContactView<'a>(&'a ContactValue);

impl Serialize for ContactView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("value", &self.0.value)?;
        map.serialize_entry("primary", &self.0.primary)?;
        map.serialize_entry("label", &self.0.label)?;
        map.end()
    }
}

/// An organization as the v2 REST API writes it, serialized straight from the store.
pub struct OrganizationView<'a> {
    pub org: &'a Organization,
    pub fields: &'a FieldSet,
    pub render: Render<'a>,
    /// `include_fields=` additions.
    pub extras: Vec<(String, Value)>,
}

impl Serialize for OrganizationView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let org = self.org;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &org.id)?;
        map.serialize_entry("name", &org.name)?;
        map.serialize_entry("owner_id", &org.owner_id)?;
        map.serialize_entry("add_time", &TimeView(org.add_time))?;
        map.serialize_entry("update_time", &TimeView(org.update_time))?;
        map.serialize_entry("is_deleted", &org.is_deleted)?;
        map.serialize_entry("visible_to", &org.visible_to)?;
        map.serialize_entry("label_ids", &org.label_ids)?;
        map.serialize_entry("address", &org.address.as_deref().map(AddressView))?;
        let custom = CustomFieldsView {
            values: &org.custom_fields,
            fields: self.fields,
            render: self.render,
        };
        map.serialize_entry("custom_fields", &custom)?;
        for (name, value) in &self.extras {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A person as the v2 REST API writes it, serialized straight from the store.
pub struct PersonView<'a> {
    pub person: &'a Person,
    pub fields: &'a FieldSet,
    pub render: Render<'a>,
    /// `include_fields=` additions.
    pub extras: Vec<(String, Value)>,
}

impl Serialize for PersonView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let person = self.person;
        let (first_name, last_name) = person.first_last();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &person.id)?;
        map.serialize_entry("name", &person.name)?;
        map.serialize_entry("first_name", &first_name)?;
        map.serialize_entry("last_name", &last_name)?;
        map.serialize_entry("owner_id", &person.owner_id)?;
        map.serialize_entry("org_id", &person.org_id)?;
        map.serialize_entry("add_time", &TimeView(person.add_time))?;
        map.serialize_entry("update_time", &TimeView(person.update_time))?;
        map.serialize_entry("emails", &ContactsView(&person.emails))?;
        map.serialize_entry("phones", &ContactsView(&person.phones))?;
        map.serialize_entry("is_deleted", &person.is_deleted)?;
        map.serialize_entry("visible_to", &person.visible_to)?;
        map.serialize_entry("label_ids", &person.label_ids)?;
        map.serialize_entry("picture_id", &Value::Null)?;
        let custom = CustomFieldsView {
            values: &person.custom_fields,
            fields: self.fields,
            render: self.render,
        };
        map.serialize_entry("custom_fields", &custom)?;
        for (name, value) in &self.extras {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

pub fn organization_json(org: &Organization, fields: &FieldSet, render: Render<'_>) -> Value {
    let view = OrganizationView {
        org,
        fields,
        render,
        extras: Vec::new(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

pub fn person_json(person: &Person, fields: &FieldSet, render: Render<'_>) -> Value {
    let view = PersonView {
        person,
        fields,
        render,
        extras: Vec::new(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

/// Custom fields as webhook v2 writes them: each value an object carrying its `type`.
/// Webhook v2 carries only the custom fields that hold a value (as in Pipedrive's examples),
/// each in its typed form.
fn webhook_custom_fields(values: &CustomValues, fields: &FieldSet) -> Value {
    let mut map = Map::new();
    for (index, field) in fields.custom_fields() {
        let value = values
            .iter()
            .find(|(field_index, _)| *field_index == index)
            .map(|(_, value)| value);
        if let Some(value) = value.filter(|value| !value.is_null()) {
            map.insert(
                field.key.clone(),
                webhook_typed_value(&field.field_type, value),
            );
        }
    }
    Value::Object(map)
}

fn webhook_typed_value(field_type: &str, value: &Value) -> Value {
    let mut object = match field_type {
        "enum" | "org" | "people" | "user" => json!({ "id": value }),
        "set" => {
            let values: Vec<Value> = value
                .as_array()
                .map(|ids| ids.iter().map(|id| json!({ "id": id })).collect())
                .unwrap_or_default();
            json!({ "values": values })
        }
        "monetary" | "address" | "daterange" | "time" | "timerange" => match value {
            Value::Object(map) => Value::Object(map.clone()),
            other => json!({ "value": other }),
        },
        _ => json!({ "value": value }),
    };
    if field_type == "daterange" {
        // Webhooks write date ranges as from/until.
        if let Some(map) = object.as_object_mut() {
            if let Some(start) = map.remove("value") {
                map.insert("from".to_string(), start);
            }
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.insert("type".to_string(), Value::String(field_type.to_string()));
    }
    object
}

/// The organization as webhook v2 `data`/`previous` carry it.
pub fn organization_webhook_json(org: &Organization, fields: &FieldSet) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "owner_id": org.owner_id,
        "add_time": format_time(org.add_time),
        "update_time": format_time(org.update_time),
        "is_deleted": org.is_deleted,
        "visible_to": org.visible_to.to_string(),
        "label_ids": org.label_ids,
        "address": org.address.as_ref().map(|address| address.to_json()).unwrap_or(Value::Null),
        "custom_fields": webhook_custom_fields(&org.custom_fields, fields),
    })
}

/// The person as webhook v2 `data`/`previous` carry it.
pub fn person_webhook_json(person: &Person, fields: &FieldSet) -> Value {
    let (first_name, last_name) = person.first_last();
    json!({
        "id": person.id,
        "name": person.name,
        "first_name": first_name,
        "last_name": last_name,
        "owner_id": person.owner_id,
        "org_id": person.org_id,
        "add_time": format_time(person.add_time),
        "update_time": format_time(person.update_time),
        "emails": person.emails.iter().map(ContactValue::to_json).collect::<Vec<_>>(),
        "phones": person.phones.iter().map(ContactValue::to_json).collect::<Vec<_>>(),
        "is_deleted": person.is_deleted,
        "visible_to": person.visible_to.to_string(),
        "label_ids": person.label_ids,
        "picture_id": Value::Null,
        "custom_fields": webhook_custom_fields(&person.custom_fields, fields),
    })
}

/// Webhook v2 `previous` of a change: the fields whose value changed, with the old value
/// (`null` for one that had none), and the old `update_time` when anything changed, as in
/// Pipedrive's examples.
pub fn changed_fields(before: &Value, after: &Value) -> Value {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return before.clone();
    };
    let mut previous = Map::new();
    for (key, old) in before {
        if key == "update_time" {
            continue;
        }
        if after.get(key) != Some(old) {
            if key == "custom_fields" {
                let changed = changed_fields(old, after.get(key).unwrap_or(&Value::Null));
                previous.insert(key.clone(), changed);
            } else {
                previous.insert(key.clone(), old.clone());
            }
        }
    }
    for key in after.keys() {
        if !before.contains_key(key) && key != "update_time" {
            previous.insert(key.clone(), Value::Null);
        }
    }
    if !previous.is_empty() {
        if let Some(update_time) = before.get("update_time") {
            previous.insert("update_time".to_string(), update_time.clone());
        }
    }
    Value::Object(previous)
}

/// The search text of a record as it is now.
pub fn organization_search_text(org: &Organization, fields: &FieldSet) -> SearchText {
    SearchText {
        name: org.name.clone(),
        address: org.address.as_ref().and_then(|address| address.one_line()),
        emails: Vec::new(),
        phones: Vec::new(),
        custom: searchable_custom_text(&org.custom_fields, fields),
    }
}

pub fn person_search_text(person: &Person, fields: &FieldSet) -> SearchText {
    SearchText {
        name: person.name.clone(),
        address: None,
        emails: person
            .emails
            .iter()
            .map(|email| email.value.clone())
            .collect(),
        phones: person
            .phones
            .iter()
            .map(|phone| phone.value.clone())
            .collect(),
        custom: searchable_custom_text(&person.custom_fields, fields),
    }
}

/// Only `address`, `varchar`, `text`, `varchar_auto`, `double`, `monetary` and `phone` custom
/// fields are searchable (SPEC-v2, search endpoints).
fn searchable_custom_text(values: &CustomValues, fields: &FieldSet) -> Vec<String> {
    let mut texts = Vec::new();
    for (index, value) in values {
        let Some(field) = fields.get(*index) else {
            continue;
        };
        if !field.active {
            continue;
        }
        let text = match (field.field_type.as_str(), value) {
            ("varchar" | "text" | "varchar_auto" | "phone", Value::String(text)) => text.clone(),
            ("double", Value::Number(number)) => number.to_string(),
            ("monetary", Value::Object(map)) => map
                .get("value")
                .map(|value| value.to_string())
                .unwrap_or_default(),
            ("address", Value::Object(map)) => map
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        if !text.is_empty() {
            texts.push(text);
        }
    }
    texts
}
