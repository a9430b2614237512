//! The first pass of a run: ECC read batch by batch into a spill file, keeping only what the
//! rules over the whole run need, compact: every customer's match subject (ECC duplicates, an
//! organization with exactly one customer's name and address), which linked contacts and which
//! customers were read (contacts deleted in ECC), the records due again that were not read yet,
//! and whether any record needs the Pipedrive index. The second pass plans and writes the
//! spilled customers batch by batch.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use mlc_ecc::{DataProblem, DeltaCursor, ExtractBatch, ExtractedCustomer};
use mlc_sync::matching::{RunCustomers, RunCustomersBuilder};
use mlc_sync::plan::{KnownRecords, MissingContacts};

use super::spill::Spill;
use super::SyncError;

/// A compact stand-in for a key in a set that only has to say "seen" (64 bits: a collision
/// among a million keys is about one in ten million).
fn key_hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

pub(super) struct RunRead {
    pub(super) customers: Spill<ExtractedCustomer>,
    pub(super) rejected: Vec<DataProblem>,
    pub(super) cursor_after: Option<DeltaCursor>,
    /// Some record of the run cannot be decided without the Pipedrive index.
    pub(super) needs_index: bool,
    run_customers: RunCustomersBuilder,
    customers_read: HashSet<u64>,
    /// Linked contacts read (under whichever customer).
    linked_contacts_read: HashSet<u64>,
    /// Customers due again (failed, or a review decided) not read yet, in number order.
    due: VecDeque<String>,
}

impl RunRead {
    pub(super) fn new(due: Vec<String>) -> Result<Self, SyncError> {
        Ok(RunRead {
            customers: Spill::new("the customers read")?,
            rejected: Vec::new(),
            cursor_after: None,
            needs_index: false,
            run_customers: RunCustomersBuilder::with_capacity(0),
            customers_read: HashSet::new(),
            linked_contacts_read: HashSet::new(),
            due: due.into(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.customers.len()
    }

    /// Files one batch away; the caller has planned it once to learn whether it needs the
    /// index.
    pub(super) fn add(
        &mut self,
        batch: &ExtractBatch,
        known: &KnownRecords,
    ) -> Result<(), SyncError> {
        for record in &batch.records {
            let customer = &record.customer;
            self.customers.push(record)?;
            self.run_customers.add(customer);
            self.customers_read
                .insert(key_hash(&customer.customer_number));
            for contact in &customer.contacts {
                if known.person_links.contains_key(&contact.contact_number) {
                    self.linked_contacts_read
                        .insert(key_hash(&contact.contact_number));
                }
            }
        }
        self.rejected.extend(batch.rejected.iter().cloned());
        if batch.cursor_after.is_some() {
            self.cursor_after = batch.cursor_after.clone();
        }
        Ok(())
    }

    /// The customers due again that the read did not bring (read them, then `add` them).
    pub(super) fn due_not_read(&mut self) -> Vec<String> {
        let due = std::mem::take(&mut self.due);
        due.into_iter()
            .filter(|number| !self.customers_read.contains(&key_hash(number)))
            .collect()
    }

    /// Done reading: what the second pass needs about the whole run.
    pub(super) fn finish(self, known: &KnownRecords) -> (ReadCustomers, WholeRunSummary) {
        let RunRead {
            customers,
            rejected,
            cursor_after,
            needs_index,
            run_customers,
            customers_read,
            linked_contacts_read,
            ..
        } = self;
        let not_read = known
            .person_links
            .keys()
            .filter(|contact_number| !linked_contacts_read.contains(&key_hash(contact_number)));
        let missing_contacts = MissingContacts::of_unread(known, not_read, |customer| {
            customers_read.contains(&key_hash(customer))
        });
        (
            ReadCustomers {
                customers,
                rejected,
                cursor_after,
                needs_index,
            },
            WholeRunSummary {
                customers: run_customers.finish(),
                missing_contacts,
            },
        )
    }
}

/// The customers of a run, spilled, with what the read reported.
pub(super) struct ReadCustomers {
    pub(super) customers: Spill<ExtractedCustomer>,
    pub(super) rejected: Vec<DataProblem>,
    pub(super) cursor_after: Option<DeltaCursor>,
    pub(super) needs_index: bool,
}

/// What the planner needs to know about the whole run while it plans one batch.
pub(super) struct WholeRunSummary {
    pub(super) customers: RunCustomers,
    pub(super) missing_contacts: MissingContacts,
}
