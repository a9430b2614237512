//! `ml-connector review` as a user runs it against a store: the queue ranked with its evidence
//! (table, `--wide`, `--groups`, JSON), group and score decisions with `--dry-run`, and the
//! decision records `review history` shows. Nothing here contacts ECC or Pipedrive.

mod support;

use std::path::PathBuf;
use std::process::Output;

use chrono::Utc;
use mlc_store::{
    Action, AuditEvent, DecisionRule, EntityKind, FailureChange, LinkChange, NewReview, NewRun,
    OutcomeBatch, RecordOutcome, ReviewStatus, StateStore,
};
use serde_json::{json, Value};
use support::{connector, text};

const CONNECTION: &str = "default";

struct Setup {
    _folder: tempfile::TempDir,
    config: PathBuf,
    url: String,
}

/// A config whose store is `url` (a SQLite file in the test's folder when `None`).
fn setup(url: Option<String>) -> Setup {
    let folder = tempfile::tempdir().unwrap();
    let url =
        url.unwrap_or_else(|| format!("sqlite://{}", folder.path().join("state.db").display()));
    let config = folder.path().join("ml-connector.toml");
    let text = mlc_config::TEMPLATE.replace("sqlite://ml-connector.db", &url);
    std::fs::write(&config, text).unwrap();
    Setup {
        _folder: folder,
        config,
        url,
    }
}

fn review(setup: &Setup, args: &[&str]) -> Output {
    let mut command = connector(&setup.config, &[&["review"], args].concat());
    command
        .env("ECC_PASSWORD", "secret")
        .env("PIPEDRIVE_API_TOKEN", "token")
        .env("MLC_ADMIN_TOKEN", "admin")
        .env("USER", "anna")
        .env("RUST_LOG", "warn");
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", text(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("not JSON: {error}: {}", text(output));
    })
}

async fn open(setup: &Setup) -> std::sync::Arc<dyn StateStore> {
    mlc_store::open(&setup.url, None).await.unwrap()
}

/// Pairs 1 to 5: 1 and 2 propose organization 500 (a group), 3 scores 0.93 with weighted
/// evidence, 4 scores 0.72, 5 proposes organization 800, which is linked to customer 9999.
async fn fill_queue(store: &dyn StateStore) {
    let today = json!({
        "decision": "review", "reason": "middle_band",
        "candidate": {"pipedrive_id": 500, "rule": "name_and_address", "score": 0.85,
                      "name_score": 0.93, "address_factor": 0.9,
                      "agreed": ["postal_code", "city"], "disagreed": ["street"]}
    });
    let weighted = json!({
        "decision": "review",
        "candidate": {"comparisons": [
            {"name": "vat_number", "value": "equal", "weight": 4.0},
            {"name": "house_number", "ecc": "12", "pipedrive": "14", "weight": -2.5},
            {"name": "phone", "value": "not compared"},
            {"name": "website_domain", "value": "equal", "weight": 1.25},
            {"name": "email_domain", "value": "equal", "weight": 1.5}
        ]}
    });
    let pairs = [
        ("0000001001", 500, 0.85, &today),
        ("0000001002", 500, 0.80, &today),
        ("0000001003", 600, 0.93, &weighted),
        ("0000001004", 700, 0.72, &today),
        ("0000001005", 800, 0.91, &today),
    ];
    for (ecc_key, pipedrive_id, score, evidence) in pairs {
        store
            .enqueue_review(&NewReview {
                connection: CONNECTION.into(),
                kind: EntityKind::Organization,
                ecc_key: ecc_key.into(),
                pipedrive_id,
                score,
                evidence: evidence.clone(),
            })
            .await
            .unwrap();
    }
    let run_id = store
        .start_run(&NewRun {
            connection: CONNECTION.into(),
            instance: "test".into(),
            mode: "delta".into(),
        })
        .await
        .unwrap();
    let now = Utc::now();
    let audit = AuditEvent {
        id: 0,
        connection: CONNECTION.into(),
        run_id,
        kind: EntityKind::Organization,
        ecc_key: "0000009999".into(),
        customer_number: "0000009999".into(),
        read_at: now,
        source: "soap-rfc:KNA1".into(),
        extracted: json!({"name": "Other GmbH"}),
        extracted_later: None,
        content_hash: "hash".into(),
        action: Action::Link,
        pipedrive_id: Some(800),
        outcome: "linked".into(),
        error: None,
        recorded_at: now,
        full_copy_id: None,
    };
    store
        .commit_outcomes(&OutcomeBatch {
            connection: CONNECTION.into(),
            run_id,
            fencing_token: None,
            outcomes: vec![RecordOutcome {
                kind: EntityKind::Organization,
                ecc_key: "0000009999".into(),
                pushed_hash: Some("hash".into()),
                pipedrive_verified: None,
                link: LinkChange::Set(800),
                failure: FailureChange::Reset,
                closes_intent: None,
                audit,
            }],
            cursor: None,
        })
        .await
        .unwrap();
}

fn ids(rows: &Value, key: &str) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row[key].as_i64().unwrap())
        .collect()
}

async fn statuses(store: &dyn StateStore) -> Vec<(i64, ReviewStatus)> {
    store
        .reviews(CONNECTION, None)
        .await
        .unwrap()
        .iter()
        .map(|item| (item.id, item.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_list_ranks_groups_first_and_shows_the_evidence_for_and_against() {
    let setup = setup(None);
    fill_queue(open(&setup).await.as_ref()).await;

    let listed = json_of(&review(&setup, &["list", "--format", "json"]));
    assert_eq!(ids(&listed, "id"), [1, 2, 3, 5, 4]);
    assert_eq!(listed[0]["group_pairs"], json!([1, 2]));
    assert_eq!(listed[0]["settles"], 2);
    assert_eq!(listed[0]["reason"], "middle band");
    assert_eq!(listed[2]["comparisons"][0]["name"], "vat number");
    assert_eq!(listed[2]["comparisons"][0]["weight"], 4.0);
    assert_eq!(listed[2]["comparisons"][0]["direction"], "for");
    assert_eq!(
        listed[2]["evidence_stored"]["candidate"]["comparisons"][1]["pipedrive"], "14",
        "the stored evidence is there whole"
    );

    let table = review(&setup, &["list"]);
    assert!(table.status.success(), "{}", text(&table));
    let table = stdout(&table);
    let rows: Vec<&str> = table.lines().filter(|line| line.contains("org ")).collect();
    assert_eq!(rows.len(), 5, "{table}");
    assert!(
        rows[0].contains("1001") && rows[0].contains("1,2"),
        "{table}"
    );
    assert!(
        rows[0].contains("+postal code +city −street"),
        "the evidence, for then against: {table}"
    );
    assert!(rows[2].contains("+vat number(4.0)"), "{table}");
    assert!(
        rows[2].contains('…'),
        "a long evidence is cut to fit: {table}"
    );
    assert!(
        table.lines().all(|line| line.chars().count() <= 100),
        "a row fits 100 columns: {table}"
    );
    assert!(table.contains("review accept --group ID"), "{table}");

    let wide = stdout(&review(&setup, &["list", "--wide"]));
    assert!(
        wide.contains("−house number(-2.5) ~phone not compared"),
        "--wide shows the whole evidence: {wide}"
    );
    assert!(wide.contains("middle band"), "and the reason: {wide}");

    let groups = json_of(&review(&setup, &["list", "--groups", "--format", "json"]));
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["pair_ids"], json!([1, 2]));
    assert_eq!(groups[0]["record"], "org 500");
    assert_eq!(groups[0]["customers"], "1001, 1002");

    let help = review(&setup, &["list", "--help"]);
    assert!(
        stdout(&help).contains("distance to the nearer threshold"),
        "the ranking is documented in the help: {}",
        text(&help)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_above_holds_back_what_a_person_must_decide_and_a_dry_run_decides_nothing() {
    let setup = setup(None);
    let store = open(&setup).await;
    fill_queue(store.as_ref()).await;
    let before = statuses(store.as_ref()).await;

    let dry = review(&setup, &["accept", "--above", "0.84", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let out = stdout(&dry);
    assert!(
        out.contains("would accept pair 3: customer 1003 and org 600"),
        "{out}"
    );
    assert!(
        out.contains("held back pair 1: organization 500 is proposed for 2 ECC records"),
        "{out}"
    );
    assert!(
        out.contains("held back pair 5: organization 800 is already linked to ECC record 9999"),
        "{out}"
    );
    assert!(
        out.contains("would accept 1, would reject 0, 2 held back; nothing decided"),
        "{out}"
    );
    assert_eq!(
        statuses(store.as_ref()).await,
        before,
        "a dry run decides nothing"
    );

    let done = review(&setup, &["accept", "--above", "0.84"]);
    assert!(done.status.success(), "{}", text(&done));
    assert!(
        stdout(&done).contains("bulk: score >= 0.84: accepted 1, rejected 0, 2 held back"),
        "{}",
        text(&done)
    );
    let after = statuses(store.as_ref()).await;
    assert_eq!(after[2], (3, ReviewStatus::Accepted));
    assert_eq!(
        after
            .iter()
            .filter(|(_, status)| *status == ReviewStatus::Pending)
            .count(),
        4
    );

    let history = json_of(&review(&setup, &["history", "--format", "json"]));
    assert_eq!(ids(&history, "pair"), [3]);
    assert_eq!(history[0]["how"], "bulk: score >= 0.84");
    assert_eq!(history[0]["decision"], "accepted");
    assert_eq!(history[0]["decided_by"], "cli:anna");

    for bad in [
        vec!["accept", "--above", "1.5"],
        vec!["accept", "--above", "high"],
    ] {
        let refused = review(&setup, &bad);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("0 to 1"),
            "{}",
            text(&refused)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_decision_settles_the_group_and_each_pair_is_recorded_with_its_rule() {
    let setup = setup(None);
    let store = open(&setup).await;
    fill_queue(store.as_ref()).await;

    let group = review(&setup, &["accept", "--group", "2"]);
    assert!(group.status.success(), "{}", text(&group));
    assert!(
        stdout(&group).contains("group of pair 2: accepted 1, rejected 1"),
        "{}",
        text(&group)
    );
    let below = review(&setup, &["reject", "--below", "0.75"]);
    assert!(below.status.success(), "{}", text(&below));
    let single = review(&setup, &["reject", "5"]);
    assert!(single.status.success(), "{}", text(&single));

    assert_eq!(
        statuses(store.as_ref()).await,
        [
            (1, ReviewStatus::Rejected),
            (2, ReviewStatus::Accepted),
            (3, ReviewStatus::Pending),
            (4, ReviewStatus::Rejected),
            (5, ReviewStatus::Rejected),
        ]
    );
    let records = store.review_decisions(CONNECTION, None).await.unwrap();
    let summary: Vec<(i64, ReviewStatus, DecisionRule)> = records
        .iter()
        .map(|record| (record.review_id, record.decision, record.rule))
        .collect();
    assert_eq!(
        summary,
        [
            (
                2,
                ReviewStatus::Accepted,
                DecisionRule::Group { of_pair: 2 }
            ),
            (
                1,
                ReviewStatus::Rejected,
                DecisionRule::Group { of_pair: 2 }
            ),
            (
                4,
                ReviewStatus::Rejected,
                DecisionRule::ScoreBelow { score: 0.75 }
            ),
            (5, ReviewStatus::Rejected, DecisionRule::Single),
        ]
    );
    assert!(records.iter().all(|record| record.decided_by == "cli:anna"));
    let all = json_of(&review(&setup, &["list", "--all", "--format", "json"]));
    let first = all
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"] == 1)
        .unwrap();
    assert_eq!(first["decision_rule"], "group of pair 2");

    // A group is named by a pending pair of this connection's queue.
    let decided = review(&setup, &["reject", "--group", "2"]);
    assert_eq!(decided.status.code(), Some(2), "{}", text(&decided));
    assert!(String::from_utf8_lossy(&decided.stderr).contains("pair 2 is already accepted"));
    let missing = review(&setup, &["reject", "--group", "99"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("review item 99 does not exist"));
}

/// The same decisions on PostgreSQL, when one is configured (`MLC_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_score_decisions_on_postgres() {
    let Some(url) = support::postgres_store_url("mlc_cli_review").await else {
        return;
    };
    let setup = setup(Some(url));
    let store = open(&setup).await;
    fill_queue(store.as_ref()).await;
    assert!(review(&setup, &["accept", "--group", "1"]).status.success());
    assert!(review(&setup, &["accept", "--above", "0.9"])
        .status
        .success());
    assert_eq!(
        statuses(store.as_ref()).await,
        [
            (1, ReviewStatus::Accepted),
            (2, ReviewStatus::Rejected),
            (3, ReviewStatus::Accepted),
            (4, ReviewStatus::Pending),
            (5, ReviewStatus::Pending),
        ]
    );
    let history = json_of(&review(&setup, &["history", "--format", "json"]));
    assert_eq!(ids(&history, "pair"), [1, 2, 3]);
    assert_eq!(history[2]["how"], "bulk: score >= 0.9");
}
