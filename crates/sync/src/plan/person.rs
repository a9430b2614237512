//! A contact person: written once its organization is settled (created earlier in the plan,
//! linked, or being updated), and never ahead of it. A linked person is kept current like any
//! linked record; an unlinked one is looked for among the persons of its organization only
//! (the contact number, then e-mail and name), so a contact is never matched across companies.

use std::collections::BTreeMap;

use mlc_canonical::state::{Action, EntityKind};
use mlc_canonical::{ContactPerson, Customer};
use serde_json::json;

use super::cost::CREATE_TOKENS;
use super::linked::LinkedRecord;
use super::{
    backoff, review_decision, unmappable_reason, CustomerRecord, KnownRecords, Operation,
    OrganizationRef, PlanEntry, Planner, ReviewDecision,
};
use crate::existing::ExistingPerson;
use crate::map::MappedRecord;
use crate::matching::{match_person, PersonMatch};

/// Whether planning `contact`'s person may ask for the persons of its organization: it is not
/// linked, and its customer's organization exists or may be created (the contacts of a
/// customer deleted or blocked before it was ever synced are never written, and those of one
/// whose organization waits for a review wait with it). A run reads them for a batch with such
/// a contact; a contact planned before waits for a later run instead of being created
/// unmatched.
pub fn may_need_persons_of(
    customer: &Customer,
    contact: &ContactPerson,
    known: &KnownRecords,
) -> bool {
    let key = customer.customer_number.as_str();
    let organization_may_exist = known.organization_links.contains_key(key)
        || (!customer.deleted && !customer.blocked && !waits_for_review(known, key));
    organization_may_exist && !known.person_links.contains_key(&contact.contact_number)
}

/// Whether an unlinked customer's organization waits for a pending review (an accepted one
/// links it in this run: its contacts are matched then).
fn waits_for_review(known: &KnownRecords, customer_number: &str) -> bool {
    matches!(
        review_decision(known, EntityKind::Organization, customer_number),
        ReviewDecision::Pending(_)
    )
}

/// Why the persons of a customer cannot be written in this run, if they cannot.
pub(super) fn person_block_reason(organization: &PlanEntry, customer: &Customer) -> Option<String> {
    match organization.action() {
        Action::Error => Some(format!(
            "its organization (customer {}) is in error",
            customer.customer_number_display
        )),
        Action::Review => Some(format!(
            "its organization (customer {}) waits for review",
            customer.customer_number_display
        )),
        Action::Deferred => Some(format!(
            "its organization (customer {}) is deferred",
            customer.customer_number_display
        )),
        Action::Delete => Some("its organization is deleted in Pipedrive".to_string()),
        _ => None,
    }
}

impl<'p, 'a> Planner<'p, 'a> {
    /// The person of `contact`: `organization` is where it belongs (`None` when its customer
    /// is not synced), `blocked_by` why its organization keeps it from being written now.
    pub(super) fn plan_person(
        &mut self,
        record: &CustomerRecord<'a>,
        contact: &ContactPerson,
        organization: Option<OrganizationRef>,
        blocked_by: Option<&str>,
    ) -> PlanEntry {
        let inputs = self.inputs;
        let customer = record.customer;
        let key = contact.contact_number.as_str();
        let mut planned = PlanEntry::new(
            EntityKind::Person,
            key,
            customer.customer_number.as_str(),
            contact.content_hash().to_string(),
        );
        let state = inputs.known.person_states.get(key);
        let link = inputs.known.person_links.get(key).copied();

        if let Some(reason) = record.dirty_reason() {
            return planned.into_error(reason);
        }
        if let Some(reason) = blocked_by {
            planned.operation = if reason.contains("deleted in Pipedrive") {
                Operation::Skip
            } else {
                Operation::Deferred
            };
            planned.reason = reason.to_string();
            return planned;
        }
        let Some(organization) = organization else {
            planned.reason =
                "its customer is not synced (deleted or blocked before it was ever synced)".into();
            return planned;
        };
        let mut mapped = match inputs.field_map.map_person(customer, contact) {
            Ok(mapped) => mapped,
            Err(problems) => return planned.into_error(unmappable_reason(&problems)),
        };
        if let Some(reason) =
            backoff::waiting(state, inputs.now, record.replay, record.changed_in_ecc)
        {
            planned.reason = reason;
            return planned;
        }
        let organization_id = match &organization {
            OrganizationRef::Existing { id } => {
                mapped.set("org_id", json!(id));
                Some(*id)
            }
            OrganizationRef::CreatedInThisRun { .. } => None,
        };
        let mapped_hash = organization_id.map(|_| mapped.content_hash().to_string());

        if let Some(id) = link {
            let linked = LinkedRecord {
                id,
                mapped,
                mapped_hash,
                state,
                managed_labels: &[],
                labelled: false,
            };
            return self.plan_linked_record(record, planned, linked);
        }
        self.plan_unlinked_person(planned, contact, mapped, mapped_hash, organization)
    }

    /// A person not linked yet: a review decision is carried out; else it is looked for among
    /// the persons of its organization, and created when none fits.
    fn plan_unlinked_person(
        &mut self,
        mut planned: PlanEntry,
        contact: &ContactPerson,
        mapped: MappedRecord,
        mapped_hash: Option<String>,
        organization: OrganizationRef,
    ) -> PlanEntry {
        let inputs = self.inputs;
        let key = contact.contact_number.as_str();
        let OrganizationRef::Existing {
            id: organization_id,
        } = organization
        else {
            planned.reason = "new contact of an organization created in this run".into();
            planned.operation = Operation::Create {
                body: mapped,
                organization: Some(organization),
            };
            planned.tokens = CREATE_TOKENS;
            return planned;
        };
        let rejected = match review_decision(inputs.known, EntityKind::Person, key) {
            ReviewDecision::Accepted(accepted) => {
                return self.link_record(
                    planned,
                    mapped,
                    mapped_hash,
                    &[],
                    accepted.pipedrive_id,
                    format!("review {} accepted", accepted.id),
                );
            }
            ReviewDecision::Pending(pending) => {
                planned.operation = Operation::AwaitReview;
                planned.reason = format!(
                    "waits for review {} (person {})",
                    pending.id, pending.pipedrive_id
                );
                return planned;
            }
            ReviewDecision::Open { rejected } => rejected,
        };
        let view = inputs
            .pipedrive
            .as_ref()
            .filter(|view| view.existing.knows_persons_of_organizations());
        let Some(view) = view else {
            planned.operation = Operation::Deferred;
            planned.reason =
                "not linked, and the person index is not loaded: no create without a lookup".into();
            planned.needs_index = true;
            return planned;
        };
        let in_organization: Vec<ExistingPerson> = view.existing.persons_of(organization_id);
        let candidates: Vec<&ExistingPerson> = in_organization
            .iter()
            .filter(|person| !rejected.contains(&person.id))
            .collect();
        let mut linked: BTreeMap<i64, String> = inputs
            .known
            .person_links
            .iter()
            .filter(|(_, id)| candidates.iter().any(|person| person.id == **id))
            .map(|(number, id)| (*id, number.clone()))
            .collect();
        for person in &candidates {
            if let Some(number) = view.existing.contact_linked_to(person.id) {
                linked.entry(person.id).or_insert(number);
            }
        }
        let decision = match_person(
            contact,
            &candidates,
            inputs.field_map.contact_number_key(),
            &linked,
        );
        planned.evidence = serde_json::to_value(&decision).ok();
        match decision {
            PersonMatch::Link { person_id, rule } => self.link_record(
                planned,
                mapped,
                mapped_hash,
                &[],
                person_id,
                format!("matched by {rule:?} in organization {organization_id}"),
            ),
            PersonMatch::Review {
                person_ids, reason, ..
            } => {
                planned.reason = format!("person(s) {person_ids:?} of organization {organization_id} might be this contact: {reason}");
                planned.operation = Operation::Review {
                    id: person_ids[0],
                    score: 1.0,
                };
                planned
            }
            PersonMatch::Create => {
                planned.reason = format!("no matching person in organization {organization_id}");
                planned.pushed_hash = mapped_hash;
                planned.operation = Operation::Create {
                    body: mapped,
                    organization: Some(organization),
                };
                planned.tokens = CREATE_TOKENS;
                planned
            }
        }
    }
}
