//! Failed records and the review queue against both simulators.
//!
//! A record whose write Pipedrive refused is tried again on a later run even though ECC did
//! not change it (once its backoff pause has passed), parked after `sync.max_failures`, shown
//! among the errors of the audit, and replayed by `sync --customer K`. A lookup that fails is
//! never followed by a blind create. A hand-typed organization the matcher is unsure about
//! goes to review and is not duplicated; accepting links it, rejecting creates a new
//! organization once and remembers the decision.

use std::collections::HashMap;

use mlc_canonical::alpha_output;
use mlc_config::Config;
use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_pipedrive::ResolvedField;
use mlc_sim_pipedrive::{FaultSettings, NewOrganization};
use mlc_store::{
    Action, AuditQuery, EntityKind, NewIntent, NewRun, RecordState, ReviewStatus, RunStatus,
};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

/// The testbed's config with extra `[pipedrive]` lines and extra tables at the end.
fn config_with(testbed: &Testbed, pipedrive_lines: &str, tables: &str) -> Config {
    let text = testbed.config_text.replacen(
        "[pipedrive]\n",
        &format!("[pipedrive]\n{pipedrive_lines}\n"),
        1,
    ) + tables;
    mlc_config::parse("testbed.toml", &text, &|_| None)
        .unwrap_or_else(|error| panic!("config: {error}\n{text}"))
}

async fn engine_for(testbed: &Testbed, config: &Config) -> SyncEngine {
    SyncEngine::connect(config, testbed.store.clone())
        .await
        .expect("the engine connects")
}

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes")
}

fn field_key(fields: &[ResolvedField], name: &str) -> String {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| field.key.clone())
        .unwrap_or_else(|| panic!("setup resolved no field {name}"))
}

fn organization_posts(testbed: &Testbed) -> u64 {
    testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .filter(|request| request.method == "POST" && request.path == "/api/v2/organizations")
        .map(|request| request.count)
        .sum()
}

/// The intent a run records before it creates `customer`'s organization, as the engine writes
/// it (its customer number, in display form `display`, in the field `number_key`).
fn create_intent(
    run_id: i64,
    customer: &mlc_canonical::Customer,
    number_key: &str,
    display: &str,
) -> NewIntent {
    NewIntent {
        connection: "testbed".into(),
        run_id,
        kind: EntityKind::Organization,
        ecc_key: customer.customer_number.to_string(),
        operation: "create".into(),
        fencing_token: None,
        payload: json!({
            "external_id_key": number_key,
            "external_id": display,
            "pushed_hash": null,
            "content_hash": customer.organization_hash().to_string(),
            "customer_number": customer.customer_number,
            "extracted": Value::Null,
        }),
    }
}

/// Live organizations whose customer number field holds `display`.
fn organizations_of(testbed: &Testbed, number_key: &str, display: &str) -> Vec<u64> {
    testbed
        .pipedrive
        .state()
        .organizations()
        .into_iter()
        .filter(|organization| !organization.is_deleted)
        .filter(|organization| organization.json["custom_fields"][number_key] == display)
        .map(|organization| organization.id)
        .collect()
}

async fn organization_state(testbed: &Testbed, customer: &str) -> RecordState {
    testbed
        .store
        .record_state("testbed", EntityKind::Organization, customer)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("customer {customer} has no record state"))
}

/// Lets the backoff pause of every failed record pass, as waiting for it would.
async fn backoff_passes(testbed: &Testbed) {
    let path = testbed.directory.path().join("state.db");
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE record_state SET retry_after = NULL WHERE failures > 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_is_retried_then_parked_then_shown_then_replayed() {
    let mut options = TestbedOptions::new(30, 71);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();

    // The customers of the least common country get an owner Pipedrive does not know: their
    // creates are refused (400), the others go through.
    let truth = testbed.truth();
    let active: Vec<&mlc_canonical::Customer> = truth
        .iter()
        .map(|record| &record.customer)
        .filter(|customer| !customer.deleted && !customer.blocked && !customer.name.is_empty())
        .collect();
    let mut by_country: HashMap<String, Vec<String>> = HashMap::new();
    for customer in &active {
        by_country
            .entry(customer.billing_address.country.trim().to_uppercase())
            .or_default()
            .push(customer.customer_number.to_string());
    }
    let (country, failing) = by_country
        .iter()
        .filter(|(country, _)| !country.is_empty())
        .min_by_key(|(country, numbers)| (numbers.len(), (*country).clone()))
        .map(|(country, numbers)| (country.clone(), numbers.clone()))
        .unwrap();
    assert!(failing.len() < active.len());
    let broken = config_with(
        &testbed,
        "",
        &format!("\n[[mapping.owner_rules]]\ncountry = \"{country}\"\nowner_id = 999999\n"),
    );
    let fixed = config_with(&testbed, "", "");
    let engine = engine_for(&testbed, &broken).await;
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");
    let max_failures = broken.sync.max_failures;
    assert!(max_failures >= 2);

    // First run: the failing customers are errors with Pipedrive's reason, the others created.
    let first = sync(&engine, RunMode::Delta).await;
    assert_eq!(first.status, RunStatus::Partial, "{first:?}");
    for number in &failing {
        let state = organization_state(&testbed, number).await;
        assert_eq!(state.failures, 1, "{state:?}");
        assert!(!state.parked);
        assert!(
            organizations_of(&testbed, &number_key, &alpha_output(number)).is_empty(),
            "customer {number} was created"
        );
    }
    for customer in active
        .iter()
        .filter(|c| !failing.contains(&c.customer_number.to_string()))
    {
        assert_eq!(
            organizations_of(
                &testbed,
                &number_key,
                &customer.customer_number.display().into_string()
            )
            .len(),
            1,
            "customer {}: {first:?}",
            customer.customer_number
        );
    }

    // A run before the backoff pause has passed leaves them alone.
    let posts = organization_posts(&testbed);
    sync(&engine, RunMode::Delta).await;
    assert_eq!(
        organization_posts(&testbed),
        posts,
        "retried before the pause"
    );

    // Once it has passed, they are tried again though ECC did not change them, until parked.
    for attempt in 2..=max_failures {
        backoff_passes(&testbed).await;
        let posts = organization_posts(&testbed);
        let run = sync(&engine, RunMode::Delta).await;
        assert_eq!(
            organization_posts(&testbed) - posts,
            failing.len() as u64,
            "try {attempt}: {run:?}"
        );
        assert_eq!(run.status, RunStatus::Partial, "{run:?}");
        for number in &failing {
            let state = organization_state(&testbed, number).await;
            assert_eq!(state.failures, attempt, "{state:?}");
            assert_eq!(state.parked, attempt >= max_failures, "{state:?}");
        }
    }

    // Parked: not tried again, however long one waits, even with the cause fixed.
    backoff_passes(&testbed).await;
    let engine = engine_for(&testbed, &fixed).await;
    let posts = organization_posts(&testbed);
    sync(&engine, RunMode::Delta).await;
    assert_eq!(
        organization_posts(&testbed),
        posts,
        "a parked record was tried"
    );

    // Shown among the errors (what `ml-connector audit --action error` lists), with the reason.
    for number in &failing {
        let errors = testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                action: Some(Action::Error),
                kind: Some(EntityKind::Organization),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(errors.len() as u32, max_failures, "{errors:?}");
        assert!(
            errors.iter().all(|event| event
                .error
                .as_deref()
                .is_some_and(|error| error.contains("999999"))),
            "{errors:?}"
        );
    }

    // `sync --customer K` replays one; the others stay parked.
    let replayed = &failing[0];
    let replay = sync(
        &engine,
        RunMode::Customers(vec![alpha_output(replayed).to_string()]),
    )
    .await;
    assert_eq!(replay.status, RunStatus::Ok, "{replay:?}");
    assert_eq!(
        organizations_of(&testbed, &number_key, &alpha_output(replayed)).len(),
        1,
        "{replay:?}"
    );
    let state = organization_state(&testbed, replayed).await;
    assert_eq!((state.failures, state.parked), (0, false), "{state:?}");
    for number in &failing[1..] {
        assert!(organization_state(&testbed, number).await.parked);
        assert!(organizations_of(&testbed, &number_key, &alpha_output(number)).is_empty());
    }
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_after_a_lost_create_never_falls_back_to_a_create() {
    let mut options = TestbedOptions::new(6, 73);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    // One retry, so the failing lookups give up quickly.
    let config = config_with(&testbed, "retries = 1", "");
    let engine = engine_for(&testbed, &config).await;
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");
    let customer = testbed
        .truth()
        .into_iter()
        .map(|record| record.customer)
        .find(|customer| !customer.deleted && !customer.blocked && !customer.name.is_empty())
        .unwrap();
    let display = customer.customer_number.display().into_string().to_string();

    // A run was killed after its create reached Pipedrive and before it recorded the outcome:
    // the organization exists, the intent is open.
    let mut custom_fields = serde_json::Map::new();
    custom_fields.insert(number_key.clone(), json!(display));
    let lost = testbed
        .pipedrive
        .state()
        .insert_organization(NewOrganization {
            name: customer.name.clone(),
            custom_fields,
            ..NewOrganization::default()
        })
        .unwrap();
    let killed_run = testbed
        .store
        .start_run(&NewRun {
            connection: "testbed".into(),
            instance: "killed".into(),
            mode: "delta".into(),
        })
        .await
        .unwrap();
    testbed
        .store
        .record_intent(&create_intent(killed_run, &customer, &number_key, &display))
        .await
        .unwrap();

    // Pipedrive's organization list fails: the run cannot find out, so it creates nothing.
    testbed.pipedrive.state().set_faults(FaultSettings {
        error_rate: 1.0,
        methods: vec!["GET".into()],
        path_contains: "/api/v2/organizations".into(),
        ..FaultSettings::default()
    });
    let posts = organization_posts(&testbed);
    let failed = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await;
    assert!(
        failed.is_err(),
        "the run went on without its lookup: {failed:?}"
    );
    assert_eq!(
        organization_posts(&testbed),
        posts,
        "created without a lookup"
    );
    assert_eq!(
        testbed.store.open_intents("testbed").await.unwrap().len(),
        1,
        "the intent must stay open until the lookup answers"
    );

    // With the list back, the lost create is found and linked, not made again.
    testbed
        .pipedrive
        .state()
        .set_faults(FaultSettings::default());
    let run = sync(&engine, RunMode::Delta).await;
    assert_ne!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(
        organizations_of(&testbed, &number_key, &display),
        vec![lost],
        "customer {display}"
    );
    let link = testbed
        .store
        .link(
            "testbed",
            EntityKind::Organization,
            customer.customer_number.as_str(),
        )
        .await
        .unwrap()
        .map(|link| link.pipedrive_id);
    assert_eq!(link, Some(lost as i64));
    assert!(testbed
        .store
        .open_intents("testbed")
        .await
        .unwrap()
        .is_empty());
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_of_creates_is_settled_together_found_or_planned_again() {
    let mut options = TestbedOptions::new(8, 74);
    options.contacts_per_customer = 0;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    let config = config_with(&testbed, "", "");
    let engine = engine_for(&testbed, &config).await;
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");
    let customers: Vec<_> = testbed
        .truth()
        .into_iter()
        .map(|record| record.customer)
        .filter(|customer| !customer.deleted && !customer.blocked && !customer.name.is_empty())
        .take(4)
        .collect();
    assert_eq!(customers.len(), 4, "the testbed has four plain customers");

    // A run announced four creates together and was killed after three reached Pipedrive.
    let killed_run = testbed
        .store
        .start_run(&NewRun {
            connection: "testbed".into(),
            instance: "killed".into(),
            mode: "full".into(),
        })
        .await
        .unwrap();
    let mut lost = HashMap::new();
    let mut intents = Vec::new();
    for (index, customer) in customers.iter().enumerate() {
        let display = customer.customer_number.display().into_string().to_string();
        if index < 3 {
            let mut custom_fields = serde_json::Map::new();
            custom_fields.insert(number_key.clone(), json!(display));
            let id = testbed
                .pipedrive
                .state()
                .insert_organization(NewOrganization {
                    name: customer.name.clone(),
                    custom_fields,
                    ..NewOrganization::default()
                })
                .unwrap();
            lost.insert(display.clone(), id);
        }
        intents.push(create_intent(killed_run, customer, &number_key, &display));
    }
    testbed.store.record_intents(&intents).await.unwrap();

    let run = sync(&engine, RunMode::Delta).await;
    assert_ne!(run.status, RunStatus::Failed, "{run:?}");
    for customer in &customers {
        let display = customer.customer_number.display().into_string().to_string();
        let organizations = organizations_of(&testbed, &number_key, &display);
        assert_eq!(
            organizations.len(),
            1,
            "customer {display}: {organizations:?}"
        );
        if let Some(id) = lost.get(&display) {
            assert_eq!(organizations, vec![*id], "customer {display}");
        }
        let link = testbed
            .store
            .link(
                "testbed",
                EntityKind::Organization,
                customer.customer_number.as_str(),
            )
            .await
            .unwrap()
            .map(|link| link.pipedrive_id);
        assert_eq!(link, Some(organizations[0] as i64), "customer {display}");
    }
    let recovered = testbed
        .store
        .audit(&AuditQuery {
            connection: Some("testbed".into()),
            run_id: Some(run.run_id),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let found = recovered
        .iter()
        .filter(|event| event.source == "recovery" && event.action == Action::Create)
        .count();
    let again = recovered
        .iter()
        .filter(|event| event.source == "recovery" && event.outcome.contains("planned again"))
        .count();
    assert_eq!((found, again), (3, 1), "{recovered:#?}");
    assert!(testbed
        .store
        .open_intents("testbed")
        .await
        .unwrap()
        .is_empty());
    testbed.shutdown().await;
}

/// An organization a salesperson typed with a slip of the finger: one letter of the name
/// dropped, the address right, no customer number. Close, but not sure.
struct Typed {
    customer_number: String,
    organization_id: u64,
}

/// A testbed with three such organizations; the link threshold is above any fuzzy score, so
/// they fall in the review band.
async fn review_testbed(seed: u64) -> (Testbed, SyncEngine, String, Vec<Typed>) {
    let mut options = TestbedOptions::new(24, seed);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec![
        "link_threshold = 0.999".into(),
        "review_threshold = 0.5".into(),
    ];
    let testbed = Testbed::start(options).await.unwrap();
    let mut typed = Vec::new();
    for record in testbed
        .truth()
        .iter()
        .filter(|record| {
            let customer = &record.customer;
            !customer.deleted && !customer.blocked && customer.name.chars().count() > 8
        })
        .take(3)
    {
        let customer = &record.customer;
        let address = &customer.billing_address;
        let mut name: Vec<char> = customer.name.chars().collect();
        name.remove(name.len() / 2);
        let organization_id = testbed
            .pipedrive
            .state()
            .insert_organization(NewOrganization {
                name: name.into_iter().collect(),
                address: Some(json!({
                    "value": format!("{} {}, {} {}", address.street, address.house_number, address.postal_code, address.city),
                    "route": address.street,
                    "street_number": address.house_number,
                    "postal_code": address.postal_code,
                    "locality": address.city,
                })),
                ..NewOrganization::default()
            })
            .unwrap();
        typed.push(Typed {
            customer_number: customer.customer_number.to_string(),
            organization_id,
        });
    }
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");
    (testbed, engine, number_key, typed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_is_queued_without_a_create_and_accepting_links_rejecting_creates_once() {
    let (testbed, engine, number_key, typed) = review_testbed(79).await;
    let first = sync(&engine, RunMode::Delta).await;
    assert_ne!(first.status, RunStatus::Failed, "{first:?}");

    // Each hand-typed organization is in the queue, nothing created for its customer.
    let pending = testbed
        .store
        .reviews("testbed", Some(ReviewStatus::Pending))
        .await
        .unwrap();
    let mut reviews = Vec::new();
    for typed in &typed {
        let review = pending
            .iter()
            .find(|review| {
                review.kind == EntityKind::Organization && review.ecc_key == typed.customer_number
            })
            .unwrap_or_else(|| {
                panic!(
                    "no review for customer {} (organization {}): {pending:?} {first:?}",
                    typed.customer_number, typed.organization_id
                )
            });
        assert_eq!(review.pipedrive_id, typed.organization_id as i64);
        assert!(
            organizations_of(&testbed, &number_key, &alpha_output(&typed.customer_number))
                .is_empty(),
            "customer {} was created while in review",
            typed.customer_number
        );
        reviews.push(review.clone());
    }
    assert!(reviews.len() >= 2);

    // A run in between changes nothing and queues nothing twice.
    sync(&engine, RunMode::Delta).await;
    let again = testbed.store.reviews("testbed", None).await.unwrap();
    assert_eq!(again.len(), pending.len(), "{again:?}");

    // Accept the first, reject the second (what `review accept|reject ID` does).
    let accepted = &reviews[0];
    let rejected = &reviews[1];
    testbed
        .store
        .decide_review(accepted.id, ReviewStatus::Accepted, "test")
        .await
        .unwrap();
    testbed
        .store
        .decide_review(rejected.id, ReviewStatus::Rejected, "test")
        .await
        .unwrap();
    let decided = sync(&engine, RunMode::Delta).await;
    assert_ne!(decided.status, RunStatus::Failed, "{decided:?}");

    let link_of = |number: String| {
        let store = testbed.store.clone();
        async move {
            store
                .link("testbed", EntityKind::Organization, &number)
                .await
                .unwrap()
                .map(|link| link.pipedrive_id)
        }
    };
    // Accepted: linked to the hand-typed organization, which now carries the mapped values.
    assert_eq!(
        link_of(accepted.ecc_key.clone()).await,
        Some(accepted.pipedrive_id),
        "{decided:?}"
    );
    let linked = testbed
        .pipedrive
        .state()
        .organization(accepted.pipedrive_id as u64)
        .unwrap();
    assert_eq!(
        linked.json["custom_fields"][&number_key],
        alpha_output(&accepted.ecc_key).as_str()
    );
    // Rejected: a new organization, the hand-typed one left as it was.
    let created = organizations_of(&testbed, &number_key, &alpha_output(&rejected.ecc_key));
    assert_eq!(created.len(), 1, "{decided:?}");
    assert_ne!(created[0] as i64, rejected.pipedrive_id);
    assert_eq!(
        link_of(rejected.ecc_key.clone()).await,
        Some(created[0] as i64)
    );
    let untouched = testbed
        .pipedrive
        .state()
        .organization(rejected.pipedrive_id as u64)
        .unwrap();
    assert!(!untouched.is_deleted);
    assert_eq!(
        untouched.json["custom_fields"][&number_key]
            .as_str()
            .unwrap_or_default(),
        ""
    );

    // The decision is remembered: a full run queues no new review for the rejected pair and
    // creates nothing more.
    let posts = organization_posts(&testbed);
    let full = sync(&engine, RunMode::Full).await;
    assert_ne!(full.status, RunStatus::Failed, "{full:?}");
    assert_eq!(organization_posts(&testbed), posts, "{full:?}");
    let all = testbed.store.reviews("testbed", None).await.unwrap();
    let for_rejected: Vec<_> = all
        .iter()
        .filter(|review| review.ecc_key == rejected.ecc_key)
        .collect();
    assert_eq!(for_rejected.len(), 1, "{for_rejected:?}");
    assert_eq!(for_rejected[0].status, ReviewStatus::Rejected);
    testbed.shutdown().await;
}

/// An outage of Pipedrive (every write answered 500, more often than the client retries) for
/// several runs parks nothing and charges no record: each run ends deferred with its cursor
/// where it was; once Pipedrive is well, one delta run brings every pending change, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_over_several_runs_parks_nothing_and_one_run_afterwards_brings_everything() {
    let mut options = TestbedOptions::new(8, 83);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec!["max_failures = 2".into()];
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let contact_key = field_key(&fields, "ECC Contact Number");

    testbed.pipedrive.state().set_faults(FaultSettings {
        error_rate: 1.0,
        methods: vec!["POST".into(), "PATCH".into()],
        ..FaultSettings::default()
    });
    // More runs than `max_failures`: were outages charged to records, they would be parked.
    for _ in 0..3 {
        let run = sync(&engine, RunMode::Delta).await;
        assert_eq!(run.status, RunStatus::Deferred, "{run:?}");
        assert!(
            run.alert
                .as_deref()
                .unwrap_or_default()
                .contains("pipedrive is failing"),
            "{run:?}"
        );
        assert_eq!(run.counts.get(&Action::Error), None, "{run:?}");
    }
    assert_eq!(testbed.pipedrive.state().stats().organizations, 0);
    for kind in [EntityKind::Organization, EntityKind::Person] {
        for state in testbed.store.record_states("testbed", kind).await.unwrap() {
            assert_eq!((state.failures, state.parked), (0, false), "{state:?}");
        }
    }

    // Pipedrive is well again: one run, no waiting for a backoff, brings everything.
    testbed
        .pipedrive
        .state()
        .set_faults(FaultSettings::default());
    let healed = sync(&engine, RunMode::Delta).await;
    assert_eq!(healed.status, RunStatus::Ok, "{healed:?}");
    let contacts: Vec<String> = testbed
        .truth()
        .iter()
        .filter(|record| !record.customer.deleted && !record.customer.blocked)
        .flat_map(|record| record.customer.contacts.iter())
        .map(|contact| contact.contact_number.clone())
        .collect();
    assert!(!contacts.is_empty());
    let persons = testbed.pipedrive.state().persons();
    for contact in &contacts {
        let display = alpha_output(contact);
        let found = persons
            .iter()
            .filter(|person| !person.is_deleted)
            .filter(|person| person.json["custom_fields"][&contact_key] == display.as_str())
            .count();
        assert_eq!(found, 1, "contact {display}: {healed:?}");
    }
    assert!(testbed.pipedrive.state().stats().organizations > 0);
    assert!(testbed
        .store
        .open_intents("testbed")
        .await
        .unwrap()
        .is_empty());
    testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_person_is_retried_however_busy_the_audit_trail_was_since() {
    let mut options = TestbedOptions::new(4, 89);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let contact_key = field_key(&fields, "ECC Contact Number");

    // Every person create is refused (400, about the record); the organizations are created.
    testbed.pipedrive.state().set_faults(FaultSettings {
        error_rate: 1.0,
        error_status: Some(400),
        methods: vec!["POST".into()],
        path_contains: "/api/v2/persons".into(),
        ..FaultSettings::default()
    });
    let first = sync(&engine, RunMode::Delta).await;
    assert_eq!(first.status, RunStatus::Partial, "{first:?}");
    let contacts: Vec<String> = testbed
        .truth()
        .iter()
        .filter(|record| !record.customer.deleted && !record.customer.blocked)
        .flat_map(|record| record.customer.contacts.iter())
        .map(|contact| contact.contact_number.clone())
        .collect();
    assert!(!contacts.is_empty());

    // A busy run after it writes thousands of audit events about other persons.
    let busy_run = testbed
        .store
        .start_run(&NewRun {
            connection: "testbed".into(),
            instance: "busy".into(),
            mode: "delta".into(),
        })
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let busy: Vec<mlc_store::AuditEvent> = (0..3000)
        .map(|index| mlc_store::AuditEvent {
            id: 0,
            connection: "testbed".into(),
            run_id: busy_run,
            kind: EntityKind::Person,
            ecc_key: format!("{:010}", 9_000_000 + index),
            customer_number: format!("{:010}", 8_000_000 + index),
            read_at: now,
            source: "soap-rfc:KNVK".into(),
            extracted: Value::Null,
            extracted_later: None,
            content_hash: String::new(),
            action: Action::Skip,
            pipedrive_id: None,
            outcome: "no call: unchanged since the last write".into(),
            error: None,
            recorded_at: now,
            full_copy_id: None,
        })
        .collect();
    testbed.store.append_audit(&busy).await.unwrap();

    // The next delta run finds each failed person's customer in its state and creates it.
    testbed
        .pipedrive
        .state()
        .set_faults(FaultSettings::default());
    backoff_passes(&testbed).await;
    let second = sync(&engine, RunMode::Delta).await;
    assert_eq!(second.status, RunStatus::Ok, "{second:?}");
    let persons = testbed.pipedrive.state().persons();
    for contact in &contacts {
        let display = alpha_output(contact);
        let found = persons
            .iter()
            .filter(|person| !person.is_deleted)
            .filter(|person| person.json["custom_fields"][&contact_key] == display.as_str())
            .count();
        assert_eq!(found, 1, "contact {display} was not retried: {second:?}");
    }
    testbed.shutdown().await;
}
