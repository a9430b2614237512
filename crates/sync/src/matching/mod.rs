//! Matching before creating: which existing Pipedrive organization (or person) an ECC record
//! is, or that there is none. Pure code over an index built once per run from the list
//! endpoints; every decision carries its evidence.

pub mod index;
pub mod normalize;
pub mod organization;
pub mod score;

pub use index::{MatchSubject, RecordIndex, RecordIndexBuilder};
pub use organization::{
    customer_subject, organization_subject, MatchEvidence, MatchOutcome, MatchRule, MatchSettings,
    OrganizationMatcher, OrganizationMatcherBuilder, ReviewReason,
};
pub use score::Evidence;
