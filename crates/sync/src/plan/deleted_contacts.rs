//! Contact persons deleted in ECC: a linked person whose customer was read in this run, but whose
//! contact is no longer among the contacts read, gets what `sync.on_contact_deleted` says
//! (leave it, write "deleted" into its status field, or delete it in Pipedrive).
//!
//! KNVK has no deletion flag: a contact deleted in ECC (VAP2, XD02) is a row that is gone. Only
//! customers read in the run are judged, so a delta never touches the persons of customers it
//! did not read; a customer deleted or blocked in ECC is left to `on_deleted`/`on_blocked`.

use std::collections::{HashMap, HashSet};

use mlc_canonical::alpha_output;
use mlc_canonical::state::EntityKind;
use mlc_config::sections::sync::ContactDeletedPolicy;

use super::cost::{DELETE_TOKENS, GET_TOKENS, UPDATE_TOKENS};
use super::{
    backoff, problems_text, CustomerRecord, KnownRecords, Operation, PlanEntry, PlanInputs,
};
use crate::map::diff;

/// Added to the hash of the status fields, so "this person carries the deleted status" is a
/// pushed hash of its own that no mapped contact can have.
const DELETED_MARKER: &str = "contact-deleted-in-ecc";

/// The linked persons whose contact the run did not read, by the customer they belong to
/// (the customer of the last outcome committed for them), for the customers the run read.
#[derive(Debug, Default)]
pub struct MissingContacts {
    by_customer: HashMap<String, Vec<(String, i64)>>,
}

impl MissingContacts {
    pub fn new(records: &[CustomerRecord<'_>], known: &KnownRecords) -> Self {
        let customers_read: HashSet<&str> = records
            .iter()
            .map(|record| record.customer.customer_number.as_str())
            .collect();
        // Every contact read, whichever customer it came with: a contact found under another
        // customer than before is not deleted.
        let contacts_read: HashSet<&str> = records
            .iter()
            .flat_map(|record| &record.customer.contacts)
            .map(|contact| contact.contact_number.as_str())
            .collect();
        let not_read = known
            .person_links
            .keys()
            .filter(|contact_number| !contacts_read.contains(contact_number.as_str()));
        MissingContacts::of_unread(known, not_read, |customer| {
            customers_read.contains(customer)
        })
    }

    /// From the linked contacts a run did not read and whether it read a customer: the run is
    /// read batch by batch, and only the caller saw all of it.
    pub fn of_unread<'k>(
        known: &'k KnownRecords,
        not_read: impl IntoIterator<Item = &'k String>,
        customer_read: impl Fn(&str) -> bool,
    ) -> Self {
        let mut by_customer: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for contact_number in not_read {
            let Some(person_id) = known.person_links.get(contact_number) else {
                continue;
            };
            let Some(customer) = known
                .person_states
                .get(contact_number)
                .and_then(|state| state.customer_number.as_deref())
            else {
                // No customer known for it: it cannot be judged by a customer's read.
                continue;
            };
            if customer_read(customer) {
                by_customer
                    .entry(customer.to_string())
                    .or_default()
                    .push((contact_number.clone(), *person_id));
            }
        }
        for persons in by_customer.values_mut() {
            persons.sort_unstable();
        }
        MissingContacts { by_customer }
    }

    /// Adds what `other` found (from another part of the link table), keeping each customer's
    /// contacts in number order.
    pub fn merge(&mut self, other: MissingContacts) {
        for (customer, persons) in other.by_customer {
            let mine = self.by_customer.entry(customer).or_default();
            mine.extend(persons);
            mine.sort_unstable();
        }
    }

    /// The contacts of `customer_number` that are linked but were not read, in number order.
    pub fn of(&self, customer_number: &str) -> &[(String, i64)] {
        self.by_customer
            .get(customer_number)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The entries for the persons of `record`'s contacts deleted in ECC; none when the customer
/// is not judged (read dirty, or deleted or blocked in ECC).
pub fn deleted_contact_entries(
    inputs: &PlanInputs<'_>,
    record: &CustomerRecord<'_>,
    missing: &MissingContacts,
) -> Vec<PlanEntry> {
    let customer = record.customer;
    if !record.problems.is_empty() || customer.deleted || customer.blocked {
        return Vec::new();
    }
    missing
        .of(customer.customer_number.as_str())
        .iter()
        .map(|(contact_number, person_id)| {
            plan_deleted_contact(inputs, record, contact_number, *person_id)
        })
        .collect()
}

/// What is done with person `person_id`, linked to `contact_number` of `record`'s customer,
/// now that the contact is gone from ECC.
pub fn plan_deleted_contact(
    inputs: &PlanInputs<'_>,
    record: &CustomerRecord<'_>,
    contact_number: &str,
    person_id: i64,
) -> PlanEntry {
    let customer = record.customer;
    // Nothing was read for it: the audit's content hash stays empty.
    let mut planned = PlanEntry::new(
        EntityKind::Person,
        contact_number,
        customer.customer_number.as_str(),
        String::new(),
    );
    planned.gone_from_ecc = true;
    let gone = format!(
        "contact {} is deleted in ECC (no longer among the contacts of customer {})",
        alpha_output(contact_number),
        customer.customer_number_display
    );
    let state = inputs.known.person_states.get(contact_number);
    if let Some(waiting) = backoff::waiting(state, inputs.now, record.replay, record.changed_in_ecc)
    {
        planned.reason = format!("{gone}; {waiting}");
        return planned;
    }
    match inputs.settings.on_contact_deleted {
        ContactDeletedPolicy::Leave => {
            planned.reason = format!(
                "{gone}; sync.on_contact_deleted = \"leave\": person {person_id} stays as it is"
            );
        }
        ContactDeletedPolicy::Delete => {
            planned.operation = Operation::Delete { id: person_id };
            planned.reason = format!("{gone}; sync.on_contact_deleted = \"delete\"");
            planned.tokens = DELETE_TOKENS;
        }
        ContactDeletedPolicy::Field => {
            mark_deleted(inputs, record, &mut planned, person_id, &gone);
        }
    }
    planned
}

/// The `field` policy: the person's status fields say "deleted", once. The pushed hash
/// remembers it, so a later run that reads the customer again writes nothing more.
fn mark_deleted(
    inputs: &PlanInputs<'_>,
    record: &CustomerRecord<'_>,
    planned: &mut PlanEntry,
    person_id: i64,
    gone: &str,
) {
    let changes = match inputs.field_map.map_deleted_contact() {
        Ok(changes) => changes,
        Err(problems) => {
            planned.operation = Operation::Error;
            planned.reason = format!(
                "{gone}; its status cannot be written to Pipedrive: {}",
                problems_text(&problems)
            );
            return;
        }
    };
    if changes.is_empty() {
        planned.operation = Operation::Error;
        planned.reason = format!(
            "{gone}; sync.on_contact_deleted = \"field\", but no person rule of the field map \
             reads \"status\": keep the default map's \"ECC Status\" or add a [[mapping.person]] \
             rule with source = \"status\""
        );
        return;
    }
    let marked_hash = changes.content_hash_with(DELETED_MARKER).to_string();
    let marked = inputs
        .known
        .person_states
        .get(&planned.ecc_key)
        .is_some_and(|state| {
            state.pushed_hash.as_deref() == Some(marked_hash.as_str()) && state.failures == 0
        });
    if marked && !record.replay {
        planned.reason = format!("{gone}; person {person_id} carries the status already");
        return;
    }
    planned.pushed_hash = Some(marked_hash);
    let current = inputs
        .pipedrive
        .as_ref()
        .and_then(|view| view.existing.person(person_id));
    let Some(current) = current else {
        // Not in the index either means it is gone in Pipedrive too: the executor's look-up
        // finds out, and a person gone on both sides is only unlinked.
        planned.reason = format!(
            "{gone}; sync.on_contact_deleted = \"field\": the status is decided against the current person"
        );
        planned.operation = Operation::Update {
            id: person_id,
            changes,
            diffed: false,
        };
        planned.tokens = GET_TOKENS + UPDATE_TOKENS;
        return;
    };
    let changes = diff(&changes, &current, &[]);
    planned.reason = if changes.is_empty() {
        format!("{gone}; person {person_id} holds the status already: remembered, no call")
    } else {
        planned.tokens = UPDATE_TOKENS;
        format!("{gone}; sync.on_contact_deleted = \"field\"")
    };
    // An empty diffed update sends nothing and stores the hash (a skip would not).
    planned.operation = Operation::Update {
        id: person_id,
        changes,
        diffed: true,
    };
}
