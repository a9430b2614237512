//! `ml-connector run` as an operator runs it: a separate process on a store on disk, against the
//! simulators. Its schedule runs the connection; the API answers per its own OpenAPI document
//! and refuses calls without the admin token; `/metrics` parses as Prometheus text and moves
//! with a sync; SIGTERM in the middle of a run exits 0 within the drain bound, the run ends
//! `interrupted`, and the next run finishes the work with no duplicate. On PostgreSQL, two
//! instances share a connection: never two runs at once, and a killed instance's work is taken
//! over.

mod support;

use support::{connector, organizations_by_customer, postgres_store_url, text};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlc_store::{RunQuery, RunRecord, RunStatus};
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "test-admin-token-4711";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A testbed whose connection runs on `schedule`, its config written with a `[server]` section
/// on `port`, the custom fields set up.
async fn service_testbed(options: TestbedOptions, schedule: &str, port: u16) -> (Testbed, PathBuf) {
    let mut options = options;
    options
        .sync_lines
        .push(format!("schedule = \"{schedule}\""));
    let testbed = Testbed::start(options).await.unwrap();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n",
            testbed.config_text
        ),
    )
    .unwrap();
    let setup = connector(&config, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    (testbed, config)
}

/// A service process, killed when the test ends, also when it fails.
struct Service(Child);

impl std::ops::Deref for Service {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Service {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ml-connector run` with its log in a file of the testbed's folder.
fn start_service(config: &Path, log_name: &str, port: u16) -> (Service, PathBuf) {
    let log = config.with_file_name(log_name);
    let child = connector(config, &["run", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (Service(child), log)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit, at most `bound`; its exit status.
fn wait_exit(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service did not exit within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(port: u16) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn plain(&self, path: &str) -> (u16, String) {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(response) => (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    async fn wait_healthy(&self, child: &mut Child, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.plain("/healthz").await.0 == 200 {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the service exited ({status}) before it answered: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the service never answered /healthz"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Checks every answer against the response schema the service's own OpenAPI document gives
/// for that path, method and status.
struct Contract {
    document: Value,
}

impl Contract {
    fn check(&self, method: &str, template: &str, status: u16, body: &Value) {
        let operation = &self.document["paths"][template][method];
        assert!(
            operation.is_object(),
            "the OpenAPI document has no {method} {template}"
        );
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which its document does not list"
        );
        let mut schema = response["content"]["application/json"]["schema"].clone();
        assert!(
            schema.is_object(),
            "{method} {template} {status}: no schema"
        );
        schema["components"] = self.document["components"].clone();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|error| format!("{error} at {}", error.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: {errors:?}\nbody: {body}"
        );
    }
}

async fn runs_of(testbed: &Testbed) -> Vec<RunRecord> {
    testbed
        .store
        .runs(&RunQuery {
            connection: Some("testbed".into()),
            limit: None,
            id: None,
        })
        .await
        .unwrap()
}

fn assert_no_duplicates(organizations: &HashMap<String, usize>) {
    assert!(!organizations.is_empty());
    let doubled: Vec<_> = organizations.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "customers with two organizations: {doubled:?}"
    );
}

/// A metric's value in Prometheus text, summed over the series whose labels include `labels`.
fn metric(samples: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => value,
            _ => 0.0,
        })
        .sum()
}

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|line| Ok(line.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("/metrics parses as Prometheus text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_on_schedule_and_answers_per_its_openapi_document() {
    let port = free_port();
    let (testbed, config) = service_testbed(TestbedOptions::new(30, 11), "every 2s", port).await;
    let (mut child, log) = start_service(&config, "service.log", port);
    let api = Api::new(port);
    api.wait_healthy(&mut child, &log).await;

    // Without the token, or with a wrong one: 401, and the log does not repeat what was sent.
    let refused = api
        .http
        .get(format!("{}/api/runs", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = api
        .http
        .get(format!("{}/api/connections", api.base))
        .bearer_auth("guessed-token-0815")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let (status, document) = api.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let contract = Contract { document };

    // The schedule's first run (nothing ran before: at once) syncs every customer.
    let deadline = Instant::now() + Duration::from_secs(90);
    let first_ok = loop {
        let (status, body) = api.get("/api/runs").await;
        contract.check("get", "/api/runs", status, &body);
        let ok = body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|run| run["status"] == "ok" && run["counts"]["create"].as_u64() > Some(0))
            .cloned();
        if let Some(run) = ok {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "no successful run: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(first_ok["connection"], "testbed");
    let id = first_ok["id"].as_i64().unwrap();
    let (status, body) = api.get(&format!("/api/runs/{id}")).await;
    contract.check("get", "/api/runs/{id}", status, &body);
    assert_eq!(body["id"], id);
    let (status, body) = api.get("/api/runs/999999").await;
    assert_eq!(status, 404);
    contract.check("get", "/api/runs/{id}", status, &body);

    // The audit trail, a page at a time, each event once.
    let (status, page) = api.get("/api/audit?limit=5&action=create").await;
    contract.check("get", "/api/audit", status, &page);
    let first_page: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first_page.len(), 5);
    let cursor = page["next_cursor"].as_i64().expect("more pages");
    let (status, next) = api
        .get(&format!("/api/audit?limit=5&action=create&cursor={cursor}"))
        .await;
    contract.check("get", "/api/audit", status, &next);
    for event in next["events"].as_array().unwrap() {
        assert!(!first_page.contains(&event["id"].as_i64().unwrap()));
        assert_eq!(event["action"], "create");
    }
    let customer = page["events"][0]["customer_number"].as_str().unwrap();
    let (status, history) = api
        .get(&format!(
            "/api/audit?customer={}",
            customer.trim_start_matches('0')
        ))
        .await;
    contract.check("get", "/api/audit", status, &history);
    assert!(history["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|event| event["customer_number"] == customer));
    let (status, body) = api.get("/api/audit?action=nonsense").await;
    assert_eq!(status, 400);
    contract.check("get", "/api/audit", status, &body);

    let (status, body) = api.get("/api/review").await;
    contract.check("get", "/api/review", status, &body);
    let (status, body) = api.post("/api/review/987654/accept", json!({})).await;
    assert_eq!(status, 404);
    contract.check("post", "/api/review/{id}/accept", status, &body);
    let (status, body) = api
        .post(
            "/api/review/accept",
            json!({"above": 0.99, "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dry_run"], true);
    contract.check("post", "/api/review/accept", status, &body);
    let (status, body) = api.post("/api/review/reject", json!({"below": 1.5})).await;
    assert_eq!(status, 400, "{body}");
    contract.check("post", "/api/review/reject", status, &body);
    let (status, body) = api.post("/api/review/987654/reject-group", json!({})).await;
    assert_eq!(status, 404);
    contract.check("post", "/api/review/{id}/reject-group", status, &body);

    let (status, body) = api.get("/api/connections").await;
    contract.check("get", "/api/connections", status, &body);
    let connection = &body["connections"][0];
    assert_eq!(connection["name"], "testbed");
    assert_eq!(connection["connected"], true);
    assert!(connection["next_run_at"].is_string());
    assert!(connection["tokens_used_today"].as_u64() > Some(0));

    // A run asked for through the API is done.
    let (status, body) = api
        .post(
            "/api/runs",
            json!({"connection": "testbed", "mode": "full"}),
        )
        .await;
    assert_eq!(status, 202);
    contract.check("post", "/api/runs", status, &body);
    let (status, body) = api.post("/api/runs", json!({"connection": "nope"})).await;
    assert_eq!(status, 400);
    contract.check("post", "/api/runs", status, &body);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runs_of(&testbed)
        .await
        .iter()
        .any(|run| run.mode == "full" && run.status == RunStatus::Ok)
    {
        assert!(
            Instant::now() < deadline,
            "the requested full run never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Metrics parse, and count what the runs did.
    let (status, metrics_text) = api.plain("/metrics").await;
    assert_eq!(status, 200);
    let scrape = parse_metrics(&metrics_text);
    let created = metric(
        &scrape,
        "mlc_records_written_total",
        &[("connection", "testbed"), ("action", "create")],
    );
    let organizations = organizations_by_customer(&testbed).await;
    assert!(
        created >= organizations.len() as f64,
        "created {created} for {} organizations:\n{metrics_text}",
        organizations.len()
    );
    assert!(metric(&scrape, "mlc_runs_total", &[("status", "ok")]) >= 2.0);
    assert!(
        metric(
            &scrape,
            "mlc_pipedrive_requests_total",
            &[("status", "200")]
        ) >= created,
        "{metrics_text}"
    );
    assert!(metric(&scrape, "mlc_run_duration_seconds_count", &[]) >= 2.0);
    assert!(metric(&scrape, "mlc_records_read_total", &[]) >= 30.0);
    let (status, readiness) = api.plain("/readyz").await;
    assert_eq!(status, 200, "{readiness}");

    signal(&child, "TERM");
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "exit {exit}: {log_text}");
    assert!(log_text.contains("API call refused"), "{log_text}");
    assert!(!log_text.contains("guessed-token-0815"), "{log_text}");
    assert!(!log_text.contains(ADMIN_TOKEN), "{log_text}");
    assert!(runs_of(&testbed)
        .await
        .iter()
        .all(|run| run.status != RunStatus::Running));
    assert!(testbed
        .store
        .lease_holder("testbed")
        .await
        .unwrap()
        .is_none_or(|holder| holder.expires_at <= chrono::Utc::now() || holder.holder.is_empty()));
    assert_no_duplicates(&organizations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_run_exits_0_and_the_next_run_finishes_the_work() {
    let port = free_port();
    let mut options = TestbedOptions::new(120, 12);
    // Paced to the lite plan's burst limit, so the first load takes long enough to be stopped.
    options.plan = "lite".into();
    options.budget_share = 1.0;
    options.budget_tokens = Some(50_000_000);
    let (testbed, config) = service_testbed(options, "every 1h", port).await;
    let (mut child, log) = start_service(&config, "service.log", port);
    let api = Api::new(port);
    api.wait_healthy(&mut child, &log).await;

    // Stop it once the first run has created some organizations.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let created = testbed
            .pipedrive
            .state()
            .organizations()
            .iter()
            .filter(|organization| !organization.is_deleted)
            .count();
        if created >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the first run never wrote");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped_at = Instant::now();
    signal(&child, "TERM");
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "exit {exit}: {log_text}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(25),
        "took {:?} to stop",
        stopped_at.elapsed()
    );
    let runs = runs_of(&testbed).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Interrupted, "{runs:?}");
    let before = organizations_by_customer(&testbed).await;
    let customers = testbed.ecc.truth().len();
    assert!(before.len() < customers, "the run was stopped part way");
    assert!(
        testbed
            .store
            .lease_holder("testbed")
            .await
            .unwrap()
            .is_none_or(|holder| holder.expires_at <= chrono::Utc::now()),
        "the lease was released"
    );

    // The next run (a cron sync here) finishes the work: every customer, none twice.
    let sync = connector(&config, &["sync", "--json"]).output().unwrap();
    assert!(sync.status.success(), "sync: {}", text(&sync));
    let organizations = organizations_by_customer(&testbed).await;
    assert_no_duplicates(&organizations);
    for (customer, _) in before {
        assert!(organizations.contains_key(&customer));
    }
}

/// Two `run` instances on one PostgreSQL with a 2-second schedule: never two runs of the
/// connection at once; SIGKILL of the one running: the other takes over, the killed run shows
/// `interrupted`, no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_the_connection_and_take_over_from_a_killed_one() {
    let Some(store_url) = postgres_store_url("mlc_service_ha").await else {
        return;
    };
    let mut options = TestbedOptions::new(100, 13);
    options.plan = "lite".into();
    options.budget_share = 1.0;
    options.budget_tokens = Some(50_000_000);
    options.store_url = Some(store_url);
    let (port_a, port_b) = (free_port(), free_port());
    let (testbed, config) = service_testbed(options, "every 2s", port_a).await;
    let (mut a, log_a) = start_service(&config, "a.log", port_a);
    let (mut b, log_b) = start_service(&config, "b.log", port_b);
    Api::new(port_a).wait_healthy(&mut a, &log_a).await;
    Api::new(port_b).wait_healthy(&mut b, &log_b).await;

    // The first run (the initial load) is long; kill whoever runs it once it wrote some.
    let deadline = Instant::now() + Duration::from_secs(120);
    let running = loop {
        let runs = runs_of(&testbed).await;
        let created = testbed.pipedrive.state().organizations().len();
        if let Some(run) = runs.iter().find(|run| run.status == RunStatus::Running) {
            if created >= 10 {
                break run.clone();
            }
        }
        assert!(Instant::now() < deadline, "no run started: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid = |child: &Child| child.id().to_string();
    let (victim, survivor, survivor_log) = if running.instance.ends_with(&format!(":{}", pid(&a))) {
        (&mut a, &mut b, &log_b)
    } else {
        assert!(
            running.instance.ends_with(&format!(":{}", pid(&b))),
            "{running:?}"
        );
        (&mut b, &mut a, &log_a)
    };
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed_at = Instant::now();

    // The survivor takes over (the killed holder's process is gone on this host: at once;
    // elsewhere at lease expiry) and finishes the load; then both schedules keep running.
    let deadline = Instant::now() + Duration::from_secs(180);
    let survivor_id = format!(":{}", survivor.id());
    loop {
        let runs = runs_of(&testbed).await;
        let done = runs.iter().any(|run| {
            run.instance.ends_with(&survivor_id)
                && matches!(run.status, RunStatus::Ok | RunStatus::Partial)
                && run
                    .counts
                    .get(&mlc_store::Action::Create)
                    .copied()
                    .unwrap_or(0)
                    > 0
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor never finished the load: {runs:?}\n{}",
            std::fs::read_to_string(survivor_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(150),
        "takeover took {:?}",
        killed_at.elapsed()
    );
    // A few more ticks of the schedule.
    tokio::time::sleep(Duration::from_secs(6)).await;
    signal(survivor, "TERM");
    assert!(wait_exit(survivor, Duration::from_secs(30)).success());

    let mut runs = runs_of(&testbed).await;
    runs.sort_by_key(|run| run.started_at);
    let killed = runs.iter().find(|run| run.id == running.id).unwrap();
    assert_eq!(killed.status, RunStatus::Interrupted, "{runs:?}");
    assert!(runs.len() >= 3, "the schedule kept running: {runs:?}");
    for pair in runs.windows(2) {
        let (earlier, later) = (&pair[0], &pair[1]);
        let earlier_end = earlier
            .finished_at
            .expect("every run finished or was interrupted");
        assert!(
            later.started_at >= earlier_end || earlier.id == running.id,
            "two runs at once: {earlier:?} and {later:?}"
        );
    }
    assert!(
        runs.iter().all(|run| run.status != RunStatus::Running),
        "{runs:#?}"
    );
    assert_no_duplicates(&organizations_by_customer(&testbed).await);
}

/// A webhook receiver on loopback that keeps every body it gets.
async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{address}/hook"), received)
}

/// Pipedrive refuses the token: every scheduled run fails; the webhook hears "run failed" once,
/// and once more when three runs failed in a row, not at every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_runs_alert_once_per_condition_through_the_webhook() {
    let port = free_port();
    let (hook_url, received) = webhook_receiver().await;
    let testbed = Testbed::start(TestbedOptions::new(5, 14)).await.unwrap();
    let token = testbed.pipedrive.api_token().to_string();
    let config = testbed.directory.path().join("ml-connector.toml");
    std::fs::write(
        &config,
        format!(
            "{}schedule = \"every 1s\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n\n[alerts]\nwebhook_url = \"{hook_url}\"\nfailed_runs_in_a_row = 3\n",
            testbed.config_text.replace(&token, "a-revoked-token")
        ),
    )
    .unwrap();
    let (mut child, log) = start_service(&config, "service.log", port);
    let api = Api::new(port);
    api.wait_healthy(&mut child, &log).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let failed = runs_of(&testbed)
            .await
            .iter()
            .filter(|run| run.status == RunStatus::Failed)
            .count();
        if failed >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runs did not fail: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    let texts: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|body| body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let count = |needle: &str| texts.iter().filter(|text| text.contains(needle)).count();
    assert_eq!(count("run failed"), 1, "{texts:#?}");
    assert_eq!(count("3 failed runs in a row"), 1, "{texts:#?}");
    assert!(
        texts.iter().all(|text| text.contains("testbed")),
        "{texts:#?}"
    );
    assert!(
        !texts.iter().any(|text| text.contains("a-revoked-token")),
        "{texts:#?}"
    );
    let (status, readiness) = api.plain("/readyz").await;
    assert_eq!(status, 0, "the service is gone: {readiness}");
}

/// `run -c DIRECTORY`: every `*.toml` there is a connection of the one service, sharing its store
/// and listener; two configs naming one connection are refused with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_runs_every_connection_of_a_config_directory() {
    let port = free_port();
    let testbed = Testbed::start(TestbedOptions::new(10, 15)).await.unwrap();
    let directory = testbed.directory.path().join("connections");
    std::fs::create_dir(&directory).unwrap();
    let first = format!(
        "{}schedule = \"every 2s\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n",
        testbed.config_text
    );
    let second = first.replace("connection = \"testbed\"", "connection = \"second\"");
    assert_ne!(first, second);
    std::fs::write(directory.join("a.toml"), &first).unwrap();
    std::fs::write(directory.join("b.toml"), &second).unwrap();
    std::fs::write(directory.join("notes.txt"), "not a config").unwrap();
    let setup = connector(&directory.join("a.toml"), &["setup"])
        .output()
        .unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));

    let twice = connector(&directory.join("a.toml"), &[])
        .arg("-c")
        .arg(directory.join("a.toml"))
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("two configs name connection `testbed`"),
        "{}",
        text(&twice)
    );

    let (mut child, log) = start_service(&directory, "directory-service.log", port);
    let api = Api::new(port);
    api.wait_healthy(&mut child, &log).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = api.get("/api/connections").await;
        assert_eq!(status, 200);
        let connections = body["connections"].as_array().unwrap();
        let names: Vec<&str> = connections
            .iter()
            .map(|connection| connection["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["testbed", "second"]);
        let all_ran = connections.iter().all(|connection| {
            matches!(
                connection["last_run"]["status"].as_str(),
                Some("ok") | Some("partial")
            )
        });
        if all_ran {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every connection ran: {body}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}

/// With transport `agent`, agents connect to the service's own listener at `/agent/connect`:
/// an `ml-connector agent` process relays the scheduled run's reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_the_agent_hub_on_its_listener() {
    let port = free_port();
    let testbed = Testbed::start(TestbedOptions::new(10, 16)).await.unwrap();
    let token = "agent-token-for-the-service-test";
    let directory = testbed.directory.path();
    let agent_token = directory.join("agent.token");
    std::fs::write(&agent_token, token).unwrap();
    let stored = directory.join("agent.hash");
    let hashed = connector(
        &directory.join("none.toml"),
        &["agent", "--hash-token", "--token-file"],
    )
    .arg(&agent_token)
    .output()
    .unwrap();
    assert!(hashed.status.success(), "{}", text(&hashed));
    std::fs::write(&stored, String::from_utf8_lossy(&hashed.stdout).trim()).unwrap();
    // The custom fields, set up over the plain config (setup reads no ECC).
    let plain = directory.join("plain.toml");
    std::fs::write(&plain, &testbed.config_text).unwrap();
    let setup = connector(&plain, &["setup"]).output().unwrap();
    assert!(setup.status.success(), "setup: {}", text(&setup));
    let config = directory.join("ml-connector.toml");
    let config_text = testbed.config_text.replace(
        "transport = \"soap-rfc\"",
        &format!(
            "transport = \"agent\"\nagent_token_file = \"{}\"",
            stored.display()
        ),
    );
    assert_ne!(config_text, testbed.config_text);
    std::fs::write(
        &config,
        format!(
            "{config_text}schedule = \"every 1h\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let (mut child, log) = start_service(&config, "agent-service.log", port);
    let api = Api::new(port);
    api.wait_healthy(&mut child, &log).await;
    let agent_log = directory.join("agent.log");
    let agent = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(["agent", "--connect"])
        .arg(format!("ws://127.0.0.1:{port}/agent/connect"))
        .arg("--token-file")
        .arg(&agent_token)
        .args(["--ecc-url", &testbed.ecc.base_url()])
        .args(["--ecc-client", testbed.ecc.client()])
        .args(["--ecc-user", testbed.ecc.user()])
        .env("ECC_PASSWORD", testbed.ecc.password())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&agent_log).unwrap())
        .spawn()
        .unwrap();
    let _agent = Service(agent);

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let runs = runs_of(&testbed).await;
        let created = runs.iter().any(|run| {
            matches!(run.status, RunStatus::Ok | RunStatus::Partial)
                && run
                    .counts
                    .get(&mlc_store::Action::Create)
                    .copied()
                    .unwrap_or(0)
                    > 0
        });
        if created {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run through the agent: {runs:?}\nservice: {}\nagent: {}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_no_duplicates(&organizations_by_customer(&testbed).await);
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}
