//! A customer's organization. The customer's lifecycle (deleted, blocked in ECC) and the
//! status label shape the mapped record first; a linked organization is then kept current, and
//! an unlinked one becomes what `sync.ecc_duplicates`, the review queue or the matcher says:
//! link, review or create. Two customers never share one organization by themselves: every
//! organization linked in the run is claimed by its customer, and one that has exactly another
//! customer's name and address is reviewed, never linked by a fuzzy match.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use mlc_canonical::alpha_output;
use mlc_canonical::state::{EntityKind, RecordState};
use mlc_canonical::Customer;
use mlc_config::sections::sync::{EccDuplicatePolicy, LifecyclePolicy};
use serde_json::{json, Value};

use super::cost::{CREATE_TOKENS, DELETE_TOKENS};
use super::linked::LinkedRecord;
use super::{
    backoff, review_decision, unmappable_reason, CustomerRecord, KnownRecords, Operation,
    OrganizationRef, PlanEntry, PlanSettings, Planner, ReviewDecision,
};
use crate::map::MappedRecord;
use crate::matching::{EccDuplicate, MatchEvidence, MatchOutcome, MatchRule, ReviewReason};

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

/// Whether planning `record`'s organization may ask the matcher: it is not linked, not deleted
/// or blocked (those are never created, so never matched), not waiting for the backoff of an
/// earlier failure or parked (as of `now`), and no review of it is pending or accepted (a
/// pending one is waited for, an accepted one linked). Errs on the side of yes: a run builds
/// the matcher for a batch with such a customer, and a customer planned without it waits for a
/// later run instead of being created unmatched. A full reconciliation whose only unlinked
/// customers wait for a reviewer or are parked builds none (at a million organizations the
/// matcher and the run's customers indexed for it take about 480 MB).
pub fn may_need_matcher(
    record: &CustomerRecord<'_>,
    known: &KnownRecords,
    now: DateTime<Utc>,
) -> bool {
    let customer = record.customer;
    let key = customer.customer_number.as_str();
    let waits = || {
        backoff::waiting(
            known.organization_states.get(key),
            now,
            record.replay,
            record.changed_in_ecc,
        )
        .is_some()
    };
    record.problems.is_empty()
        && !customer.deleted
        && !customer.blocked
        && !known.organization_links.contains_key(key)
        && !review_settles(known, key)
        && !waits()
}

/// Whether the review queue settles `customer_number`'s organization without the matcher: a
/// review of it is accepted (it is linked) or pending (it waits).
fn review_settles(known: &KnownRecords, customer_number: &str) -> bool {
    matches!(
        review_decision(known, EntityKind::Organization, customer_number),
        ReviewDecision::Accepted(_) | ReviewDecision::Pending(_)
    )
}

impl<'p, 'a> Planner<'p, 'a> {
    pub(super) fn organization_ref(&self, organization: &PlanEntry) -> Option<OrganizationRef> {
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

    /// The organization of `record`'s customer: an error when the record cannot be written,
    /// else the mapped record with the status label settled, planned by its link.
    pub(super) fn plan_organization(&mut self, record: &CustomerRecord<'a>) -> PlanEntry {
        let inputs = self.inputs;
        let customer = record.customer;
        let key = customer.customer_number.as_str();
        let planned = PlanEntry::new(
            EntityKind::Organization,
            key,
            key,
            customer.organization_hash().to_string(),
        );
        let state = inputs.known.organization_states.get(key);
        let link = inputs.known.organization_links.get(key).copied();
        let lifecycle = lifecycle(customer, inputs.settings);

        if let Some(reason) = record.dirty_reason() {
            return planned.into_error(reason);
        }
        let mut mapped = match inputs.field_map.map_organization(customer) {
            Ok(mapped) => mapped,
            Err(problems) => return planned.into_error(unmappable_reason(&problems)),
        };
        let mut managed_labels = inputs.field_map.managed_label_ids().to_vec();
        let label_policy_applies = [inputs.settings.on_deleted, inputs.settings.on_blocked]
            .contains(&LifecyclePolicy::Label);
        let labelled = matches!(lifecycle, Some((_, LifecyclePolicy::Label)));
        if label_policy_applies {
            match inputs.settings.status_label_id {
                Some(status_label) => {
                    managed_labels.push(status_label);
                    let mut wanted: BTreeSet<i64> = match mapped.get("label_ids") {
                        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_i64).collect(),
                        _ => BTreeSet::new(),
                    };
                    if labelled {
                        wanted.insert(status_label);
                    }
                    mapped.set("label_ids", json!(wanted.into_iter().collect::<Vec<_>>()));
                }
                // Without the label only a linked organization that is to carry it is stuck;
                // the others are planned as if no label policy applied.
                None if labelled && link.is_some() => {
                    return planned.into_error(
                        "the status label of sync.status_label does not exist in Pipedrive; create it"
                            .into(),
                    );
                }
                None => {}
            }
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
        self.claimed.insert(id, key);
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
        let linked = LinkedRecord {
            id,
            mapped,
            mapped_hash: Some(mapped_hash),
            state,
            managed_labels,
            labelled: matches!(lifecycle, Some((_, LifecyclePolicy::Label))),
        };
        self.plan_linked_record(record, planned, linked)
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
        match review_decision(inputs.known, EntityKind::Organization, key) {
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
        let Some(matcher) = inputs.matcher() else {
            planned.operation = Operation::Deferred;
            planned.reason =
                "not linked, and the organization index is not loaded: no create without a lookup"
                    .into();
            planned.needs_index = true;
            return planned;
        };
        let outcome = match &inputs.whole_run {
            Some(whole_run) => {
                matcher.match_customer_in_run(customer, &excluded, whole_run.customers)
            }
            None => matcher.match_customer(customer, &excluded),
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
                if let Some(other) = self.claimed.get(evidence.pipedrive_id) {
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
                let reason = match evidence.probability {
                    Some(probability) if evidence.linked_on_probability => format!(
                        "matched by {:?} (score {:.2}; linked on its probability {probability:.2}, where the rules alone would have asked for a review)",
                        evidence.rule, evidence.score
                    ),
                    _ => format!(
                        "matched by {:?} (score {:.2})",
                        evidence.rule, evidence.score
                    ),
                };
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
        let owners: Vec<String> = match (&self.inputs.whole_run, self.inputs.matcher()) {
            (Some(whole_run), Some(matcher)) => {
                let subject = matcher.subject_of(evidence.pipedrive_id)?;
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

    /// Links the customer to organization `id`, claimed by it for the rest of the run.
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
        self.claimed.insert(id, &planned.ecc_key);
        planned.evidence = Some(evidence);
        self.link_record(
            planned,
            mapped,
            Some(mapped_hash),
            managed_labels,
            id,
            reason,
        )
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
