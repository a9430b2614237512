//! `ml-connector bench [SCENARIO]...`: the product's targets measured on the built-in
//! simulators, printed with their ratio to the physical limit, and written as JSON for
//! machines. Each scenario is its own module; this one parses the command line, runs the
//! scenarios named (every quick one by default) and prints what they measured.
//!
//! - `initial-load`, `no-change-poll`, `change-poll` ([`targets`]): one testbed, in process.
//! - `naive-peer` ([`naive_peer`]): the same load done as workflow tools do it, beside
//!   ml-connector's run of it, on plan growth.
//! - `scale` ([`scale`]): the connector as its own process against simulators in theirs, at
//!   10,000 to 1,000,000 customers: peak memory, wall time against `extract --full`, store
//!   growth. Not quick: run only when named.
//! - `match` ([`match_quality`]): the matcher against a generated truth ([`match_corpus`]),
//!   100,000 customers x 100,000 organizations by default: links right and wrong, duplicates it
//!   would create, reviews, wall time and peak memory. In process, no simulator.

mod match_corpus;
mod match_quality;
mod match_vocabulary;
mod naive_peer;
mod plot;
mod scale;
mod targets;

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{json, Value};

use crate::exit::CliError;

/// A scenario of `bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every customer created: tokens and wall time against the plan's minimum.
    InitialLoad,
    /// A delta with nothing changed in ECC: Pipedrive tokens and requests (target 0).
    NoChangePoll,
    /// Customers changed in ECC, then a delta: time until Pipedrive shows them.
    ChangePoll,
    /// Search by name, then create or update, one at a time, against ml-connector's load.
    NaivePeer,
    /// Memory and time of a first sync and a no-change full run, separate processes (slow).
    Scale,
    /// The matcher against a generated truth: right and wrong links, missed, reviews, time.
    Match,
}

impl Scenario {
    /// Run when no scenario is named.
    fn quick(self) -> bool {
        !matches!(self, Scenario::Scale | Scenario::Match)
    }
}

/// Measure the sync's targets on the built-in simulators.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ml-connector bench\n  ml-connector bench initial-load --customers 2000 --plan growth --json bench.json\n  ml-connector bench scale --customers 10000,100000 --plot scale.svg --json scale.json\n  ml-connector bench match --json match.json"
)]
pub struct BenchArgs {
    /// Scenarios to run; every quick one when none is named (scale is not quick).
    #[arg(value_enum, value_name = "SCENARIO")]
    pub scenarios: Vec<Scenario>,
    /// Customers in the simulated ECC (default 1,000; naive-peer: 200; scale: 10,000; match:
    /// 100,000, matched against as many organizations). Scale takes a comma-separated list and
    /// runs each size.
    #[arg(long, value_delimiter = ',')]
    pub customers: Vec<usize>,
    /// Pipedrive plan, which sets the burst limit (default premium; naive-peer: growth).
    #[arg(long)]
    pub plan: Option<String>,
    /// Customers changed in ECC for the change-poll scenario.
    #[arg(long, default_value_t = 50)]
    pub changes: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Scale: also draw peak memory and wall time against customers into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Scale: also time `extract --full` and the no-change full run again with ECC answering
    /// each call this many milliseconds late, as a remote ECC does (the `slow_ecc_*` figures).
    /// The main ratio is always measured with ECC answering at once.
    #[arg(long, value_name = "MS")]
    pub ecc_latency_ms: Option<u64>,
}

impl BenchArgs {
    /// The first `--customers` figure, or the scenario's default.
    fn customers_or(&self, default: usize) -> usize {
        self.customers.first().copied().unwrap_or(default)
    }

    /// `--plan`, or the scenario's default.
    fn plan_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.plan.as_deref().unwrap_or(default)
    }
}

pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let wanted: Vec<Scenario> = if args.scenarios.is_empty() {
        [
            Scenario::InitialLoad,
            Scenario::NoChangePoll,
            Scenario::ChangePoll,
            Scenario::NaivePeer,
            Scenario::Scale,
            Scenario::Match,
        ]
        .into_iter()
        .filter(|scenario| scenario.quick())
        .collect()
    } else {
        args.scenarios.clone()
    };
    let runtime = crate::runtime()?;
    let scenarios = runtime
        .block_on(run_scenarios(args, &wanted))
        .map_err(CliError::failed)?;
    for scenario in &scenarios {
        println!("{}", scenario["name"].as_str().unwrap_or_default());
        if let Some(metrics) = scenario["metrics"].as_object() {
            for (name, value) in metrics {
                println!("  {name:<34} {value}");
            }
        }
    }
    if let Some(path) = &args.json {
        let document = json!({ "scenarios": scenarios });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&document).unwrap_or_default(),
        )
        .with_context(|| format!("writing {}", path.display()))
        .map_err(CliError::failed)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

async fn run_scenarios(args: &BenchArgs, wanted: &[Scenario]) -> anyhow::Result<Vec<Value>> {
    let mut scenarios = Vec::new();
    let targets = [
        Scenario::InitialLoad,
        Scenario::NoChangePoll,
        Scenario::ChangePoll,
    ];
    if wanted.iter().any(|scenario| targets.contains(scenario)) {
        scenarios.extend(targets::run(args, wanted).await?);
    }
    if wanted.contains(&Scenario::NaivePeer) {
        let customers = args.customers_or(200);
        scenarios.push(naive_peer::run(customers, args.plan_or("growth"), args.seed).await?);
    }
    if wanted.contains(&Scenario::Scale) {
        let sizes = if args.customers.is_empty() {
            vec![10_000]
        } else {
            args.customers.clone()
        };
        let measured = scale::run(&sizes, args.seed, args.ecc_latency_ms).await?;
        if let Some(path) = &args.plot {
            plot::scale_svg(path, &measured)?;
            println!("wrote {}", path.display());
        }
        scenarios.extend(measured.iter().map(scale::ScaleFigures::to_json));
    }
    if wanted.contains(&Scenario::Match) {
        let customers = args.customers_or(100_000);
        // Two matching threads: the target is stated for two cores.
        scenarios.push(match_quality::run(customers, customers, args.seed, 2));
    }
    Ok(scenarios)
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
