//! A large simulated ECC: generation time and peak memory (VmHWM), then the cost of typical
//! reads over HTTP against it (one RFC_READ_TABLE chunk by key range, one OData page).
//!
//! `cargo bench -p mlc-sim-ecc --bench generate` (MLC_BENCH_CUSTOMERS, default 1,000,000).
//! Prints one JSON line.

use std::time::Instant;

use mlc_sim_ecc::SimEccOptions;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn rfc_chunk(
    http: &reqwest::Client,
    base: &str,
    table: &str,
    fields: &[&str],
    clause: &str,
) -> (usize, f64) {
    let fields: String = fields
        .iter()
        .map(|f| format!("<item><FIELDNAME>{f}</FIELDNAME></item>"))
        .collect();
    let body = format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:urn=\"urn:sap-com:document:sap:rfc:functions\">\
<soapenv:Body><urn:RFC_READ_TABLE><QUERY_TABLE>{table}</QUERY_TABLE><DELIMITER>|</DELIMITER><OPTIONS><item><TEXT>{clause}</TEXT></item></OPTIONS>\
<FIELDS>{fields}</FIELDS><DATA/></urn:RFC_READ_TABLE></soapenv:Body></soapenv:Envelope>"
    );
    let started = Instant::now();
    let response = http
        .post(format!("{base}/sap/bc/soap/rfc?sap-client=100"))
        .basic_auth("MLC_READER", Some("secret"))
        .body(body)
        .send()
        .await
        .expect("RFC call");
    let text = response.text().await.expect("RFC body");
    (
        text.matches("<WA>").count(),
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::main]
async fn main() {
    let customers: usize = std::env::var("MLC_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut options = SimEccOptions::for_tests(customers, 42);
    options.duplicate_rate = 0.02;
    options.dirty_rate = 0.01;
    let started = Instant::now();
    let ecc = mlc_sim_ecc::spawn(options).await.expect("simulator starts");
    let generation = started.elapsed().as_secs_f64();
    let peak_after_generation = peak_rss_mib().unwrap_or(-1.0);
    let http = reqwest::Client::new();
    let base = ecc.base_url();
    let (kna1_rows, kna1_secs) = rfc_chunk(
        &http,
        &base,
        "KNA1",
        &["KUNNR", "NAME1", "ADRNR", "LOEVM"],
        "KUNNR BETWEEN '0000500000' AND '0000504999'",
    )
    .await;
    let (adrc_rows, adrc_secs) = rfc_chunk(
        &http,
        &base,
        "ADRC",
        &["ADDRNUMBER", "STREET", "CITY1"],
        "ADDRNUMBER BETWEEN '0000400000' AND '0000404999'",
    )
    .await;
    let odata_started = Instant::now();
    let page = http
        .get(format!(
            "{base}/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet?$format=json&$skiptoken=500000"
        ))
        .basic_auth("MLC_READER", Some("secret"))
        .send()
        .await
        .expect("OData call")
        .text()
        .await
        .expect("OData body");
    let odata_secs = odata_started.elapsed().as_secs_f64();
    let truth_started = Instant::now();
    let mut truth = http
        .get(format!("{base}/_sim/truth"))
        .send()
        .await
        .expect("truth call");
    let mut truth_bytes = 0usize;
    while let Some(chunk) = truth.chunk().await.expect("truth chunk") {
        truth_bytes += chunk.len();
    }
    let truth_secs = truth_started.elapsed().as_secs_f64();
    println!(
        "{{\"scenario\":\"sim-ecc-1m\",\"customers\":{customers},\"generate_secs\":{generation:.2},\"peak_rss_mib_after_generation\":{peak_after_generation:.0},\
\"rfc_kna1_5000_rows\":{kna1_rows},\"rfc_kna1_secs\":{kna1_secs:.3},\"rfc_adrc_rows\":{adrc_rows},\"rfc_adrc_secs\":{adrc_secs:.3},\
\"odata_page_bytes\":{},\"odata_page_secs\":{odata_secs:.3},\"truth_mib\":{:.0},\"truth_secs\":{truth_secs:.1},\"peak_rss_mib\":{:.0}}}",
        page.len(),
        truth_bytes as f64 / 1_048_576.0,
        peak_rss_mib().unwrap_or(-1.0)
    );
    ecc.shutdown().await;
}
