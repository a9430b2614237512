//! The field map as configured, then resolved: the built-in default rules merged with
//! `[mapping]` (`FieldMapSpec`, custom fields still by name, what `setup` creates), and the
//! rules resolved against the account's custom field keys, each knowing the kind of Pipedrive
//! field it fills. Every unknown custom field is reported at once, before any record is read.

use std::collections::{BTreeMap, BTreeSet};

use mlc_canonical::state::EntityKind;
use mlc_config::sections::sync::{ContactDeletedPolicy, LifecyclePolicy};
use mlc_config::{
    FieldRule, FieldTarget, LabelRule, MappingConfig, OwnerRule, SyncConfig, Transform, ValueSource,
};
use serde::{Deserialize, Serialize};

use super::{FieldMap, CONTACT_NUMBER_FIELD, CUSTOMER_NUMBER_FIELD, STATUS_FIELD};
use crate::existing::CUSTOM_FIELD_PREFIX;

/// A custom field the map writes, for `setup` to create when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldSpec {
    pub kind: EntityKind,
    pub name: String,
    /// Pipedrive field type: "varchar" or "address".
    pub field_type: String,
}

/// The account's custom field keys by name, from `GET /api/v2/organizationFields` and
/// `personFields` (or created by `setup`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldKeys {
    pub organization: BTreeMap<String, String>,
    pub person: BTreeMap<String, String>,
}

/// A custom field named in the map that the account does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {kind} custom field \"{name}\" does not exist in Pipedrive (run `ml-connector setup`)"
)]
pub struct UnknownCustomField {
    pub kind: EntityKind,
    pub name: String,
}

/// The map with custom fields still by name: defaults merged with `[mapping]`.
#[derive(Debug, Clone)]
pub struct FieldMapSpec {
    organization: Vec<FieldRule>,
    person: Vec<FieldRule>,
    tables: BTreeMap<String, BTreeMap<String, String>>,
    owner_rules: Vec<OwnerRule>,
    label_rules: Vec<LabelRule>,
    default_owner_id: Option<i64>,
    email_label: String,
    phone_label: String,
    /// Which states the "status" source writes: those whose policy is `field`.
    status_states: StatusStates,
}

/// The lifecycle states the "status" source reports (`sync.on_deleted`/`on_blocked` = "field").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusStates {
    pub deleted: bool,
    pub blocked: bool,
}

fn rule(target: FieldTarget, source: &str) -> FieldRule {
    FieldRule {
        target,
        source: ValueSource::Field(source.to_string()),
        transforms: Vec::new(),
        enabled: true,
    }
}

fn standard(name: &str) -> FieldTarget {
    FieldTarget::Standard(name.to_string())
}

fn custom(name: &str) -> FieldTarget {
    FieldTarget::CustomByName(name.to_string())
}

/// The organization rules that work out of the box (brief 2: name, billing address, the ECC
/// customer number and the commercial fields; the status when a policy writes it).
pub fn default_organization_rules(sync: &SyncConfig) -> Vec<FieldRule> {
    let mut rules = vec![
        rule(standard("name"), "name"),
        rule(standard("address"), "billing_address"),
        rule(custom(CUSTOMER_NUMBER_FIELD), "customer_number_display"),
        rule(custom("ECC VAT Number"), "vat_number"),
        rule(custom("ECC Account Group"), "account_group"),
        rule(custom("ECC Payment Terms"), "payment_terms.code"),
        rule(custom("ECC Payment Terms Text"), "payment_terms.text"),
        rule(custom("ECC Shipping Address"), "shipping_address"),
    ];
    if sync.on_deleted == LifecyclePolicy::Field || sync.on_blocked == LifecyclePolicy::Field {
        rules.push(rule(custom(STATUS_FIELD), "status"));
    }
    rules
}

/// The person rules that work out of the box. Department and function go to custom fields:
/// `job_title` exists only for companies with contact sync (research 2.4). The status when
/// `sync.on_contact_deleted` writes it.
pub fn default_person_rules(sync: &SyncConfig) -> Vec<FieldRule> {
    let mut rules = vec![
        rule(standard("name"), "full_name"),
        rule(standard("emails"), "emails"),
        rule(standard("phones"), "phones"),
        rule(custom(CONTACT_NUMBER_FIELD), "contact_number_display"),
        rule(custom("ECC Department"), "department"),
        rule(custom("ECC Function"), "function"),
    ];
    if sync.on_contact_deleted == ContactDeletedPolicy::Field {
        rules.push(rule(custom(STATUS_FIELD), "status"));
    }
    rules
}

/// Defaults first, each replaced by a configured rule with the same target; configured rules
/// with new targets appended; disabled rules dropped.
fn merge_rules(defaults: Vec<FieldRule>, configured: &[FieldRule]) -> Vec<FieldRule> {
    let mut merged = defaults;
    for configured_rule in configured {
        match merged
            .iter_mut()
            .find(|rule| rule.target == configured_rule.target)
        {
            Some(existing) => *existing = configured_rule.clone(),
            None => merged.push(configured_rule.clone()),
        }
    }
    merged.retain(|rule| rule.enabled);
    merged
}

impl FieldMapSpec {
    pub fn from_config(mapping: &MappingConfig, sync: &SyncConfig) -> Self {
        let (organization_defaults, person_defaults) = if mapping.defaults {
            (default_organization_rules(sync), default_person_rules(sync))
        } else {
            (Vec::new(), Vec::new())
        };
        FieldMapSpec {
            organization: merge_rules(organization_defaults, &mapping.organization),
            person: merge_rules(person_defaults, &mapping.person),
            tables: mapping.tables.clone(),
            owner_rules: mapping.owner_rules.clone(),
            label_rules: mapping.label_rules.clone(),
            default_owner_id: mapping.default_owner_id,
            email_label: mapping.email_label.clone(),
            phone_label: mapping.phone_label.clone(),
            status_states: StatusStates {
                deleted: sync.on_deleted == LifecyclePolicy::Field,
                blocked: sync.on_blocked == LifecyclePolicy::Field,
            },
        }
    }

    /// The custom fields by name the map writes, with the type `setup` creates them with.
    pub fn required_custom_fields(&self) -> Vec<CustomFieldSpec> {
        let mut fields = Vec::new();
        for (kind, rules) in [
            (EntityKind::Organization, &self.organization),
            (EntityKind::Person, &self.person),
        ] {
            for rule in rules {
                if let FieldTarget::CustomByName(name) = &rule.target {
                    let is_address = matches!(&rule.source,
                        ValueSource::Field(source) if source == "billing_address" || source == "shipping_address");
                    fields.push(CustomFieldSpec {
                        kind,
                        name: name.clone(),
                        field_type: if is_address { "address" } else { "varchar" }.to_string(),
                    });
                }
            }
        }
        fields
    }

    /// Resolves custom field names to the account's hash keys; every unknown name is returned.
    pub fn resolve(&self, keys: &FieldKeys) -> Result<FieldMap, Vec<UnknownCustomField>> {
        let mut unknown = Vec::new();
        let organization = resolve_rules(
            EntityKind::Organization,
            &self.organization,
            &keys.organization,
            &mut unknown,
        );
        let person = resolve_rules(EntityKind::Person, &self.person, &keys.person, &mut unknown);
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let customer_number_key = organization
            .iter()
            .find(|rule| rule.custom_name.as_deref() == Some(CUSTOMER_NUMBER_FIELD))
            .and_then(|rule| rule.field.strip_prefix(CUSTOM_FIELD_PREFIX))
            .map(str::to_string);
        let contact_number_key = person
            .iter()
            .find(|rule| rule.custom_name.as_deref() == Some(CONTACT_NUMBER_FIELD))
            .and_then(|rule| rule.field.strip_prefix(CUSTOM_FIELD_PREFIX))
            .map(str::to_string);
        // The VAT rule of the matcher reads the field the map writes the VAT number to, under
        // whatever name `[mapping]` gives it.
        let vat_number_key = organization
            .iter()
            .find(
                |rule| matches!(&rule.source, ValueSource::Field(source) if source == "vat_number"),
            )
            .and_then(|rule| rule.field.strip_prefix(CUSTOM_FIELD_PREFIX))
            .map(str::to_string);
        let status_key = organization
            .iter()
            .find(|rule| is_status_rule(rule))
            .map(|rule| rule.field.clone());
        let managed_label_ids = self
            .label_rules
            .iter()
            .map(|rule| rule.label_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(FieldMap {
            organization,
            person,
            tables: self.tables.clone(),
            owner_rules: self.owner_rules.clone(),
            label_rules: self.label_rules.clone(),
            default_owner_id: self.default_owner_id,
            email_label: self.email_label.clone(),
            phone_label: self.phone_label.clone(),
            customer_number_key,
            contact_number_key,
            vat_number_key,
            status_states: self.status_states,
            status_field: status_key,
            managed_label_ids,
        })
    }
}

fn resolve_rules(
    kind: EntityKind,
    rules: &[FieldRule],
    keys: &BTreeMap<String, String>,
    unknown: &mut Vec<UnknownCustomField>,
) -> Vec<ResolvedRule> {
    let mut resolved = Vec::new();
    for rule in rules {
        let is_address_source = matches!(&rule.source,
            ValueSource::Field(source) if source == "billing_address" || source == "shipping_address");
        let (field, target, custom_name) = match &rule.target {
            FieldTarget::Standard(name) => {
                let target = match name.as_str() {
                    "name" => TargetKind::Name,
                    "address" => TargetKind::Address,
                    "emails" => TargetKind::Entries(EntryKind::Email),
                    "phones" => TargetKind::Entries(EntryKind::Phone),
                    "visible_to" => TargetKind::VisibleTo,
                    _ => TargetKind::Text,
                };
                (name.clone(), target, None)
            }
            FieldTarget::CustomByName(name) => {
                let Some(key) = keys.get(name) else {
                    unknown.push(UnknownCustomField {
                        kind,
                        name: name.clone(),
                    });
                    continue;
                };
                let target = if is_address_source {
                    TargetKind::Address
                } else {
                    TargetKind::Text
                };
                (
                    format!("{CUSTOM_FIELD_PREFIX}{key}"),
                    target,
                    Some(name.clone()),
                )
            }
            FieldTarget::CustomByKey(key) => {
                let target = if is_address_source {
                    TargetKind::Address
                } else {
                    TargetKind::Text
                };
                (format!("{CUSTOM_FIELD_PREFIX}{key}"), target, None)
            }
        };
        resolved.push(ResolvedRule {
            field,
            custom_name,
            source: rule.source.clone(),
            transforms: rule.transforms.clone(),
            target,
        });
    }
    resolved
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    Email,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetKind {
    Name,
    Address,
    Entries(EntryKind),
    VisibleTo,
    Text,
}

#[derive(Debug, Clone)]
pub(super) struct ResolvedRule {
    /// The mapped field key ("name", "custom_fields.<hash>").
    pub(super) field: String,
    /// The custom field's name, for messages.
    pub(super) custom_name: Option<String>,
    pub(super) source: ValueSource,
    pub(super) transforms: Vec<Transform>,
    pub(super) target: TargetKind,
}

impl ResolvedRule {
    pub(super) fn display_field(&self) -> String {
        match &self.custom_name {
            Some(name) => format!("custom field \"{name}\""),
            None => self.field.clone(),
        }
    }
}

pub(super) fn is_status_rule(rule: &ResolvedRule) -> bool {
    matches!(&rule.source, ValueSource::Field(source) if source == "status")
}
