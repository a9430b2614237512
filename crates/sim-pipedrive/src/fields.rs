//! Organization and person fields: the standard ones every account has, and custom fields
//! created through the API, each with a random 40-character hex key and, for enum/set, option
//! ids. Written as v2 (`field_code`, `field_name`) and v1 (`id`, `key`, `name`) JSON.

use rand::RngCore;
use serde_json::{json, Value};

use crate::clock::format_time;

#[derive(Debug, Clone)]
pub struct FieldOption {
    pub id: u64,
    pub label: String,
    pub add_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    /// The v1 numeric id.
    pub id: u64,
    /// `key` in v1, `field_code` in v2.
    pub key: String,
    pub name: String,
    pub field_type: String,
    pub options: Vec<FieldOption>,
    pub is_custom: bool,
    pub active: bool,
    pub add_time: i64,
    pub update_time: i64,
    pub order_nr: u32,
    pub add_visible_flag: bool,
    pub ui_visibility: Option<Value>,
    pub important_fields: Option<Value>,
    pub required_fields: Option<Value>,
}

/// Field types a custom field may be created with (SPEC-v2 addOrganizationField enum).
pub const CREATABLE_TYPES: [&str; 16] = [
    "varchar",
    "text",
    "double",
    "phone",
    "date",
    "daterange",
    "time",
    "timerange",
    "set",
    "enum",
    "varchar_auto",
    "address",
    "monetary",
    "org",
    "people",
    "user",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Organization,
    Person,
}

impl EntityKind {
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Organization => "organization",
            EntityKind::Person => "person",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldSet {
    fields: Vec<FieldDef>,
}

impl FieldSet {
    /// The standard fields of an account; `next_id` and `next_option_id` are shared counters.
    pub fn standard(
        kind: EntityKind,
        now: i64,
        next_id: &mut u64,
        next_option_id: &mut u64,
    ) -> Self {
        let mut set = FieldSet { fields: Vec::new() };
        let specs: &[(&str, &str, &str)] = match kind {
            EntityKind::Organization => &[
                ("name", "Name", "varchar"),
                ("owner_id", "Owner", "user"),
                ("label_ids", "Labels", "set"),
                ("address", "Address", "address"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Organization created", "date"),
                ("update_time", "Update time", "date"),
            ],
            EntityKind::Person => &[
                ("name", "Name", "varchar"),
                ("first_name", "First name", "varchar"),
                ("last_name", "Last name", "varchar"),
                ("owner_id", "Owner", "user"),
                ("org_id", "Organization", "org"),
                ("emails", "Email", "varchar"),
                ("phones", "Phone", "phone"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Person created", "date"),
                ("update_time", "Update time", "date"),
            ],
        };
        for (key, name, field_type) in specs {
            let options = if *key == "label_ids" {
                ["Customer", "Hot lead", "Warm lead", "Cold lead"]
                    .iter()
                    .map(|label| {
                        let id = *next_option_id;
                        *next_option_id += 1;
                        FieldOption {
                            id,
                            label: label.to_string(),
                            add_time: now,
                            update_time: now,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let id = *next_id;
            *next_id += 1;
            let order_nr = set.fields.len() as u32;
            set.fields.push(FieldDef {
                id,
                key: key.to_string(),
                name: name.to_string(),
                field_type: field_type.to_string(),
                options,
                is_custom: false,
                active: true,
                add_time: now,
                update_time: now,
                order_nr,
                add_visible_flag: true,
                ui_visibility: None,
                important_fields: None,
                required_fields: None,
            });
        }
        set
    }

    pub fn get(&self, index: u32) -> Option<&FieldDef> {
        self.fields.get(index as usize)
    }

    pub fn get_mut(&mut self, index: u32) -> Option<&mut FieldDef> {
        self.fields.get_mut(index as usize)
    }

    /// Active fields in order, with their index.
    pub fn active(&self) -> impl Iterator<Item = (u32, &FieldDef)> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, field)| field.active)
            .map(|(index, field)| (index as u32, field))
    }

    pub fn custom_fields(&self) -> impl Iterator<Item = (u32, &FieldDef)> {
        self.active().filter(|(_, field)| field.is_custom)
    }

    /// An active field by its key (`field_code`).
    pub fn index_of_key(&self, key: &str) -> Option<u32> {
        self.active()
            .find(|(_, field)| field.key == key)
            .map(|(index, _)| index)
    }

    /// An active field by its v1 numeric id.
    pub fn index_of_id(&self, id: u64) -> Option<u32> {
        self.active()
            .find(|(_, field)| field.id == id)
            .map(|(index, _)| index)
    }

    pub fn label_option_ids(&self) -> Vec<u64> {
        self.fields
            .iter()
            .find(|field| field.key == "label_ids")
            .map(|field| field.options.iter().map(|option| option.id).collect())
            .unwrap_or_default()
    }

    /// Adds a custom field with a fresh random key; returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn add_custom(
        &mut self,
        name: String,
        field_type: String,
        option_labels: Vec<String>,
        now: i64,
        rng: &mut impl RngCore,
        next_id: &mut u64,
        next_option_id: &mut u64,
    ) -> u32 {
        let mut key_bytes = [0u8; 20];
        rng.fill_bytes(&mut key_bytes);
        let key: String = key_bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        let options = option_labels
            .into_iter()
            .map(|label| {
                let id = *next_option_id;
                *next_option_id += 1;
                FieldOption {
                    id,
                    label,
                    add_time: now,
                    update_time: now,
                }
            })
            .collect();
        let id = *next_id;
        *next_id += 1;
        let order_nr = self.fields.len() as u32;
        self.fields.push(FieldDef {
            id,
            key,
            name,
            field_type,
            options,
            is_custom: true,
            active: true,
            add_time: now,
            update_time: now,
            order_nr,
            add_visible_flag: true,
            ui_visibility: None,
            important_fields: None,
            required_fields: None,
        });
        order_nr
    }

    /// Replaces enum/set ids by `{id, label}` (`include_option_labels=true`).
    pub fn with_option_labels(&self, index: u32, value: Value) -> Value {
        let Some(field) = self.get(index) else {
            return value;
        };
        let label_of = |id: &Value| -> Value {
            let label = id.as_u64().and_then(|id| {
                field
                    .options
                    .iter()
                    .find(|option| option.id == id)
                    .map(|option| option.label.clone())
            });
            json!({"id": id, "label": label})
        };
        match (field.field_type.as_str(), &value) {
            ("enum", Value::Number(_)) => label_of(&value),
            ("set", Value::Array(ids)) => Value::Array(ids.iter().map(label_of).collect()),
            _ => value,
        }
    }
}

fn subfields(field: &FieldDef) -> Value {
    match field.field_type.as_str() {
        "address" => {
            let parts = [
                ("value", "Address value"),
                ("street_number", "House number"),
                ("route", "Street/road name"),
                ("subpremise", "Apartment/suite"),
                ("sublocality", "District/sublocality"),
                ("locality", "City/town/village/locality"),
                ("admin_area_level_1", "State/county"),
                ("admin_area_level_2", "Region"),
                ("country", "Country"),
                ("postal_code", "ZIP/Postal code"),
                ("formatted_address", "Full/combined address"),
            ];
            Value::Array(
                parts
                    .iter()
                    .map(|(code, name)| {
                        json!({"field_code": code, "field_name": format!("{name} of {}", field.name), "field_type": "varchar"})
                    })
                    .collect(),
            )
        }
        "monetary" => json!([
            {"field_code": "value", "field_name": format!("Value of {}", field.name), "field_type": "double"},
            {"field_code": "currency", "field_name": format!("Currency of {}", field.name), "field_type": "varchar"}
        ]),
        _ => Value::Null,
    }
}

fn options_json(field: &FieldDef, v2: bool) -> Value {
    if field.field_type != "enum" && field.field_type != "set" {
        return if v2 {
            Value::Null
        } else {
            Value::Array(Vec::new())
        };
    }
    Value::Array(
        field
            .options
            .iter()
            .map(|option| {
                if v2 {
                    json!({"id": option.id, "label": option.label, "color": Value::Null,
                           "add_time": format_time(option.add_time), "update_time": format_time(option.update_time)})
                } else {
                    json!({"id": option.id, "label": option.label})
                }
            })
            .collect(),
    )
}

/// Which optional namespaces a v2 fields answer includes (`include_fields=`).
#[derive(Default, Clone, Copy)]
pub struct FieldIncludes {
    pub ui_visibility: bool,
    pub important_fields: bool,
    pub required_fields: bool,
}

pub fn field_v2_json(field: &FieldDef, includes: FieldIncludes) -> Value {
    let mut value = json!({
        "field_name": field.name,
        "field_code": field.key,
        "field_type": field.field_type,
        "options": options_json(field, true),
        "subfields": subfields(field),
        "is_custom_field": field.is_custom,
        "is_optional_response_field": false,
    });
    let map = value.as_object_mut().expect("json object");
    if includes.ui_visibility {
        let visibility = field.ui_visibility.clone().unwrap_or_else(|| {
            json!({
                "add_visible_flag": field.add_visible_flag,
                "details_visible_flag": true,
                "show_in_add_deal_dialog": {"show": false, "order": null},
                "show_in_add_person_dialog": {"show": false, "order": null}
            })
        });
        map.insert("ui_visibility".to_string(), visibility);
    }
    if includes.important_fields {
        let important = field
            .important_fields
            .clone()
            .unwrap_or_else(|| json!({"enabled": false, "stage_ids": []}));
        map.insert("important_fields".to_string(), important);
    }
    if includes.required_fields {
        let required = field
            .required_fields
            .clone()
            .unwrap_or_else(|| json!({"enabled": field.key == "name"}));
        map.insert("required_fields".to_string(), required);
    }
    value
}

pub fn field_v1_json(field: &FieldDef) -> Value {
    json!({
        "id": field.id,
        "key": field.key,
        "name": field.name,
        "order_nr": field.order_nr,
        "field_type": field.field_type,
        "add_time": format_time(field.add_time),
        "update_time": format_time(field.update_time),
        "last_updated_by_user_id": 1,
        "created_by_user_id": if field.is_custom { json!(1) } else { Value::Null },
        "active_flag": field.active,
        "edit_flag": field.is_custom,
        "index_visible_flag": true,
        "details_visible_flag": true,
        "add_visible_flag": field.add_visible_flag,
        "important_flag": false,
        "bulk_edit_allowed": true,
        "searchable_flag": matches!(field.field_type.as_str(), "varchar" | "text" | "varchar_auto" | "double" | "monetary" | "phone" | "address"),
        "filtering_allowed": true,
        "sortable_flag": true,
        "mandatory_flag": field.key == "name",
        "options": options_json(field, false),
    })
}
