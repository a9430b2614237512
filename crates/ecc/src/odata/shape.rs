//! What `$metadata` tells the reader about the mapped property paths: which navigations to
//! expand so a path like `ToSalesArea/PaymentTerms` has a value, how the last change is kept
//! (a timestamp, a date only, or a date and a local time), and, for `check`, every configured
//! entity set and path that does not exist, named with the nearest existing name.

use mlc_config::OdataConfig;

use super::mapping::PropertyMap;
use super::metadata::{nearest, PropertyKind, ServiceMetadata};
use crate::error::EccError;

/// How the service keeps the last change of a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ChangeStamp {
    /// An Edm.DateTime instant (`/Date(ms)/` is UTC).
    #[default]
    Timestamp,
    /// An Edm.DateTime with sap:display-format="Date": the server's local day, no time. A delta
    /// reads from the day before its window: a change late on a day is not missed.
    DateOnly,
    /// The server's local day and, in this Edm.Time property, its local time (UDATE, UTIME).
    DateAndTime(String),
}

/// The reader's view of the service, learned once per source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceShape {
    /// Navigations of the customer entity the mapped paths go through, to `$expand`.
    pub customer_navigations: Vec<String>,
    /// The same for the contact entity.
    pub contact_navigations: Vec<String>,
    pub changed: ChangeStamp,
}

/// Whether any mapped path needs `$metadata` to be read (it goes through a `/`).
pub fn has_paths(map: &PropertyMap) -> bool {
    map.customer_entries()
        .chain(map.contact_entries())
        .any(|(_, property)| property.contains('/'))
}

impl ServiceShape {
    /// The shape from `$metadata`, or without it (`None`: every property plain, the change a
    /// timestamp unless a time property is configured). A path that does not resolve is an
    /// error naming its key: without it the reader cannot know what to expand.
    pub fn learn(
        metadata: Option<&ServiceMetadata>,
        config: &OdataConfig,
        map: &PropertyMap,
    ) -> Result<Self, EccError> {
        let mut shape = ServiceShape::default();
        if let Some(time) = &config.changed_time_property {
            shape.changed = ChangeStamp::DateAndTime(time.clone());
        }
        let Some(metadata) = metadata else {
            return Ok(shape);
        };
        let sets = [
            (
                &config.customer_set,
                map.customer_entries().collect::<Vec<_>>(),
                "customer_properties",
            ),
            (
                &config.contact_set,
                map.contact_entries().collect::<Vec<_>>(),
                "contact_properties",
            ),
        ];
        for (index, (set, entries, table)) in sets.into_iter().enumerate() {
            let Some(entity_type) = metadata.type_of(set) else {
                continue;
            };
            for (field, property) in entries {
                let resolved = match metadata.resolve(entity_type, property) {
                    Ok(resolved) => resolved,
                    Err(_) if !property.contains('/') => continue,
                    Err(problem) => {
                        return Err(EccError::Config(format!(
                            "ecc.odata.{table}.{field} = {property:?}: {}",
                            problem.0
                        )))
                    }
                };
                if let Some(navigation) = resolved.navigation {
                    let navigations = if index == 0 {
                        &mut shape.customer_navigations
                    } else {
                        &mut shape.contact_navigations
                    };
                    if !navigations.contains(&navigation) {
                        navigations.push(navigation);
                    }
                }
                let date_only = matches!(
                    resolved.leaf.kind,
                    PropertyKind::Primitive {
                        date_only: true,
                        ..
                    }
                );
                if index == 0
                    && field == "changed_at"
                    && date_only
                    && shape.changed == ChangeStamp::Timestamp
                {
                    shape.changed = ChangeStamp::DateOnly;
                }
            }
        }
        Ok(shape)
    }
}

/// Every configured entity set and mapped property path (and the time property) the service
/// lacks, each naming its key and the nearest existing name; empty when all exist.
pub fn metadata_problems(
    metadata: &ServiceMetadata,
    config: &OdataConfig,
    map: &PropertyMap,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut customer_entries: Vec<(String, String, String)> = map
        .customer_entries()
        .map(|(field, property)| {
            (
                format!("ecc.odata.customer_properties.{field}"),
                field.to_string(),
                property.to_string(),
            )
        })
        .collect();
    if let Some(time) = &config.changed_time_property {
        customer_entries.push((
            "ecc.odata.changed_time_property".into(),
            "changed_time".into(),
            time.clone(),
        ));
    }
    let contact_entries: Vec<(String, String, String)> = map
        .contact_entries()
        .map(|(field, property)| {
            (
                format!("ecc.odata.contact_properties.{field}"),
                field.to_string(),
                property.to_string(),
            )
        })
        .collect();
    let sets = [
        (
            &config.customer_set,
            "ecc.odata.customer_set",
            customer_entries,
        ),
        (
            &config.contact_set,
            "ecc.odata.contact_set",
            contact_entries,
        ),
    ];
    for (set, set_key, entries) in sets {
        let Some(entity_type) = metadata.type_of(set) else {
            let nearest = nearest(set, metadata.entity_sets.keys())
                .map(|name| format!("; the nearest set is {name}"))
                .unwrap_or_default();
            problems.push(format!(
                "{set_key} = {set:?}: the service has no such entity set{nearest}"
            ));
            continue;
        };
        for (key, field, property) in entries {
            // The changed_at key is named by the config key users set.
            let key = if field == "changed_at" && set_key == "ecc.odata.customer_set" {
                "ecc.odata.changed_at_property".to_string()
            } else {
                key
            };
            if let Err(problem) = metadata.resolve(entity_type, &property) {
                problems.push(format!("{key} = {property:?}: {} ({set})", problem.0));
            }
        }
    }
    problems
}
