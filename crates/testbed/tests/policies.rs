//! The deletion and block policies (`sync.on_deleted`, `sync.on_blocked`: leave, label, field,
//! delete) against both simulators: a customer synced earlier is deleted (LOEVM) or blocked
//! (SPERR) in ECC, and the next sync does what the setting says to its organization, and
//! nothing to the others. A customer deleted or blocked before it was ever synced is not
//! created whatever the setting.

use std::collections::HashMap;

use mlc_engine::{NoProgress, RunMode, RunOptions, RunSummary, SyncEngine};
use mlc_pipedrive::{CustomFieldResolver, ResolvedField};
use mlc_store::{Action, AuditQuery, EntityKind, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::Value;

/// An organization label the simulated company has (Pipedrive labels are managed in its
/// settings; the connector only resolves the name).
const EXISTING_LABEL: &str = "Cold lead";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lifecycle {
    Deleted,
    Blocked,
}

impl Lifecycle {
    fn setting(self) -> &'static str {
        match self {
            Lifecycle::Deleted => "on_deleted",
            Lifecycle::Blocked => "on_blocked",
        }
    }

    fn status(self) -> &'static str {
        match self {
            Lifecycle::Deleted => "deleted",
            Lifecycle::Blocked => "blocked",
        }
    }
}

async fn sync(engine: &SyncEngine, mode: RunMode) -> RunSummary {
    let summary = engine
        .run(&RunOptions::new(mode), &NoProgress)
        .await
        .expect("the run completes");
    assert_ne!(summary.status, RunStatus::Failed, "{summary:?}");
    summary
}

fn field_key(fields: &[ResolvedField], name: &str) -> String {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| field.key.clone())
        .unwrap_or_else(|| panic!("setup resolved no field {name}"))
}

fn write_calls(testbed: &Testbed) -> u64 {
    testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .filter(|request| request.method != "GET")
        .map(|request| request.count)
        .sum()
}

/// Live organizations by their ECC customer number (display form).
fn organizations_by_number(testbed: &Testbed, number_key: &str) -> HashMap<String, Vec<Value>> {
    let mut by_number: HashMap<String, Vec<Value>> = HashMap::new();
    for organization in testbed.pipedrive.state().organizations() {
        if organization.is_deleted {
            continue;
        }
        let number = organization.json["custom_fields"][number_key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        by_number.entry(number).or_default().push(organization.json);
    }
    by_number
}

struct Scenario {
    testbed: Testbed,
    engine: SyncEngine,
    fields: Vec<ResolvedField>,
    links: HashMap<String, i64>,
    /// Customers that were synced and are now deleted or blocked in ECC, with their
    /// organization before the change.
    changed: Vec<(String, i64, Value)>,
    /// Organizations of customers left alone, before the second sync.
    untouched: Vec<(i64, Value)>,
}

/// Syncs a fresh testbed with `policy` for `lifecycle`, checks that customers deleted or
/// blocked from the start were not created, then deletes or blocks some synced customers in
/// ECC and syncs again.
async fn scenario(lifecycle: Lifecycle, policy: &str, extra: &[&str]) -> Scenario {
    let mut options = TestbedOptions::new(40, 53);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.dirty_rate = 0.0;
    options.sync_lines = vec![format!("{} = \"{policy}\"", lifecycle.setting())];
    options
        .sync_lines
        .extend(extra.iter().map(ToString::to_string));
    let testbed = Testbed::start(options).await.unwrap();
    let engine = testbed.engine().await.unwrap();
    let fields = testbed.setup(&engine).await.unwrap();
    let number_key = field_key(&fields, "ECC Customer Number");

    sync(&engine, RunMode::Delta).await;
    let by_number = organizations_by_number(&testbed, &number_key);
    let truth = testbed.truth();
    let mut never_synced = 0;
    for record in &truth {
        let customer = &record.customer;
        if customer.deleted || customer.blocked {
            never_synced += 1;
            assert!(
                !by_number.contains_key(&customer.customer_number.display().into_string()),
                "customer {} was {} in ECC before it was ever synced, yet has an organization",
                customer.customer_number,
                if customer.deleted {
                    "deleted"
                } else {
                    "blocked"
                }
            );
        }
    }
    assert!(
        never_synced > 0,
        "the simulator gave no customer deleted or blocked from the start"
    );
    let links: HashMap<String, i64> = testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();

    let numbers = match lifecycle {
        Lifecycle::Deleted => testbed.ecc.delete(4),
        Lifecycle::Blocked => testbed.ecc.block(4),
    };
    let state = testbed.pipedrive.state();
    let changed: Vec<(String, i64, Value)> = numbers
        .iter()
        .filter_map(|number| {
            let id = *links.get(number)?;
            let before = state.organization(id as u64)?.json;
            Some((number.clone(), id, before))
        })
        .collect();
    assert!(!changed.is_empty(), "none of {numbers:?} was synced");
    let untouched: Vec<(i64, Value)> = links
        .iter()
        .filter(|(number, _)| !numbers.contains(number))
        .filter_map(|(_, id)| Some((*id, state.organization(*id as u64)?.json)))
        .collect();

    sync(&engine, RunMode::Delta).await;
    Scenario {
        testbed,
        engine,
        fields,
        links,
        changed,
        untouched,
    }
}

/// The organizations of customers ECC did not change are exactly as they were.
fn assert_others_untouched(scenario: &Scenario) {
    let state = scenario.testbed.pipedrive.state();
    for (id, before) in &scenario.untouched {
        let now = state.organization(*id as u64).unwrap();
        assert!(!now.is_deleted, "organization {id} was deleted");
        assert_eq!(&now.json, before, "organization {id} was changed");
    }
}

/// A full run afterwards finds nothing to do: the policy's outcome is remembered.
async fn assert_full_run_writes_nothing(scenario: &Scenario) {
    let before = write_calls(&scenario.testbed);
    let full = sync(&scenario.engine, RunMode::Full).await;
    assert_eq!(
        write_calls(&scenario.testbed),
        before,
        "a full run after the policy was applied wrote again: {:?}",
        full.counts
    );
    assert_eq!(
        full.counts.get(&Action::Error).copied().unwrap_or(0),
        0,
        "{full:?}"
    );
}

async fn leave(lifecycle: Lifecycle) {
    let scenario = scenario(lifecycle, "leave", &[]).await;
    let state = scenario.testbed.pipedrive.state();
    for (number, id, before) in &scenario.changed {
        let now = state.organization(*id as u64).unwrap();
        assert!(!now.is_deleted, "customer {number}: organization deleted");
        assert_eq!(
            &now.json, before,
            "customer {number}: organization {id} touched"
        );
    }
    assert_others_untouched(&scenario);
    assert_full_run_writes_nothing(&scenario).await;
    scenario.testbed.shutdown().await;
}

async fn label(lifecycle: Lifecycle) {
    let status_label = format!("status_label = \"{EXISTING_LABEL}\"");
    let scenario = scenario(lifecycle, "label", &[&status_label]).await;
    let resolver = CustomFieldResolver::new(scenario.engine.client().clone());
    let label_id = resolver
        .fields(EntityKind::Organization)
        .await
        .unwrap()
        .iter()
        .filter(|field| field.field_code == "label_ids")
        .flat_map(|field| field.options.iter())
        .find(|option| option.label == EXISTING_LABEL)
        .map(|option| option.id)
        .expect("the simulator offers the label");
    let state = scenario.testbed.pipedrive.state();
    for (number, id, before) in &scenario.changed {
        let now = state.organization(*id as u64).unwrap();
        assert!(!now.is_deleted, "customer {number}: organization deleted");
        let labels: Vec<i64> = now.json["label_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        assert!(
            labels.contains(&label_id),
            "customer {number} is {} in ECC, organization {id} has labels {labels:?}",
            lifecycle.status()
        );
        assert_eq!(now.json["name"], before["name"], "customer {number}");
    }
    assert_others_untouched(&scenario);
    assert_full_run_writes_nothing(&scenario).await;
    scenario.testbed.shutdown().await;
}

async fn field(lifecycle: Lifecycle) {
    let scenario = scenario(lifecycle, "field", &[]).await;
    let status_key = field_key(&scenario.fields, "ECC Status");
    let state = scenario.testbed.pipedrive.state();
    for (number, id, _) in &scenario.changed {
        let now = state.organization(*id as u64).unwrap();
        assert!(!now.is_deleted, "customer {number}: organization deleted");
        assert_eq!(
            now.json["custom_fields"][&status_key],
            lifecycle.status(),
            "customer {number}: ECC Status of organization {id}"
        );
    }
    for (id, _) in &scenario.untouched {
        let now = state.organization(*id as u64).unwrap();
        let status = now.json["custom_fields"][&status_key]
            .as_str()
            .unwrap_or_default();
        assert!(
            status.is_empty(),
            "organization {id} of an active customer says {status:?}"
        );
    }
    assert_others_untouched(&scenario);
    assert_full_run_writes_nothing(&scenario).await;
    scenario.testbed.shutdown().await;
}

async fn delete(lifecycle: Lifecycle) {
    let scenario = scenario(lifecycle, "delete", &[]).await;
    let state = scenario.testbed.pipedrive.state();
    for (number, id, _) in &scenario.changed {
        let deleted = state
            .organization(*id as u64)
            .is_none_or(|organization| organization.is_deleted);
        assert!(
            deleted,
            "customer {number} is {} in ECC, organization {id} still there",
            lifecycle.status()
        );
        let events = scenario
            .testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                action: Some(Action::Delete),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "customer {number}: {events:?}");
    }
    // The link went with the organization.
    let links_after: HashMap<String, i64> = scenario
        .testbed
        .store
        .links("testbed", EntityKind::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|link| (link.ecc_key, link.pipedrive_id))
        .collect();
    for (number, id, _) in &scenario.changed {
        assert_eq!(scenario.links.get(number), Some(id));
        assert!(
            !links_after.contains_key(number),
            "customer {number} is still linked to the deleted organization {id}"
        );
    }
    assert_others_untouched(&scenario);
    assert_full_run_writes_nothing(&scenario).await;
    scenario.testbed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_deleted_leave_leaves_the_organization_alone() {
    leave(Lifecycle::Deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_blocked_leave_leaves_the_organization_alone() {
    leave(Lifecycle::Blocked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_deleted_label_puts_the_status_label_on_the_organization() {
    label(Lifecycle::Deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_blocked_label_puts_the_status_label_on_the_organization() {
    label(Lifecycle::Blocked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_deleted_field_writes_the_status_field() {
    field(Lifecycle::Deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_blocked_field_writes_the_status_field() {
    field(Lifecycle::Blocked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_deleted_delete_deletes_the_organization() {
    delete(Lifecycle::Deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_blocked_delete_deletes_the_organization() {
    delete(Lifecycle::Blocked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_label_policy_without_the_label_in_pipedrive_is_an_error_not_a_guess() {
    // The default status label does not exist in the simulated company.
    let scenario = scenario(Lifecycle::Deleted, "label", &[]).await;
    let state = scenario.testbed.pipedrive.state();
    for (number, id, before) in &scenario.changed {
        let now = state.organization(*id as u64).unwrap();
        assert_eq!(
            &now.json, before,
            "customer {number}: organization {id} touched"
        );
        let errors = scenario
            .testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(number.clone()),
                action: Some(Action::Error),
                kind: Some(EntityKind::Organization),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            errors.iter().any(|event| event
                .error
                .as_deref()
                .is_some_and(|error| error.contains("status label"))),
            "customer {number}: no error naming the missing label: {errors:?}"
        );
    }
    assert_others_untouched(&scenario);
    scenario.testbed.shutdown().await;
}
