//! The seam between the Pipedrive client's types and the pure core's plain data: what the
//! client read becomes `ExistingOrganization`/`ExistingPerson`, what the planner mapped becomes
//! the client's write bodies.

use std::collections::BTreeMap;

use mlc_pipedrive::{Organization, OrganizationWrite, Person, PersonWrite, PipedriveError};
use serde_json::Value;

use mlc_sync::existing::{ContactEntry, ExistingOrganization, ExistingPerson, PipedriveAddress};
use mlc_sync::map::MappedRecord;

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

/// The value the mapped record writes into the custom field `key` (the external id).
pub fn custom_value(record: &MappedRecord, key: &str) -> Option<String> {
    match record.get(&format!("{}{key}", mlc_sync::existing::CUSTOM_FIELD_PREFIX)) {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}
