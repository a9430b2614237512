//! The store's test suite, written once and run against SQLite and PostgreSQL
//! (`store_test_suite!` at the bottom makes one test per backend of every function listed).

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use mlc_store::{
    Action, ActionCounts, AuditEvent, AuditQuery, CursorAdvance, EntityKind, FailureChange,
    LinkChange, NewIntent, NewRun, OutcomeBatch, RecordOutcome, RunFinish, RunQuery, RunStatus,
    SecretKey, StateStore, StoreError, TokenCharge,
};
use support::{at, Backend, TestStore};

const CONNECTION: &str = "prod";

async fn start_run(store: &dyn StateStore, connection: &str) -> i64 {
    store
        .start_run(&NewRun {
            connection: connection.to_string(),
            instance: mlc_store::instance_name(),
            mode: "delta".to_string(),
        })
        .await
        .expect("start run")
}

fn audit_event(run_id: i64, kind: EntityKind, ecc_key: &str, action: Action) -> AuditEvent {
    AuditEvent {
        id: 0,
        connection: CONNECTION.to_string(),
        run_id,
        kind,
        ecc_key: ecc_key.to_string(),
        customer_number: ecc_key.to_string(),
        read_at: at(0),
        source: "soap-rfc:KNA1".to_string(),
        extracted: serde_json::json!({ "NAME1": format!("Customer {ecc_key}") }),
        extracted_later: None,
        content_hash: format!("hash-{ecc_key}"),
        action,
        pipedrive_id: None,
        outcome: "201 created".to_string(),
        error: None,
        recorded_at: at(1),
        full_copy_id: None,
    }
}

fn outcome(run_id: i64, ecc_key: &str, link: LinkChange) -> RecordOutcome {
    RecordOutcome {
        kind: EntityKind::Organization,
        ecc_key: ecc_key.to_string(),
        pushed_hash: Some(format!("hash-{ecc_key}")),
        pipedrive_verified: None,
        link,
        failure: FailureChange::Reset,
        closes_intent: None,
        audit: audit_event(run_id, EntityKind::Organization, ecc_key, Action::Create),
    }
}

fn batch(run_id: i64, outcomes: Vec<RecordOutcome>) -> OutcomeBatch {
    OutcomeBatch {
        connection: CONNECTION.to_string(),
        run_id,
        fencing_token: None,
        outcomes,
        cursor: None,
    }
}

async fn audit_count(store: &dyn StateStore) -> usize {
    store
        .audit(&AuditQuery::default())
        .await
        .expect("audit query")
        .len()
}

// ── links ──

async fn links_are_unique_both_ways(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000001000", LinkChange::Set(100))],
        ))
        .await
        .expect("first link");
    let link = store
        .link(CONNECTION, EntityKind::Organization, "0000001000")
        .await
        .unwrap()
        .expect("link by ECC key");
    assert_eq!(link.pipedrive_id, 100);
    let by_id = store
        .link_by_pipedrive_id(CONNECTION, EntityKind::Organization, 100)
        .await
        .unwrap()
        .expect("link by Pipedrive id");
    assert_eq!(by_id.ecc_key, "0000001000");

    // Another ECC key may not take Pipedrive id 100, and the refused batch writes nothing.
    let events_before = audit_count(store).await;
    let refused = store
        .commit_outcomes(&batch(
            run,
            vec![
                outcome(run, "0000002000", LinkChange::Set(200)),
                outcome(run, "0000003000", LinkChange::Set(100)),
            ],
        ))
        .await
        .unwrap_err();
    match refused {
        StoreError::LinkConflict {
            pipedrive_id,
            linked_to,
            kind,
            ..
        } => {
            assert_eq!((pipedrive_id, linked_to.as_str()), (100, "0000001000"));
            assert_eq!(kind, EntityKind::Organization);
        }
        other => panic!("expected a link conflict, got {other:?}"),
    }
    assert_eq!(audit_count(store).await, events_before);
    for key in ["0000002000", "0000003000"] {
        assert!(store
            .link(CONNECTION, EntityKind::Organization, key)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .record_state(CONNECTION, EntityKind::Organization, key)
            .await
            .unwrap()
            .is_none());
    }

    // One ECC key has one link: setting it again moves it, and frees the old Pipedrive id.
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000001000", LinkChange::Set(101))],
        ))
        .await
        .expect("relink");
    assert!(store
        .link_by_pipedrive_id(CONNECTION, EntityKind::Organization, 100)
        .await
        .unwrap()
        .is_none());
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000003000", LinkChange::Set(100))],
        ))
        .await
        .expect("the freed id can be linked");

    // The same Pipedrive id is free for another kind and another connection.
    let mut person = outcome(run, "0000001000-01", LinkChange::Set(100));
    person.kind = EntityKind::Person;
    let mut other_connection = batch(run, vec![outcome(run, "0000009000", LinkChange::Set(100))]);
    other_connection.connection = "test-system".to_string();
    other_connection.outcomes[0].audit.connection = "test-system".to_string();
    store
        .commit_outcomes(&batch(run, vec![person]))
        .await
        .expect("person link");
    store
        .commit_outcomes(&other_connection)
        .await
        .expect("other connection link");

    let organizations = store
        .links(CONNECTION, EntityKind::Organization)
        .await
        .unwrap();
    let pairs: Vec<_> = organizations
        .iter()
        .map(|link| (link.ecc_key.as_str(), link.pipedrive_id))
        .collect();
    assert_eq!(pairs, vec![("0000001000", 101), ("0000003000", 100)]);

    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000001000", LinkChange::Remove)],
        ))
        .await
        .expect("unlink");
    assert!(store
        .link(CONNECTION, EntityKind::Organization, "0000001000")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .links(CONNECTION, EntityKind::Person)
            .await
            .unwrap()
            .len(),
        1
    );
}

// ── record state ──

async fn record_state_round_trips_and_follows_failures(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    let key = "0000001000";
    let before = Utc::now() - chrono::Duration::seconds(1);
    store
        .commit_outcomes(&batch(run, vec![outcome(run, key, LinkChange::Keep)]))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Organization, key)
        .await
        .unwrap()
        .expect("state written");
    assert_eq!(state.pushed_hash.as_deref(), Some("hash-0000001000"));
    assert_eq!(state.last_run_id, Some(run));
    assert_eq!(
        (state.failures, state.parked, state.retry_after),
        (0, false, None)
    );
    assert!(state.last_seen_at.is_some_and(|seen| seen >= before));

    let second_run = start_run(store, CONNECTION).await;
    let fail = |park: bool, error: &str| {
        let mut failed = outcome(second_run, key, LinkChange::Keep);
        failed.pushed_hash = None;
        failed.failure = FailureChange::Increment {
            retry_after: at(600),
            park,
            error: error.to_string(),
        };
        failed
    };
    store
        .commit_outcomes(&batch(second_run, vec![fail(false, "503 from Pipedrive")]))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Organization, key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.pushed_hash.as_deref(),
        Some("hash-0000001000"),
        "None keeps the hash"
    );
    assert_eq!(state.last_run_id, Some(second_run));
    assert_eq!(state.failures, 1);
    assert_eq!(state.retry_after, Some(at(600)));
    assert_eq!(state.last_error.as_deref(), Some("503 from Pipedrive"));
    assert!(!state.parked);

    store
        .commit_outcomes(&batch(second_run, vec![fail(true, "400 bad field")]))
        .await
        .unwrap();
    let mut kept = outcome(second_run, key, LinkChange::Keep);
    kept.pushed_hash = None;
    kept.failure = FailureChange::Keep;
    store
        .commit_outcomes(&batch(second_run, vec![kept]))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Organization, key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (state.failures, state.parked),
        (2, true),
        "Keep leaves failures and parking"
    );
    assert_eq!(state.last_error.as_deref(), Some("400 bad field"));

    let mut fixed = outcome(second_run, key, LinkChange::Keep);
    fixed.pushed_hash = Some("hash-2".to_string());
    store
        .commit_outcomes(&batch(second_run, vec![fixed]))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Organization, key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.pushed_hash.as_deref(), Some("hash-2"));
    assert_eq!((state.failures, state.parked), (0, false));
    assert_eq!((state.retry_after, state.last_error), (None, None));

    // A record that fails on its first sighting starts at one failure and no hash.
    let mut new_failure = fail(false, "timeout");
    new_failure.ecc_key = "0000002000".to_string();
    store
        .commit_outcomes(&batch(second_run, vec![new_failure]))
        .await
        .unwrap();
    let states = store
        .record_states(CONNECTION, EntityKind::Organization)
        .await
        .unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[1].ecc_key, "0000002000");
    assert_eq!(
        (states[1].failures, states[1].pushed_hash.clone()),
        (1, None)
    );
    assert!(store
        .record_states(CONNECTION, EntityKind::Person)
        .await
        .unwrap()
        .is_empty());
}

async fn a_person_state_keeps_its_customer_from_its_first_failure_on(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    let contact = "0000000042";
    let person_outcome = |failure: FailureChange, customer_number: &str| {
        let mut audit = audit_event(run, EntityKind::Person, contact, Action::Error);
        audit.customer_number = customer_number.to_string();
        RecordOutcome {
            kind: EntityKind::Person,
            ecc_key: contact.to_string(),
            pushed_hash: None,
            pipedrive_verified: None,
            link: LinkChange::Keep,
            failure,
            closes_intent: None,
            audit,
        }
    };
    let failed = FailureChange::Increment {
        retry_after: at(600),
        park: false,
        error: "503 from Pipedrive".to_string(),
    };
    store
        .commit_outcomes(&batch(run, vec![person_outcome(failed, "0000001000")]))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Person, contact)
        .await
        .unwrap()
        .expect("state written");
    assert_eq!(state.customer_number.as_deref(), Some("0000001000"));
    assert_eq!(state.failures, 1);

    // An event that names no customer keeps the stored one; a new customer replaces it.
    store
        .commit_outcomes(&batch(run, vec![person_outcome(FailureChange::Keep, "")]))
        .await
        .unwrap();
    let states = store
        .record_states(CONNECTION, EntityKind::Person)
        .await
        .unwrap();
    assert_eq!(states[0].customer_number.as_deref(), Some("0000001000"));
    store
        .commit_outcomes(&batch(
            run,
            vec![person_outcome(FailureChange::Reset, "0000002000")],
        ))
        .await
        .unwrap();
    let state = store
        .record_state(CONNECTION, EntityKind::Person, contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.customer_number.as_deref(), Some("0000002000"));

    // An organization is its own customer.
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000003000", LinkChange::Keep)],
        ))
        .await
        .unwrap();
    let organization = store
        .record_state(CONNECTION, EntityKind::Organization, "0000003000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(organization.customer_number.as_deref(), Some("0000003000"));
}

async fn intents_stay_open_until_an_outcome_closes_them(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    let intent = |ecc_key: &str| NewIntent {
        connection: CONNECTION.to_string(),
        run_id: run,
        kind: EntityKind::Organization,
        ecc_key: ecc_key.to_string(),
        operation: "create".to_string(),
        payload: serde_json::json!({ "name": format!("Customer {ecc_key}") }),
        fencing_token: None,
    };
    let first = store.record_intent(&intent("0000001000")).await.unwrap();
    let second = store.record_intent(&intent("0000002000")).await.unwrap();
    assert_ne!(first, second);
    let open = store.open_intents(CONNECTION).await.unwrap();
    assert_eq!(
        open.iter().map(|intent| intent.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(
        open[0].payload,
        serde_json::json!({ "name": "Customer 0000001000" })
    );
    assert_eq!(open[0].run_id, run);

    let mut created = outcome(run, "0000001000", LinkChange::Set(7));
    created.closes_intent = Some(first);
    store
        .commit_outcomes(&batch(run, vec![created]))
        .await
        .unwrap();
    let open = store.open_intents(CONNECTION).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].ecc_key, "0000002000");
    assert!(store.open_intents("another").await.unwrap().is_empty());

    // A batch's creates are announced together, ids in order; those never sent are discarded,
    // and only for their own connection.
    let keys = ["0000003000", "0000004000", "0000005000"];
    let announced = store.record_intents(&keys.map(intent)).await.unwrap();
    assert_eq!(announced.len(), 3);
    assert!(announced.windows(2).all(|pair| pair[0] < pair[1]));
    let open = store.open_intents(CONNECTION).await.unwrap();
    assert_eq!(
        open.iter()
            .map(|intent| intent.ecc_key.as_str())
            .collect::<Vec<_>>(),
        vec!["0000002000", "0000003000", "0000004000", "0000005000"]
    );
    store.discard_intents("another", &announced).await.unwrap();
    assert_eq!(store.open_intents(CONNECTION).await.unwrap().len(), 4);
    store
        .discard_intents(CONNECTION, &announced[1..])
        .await
        .unwrap();
    let open = store.open_intents(CONNECTION).await.unwrap();
    assert_eq!(
        open.iter().map(|intent| intent.id).collect::<Vec<_>>(),
        vec![second, announced[0]]
    );
    assert!(store.record_intents(&[]).await.unwrap().is_empty());
}

// ── cursors and fencing ──

async fn stale_cursor_write_is_refused(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    assert!(store.cursor(CONNECTION, "KNA1").await.unwrap().is_none());
    assert_eq!(
        store
            .advance_cursor(CONNECTION, "KNA1", None, "20260105080000")
            .await
            .unwrap(),
        1
    );
    match store
        .advance_cursor(CONNECTION, "KNA1", None, "x")
        .await
        .unwrap_err()
    {
        StoreError::StaleCursor {
            expected, found, ..
        } => {
            assert_eq!((expected, found), (None, Some(1)));
        }
        other => panic!("expected a stale cursor, got {other:?}"),
    }
    assert_eq!(
        store
            .advance_cursor(CONNECTION, "KNA1", Some(1), "20260105090000")
            .await
            .unwrap(),
        2
    );
    match store
        .advance_cursor(CONNECTION, "KNA1", Some(1), "late writer")
        .await
        .unwrap_err()
    {
        StoreError::StaleCursor {
            expected, found, ..
        } => {
            assert_eq!((expected, found), (Some(1), Some(2)));
        }
        other => panic!("expected a stale cursor, got {other:?}"),
    }
    let cursor = store.cursor(CONNECTION, "KNA1").await.unwrap().unwrap();
    assert_eq!(
        (cursor.value.as_str(), cursor.version),
        ("20260105090000", 2)
    );
    assert!(
        store
            .advance_cursor(CONNECTION, "KNVK", Some(1), "x")
            .await
            .is_err(),
        "no such cursor"
    );

    // Within a batch: the stale cursor refuses the whole batch.
    let run = start_run(store, CONNECTION).await;
    let intent = store
        .record_intent(&NewIntent {
            connection: CONNECTION.to_string(),
            run_id: run,
            kind: EntityKind::Organization,
            ecc_key: "0000001000".to_string(),
            operation: "create".to_string(),
            payload: serde_json::json!({}),
            fencing_token: None,
        })
        .await
        .unwrap();
    let mut stale = batch(run, vec![outcome(run, "0000001000", LinkChange::Set(5))]);
    stale.outcomes[0].closes_intent = Some(intent);
    stale.cursor = Some(CursorAdvance {
        stream: "KNA1".to_string(),
        expected_version: Some(1),
        value: "stale".to_string(),
    });
    assert!(matches!(
        store.commit_outcomes(&stale).await,
        Err(StoreError::StaleCursor { found: Some(2), .. })
    ));
    assert!(store
        .link(CONNECTION, EntityKind::Organization, "0000001000")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .record_states(CONNECTION, EntityKind::Organization)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(audit_count(store).await, 0);
    assert_eq!(store.open_intents(CONNECTION).await.unwrap().len(), 1);

    stale.cursor.as_mut().unwrap().expected_version = Some(2);
    store.commit_outcomes(&stale).await.expect("current cursor");
    let cursor = store.cursor(CONNECTION, "KNA1").await.unwrap().unwrap();
    assert_eq!((cursor.value.as_str(), cursor.version), ("stale", 3));
    assert!(store.open_intents(CONNECTION).await.unwrap().is_empty());
}

async fn concurrent_batches_on_one_cursor_version_one_commits(fixture: Arc<TestStore>) {
    let other_process = fixture.open_again(None).await;
    let run = start_run(fixture.store.as_ref(), CONNECTION).await;
    fixture
        .store
        .advance_cursor(CONNECTION, "KNA1", None, "0")
        .await
        .unwrap();
    let mut writers = Vec::new();
    for writer in 0..6 {
        let store = if writer % 2 == 0 {
            fixture.store.clone()
        } else {
            other_process.clone()
        };
        let outcomes = (0..10)
            .map(|index| {
                outcome(
                    run,
                    &format!("w{writer}-{index}"),
                    LinkChange::Set(writer * 100 + index),
                )
            })
            .collect();
        let mut write = batch(run, outcomes);
        write.cursor = Some(CursorAdvance {
            stream: "KNA1".to_string(),
            expected_version: Some(1),
            value: format!("writer {writer}"),
        });
        writers.push(tokio::spawn(
            async move { store.commit_outcomes(&write).await },
        ));
    }
    let mut committed = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(()) => committed += 1,
            Err(StoreError::StaleCursor { .. }) => {}
            Err(other) => panic!("expected success or a stale cursor, got {other:?}"),
        }
    }
    assert_eq!(committed, 1, "one writer wins the cursor");
    let cursor = fixture
        .store
        .cursor(CONNECTION, "KNA1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.version, 2);
    let winner = cursor.value.trim_start_matches("writer ");
    let links = fixture
        .store
        .links(CONNECTION, EntityKind::Organization)
        .await
        .unwrap();
    assert_eq!(links.len(), 10, "only the winner's batch is written");
    assert!(links
        .iter()
        .all(|link| link.ecc_key.starts_with(&format!("w{winner}-"))));
    assert_eq!(audit_count(fixture.store.as_ref()).await, 10);
}

async fn commit_with_stale_fencing_token_is_refused_and_leaves_nothing(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let ttl = Duration::from_secs(30);
    let first = store
        .acquire_lease(CONNECTION, "host-a:1", ttl, at(0))
        .await
        .unwrap()
        .unwrap();
    let second = store
        .acquire_lease(CONNECTION, "host-b:2", ttl, at(31))
        .await
        .unwrap()
        .expect("expired lease taken over");
    assert!(second.fencing_token > first.fencing_token);

    let run = start_run(store, CONNECTION).await;
    let mut fenced = batch(run, vec![outcome(run, "0000001000", LinkChange::Set(9))]);
    fenced.fencing_token = Some(first.fencing_token);
    fenced.cursor = Some(CursorAdvance {
        stream: "KNA1".to_string(),
        expected_version: None,
        value: "1".to_string(),
    });
    match store.commit_outcomes(&fenced).await.unwrap_err() {
        StoreError::Fenced {
            presented,
            current,
            connection,
        } => {
            assert_eq!(
                (presented, current),
                (first.fencing_token, second.fencing_token)
            );
            assert_eq!(connection, CONNECTION);
        }
        other => panic!("expected fenced, got {other:?}"),
    }
    assert!(store.cursor(CONNECTION, "KNA1").await.unwrap().is_none());
    assert!(store
        .link(CONNECTION, EntityKind::Organization, "0000001000")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .record_states(CONNECTION, EntityKind::Organization)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(audit_count(store).await, 0);

    // The intent before a create is fenced too: a run that lost its lease sends no create.
    let stale_intent = NewIntent {
        connection: CONNECTION.to_string(),
        run_id: run,
        kind: EntityKind::Organization,
        ecc_key: "0000001000".to_string(),
        operation: "create".to_string(),
        payload: serde_json::json!({}),
        fencing_token: Some(first.fencing_token),
    };
    assert!(matches!(
        store.record_intent(&stale_intent).await.unwrap_err(),
        StoreError::Fenced { .. }
    ));
    assert!(matches!(
        store
            .record_intents(&[stale_intent.clone(), stale_intent.clone()])
            .await
            .unwrap_err(),
        StoreError::Fenced { .. }
    ));
    assert!(store.open_intents(CONNECTION).await.unwrap().is_empty());
    store
        .record_intent(&NewIntent {
            fencing_token: Some(second.fencing_token),
            ..stale_intent
        })
        .await
        .expect("the current holder announces its create");

    fenced.fencing_token = Some(second.fencing_token);
    store
        .commit_outcomes(&fenced)
        .await
        .expect("the current holder writes");
    assert_eq!(
        store
            .cursor(CONNECTION, "KNA1")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(audit_count(store).await, 1);

    // A token for a connection that was never leased is refused too.
    let mut unleased = batch(run, vec![]);
    unleased.connection = "never-leased".to_string();
    unleased.fencing_token = Some(1);
    assert!(matches!(
        store.commit_outcomes(&unleased).await,
        Err(StoreError::Fenced { current: 0, .. })
    ));
}

// ── leases ──

async fn concurrent_lease_takers_one_wins_and_takeover_raises_the_token(fixture: Arc<TestStore>) {
    let other_process = fixture.open_again(Some(fixture.key.clone())).await;
    let ttl = Duration::from_secs(60);
    let mut takers = Vec::new();
    for index in 0..8 {
        let store = if index % 2 == 0 {
            fixture.store.clone()
        } else {
            other_process.clone()
        };
        takers.push(tokio::spawn(async move {
            store
                .acquire_lease(CONNECTION, &format!("host:{index}"), ttl, at(0))
                .await
        }));
    }
    let mut winners = Vec::new();
    for taker in takers {
        if let Some(lease) = taker.await.unwrap().expect("acquire") {
            winners.push(lease);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one taker wins: {winners:?}");
    let winner = winners.remove(0);
    assert_eq!(winner.expires_at, at(60));

    let store = fixture.store.as_ref();
    assert!(store
        .acquire_lease(CONNECTION, "late:1", ttl, at(59))
        .await
        .unwrap()
        .is_none());
    let mut impostor = winner.clone();
    impostor.holder = "late:1".to_string();
    assert!(!store.renew_lease(&impostor, ttl, at(10)).await.unwrap());
    assert!(
        store.renew_lease(&winner, ttl, at(30)).await.unwrap(),
        "holder renews"
    );
    assert!(store
        .acquire_lease(CONNECTION, "late:1", ttl, at(89))
        .await
        .unwrap()
        .is_none());

    let takeover = store
        .acquire_lease(CONNECTION, "late:1", ttl, at(90))
        .await
        .unwrap()
        .expect("expired lease is free");
    assert_eq!(takeover.fencing_token, winner.fencing_token + 1);
    assert!(
        !store.renew_lease(&winner, ttl, at(91)).await.unwrap(),
        "the old holder lost it"
    );
    store.release_lease(&winner).await.unwrap();
    assert!(
        store
            .acquire_lease(CONNECTION, "third:3", ttl, at(92))
            .await
            .unwrap()
            .is_none(),
        "a stale release does not free the lease"
    );

    store.release_lease(&takeover).await.unwrap();
    let after_release = store
        .acquire_lease(CONNECTION, "third:3", ttl, at(93))
        .await
        .unwrap()
        .expect("released lease is free");
    assert_eq!(
        after_release.fencing_token,
        takeover.fencing_token + 1,
        "tokens survive release"
    );
    let elsewhere = store
        .acquire_lease("other", "third:3", ttl, at(93))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(elsewhere.fencing_token, 1, "leases are per connection");
}

async fn the_lease_holder_is_named_with_since_when_and_its_orphaned_runs_are_interrupted(
    fixture: Arc<TestStore>,
) {
    let store = fixture.store.as_ref();
    let ttl = Duration::from_secs(60);
    assert_eq!(store.lease_holder(CONNECTION).await.unwrap(), None);
    let first = store
        .acquire_lease(CONNECTION, "host-a:1", ttl, at(0))
        .await
        .unwrap()
        .expect("free lease");
    let holder = store.lease_holder(CONNECTION).await.unwrap().expect("held");
    assert_eq!(holder.holder, "host-a:1");
    assert_eq!(holder.acquired_at, Some(at(0)));
    assert_eq!(holder.expires_at, at(60));
    assert_eq!(holder.fencing_token, first.fencing_token);

    // host-a's process dies during its run; a dry run (no lease) is running beside it.
    let orphaned = start_run(store, CONNECTION).await;
    let dry_run = store
        .start_run(&NewRun {
            connection: CONNECTION.to_string(),
            instance: "host-c:3".to_string(),
            mode: "dry-run".to_string(),
        })
        .await
        .unwrap();
    let elsewhere = start_run(store, "other-connection").await;

    let takeover = store
        .acquire_lease(CONNECTION, "host-b:2", ttl, at(61))
        .await
        .unwrap()
        .expect("expired lease taken over");
    let marked = store
        .interrupt_runs(CONNECTION, at(61), "lease taken over by host-b:2")
        .await
        .unwrap();
    assert_eq!(marked, 1, "only the leased run of this connection");
    let runs = store.runs(&RunQuery::default()).await.unwrap();
    let status_of = |id: i64| runs.iter().find(|run| run.id == id).unwrap().clone();
    let interrupted = status_of(orphaned);
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    assert_eq!(interrupted.finished_at, Some(at(61)));
    assert_eq!(
        interrupted.error.as_deref(),
        Some("lease taken over by host-b:2")
    );
    assert_eq!(status_of(dry_run).status, RunStatus::Running);
    assert_eq!(status_of(elsewhere).status, RunStatus::Running);

    let holder = store.lease_holder(CONNECTION).await.unwrap().unwrap();
    assert_eq!(holder.holder, "host-b:2");
    assert_eq!(holder.acquired_at, Some(at(61)));

    // host-b's process is found gone before its lease expires: taken over at once, once.
    let early = store
        .take_over_lease(&holder, "host-d:4", ttl, at(70))
        .await
        .unwrap()
        .expect("taken from a holder that is gone");
    assert_eq!(early.fencing_token, takeover.fencing_token + 1);
    assert_eq!(early.expires_at, at(130));
    assert!(
        store
            .take_over_lease(&holder, "host-e:5", ttl, at(71))
            .await
            .unwrap()
            .is_none(),
        "a second taker of the same gone holder loses"
    );
    assert!(!store.renew_lease(&takeover, ttl, at(72)).await.unwrap());
    store.release_lease(&early).await.unwrap();
    assert_eq!(store.lease_holder(CONNECTION).await.unwrap(), None);
}

// ── token ledger ──

async fn token_ledger_refuses_the_charge_crossing_the_limit(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let next_day = day.succ_opt().unwrap();
    assert_eq!(store.tokens_used("acme", day).await.unwrap(), 0);
    assert_eq!(
        store.charge_tokens("acme", day, 60, 100).await.unwrap(),
        TokenCharge::Charged { used: 60 }
    );
    assert_eq!(
        store.charge_tokens("acme", day, 50, 100).await.unwrap(),
        TokenCharge::Refused { used: 60 }
    );
    assert_eq!(
        store.charge_tokens("acme", day, 40, 100).await.unwrap(),
        TokenCharge::Charged { used: 100 }
    );
    assert_eq!(
        store.charge_tokens("acme", day, 1, 100).await.unwrap(),
        TokenCharge::Refused { used: 100 }
    );
    assert_eq!(store.tokens_used("acme", day).await.unwrap(), 100);
    assert_eq!(
        store
            .charge_tokens("acme", next_day, 101, 100)
            .await
            .unwrap(),
        TokenCharge::Refused { used: 0 }
    );
    assert_eq!(
        store.charge_tokens("acme", next_day, 5, 100).await.unwrap(),
        TokenCharge::Charged { used: 5 }
    );
    assert_eq!(
        store.charge_tokens("other", day, 5, 100).await.unwrap(),
        TokenCharge::Charged { used: 5 }
    );
}

async fn concurrent_chargers_never_exceed_the_limit(fixture: Arc<TestStore>) {
    let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut handles = vec![fixture.store.clone()];
    for _ in 0..3 {
        handles.push(fixture.open_again(None).await);
    }
    let mut chargers = Vec::new();
    for index in 0..40 {
        let store = handles[index % handles.len()].clone();
        chargers.push(tokio::spawn(async move {
            store.charge_tokens("acme", day, 7, 100).await
        }));
    }
    let mut charged = 0;
    for charger in chargers {
        match charger.await.unwrap().expect("charge") {
            TokenCharge::Charged { used } => {
                assert!(used <= 100, "a charge went past the limit: {used}");
                charged += 1;
            }
            TokenCharge::Refused { used } => assert!(used <= 100),
        }
    }
    assert_eq!(charged, 14, "100 / 7 charges fit");
    assert_eq!(fixture.store.tokens_used("acme", day).await.unwrap(), 98);
}

// ── runs and audit ──

async fn runs_are_listed_newest_first_with_their_counts(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let first = start_run(store, CONNECTION).await;
    let other = start_run(store, "test-system").await;
    let last = start_run(store, CONNECTION).await;
    let counts = ActionCounts::from([(Action::Create, 3), (Action::Update, 1)]);
    store
        .finish_run(
            first,
            &RunFinish {
                status: RunStatus::Partial,
                counts: counts.clone(),
                tokens_used: 42,
                alert: Some("budget share used up".to_string()),
                error: None,
            },
        )
        .await
        .unwrap();

    let runs = store.runs(&RunQuery::default()).await.unwrap();
    assert_eq!(
        runs.iter().map(|run| run.id).collect::<Vec<_>>(),
        vec![last, other, first]
    );
    let finished = &runs[2];
    assert_eq!(finished.status, RunStatus::Partial);
    assert_eq!(finished.counts, counts);
    assert_eq!(finished.tokens_used, 42);
    assert_eq!(finished.alert.as_deref(), Some("budget share used up"));
    assert!(finished
        .finished_at
        .is_some_and(|end| end >= finished.started_at));
    assert_eq!(runs[0].status, RunStatus::Running);
    assert!(runs[0].counts.is_empty() && runs[0].finished_at.is_none());

    let query = RunQuery {
        connection: Some(CONNECTION.to_string()),
        limit: Some(1),
        id: None,
    };
    let newest = store.runs(&query).await.unwrap();
    assert_eq!(
        newest.iter().map(|run| run.id).collect::<Vec<_>>(),
        vec![last]
    );

    let missing = last + 1000;
    let finish = RunFinish {
        status: RunStatus::Ok,
        counts: ActionCounts::new(),
        tokens_used: 0,
        alert: None,
        error: None,
    };
    assert!(
        matches!(store.finish_run(missing, &finish).await, Err(StoreError::NoSuchRun(id)) if id == missing)
    );
    assert!(matches!(
        store.commit_outcomes(&batch(missing, vec![outcome(missing, "1", LinkChange::Keep)])).await,
        Err(StoreError::NoSuchRun(id)) if id == missing
    ));
}

async fn audit_is_queryable_by_each_filter(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let first_run = start_run(store, CONNECTION).await;
    let second_run = start_run(store, CONNECTION).await;

    let mut created = audit_event(
        first_run,
        EntityKind::Organization,
        "0000001000",
        Action::Create,
    );
    created.pipedrive_id = Some(11);
    created.recorded_at = at(10);
    let mut person = audit_event(
        first_run,
        EntityKind::Person,
        "0000001000-01",
        Action::Create,
    );
    person.customer_number = "0000001000".to_string();
    person.recorded_at = at(20);
    let mut skipped = audit_event(
        second_run,
        EntityKind::Organization,
        "0000002000",
        Action::Skip,
    );
    skipped.recorded_at = at(30);
    let mut failed = audit_event(
        second_run,
        EntityKind::Organization,
        "0000001000",
        Action::Error,
    );
    failed.error = Some("503 from Pipedrive".to_string());
    failed.recorded_at = at(40);
    let mut elsewhere = audit_event(
        second_run,
        EntityKind::Organization,
        "0000001000",
        Action::Update,
    );
    elsewhere.connection = "test-system".to_string();
    elsewhere.recorded_at = at(50);

    store
        .append_audit(&[created.clone(), person.clone()])
        .await
        .unwrap();
    let mut via_commit = outcome(second_run, "0000002000", LinkChange::Keep);
    via_commit.audit = skipped.clone();
    store
        .commit_outcomes(&batch(second_run, vec![via_commit]))
        .await
        .unwrap();
    store
        .append_audit(&[failed.clone(), elsewhere.clone()])
        .await
        .unwrap();

    let keys = |events: Vec<AuditEvent>| -> Vec<(String, Action)> {
        events
            .into_iter()
            .map(|event| (event.ecc_key, event.action))
            .collect()
    };
    let query = |build: fn(&mut AuditQuery)| {
        let mut query = AuditQuery::default();
        build(&mut query);
        query
    };

    let all = store.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    let ids: BTreeSet<i64> = all.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), 5, "every event gets its own id");
    assert!(
        all.windows(2).all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );
    let mut stored_created = all
        .iter()
        .find(|event| event.pipedrive_id == Some(11))
        .unwrap()
        .clone();
    assert!(stored_created.id > 0);
    stored_created.id = 0;
    assert_eq!(stored_created, created, "an event round-trips");

    let by_connection = store
        .audit(&query(|q| q.connection = Some(CONNECTION.to_string())))
        .await
        .unwrap();
    assert_eq!(by_connection.len(), 4);
    let by_customer = store
        .audit(&query(|q| {
            q.customer_number = Some("0000001000".to_string())
        }))
        .await
        .unwrap();
    assert_eq!(
        keys(by_customer),
        vec![
            ("0000001000".to_string(), Action::Update),
            ("0000001000".to_string(), Action::Error),
            ("0000001000-01".to_string(), Action::Create),
            ("0000001000".to_string(), Action::Create),
        ]
    );
    let by_run = store
        .audit(&AuditQuery {
            run_id: Some(first_run),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_run.len(), 2);
    let by_action = store
        .audit(&query(|q| q.action = Some(Action::Skip)))
        .await
        .unwrap();
    assert_eq!(
        keys(by_action),
        vec![("0000002000".to_string(), Action::Skip)]
    );
    let by_kind = store
        .audit(&query(|q| q.kind = Some(EntityKind::Person)))
        .await
        .unwrap();
    assert_eq!(
        keys(by_kind),
        vec![("0000001000-01".to_string(), Action::Create)]
    );
    let window = store
        .audit(&query(|q| {
            q.since = Some(at(20));
            q.until = Some(at(40));
        }))
        .await
        .unwrap();
    assert_eq!(
        window
            .iter()
            .map(|event| event.recorded_at)
            .collect::<Vec<_>>(),
        vec![at(30), at(20)]
    );
    let limited = store.audit(&query(|q| q.limit = Some(2))).await.unwrap();
    assert_eq!(
        limited
            .iter()
            .map(|event| event.recorded_at)
            .collect::<Vec<_>>(),
        vec![at(50), at(40)]
    );
    let combined = store
        .audit(&AuditQuery {
            connection: Some(CONNECTION.to_string()),
            customer_number: Some("0000001000".to_string()),
            run_id: Some(second_run),
            action: Some(Action::Error),
            kind: Some(EntityKind::Organization),
            since: Some(at(0)),
            until: Some(at(100)),
            before_id: None,
            after_id: None,
            limit: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(combined.len(), 1);
    // Paging: the page after the first two continues below the last id seen, none twice.
    let next_page = store
        .audit(&AuditQuery {
            limit: Some(2),
            before_id: Some(limited[1].id),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(!next_page.is_empty());
    assert!(next_page.iter().all(|event| event.id < limited[1].id));
    assert!(next_page.iter().all(|event| event.recorded_at < at(40)));
    assert_eq!(combined[0].error.as_deref(), Some("503 from Pipedrive"));
}

// ── secrets ──

async fn secrets_are_encrypted_at_rest_and_round_trip(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let plaintext = b"refresh-token-PLAINTEXT-4711";
    store
        .put_secret("pipedrive/oauth/refresh_token", plaintext)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret("pipedrive/oauth/refresh_token")
            .await
            .unwrap()
            .as_deref(),
        Some(plaintext.as_slice())
    );
    let stored = fixture
        .raw_ciphertext("pipedrive/oauth/refresh_token")
        .await;
    assert!(!stored
        .windows(plaintext.len())
        .any(|window| window == plaintext));
    assert!(!stored.windows(9).any(|window| window == b"PLAINTEXT"));

    store
        .put_secret("pipedrive/oauth/refresh_token", b"rotated")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret("pipedrive/oauth/refresh_token")
            .await
            .unwrap()
            .as_deref(),
        Some(b"rotated".as_slice())
    );
    assert_ne!(
        fixture
            .raw_ciphertext("pipedrive/oauth/refresh_token")
            .await,
        stored
    );
    assert!(store.get_secret("never-written").await.unwrap().is_none());

    let same_key = fixture.open_again(Some(fixture.key.clone())).await;
    assert_eq!(
        same_key
            .get_secret("pipedrive/oauth/refresh_token")
            .await
            .unwrap()
            .as_deref(),
        Some(b"rotated".as_slice())
    );
}

async fn a_wrong_secret_key_fails_with_a_clear_error(fixture: Arc<TestStore>) {
    fixture
        .store
        .put_secret("pipedrive/oauth/refresh_token", b"secret")
        .await
        .unwrap();
    let wrong_key = fixture.open_again(Some(SecretKey::generate())).await;
    let error = wrong_key
        .get_secret("pipedrive/oauth/refresh_token")
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Secret { ref name, .. } if name == "pipedrive/oauth/refresh_token")
    );
    let message = error.to_string();
    assert!(message.contains("another key"), "{message}");
    assert!(message.contains("MLC_SECRET_KEY"), "{message}");

    let no_key = fixture.open_again(None).await;
    let message = no_key
        .get_secret("pipedrive/oauth/refresh_token")
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("without a secret key"), "{message}");
    assert!(no_key.put_secret("x", b"y").await.is_err());
}

async fn reopening_keeps_the_state(fixture: Arc<TestStore>) {
    let run = start_run(fixture.store.as_ref(), CONNECTION).await;
    fixture
        .store
        .advance_cursor(CONNECTION, "KNA1", None, "v1")
        .await
        .unwrap();
    let reopened = fixture.open_again(None).await;
    assert_eq!(reopened.backend(), fixture.store.backend());
    assert_eq!(
        reopened
            .cursor(CONNECTION, "KNA1")
            .await
            .unwrap()
            .unwrap()
            .value,
        "v1"
    );
    assert_eq!(
        reopened.runs(&RunQuery::default()).await.unwrap()[0].id,
        run
    );
    let expected_backend = match fixture.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(reopened.backend(), expected_backend);
}

async fn a_webhook_delivery_is_taken_once_per_connection_and_pruned_by_age(
    fixture: Arc<TestStore>,
) {
    let store = fixture.store.as_ref();
    assert!(store
        .note_webhook_event(CONNECTION, "delivery-1", at(0))
        .await
        .unwrap());
    assert!(
        !store
            .note_webhook_event(CONNECTION, "delivery-1", at(5))
            .await
            .unwrap(),
        "a retry of the same delivery is not taken again"
    );
    assert!(
        store
            .note_webhook_event("other", "delivery-1", at(5))
            .await
            .unwrap(),
        "another connection takes its own copy"
    );
    assert!(store
        .note_webhook_event(CONNECTION, "delivery-2", at(100))
        .await
        .unwrap());
    assert_eq!(store.prune_webhook_events(at(50)).await.unwrap(), 2);
    assert!(
        store
            .note_webhook_event(CONNECTION, "delivery-1", at(200))
            .await
            .unwrap(),
        "a pruned id is forgotten"
    );
    assert!(!store
        .note_webhook_event(CONNECTION, "delivery-2", at(200))
        .await
        .unwrap());
}

/// A batch of a run reads the links and states of its own keys, and the index reads the links a
/// page at a time, so a run never holds every link of the connection.
async fn links_and_states_are_read_by_keys_and_by_pages(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    let keys: Vec<String> = (1..=7).map(|n| format!("{:010}", n * 1000)).collect();
    let mut outcomes: Vec<RecordOutcome> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| outcome(run, key, LinkChange::Set(100 + index as i64)))
        .collect();
    outcomes[2].failure = FailureChange::Increment {
        retry_after: at(50),
        park: false,
        error: "timeout".to_string(),
    };
    outcomes[3].failure = FailureChange::Increment {
        retry_after: at(70),
        park: true,
        error: "422 \"name\" is required".to_string(),
    };
    store.commit_outcomes(&batch(run, outcomes)).await.unwrap();
    // Read by keys, each link and state is the one read alone, every field of it.
    for key in &keys {
        let wanted = std::slice::from_ref(key);
        let link = store
            .link(CONNECTION, EntityKind::Organization, key)
            .await
            .unwrap();
        assert_eq!(
            store
                .links_of_keys(CONNECTION, EntityKind::Organization, wanted)
                .await
                .unwrap(),
            link.into_iter().collect::<Vec<_>>()
        );
        let state = store
            .record_state(CONNECTION, EntityKind::Organization, key)
            .await
            .unwrap();
        assert!(state.is_some());
        assert_eq!(
            store
                .record_states_of_keys(CONNECTION, EntityKind::Organization, wanted)
                .await
                .unwrap(),
            state.into_iter().collect::<Vec<_>>()
        );
    }

    let wanted = vec![
        keys[1].clone(),
        keys[4].clone(),
        "0000099999".to_string(),
        keys[1].clone(),
    ];
    let mut linked: Vec<(String, i64)> = store
        .links_of_keys(CONNECTION, EntityKind::Organization, &wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    linked.sort();
    assert_eq!(linked, vec![(keys[1].clone(), 101), (keys[4].clone(), 104)]);
    assert!(store
        .links_of_keys(CONNECTION, EntityKind::Person, &wanted)
        .await
        .unwrap()
        .is_empty());
    let mut states: Vec<String> = store
        .record_states_of_keys(CONNECTION, EntityKind::Organization, &wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|state| state.ecc_key)
        .collect();
    states.sort();
    assert_eq!(states, vec![keys[1].clone(), keys[4].clone()]);
    assert!(store
        .record_states_of_keys(CONNECTION, EntityKind::Organization, &[])
        .await
        .unwrap()
        .is_empty());

    let failing = store.failing_record_states(CONNECTION).await.unwrap();
    assert_eq!(failing.len(), 2);
    assert_eq!(
        (failing[0].ecc_key.as_str(), failing[0].failures),
        (keys[2].as_str(), 1)
    );
    assert!(failing[1].parked && !failing[0].parked, "{failing:?}");

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .links_page(CONNECTION, EntityKind::Organization, after.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.ecc_key.clone());
        paged.extend(page.into_iter().map(|link| link.ecc_key));
    }
    assert_eq!(paged, keys);
}

/// What a run found verified in Pipedrive is kept with the record's state, by a skip (written
/// a chunk at a time in SQLite) as by any other outcome, read back alone and by keys, and kept
/// by an outcome that brings none.
async fn what_was_found_verified_in_pipedrive_is_kept_until_replaced(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let key = "0000004711";
    let verified = async || {
        let alone = store
            .record_state(CONNECTION, EntityKind::Organization, key)
            .await
            .unwrap()
            .unwrap();
        let by_keys = store
            .record_states_of_keys(CONNECTION, EntityKind::Organization, &[key.to_string()])
            .await
            .unwrap();
        assert_eq!(by_keys, vec![alone.clone()]);
        alone.pipedrive_verified
    };
    let skip = |run: i64, fingerprint: Option<i64>| RecordOutcome {
        pushed_hash: None,
        pipedrive_verified: fingerprint,
        link: LinkChange::Keep,
        failure: FailureChange::Keep,
        audit: audit_event(run, EntityKind::Organization, key, Action::Skip),
        ..outcome(run, key, LinkChange::Keep)
    };
    let run = start_run(store, CONNECTION).await;
    store
        .commit_outcomes(&batch(run, vec![outcome(run, key, LinkChange::Set(7))]))
        .await
        .unwrap();
    assert_eq!(verified().await, None);

    // Beyond 2^53, where a JSON number read as a double would lose it.
    let fingerprint = -0x1234_5678_9abc_def1_i64;
    let run = start_run(store, CONNECTION).await;
    store
        .commit_outcomes(&batch(run, vec![skip(run, Some(fingerprint))]))
        .await
        .unwrap();
    assert_eq!(verified().await, Some(fingerprint));

    let run = start_run(store, CONNECTION).await;
    store
        .commit_outcomes(&batch(run, vec![skip(run, None)]))
        .await
        .unwrap();
    assert_eq!(verified().await, Some(fingerprint));

    let run = start_run(store, CONNECTION).await;
    let mut update = outcome(run, key, LinkChange::Keep);
    update.audit.action = Action::Update;
    update.pipedrive_verified = Some(i64::MAX);
    store
        .commit_outcomes(&batch(run, vec![update]))
        .await
        .unwrap();
    assert_eq!(verified().await, Some(i64::MAX));
}

async fn person_links_are_paged_with_the_customer_of_their_state(fixture: Arc<TestStore>) {
    let store = fixture.store.as_ref();
    let run = start_run(store, CONNECTION).await;
    let person = |contact: &str, customer: &str, link: LinkChange| {
        let mut audit = audit_event(run, EntityKind::Person, contact, Action::Create);
        audit.customer_number = customer.to_string();
        RecordOutcome {
            kind: EntityKind::Person,
            ecc_key: contact.to_string(),
            pushed_hash: Some(format!("hash-{contact}")),
            pipedrive_verified: None,
            link,
            failure: FailureChange::Reset,
            closes_intent: None,
            audit,
        }
    };
    store
        .commit_outcomes(&batch(
            run,
            vec![
                person("0000000005", "0000001000", LinkChange::Set(505)),
                person("0000000001", "0000002000", LinkChange::Set(501)),
                // No customer named: listed without one.
                person("0000000003", "", LinkChange::Set(503)),
                person("0000000002", "0000001000", LinkChange::Set(502)),
                // A state without a link, and an organization's link: neither is listed.
                person("0000000004", "0000003000", LinkChange::Keep),
                outcome(run, "0000000006", LinkChange::Set(606)),
            ],
        ))
        .await
        .unwrap();

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .person_customers_page(CONNECTION, after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.contact_number.clone());
        paged.extend(
            page.into_iter()
                .map(|person| (person.contact_number, person.customer_number)),
        );
    }
    let customer = |number: &str| Some(number.to_string());
    assert_eq!(
        paged,
        vec![
            ("0000000001".to_string(), customer("0000002000")),
            ("0000000002".to_string(), customer("0000001000")),
            ("0000000003".to_string(), None),
            ("0000000005".to_string(), customer("0000001000")),
        ]
    );
    assert!(store
        .person_customers_page("another-connection", None, 10)
        .await
        .unwrap()
        .is_empty());
}

store_test_suite!(
    links_are_unique_both_ways,
    what_was_found_verified_in_pipedrive_is_kept_until_replaced,
    links_and_states_are_read_by_keys_and_by_pages,
    person_links_are_paged_with_the_customer_of_their_state,
    record_state_round_trips_and_follows_failures,
    a_person_state_keeps_its_customer_from_its_first_failure_on,
    intents_stay_open_until_an_outcome_closes_them,
    stale_cursor_write_is_refused,
    concurrent_batches_on_one_cursor_version_one_commits,
    commit_with_stale_fencing_token_is_refused_and_leaves_nothing,
    concurrent_lease_takers_one_wins_and_takeover_raises_the_token,
    the_lease_holder_is_named_with_since_when_and_its_orphaned_runs_are_interrupted,
    token_ledger_refuses_the_charge_crossing_the_limit,
    concurrent_chargers_never_exceed_the_limit,
    runs_are_listed_newest_first_with_their_counts,
    audit_is_queryable_by_each_filter,
    secrets_are_encrypted_at_rest_and_round_trip,
    a_wrong_secret_key_fails_with_a_clear_error,
    reopening_keeps_the_state,
    a_webhook_delivery_is_taken_once_per_connection_and_pruned_by_age,
);

// ── SQLite only: the file ──

#[tokio::test]
async fn sqlite_store_is_a_file_in_wal_mode_created_on_first_use() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("new-folder").join("state.db");
    let url = format!("sqlite://{}", file.display());
    let store = mlc_store::open(&url, None)
        .await
        .expect("created on first use");
    assert_eq!(store.backend(), "sqlite");
    assert!(file.exists());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("state.db");
    let url = format!("sqlite://{}", file.display());
    let store = mlc_store::open(&url, None).await.unwrap();
    let run = start_run(store.as_ref(), CONNECTION).await;
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000001000", LinkChange::Set(1))],
        ))
        .await
        .unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    for side in ["state.db-wal", "state.db-shm"] {
        let path = directory.path().join(side);
        assert!(path.exists(), "{side} exists in WAL mode");
        assert_eq!(mode(&path), 0o600, "{side}");
    }
    drop(store);

    // A database someone left world-readable is made private when opened.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = mlc_store::open(&url, None).await.unwrap();
    assert_eq!(mode(&file), 0o600);
}

#[tokio::test]
async fn in_memory_sqlite_store_works_for_tests() {
    let store = mlc_store::open("sqlite::memory:", Some(SecretKey::generate()))
        .await
        .unwrap();
    let run = start_run(store.as_ref(), CONNECTION).await;
    store
        .commit_outcomes(&batch(
            run,
            vec![outcome(run, "0000001000", LinkChange::Set(1))],
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .links(CONNECTION, EntityKind::Organization)
            .await
            .unwrap()
            .len(),
        1
    );
    store.put_secret("s", b"v").await.unwrap();
    assert_eq!(
        store.get_secret("s").await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
}

#[tokio::test]
async fn an_unknown_store_url_is_refused_with_the_accepted_forms() {
    let error = mlc_store::open("mysql://user:hunter2@db/x", None)
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password is not shown: {message}"
    );
}
