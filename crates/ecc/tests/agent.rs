//! Extraction through the on-premises agent: the agent connects out to the connector's hub,
//! relays reads to the simulator, refuses calls outside its allow-list, survives being killed and
//! restarted mid-extract, and a wrong token is refused.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    acceptance_options, assert_deltas_follow_the_servers_clock, assert_matches_truth,
    assert_no_hidden_communication, collect, config, server_behind_options, spawn,
};
use mlc_ecc::agent::allow::AllowList;
use mlc_ecc::agent::hub::{stored_token_form, AgentHub, AgentRfcTransport, StandaloneListener};
use mlc_ecc::agent::protocol::{token_hash, AgentAnswer, AgentRequest};
use mlc_ecc::http::HttpSettings;
use mlc_ecc::rfc::{RfcCall, RfcReply, RfcTransport};
use mlc_ecc::{run_agent, AgentOptions, EccAccess, EccError, Extractor};
use mlc_sim_ecc::SpawnedEcc;

const TOKEN: &str = "agent-token-7f3a";

fn agent_options(sim: &SpawnedEcc, hub_address: std::net::SocketAddr, token: &str) -> AgentOptions {
    AgentOptions {
        connect_url: format!("ws://{hub_address}/agent/connect"),
        token: mlc_config::Secret::new(token),
        ecc: EccAccess {
            base_url: sim.base_url(),
            client: sim.client().to_string(),
            language: "EN".into(),
            user: sim.user().to_string(),
            password: mlc_config::Secret::new(sim.password()),
            http: HttpSettings {
                timeout: Duration::from_secs(30),
                ca_file: None,
                accept_invalid_certs: false,
            },
            retries: 1,
            max_response_bytes: mlc_ecc::http::DEFAULT_MAX_RESPONSE_BYTES,
        },
        allow: AllowList::default(),
        max_in_flight: 8,
        heartbeat: Duration::from_secs(5),
        max_backoff: Duration::from_secs(1),
        // Directly, whatever the environment of the test says.
        proxy: Some("none".into()),
        connector_ca_file: None,
        connect_timeout: Duration::from_secs(10),
    }
}

async fn hub() -> (AgentHub, StandaloneListener) {
    let hub = AgentHub::new(token_hash(TOKEN));
    let listener = StandaloneListener::start(hub.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    (hub, listener)
}

async fn wait_connected(hub: &AgentHub) {
    for _ in 0..200 {
        if hub.connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the agent did not connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extraction_through_the_agent_equals_the_truth() {
    let sim = spawn(acceptance_options(800)).await;
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), stored_token_form(TOKEN)).unwrap();
    let token_path = format!("\"{}\"", token_file.path().display());
    let config = config(
        &sim,
        "agent",
        &[
            ("agent_token_file", &token_path),
            ("agent_listen", "\"127.0.0.1:0\""),
            ("rows_per_call", "200"),
        ],
    );
    // The standalone listener `sync` and `extract` use; here on a free port.
    let hub = AgentHub::from_config(&config).unwrap();
    let listener = StandaloneListener::start(hub.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let agent = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    let extractor = Extractor::with_agent_hub(&config, hub.clone()).unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    assert!(collected
        .records
        .iter()
        .all(|record| record.source == "agent:KNA1"));
    agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_refuses_calls_outside_its_allow_list() {
    let sim = spawn(acceptance_options(10)).await;
    let (hub, listener) = hub().await;
    let agent = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    wait_connected(&hub).await;
    let wait = Duration::from_secs(10);
    let read = |table: &str| AgentRequest::Rfc {
        call: RfcCall::new("RFC_READ_TABLE")
            .import("QUERY_TABLE", table)
            .import("NO_DATA", "X"),
    };
    let answer = hub.request(read("USR02"), wait).await.unwrap();
    assert!(
        matches!(&answer, AgentAnswer::Error { error: EccError::AgentRefused(reason) } if reason.contains("USR02")),
        "{answer:?}"
    );
    let write = AgentRequest::Rfc {
        call: RfcCall::new("BAPI_CUSTOMER_CHANGEFROMDATA1"),
    };
    let answer = hub.request(write, wait).await.unwrap();
    assert!(
        matches!(&answer, AgentAnswer::Error { error: EccError::AgentRefused(reason) } if reason.contains("BAPI_CUSTOMER_CHANGEFROMDATA1")),
        "{answer:?}"
    );
    let outside = AgentRequest::Odata {
        path: "/sap/bc/soap/rfc".into(),
    };
    assert!(matches!(
        hub.request(outside, wait).await.unwrap(),
        AgentAnswer::Error {
            error: EccError::AgentRefused(_)
        }
    ));
    // Nothing refused reached ECC.
    let stats = sim.stats();
    assert!(!stats.calls_by_table.contains_key("USR02"), "{stats:?}");
    assert!(!stats
        .calls_by_function
        .contains_key("BAPI_CUSTOMER_CHANGEFROMDATA1"));
    // An allowed read passes.
    let answer = hub.request(read("KNA1"), wait).await.unwrap();
    assert!(matches!(
        answer,
        AgentAnswer::Error { .. } | AgentAnswer::Rfc { .. }
    ));
    agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused() {
    let sim = spawn(acceptance_options(5)).await;
    let (hub, listener) = hub().await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        run_agent(agent_options(&sim, listener.local_addr(), "not-the-token")),
    )
    .await
    .expect("the agent gives up on a refused token instead of retrying forever");
    assert!(
        matches!(&outcome, Err(EccError::AgentRefused(reason)) if reason.contains("401")),
        "{outcome:?}"
    );
    assert!(!hub.connected());
    assert_eq!(hub.connections(), 0);
    sim.shutdown().await;
}

/// Counts the calls that went through, so the test knows when the extract is in the middle.
struct Counting {
    inner: AgentRfcTransport,
    calls: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl RfcTransport for Counting {
    async fn call(&self, call: &RfcCall) -> Result<RfcReply, EccError> {
        let reply = self.inner.call(call).await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        reply
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_and_restarting_the_agent_mid_extract_loses_and_repeats_nothing() {
    let sim = spawn(acceptance_options(600)).await;
    let (hub, listener) = hub().await;
    let address = listener.local_addr();
    let config = config(&sim, "soap-rfc", &[("rows_per_call", "60")]);
    let calls = Arc::new(AtomicU64::new(0));
    let transport = Arc::new(Counting {
        inner: AgentRfcTransport::new(hub.clone(), Duration::from_secs(60)),
        calls: calls.clone(),
    });
    let extractor = Extractor::over_rfc(&config, transport, "agent");
    let first_agent = tokio::spawn(run_agent(agent_options(&sim, address, TOKEN)));
    wait_connected(&hub).await;

    let extract = tokio::spawn({
        let extractor = extractor.clone();
        async move { collect(extractor.full()).await }
    });
    // Kill the agent once the extract is well under way, leave ECC unreachable for a moment,
    // then start a new agent.
    while calls.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first_agent.abort();
    let _ = first_agent.await;
    let calls_when_killed = calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second_agent = tokio::spawn(run_agent(agent_options(&sim, address, TOKEN)));

    let collected = tokio::time::timeout(Duration::from_secs(120), extract)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        calls.load(Ordering::SeqCst) > calls_when_killed,
        "the extract went on after the restart"
    );
    assert!(hub.connections() >= 2, "a second agent connected");
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    second_agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_relays_odata_too() {
    let sim = spawn(acceptance_options(150)).await;
    let (hub, listener) = hub().await;
    let config = config(
        &sim,
        "agent",
        &[("agent_via", "\"odata\""), ("page_size", "40")],
    );
    let agent = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    let extractor = Extractor::with_agent_hub(&config, hub.clone()).unwrap();
    let collected = collect(extractor.full()).await.unwrap();
    assert_matches_truth(&collected, &sim.truth());
    assert_no_hidden_communication(&collected, &sim.hidden_communication());
    assert!(collected
        .records
        .iter()
        .all(|record| record.source == "agent-odata:CustomerSet"));
    agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_through_the_agent_reads_the_servers_zone_and_clock() {
    // The simulated server runs on Europe/Berlin (TTZCU-TZONESYS = CET).
    let sim = spawn(acceptance_options(10)).await;
    let (hub, listener) = hub().await;
    let agent = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    wait_connected(&hub).await;
    for (configured, ok) in [("\"Europe/Berlin\"", true), ("\"America/New_York\"", false)] {
        let config = config(&sim, "agent", &[("timezone", configured)]);
        let extractor = Extractor::with_agent_hub(&config, hub.clone()).unwrap();
        let lines = extractor.check().await;
        let zone = lines
            .iter()
            .find(|line| line.name == "ecc time zone")
            .unwrap_or_else(|| panic!("no time zone line: {lines:?}"));
        assert_eq!(zone.ok, ok, "{configured}: {}", zone.detail);
        assert!(zone.detail.contains("CET"), "{}", zone.detail);
        // The Date header of ECC's answers comes through the agent.
        let clock = lines.iter().find(|line| line.name == "ecc clock").unwrap();
        assert!(
            clock.ok && clock.detail.contains("Date header"),
            "{}",
            clock.detail
        );
    }
    agent.abort();
    sim.shutdown().await;
}

/// A tiny HTTP proxy that only tunnels (CONNECT), as company proxies let outbound traffic
/// through; it records each tunnel's target.
async fn connect_proxy() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let tunnels = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(byte) = client.read_u8().await else {
                        return;
                    };
                    head.push(byte);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split_whitespace().next())
                else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                seen.lock().unwrap().push(target.to_string());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (address, tunnels)
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// TLS in front of the hub with a certificate of a private CA (tests/fixtures/tls), as a
/// connector behind a company CA is reached.
async fn tls_front(backend: std::net::SocketAddr) -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&std::fs::read(fixture("connector.pem")).unwrap())
            .collect::<Result<_, _>>()
            .unwrap();
    let key =
        PrivateKeyDer::from_pem_slice(&std::fs::read(fixture("connector.key")).unwrap()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    address
}

/// An allowed read through the hub answers with rows.
async fn assert_reads_through(hub: &AgentHub) {
    let answer = hub
        .request(
            AgentRequest::Rfc {
                call: RfcCall::new("RFC_READ_TABLE")
                    .import("QUERY_TABLE", "KNA1")
                    .import("ROWCOUNT", "3")
                    .table(
                        "FIELDS",
                        vec![vec![("FIELDNAME".to_string(), "KUNNR".to_string())]],
                    ),
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(
        matches!(&answer, AgentAnswer::Rfc { reply, .. } if !reply.table("DATA").is_empty()),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reaches_the_connector_through_an_http_connect_proxy() {
    let sim = spawn(acceptance_options(10)).await;
    let (hub, listener) = hub().await;
    let (proxy, tunnels) = connect_proxy().await;
    let mut options = agent_options(&sim, listener.local_addr(), TOKEN);
    options.proxy = Some(format!("http://{proxy}"));
    mlc_ecc::check_connection(&options).await.unwrap();
    let agent = tokio::spawn(run_agent(options));
    wait_connected(&hub).await;
    assert_reads_through(&hub).await;
    let hub_target = listener.local_addr().to_string();
    let seen = tunnels.lock().unwrap().clone();
    assert!(
        seen.len() >= 2 && seen.iter().all(|target| *target == hub_target),
        "tunnels {seen:?}, hub at {hub_target}"
    );
    agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_to_a_connector_behind_a_private_ca_needs_the_ca_file() {
    let sim = spawn(acceptance_options(10)).await;
    let (hub, listener) = hub().await;
    let front = tls_front(listener.local_addr()).await;
    let mut options = agent_options(&sim, listener.local_addr(), TOKEN);
    options.connect_url = format!("wss://localhost:{}/agent/connect", front.port());

    // The public web roots do not know the company CA: refused, saying why.
    let refused = mlc_ecc::check_connection(&options).await.unwrap_err();
    assert!(
        matches!(&refused, EccError::Unreachable { detail, .. } if detail.to_lowercase().contains("certificate")),
        "{refused:?}"
    );
    assert_eq!(hub.connections(), 0);

    // With --ca-file, through the proxy too.
    options.connector_ca_file = Some(fixture("ca.pem"));
    mlc_ecc::check_connection(&options).await.unwrap();
    let (proxy, tunnels) = connect_proxy().await;
    options.proxy = Some(format!("http://{proxy}"));
    let agent = tokio::spawn(run_agent(options));
    wait_connected(&hub).await;
    assert_reads_through(&hub).await;
    assert!(
        tunnels
            .lock()
            .unwrap()
            .iter()
            .any(|target| *target == format!("localhost:{}", front.port())),
        "the wss connection went through the proxy"
    );
    agent.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_newest_agent_drops_the_one_still_connected_serves() {
    let sim = spawn(acceptance_options(10)).await;
    let (hub, listener) = hub().await;
    let older = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    wait_connected(&hub).await;
    let newer = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    for _ in 0..200 {
        if hub.agents_connected() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(hub.agents_connected(), 2, "both agents connected");
    assert_reads_through(&hub).await;

    // The newest goes away for good; the older one, still connected, serves at once.
    newer.abort();
    let _ = newer.await;
    for _ in 0..200 {
        if hub.agents_connected() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(hub.agents_connected(), 1);
    assert!(hub.connected(), "an agent serves");
    assert_reads_through(&hub).await;
    assert_eq!(hub.connections(), 2, "no agent had to connect again");
    older.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_through_the_agent_follow_a_server_clock_two_hours_behind() {
    let sim = spawn(server_behind_options(150)).await;
    let (hub, listener) = hub().await;
    let agent = tokio::spawn(run_agent(agent_options(&sim, listener.local_addr(), TOKEN)));
    wait_connected(&hub).await;
    // OData relayed by the agent, then RFC relayed by it.
    for via in ["\"odata\"", "\"soap-rfc\""] {
        let config = config(&sim, "agent", &[("agent_via", via)]);
        assert_deltas_follow_the_servers_clock(&sim, &config, || async {
            Extractor::with_agent_hub(&config, hub.clone()).unwrap()
        })
        .await;
    }
    agent.abort();
    sim.shutdown().await;
}
