//! Custom fields by name: the field map names them ("ECC Customer Number"), Pipedrive keys them
//! by a 40-character hash that differs per account. The resolver looks the keys up once, keeps
//! them, and looks again when a write says a field is unknown; `ensure_fields` creates what is
//! missing (`ml-connector setup`).

use std::collections::HashMap;

use mlc_canonical::state::EntityKind;
use tokio::sync::RwLock;

use crate::client::PipedriveClient;
use crate::error::{PipedriveError, Result};
use crate::model::{FieldCreate, FieldDefinition, FieldOptionCreate};

/// The organization custom field that carries the ECC customer number by default.
pub const DEFAULT_CUSTOMER_NUMBER_FIELD: &str = "ECC Customer Number";
/// The person custom field that carries the ECC contact number by default.
pub const DEFAULT_CONTACT_NUMBER_FIELD: &str = "ECC Contact Number";

/// A custom field the mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub entity: EntityKind,
    pub name: String,
    /// varchar, text, double, enum, set, date, ... (the v2 create types).
    pub field_type: String,
    /// Option labels for enum and set fields.
    pub options: Vec<String>,
}

impl FieldSpec {
    pub fn new(entity: EntityKind, name: impl Into<String>, field_type: impl Into<String>) -> Self {
        FieldSpec {
            entity,
            name: name.into(),
            field_type: field_type.into(),
            options: Vec::new(),
        }
    }

    /// The fields every connection needs: the external ids of organizations and persons.
    pub fn default_needs() -> Vec<FieldSpec> {
        vec![
            FieldSpec::new(
                EntityKind::Organization,
                DEFAULT_CUSTOMER_NUMBER_FIELD,
                "varchar",
            ),
            FieldSpec::new(EntityKind::Person, DEFAULT_CONTACT_NUMBER_FIELD, "varchar"),
        ]
    }
}

/// A field the mapping needs, as it exists in Pipedrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedField {
    pub entity: EntityKind,
    pub name: String,
    pub key: String,
    pub field_type: String,
    /// True when `ensure_fields` created it now.
    pub created: bool,
    /// Something the user should look at: an existing field of another type, missing options.
    pub warning: Option<String>,
}

/// Custom field keys by name, per entity, loaded on first use and refreshed on demand.
pub struct CustomFieldResolver {
    client: PipedriveClient,
    cache: RwLock<HashMap<EntityKind, Vec<FieldDefinition>>>,
}

impl CustomFieldResolver {
    pub fn new(client: PipedriveClient) -> Self {
        CustomFieldResolver {
            client,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The fields of an entity, from the cache or from Pipedrive (10 tokens).
    pub async fn fields(&self, entity: EntityKind) -> Result<Vec<FieldDefinition>> {
        if let Some(fields) = self.cache.read().await.get(&entity) {
            return Ok(fields.clone());
        }
        self.refresh(entity).await
    }

    /// Reads the fields again: after an unknown-field error, or after creating one.
    pub async fn refresh(&self, entity: EntityKind) -> Result<Vec<FieldDefinition>> {
        let fields = self.client.list_fields(entity).await?;
        self.cache.write().await.insert(entity, fields.clone());
        Ok(fields)
    }

    /// The hash key of the field named `name` (exact name first, then ignoring case and outer
    /// spaces). An unknown name is looked up once more in fresh data before it is an error.
    pub async fn key(&self, entity: EntityKind, name: &str) -> Result<String> {
        if let Some(field) = find_by_name(&self.fields(entity).await?, name) {
            return Ok(field.field_code.clone());
        }
        match find_by_name(&self.refresh(entity).await?, name) {
            Some(field) => Ok(field.field_code.clone()),
            None => Err(PipedriveError::UnknownField {
                entity: entity.to_string(),
                name: name.to_string(),
            }),
        }
    }

    /// The cached definition of the field with this key, if known.
    pub async fn by_key(&self, entity: EntityKind, key: &str) -> Option<FieldDefinition> {
        self.cache
            .read()
            .await
            .get(&entity)
            .and_then(|fields| fields.iter().find(|field| field.field_code == key).cloned())
    }

    /// Makes sure every needed field exists: resolves those that do, creates the others (a
    /// lost create answer is checked by listing again before another try).
    pub async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<Vec<ResolvedField>> {
        let mut resolved = Vec::with_capacity(specs.len());
        for spec in specs {
            let existing = find_by_name(&self.fields(spec.entity).await?, &spec.name).cloned();
            if let Some(field) = existing {
                resolved.push(resolve_existing(spec, &field));
                continue;
            }
            let create = FieldCreate {
                field_name: spec.name.clone(),
                field_type: spec.field_type.clone(),
                options: spec
                    .options
                    .iter()
                    .map(|label| FieldOptionCreate {
                        label: label.clone(),
                    })
                    .collect(),
            };
            let field = match self.client.create_field(spec.entity, &create).await {
                Ok(field) => field,
                Err(PipedriveError::OutcomeUnknown { endpoint, cause }) => {
                    let fields = self.refresh(spec.entity).await?;
                    match find_by_name(&fields, &spec.name) {
                        Some(field) => field.clone(),
                        None => {
                            tracing::warn!(%endpoint, %cause, field = %spec.name, "field create lost; sending it again");
                            self.client.create_field(spec.entity, &create).await?
                        }
                    }
                }
                Err(error) => return Err(error),
            };
            self.cache
                .write()
                .await
                .entry(spec.entity)
                .or_default()
                .push(field.clone());
            resolved.push(ResolvedField {
                entity: spec.entity,
                name: field.field_name.clone(),
                key: field.field_code.clone(),
                field_type: field.field_type.clone(),
                created: true,
                warning: None,
            });
        }
        Ok(resolved)
    }
}

fn resolve_existing(spec: &FieldSpec, field: &FieldDefinition) -> ResolvedField {
    let mut warnings = Vec::new();
    if !field.field_type.eq_ignore_ascii_case(&spec.field_type) {
        warnings.push(format!(
            "exists as type {} where the mapping expects {}",
            field.field_type, spec.field_type
        ));
    }
    let missing: Vec<&str> = spec
        .options
        .iter()
        .filter(|label| !field.options.iter().any(|option| option.label == **label))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        warnings.push(format!("lacks the options {}", missing.join(", ")));
    }
    ResolvedField {
        entity: spec.entity,
        name: field.field_name.clone(),
        key: field.field_code.clone(),
        field_type: field.field_type.clone(),
        created: false,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    }
}

fn find_by_name<'a>(fields: &'a [FieldDefinition], name: &str) -> Option<&'a FieldDefinition> {
    fields
        .iter()
        .find(|field| field.field_name == name)
        .or_else(|| {
            let wanted = name.trim().to_lowercase();
            fields
                .iter()
                .find(|field| field.field_name.trim().to_lowercase() == wanted)
        })
}

/// Whether an error says a custom field key is not known to Pipedrive (the field was deleted
/// or recreated): the caller refreshes the resolver and maps again.
pub fn is_unknown_field_error(error: &PipedriveError) -> bool {
    match error {
        PipedriveError::Validation { message, .. } => {
            let message = message.to_ascii_lowercase();
            message.contains("custom_fields")
                && (message.contains("not allowed")
                    || message.contains("unknown")
                    || message.contains("does not exist")
                    || message.contains("not found"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, code: &str, field_type: &str) -> FieldDefinition {
        FieldDefinition {
            field_name: name.into(),
            field_code: code.into(),
            field_type: field_type.into(),
            options: Vec::new(),
            is_custom_field: true,
        }
    }

    #[test]
    fn names_match_exactly_first_then_ignoring_case() {
        let fields = vec![
            field("ecc customer number", "a", "varchar"),
            field("ECC Customer Number", "b", "varchar"),
        ];
        assert_eq!(
            find_by_name(&fields, "ECC Customer Number")
                .unwrap()
                .field_code,
            "b"
        );
        assert_eq!(
            find_by_name(&fields[..1], " ECC Customer Number ")
                .unwrap()
                .field_code,
            "a"
        );
        assert!(find_by_name(&fields, "ECC Contact Number").is_none());
    }

    #[test]
    fn an_existing_field_of_another_type_is_reported() {
        let spec = FieldSpec::new(EntityKind::Organization, "ECC Customer Number", "varchar");
        let resolved = resolve_existing(&spec, &field("ECC Customer Number", "k", "double"));
        assert_eq!(resolved.key, "k");
        assert!(resolved.warning.unwrap().contains("double"));
    }
}
