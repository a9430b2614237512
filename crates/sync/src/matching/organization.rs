//! Which existing Pipedrive organization, if any, an ECC customer is: the link table first
//! (the caller's: a linked customer never reaches the matcher), then the external-id custom
//! field, then the same name at the same address, then the VAT number, then the fuzzy name
//! with address evidence.
//!
//! An organization linked to another customer number is never linked automatically; the pair
//! goes to review. An organization with the customer's normalized name at its normalized
//! address is never passed over for a create: it is linked when it is the only one and free,
//! else reviewed. Every decision carries its evidence for the audit and the review queue.

use mlc_canonical::{alpha_output, Customer};
use serde::{Deserialize, Serialize};

use super::calibration::{
    ComparisonVector, MatchModel, ModelSource, NameRivals, PairContext, ProposedPairs, RuleView,
    WeightedComparison,
};
use super::duplicates::RunCustomers;
use super::index::{
    customer_key, domain_key, name_key, name_postal_key, same_address_keys, vat_key, Filing,
    IndexSizes, IndexedRecord, MatchSubject, RecordIndex, RecordIndexBuilder,
};
use super::normalize::parse_address_line;
use super::score::{same_name_and_address, score, score_above, Evidence};
use crate::existing::ExistingOrganization;

/// Score bands from `[sync]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchSettings {
    /// At or above: link.
    pub link_threshold: f64,
    /// At or above (and below `link_threshold`): review, no create.
    pub review_threshold: f64,
}

impl MatchSettings {
    pub fn from_config(sync: &mlc_config::SyncConfig) -> Self {
        MatchSettings {
            link_threshold: sync.link_threshold,
            review_threshold: sync.review_threshold,
        }
    }
}

/// Which rule found the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// The link table already pairs them.
    LinkTable,
    /// The organization's "ECC Customer Number" holds this customer's number.
    ExternalId,
    VatNumber,
    /// The normalized name and the normalized address (street, house number, postal code,
    /// city) are equal.
    SameNameAndAddress,
    NameAndAddress,
    /// A reviewer accepted the pair.
    ReviewAccepted,
}

/// One candidate and why it was considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEvidence {
    pub pipedrive_id: i64,
    pub rule: MatchRule,
    pub score: f64,
    #[serde(flatten)]
    pub details: Evidence,
    /// The customer number the organization is already linked to (link table or its
    /// external-id field), if any.
    pub linked_to: Option<String>,
    /// The organization's normalized name, for the reviewer.
    pub candidate_name: String,
    /// How likely the pair is one company, by the run's calibrated model
    /// ([`OrganizationMatcher::calibrate`]) or, before it or for a run too small to estimate
    /// one, the default model; none in evidence stored before there were models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Which model gave the probability: the run's own or the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability_from: Option<ModelSource>,
    /// What each comparison weighs for (positive) or against (negative) the pair, by that
    /// model, heaviest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<WeightedComparison>,
    /// The rules would have asked a reviewer (their score in the middle band, or nothing
    /// placing the pair at the customer's site), and the run's model linked it instead: its
    /// probability is at or above the link threshold and nothing speaks against it
    /// ([`settle_on_probability`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub linked_on_probability: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// The score is in the review band.
    MiddleBand,
    /// The best candidate is linked to another customer number.
    LinkedToAnotherCustomer,
    /// Two candidates are about equally good.
    Ambiguous,
    /// The VAT number agrees but the names do not.
    VatNameMismatch,
}

/// What the matcher decided for one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum MatchOutcome {
    Link {
        evidence: MatchEvidence,
    },
    Review {
        reason: ReviewReason,
        candidate: MatchEvidence,
        /// The runner-up, for an ambiguous pair.
        other: Option<MatchEvidence>,
    },
    Create {
        /// The closest organization below the review band, for the audit.
        nearest: Option<MatchEvidence>,
    },
}

impl MatchOutcome {
    /// The evidence as JSON, for the audit trail and the review queue.
    pub fn evidence_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// How many candidates per customer are scored at most (the most shared keys first).
const SCORED_CANDIDATES: usize = 24;

/// Two candidates closer than this are a tie the matcher does not break.
const AMBIGUITY_MARGIN: f64 = 0.02;

/// How many of the run's customers the calibration is estimated from at most: their proposals
/// are plenty for a few dozen probabilities, and the bound keeps it a small part of a large
/// run's matching.
pub const CALIBRATION_SAMPLE: usize = 10_000;

/// The subject of a customer: its name and billing address, VAT number, phone, mail domain and
/// display number.
pub fn customer_subject(customer: &Customer) -> MatchSubject {
    let address = &customer.billing_address;
    MatchSubject::from_parts(
        &customer.name,
        &address.street,
        &address.house_number,
        &address.postal_code,
        &address.city,
        &address.country,
        customer.vat_number.as_deref(),
        Some(customer.customer_number_display.as_str()),
    )
    .with_phone(customer.phone.as_deref(), &address.country)
    .with_domain(customer.email.as_deref(), None)
}

/// Which custom fields of an organization hold the evidence the matcher reads (40-character
/// hash keys, from the resolved field map): the fields the map writes the ECC customer
/// number, VAT number, phone and e-mail to, and a website field. `None`: not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationEvidenceFields {
    pub customer_number: Option<String>,
    pub vat: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
}

/// The subject of an existing organization. Its address comes from the subfields, or parsed
/// from `value` when only that was typed; its customer number, VAT number, phone and domain
/// from the custom fields `fields` names (the website also from the standard `website` field).
pub fn organization_subject(
    organization: &ExistingOrganization,
    fields: &OrganizationEvidenceFields,
) -> MatchSubject {
    let text_field = |key: Option<&str>| {
        key.and_then(|key| organization.custom_fields.get(key))
            .and_then(|value| match value {
                serde_json::Value::String(text) => Some(text.trim().to_string()),
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .filter(|text| !text.is_empty())
    };
    let customer_number = text_field(fields.customer_number.as_deref());
    let vat = text_field(fields.vat.as_deref());
    let phone = text_field(fields.phone.as_deref());
    let email = text_field(fields.email.as_deref());
    let website = text_field(fields.website.as_deref()).or_else(|| {
        organization
            .other_fields
            .get("website")
            .and_then(|value| value.as_str())
            .map(str::to_string)
    });
    let empty = String::new();
    let (street, number, postal, city, country) = match &organization.address {
        None => (
            empty.clone(),
            empty.clone(),
            empty.clone(),
            empty.clone(),
            empty.clone(),
        ),
        Some(address) => {
            let part = |value: &Option<String>| value.as_deref().unwrap_or("").trim().to_string();
            let has_parts = [&address.route, &address.postal_code, &address.locality]
                .iter()
                .any(|value| value.as_deref().is_some_and(|text| !text.trim().is_empty()));
            if has_parts {
                (
                    part(&address.route),
                    part(&address.street_number),
                    part(&address.postal_code),
                    part(&address.locality),
                    part(&address.country),
                )
            } else {
                let parsed = parse_address_line(address.value.as_deref().unwrap_or(""));
                (
                    parsed.street,
                    parsed.house_number,
                    parsed.postal_code,
                    parsed.city,
                    part(&address.country),
                )
            }
        }
    };
    MatchSubject::from_parts(
        &organization.name,
        &street,
        &number,
        &postal,
        &city,
        &country,
        vat.as_deref(),
        customer_number.as_deref(),
    )
    .with_phone(phone.as_deref(), "")
    .with_domain(email.as_deref(), website.as_deref())
}

/// Builds the matcher record by record, so a large account never needs its whole list in
/// memory at once.
pub struct OrganizationMatcherBuilder {
    index: RecordIndexBuilder,
    links: Vec<(i64, String)>,
    settings: MatchSettings,
    fields: OrganizationEvidenceFields,
}

impl OrganizationMatcherBuilder {
    /// Adds an organization from the list endpoint.
    pub fn add_organization(&mut self, organization: &ExistingOrganization) {
        let subject = organization_subject(organization, &self.fields);
        self.index.add(organization.id, &subject);
    }

    /// Adds an organization `linked` (a link-table row's customer number, either form) to a
    /// customer; for a builder from [`OrganizationMatcher::counted_builder`], in the order
    /// [`OrganizationSizes::add`] counted it, with the same link.
    pub fn add_linked_organization(
        &mut self,
        organization: &ExistingOrganization,
        linked: Option<&str>,
    ) {
        let subject = organization_subject(organization, &self.fields);
        self.index.add_linked(organization.id, &subject, linked);
    }

    /// Adds a subject directly (benchmarks and tests).
    pub fn add_subject(&mut self, pipedrive_id: i64, subject: &MatchSubject) {
        self.index.add(pipedrive_id, subject);
    }

    /// Adds a link-table row: `customer_number` (either form) is linked to `pipedrive_id`.
    pub fn add_link(&mut self, customer_number: &str, pipedrive_id: i64) {
        self.links
            .push((pipedrive_id, alpha_output(customer_number)));
    }

    pub fn finish(self) -> OrganizationMatcher {
        let mut index = self.index;
        index.apply_links(&self.links);
        OrganizationMatcher {
            index: index.finish(),
            settings: self.settings,
            model: MatchModel::defaults(),
        }
    }
}

/// What the organizations take in the matcher, counted in a first read of them (they are
/// kept on disk and read twice): the matcher is then allocated once at its size, with no
/// postings vector doubling (at a million organizations the one-pass build held about twice
/// the finished matcher's 200 MB while it grew).
pub struct OrganizationSizes {
    index: IndexSizes,
    fields: OrganizationEvidenceFields,
    keys: Vec<u32>,
}

impl OrganizationSizes {
    /// Counts an organization `linked` to a customer (see
    /// [`OrganizationMatcherBuilder::add_linked_organization`]).
    pub fn add(&mut self, organization: &ExistingOrganization, linked: Option<&str>) {
        let subject = organization_subject(organization, &self.fields);
        RecordIndexBuilder::count_linked(&subject, linked, &mut self.index, &mut self.keys);
    }
}

/// The existing organizations, indexed for matching.
#[derive(Debug)]
pub struct OrganizationMatcher {
    index: RecordIndex,
    settings: MatchSettings,
    /// What the proposed pairs' evidence means on this run's data: the defaults until
    /// [`Self::calibrate`] estimates it.
    model: MatchModel,
}

impl OrganizationMatcher {
    /// `fields` names the custom fields holding the evidence (from the resolved field map).
    pub fn builder(
        settings: MatchSettings,
        fields: OrganizationEvidenceFields,
        expected: usize,
    ) -> OrganizationMatcherBuilder {
        OrganizationMatcherBuilder {
            index: RecordIndexBuilder::with_capacity(expected),
            links: Vec::new(),
            settings,
            fields,
        }
    }

    /// Nothing counted yet, for [`OrganizationMatcher::counted_builder`].
    pub fn sizes(fields: OrganizationEvidenceFields) -> OrganizationSizes {
        OrganizationSizes {
            index: IndexSizes::filed(Filing::Everything),
            fields,
            keys: Vec::new(),
        }
    }

    /// A builder for the organizations `sizes` counted, added in the same order with
    /// [`OrganizationMatcherBuilder::add_linked_organization`] (their links given there, not
    /// with `add_link`).
    pub fn counted_builder(
        settings: MatchSettings,
        sizes: &OrganizationSizes,
    ) -> OrganizationMatcherBuilder {
        OrganizationMatcherBuilder {
            index: RecordIndexBuilder::counted(&sizes.index),
            links: Vec::new(),
            settings,
            fields: sizes.fields.clone(),
        }
    }

    /// The matcher over `organizations` with the link table's `(customer number, id)` rows.
    pub fn new<'a>(
        settings: MatchSettings,
        fields: OrganizationEvidenceFields,
        organizations: impl IntoIterator<Item = &'a ExistingOrganization>,
        links: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Self {
        let mut builder = OrganizationMatcher::builder(settings, fields, 0);
        for organization in organizations {
            builder.add_organization(organization);
        }
        for (customer_number, pipedrive_id) in links {
            builder.add_link(customer_number, pipedrive_id);
        }
        builder.finish()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, pipedrive_id: i64) -> bool {
        self.index.number_of(pipedrive_id).is_some()
    }

    pub fn settings(&self) -> MatchSettings {
        self.settings
    }

    pub fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    /// The model the pairs' probabilities come from: the run's, once estimated, or the
    /// defaults.
    pub fn model(&self) -> &MatchModel {
        &self.model
    }

    /// Estimates what the evidence of a proposed pair means on this run's data: the rules
    /// decide for up to [`CALIBRATION_SAMPLE`] of the run's customers (spread evenly over it),
    /// and EM runs over the pairs they propose. Too few proposals to estimate a model: the
    /// defaults stay ([`MatchModel::estimate_or_defaults`]).
    pub fn calibrate(&mut self, run: &RunCustomers, threads: usize) -> &MatchModel {
        let step = run.len().div_ceil(CALIBRATION_SAMPLE).max(1);
        let sample: Vec<usize> = (0..run.len()).step_by(step).collect();
        let proposals = parallel_map(&sample, threads, |position, scratch| {
            let subject = run.subject(*position);
            let outcome = self.decide(&subject, &[], Some(run), scratch);
            self.proposal(&subject, &outcome, Some(run), scratch)
        });
        let mut pairs = ProposedPairs::default();
        for (vector, view) in proposals.into_iter().flatten() {
            pairs.add(vector, view);
        }
        self.model = MatchModel::estimate_or_defaults(&pairs);
        &self.model
    }

    /// The comparisons of the pair an outcome proposes (the link, the review candidate or the
    /// nearest organization), and what the rules decided for it.
    pub fn proposal(
        &self,
        subject: &MatchSubject,
        outcome: &MatchOutcome,
        run: Option<&RunCustomers>,
        scratch: &mut Scratch,
    ) -> Option<(ComparisonVector, RuleView)> {
        let (pair, view) = match outcome {
            MatchOutcome::Link { evidence } => (evidence, RuleView::Linked),
            MatchOutcome::Review { candidate, .. } => (candidate, RuleView::Reviewed),
            MatchOutcome::Create { nearest } => (nearest.as_ref()?, RuleView::Created),
        };
        Some((self.comparison_vector(subject, pair, run, scratch), view))
    }

    /// A proposed pair's comparisons, with what the run says about the subject's name, VAT
    /// number and domain (how many customers share them) and, when nothing places the pair at
    /// a site, which other customers of the run the organization could as well be.
    fn comparison_vector(
        &self,
        subject: &MatchSubject,
        pair: &MatchEvidence,
        run: Option<&RunCustomers>,
        scratch: &mut Scratch,
    ) -> ComparisonVector {
        let sharing = |value: &str, key: u32| match run {
            Some(run) if !value.is_empty() => run.customers_sharing(key).max(1),
            _ => 1,
        };
        let context = PairContext {
            customers_with_the_name: if pair.details.name_score >= 0.999 {
                sharing(&subject.name, name_key(&subject.name))
            } else {
                1
            },
            vat_shared: sharing(&subject.vat, vat_key(&subject.vat)) > 1,
            domain_shared: sharing(&subject.domain, domain_key(&subject.domain)) > 1,
            this_customers: pair.rule == MatchRule::ExternalId,
            another_customers: pair.linked_to.is_some(),
        };
        let vector = ComparisonVector::of(&pair.details, context);
        match run {
            Some(run) if vector.is_unplaced() => {
                vector.with_rivals(self.name_rivals(subject, pair.pipedrive_id, run, scratch))
            }
            _ => vector,
        }
    }

    /// The other customers of the run organization `pipedrive_id` could as well be, when
    /// nothing places it at `subject`'s site: those whose name fits its name from 0.90 on
    /// (with the index's word weights, as the pair's own name score), less those an
    /// organization of their own already accounts for (their number in its external-id field,
    /// their name at their address).
    fn name_rivals(
        &self,
        subject: &MatchSubject,
        pipedrive_id: i64,
        run: &RunCustomers,
        scratch: &mut Scratch,
    ) -> NameRivals {
        let mut rivals = NameRivals::default();
        let Some(number) = self.index.number_of(pipedrive_id) else {
            return rivals;
        };
        let organization = self.index.record(number).subject();
        let weight = |word: &str| self.index.word_weight(word);
        // Every customer of this one's name fits the organization as well as this one does.
        let this_name = [subject.name.as_str(), subject.alt_name.as_str()];
        for (customer, name_score) in
            run.with_close_name(&organization, &this_name, 0.90, &weight, scratch)
        {
            let is_this_customer = if subject.customer_number.is_empty() {
                customer == *subject
            } else {
                customer.customer_number == subject.customer_number
            };
            if is_this_customer || self.has_own_organization(&customer, pipedrive_id, scratch) {
                continue;
            }
            rivals.add(name_score);
        }
        rivals
    }

    /// Whether an organization other than `other_than` is `customer`'s by the exact rules: its
    /// external-id field holds the customer's number, or it has the customer's name at its
    /// address.
    fn has_own_organization(
        &self,
        customer: &MatchSubject,
        other_than: i64,
        scratch: &mut Scratch,
    ) -> bool {
        let number = customer.customer_number.as_str();
        let by_number = !number.is_empty()
            && self.index.postings(customer_key(number)).any(|found| {
                let record = self.index.record(found);
                record.customer_number == number && record.id != other_than
            });
        by_number
            || self
                .same_name_and_address_records(customer, &mut scratch.keys)
                .into_iter()
                .any(|found| self.index.record(found).id != other_than)
    }

    /// The subject an organization was indexed as (with the customer number it is linked to).
    pub fn subject_of(&self, pipedrive_id: i64) -> Option<MatchSubject> {
        let number = self.index.number_of(pipedrive_id)?;
        Some(self.index.record(number).subject())
    }

    /// The customer number an organization is linked to, if any.
    pub fn linked_customer(&self, pipedrive_id: i64) -> Option<&str> {
        let number = self.index.number_of(pipedrive_id)?;
        let record = self.index.record(number);
        (!record.customer_number.is_empty()).then_some(record.customer_number)
    }

    /// The organizations with the customer's normalized name at its normalized address, linked
    /// or not, in index order: the ones that are this customer if any is.
    pub fn same_name_and_address(&self, customer: &Customer) -> Vec<i64> {
        let subject = customer_subject(customer);
        self.same_name_and_address_records(&subject, &mut Vec::new())
            .into_iter()
            .map(|number| self.index.record(number).id)
            .collect()
    }

    fn same_name_and_address_records(
        &self,
        subject: &MatchSubject,
        keys: &mut Vec<u32>,
    ) -> Vec<u32> {
        keys.clear();
        same_address_keys(subject, keys);
        let mut numbers: Vec<u32> = keys
            .iter()
            .flat_map(|key| self.index.postings(*key))
            .filter(|number| same_name_and_address(subject, &self.index.record(*number)))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    pub fn match_customer(&self, customer: &Customer, excluded: &[i64]) -> MatchOutcome {
        let mut scratch = Scratch::default();
        self.match_subject(&customer_subject(customer), excluded, None, &mut scratch)
    }

    /// Matches a customer knowing the run's other customers (`run`): a VAT number or domain
    /// no other customer of the run has identifies the company even where no address does.
    pub fn match_customer_in_run(
        &self,
        customer: &Customer,
        excluded: &[i64],
        run: &RunCustomers,
    ) -> MatchOutcome {
        let mut scratch = Scratch::default();
        self.match_subject(
            &customer_subject(customer),
            excluded,
            Some(run),
            &mut scratch,
        )
    }

    /// Matches many customers on all cores (`threads` = 0: as many as the machine has), in
    /// order, knowing the run's customers when `run` is given.
    pub fn match_customers(
        &self,
        customers: &[Customer],
        run: Option<&RunCustomers>,
        threads: usize,
    ) -> Vec<MatchOutcome> {
        parallel_map(customers, threads, |customer, scratch| {
            self.match_subject(&customer_subject(customer), &[], run, scratch)
        })
    }

    /// Whether the evidence for a pair can link it: some part places it at the customer's
    /// site (street, postal code, phone), or a VAT number or domain agrees that no other
    /// customer of the run has. Without `run` a VAT number or domain counts as the customer's
    /// own. The branches of one group share their VAT number and domain, each at its own
    /// address, so for them only the site tells which organization is whose.
    fn can_link(subject: &MatchSubject, evidence: &Evidence, run: Option<&RunCustomers>) -> bool {
        if evidence.places_the_site() {
            return true;
        }
        let only_this_customer = |key: u32| run.is_none_or(|run| run.customers_sharing(key) <= 1);
        let agreed = |part: &str| evidence.agreed.iter().any(|agreed| agreed == part);
        (agreed("vat") && only_this_customer(vat_key(&subject.vat)))
            || (agreed("domain") && only_this_customer(domain_key(&subject.domain)))
    }

    /// Matches one subject; `excluded` are organizations a reviewer rejected for it; `run`,
    /// when known, the run's customers. Each pair of the outcome carries its probability and
    /// weights by the model ([`Self::calibrate`]); the rules alone decide.
    pub fn match_subject(
        &self,
        subject: &MatchSubject,
        excluded: &[i64],
        run: Option<&RunCustomers>,
        scratch: &mut Scratch,
    ) -> MatchOutcome {
        let mut outcome = self.decide(subject, excluded, run, scratch);
        let model = &self.model;
        let mut weigh = |pair: &mut MatchEvidence| {
            let vector = self.comparison_vector(subject, pair, run, scratch);
            pair.probability = Some(model.probability(&vector));
            pair.probability_from = Some(model.source());
            pair.weights = model.explain(&vector);
        };
        match &mut outcome {
            MatchOutcome::Link { evidence } => weigh(evidence),
            MatchOutcome::Review {
                candidate, other, ..
            } => {
                weigh(candidate);
                if let Some(other) = other {
                    weigh(other);
                }
            }
            MatchOutcome::Create {
                nearest: Some(nearest),
            } => weigh(nearest),
            MatchOutcome::Create { nearest: None } => {}
        }
        settle_on_probability(outcome, self.settings, model.source())
    }

    /// The rules' decision for one subject (see [`Self::match_subject`]).
    fn decide(
        &self,
        subject: &MatchSubject,
        excluded: &[i64],
        run: Option<&RunCustomers>,
        scratch: &mut Scratch,
    ) -> MatchOutcome {
        let own_number = subject.customer_number.as_str();
        let evidence_for = |number: u32, rule: MatchRule| -> MatchEvidence {
            let record = self.index.record(number);
            let details = score(subject, &record);
            evidence(&record, rule, details, own_number)
        };
        // 1. The external-id field.
        if !own_number.is_empty() {
            let hits: Vec<MatchEvidence> = self
                .index
                .postings(customer_key(own_number))
                .filter(|number| self.index.record(*number).customer_number == own_number)
                .filter(|number| !excluded.contains(&self.index.record(*number).id))
                .map(|number| {
                    let mut found = evidence_for(number, MatchRule::ExternalId);
                    found.score = 1.0;
                    found.details.agreed.push("external_id".into());
                    found
                })
                .collect();
            if let Some(outcome) = decide_exact(hits, |_| true) {
                return outcome;
            }
        }
        // 2. The same name at the same address: the only one, and free, is linked; several,
        // or one linked to another customer, are reviewed. Never scored, so no word weight can
        // make it look like another company. Before the VAT number, which the branches of one
        // group share: the organization at a branch's own address is that branch's.
        let hits: Vec<MatchEvidence> = self
            .same_name_and_address_records(subject, &mut scratch.keys)
            .into_iter()
            .filter(|number| !excluded.contains(&self.index.record(*number).id))
            .map(|number| {
                let mut found = evidence_for(number, MatchRule::SameNameAndAddress);
                found.score = 1.0;
                found
            })
            .collect();
        if let Some(outcome) = decide_exact(hits, |_| true) {
            return outcome;
        }
        // 3. The VAT number, where the address places the organization at the customer's site
        // and does not contradict it: the branches of one group share their VAT number, each
        // at its own address, so one elsewhere (or nowhere) is left to the scoring, where the
        // VAT number counts for it and the address against.
        if !subject.vat.is_empty() {
            let hits: Vec<MatchEvidence> = self
                .index
                .postings(vat_key(&subject.vat))
                .filter(|number| self.index.record(*number).vat == subject.vat)
                .filter(|number| !excluded.contains(&self.index.record(*number).id))
                .map(|number| evidence_for(number, MatchRule::VatNumber))
                .filter(|found| {
                    !found.details.address_disagrees()
                        && Self::can_link(subject, &found.details, run)
                })
                .map(|mut found| {
                    found.score = if found.details.name_score >= 0.5 {
                        1.0
                    } else {
                        found.details.score
                    };
                    found
                })
                .collect();
            if let Some(outcome) = decide_exact(hits, |found| found.details.name_score >= 0.5) {
                return outcome;
            }
        }
        // 4. Name and address.
        let candidates = self.index.candidates(
            subject,
            SCORED_CANDIDATES,
            &mut scratch.keys,
            &mut scratch.found,
        );
        let mut best: Option<MatchEvidence> = None;
        let mut second: Option<MatchEvidence> = None;
        let mut nearest_below: Option<MatchEvidence> = None;
        // Candidates whose address alone keeps them out of the review band are not scored.
        let floor = self.settings.review_threshold;
        let weight = |word: &str| self.index.word_weight(word);
        for (number, _shared_keys) in candidates {
            let record = self.index.record(number);
            if excluded.contains(&record.id) {
                continue;
            }
            let Some(details) = score_above(subject, &record, floor, &weight) else {
                continue;
            };
            let found = evidence(&record, MatchRule::NameAndAddress, details, own_number);
            // An organization of another customer is only worth a review when it would
            // otherwise be linked; below that it most likely is that other customer's.
            let eligible = found.score >= floor
                && (found.linked_to.is_none() || found.score >= self.settings.link_threshold);
            if !eligible {
                if nearest_below
                    .as_ref()
                    .is_none_or(|nearest| found.score > nearest.score)
                {
                    nearest_below = Some(found);
                }
                continue;
            }
            if best.as_ref().is_none_or(|best| found.score > best.score) {
                second = best.take();
                best = Some(found);
            } else if second
                .as_ref()
                .is_none_or(|second| found.score > second.score)
            {
                second = Some(found);
            }
        }
        let Some(best) = best else {
            return MatchOutcome::Create {
                nearest: nearest_below,
            };
        };
        if best.score < self.settings.review_threshold {
            return MatchOutcome::Create {
                nearest: Some(best),
            };
        }
        if best.linked_to.is_some() {
            return MatchOutcome::Review {
                reason: ReviewReason::LinkedToAnotherCustomer,
                candidate: best,
                other: None,
            };
        }
        if best.score < self.settings.link_threshold || !Self::can_link(subject, &best.details, run)
        {
            return MatchOutcome::Review {
                reason: ReviewReason::MiddleBand,
                candidate: best,
                other: None,
            };
        }
        // Placed by the postal code alone (no street, no phone to compare), the organization may
        // be another customer's of the same name in that postal code.
        let agreed = |part: &str| best.details.agreed.iter().any(|agreed| agreed == part);
        let postal_code_only = !agreed("street") && !agreed("phone") && agreed("postal_code");
        if postal_code_only
            && run.is_some_and(|run| {
                run.customers_sharing(name_postal_key(&subject.name, &subject.postal_code)) > 1
            })
        {
            return MatchOutcome::Review {
                reason: ReviewReason::Ambiguous,
                candidate: best,
                other: None,
            };
        }
        if let Some(second) = second.filter(|second| best.score - second.score < AMBIGUITY_MARGIN) {
            return MatchOutcome::Review {
                reason: ReviewReason::Ambiguous,
                candidate: best,
                other: Some(second),
            };
        }
        MatchOutcome::Link { evidence: best }
    }
}

/// Where the rules only doubt, the probability decides: a review the rules asked for because
/// the score is in the middle band or nothing places the pair at the customer's site
/// ([`ReviewReason::MiddleBand`]) is a link when the run's own model (never the defaults: a
/// small run's rivals are too few to tell) gives the pair at least the link threshold and
/// nothing in its evidence is against it (no part disagrees, the organization carries no other
/// customer's number). A contradiction, an ambiguity or another customer's organization stays
/// a review whatever the probability.
fn settle_on_probability(
    outcome: MatchOutcome,
    settings: MatchSettings,
    source: ModelSource,
) -> MatchOutcome {
    let MatchOutcome::Review {
        reason: ReviewReason::MiddleBand,
        candidate,
        other: None,
    } = outcome
    else {
        return outcome;
    };
    let sure = candidate
        .probability
        .is_some_and(|probability| probability >= settings.link_threshold);
    if source != ModelSource::Run
        || !sure
        || !candidate.details.disagreed.is_empty()
        || candidate.linked_to.is_some()
    {
        return MatchOutcome::Review {
            reason: ReviewReason::MiddleBand,
            candidate,
            other: None,
        };
    }
    MatchOutcome::Link {
        evidence: MatchEvidence {
            linked_on_probability: true,
            ..candidate
        },
    }
}

/// Reusable buffers of one matching thread.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) keys: Vec<u32>,
    pub(crate) found: Vec<u64>,
}

fn evidence(
    record: &IndexedRecord<'_>,
    rule: MatchRule,
    details: Evidence,
    own_number: &str,
) -> MatchEvidence {
    let linked_to = (!record.customer_number.is_empty() && record.customer_number != own_number)
        .then(|| record.customer_number.to_string());
    MatchEvidence {
        pipedrive_id: record.id,
        rule,
        score: details.score,
        details,
        linked_to,
        candidate_name: record.name.to_string(),
        probability: None,
        probability_from: None,
        weights: Vec::new(),
        linked_on_probability: false,
    }
}

/// The decision of an exact rule (external id, VAT, same name and address): one clean hit
/// links, a hit linked to another customer or several hits go to review, no hit lets the next
/// rule decide.
fn decide_exact(
    mut hits: Vec<MatchEvidence>,
    confident: impl Fn(&MatchEvidence) -> bool,
) -> Option<MatchOutcome> {
    if hits.is_empty() {
        return None;
    }
    hits.sort_by(|a, b| {
        b.details
            .name_score
            .total_cmp(&a.details.name_score)
            .then(a.pipedrive_id.cmp(&b.pipedrive_id))
    });
    let mut hits = hits.into_iter();
    let best = hits.next()?;
    let other = hits.next();
    if best.linked_to.is_some() {
        return Some(MatchOutcome::Review {
            reason: ReviewReason::LinkedToAnotherCustomer,
            candidate: best,
            other,
        });
    }
    if other.is_some() {
        return Some(MatchOutcome::Review {
            reason: ReviewReason::Ambiguous,
            candidate: best,
            other,
        });
    }
    if !confident(&best) {
        return Some(MatchOutcome::Review {
            reason: ReviewReason::VatNameMismatch,
            candidate: best,
            other: None,
        });
    }
    Some(MatchOutcome::Link { evidence: best })
}

/// Maps `items` on `threads` scoped threads (0: the machine's parallelism), keeping order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T, &mut Scratch) -> R + Sync,
) -> Vec<R> {
    let threads = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    };
    if threads <= 1 || items.len() < 1_000 {
        let mut scratch = Scratch::default();
        return items.iter().map(|item| work(item, &mut scratch)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let work = &work;
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    part.iter()
                        .map(|item| work(item, &mut scratch))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a matching thread panicked"))
            .collect()
    })
}

#[cfg(test)]
#[path = "organization_tests.rs"]
mod tests;
