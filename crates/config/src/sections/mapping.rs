//! `[mapping]`: which canonical fields go to which Pipedrive fields, through which transforms.
//!
//! The built-in default map (in `mlc-sync`) works without any of this; entries here add fields or
//! replace a default with the same target. Only the syntax and the names are checked here; the
//! sync turns the validated rules into its field map.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::validator::Validator;

/// Canonical fields of a customer a rule can read (`source`, or `{...}` in a template).
pub const ORGANIZATION_SOURCES: &[&str] = &[
    "customer_number",
    "customer_number_display",
    "name",
    "name_parts",
    "name_1",
    "name_2",
    "name_3",
    "name_4",
    "account_group",
    "vat_number",
    "email",
    "phone",
    "billing_address",
    "billing_address.street",
    "billing_address.house_number",
    "billing_address.postal_code",
    "billing_address.city",
    "billing_address.region",
    "billing_address.country",
    "shipping_address",
    "shipping_address.street",
    "shipping_address.house_number",
    "shipping_address.postal_code",
    "shipping_address.city",
    "shipping_address.region",
    "shipping_address.country",
    "payment_terms.code",
    "payment_terms.text",
    "status",
];

/// Canonical fields of a contact person a rule can read.
pub const PERSON_SOURCES: &[&str] = &[
    "contact_number",
    "contact_number_display",
    "first_name",
    "last_name",
    "full_name",
    "department",
    "function",
    "emails",
    // Landlines and then mobile numbers (labelled "mobile"); `mobile_phones` the mobiles alone.
    "phones",
    "mobile_phones",
    "email",
    "phone",
    "customer_number",
    "customer_number_display",
    // "deleted" for a contact gone from ECC (`sync.on_contact_deleted = "field"`), else blank.
    "status",
];

/// Standard Pipedrive organization fields a rule may write (v2 request keys).
pub const ORGANIZATION_STANDARD_FIELDS: &[&str] = &["name", "address", "website", "visible_to"];

/// Standard Pipedrive person fields a rule may write (v2 request keys). `org_id`, `owner_id` and
/// `label_ids` are set by the sync and the owner/label rules, not by field rules.
pub const PERSON_STANDARD_FIELDS: &[&str] = &["name", "emails", "phones", "visible_to"];

/// Transforms by name; `table:NAME` looks the value up in `[mapping.tables.NAME]`, `join:SEP`
/// joins a list with SEP.
pub const TRANSFORMS: &[&str] = &[
    "trim",
    "alpha_output",
    "upper",
    "lower",
    "country_name",
    "table:NAME",
    "join:SEP",
];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub defaults: Option<Spanned<bool>>,
    pub email_label: Option<Spanned<String>>,
    pub phone_label: Option<Spanned<String>>,
    pub default_owner_id: Option<Spanned<i64>>,
    #[serde(default)]
    pub organization: Vec<RawFieldRule>,
    #[serde(default)]
    pub person: Vec<RawFieldRule>,
    #[serde(default)]
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub owner_rules: Vec<RawOwnerRule>,
    #[serde(default)]
    pub label_rules: Vec<RawLabelRule>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFieldRule {
    pub field: Option<Spanned<String>>,
    pub custom_field: Option<Spanned<String>>,
    pub custom_field_key: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub template: Option<Spanned<String>>,
    #[serde(default)]
    pub transforms: Vec<Spanned<String>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOwnerRule {
    pub country: Option<String>,
    pub account_group: Option<String>,
    pub owner_id: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabelRule {
    pub country: Option<String>,
    pub account_group: Option<String>,
    pub label_id: Spanned<i64>,
}

/// Where a rule writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldTarget {
    /// A standard field by its v2 request key ("name", "address").
    Standard(String),
    /// A custom field by its name as Pipedrive shows it; resolved to its hash key at start.
    CustomByName(String),
    /// A custom field by its 40-character hash key.
    CustomByKey(String),
}

/// What a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// One canonical field, e.g. "billing_address.city".
    Field(String),
    /// Text with `{field}` placeholders, e.g. "{name} ({customer_number_display})".
    Template(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Trim,
    AlphaOutput,
    Upper,
    Lower,
    /// ISO country code to its English name.
    CountryName,
    /// Code to text through `[mapping.tables.NAME]`; a code not in the table stays as it is.
    Table(String),
    /// A list joined with this separator.
    Join(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    pub target: FieldTarget,
    pub source: ValueSource,
    pub transforms: Vec<Transform>,
    /// `false` removes a default rule with the same target.
    pub enabled: bool,
}

/// An owner for customers of a country and/or account group; the first matching rule wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRule {
    pub country: Option<String>,
    pub account_group: Option<String>,
    pub owner_id: i64,
}

/// A label for customers of a country and/or account group; every matching rule adds its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRule {
    pub country: Option<String>,
    pub account_group: Option<String>,
    pub label_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    /// Start from the built-in default map (true) or from nothing.
    pub defaults: bool,
    pub email_label: String,
    pub phone_label: String,
    /// Owner of new organizations and persons when no owner rule matches; `None` leaves it to
    /// Pipedrive (the API token's user).
    pub default_owner_id: Option<i64>,
    pub organization: Vec<FieldRule>,
    pub person: Vec<FieldRule>,
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
    pub owner_rules: Vec<OwnerRule>,
    pub label_rules: Vec<LabelRule>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            defaults: true,
            email_label: "work".to_string(),
            phone_label: "work".to_string(),
            default_owner_id: None,
            organization: Vec::new(),
            person: Vec::new(),
            tables: BTreeMap::new(),
            owner_rules: Vec::new(),
            label_rules: Vec::new(),
        }
    }
}

const LABELS: &[&str] = &["work", "home", "mobile", "other"];

pub fn validate(raw: RawMapping, validator: &Validator<'_>) -> Result<MappingConfig, ConfigError> {
    let email_label = match &raw.email_label {
        Some(value) => validator
            .choice("mapping.email_label", value, LABELS)?
            .to_string(),
        None => "work".to_string(),
    };
    let phone_label = match &raw.phone_label {
        Some(value) => validator
            .choice("mapping.phone_label", value, LABELS)?
            .to_string(),
        None => "work".to_string(),
    };
    let default_owner_id = match &raw.default_owner_id {
        Some(value) => {
            Some(validator.number_in("mapping.default_owner_id", value, 1..=i64::MAX)?)
        }
        None => None,
    };
    let mut organization = Vec::new();
    for rule in &raw.organization {
        organization.push(validate_rule(
            rule,
            "mapping.organization",
            ORGANIZATION_SOURCES,
            ORGANIZATION_STANDARD_FIELDS,
            &raw.tables,
            validator,
        )?);
    }
    let mut person = Vec::new();
    for rule in &raw.person {
        person.push(validate_rule(
            rule,
            "mapping.person",
            PERSON_SOURCES,
            PERSON_STANDARD_FIELDS,
            &raw.tables,
            validator,
        )?);
    }
    let mut owner_rules = Vec::new();
    for rule in &raw.owner_rules {
        owner_rules.push(OwnerRule {
            country: rule.country.as_ref().map(|c| c.trim().to_uppercase()),
            account_group: rule.account_group.as_ref().map(|g| g.trim().to_string()),
            owner_id: validator.number_in(
                "mapping.owner_rules.owner_id",
                &rule.owner_id,
                1..=i64::MAX,
            )?,
        });
    }
    let mut label_rules = Vec::new();
    for rule in &raw.label_rules {
        label_rules.push(LabelRule {
            country: rule.country.as_ref().map(|c| c.trim().to_uppercase()),
            account_group: rule.account_group.as_ref().map(|g| g.trim().to_string()),
            label_id: validator.number_in(
                "mapping.label_rules.label_id",
                &rule.label_id,
                1..=i64::MAX,
            )?,
        });
    }
    Ok(MappingConfig {
        defaults: raw
            .defaults
            .as_ref()
            .map(|value| *value.get_ref())
            .unwrap_or(true),
        email_label,
        phone_label,
        default_owner_id,
        organization,
        person,
        tables: raw.tables,
        owner_rules,
        label_rules,
    })
}

fn validate_rule(
    rule: &RawFieldRule,
    table_key: &str,
    sources: &[&str],
    standard_fields: &[&str],
    tables: &BTreeMap<String, BTreeMap<String, String>>,
    validator: &Validator<'_>,
) -> Result<FieldRule, ConfigError> {
    let target = match (&rule.field, &rule.custom_field, &rule.custom_field_key) {
        (Some(field), None, None) => {
            let key = format!("{table_key}.field");
            FieldTarget::Standard(validator.choice(&key, field, standard_fields)?.to_string())
        }
        (None, Some(name), None) => {
            let key = format!("{table_key}.custom_field");
            let name = validator.text(&key, name)?;
            if name.trim().is_empty() {
                return Err(validator.error(
                    &key,
                    rule.custom_field.as_ref().map(|v| v.span()),
                    "is empty",
                ));
            }
            FieldTarget::CustomByName(name.trim().to_string())
        }
        (None, None, Some(hash_key)) => {
            let key = format!("{table_key}.custom_field_key");
            let text = validator.text(&key, hash_key)?;
            let text = text.trim().to_string();
            if text.len() != 40 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(validator.error(
                    &key,
                    Some(hash_key.span()),
                    format!("`{text}` is not a 40-character hash key (see `ml-connector fields`)"),
                ));
            }
            FieldTarget::CustomByKey(text)
        }
        _ => {
            let span = [&rule.field, &rule.custom_field, &rule.custom_field_key]
                .into_iter()
                .flatten()
                .map(|value| value.span())
                .next()
                .or_else(|| rule.source.as_ref().map(|value| value.span()))
                .or_else(|| rule.template.as_ref().map(|value| value.span()));
            return Err(validator.error(
                table_key,
                span,
                "each rule needs exactly one of `field`, `custom_field` or `custom_field_key`",
            ));
        }
    };
    let source = match (&rule.source, &rule.template) {
        (Some(source), None) => {
            let key = format!("{table_key}.source");
            ValueSource::Field(validator.choice(&key, source, sources)?.to_string())
        }
        (None, Some(template)) => {
            let key = format!("{table_key}.template");
            let text = validator.text(&key, template)?;
            for placeholder in template_placeholders(&text)
                .map_err(|message| validator.error(&key, Some(template.span()), message))?
            {
                if !sources.contains(&placeholder.as_str()) {
                    return Err(validator.error(
                        &key,
                        Some(template.span()),
                        format!("`{{{placeholder}}}` is not one of {}", sources.join(", ")),
                    ));
                }
            }
            ValueSource::Template(text)
        }
        _ => {
            return Err(validator.error(
                table_key,
                rule.source
                    .as_ref()
                    .or(rule.template.as_ref())
                    .map(|value| value.span()),
                "each rule needs exactly one of `source` or `template`",
            ))
        }
    };
    let mut transforms = Vec::new();
    for transform in &rule.transforms {
        let key = format!("{table_key}.transforms");
        let text = validator.text(&key, transform)?;
        let parsed = match text.as_str() {
            "trim" => Transform::Trim,
            "alpha_output" => Transform::AlphaOutput,
            "upper" => Transform::Upper,
            "lower" => Transform::Lower,
            "country_name" => Transform::CountryName,
            other => {
                if let Some(table) = other.strip_prefix("table:") {
                    if !tables.contains_key(table) {
                        return Err(validator.error(
                            &key,
                            Some(transform.span()),
                            format!("there is no table `[mapping.tables.{table}]`"),
                        ));
                    }
                    Transform::Table(table.to_string())
                } else if let Some(separator) = other.strip_prefix("join:") {
                    Transform::Join(separator.to_string())
                } else {
                    let mut error = validator.error(
                        &key,
                        Some(transform.span()),
                        format!("`{other}` is not one of {}", TRANSFORMS.join(", ")),
                    );
                    let candidates: Vec<String> =
                        TRANSFORMS.iter().map(|t| t.to_string()).collect();
                    error.suggestion = crate::validator::nearest(other, &candidates);
                    return Err(error);
                }
            }
        };
        transforms.push(parsed);
    }
    Ok(FieldRule {
        target,
        source,
        transforms,
        enabled: rule.enabled.unwrap_or(true),
    })
}

/// The `{name}` placeholders of a template, in order; `{{` and `}}` are literal braces.
pub fn template_placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut placeholders = Vec::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(inner) => name.push(inner),
                        None => return Err(format!("`{{{name}` is not closed with `}}`")),
                    }
                }
                placeholders.push(name.trim().to_string());
            }
            '}' => return Err("a `}` without its `{` (write `}}` for a literal brace)".to_string()),
            _ => {}
        }
    }
    Ok(placeholders)
}

#[cfg(test)]
mod tests {
    use super::template_placeholders;

    #[test]
    fn template_placeholders_are_found_and_braces_escaped() {
        assert_eq!(
            template_placeholders("{name} ({customer_number_display})").unwrap(),
            vec!["name", "customer_number_display"]
        );
        assert_eq!(
            template_placeholders("{{literal}} {name}").unwrap(),
            vec!["name"]
        );
        assert!(template_placeholders("{name").is_err());
        assert!(template_placeholders("name}").is_err());
    }
}

#[cfg(test)]
mod config_tests {
    use super::{FieldTarget, Transform, ValueSource};
    use crate::{parse, TEMPLATE};

    fn environment(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    #[test]
    fn rules_tables_owners_and_labels_are_read() {
        let text = format!(
            "{TEMPLATE}\n[[mapping.organization]]\ncustom_field = \"ECC Region\"\nsource = \"billing_address.region\"\ntransforms = [\"trim\", \"table:regions\"]\n\n[[mapping.person]]\nfield = \"name\"\ntemplate = \"{{last_name}}, {{first_name}}\"\n\n[mapping.tables.regions]\nBW = \"Baden-Württemberg\"\n\n[[mapping.owner_rules]]\ncountry = \"de\"\nowner_id = 7\n\n[[mapping.label_rules]]\naccount_group = \"CPD\"\nlabel_id = 3\n"
        );
        let config = parse("x.toml", &text, &environment).expect("valid mapping");
        let mapping = config.mapping;
        assert!(mapping.defaults);
        assert_eq!(mapping.organization.len(), 1);
        assert_eq!(
            mapping.organization[0].target,
            FieldTarget::CustomByName("ECC Region".into())
        );
        assert_eq!(
            mapping.organization[0].source,
            ValueSource::Field("billing_address.region".into())
        );
        assert_eq!(
            mapping.organization[0].transforms,
            vec![Transform::Trim, Transform::Table("regions".into())]
        );
        assert_eq!(
            mapping.person[0].source,
            ValueSource::Template("{last_name}, {first_name}".into())
        );
        assert_eq!(mapping.owner_rules[0].country.as_deref(), Some("DE"));
        assert_eq!(mapping.label_rules[0].label_id, 3);
    }

    #[test]
    fn mistakes_in_rules_are_named() {
        let unknown_source = format!(
            "{TEMPLATE}\n[[mapping.organization]]\ncustom_field = \"X\"\nsource = \"nmae\"\n"
        );
        let error = parse("x.toml", &unknown_source, &environment).unwrap_err();
        assert_eq!(error.key, "mapping.organization.source");
        assert_eq!(error.suggestion.as_deref(), Some("name"));

        let missing_table = format!("{TEMPLATE}\n[[mapping.organization]]\ncustom_field = \"X\"\nsource = \"name\"\ntransforms = [\"table:nope\"]\n");
        let error = parse("x.toml", &missing_table, &environment).unwrap_err();
        assert!(error.message.contains("mapping.tables.nope"), "{error}");

        let two_targets = format!("{TEMPLATE}\n[[mapping.organization]]\nfield = \"name\"\ncustom_field = \"X\"\nsource = \"name\"\n");
        let error = parse("x.toml", &two_targets, &environment).unwrap_err();
        assert!(error.message.contains("exactly one of `field`"), "{error}");

        let bad_key = format!(
            "{TEMPLATE}\n[[mapping.person]]\ncustom_field_key = \"abc\"\nsource = \"email\"\n"
        );
        let error = parse("x.toml", &bad_key, &environment).unwrap_err();
        assert_eq!(error.key, "mapping.person.custom_field_key");

        let bad_placeholder = format!("{TEMPLATE}\n[[mapping.organization]]\nfield = \"name\"\ntemplate = \"{{name}} {{first_name}}\"\n");
        let error = parse("x.toml", &bad_placeholder, &environment).unwrap_err();
        assert!(error.message.contains("{first_name}"), "{error}");
    }
}
