//! Matching before creating: which existing Pipedrive organization (or person) an ECC record
//! is, or that there is none. Pure code over an index built once per run from the list
//! endpoints; every decision carries its evidence.

pub mod calibration;
pub mod contact;
pub mod duplicates;
pub mod index;
pub mod normalize;
pub mod organization;
pub mod person;
mod postings;
#[cfg(test)]
mod run_evidence_tests;
pub mod score;

pub use calibration::{MatchModel, ModelSource, WeightedComparison};
pub use duplicates::{
    find_ecc_duplicates, DuplicateAt, EccDuplicate, RunCustomer, RunCustomerSizes, RunCustomers,
    RunCustomersBuilder,
};
pub use index::{Filing, MatchSubject, RecordIndex, RecordIndexBuilder};
pub use organization::{
    customer_subject, organization_subject, MatchEvidence, MatchOutcome, MatchRule, MatchSettings,
    OrganizationEvidenceFields, OrganizationMatcher, OrganizationMatcherBuilder, OrganizationSizes,
    ReviewReason,
};
pub use person::{match_person, PersonMatch, PersonRule};
pub use score::Evidence;
