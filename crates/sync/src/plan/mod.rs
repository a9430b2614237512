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

pub mod backoff;
pub mod cost;
pub mod deleted_contacts;
mod entry;
mod person;
pub mod run;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use mlc_canonical::state::{EntityKind, Link, RecordState, ReviewItem, ReviewStatus};
use mlc_canonical::{alpha_output, Customer};
use mlc_config::sections::sync::{ContactDeletedPolicy, EccDuplicatePolicy, LifecyclePolicy};
use mlc_config::SyncConfig;
use serde_json::{json, Value};

use crate::existing::{ExistingLookup, ExistingRecord};
use crate::map::{customer_status, diff, FieldMap, MappedRecord, MappingProblem};
use crate::matching::{
    EccDuplicate, MatchEvidence, MatchOutcome, MatchRule, OrganizationMatcher, ReviewReason,
    RunCustomers,
};
use cost::{CREATE_TOKENS, DELETE_TOKENS, GET_TOKENS, UPDATE_TOKENS};
pub use deleted_contacts::MissingContacts;
pub use entry::{Operation, OrganizationRef, Plan, PlanEntry};

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
    pub matcher: &'a OrganizationMatcher,
    /// The organizations and persons themselves, looked up by id.
    pub existing: &'a dyn ExistingLookup,
}

/// What a run planned batch by batch carries from one batch to the next.
#[derive(Debug, Default)]
pub struct PlanMemory {
    /// Organizations linked in this run, by the customer that took them.
    claimed: HashMap<i64, String>,
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
    if let (Some(view), None) = (&inputs.pipedrive, &inputs.whole_run) {
        for record in inputs.records {
            let customer = record.customer;
            for id in view.matcher.same_name_and_address(customer) {
                planner
                    .same_name_and_address
                    .entry(id)
                    .or_default()
                    .push(customer.customer_number.clone());
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

struct Planner<'p, 'a> {
    inputs: &'p PlanInputs<'a>,
    /// Organizations linked in this plan, by the customer that took them.
    claimed: HashMap<i64, String>,
    /// Organizations with exactly the normalized name and address of customers of this run,
    /// and theirs (when the records are the whole run; else `WholeRun` answers).
    same_name_and_address: HashMap<i64, Vec<String>>,
    duplicate_of: HashMap<&'a str, &'a EccDuplicate>,
}

fn problems_text(problems: &[MappingProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A linked record whose mapped content is what was last pushed: skipped, unless the run looks
/// for drift; then the fields Pipedrive holds otherwise (edited there since) are an update
/// marked `drift`, which the executor settles by `[sync.drift]`. `current` is the record in the
/// index (`None` without an index, `Some(None)` when the index does not hold it).
fn drift_check(
    check: DriftCheck,
    mut planned: PlanEntry,
    mapped: MappedRecord,
    managed_labels: &[i64],
    id: i64,
    current: Option<Option<&dyn ExistingRecord>>,
) -> PlanEntry {
    planned.reason = "unchanged since the last write".into();
    match (check, current) {
        (DriftCheck::Off, _) => {
            planned.pushed_hash = None;
        }
        (_, Some(Some(current))) => {
            let changes = diff(&mapped, current, managed_labels);
            if changes.is_empty() {
                planned.pushed_hash = None;
                planned.reason =
                    "unchanged since the last write, and Pipedrive holds what was pushed".into();
                return planned;
            }
            let fields: Vec<&str> = changes.owned_fields().collect();
            let held: serde_json::Map<String, Value> = fields
                .iter()
                .map(|field| {
                    (
                        field.to_string(),
                        current.current_value(field).unwrap_or(Value::Null),
                    )
                })
                .collect();
            planned.reason = format!(
                "edited in Pipedrive since the last write: {}",
                fields.join(", ")
            );
            planned.evidence = Some(json!({ "pipedrive": held }));
            planned.operation = Operation::Update {
                id,
                changes,
                diffed: true,
            };
            planned.drift = true;
            planned.tokens = UPDATE_TOKENS;
        }
        (DriftCheck::AgainstIndex, None) => {
            // Planned again once the index is loaded.
            planned.pushed_hash = None;
            planned.needs_index = true;
        }
        (DriftCheck::AgainstRecord, None) | (_, Some(None)) => {
            // Fetched by id: a record gone from the list is found deleted (and then follows
            // `sync.on_pipedrive_deleted`) or merged; one edited is settled field by field.
            planned.reason =
                "unchanged since the last write; compared with the record in Pipedrive".into();
            planned.operation = Operation::Update {
                id,
                changes: mapped,
                diffed: false,
            };
            planned.drift = true;
            planned.tokens = GET_TOKENS + UPDATE_TOKENS;
        }
    }
    planned
}

/// The lifecycle state of a customer and the policy that applies to it.
fn lifecycle(
    customer: &Customer,
    settings: &PlanSettings,
) -> Option<(&'static str, LifecyclePolicy)> {
    if customer.deleted {
        Some(("deleted", settings.on_deleted))
    } else if customer.blocked {
        Some(("blocked", settings.on_blocked))
    } else {
        None
    }
}

impl<'p, 'a> Planner<'p, 'a> {
    fn organization_ref(&self, organization: &PlanEntry) -> Option<OrganizationRef> {
        match &organization.operation {
            Operation::Create { .. } => Some(OrganizationRef::CreatedInThisRun {
                customer_number: organization.ecc_key.clone(),
            }),
            Operation::Update { id, .. }
            | Operation::Label { id, .. }
            | Operation::Link { id, .. } => Some(OrganizationRef::Existing { id: *id }),
            Operation::Skip | Operation::Error | Operation::Deferred | Operation::AwaitReview => {
                self.inputs
                    .known
                    .organization_links
                    .get(&organization.ecc_key)
                    .map(|id| OrganizationRef::Existing { id: *id })
            }
            Operation::Delete { .. } | Operation::Review { .. } => None,
        }
    }

    fn plan_organization(&mut self, record: &CustomerRecord<'a>) -> PlanEntry {
        let inputs = self.inputs;
        let customer = record.customer;
        let key = customer.customer_number.as_str();
        let mut planned = PlanEntry::new(
            EntityKind::Organization,
            key,
            key,
            customer.organization_hash().to_string(),
        );
        let state = inputs.known.organization_states.get(key);
        let link = inputs.known.organization_links.get(key).copied();
        let lifecycle = lifecycle(customer, inputs.settings);

        if !record.problems.is_empty() {
            planned.operation = Operation::Error;
            planned.reason = format!("dirty record in ECC: {}", record.problems.join("; "));
            return planned;
        }
        let mut mapped = match inputs.field_map.map_organization(customer) {
            Ok(mapped) => mapped,
            Err(problems) => {
                planned.operation = Operation::Error;
                planned.reason = format!(
                    "cannot be written to Pipedrive: {}",
                    problems_text(&problems)
                );
                return planned;
            }
        };
        let mut managed_labels = inputs.field_map.managed_label_ids().to_vec();
        let label_policy_applies = [inputs.settings.on_deleted, inputs.settings.on_blocked]
            .contains(&LifecyclePolicy::Label);
        if label_policy_applies {
            let Some(status_label) = inputs.settings.status_label_id else {
                if matches!(lifecycle, Some((_, LifecyclePolicy::Label))) && link.is_some() {
                    planned.operation = Operation::Error;
                    planned.reason = "the status label of sync.status_label does not exist in Pipedrive; create it".into();
                    return planned;
                }
                return self.plan_organization_mapped(
                    record,
                    planned,
                    mapped,
                    &managed_labels,
                    link,
                    state,
                    lifecycle,
                );
            };
            managed_labels.push(status_label);
            let mut wanted: BTreeSet<i64> = match mapped.get("label_ids") {
                Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_i64).collect(),
                _ => BTreeSet::new(),
            };
            if matches!(lifecycle, Some((_, LifecyclePolicy::Label))) {
                wanted.insert(status_label);
            }
            mapped.set("label_ids", json!(wanted.into_iter().collect::<Vec<_>>()));
        }
        self.plan_organization_mapped(
            record,
            planned,
            mapped,
            &managed_labels,
            link,
            state,
            lifecycle,
        )
    }

    /// The organization of a mapped customer, unless it waits for its backoff.
    #[allow(clippy::too_many_arguments)]
    fn plan_organization_mapped(
        &mut self,
        record: &CustomerRecord<'a>,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        managed_labels: &[i64],
        link: Option<i64>,
        state: Option<&RecordState>,
        lifecycle: Option<(&'static str, LifecyclePolicy)>,
    ) -> PlanEntry {
        let inputs = self.inputs;
        if let Some(reason) =
            backoff::waiting(state, inputs.now, record.replay, record.changed_in_ecc)
        {
            planned.reason = reason;
            return planned;
        }
        match link {
            Some(id) => self.plan_linked_organization(
                record,
                planned,
                mapped,
                managed_labels,
                id,
                state,
                lifecycle,
            ),
            None => {
                self.plan_unlinked_organization(record, planned, mapped, managed_labels, lifecycle)
            }
        }
    }

    /// A linked organization: deleted under the `delete` policy, left to its ECC twin under
    /// `map-to-one`, skipped while unchanged, else updated with what differs.
    #[allow(clippy::too_many_arguments)]
    fn plan_linked_organization(
        &mut self,
        record: &CustomerRecord<'a>,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        managed_labels: &[i64],
        id: i64,
        state: Option<&RecordState>,
        lifecycle: Option<(&'static str, LifecyclePolicy)>,
    ) -> PlanEntry {
        let inputs = self.inputs;
        let key = record.customer.customer_number.as_str();
        let mapped_hash = mapped.content_hash().to_string();
        self.claimed.insert(id, key.to_string());
        if let Some((status, LifecyclePolicy::Delete)) = lifecycle {
            planned.operation = Operation::Delete { id };
            planned.reason = format!("{status} in ECC; sync.on_{status} = \"delete\"");
            planned.pushed_hash = Some(mapped.content_hash_with("deleted").to_string());
            planned.tokens = DELETE_TOKENS;
            return planned;
        }
        if let Some(duplicate) = self.duplicate_of.get(key) {
            if inputs.settings.ecc_duplicates == EccDuplicatePolicy::MapToOne
                && inputs.known.organization_links.get(&duplicate.duplicate_of) == Some(&id)
            {
                planned.reason = format!(
                    "duplicate of customer {} in ECC, mapped to its organization {id}; its fields are the primary's",
                    alpha_output(&duplicate.duplicate_of)
                );
                return planned;
            }
        }
        let unchanged = state.is_some_and(|state| {
            state.pushed_hash.as_deref() == Some(mapped_hash.as_str()) && state.failures == 0
        });
        if unchanged && !record.replay {
            planned.pushed_hash = Some(mapped_hash);
            let current = self
                .inputs
                .pipedrive
                .as_ref()
                .map(|view| view.existing.organization(id));
            let current = current.as_ref().map(|current| {
                current
                    .as_ref()
                    .map(|current| current as &dyn ExistingRecord)
            });
            return drift_check(record.drift, planned, mapped, managed_labels, id, current);
        }
        planned.pushed_hash = Some(mapped_hash);
        self.update_linked_organization(planned, mapped, managed_labels, id, lifecycle)
    }

    /// The update of a linked organization whose mapped content changed: diffed against the
    /// index when it is loaded, else left to the executor to diff against a fetched copy.
    fn update_linked_organization(
        &self,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        managed_labels: &[i64],
        id: i64,
        lifecycle: Option<(&'static str, LifecyclePolicy)>,
    ) -> PlanEntry {
        let current = self
            .inputs
            .pipedrive
            .as_ref()
            .map(|view| view.existing.organization(id));
        match current.as_ref().map(Option::as_ref) {
            Some(None) => {
                planned.operation = Operation::Error;
                planned.reason = format!(
                    "the linked organization {id} is not in Pipedrive any more (deleted or merged there); not re-created, check it and the link"
                );
                planned.pushed_hash = None;
            }
            Some(Some(current)) => {
                let changes = diff(&mapped, current, managed_labels);
                if changes.is_empty() {
                    planned.reason =
                        "changed in ECC, but Pipedrive already holds the mapped values".into();
                    return planned;
                }
                planned.reason = format!(
                    "changed: {}",
                    changes.owned_fields().collect::<Vec<_>>().join(", ")
                );
                planned.operation = if only_the_status_label(&changes, lifecycle) {
                    Operation::Label { id, changes }
                } else {
                    Operation::Update {
                        id,
                        changes,
                        diffed: true,
                    }
                };
                planned.tokens = UPDATE_TOKENS;
            }
            None => {
                planned.reason = "mapped content changed; fields to send are decided against the current organization".into();
                planned.operation = Operation::Update {
                    id,
                    changes: mapped,
                    diffed: false,
                };
                planned.tokens = GET_TOKENS + UPDATE_TOKENS;
            }
        }
        planned
    }

    /// An organization not linked yet: never created when deleted or blocked; an ECC
    /// duplicate follows `sync.ecc_duplicates`; a review decision is carried out; else the
    /// matcher decides between link, review and create.
    fn plan_unlinked_organization(
        &mut self,
        record: &CustomerRecord<'a>,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        managed_labels: &[i64],
        lifecycle: Option<(&'static str, LifecyclePolicy)>,
    ) -> PlanEntry {
        let inputs = self.inputs;
        let customer = record.customer;
        let key = customer.customer_number.as_str();
        if let Some((status, _)) = lifecycle {
            planned.reason = format!("{status} in ECC before it was ever synced: not created");
            return planned;
        }
        let mapped_hash = mapped.content_hash().to_string();
        let duplicate = self.duplicate_of.get(key).copied();
        let mut excluded =
            match self.apply_ecc_duplicate_policy(&mut planned, duplicate, &mapped_hash) {
                DuplicateStep::Settled => return planned,
                DuplicateStep::Match { excluded } => excluded,
            };
        let reviews = inputs
            .known
            .reviews
            .get(&(EntityKind::Organization, key.to_string()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match review_decision(reviews) {
            ReviewDecision::Accepted(accepted) => {
                return self.link_organization(
                    planned,
                    mapped,
                    mapped_hash,
                    managed_labels,
                    accepted.pipedrive_id,
                    format!("review {} accepted", accepted.id),
                    json!({"rule": MatchRule::ReviewAccepted, "review": accepted.id}),
                );
            }
            ReviewDecision::Pending(pending) => {
                planned.operation = Operation::AwaitReview;
                planned.reason = format!(
                    "waits for review {} (organization {})",
                    pending.id, pending.pipedrive_id
                );
                planned.evidence = Some(pending.evidence.clone());
                return planned;
            }
            ReviewDecision::Open { rejected } => excluded.extend(rejected),
        }
        let Some(view) = &inputs.pipedrive else {
            planned.operation = Operation::Deferred;
            planned.reason =
                "not linked, and the organization index is not loaded: no create without a lookup"
                    .into();
            planned.needs_index = true;
            return planned;
        };
        let outcome = match &inputs.whole_run {
            Some(whole_run) => {
                view.matcher
                    .match_customer_in_run(customer, &excluded, whole_run.customers)
            }
            None => view.matcher.match_customer(customer, &excluded),
        };
        planned.evidence = Some(outcome.evidence_json());
        let matched = MatchedOrganization {
            mapped,
            mapped_hash,
            outcome,
            duplicate,
            excluded,
        };
        self.organization_by_match(planned, matched, managed_labels)
    }

    /// An ECC duplicate under `map-to-one` is linked to its primary's organization (or waits
    /// for it): settled. Under `keep-apart` the primary's organization is excluded from the
    /// match.
    fn apply_ecc_duplicate_policy(
        &self,
        planned: &mut PlanEntry,
        duplicate: Option<&EccDuplicate>,
        mapped_hash: &str,
    ) -> DuplicateStep {
        let Some(duplicate) = duplicate else {
            return DuplicateStep::Match {
                excluded: Vec::new(),
            };
        };
        let primary_link = self
            .inputs
            .known
            .organization_links
            .get(&duplicate.duplicate_of)
            .copied();
        match self.inputs.settings.ecc_duplicates {
            EccDuplicatePolicy::MapToOne => {
                planned.evidence = serde_json::to_value(duplicate).ok();
                let primary = alpha_output(&duplicate.duplicate_of);
                if let Some(id) = primary_link {
                    planned.operation = Operation::Link {
                        id,
                        changes: MappedRecord::new(EntityKind::Organization),
                        diffed: true,
                    };
                    planned.reason = format!(
                        "duplicate of customer {primary} in ECC (sync.ecc_duplicates = \"map-to-one\")"
                    );
                    planned.pushed_hash = Some(mapped_hash.to_string());
                    return DuplicateStep::Settled;
                }
                planned.operation = Operation::Deferred;
                planned.reason = format!(
                    "duplicate of customer {primary} in ECC; linked to its organization once that exists"
                );
                DuplicateStep::Settled
            }
            // Its own organization: never the primary's.
            EccDuplicatePolicy::KeepApart => DuplicateStep::Match {
                excluded: primary_link.into_iter().collect(),
            },
        }
    }

    /// Link, review or create, as the matcher decided.
    fn organization_by_match(
        &mut self,
        mut planned: PlanEntry,
        matched: MatchedOrganization<'a>,
        managed_labels: &[i64],
    ) -> PlanEntry {
        let MatchedOrganization {
            mapped,
            mapped_hash,
            outcome,
            duplicate,
            excluded,
        } = matched;
        match outcome {
            MatchOutcome::Link { evidence } => {
                if let Some(other) = self.claimed.get(&evidence.pipedrive_id) {
                    planned.reason = format!(
                        "organization {} fits, but customer {} took it earlier in this run",
                        evidence.pipedrive_id,
                        alpha_output(other)
                    );
                    planned.operation = Operation::Review {
                        id: evidence.pipedrive_id,
                        score: evidence.score,
                    };
                    return planned;
                }
                if let Some(other) = self.another_customers_address(&evidence, &planned.ecc_key) {
                    planned.reason = format!(
                        "organization {} fits (score {:.2}), but it has exactly the name and address of customer {}; not linked until reviewed",
                        evidence.pipedrive_id,
                        evidence.score,
                        alpha_output(&other)
                    );
                    planned.operation = Operation::Review {
                        id: evidence.pipedrive_id,
                        score: evidence.score,
                    };
                    return planned;
                }
                let reason = format!(
                    "matched by {:?} (score {:.2})",
                    evidence.rule, evidence.score
                );
                let evidence_json = planned.evidence.take().unwrap_or(Value::Null);
                self.link_organization(
                    planned,
                    mapped,
                    mapped_hash,
                    managed_labels,
                    evidence.pipedrive_id,
                    reason,
                    evidence_json,
                )
            }
            MatchOutcome::Review {
                reason, candidate, ..
            } => {
                if reason == ReviewReason::LinkedToAnotherCustomer
                    && duplicate.is_some_and(|duplicate| {
                        candidate.linked_to.as_deref()
                            == Some(alpha_output(&duplicate.duplicate_of).as_str())
                    })
                {
                    // Kept apart from its ECC twin: its own organization.
                    return self.create_organization(
                        planned,
                        mapped,
                        mapped_hash,
                        "duplicate in ECC kept apart (sync.ecc_duplicates = \"keep-apart\")".into(),
                    );
                }
                planned.reason = format!(
                    "organization {} might be this customer ({:?}, score {:.2}); not created until reviewed",
                    candidate.pipedrive_id, reason, candidate.score
                );
                planned.operation = Operation::Review {
                    id: candidate.pipedrive_id,
                    score: candidate.score,
                };
                planned
            }
            MatchOutcome::Create { nearest } => {
                let reason = match nearest {
                    Some(nearest) => format!(
                        "no match (nearest: organization {} at {:.2})",
                        nearest.pipedrive_id, nearest.score
                    ),
                    None => "no match".to_string(),
                };
                let reason = if excluded.is_empty() {
                    reason
                } else {
                    format!("{reason}; rejected or kept apart: {excluded:?}")
                };
                self.create_organization(planned, mapped, mapped_hash, reason)
            }
        }
    }

    /// The customer of this run whose exact name and address a fuzzy match has, when that is
    /// not the customer matched: two branches of one group down one street score alike, and
    /// the organization is the one at its own address.
    fn another_customers_address(
        &self,
        evidence: &MatchEvidence,
        customer: &str,
    ) -> Option<String> {
        if evidence.rule != MatchRule::NameAndAddress {
            return None;
        }
        let owners: Vec<String> = match (&self.inputs.whole_run, &self.inputs.pipedrive) {
            (Some(whole_run), Some(view)) => {
                let subject = view.matcher.subject_of(evidence.pipedrive_id)?;
                whole_run
                    .customers
                    .with_same_name_and_address(&subject)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            }
            _ => self
                .same_name_and_address
                .get(&evidence.pipedrive_id)?
                .clone(),
        };
        if owners.iter().any(|owner| owner == customer) {
            return None;
        }
        owners.into_iter().next()
    }

    fn create_organization(
        &mut self,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        mapped_hash: String,
        reason: String,
    ) -> PlanEntry {
        planned.reason = reason;
        planned.operation = Operation::Create {
            body: mapped,
            organization: None,
        };
        planned.pushed_hash = Some(mapped_hash);
        planned.tokens = CREATE_TOKENS;
        planned
    }

    #[allow(clippy::too_many_arguments)]
    fn link_organization(
        &mut self,
        mut planned: PlanEntry,
        mapped: MappedRecord,
        mapped_hash: String,
        managed_labels: &[i64],
        id: i64,
        reason: String,
        evidence: Value,
    ) -> PlanEntry {
        self.claimed.insert(id, planned.ecc_key.clone());
        planned.evidence = Some(evidence);
        planned.pushed_hash = Some(mapped_hash);
        let current = self
            .inputs
            .pipedrive
            .as_ref()
            .and_then(|view| view.existing.organization(id));
        let (changes, diffed) = match &current {
            Some(current) => (diff(&mapped, current, managed_labels), true),
            None => (mapped, false),
        };
        planned.tokens = match (diffed, changes.is_empty()) {
            (true, true) => 0,
            (true, false) => UPDATE_TOKENS,
            (false, _) => GET_TOKENS + UPDATE_TOKENS,
        };
        planned.reason = reason;
        planned.operation = Operation::Link {
            id,
            changes,
            diffed,
        };
        planned
    }
}

/// A mapped customer not linked yet, with the matcher's decision about it.
struct MatchedOrganization<'a> {
    mapped: MappedRecord,
    mapped_hash: String,
    outcome: MatchOutcome,
    duplicate: Option<&'a EccDuplicate>,
    /// Organizations it may not be linked to (rejected in review, or its ECC twin's).
    excluded: Vec<i64>,
}

/// What `sync.ecc_duplicates` made of an unlinked customer.
enum DuplicateStep {
    /// The entry is decided (linked to its twin's organization, or waiting for it).
    Settled,
    /// The matcher decides, never choosing these organizations.
    Match { excluded: Vec<i64> },
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

fn review_decision(reviews: &[ReviewItem]) -> ReviewDecision<'_> {
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

/// An update whose only change is the status label is the `label` action.
fn only_the_status_label(
    changes: &MappedRecord,
    lifecycle: Option<(&'static str, LifecyclePolicy)>,
) -> bool {
    let only_labels = changes.len() == 1 && changes.get("label_ids").is_some();
    only_labels && matches!(lifecycle, Some((_, LifecyclePolicy::Label)))
}

/// The lifecycle status a customer is in ("deleted", "blocked", "") — re-exported for the
/// executor's audit lines.
pub fn status_of(customer: &Customer) -> &'static str {
    customer_status(customer)
}

#[cfg(test)]
mod tests;
