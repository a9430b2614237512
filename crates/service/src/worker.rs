//! One worker per connection: at every tick it asks the schedule (from the runs in the store)
//! whether a run is due, or finds one the API asked for; it then takes the connection's lease,
//! checks again under it (another instance may have just run), runs, and releases the lease.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use chrono::{DateTime, Utc};
use mlc_config::Config;
use mlc_engine::{
    LeaseError, NoProgress, PipedriveEvents, RunLease, RunMode, RunOptions, RunSummary, SyncEngine,
};
use mlc_store::{
    ActionCounts, Lease, NewRun, RunFinish, RunQuery, RunStatus, StateStore, StoreError,
};

use mlc_alerts::RunReport;

use crate::schedule::{self, LastRuns, NextRun};
use crate::{ServiceError, ServiceState};

/// Webhook delivery ids are kept this long (Pipedrive retries within minutes).
const WEBHOOK_KEEP_DAYS: i64 = 7;
const WEBHOOK_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

/// How many of a connection's newest runs the schedule looks at to find the last full one.
const RUNS_FOR_SCHEDULE: u32 = 200;

/// One connection of the service: its config, its connected engine, and what the API shows.
pub struct Connection {
    config: Config,
    /// Built on first use and kept, so a poll with nothing to do calls Pipedrive for nothing.
    engine: tokio::sync::Mutex<Option<Arc<SyncEngine>>>,
    /// The agent hub this connection's ECC is reached through, when the service serves it.
    agent_hub: Option<mlc_ecc::agent::hub::AgentHub>,
    /// Where the connection's `[alerts]` go; `None` without a channel.
    alerter: Option<mlc_alerts::Alerter>,
    /// A run the API asked for, waiting for the lease.
    requested: Mutex<Option<RunMode>>,
    /// What webhooks told since the last webhook run, waiting for the lease.
    pipedrive_events: Mutex<PipedriveEvents>,
    wake: tokio::sync::Notify,
    status: Mutex<ConnectionStatus>,
}

/// What this instance last saw of its connection, for `/readyz` and `/api/connections`.
#[derive(Debug, Clone, Default)]
pub struct ConnectionStatus {
    pub last_ecc_contact: Option<DateTime<Utc>>,
    pub last_pipedrive_contact: Option<DateTime<Utc>>,
    /// Why the engine could not be connected, until it is.
    pub connect_error: Option<String>,
    pub engine_connected: bool,
    /// The lease this instance holds while it runs the connection.
    pub held_lease: Option<Lease>,
    pub tokens_used_today: Option<u64>,
    pub tokens_share_today: Option<u64>,
    /// Pipedrive's 429 answers to this connection's company since the engine was connected.
    pub responses_429: Option<u64>,
}

/// The service's connections, and the agent hub's route when one of them reaches ECC through
/// agents (the first such connection is served at `/agent/connect`; further ones keep their own
/// `ecc.agent_listen`).
pub fn connections(
    configs: Vec<Config>,
) -> Result<(Vec<Arc<Connection>>, Option<Router>), ServiceError> {
    let mut router = None;
    let mut connections = Vec::with_capacity(configs.len());
    for config in configs {
        let mut agent_hub = None;
        if config.ecc.transport == mlc_config::EccTransport::Agent && router.is_none() {
            let hub = mlc_ecc::agent::hub::AgentHub::from_config(&config.ecc).map_err(|error| {
                ServiceError::Config(format!("connection {}: {error}", config.sync.connection))
            })?;
            router = Some(hub.router());
            agent_hub = Some(hub);
        }
        let alerter = mlc_alerts::Alerter::from_config(&config.alerts).map_err(|error| {
            ServiceError::Config(format!("connection {}: {error}", config.sync.connection))
        })?;
        connections.push(Arc::new(Connection {
            config,
            engine: tokio::sync::Mutex::new(None),
            agent_hub,
            alerter,
            requested: Mutex::new(None),
            pipedrive_events: Mutex::new(PipedriveEvents::default()),
            wake: tokio::sync::Notify::new(),
            status: Mutex::new(ConnectionStatus::default()),
        }));
    }
    Ok((connections, router))
}

impl Connection {
    pub fn name(&self) -> &str {
        &self.config.sync.connection
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn status(&self) -> ConnectionStatus {
        self.status
            .lock()
            .map(|status| status.clone())
            .unwrap_or_default()
    }

    fn update_status(&self, change: impl FnOnce(&mut ConnectionStatus)) {
        if let Ok(mut status) = self.status.lock() {
            change(&mut status);
        }
    }

    /// Asks for a run now (the API); a full run asked for wins over a delta.
    pub fn request_run(&self, mode: RunMode) {
        if let Ok(mut requested) = self.requested.lock() {
            let keep_full = matches!(*requested, Some(RunMode::Full));
            if !keep_full {
                *requested = Some(mode);
            }
        }
        self.wake.notify_one();
    }

    /// Queues what a webhook told for the next webhook run, and wakes the worker.
    pub fn enqueue_pipedrive_events(&self, events: PipedriveEvents) {
        if let Ok(mut pending) = self.pipedrive_events.lock() {
            pending.absorb(events);
        }
        self.wake.notify_one();
    }

    fn has_pipedrive_events(&self) -> bool {
        self.pipedrive_events
            .lock()
            .map(|pending| !pending.is_empty())
            .unwrap_or(false)
    }

    fn take_pipedrive_events(&self) -> PipedriveEvents {
        self.pipedrive_events
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default()
    }

    /// The Pipedrive user the connector writes as, once connected (to know its own writes
    /// when their webhooks come back).
    pub fn pipedrive_user_id(&self) -> Option<i64> {
        let engine = self.engine.try_lock().ok()?;
        engine
            .as_ref()
            .map(|engine| engine.client().current_user().id)
    }

    fn requested(&self) -> Option<RunMode> {
        self.requested.lock().ok().and_then(|mode| mode.clone())
    }

    fn clear_request(&self) {
        if let Ok(mut requested) = self.requested.lock() {
            *requested = None;
        }
    }

    /// When the schedule runs the connection next, from the runs in the store.
    pub async fn next_run(
        &self,
        store: &dyn StateStore,
        started: DateTime<Utc>,
    ) -> Result<Option<NextRun>, StoreError> {
        let last = self.last_runs(store).await?;
        Ok(schedule::next_run(
            &self.config.sync.schedule,
            self.config.sync.full_reconcile.as_ref(),
            last,
            started,
        ))
    }

    async fn last_runs(&self, store: &dyn StateStore) -> Result<LastRuns, StoreError> {
        let runs = store
            .runs(&RunQuery {
                connection: Some(self.name().to_string()),
                limit: Some(RUNS_FOR_SCHEDULE),
                id: None,
            })
            .await?;
        Ok(LastRuns::from_runs(&runs))
    }

    /// The run due now: one the API asked for, else the schedule's.
    async fn due(&self, state: &ServiceState) -> Result<Option<RunMode>, StoreError> {
        if let Some(requested) = self.requested() {
            return Ok(Some(requested));
        }
        let last = self.last_runs(state.store.as_ref()).await?;
        let scheduled = schedule::due(
            &self.config.sync.schedule,
            self.config.sync.full_reconcile.as_ref(),
            last,
            state.started,
            Utc::now(),
        );
        if scheduled.is_none() && self.has_pipedrive_events() {
            // Taken from the queue once the lease is held.
            return Ok(Some(RunMode::Webhook(PipedriveEvents::default())));
        }
        Ok(scheduled)
    }

    /// The connected engine, connecting it first when needed.
    pub(crate) async fn engine(&self, state: &ServiceState) -> Result<Arc<SyncEngine>, String> {
        let mut engine = self.engine.lock().await;
        if let Some(engine) = engine.as_ref() {
            return Ok(engine.clone());
        }
        let connected = match &self.agent_hub {
            Some(hub) => match mlc_ecc::Extractor::with_agent_hub(&self.config.ecc, hub.clone()) {
                Ok(extractor) => {
                    SyncEngine::with_extractor(&self.config, state.store.clone(), extractor).await
                }
                Err(error) => Err(error.into()),
            },
            None => SyncEngine::connect(&self.config, state.store.clone()).await,
        };
        match connected {
            Ok(connected) => {
                let connected = Arc::new(connected);
                *engine = Some(connected.clone());
                self.update_status(|status| {
                    status.engine_connected = true;
                    status.connect_error = None;
                    status.last_pipedrive_contact = Some(Utc::now());
                });
                Ok(connected)
            }
            Err(error) => {
                let message = error.to_string();
                self.update_status(|status| status.connect_error = Some(message.clone()));
                Err(message)
            }
        }
    }

    /// After the workers were aborted at the drain bound: a run of ours still marked running
    /// ends interrupted, and the lease we held is released.
    pub(crate) async fn after_abort(&self, state: &ServiceState) {
        let held = self.status().held_lease;
        let Some(lease) = held else {
            return;
        };
        let reason = "interrupted: the service shut down before the run's writes finished";
        if let Err(error) = state
            .store
            .interrupt_runs(self.name(), Utc::now(), reason)
            .await
        {
            tracing::warn!(connection = self.name(), %error, "cannot mark the run interrupted");
        }
        if let Err(error) = state.store.release_lease(&lease).await {
            tracing::warn!(connection = self.name(), %error, "cannot release the lease");
        }
        state.metrics.set_lease_holder(self.name(), None);
        self.update_status(|status| status.held_lease = None);
    }
}

/// The worker of one connection, until shutdown.
pub async fn work(state: Arc<ServiceState>, connection: Arc<Connection>) {
    // Connect early so `/readyz` tells at once whether both sides answer; a failure is retried
    // at the first run.
    if let Err(error) = connection.engine(&state).await {
        tracing::warn!(connection = connection.name(), %error, "cannot connect yet");
    }
    let mut last_prune: Option<Instant> = None;
    loop {
        if state.shutdown.is_cancelled() {
            break;
        }
        if last_prune.is_none_or(|at| at.elapsed() >= WEBHOOK_PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            let before = Utc::now() - chrono::Duration::days(WEBHOOK_KEEP_DAYS);
            if let Err(error) = state.store.prune_webhook_events(before).await {
                tracing::warn!(connection = connection.name(), %error, "cannot prune old webhook deliveries");
            }
        }
        if let Err(error) = tick(&state, &connection).await {
            tracing::warn!(connection = connection.name(), %error, "schedule tick failed");
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tokio::time::sleep(state.options.tick) => {}
            _ = connection.wake.notified() => {}
        }
    }
}

/// One look at the schedule; runs the connection when a run is due and the lease is free.
async fn tick(state: &ServiceState, connection: &Connection) -> Result<(), StoreError> {
    if connection.due(state).await?.is_none() {
        return Ok(());
    }
    let lease = match RunLease::acquire(
        state.store.clone(),
        connection.name(),
        &state.options.instance,
        state.options.lease_ttl,
    )
    .await
    {
        Ok(lease) => lease,
        Err(LeaseError::Busy(holder)) => {
            state
                .metrics
                .set_lease_holder(connection.name(), Some(&holder.holder));
            return Ok(());
        }
        Err(LeaseError::Store(error)) => return Err(error),
    };
    // Under the lease, ask again: another instance may have run it a moment ago.
    let Some(mode) = connection.due(state).await? else {
        release(state, connection, lease).await;
        return Ok(());
    };
    let mode = match mode {
        RunMode::Webhook(_) => RunMode::Webhook(connection.take_pipedrive_events()),
        other => {
            connection.clear_request();
            other
        }
    };
    state
        .metrics
        .set_lease_holder(connection.name(), Some(&state.options.instance));
    connection.update_status(|status| status.held_lease = Some(lease.lease().clone()));
    run_once(state, connection, &lease, mode).await?;
    release(state, connection, lease).await;
    Ok(())
}

async fn release(state: &ServiceState, connection: &Connection, lease: RunLease) {
    if let Err(error) = lease.release().await {
        tracing::warn!(connection = connection.name(), %error, "cannot release the lease; it expires by itself");
    }
    state.metrics.set_lease_holder(connection.name(), None);
    connection.update_status(|status| status.held_lease = None);
}

/// One run under the lease; its outcome goes to the metrics and the connection's status.
async fn run_once(
    state: &ServiceState,
    connection: &Connection,
    lease: &RunLease,
    mode: RunMode,
) -> Result<(), StoreError> {
    let name = connection.name();
    let started = Instant::now();
    // A pause (after Pipedrive's 403, or a used budget share) holds even the engine's connect.
    if let Some(pause) = mlc_engine::pause_in_effect(state.store.as_ref(), name, Utc::now()).await?
    {
        mlc_engine::record_paused_run(&state.store, name, &state.options.instance, &pause).await?;
        state.metrics.count_run_status(name, RunStatus::Deferred);
        return Ok(());
    }
    let engine = match connection.engine(state).await {
        Ok(engine) => engine,
        Err(error) => {
            // Recorded as a failed run, so the schedule waits its interval before trying again.
            let run_id = record_failed_run(state, name, &mode, &error).await?;
            state.metrics.count_run_status(name, RunStatus::Failed);
            let report = RunReport {
                connection: name.to_string(),
                run_id: Some(run_id),
                status: RunStatus::Failed,
                alert: None,
                error: Some(format!("cannot connect: {error}")),
                forbidden: false,
                budget_deferred: false,
                failed_in_a_row: 0,
                parked_records: 0,
            };
            alert(state, connection, report).await?;
            return Ok(());
        }
    };
    let mut options = RunOptions::new(mode);
    options.fencing_token = Some(lease.fencing_token());
    options.cancel = state.shutdown.child_token();
    let result = engine.run(&options, &NoProgress).await;
    let secs = started.elapsed().as_secs_f64();
    let snapshot = engine.client().governor().snapshot();
    let mut report = RunReport {
        connection: name.to_string(),
        run_id: None,
        status: RunStatus::Failed,
        alert: None,
        error: None,
        forbidden: snapshot.stopped.is_some(),
        budget_deferred: false,
        failed_in_a_row: 0,
        parked_records: 0,
    };
    match &result {
        Ok(summary) => {
            report.run_id = Some(summary.run_id);
            report.status = summary.status;
            report.alert = summary.alert.clone();
            report.error = summary.error.clone();
            report.budget_deferred =
                summary.status == RunStatus::Deferred && snapshot.stopped.is_none();
            tracing::info!(
                connection = name,
                run_id = summary.run_id,
                status = summary.status.as_str(),
                customers_read = summary.customers_read,
                tokens = summary.tokens_used,
                "run ended"
            );
            state.metrics.observe_run(name, summary, secs);
            note_contacts(connection, summary);
        }
        Err(error) => {
            tracing::error!(connection = name, %error, "run failed");
            state.metrics.count_run_status(name, RunStatus::Failed);
            report.error = Some(error.to_string());
        }
    }
    if let Some(company) = &snapshot.company {
        state
            .metrics
            .observe_governor(company, &snapshot.answers, snapshot.responses_429);
    }
    let label = crate::metrics::ConnectionLabel {
        connection: name.to_string(),
    };
    let share =
        (snapshot.daily_token_limit as f64 * connection.config.pipedrive.budget_share) as u64;
    state
        .metrics
        .tokens_left
        .get_or_create(&label)
        .set(share.saturating_sub(snapshot.tokens_used_today) as i64);
    connection.update_status(|status| {
        status.tokens_used_today = Some(snapshot.tokens_used_today);
        status.tokens_share_today = Some(share);
        status.responses_429 = Some(snapshot.responses_429);
    });
    report.parked_records = update_queue_gauges(state, name).await;
    if report.status != RunStatus::Interrupted {
        alert(state, connection, report).await?;
    }
    Ok(())
}

/// Hands a run's report to the connection's alerter, with how many runs failed in a row.
async fn alert(
    state: &ServiceState,
    connection: &Connection,
    mut report: RunReport,
) -> Result<(), StoreError> {
    let Some(alerter) = &connection.alerter else {
        return Ok(());
    };
    let recent = state
        .store
        .runs(&RunQuery {
            connection: Some(connection.name().to_string()),
            limit: Some(RUNS_FOR_SCHEDULE),
            id: None,
        })
        .await?;
    report.failed_in_a_row = failed_in_a_row(&recent);
    let changes = alerter.after_run(&report).await;
    if !changes.is_empty() {
        tracing::info!(
            connection = connection.name(),
            raised = changes.raised.len(),
            cleared = changes.cleared.len(),
            "alerts sent"
        );
    }
    Ok(())
}

/// Failed runs at the head of `runs` (newest first), paused ones and dry runs passed over.
fn failed_in_a_row(runs: &[mlc_store::RunRecord]) -> u32 {
    runs.iter()
        .filter(|run| run.mode != "paused" && run.mode != "dry-run")
        .take_while(|run| run.status == RunStatus::Failed)
        .count() as u32
}

/// What a run tells of the two sides: a run that read ECC reached it; one that did not fail
/// reached Pipedrive.
fn note_contacts(connection: &Connection, summary: &RunSummary) {
    let now = Utc::now();
    connection.update_status(|status| {
        if summary.ecc_read_secs.is_some() {
            status.last_ecc_contact = Some(now);
        }
        if summary.status != RunStatus::Failed {
            status.last_pipedrive_contact = Some(now);
        }
    });
}

/// Sets the review-queue and parked-record gauges; the number of parked records.
async fn update_queue_gauges(state: &ServiceState, name: &str) -> u64 {
    let label = crate::metrics::ConnectionLabel {
        connection: name.to_string(),
    };
    if let Ok(pending) = state
        .store
        .reviews(name, Some(mlc_store::ReviewStatus::Pending))
        .await
    {
        state
            .metrics
            .review_queue
            .get_or_create(&label)
            .set(pending.len() as i64);
    }
    // A parked record has failed (parking comes with a failure, a success clears both): the
    // failing states hold every parked one, without reading the connection's every state
    // (millions at a large company) after each run.
    let parked = match state.store.failing_record_states(name).await {
        Ok(states) => states.iter().filter(|state| state.parked).count(),
        Err(_) => 0,
    };
    state
        .metrics
        .parked_records
        .get_or_create(&label)
        .set(parked as i64);
    parked as u64
}

async fn record_failed_run(
    state: &ServiceState,
    connection: &str,
    mode: &RunMode,
    error: &str,
) -> Result<i64, StoreError> {
    let run_id = state
        .store
        .start_run(&NewRun {
            connection: connection.to_string(),
            instance: state.options.instance.clone(),
            mode: mode_name(mode).to_string(),
        })
        .await?;
    state
        .store
        .finish_run(
            run_id,
            &RunFinish {
                status: RunStatus::Failed,
                counts: ActionCounts::new(),
                tokens_used: 0,
                alert: None,
                error: Some(format!("cannot connect: {error}")),
            },
        )
        .await?;
    Ok(run_id)
}

pub fn mode_name(mode: &RunMode) -> &'static str {
    match mode {
        RunMode::Delta => "delta",
        RunMode::Full => "full",
        RunMode::Customers(_) => "replay",
        RunMode::Webhook(_) => "webhook",
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mlc_store::{Action, FailureChange, OutcomeBatch, RecordOutcome};

    use crate::test_support::{self, CONNECTION};

    /// A failed write of organization `ecc_key`.
    fn outcome(run_id: i64, ecc_key: &str, failure: FailureChange) -> RecordOutcome {
        let mut failed = test_support::organization_outcome(
            run_id,
            ecc_key,
            Action::Error,
            "500 from Pipedrive",
        );
        failed.failure = failure;
        failed.audit.error = Some("500 from Pipedrive".to_string());
        failed
    }

    /// The parked-records gauge counts the parked states alone: failing but not parked, and
    /// parked once but written successfully since, do not count.
    #[tokio::test]
    async fn the_parked_gauge_counts_the_parked_records() {
        let state = test_support::state().await;
        let store = state.store.as_ref();
        let run_id = test_support::start_run(store, "full").await;
        let failed = |park: bool| FailureChange::Increment {
            retry_after: Utc::now(),
            park,
            error: "500 from Pipedrive".to_string(),
        };
        let mut outcomes = vec![
            outcome(run_id, "0000000001", failed(true)),
            outcome(run_id, "0000000002", failed(true)),
            outcome(run_id, "0000000003", failed(false)),
            outcome(run_id, "0000000004", failed(true)),
        ];
        let batch = |outcomes: Vec<RecordOutcome>| OutcomeBatch {
            connection: CONNECTION.to_string(),
            run_id,
            fencing_token: None,
            outcomes,
            cursor: None,
        };
        store
            .commit_outcomes(&batch(outcomes.clone()))
            .await
            .unwrap();
        assert_eq!(super::update_queue_gauges(&state, CONNECTION).await, 3);

        outcomes.truncate(0);
        outcomes.push(outcome(run_id, "0000000004", FailureChange::Reset));
        store.commit_outcomes(&batch(outcomes)).await.unwrap();
        assert_eq!(super::update_queue_gauges(&state, CONNECTION).await, 2);
        let label = crate::metrics::ConnectionLabel {
            connection: CONNECTION.to_string(),
        };
        assert_eq!(state.metrics.parked_records.get_or_create(&label).get(), 2);
    }
}
