//! The one error type of ECC extraction. Every variant names the thing that failed (function,
//! table, endpoint, customer) and, where a user can act, what to do.
//!
//! The error is plain data (strings) so it can cross the agent's WebSocket unchanged: an error
//! raised inside the SAP network reads the same on the connector as one raised locally.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum EccError {
    /// The config cannot work (bad URL, unreadable CA file, missing token file...).
    #[error("ecc config: {0}")]
    Config(String),
    /// The network: connection refused, TLS, timeout. Worth a retry.
    #[error("cannot reach ECC at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// HTTP 401/403 at logon.
    #[error("ECC refused the logon of user {user} at {endpoint} (HTTP {status}): check ecc.user, ecc.password and ecc.client")]
    LogonFailed {
        endpoint: String,
        user: String,
        status: u16,
    },
    /// An HTTP status that is neither success nor a SOAP fault nor an OData error body.
    #[error("ECC answered HTTP {status} at {endpoint}: {detail}")]
    Http {
        endpoint: String,
        status: u16,
        detail: String,
    },
    /// The user lacks the table authorization.
    #[error("user may not read table {table} with {function}: grant authorization object S_TABU_DIS (the table's authorization group) or S_TABU_NAM (table {table}), and S_RFC for {function}")]
    NotAuthorized { table: String, function: String },
    #[error("table {table} is not available to {function} (missing, or hidden by missing S_TABU_DIS/S_TABU_NAM authorization)")]
    TableNotAvailable { table: String, function: String },
    #[error("{function} does not know a field of table {table}: {detail}")]
    FieldNotValid {
        table: String,
        function: String,
        detail: String,
    },
    #[error("{function} refused the WHERE clause on table {table}: {detail}")]
    OptionNotValid {
        table: String,
        function: String,
        detail: String,
    },
    #[error("{function}: the selected fields of table {table} exceed the 512-character row")]
    DataBufferExceeded { table: String, function: String },
    /// The function module does not exist (or is not RFC-enabled) on this system.
    #[error(
        "function module {function} does not exist on this ECC system (or is not remote-enabled)"
    )]
    FunctionNotFound { function: String },
    /// Any other SOAP fault or SAP exception.
    #[error("{function} failed: {code}: {message}")]
    SapFault {
        function: String,
        code: String,
        message: String,
    },
    /// An OData service's error body.
    #[error("OData {endpoint} answered HTTP {status}: {code}: {message}")]
    OData {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    /// A response that does not have the shape SAP sends.
    #[error("malformed answer from {source_name}: {detail}")]
    Malformed { source_name: String, detail: String },
    /// The agent is not connected, or its connection dropped while a call was in flight.
    #[error("no agent connected: {0}")]
    AgentUnavailable(String),
    /// The agent refused a call outside its allow-list.
    #[error("the agent refused the call: {0}")]
    AgentRefused(String),
}

impl EccError {
    /// Whether the same call may succeed when repeated: network trouble, server errors, a
    /// dropped agent, an answer cut off on the way, and RFC's system exceptions (a work process
    /// that died, a lost gateway connection: SYSTEM_FAILURE, COMMUNICATION_FAILURE,
    /// RESOURCE_FAILURE). Every call the connector makes only reads, so repeating one is safe;
    /// one that fails the same way each time costs `ecc.retries` short waits and then fails
    /// with SAP's message. SAP's answers about the call itself (authorization, fields, WHERE)
    /// never change on a retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            EccError::Unreachable { .. }
            | EccError::AgentUnavailable(_)
            | EccError::Malformed { .. } => true,
            EccError::Http { status, .. } | EccError::OData { status, .. } => {
                *status >= 500 || *status == 429
            }
            EccError::SapFault { code, .. } => matches!(
                code.as_str(),
                "SYSTEM_FAILURE" | "COMMUNICATION_FAILURE" | "RESOURCE_FAILURE"
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_exceptions_and_cut_answers_are_retried_and_answers_about_the_call_are_not() {
        let fault = |code: &str| EccError::SapFault {
            function: "RFC_READ_TABLE".into(),
            code: code.into(),
            message: "m".into(),
        };
        assert!(fault("SYSTEM_FAILURE").is_retryable());
        assert!(fault("COMMUNICATION_FAILURE").is_retryable());
        assert!(fault("RESOURCE_FAILURE").is_retryable());
        assert!(!fault("TABLE_WITHOUT_DATA").is_retryable());
        assert!(EccError::Malformed {
            source_name: "RFC_READ_TABLE (SOAP)".into(),
            detail: "not XML at byte 517".into(),
        }
        .is_retryable());
        assert!(!EccError::NotAuthorized {
            table: "KNA1".into(),
            function: "RFC_READ_TABLE".into(),
        }
        .is_retryable());
        assert!(!EccError::OptionNotValid {
            table: "KNA1".into(),
            function: "RFC_READ_TABLE".into(),
            detail: "d".into(),
        }
        .is_retryable());
    }

    #[test]
    fn every_error_crosses_the_agent_connection_unchanged() {
        let errors = vec![
            EccError::Config("x".into()),
            EccError::AgentRefused("USR02".into()),
            EccError::AgentUnavailable("gone".into()),
            EccError::NotAuthorized {
                table: "KNA1".into(),
                function: "RFC_READ_TABLE".into(),
            },
            EccError::Unreachable {
                endpoint: "e".into(),
                detail: "d".into(),
            },
        ];
        for error in errors {
            let text = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<EccError>(&text).unwrap(),
                error,
                "{text}"
            );
        }
    }
}
