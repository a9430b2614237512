//! The connector's side of the agent: an axum route for `/agent/connect` that checks the agent's
//! token (SHA-256 compared in constant time with the stored hash) and keeps the connection, and
//! the transports that send RFC and OData requests through it. A request made while no agent is
//! connected, or whose agent dropped mid-call, waits for an agent (up to `ecc.agent_wait_secs`)
//! and is sent again: reads are idempotent, so nothing is lost or repeated.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use mlc_config::EccConfig;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot, watch};

use super::protocol::{
    token_hash, AgentAnswer, AgentRequest, AnswerFrame, RequestFrame, CONNECT_PATH,
};
use crate::error::EccError;
use crate::http::DEFAULT_MAX_RESPONSE_BYTES;
use crate::odata::ODataFetch;
use crate::rfc::{RfcCall, RfcReply, RfcTransport};
use crate::server_clock::ServerClock;

/// How often the hub pings an agent, and how long it waits for any frame before it gives the
/// connection up.
const HUB_PING_EVERY: Duration = Duration::from_secs(15);
const HUB_SILENCE_LIMIT: Duration = Duration::from_secs(50);

/// One connected agent.
struct AgentLink {
    number: u64,
    outgoing: mpsc::Sender<Message>,
    pending: Mutex<HashMap<u64, oneshot::Sender<AgentAnswer>>>,
}

struct HubInner {
    token_hash: [u8; 32],
    /// The newest connected agent, the one requests go to.
    current: watch::Sender<Option<Arc<AgentLink>>>,
    /// Every connected agent, oldest first: when the newest drops, the next newest serves.
    alive: Mutex<Vec<Arc<AgentLink>>>,
    /// The largest frame read from an agent (an answer of ECC's, JSON-encoded).
    max_frame_bytes: usize,
    next_request: AtomicU64,
    next_link: AtomicU64,
    connections: AtomicU64,
}

/// Accepts agents and sends requests to the newest one still connected.
#[derive(Clone)]
pub struct AgentHub {
    inner: Arc<HubInner>,
}

impl AgentHub {
    /// A hub accepting agents whose token hashes to `token_hash`, reading frames up to twice
    /// the default ECC answer cap (JSON escaping) and a margin.
    pub fn new(token_hash: [u8; 32]) -> Self {
        Self::with_frame_limit(token_hash, frame_limit_for(DEFAULT_MAX_RESPONSE_BYTES))
    }

    /// As `new`, reading frames of at most `max_frame_bytes`; a larger one drops that agent.
    pub fn with_frame_limit(token_hash: [u8; 32], max_frame_bytes: usize) -> Self {
        let (current, _) = watch::channel(None);
        AgentHub {
            inner: Arc::new(HubInner {
                token_hash,
                current,
                alive: Mutex::new(Vec::new()),
                max_frame_bytes,
                next_request: AtomicU64::new(1),
                next_link: AtomicU64::new(1),
                connections: AtomicU64::new(0),
            }),
        }
    }

    /// Reads `ecc.agent_token_file`: `sha256:<64 hex>` (the stored form), or a plain token,
    /// which is hashed at once (and a warning says to store the hash instead).
    pub fn from_config(config: &EccConfig) -> Result<Self, EccError> {
        let path = config.agent_token_file.as_deref().ok_or_else(|| {
            EccError::Config("transport = \"agent\" needs ecc.agent_token_file (the agents' token, stored as sha256:<hex>)".into())
        })?;
        let text = std::fs::read_to_string(path).map_err(|error| {
            EccError::Config(format!("cannot read ecc.agent_token_file {path}: {error}"))
        })?;
        Ok(AgentHub::with_frame_limit(
            parse_stored_token(text.trim(), path)?,
            frame_limit_for(config.max_response_bytes),
        ))
    }

    /// The route agents connect to, for the `run` service to mount (or the standalone listener).
    pub fn router(&self) -> Router {
        Router::new()
            .route(CONNECT_PATH, get(accept_agent))
            .with_state(self.clone())
    }

    /// Whether an agent is connected now.
    pub fn connected(&self) -> bool {
        self.inner.current.borrow().is_some()
    }

    /// Agent connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Sends `request` to the agent and waits for its answer. Waits up to `wait` for an agent
    /// to be connected; when the agent drops the connection first, the request goes again to
    /// the next agent that connects.
    pub async fn request(
        &self,
        request: AgentRequest,
        wait: Duration,
    ) -> Result<AgentAnswer, EccError> {
        let deadline = tokio::time::Instant::now() + wait;
        let frame_id = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let text = serde_json::to_string(&RequestFrame {
            id: frame_id,
            request,
        })
        .map_err(|error| EccError::Config(format!("cannot encode an agent request: {error}")))?;
        loop {
            let link = self.wait_for_agent(deadline, wait).await?;
            let (answer_sender, answer) = oneshot::channel();
            if let Ok(mut pending) = link.pending.lock() {
                pending.insert(frame_id, answer_sender);
            }
            if link
                .outgoing
                .send(Message::Text(text.clone().into()))
                .await
                .is_err()
            {
                self.forget(&link);
                continue;
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(remaining.max(Duration::from_secs(1)), answer).await {
                Ok(Ok(answer)) => return Ok(answer),
                // The connection went away with the request in flight: ask the next agent.
                Ok(Err(_)) => {
                    tracing::warn!(
                        request = frame_id,
                        agent = link.number,
                        "agent dropped with a request in flight; waiting for an agent to resend it"
                    );
                    continue;
                }
                Err(_) => {
                    if let Ok(mut pending) = link.pending.lock() {
                        pending.remove(&frame_id);
                    }
                    return Err(EccError::AgentUnavailable(format!(
                        "the agent did not answer within {}s",
                        wait.as_secs()
                    )));
                }
            }
        }
    }

    async fn wait_for_agent(
        &self,
        deadline: tokio::time::Instant,
        wait: Duration,
    ) -> Result<Arc<AgentLink>, EccError> {
        let mut watcher = self.inner.current.subscribe();
        let found =
            tokio::time::timeout_at(deadline, watcher.wait_for(|link| link.is_some())).await;
        match found {
            Ok(Ok(link)) => link.clone().ok_or_else(|| EccError::AgentUnavailable("agent vanished".into())),
            _ => Err(EccError::AgentUnavailable(format!(
                "no agent connected within {}s: start `ml-connector agent --connect <this connector>{CONNECT_PATH} --token-file <file>` inside the SAP network",
                wait.as_secs()
            ))),
        }
    }

    /// Agents connected now.
    pub fn agents_connected(&self) -> usize {
        self.inner.alive.lock().map_or(0, |alive| alive.len())
    }

    /// A new agent serves from now on; the others stay connected as its stand-ins.
    fn welcome(&self, link: &Arc<AgentLink>) {
        if let Ok(mut alive) = self.inner.alive.lock() {
            alive.push(link.clone());
        }
        self.inner.current.send_replace(Some(link.clone()));
    }

    /// Drops `link` (gone or failing) and fails its requests in flight; when it was the one
    /// serving, the newest agent still connected takes over.
    fn forget(&self, link: &Arc<AgentLink>) {
        let newest_left = self.inner.alive.lock().ok().and_then(|mut alive| {
            alive.retain(|other| other.number != link.number);
            alive.last().cloned()
        });
        self.inner.current.send_if_modified(|current| {
            if current
                .as_ref()
                .is_some_and(|current| current.number == link.number)
            {
                if let Some(next) = &newest_left {
                    tracing::info!(
                        gone = link.number,
                        serving = next.number,
                        "an agent dropped; the newest one still connected serves"
                    );
                }
                *current = newest_left.clone();
                true
            } else {
                false
            }
        });
        if let Ok(mut pending) = link.pending.lock() {
            pending.clear();
        }
    }

    fn token_matches(&self, presented: &str) -> bool {
        let presented = token_hash(presented);
        bool::from(presented.ct_eq(&self.inner.token_hash))
    }

    async fn serve(self, socket: WebSocket, peer: String) {
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut to_send) = mpsc::channel::<Message>(256);
        let link = Arc::new(AgentLink {
            number: self.inner.next_link.fetch_add(1, Ordering::Relaxed),
            outgoing: outgoing.clone(),
            pending: Mutex::new(HashMap::new()),
        });
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        tracing::info!(agent = link.number, %peer, "agent connected");
        self.welcome(&link);
        let writer = tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let mut ping = tokio::time::interval(HUB_PING_EVERY);
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => {
                            // A frame beyond the limit ends here too, read no further.
                            tracing::warn!(agent = link.number, %error, limit_bytes = self.inner.max_frame_bytes, "the agent's connection failed; dropping it");
                            break;
                        }
                        None => break,
                    };
                    last_heard = tokio::time::Instant::now();
                    match message {
                        Message::Text(text) => self.deliver(&link, text.as_str()),
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > HUB_SILENCE_LIMIT {
                        tracing::warn!(agent = link.number, "agent silent for too long; dropping it");
                        break;
                    }
                    if outgoing.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!(agent = link.number, "agent disconnected");
        self.forget(&link);
        drop(outgoing);
        writer.abort();
    }

    fn deliver(&self, link: &AgentLink, text: &str) {
        match serde_json::from_str::<AnswerFrame>(text) {
            Ok(frame) => {
                let sender = link
                    .pending
                    .lock()
                    .ok()
                    .and_then(|mut pending| pending.remove(&frame.id));
                if let Some(sender) = sender {
                    let _ = sender.send(frame.answer);
                }
            }
            Err(error) => {
                tracing::warn!(agent = link.number, %error, "unreadable frame from the agent")
            }
        }
    }
}

/// The largest agent frame for ECC answers of at most `max_response_bytes`: JSON may escape
/// every byte of the answer into two, plus the frame's own fields.
fn frame_limit_for(max_response_bytes: usize) -> usize {
    max_response_bytes
        .saturating_mul(2)
        .saturating_add(1024 * 1024)
}

/// `sha256:<hex>` → the hash; anything else is a plain token, hashed here.
pub fn parse_stored_token(text: &str, path: &str) -> Result<[u8; 32], EccError> {
    if let Some(hex_digest) = text.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_digest.trim())
            .map_err(|_| EccError::Config(format!("{path}: sha256: is not followed by hex")))?;
        return bytes
            .try_into()
            .map_err(|_| EccError::Config(format!("{path}: a sha256 hash has 64 hex digits")));
    }
    if text.is_empty() {
        return Err(EccError::Config(format!("{path} is empty")));
    }
    tracing::warn!(
        file = path,
        "the agent token file holds the token itself; store `sha256:<hex of its SHA-256>` instead"
    );
    Ok(token_hash(text))
}

/// The hashed form to put in `ecc.agent_token_file` for `token`.
pub fn stored_token_form(token: &str) -> String {
    format!("sha256:{}", hex::encode(token_hash(token)))
}

async fn accept_agent(
    State(hub): State<AgentHub>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty() || !hub.token_matches(presented) {
        tracing::warn!("an agent presented a wrong or no token; refused");
        return (StatusCode::UNAUTHORIZED, "agent token refused").into_response();
    }
    let peer = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("direct")
        .to_string();
    let limit = hub.inner.max_frame_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| hub.serve(socket, peer))
}

/// RFC calls through the agent.
pub struct AgentRfcTransport {
    hub: AgentHub,
    wait: Duration,
    /// ECC's clock, as the agent relays it.
    clock: ServerClock,
}

impl AgentRfcTransport {
    pub fn new(hub: AgentHub, wait: Duration) -> Self {
        AgentRfcTransport {
            hub,
            wait,
            clock: ServerClock::default(),
        }
    }
}

#[async_trait::async_trait]
impl RfcTransport for AgentRfcTransport {
    async fn call(&self, call: &RfcCall) -> Result<RfcReply, EccError> {
        match self
            .hub
            .request(AgentRequest::Rfc { call: call.clone() }, self.wait)
            .await?
        {
            AgentAnswer::Rfc { reply, server_time } => {
                if let Some(server_time) = server_time {
                    self.clock.observe(server_time);
                }
                Ok(reply)
            }
            AgentAnswer::Error { error } => Err(error),
            AgentAnswer::Odata { .. } => Err(EccError::Malformed {
                source_name: "agent".into(),
                detail: "an OData answer to an RFC request".into(),
            }),
        }
    }

    fn endpoint(&self) -> String {
        "agent".to_string()
    }

    fn clock_skew(&self) -> Option<chrono::Duration> {
        self.clock.skew()
    }
}

/// OData GETs through the agent.
pub struct AgentODataFetch {
    hub: AgentHub,
    wait: Duration,
    /// Gateway's clock, as the agent relays it.
    clock: ServerClock,
}

impl AgentODataFetch {
    pub fn new(hub: AgentHub, config: &EccConfig) -> Self {
        AgentODataFetch {
            hub,
            wait: config.agent_wait,
            clock: ServerClock::default(),
        }
    }
}

#[async_trait::async_trait]
impl ODataFetch for AgentODataFetch {
    async fn get(&self, path: &str) -> Result<(u16, String), EccError> {
        match self
            .hub
            .request(
                AgentRequest::Odata {
                    path: path.to_string(),
                },
                self.wait,
            )
            .await?
        {
            AgentAnswer::Odata {
                status,
                body,
                server_time,
            } => {
                if let Some(server_time) = server_time {
                    self.clock.observe(server_time);
                }
                Ok((status, body))
            }
            AgentAnswer::Error { error } => Err(error),
            AgentAnswer::Rfc { .. } => Err(EccError::Malformed {
                source_name: "agent".into(),
                detail: "an RFC answer to an OData request".into(),
            }),
        }
    }

    fn endpoint(&self) -> String {
        "agent".to_string()
    }

    fn clock_skew(&self) -> Option<chrono::Duration> {
        self.clock.skew()
    }
}

/// The hub on its own listener, for `sync` and `extract` runs (the `run` service mounts the
/// router on its server instead). Stops when dropped.
pub struct StandaloneListener {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl StandaloneListener {
    pub async fn start(hub: AgentHub, listen: &str) -> Result<StandaloneListener, EccError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| {
                EccError::Config(format!(
                    "cannot listen for agents on ecc.agent_listen {listen}: {error}"
                ))
            })?;
        let address = listener
            .local_addr()
            .map_err(|error| EccError::Config(format!("ecc.agent_listen {listen}: {error}")))?;
        tracing::info!(%address, "waiting for agents at ws://{address}{CONNECT_PATH}");
        let router = hub.router();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the agent listener stopped");
            }
        });
        Ok(StandaloneListener { address, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for StandaloneListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}
