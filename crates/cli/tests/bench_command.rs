//! `ml-connector bench scale` and `bench naive-peer` at a small size: they run end to end and
//! their JSON carries the metric names scripts read.

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let directory = tempfile::tempdir().expect("a temporary folder");
    let json = directory.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("ml-connector runs");
    assert!(
        output.status.success(),
        "bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("bench wrote its JSON");
    serde_json::from_str(&text).expect("the JSON parses")
}

fn metrics<'a>(document: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    document["scenarios"]
        .as_array()
        .expect("a list of scenarios")
        .iter()
        .find(|scenario| scenario["name"] == name)
        .map(|scenario| &scenario["metrics"])
        .unwrap_or_else(|| panic!("no scenario {name} in {document:#}"))
}

#[test]
fn bench_scale_measures_memory_time_and_store_growth_of_separate_processes() {
    let directory = tempfile::tempdir().expect("a temporary folder");
    let plot = directory.path().join("scale.svg");
    let document = bench(&[
        "scale",
        "--customers",
        "150",
        "--plot",
        plot.to_str().expect("a UTF-8 path"),
        "--ecc-latency-ms",
        "500",
    ]);
    let scale = metrics(&document, "scale");
    assert_eq!(scale["customers"], 150);
    for name in [
        "first_sync_peak_rss_mb",
        "full_sync_peak_rss_mb",
        "full_sync_wall_ratio_to_extract",
        "store_bytes_per_record",
        "changed_full_sync_peak_rss_mb",
        "changed_full_sync_wall_secs",
        "new_customer_delta_peak_rss_mb",
        "new_customer_delta_wall_secs",
    ] {
        let value = scale[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing in {scale:#}"));
        assert!(value > 0.0, "{name} = {value} in {scale:#}");
    }
    // Every organization and person of the full run was counted: 150 customers and their
    // contacts.
    assert!(scale["records"].as_u64().unwrap_or(0) > 150, "{scale:#}");
    // The runs again with every ECC call answered half a second late: the read makes several
    // calls one after the other (customizing, the customers' page, then what depends on it).
    assert_eq!(scale["ecc_latency_ms"], 500, "{scale:#}");
    let slow_extract = scale["slow_ecc_extract_wall_secs"].as_f64().unwrap_or(0.0);
    assert!(slow_extract >= 1.0, "{scale:#}");
    assert!(
        slow_extract > scale["extract_wall_secs"].as_f64().unwrap_or(f64::MAX),
        "{scale:#}"
    );
    assert!(
        scale["slow_ecc_full_sync_wall_secs"]
            .as_f64()
            .unwrap_or(0.0)
            >= 1.0,
        "{scale:#}"
    );
    assert!(
        scale["slow_ecc_full_sync_wall_ratio_to_extract"]
            .as_f64()
            .is_some_and(|ratio| ratio > 0.0),
        "{scale:#}"
    );
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.contains("<svg") && svg.contains("Peak resident memory"));
}

#[test]
fn bench_naive_peer_compares_tokens_and_wall_time_with_the_connector() {
    let document = bench(&["naive-peer", "--customers", "12"]);
    let naive = metrics(&document, "naive-peer");
    assert_eq!(naive["organizations"], 12, "{naive:#}");
    for name in [
        "tokens_per_org",
        "wall_secs",
        "tokens_ratio_to_connector",
        "wall_ratio_to_connector",
    ] {
        assert!(
            naive[name].as_f64().is_some_and(|value| value > 0.0),
            "{name} missing in {naive:#}"
        );
    }
    // A search per record costs more than the connector's shared index pages.
    assert!(
        naive["tokens_ratio_to_connector"].as_f64().unwrap_or(0.0) > 1.0,
        "{naive:#}"
    );
}
