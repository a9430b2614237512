//! Linked customers planned and carried out while ECC is still read. A run that reads every
//! customer used to file the whole read away and plan only once it ended, because a few rules
//! look over the whole run: the ECC duplicates, the matcher's rivals among the run's customers,
//! the contacts deleted in ECC. A customer none of them can change needs only the Pipedrive
//! index, which loads beside the read in a fraction of its time. Such a customer is:
//!
//! - linked, with every contact read linked too (nothing to match);
//! - neither deleted nor blocked in ECC (its link stays as the run found it, which the ECC
//!   duplicates of other customers are planned with);
//! - read with every contact the store links to it (no contact of it can be missing from ECC);
//! - in a run that keeps ECC duplicates apart (under `map-to-one` a linked duplicate is left to
//!   its twin, which only the whole read finds).
//!
//! The read offers each batch to the early pass, which keeps at most one waiting beside the one
//! it plans; a batch offered while that place is taken is filed away, so the read never waits
//! for the pass ([`EarlyPlanning::WhenReady`]). The customers that do not qualify are filed
//! away by the pass, and planned after the read with the rest.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mlc_canonical::Customer;
use mlc_ecc::ExtractedCustomer;
use mlc_store::{ActionCounts, ReviewItem, StateStore};
use mlc_sync::map::FieldMap;
use mlc_sync::matching::RunCustomers;
use mlc_sync::plan::{KnownRecords, MissingContacts, PlanSettings};
use tokio::sync::mpsc;

use super::index::{IndexLoading, LoadedIndex};
use super::known::{BatchKeys, DuplicatesKnown, LINK_PAGE};
use super::phases::Phase;
use super::read::key_hash;
use super::spill::{Spill, SpillBatches};
use super::{
    unless_cancelled, BatchPlanning, CachedFieldKeys, Pass, RunParams, SyncEngine, SyncError,
};

/// Whether a run that reads every customer plans its linked customers while ECC is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EarlyPlanning {
    /// Each batch read that the early pass is ready for when it arrives; the others are
    /// planned after the read. The read never waits.
    #[default]
    WhenReady,
    /// Every batch read, once the index is loaded: the read waits for the early pass.
    Always,
    /// None: every customer is planned after the read.
    Off,
}

/// The read's side of the early pass.
pub(super) struct EarlyOffers {
    sender: mpsc::Sender<Vec<ExtractedCustomer>>,
    wait: bool,
}

impl EarlyOffers {
    pub(super) fn channel(
        planning: EarlyPlanning,
    ) -> (Self, mpsc::Receiver<Vec<ExtractedCustomer>>) {
        let (sender, taken) = mpsc::channel(1);
        let offers = EarlyOffers {
            sender,
            wait: planning == EarlyPlanning::Always,
        };
        (offers, taken)
    }

    /// Offers a batch read to the early pass; what it does not take comes back, to be planned
    /// after the read.
    pub(super) async fn offer(
        &self,
        records: Vec<ExtractedCustomer>,
    ) -> Option<Vec<ExtractedCustomer>> {
        if self.wait {
            return self
                .sender
                .send(records)
                .await
                .err()
                .map(|refused| refused.0);
        }
        match self.sender.try_send(records) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(records)
                | mpsc::error::TrySendError::Closed(records),
            ) => Some(records),
        }
    }
}

/// What the early pass plans with, besides the index it waits for.
pub(super) struct EarlyInputs<'a> {
    /// Whether the store links any organization when the run starts (none in a first run).
    pub(super) store_links_organizations: bool,
    pub(super) field_map: &'a FieldMap,
    pub(super) settings: PlanSettings,
    pub(super) reviews: &'a [ReviewItem],
    pub(super) cached: &'a CachedFieldKeys,
    pub(super) counts: &'a Mutex<ActionCounts>,
}

/// The early pass done: the index it planned with, and the customers it left for after the read.
pub(super) struct EarlyDone {
    pub(super) loaded: LoadedIndex,
    pub(super) deferred: Spill<ExtractedCustomer>,
    /// Customers planned and carried out while ECC was read.
    pub(super) planned: usize,
}

impl SyncEngine {
    /// Plans and carries out what it is offered (`taken`) that qualifies, once the index is
    /// loaded, until the read stops offering. `None` when the run was cancelled while the index
    /// loaded.
    pub(super) async fn plan_early(
        &self,
        run: &RunParams<'_>,
        inputs: EarlyInputs<'_>,
        loading: IndexLoading,
        mut taken: mpsc::Receiver<Vec<ExtractedCustomer>>,
        pass: &mut Pass,
    ) -> Result<Option<EarlyDone>, SyncError> {
        let connection = &self.config.sync.connection;
        let contacts = StoreContacts::read(self.store.as_ref(), connection).await?;
        let Some(loaded) = unless_cancelled(&run.options.cancel, loading.loaded()).await? else {
            return Ok(None);
        };
        let mut deferred = Spill::new("the customers planned after the read")?;
        let mut planned = 0;
        // No customer qualifies without a link to an organization that exists: with none in
        // the store (a first run) or none in Pipedrive, the read files everything away from
        // now on (closing `taken` tells it), and what it offered before is filed here.
        if !inputs.store_links_organizations || !loaded.index.has_organizations() {
            taken.close();
            while let Some(records) = taken.recv().await {
                for record in &records {
                    deferred.push(record)?;
                }
            }
            return Ok(Some(EarlyDone {
                loaded,
                deferred,
                planned,
            }));
        }
        let no_missing_contacts = MissingContacts::default();
        let no_run_customers = RunCustomers::default();
        let planning = BatchPlanning {
            options: run.options,
            field_map: inputs.field_map,
            settings: inputs.settings,
            reviews: inputs.reviews,
            index: Some(&loaded.index),
            ecc_duplicates: &[],
            run_customers: None,
            missing_contacts: &no_missing_contacts,
            no_run_customers: &no_run_customers,
        };
        let batch_size = run.options.batch_size.max(1);
        while let Some(mut records) = taken.recv().await {
            let started = Instant::now();
            let mut chunks = Vec::new();
            while !records.is_empty() {
                let rest = records.split_off(records.len().min(batch_size));
                chunks.push(std::mem::replace(&mut records, rest));
            }
            // Each chunk's links and states are read while the chunk before it is planned.
            let read_ahead = |chunk: Vec<ExtractedCustomer>| {
                let reading = BatchKeys::of(&chunk, &no_missing_contacts)
                    .read_ahead(self.store.clone(), connection.clone());
                (chunk, reading)
            };
            let mut chunks = chunks.into_iter();
            let mut upcoming = chunks.next().map(read_ahead);
            while let Some((chunk, reading)) = upcoming.take() {
                let known = reading
                    .done(&run.phases)
                    .await?
                    .known(planning.reviews, &DuplicatesKnown::default());
                upcoming = chunks.next().map(read_ahead);
                let (now, later): (Vec<ExtractedCustomer>, Vec<ExtractedCustomer>) = chunk
                    .into_iter()
                    .partition(|record| plannable_early(&record.customer, &known, &contacts));
                for record in &later {
                    deferred.push(record)?;
                }
                if now.is_empty() {
                    continue;
                }
                planned += now.len();
                let batch = Arc::new(now);
                self.plan_and_carry_out(
                    run,
                    &planning,
                    inputs.cached,
                    inputs.counts,
                    &known,
                    &batch,
                    pass,
                )
                .await?;
            }
            run.phases.since(Phase::Early, started);
        }
        Ok(Some(EarlyDone {
            loaded,
            deferred,
            planned,
        }))
    }
}

/// Whether `customer` can be planned before the read ends (see the module's comment; the
/// policy on ECC duplicates is the caller's to check).
fn plannable_early(customer: &Customer, known: &KnownRecords, contacts: &StoreContacts) -> bool {
    !customer.deleted
        && !customer.blocked
        && known
            .organization_links
            .contains_key(customer.customer_number.as_str())
        && customer
            .contacts
            .iter()
            .all(|contact| known.person_links.contains_key(&contact.contact_number))
        && contacts.all_read_with(customer)
}

/// Which customer each linked contact belongs to as the store held it when the run started:
/// (customer, contact) as key hashes, sorted, 16 bytes a linked contact.
struct StoreContacts {
    pairs: Vec<(u64, u64)>,
}

impl StoreContacts {
    async fn read(store: &dyn StateStore, connection: &str) -> Result<Self, SyncError> {
        let mut pairs = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .person_customers_page(connection, after.as_deref(), LINK_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.contact_number.clone());
            // A contact whose state names no customer is judged by no customer's read.
            pairs.extend(page.iter().filter_map(|person| {
                let customer = person.customer_number.as_deref()?;
                Some((key_hash(customer), key_hash(&person.contact_number)))
            }));
        }
        pairs.sort_unstable();
        pairs.shrink_to_fit();
        Ok(StoreContacts { pairs })
    }

    /// Whether every contact the store links to `customer` was read with it. Customers whose
    /// hashes collide only hold each other back for after the read; a contact is compared with
    /// the few read with its own customer, so a collision that lets one through is a chance of
    /// one in 2^64 per contact.
    fn all_read_with(&self, customer: &Customer) -> bool {
        let hash = key_hash(customer.customer_number.as_str());
        let start = self.pairs.partition_point(|(of, _)| *of < hash);
        self.pairs[start..]
            .iter()
            .take_while(|(of, _)| *of == hash)
            .all(|(_, contact)| {
                customer
                    .contacts
                    .iter()
                    .any(|read| key_hash(&read.contact_number) == *contact)
            })
    }
}

/// The customers planned after the read, a batch at a time: those the read filed away, then
/// those the early pass left.
pub(super) struct FiledBatches {
    spills: VecDeque<SpillBatches<ExtractedCustomer>>,
}

impl FiledBatches {
    pub(super) fn of(
        filed: Spill<ExtractedCustomer>,
        left_early: Option<Spill<ExtractedCustomer>>,
        batch_size: usize,
    ) -> Result<Self, SyncError> {
        let spills = std::iter::once(filed)
            .chain(left_early)
            .map(|spill| spill.into_batches(batch_size))
            .collect::<Result<_, _>>()?;
        Ok(FiledBatches { spills })
    }

    /// The next batch; empty once every spill is read.
    pub(super) fn next_batch(&mut self) -> Result<Vec<ExtractedCustomer>, SyncError> {
        while let Some(spill) = self.spills.front_mut() {
            let batch = spill.next_batch()?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            self.spills.pop_front();
        }
        Ok(Vec::new())
    }
}
