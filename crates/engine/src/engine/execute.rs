//! Carrying a batch's plan out: each entry's call to Pipedrive (organizations first, then their
//! persons, `concurrency` at a time), its audit event, and the batch's outcomes committed
//! together once its calls are done, in the background while the run goes on
//! ([`PendingCommit`]).

use super::*;

/// The commits of carried-out outcomes still running, in order, beside the next batch's store
/// reads and planning. Nothing is sent to Pipedrive and no other store write is made for a
/// batch before every earlier commit is done, so what the store holds at each call is what it
/// held when the commits ran in line. A batch reads only its own records, which no earlier
/// batch writes, so reading beside a commit reads what the run started from.
pub(super) struct PendingCommit {
    /// The last commit started; it waits for the one before it. Its result is the time the
    /// commits took.
    commit: Option<CommitTask>,
    /// One permit for each commit that may be waiting or running: a run whose batches are all
    /// skips (which wait for no commit) would otherwise plan ahead of its commits without
    /// bound, each waiting batch's outcomes held in memory.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Batches whose commits may wait or run at once (see `PendingCommit::slots`).
const COMMITS_AT_ONCE: usize = 2;

impl Default for PendingCommit {
    fn default() -> Self {
        PendingCommit {
            commit: None,
            slots: Arc::new(tokio::sync::Semaphore::new(COMMITS_AT_ONCE)),
        }
    }
}

type CommitTask = tokio::task::JoinHandle<Result<std::time::Duration, SyncError>>;

async fn finished(commit: CommitTask) -> Result<std::time::Duration, SyncError> {
    commit.await.map_err(|error| {
        SyncError::Setup(format!("committing a batch's outcomes stopped: {error}"))
    })?
}

impl PendingCommit {
    /// Waits until every commit started is done (their time goes to `phases`); the first
    /// error among them.
    pub(super) async fn done(&mut self, phases: &PhaseClock) -> Result<(), SyncError> {
        if let Some(commit) = self.commit.take() {
            phases.add(Phase::Commits, finished(commit).await?);
        }
        Ok(())
    }

    /// Commits `batch` after the commits started before it, once fewer than
    /// [`COMMITS_AT_ONCE`] are waiting or running.
    async fn then_commit(&mut self, store: Arc<dyn StateStore>, batch: OutcomeBatch) {
        let slot = Arc::clone(&self.slots).acquire_owned().await;
        let before = self.commit.take();
        self.commit = Some(tokio::spawn(async move {
            // Given back when this commit is done, whatever its result.
            let _slot = slot;
            let mut spent = match before {
                Some(before) => finished(before).await?,
                None => std::time::Duration::ZERO,
            };
            let started = std::time::Instant::now();
            commit_outcomes(store.as_ref(), batch).await?;
            spent += started.elapsed();
            Ok(spent)
        }));
    }
}

/// Commits outcomes in one transaction: a store transaction per record would bound the run by
/// the disk's flushes, not by ECC. Crash safety holds as before: a create's intent is committed
/// before its call, so a create whose outcome a crash lost is found by its external id at the
/// next run; any other outcome lost is planned again. When one outcome's link conflicts, the
/// outcomes are committed one by one, each conflict recorded.
pub(super) async fn commit_outcomes(
    store: &dyn StateStore,
    batch: OutcomeBatch,
) -> Result<(), SyncError> {
    if batch.outcomes.is_empty() {
        return Ok(());
    }
    match store.commit_outcomes(&batch).await {
        Ok(()) => Ok(()),
        Err(StoreError::LinkConflict { .. }) => {
            let OutcomeBatch {
                connection,
                run_id,
                fencing_token,
                outcomes,
                cursor,
            } = batch;
            for outcome in outcomes {
                let one = OutcomeBatch {
                    connection: connection.clone(),
                    run_id,
                    fencing_token,
                    outcomes: vec![outcome],
                    cursor: cursor.clone(),
                };
                commit_one(store, one).await?;
            }
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Commits one outcome; a link conflict keeps the existing link and says so in the audit.
async fn commit_one(store: &dyn StateStore, batch: OutcomeBatch) -> Result<(), SyncError> {
    match store.commit_outcomes(&batch).await {
        Ok(()) => Ok(()),
        Err(StoreError::LinkConflict { linked_to, .. }) => {
            // Two ECC keys for one organization (a mapped ECC duplicate, or a link made by
            // hand): keep the existing link and record the pairing in the audit.
            let mut batch = batch;
            for outcome in &mut batch.outcomes {
                outcome.link = LinkChange::Keep;
                outcome.audit.outcome = format!(
                    "{}; the organization stays linked to ECC key {linked_to}",
                    outcome.audit.outcome
                );
            }
            store.commit_outcomes(&batch).await?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

impl SyncEngine {
    /// Carries one batch's plan out, organizations first, then their persons, `concurrency` at
    /// a time; returns why the run stopped (now or in an earlier batch: `stop`), if it did,
    /// and the actions recorded.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn carry_out_plan(
        &self,
        run: &RunParams<'_>,
        field_map: &FieldMap,
        cached: &CachedFieldKeys,
        known: &KnownRecords,
        batch: &Arc<Vec<ExtractedCustomer>>,
        the_plan: &Plan,
        stop: Option<RunStop>,
        pending: &mut PendingCommit,
    ) -> Result<(Option<RunStop>, ActionCounts), SyncError> {
        let reads = read_contexts(batch);
        let context = RunContext {
            run_id: run.run_id,
            options: run.options,
            field_map,
            status_label_id: cached.status_label_id,
            known,
            batch,
            reads: &reads,
            counts: Mutex::new(ActionCounts::new()),
            stop: Mutex::new(stop),
            carried_out: Mutex::new(Vec::new()),
            prepared: Mutex::new(HashMap::new()),
            progress: run.progress,
            tokens_before: run.tokens_before,
            field_names: cached
                .keys
                .organization
                .iter()
                .chain(cached.keys.person.iter())
                .map(|(name, key)| (key.clone(), name.clone()))
                .collect(),
        };
        let (organizations, persons): (Vec<&PlanEntry>, Vec<&PlanEntry>) = the_plan
            .entries
            .iter()
            .partition(|entry| entry.kind == EntityKind::Organization);
        let created: Mutex<HashMap<String, i64>> = Mutex::new(HashMap::new());
        let concurrency = run.options.concurrency.max(1);
        for entries in [organizations, persons] {
            let only_notes = entries.iter().all(|entry| {
                matches!(
                    entry.operation,
                    Operation::Skip
                        | Operation::Error
                        | Operation::Deferred
                        | Operation::AwaitReview
                )
            });
            if !only_notes {
                let waited = std::time::Instant::now();
                pending.done(&run.phases).await?;
                run.phases.since(Phase::CommitWait, waited);
            }
            // The group's creates announce themselves in one transaction before any is sent.
            self.prepare_creates(&context, &entries, &created).await?;
            // A plain loop over a `FuturesUnordered`, not `stream::map(closure)`: rustc cannot
            // prove the closure's future `Send` (rust-lang/rust#96865), and the service runs
            // the engine on a spawned task.
            let started = std::time::Instant::now();
            let mut entries = entries.into_iter();
            let mut in_flight = futures::stream::FuturesUnordered::new();
            loop {
                while in_flight.len() < concurrency {
                    let Some(entry) = entries.next() else { break };
                    in_flight.push(self.execute(&context, entry, &created));
                }
                match in_flight.next().await {
                    Some(Ok(())) => {}
                    Some(Err(error)) => {
                        // What was carried out before the error is still recorded; the error
                        // is what the run reports.
                        drop(in_flight);
                        if let Err(commit_error) = pending.done(&run.phases).await {
                            tracing::error!(%commit_error, "cannot commit a batch's outcomes");
                        }
                        let batch = self.carried_out_batch(&context);
                        if let Err(commit_error) = commit_outcomes(self.store.as_ref(), batch).await
                        {
                            tracing::error!(%commit_error, "cannot commit a batch's outcomes");
                        }
                        return Err(error);
                    }
                    None => break,
                }
            }
            self.discard_unsent(&context).await?;
            run.phases.since(Phase::CarryOut, started);
            let waited = std::time::Instant::now();
            pending
                .then_commit(self.store.clone(), self.carried_out_batch(&context))
                .await;
            run.phases.since(Phase::CommitWait, waited);
        }
        let stop = context.stop.into_inner().unwrap_or(None);
        let counts = context.counts.into_inner().unwrap_or_default();
        Ok((stop, counts))
    }

    /// Carries out one plan entry and files its outcome for the batch's commit. Only store
    /// errors end the run; a Pipedrive error is the record's outcome, or stops the remaining
    /// writes.
    async fn execute(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        created: &Mutex<HashMap<String, i64>>,
    ) -> Result<(), SyncError> {
        let read = read_of(context, entry);
        if context.options.cancel.is_cancelled() {
            // Shutting down: this entry is not started; the next run finds it again.
            if let Ok(mut current) = context.stop.lock() {
                current.get_or_insert(RunStop::Interrupted(SHUTDOWN_REASON.to_string()));
            }
            return Ok(());
        }
        let stopped = context.stop.lock().map(|stop| stop.clone()).unwrap_or(None);
        let outcome = if held_back(stopped.as_ref(), entry.operation.writes()) {
            let reason = stopped.as_ref().map(RunStop::reason).unwrap_or_default();
            note(
                entry.kind,
                &entry.ecc_key,
                self.audit(
                    context,
                    entry,
                    &read,
                    Action::Deferred,
                    None,
                    format!("not sent: {reason}"),
                    None,
                ),
            )
        } else {
            self.carry_out(context, entry, &read, created).await?
        };
        let action = outcome.audit.action;
        let pipedrive_id = outcome.audit.pipedrive_id;
        if let Ok(mut carried_out) = context.carried_out.lock() {
            carried_out.push(outcome);
        }
        if entry.kind == EntityKind::Organization {
            if let Some(id) = pipedrive_id {
                if let Ok(mut created) = created.lock() {
                    created.insert(entry.customer_number.clone(), id);
                }
            }
        }
        if let Ok(mut counts) = context.counts.lock() {
            *counts.entry(action).or_default() += 1;
        }
        let tokens = self.client.governor().tokens_charged() - context.tokens_before;
        context.progress.handled(action, tokens);
        Ok(())
    }

    /// The outcomes carried out since the last commit, to commit.
    fn carried_out_batch(&self, context: &RunContext<'_>) -> OutcomeBatch {
        let outcomes = context
            .carried_out
            .lock()
            .map(|mut carried_out| std::mem::take(&mut *carried_out))
            .unwrap_or_default();
        OutcomeBatch {
            connection: self.config.sync.connection.clone(),
            run_id: context.run_id,
            fencing_token: context.options.fencing_token,
            outcomes,
            cursor: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn audit(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        action: Action,
        pipedrive_id: Option<i64>,
        outcome: String,
        error: Option<String>,
    ) -> AuditEvent {
        audit_event(
            &self.config.sync.connection,
            context.run_id,
            entry,
            read,
            action,
            pipedrive_id,
            outcome,
            error,
        )
    }

    /// The Pipedrive side of one entry, and the outcome to commit.
    async fn carry_out(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        created: &Mutex<HashMap<String, i64>>,
    ) -> Result<RecordOutcome, SyncError> {
        let state = context.state(entry.kind, &entry.ecc_key);
        let linked_id = match &entry.operation {
            Operation::Update { id, .. }
            | Operation::Label { id, .. }
            | Operation::Link { id, .. }
            | Operation::Delete { id } => Some(*id),
            _ => None,
        };
        let result: Result<RecordOutcome, PipedriveError> = match &entry.operation {
            Operation::Skip | Operation::Error | Operation::Deferred | Operation::AwaitReview => {
                let error = (entry.action() == Action::Error).then(|| entry.reason.clone());
                let outcome = if error.is_some() {
                    "not written".to_string()
                } else {
                    format!("no call: {}", entry.reason)
                };
                let mut noted = note(
                    entry.kind,
                    &entry.ecc_key,
                    self.audit(
                        context,
                        entry,
                        read,
                        entry.action(),
                        linked_id,
                        outcome,
                        error,
                    ),
                );
                noted.pipedrive_verified = entry.pipedrive_verified;
                Ok(noted)
            }
            Operation::Review { id, score } => {
                let review_id = self
                    .store
                    .enqueue_review(&NewReview {
                        connection: self.config.sync.connection.clone(),
                        kind: entry.kind,
                        ecc_key: entry.ecc_key.clone(),
                        pipedrive_id: *id,
                        score: *score,
                        evidence: entry.evidence.clone().unwrap_or(Value::Null),
                    })
                    .await?;
                Ok(note(
                    entry.kind,
                    &entry.ecc_key,
                    self.audit(
                        context,
                        entry,
                        read,
                        Action::Review,
                        Some(*id),
                        format!(
                            "queued for review {review_id}: {} {id} (score {score:.3}); not created",
                            entry.kind
                        ),
                        None,
                    ),
                ))
            }
            Operation::Create { body, organization } => {
                self.create(context, entry, read, body, organization.as_ref(), created)
                    .await?
            }
            Operation::Update {
                id,
                changes,
                diffed,
            } if entry.drift => {
                let today = self.reasserted_today(entry).await?;
                match self
                    .settle_drift(context, entry, read, *id, changes, *diffed, &today)
                    .await
                {
                    Ok(settled) => {
                        if let Some(flagged) = settled.flagged_too {
                            self.store.append_audit(&[flagged]).await?;
                        }
                        Ok(settled.outcome)
                    }
                    Err(error) => Err(error),
                }
            }
            Operation::Update {
                id,
                changes,
                diffed,
            } => {
                self.update(context, entry, read, *id, changes, *diffed, Action::Update)
                    .await
            }
            // The audit has always recorded a status label change as the update it is.
            Operation::Label { id, changes } => {
                self.update(context, entry, read, *id, changes, true, Action::Update)
                    .await
            }
            Operation::Link {
                id,
                changes,
                diffed,
            } => {
                self.update(context, entry, read, *id, changes, *diffed, Action::Link)
                    .await
            }
            Operation::Delete { id } => {
                let deleted = match entry.kind {
                    EntityKind::Organization => self.client.delete_organization(*id).await,
                    EntityKind::Person => self.client.delete_person(*id).await,
                };
                deleted.map(|_| {
                    let outcome = format!("deleted {} {id} ({})", entry.kind, entry.reason);
                    self.deleted(context, entry, read, *id, outcome)
                })
            }
        };
        match (result, &entry.operation, linked_id) {
            (Ok(outcome), _, _) => Ok(outcome),
            // Deleting what is gone already is done: the link goes, nothing loops.
            (Err(PipedriveError::NotFound { .. }), Operation::Delete { .. }, Some(id)) => {
                let outcome = format!(
                    "{} {id} was deleted in Pipedrive already (404): link removed ({})",
                    entry.kind, entry.reason
                );
                Ok(self.deleted(context, entry, read, id, outcome))
            }
            (Err(PipedriveError::NotFound { .. }), _, Some(id)) => {
                Ok(self.deleted_in_pipedrive(context, entry, read, id))
            }
            (Err(error), _, _) => Ok(self.failed(context, entry, read, state, linked_id, error)),
        }
    }

    async fn create(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        body: &MappedRecord,
        organization: Option<&OrganizationRef>,
        created: &Mutex<HashMap<String, i64>>,
    ) -> Result<Result<RecordOutcome, PipedriveError>, StoreError> {
        let prepared = context
            .prepared
            .lock()
            .ok()
            .and_then(|mut prepared| prepared.remove(&(entry.kind, entry.ecc_key.clone())));
        let (create, intent) = match prepared {
            Some(prepared) => prepared,
            // Not announced with its group: its organization was not created in this run
            // (noted as an error here), or the group was announced before the run stopped.
            None => match self.prepare_create(context, entry, read, body, organization, created) {
                Ok((create, intent)) => (create, self.store.record_intent(&intent).await?),
                Err(not_created) => return Ok(Ok(*not_created)),
            },
        };
        let CreateFields {
            external_id_key,
            external_id,
            org_id,
            pushed_hash,
        } = create;
        let external_id_key = external_id_key.as_deref();
        let external = external_id_key.zip(external_id.as_deref());
        let sent: Result<i64, PipedriveError> = match entry.kind {
            EntityKind::Organization => match organization_write(body.create_body()) {
                Ok(write) => self.send_create::<Organization>(&write, external).await,
                Err(error) => Err(error),
            },
            EntityKind::Person => match person_write(body.create_body()) {
                Ok(mut write) => {
                    write.org_id = org_id;
                    self.send_create::<Person>(&write, external).await
                }
                Err(error) => Err(error),
            },
        };
        match sent {
            Ok(id) => Ok(Ok(RecordOutcome {
                kind: entry.kind,
                ecc_key: entry.ecc_key.clone(),
                pushed_hash,
                pipedrive_verified: None,
                link: LinkChange::Set(id),
                failure: FailureChange::Reset,
                closes_intent: Some(intent),
                audit: self.audit(
                    context,
                    entry,
                    read,
                    Action::Create,
                    Some(id),
                    format!("created {} {id} ({})", entry.kind, entry.reason),
                    None,
                ),
            })),
            Err(error @ PipedriveError::OutcomeUnknown { .. }) => {
                // The intent stays open: the next run finds out whether it exists.
                Ok(Err(error))
            }
            Err(error) => {
                // Nothing was created: close the intent with the failure.
                let state = context.state(entry.kind, &entry.ecc_key);
                let mut outcome = self.failed(context, entry, read, state, None, error);
                outcome.closes_intent = Some(intent);
                Ok(Ok(outcome))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        id: i64,
        changes: &MappedRecord,
        diffed: bool,
        action: Action,
    ) -> Result<RecordOutcome, PipedriveError> {
        let changes = if diffed {
            changes.clone()
        } else {
            let mut managed_labels = context.field_map.managed_label_ids().to_vec();
            managed_labels.extend(context.status_label_id);
            match entry.kind {
                EntityKind::Organization => {
                    let current = self.client.get_organization(id).await?;
                    if current.is_deleted {
                        return Err(in_the_trash(entry.kind, id));
                    }
                    diff(changes, &existing_organization(&current), &managed_labels)
                }
                EntityKind::Person => {
                    let current = self.client.get_person(id).await?;
                    if current.is_deleted {
                        return Err(in_the_trash(entry.kind, id));
                    }
                    diff(changes, &existing_person(&current), &managed_labels)
                }
            }
        };
        let link = if action == Action::Link {
            LinkChange::Set(id)
        } else {
            LinkChange::Keep
        };
        let mut result_action = action;
        let outcome = if changes.is_empty() {
            if action == Action::Update {
                result_action = Action::Skip;
            }
            format!(
                "{} {id} already holds the mapped values: no call",
                entry.kind
            )
        } else {
            let fields: Vec<&str> = changes
                .owned_fields()
                .map(|field| {
                    field
                        .strip_prefix(mlc_sync::existing::CUSTOM_FIELD_PREFIX)
                        .and_then(|key| context.field_names.get(key))
                        .map_or(field, String::as_str)
                })
                .collect();
            let fields = fields.join(", ");
            match entry.kind {
                // A PATCH Pipedrive answered from the trash (it may take one there) is a record
                // gone like a 404.
                EntityKind::Organization => {
                    let write = organization_write(changes.patch_body())?;
                    if self
                        .client
                        .update_organization(id, &write)
                        .await?
                        .is_deleted
                    {
                        return Err(in_the_trash(entry.kind, id));
                    }
                }
                EntityKind::Person => {
                    let write = person_write(changes.patch_body())?;
                    if self.client.update_person(id, &write).await?.is_deleted {
                        return Err(in_the_trash(entry.kind, id));
                    }
                }
            }
            format!("updated {} {id}: {fields}", entry.kind)
        };
        let outcome = match action {
            Action::Link => format!(
                "linked to {} {id} ({}); {outcome}",
                entry.kind, entry.reason
            ),
            _ => outcome,
        };
        Ok(RecordOutcome {
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            pushed_hash: entry.pushed_hash.clone(),
            pipedrive_verified: None,
            link,
            failure: FailureChange::Reset,
            closes_intent: None,
            audit: self.audit(context, entry, read, result_action, Some(id), outcome, None),
        })
    }

    /// Records the intents of a group's creates in one transaction, before any is sent, and
    /// files them in `context.prepared`: a store flush for the group, not one a create. Nothing
    /// is announced once the run stops writing (`held_back`) or shuts down.
    async fn prepare_creates(
        &self,
        context: &RunContext<'_>,
        entries: &[&PlanEntry],
        created: &Mutex<HashMap<String, i64>>,
    ) -> Result<(), SyncError> {
        let stopped = context.stop.lock().map(|stop| stop.clone()).unwrap_or(None);
        if held_back(stopped.as_ref(), true) || context.options.cancel.is_cancelled() {
            return Ok(());
        }
        let mut creates = Vec::new();
        let mut intents = Vec::new();
        for entry in entries {
            let Operation::Create { body, organization } = &entry.operation else {
                continue;
            };
            let read = read_of(context, entry);
            // One whose organization was not created is noted as such when carried out.
            if let Ok((create, intent)) =
                self.prepare_create(context, entry, &read, body, organization.as_ref(), created)
            {
                creates.push(create);
                intents.push(intent);
            }
        }
        let ids = self.store.record_intents(&intents).await?;
        if let Ok(mut prepared) = context.prepared.lock() {
            for ((create, intent), id) in creates.into_iter().zip(intents).zip(ids) {
                prepared.insert((intent.kind, intent.ecc_key), (create, id));
            }
        }
        Ok(())
    }

    /// Deletes the intents of creates the group announced and never sent (the run stopped or
    /// is shutting down), so the next run does not look them up.
    async fn discard_unsent(&self, context: &RunContext<'_>) -> Result<(), SyncError> {
        let unsent: Vec<i64> = context
            .prepared
            .lock()
            .map(|mut prepared| prepared.drain().map(|(_, (_, id))| id).collect())
            .unwrap_or_default();
        self.store
            .discard_intents(&self.config.sync.connection, &unsent)
            .await?;
        Ok(())
    }

    /// What a create sends besides its body, and the intent that announces it; the error note
    /// when its organization, to be created in this run, was not.
    fn prepare_create(
        &self,
        context: &RunContext<'_>,
        entry: &PlanEntry,
        read: &ReadContext,
        body: &MappedRecord,
        organization: Option<&OrganizationRef>,
        created: &Mutex<HashMap<String, i64>>,
    ) -> Result<(CreateFields, NewIntent), Box<RecordOutcome>> {
        let external_id_key = match entry.kind {
            EntityKind::Organization => context.field_map.customer_number_key(),
            EntityKind::Person => context.field_map.contact_number_key(),
        };
        let external_id = external_id_key.and_then(|key| custom_value(body, key));
        let org_id = match organization {
            None => None,
            Some(OrganizationRef::Existing { id }) => Some(*id),
            Some(OrganizationRef::CreatedInThisRun { customer_number }) => {
                let id = created
                    .lock()
                    .ok()
                    .and_then(|created| created.get(customer_number).copied());
                match id {
                    Some(id) => Some(id),
                    None => {
                        return Err(Box::new(note(
                            entry.kind,
                            &entry.ecc_key,
                            self.audit(
                                context,
                                entry,
                                read,
                                Action::Error,
                                None,
                                "not created".into(),
                                Some(format!(
                                    "the organization of customer {} was not created in this run",
                                    mlc_canonical::alpha_output(customer_number)
                                )),
                            ),
                        )))
                    }
                }
            }
        };
        // A person created under an organization of this run was planned before its org_id was
        // known; its pushed hash is the planner's formula with the org_id now set, so the next
        // run sees it unchanged.
        let pushed_hash = match (&entry.pushed_hash, entry.kind, org_id) {
            (None, EntityKind::Person, Some(org_id)) => {
                let mut sent_body = body.clone();
                sent_body.set("org_id", json!(org_id));
                Some(sent_body.content_hash().to_string())
            }
            _ => entry.pushed_hash.clone(),
        };
        let intent = NewIntent {
            connection: self.config.sync.connection.clone(),
            run_id: context.run_id,
            kind: entry.kind,
            ecc_key: entry.ecc_key.clone(),
            operation: "create".into(),
            fencing_token: context.options.fencing_token,
            payload: serde_json::to_value(IntentPayload {
                external_id_key: external_id_key.map(str::to_string),
                external_id: external_id.clone(),
                pushed_hash: pushed_hash.clone(),
                content_hash: entry.content_hash.clone(),
                customer_number: entry.customer_number.clone(),
                extracted: read.extracted.clone(),
            })
            .unwrap_or(Value::Null),
        };
        let create = CreateFields {
            external_id_key: external_id_key.map(str::to_string),
            external_id,
            org_id,
            pushed_hash,
        };
        Ok((create, intent))
    }

    /// Creates one record: idempotently (looked up by its external id after an unknown outcome)
    /// when the map writes one, plainly otherwise. Returns the new Pipedrive id.
    async fn send_create<E: Entity>(
        &self,
        write: &E::Write,
        external: Option<(&str, &str)>,
    ) -> Result<i64, PipedriveError> {
        let created: E = match external {
            Some((key, value)) => self.client.create_idempotent(write, key, value).await?,
            None => self.client.create(write).await?,
        };
        Ok(created.id())
    }
}

/// What a create sends besides its body, worked out when its intent is recorded.
pub(super) struct CreateFields {
    external_id_key: Option<String>,
    external_id: Option<String>,
    org_id: Option<i64>,
    pushed_hash: Option<String>,
}

/// What an entry's record was read as: its customer, or the contact for a person (none for a
/// contact deleted in ECC), copied for the entry alone. A skip's copy is left to be made if the
/// store writes its event whole, which it seldom does (a skip points at the record's last full
/// copy): making them was most of what a full run with nothing to write spent on its audit.
fn read_of(context: &RunContext<'_>, entry: &PlanEntry) -> ReadContext {
    let Some(&position) = context.reads.get(entry.customer_number.as_str()) else {
        return ReadContext {
            source: "unknown".into(),
            read_at: Utc::now(),
            extracted: Value::Null,
            later: None,
        };
    };
    let record = &context.batch[position];
    let contact = match entry.kind {
        EntityKind::Organization => None,
        EntityKind::Person => Some(
            record
                .customer
                .contacts
                .iter()
                .position(|contact| contact.contact_number == entry.ecc_key),
        ),
    };
    let (extracted, later) = if entry.operation == Operation::Skip && entry.action() == Action::Skip
    {
        let batch = Arc::clone(context.batch);
        let later = move || extracted_of(&batch[position], contact);
        (Value::Null, Some(ExtractedLater::new(later)))
    } else {
        (extracted_of(record, contact), None)
    };
    ReadContext {
        source: record.source.clone(),
        read_at: record.read_at,
        extracted,
        later,
    }
}

/// What was read of `record` as JSON: the customer, or (`Some`) the contact at that place among
/// its contacts (null for a contact it no longer has).
fn extracted_of(record: &ExtractedCustomer, contact: Option<Option<usize>>) -> Value {
    let copy = match contact {
        None => serde_json::to_value(&record.customer),
        Some(place) => place
            .and_then(|place| record.customer.contacts.get(place))
            .map_or(Ok(Value::Null), serde_json::to_value),
    };
    copy.unwrap_or(Value::Null)
}

/// Where each customer of a batch is among them, by number, for their entries' audit events.
fn read_contexts(records: &[ExtractedCustomer]) -> HashMap<&str, usize> {
    records
        .iter()
        .enumerate()
        .map(|(position, record)| (record.customer.customer_number.as_str(), position))
        .collect()
}
