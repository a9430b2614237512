//! Pipedrive webhooks and drift policies as an operator meets them: `ml-connector run` as a
//! separate process against the simulators, `setup --webhooks` registering the subscriptions
//! once, a salesperson's edit in Pipedrive (`/_sim/ui-edit`) set back within 5 seconds with
//! `enforce` and only recorded with `flag`, forged deliveries refused with 401 and changing
//! nothing, a retried delivery applied once, a merge moving the link so that the next sync
//! does not create the merged organization again, and a deletion following
//! `sync.on_pipedrive_deleted`.

mod support;

use support::{connector, organizations_by_customer, text};

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mlc_sim_pipedrive::NewOrganization;
use mlc_store::{Action, AuditQuery, EntityKind, RunQuery};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "test-admin-token-4711";
const HOOK_USER: &str = "pipedrive";
const HOOK_PASSWORD: &str = "hook-password-0815";
const HMAC_SECRET: &str = "relay-secret-42";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Scene {
    testbed: Testbed,
    config: PathBuf,
    log: PathBuf,
    _service: Service,
    base: String,
    http: reqwest::Client,
}

/// A testbed of `customers`, its service running (schedule hourly: only the first run and what
/// webhooks ask for happen), the first run done and the webhooks registered.
async fn scene(customers: usize, drift_lines: &str) -> Scene {
    let port = free_port();
    let mut options = TestbedOptions::new(customers, 31);
    options.contacts_per_customer = 1;
    options.duplicate_rate = 0.0;
    options.sync_lines.push("schedule = \"every 1h\"".into());
    options.sync_lines.push("full_reconcile = \"\"".into());
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[sync.drift]\n{drift_lines}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             admin_token = \"{ADMIN_TOKEN}\"\nwebhook_user = \"{HOOK_USER}\"\n\
             webhook_password = \"{HOOK_PASSWORD}\"\nwebhook_hmac_secret = \"{HMAC_SECRET}\"\n",
            testbed.config_text
        ),
    )
    .unwrap();
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    let log = config.with_file_name("service.log");
    let child = connector(&config, &["run", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let scene = Scene {
        testbed,
        config,
        log,
        _service: Service(child),
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };
    scene
        .wait_for("the first run", Duration::from_secs(90), || async {
            let runs = scene.runs("delta").await;
            runs.iter().any(|run| run.finished_at.is_some())
        })
        .await;
    let url = format!("{}/webhooks/pipedrive", scene.base);
    for _ in 0..2 {
        let registered = connector(&scene.config, &["setup", "--webhooks", &url])
            .output()
            .unwrap();
        assert!(registered.status.success(), "{}", text(&registered));
    }
    let engine = scene.testbed.engine().await.unwrap();
    let hooks = engine.client().list_webhooks().await.unwrap();
    assert_eq!(
        hooks.len(),
        4,
        "change and delete of organizations and persons, registered once: {hooks:?}"
    );
    scene
}

impl Scene {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn runs(&self, mode: &str) -> Vec<mlc_store::RunRecord> {
        self.testbed
            .store
            .runs(&RunQuery {
                connection: Some("testbed".into()),
                limit: None,
                id: None,
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|run| run.mode == mode)
            .collect()
    }

    async fn wait_for<F, Fut>(&self, what: &str, bound: Duration, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + bound;
        while !done().await {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {bound:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A linked organization: (customer number, Pipedrive id).
    /// The Pipedrive id the customer's organization is linked to, if any.
    async fn linked_id(&self, customer: &str) -> Option<i64> {
        self.testbed
            .store
            .link("testbed", EntityKind::Organization, customer)
            .await
            .unwrap()
            .map(|link| link.pipedrive_id)
    }

    async fn linked_organizations(&self) -> Vec<(String, i64)> {
        self.testbed
            .store
            .links("testbed", EntityKind::Organization)
            .await
            .unwrap()
            .into_iter()
            .map(|link| (link.ecc_key, link.pipedrive_id))
            .collect()
    }

    fn name_of(&self, id: i64) -> String {
        self.testbed
            .pipedrive
            .state()
            .organization(id as u64)
            .unwrap()
            .name
    }

    async fn events(&self, customer: &str, action: Action) -> Vec<mlc_store::AuditEvent> {
        self.testbed
            .store
            .audit(&AuditQuery {
                customer_number: Some(customer.to_string()),
                action: Some(action),
                ..AuditQuery::default()
            })
            .await
            .unwrap()
    }

    async fn deliver(&self, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/webhooks/pipedrive", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("authorization", format!("Basic {encoded}"))
}

fn delivery(id: &str, action: &str, organization: i64, merged_to: Option<i64>) -> Vec<u8> {
    let mut meta = json!({
        "action": action, "entity": "organization", "entity_id": organization.to_string(),
        "id": id, "change_source": "app", "user_id": "1", "version": "2.0", "attempt": 1,
    });
    if let Some(survivor) = merged_to {
        meta["merged_to_id"] = json!(survivor.to_string());
    }
    serde_json::to_vec(&json!({"meta": meta, "data": null, "previous": {}})).unwrap()
}

/// The survivor's change delivery of a merge: `merged_from_id` names the organization merged away.
fn survivor_change(id: &str, survivor: i64, merged_from: i64) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&delivery(id, "change", survivor, None)).unwrap();
    body["meta"]["merged_from_id"] = json!(merged_from.to_string());
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_enforce_an_edit_is_set_back_forged_deliveries_change_nothing_and_a_merge_moves_the_link(
) {
    let scene = scene(6, "name = \"enforce\"").await;
    let linked = scene.linked_organizations().await;
    assert!(linked.len() >= 4, "{linked:?}");
    let state = scene.testbed.pipedrive.state();

    // A salesperson renames a synced organization: set back within 5 s of the webhook.
    let (customer, id) = linked[0].clone();
    let original = scene.name_of(id);
    let edited_at = Instant::now();
    state
        .ui_edit(
            &json!({"entity": "organization", "id": id, "action": "change",
                         "changes": {"name": "Renamed by sales"}}),
        )
        .unwrap();
    scene
        .wait_for("the name set back", Duration::from_secs(5), || async {
            scene.name_of(id) == original
        })
        .await;
    let took = edited_at.elapsed();
    // Pipedrive holds the name before the run's outcome is committed: wait for its audit too.
    scene
        .wait_for(
            "the re-assertion audited",
            Duration::from_secs(5),
            || async { !scene.events(&customer, Action::ReAsserted).await.is_empty() },
        )
        .await;
    let reasserted = scene.events(&customer, Action::ReAsserted).await;
    assert_eq!(reasserted.len(), 1, "{reasserted:?}");
    assert!(reasserted[0].outcome.contains("name"), "{reasserted:?}");
    assert_eq!(
        reasserted[0].extracted.pointer("/drift/pipedrive/name"),
        Some(&json!("Renamed by sales")),
        "the audit says what was typed"
    );
    eprintln!("re-asserted {took:?} after the edit");

    // A person's e-mail or name is ECC's as well.
    let person = scene
        .testbed
        .store
        .links("testbed", EntityKind::Person)
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("a linked person");
    let person_name = |id: i64| {
        state.person(id as u64).unwrap().json["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let person_before = person_name(person.pipedrive_id);
    state
        .ui_edit(
            &json!({"entity": "person", "id": person.pipedrive_id, "action": "change",
                         "changes": {"name": "Someone Else"}}),
        )
        .unwrap();
    scene
        .wait_for(
            "the person's name set back",
            Duration::from_secs(5),
            || async { person_name(person.pipedrive_id) == person_before },
        )
        .await;

    // Forged deliveries: a delete of a linked organization would unlink it if taken.
    let (forged_customer, forged_id) = linked[1].clone();
    let body = delivery("forged-1", "delete", forged_id, None);
    let webhook_runs = scene.runs("webhook").await.len();
    let refused = [
        vec![basic(HOOK_USER, "guessed")],
        vec![basic("admin", HOOK_PASSWORD)],
        vec![],
        vec![("x-hub-signature-256", "sha256=00ff".to_string())],
        // A signature of another body, replayed onto this one.
        vec![(
            "x-hub-signature-256",
            mlc_service::webhooks::signature(
                HMAC_SECRET,
                &delivery("other", "change", forged_id, None),
            ),
        )],
        vec![(
            "x-hub-signature-256",
            mlc_service::webhooks::signature("not-the-secret", &body),
        )],
    ];
    for headers in &refused {
        let (status, _) = scene.deliver(&body, headers).await;
        assert_eq!(status, 401, "{headers:?}");
    }
    // A body far beyond any delivery is refused before it is read, even with the right
    // credentials: the service never holds more than the webhook body limit.
    let mut oversized = delivery("oversized-1", "delete", forged_id, None);
    oversized.truncate(oversized.len() - 1);
    oversized.extend_from_slice(b",\"padding\":\"");
    oversized.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    oversized.extend_from_slice(b"\"}");
    let (name, value) = basic(HOOK_USER, HOOK_PASSWORD);
    // Its own client: the service closes the connection after refusing the body, and a pooled
    // connection would otherwise be reused, half closed, by the next request.
    let one_off = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let sent = one_off
        .post(format!("{}/webhooks/pipedrive", scene.base))
        .header("content-type", "application/json")
        .header(name, value)
        .body(oversized)
        .send()
        .await;
    // 413, or the connection closed while the body was still being sent: either way unread.
    match sent {
        Ok(response) => assert_eq!(response.status().as_u16(), 413, "an oversized delivery"),
        Err(error) => assert!(error.is_request(), "{error}"),
    }
    let (status, _) = scene.deliver(b"{}", &[]).await;
    assert_eq!(
        status, 401,
        "the service answers after an oversized delivery"
    );
    let log = scene.log();
    assert!(log.contains("webhook refused"), "{log}");
    assert!(
        !log.contains("guessed") && !log.contains(HOOK_PASSWORD),
        "a secret was logged"
    );

    // A delivery retried with the same meta.id is applied once; the signed path works too.
    let change = delivery("delivery-7", "change", forged_id, None);
    let signed = (
        "x-hub-signature-256",
        mlc_service::webhooks::signature(HMAC_SECRET, &change),
    );
    let (status, first) = scene.deliver(&change, &[signed]).await;
    assert_eq!((status, first["queued"].is_array()), (200, true), "{first}");
    let (status, again) = scene
        .deliver(&change, &[basic(HOOK_USER, HOOK_PASSWORD)])
        .await;
    assert_eq!(status, 200);
    assert!(
        again.get("queued").is_none(),
        "a retry was queued again: {again}"
    );
    scene
        .wait_for("the webhook run", Duration::from_secs(5), || async {
            scene.runs("webhook").await.len() > webhook_runs
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        scene.runs("webhook").await.len(),
        webhook_runs + 1,
        "applied once"
    );

    // An organization the connector does not manage: answered, nothing run, no call.
    let tokens_before = state.stats().tokens_used_total;
    let (status, unmanaged) = scene
        .deliver(
            &delivery("delivery-8", "change", 999_999, None),
            &[basic(HOOK_USER, HOOK_PASSWORD)],
        )
        .await;
    assert_eq!(status, 200);
    assert!(unmanaged.get("ignored").is_some(), "{unmanaged}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        state.stats().tokens_used_total,
        tokens_before,
        "no Pipedrive call"
    );
    assert_eq!(
        scene.runs("webhook").await.len(),
        webhook_runs + 1,
        "nothing run"
    );
    let link = scene.linked_id(&forged_customer).await;
    assert_eq!(link, Some(forged_id), "the forged delete changed nothing");
    assert!(!state.organization(forged_id as u64).unwrap().is_deleted);

    // A merge into an organization a salesperson typed in: the link follows the survivor.
    let (merged_customer, merged_id) = linked[2].clone();
    let survivor = state
        .insert_organization(NewOrganization {
            name: "Typed in by sales".into(),
            ..Default::default()
        })
        .unwrap() as i64;
    state
        .ui_edit(
            &json!({"entity": "organization", "id": merged_id, "action": "merge",
                         "merge_into": survivor}),
        )
        .unwrap();
    scene
        .wait_for(
            "the link to follow the merge",
            Duration::from_secs(5),
            || async { scene.linked_id(&merged_customer).await == Some(survivor) },
        )
        .await;
    // A merge is several deliveries: the loser's delete (`merged_to_id`), the survivor's change
    // and a change for each person moved to the survivor. When a person's delivery is taken
    // first, its run finds the linked organization gone and links the customer to the survivor
    // by its number (the merge copied it over); the delete's run then finds the link moved
    // already. Either way the link follows the survivor, audited with why.
    let moved = scene.events(&merged_customer, Action::Link).await;
    assert!(
        moved
            .iter()
            .any(|event| event.pipedrive_id == Some(survivor)
                && (event.outcome.contains("merged into") || event.outcome.contains("matched by"))),
        "{moved:?}"
    );
    // The survivor carries ECC's values once the drift check ran.
    scene
        .wait_for(
            "ECC's name on the survivor",
            Duration::from_secs(5),
            || async { scene.name_of(survivor) != "Typed in by sales" },
        )
        .await;

    // The next sync (a full one, which reads every customer) creates nothing for it.
    let posts_before = organizations_by_customer(&scene.testbed).await;
    let sync = connector(&scene.config, &["sync", "--full", "--wait"])
        .output()
        .unwrap();
    assert!(sync.status.success(), "{}", text(&sync));
    let after = organizations_by_customer(&scene.testbed).await;
    assert_eq!(
        after, posts_before,
        "the full sync created or lost organizations"
    );
    let display = merged_customer.trim_start_matches('0');
    assert_eq!(after.get(display), Some(&1), "{after:?}");
    let link = scene.linked_id(&merged_customer).await;
    assert_eq!(link, Some(survivor));
    assert!(state.organization(merged_id as u64).unwrap().is_deleted);

    // A merge whose delete delivery is lost: the survivor's change (`merged_from_id`) alone
    // moves the link, audited as the merge.
    let (lost_customer, lost_id) = linked[3].clone();
    let second_survivor = state
        .insert_organization(NewOrganization {
            name: "Typed in by sales too".into(),
            ..Default::default()
        })
        .unwrap() as i64;
    state
        .ui_edit(
            &json!({"entity": "organization", "id": lost_id, "action": "merge",
                         "merge_into": second_survivor, "silent": true}),
        )
        .unwrap();
    let (status, queued) = scene
        .deliver(
            &survivor_change("delivery-9", second_survivor, lost_id),
            &[basic(HOOK_USER, HOOK_PASSWORD)],
        )
        .await;
    assert_eq!(
        (status, queued["queued"].is_array()),
        (200, true),
        "{queued}"
    );
    scene
        .wait_for(
            "the link to follow the survivor's change",
            Duration::from_secs(5),
            || async { scene.linked_id(&lost_customer).await == Some(second_survivor) },
        )
        .await;
    let moved = scene.events(&lost_customer, Action::Link).await;
    assert!(
        moved
            .iter()
            .any(|event| event.pipedrive_id == Some(second_survivor)
                && event.outcome.contains("merged into")),
        "{moved:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_flag_an_edit_is_recorded_and_left_as_it_is() {
    let scene = scene(3, "name = \"flag\"").await;
    let (customer, id) = scene.linked_organizations().await[0].clone();
    scene
        .testbed
        .pipedrive
        .state()
        .ui_edit(
            &json!({"entity": "organization", "id": id, "action": "change",
                         "changes": {"name": "Renamed by sales"}}),
        )
        .unwrap();
    scene
        .wait_for("the drift flagged", Duration::from_secs(5), || async {
            !scene
                .events(&customer, Action::DriftFlagged)
                .await
                .is_empty()
        })
        .await;
    let flagged = scene.events(&customer, Action::DriftFlagged).await;
    assert!(
        flagged[0].outcome.contains("sync.drift.name"),
        "{flagged:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(scene.name_of(id), "Renamed by sales");
    assert!(scene.events(&customer, Action::ReAsserted).await.is_empty());

    // A deletion follows sync.on_pipedrive_deleted (recreate, the default): unlinked at once,
    // created again by the next run.
    let (deleted_customer, deleted_id) = scene.linked_organizations().await[1].clone();
    scene
        .testbed
        .pipedrive
        .state()
        .ui_edit(&json!({"entity": "organization", "id": deleted_id, "action": "delete"}))
        .unwrap();
    scene
        .wait_for(
            "the deleted organization unlinked",
            Duration::from_secs(5),
            || async { scene.linked_id(&deleted_customer).await.is_none() },
        )
        .await;
    let unlinked = scene.events(&deleted_customer, Action::Deferred).await;
    assert!(
        unlinked
            .iter()
            .any(|event| event.outcome.contains("deleted in Pipedrive by a person")),
        "{unlinked:?}"
    );
}
