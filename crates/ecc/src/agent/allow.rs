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
    /// RFC_READ_TABLE and its variants on the tables the connector reads, the read BAPIs,
    /// RFC_SYSTEM_INFO (the server's time zone where TTZCU is not readable), and GETs under
    /// `/sap/opu/odata/`.
    fn default() -> Self {
        AllowList {
            table_functions: READ_FUNCTIONS.iter().map(|name| name.to_string()).collect(),
            tables: TABLES_READ.iter().map(|name| name.to_string()).collect(),
            functions: READ_BAPIS
                .iter()
                .chain([&crate::rfc::system_info::FUNCTION])
                .map(|name| name.to_string())
                .collect(),
            odata_prefixes: vec!["/sap/opu/odata/".to_string()],
        }
    }
}

impl AllowList {
    /// Why `call` is refused, or `Ok` when it may go to ECC. The call is judged as it will be
    /// sent: every name that goes into the XML must be an SAP name, every occurrence of
    /// QUERY_TABLE must name the same allowed table, and the WHERE clause (OPTIONS) may hold only
    /// conditions on that table's own fields with literal values.
    pub fn check_rfc(&self, call: &RfcCall) -> Result<(), String> {
        let function = call.function.as_str();
        if !is_sap_name(function) {
            return Err(format!(
                "function module name {function:?} is not an SAP name"
            ));
        }
        for name in call
            .imports
            .iter()
            .map(|(name, _)| name)
            .chain(call.tables.iter().map(|(name, _)| name))
            .chain(
                call.tables
                    .iter()
                    .flat_map(|(_, rows)| rows.iter().flatten().map(|(field, _)| field)),
            )
        {
            if !is_sap_name(name) {
                return Err(format!(
                    "{function}: parameter name {name:?} is not an SAP name"
                ));
            }
        }
        if self.table_functions.contains(function) {
            return self.check_table_read(call);
        }
        if self.functions.contains(function) {
            return Ok(());
        }
        Err(format!(
            "function module {function} is not on the agent's read-only allow-list"
        ))
    }

    fn check_table_read(&self, call: &RfcCall) -> Result<(), String> {
        let function = call.function.as_str();
        let tables: BTreeSet<String> = call
            .imports
            .iter()
            .filter(|(name, _)| name == "QUERY_TABLE")
            .map(|(_, value)| value.trim().to_ascii_uppercase())
            .collect();
        let table = match tables.len() {
            1 => tables.into_iter().next().unwrap_or_default(),
            0 => return Err(format!("{function} without QUERY_TABLE is not allowed")),
            _ => {
                return Err(format!(
                    "{function} names QUERY_TABLE several times ({}); refused",
                    tables.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
        };
        if !self.tables.contains(&table) {
            return Err(format!(
                "{function} on table {table:?} is not allowed (tables allowed: {})",
                self.tables.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for (name, rows) in &call.tables {
            match name.as_str() {
                "OPTIONS" => {
                    let lines: Vec<&str> = rows
                        .iter()
                        .flatten()
                        .filter(|(field, _)| field == "TEXT")
                        .map(|(_, text)| text.as_str())
                        .collect();
                    check_where_clause(&lines)
                        .map_err(|reason| format!("{function} on {table}: OPTIONS {reason}"))?;
                }
                "FIELDS" => {
                    for (_, field) in rows.iter().flatten() {
                        if !is_field_name(field.trim()) {
                            return Err(format!(
                                "{function} on {table}: field {field:?} is not a field name"
                            ));
                        }
                    }
                }
                "DATA" => {}
                other => {
                    return Err(format!(
                        "{function}: table parameter {other} is not expected"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Why an OData GET of `path` is refused, or `Ok`. The path is judged as ECC will read it:
    /// percent-decoded (repeatedly, so a double encoding cannot hide a `..`) with no `.` or
    /// `..` segment and no backslash, under an allowed service, and without its own
    /// `sap-client` or `sap-language` (the agent sets those).
    pub fn check_odata(&self, path: &str) -> Result<(), String> {
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let decoded = decode_fully(path_only)
            .ok_or_else(|| format!("OData path {path:?} is not valid percent-encoded UTF-8"))?;
        let plain = decoded.starts_with('/')
            && !decoded.contains('\\')
            && !path.contains('#')
            && !decoded.chars().any(char::is_control)
            && decoded
                .split('/')
                .skip(1)
                .all(|segment| segment != "." && segment != "..");
        if !plain {
            return Err(format!("OData path {path:?} is not a plain service path"));
        }
        for parameter in query.split('&') {
            let name = parameter.split('=').next().unwrap_or_default();
            let name = decode_fully(name).unwrap_or_default().to_ascii_lowercase();
            if name == "sap-client" || name == "sap-language" {
                return Err(format!(
                    "OData path {path:?} sets {name}, which only the agent's own configuration may"
                ));
            }
        }
        if self
            .odata_prefixes
            .iter()
            .any(|prefix| decoded.starts_with(prefix.as_str()) && path.starts_with(prefix.as_str()))
        {
            return Ok(());
        }
        Err(format!(
            "OData path {path:?} is outside the allowed services ({})",
            self.odata_prefixes.join(", ")
        ))
    }
}

/// Percent-decodes until nothing changes; `None` for invalid UTF-8, or for text still encoded
/// after a few rounds (no service needs that; it could hide a `..` from the check).
fn decode_fully(text: &str) -> Option<String> {
    let mut current = text.to_string();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&current)
            .decode_utf8()
            .ok()?
            .into_owned();
        if decoded == current {
            return Some(current);
        }
        current = decoded;
    }
    None
}

/// A function module, parameter or structure field name as SAP writes them: letters, digits,
/// `_`, and `/` for namespaces. Anything else could change the XML it is written into.
fn is_sap_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
}

/// A field of the table being read: no `~` (another table's field), no `-` or `>` (structure
/// and object access), no namespace tricks beyond SAP's own `/NS/`.
fn is_field_name(name: &str) -> bool {
    is_sap_name(name)
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
}

/// The words of ABAP's WHERE grammar the connector's clauses use; every other word is refused.
const OPERATORS: [&str; 13] = [
    "EQ", "NE", "GT", "GE", "LT", "LE", "=", "<>", ">", ">=", "<", "<=", "LIKE",
];

/// Accepts only `field op literal`, `field IN ( literal, ... )` and `field BETWEEN literal AND
/// literal`, joined by AND, OR, NOT and parentheses: no subquery, no other table, no dynamic
/// token. This is what the connector sends; a clause that is more is not the connector's.
fn check_where_clause(lines: &[&str]) -> Result<(), String> {
    let mut tokens = Vec::new();
    for line in lines {
        if line.chars().count() > 72 {
            return Err(format!("line longer than 72 characters: {line:?}"));
        }
        tokens.extend(where_tokens(line)?);
    }
    let mut position = 0;
    if tokens.is_empty() {
        return Ok(());
    }
    parse_disjunction(&tokens, &mut position)?;
    if position != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[position]));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum WhereToken {
    Word(String),
    Literal,
    Open,
    Close,
    Comma,
}

fn where_tokens(line: &str) -> Result<Vec<WhereToken>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '(' => tokens.push(WhereToken::Open),
            ')' => tokens.push(WhereToken::Close),
            ',' => tokens.push(WhereToken::Comma),
            '\'' => {
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                        }
                        Some('\'') => break,
                        Some(_) => {}
                        None => {
                            return Err(format!("a literal is not closed on its line: {line:?}"))
                        }
                    }
                }
                tokens.push(WhereToken::Literal);
            }
            _ => {
                let mut word = c.to_string();
                while let Some(next) = chars.peek() {
                    if matches!(next, ' ' | '(' | ')' | ',' | '\'') {
                        break;
                    }
                    word.push(*next);
                    chars.next();
                }
                if word.chars().all(|c| c.is_ascii_digit()) {
                    tokens.push(WhereToken::Literal);
                } else {
                    tokens.push(WhereToken::Word(word.to_ascii_uppercase()));
                }
            }
        }
    }
    Ok(tokens)
}

fn expect(tokens: &[WhereToken], position: &mut usize, wanted: &WhereToken) -> Result<(), String> {
    match tokens.get(*position) {
        Some(token) if token == wanted => {
            *position += 1;
            Ok(())
        }
        other => Err(format!("expected {wanted:?}, found {other:?}")),
    }
}

fn is_word(token: Option<&WhereToken>, word: &str) -> bool {
    matches!(token, Some(WhereToken::Word(text)) if text == word)
}

fn parse_disjunction(tokens: &[WhereToken], position: &mut usize) -> Result<(), String> {
    parse_conjunction(tokens, position)?;
    while is_word(tokens.get(*position), "OR") {
        *position += 1;
        parse_conjunction(tokens, position)?;
    }
    Ok(())
}

fn parse_conjunction(tokens: &[WhereToken], position: &mut usize) -> Result<(), String> {
    parse_negation(tokens, position)?;
    while is_word(tokens.get(*position), "AND") {
        *position += 1;
        parse_negation(tokens, position)?;
    }
    Ok(())
}

fn parse_negation(tokens: &[WhereToken], position: &mut usize) -> Result<(), String> {
    if is_word(tokens.get(*position), "NOT") {
        *position += 1;
    }
    if tokens.get(*position) == Some(&WhereToken::Open) {
        *position += 1;
        parse_disjunction(tokens, position)?;
        return expect(tokens, position, &WhereToken::Close);
    }
    parse_comparison(tokens, position)
}

fn parse_comparison(tokens: &[WhereToken], position: &mut usize) -> Result<(), String> {
    let field = match tokens.get(*position) {
        Some(WhereToken::Word(field))
            if is_field_name(field)
                && ![
                    "SELECT", "EXISTS", "FROM", "WHERE", "IN", "AND", "OR", "NOT",
                ]
                .contains(&field.as_str()) =>
        {
            field
        }
        other => return Err(format!("expected a field of the table, found {other:?}")),
    };
    *position += 1;
    if is_word(tokens.get(*position), "NOT") {
        *position += 1;
    }
    match tokens.get(*position) {
        Some(WhereToken::Word(word)) if word == "IN" => {
            *position += 1;
            expect(tokens, position, &WhereToken::Open)?;
            loop {
                expect(tokens, position, &WhereToken::Literal)
                    .map_err(|_| format!("{field} IN takes literals only"))?;
                match tokens.get(*position) {
                    Some(WhereToken::Comma) => *position += 1,
                    _ => break,
                }
            }
            expect(tokens, position, &WhereToken::Close)
        }
        Some(WhereToken::Word(word)) if word == "BETWEEN" => {
            *position += 1;
            expect(tokens, position, &WhereToken::Literal)?;
            if !is_word(tokens.get(*position), "AND") {
                return Err(format!("{field} BETWEEN without AND"));
            }
            *position += 1;
            expect(tokens, position, &WhereToken::Literal)
        }
        Some(WhereToken::Word(word)) if OPERATORS.contains(&word.as_str()) => {
            *position += 1;
            expect(tokens, position, &WhereToken::Literal)
                .map_err(|_| format!("{field} {word} must be compared with a literal"))
        }
        other => Err(format!("{field}: expected a comparison, found {other:?}")),
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

    fn read_with(options: &[&str]) -> RfcCall {
        RfcCall::new("RFC_READ_TABLE")
            .import("QUERY_TABLE", "KNA1")
            .table(
                "OPTIONS",
                options
                    .iter()
                    .map(|line| vec![("TEXT".to_string(), line.to_string())])
                    .collect(),
            )
            .table(
                "FIELDS",
                vec![vec![("FIELDNAME".to_string(), "KUNNR".to_string())]],
            )
    }

    #[test]
    fn the_where_clauses_the_connector_writes_pass() {
        let allow = AllowList::default();
        for options in [
            vec![],
            vec!["KUNNR GT '0000004711'"],
            vec![
                "( KUNNR GT '0000004711' AND LOEVM NE 'X' ) AND",
                "KTOKD IN ( '0001', 'O''B' )",
            ],
            vec!["ERDAT BETWEEN '20260101' AND '20261231' OR NOT ( LAND1 EQ 'DE' )"],
        ] {
            assert_eq!(allow.check_rfc(&read_with(&options)), Ok(()), "{options:?}");
        }
    }

    #[test]
    fn a_where_clause_that_reaches_beyond_the_table_is_refused() {
        let allow = AllowList::default();
        for options in [
            vec!["KUNNR IN ( SELECT BNAME FROM USR02 )"],
            vec!["EXISTS ( SELECT * FROM USR02 WHERE BNAME = KUNNR )"],
            vec!["KUNNR EQ USR02~BNAME"],
            vec!["KUNNR EQ NAME1"],
            vec!["KUNNR EQ 'A"],
            vec!["KUNNR EQ 'A' )"],
            vec!["(KUNNR) EQ 'A'"],
            vec!["KUNNR EQ @lv_value"],
        ] {
            let refused = allow.check_rfc(&read_with(&options));
            assert!(refused.is_err(), "{options:?} passed");
        }
    }

    #[test]
    fn a_second_query_table_or_a_name_that_is_not_sap_is_refused() {
        let allow = AllowList::default();
        let twice = read_with(&[]).import("QUERY_TABLE", "USR02");
        assert!(allow
            .check_rfc(&twice)
            .unwrap_err()
            .contains("several times"));
        let injected = RfcCall::new("RFC_READ_TABLE")
            .import("QUERY_TABLE", "KNA1")
            .import("DELIMITER></urn:RFC_READ_TABLE><urn:X", "|");
        assert!(allow
            .check_rfc(&injected)
            .unwrap_err()
            .contains("not an SAP name"));
        let function = RfcCall::new("BAPI_CUSTOMER_GETDETAIL2><x");
        assert!(allow.check_rfc(&function).is_err());
        let field = RfcCall::new("RFC_READ_TABLE")
            .import("QUERY_TABLE", "KNA1")
            .table(
                "FIELDS",
                vec![vec![("FIELDNAME".to_string(), "USR02~BNAME".to_string())]],
            );
        assert!(allow.check_rfc(&field).is_err());
    }

    #[test]
    fn encoded_dot_segments_and_own_client_parameters_are_refused() {
        let allow = AllowList::default();
        for path in [
            "/sap/opu/odata/%2e%2e/%2e%2e/bc/soap/rfc",
            "/sap/opu/odata/%252e%252e/%252E%252E/bc/soap/rfc",
            "/sap/opu/odata/sap/Z_SRV/./CustomerSet",
            "/sap/opu/odata/sap/Z_SRV/..%2f..%2f..%2fbc/soap/rfc",
            "/sap/opu/odata/sap/Z_SRV\\..\\..\\bc",
            "/sap/opu/odata/sap/Z_SRV/CustomerSet?sap-client=000",
            "/sap/opu/odata/sap/Z_SRV/CustomerSet?$top=1&SAP-Client=000",
            "/sap/opu/odata/sap/Z_SRV/CustomerSet?sap%2Dclient=000",
            "/sap/opu%2fodata/../bc/soap/rfc",
            // Still encoded after the rounds the check decodes: refused, not passed as is.
            "/sap/opu/odata/%2525252525252e%2525252525252e/bc/soap/rfc",
        ] {
            assert!(allow.check_odata(path).is_err(), "{path} passed");
        }
        assert!(allow
            .check_odata(
                "/sap/opu/odata/sap/Z_SRV/CustomerSet?$filter=Name1%20eq%20%27A%27&$top=10"
            )
            .is_ok());
    }
}
