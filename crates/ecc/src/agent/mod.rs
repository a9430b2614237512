//! The on-premises agent: `ml-connector agent` runs inside the SAP network, opens an outbound
//! WebSocket to the connector's `/agent/connect`, and relays the connector's RFC and OData
//! requests to ECC, refusing anything outside its read-only allow-list.
//!
//! - `protocol`: the frames on the WebSocket (JSON text frames, one request or answer each).
//! - `allow`: the allow-list the agent enforces itself.
//! - `hub`: the connector's side: accepts agents (token checked against a stored SHA-256 hash,
//!   in constant time) and offers them as an RFC or OData transport.
//! - `relay`: the agent's side: connect, authenticate, relay, heartbeat, reconnect.
//! - `tunnel`: the agent's way out: an HTTP proxy's CONNECT, TLS with the company CA, a
//!   connect timeout.

pub mod allow;
pub mod hub;
pub mod protocol;
pub mod relay;
pub mod tunnel;
