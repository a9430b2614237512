//! The field map: which canonical field goes to which Pipedrive field, through which
//! transforms. Built from `[mapping]` over the built-in defaults, resolved against the
//! account's custom field keys once at start, then applied to every record as a pure function.
//!
//! Two stages, as the config does it: `FieldMapSpec` names custom fields by name (what `setup`
//! needs to create them), `FieldMap` has their hash keys (what a request needs).

mod country;
mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use mlc_canonical::state::EntityKind;
use mlc_canonical::{alpha_output, Address, ContactPerson, Customer};
use mlc_config::sections::sync::{ContactDeletedPolicy, LifecyclePolicy};
use mlc_config::{
    FieldRule, FieldTarget, LabelRule, MappingConfig, OwnerRule, SyncConfig, Transform, ValueSource,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use country::country_name;
pub use record::{
    canonical_json, diff, same_value, MappedOrganization, MappedPerson, MappedRecord,
};

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
enum EntryKind {
    Email,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    Name,
    Address,
    Entries(EntryKind),
    VisibleTo,
    Text,
}

#[derive(Debug, Clone)]
struct ResolvedRule {
    /// The mapped field key ("name", "custom_fields.<hash>").
    field: String,
    /// The custom field's name, for messages.
    custom_name: Option<String>,
    source: ValueSource,
    transforms: Vec<Transform>,
    target: TargetKind,
}

impl ResolvedRule {
    fn display_field(&self) -> String {
        match &self.custom_name {
            Some(name) => format!("custom field \"{name}\""),
            None => self.field.clone(),
        }
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

/// A value read from a canonical record before it becomes JSON.
#[derive(Debug, Clone, PartialEq)]
enum SourceValue {
    Absent,
    Text(String),
    List(Vec<String>),
    /// E-mails or phones where some carry their own label (a contact's mobile numbers).
    Labelled(Vec<(String, Option<&'static str>)>),
    Address(Address),
}

impl SourceValue {
    fn text(value: &str) -> SourceValue {
        SourceValue::Text(value.to_string())
    }

    fn optional(value: Option<&str>) -> SourceValue {
        match value {
            Some(text) => SourceValue::Text(text.to_string()),
            None => SourceValue::Absent,
        }
    }

    /// The value as one line of text, for templates.
    fn as_text(&self) -> String {
        match self {
            SourceValue::Absent => String::new(),
            SourceValue::Text(text) => text.clone(),
            SourceValue::List(items) => items.join(", "),
            SourceValue::Labelled(items) => items
                .iter()
                .map(|(item, _)| item.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            SourceValue::Address(address) => address_line(address, None),
        }
    }
}

/// "Hauptstraße 12, 70173 Stuttgart, Germany": the address as one line, for `value`.
fn address_line(address: &Address, country: Option<&str>) -> String {
    let street = [address.street.trim(), address.house_number.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let place = [address.postal_code.trim(), address.city.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let country = country.unwrap_or(address.country.trim());
    [street.as_str(), place.as_str(), country]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn address_part(address: Option<&Address>, part: &str) -> SourceValue {
    let Some(address) = address else {
        return SourceValue::Absent;
    };
    let value = match part {
        "street" => &address.street,
        "house_number" => &address.house_number,
        "postal_code" => &address.postal_code,
        "city" => &address.city,
        "region" => &address.region,
        "country" => &address.country,
        _ => return SourceValue::Absent,
    };
    SourceValue::text(value)
}

/// The lifecycle status of a customer: "deleted", "blocked", or "" when active.
pub fn customer_status(customer: &Customer) -> &'static str {
    if customer.deleted {
        "deleted"
    } else if customer.blocked {
        "blocked"
    } else {
        ""
    }
}

/// The status the "status" source writes: only the states whose policy is `field`.
fn written_status(customer: &Customer, states: StatusStates) -> &'static str {
    if customer.deleted && states.deleted {
        "deleted"
    } else if customer.blocked && states.blocked {
        "blocked"
    } else {
        ""
    }
}

fn organization_source(customer: &Customer, states: StatusStates, source: &str) -> SourceValue {
    if let Some(part) = source.strip_prefix("billing_address.") {
        return address_part(Some(&customer.billing_address), part);
    }
    if let Some(part) = source.strip_prefix("shipping_address.") {
        return address_part(customer.shipping_address.as_ref(), part);
    }
    match source {
        "customer_number" => SourceValue::text(customer.customer_number.as_str()),
        "customer_number_display" => SourceValue::text(customer.customer_number_display.as_str()),
        "name" => SourceValue::text(&customer.name),
        "name_parts" => SourceValue::List(
            customer
                .name_parts
                .iter()
                .filter(|part| !part.trim().is_empty())
                .cloned()
                .collect(),
        ),
        "name_1" => SourceValue::text(&customer.name_parts[0]),
        "name_2" => SourceValue::text(&customer.name_parts[1]),
        "name_3" => SourceValue::text(&customer.name_parts[2]),
        "name_4" => SourceValue::text(&customer.name_parts[3]),
        "account_group" => SourceValue::text(&customer.account_group),
        "vat_number" => SourceValue::optional(customer.vat_number.as_deref()),
        "email" => SourceValue::optional(customer.email.as_deref()),
        "phone" => SourceValue::optional(customer.phone.as_deref()),
        "billing_address" => SourceValue::Address(customer.billing_address.clone()),
        "shipping_address" => match &customer.shipping_address {
            Some(address) => SourceValue::Address(address.clone()),
            None => SourceValue::Absent,
        },
        "payment_terms.code" => SourceValue::optional(
            customer
                .payment_terms
                .as_ref()
                .map(|terms| terms.code.as_str()),
        ),
        "payment_terms.text" => SourceValue::optional(
            customer
                .payment_terms
                .as_ref()
                .and_then(|terms| terms.text.as_deref()),
        ),
        "status" => SourceValue::text(written_status(customer, states)),
        _ => SourceValue::Absent,
    }
}

fn person_source(customer: &Customer, contact: &ContactPerson, source: &str) -> SourceValue {
    match source {
        "contact_number" => SourceValue::text(&contact.contact_number),
        "contact_number_display" => SourceValue::Text(contact.contact_number_display()),
        "first_name" => SourceValue::text(&contact.first_name),
        "last_name" => SourceValue::text(&contact.last_name),
        "full_name" => SourceValue::Text(contact.full_name()),
        "department" => SourceValue::optional(contact.department.as_deref()),
        "function" => SourceValue::optional(contact.function.as_deref()),
        "emails" => SourceValue::List(contact.emails.clone()),
        // Landlines with the map's phone label, then mobile numbers labelled "mobile".
        "phones" => SourceValue::Labelled(
            contact
                .phones
                .iter()
                .map(|phone| (phone.clone(), None))
                .chain(
                    contact
                        .mobile_phones
                        .iter()
                        .map(|phone| (phone.clone(), Some(MOBILE_LABEL))),
                )
                .collect(),
        ),
        "mobile_phones" => SourceValue::List(contact.mobile_phones.clone()),
        "email" => SourceValue::optional(contact.emails.first().map(String::as_str)),
        "phone" => SourceValue::optional(
            contact
                .phones
                .first()
                .or(contact.mobile_phones.first())
                .map(String::as_str),
        ),
        "customer_number" => SourceValue::text(customer.customer_number.as_str()),
        "customer_number_display" => SourceValue::text(customer.customer_number_display.as_str()),
        // A contact read from ECC exists there; only `map_deleted_contact` says otherwise.
        "status" => SourceValue::text(""),
        _ => SourceValue::Absent,
    }
}

/// Pipedrive's label for a mobile phone entry.
const MOBILE_LABEL: &str = "mobile";

fn is_status_rule(rule: &ResolvedRule) -> bool {
    matches!(&rule.source, ValueSource::Field(source) if source == "status")
}

/// Replaces `{field}` placeholders; `{{` and `}}` are literal braces.
fn fill_template(template: &str, lookup: &dyn Fn(&str) -> SourceValue) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                for inner in chars.by_ref() {
                    if inner == '}' {
                        break;
                    }
                    name.push(inner);
                }
                out.push_str(&lookup(name.trim()).as_text());
            }
            other => out.push(other),
        }
    }
    out
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

    fn transform(&self, value: SourceValue, transform: &Transform) -> Result<SourceValue, String> {
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

    fn to_json(&self, rule: &ResolvedRule, value: SourceValue) -> Result<Value, String> {
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

#[cfg(test)]
mod tests;
