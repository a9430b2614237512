//! `bench scale`: the connector at 10,000 to 1,000,000 customers, each program in its own
//! process as in production: `sim ecc` and `sim pipedrive` (with a burst limit high enough that
//! pacing is out of the way: the governor follows the limit the server reports), then
//! `extract --full`, a first sync into the empty Pipedrive and a full reconciliation with
//! nothing changed, each a child process of this one. A child reports its own peak resident
//! memory (VmHWM) when `MLC_REPORT_PEAK_RSS` names a file; the wall time of the full run is
//! compared with that of `extract --full` of the same data in the same bench run (ECC is the
//! bound); the store's growth in the full run is divided by the records it covered. Then the
//! runs of an ordinary day, which match against what Pipedrive holds: a full reconciliation
//! after edits and new customers in ECC (a thousandth of the customers changed, a five
//! thousandth new), and a delta after one more new customer. With `--ecc-latency-ms`, before
//! that day, `extract --full` and the no-change full run again, ECC answering each call that
//! much later: the simulator answers at once, and on the bench's two cores its own CPU
//! competes with the connector's, while a real ECC answers over the network after its
//! database and ABAP work.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::round;

use crate::PEAK_RSS_ENV;

/// How long a simulator may take to generate its data and listen (a million customers take a
/// while).
const SIM_START_TIMEOUT: Duration = Duration::from_secs(1800);

/// What one size measured.
#[derive(Debug, Clone)]
pub(super) struct ScaleFigures {
    pub customers: usize,
    /// Organizations and persons the full run covered.
    pub records: u64,
    pub sim_ecc_start_secs: f64,
    pub extract_secs: f64,
    pub first_sync_secs: f64,
    pub first_sync_peak_rss_mb: f64,
    pub full_sync_secs: f64,
    pub full_sync_peak_rss_mb: f64,
    pub store_bytes_after_first_sync: u64,
    pub store_bytes_per_record: f64,
    /// Where the full run's time went, step by step (`phase_secs` of its `sync --json`); the
    /// steps that overlap add up to more than its wall time.
    pub full_sync_phase_secs: Value,
    /// The same for the first sync.
    pub first_sync_phase_secs: Value,
    /// The full run's peak resident memory (MB) as each of its main steps ended
    /// (`peak_rss_mb_after` of its `sync --json`): the first step that shows the peak reached it.
    pub full_sync_peak_rss_mb_after: Value,
    /// The same for the first sync.
    pub first_sync_peak_rss_mb_after: Value,
    /// A full run after edits and new customers in ECC: peak (MB) and wall time.
    pub changed_full_sync_peak_rss_mb: f64,
    pub changed_full_sync_secs: f64,
    pub changed_full_sync_peak_rss_mb_after: Value,
    /// A delta after one new customer: peak (MB) and wall time.
    pub new_customer_delta_peak_rss_mb: f64,
    pub new_customer_delta_secs: f64,
    /// The share of `extract --full`'s and of the full run's wall time in which the machine
    /// waited for I/O: a ratio measured while one of them waited on the disk says little.
    pub extract_io_stall_share: Option<f64>,
    pub full_sync_io_stall_share: Option<f64>,
    /// `extract --full` and a no-change full run with ECC's answers delayed, when asked for.
    pub slow_ecc: Option<SlowEcc>,
}

/// The ratio again with every ECC call answered `latency_ms` later.
#[derive(Debug, Clone)]
pub(super) struct SlowEcc {
    pub latency_ms: u64,
    pub extract_secs: f64,
    pub full_sync_secs: f64,
    pub full_sync_peak_rss_mb: f64,
}

impl SlowEcc {
    /// Its figures, named as in the JSON's metrics.
    fn metrics(&self) -> impl Iterator<Item = (String, Value)> {
        [
            ("ecc_latency_ms", json!(self.latency_ms)),
            (
                "slow_ecc_extract_wall_secs",
                json!(round(self.extract_secs)),
            ),
            (
                "slow_ecc_full_sync_wall_secs",
                json!(round(self.full_sync_secs)),
            ),
            (
                "slow_ecc_full_sync_wall_ratio_to_extract",
                json!(round(wall_ratio(self.full_sync_secs, self.extract_secs))),
            ),
            (
                "slow_ecc_full_sync_peak_rss_mb",
                json!(round(self.full_sync_peak_rss_mb)),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
    }
}

/// A full run's wall time over that of `extract --full` of the same data.
fn wall_ratio(full_sync_secs: f64, extract_secs: f64) -> f64 {
    full_sync_secs / extract_secs.max(1e-9)
}

/// The command lines of `extract --full` and of a full run, as the bench runs them.
const EXTRACT_FULL: &[&str] = &["extract", "--full", "--format", "jsonl"];
const SYNC_FULL: &[&str] = &["sync", "--full", "--json"];

impl ScaleFigures {
    pub(super) fn ratio_to_extract(&self) -> f64 {
        wall_ratio(self.full_sync_secs, self.extract_secs)
    }

    pub(super) fn to_json(&self) -> Value {
        let mut figures = self.main_json();
        if let (Some(slow), Some(metrics)) = (&self.slow_ecc, figures["metrics"].as_object_mut()) {
            metrics.extend(slow.metrics());
        }
        figures
    }

    fn main_json(&self) -> Value {
        json!({
            "name": "scale",
            "metrics": {
                "customers": self.customers,
                "first_sync_peak_rss_mb": round(self.first_sync_peak_rss_mb),
                "full_sync_peak_rss_mb": round(self.full_sync_peak_rss_mb),
                "full_sync_wall_ratio_to_extract": round(self.ratio_to_extract()),
                "store_bytes_per_record": round(self.store_bytes_per_record),
                "records": self.records,
                "extract_wall_secs": round(self.extract_secs),
                "first_sync_wall_secs": round(self.first_sync_secs),
                "full_sync_wall_secs": round(self.full_sync_secs),
                "store_bytes_after_first_sync": self.store_bytes_after_first_sync,
                "sim_ecc_start_secs": round(self.sim_ecc_start_secs),
                "first_sync_phase_secs": self.first_sync_phase_secs,
                "full_sync_phase_secs": self.full_sync_phase_secs,
                "first_sync_peak_rss_mb_after": self.first_sync_peak_rss_mb_after,
                "full_sync_peak_rss_mb_after": self.full_sync_peak_rss_mb_after,
                "changed_full_sync_peak_rss_mb": round(self.changed_full_sync_peak_rss_mb),
                "changed_full_sync_wall_secs": round(self.changed_full_sync_secs),
                "changed_full_sync_peak_rss_mb_after": self.changed_full_sync_peak_rss_mb_after,
                "new_customer_delta_peak_rss_mb": round(self.new_customer_delta_peak_rss_mb),
                "new_customer_delta_wall_secs": round(self.new_customer_delta_secs),
                "extract_io_stall_share": self.extract_io_stall_share.map(round),
                "full_sync_io_stall_share": self.full_sync_io_stall_share.map(round),
            }
        })
    }
}

/// Each size in turn, on fresh simulators and a fresh store.
/// `ecc_latency_ms`: also measure the ratio with ECC's answers delayed that much.
pub(super) async fn run(
    sizes: &[usize],
    seed: u64,
    ecc_latency_ms: Option<u64>,
) -> anyhow::Result<Vec<ScaleFigures>> {
    let mut measured = Vec::new();
    for &customers in sizes {
        eprintln!("bench scale: {customers} customers");
        measured.push(measure(customers, seed, ecc_latency_ms).await?);
    }
    Ok(measured)
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A simulator as a child process, ended when dropped.
struct SimProcess {
    child: Child,
    name: &'static str,
}

impl SimProcess {
    async fn start(
        program: &Path,
        name: &'static str,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<SimProcess> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(SimProcess { child, name })
    }

    /// Waits until it accepts connections on `addr`.
    async fn ready(&mut self, addr: SocketAddr, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before listening: {}",
                    self.name,
                    tail(log)
                );
            }
            if started.elapsed() > SIM_START_TIMEOUT {
                bail!(
                    "{} did not listen on {addr} within {SIM_START_TIMEOUT:?}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// One `ml-connector` command as a child process: its wall time, its peak resident memory in
/// MB, and what it printed.
struct ChildRun {
    secs: f64,
    peak_rss_mb: f64,
    stdout: String,
    /// The share of its wall time in which some task of the machine waited for I/O (Linux's
    /// pressure stall information; `None` where the kernel has none).
    io_stall_share: Option<f64>,
}

/// Microseconds in which some task of the machine waited for I/O since boot (the `some` line
/// of `/proc/pressure/io`). A machine that pages a store out (see BENCHMARKS.md) shows it:
/// the run's wall time is then bound by the disk, not by the connector.
fn io_stall_micros() -> Option<u64> {
    io_stall_of(&std::fs::read_to_string("/proc/pressure/io").ok()?)
}

/// The `some` total of a pressure file's text.
fn io_stall_of(text: &str) -> Option<u64> {
    let some = text.lines().find(|line| line.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

async fn run_child(
    program: &Path,
    config: &Path,
    args: &[&str],
    directory: &Path,
    label: &str,
    keep_stdout: bool,
) -> anyhow::Result<ChildRun> {
    let peak_file = directory.join(format!("{label}.peak"));
    let log = directory.join(format!("{label}.log"));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let stalled_before = io_stall_micros();
    let started = Instant::now();
    let output = Command::new(program)
        .arg("-c")
        .arg(config)
        .args(args)
        .env(PEAK_RSS_ENV, &peak_file)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        // What `extract` prints is as large as ECC: thrown away, never held.
        .stdout(if keep_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(log_file)
        .kill_on_drop(true)
        // Not `output()`: tokio's makes stdout and stderr pipes whatever was set, which held
        // all `extract` printed (1.7 GB at a million customers) in this process and left the
        // logs empty.
        .spawn()
        .with_context(|| format!("starting ml-connector {}", args.join(" ")))?
        .wait_with_output()
        .await
        .with_context(|| format!("running ml-connector {}", args.join(" ")))?;
    let secs = started.elapsed().as_secs_f64();
    let io_stall_share = stalled_before
        .zip(io_stall_micros())
        .map(|(before, after)| after.saturating_sub(before) as f64 / 1e6 / secs.max(1e-9));
    if let Some(share) = io_stall_share.filter(|share| *share >= 0.05) {
        eprintln!(
            "  ({label}: the machine waited for I/O {:.0}% of its wall time)",
            share * 100.0
        );
    }
    if !output.status.success() {
        bail!(
            "ml-connector {} ended with {}: {}",
            args.join(" "),
            output.status,
            tail(&log)
        );
    }
    let peak_kb: f64 = std::fs::read_to_string(&peak_file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .with_context(|| {
            format!(
                "ml-connector {} reported no peak memory (in {})",
                args.join(" "),
                peak_file.display()
            )
        })?;
    Ok(ChildRun {
        secs,
        peak_rss_mb: peak_kb / 1024.0,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        io_stall_share,
    })
}

/// A `sync --json` child (see [`run_child`]) with where its time and memory went step by step
/// (`phase_secs`, `peak_rss_mb_after` of its summary), printed under `title`.
struct SyncRun {
    run: ChildRun,
    phase_secs: Value,
    peak_rss_mb_after: Value,
}

async fn sync_child(
    program: &Path,
    config: &Path,
    args: &[&str],
    directory: &Path,
    label: &str,
    title: &str,
) -> anyhow::Result<SyncRun> {
    let run = run_child(program, config, args, directory, label, true).await?;
    let phase_secs = per_step(&run.stdout, "phase_secs")?;
    let peak_rss_mb_after = per_step(&run.stdout, "peak_rss_mb_after")?;
    eprintln!(
        "  {title}: {:.1} s, peak {:.1} MB ({}; peak in MB after {})",
        run.secs,
        run.peak_rss_mb,
        steps_line(&phase_secs, " s"),
        steps_line(&peak_rss_mb_after, "")
    );
    Ok(SyncRun {
        run,
        phase_secs,
        peak_rss_mb_after,
    })
}

/// Bytes of the SQLite store on disk: the database and its write-ahead log after a checkpoint,
/// so what a run wrote is counted once whether or not it still sits in the WAL.
async fn store_bytes(database: &Path) -> anyhow::Result<u64> {
    mlc_store::sqlite_bytes_on_disk(database)
        .await
        .with_context(|| format!("measuring the store {}", database.display()))
}

/// A figure per step of a run's summary (`sync --json`), one line for the terminal: each
/// step's name and figure with `unit` after it.
fn steps_line(steps: &Value, unit: &str) -> String {
    steps
        .as_object()
        .map(|steps| {
            steps
                .iter()
                .filter_map(|(step, figure)| Some(format!("{step} {:.1}{unit}", figure.as_f64()?)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A figure per step of a run's summary (`sync --json`): `phase_secs` or
/// `peak_rss_mb_after`.
fn per_step(summary: &str, field: &str) -> anyhow::Result<Value> {
    let summary: Value = serde_json::from_str(summary).context("reading sync --json")?;
    Ok(summary.get(field).cloned().unwrap_or_else(|| json!({})))
}

/// Records a run's summary (`sync --json`) counted, every action included.
fn records_in(summary: &str) -> anyhow::Result<u64> {
    let summary: Value = serde_json::from_str(summary).context("reading sync --json")?;
    let counts = summary["counts"]
        .as_object()
        .context("sync --json without counts")?;
    Ok(counts.values().filter_map(Value::as_u64).sum())
}

async fn measure(
    customers: usize,
    seed: u64,
    ecc_latency_ms: Option<u64>,
) -> anyhow::Result<ScaleFigures> {
    let program = std::env::current_exe().context("finding this program")?;
    let directory = tempfile::tempdir().context("creating a temporary folder")?;
    let dir = directory.path();
    let ecc_addr = free_port()?;
    let pipedrive_addr = free_port()?;

    let ecc_log = dir.join("sim-ecc.log");
    let started = Instant::now();
    let mut ecc = SimProcess::start(
        &program,
        "sim ecc",
        &[
            "sim".into(),
            "ecc".into(),
            "--listen".into(),
            ecc_addr.to_string(),
            "--customers".into(),
            customers.to_string(),
            "--seed".into(),
            seed.to_string(),
        ],
        &ecc_log,
    )
    .await?;
    let pipedrive_log = dir.join("sim-pipedrive.log");
    let mut pipedrive = SimProcess::start(
        &program,
        "sim pipedrive",
        &[
            "sim".into(),
            "pipedrive".into(),
            "--listen".into(),
            pipedrive_addr.to_string(),
            "--plan".into(),
            "ultimate".into(),
            "--burst-limit".into(),
            "1000000".into(),
            "--budget-tokens".into(),
            "1000000000000".into(),
            "--post-put-per-day".into(),
            "0".into(),
        ],
        &pipedrive_log,
    )
    .await?;
    ecc.ready(ecc_addr, &ecc_log).await?;
    let sim_ecc_start_secs = started.elapsed().as_secs_f64();
    pipedrive.ready(pipedrive_addr, &pipedrive_log).await?;

    let database = dir.join("state.db");
    let config = dir.join("scale.toml");
    std::fs::write(
        &config,
        format!(
            r#"[store]
url = "sqlite://{database}"

[ecc]
transport = "soap-rfc"
base_url = "http://{ecc_addr}"
client = "100"
user = "MLC_READER"
password = "secret"
timezone = "Europe/Berlin"

[pipedrive]
base_url = "http://{pipedrive_addr}"
api_token = "sim-token"
plan = "ultimate"
burst_limit = 1000000
daily_budget_tokens = 1000000000000
budget_share = 1.0

[sync]
connection = "scale"
"#,
            database = database.display(),
        ),
    )
    .context("writing the bench config")?;

    run_child(&program, &config, &["setup"], dir, "setup", false).await?;
    let extract = run_child(&program, &config, EXTRACT_FULL, dir, "extract", false).await?;
    eprintln!("  extract --full: {:.1} s", extract.secs);
    let first = sync_child(
        &program,
        &config,
        &["sync", "--json"],
        dir,
        "first-sync",
        "first sync",
    )
    .await?;
    let store_before = store_bytes(&database).await?;
    let full = sync_child(&program, &config, SYNC_FULL, dir, "full-sync", "full sync").await?;
    let store_after = store_bytes(&database).await?;
    let records = records_in(&full.run.stdout)?;
    eprintln!("  the full sync covered {records} records");
    // The same no-change full run against a slow ECC, before the day's changes: nothing to
    // write, and the ECC duplicates taken from the store as in the run above.
    let slow_ecc = match ecc_latency_ms {
        Some(latency_ms) => {
            Some(with_slow_ecc(&program, &config, dir, ecc_addr, latency_ms).await?)
        }
        None => None,
    };
    // An ordinary day: SAP users edit customers and contacts and create customers; the next
    // full run matches the new ones against every organization.
    ecc_admin(
        ecc_addr,
        "mutate",
        json!({
            "customers": (customers / 1000).max(1),
            "contacts": (customers / 10_000).max(1),
            "seed": seed,
        }),
    )
    .await?;
    ecc_admin(
        ecc_addr,
        "create",
        json!({"count": (customers / 5000).max(1), "seed": seed}),
    )
    .await?;
    let changed = sync_child(
        &program,
        &config,
        SYNC_FULL,
        dir,
        "changed-full-sync",
        "full sync after changes in ECC",
    )
    .await?;
    ecc_admin(
        ecc_addr,
        "create",
        json!({"count": 1, "seed": seed.wrapping_add(1)}),
    )
    .await?;
    let delta = sync_child(
        &program,
        &config,
        &["sync", "--json"],
        dir,
        "delta",
        "delta with a new customer",
    )
    .await?;
    drop(ecc);
    drop(pipedrive);
    Ok(ScaleFigures {
        customers,
        records,
        sim_ecc_start_secs,
        extract_secs: extract.secs,
        first_sync_secs: first.run.secs,
        first_sync_peak_rss_mb: first.run.peak_rss_mb,
        full_sync_secs: full.run.secs,
        full_sync_peak_rss_mb: full.run.peak_rss_mb,
        store_bytes_after_first_sync: store_before,
        store_bytes_per_record: store_after.saturating_sub(store_before) as f64
            / records.max(1) as f64,
        full_sync_phase_secs: full.phase_secs,
        first_sync_phase_secs: first.phase_secs,
        full_sync_peak_rss_mb_after: full.peak_rss_mb_after,
        first_sync_peak_rss_mb_after: first.peak_rss_mb_after,
        changed_full_sync_peak_rss_mb: changed.run.peak_rss_mb,
        changed_full_sync_secs: changed.run.secs,
        changed_full_sync_peak_rss_mb_after: changed.peak_rss_mb_after,
        new_customer_delta_peak_rss_mb: delta.run.peak_rss_mb,
        new_customer_delta_secs: delta.run.secs,
        extract_io_stall_share: extract.io_stall_share,
        full_sync_io_stall_share: full.run.io_stall_share,
        slow_ecc,
    })
}

/// `extract --full` and a no-change full run with every ECC call answered `latency_ms` later
/// (the simulator's `latency_ms` fault), then ECC back to answering at once.
async fn with_slow_ecc(
    program: &Path,
    config: &Path,
    dir: &Path,
    ecc_addr: SocketAddr,
    latency_ms: u64,
) -> anyhow::Result<SlowEcc> {
    ecc_admin(ecc_addr, "faults", json!({ "latency_ms": latency_ms })).await?;
    let extract = run_child(
        program,
        config,
        EXTRACT_FULL,
        dir,
        "slow-ecc-extract",
        false,
    )
    .await?;
    eprintln!(
        "  extract --full, ECC {latency_ms} ms late: {:.1} s",
        extract.secs
    );
    let full = sync_child(
        program,
        config,
        SYNC_FULL,
        dir,
        "slow-ecc-full-sync",
        &format!("full sync, ECC {latency_ms} ms late"),
    )
    .await?;
    ecc_admin(ecc_addr, "faults", json!({})).await?;
    Ok(SlowEcc {
        latency_ms,
        extract_secs: extract.secs,
        full_sync_secs: full.run.secs,
        full_sync_peak_rss_mb: full.run.peak_rss_mb,
    })
}

/// Changes ECC through the simulator's admin endpoint `/_sim/{what}` (`mutate`, `create`,
/// `faults`).
async fn ecc_admin(ecc_addr: SocketAddr, what: &str, body: Value) -> anyhow::Result<()> {
    let url = format!("http://{ecc_addr}/_sim/{what}");
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    if !response.status().is_success() {
        bail!("POST {url}: {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::io_stall_of;

    #[test]
    fn the_io_stall_is_the_some_line_s_total() {
        let text = "some avg10=37.95 avg60=30.41 avg300=12.79 total=233622815\n\
                    full avg10=34.53 avg60=25.28 avg300=9.71 total=151154369\n";
        assert_eq!(io_stall_of(text), Some(233_622_815));
        assert_eq!(io_stall_of("full avg10=0.00 total=5\n"), None);
        assert_eq!(io_stall_of("some avg10=0.00 total=x\n"), None);
    }
}
