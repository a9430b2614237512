//! Crash safety of `ml-connector sync` as a user meets it: the process is killed with SIGKILL
//! at random moments while it writes to Pipedrive, and started again. At the end Pipedrive
//! holds no duplicate organization or person, every value is right, every record has one final
//! outcome in the audit trail, and no create intent is left open.
//!
//! Both simulators run in this test process; the connector runs as a child process on a
//! config file pointing at them. The Pipedrive plan is premium, so the governor paces the
//! writes and the kills land in the middle of a run.
//!
//! Scale by environment for a measurement: `MLC_KILL_CUSTOMERS` (default 250) and
//! `MLC_KILL_COUNT` (default 6), e.g. `MLC_KILL_CUSTOMERS=2000 MLC_KILL_COUNT=20`.

mod support;

use support::connector;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mlc_canonical::alpha_output;
use mlc_store::{Action, AuditQuery, EntityKind, ReviewStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

/// A small seeded generator (xorshift64*): the kill moments are the same on every run.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Milliseconds in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn creates_so_far(testbed: &Testbed) -> u64 {
    let stats = testbed.pipedrive.state().stats();
    (stats.organizations + stats.persons) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_at_random_moments_ends_without_duplicates_and_with_one_outcome_per_record() {
    let customers = env_number("MLC_KILL_CUSTOMERS", 250);
    let kills = env_number("MLC_KILL_COUNT", 6);
    let started = Instant::now();

    let mut options = TestbedOptions::new(customers, 29);
    options.plan = "premium".into();
    options.budget_share = 1.0;
    options.budget_tokens = Some(50_000_000);
    options.sync_lines = vec![r#"on_deleted = "label""#.to_string()];
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(&config, &testbed.config_text).unwrap();
    let log_path = testbed.directory.path().join("sync.log");

    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(
        setup.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    // With on_deleted = "label", the label must exist in Pipedrive, whose API cannot make one:
    // setup says so.
    assert!(
        String::from_utf8_lossy(&setup.stderr).contains("(sync.status_label) does not exist"),
        "setup did not warn about the missing status label: {}",
        String::from_utf8_lossy(&setup.stderr)
    );

    // Kill the sync at random moments, starting it again each time.
    let mut moments = Moments(0x5EED_0FC0_FFEE);
    let mut kills_done = 0;
    let mut kills_during_writes = 0;
    let mut finished_early = 0;
    while kills_done < kills {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let before = creates_so_far(&testbed);
        let mut child = connector(&config, &["sync"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Every other kill counts its moment from the run's first create, so kills land in
        // the middle of the writes and not only while the run reads ECC and plans.
        let wait = Duration::from_millis(moments.between(100, 2_500));
        let from_first_write = kills_done % 2 == 1;
        let spawned = Instant::now();
        let mut deadline = (!from_first_write).then(|| spawned + wait);
        let mut exited = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            if deadline.is_none() && creates_so_far(&testbed) > before {
                deadline = Some(Instant::now() + wait);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            assert!(
                spawned.elapsed() < Duration::from_secs(120),
                "the sync wrote nothing in two minutes"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match exited {
            Some(status) => {
                // The run finished before its kill moment: nothing was left to write.
                assert!(
                    status.success(),
                    "sync exited with {status}; log: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                finished_early += 1;
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills_done += 1;
                if creates_so_far(&testbed) > before {
                    kills_during_writes += 1;
                }
            }
        }
    }

    // The last run, to completion (a run the governor deferred is started again).
    let mut final_runs = 0;
    loop {
        final_runs += 1;
        let output = connector(&config, &["sync", "--json"]).output().unwrap();
        assert!(
            output.status.success(),
            "the final sync failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
        if summary["status"] != "deferred" {
            assert!(
                summary["status"] == "ok" || summary["status"] == "partial",
                "{summary}"
            );
            break;
        }
        assert!(
            final_runs < 5,
            "the final sync keeps being deferred: {summary}"
        );
    }

    // ── Runs: each killed run was marked interrupted by the process that took its lease ──
    let runs = testbed
        .store
        .runs(&mlc_store::RunQuery::default())
        .await
        .unwrap();
    let left_running: Vec<_> = runs
        .iter()
        .filter(|run| run.status == mlc_store::RunStatus::Running)
        .collect();
    assert!(
        left_running.is_empty(),
        "runs left running: {left_running:?}"
    );
    let interrupted = runs
        .iter()
        .filter(|run| run.status == mlc_store::RunStatus::Interrupted)
        .count();
    assert!(
        interrupted >= 1 && interrupted <= kills_done,
        "{interrupted} runs interrupted after {kills_done} kills"
    );

    // ── Pipedrive: no duplicates, right values ──
    let state = testbed.pipedrive.state();
    let fields = testbed.engine().await.unwrap().required_fields();
    assert!(!fields.is_empty());
    let resolver = {
        let engine = testbed.engine().await.unwrap();
        mlc_pipedrive::CustomFieldResolver::new(engine.client().clone())
    };
    let number_key = resolver
        .key(EntityKind::Organization, "ECC Customer Number")
        .await
        .unwrap();
    let contact_key = resolver
        .key(EntityKind::Person, "ECC Contact Number")
        .await
        .unwrap();
    let mut organizations: HashMap<String, Vec<Value>> = HashMap::new();
    for organization in state.organizations().into_iter().filter(|o| !o.is_deleted) {
        let number = organization.json["custom_fields"][&number_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        organizations
            .entry(number)
            .or_default()
            .push(organization.json);
    }
    let mut persons: HashMap<String, Vec<mlc_sim_pipedrive::StoredPerson>> = HashMap::new();
    for person in state.persons().into_iter().filter(|p| !p.is_deleted) {
        let number = person.json["custom_fields"][&contact_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        persons.entry(number).or_default().push(person);
    }
    let duplicate_organizations: Vec<&String> = organizations
        .iter()
        .filter(|(number, found)| !number.is_empty() && found.len() > 1)
        .map(|(number, _)| number)
        .collect();
    let duplicate_persons: Vec<&String> = persons
        .iter()
        .filter(|(number, found)| !number.is_empty() && found.len() > 1)
        .map(|(number, _)| number)
        .collect();
    assert!(
        duplicate_organizations.is_empty(),
        "duplicate organizations for customers {duplicate_organizations:?}"
    );
    assert!(
        duplicate_persons.is_empty(),
        "duplicate persons for contacts {duplicate_persons:?}"
    );
    assert!(
        !organizations.contains_key(""),
        "an organization without customer number was created"
    );

    let store = &testbed.store;
    let links: HashMap<String, i64> = store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    let pending: HashSet<String> = store
        .reviews("testbed", Some(ReviewStatus::Pending))
        .await
        .unwrap()
        .into_iter()
        .map(|review| review.ecc_key)
        .collect();
    // ── the audit trail: one final outcome per record, no open intent ──
    let open = store.open_intents("testbed").await.unwrap();
    assert!(open.is_empty(), "open intents remain: {open:?}");
    let events = store
        .audit(&AuditQuery {
            connection: Some("testbed".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut latest: HashMap<(EntityKind, String), &mlc_store::AuditEvent> = HashMap::new();
    for event in &events {
        let slot = latest
            .entry((event.kind, event.ecc_key.clone()))
            .or_insert(event);
        if event.id > slot.id {
            *slot = event;
        }
    }
    let truth = testbed.truth();
    let mut checked = 0;
    for record in &truth {
        let customer = &record.customer;
        let display = alpha_output(&customer.customer_number);
        if record.dirty.is_some() || customer.deleted || customer.blocked {
            continue;
        }
        if pending.contains(&customer.customer_number) {
            continue;
        }
        let found = organizations.get(&display).unwrap_or_else(|| {
            panic!(
                "customer {display} (duplicate of {:?}) has no organization; linked to {:?}; last audit event: {:?}",
                record.duplicate_of,
                links.get(&customer.customer_number),
                latest.get(&(EntityKind::Organization, customer.customer_number.clone()))
            )
        });
        let organization = &found[0];
        assert_eq!(organization["name"], customer.name.as_str(), "{display}");
        let part = |name: &str| {
            organization["address"][name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let address = &customer.billing_address;
        assert_eq!(part("postal_code"), address.postal_code, "{display}");
        assert_eq!(part("locality"), address.city, "{display}");
        // Pipedrive geocodes the parts ("Bahnhofstr." becomes "Bahnhofstraße"); the line
        // stays as sent.
        assert!(
            part("value").starts_with(address.street.trim()),
            "{display}: {}",
            part("value")
        );
        assert_eq!(
            links.get(&customer.customer_number),
            organization["id"].as_i64().as_ref(),
            "link of {display}"
        );
        for contact in &customer.contacts {
            let contact_display = alpha_output(&contact.contact_number);
            let person = persons
                .get(&contact_display)
                .and_then(|found| found.first())
                .unwrap_or_else(|| {
                    panic!(
                        "contact {contact_display} of customer {display} has no person; last audit event: {:?}",
                        latest.get(&(EntityKind::Person, contact.contact_number.clone()))
                    )
                });
            assert_eq!(
                person.org_id.map(|id| id as i64),
                organization["id"].as_i64(),
                "organization of contact {contact_display}"
            );
        }
        checked += 1;
    }
    assert!(
        checked * 10 >= customers * 8,
        "only {checked} of {customers} customers checked"
    );

    let final_actions = [
        Action::Create,
        Action::Update,
        Action::Link,
        Action::Skip,
        Action::Review,
        Action::Error,
    ];
    for record in &truth {
        let customer = &record.customer;
        let key = (EntityKind::Organization, customer.customer_number.clone());
        let event = latest.get(&key).unwrap_or_else(|| {
            panic!(
                "customer {} has no audit event",
                alpha_output(&customer.customer_number)
            )
        });
        assert!(
            final_actions.contains(&event.action),
            "customer {}: last audit event is {:?} ({})",
            customer.customer_number,
            event.action,
            event.outcome
        );
        if record.dirty.is_some() {
            continue;
        }
        for contact in &customer.contacts {
            let key = (EntityKind::Person, contact.contact_number.clone());
            let event = latest
                .get(&key)
                .unwrap_or_else(|| panic!("contact {} has no audit event", contact.contact_number));
            // A person waits while its organization is in review: that is its answer.
            let waits_for_review =
                event.action == Action::Deferred && pending.contains(&customer.customer_number);
            assert!(
                final_actions.contains(&event.action) || waits_for_review,
                "contact {}: last audit event is {:?} ({})",
                contact.contact_number,
                event.action,
                event.outcome
            );
        }
    }

    let recovered = events
        .iter()
        .filter(|event| event.source == "recovery")
        .map(|event| event.action)
        .collect::<Vec<_>>();
    let recovered_created = recovered.iter().filter(|a| **a == Action::Create).count();
    let organizations_created = state
        .organizations()
        .iter()
        .filter(|o| !o.is_deleted)
        .count();
    println!(
        "kill test: {customers} customers, {kills_done} kills ({kills_during_writes} while creating), \
         {finished_early} run(s) finished before their kill moment, {final_runs} final run(s); \
         {organizations_created} organizations, {} persons; duplicates: 0 organizations, 0 persons; \
         {checked} customers checked against the truth; {} open intents closed after a kill \
         ({recovered_created} found created by their external id); {:.1} s in all",
        persons.values().map(Vec::len).sum::<usize>(),
        recovered.len(),
        started.elapsed().as_secs_f64()
    );
    testbed.shutdown().await;
}
