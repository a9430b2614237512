//! What every transport offers the extractor: pages of the full read, customers by number,
//! the customers changed since a cursor, and the checks of `ml-connector check`.

use chrono::{DateTime, Utc};
use mlc_canonical::Customer;
use serde::{Deserialize, Serialize};

use crate::assemble::DataProblem;
use crate::delta::DeltaCursor;
use crate::error::EccError;

/// Customers read together, with the problems of the records left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractBatch {
    pub records: Vec<ExtractedCustomer>,
    /// Dirty records kept out (policy `skip`), with why.
    pub rejected: Vec<DataProblem>,
    /// Set on the last batch of a read: the delta cursor that read covers. Store it only once
    /// every record of the read is handled.
    pub cursor_after: Option<DeltaCursor>,
}

/// One canonical customer and where and when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedCustomer {
    pub customer: Customer,
    /// The transport and driving table, e.g. "soap-rfc:KNA1", "odata:CustomerSet".
    pub source: String,
    pub read_at: DateTime<Utc>,
    /// Problems that were cleaned (policy `clean`); empty for a clean record.
    pub problems: Vec<DataProblem>,
}

/// One line of `ml-connector check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckLine {
    /// What was checked, e.g. "ecc reachable", "ecc logon", "ecc table KNA1".
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl CheckLine {
    pub fn passed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        CheckLine {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn failed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        CheckLine {
            name: name.into(),
            ok: false,
            detail: detail.into(),
        }
    }
}

/// The numbers a `customers` call asks for: blanks dropped, sorted, each once (a delta can name
/// a customer through several tables).
pub(crate) fn distinct_numbers(numbers: &[String]) -> Vec<String> {
    let mut numbers: Vec<String> = numbers
        .iter()
        .filter(|number| !number.is_empty())
        .cloned()
        .collect();
    numbers.sort();
    numbers.dedup();
    numbers
}

#[async_trait::async_trait]
pub trait CustomerSource: Send + Sync {
    /// Starts a read of every customer, batch by batch.
    fn start_full(self: std::sync::Arc<Self>) -> Box<dyn FullRead>;

    /// The customers with these numbers (internal form); unknown numbers are left out.
    async fn customers(&self, numbers: &[String]) -> Result<ExtractBatch, EccError>;

    /// The numbers of customers created or changed since `since` (minus the overlap), sorted,
    /// and the cursor after them.
    async fn changed_since(
        &self,
        since: &DeltaCursor,
    ) -> Result<(Vec<String>, DeltaCursor), EccError>;

    /// The cursor for our instant `ours` on the server's clock, as far as the answers so far
    /// tell it: a read takes its instant before it starts and asks for the cursor after its
    /// answers came, so the skew is known even for the first read of a process.
    fn cursor_at(&self, ours: DateTime<Utc>) -> DeltaCursor;

    async fn check(&self) -> Vec<CheckLine>;

    /// Calls made to ECC so far (RFC calls or OData requests).
    fn calls(&self) -> u64;

    /// Customers per batch.
    fn batch_size(&self) -> usize;
}

/// A read of every customer in progress.
#[async_trait::async_trait]
pub trait FullRead: Send {
    /// The next batch, `None` after the last.
    async fn next_batch(&mut self) -> Result<Option<ExtractBatch>, EccError>;
}
