//! `ml-connector extract` as a user runs it, against the ECC simulator in this process: one
//! canonical record per line, data problems on stderr, nothing written anywhere.

use std::process::{Command, Output};

use mlc_canonical::Customer;
use mlc_sim_ecc::{spawn, SimEccOptions, SpawnedEcc};

fn write_config(sim: &SpawnedEcc, folder: &std::path::Path) -> std::path::PathBuf {
    let text = mlc_config::TEMPLATE
        .replace(
            "base_url = \"http://127.0.0.1:18001\"",
            &format!("base_url = \"{}\"", sim.base_url()),
        )
        .replace("rows_per_call = 5000", "rows_per_call = 40")
        .replace(
            "sqlite://ml-connector.db",
            &format!("sqlite://{}", folder.join("state.db").display()),
        );
    let path = folder.join("ml-connector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn extract(config: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    command
        .arg("-c")
        .arg(config)
        .arg("extract")
        .args(args)
        .env("ECC_PASSWORD", "secret")
        .env("PIPEDRIVE_API_TOKEN", "token")
        .env("MLC_ADMIN_TOKEN", "admin")
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_prints_one_canonical_record_per_line_and_writes_nothing() {
    let mut options = SimEccOptions::for_tests(150, 7);
    options.dirty_rate = 0.05;
    let sim = spawn(options).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let config = write_config(&sim, folder.path());

    let output = extract(&config, &["--full"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let truth = sim.truth();
    let records: Vec<Customer> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a canonical record: {error}: {line}"))
        })
        .collect();
    let clean = truth.iter().filter(|record| record.dirty.is_none()).count();
    assert_eq!(records.len(), clean);
    for dirty in truth.iter().filter(|record| record.dirty.is_some()) {
        assert!(
            stderr.contains(dirty.customer.customer_number.as_str()),
            "{} not reported: {stderr}",
            dirty.customer.customer_number
        );
    }
    assert!(stderr.contains("left out"), "{stderr}");
    // Nothing written: no state store, no file beside the config.
    let files: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    let wanted = truth.iter().find(|record| record.dirty.is_none()).unwrap();
    let display = wanted.customer.customer_number_display.clone();
    let output = extract(
        &config,
        &["--customer", display.as_str(), "--format", "table"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.lines().nth(1).unwrap().starts_with(display.as_str()),
        "{stdout}"
    );

    let output = extract(&config, &["--since", "last tuesday"]).await;
    assert_eq!(output.status.code(), Some(2));
    sim.shutdown().await;
}
