//! The seam between the Pipedrive client's types and the pure core's plain data: what the
//! client read becomes `ExistingOrganization`/`ExistingPerson`, what the planner mapped becomes
//! the client's write bodies.

use std::collections::BTreeMap;

use mlc_canonical::state::EntityKind;
use mlc_pipedrive::{Organization, OrganizationWrite, Person, PersonWrite, PipedriveError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use mlc_sync::existing::{ContactEntry, ExistingOrganization, ExistingPerson, PipedriveAddress};
use mlc_sync::map::MappedRecord;
use mlc_sync::plan::{Operation, Plan};

pub fn existing_organization(organization: &Organization) -> ExistingOrganization {
    ExistingOrganization {
        id: organization.id,
        name: organization.name.clone(),
        address: organization
            .address
            .as_ref()
            .map(|address| PipedriveAddress {
                value: address.value.clone(),
                street_number: address.street_number.clone(),
                route: address.route.clone(),
                subpremise: address.subpremise.clone(),
                sublocality: address.sublocality.clone(),
                locality: address.locality.clone(),
                admin_area_level_1: address.admin_area_level_1.clone(),
                admin_area_level_2: address.admin_area_level_2.clone(),
                country: address.country.clone(),
                postal_code: address.postal_code.clone(),
            }),
        custom_fields: organization.custom_fields.clone(),
        owner_id: organization.owner_id,
        label_ids: organization.label_ids.clone(),
        other_fields: BTreeMap::new(),
    }
}

pub fn existing_person(person: &Person) -> ExistingPerson {
    let entries = |values: &[mlc_pipedrive::ContactValue]| -> Vec<ContactEntry> {
        values
            .iter()
            .map(|value| ContactEntry {
                value: value.value.clone(),
                label: Some(value.label.clone()),
                primary: value.primary,
            })
            .collect()
    };
    ExistingPerson {
        id: person.id,
        name: person.name.clone(),
        org_id: person.org_id,
        emails: entries(&person.emails),
        phones: entries(&person.phones),
        owner_id: person.owner_id,
        label_ids: person.label_ids.clone(),
        custom_fields: person.custom_fields.clone(),
        ..ExistingPerson::default()
    }
}

/// The request body of a mapped record as the client's write type. A `null` for a standard
/// field cannot be expressed by the typed body and is left out (the field stays as it is);
/// custom fields keep their `null`, which clears them.
pub fn organization_write(body: Value) -> Result<OrganizationWrite, PipedriveError> {
    serde_json::from_value(body).map_err(|error| mapped_body_error("organization", error))
}

pub fn person_write(body: Value) -> Result<PersonWrite, PipedriveError> {
    serde_json::from_value(body).map_err(|error| mapped_body_error("person", error))
}

/// A mapped record the client's write type cannot hold: a field map fault, not Pipedrive's.
fn mapped_body_error(kind: &str, error: serde_json::Error) -> PipedriveError {
    PipedriveError::Malformed {
        endpoint: "field map".into(),
        message: format!("mapped {kind} body: {error}"),
    }
}

/// A mapped value the client's write types cannot hold: a fault of `[mapping]`, the same for
/// every record, so it is found before any call and never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the field map writes a value the Pipedrive {kind} body cannot hold in field `{field}` \
     ({message}; first met at ECC key {ecc_key}): fix this field in [mapping]"
)]
pub struct FieldMapFault {
    pub kind: EntityKind,
    pub field: String,
    pub message: String,
    pub ecc_key: String,
}

/// Checks that every body the plan would send can be held by the client's write types.
pub fn check_plan_bodies(plan: &Plan) -> Result<(), FieldMapFault> {
    for entry in &plan.entries {
        let body = match &entry.operation {
            Operation::Create { body, .. } => body.create_body(),
            Operation::Update { changes, .. }
            | Operation::Label { changes, .. }
            | Operation::Link { changes, .. } => changes.patch_body(),
            Operation::Skip
            | Operation::Error
            | Operation::Deferred
            | Operation::AwaitReview
            | Operation::Delete { .. }
            | Operation::Review { .. } => continue,
        };
        let checked = match entry.kind {
            EntityKind::Organization => held_by::<OrganizationWrite>(body),
            EntityKind::Person => held_by::<PersonWrite>(body),
        };
        checked.map_err(|(field, message)| FieldMapFault {
            kind: entry.kind,
            field,
            message,
            ecc_key: entry.ecc_key.clone(),
        })?;
    }
    Ok(())
}

/// Whether `body` deserializes into `Write`; else the path of the field that does not, and why.
fn held_by<Write: DeserializeOwned>(body: Value) -> Result<(), (String, String)> {
    match serde_path_to_error::deserialize::<_, Write>(body) {
        Ok(_) => Ok(()),
        Err(error) => Err((error.path().to_string(), error.into_inner().to_string())),
    }
}

/// The value the mapped record writes into the custom field `key` (the external id).
pub fn custom_value(record: &MappedRecord, key: &str) -> Option<String> {
    match record.get(&format!("{}{key}", mlc_sync::existing::CUSTOM_FIELD_PREFIX)) {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use mlc_sync::plan::PlanEntry;
    use serde_json::json;

    use super::*;

    fn create(kind: EntityKind, body: MappedRecord) -> Plan {
        Plan {
            entries: vec![PlanEntry {
                kind,
                ecc_key: "0000004711".into(),
                customer_number: "0000004711".into(),
                operation: Operation::Create {
                    body,
                    organization: None,
                },
                reason: "no match".into(),
                content_hash: String::new(),
                pushed_hash: None,
                pipedrive_verified: None,
                evidence: None,
                tokens: 5,
                needs_index: false,
                gone_from_ecc: false,
                drift: false,
            }],
            ecc_duplicates: Vec::new(),
        }
    }

    #[test]
    fn a_mapped_value_the_write_body_cannot_hold_is_a_field_map_fault_naming_the_field() {
        let mut body = MappedRecord::new(EntityKind::Organization);
        body.set("name", json!("Müller GmbH"));
        body.set("owner_id", json!("Hans Müller"));
        let fault = check_plan_bodies(&create(EntityKind::Organization, body))
            .expect_err("an owner id must be a number");
        assert_eq!(fault.field, "owner_id");
        assert_eq!(fault.ecc_key, "0000004711");
        let message = fault.to_string();
        assert!(message.contains("`owner_id`"), "{message}");
        assert!(message.contains("[mapping]"), "{message}");
    }

    #[test]
    fn bodies_the_write_types_hold_pass() {
        let mut body = MappedRecord::new(EntityKind::Person);
        body.set("name", json!("Anna Schmidt"));
        body.set("custom_fields.abc", json!(["any", "value"]));
        assert_eq!(check_plan_bodies(&create(EntityKind::Person, body)), Ok(()));
    }
}
