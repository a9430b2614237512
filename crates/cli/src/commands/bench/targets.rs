//! The sync's targets on the in-process simulators, each with its ratio to the physical limit:
//!
//! - `initial-load`: every customer created; tokens per organization against the minimum (5 a
//!   create plus the index pages), wall time against what the plan's burst limit allows, the
//!   share of requests answered 429.
//! - `no-change-poll`: a delta run right after, with nothing changed in ECC: Pipedrive tokens
//!   and requests (target 0), ECC calls.
//! - `change-poll`: customers changed in ECC, then one delta run: the time from the change to
//!   Pipedrive showing it (target: the poll interval plus 5 s), tokens and PATCHes per change.

use std::time::Instant;

use anyhow::Context;
use mlc_engine::{NoProgress, RunMode, RunOptions};
use mlc_sim_ecc::MutationRequest;
use mlc_testbed::{Testbed, TestbedOptions};
use serde_json::{json, Value};

use super::{round, BenchArgs, Scenario};

/// Requests per second the plan's burst limit allows with an API token.
pub(super) fn burst_per_second(plan: &str) -> f64 {
    match plan {
        "lite" => 10.0,
        "growth" => 20.0,
        "premium" => 50.0,
        _ => 60.0,
    }
}

pub(super) fn total_requests(testbed: &Testbed) -> u64 {
    testbed
        .pipedrive
        .state()
        .stats()
        .requests
        .iter()
        .map(|entry| entry.count)
        .sum()
}

/// The initial load, then (when `wanted`) the no-change poll and the change poll on the same
/// testbed; the initial load is reported when it is wanted itself.
pub(super) async fn run(args: &BenchArgs, wanted: &[Scenario]) -> anyhow::Result<Vec<Value>> {
    let customers = args.customers_or(1000);
    let mut options = TestbedOptions::new(customers, args.seed);
    let plan = args.plan_or("premium").to_string();
    options.plan = plan.clone();
    // Organizations only, so tokens per organization are not mixed with persons.
    options.contacts_per_customer = 0;
    options.dirty_rate = 0.0;
    options.duplicate_rate = 0.0;
    let testbed = Testbed::start(options).await?;
    let engine = testbed.engine().await?;
    testbed.setup(&engine).await?;
    let mut scenarios = Vec::new();

    // ── initial load ──
    let requests_before = total_requests(&testbed);
    let status_429_before = testbed.pipedrive.state().stats().count_status(429);
    let started = Instant::now();
    let load = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .context("initial load")?;
    let wall_secs = started.elapsed().as_secs_f64();
    let stats = testbed.pipedrive.state().stats();
    let requests = total_requests(&testbed) - requests_before;
    let responses_429 = stats.count_status(429) - status_429_before;
    let created = load
        .counts
        .get(&mlc_store::Action::Create)
        .copied()
        .unwrap_or(0)
        .max(1);
    let tokens_per_org = load.tokens_used as f64 / created as f64;
    let tokens_minimum_per_org = (5 * created + load.index_tokens) as f64 / created as f64;
    let minimum_requests = created + load.index_tokens / 10;
    let bound_secs = minimum_requests as f64 / burst_per_second(&plan);
    scenarios.push(json!({
        "name": "initial-load",
        "metrics": {
            "customers": customers,
            "organizations_created": created,
            "plan": plan,
            "tokens_used": load.tokens_used,
            "tokens_per_org": round(tokens_per_org),
            "tokens_minimum_per_org": round(tokens_minimum_per_org),
            "tokens_ratio": round(tokens_per_org / tokens_minimum_per_org),
            "requests": requests,
            "wall_secs": round(wall_secs),
            "bound_secs": round(bound_secs),
            "wall_ratio": round(wall_secs / bound_secs),
            "responses_429": responses_429,
            "share_429": round(responses_429 as f64 / requests.max(1) as f64),
        }
    }));

    if !wanted.contains(&Scenario::InitialLoad) {
        scenarios.clear();
    }
    if !wanted.contains(&Scenario::NoChangePoll) && !wanted.contains(&Scenario::ChangePoll) {
        testbed.shutdown().await;
        return Ok(scenarios);
    }

    // ── a poll with nothing changed ──
    let requests_before = total_requests(&testbed);
    let ecc_calls_before = engine.extractor().calls();
    let started = Instant::now();
    let poll = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .context("no-change poll")?;
    let no_change = json!({
        "name": "no-change-poll",
        "metrics": {
            "pipedrive_tokens": poll.tokens_used,
            "pipedrive_requests": total_requests(&testbed) - requests_before,
            "ecc_calls": engine.extractor().calls() - ecc_calls_before,
            "customers_read": poll.customers_read,
            "wall_secs": round(started.elapsed().as_secs_f64()),
        }
    });
    if wanted.contains(&Scenario::NoChangePoll) {
        scenarios.push(no_change);
    }
    if !wanted.contains(&Scenario::ChangePoll) {
        testbed.shutdown().await;
        return Ok(scenarios);
    }

    // ── changes in ECC, then one poll ──
    let report = testbed.ecc.mutate(&MutationRequest {
        customers: args.changes,
        contacts: 0,
        address_only: 0,
        seed: args.seed,
    });
    let changed_at = Instant::now();
    let requests_before = total_requests(&testbed);
    let patches_before =
        testbed
            .pipedrive
            .state()
            .stats()
            .count("PATCH", "/api/v2/organizations/{id}", 200);
    let ecc_calls_before = engine.extractor().calls();
    let change = engine
        .run(&RunOptions::new(RunMode::Delta), &NoProgress)
        .await
        .context("change poll")?;
    let latency = changed_at.elapsed().as_secs_f64();
    let patches =
        testbed
            .pipedrive
            .state()
            .stats()
            .count("PATCH", "/api/v2/organizations/{id}", 200)
            - patches_before;
    scenarios.push(json!({
        "name": "change-poll",
        "metrics": {
            "customers_changed": report.customers.len(),
            "customers_read": change.customers_read,
            "patches": patches,
            "pipedrive_tokens": change.tokens_used,
            "pipedrive_requests": total_requests(&testbed) - requests_before,
            "ecc_calls": engine.extractor().calls() - ecc_calls_before,
            "secs_from_poll_to_pipedrive": round(latency),
            "target_secs_after_poll": 5.0,
        }
    }));
    testbed.shutdown().await;
    Ok(scenarios)
}
