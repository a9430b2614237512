//! The first pass of a run: ECC read batch by batch into a spill file, keeping only what the
//! rules over the whole run need, compact: every customer's match subject, in a spill of its
//! own (ECC duplicates, an organization with exactly one customer's name and address; see
//! [`super::run_customers`]), which contacts and which customers were read (contacts deleted
//! in ECC), the records due again that were not read yet, and whether any record needs the
//! Pipedrive index. The second pass plans and writes the spilled customers batch by batch; in a
//! run that reads every customer, the linked ones no such rule can change are planned while ECC
//! is still read instead, and never spilled (see [`super::early`]).

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::stream::BoxStream;
use futures::StreamExt;
use mlc_ecc::{DataProblem, DeltaCursor, EccError, ExtractBatch, ExtractedCustomer};
use mlc_store::{EntityKind, Link, StateStore};
use mlc_sync::plan::{KnownRecords, MissingContacts};

use super::known::LINK_PAGE;
use super::run_customers::{LazyRunCustomers, RunCustomersWriter};
use super::spill::Spill;
use super::SyncError;

/// A compact stand-in for a key in a set that only has to say "seen" (64 bits: a collision
/// among a million keys is about one in ten million).
pub(super) fn key_hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// Keys seen, as their hashes in a vector sorted once the read is done: 8 bytes a key, where a
/// hash set takes about twice that, and three times while it grows (a million customers and
/// 1.6 million contacts: 21 MB rather than 40 to 60).
#[derive(Default)]
struct SeenKeys {
    hashes: Vec<u64>,
    sorted: bool,
}

impl SeenKeys {
    fn insert(&mut self, key: &str) {
        self.hashes.push(key_hash(key));
        self.sorted = false;
    }

    /// Sorted and without repeats, for `contains` to search.
    fn seal(&mut self) {
        if !self.sorted {
            self.hashes.sort_unstable();
            self.hashes.dedup();
            self.hashes.shrink_to_fit();
            self.sorted = true;
        }
    }

    /// Whether `key` was seen (searched in order once sealed, scanned before).
    fn contains(&self, key: &str) -> bool {
        let hash = key_hash(key);
        if self.sorted {
            self.hashes.binary_search(&hash).is_ok()
        } else {
            self.hashes.contains(&hash)
        }
    }
}

pub(super) struct RunRead {
    /// The customers read that are planned after the read.
    pub(super) customers: Spill<ExtractedCustomer>,
    /// Customers read, planned early or not.
    read: usize,
    pub(super) rejected: Vec<DataProblem>,
    pub(super) cursor_after: Option<DeltaCursor>,
    /// Some record of the run cannot be decided without the Pipedrive index.
    pub(super) needs_index: bool,
    run_customers: RunCustomersWriter,
    customers_read: SeenKeys,
    /// Contacts read (under whichever customer).
    contacts_read: SeenKeys,
    /// Customers due again (failed, or a review decided) not read yet, in number order.
    due: VecDeque<String>,
}

impl RunRead {
    pub(super) fn new(due: Vec<String>) -> Result<Self, SyncError> {
        Ok(RunRead {
            customers: Spill::new("the customers read")?,
            read: 0,
            rejected: Vec::new(),
            cursor_after: None,
            needs_index: false,
            run_customers: RunCustomersWriter::new()?,
            customers_read: SeenKeys::default(),
            contacts_read: SeenKeys::default(),
            due: due.into(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.read
    }

    /// Notes what the rules over the whole run need of one batch read; its customers are
    /// planned early or filed away (`file`).
    pub(super) fn note(&mut self, batch: &ExtractBatch) -> Result<(), SyncError> {
        self.read += batch.records.len();
        for record in &batch.records {
            let customer = &record.customer;
            self.run_customers.add(customer)?;
            self.customers_read
                .insert(customer.customer_number.as_str());
            for contact in &customer.contacts {
                self.contacts_read.insert(&contact.contact_number);
            }
        }
        self.rejected.extend(batch.rejected.iter().cloned());
        if batch.cursor_after.is_some() {
            self.cursor_after = batch.cursor_after.clone();
        }
        Ok(())
    }

    /// Files customers read away, to be planned after the read.
    pub(super) fn file(&mut self, records: &[ExtractedCustomer]) -> Result<(), SyncError> {
        records
            .iter()
            .try_for_each(|record| self.customers.push(record))
    }

    /// The customers due again that the read did not bring (read them, then `add` them).
    pub(super) fn due_not_read(&mut self) -> Vec<String> {
        let due = std::mem::take(&mut self.due);
        self.customers_read.seal();
        due.into_iter()
            .filter(|number| !self.customers_read.contains(number))
            .collect()
    }

    /// Done reading: what the second pass needs about the whole run. The contacts deleted in
    /// ECC are found by walking the store's person links a page at a time.
    pub(super) async fn finish(
        self,
        store: &dyn StateStore,
        connection: &str,
    ) -> Result<(ReadCustomers, WholeRunSummary), SyncError> {
        let RunRead {
            customers,
            rejected,
            cursor_after,
            needs_index,
            run_customers,
            mut customers_read,
            mut contacts_read,
            ..
        } = self;
        customers_read.seal();
        contacts_read.seal();
        // A page of links at a time: in a delta nearly every linked contact is unread, and
        // only those of the customers read are kept.
        let mut missing_contacts = MissingContacts::default();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .links_page(connection, EntityKind::Person, after.as_deref(), LINK_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.ecc_key.clone());
            let not_read: Vec<Link> = page
                .into_iter()
                .filter(|link| !contacts_read.contains(&link.ecc_key))
                .collect();
            let keys: Vec<String> = not_read.iter().map(|link| link.ecc_key.clone()).collect();
            let states = store
                .record_states_of_keys(connection, EntityKind::Person, &keys)
                .await?;
            let unread = KnownRecords::from_store(not_read, states, Vec::new());
            missing_contacts.merge(MissingContacts::of_unread(&unread, &keys, |customer| {
                customers_read.contains(customer)
            }));
        }
        Ok((
            ReadCustomers {
                customers,
                rejected,
                cursor_after,
                needs_index,
            },
            WholeRunSummary {
                customers: run_customers.finish()?,
                missing_contacts,
            },
        ))
    }
}

/// ECC's batches read one ahead on a task of their own: ECC prepares the next page while the
/// run files the last one away, so the run waits for ECC alone. A page is read only once the
/// channel has room for it, so one batch at most waits beside the one the run holds. Dropped,
/// it stops the read.
pub(super) struct Prefetched {
    batches: tokio::sync::mpsc::Receiver<Result<ExtractBatch, EccError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Prefetched {
    pub(super) fn start(mut stream: BoxStream<'static, Result<ExtractBatch, EccError>>) -> Self {
        let (sender, batches) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(async move {
            while let Ok(slot) = sender.reserve().await {
                let Some(batch) = stream.next().await else {
                    break;
                };
                let failed = batch.is_err();
                slot.send(batch);
                if failed {
                    break;
                }
            }
        });
        Prefetched { batches, task }
    }

    /// The next batch; `None` once the read is done.
    pub(super) async fn next(&mut self) -> Option<Result<ExtractBatch, EccError>> {
        self.batches.recv().await
    }
}

impl Drop for Prefetched {
    fn drop(&mut self) {
        self.task.abort();
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
    pub(super) customers: LazyRunCustomers,
    pub(super) missing_contacts: MissingContacts,
}
