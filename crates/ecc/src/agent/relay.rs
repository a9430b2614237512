//! The agent's side: connect out to the connector, present the token, relay requests to ECC
//! (several at once), answer pings, send heartbeats, and reconnect with jittered backoff when the
//! connection drops. Requests outside the allow-list are refused here and logged.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use mlc_config::Secret;

use super::allow::AllowList;
use super::protocol::{AgentAnswer, AgentRequest, AnswerFrame, RequestFrame};
use super::tunnel::{self, ConnectorRoute};
use crate::error::EccError;
use crate::http::{build_client, network_error, read_capped, HttpSettings};
use crate::rfc::soap::SoapRfcTransport;
use crate::rfc::RfcTransport;
use crate::server_clock::date_header;

/// How the agent reaches ECC: the same settings `[ecc]` would hold, given on the agent's
/// command line because the agent runs elsewhere.
#[derive(Debug, Clone)]
pub struct EccAccess {
    pub base_url: String,
    pub client: String,
    pub language: String,
    pub user: String,
    pub password: Secret,
    pub http: HttpSettings,
    pub retries: u32,
    /// Answers from ECC larger than this are refused (`--max-response-mib`).
    pub max_response_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `wss://connector.example.com/agent/connect` (`ws://` only to a loopback address).
    pub connect_url: String,
    pub token: Secret,
    pub ecc: EccAccess,
    pub allow: AllowList,
    /// Requests relayed at once.
    pub max_in_flight: usize,
    /// Ping interval; a connection silent for three intervals is given up.
    pub heartbeat: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// `--proxy`: an HTTP proxy to tunnel through with CONNECT (`none`: directly); unset, the
    /// environment's HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY decide.
    pub proxy: Option<String>,
    /// `--ca-file`: company CAs (PEM) trusted for wss besides the public web roots.
    pub connector_ca_file: Option<String>,
    /// How long opening the connection (proxy, TLS, upgrade) may take.
    pub connect_timeout: Duration,
}

impl AgentOptions {
    /// The way to the connector these options describe, checked: URL, proxy, CA file.
    fn route(&self) -> Result<ConnectorRoute, EccError> {
        let url = validate_connect_url(&self.connect_url)?;
        let proxy = tunnel::proxy_for(&url, self.proxy.as_deref(), &|name| {
            std::env::var(name).ok()
        })?;
        if let Some(proxy) = &proxy {
            tracing::info!(origin = %proxy.origin, proxy = %proxy_display(&proxy.proxy), "connecting through a proxy");
        }
        let tls = if url.scheme() == "wss" {
            tunnel::tls_connector(self.connector_ca_file.as_deref())?
        } else {
            None
        };
        Ok(ConnectorRoute {
            url,
            token: self.token.expose().to_string(),
            proxy,
            tls,
            timeout: self.connect_timeout,
        })
    }
}

/// The proxy's host and port, never its credentials.
fn proxy_display(proxy: &url::Url) -> String {
    format!(
        "{}:{}",
        proxy.host_str().unwrap_or_default(),
        proxy.port_or_known_default().unwrap_or(80)
    )
}

/// Connects once, presents the token, and closes: what `ml-connector agent --check` does to
/// prove the way out (proxy, CA, token) before the agent is left running.
pub async fn check_connection(options: &AgentOptions) -> Result<(), EccError> {
    let route = options.route()?;
    let mut socket = tunnel::connect(&route).await?;
    let _ = socket.close(None).await;
    Ok(())
}

/// Checks the connector URL: wss anywhere, ws only to loopback (tests, or a tunnel).
pub fn validate_connect_url(text: &str) -> Result<url::Url, EccError> {
    let url = url::Url::parse(text)
        .map_err(|error| EccError::Config(format!("--connect {text}: {error}")))?;
    match url.scheme() {
        "wss" => Ok(url),
        "ws" => {
            if mlc_config::is_loopback(&url) {
                Ok(url)
            } else {
                Err(EccError::Config(format!(
                    "--connect {text}: plain ws:// is only allowed to a loopback address; use wss://"
                )))
            }
        }
        other => Err(EccError::Config(format!(
            "--connect {text}: scheme {other} is not ws or wss"
        ))),
    }
}

/// How long opening the connection to the connector (TCP, proxy, TLS, WebSocket upgrade) may
/// take unless the options say otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the agent until the connector refuses its token (an error) or the task is stopped.
/// Connection losses are retried with jittered exponential backoff.
pub async fn run_agent(options: AgentOptions) -> Result<(), EccError> {
    let route = options.route()?;
    let relay = Arc::new(Relay::new(&options)?);
    let mut backoff = Duration::from_millis(250);
    loop {
        let started = tokio::time::Instant::now();
        match session(&route, &options, relay.clone()).await {
            Err(error @ EccError::AgentRefused(_)) => return Err(error),
            Err(error) => tracing::warn!(%error, "connection to the connector lost"),
            Ok(()) => tracing::info!("the connector closed the connection"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(250);
        }
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        let wait = backoff.mul_f64(jitter);
        tracing::info!(wait_ms = wait.as_millis() as u64, "reconnecting");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

/// What executes requests against ECC.
struct Relay {
    rfc: SoapRfcTransport,
    http: reqwest::Client,
    ecc: EccAccess,
    allow: AllowList,
}

impl Relay {
    fn new(options: &AgentOptions) -> Result<Relay, EccError> {
        let http = build_client(&options.ecc.http)?;
        let ecc = options.ecc.clone();
        Ok(Relay {
            rfc: SoapRfcTransport::new(
                http.clone(),
                &ecc.base_url,
                &ecc.client,
                &ecc.language,
                &ecc.user,
                ecc.password.expose(),
                ecc.retries,
            )
            .with_response_cap(ecc.max_response_bytes),
            http,
            allow: options.allow.clone(),
            ecc,
        })
    }

    async fn execute(&self, request: AgentRequest) -> AgentAnswer {
        match request {
            AgentRequest::Rfc { call } => {
                if let Err(reason) = self.allow.check_rfc(&call) {
                    tracing::warn!(function = %call.function, %reason, "refused a call outside the allow-list");
                    return AgentAnswer::Error {
                        error: EccError::AgentRefused(reason),
                    };
                }
                let started = std::time::Instant::now();
                let answer = self.rfc.call(&call).await;
                // The agent's own record of what it relayed: what was read, never the values.
                let rows = answer.as_ref().map_or(0, |reply| reply.table("DATA").len());
                tracing::info!(
                    function = %call.function,
                    table = call.import_value("QUERY_TABLE").unwrap_or(""),
                    rows,
                    millis = started.elapsed().as_millis() as u64,
                    ok = answer.is_ok(),
                    "relayed RFC call"
                );
                match answer {
                    Ok(reply) => AgentAnswer::Rfc {
                        reply,
                        server_time: self.rfc.clock_skew().map(|skew| chrono::Utc::now() + skew),
                    },
                    Err(error) => AgentAnswer::Error { error },
                }
            }
            AgentRequest::Odata { path } => {
                if let Err(reason) = self.allow.check_odata(&path) {
                    tracing::warn!(%path, %reason, "refused an OData request outside the allow-list");
                    return AgentAnswer::Error {
                        error: EccError::AgentRefused(reason),
                    };
                }
                let started = std::time::Instant::now();
                let answer = self.odata_get(&path).await;
                let service_path = path.split('?').next().unwrap_or_default();
                tracing::info!(
                    path = service_path,
                    status = answer.as_ref().map_or(0, |(status, _, _)| *status),
                    millis = started.elapsed().as_millis() as u64,
                    "relayed OData request"
                );
                match answer {
                    Ok((status, body, server_time)) => AgentAnswer::Odata {
                        status,
                        body,
                        server_time,
                    },
                    Err(error) => AgentAnswer::Error { error },
                }
            }
        }
    }

    /// The status and body of Gateway's answer, and the time its `Date` header states.
    async fn odata_get(
        &self,
        path: &str,
    ) -> Result<(u16, String, Option<chrono::DateTime<chrono::Utc>>), EccError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{path}{separator}sap-client={}&sap-language={}",
            self.ecc.base_url.trim_end_matches('/'),
            self.ecc.client,
            self.ecc.language
        );
        let response = self
            .http
            .get(&url)
            .basic_auth(&self.ecc.user, Some(self.ecc.password.expose()))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|error| network_error(&self.ecc.base_url, &error))?;
        let status = response.status().as_u16();
        let server_time = date_header(response.headers());
        let body = read_capped(response, &self.ecc.base_url, self.ecc.max_response_bytes).await?;
        Ok((status, body, server_time))
    }
}

async fn session(
    route: &ConnectorRoute,
    options: &AgentOptions,
    relay: Arc<Relay>,
) -> Result<(), EccError> {
    let url = &route.url;
    let socket = tunnel::connect(route).await?;
    tracing::info!(%url, "connected to the connector");
    let (mut sink, mut stream) = socket.split();
    let (answers, mut to_send) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = to_send.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let in_flight = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    let mut heartbeat = tokio::time::interval(options.heartbeat);
    let mut last_heard = tokio::time::Instant::now();
    let outcome = loop {
        tokio::select! {
            message = stream.next() => {
                let message = match message {
                    None => break Ok(()),
                    Some(Err(error)) => break Err(EccError::Unreachable { endpoint: url.to_string(), detail: error.to_string() }),
                    Some(Ok(message)) => message,
                };
                last_heard = tokio::time::Instant::now();
                match message {
                    Message::Text(text) => {
                        let frame: RequestFrame = match serde_json::from_str(text.as_str()) {
                            Ok(frame) => frame,
                            Err(error) => {
                                tracing::warn!(%error, "unreadable request from the connector");
                                continue;
                            }
                        };
                        // The permit is awaited in the task, not here: the read loop keeps
                        // reading (pings, more requests) while the calls in flight are at the
                        // limit, so a slow ECC never makes the connector give the agent up.
                        let in_flight = in_flight.clone();
                        let relay = relay.clone();
                        let answers = answers.clone();
                        tokio::spawn(async move {
                            let _permit = in_flight.acquire_owned().await;
                            let answer = relay.execute(frame.request).await;
                            let text = serde_json::to_string(&AnswerFrame { id: frame.id, answer }).unwrap_or_else(|error| {
                                // Never leave the connector waiting: say what went wrong instead.
                                let error = EccError::Malformed { source_name: "agent".into(), detail: format!("cannot encode the answer: {error}") };
                                serde_json::to_string(&AnswerFrame { id: frame.id, answer: AgentAnswer::Error { error } }).unwrap_or_default()
                            });
                            let _ = answers.send(Message::Text(text.into())).await;
                        });
                    }
                    Message::Close(_) => break Ok(()),
                    _ => {}
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > options.heartbeat * 3 {
                    break Err(EccError::Unreachable { endpoint: url.to_string(), detail: "no heartbeat from the connector".into() });
                }
                if answers.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break Ok(());
                }
            }
        }
    };
    drop(answers);
    writer.abort();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_websockets_only_to_loopback() {
        assert!(validate_connect_url("ws://127.0.0.1:9000/agent/connect").is_ok());
        assert!(validate_connect_url("ws://localhost:9000/agent/connect").is_ok());
        assert!(validate_connect_url("wss://connector.example.com/agent/connect").is_ok());
        assert!(validate_connect_url("ws://connector.example.com/agent/connect").is_err());
        assert!(validate_connect_url("http://127.0.0.1/agent/connect").is_err());
    }
}
