//! Organizations and persons as the client sees them: the same operations on two resources that
//! differ only in their paths and their read and write types. [`Entity`] names what differs, so
//! each operation (get, create, update, delete, merge, list, search, the idempotent create) is
//! written once in the client.

use std::collections::BTreeMap;

use mlc_canonical::state::EntityKind;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::{Organization, OrganizationWrite, Person, PersonWrite};

/// A Pipedrive record type the client reads and writes: implemented by [`Organization`] and
/// [`Person`]. The paths are the templates of the cost table (`{id}` is the record's id).
pub trait Entity: DeserializeOwned + Send + 'static {
    const KIND: EntityKind;
    /// The list (`GET`) and create (`POST`) path, e.g. `/api/v2/organizations`.
    const COLLECTION: &'static str;
    /// One record (`GET`, `PATCH`, `DELETE`), e.g. `/api/v2/organizations/{id}`.
    const ITEM: &'static str;
    /// The search (`GET`, search lane), e.g. `/api/v2/organizations/search`.
    const SEARCH: &'static str;
    /// The merge of v1 (`PUT`), e.g. `/v1/organizations/{id}/merge`.
    const MERGE: &'static str;

    /// What a create or an update sends.
    type Write: EntityWrite;

    fn id(&self) -> i64;
    fn custom_fields(&self) -> &BTreeMap<String, serde_json::Value>;
    fn is_deleted(&self) -> bool;
}

/// The body of a create or an update: only what is set is sent.
pub trait EntityWrite: Serialize + Clone + Send + Sync {
    fn name(&self) -> Option<&str>;
    fn custom_fields_mut(&mut self) -> &mut BTreeMap<String, serde_json::Value>;
}

impl Entity for Organization {
    const KIND: EntityKind = EntityKind::Organization;
    const COLLECTION: &'static str = "/api/v2/organizations";
    const ITEM: &'static str = "/api/v2/organizations/{id}";
    const SEARCH: &'static str = "/api/v2/organizations/search";
    const MERGE: &'static str = "/v1/organizations/{id}/merge";
    type Write = OrganizationWrite;

    fn id(&self) -> i64 {
        self.id
    }

    fn custom_fields(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.custom_fields
    }

    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
}

impl EntityWrite for OrganizationWrite {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn custom_fields_mut(&mut self) -> &mut BTreeMap<String, serde_json::Value> {
        &mut self.custom_fields
    }
}

impl Entity for Person {
    const KIND: EntityKind = EntityKind::Person;
    const COLLECTION: &'static str = "/api/v2/persons";
    const ITEM: &'static str = "/api/v2/persons/{id}";
    const SEARCH: &'static str = "/api/v2/persons/search";
    const MERGE: &'static str = "/v1/persons/{id}/merge";
    type Write = PersonWrite;

    fn id(&self) -> i64 {
        self.id
    }

    fn custom_fields(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.custom_fields
    }

    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
}

impl EntityWrite for PersonWrite {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn custom_fields_mut(&mut self) -> &mut BTreeMap<String, serde_json::Value> {
        &mut self.custom_fields
    }
}

/// A path template with the record's id filled in.
pub(crate) fn with_id(template: &'static str, id: i64) -> String {
    debug_assert!(template.contains("{id}"), "{template} names no id");
    template.replace("{id}", &id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::OPERATION_COSTS;

    fn every_path_is_in_the_cost_table<E: Entity>() {
        for (method, template) in [
            ("GET", E::COLLECTION),
            ("POST", E::COLLECTION),
            ("GET", E::ITEM),
            ("PATCH", E::ITEM),
            ("DELETE", E::ITEM),
            ("GET", E::SEARCH),
            ("PUT", E::MERGE),
        ] {
            assert!(
                OPERATION_COSTS
                    .iter()
                    .any(|cost| cost.method == method && cost.path_template == template),
                "{method} {template}"
            );
        }
    }

    #[test]
    fn organizations_and_persons_name_paths_the_cost_table_knows() {
        every_path_is_in_the_cost_table::<Organization>();
        every_path_is_in_the_cost_table::<Person>();
        assert_eq!(
            with_id(Person::MERGE, 42),
            "/v1/persons/42/merge".to_string()
        );
    }
}
