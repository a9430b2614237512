//! Generation of a large customer master: time and peak memory (VmHWM).
//!
//! `cargo bench -p mlc-sim-ecc --bench generate` (MLC_BENCH_CUSTOMERS, default 1,000,000).

use std::time::Instant;

use mlc_sim_ecc::SimEccOptions;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let customers: usize = std::env::var("MLC_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut options = SimEccOptions::for_tests(customers, 42);
    options.duplicate_rate = 0.02;
    options.dirty_rate = 0.01;
    let started = Instant::now();
    let data = mlc_sim_ecc::generate_data(&options);
    let generation = started.elapsed();
    let scan_started = Instant::now();
    let kna1 = data.table_rows("KNA1");
    let adr6 = data.table_rows("ADR6");
    let scan = scan_started.elapsed();
    println!(
        "{{\"scenario\":\"sim-ecc-generate\",\"customers\":{},\"contacts\":{},\"generate_secs\":{:.2},\"peak_rss_mib\":{:.0},\"scan_kna1_adr6_secs\":{:.2},\"kna1_rows\":{kna1},\"adr6_rows\":{adr6}}}",
        data.customers(),
        data.contacts(),
        generation.as_secs_f64(),
        peak_rss_mib().unwrap_or(-1.0),
        scan.as_secs_f64(),
    );
}
