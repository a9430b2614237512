//! The agent's read-only allow-list, enforced inside the SAP network whatever the connector
//! asks: which function modules, which tables, which OData paths. A security team approves this
//! list, not the connector's code.

use std::collections::BTreeSet;

use crate::rfc::table_reader::READ_FUNCTIONS;
use crate::rfc::RfcCall;
use crate::rfc_source::TABLES_READ;

/// The read BAPIs the agent relays by default.
pub const READ_BAPIS: [&str; 4] = [
    "BAPI_CUSTOMER_GETLIST",
    "BAPI_CUSTOMER_GETDETAIL2",
    "BAPI_CUSTOMER_GETCONTACTLIST",
    "BAPI_CUSTOMER_GETDETAIL",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// RFC_READ_TABLE and its variants: allowed only on `tables`.
    pub table_functions: BTreeSet<String>,
    pub tables: BTreeSet<String>,
    /// Other function modules allowed as they are (read BAPIs).
    pub functions: BTreeSet<String>,
    /// OData paths must start with one of these.
    pub odata_prefixes: Vec<String>,
}

impl Default for AllowList {
    /// RFC_READ_TABLE and its variants on the tables the connector reads, the read BAPIs, and
    /// GETs under `/sap/opu/odata/`.
    fn default() -> Self {
        AllowList {
            table_functions: READ_FUNCTIONS.iter().map(|name| name.to_string()).collect(),
            tables: TABLES_READ.iter().map(|name| name.to_string()).collect(),
            functions: READ_BAPIS.iter().map(|name| name.to_string()).collect(),
            odata_prefixes: vec!["/sap/opu/odata/".to_string()],
        }
    }
}

impl AllowList {
    /// Why `call` is refused, or `Ok` when it may go to ECC.
    pub fn check_rfc(&self, call: &RfcCall) -> Result<(), String> {
        let function = call.function.as_str();
        if self.table_functions.contains(function) {
            let table = call
                .import_value("QUERY_TABLE")
                .unwrap_or("")
                .trim()
                .to_ascii_uppercase();
            if self.tables.contains(&table) {
                return Ok(());
            }
            return Err(format!(
                "{function} on table {table:?} is not allowed (tables allowed: {})",
                self.tables.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if self.functions.contains(function) {
            return Ok(());
        }
        Err(format!(
            "function module {function} is not on the agent's read-only allow-list"
        ))
    }

    /// Why an OData GET of `path` is refused, or `Ok`.
    pub fn check_odata(&self, path: &str) -> Result<(), String> {
        let path_only = path.split('?').next().unwrap_or(path);
        if path_only.contains("..") || path.contains('#') || !path.starts_with('/') {
            return Err(format!("OData path {path:?} is not a plain service path"));
        }
        if self
            .odata_prefixes
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
        {
            return Ok(());
        }
        Err(format!(
            "OData path {path:?} is outside the allowed services ({})",
            self.odata_prefixes.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_known_tables_and_read_bapis_pass_everything_else_is_refused() {
        let allow = AllowList::default();
        let read =
            |function: &str, table: &str| RfcCall::new(function).import("QUERY_TABLE", table);
        assert!(allow.check_rfc(&read("RFC_READ_TABLE", "KNA1")).is_ok());
        assert!(allow
            .check_rfc(&read("/SAPDS/RFC_READ_TABLE", "ADR6"))
            .is_ok());
        assert!(allow
            .check_rfc(&read("RFC_READ_TABLE", "USR02"))
            .unwrap_err()
            .contains("USR02"));
        assert!(allow
            .check_rfc(&RfcCall::new("BAPI_CUSTOMER_GETDETAIL2"))
            .is_ok());
        let refused = allow
            .check_rfc(&RfcCall::new("BAPI_CUSTOMER_CHANGEFROMDATA1"))
            .unwrap_err();
        assert!(
            refused.contains("BAPI_CUSTOMER_CHANGEFROMDATA1"),
            "{refused}"
        );
        assert!(allow
            .check_rfc(&RfcCall::new("SXPG_COMMAND_EXECUTE"))
            .is_err());
        assert!(allow
            .check_odata("/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/CustomerSet?$top=1")
            .is_ok());
        assert!(allow.check_odata("/sap/bc/soap/rfc").is_err());
        assert!(allow
            .check_odata("/sap/opu/odata/../../bc/soap/rfc")
            .is_err());
    }
}
