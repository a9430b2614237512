//! What the store knows about a run's records, read a batch at a time: the links and states of
//! the batch's own keys (its customers, their contacts and the contacts deleted in ECC), so a
//! run holds the store's knowledge of one batch, never of the whole connection. Each record is
//! written in its own batch only, so what a batch reads is what the store held when the run
//! started; the customers the ECC duplicates point at may sit in an earlier batch, and are read
//! once before the first write ([`DuplicatesKnown`]). The reviews are read whole (people decide
//! them one by one, so they stay few), and the customers a delta reads again come from the
//! failing states alone.

use std::collections::HashSet;

use chrono::Utc;
use mlc_ecc::ExtractedCustomer;
use mlc_store::{EntityKind, RecordState, ReviewItem, ReviewStatus, StateStore};
use mlc_sync::matching::EccDuplicate;
use mlc_sync::plan::run::{customers_due_again, StoredRecords};
use mlc_sync::plan::{KnownRecords, MissingContacts};

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
        &self,
        store: &dyn StateStore,
        connection: &str,
        reviews: &[ReviewItem],
        duplicates: &DuplicatesKnown,
    ) -> Result<KnownRecords, SyncError> {
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
        let reviews = reviews
            .iter()
            .filter(|review| {
                let keys = match review.kind {
                    EntityKind::Organization => &self.organizations,
                    EntityKind::Person => &self.persons,
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
        Ok(known)
    }
}

/// The links and states of the customers the run's ECC duplicates duplicate, as the store held
/// them before the run's first write: such a customer may be written in an earlier batch than
/// its duplicate is planned in (or settled during the read: `settled_before` remembers what a
/// write changed), and the planner decides on what the run started from.
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
        settled_before: &DuplicatesKnown,
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
        let mut known = DuplicatesKnown { links, states };
        known.as_before(&keys, settled_before);
        Ok(known)
    }

    /// What the store held for organization `ecc_key` (a linked customer settled during the
    /// read) before this run wrote it, from the `known` it was planned with.
    pub(super) fn remember(&mut self, ecc_key: &str, known: &KnownRecords) {
        if let Some(id) = known.organization_links.get(ecc_key) {
            self.links.push((ecc_key.to_string(), *id));
        }
        if let Some(state) = known.organization_states.get(ecc_key) {
            self.states.push(state.clone());
        }
    }

    /// Keeps what `before` remembers of `keys` in place of what the store holds now.
    fn as_before(&mut self, keys: &[String], before: &DuplicatesKnown) {
        let remembered: HashSet<&str> = before
            .links
            .iter()
            .map(|(key, _)| key.as_str())
            .chain(before.states.iter().map(|state| state.ecc_key.as_str()))
            .filter(|key| {
                keys.binary_search_by(|wanted| wanted.as_str().cmp(key))
                    .is_ok()
            })
            .collect();
        if remembered.is_empty() {
            return;
        }
        self.links
            .retain(|(key, _)| !remembered.contains(key.as_str()));
        self.states
            .retain(|state| !remembered.contains(state.ecc_key.as_str()));
        self.links.extend(
            before
                .links
                .iter()
                .filter(|(key, _)| remembered.contains(key.as_str()))
                .cloned(),
        );
        self.states.extend(
            before
                .states
                .iter()
                .filter(|state| remembered.contains(state.ecc_key.as_str()))
                .cloned(),
        );
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

/// The store's person links by Pipedrive id, compact (the contact numbers in one string), for
/// the person matcher's "linked to another contact" across the whole run.
#[derive(Default)]
pub(super) struct LinkedPersons {
    /// (person id, start, end of its contact number in `numbers`), sorted by id.
    places: Vec<(i64, u32, u32)>,
    numbers: String,
}

/// Links read from the store per call while the whole table is walked.
pub(super) const LINK_PAGE: u32 = 10_000;

impl LinkedPersons {
    pub(super) async fn load(store: &dyn StateStore, connection: &str) -> Result<Self, SyncError> {
        let mut linked = LinkedPersons::default();
        for_each_link(store, connection, EntityKind::Person, |link| {
            let start = linked.numbers.len();
            linked.numbers.push_str(&link.ecc_key);
            let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(linked.numbers.len()))
            else {
                return Err(SyncError::Setup(
                    "the person links' contact numbers exceed 4 GiB".to_string(),
                ));
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

    pub(super) fn contact_of(&self, person_id: i64) -> Option<String> {
        let position = self
            .places
            .binary_search_by_key(&person_id, |(id, _, _)| *id)
            .ok()?;
        let (_, start, end) = self.places[position];
        self.numbers
            .get(start as usize..end as usize)
            .map(str::to_string)
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
