//! Benchmark: creating organizations through the client against the simulator on a plan's
//! burst limit. Prints the wall time, the time the burst limit allows, their ratio, the 429
//! answers and the tokens (ours and the simulator's).
//!
//! ```sh
//! cargo run -p mlc-pipedrive --example burst_bench -- [ORGS=400] [PLAN=lite] [CONCURRENCY=1]
//! ```
//! Target (issue 6): 400 organizations on lite (20 requests per 2 s, API token) within 1.10 x
//! 40 s, with at most 4 answers 429.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlc_config::{PipedriveAuth, PipedriveConfig, PipedrivePlan, Secret};
use mlc_pipedrive::{OrganizationWrite, PipedriveClient};
use mlc_sim_pipedrive::{spawn, SimPipedriveOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let organizations: usize = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(400);
    let plan_name = args.next().unwrap_or_else(|| "lite".to_string());
    let concurrency: usize = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(1);
    let plan = match plan_name.as_str() {
        "lite" => PipedrivePlan::Lite,
        "growth" => PipedrivePlan::Growth,
        "premium" => PipedrivePlan::Premium,
        "ultimate" => PipedrivePlan::Ultimate,
        other => return Err(format!("unknown plan {other}").into()),
    };
    let sim = spawn(SimPipedriveOptions {
        plan: plan_name.clone(),
        api_token: "bench-token".to_string(),
        ..SimPipedriveOptions::for_tests()
    })
    .await?;
    // The ledger in memory: the bench measures the client's pacing, not a store.
    let storage = mlc_pipedrive::ClientStorage::in_memory();
    let config = PipedriveConfig {
        base_url: sim.base_url(),
        auth: PipedriveAuth::ApiToken(Secret::new("bench-token")),
        plan,
        seats: 5,
        burst_limit: None,
        budget_share: 1.0,
        daily_budget_tokens: None,
        budget_timezone: chrono_tz::UTC,
        timeout: Duration::from_secs(30),
        retries: 5,
        max_response_bytes: 32 * 1024 * 1024,
    };
    let client = PipedriveClient::connect(&config, storage).await?;
    let burst_limit = client.governor().snapshot().burst_limit as usize;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, next) = (client.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= organizations {
                    return Ok::<(), mlc_pipedrive::PipedriveError>(());
                }
                let write = OrganizationWrite {
                    name: Some(format!("Bench Kunde {index} GmbH")),
                    ..OrganizationWrite::default()
                };
                client.create_organization(&write).await?;
            }
        });
    }
    while let Some(worker) = workers.join_next().await {
        worker??;
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let bound_secs = organizations as f64 / burst_limit as f64 * 2.0;
    let stats = sim.state().stats();
    let requests: u64 = stats.requests.iter().map(|entry| entry.count).sum();
    let answered_429 = stats.count_status(429);
    let snapshot = client.governor().snapshot();
    println!("plan {plan_name}: {burst_limit} requests per 2 s, {organizations} creates, concurrency {concurrency}");
    println!("organizations in pipedrive: {}", stats.organizations);
    println!("wall_secs   {wall_secs:.2}");
    println!("bound_secs  {bound_secs:.2}");
    println!("ratio       {:.3}", wall_secs / bound_secs);
    println!(
        "answers_429 {answered_429} of {requests} requests (share {:.4})",
        answered_429 as f64 / requests as f64
    );
    println!(
        "tokens      ours {} / simulator {} ({:.2} per organization)",
        snapshot.tokens_used_today,
        stats.tokens_used_today,
        stats.tokens_used_today as f64 / organizations as f64
    );
    sim.shutdown().await;
    Ok(())
}
