//! SOAP envelopes of the `/sap/bc/soap/rfc` endpoint: parsing a call into its function name and
//! parameters, and writing `FUNCNAME.Response` bodies and SOAP faults the way SAP does.
//!
//! Namespaced function names travel with SAP's XML name encoding, "/" as "_-":
//! `/SAPDS/RFC_READ_TABLE` is the element `_-SAPDS_-RFC_READ_TABLE`.

use quick_xml::events::Event;
use quick_xml::Reader;

/// An XML element with its local name, text and children; enough for RFC parameters.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Text of a scalar parameter; "" when absent.
    pub fn scalar(&self, name: &str) -> String {
        self.child(name)
            .map(|child| child.text.clone())
            .unwrap_or_default()
    }

    /// The `item` rows of a table parameter.
    pub fn items(&self, name: &str) -> Vec<&Element> {
        self.child(name)
            .map(|table| {
                table
                    .children
                    .iter()
                    .filter(|item| item.name == "item")
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A parsed RFC call.
#[derive(Debug)]
pub struct RfcCall {
    pub function: String,
    pub parameters: Element,
}

pub fn decode_name(xml_name: &str) -> String {
    xml_name.replace("_-", "/")
}

pub fn encode_name(function: &str) -> String {
    function.replace('/', "_-")
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.to_string(),
    }
}

pub fn parse_document(body: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                stack.push(Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                });
            }
            Ok(Event::Empty(empty)) => {
                let element = Element {
                    name: local_name(empty.name().as_ref()),
                    ..Element::default()
                };
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Ok(Event::Text(text)) => {
                let text = text
                    .unescape()
                    .map_err(|error| format!("bad XML text: {error}"))?;
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::End(_)) => {
                let finished = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(finished),
                    None => return Err("unbalanced XML".into()),
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(error) => {
                return Err(format!(
                    "malformed XML at byte {}: {error}",
                    reader.error_position()
                ))
            }
        }
    }
    if stack.len() != 1 {
        return Err("XML ended inside an element".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

pub fn parse_call(body: &str) -> Result<RfcCall, String> {
    let document = parse_document(body)?;
    let envelope = document.child("Envelope").ok_or("no SOAP Envelope")?;
    let soap_body = envelope.child("Body").ok_or("no SOAP Body")?;
    let call = soap_body.children.first().ok_or("empty SOAP Body")?;
    Ok(RfcCall {
        function: decode_name(&call.name),
        parameters: call.clone(),
    })
}

pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\r' => escaped.push_str("&#13;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Builds a `FUNCNAME.Response` body.
pub struct ResponseWriter {
    xml: String,
}

impl ResponseWriter {
    pub fn new(function: &str) -> Self {
        let mut xml = String::with_capacity(4096);
        xml.push_str("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>");
        xml.push_str(&format!(
            "<urn:{}.Response xmlns:urn=\"urn:sap-com:document:sap:rfc:functions\">",
            encode_name(function)
        ));
        Self { xml }
    }

    /// A structure parameter: fields in the given order.
    pub fn structure(&mut self, name: &str, fields: &[(&str, String)]) {
        self.xml.push('<');
        self.xml.push_str(name);
        self.xml.push('>');
        self.fields(fields);
        self.xml.push_str(&format!("</{name}>"));
    }

    fn fields(&mut self, fields: &[(&str, String)]) {
        for (field, value) in fields {
            self.xml
                .push_str(&format!("<{field}>{}</{field}>", escape(value)));
        }
    }

    /// A table parameter with `item` rows; an empty table is still written as an element.
    pub fn table(&mut self, name: &str, rows: &[Vec<(&str, String)>]) {
        self.xml.push_str(&format!("<{name}>"));
        for row in rows {
            self.xml.push_str("<item>");
            self.fields(row);
            self.xml.push_str("</item>");
        }
        self.xml.push_str(&format!("</{name}>"));
    }

    pub fn raw(&mut self, xml: &str) {
        self.xml.push_str(xml);
    }

    pub fn finish(mut self, function: &str) -> String {
        self.xml.push_str(&format!(
            "</urn:{}.Response></SOAP-ENV:Body></SOAP-ENV:Envelope>",
            encode_name(function)
        ));
        self.xml
    }
}

/// A SOAP fault carrying an ABAP exception, as the SOAP RFC runtime returns it (HTTP 500).
pub fn fault(function: &str, exception: &str, text: &str) -> String {
    let function = encode_name(function);
    format!(
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>\
<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>{exception}</faultstring><detail>\
<rfc:{function}.Exception xmlns:rfc=\"urn:sap-com:document:sap:rfc:functions\"><Name>{exception}</Name>\
<Text>{}</Text></rfc:{function}.Exception></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_rfc_read_table_call_with_prefixes_and_items() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:sap-com:document:sap:rfc:functions">
  <soapenv:Body>
    <urn:_-SAPDS_-RFC_READ_TABLE>
      <QUERY_TABLE>KNA1</QUERY_TABLE>
      <OPTIONS><item><TEXT>NAME1 = 'A &amp; B'</TEXT></item></OPTIONS>
      <FIELDS><item><FIELDNAME>KUNNR</FIELDNAME></item></FIELDS>
      <DATA/>
    </urn:_-SAPDS_-RFC_READ_TABLE>
  </soapenv:Body>
</soapenv:Envelope>"#;
        let call = parse_call(body).unwrap();
        assert_eq!(call.function, "/SAPDS/RFC_READ_TABLE");
        assert_eq!(call.parameters.scalar("QUERY_TABLE"), "KNA1");
        assert_eq!(
            call.parameters.items("OPTIONS")[0].scalar("TEXT"),
            "NAME1 = 'A & B'"
        );
        assert_eq!(call.parameters.items("FIELDS").len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn any_body_parses_or_fails_without_panicking(body in "(<[a-zA-Z:_-]{0,8}>|</[a-zA-Z:_-]{0,8}>|<[a-z]{0,3}/>|&[a-z#0-9]{0,5};|[^<&]{0,10}){0,20}") {
            let _ = parse_call(&body);
        }
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_call("<a><b></a>").is_err());
        assert!(parse_call("<Envelope><Body></Body></Envelope>").is_err());
    }
}
