//! The plan: for every record read, what to do in Pipedrive and why, decided from the mapped
//! content hash, the record's state, its link, the review decisions and the matcher. Pure: the
//! executor gathers the inputs (store, Pipedrive index), calls [`plan`], and carries the
//! entries out in order (each organization before its persons). `--dry-run` prints the plan.
//!
//! Guarantees kept here: an unchanged record costs nothing; a record is never created without
//! a successful lookup; a customer deleted or blocked before it was ever synced is not created;
//! two customers never share one organization by themselves; an organization with exactly the
//! name and address of one customer of the run is never linked to another by a fuzzy match
//! (the branch down the street is not the branch a salesperson typed in); a person is judged
//! deleted in ECC only when its customer was read in this run without its contact
//! ([`deleted_contacts`]).
//!
//! This module holds the inputs and the walk over the records; the deciding is split by what
//! is decided: `organization` (a customer's organization: lifecycle, status label, ECC
//! duplicates, reviews, the matcher), `person` (a contact's person, behind its organization),
//! `linked` (what any linked record gets: skip, drift check, update, link), and
//! [`deleted_contacts`]. `entry` is the vocabulary they answer in ([`PlanEntry`],
//! [`Operation`]); [`backoff`] and [`cost`] are the retry pause and the token prices, [`run`]
//! the decisions about a run as a whole.

pub mod backoff;
pub mod cost;
pub mod deleted_contacts;
mod entry;
mod linked;
mod organization;
mod person;
pub mod run;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mlc_canonical::state::{EntityKind, Link, RecordState, ReviewItem, ReviewStatus};
use mlc_canonical::Customer;
use mlc_config::sections::sync::{ContactDeletedPolicy, EccDuplicatePolicy, LifecyclePolicy};
use mlc_config::SyncConfig;

use crate::existing::ExistingLookup;
use crate::map::{customer_status, FieldMap, MappingProblem};
use crate::matching::{EccDuplicate, OrganizationMatcher, RunCustomers};
pub use deleted_contacts::MissingContacts;
pub use entry::{Operation, OrganizationRef, Plan, PlanEntry};
pub use organization::may_need_matcher;
pub use person::may_need_persons_of;

/// The policies of `[sync]` the planner applies, with the status label resolved to its id.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub ecc_duplicates: EccDuplicatePolicy,
    pub on_deleted: LifecyclePolicy,
    pub on_blocked: LifecyclePolicy,
    pub on_contact_deleted: ContactDeletedPolicy,
    /// The Pipedrive label id of `sync.status_label`, for the `label` policy; `None` when the
    /// label does not exist (the `label` policy then reports an error instead of guessing).
    pub status_label_id: Option<i64>,
    pub max_failures: u32,
}

impl PlanSettings {
    pub fn from_config(sync: &SyncConfig, status_label_id: Option<i64>) -> Self {
        PlanSettings {
            ecc_duplicates: sync.ecc_duplicates,
            on_deleted: sync.on_deleted,
            on_blocked: sync.on_blocked,
            on_contact_deleted: sync.on_contact_deleted,
            status_label_id,
            max_failures: sync.max_failures,
        }
    }
}

/// One customer as read in this run.
#[derive(Debug, Clone)]
pub struct CustomerRecord<'a> {
    pub customer: &'a Customer,
    /// Data-quality problems the extraction found (a dirty row): the record is an error.
    pub problems: Vec<String>,
    /// Arrived through change detection (new, or a change document) in this run: a waiting or
    /// parked record is tried again at once.
    pub changed_in_ecc: bool,
    /// Named by `sync --customer`: tried whatever its state.
    pub replay: bool,
    /// Whether a linked record unchanged since its last write is compared with what Pipedrive
    /// holds, to find fields edited there (drift, `[sync.drift]`).
    pub drift: DriftCheck,
}

/// How a run looks for drift in the linked records it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftCheck {
    /// It does not (a delta run: what changed in ECC is written, nothing else is looked at).
    #[default]
    Off,
    /// Against the index of every organization and person (the full reconciliation: Pipedrive
    /// drops webhooks after failures, so this finds what they did not tell).
    AgainstIndex,
    /// Against the record fetched by id (a run a webhook asked for: one record, one GET).
    AgainstRecord,
}

impl<'a> CustomerRecord<'a> {
    pub fn new(customer: &'a Customer) -> Self {
        CustomerRecord {
            customer,
            problems: Vec::new(),
            changed_in_ecc: false,
            replay: false,
            drift: DriftCheck::Off,
        }
    }
}

/// What the store knows, grouped for lookups. Built from `links`, `record_states` and
/// `reviews` of the connection.
#[derive(Debug, Clone, Default)]
pub struct KnownRecords {
    pub organization_links: HashMap<String, i64>,
    pub person_links: HashMap<String, i64>,
    pub organization_states: HashMap<String, RecordState>,
    pub person_states: HashMap<String, RecordState>,
    /// Reviews by (kind, ECC key), oldest first.
    pub reviews: HashMap<(EntityKind, String), Vec<ReviewItem>>,
}

impl KnownRecords {
    pub fn from_store(
        links: Vec<Link>,
        states: Vec<RecordState>,
        reviews: Vec<ReviewItem>,
    ) -> Self {
        let mut known = KnownRecords::default();
        for link in links {
            match link.kind {
                EntityKind::Organization => known
                    .organization_links
                    .insert(link.ecc_key, link.pipedrive_id),
                EntityKind::Person => known.person_links.insert(link.ecc_key, link.pipedrive_id),
            };
        }
        for state in states {
            match state.kind {
                EntityKind::Organization => known
                    .organization_states
                    .insert(state.ecc_key.clone(), state),
                EntityKind::Person => known.person_states.insert(state.ecc_key.clone(), state),
            };
        }
        let mut reviews = reviews;
        reviews.sort_by_key(|review| review.created_at);
        for review in reviews {
            known
                .reviews
                .entry((review.kind, review.ecc_key.clone()))
                .or_default()
                .push(review);
        }
        known
    }
}

/// What Pipedrive holds, from the list endpoints. Absent in a run that has not loaded it: then
/// unchanged records still skip for free, changed linked ones are diffed against a fetched
/// copy by the executor, and unlinked ones wait (no create without a lookup).
pub struct PipedriveView<'a> {
    /// The organizations' matcher, built only for a batch with a customer to match (see
    /// [`may_need_matcher`]): a run whose customers are all linked never builds it. Without
    /// it an unlinked customer waits, as without the index.
    pub matcher: Option<&'a OrganizationMatcher>,
    /// The organizations and persons themselves, looked up by id.
    pub existing: &'a dyn ExistingLookup,
}

/// What a run planned batch by batch carries from one batch to the next.
#[derive(Debug, Default)]
pub struct PlanMemory {
    /// Organizations linked in this run, by the customer that took them.
    claimed: Claims,
}

/// Organizations claimed in a run, each by the customer (internal number) that took it. A
/// full reconciliation claims every linked organization, a million at a million customers, so
/// the numbers are kept in one string and the table holds 16 bytes an entry (a map of owned
/// strings took about 85 MB at a million, more while it grew).
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// Organization id → where its customer's number is in `numbers`: the start in the high
    /// 48 bits, the length in the low 16.
    places: HashMap<i64, u64>,
    numbers: String,
}

impl Claims {
    /// `customer` takes organization `id` (a later claim replaces an earlier one). Only the
    /// claim's presence decides anything; the number is for the reason a review gives, so one
    /// longer than 64 KiB (no ECC customer number is) would be kept cut short.
    pub(crate) fn insert(&mut self, id: i64, customer: &str) {
        if self.get(id) == Some(customer) {
            return;
        }
        let mut length = customer.len().min(usize::from(u16::MAX));
        while !customer.is_char_boundary(length) {
            length -= 1;
        }
        let start = self.numbers.len() as u64;
        self.numbers.push_str(&customer[..length]);
        self.places.insert(id, (start << 16) | length as u64);
    }

    /// The customer that took organization `id`, if one did.
    pub(crate) fn get(&self, id: i64) -> Option<&str> {
        let place = *self.places.get(&id)?;
        let start = (place >> 16) as usize;
        self.numbers.get(start..start + (place & 0xffff) as usize)
    }
}

/// The whole run, for the rules a batch cannot decide alone: the customers with exactly an
/// organization's name and address, and the contacts deleted in ECC. `None` in
/// [`PlanInputs`] when the records are the whole run.
pub struct WholeRun<'a> {
    pub customers: &'a RunCustomers,
    pub missing_contacts: &'a MissingContacts,
}

/// Everything [`plan`] needs, all plain data.
pub struct PlanInputs<'a> {
    pub records: &'a [CustomerRecord<'a>],
    pub field_map: &'a FieldMap,
    pub settings: &'a PlanSettings,
    pub known: &'a KnownRecords,
    pub pipedrive: Option<PipedriveView<'a>>,
    /// From `matching::find_ecc_duplicates` over the customers read (or all customers).
    pub ecc_duplicates: &'a [EccDuplicate],
    pub now: DateTime<Utc>,
    /// Set when `records` is one batch of a larger run.
    pub whole_run: Option<WholeRun<'a>>,
}

impl PlanInputs<'_> {
    /// The organizations' matcher, when the index is loaded and the matcher built.
    fn matcher(&self) -> Option<&OrganizationMatcher> {
        self.pipedrive.as_ref().and_then(|view| view.matcher)
    }
}

/// The plan for `inputs.records`, in their order: each customer's organization, the persons of
/// its contacts, then the persons of its contacts deleted in ECC.
pub fn plan(inputs: &PlanInputs<'_>) -> Plan {
    plan_batch(inputs, &mut PlanMemory::default())
}

/// The plan for one batch of a run; `memory` carries what the batches before decided.
pub fn plan_batch(inputs: &PlanInputs<'_>, memory: &mut PlanMemory) -> Plan {
    let mut planner = Planner {
        inputs,
        claimed: std::mem::take(&mut memory.claimed),
        same_name_and_address: HashMap::new(),
        duplicate_of: inputs
            .ecc_duplicates
            .iter()
            .map(|duplicate| (duplicate.customer_number.as_str(), duplicate))
            .collect(),
    };
    if let (Some(matcher), None) = (inputs.matcher(), &inputs.whole_run) {
        for record in inputs.records {
            let customer = record.customer;
            for id in matcher.same_name_and_address(customer) {
                planner
                    .same_name_and_address
                    .entry(id)
                    .or_default()
                    .push(customer.customer_number.to_string());
            }
        }
    }
    let own_missing_contacts;
    let missing_contacts = match &inputs.whole_run {
        Some(whole_run) => whole_run.missing_contacts,
        None => {
            own_missing_contacts = MissingContacts::new(inputs.records, inputs.known);
            &own_missing_contacts
        }
    };
    let mut entries = Vec::new();
    for record in inputs.records {
        let organization = planner.plan_organization(record);
        let organization_ref = planner.organization_ref(&organization);
        let person_block = person::person_block_reason(&organization, record.customer);
        entries.push(organization);
        for contact in &record.customer.contacts {
            entries.push(planner.plan_person(
                record,
                contact,
                organization_ref.clone(),
                person_block.as_deref(),
            ));
        }
        entries.extend(deleted_contacts::deleted_contact_entries(
            inputs,
            record,
            missing_contacts,
        ));
    }
    memory.claimed = planner.claimed;
    Plan {
        entries,
        ecc_duplicates: inputs.ecc_duplicates.to_vec(),
    }
}

/// One plan in the making: the inputs, and what the records planned so far decided.
struct Planner<'p, 'a> {
    inputs: &'p PlanInputs<'a>,
    /// Organizations linked in this plan, by the customer that took them.
    claimed: Claims,
    /// Organizations with exactly the normalized name and address of customers of this run,
    /// and theirs (when the records are the whole run; else `WholeRun` answers).
    same_name_and_address: HashMap<i64, Vec<String>>,
    /// The ECC duplicates found, by the duplicate's customer number.
    duplicate_of: HashMap<&'a str, &'a EccDuplicate>,
}

impl CustomerRecord<'_> {
    /// Why the record cannot be written at all, when extraction found it dirty: its
    /// organization and its persons are errors alike.
    fn dirty_reason(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        Some(format!("dirty record in ECC: {}", self.problems.join("; ")))
    }
}

/// Why a record the field map could not map cannot be written.
fn unmappable_reason(problems: &[MappingProblem]) -> String {
    format!(
        "cannot be written to Pipedrive: {}",
        problems_text(problems)
    )
}

/// The field map's problems with a record, in one line.
fn problems_text(problems: &[MappingProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the review queue decided about a record, the newest decision first.
enum ReviewDecision<'r> {
    Accepted(&'r ReviewItem),
    Pending(&'r ReviewItem),
    /// No review accepted or pending: the matcher decides, never choosing a rejected one.
    Open {
        rejected: Vec<i64>,
    },
}

/// What the review queue decided about the record of `kind` with ECC key `key`.
fn review_decision<'r>(known: &'r KnownRecords, kind: EntityKind, key: &str) -> ReviewDecision<'r> {
    let reviews = known
        .reviews
        .get(&(kind, key.to_string()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let newest = |status: ReviewStatus| reviews.iter().rev().find(|review| review.status == status);
    if let Some(accepted) = newest(ReviewStatus::Accepted) {
        return ReviewDecision::Accepted(accepted);
    }
    if let Some(pending) = newest(ReviewStatus::Pending) {
        return ReviewDecision::Pending(pending);
    }
    ReviewDecision::Open {
        rejected: reviews
            .iter()
            .filter(|review| review.status == ReviewStatus::Rejected)
            .map(|review| review.pipedrive_id)
            .collect(),
    }
}

/// The lifecycle status a customer is in ("deleted", "blocked", "") — re-exported for the
/// executor's audit lines.
pub fn status_of(customer: &Customer) -> &'static str {
    customer_status(customer)
}

#[cfg(test)]
mod tests;
