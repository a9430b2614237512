//! Linked customers settled while ECC is still read. A customer whose organization is linked
//! depends on the rest of the run only through its contacts deleted in ECC: links are unique
//! per Pipedrive id, so no other customer shares its organization and `sync.ecc_duplicates`
//! never decides about it, and the matcher already counts its organization as taken. So each
//! batch's linked customers are planned against the Pipedrive index (read beside ECC) and
//! carried out during the read; those read before the index is loaded are held in a spill file
//! until it is, so the read never waits for it. Their contacts deleted in ECC are planned once
//! the read has seen every contact ([`SyncEngine::settle_deleted_contacts`]), and the unlinked
//! customers are left to the second pass, in the order read.

use std::collections::HashSet;

use super::spill::Spill;
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

    /// The index when its load is done, without waiting for it.
    async fn ready_now(&mut self, phases: &PhaseClock) -> Result<Option<&LoadedIndex>, SyncError> {
        if matches!(self, IndexSlot::Loading(loading) if !loading.is_finished()) {
            return Ok(None);
        }
        // Done loading: taking it does not wait, so cancelling cannot interrupt it.
        self.ready(&CancellationToken::new(), phases).await
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
    /// Linked customers read before the index was loaded, settled once it is.
    pub(super) held: Option<Spill<ExtractedCustomer>>,
}

impl SyncEngine {
    /// The customers of `records` whose organization is linked, by customer number.
    pub(super) async fn linked_customers(
        &self,
        records: &[ExtractedCustomer],
    ) -> Result<HashSet<String>, SyncError> {
        let numbers: Vec<String> = records
            .iter()
            .map(|record| record.customer.customer_number.to_string())
            .collect();
        Ok(self
            .store
            .links_of_keys(
                &self.config.sync.connection,
                EntityKind::Organization,
                &numbers,
            )
            .await?
            .into_iter()
            .map(|link| link.ecc_key)
            .collect())
    }

    /// Settles `linked` (customers whose organization is linked) once the index is loaded,
    /// after those held before; until then they are held. `false` when the run was cancelled.
    pub(super) async fn settle_linked(
        &self,
        settle: &mut SettleDuringRead<'_, '_>,
        linked: Vec<ExtractedCustomer>,
    ) -> Result<bool, SyncError> {
        if linked.is_empty() {
            return Ok(true);
        }
        let run = settle.run;
        if settle.index.ready_now(&run.phases).await?.is_none() {
            let mut held = match settle.held.take() {
                Some(held) => held,
                None => Spill::new("the linked customers read before the index")?,
            };
            for record in &linked {
                held.push(record)?;
            }
            settle.held = Some(held);
            return Ok(true);
        }
        self.settle_held(settle).await?;
        self.settle_records(settle, &linked).await?;
        Ok(true)
    }

    /// Settles the customers held until the index was loaded, waiting for it (the read is
    /// done, or the index is). `false` when the run was cancelled while it waited.
    pub(super) async fn settle_held(
        &self,
        settle: &mut SettleDuringRead<'_, '_>,
    ) -> Result<bool, SyncError> {
        let Some(held) = settle.held.take() else {
            return Ok(true);
        };
        let run = settle.run;
        if settle
            .index
            .ready(&run.options.cancel, &run.phases)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let mut batches = held.into_batches(run.options.batch_size)?;
        loop {
            let batch = batches.next_batch()?;
            if batch.is_empty() {
                return Ok(true);
            }
            self.settle_records(settle, &batch).await?;
        }
    }

    /// Plans `linked` against the loaded index and carries the plan out.
    async fn settle_records(
        &self,
        settle: &mut SettleDuringRead<'_, '_>,
        linked: &[ExtractedCustomer],
    ) -> Result<(), SyncError> {
        let started = std::time::Instant::now();
        let run = settle.run;
        let IndexSlot::Loaded(loaded) = &settle.index else {
            return Err(SyncError::Setup(
                "linked customers settled before the Pipedrive index was loaded".to_string(),
            ));
        };
        let known = BatchKeys::of(linked, &MissingContacts::default())
            .known(
                self.store.as_ref(),
                &self.config.sync.connection,
                settle.reviews,
                &DuplicatesKnown::default(),
            )
            .await?;
        run.phases.since(Phase::StoreReads, started);
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
        let the_plan = self.plan_batch(&planning, &known, linked, &mut so_far.memory)?;
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
                linked,
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
        Ok(())
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
