//! Each way around the agent's allow-list the security review found is refused by a running
//! agent and written to its log, and nothing of it reaches ECC: a percent-encoded `..` in an
//! OData path, a second QUERY_TABLE, names that would change the SOAP XML, and OPTIONS lines
//! with a subquery, EXISTS, another table's field or a host variable.
//!
//! Its own test binary: the log is captured by a process-wide subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{acceptance_options, spawn};
use mlc_ecc::agent::allow::AllowList;
use mlc_ecc::agent::hub::{AgentHub, StandaloneListener};
use mlc_ecc::agent::protocol::{token_hash, AgentAnswer, AgentRequest};
use mlc_ecc::http::HttpSettings;
use mlc_ecc::rfc::RfcCall;
use mlc_ecc::{run_agent, AgentOptions, EccAccess, EccError};

const TOKEN: &str = "agent-token-refusals";

/// The log as the agent writes it, shared with the test.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn read_with_options(lines: &[&str]) -> RfcCall {
    RfcCall::new("RFC_READ_TABLE")
        .import("QUERY_TABLE", "KNA1")
        .table(
            "OPTIONS",
            lines
                .iter()
                .map(|line| vec![("TEXT".to_string(), line.to_string())])
                .collect(),
        )
        .table(
            "FIELDS",
            vec![vec![("FIELDNAME".to_string(), "KUNNR".to_string())]],
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bypass_of_the_review_is_refused_by_the_agent_and_logged() {
    let log = CapturedLog::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let sim = spawn(acceptance_options(10)).await;
    let hub = AgentHub::new(token_hash(TOKEN));
    let listener = StandaloneListener::start(hub.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let agent = tokio::spawn(run_agent(AgentOptions {
        connect_url: format!("ws://{}/agent/connect", listener.local_addr()),
        token: mlc_config::Secret::new(TOKEN),
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
        proxy: Some("none".into()),
        connector_ca_file: None,
        connect_timeout: Duration::from_secs(10),
    }));

    let bypasses: Vec<(&str, AgentRequest)> = vec![
        (
            "an encoded dot segment",
            AgentRequest::Odata {
                path: "/sap/opu/odata/%2e%2e/%2e%2e/bc/soap/rfc".into(),
            },
        ),
        (
            "a doubly encoded dot segment",
            AgentRequest::Odata {
                path: "/sap/opu/odata/sap/Z_SRV/%252e%252e/%252e%252e/%252e%252e/bc/soap/rfc"
                    .into(),
            },
        ),
        (
            "a second QUERY_TABLE",
            AgentRequest::Rfc {
                call: read_with_options(&[]).import("QUERY_TABLE", "USR02"),
            },
        ),
        (
            "a parameter name that writes XML",
            AgentRequest::Rfc {
                call: read_with_options(&[])
                    .import("DELIMITER></urn:RFC_READ_TABLE><urn:QUERY_TABLE", "USR02"),
            },
        ),
        (
            "a function name that writes XML",
            AgentRequest::Rfc {
                call: RfcCall::new("BAPI_CUSTOMER_GETDETAIL2><urn:SXPG_COMMAND_EXECUTE"),
            },
        ),
        (
            "a field of another table",
            AgentRequest::Rfc {
                call: RfcCall::new("RFC_READ_TABLE")
                    .import("QUERY_TABLE", "KNA1")
                    .table(
                        "FIELDS",
                        vec![vec![("FIELDNAME".to_string(), "USR02~BNAME".to_string())]],
                    ),
            },
        ),
        (
            "a subquery in OPTIONS",
            AgentRequest::Rfc {
                call: read_with_options(&["KUNNR IN ( SELECT BNAME FROM USR02 )"]),
            },
        ),
        (
            "EXISTS in OPTIONS",
            AgentRequest::Rfc {
                call: read_with_options(&["EXISTS ( SELECT * FROM USR02 WHERE BNAME = KUNNR )"]),
            },
        ),
        (
            "another table's field in OPTIONS",
            AgentRequest::Rfc {
                call: read_with_options(&["KUNNR EQ USR02~BNAME"]),
            },
        ),
        (
            "a host variable in OPTIONS",
            AgentRequest::Rfc {
                call: read_with_options(&["KUNNR EQ @lv_value"]),
            },
        ),
    ];
    let calls_before = sim.stats().calls_by_function.values().sum::<u64>();
    for (what, request) in bypasses {
        let answer = hub.request(request, Duration::from_secs(20)).await.unwrap();
        let AgentAnswer::Error {
            error: EccError::AgentRefused(reason),
        } = &answer
        else {
            panic!("{what} was not refused: {answer:?}");
        };
        // The agent's log names the refusal with its reason.
        let mut logged = false;
        for _ in 0..100 {
            let text = log.text();
            if text
                .lines()
                .any(|line| line.contains("refused") && line.contains(reason.as_str()))
            {
                logged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            logged,
            "{what}: no log line for {reason:?}:\n{}",
            log.text()
        );
    }
    let stats = sim.stats();
    assert_eq!(
        stats.calls_by_function.values().sum::<u64>(),
        calls_before,
        "a refused call reached ECC: {stats:?}"
    );
    assert!(!stats.calls_by_table.contains_key("USR02"), "{stats:?}");
    agent.abort();
    sim.shutdown().await;
}
