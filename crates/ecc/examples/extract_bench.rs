//! Extraction benchmark: the simulator runs in a child process (so its data does not count
//! against ours), the extractor reads every customer through it and prints calls, seconds,
//! records and the peak memory of the extracting process.
//!
//! ```sh
//! cargo run --release -p mlc-ecc --example extract_bench -- --customers 100000
//! cargo run --release -p mlc-ecc --example extract_bench -- --customers 1000000 --transport odata
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use futures::StreamExt;

fn argument(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1).cloned())
}

/// Peak resident memory of this process in MiB (Linux VmHWM).
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let customers: usize = argument("--customers")
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|argument| argument == "--serve-sim") {
        runtime.block_on(serve_sim(customers));
        return;
    }
    let transport = argument("--transport").unwrap_or_else(|| "soap-rfc".to_string());
    let rows_per_call = argument("--rows-per-call").unwrap_or_else(|| "5000".to_string());

    let generation = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--serve-sim", "--customers", &customers.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the simulator process");
    let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    let base_url = lines
        .next()
        .and_then(Result::ok)
        .and_then(|line| line.strip_prefix("LISTENING ").map(str::to_string))
        .expect("the simulator says where it listens");
    eprintln!(
        "simulator with {customers} customers ready in {:.1} s at {base_url}",
        generation.elapsed().as_secs_f64()
    );

    let text = mlc_config::TEMPLATE
        .replace(
            "base_url = \"http://127.0.0.1:18001\"",
            &format!("base_url = \"{base_url}\""),
        )
        .replace(
            "transport = \"soap-rfc\"",
            &format!("transport = \"{transport}\""),
        )
        .replace(
            "rows_per_call = 5000",
            &format!("rows_per_call = {rows_per_call}"),
        )
        .replace("timeout_secs = 60", "timeout_secs = 600");
    let config = mlc_config::parse("bench.toml", &text, &|name| match name {
        "ECC_PASSWORD" => Some("secret".to_string()),
        _ => Some(format!("bench-{name}")),
    })
    .expect("bench config")
    .ecc;

    let before = peak_memory_mib().unwrap_or(0.0);
    let outcome = runtime.block_on(async {
        let extractor = mlc_ecc::Extractor::connect(&config).await?;
        let started = Instant::now();
        let mut stream = Box::pin(extractor.full());
        let (mut records, mut contacts, mut rejected, mut batches) =
            (0usize, 0usize, 0usize, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            batches += 1;
            records += batch.records.len();
            contacts += batch
                .records
                .iter()
                .map(|record| record.customer.contacts.len())
                .sum::<usize>();
            rejected += batch.rejected.len();
        }
        Ok::<_, mlc_ecc::EccError>((
            records,
            contacts,
            rejected,
            batches,
            extractor.calls(),
            started.elapsed(),
        ))
    });
    let _ = child.kill();
    let _ = child.wait();
    match outcome {
        Ok((records, contacts, rejected, batches, calls, elapsed)) => {
            let peak = peak_memory_mib().unwrap_or(0.0);
            println!("transport        {transport}");
            println!("customers        {customers}");
            println!("records          {records} (+{rejected} data problems kept out)");
            println!("contacts         {contacts}");
            println!("batches          {batches}");
            println!("calls            {calls}");
            println!("seconds          {:.1}", elapsed.as_secs_f64());
            println!(
                "customers/s      {:.0}",
                records as f64 / elapsed.as_secs_f64().max(0.001)
            );
            println!("peak memory MiB  {peak:.0} (before the read {before:.0})");
        }
        Err(error) => {
            eprintln!("extraction failed: {error}");
            std::process::exit(1);
        }
    }
}

async fn serve_sim(customers: usize) {
    let mut options = mlc_sim_ecc::SimEccOptions::for_tests(customers, 7);
    options.dirty_rate = 0.01;
    options.duplicate_rate = 0.02;
    let sim = mlc_sim_ecc::spawn(options).await.expect("simulator");
    println!("LISTENING {}", sim.base_url());
    // Serve until the benchmark closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|read| read > 0)
            .unwrap_or(false)
        {
            line.clear();
        }
    })
    .await;
    sim.shutdown().await;
}
