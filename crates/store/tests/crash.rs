//! A writer killed with SIGKILL in the middle of a batch leaves each batch all or nothing.
//!
//! The test re-runs its own binary as the writer (`--exact <this test>` with
//! `MLC_STORE_CRASH_WRITER_URL` set). The writer commits batches of `OUTCOMES_PER_BATCH`
//! outcomes, each with its link, audit event and record state, plus a cursor whose value is the
//! batch number, and says so on stdout before and after each commit. The parent kills it right
//! after a "committing" line, reopens the store and checks that the cursor counts exactly the
//! batches whose rows are all there, and that every batch reported committed is.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use mlc_store::{
    Action, AuditEvent, AuditQuery, CursorAdvance, EntityKind, FailureChange, LinkChange, NewRun,
    OutcomeBatch, RecordOutcome, StateStore,
};
use support::{at, Backend, TestStore};
use tokio::io::{AsyncBufReadExt, BufReader};

const WRITER_URL_VAR: &str = "MLC_STORE_CRASH_WRITER_URL";
const CONNECTION: &str = "crash";
const STREAM: &str = "batches";
const OUTCOMES_PER_BATCH: usize = 50;
const KILL_ROUNDS: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_killed_midway_leaves_all_or_nothing() {
    crash_test(
        "sqlite_batch_killed_midway_leaves_all_or_nothing",
        Backend::Sqlite,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_killed_midway_leaves_all_or_nothing() {
    crash_test(
        "postgres_batch_killed_midway_leaves_all_or_nothing",
        Backend::Postgres,
    )
    .await;
}

async fn crash_test(test_name: &'static str, backend: Backend) {
    if let Ok(url) = std::env::var(WRITER_URL_VAR) {
        write_batches_until_killed(&url).await;
        return;
    }
    TestStore::run(backend, |fixture| async move {
        let writer_name = format!("mlc-crash-writer-{}", uuid::Uuid::new_v4().simple());
        let writer_url = match fixture.backend() {
            Backend::Sqlite => fixture.url.clone(),
            Backend::Postgres => format!("{}&application_name={writer_name}", fixture.url),
        };
        let mut complete_batches = 0;
        for round in 0..KILL_ROUNDS {
            // Kill at a different point of the batch's commit each round.
            let kill_in_batch = complete_batches + 3;
            let kill_at_fraction = (round as f64 + 0.5) / KILL_ROUNDS as f64;
            let reported =
                run_writer_and_kill(test_name, &writer_url, kill_in_batch, kill_at_fraction).await;
            wait_for_server_sessions_to_end(&fixture, &writer_name).await;
            let reopened = fixture.open_again(None).await;
            let found = verify_all_or_nothing(reopened.as_ref()).await;
            assert!(
                found >= reported.committed,
                "batch {} was reported committed but the store has {found}",
                reported.committed
            );
            assert!(
                found <= reported.committing,
                "the store has {found} batches, more than were started ({})",
                reported.committing
            );
            let cut = if found < reported.committing { "in flight, rolled back" } else { "had committed" };
            println!(
                "round {round}: killed during batch {} ({cut}); store holds {found} complete batches",
                reported.committing
            );
            complete_batches = found;
        }
        assert!(
            complete_batches >= KILL_ROUNDS,
            "each round committed something"
        );
    })
    .await;
}

/// A killed PostgreSQL client's server session may still be working through what the client
/// sent before it died (a COMMIT among it). Verifying before that session ends would read the
/// store halfway through that work, query by query, and see a batch half there.
async fn wait_for_server_sessions_to_end(fixture: &TestStore, writer_name: &str) {
    if fixture.backend() != Backend::Postgres {
        return;
    }
    let pool = sqlx::PgPool::connect(&fixture.url)
        .await
        .expect("connect to watch sessions");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sessions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(writer_name)
                .fetch_one(&pool)
                .await
                .expect("read pg_stat_activity");
        if sessions == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed writer's sessions did not end"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pool.close().await;
}

/// What the killed writer had said on stdout: the last batch it started and the last it
/// finished committing.
struct Reported {
    committing: u64,
    committed: u64,
}

async fn run_writer_and_kill(
    test_name: &str,
    url: &str,
    kill_in_batch: u64,
    kill_at_fraction: f64,
) -> Reported {
    let executable = std::env::current_exe().expect("test binary path");
    let mut writer = tokio::process::Command::new(executable)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(WRITER_URL_VAR, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn writer");
    let stdout = writer.stdout.take().expect("writer stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut reported = Reported {
        committing: 0,
        committed: 0,
    };
    // How long a commit takes, learnt from the batches before the one killed.
    let mut commit_durations = Vec::new();
    let mut commit_started = Instant::now();
    let read_until_kill_point = async {
        while let Some(line) = lines.next_line().await.expect("read writer output") {
            match reported.note(&line) {
                Some(Note::Committing) if reported.committing >= kill_in_batch => return,
                Some(Note::Committing) => commit_started = Instant::now(),
                Some(Note::Committed) => commit_durations.push(commit_started.elapsed()),
                None => {}
            }
        }
        panic!("the writer stopped before batch {kill_in_batch}");
    };
    tokio::time::timeout(Duration::from_secs(120), read_until_kill_point)
        .await
        .expect("writer reached the kill point in time");
    let typical_commit = commit_durations
        .iter()
        .sum::<Duration>()
        .checked_div(commit_durations.len() as u32)
        .unwrap_or(Duration::from_millis(5));
    tokio::time::sleep(typical_commit.mul_f64(kill_at_fraction)).await;
    // SIGKILL: no destructors, no rollback by the process itself.
    writer.start_kill().expect("kill writer");
    writer.wait().await.expect("reap writer");
    // What the writer printed before it died is still in the pipe.
    while let Ok(Some(line)) = lines.next_line().await {
        reported.note(&line);
    }
    reported
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Note {
    Committing,
    Committed,
}

impl Reported {
    /// Takes in one line of the writer's output.
    fn note(&mut self, line: &str) -> Option<Note> {
        if let Some(number) = line.strip_prefix("committing batch ") {
            self.committing = number.trim().parse().expect("batch number");
            return Some(Note::Committing);
        }
        if let Some(number) = line.strip_prefix("committed batch ") {
            self.committed = number.trim().parse().expect("batch number");
            return Some(Note::Committed);
        }
        None
    }
}

/// Reads the store and returns the number of complete batches, failing on any partial one.
async fn verify_all_or_nothing(store: &dyn StateStore) -> u64 {
    let (batches, version) = match store.cursor(CONNECTION, STREAM).await.expect("cursor") {
        Some(cursor) => (
            cursor.value.parse::<u64>().expect("cursor value"),
            cursor.version,
        ),
        None => (0, 0),
    };
    assert_eq!(version as u64, batches, "one cursor write per batch");
    let expected = batches as usize * OUTCOMES_PER_BATCH;

    let links = store
        .links(CONNECTION, EntityKind::Organization)
        .await
        .expect("links");
    let states = store
        .record_states(CONNECTION, EntityKind::Organization)
        .await
        .expect("states");
    let audit = store
        .audit(&AuditQuery {
            connection: Some(CONNECTION.to_string()),
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(links.len(), expected, "links of {batches} complete batches");
    assert_eq!(
        states.len(),
        expected,
        "record states of {batches} complete batches"
    );
    assert_eq!(
        audit.len(),
        expected,
        "audit events of {batches} complete batches"
    );
    for link in &links {
        let batch: u64 = link.ecc_key[..6].parse().expect("batch in key");
        assert!(
            batch >= 1 && batch <= batches,
            "link {} outside complete batches",
            link.ecc_key
        );
    }
    batches
}

fn ecc_key(batch: u64, index: usize) -> String {
    format!("{batch:06}-{index:03}")
}

/// The child: commits batch after batch until it is killed.
async fn write_batches_until_killed(url: &str) {
    let store = mlc_store::open(url, None)
        .await
        .expect("writer opens store");
    let run_id = store
        .start_run(&NewRun {
            connection: CONNECTION.to_string(),
            instance: mlc_store::instance_name(),
            mode: "crash-test".to_string(),
        })
        .await
        .expect("start run");
    loop {
        let cursor = store.cursor(CONNECTION, STREAM).await.expect("cursor");
        let done: u64 = cursor
            .as_ref()
            .map_or(0, |cursor| cursor.value.parse().expect("cursor value"));
        let batch = done + 1;
        let outcomes = (0..OUTCOMES_PER_BATCH)
            .map(|index| outcome(run_id, batch, index))
            .collect();
        let write = OutcomeBatch {
            connection: CONNECTION.to_string(),
            run_id,
            fencing_token: None,
            outcomes,
            cursor: Some(CursorAdvance {
                stream: STREAM.to_string(),
                expected_version: cursor.map(|cursor| cursor.version),
                value: batch.to_string(),
            }),
        };
        println!("committing batch {batch}");
        store.commit_outcomes(&write).await.expect("commit batch");
        println!("committed batch {batch}");
    }
}

fn outcome(run_id: i64, batch: u64, index: usize) -> RecordOutcome {
    let key = ecc_key(batch, index);
    let pipedrive_id = (batch * 1000 + index as u64) as i64;
    RecordOutcome {
        kind: EntityKind::Organization,
        ecc_key: key.clone(),
        pushed_hash: Some(format!("hash-{key}")),
        pipedrive_verified: None,
        link: LinkChange::Set(pipedrive_id),
        failure: FailureChange::Reset,
        closes_intent: None,
        audit: AuditEvent {
            id: 0,
            connection: CONNECTION.to_string(),
            run_id,
            kind: EntityKind::Organization,
            ecc_key: key.clone(),
            customer_number: key.clone(),
            read_at: at(0),
            source: "crash-test".to_string(),
            extracted: serde_json::json!({ "batch": batch, "index": index }),
            extracted_later: None,
            content_hash: format!("hash-{key}"),
            action: Action::Create,
            pipedrive_id: Some(pipedrive_id),
            outcome: "201 created".to_string(),
            error: None,
            recorded_at: at(1),
            full_copy_id: None,
        },
    }
}
