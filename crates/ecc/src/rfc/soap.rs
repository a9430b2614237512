//! RFC over SAP's SOAP endpoint `/sap/bc/soap/rfc`: builds the envelope of a call, parses the
//! `<FUNCTION>.Response` or the SOAP fault, and maps SAP's exceptions to clear errors.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{RfcCall, RfcReply, RfcTransport};
use crate::error::EccError;
use crate::http::{network_error, read_capped, with_retries, DEFAULT_MAX_RESPONSE_BYTES};
use crate::server_clock::ServerClock;

const RFC_NAMESPACE: &str = "urn:sap-com:document:sap:rfc:functions";

/// Function and parameter names as SOAP writes them: SAP's `/` namespace separator becomes `_-`
/// (`/SAPDS/RFC_READ_TABLE` → `_-SAPDS_-RFC_READ_TABLE`).
pub fn xml_name(sap_name: &str) -> String {
    sap_name.replace('/', "_-")
}

/// The SOAP envelope of `call`. Empty table parameters are sent as empty elements, as SAP
/// expects for tables it should fill.
pub fn envelope(call: &RfcCall) -> String {
    use quick_xml::escape::escape;
    let function = xml_name(&call.function);
    let mut xml = String::with_capacity(1024);
    xml.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    xml.push_str(r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn=""#);
    xml.push_str(RFC_NAMESPACE);
    xml.push_str(r#""><soapenv:Body><urn:"#);
    xml.push_str(&function);
    xml.push('>');
    for (name, value) in &call.imports {
        let name = xml_name(name);
        xml.push_str(&format!("<{name}>{}</{name}>", escape(value.as_str())));
    }
    for (name, rows) in &call.tables {
        let name = xml_name(name);
        xml.push_str(&format!("<{name}>"));
        for row in rows {
            xml.push_str("<item>");
            for (field, value) in row {
                let field = xml_name(field);
                xml.push_str(&format!("<{field}>{}</{field}>", escape(value.as_str())));
            }
            xml.push_str("</item>");
        }
        xml.push_str(&format!("</{name}>"));
    }
    xml.push_str(&format!(
        "</urn:{function}></soapenv:Body></soapenv:Envelope>"
    ));
    xml
}

/// A parsed XML element: local name, children, and the text of a leaf (unchanged: SAP's
/// padding matters).
#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    fn find_mut(&mut self, name: &str) -> Option<&mut Element> {
        if self.name == name {
            return Some(self);
        }
        self.children
            .iter_mut()
            .find_map(|child| child.find_mut(name))
    }

    fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(name))
    }
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.to_string(),
    }
}

/// Deeper than any SOAP reply of RFC (envelope, body, answer, table, row, field): a reply nested
/// deeper is refused before its tree could overflow the stack of the recursive lookups.
const MAX_XML_DEPTH: usize = 32;

fn parse_tree(xml: &str, source_name: &str) -> Result<Element, EccError> {
    let malformed = |detail: String| EccError::Malformed {
        source_name: source_name.to_string(),
        detail,
    };
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                if stack.len() > MAX_XML_DEPTH {
                    return Err(malformed(format!(
                        "XML nested deeper than {MAX_XML_DEPTH} levels"
                    )));
                }
                stack.push(Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                })
            }
            Ok(Event::Empty(start)) => {
                let element = Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                };
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Ok(Event::End(_)) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| malformed("unbalanced XML".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Err(malformed("unbalanced XML".into())),
                }
            }
            Ok(Event::Text(text)) => {
                let text = text
                    .unescape()
                    .map_err(|error| malformed(format!("bad XML text: {error}")))?;
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(error) => {
                return Err(malformed(format!(
                    "not XML at byte {}: {error}",
                    reader.error_position()
                )))
            }
        }
    }
    if stack.len() != 1 {
        return Err(malformed("the XML ends inside an element".into()));
    }
    stack
        .pop()
        .ok_or_else(|| malformed("empty document".into()))
}

/// What a SOAP body held: the function's answer or a fault.
#[derive(Debug)]
pub enum SoapOutcome {
    Reply(RfcReply),
    Fault(SoapFault),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub code: String,
    pub string: String,
    /// The ABAP exception name from the fault detail (`<Name>`), when there is one.
    pub exception: Option<String>,
    /// The message text from the detail, when there is one.
    pub detail_text: Option<String>,
}

/// Parses the response envelope of `function`.
pub fn parse_response(function: &str, xml: &str) -> Result<SoapOutcome, EccError> {
    let source_name = format!("{function} (SOAP)");
    let root = parse_tree(xml, &source_name)?;
    let body = root.find("Body").ok_or_else(|| EccError::Malformed {
        source_name: source_name.clone(),
        detail: "no SOAP Body".into(),
    })?;
    if let Some(fault) = body.child("Fault") {
        let text_of = |name: &str| {
            fault
                .find(name)
                .map(|element| element.text.trim().to_string())
        };
        let detail = fault.child("detail");
        let detail_text = |name: &str| {
            detail
                .and_then(|detail| detail.find(name))
                .map(|element| element.text.trim().to_string())
                .filter(|text| !text.is_empty())
        };
        return Ok(SoapOutcome::Fault(SoapFault {
            code: text_of("faultcode").unwrap_or_default(),
            string: text_of("faultstring").unwrap_or_default(),
            exception: detail_text("Name"),
            detail_text: detail_text("Text").or_else(|| detail_text("Message")),
        }));
    }
    let expected = format!("{}.Response", xml_name(function));
    let position = body
        .children
        .iter()
        .position(|child| child.name == expected)
        .or_else(|| {
            body.children
                .iter()
                .position(|child| child.name.ends_with(".Response"))
        })
        .ok_or_else(|| EccError::Malformed {
            source_name: source_name.clone(),
            detail: format!("no {expected} in the SOAP Body"),
        })?;
    // Take the answer out of the tree: its texts move into the reply instead of being copied,
    // so a large DATA table is held once.
    let mut root = root;
    let Some(body) = root.find_mut("Body") else {
        return Err(EccError::Malformed {
            source_name,
            detail: "no SOAP Body".into(),
        });
    };
    let response = body.children.swap_remove(position);
    drop(root);
    let mut reply = RfcReply::default();
    for parameter in response.children {
        let name = parameter.name.replace("_-", "/");
        let is_table = !parameter.children.is_empty()
            && parameter.children.iter().all(|child| child.name == "item");
        if is_table {
            let rows = parameter
                .children
                .into_iter()
                .map(|item| {
                    item.children
                        .into_iter()
                        .map(|field| (field.name.replace("_-", "/"), field.text))
                        .collect::<BTreeMap<_, _>>()
                })
                .collect();
            reply.tables.insert(name, rows);
        } else if parameter.children.is_empty() {
            reply.exports.insert(name, parameter.text);
        } else {
            for field in parameter.children {
                reply.exports.insert(
                    format!("{name}.{}", field.name.replace("_-", "/")),
                    field.text,
                );
            }
        }
    }
    Ok(SoapOutcome::Reply(reply))
}

/// Turns a fault into the error a user can act on. The table comes from the call, so
/// NOT_AUTHORIZED names it.
pub fn fault_error(call: &RfcCall, fault: &SoapFault) -> EccError {
    let function = call.function.clone();
    let table = call.import_value("QUERY_TABLE").unwrap_or("").to_string();
    let exception = fault
        .exception
        .clone()
        .unwrap_or_else(|| fault.string.trim().to_string());
    let detail = fault
        .detail_text
        .clone()
        .unwrap_or_else(|| fault.string.clone());
    let upper = exception.to_ascii_uppercase();
    let has = |name: &str| upper == name || upper.contains(name);
    if has("NOT_AUTHORIZED") {
        EccError::NotAuthorized { table, function }
    } else if has("TABLE_NOT_AVAILABLE") {
        EccError::TableNotAvailable { table, function }
    } else if has("FIELD_NOT_VALID") {
        EccError::FieldNotValid {
            table,
            function,
            detail,
        }
    } else if has("OPTION_NOT_VALID") {
        EccError::OptionNotValid {
            table,
            function,
            detail,
        }
    } else if has("DATA_BUFFER_EXCEEDED") {
        EccError::DataBufferExceeded { table, function }
    } else if has("FU_NOT_FOUND") || has("FUNCTION_NOT_FOUND") || has("FUNCTION_NOT_EXIST") {
        EccError::FunctionNotFound { function }
    } else {
        EccError::SapFault {
            function,
            code: exception,
            message: detail,
        }
    }
}

/// SOAP-RFC over HTTP(S) with Basic auth, client and language in the query string.
pub struct SoapRfcTransport {
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
    retries: u32,
    max_response_bytes: usize,
    /// The server's clock, from the `Date` header of its answers.
    clock: ServerClock,
}

impl SoapRfcTransport {
    /// Answers larger than `bytes` are refused (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn with_response_cap(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        client: &str,
        language: &str,
        user: &str,
        password: &str,
        retries: u32,
    ) -> Self {
        let url = format!(
            "{}/sap/bc/soap/rfc?sap-client={client}&sap-language={language}",
            base_url.trim_end_matches('/')
        );
        SoapRfcTransport {
            http,
            url,
            user: user.to_string(),
            password: password.to_string(),
            retries,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            clock: ServerClock::default(),
        }
    }

    async fn call_once(&self, call: &RfcCall, body: &str) -> Result<RfcReply, EccError> {
        let endpoint = self.endpoint();
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", RFC_NAMESPACE)
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| network_error(&endpoint, &error))?;
        let status = response.status().as_u16();
        self.clock.observe_headers(response.headers());
        if status == 403 {
            let text = read_capped(response, &endpoint, self.max_response_bytes).await?;
            if is_inactive_service_page(&text) {
                return Err(EccError::Http {
                    endpoint,
                    status,
                    detail: "the ICF service /sap/bc/soap/rfc is switched off on this system: \
                             ask the SAP team to activate default_host/sap/bc/soap/rfc in \
                             transaction SICF (see docs/sap-setup.md), or use transport odata"
                        .into(),
                });
            }
            return Err(EccError::LogonFailed {
                endpoint,
                user: self.user.clone(),
                status,
            });
        }
        if status == 401 {
            return Err(EccError::LogonFailed {
                endpoint,
                user: self.user.clone(),
                status,
            });
        }
        let text = read_capped(response, &endpoint, self.max_response_bytes).await?;
        if status == 404 {
            return Err(EccError::Http {
                endpoint,
                status,
                detail: "not found: is the ICF service /sap/bc/soap/rfc active (transaction SICF)?"
                    .into(),
            });
        }
        if status != 200 && status != 500 {
            return Err(EccError::Http {
                endpoint,
                status,
                detail: text.chars().take(300).collect(),
            });
        }
        match parse_response(&call.function, &text) {
            Ok(SoapOutcome::Reply(reply)) => Ok(reply),
            Ok(SoapOutcome::Fault(fault)) => Err(fault_error(call, &fault)),
            // A 500 without a SOAP fault is a server in trouble, worth a retry.
            Err(_) if status == 500 => Err(EccError::Http {
                endpoint,
                status,
                detail: text.chars().take(300).collect(),
            }),
            Err(error) => Err(error),
        }
    }
}

#[async_trait::async_trait]
impl RfcTransport for SoapRfcTransport {
    async fn call(&self, call: &RfcCall) -> Result<RfcReply, EccError> {
        let body = envelope(call);
        let what = format!("{} at {}", call.function, self.endpoint());
        with_retries(self.retries, &what, || self.call_once(call, &body)).await
    }

    fn endpoint(&self) -> String {
        self.url.split('?').next().unwrap_or(&self.url).to_string()
    }

    fn clock_skew(&self) -> Option<chrono::Duration> {
        self.clock.skew()
    }
}

/// The ICF's error page for a service that is not active in SICF ("Service cannot be reached",
/// "Service is not active"), as opposed to a 403 for a user without the logon right.
fn is_inactive_service_page(text: &str) -> bool {
    let text = text.to_lowercase();
    text.contains("service is not active")
        || text.contains("service cannot be reached")
        || text.contains("service not active")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_call() -> RfcCall {
        RfcCall::new("RFC_READ_TABLE")
            .import("QUERY_TABLE", "KNA1")
            .import("DELIMITER", "|")
            .table(
                "OPTIONS",
                vec![vec![(
                    "TEXT".into(),
                    "KUNNR GT '0000000001' AND NAME1 EQ 'A&B<'".into(),
                )]],
            )
            .table("FIELDS", vec![vec![("FIELDNAME".into(), "KUNNR".into())]])
            .table("DATA", vec![])
    }

    #[test]
    fn the_envelope_escapes_values_and_sends_empty_tables() {
        let xml = envelope(&read_call());
        assert!(xml.contains("<urn:RFC_READ_TABLE>"), "{xml}");
        assert!(xml.contains("<QUERY_TABLE>KNA1</QUERY_TABLE>"));
        assert!(
            xml.contains("NAME1 EQ &apos;A&amp;B&lt;&apos;")
                || xml.contains("NAME1 EQ 'A&amp;B&lt;'"),
            "{xml}"
        );
        assert!(xml.contains("<DATA></DATA>"));
        let namespaced = envelope(&RfcCall::new("/SAPDS/RFC_READ_TABLE"));
        assert!(
            namespaced.contains("<urn:_-SAPDS_-RFC_READ_TABLE>"),
            "{namespaced}"
        );
    }

    #[test]
    fn a_response_keeps_the_padding_of_wa_rows() {
        let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>
<urn:RFC_READ_TABLE.Response xmlns:urn="urn:sap-com:document:sap:rfc:functions">
  <DATA><item><WA>000|SAP AG   &amp; Co |S</WA></item>
        <item><WA>   |Neduca                   |T</WA></item></DATA>
  <FIELDS><item><FIELDNAME>MANDT</FIELDNAME><OFFSET>000000</OFFSET><LENGTH>000003</LENGTH><TYPE>C</TYPE><FIELDTEXT>Client</FIELDTEXT></item></FIELDS>
  <OPTIONS/>
</urn:RFC_READ_TABLE.Response></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let SoapOutcome::Reply(reply) = parse_response("RFC_READ_TABLE", xml).unwrap() else {
            panic!("expected a reply");
        };
        let data = reply.table("DATA");
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["WA"], "000|SAP AG   & Co |S");
        assert_eq!(data[1]["WA"], "   |Neduca                   |T");
        assert_eq!(reply.table("FIELDS")[0]["OFFSET"], "000000");
        assert!(reply.table("OPTIONS").is_empty());
    }

    #[test]
    fn not_authorized_names_the_table_and_the_authorization_objects() {
        let xml = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><soap-env:Fault><faultcode>soap-env:Client</faultcode><faultstring xml:lang="en">NOT_AUTHORIZED</faultstring><detail><rfc:RFC_READ_TABLE.Exception xmlns:rfc="urn:sap-com:document:sap:rfc:functions"><Name>NOT_AUTHORIZED</Name></rfc:RFC_READ_TABLE.Exception></detail></soap-env:Fault></soap-env:Body></soap-env:Envelope>"#;
        let SoapOutcome::Fault(fault) = parse_response("RFC_READ_TABLE", xml).unwrap() else {
            panic!("expected a fault");
        };
        let error = fault_error(&read_call(), &fault);
        assert_eq!(
            error,
            EccError::NotAuthorized {
                table: "KNA1".into(),
                function: "RFC_READ_TABLE".into()
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("KNA1")
                && message.contains("S_TABU_DIS")
                && message.contains("S_TABU_NAM"),
            "{message}"
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(
            parse_response("RFC_READ_TABLE", "<html>oops"),
            Err(EccError::Malformed { .. })
        ));
        assert!(matches!(
            parse_response("RFC_READ_TABLE", "<a><Body><x/></Body></a>"),
            Err(EccError::Malformed { .. })
        ));
    }
}
