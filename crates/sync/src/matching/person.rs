//! Which existing person of an organization an ECC contact is: by the "ECC Contact Number"
//! field, then by e-mail, then by name. Only the persons of the contact's own organization are
//! candidates, so people of the same name elsewhere never match.

use std::collections::BTreeMap;

use mlc_canonical::{alpha_output, ContactPerson};
use serde::{Deserialize, Serialize};

use super::normalize::{normalize_name, UmlautFolding};
use crate::existing::ExistingPerson;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRule {
    ExternalId,
    Email,
    Name,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PersonMatch {
    Link {
        person_id: i64,
        rule: PersonRule,
    },
    /// Several persons fit, or the one that fits belongs to another ECC contact.
    Review {
        person_ids: Vec<i64>,
        rule: PersonRule,
        reason: String,
    },
    Create,
}

/// A person's name as compared: folded, sorted words ("Schmidt, Anna" = "anna schmidt").
pub fn person_name_key(name: &str) -> String {
    normalize_name(name, UmlautFolding::Expand).key
}

/// Matches `contact` among `persons` (those of its organization). `linked` maps person ids
/// of the link table to the contact number (either form) they are linked to.
pub fn match_person(
    contact: &ContactPerson,
    persons: &[&ExistingPerson],
    contact_number_key: Option<&str>,
    linked: &BTreeMap<i64, String>,
) -> PersonMatch {
    let own_number = contact.contact_number_display();
    let linked_elsewhere = |person: &ExistingPerson| {
        linked
            .get(&person.id)
            .is_some_and(|number| alpha_output(number) != own_number)
    };
    let decide = |hits: Vec<&ExistingPerson>, rule: PersonRule| -> Option<PersonMatch> {
        match hits.as_slice() {
            [] => None,
            [person] if !linked_elsewhere(person) => Some(PersonMatch::Link {
                person_id: person.id,
                rule,
            }),
            [person] => Some(PersonMatch::Review {
                person_ids: vec![person.id],
                rule,
                reason: "the person is linked to another ECC contact".into(),
            }),
            several => Some(PersonMatch::Review {
                person_ids: several.iter().map(|person| person.id).collect(),
                rule,
                reason: format!("{} persons fit", several.len()),
            }),
        }
    };
    let carried_number = |person: &ExistingPerson| {
        contact_number_key
            .and_then(|key| person.custom_fields.get(key))
            .and_then(|value| match value {
                serde_json::Value::String(text) if !text.trim().is_empty() => {
                    Some(alpha_output(text))
                }
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
    };
    if contact_number_key.is_some() {
        let hits: Vec<&ExistingPerson> = persons
            .iter()
            .copied()
            .filter(|person| carried_number(person).is_some_and(|number| number == own_number))
            .collect();
        if let Some(decision) = decide(hits, PersonRule::ExternalId) {
            return decision;
        }
    }
    // Another ECC contact's person is that contact's, whatever its e-mail or name: two
    // contacts of one name are two people in ECC, and a run that was killed after creating the
    // first must decide the second as an uninterrupted run does (create it).
    let persons: Vec<&ExistingPerson> = persons
        .iter()
        .copied()
        .filter(|person| {
            !linked_elsewhere(person)
                && carried_number(person).is_none_or(|number| number == own_number)
        })
        .collect();
    let emails: Vec<String> = contact
        .emails
        .iter()
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty())
        .collect();
    if !emails.is_empty() {
        let hits: Vec<&ExistingPerson> = persons
            .iter()
            .copied()
            .filter(|person| {
                person
                    .emails
                    .iter()
                    .any(|entry| emails.contains(&entry.value.trim().to_lowercase()))
            })
            .collect();
        if let Some(decision) = decide(hits, PersonRule::Email) {
            return decision;
        }
    }
    let name = person_name_key(&contact.full_name());
    if !name.is_empty() {
        let hits: Vec<&ExistingPerson> = persons
            .iter()
            .copied()
            .filter(|person| person_name_key(&person.name) == name)
            .collect();
        if let Some(decision) = decide(hits, PersonRule::Name) {
            return decision;
        }
    }
    PersonMatch::Create
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::existing::ContactEntry;
    use crate::testing::contact;

    fn person(id: i64, name: &str, email: &str) -> ExistingPerson {
        ExistingPerson {
            id,
            name: name.into(),
            org_id: Some(1),
            emails: vec![ContactEntry {
                value: email.into(),
                label: Some("work".into()),
                primary: true,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn email_first_then_name() {
        let anna = contact("0000012345", "Anna", "Schmidt", "A.Schmidt@example.com");
        let by_email = person(1, "Anna Schmitt-Berger", "a.schmidt@example.com");
        let by_name = person(2, "Schmidt, Anna", "other@example.com");
        let none = BTreeMap::new();
        assert_eq!(
            match_person(&anna, &[&by_name, &by_email], None, &none),
            PersonMatch::Link {
                person_id: 1,
                rule: PersonRule::Email
            }
        );
        assert_eq!(
            match_person(&anna, &[&by_name], None, &none),
            PersonMatch::Link {
                person_id: 2,
                rule: PersonRule::Name
            }
        );
        let stranger = person(3, "Bernd Bauer", "b.bauer@example.com");
        assert_eq!(
            match_person(&anna, &[&stranger], None, &none),
            PersonMatch::Create
        );
    }

    #[test]
    fn another_contacts_person_is_never_matched_by_email_or_name() {
        // Contacts 12345 and 99999 are both "Anna Schmidt" with one e-mail. A run killed after
        // creating 99999's person decides 12345 as an uninterrupted run does: create.
        let anna = contact("0000012345", "Anna", "Schmidt", "a.schmidt@example.com");
        let by_link = person(6, "Anna Schmidt", "a.schmidt@example.com");
        let linked: BTreeMap<i64, String> = [(6, "0000099999".to_string())].into_iter().collect();
        assert_eq!(
            match_person(&anna, &[&by_link], Some("key"), &linked),
            PersonMatch::Create
        );
        let mut by_field = person(7, "Anna Schmidt", "a.schmidt@example.com");
        by_field
            .custom_fields
            .insert("key".into(), serde_json::json!("99999"));
        let none = BTreeMap::new();
        assert_eq!(
            match_person(&anna, &[&by_field], Some("key"), &none),
            PersonMatch::Create
        );
        // A hand-typed person of that name beside them is still found.
        let typed = person(8, "Schmidt, Anna", "anna@example.com");
        assert_eq!(
            match_person(&anna, &[&by_link, &by_field, &typed], Some("key"), &linked),
            PersonMatch::Link {
                person_id: 8,
                rule: PersonRule::Name
            }
        );
    }

    #[test]
    fn the_contact_number_field_wins_and_links_elsewhere_go_to_review() {
        let anna = contact("0000012345", "Anna", "Schmidt", "a.schmidt@example.com");
        let mut numbered = person(5, "A. Schmidt", "anna@private.example");
        numbered
            .custom_fields
            .insert("key".into(), serde_json::json!("12345"));
        let by_email = person(6, "Anna Schmidt", "a.schmidt@example.com");
        let none = BTreeMap::new();
        assert_eq!(
            match_person(&anna, &[&by_email, &numbered], Some("key"), &none),
            PersonMatch::Link {
                person_id: 5,
                rule: PersonRule::ExternalId
            }
        );
        // The same number on a person linked to another contact is a conflict for a person.
        let linked: BTreeMap<i64, String> = [(5, "0000099999".to_string())].into_iter().collect();
        assert!(matches!(
            match_person(&anna, &[&numbered], Some("key"), &linked),
            PersonMatch::Review { .. }
        ));
        let twice = person(7, "Anna Schmidt", "x@example.com");
        let again = person(8, "anna schmidt", "y@example.com");
        let nameless = contact("0000012345", "Anna", "Schmidt", "");
        assert!(matches!(
            match_person(&nameless, &[&twice, &again], None, &none),
            PersonMatch::Review { ref person_ids, .. } if person_ids == &vec![7, 8]
        ));
    }
}
