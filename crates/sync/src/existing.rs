//! What Pipedrive already holds, as plain data the caller builds from the client's list
//! responses (`GET /api/v2/organizations`, `GET /api/v2/persons`, 500 a page).
//!
//! The pure core never calls Pipedrive: the executor converts the client's types into these,
//! and the matcher, the diff and the planner read only these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Pipedrive's address object (v2 organization `address`, and custom fields of type address).
/// Every subfield is optional; Pipedrive answers null for the ones never set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveAddress {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub street_number: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub subpremise: Option<String>,
    #[serde(default)]
    pub sublocality: Option<String>,
    #[serde(default)]
    pub locality: Option<String>,
    #[serde(default)]
    pub admin_area_level_1: Option<String>,
    #[serde(default)]
    pub admin_area_level_2: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
}

/// One existing organization, as the list endpoint returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExistingOrganization {
    pub id: i64,
    pub name: String,
    pub address: Option<PipedriveAddress>,
    /// `custom_fields` of the response: 40-character hash key → value in v2 format.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Value>,
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub label_ids: Vec<i64>,
    /// Other standard fields by their v2 key (`website`, `visible_to`...), for the diff of a
    /// field map that writes them.
    #[serde(default)]
    pub other_fields: BTreeMap<String, Value>,
}

/// An e-mail or phone entry of a person (`emails[]`, `phones[]` in v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEntry {
    pub value: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub primary: bool,
}

/// One existing person, as the list endpoint returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExistingPerson {
    pub id: i64,
    pub name: String,
    pub org_id: Option<i64>,
    #[serde(default)]
    pub emails: Vec<ContactEntry>,
    #[serde(default)]
    pub phones: Vec<ContactEntry>,
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub label_ids: Vec<i64>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(default)]
    pub other_fields: BTreeMap<String, Value>,
}

/// The current value of a mapped field key ("name", "address", "custom_fields.<key>", ...) in
/// a record Pipedrive holds; `None` when the record has no such value.
pub trait ExistingRecord {
    fn current_value(&self, field: &str) -> Option<Value>;
}

fn entries_json(entries: &[ContactEntry]) -> Value {
    serde_json::to_value(entries).unwrap_or(Value::Null)
}

impl ExistingRecord for ExistingOrganization {
    fn current_value(&self, field: &str) -> Option<Value> {
        if let Some(key) = field.strip_prefix(CUSTOM_FIELD_PREFIX) {
            return self.custom_fields.get(key).cloned();
        }
        match field {
            "name" => Some(Value::String(self.name.clone())),
            "address" => self
                .address
                .as_ref()
                .and_then(|address| serde_json::to_value(address).ok()),
            "owner_id" => self.owner_id.map(Value::from),
            "label_ids" => Some(Value::from(self.label_ids.clone())),
            other => self.other_fields.get(other).cloned(),
        }
    }
}

impl ExistingRecord for ExistingPerson {
    fn current_value(&self, field: &str) -> Option<Value> {
        if let Some(key) = field.strip_prefix(CUSTOM_FIELD_PREFIX) {
            return self.custom_fields.get(key).cloned();
        }
        match field {
            "name" => Some(Value::String(self.name.clone())),
            "org_id" => self.org_id.map(Value::from),
            "emails" => Some(entries_json(&self.emails)),
            "phones" => Some(entries_json(&self.phones)),
            "owner_id" => self.owner_id.map(Value::from),
            "label_ids" => Some(Value::from(self.label_ids.clone())),
            other => self.other_fields.get(other).cloned(),
        }
    }
}

/// A fingerprint of what a drift check compares: Pipedrive's copy of a record (its JSON, see
/// [`ExistingLookup::organization_json`]), the hash of the mapped content pushed, and the
/// labels the connector manages. The comparison is a function of these alone, so a record
/// found holding what was pushed under a fingerprint holds it again under the same one, and a
/// later run need neither parse Pipedrive's copy nor compare it. The first 8 bytes of a
/// SHA-256 under a versioned domain (bump it when the comparison changes).
pub fn verified_fingerprint(record_json: &[u8], pushed_hash: &str, managed_labels: &[i64]) -> i64 {
    let mut hasher = mlc_canonical::hash::ContentHasher::new("pipedrive-verified/v1");
    hasher.bytes(record_json);
    hasher.text(pushed_hash);
    hasher.count(managed_labels.len());
    for label in managed_labels {
        hasher.bytes(&label.to_le_bytes());
    }
    hasher.fingerprint()
}

/// Mapped field keys of custom fields are "custom_fields." followed by the hash key.
pub const CUSTOM_FIELD_PREFIX: &str = "custom_fields.";

/// What Pipedrive holds, looked up by id. The planner asks only for the records it decides
/// about, so a large account need not be held in memory whole: the engine reads them back
/// from a spill file; tests and small callers use [`ExistingRecords`].
pub trait ExistingLookup: Sync {
    fn organization(&self, id: i64) -> Option<ExistingOrganization>;
    fn person(&self, id: i64) -> Option<ExistingPerson>;
    /// Organization `id` as the JSON `serde_json` writes of it, what [`verified_fingerprint`]
    /// is taken of: the engine's index hands over the line it keeps, unparsed.
    fn organization_json(&self, id: i64) -> Option<Vec<u8>> {
        self.organization(id)
            .and_then(|organization| serde_json::to_vec(&organization).ok())
    }
    /// Person `id` as JSON, as [`ExistingLookup::organization_json`].
    fn person_json(&self, id: i64) -> Option<Vec<u8>> {
        self.person(id)
            .and_then(|person| serde_json::to_vec(&person).ok())
    }
    /// The persons of an organization, by id.
    fn persons_of(&self, organization_id: i64) -> Vec<ExistingPerson>;
    /// The ECC contact the store links person `person_id` to, when the lookup knows the store's
    /// person links (the engine's index does, since a batch's [`KnownRecords`] holds only the
    /// links of its own contacts); `None` otherwise, and then only `KnownRecords` is asked.
    ///
    /// [`KnownRecords`]: crate::plan::KnownRecords
    fn contact_linked_to(&self, _person_id: i64) -> Option<String> {
        None
    }
    /// Whether `persons_of` and `contact_linked_to` can answer now. The engine's index reads
    /// them only for a batch with a contact to match (see `plan::may_need_persons_of`); a
    /// contact planned before waits, as without the index.
    fn knows_persons_of_organizations(&self) -> bool {
        true
    }
}

/// Existing records held in memory.
#[derive(Debug, Clone, Default)]
pub struct ExistingRecords {
    organizations: std::collections::HashMap<i64, ExistingOrganization>,
    persons: std::collections::HashMap<i64, ExistingPerson>,
    /// Person ids by organization, each list by id.
    by_organization: std::collections::HashMap<i64, Vec<i64>>,
}

impl ExistingRecords {
    pub fn new(
        organizations: impl IntoIterator<Item = ExistingOrganization>,
        persons: impl IntoIterator<Item = ExistingPerson>,
    ) -> Self {
        let organizations = organizations
            .into_iter()
            .map(|organization| (organization.id, organization))
            .collect();
        let persons: std::collections::HashMap<i64, ExistingPerson> = persons
            .into_iter()
            .map(|person| (person.id, person))
            .collect();
        let mut by_organization: std::collections::HashMap<i64, Vec<i64>> =
            std::collections::HashMap::new();
        for person in persons.values() {
            if let Some(org_id) = person.org_id {
                by_organization.entry(org_id).or_default().push(person.id);
            }
        }
        for ids in by_organization.values_mut() {
            ids.sort_unstable();
        }
        ExistingRecords {
            organizations,
            persons,
            by_organization,
        }
    }
}

impl ExistingLookup for ExistingRecords {
    fn organization(&self, id: i64) -> Option<ExistingOrganization> {
        self.organizations.get(&id).cloned()
    }

    fn person(&self, id: i64) -> Option<ExistingPerson> {
        self.persons.get(&id).cloned()
    }

    fn persons_of(&self, organization_id: i64) -> Vec<ExistingPerson> {
        self.by_organization
            .get(&organization_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.persons.get(id).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_fingerprint_changes_with_each_thing_the_comparison_reads() {
        let organization = ExistingOrganization {
            id: 7,
            name: "Müller GmbH".into(),
            ..Default::default()
        };
        let records = ExistingRecords::new([organization.clone()], []);
        let json = records.organization_json(7).unwrap();
        let base = verified_fingerprint(&json, "hash", &[1, 2]);
        assert_eq!(base, verified_fingerprint(&json, "hash", &[1, 2]));
        let renamed = ExistingRecords::new(
            [ExistingOrganization {
                name: "Müller GmbH & Co. KG".into(),
                ..organization
            }],
            [],
        );
        let other_json = renamed.organization_json(7).unwrap();
        assert_ne!(base, verified_fingerprint(&other_json, "hash", &[1, 2]));
        assert_ne!(base, verified_fingerprint(&json, "other hash", &[1, 2]));
        assert_ne!(base, verified_fingerprint(&json, "hash", &[1]));
        assert_ne!(base, verified_fingerprint(&json, "hash", &[12]));
        assert_eq!(records.organization_json(8), None);
    }
}
