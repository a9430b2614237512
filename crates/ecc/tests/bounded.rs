//! Reads of ECC are bounded, whatever a broken or hostile server does: an answer larger than
//! `ecc.max_response_mib` is refused, a `__next` link that repeats is not followed forever, a
//! connection that accepts and never answers times out. Each ends as a clear error naming the
//! endpoint, never a hang or unbounded memory.

use std::time::{Duration, Instant};

use axum::routing::{get, post};
use futures::StreamExt;
use mlc_config::EccConfig;
use mlc_ecc::Extractor;

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

fn config(base_url: &str, transport: &str, lines: &[(&str, &str)]) -> EccConfig {
    let mut text = mlc_config::TEMPLATE
        .replace(
            "base_url = \"http://127.0.0.1:18001\"",
            &format!("base_url = \"{base_url}\""),
        )
        .replace(
            "transport = \"soap-rfc\"",
            &format!("transport = \"{transport}\""),
        );
    for (key, value) in lines {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in the template"))
            .to_string();
        text = text.replacen(&line, &format!("{key} = {value}"), 1);
    }
    mlc_config::parse("test.toml", &text, &|name| Some(format!("test-{name}")))
        .expect("config")
        .ecc
}

async fn first_error(extractor: &Extractor) -> String {
    let mut stream = Box::pin(extractor.full());
    loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(error)) => return error.to_string(),
            None => panic!("the read ended without an error"),
        }
    }
}

#[tokio::test]
async fn a_soap_answer_larger_than_the_cap_is_refused() {
    // 3 MiB of rows against a 1 MiB cap.
    let huge = format!(
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><DATA>{}</DATA></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        "<item><WA>x</WA></item>".repeat(140_000)
    );
    let base = serve(axum::Router::new().route(
        "/sap/bc/soap/rfc",
        post(move || {
            let huge = huge.clone();
            async move { huge }
        }),
    ))
    .await;
    let config = config(
        &base,
        "soap-rfc",
        &[("max_response_mib", "1"), ("retries", "0")],
    );
    let extractor = Extractor::connect(&config).await.unwrap();
    let started = Instant::now();
    let error = first_error(&extractor).await;
    assert!(error.contains("larger than 1048576 bytes"), "{error}");
    assert!(
        error.contains("/sap/bc/soap/rfc"),
        "names the endpoint: {error}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn an_odata_next_link_that_repeats_is_not_followed_forever() {
    let base = serve(axum::Router::new().route(
        "/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"d":{"results":[{"CustomerNumber":"0000004711","Name1":"A"}],"__next":"/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet?$skiptoken=1"}}"#,
            )
        }),
    ))
    .await;
    let config = config(&base, "odata", &[("retries", "0")]);
    let extractor = Extractor::connect(&config).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(30), first_error(&extractor))
        .await
        .expect("ends instead of looping");
    assert!(
        error.contains("__next link") && error.contains("repeats"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accept connections and hold them open without a byte of answer.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = config(
        &format!("http://{address}"),
        "soap-rfc",
        &[("timeout_secs", "1"), ("retries", "0")],
    );
    let extractor = Extractor::connect(&config).await.unwrap();
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(30), first_error(&extractor))
        .await
        .expect("a clear error, not a hang");
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
