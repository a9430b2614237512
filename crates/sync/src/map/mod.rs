//! The field map: which canonical field goes to which Pipedrive field, through which
//! transforms. Built from `[mapping]` over the built-in defaults, resolved against the
//! account's custom field keys once at start, then applied to every record as a pure function.
//!
//! Two stages, as the config does it: `FieldMapSpec` names custom fields by name (what `setup`
//! needs to create them), `FieldMap` has their hash keys (what a request needs).
//!
//! A rule is applied in three steps, one module each: `source` reads the value from the
//! canonical record, `value` transforms it and shapes it for its Pipedrive field, and this
//! module collects the fields (with owner and labels) into the mapped record. `spec` builds
//! and resolves the rules.

mod country;
mod record;
mod source;
mod spec;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use mlc_canonical::state::EntityKind;
use mlc_canonical::{ContactPerson, Customer};
use mlc_config::{LabelRule, OwnerRule, ValueSource};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use country::country_name;
pub use record::{
    canonical_json, diff, same_value, MappedOrganization, MappedPerson, MappedRecord,
};
pub use source::customer_status;
pub use spec::{
    default_organization_rules, default_person_rules, CustomFieldSpec, FieldKeys, FieldMapSpec,
    StatusStates, UnknownCustomField,
};
pub use value::is_plausible_email;

use source::{fill_template, organization_source, person_source, SourceValue};
use spec::{is_status_rule, ResolvedRule};

use crate::existing::CUSTOM_FIELD_PREFIX;

/// Default custom field names; `setup` creates them, the matcher reads the first one.
pub const CUSTOMER_NUMBER_FIELD: &str = "ECC Customer Number";
pub const CONTACT_NUMBER_FIELD: &str = "ECC Contact Number";
pub const STATUS_FIELD: &str = "ECC Status";
/// What the "status" source of a person says for a contact deleted in ECC
/// (`sync.on_contact_deleted = "field"`); a contact that is read says nothing ("").
pub const CONTACT_DELETED_STATUS: &str = "deleted";

/// Pipedrive's limit for names and varchar fields (spec: maxLength 255).
pub const MAX_TEXT_LENGTH: usize = 255;

/// A data problem that keeps a record from being written: the audit shows it as an error with
/// this reason, and the rest of the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingProblem {
    /// The Pipedrive field ("name", "custom_fields.ECC VAT Number", "emails").
    pub field: String,
    pub message: String,
}

impl fmt::Display for MappingProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.message)
    }
}

/// The resolved field map: applied to a customer or contact, it gives the mapped record.
#[derive(Debug, Clone)]
pub struct FieldMap {
    organization: Vec<ResolvedRule>,
    person: Vec<ResolvedRule>,
    tables: BTreeMap<String, BTreeMap<String, String>>,
    owner_rules: Vec<OwnerRule>,
    label_rules: Vec<LabelRule>,
    default_owner_id: Option<i64>,
    email_label: String,
    phone_label: String,
    customer_number_key: Option<String>,
    contact_number_key: Option<String>,
    vat_number_key: Option<String>,
    status_field: Option<String>,
    status_states: StatusStates,
    managed_label_ids: Vec<i64>,
}

impl FieldMap {
    /// The hash key of the organization custom field holding the ECC customer number, the
    /// external id the matcher looks up; `None` when the map does not write it.
    pub fn customer_number_key(&self) -> Option<&str> {
        self.customer_number_key.as_deref()
    }

    /// The hash key of the person custom field holding the ECC contact number.
    pub fn contact_number_key(&self) -> Option<&str> {
        self.contact_number_key.as_deref()
    }

    /// The hash key of the organization custom field the map writes the VAT number to, which
    /// the matcher's VAT rule reads; `None` when the map does not write it to a custom field.
    pub fn vat_number_key(&self) -> Option<&str> {
        self.vat_number_key.as_deref()
    }

    /// The organization custom fields the matcher reads its evidence from: those the map
    /// writes the customer number, VAT number, phone, e-mail and website to. A hand-typed
    /// organization with the same phone in that field is more likely the customer.
    pub fn organization_evidence_fields(&self) -> crate::matching::OrganizationEvidenceFields {
        let custom_field_of = |source_name: &str| {
            self.organization
                .iter()
                .find(|rule| {
                    matches!(&rule.source, ValueSource::Field(source) if source == source_name)
                })
                .and_then(|rule| rule.field.strip_prefix(CUSTOM_FIELD_PREFIX))
                .map(str::to_string)
        };
        crate::matching::OrganizationEvidenceFields {
            customer_number: self.customer_number_key.clone(),
            vat: self.vat_number_key.clone(),
            phone: custom_field_of("phone"),
            email: custom_field_of("email"),
            website: custom_field_of("website"),
        }
    }

    /// The mapped key of the status field when a lifecycle policy writes one.
    pub fn status_field(&self) -> Option<&str> {
        self.status_field.as_deref()
    }

    /// The label ids the map owns (those of its label rules); other labels stay untouched.
    pub fn managed_label_ids(&self) -> &[i64] {
        &self.managed_label_ids
    }

    /// The person of a contact deleted in ECC as `sync.on_contact_deleted = "field"` writes it:
    /// only the fields of the person rules that read "status", each saying
    /// [`CONTACT_DELETED_STATUS`] through its transforms. Empty when no rule writes the status.
    pub fn map_deleted_contact(&self) -> Result<MappedPerson, Vec<MappingProblem>> {
        let mut mapped = MappedRecord::new(EntityKind::Person);
        let mut problems = Vec::new();
        let lookup = |source: &str| match source {
            "status" => SourceValue::text(CONTACT_DELETED_STATUS),
            _ => SourceValue::Absent,
        };
        for rule in self.person.iter().filter(|rule| is_status_rule(rule)) {
            self.apply_rule(rule, &lookup, &mut mapped, &mut problems);
        }
        if problems.is_empty() {
            Ok(mapped)
        } else {
            Err(problems)
        }
    }

    /// The organization for a customer, or every data problem that keeps it from being written.
    pub fn map_organization(
        &self,
        customer: &Customer,
    ) -> Result<MappedOrganization, Vec<MappingProblem>> {
        let mut mapped = MappedRecord::new(EntityKind::Organization);
        let mut problems = Vec::new();
        let lookup = |source: &str| organization_source(customer, self.status_states, source);
        for rule in &self.organization {
            self.apply_rule(rule, &lookup, &mut mapped, &mut problems);
        }
        self.apply_owner_and_labels(customer, &mut mapped, true);
        if problems.is_empty() {
            Ok(mapped)
        } else {
            Err(problems)
        }
    }

    /// The person for a contact of `customer`. `org_id` is not set here: the planner sets it
    /// from the organization's link (or after the organization is created).
    pub fn map_person(
        &self,
        customer: &Customer,
        contact: &ContactPerson,
    ) -> Result<MappedPerson, Vec<MappingProblem>> {
        let mut mapped = MappedRecord::new(EntityKind::Person);
        let mut problems = Vec::new();
        let lookup = |source: &str| person_source(customer, contact, source);
        for rule in &self.person {
            self.apply_rule(rule, &lookup, &mut mapped, &mut problems);
        }
        self.apply_owner_and_labels(customer, &mut mapped, false);
        if problems.is_empty() {
            Ok(mapped)
        } else {
            Err(problems)
        }
    }

    fn apply_owner_and_labels(
        &self,
        customer: &Customer,
        mapped: &mut MappedRecord,
        with_labels: bool,
    ) {
        let country = customer.billing_address.country.trim().to_uppercase();
        let applies = |rule_country: &Option<String>, rule_group: &Option<String>| {
            rule_country
                .as_ref()
                .is_none_or(|wanted| *wanted == country)
                && rule_group
                    .as_ref()
                    .is_none_or(|wanted| wanted == customer.account_group.trim())
        };
        let owner = self
            .owner_rules
            .iter()
            .find(|rule| applies(&rule.country, &rule.account_group))
            .map(|rule| rule.owner_id)
            .or(self.default_owner_id);
        if let Some(owner_id) = owner {
            mapped.set("owner_id", json!(owner_id));
        }
        if with_labels && !self.label_rules.is_empty() {
            let labels: BTreeSet<i64> = self
                .label_rules
                .iter()
                .filter(|rule| applies(&rule.country, &rule.account_group))
                .map(|rule| rule.label_id)
                .collect();
            mapped.set("label_ids", json!(labels.into_iter().collect::<Vec<_>>()));
        }
    }

    fn apply_rule(
        &self,
        rule: &ResolvedRule,
        lookup: &dyn Fn(&str) -> SourceValue,
        mapped: &mut MappedRecord,
        problems: &mut Vec<MappingProblem>,
    ) {
        let mut value = match &rule.source {
            ValueSource::Field(source) => lookup(source),
            ValueSource::Template(template) => SourceValue::Text(fill_template(template, lookup)),
        };
        for transform in &rule.transforms {
            value = match self.transform(value, transform) {
                Ok(value) => value,
                Err(message) => {
                    problems.push(MappingProblem {
                        field: rule.display_field(),
                        message,
                    });
                    return;
                }
            };
        }
        match self.to_json(rule, value) {
            Ok(json) => mapped.set(rule.field.clone(), json),
            Err(message) => problems.push(MappingProblem {
                field: rule.display_field(),
                message,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
