//! The index of what Pipedrive holds, read page by page from the list endpoints (500 a page)
//! and kept compact: the records themselves in a spill file the planner reads back by id, and
//! the persons of each organization as id pairs, with the store's person links by Pipedrive
//! id. A run that reads every customer loads it in the background while ECC is read
//! ([`IndexLoading`]): it does not depend on ECC, and ECC is the bound of such a run.
//!
//! What only matching needs is built from the spills when a batch first has a record to match:
//! the organizations' matcher (normalized names and keys in memory, about 190 bytes an
//! organization; [`PipedriveIndex::matcher_for`]) for a customer not linked yet, the persons of
//! each organization and the store's person links ([`PipedriveIndex::persons_for_matching`]) for
//! a contact not linked yet. A full reconciliation whose records are all linked compares each
//! with its own record by id and builds neither.

use std::sync::Arc;
use std::time::Instant;

use mlc_pipedrive::{Entity, ListQuery, PipedriveClient};
use mlc_store::{EntityKind, StateStore};
use mlc_sync::existing::{ExistingLookup, ExistingOrganization, ExistingPerson};
use mlc_sync::matching::{
    MatchSettings, OrganizationEvidenceFields, OrganizationMatcher, RunCustomers,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use super::known::LinkedKeys;
use super::spill::SpillById;
use super::SyncError;
use crate::convert::{existing_organization, existing_person};

pub(super) struct PipedriveIndex {
    /// Built the first time a batch has a customer to match.
    matcher: OnceCell<OrganizationMatcher>,
    /// Built the first time a batch has a contact to match.
    persons_for_matching: OnceCell<PersonsForMatching>,
    keys: IndexKeys,
    organizations: SpillById<ExistingOrganization>,
    persons: SpillById<ExistingPerson>,
}

/// What matching a contact looks at besides the persons themselves.
struct PersonsForMatching {
    /// (organization id, person id), sorted.
    by_organization: Vec<(i64, i64)>,
    /// The store's person links by Pipedrive id.
    linked: LinkedKeys,
}

/// Which custom fields the matcher reads, and where the link table is.
pub(super) struct IndexKeys {
    pub(super) settings: MatchSettings,
    pub(super) fields: OrganizationEvidenceFields,
    pub(super) store: Arc<dyn StateStore>,
    pub(super) connection: String,
}

/// The index loaded on a task of its own, so the run reads ECC meanwhile. Dropped before it is
/// taken (the run failed or was cancelled), it stops the load.
pub(super) struct IndexLoading {
    task: Option<JoinHandle<Result<LoadedIndex, SyncError>>>,
}

/// The index, with what loading it cost.
pub(super) struct LoadedIndex {
    pub(super) index: PipedriveIndex,
    /// Tokens charged for its pages.
    pub(super) tokens: u64,
    /// Wall time of the load.
    pub(super) secs: std::time::Duration,
}

impl IndexLoading {
    pub(super) fn start(client: &PipedriveClient, keys: IndexKeys) -> Self {
        let client = client.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let before = client.governor().tokens_charged();
            let index = PipedriveIndex::load(&client, keys).await?;
            Ok(LoadedIndex {
                index,
                tokens: client.governor().tokens_charged() - before,
                secs: started.elapsed(),
            })
        });
        IndexLoading { task: Some(task) }
    }

    /// The index once it is loaded.
    pub(super) async fn loaded(mut self) -> Result<LoadedIndex, SyncError> {
        let Some(task) = self.task.as_mut() else {
            return Err(SyncError::Setup(
                "the Pipedrive index was taken twice".to_string(),
            ));
        };
        let joined = task.await;
        self.task = None;
        joined.map_err(|error| {
            SyncError::Setup(format!("reading the Pipedrive index stopped: {error}"))
        })?
    }
}

impl Drop for IndexLoading {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Every record of one kind not in the trash, page by page, each converted and spilled by id.
async fn load_pages<E, T>(
    client: &PipedriveClient,
    what: &'static str,
    convert: fn(&E) -> T,
) -> Result<SpillById<T>, SyncError>
where
    E: Entity,
    T: Serialize + DeserializeOwned,
{
    let query = ListQuery::default();
    let mut spill = SpillById::new(what)?;
    let mut cursor: Option<String> = None;
    loop {
        let page = client.list_page::<E>(&query, cursor.as_deref()).await?;
        for found in page.items.iter().filter(|found| !found.is_deleted()) {
            spill.push(found.id(), &convert(found))?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    spill.finish()?;
    Ok(spill)
}

impl PipedriveIndex {
    /// Every organization and person not in the trash.
    pub(super) async fn load(
        client: &PipedriveClient,
        keys: IndexKeys,
    ) -> Result<PipedriveIndex, SyncError> {
        // Both kinds at once: each is a chain of pages, the next asked for with the cursor of
        // the last, so one waits on the network while the other is parsed and spilled. The
        // early pass starts when both are in.
        let (organizations, persons) = tokio::try_join!(
            load_pages(client, "the organization index", existing_organization),
            load_pages(client, "the person index", existing_person),
        )?;
        let index = PipedriveIndex {
            matcher: OnceCell::new(),
            persons_for_matching: OnceCell::new(),
            keys,
            organizations,
            persons,
        };
        tracing::debug!(
            organizations = index.organizations.len(),
            persons = index.persons.len(),
            held_bytes = index.heap_bytes(),
            "pipedrive index loaded"
        );
        Ok(index)
    }

    /// Whether Pipedrive listed any organization.
    pub(super) fn has_organizations(&self) -> bool {
        !self.organizations.is_empty()
    }

    /// The organizations' matcher, if a batch needed it.
    pub(super) fn matcher(&self) -> Option<&OrganizationMatcher> {
        self.matcher.get()
    }

    /// The organizations' matcher, built the first time: the organizations read back from the
    /// spill in the order the pages brought them, twice (counted, then added: the matcher is
    /// allocated once at its size), each with the customer number the store links it to (those
    /// links this run wrote so far included), and the calibration on the run's customers (what
    /// a proposed pair's evidence means on this data goes with every decision into the audit,
    /// the review queue and the dry run).
    pub(super) async fn matcher_for(
        &self,
        customers: &RunCustomers,
    ) -> Result<&OrganizationMatcher, SyncError> {
        self.matcher
            .get_or_try_init(|| async {
                let keys = &self.keys;
                let linked = LinkedKeys::load(
                    keys.store.as_ref(),
                    &keys.connection,
                    EntityKind::Organization,
                )
                .await?;
                let mut sizes = OrganizationMatcher::sizes(keys.fields.clone());
                self.organizations.for_each_written(|id, existing| {
                    sizes.add(&existing, linked.key_of(id));
                    Ok(())
                })?;
                let mut matcher = OrganizationMatcher::counted_builder(keys.settings, &sizes);
                drop(sizes);
                self.organizations.for_each_written(|id, existing| {
                    matcher.add_linked_organization(&existing, linked.key_of(id));
                    Ok(())
                })?;
                drop(linked);
                let mut matcher = matcher.finish();
                let calibrated = Instant::now();
                let model = matcher.calibrate(customers, 0);
                tracing::debug!(
                    source = ?model.source(),
                    estimated = ?model.estimated_from(),
                    secs = calibrated.elapsed().as_secs_f64(),
                    held_bytes = matcher.heap_bytes(),
                    "organization matcher built and calibrated"
                );
                Ok(matcher)
            })
            .await
    }

    /// The persons of each organization, from the spill in the order the pages brought them,
    /// and the store's person links (those this run wrote so far included), read the first
    /// time.
    pub(super) async fn persons_for_matching(&self) -> Result<(), SyncError> {
        self.persons_for_matching
            .get_or_try_init(|| async {
                let mut by_organization = Vec::new();
                self.persons.for_each_written(|id, person| {
                    if let Some(org_id) = person.org_id {
                        by_organization.push((org_id, id));
                    }
                    Ok(())
                })?;
                by_organization.sort_unstable();
                by_organization.dedup();
                by_organization.shrink_to_fit();
                let linked = LinkedKeys::load(
                    self.keys.store.as_ref(),
                    &self.keys.connection,
                    EntityKind::Person,
                )
                .await?;
                Ok::<_, SyncError>(PersonsForMatching {
                    by_organization,
                    linked,
                })
            })
            .await?;
        Ok(())
    }

    /// Bytes held in memory.
    pub(super) fn heap_bytes(&self) -> usize {
        self.matcher
            .get()
            .map_or(0, OrganizationMatcher::heap_bytes)
            + self.organizations.heap_bytes()
            + self.persons.heap_bytes()
            + self.persons_for_matching.get().map_or(0, |persons| {
                persons.by_organization.capacity() * 16 + persons.linked.heap_bytes()
            })
    }
}

impl ExistingLookup for PipedriveIndex {
    fn organization(&self, id: i64) -> Option<ExistingOrganization> {
        self.organizations.get(id)
    }

    fn person(&self, id: i64) -> Option<ExistingPerson> {
        self.persons.get(id)
    }

    fn organization_json(&self, id: i64) -> Option<Vec<u8>> {
        self.organizations.json(id)
    }

    fn person_json(&self, id: i64) -> Option<Vec<u8>> {
        self.persons.json(id)
    }

    fn persons_of(&self, organization_id: i64) -> Vec<ExistingPerson> {
        let Some(persons) = self.persons_for_matching.get() else {
            debug_assert!(false, "persons_of before persons_for_matching");
            return Vec::new();
        };
        let start = persons
            .by_organization
            .partition_point(|(org_id, _)| *org_id < organization_id);
        persons.by_organization[start..]
            .iter()
            .take_while(|(org_id, _)| *org_id == organization_id)
            .filter_map(|(_, person_id)| self.persons.get(*person_id))
            .collect()
    }

    fn contact_linked_to(&self, person_id: i64) -> Option<String> {
        self.persons_for_matching
            .get()
            .and_then(|persons| persons.linked.key_of(person_id))
            .map(str::to_string)
    }

    fn knows_persons_of_organizations(&self) -> bool {
        self.persons_for_matching.initialized()
    }
}
