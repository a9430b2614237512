//! Remote function calls as plain data, and the transports that carry them: SOAP over HTTP
//! (`soap`) or the agent's WebSocket (`crate::agent`). The table reader above them does not
//! know which one it talks to.

pub mod row;
pub mod soap;
pub mod system_info;
pub mod table_reader;
pub mod where_clause;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EccError;

/// One row of a table parameter: (field, value) pairs.
pub type ParameterRow = Vec<(String, String)>;

/// One call of a remote-enabled function module: scalar imports and table parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfcCall {
    pub function: String,
    /// Scalar import parameters, in the order they are sent.
    pub imports: Vec<(String, String)>,
    /// Table parameters: every row a list of (field, value). An empty table is still sent.
    pub tables: Vec<(String, Vec<ParameterRow>)>,
}

impl RfcCall {
    pub fn new(function: impl Into<String>) -> Self {
        RfcCall {
            function: function.into(),
            imports: Vec::new(),
            tables: Vec::new(),
        }
    }

    pub fn import(mut self, name: &str, value: impl Into<String>) -> Self {
        self.imports.push((name.to_string(), value.into()));
        self
    }

    pub fn table(mut self, name: &str, rows: Vec<ParameterRow>) -> Self {
        self.tables.push((name.to_string(), rows));
        self
    }

    pub fn import_value(&self, name: &str) -> Option<&str> {
        self.imports
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The answer of a function module: scalar exports (structures flattened as `STRUCT.FIELD`)
/// and table parameters (rows of field → value). Values keep SAP's padding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfcReply {
    pub exports: BTreeMap<String, String>,
    pub tables: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl RfcReply {
    /// Rows of a table parameter; an absent or empty table gives no rows.
    pub fn table(&self, name: &str) -> &[BTreeMap<String, String>] {
        self.tables.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Something that can execute an RFC call against ECC.
#[async_trait::async_trait]
pub trait RfcTransport: Send + Sync {
    async fn call(&self, call: &RfcCall) -> Result<RfcReply, EccError>;
    /// Where calls go, for messages ("http://host/sap/bc/soap/rfc", "agent").
    fn endpoint(&self) -> String;
    /// How far the server's clock is ahead of ours (negative: behind), from the HTTP `Date`
    /// header of its last answer; `None` when no answer carried one.
    fn clock_skew(&self) -> Option<chrono::Duration> {
        None
    }
}
