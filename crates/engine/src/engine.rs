//! `SyncEngine::run`: one run of one connection, from reading ECC to the last commit.

mod drift;
mod early;
mod execute;
mod index;
mod intents;
mod known;
mod phases;
mod read;
mod refusals;
mod retention;
mod run_customers;
mod spill;
mod stopped;

pub use drift::{MergedRecord, PipedriveEvents};
pub use early::EarlyPlanning;
use early::{EarlyDone, EarlyInputs, EarlyOffers, FiledBatches};

use refusals::in_the_trash;
use stopped::SHUTDOWN_REASON;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::StreamExt;
use mlc_config::sections::sync::{EccDuplicatePolicy, LifecyclePolicy};
use mlc_config::Config;
use mlc_ecc::{DataProblem, DeltaCursor, EccError, ExtractedCustomer, Extractor};
use mlc_pipedrive::{
    CustomFieldResolver, Entity, FieldSpec, Organization, Person, PipedriveClient, PipedriveError,
};
use mlc_store::{
    Action, ActionCounts, AuditEvent, CursorAdvance, EntityKind, ExtractedLater, FailureChange,
    LinkChange, NewIntent, NewReview, NewRun, OutcomeBatch, RecordOutcome, RecordState, ReviewItem,
    RunFinish, RunStatus, StateStore, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::convert::{
    check_plan_bodies, custom_value, existing_organization, existing_person, organization_write,
    person_write, FieldMapFault,
};
use crate::outcome::{audit_event, note, Progress, ReadContext};
use execute::PendingCommit;
use index::{IndexKeys, IndexLoading, PipedriveIndex};
use known::{BatchKeys, DuplicatesKnown};
use mlc_sync::existing::ExistingLookup;
use mlc_sync::map::{diff, FieldKeys, FieldMap, FieldMapSpec, MappedRecord};
use mlc_sync::matching::{EccDuplicate, MatchSettings, RunCustomers};
use mlc_sync::plan::run::{held_back, pause_after_run, run_ending, RunStop};
use mlc_sync::plan::{
    may_need_matcher, may_need_persons_of, plan_batch, CustomerRecord, DriftCheck, KnownRecords,
    MissingContacts, Operation, OrganizationRef, PipedriveView, Plan, PlanEntry, PlanInputs,
    PlanMemory, PlanSettings, WholeRun,
};
use phases::{Phase, PhaseClock};
use read::RunRead;
use run_customers::LazyRunCustomers;
use tokio_util::sync::CancellationToken;

/// The delta cursor's stream name in the store.
const DELTA_STREAM: &str = "ecc-delta";
/// Resolved custom field keys, kept in the store so a poll with nothing to do costs no call.
const FIELD_KEYS_STREAM: &str = "pipedrive-field-keys";
/// Creates and updates in flight at once; the governor paces them to the burst limit.
const DEFAULT_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// Changes since the last run (a full read the first time).
    Delta,
    /// Every customer; the content hash decides.
    Full,
    /// These customers (internal or display form), re-tried even when parked.
    Customers(Vec<String>),
    /// What webhooks told: merged records' links follow their survivors, then the named
    /// customers' linked records are compared with Pipedrive and drift settled by `[sync.drift]`.
    Webhook(PipedriveEvents),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: RunMode,
    /// Plan, match and count tokens, but write nothing to Pipedrive.
    pub dry_run: bool,
    /// The lease's fencing token when the run holds one (the service); `None` for the CLI.
    pub fencing_token: Option<i64>,
    pub concurrency: usize,
    /// Customers planned and carried out at a time (with their contacts): a run's memory holds
    /// one batch of records, mapped bodies and plan entries.
    pub batch_size: usize,
    /// Whether a run that reads every customer plans its linked customers while ECC is read.
    pub early: EarlyPlanning,
    /// Cancelled when the process shuts down: writes in flight finish and are committed,
    /// nothing new is sent, and the run ends `interrupted` with its cursor where it was.
    pub cancel: CancellationToken,
}

impl RunOptions {
    pub fn new(mode: RunMode) -> Self {
        RunOptions {
            mode,
            dry_run: false,
            fencing_token: None,
            concurrency: DEFAULT_CONCURRENCY,
            batch_size: PLAN_BATCH,
            early: EarlyPlanning::default(),
            cancel: CancellationToken::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub counts: ActionCounts,
    /// Tokens this run charged to the company's budget.
    pub tokens_used: u64,
    /// Tokens spent reading the index of existing organizations and persons.
    pub index_tokens: u64,
    pub customers_read: u64,
    /// Of those, the customers planned and carried out while ECC was still read (linked ones
    /// no rule over the whole run could change); the others were planned after the read.
    pub customers_planned_early: u64,
    /// Wall time of the run's read of ECC (every call it made), when it read.
    pub ecc_read_secs: Option<f64>,
    /// Seconds spent per step of the run (`ecc_read`, `index_read`, `planning`, `commits`...);
    /// steps that overlap (the index is read while ECC is) add up to more than the wall time.
    pub phase_secs: std::collections::BTreeMap<String, f64>,
    /// The process's peak resident memory in MB as each of the run's main steps ended
    /// (`ecc_read`, `index_wait`, `ecc_duplicates`, `matcher`, `commit_wait`): the first
    /// step that shows the run's peak is the one that reached it. Empty without /proc.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub peak_rss_mb_after: std::collections::BTreeMap<String, f64>,
    /// Dirty records kept out, with why.
    pub rejected: Vec<DataProblem>,
    pub ecc_duplicates: usize,
    /// The ECC duplicates were taken from the store: an earlier run that read every customer
    /// searched the same customers (numbers and match subjects alike) with the same thresholds.
    pub ecc_duplicates_kept: bool,
    /// Only for a dry run: what would have been done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    pub alert: Option<String>,
    pub error: Option<String>,
}

/// `work`'s result, or `None` when `cancel` fires first (the work is dropped: only reads and
/// plans are run this way, never a write).
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    work: impl std::future::Future<Output = Result<T, SyncError>>,
) -> Result<Option<T>, SyncError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Ok(None),
        result = work => result.map(Some),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Ecc(#[from] EccError),
    #[error(transparent)]
    Pipedrive(#[from] PipedriveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
    /// Another run advanced the delta cursor while this one ran (overlapping runs).
    #[error("{0}")]
    CursorConflict(String),
    #[error(transparent)]
    FieldMap(#[from] FieldMapFault),
}

/// Cached field keys and the status label, as stored under `FIELD_KEYS_STREAM`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CachedFieldKeys {
    keys: FieldKeys,
    status_label_id: Option<i64>,
}

pub struct SyncEngine {
    config: Config,
    store: Arc<dyn StateStore>,
    extractor: Extractor,
    client: PipedriveClient,
    spec: FieldMapSpec,
    instance: String,
}

/// What identifies a run to its steps.
struct RunParams<'a> {
    run_id: i64,
    options: &'a RunOptions,
    progress: &'a dyn Progress,
    /// The governor's charged tokens when the run started.
    tokens_before: u64,
    phases: PhaseClock,
}

/// Customers planned and carried out at a time, unless `RunOptions::batch_size` says
/// otherwise: memory holds one batch of them (records, mapped bodies, plan entries), never the
/// run.
const PLAN_BATCH: usize = 1000;

/// What every batch of a run is planned with.
struct BatchPlanning<'a> {
    options: &'a RunOptions,
    field_map: &'a FieldMap,
    settings: PlanSettings,
    /// The connection's reviews, whole: a batch's known records take theirs from here.
    reviews: &'a [ReviewItem],
    index: Option<&'a PipedriveIndex>,
    ecc_duplicates: &'a [EccDuplicate],
    /// The run's customers, once the read is done (`None` while ECC is read: no record
    /// planned then needs the matcher).
    run_customers: Option<&'a LazyRunCustomers>,
    /// The linked contacts the run did not read, by customer (none while ECC is read: a
    /// customer planned then had every linked contact read with it).
    missing_contacts: &'a MissingContacts,
    /// What the planner is given for the run's customers while they are not indexed: only the
    /// matcher consults them, and it is built after them.
    no_run_customers: &'a RunCustomers,
}

/// What one batch of a run hands the next, planned while ECC is read or after.
#[derive(Default)]
struct Pass {
    /// What the planner decided for the batches before (the organizations claimed).
    memory: PlanMemory,
    /// Each batch's outcomes are committed while the next batch is read and planned; its
    /// calls wait for that commit (see `PendingCommit`), and so does the end of the run.
    pending: PendingCommit,
    /// Why the run stopped writing, once it did.
    stop: Option<RunStop>,
    planned_entries: u64,
    planned_writes: u64,
    /// A dry run's plan, whole.
    dry_run_plan: Plan,
}

/// What one run shares between its concurrent writes.
struct RunContext<'a> {
    run_id: i64,
    options: &'a RunOptions,
    field_map: &'a FieldMap,
    status_label_id: Option<i64>,
    known: &'a KnownRecords,
    /// The batch's customers, which an entry's audit event is made from, and where each
    /// number is among them.
    batch: &'a Arc<Vec<ExtractedCustomer>>,
    reads: &'a HashMap<&'a str, usize>,
    counts: Mutex<ActionCounts>,
    stop: Mutex<Option<RunStop>>,
    /// Outcomes carried out and not committed yet: committed together, one transaction for a
    /// batch's organizations and one for its persons (see `execute::PendingCommit`).
    carried_out: Mutex<Vec<RecordOutcome>>,
    /// The creates of the group being carried out whose intents are recorded, by (kind, ECC
    /// key), with their intent's id; taken when sent, the rest discarded at the group's end.
    prepared: Mutex<HashMap<(EntityKind, String), (execute::CreateFields, i64)>>,
    progress: &'a dyn Progress,
    tokens_before: u64,
    /// Custom field hash key → its name, so the audit says "ECC Payment Terms", not a hash.
    field_names: HashMap<String, String>,
}

impl RunContext<'_> {
    /// What the store knew of a record when the run started.
    fn state(&self, kind: EntityKind, ecc_key: &str) -> Option<&RecordState> {
        match kind {
            EntityKind::Organization => self.known.organization_states.get(ecc_key),
            EntityKind::Person => self.known.person_states.get(ecc_key),
        }
    }
}

impl SyncEngine {
    /// Connects both sides: ECC through the configured transport, Pipedrive through the client
    /// (which reads `/v1/users/me` once).
    pub async fn connect(config: &Config, store: Arc<dyn StateStore>) -> Result<Self, SyncError> {
        let extractor = Extractor::connect(&config.ecc).await?;
        Self::with_extractor(config, store, extractor).await
    }

    /// As `connect`, with an extractor built by the caller (the agent transport, tests).
    pub async fn with_extractor(
        config: &Config,
        store: Arc<dyn StateStore>,
        extractor: Extractor,
    ) -> Result<Self, SyncError> {
        let client = crate::connect_pipedrive(&config.pipedrive, store.clone()).await?;
        Ok(SyncEngine {
            config: config.clone(),
            spec: FieldMapSpec::from_config(&config.mapping, &config.sync),
            store,
            extractor,
            client,
            instance: mlc_store::instance_name(),
        })
    }

    pub fn client(&self) -> &PipedriveClient {
        &self.client
    }

    pub fn extractor(&self) -> &Extractor {
        &self.extractor
    }

    /// The custom fields the field map writes, for `ml-connector setup`.
    pub fn required_fields(&self) -> Vec<FieldSpec> {
        self.spec
            .required_custom_fields()
            .into_iter()
            .map(|field| FieldSpec::new(field.kind, field.name, field.field_type))
            .collect()
    }

    /// Forgets the cached custom field keys, so the next run resolves them again.
    pub async fn forget_field_keys(&self) -> Result<(), SyncError> {
        let current = self
            .store
            .cursor(&self.config.sync.connection, FIELD_KEYS_STREAM)
            .await?;
        if let Some(current) = current {
            self.store
                .advance_cursor(
                    &self.config.sync.connection,
                    FIELD_KEYS_STREAM,
                    Some(current.version),
                    "",
                )
                .await?;
        }
        Ok(())
    }

    /// One run. The run record is written whatever happens; an error that stops the run is
    /// returned after the run is marked failed.
    pub async fn run(
        &self,
        options: &RunOptions,
        progress: &dyn Progress,
    ) -> Result<RunSummary, SyncError> {
        let connection = &self.config.sync.connection;
        if !options.dry_run {
            let paused =
                crate::pause::pause_in_effect(self.store.as_ref(), connection, Utc::now()).await?;
            if let Some(pause) = paused {
                return Ok(self.paused_run(&pause).await?);
            }
        }
        let mode = match (&options.mode, options.dry_run) {
            (_, true) => "dry-run",
            (RunMode::Delta, _) => "delta",
            (RunMode::Full, _) => "full",
            (RunMode::Customers(_), _) => "replay",
            (RunMode::Webhook(_), _) => "webhook",
        };
        let run_id = self
            .store
            .start_run(&NewRun {
                connection: connection.clone(),
                instance: self.instance.clone(),
                mode: mode.to_string(),
            })
            .await?;
        let tokens_before = self.client.governor().tokens_charged();
        let counts = Mutex::new(ActionCounts::new());
        let params = RunParams {
            run_id,
            options,
            progress,
            tokens_before,
            phases: PhaseClock::default(),
        };
        let result = self.run_steps(&params, &counts).await;
        let tokens_used = self.client.governor().tokens_charged() - tokens_before;
        let counts = counts.into_inner().unwrap_or_default();
        let snapshot = self.client.governor().snapshot();
        let governor_alert = snapshot
            .stopped
            .clone()
            .or_else(|| snapshot.alerts.last().map(|alert| alert.message.clone()));
        if !options.dry_run {
            let pause = pause_after_run(
                snapshot.stopped.as_deref(),
                snapshot.deferred_until,
                Utc::now(),
            );
            if let Some(pause) = pause {
                tracing::warn!(
                    connection = %connection,
                    until = %pause.until,
                    "{}",
                    pause.reason
                );
                crate::pause::record_pause(self.store.as_ref(), connection, &pause).await?;
            }
        }
        match result {
            Ok(mut summary) => {
                summary.tokens_used = tokens_used;
                summary.phase_secs = params.phases.seconds();
                summary.peak_rss_mb_after = params.phases.peaks_mb();
                summary.counts = counts;
                if summary.alert.is_none() {
                    summary.alert = governor_alert;
                }
                self.store
                    .finish_run(
                        run_id,
                        &RunFinish {
                            status: summary.status,
                            counts: summary.counts.clone(),
                            tokens_used,
                            alert: summary.alert.clone(),
                            error: summary.error.clone(),
                        },
                    )
                    .await?;
                self.prune_audit_trail().await;
                Ok(summary)
            }
            Err(error) => {
                let finish = RunFinish {
                    status: RunStatus::Failed,
                    counts,
                    tokens_used,
                    alert: governor_alert,
                    error: Some(error.to_string()),
                };
                if let Err(store_error) = self.store.finish_run(run_id, &finish).await {
                    tracing::error!(run_id, %store_error, "cannot mark the run failed");
                }
                Err(error)
            }
        }
    }

    /// A run that calls nothing because the connection is paused (after a 403, or until the
    /// budget resets); recorded as deferred with the pause as its alert.
    pub async fn paused_run(&self, pause: &crate::Pause) -> Result<RunSummary, StoreError> {
        let connection = &self.config.sync.connection;
        let run_id =
            crate::pause::record_paused_run(&self.store, connection, &self.instance, pause).await?;
        Ok(RunSummary::paused(run_id, pause))
    }

    /// The steps of one run: field map, recovery, what the store knows, the ECC read, the
    /// plan, and (unless a dry run) carrying it out.
    async fn run_steps(
        &self,
        run: &RunParams<'_>,
        counts: &Mutex<ActionCounts>,
    ) -> Result<RunSummary, SyncError> {
        let cached = self.field_keys().await?;
        let field_map = self.resolve_field_map(&cached)?;
        if !run.options.dry_run {
            self.recover_intents(run.run_id, run.options.fencing_token)
                .await?;
            if let RunMode::Webhook(events) = &run.options.mode {
                self.follow_merges(run.run_id, run.options.fencing_token, &events.merges)
                    .await?;
            }
        }
        // The cursor's compare-and-swap expects the version this run starts from, so a run
        // that overlapped this one and moved the cursor meanwhile makes this advance a conflict
        // instead of being overwritten (and its window lost).
        let cursor_version_at_start = self
            .store
            .cursor(&self.config.sync.connection, DELTA_STREAM)
            .await?
            .map(|cursor| cursor.version);
        let connection = &self.config.sync.connection;
        let reviews = self.store.reviews(connection, None).await?;
        // Failed records and decided reviews are read again in a delta even if ECC did not
        // change them.
        let due = match &run.options.mode {
            RunMode::Delta => {
                known::customers_due(self.store.as_ref(), connection, &reviews).await?
            }
            _ => Vec::new(),
        };
        let settings = PlanSettings::from_config(&self.config.sync, cached.status_label_id);
        let cancel = &run.options.cancel;
        let match_settings = MatchSettings::from_config(&self.config.sync);
        let index_keys = || IndexKeys {
            settings: match_settings,
            fields: field_map.organization_evidence_fields(),
            store: self.store.clone(),
            connection: connection.clone(),
        };
        let since = self.delta_since(&run.options.mode).await?;
        // A run that reads every customer (a full reconciliation, a first run) needs the index
        // for all of them: linked records are compared with it, unlinked ones matched against
        // it. It is loaded while ECC is read, and the first pass plans nothing (the early
        // pass plans the linked customers it can once the index is there).
        let reads_every_customer = match &run.options.mode {
            RunMode::Full => true,
            RunMode::Delta => since.is_none(),
            RunMode::Customers(_) | RunMode::Webhook(_) => false,
        };
        let mut index_loading =
            reads_every_customer.then(|| IndexLoading::start(&self.client, index_keys()));
        let read_started = std::time::Instant::now();
        let first_pass = FirstPass {
            options: run.options,
            field_map: &field_map,
            settings: &settings,
            reviews: &reviews,
            phases: &run.phases,
            plans: !reads_every_customer,
        };
        let mut pass = Pass::default();
        // Linked customers are planned while ECC is still read, once the index is loaded
        // (see `early`); under `map-to-one` a linked customer may be left to its ECC twin,
        // which only the whole read finds.
        let plans_early = reads_every_customer
            && !run.options.dry_run
            && run.options.early != EarlyPlanning::Off
            && settings.ecc_duplicates == EccDuplicatePolicy::KeepApart;
        let mut early_done: Option<EarlyDone> = None;
        let early_loading = match plans_early {
            true => index_loading.take(),
            false => None,
        };
        // A first run (the store links no organization) reads every customer to search them
        // for duplicates and match them all: its memory peaks in that search, and what the
        // read freed must be given back by then, so the read counts as part of that step.
        let store_links_organizations = !self
            .store
            .links_page(connection, EntityKind::Organization, None, 1)
            .await?
            .is_empty();
        let first_run_read = match reads_every_customer && !store_links_organizations {
            true => Some(crate::memory::HeavyStep::enter()),
            false => None,
        };
        let read = match early_loading {
            Some(loading) => {
                let (offers, taken) = EarlyOffers::channel(run.options.early);
                let reading = async move {
                    let read = unless_cancelled(
                        cancel,
                        self.read_ecc(&first_pass, since, due, run.progress, Some(&offers)),
                    )
                    .await;
                    // The early pass ends once the read stops offering.
                    drop(offers);
                    read
                };
                let early = self.plan_early(
                    run,
                    EarlyInputs {
                        store_links_organizations,
                        field_map: &field_map,
                        settings: settings.clone(),
                        reviews: &reviews,
                        cached: &cached,
                        counts,
                    },
                    loading,
                    taken,
                    &mut pass,
                );
                let (read, early) = futures::join!(reading, early);
                match (read, early) {
                    (Ok(Some(read)), Ok(Some(early))) => {
                        early_done = Some(early);
                        read
                    }
                    (read, early) => {
                        // What the early pass carried out is committed before the run ends.
                        pass.pending.done(&run.phases).await?;
                        read?;
                        early?;
                        return Ok(RunSummary::interrupted(run.run_id));
                    }
                }
            }
            None => {
                let Some(read) = unless_cancelled(
                    cancel,
                    self.read_ecc(&first_pass, since, due, run.progress, None),
                )
                .await?
                else {
                    return Ok(RunSummary::interrupted(run.run_id));
                };
                read
            }
        };
        let ecc_read_secs = read_started.elapsed().as_secs_f64();
        run.phases.since(Phase::EccRead, read_started);
        run.phases.peak_after(Phase::EccRead);
        let customers_read = read.len() as u64;
        let finish_started = std::time::Instant::now();
        let (read, whole_run) = read.finish(self.store.as_ref(), connection).await?;
        run.phases.since(Phase::ReadFinish, finish_started);
        run.phases.peak_after(Phase::ReadFinish);
        self.record_rejected(run, &read.rejected, counts).await?;
        let mut index_tokens = 0;
        let mut customers_planned_early = 0;
        let mut deferred = None;
        let index = match (early_done, index_loading) {
            (Some(early), _) => {
                run.phases.add(Phase::IndexRead, early.loaded.secs);
                index_tokens = early.loaded.tokens;
                customers_planned_early = early.planned as u64;
                deferred = Some(early.deferred);
                Some(early.loaded.index)
            }
            (None, Some(loading)) => {
                let waited = std::time::Instant::now();
                let Some(loaded) = unless_cancelled(cancel, loading.loaded()).await? else {
                    return Ok(RunSummary::interrupted(run.run_id));
                };
                run.phases.since(Phase::IndexWait, waited);
                run.phases.peak_after(Phase::IndexWait);
                run.phases.add(Phase::IndexRead, loaded.secs);
                index_tokens = loaded.tokens;
                Some(loaded.index)
            }
            (None, None) if read.needs_index => {
                let before = self.client.governor().tokens_charged();
                let index_started = std::time::Instant::now();
                let Some(index) =
                    unless_cancelled(cancel, PipedriveIndex::load(&self.client, index_keys()))
                        .await?
                else {
                    return Ok(RunSummary::interrupted(run.run_id));
                };
                index_tokens = self.client.governor().tokens_charged() - before;
                run.phases.since(Phase::IndexRead, index_started);
                Some(index)
            }
            (None, None) => None,
        };
        let duplicates_started = std::time::Instant::now();
        // A first run's read was the start of this step.
        let heavy = first_run_read.unwrap_or_else(crate::memory::HeavyStep::enter);
        let (ecc_duplicates, duplicates_kept) = run_customers::ecc_duplicates(
            self.store.as_ref(),
            connection,
            &whole_run.customers,
            match_settings,
            reads_every_customer,
        )
        .await?;
        drop(heavy);
        run.phases.since(Phase::EccDuplicates, duplicates_started);
        run.phases.peak_after(Phase::EccDuplicates);
        tracing::debug!(
            duplicates = ecc_duplicates.len(),
            from_the_store = duplicates_kept,
            "ECC duplicates"
        );
        let mut summary = RunSummary {
            run_id: run.run_id,
            status: RunStatus::Ok,
            counts: ActionCounts::new(),
            tokens_used: 0,
            index_tokens,
            customers_read,
            customers_planned_early,
            ecc_read_secs: Some(ecc_read_secs),
            phase_secs: Default::default(),
            peak_rss_mb_after: Default::default(),
            rejected: read.rejected.clone(),
            ecc_duplicates: ecc_duplicates.len(),
            ecc_duplicates_kept: duplicates_kept,
            plan: None,
            alert: None,
            error: None,
        };
        let planning = BatchPlanning {
            options: run.options,
            field_map: &field_map,
            settings,
            reviews: &reviews,
            index: index.as_ref(),
            ecc_duplicates: &ecc_duplicates,
            run_customers: Some(&whole_run.customers),
            missing_contacts: &whole_run.missing_contacts,
            no_run_customers: &RunCustomers::default(),
        };
        let duplicates_known =
            DuplicatesKnown::read(self.store.as_ref(), connection, &ecc_duplicates).await?;
        pass.dry_run_plan.ecc_duplicates = ecc_duplicates.clone();
        // What the read filed away, then what the early pass left.
        let mut batches = FiledBatches::of(read.customers, deferred, run.options.batch_size)?;
        // A batch's links and states are read on a task of their own while the batch before
        // it is planned and carried out: each record is written in its own batch only, so what
        // is read ahead is what the store held when the run started.
        let read_ahead = |batch: Vec<ExtractedCustomer>| {
            let reading = (!batch.is_empty()).then(|| {
                BatchKeys::of(&batch, &whole_run.missing_contacts)
                    .read_ahead(self.store.clone(), connection.clone())
            });
            (batch, reading)
        };
        let second_pass = async {
            let mut upcoming = read_ahead(batches.next_batch()?);
            loop {
                let (batch, Some(reading)) = upcoming else {
                    break;
                };
                // Shared with the audit copies of its skips, made only if they are written.
                let batch = Arc::new(batch);
                let known = reading
                    .done(&run.phases)
                    .await?
                    .known(planning.reviews, &duplicates_known);
                upcoming = read_ahead(batches.next_batch()?);
                self.plan_and_carry_out(run, &planning, &cached, counts, &known, &batch, &mut pass)
                    .await?;
            }
            Ok::<_, SyncError>(())
        };
        let looped = second_pass.await;
        let committed_started = std::time::Instant::now();
        let committed = pass.pending.done(&run.phases).await;
        run.phases.since(Phase::CommitWait, committed_started);
        run.phases.peak_after(Phase::CommitWait);
        looped?;
        committed?;
        if run.options.dry_run {
            for (action, count) in pass.dry_run_plan.counts() {
                add_count(counts, action, count);
            }
            summary.plan = Some(pass.dry_run_plan);
            return Ok(summary);
        }
        let stop = pass.stop;
        let counted = counts
            .lock()
            .map(|counts| counts.clone())
            .unwrap_or_default();
        let ending = run_ending(stop.as_ref(), &counted);
        summary.status = ending.status;
        summary.alert = ending.alert;
        summary.error = ending.error;
        if ending.advance_cursor {
            if let Some(cursor) = &read.cursor_after {
                self.advance_delta_cursor(run, cursor_version_at_start, cursor)
                    .await?;
            }
        }
        Ok(summary)
    }

    /// The field map with its custom fields resolved to the account's keys.
    fn resolve_field_map(&self, cached: &CachedFieldKeys) -> Result<FieldMap, SyncError> {
        self.spec.resolve(&cached.keys).map_err(|unknown| {
            let names: Vec<String> = unknown.iter().map(ToString::to_string).collect();
            SyncError::Setup(names.join("; "))
        })
    }

    /// Dirty records ECC returned are kept out, each with an error in the audit.
    async fn record_rejected(
        &self,
        run: &RunParams<'_>,
        rejected: &[DataProblem],
        counts: &Mutex<ActionCounts>,
    ) -> Result<(), SyncError> {
        let events: Vec<AuditEvent> = rejected
            .iter()
            .map(|problem| rejected_event(&self.config.sync.connection, run.run_id, problem))
            .collect();
        if !run.options.dry_run && !events.is_empty() {
            self.store.append_audit(&events).await?;
        }
        add_count(counts, Action::Error, events.len() as u64);
        Ok(())
    }

    /// The customer records of one batch as the planner takes them.
    fn customer_records<'c>(
        options: &RunOptions,
        batch: &'c [ExtractedCustomer],
    ) -> Vec<CustomerRecord<'c>> {
        batch
            .iter()
            .map(|record| Self::customer_record(options, record))
            .collect()
    }

    /// One customer as the planner takes it.
    fn customer_record<'c>(
        options: &RunOptions,
        record: &'c ExtractedCustomer,
    ) -> CustomerRecord<'c> {
        CustomerRecord {
            customer: &record.customer,
            problems: Vec::new(),
            changed_in_ecc: !matches!(options.mode, RunMode::Full | RunMode::Webhook(_)),
            replay: matches!(options.mode, RunMode::Customers(_)),
            drift: match options.mode {
                RunMode::Full => DriftCheck::AgainstIndex,
                RunMode::Webhook(_) => DriftCheck::AgainstRecord,
                RunMode::Delta | RunMode::Customers(_) => DriftCheck::Off,
            },
        }
    }

    /// Plans one batch with what its records are known by, and carries the plan out (a dry
    /// run keeps it); `pass` carries what the batches before decided.
    #[allow(clippy::too_many_arguments)]
    async fn plan_and_carry_out(
        &self,
        run: &RunParams<'_>,
        planning: &BatchPlanning<'_>,
        cached: &CachedFieldKeys,
        counts: &Mutex<ActionCounts>,
        known: &KnownRecords,
        batch: &Arc<Vec<ExtractedCustomer>>,
        pass: &mut Pass,
    ) -> Result<(), SyncError> {
        Self::matching_if_needed(planning, known, batch, &run.phases).await?;
        let planning_started = std::time::Instant::now();
        let the_plan = self.plan_batch(planning, known, batch, &mut pass.memory)?;
        run.phases.since(Phase::Planning, planning_started);
        pass.planned_entries += the_plan.entries.len() as u64;
        pass.planned_writes += the_plan
            .entries
            .iter()
            .filter(|entry| entry.operation.writes())
            .count() as u64;
        run.progress
            .planned(pass.planned_entries, pass.planned_writes);
        if run.options.dry_run {
            pass.dry_run_plan.entries.extend(the_plan.entries);
            return Ok(());
        }
        let (stopped, carried_out) = self
            .carry_out_plan(
                run,
                planning.field_map,
                cached,
                known,
                batch,
                &the_plan,
                pass.stop.take(),
                &mut pass.pending,
            )
            .await?;
        pass.stop = stopped;
        for (action, count) in carried_out {
            add_count(counts, action, count);
        }
        Ok(())
    }

    /// What matching needs, built before the first batch that has a record to match: the
    /// organizations' matcher (with the run's customers indexed) for a customer, the persons of
    /// each organization for a contact. A run that loaded no index matches nothing.
    async fn matching_if_needed(
        planning: &BatchPlanning<'_>,
        known: &KnownRecords,
        batch: &[ExtractedCustomer],
        phases: &PhaseClock,
    ) -> Result<(), SyncError> {
        let Some(index) = planning.index else {
            return Ok(());
        };
        let customer_to_match = || {
            let now = Utc::now();
            batch.iter().any(|record| {
                may_need_matcher(&Self::customer_record(planning.options, record), known, now)
            })
        };
        if index.matcher().is_none() && customer_to_match() {
            let started = std::time::Instant::now();
            let _heavy = crate::memory::HeavyStep::enter();
            // No organization has rivals among the run's customers when there is none.
            let customers = match (index.has_organizations(), planning.run_customers) {
                (true, Some(customers)) => customers.get().await?,
                (true, None) => {
                    return Err(SyncError::Setup(
                        "a customer to match was planned before the run's customers were read"
                            .to_string(),
                    ))
                }
                (false, _) => planning.no_run_customers,
            };
            index.matcher_for(customers).await?;
            phases.since(Phase::Matcher, started);
            phases.peak_after(Phase::Matcher);
        }
        let contact_to_match = || {
            batch.iter().any(|record| {
                record
                    .customer
                    .contacts
                    .iter()
                    .any(|contact| may_need_persons_of(&record.customer, contact, known))
            })
        };
        if !index.knows_persons_of_organizations() && contact_to_match() {
            let started = std::time::Instant::now();
            let _heavy = crate::memory::HeavyStep::enter();
            index.persons_for_matching().await?;
            phases.since(Phase::Matcher, started);
            phases.peak_after(Phase::Matcher);
        }
        Ok(())
    }

    /// The plan of one batch of the records read, with the index of what Pipedrive holds when
    /// the run loaded it. A field-map fault ends the run here, before the batch's writes.
    fn plan_batch(
        &self,
        planning: &BatchPlanning<'_>,
        known: &KnownRecords,
        batch: &[ExtractedCustomer],
        memory: &mut PlanMemory,
    ) -> Result<Plan, SyncError> {
        let records = Self::customer_records(planning.options, batch);
        let the_plan = plan_batch(
            &PlanInputs {
                records: &records,
                field_map: planning.field_map,
                settings: &planning.settings,
                known,
                pipedrive: planning.index.map(|index| PipedriveView {
                    matcher: index.matcher(),
                    existing: index,
                }),
                ecc_duplicates: planning.ecc_duplicates,
                now: Utc::now(),
                whole_run: Some(WholeRun {
                    customers: planning
                        .run_customers
                        .and_then(LazyRunCustomers::built)
                        .unwrap_or(planning.no_run_customers),
                    missing_contacts: planning.missing_contacts,
                }),
            },
            memory,
        );
        // A mapped value the write types cannot hold is the same fault for every record: one
        // error before any write, never a retry per record.
        check_plan_bodies(&the_plan)?;
        Ok(the_plan)
    }

    /// The custom field keys the map needs, from the store when known, else from Pipedrive.
    async fn field_keys(&self) -> Result<CachedFieldKeys, SyncError> {
        let connection = &self.config.sync.connection;
        let stored = self.store.cursor(connection, FIELD_KEYS_STREAM).await?;
        if let Some(stored) = &stored {
            if let Ok(cached) = serde_json::from_str::<CachedFieldKeys>(&stored.value) {
                if self.spec.resolve(&cached.keys).is_ok() {
                    return Ok(cached);
                }
            }
        }
        let resolver = CustomFieldResolver::new(self.client.clone());
        let mut keys = FieldKeys::default();
        for field in self.spec.required_custom_fields() {
            let key = match resolver.key(field.kind, &field.name).await {
                Ok(key) => key,
                Err(PipedriveError::UnknownField { .. }) => {
                    return Err(SyncError::Setup(format!(
                        "the {} custom field \"{}\" does not exist in Pipedrive: run `ml-connector setup`",
                        field.kind, field.name
                    )))
                }
                Err(error) => return Err(error.into()),
            };
            match field.kind {
                EntityKind::Organization => keys.organization.insert(field.name, key),
                EntityKind::Person => keys.person.insert(field.name, key),
            };
        }
        let status_label_id = if [self.config.sync.on_deleted, self.config.sync.on_blocked]
            .contains(&LifecyclePolicy::Label)
        {
            let fields = resolver.fields(EntityKind::Organization).await?;
            fields
                .iter()
                .filter(|field| field.field_code == "label_ids" || field.field_code == "label")
                .flat_map(|field| field.options.iter())
                .find(|option| option.label == self.config.sync.status_label)
                .map(|option| option.id)
        } else {
            None
        };
        let cached = CachedFieldKeys {
            keys,
            status_label_id,
        };
        let value = serde_json::to_string(&cached).unwrap_or_default();
        self.store
            .advance_cursor(
                connection,
                FIELD_KEYS_STREAM,
                stored.as_ref().map(|cursor| cursor.version),
                &value,
            )
            .await?;
        Ok(cached)
    }

    /// Where a delta run reads from: the stored cursor; `None` for the other modes and for a
    /// delta without one (the first run reads every customer).
    async fn delta_since(&self, mode: &RunMode) -> Result<Option<DeltaCursor>, SyncError> {
        if !matches!(mode, RunMode::Delta) {
            return Ok(None);
        }
        let stored = self
            .store
            .cursor(&self.config.sync.connection, DELTA_STREAM)
            .await?;
        Ok(stored
            .filter(|cursor| !cursor.value.is_empty())
            .map(|cursor| DeltaCursor::decode(&cursor.value))
            .transpose()?)
    }

    /// Reads the customers this run covers (a delta from `since`), with the records due again
    /// (`due`, a delta's), into a spill file; unless the run reads every customer, each batch
    /// is planned once without the Pipedrive index to learn whether the run needs it.
    async fn read_ecc(
        &self,
        first_pass: &FirstPass<'_>,
        since: Option<DeltaCursor>,
        due: Vec<String>,
        progress: &dyn Progress,
        early: Option<&EarlyOffers>,
    ) -> Result<RunRead, SyncError> {
        let mut read = RunRead::new(due)?;
        match &first_pass.options.mode {
            RunMode::Customers(numbers)
            | RunMode::Webhook(PipedriveEvents {
                customers: numbers, ..
            }) => {
                let internal: Vec<String> = numbers
                    .iter()
                    .map(|number| {
                        mlc_canonical::alpha_input(number, 10).unwrap_or_else(|| number.clone())
                    })
                    .collect();
                let mut batch = self.extractor.customers(&internal).await?;
                batch.cursor_after = None;
                self.take_batch(first_pass, batch, &mut read, progress, early)
                    .await?;
            }
            RunMode::Full | RunMode::Delta => {
                let stream = match &since {
                    Some(since) => self.extractor.delta(since).boxed(),
                    None => self.extractor.full().boxed(),
                };
                let mut batches = read::Prefetched::start(stream);
                loop {
                    let waited = std::time::Instant::now();
                    let Some(batch) = batches.next().await else {
                        break;
                    };
                    first_pass.phases.since(Phase::EccWait, waited);
                    self.take_batch(first_pass, batch?, &mut read, progress, early)
                        .await?;
                }
                let due = read.due_not_read();
                if !due.is_empty() {
                    let mut batch = self.extractor.customers(&due).await?;
                    batch.cursor_after = None;
                    self.take_batch(first_pass, batch, &mut read, progress, early)
                        .await?;
                }
            }
        }
        Ok(read)
    }

    /// Notes one batch read from ECC, and plans it once without the index (with what the store
    /// knows of its own records) to learn whether the run needs the index. Its customers go to
    /// the early pass (`early`) when it takes them, else to the spill planned after the read.
    async fn take_batch(
        &self,
        first_pass: &FirstPass<'_>,
        batch: mlc_ecc::ExtractBatch,
        read: &mut RunRead,
        progress: &dyn Progress,
        early: Option<&EarlyOffers>,
    ) -> Result<(), SyncError> {
        let started = std::time::Instant::now();
        read.note(&batch)?;
        if first_pass.plans {
            let known = BatchKeys::of(&batch.records, &MissingContacts::default())
                .known(
                    self.store.as_ref(),
                    &self.config.sync.connection,
                    first_pass.reviews,
                    &DuplicatesKnown::default(),
                )
                .await?;
            read.needs_index |= first_pass.needs_index(&known, &batch.records)?;
        }
        first_pass.phases.since(Phase::FirstPass, started);
        progress.read(read.len() as u64);
        let left = match early {
            Some(early) => early.offer(batch.records).await,
            None => Some(batch.records),
        };
        if let Some(records) = left {
            read.file(&records)?;
        }
        Ok(())
    }

    /// Moves the delta cursor from the version the run started with. When another run moved
    /// it meanwhile, this run's outcomes stay committed and the cursor stays where the other
    /// run put it: the next delta reads on from there, so no change is skipped.
    async fn advance_delta_cursor(
        &self,
        run: &RunParams<'_>,
        expected_version: Option<i64>,
        cursor: &DeltaCursor,
    ) -> Result<(), SyncError> {
        let connection = &self.config.sync.connection;
        let committed = self
            .store
            .commit_outcomes(&OutcomeBatch {
                connection: connection.clone(),
                run_id: run.run_id,
                fencing_token: run.options.fencing_token,
                outcomes: Vec::new(),
                cursor: Some(CursorAdvance {
                    stream: DELTA_STREAM.to_string(),
                    expected_version,
                    value: cursor.encode(),
                }),
            })
            .await;
        match committed {
            Ok(_) => Ok(()),
            Err(StoreError::StaleCursor {
                expected, found, ..
            }) => Err(SyncError::CursorConflict(format!(
                "connection {connection}: another run moved the delta cursor while this one ran \
                 (version {} at the start, {} now); this run's outcomes are kept, the cursor \
                 stays where the other run put it and the next delta run reads on from there",
                expected.map_or("none".to_string(), |version| version.to_string()),
                found.map_or("none".to_string(), |version| version.to_string()),
            ))),
            Err(error) => Err(error.into()),
        }
    }
}

/// What the first pass plans each batch with: no index, no whole-run knowledge, only to learn
/// whether the run needs the index, and to find a field-map fault before any write.
struct FirstPass<'a> {
    options: &'a RunOptions,
    field_map: &'a FieldMap,
    settings: &'a PlanSettings,
    reviews: &'a [ReviewItem],
    phases: &'a PhaseClock,
    /// Whether each batch is planned; not when the run loads the index whatever it reads.
    plans: bool,
}

impl FirstPass<'_> {
    /// Whether some of these records cannot be decided without the Pipedrive index. Without
    /// the run's ECC duplicates an unlinked duplicate counts as needing it (which it does
    /// unless `map-to-one` settles it).
    fn needs_index(
        &self,
        known: &KnownRecords,
        batch: &[ExtractedCustomer],
    ) -> Result<bool, SyncError> {
        let records = SyncEngine::customer_records(self.options, batch);
        let nobody = RunCustomers::default();
        let no_missing_contacts = MissingContacts::default();
        let the_plan = plan_batch(
            &PlanInputs {
                records: &records,
                field_map: self.field_map,
                settings: self.settings,
                known,
                pipedrive: None,
                ecc_duplicates: &[],
                now: Utc::now(),
                whole_run: Some(WholeRun {
                    customers: &nobody,
                    missing_contacts: &no_missing_contacts,
                }),
            },
            &mut PlanMemory::default(),
        );
        check_plan_bodies(&the_plan)?;
        Ok(the_plan.needs_index())
    }
}

/// What an intent remembers to recognise its record in Pipedrive after a crash.
#[derive(Debug, Serialize, Deserialize)]
struct IntentPayload {
    external_id_key: Option<String>,
    external_id: Option<String>,
    pushed_hash: Option<String>,
    content_hash: String,
    customer_number: String,
    #[serde(default)]
    extracted: Value,
}

fn rejected_event(connection: &str, run_id: i64, problem: &DataProblem) -> AuditEvent {
    let now = Utc::now();
    AuditEvent {
        id: 0,
        connection: connection.to_string(),
        run_id,
        kind: EntityKind::Organization,
        ecc_key: problem.customer_number.clone(),
        customer_number: problem.customer_number.clone(),
        read_at: now,
        source: "ecc".into(),
        extracted: json!({ "field": problem.field }),
        extracted_later: None,
        content_hash: String::new(),
        action: Action::Error,
        pipedrive_id: None,
        outcome: "kept out: dirty record in ECC".into(),
        error: Some(format!("{}: {}", problem.field, problem.reason)),
        recorded_at: now,
        full_copy_id: None,
    }
}

fn add_count(counts: &Mutex<ActionCounts>, action: Action, count: u64) {
    if count == 0 {
        return;
    }
    if let Ok(mut counts) = counts.lock() {
        *counts.entry(action).or_default() += count;
    }
}
