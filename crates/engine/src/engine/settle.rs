//! Linked customers settled while ECC is still read. A customer whose organization is linked
//! depends on the rest of the run only through its contacts deleted in ECC: links are unique
//! per Pipedrive id, so no other customer shares its organization and `sync.ecc_duplicates`
//! never decides about it, and the matcher already counts its organization as taken. So each
//! batch's linked customers are planned against the Pipedrive index (read beside ECC, ready
//! before the read ends) and carried out during the read; their contacts deleted in ECC are
//! planned once the read has seen every contact ([`SyncEngine::settle_deleted_contacts`]), and
//! the unlinked customers are left to the second pass.

use std::collections::HashSet;

use super::*;

/// The Pipedrive index of a run that reads every customer, loading beside the ECC read until
/// something needs it.
pub(super) enum IndexSlot {
    /// The run loads the index only if the first pass says it needs it.
    NotLoading,
    Loading(IndexLoading),
    Loaded(Box<LoadedIndex>),
}

impl IndexSlot {
    /// The index, waited for while it still loads (that wait and the load's time go to
    /// `phases`); `Ok(None)` when `cancel` fires first or the run does not load it.
    pub(super) async fn ready(
        &mut self,
        cancel: &CancellationToken,
        phases: &PhaseClock,
    ) -> Result<Option<&LoadedIndex>, SyncError> {
        if !matches!(self, IndexSlot::Loading(_)) {
            return Ok(self.loaded());
        }
        if let IndexSlot::Loading(loading) = std::mem::replace(self, IndexSlot::NotLoading) {
            let waited = std::time::Instant::now();
            let Some(loaded) = unless_cancelled(cancel, loading.loaded()).await? else {
                return Ok(None);
            };
            phases.since(Phase::IndexWait, waited);
            phases.add(Phase::IndexRead, loaded.secs);
            *self = IndexSlot::Loaded(Box::new(loaded));
        }
        Ok(self.loaded())
    }

    fn loaded(&self) -> Option<&LoadedIndex> {
        match self {
            IndexSlot::Loaded(loaded) => Some(loaded),
            IndexSlot::NotLoading | IndexSlot::Loading(_) => None,
        }
    }
}

/// What the batches planned and carried out so far hand on to the next one, whether settled
/// during the read or planned in the second pass.
#[derive(Default)]
pub(super) struct BatchesSoFar {
    pub(super) memory: PlanMemory,
    /// Commits still running beside the next batch.
    pub(super) pending: PendingCommit,
    /// Why the run stopped writing, once it did.
    pub(super) stop: Option<RunStop>,
    pub(super) planned_entries: u64,
    pub(super) planned_writes: u64,
    /// The links and states of settled organizations that a write changed, as the store held
    /// them before: the ECC duplicates found after the read are decided on what the run
    /// started from.
    pub(super) settled_before: DuplicatesKnown,
}

impl BatchesSoFar {
    /// Counts a batch's plan for the progress shown.
    pub(super) fn planned(&mut self, the_plan: &Plan, progress: &dyn Progress) {
        self.planned_entries += the_plan.entries.len() as u64;
        self.planned_writes += the_plan
            .entries
            .iter()
            .filter(|entry| entry.operation.writes())
            .count() as u64;
        progress.planned(self.planned_entries, self.planned_writes);
    }
}

/// Everything settling a batch during the read needs, and what it carries between batches.
pub(super) struct SettleDuringRead<'s, 'r> {
    pub(super) run: &'s RunParams<'r>,
    pub(super) field_map: &'s FieldMap,
    pub(super) cached: &'s CachedFieldKeys,
    pub(super) settings: &'s PlanSettings,
    pub(super) reviews: &'s [ReviewItem],
    pub(super) counts: &'s Mutex<ActionCounts>,
    pub(super) index: IndexSlot,
    pub(super) so_far: BatchesSoFar,
}

impl SyncEngine {
    /// Plans and carries out the customers of `records` whose organization is linked; returns
    /// their numbers, or `None` when the run was cancelled while it waited for the index.
    pub(super) async fn settle_linked(
        &self,
        settle: &mut SettleDuringRead<'_, '_>,
        records: &[ExtractedCustomer],
    ) -> Result<Option<HashSet<String>>, SyncError> {
        let started = std::time::Instant::now();
        let run = settle.run;
        let connection = &self.config.sync.connection;
        let numbers: Vec<String> = records
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .collect();
        let linked_numbers: HashSet<String> = self
            .store
            .links_of_keys(connection, EntityKind::Organization, &numbers)
            .await?
            .into_iter()
            .map(|link| link.ecc_key)
            .collect();
        if linked_numbers.is_empty() {
            run.phases.since(Phase::StoreReads, started);
            return Ok(Some(linked_numbers));
        }
        let linked: Vec<ExtractedCustomer> = records
            .iter()
            .filter(|record| linked_numbers.contains(record.customer.customer_number.as_str()))
            .cloned()
            .collect();
        let known = BatchKeys::of(&linked, &MissingContacts::default())
            .known(
                self.store.as_ref(),
                connection,
                settle.reviews,
                &DuplicatesKnown::default(),
            )
            .await?;
        run.phases.since(Phase::StoreReads, started);
        let Some(loaded) = settle.index.ready(&run.options.cancel, &run.phases).await? else {
            return Ok(None);
        };
        // Nothing of the whole run is known yet, and a linked customer needs none of it: its
        // contacts deleted in ECC are planned after the read.
        let nothing_yet = WholeRunSummary {
            customers: RunCustomersBuilder::with_capacity(0).finish(),
            settled_positions: Vec::new(),
            missing_contacts: MissingContacts::default(),
        };
        let planning = BatchPlanning {
            options: run.options,
            field_map: settle.field_map,
            settings: settle.settings.clone(),
            reviews: settle.reviews,
            index: Some(&loaded.index),
            ecc_duplicates: &[],
            whole_run: &nothing_yet,
        };
        let so_far = &mut settle.so_far;
        let planning_started = std::time::Instant::now();
        let the_plan = self.plan_batch(&planning, &known, &linked, &mut so_far.memory)?;
        run.phases.since(Phase::Planning, planning_started);
        so_far.planned(&the_plan, run.progress);
        for entry in &the_plan.entries {
            if entry.kind == EntityKind::Organization && entry.operation.writes() {
                so_far.settled_before.remember(&entry.ecc_key, &known);
            }
        }
        let (stop, carried_out) = self
            .carry_out_plan(
                run,
                settle.field_map,
                settle.cached,
                &known,
                &linked,
                &the_plan,
                so_far.stop.take(),
                &mut so_far.pending,
            )
            .await?;
        so_far.stop = stop;
        for (action, count) in carried_out {
            add_count(settle.counts, action, count);
        }
        run.phases.since(Phase::Settle, started);
        Ok(Some(linked_numbers))
    }

    /// The persons of the settled customers' contacts deleted in ECC, planned and carried out
    /// batch by batch once the read is done (the entries the second pass would have planned
    /// with each customer).
    pub(super) async fn settle_deleted_contacts(
        &self,
        run: &RunParams<'_>,
        planning: &BatchPlanning<'_>,
        cached: &CachedFieldKeys,
        settled: KeyedSpill<ExtractedCustomer>,
        so_far: &mut BatchesSoFar,
        counts: &Mutex<ActionCounts>,
    ) -> Result<(), SyncError> {
        let missing = &planning.whole_run.missing_contacts;
        let mut batches = settled.into_batches(run.options.batch_size)?;
        loop {
            let reads_started = std::time::Instant::now();
            let batch = batches.next_batch(|customer| !missing.of(customer).is_empty())?;
            if batch.is_empty() {
                return Ok(());
            }
            let known = BatchKeys::of(&batch, missing)
                .known(
                    self.store.as_ref(),
                    &self.config.sync.connection,
                    planning.reviews,
                    &DuplicatesKnown::default(),
                )
                .await?;
            run.phases.since(Phase::StoreReads, reads_started);
            let planning_started = std::time::Instant::now();
            let records = Self::customer_records(planning.options, &batch);
            let the_plan = plan_deleted_contacts(&PlanInputs {
                records: &records,
                field_map: planning.field_map,
                settings: &planning.settings,
                known: &known,
                pipedrive: planning.index.map(|index| PipedriveView {
                    matcher: &index.matcher,
                    existing: index,
                }),
                ecc_duplicates: &[],
                now: Utc::now(),
                whole_run: Some(WholeRun {
                    customers: &planning.whole_run.customers,
                    missing_contacts: missing,
                }),
            });
            check_plan_bodies(&the_plan)?;
            run.phases.since(Phase::Planning, planning_started);
            so_far.planned(&the_plan, run.progress);
            let (stop, carried_out) = self
                .carry_out_plan(
                    run,
                    planning.field_map,
                    cached,
                    &known,
                    &batch,
                    &the_plan,
                    so_far.stop.take(),
                    &mut so_far.pending,
                )
                .await?;
            so_far.stop = stop;
            for (action, count) in carried_out {
                add_count(counts, action, count);
            }
        }
    }
}
