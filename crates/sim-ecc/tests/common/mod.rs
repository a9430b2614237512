//! Helpers for talking to a spawned ECC simulator over HTTP, as a client would.

#![allow(dead_code)]

use std::collections::HashMap;

use mlc_sim_ecc::{SimEccOptions, SpawnedEcc};
use quick_xml::events::Event;
use quick_xml::Reader;

pub struct Ecc {
    pub sim: SpawnedEcc,
    pub http: reqwest::Client,
}

#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|child| child.name == name)
    }

    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(name))
    }

    pub fn text_of(&self, name: &str) -> String {
        self.child(name)
            .map(|child| child.text.clone())
            .unwrap_or_default()
    }

    pub fn items(&self, name: &str) -> Vec<&Node> {
        self.child(name)
            .map(|table| table.children.iter().filter(|c| c.name == "item").collect())
            .unwrap_or_default()
    }
}

pub fn parse_xml(body: &str) -> Node {
    let mut reader = Reader::from_str(body);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).to_string();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Empty(empty) => {
                let name = String::from_utf8_lossy(empty.local_name().as_ref()).to_string();
                stack.last_mut().unwrap().children.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Text(text) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&text.unescape().unwrap()),
            Event::End(_) => {
                let node = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().unwrap()
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: String,
    pub offset: usize,
    pub length: usize,
    pub field_type: String,
}

/// An RFC_READ_TABLE answer, rows sliced by OFFSET/LENGTH (in characters) and trimmed.
#[derive(Debug)]
pub struct TableAnswer {
    pub fields: Vec<FieldInfo>,
    pub raw_rows: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

#[derive(Debug)]
pub struct Fault {
    pub status: u16,
    pub exception: String,
}

pub struct ReadTable<'a> {
    pub table: &'a str,
    pub fields: &'a [&'a str],
    pub options: &'a [&'a str],
    pub delimiter: &'a str,
    pub row_skips: usize,
    pub row_count: usize,
    pub no_data: bool,
    pub function: &'a str,
}

impl<'a> ReadTable<'a> {
    pub fn new(table: &'a str, fields: &'a [&'a str]) -> Self {
        Self {
            table,
            fields,
            options: &[],
            delimiter: "|",
            row_skips: 0,
            row_count: 0,
            no_data: false,
            function: "RFC_READ_TABLE",
        }
    }
}

impl Ecc {
    pub async fn start(options: SimEccOptions) -> Self {
        let sim = mlc_sim_ecc::spawn(options).await.expect("simulator starts");
        Self {
            sim,
            http: reqwest::Client::new(),
        }
    }

    pub fn soap_url(&self) -> String {
        format!(
            "{}/sap/bc/soap/rfc?sap-client={}",
            self.sim.base_url(),
            self.sim.client()
        )
    }

    /// Calls a function module; returns the HTTP status and the parsed body.
    pub async fn rfc(&self, function: &str, parameters: &str) -> (u16, Node, String) {
        let element = function.replace('/', "_-");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:urn=\"urn:sap-com:document:sap:rfc:functions\"><soapenv:Body><urn:{element}>{parameters}</urn:{element}></soapenv:Body></soapenv:Envelope>"
        );
        let response = self
            .http
            .post(self.soap_url())
            .basic_auth(self.sim.user(), Some(self.sim.password()))
            .header("Content-Type", "text/xml; charset=UTF-8")
            .header("SOAPAction", "urn:sap-com:document:sap:rfc:functions")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, parse_xml(&text), text)
    }

    pub async fn read_table(&self, request: &ReadTable<'_>) -> Result<TableAnswer, Fault> {
        let mut parameters = format!(
            "<QUERY_TABLE>{}</QUERY_TABLE><DELIMITER>{}</DELIMITER><NO_DATA>{}</NO_DATA><ROWSKIPS>{}</ROWSKIPS><ROWCOUNT>{}</ROWCOUNT><OPTIONS>",
            request.table,
            escape(request.delimiter),
            if request.no_data { "X" } else { "" },
            request.row_skips,
            request.row_count
        );
        for line in request.options {
            parameters.push_str(&format!("<item><TEXT>{}</TEXT></item>", escape(line)));
        }
        parameters.push_str("</OPTIONS><FIELDS>");
        for field in request.fields {
            parameters.push_str(&format!("<item><FIELDNAME>{field}</FIELDNAME></item>"));
        }
        parameters.push_str("</FIELDS><DATA></DATA>");
        let (status, document, _) = self.rfc(request.function, &parameters).await;
        if status != 200 {
            let exception = document
                .find("faultstring")
                .map(|node| node.text.clone())
                .unwrap_or_default();
            return Err(Fault { status, exception });
        }
        let response = document
            .find(&format!("{}.Response", request.function.replace('/', "_-")))
            .expect("FUNCNAME.Response");
        let fields: Vec<FieldInfo> = response
            .items("FIELDS")
            .iter()
            .map(|item| FieldInfo {
                name: item.text_of("FIELDNAME"),
                offset: item.text_of("OFFSET").parse().unwrap(),
                length: item.text_of("LENGTH").parse().unwrap(),
                field_type: item.text_of("TYPE"),
            })
            .collect();
        let raw_rows: Vec<String> = response
            .items("DATA")
            .iter()
            .map(|item| item.text_of("WA"))
            .collect();
        let rows = raw_rows
            .iter()
            .map(|row| {
                fields
                    .iter()
                    .map(|field| {
                        let value: String =
                            row.chars().skip(field.offset).take(field.length).collect();
                        (field.name.clone(), value.trim_end_matches(' ').to_string())
                    })
                    .collect()
            })
            .collect();
        Ok(TableAnswer {
            fields,
            raw_rows,
            rows,
        })
    }

    pub async fn odata(&self, path_and_query: &str) -> (u16, String) {
        let url = format!(
            "{}/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/{path_and_query}",
            self.sim.base_url()
        );
        self.odata_url(&url).await
    }

    pub async fn odata_url(&self, url: &str) -> (u16, String) {
        let response = self
            .http
            .get(url)
            .basic_auth(self.sim.user(), Some(self.sim.password()))
            .send()
            .await
            .expect("request");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn odata_json(&self, path_and_query: &str) -> serde_json::Value {
        let (status, body) = self.odata(path_and_query).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    pub async fn admin(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }
}
