//! The Pipedrive objects the connector reads and the bodies it writes, shaped as API v2 (and v1
//! for users, webhooks and merge) describe them. Reads are tolerant (unknown keys ignored,
//! missing ones defaulted); writes carry only what the spec's request schemas allow: custom
//! fields inside `custom_fields`, an address as one whole object, labels as strings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An organization as `GET /api/v2/organizations` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Organization {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub add_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub update_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label_ids: Vec<i64>,
    #[serde(default)]
    pub address: Option<Address>,
    /// Custom field values by their 40-character hash key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// A person as `GET /api/v2/persons` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Person {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub org_id: Option<i64>,
    #[serde(default)]
    pub add_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub update_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub emails: Vec<ContactValue>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phones: Vec<ContactValue>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label_ids: Vec<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// The address object of an organization (and a person's `postal_address`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Address {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub admin_area_level_1: Option<String>,
    #[serde(default)]
    pub admin_area_level_2: Option<String>,
    #[serde(default)]
    pub locality: Option<String>,
    #[serde(default)]
    pub sublocality: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub street_number: Option<String>,
    #[serde(default)]
    pub subpremise: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
}

/// An e-mail address or phone number of a person. `label` is a string (work, home, mobile,
/// other), never a boolean.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ContactValue {
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default = "work_label")]
    pub label: String,
}

fn work_label() -> String {
    "work".to_string()
}

impl ContactValue {
    pub fn new(value: impl Into<String>, primary: bool, label: impl Into<String>) -> Self {
        ContactValue {
            value: value.into(),
            primary,
            label: label.into(),
        }
    }

    /// A list with the first value primary, all with one label: how ECC's e-mails and phones
    /// are sent.
    pub fn list(values: &[String], label: &str) -> Vec<ContactValue> {
        values
            .iter()
            .enumerate()
            .map(|(index, value)| ContactValue::new(value.clone(), index == 0, label))
            .collect()
    }
}

/// The address as it is written: always the whole object. Pipedrive nulls every subfield a
/// write leaves out (migration guide), so a PATCH that carried only the changed part would erase
/// the rest; this type has no way to send a part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressWrite {
    /// The one-line address Pipedrive shows and geocodes; composed from the parts when empty.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpremise: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sublocality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_area_level_1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_area_level_2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl AddressWrite {
    /// Fills `value` from the parts when it is empty ("Hauptstraße 12, 70173 Stuttgart,
    /// Germany"), and drops empty parts so they are not sent as empty strings.
    pub fn completed(mut self) -> AddressWrite {
        for part in [
            &mut self.route,
            &mut self.street_number,
            &mut self.subpremise,
            &mut self.postal_code,
            &mut self.locality,
            &mut self.sublocality,
            &mut self.admin_area_level_1,
            &mut self.admin_area_level_2,
            &mut self.country,
        ] {
            if part.as_deref().is_some_and(|text| text.trim().is_empty()) {
                *part = None;
            }
        }
        if self.value.trim().is_empty() {
            let street = join_present(&[&self.route, &self.street_number], " ");
            let town = join_present(&[&self.postal_code, &self.locality], " ");
            let parts: Vec<String> = [Some(street), Some(town), self.country.clone()]
                .into_iter()
                .flatten()
                .filter(|part| !part.is_empty())
                .collect();
            self.value = parts.join(", ");
        }
        self
    }

    /// The address as Pipedrive would hold it after this write, for comparing with a read.
    pub fn as_address(&self) -> Address {
        Address {
            value: Some(self.value.clone()),
            country: self.country.clone(),
            admin_area_level_1: self.admin_area_level_1.clone(),
            admin_area_level_2: self.admin_area_level_2.clone(),
            locality: self.locality.clone(),
            sublocality: self.sublocality.clone(),
            route: self.route.clone(),
            street_number: self.street_number.clone(),
            subpremise: self.subpremise.clone(),
            postal_code: self.postal_code.clone(),
        }
    }
}

fn join_present(parts: &[&Option<String>], separator: &str) -> String {
    parts
        .iter()
        .filter_map(|part| part.as_deref())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The body of `POST /api/v2/organizations` or `PATCH /api/v2/organizations/{id}`. For a PATCH,
/// set only what changed; `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    /// 1 owner only, 3 owner's visibility group, 5 group and sub-groups, 7 entire company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressWrite>,
    /// Values by custom field hash key; `Value::Null` clears a field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// The body of `POST /api/v2/persons` or `PATCH /api/v2/persons/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<ContactValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<ContactValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// A field definition from `GET /api/v2/organizationFields` or `/personFields`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FieldDefinition {
    pub field_name: String,
    /// The key entities use: a 40-character hash for custom fields, the name for standard ones.
    pub field_code: String,
    /// varchar, text, enum, set, ... Read answers may carry types this client does not know.
    pub field_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub options: Vec<FieldOption>,
    #[serde(default)]
    pub is_custom_field: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FieldOption {
    pub id: i64,
    pub label: String,
}

/// The body of `POST /api/v2/organizationFields` (and persons).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldCreate {
    pub field_name: String,
    pub field_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOptionCreate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldOptionCreate {
    pub label: String,
}

/// The authenticated user and the company, from `GET /v1/users/me`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CurrentUser {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    pub company_id: i64,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub company_domain: String,
    #[serde(default)]
    pub timezone_name: Option<String>,
}

/// A webhook as `GET /v1/webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Webhook {
    pub id: i64,
    #[serde(default)]
    pub event_action: String,
    #[serde(default)]
    pub event_object: String,
    #[serde(default)]
    pub subscription_url: String,
    #[serde(default)]
    pub version: Option<String>,
    /// 0 or 1 in Pipedrive's answers.
    #[serde(default)]
    pub is_active: serde_json::Value,
    #[serde(default)]
    pub http_auth_user: Option<String>,
}

/// The body of `POST /v1/webhooks`. `version` "2.0" asks for v2 payloads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookCreate {
    pub subscription_url: String,
    /// create | change | delete | *
    pub event_action: String,
    /// organization | person | ... | *
    pub event_object: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_auth_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_auth_password: Option<String>,
    pub version: String,
}

/// One hit of `GET /api/v2/organizations/search` or `/persons/search`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SearchHit {
    #[serde(default)]
    pub result_score: f64,
    pub item: SearchItem,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SearchItem {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    /// The matching custom field values, as strings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Vec<serde_json::Value>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_always_written_whole_with_a_value() {
        let address = AddressWrite {
            route: Some("Hauptstraße".into()),
            street_number: Some("12".into()),
            postal_code: Some("70173".into()),
            locality: Some("Stuttgart".into()),
            admin_area_level_1: Some("".into()),
            country: Some("Germany".into()),
            ..AddressWrite::default()
        }
        .completed();
        let body = serde_json::to_value(&address).unwrap();
        assert_eq!(body["value"], "Hauptstraße 12, 70173 Stuttgart, Germany");
        assert_eq!(body["route"], "Hauptstraße");
        assert!(
            body.get("admin_area_level_1").is_none(),
            "empty parts are not sent: {body}"
        );
    }

    #[test]
    fn custom_fields_are_nested_and_unset_fields_are_not_sent() {
        let mut write = OrganizationWrite {
            name: Some("Müller GmbH".into()),
            ..OrganizationWrite::default()
        };
        write
            .custom_fields
            .insert("a".repeat(40), serde_json::json!("4711"));
        let body = serde_json::to_value(&write).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "Müller GmbH", "custom_fields": {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "4711"}})
        );
    }

    #[test]
    fn contact_labels_are_strings_and_the_first_is_primary() {
        let list = ContactValue::list(&["a@x.de".into(), "b@x.de".into()], "work");
        let body = serde_json::to_value(&list).unwrap();
        assert_eq!(
            body,
            serde_json::json!([{"value": "a@x.de", "primary": true, "label": "work"},
                               {"value": "b@x.de", "primary": false, "label": "work"}])
        );
    }

    #[test]
    fn reads_tolerate_nulls_and_unknown_keys() {
        let organization: Organization = serde_json::from_value(serde_json::json!({
            "id": 7, "name": "X", "label_ids": null, "custom_fields": null, "address": null,
            "add_time": "2024-01-01T00:00:00Z", "something_new": 1
        }))
        .unwrap();
        assert_eq!(organization.id, 7);
        assert!(organization.label_ids.is_empty());
        assert!(organization.address.is_none());
    }
}
