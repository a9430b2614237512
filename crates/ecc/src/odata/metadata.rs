//! A Gateway service's `$metadata` (EDMX, OData V2), read for `check`: which entity sets exist
//! and which properties their entity types have, so a mapped name the service lacks is named
//! with the nearest existing one before any extraction runs.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::EccError;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceMetadata {
    /// Entity set name → entity type name (without namespace).
    pub entity_sets: BTreeMap<String, String>,
    /// Entity and complex type name → its properties and navigation properties.
    pub entity_types: BTreeMap<String, Vec<PropertyInfo>>,
    /// (association, role) → the entity type at that end.
    association_ends: BTreeMap<(String, String), String>,
}

/// One property of an entity or complex type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyInfo {
    pub name: String,
    pub kind: PropertyKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyKind {
    /// An Edm primitive; `date_only` for an Edm.DateTime with sap:display-format="Date".
    Primitive { edm: String, date_only: bool },
    /// A property of a complex type (name without namespace).
    Complex(String),
    /// A navigation property: its association and the role it leads to.
    Navigation {
        association: String,
        to_role: String,
    },
}

/// Where a property path ends, and the navigation it goes through (at most one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    pub navigation: Option<String>,
    pub leaf: PropertyInfo,
}

/// Why a property path does not resolve, in words naming the step and the nearest name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem(pub String);

fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.as_ref() == name)
        .map(|attribute| String::from_utf8_lossy(&attribute.value).into_owned())
}

fn short(qualified: &str) -> String {
    qualified
        .rsplit('.')
        .next()
        .unwrap_or(qualified)
        .to_string()
}

impl ServiceMetadata {
    pub fn parse(xml: &str, endpoint: &str) -> Result<Self, EccError> {
        let mut reader = Reader::from_str(xml);
        let mut metadata = ServiceMetadata::default();
        let mut current_type: Option<String> = None;
        let mut current_association: Option<String> = None;
        loop {
            match reader.read_event() {
                Ok(Event::Start(element)) | Ok(Event::Empty(element)) => {
                    match element.local_name().as_ref() {
                        b"EntityType" | b"ComplexType" => {
                            current_type = attribute(&element, b"Name");
                            if let Some(name) = &current_type {
                                metadata.entity_types.entry(name.clone()).or_default();
                            }
                        }
                        b"Association" => current_association = attribute(&element, b"Name"),
                        b"End" => {
                            if let (Some(association), Some(role), Some(end_type)) = (
                                &current_association,
                                attribute(&element, b"Role"),
                                attribute(&element, b"Type"),
                            ) {
                                metadata
                                    .association_ends
                                    .insert((association.clone(), role), short(&end_type));
                            }
                        }
                        local @ (b"Property" | b"NavigationProperty") => {
                            let (Some(entity_type), Some(name)) =
                                (&current_type, attribute(&element, b"Name"))
                            else {
                                continue;
                            };
                            let kind = if local == b"NavigationProperty" {
                                PropertyKind::Navigation {
                                    association: short(
                                        &attribute(&element, b"Relationship").unwrap_or_default(),
                                    ),
                                    to_role: attribute(&element, b"ToRole").unwrap_or_default(),
                                }
                            } else {
                                let edm = attribute(&element, b"Type").unwrap_or_default();
                                if edm.starts_with("Edm.") {
                                    let date_only = element.attributes().flatten().any(|a| {
                                        a.key.local_name().as_ref() == b"display-format"
                                            && a.value.as_ref() == b"Date"
                                    });
                                    PropertyKind::Primitive { edm, date_only }
                                } else {
                                    PropertyKind::Complex(short(&edm))
                                }
                            };
                            metadata
                                .entity_types
                                .entry(entity_type.clone())
                                .or_default()
                                .push(PropertyInfo { name, kind });
                        }
                        b"EntitySet" => {
                            if let (Some(name), Some(entity_type)) = (
                                attribute(&element, b"Name"),
                                attribute(&element, b"EntityType"),
                            ) {
                                metadata.entity_sets.insert(name, short(&entity_type));
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Event::End(element)) => match element.local_name().as_ref() {
                    b"EntityType" | b"ComplexType" => current_type = None,
                    b"Association" => current_association = None,
                    _ => {}
                },
                Ok(Event::Eof) => break,
                Err(error) => {
                    return Err(EccError::Http {
                        endpoint: endpoint.to_string(),
                        status: 200,
                        detail: format!("$metadata is not EDMX XML: {error}"),
                    })
                }
                _ => {}
            }
        }
        Ok(metadata)
    }

    /// The entity type behind `set`; `None` when the service has no such set.
    pub fn type_of(&self, set: &str) -> Option<&str> {
        self.entity_sets.get(set).map(String::as_str)
    }

    /// Follows `path` (`City`, `Address/City`, `ToSalesArea/PaymentTerms`) from the entity type
    /// `start`: into complex types at any depth, through at most one navigation, ending on a
    /// primitive property. A step that does not exist is named with the nearest existing one.
    pub fn resolve(&self, start: &str, path: &str) -> Result<ResolvedPath, PathProblem> {
        let mut current_type = start.to_string();
        let mut navigation: Option<String> = None;
        let steps: Vec<&str> = path.split('/').collect();
        for (index, step) in steps.iter().enumerate() {
            let properties = self
                .entity_types
                .get(&current_type)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let Some(property) = properties.iter().find(|property| property.name == *step) else {
                let names: Vec<String> = properties.iter().map(|p| p.name.clone()).collect();
                let nearest = nearest(step, &names)
                    .map(|name| format!("; the nearest property is {name}"))
                    .unwrap_or_default();
                return Err(PathProblem(format!(
                    "{current_type} has no property {step}{nearest}"
                )));
            };
            let last = index + 1 == steps.len();
            match &property.kind {
                PropertyKind::Primitive { .. } if last => {
                    return Ok(ResolvedPath {
                        navigation,
                        leaf: property.clone(),
                    })
                }
                PropertyKind::Primitive { .. } => {
                    return Err(PathProblem(format!(
                        "{current_type}.{step} is a plain value, so {path} cannot go on into it"
                    )))
                }
                _ if last => {
                    return Err(PathProblem(format!(
                        "{current_type}.{step} is not a plain value: name one of its properties, \
                         e.g. {step}/{}",
                        self.first_property_behind(property).unwrap_or("Name")
                    )))
                }
                PropertyKind::Complex(complex) => current_type = complex.clone(),
                PropertyKind::Navigation {
                    association,
                    to_role,
                } => {
                    if navigation.is_some() || index > 0 {
                        return Err(PathProblem(format!(
                            "{path} goes through more than one navigation or a navigation \
                             inside a complex type; one navigation from the entity is read"
                        )));
                    }
                    navigation = Some(step.to_string());
                    current_type = self
                        .association_ends
                        .get(&(association.clone(), to_role.clone()))
                        .cloned()
                        .ok_or_else(|| {
                            PathProblem(format!(
                                "the navigation {step} leads to role {to_role} of {association}, \
                                 which $metadata does not define"
                            ))
                        })?;
                }
            }
        }
        Err(PathProblem("an empty property path".into()))
    }

    fn first_property_behind(&self, property: &PropertyInfo) -> Option<&str> {
        let target = match &property.kind {
            PropertyKind::Complex(name) => name.clone(),
            PropertyKind::Navigation {
                association,
                to_role,
            } => self
                .association_ends
                .get(&(association.clone(), to_role.clone()))?
                .clone(),
            PropertyKind::Primitive { .. } => return None,
        };
        self.entity_types
            .get(&target)?
            .iter()
            .find(|property| matches!(property.kind, PropertyKind::Primitive { .. }))
            .map(|property| property.name.as_str())
    }
}

/// The candidate closest to `word` by edit distance (case-insensitive), for "did you mean".
pub fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a String>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (distance(&word, &candidate.to_lowercase()), candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDMX: &str = r#"<?xml version="1.0"?><edmx:Edmx xmlns:edmx="x" xmlns:sap="s"><edmx:DataServices><Schema Namespace="Z">
        <ComplexType Name="Addr"><Property Name="City" Type="Edm.String"/><Property Name="Street" Type="Edm.String"/></ComplexType>
        <EntityType Name="Customer"><Key><PropertyRef Name="CustomerNumber"/></Key>
          <Property Name="CustomerNumber" Type="Edm.String"/><Property Name="Address" Type="Z.Addr"/>
          <Property Name="ChangedOn" Type="Edm.DateTime" sap:display-format="Date"/>
          <Property Name="ChangedAt" Type="Edm.DateTime"/>
          <NavigationProperty Name="ToArea" Relationship="Z.CustToArea" FromRole="F" ToRole="T"/></EntityType>
        <EntityType Name="Area"><Property Name="Terms" Type="Edm.String"/><Property Name="Address" Type="Z.Addr"/>
          <NavigationProperty Name="Back" Relationship="Z.CustToArea" FromRole="T" ToRole="F"/></EntityType>
        <Association Name="CustToArea"><End Type="Z.Customer" Multiplicity="1" Role="F"/><End Type="Z.Area" Multiplicity="0..1" Role="T"/></Association>
        <EntityContainer Name="C"><EntitySet Name="CustomerSet" EntityType="Z.Customer"/></EntityContainer>
        </Schema></edmx:DataServices></edmx:Edmx>"#;

    #[test]
    fn paths_resolve_into_complex_types_and_through_one_navigation() {
        let metadata = ServiceMetadata::parse(EDMX, "test").unwrap();
        assert_eq!(metadata.type_of("CustomerSet"), Some("Customer"));
        assert!(metadata.type_of("Customers").is_none());
        let city = metadata.resolve("Customer", "Address/City").unwrap();
        assert_eq!((city.navigation, city.leaf.name.as_str()), (None, "City"));
        let terms = metadata.resolve("Customer", "ToArea/Terms").unwrap();
        assert_eq!(terms.navigation.as_deref(), Some("ToArea"));
        let deep = metadata
            .resolve("Customer", "ToArea/Address/Street")
            .unwrap();
        assert_eq!(deep.leaf.name, "Street");
        let changed = metadata.resolve("Customer", "ChangedOn").unwrap().leaf;
        assert!(matches!(
            changed.kind,
            PropertyKind::Primitive {
                date_only: true,
                ..
            }
        ));
        let changed = metadata.resolve("Customer", "ChangedAt").unwrap().leaf;
        assert!(matches!(
            changed.kind,
            PropertyKind::Primitive {
                date_only: false,
                ..
            }
        ));

        let missing = metadata.resolve("Customer", "Address/Citty").unwrap_err().0;
        assert_eq!(
            missing,
            "Addr has no property Citty; the nearest property is City"
        );
        let missing = metadata.resolve("Customer", "Adress/City").unwrap_err().0;
        assert!(missing.contains("nearest property is Address"), "{missing}");
        assert!(metadata
            .resolve("Customer", "Address")
            .unwrap_err()
            .0
            .contains("Address/City"));
        assert!(metadata.resolve("Customer", "CustomerNumber/X").is_err());
        assert!(metadata
            .resolve("Customer", "ToArea/Back/CustomerNumber")
            .unwrap_err()
            .0
            .contains("more than one navigation"));
        let names = ["CustomerNumber".to_string(), "City".to_string()];
        assert_eq!(nearest("Citty", &names), Some("City"));
    }
}
