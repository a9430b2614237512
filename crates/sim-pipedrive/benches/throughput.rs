//! How fast the simulator is on loopback with rate limits off (`--plan unlimited`), and how
//! much memory a stored organization takes. Run: `cargo bench -p mlc-sim-pipedrive`.
//! Client and server share this machine's cores, so the request rates are lower bounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlc_sim_pipedrive::{NewOrganization, SimPipedriveOptions};
use serde_json::json;

const STORED_ORGANIZATIONS: u64 = 100_000;
const CLIENTS: usize = 32;
const SECONDS_PER_SCENARIO: u64 = 4;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn organization(number: u64, custom_key: &str) -> (NewOrganization, u64) {
    let name = format!("Müller Maschinenbau {number} GmbH & Co. KG");
    let street = format!("Hauptstraße {}", number % 200 + 1);
    let value = format!("{street}, 70173 Stuttgart");
    let customer_number = format!("{}", 100_000 + number);
    let payload = (name.len()
        + street.len()
        + value.len()
        + customer_number.len()
        + "70173".len()
        + "Stuttgart".len()
        + "Germany".len()) as u64;
    let mut custom_fields = serde_json::Map::new();
    custom_fields.insert(custom_key.to_string(), json!(customer_number));
    let org = NewOrganization {
        name,
        address: Some(
            json!({"value": value, "route": street, "postal_code": "70173", "locality": "Stuttgart", "country": "Germany"}),
        ),
        custom_fields,
        ..Default::default()
    };
    (org, payload)
}

/// Builds the n-th request of a scenario.
type RequestMaker =
    Arc<dyn Fn(&reqwest::Client, &str, &str, u64) -> reqwest::RequestBuilder + Send + Sync>;

async fn run_scenario(name: &str, base: &str, token: &str, request: RequestMaker) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS_PER_SCENARIO);
    let mut tasks = Vec::new();
    for client_number in 0..CLIENTS {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(4)
            .build()
            .unwrap();
        let (base, token, done, failed, request) = (
            base.to_string(),
            token.to_string(),
            done.clone(),
            failed.clone(),
            request.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sequence = client_number as u64 * 7919;
            while Instant::now() < deadline {
                sequence += 1;
                match request(&client, &base, &token, sequence).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    println!(
        "{name:<34} {:>9.0} requests/s  ({done} ok, {} failed, {CLIENTS} clients, {seconds:.1} s)",
        done as f64 / seconds,
        failed.load(Ordering::Relaxed)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = SimPipedriveOptions::for_tests();
        options.plan = "unlimited".to_string();
        let sim = mlc_sim_pipedrive::spawn(options).await.unwrap();
        let state = sim.state();
        let key = state.create_custom_field("organization", "ECC Customer Number", "varchar", &[]).unwrap();

        // Memory per stored organization.
        let before = resident_bytes();
        let mut payload_total = 0u64;
        for number in 0..STORED_ORGANIZATIONS {
            let (org, payload) = organization(number, &key);
            payload_total += payload;
            state.insert_organization(org).unwrap();
        }
        let after = resident_bytes();
        let per_org = (after.saturating_sub(before)) as f64 / STORED_ORGANIZATIONS as f64;
        let payload = payload_total as f64 / STORED_ORGANIZATIONS as f64;
        println!(
            "memory: {STORED_ORGANIZATIONS} organizations took {:.1} MB resident: {per_org:.0} bytes each, of which {payload:.0} bytes payload text, {:.0} bytes overhead",
            (after - before) as f64 / 1e6,
            per_org - payload
        );

        let base = sim.base_url();
        let token = sim.api_token().to_string();
        run_scenario("GET /api/v2/organizations/{id}", &base, &token, Arc::new(|client, base, token, sequence| {
            client.get(format!("{base}/api/v2/organizations/{}", sequence % STORED_ORGANIZATIONS + 1)).header("x-api-token", token)
        }))
        .await;
        run_scenario("PATCH /api/v2/organizations/{id}", &base, &token, Arc::new(|client, base, token, sequence| {
            client
                .patch(format!("{base}/api/v2/organizations/{}", sequence % STORED_ORGANIZATIONS + 1))
                .header("x-api-token", token)
                .json(&json!({"name": format!("Renamed {sequence} AG")}))
        }))
        .await;
        run_scenario("POST /api/v2/organizations", &base, &token, Arc::new(move |client, base, token, sequence| {
            client
                .post(format!("{base}/api/v2/organizations"))
                .header("x-api-token", token)
                .json(&json!({"name": format!("New {sequence} GmbH"), "address": {"value": "Hauptstraße 1, Stuttgart"}}))
        }))
        .await;
        run_scenario("GET /api/v2/organizations?limit=500", &base, &token, Arc::new(|client, base, token, sequence| {
            let cursor = base64_cursor((sequence * 500) % STORED_ORGANIZATIONS);
            client.get(format!("{base}/api/v2/organizations?limit=500&cursor={cursor}")).header("x-api-token", token)
        }))
        .await;
        let stats = state.stats();
        println!("served {} requests in total", stats.requests.iter().map(|entry| entry.count).sum::<u64>());
        sim.shutdown().await;
    });
}

fn base64_cursor(after_id: u64) -> String {
    use base64::Engine;
    let text =
        json!({"field": "id", "fieldValue": after_id, "sortDirection": "asc", "id": after_id})
            .to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
