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
    /// Entity type name → its properties and navigation properties.
    pub entity_types: BTreeMap<String, Vec<String>>,
}

fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.as_ref() == name)
        .map(|attribute| String::from_utf8_lossy(&attribute.value).into_owned())
}

impl ServiceMetadata {
    pub fn parse(xml: &str, endpoint: &str) -> Result<Self, EccError> {
        let mut reader = Reader::from_str(xml);
        let mut metadata = ServiceMetadata::default();
        let mut current_type: Option<String> = None;
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
                        b"Property" | b"NavigationProperty" => {
                            if let (Some(entity_type), Some(name)) =
                                (&current_type, attribute(&element, b"Name"))
                            {
                                metadata
                                    .entity_types
                                    .entry(entity_type.clone())
                                    .or_default()
                                    .push(name);
                            }
                        }
                        b"EntitySet" => {
                            if let (Some(name), Some(entity_type)) = (
                                attribute(&element, b"Name"),
                                attribute(&element, b"EntityType"),
                            ) {
                                let short = entity_type
                                    .rsplit('.')
                                    .next()
                                    .unwrap_or(&entity_type)
                                    .to_string();
                                metadata.entity_sets.insert(name, short);
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Event::End(element))
                    if matches!(
                        element.local_name().as_ref(),
                        b"EntityType" | b"ComplexType"
                    ) =>
                {
                    current_type = None;
                }
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

    /// The properties of the entity type behind `set`; `None` when the service has no such set.
    pub fn properties_of(&self, set: &str) -> Option<&[String]> {
        let entity_type = self.entity_sets.get(set)?;
        self.entity_types.get(entity_type).map(Vec::as_slice)
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

    #[test]
    fn entity_sets_and_properties_come_from_the_edmx() {
        let xml = r#"<?xml version="1.0"?><edmx:Edmx xmlns:edmx="x"><edmx:DataServices><Schema Namespace="Z">
            <EntityType Name="Customer"><Key><PropertyRef Name="CustomerNumber"/></Key>
              <Property Name="CustomerNumber" Type="Edm.String"/><Property Name="City" Type="Edm.String"/>
              <NavigationProperty Name="ToContacts"/></EntityType>
            <EntityContainer Name="C"><EntitySet Name="CustomerSet" EntityType="Z.Customer"/></EntityContainer>
            </Schema></edmx:DataServices></edmx:Edmx>"#;
        let metadata = ServiceMetadata::parse(xml, "test").unwrap();
        assert_eq!(
            metadata.properties_of("CustomerSet").unwrap(),
            &["CustomerNumber", "City", "ToContacts"]
        );
        assert!(metadata.properties_of("Customers").is_none());
        let names = ["CustomerNumber".to_string(), "City".to_string()];
        assert_eq!(nearest("Citty", &names), Some("City"));
    }
}
