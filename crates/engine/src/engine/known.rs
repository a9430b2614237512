//! What the store knows about a run's records, read a batch at a time: the links and states of
//! the batch's own keys (its customers, their contacts and the contacts deleted in ECC), so a
//! run holds the store's knowledge of one batch, never of the whole connection. Each record is
//! written in its own batch only, so what a batch reads is what the store held when the run
//! started; the customers the ECC duplicates point at may sit in an earlier batch, and are read
//! once before the first write ([`DuplicatesKnown`]). The reviews are read whole (people decide
//! them one by one, so they stay few), and the customers a delta reads again come from the
//! failing states alone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use mlc_ecc::ExtractedCustomer;
use mlc_store::{EntityKind, Link, RecordState, ReviewItem, ReviewStatus, StateStore};
use mlc_sync::matching::EccDuplicate;
use mlc_sync::plan::run::{customers_due_again, StoredRecords};
use mlc_sync::plan::{KnownRecords, MissingContacts};
use tokio::task::JoinHandle;

use super::phases::{Phase, PhaseClock};
use super::SyncError;

/// Which records of one batch the planner and the executor may ask the store about.
pub(super) struct BatchKeys {
    organizations: Vec<String>,
    persons: Vec<String>,
}

impl BatchKeys {
    /// The batch's customers and contacts, and the linked contacts of its customers that the
    /// run did not read (`missing`).
    pub(super) fn of(batch: &[ExtractedCustomer], missing: &MissingContacts) -> Self {
        let mut organizations: Vec<String> = batch
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .collect();
        let mut persons: Vec<String> = Vec::new();
        for record in batch {
            let customer = &record.customer;
            persons.extend(
                customer
                    .contacts
                    .iter()
                    .map(|contact| contact.contact_number.clone()),
            );
            persons.extend(
                missing
                    .of(customer.customer_number.as_str())
                    .iter()
                    .map(|(contact_number, _)| contact_number.clone()),
            );
        }
        for keys in [&mut organizations, &mut persons] {
            keys.sort_unstable();
            keys.dedup();
        }
        BatchKeys {
            organizations,
            persons,
        }
    }

    /// The links, states and reviews of these keys, with what the store held for the customers
    /// the run's ECC duplicates point at when it started.
    pub(super) async fn known(
        self,
        store: &dyn StateStore,
        connection: &str,
        reviews: &[ReviewItem],
        duplicates: &DuplicatesKnown,
    ) -> Result<KnownRecords, SyncError> {
        Ok(self
            .read(store, connection)
            .await?
            .known(reviews, duplicates))
    }

    /// The links and states of these keys, read on a task of its own (a run's next batch is
    /// read while it plans and carries out this one).
    pub(super) fn read_ahead(self, store: Arc<dyn StateStore>, connection: String) -> StoreReading {
        StoreReading(tokio::spawn(async move {
            let started = Instant::now();
            let read = self.read(store.as_ref(), &connection).await;
            (read, started.elapsed())
        }))
    }

    async fn read(self, store: &dyn StateStore, connection: &str) -> Result<StoreRead, SyncError> {
        let mut links = store
            .links_of_keys(connection, EntityKind::Organization, &self.organizations)
            .await?;
        links.extend(
            store
                .links_of_keys(connection, EntityKind::Person, &self.persons)
                .await?,
        );
        let mut states = store
            .record_states_of_keys(connection, EntityKind::Organization, &self.organizations)
            .await?;
        states.extend(
            store
                .record_states_of_keys(connection, EntityKind::Person, &self.persons)
                .await?,
        );
        Ok(StoreRead {
            keys: self,
            links,
            states,
        })
    }
}

/// A batch's links and states being read on a task of their own, with the time the read took.
pub(super) struct StoreReading(JoinHandle<(Result<StoreRead, SyncError>, Duration)>);

impl StoreReading {
    /// The read, once done: the time waited for it and the time it took go to `phases`.
    pub(super) async fn done(self, phases: &PhaseClock) -> Result<StoreRead, SyncError> {
        let waited = Instant::now();
        let (read, secs) = self.0.await.map_err(|error| {
            SyncError::Setup(format!(
                "reading a batch's links and states stopped: {error}"
            ))
        })?;
        phases.since(Phase::StoreWait, waited);
        phases.add(Phase::StoreReads, secs);
        read
    }
}

/// What the store holds of one batch's keys.
pub(super) struct StoreRead {
    keys: BatchKeys,
    links: Vec<Link>,
    states: Vec<RecordState>,
}

impl StoreRead {
    /// With the batch's reviews, and what the store held for the customers the run's ECC
    /// duplicates point at when it started.
    pub(super) fn known(
        self,
        reviews: &[ReviewItem],
        duplicates: &DuplicatesKnown,
    ) -> KnownRecords {
        let StoreRead {
            keys,
            links,
            states,
        } = self;
        let reviews = reviews
            .iter()
            .filter(|review| {
                let keys = match review.kind {
                    EntityKind::Organization => &keys.organizations,
                    EntityKind::Person => &keys.persons,
                };
                keys.binary_search(&review.ecc_key).is_ok()
            })
            .cloned()
            .collect();
        let mut known = KnownRecords::from_store(links, states, reviews);
        for (key, id) in &duplicates.links {
            known.organization_links.insert(key.clone(), *id);
        }
        for state in &duplicates.states {
            known
                .organization_states
                .insert(state.ecc_key.clone(), state.clone());
        }
        known
    }
}

/// The links and states of the customers the run's ECC duplicates duplicate, as the store held
/// them before the run's first write: such a customer may be written in an earlier batch than
/// its duplicate is planned in, and the planner decides on what the run started from.
#[derive(Default)]
pub(super) struct DuplicatesKnown {
    links: Vec<(String, i64)>,
    states: Vec<RecordState>,
}

impl DuplicatesKnown {
    pub(super) async fn read(
        store: &dyn StateStore,
        connection: &str,
        ecc_duplicates: &[EccDuplicate],
    ) -> Result<Self, SyncError> {
        let mut keys: Vec<String> = ecc_duplicates
            .iter()
            .map(|duplicate| duplicate.duplicate_of.clone())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let links = store
            .links_of_keys(connection, EntityKind::Organization, &keys)
            .await?
            .into_iter()
            .map(|link| (link.ecc_key, link.pipedrive_id))
            .collect();
        let states = store
            .record_states_of_keys(connection, EntityKind::Organization, &keys)
            .await?;
        Ok(DuplicatesKnown { links, states })
    }
}

/// The customers a delta run reads again although ECC did not report them changed (see
/// [`customers_due_again`]): from the failing states and the decided reviews, with the links
/// and states of the reviewed records, not from every state of the connection.
pub(super) async fn customers_due(
    store: &dyn StateStore,
    connection: &str,
    reviews: &[ReviewItem],
) -> Result<Vec<String>, SyncError> {
    let mut states = store.failing_record_states(connection).await?;
    let mut links = Vec::new();
    for kind in [EntityKind::Organization, EntityKind::Person] {
        let decided: Vec<String> = reviews
            .iter()
            .filter(|review| review.kind == kind && review.status != ReviewStatus::Pending)
            .map(|review| review.ecc_key.clone())
            .collect();
        if decided.is_empty() {
            continue;
        }
        links.extend(store.links_of_keys(connection, kind, &decided).await?);
        states.extend(
            store
                .record_states_of_keys(connection, kind, &decided)
                .await?,
        );
    }
    let stored = StoredRecords {
        states: &states,
        links: &links,
        reviews,
    };
    Ok(customers_due_again(&stored, &HashSet::new(), Utc::now()))
}

/// The store's links of one kind by Pipedrive id, compact (the ECC keys in one string): for the
/// person matcher's "linked to another contact" across the whole run, and the customer numbers
/// the organizations' matcher files organizations under.
#[derive(Default)]
pub(super) struct LinkedKeys {
    /// (Pipedrive id, start, end of its ECC key in `numbers`), sorted by id.
    places: Vec<(i64, u32, u32)>,
    numbers: String,
}

/// Links read from the store per call while the whole table is walked.
pub(super) const LINK_PAGE: u32 = 10_000;

impl LinkedKeys {
    pub(super) async fn load(
        store: &dyn StateStore,
        connection: &str,
        kind: EntityKind,
    ) -> Result<Self, SyncError> {
        let mut linked = LinkedKeys::default();
        for_each_link(store, connection, kind, |link| {
            let start = linked.numbers.len();
            linked.numbers.push_str(&link.ecc_key);
            let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(linked.numbers.len()))
            else {
                return Err(SyncError::Setup(format!(
                    "the {} links' ECC keys exceed 4 GiB",
                    kind.as_str()
                )));
            };
            linked.places.push((link.pipedrive_id, start, end));
            Ok(())
        })
        .await?;
        linked.places.sort_unstable();
        linked.places.shrink_to_fit();
        linked.numbers.shrink_to_fit();
        Ok(linked)
    }

    /// The ECC key linked to a Pipedrive id; of several (ECC duplicates mapped to one
    /// organization), the last in key order, as the matcher applied its link rows before.
    pub(super) fn key_of(&self, pipedrive_id: i64) -> Option<&str> {
        let after = self
            .places
            .partition_point(|(id, _, _)| *id <= pipedrive_id);
        let (id, start, end) = *self.places.get(after.checked_sub(1)?)?;
        if id != pipedrive_id {
            return None;
        }
        self.numbers.get(start as usize..end as usize)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.places.capacity() * std::mem::size_of::<(i64, u32, u32)>() + self.numbers.capacity()
    }
}

/// Walks every link of `kind`, a page at a time.
pub(super) async fn for_each_link(
    store: &dyn StateStore,
    connection: &str,
    kind: EntityKind,
    mut each: impl FnMut(&mlc_store::Link) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let mut after: Option<String> = None;
    loop {
        let page = store
            .links_page(connection, kind, after.as_deref(), LINK_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.ecc_key.clone());
        for link in &page {
            each(link)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipedrive_id_linked_twice_gives_the_key_read_last() {
        // As `load` leaves them: keys in the order the store pages them (key order), places
        // sorted by id.
        let mut linked = LinkedKeys::default();
        for (id, key) in [
            (9, "0000000001"),
            (7, "0000000002"),
            (5, "0000000003"),
            (7, "0000000004"),
        ] {
            let start = linked.numbers.len() as u32;
            linked.numbers.push_str(key);
            linked.places.push((id, start, linked.numbers.len() as u32));
        }
        linked.places.sort_unstable();
        assert_eq!(linked.key_of(7), Some("0000000004"));
        assert_eq!(linked.key_of(5), Some("0000000003"));
        assert_eq!(linked.key_of(9), Some("0000000001"));
        for unlinked in [4, 6, 8, 10] {
            assert_eq!(linked.key_of(unlinked), None);
        }
    }
}
