//! `ml-connector`: the one binary. Parses the command line, sets up logging, hands each command
//! to its module under `commands/`, and turns the outcome into the exit codes of the brief:
//! 0 success, 1 a check or run failed, 2 bad usage or bad config.

mod commands;
mod exit;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::CliError;

/// mimalloc (its version 2), not glibc's allocator, for everything Rust allocates. A run parses
/// pages of JSON and XML and rows of SQLite on several threads at once, and glibc's allocator is
/// either slow there (one arena, see `one_malloc_arena`: a third of a full run's CPU time went
/// to malloc, free and the arena's lock) or large (an arena per thread keeps what each freed).
/// Measured on a full run of 100,000 customers (`bench scale`'s setup, release build, an idle
/// machine): 59.2 s and 160 MB peak with glibc's one arena, 26.0 s and 162 MB with mimalloc
/// purging at once (see `purge_freed_memory_in_heavy_steps`); with its default delay 187 MB, and
/// mimalloc 3 took 239 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc 2's `mi_option_e` (the Rust bindings name only some).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's delay before it gives freed memory back to the system, outside the steps where a
/// run's memory peaks: its own default, or `MIMALLOC_PURGE_DELAY` (milliseconds) from the
/// environment.
static PURGE_DELAY_MS: AtomicI64 = AtomicI64::new(10);

/// Makes mimalloc give freed memory back at once in the steps where a run's memory peaks (the
/// ECC duplicates search, a first run's read and the matcher's build, see
/// `mlc_engine::on_memory_heavy_steps`), and 10 ms later elsewhere. At once everywhere kept the
/// peaks lowest (a full run of 100,000 customers: 162 MB, 187 MB with the delay) but cost a
/// full run of a million customers a sixth of its CPU time, faulting in again pages given back
/// a moment before (2026-12-05, release, one store, back to back: 139.4 s and 197.4 s of CPU at
/// once, 121.4 s and 163.1 s with the delay; peaks 145 and 177 MB). The first sync peaks in
/// the duplicates search: with the delay through its read, 282 to 290 MB instead of 274, so a
/// first run's read gives back at once too.
fn purge_freed_memory_in_heavy_steps() {
    if let Some(delay) = std::env::var("MIMALLOC_PURGE_DELAY")
        .ok()
        .and_then(|delay| delay.trim().parse::<i64>().ok())
    {
        PURGE_DELAY_MS.store(delay, Ordering::Relaxed);
    }
    set_purge_delay(PURGE_DELAY_MS.load(Ordering::Relaxed));
    mlc_engine::on_memory_heavy_steps(|heavy| {
        set_purge_delay(match heavy {
            true => 0,
            false => PURGE_DELAY_MS.load(Ordering::Relaxed),
        });
    });
}

fn set_purge_delay(milliseconds: i64) {
    let milliseconds = std::os::raw::c_long::try_from(milliseconds).unwrap_or(0);
    // SAFETY: sets one of mimalloc's integer options, which it reads when it decides to purge;
    // the option's number is that of the bundled mimalloc 2 header.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, milliseconds) }
}

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas, and
/// where the system grants them on request (`madvise`, Debian's default) a 2 MB page is resident
/// as soon as one byte of it is written, and stays while part of it is in use: a full run of
/// 100,000 customers peaked at 93 to 107 MB with them and 76 to 77 MB without, `extract
/// --full` at 125 to 136 MB and 103 to 107 MB, at the same speed. mimalloc's own switch
/// (`MIMALLOC_ALLOW_THP=0`) is read before `main`, too early for a setting made here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process (and of the processes it
    // starts); a kernel that refuses it leaves huge pages as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn no_transparent_huge_pages() {}

#[derive(Parser, Debug)]
#[command(
    name = "ml-connector",
    version,
    about = "Keeps Pipedrive built from the SAP ECC customer master: customers become organizations, contact persons become persons.",
    after_help = "Start with `ml-connector demo` to see a whole sync on the built-in simulators,\nor `ml-connector init` to write a config for your own systems."
)]
pub struct Cli {
    /// Config file (TOML). `run` takes several (repeat -c), or a directory of *.toml.
    #[arg(
        short,
        long,
        global = true,
        env = "MLC_CONFIG",
        default_value = "ml-connector.toml",
        action = clap::ArgAction::Append
    )]
    pub config: Vec<PathBuf>,

    /// Log format: human-readable lines, or one JSON object per line for machines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// More log output (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Init(commands::init::InitArgs),
    Check(commands::check::CheckArgs),
    Setup(commands::setup::SetupArgs),
    Fields(commands::fields::FieldsArgs),
    Auth(commands::auth::AuthArgs),
    Extract(commands::extract::ExtractArgs),
    Sync(commands::sync::SyncArgs),
    Run(commands::run::RunArgs),
    Runs(commands::history::RunsArgs),
    Audit(commands::audit::AuditArgs),
    Review(commands::review::ReviewArgs),
    Agent(commands::agent::AgentArgs),
    #[cfg(feature = "simulators")]
    Demo(commands::demo::DemoArgs),
    #[cfg(feature = "simulators")]
    Bench(commands::bench::BenchArgs),
    #[cfg(feature = "simulators")]
    Sim(commands::sim::SimArgs),
}

fn main() -> ExitCode {
    one_malloc_arena();
    purge_freed_memory_in_heavy_steps();
    no_transparent_huge_pages();
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    let outcome = commands::dispatch(&cli);
    report_peak_memory();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

/// Keeps glibc's allocator (what SQLite and the other C code allocate with; Rust's own
/// allocations go to mimalloc) to one arena unless `MALLOC_ARENA_MAX` says otherwise. A run's steps
/// work side by side on the runtime's threads (the Pipedrive index is read while ECC is), and
/// glibc gives each thread that allocates an arena of its own, which keeps what was freed
/// there: measured on a full run of 20,000 customers, a peak of 262 MB with the default arenas,
/// 235 MB with two, 167 MB with one (as before the steps overlapped). Called first thing, before
/// any thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no thread allocates concurrently
        // yet, and a refusal (return 0) leaves glibc's default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// The environment variable that makes `ml-connector` write its peak resident memory (kB, from
/// /proc/self/status VmHWM) to the file it names when it exits (`bench scale` sets it).
pub const PEAK_RSS_ENV: &str = "MLC_REPORT_PEAK_RSS";

/// With `MLC_REPORT_PEAK_RSS=FILE` (set by `bench scale` for the processes it measures), writes
/// this process's peak resident memory in kB (VmHWM of /proc/self/status) to FILE. Linux only;
/// elsewhere nothing is written.
fn report_peak_memory() {
    let Some(path) = std::env::var_os(PEAK_RSS_ENV) else {
        return;
    };
    if let Some(peak_kb) = mlc_engine::peak_rss_kb() {
        if let Err(error) = std::fs::write(&path, peak_kb.to_string()) {
            eprintln!(
                "cannot write the peak memory to {}: {error}",
                path.to_string_lossy()
            );
        }
    }
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default_level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Every command that talks to the network runs on one multi-threaded runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            CliError::failed(anyhow::anyhow!("cannot start the async runtime: {error}"))
        })
}
