//! Frames between the connector (hub) and the agent: JSON text frames. The hub sends requests
//! with an id; the agent answers each id once, in any order, several in flight.

use serde::{Deserialize, Serialize};

use crate::error::EccError;
use crate::rfc::{RfcCall, RfcReply};

/// The path agents connect to.
pub const CONNECT_PATH: &str = "/agent/connect";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentRequest {
    /// One RFC call, executed by the agent over SOAP-RFC.
    Rfc { call: RfcCall },
    /// One OData GET, `path` relative to the ECC host ("/sap/opu/odata/...?...").
    Odata { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentAnswer {
    Rfc {
        reply: RfcReply,
        /// The ECC server's clock when it answered (its HTTP `Date` header, as the agent read
        /// it), so the delta window follows the server's clock through the agent too. Agents
        /// of earlier versions send none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_time: Option<chrono::DateTime<chrono::Utc>>,
    },
    Odata {
        status: u16,
        body: String,
        /// Gateway's clock when it answered (its HTTP `Date` header, as the agent read it), as
        /// for RFC answers. Agents of earlier versions send none; hubs of earlier versions
        /// ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_time: Option<chrono::DateTime<chrono::Utc>>,
    },
    Error {
        error: EccError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    pub request: AgentRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerFrame {
    pub id: u64,
    pub answer: AgentAnswer,
}

/// SHA-256 of a token, as the connector stores it.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_without_the_servers_time_still_read_and_with_it_round_trip() {
        // What an agent of an earlier version sends.
        let old_odata = r#"{"id":7,"answer":{"type":"odata","status":200,"body":"{}"}}"#;
        let frame: AnswerFrame = serde_json::from_str(old_odata).unwrap();
        assert_eq!(
            frame.answer,
            AgentAnswer::Odata {
                status: 200,
                body: "{}".into(),
                server_time: None
            }
        );
        // What this version sends: an earlier hub ignores the extra field, this one reads it.
        let server_time = "2026-12-03T09:00:00Z".parse().ok();
        let answer = AgentAnswer::Odata {
            status: 200,
            body: "{}".into(),
            server_time,
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert!(
            text.contains("\"server_time\":\"2026-12-03T09:00:00Z\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<AgentAnswer>(&text).unwrap(), answer);
        // Without a time the frame is what earlier hubs expect, field for field.
        let without = serde_json::to_value(AgentAnswer::Odata {
            status: 200,
            body: "{}".into(),
            server_time: None,
        })
        .unwrap();
        assert_eq!(
            without,
            serde_json::json!({"type": "odata", "status": 200, "body": "{}"})
        );
    }
}
