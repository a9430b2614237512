//! OData V2 service `ZMLC_CUSTOMER_SRV` as a Gateway developer would build it on ECC:
//! `$metadata` with sap: annotations, `CustomerSet` and `ContactPersonSet`, navigation
//! `ToContacts` with `$expand`, verbose JSON (`{"d":{"results":[...]}}`, `__count` as a string,
//! `__next` when the server page size cuts) or Atom XML, `$filter`, `$orderby`, `$select`,
//! `$top`, `$skip`, `$skiptoken`, and Gateway's error body.
//!
//! Properties: see `CUSTOMER_PROPERTIES` and `CONTACT_PROPERTIES`. A contact's `Email` and
//! `Phone` are its default ones; `EmailList`, `PhoneList` (landlines) and `MobileList` hold all
//! work ones in use, default first, separated by ";" (Edm V2 has no collections of primitives).
//! `ChangedAt` is the latest DEBI change document of the customer (its creation date when it has
//! none), converted from the server's local time to UTC, so BAS-only changes do not move it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};

use crate::model::*;
use crate::soap::escape;
use crate::state::SimState;
use crate::truth::{payment_terms, phone_text, shipping_address};

mod atom;
mod custom;
mod edmx;
mod filter;

use atom::{entry_xml, feed_body};
use edmx::{metadata, service_document};

use filter::{evaluate, parse_filter, truthy};

pub const SERVICE_ROOT: &str = "/sap/opu/odata/sap/ZMLC_CUSTOMER_SRV/";
const NAMESPACE: &str = "ZMLC_CUSTOMER_SRV";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdmType {
    String,
    Boolean,
    DateTime,
}

struct Property {
    name: &'static str,
    edm: EdmType,
    max_length: usize,
    label: &'static str,
    date_only: bool,
}

const fn p(name: &'static str, edm: EdmType, max_length: usize, label: &'static str) -> Property {
    Property {
        name,
        edm,
        max_length,
        label,
        date_only: false,
    }
}

static CUSTOMER_PROPERTIES: &[Property] = &[
    p("CustomerNumber", EdmType::String, 10, "Customer"),
    p("Name1", EdmType::String, 40, "Name"),
    p("Name2", EdmType::String, 40, "Name 2"),
    p("Name3", EdmType::String, 40, "Name 3"),
    p("Name4", EdmType::String, 40, "Name 4"),
    p("Street", EdmType::String, 60, "Street"),
    p("HouseNumber", EdmType::String, 10, "House Number"),
    p("PostalCode", EdmType::String, 10, "Postal Code"),
    p("City", EdmType::String, 40, "City"),
    p("Region", EdmType::String, 3, "Region"),
    p("Country", EdmType::String, 3, "Country"),
    p("Email", EdmType::String, 241, "E-Mail Address"),
    p("Phone", EdmType::String, 41, "Telephone"),
    p("VatRegNo", EdmType::String, 20, "VAT Registration No."),
    p("AccountGroup", EdmType::String, 4, "Account Group"),
    p("OneTimeAccount", EdmType::Boolean, 0, "One-Time Account"),
    p("DeletionFlag", EdmType::Boolean, 0, "Deletion Flag"),
    p("PostingBlock", EdmType::Boolean, 0, "Posting Block"),
    p("OrderBlock", EdmType::String, 2, "Order Block"),
    p("DeliveryBlock", EdmType::String, 2, "Delivery Block"),
    p("BillingBlock", EdmType::String, 2, "Billing Block"),
    p("PaymentTerms", EdmType::String, 4, "Terms of Payment"),
    p(
        "PaymentTermsText",
        EdmType::String,
        30,
        "Payment Terms Text",
    ),
    p("ShipToCustomer", EdmType::String, 10, "Ship-To Party"),
    p("ShipToStreet", EdmType::String, 60, "Ship-To Street"),
    p(
        "ShipToHouseNumber",
        EdmType::String,
        10,
        "Ship-To House Number",
    ),
    p(
        "ShipToPostalCode",
        EdmType::String,
        10,
        "Ship-To Postal Code",
    ),
    p("ShipToCity", EdmType::String, 40, "Ship-To City"),
    p("ShipToRegion", EdmType::String, 3, "Ship-To Region"),
    p("ShipToCountry", EdmType::String, 3, "Ship-To Country"),
    Property {
        name: "CreatedOn",
        edm: EdmType::DateTime,
        max_length: 0,
        label: "Created On",
        date_only: true,
    },
    p("ChangedAt", EdmType::DateTime, 0, "Changed At"),
];

static CONTACT_PROPERTIES: &[Property] = &[
    p("ContactNumber", EdmType::String, 10, "Contact Person"),
    p("DeletionFlag", EdmType::Boolean, 0, "Deletion Flag"),
    p("CustomerNumber", EdmType::String, 10, "Customer"),
    p("FirstName", EdmType::String, 35, "First Name"),
    p("LastName", EdmType::String, 35, "Last Name"),
    p("Department", EdmType::String, 12, "Department"),
    p("FunctionCode", EdmType::String, 2, "Function"),
    p("Function", EdmType::String, 20, "Function Text"),
    p("Email", EdmType::String, 241, "E-Mail Address"),
    p("Phone", EdmType::String, 41, "Telephone"),
    p("EmailList", EdmType::String, 0, "All E-Mail Addresses"),
    p("PhoneList", EdmType::String, 0, "All Landline Numbers"),
    p("MobileList", EdmType::String, 0, "All Mobile Numbers"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntitySet {
    Customers,
    Contacts,
}

impl EntitySet {
    fn name(self) -> &'static str {
        match self {
            EntitySet::Customers => "CustomerSet",
            EntitySet::Contacts => "ContactPersonSet",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            EntitySet::Customers => "Customer",
            EntitySet::Contacts => "ContactPerson",
        }
    }

    fn properties(self) -> &'static [Property] {
        match self {
            EntitySet::Customers => CUSTOMER_PROPERTIES,
            EntitySet::Contacts => CONTACT_PROPERTIES,
        }
    }

    fn key(self) -> &'static str {
        self.properties()[0].name
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "CustomerSet" => Some(EntitySet::Customers),
            "ContactPersonSet" => Some(EntitySet::Contacts),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    /// Milliseconds since the epoch, UTC.
    DateTime(i64),
    Int(i64),
    Null,
}

impl Value {
    fn as_text(&self) -> String {
        match self {
            Value::Str(text) => text.clone(),
            Value::Bool(flag) => flag.to_string(),
            Value::DateTime(ms) => ms.to_string(),
            Value::Int(number) => number.to_string(),
            Value::Null => String::new(),
        }
    }
}

/// An OData error as Gateway reports it.
struct ODataError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn bad_request(message: String) -> ODataError {
    ODataError {
        status: StatusCode::BAD_REQUEST,
        code: "/IWBEP/CM_MGW_RT/022",
        message,
    }
}

/// The context one request evaluates customers in.
struct Context<'a> {
    state: &'a SimState,
    data: &'a EccData,
    /// Latest DEBI change document per KUNNR: (UDATE, UTIME).
    changed: HashMap<&'a str, (u32, u32)>,
}

impl<'a> Context<'a> {
    fn new(state: &'a SimState, data: &'a EccData) -> Self {
        let mut changed: HashMap<&str, (u32, u32)> = HashMap::new();
        for document in data
            .change_documents
            .iter()
            .filter(|document| document.object_class == "DEBI")
        {
            let entry = changed.entry(&*document.object_id).or_insert((0, 0));
            if (document.date, document.time) > *entry {
                *entry = (document.date, document.time);
            }
        }
        Self {
            state,
            data,
            changed,
        }
    }

    /// A local SAP date and time as UTC milliseconds.
    fn local_to_epoch_ms(&self, date: u32, time: u32) -> i64 {
        let Some(day) =
            NaiveDate::from_ymd_opt((date / 10_000) as i32, (date / 100) % 100, date % 100)
        else {
            return 0;
        };
        let Some(local) = day.and_hms_opt(time / 10_000, (time / 100) % 100, time % 100) else {
            return 0;
        };
        self.state
            .timezone
            .from_local_datetime(&local)
            .earliest()
            .map(|instant| instant.timestamp_millis())
            .unwrap_or_else(|| local.and_utc().timestamp_millis())
    }

    /// UDATE and UTIME of the customer's latest DEBI change document, else its creation day.
    fn last_change(&self, customer: &CustomerMaster) -> (u32, u32) {
        self.changed
            .get(customer.kunnr)
            .copied()
            .unwrap_or((customer.created_on, 0))
    }

    fn customer_value(&self, customer: &CustomerMaster, property: &str) -> Value {
        let scope = &self.state.scope;
        let s = |text: &str| Value::Str(text.trim().to_string());
        match property {
            "CustomerNumber" => s(customer.kunnr),
            "Name1" => s(customer.name[0]),
            "Name2" => s(customer.name[1]),
            "Name3" => s(customer.name[2]),
            "Name4" => s(customer.name[3]),
            "Street" => s(customer.street),
            "HouseNumber" => s(customer.house_number),
            "PostalCode" => s(customer.postal_code),
            "City" => s(customer.city),
            "Region" => s(customer.region),
            "Country" => s(customer.country),
            "Email" => s(customer.default_email().map_or("", |email| email.address)),
            "Phone" => Value::Str(customer.default_phone().map(phone_text).unwrap_or_default()),
            "VatRegNo" => s(customer.vat),
            "AccountGroup" => s(customer.account_group),
            "OneTimeAccount" => Value::Bool(customer.one_time),
            // The service reads the flags at every level of its company code and sales area.
            "DeletionFlag" => Value::Bool(crate::truth::deleted(customer, scope)),
            "PostingBlock" => Value::Bool(crate::truth::posting_block(customer, scope)),
            "OrderBlock" => s(crate::truth::blocks(customer, scope)[0]),
            "DeliveryBlock" => s(crate::truth::blocks(customer, scope)[1]),
            "BillingBlock" => s(crate::truth::blocks(customer, scope)[2]),
            "PaymentTerms" => Value::Str(
                payment_terms(customer, scope)
                    .map(|terms| terms.code)
                    .unwrap_or_default(),
            ),
            "PaymentTermsText" => Value::Str(
                payment_terms(customer, scope)
                    .and_then(|terms| terms.text)
                    .unwrap_or_default(),
            ),
            "ShipToCustomer" => {
                let area = customer
                    .sales_areas
                    .iter()
                    .find(|area| area.is_area(&scope.sales_area));
                let ship_to = area
                    .and_then(|area| area.ship_to)
                    .map(|index| self.data.customers[index as usize].kunnr.to_string());
                Value::Str(ship_to.unwrap_or_default())
            }
            "ShipToStreet" | "ShipToHouseNumber" | "ShipToPostalCode" | "ShipToCity"
            | "ShipToRegion" | "ShipToCountry" => {
                let address = shipping_address(self.data, customer, scope).unwrap_or_default();
                Value::Str(match property {
                    "ShipToStreet" => address.street,
                    "ShipToHouseNumber" => address.house_number,
                    "ShipToPostalCode" => address.postal_code,
                    "ShipToCity" => address.city,
                    "ShipToRegion" => address.region,
                    _ => address.country,
                })
            }
            "CreatedOn" => Value::DateTime(date_ms(customer.created_on)),
            "ChangedAt" => {
                let (date, time) = self.last_change(customer);
                Value::DateTime(self.local_to_epoch_ms(date, time))
            }
            // The custom service's local date (midnight UTC, as Gateway writes a DATS) and time.
            "ChangedOn" => Value::DateTime(date_ms(self.last_change(customer).0)),
            "ChangedTime" => {
                let time = self.last_change(customer).1;
                Value::Str(format!(
                    "PT{:02}H{:02}M{:02}S",
                    time / 10_000,
                    (time / 100) % 100,
                    time % 100
                ))
            }
            _ => Value::Null,
        }
    }

    fn contact_value(&self, customer: &CustomerMaster, contact: &Contact, property: &str) -> Value {
        let language = &self.state.scope.language;
        let s = |text: &str| Value::Str(text.trim().to_string());
        match property {
            "ContactNumber" => Value::Str(numc(contact.parnr, 10)),
            "DeletionFlag" => Value::Bool(contact.deletion_flag),
            "CustomerNumber" => s(customer.kunnr),
            "FirstName" => s(contact.first_name),
            "LastName" => s(contact.last_name),
            "Department" => s(contact.department),
            "FunctionCode" => s(contact.function),
            "Function" => s(crate::rows::function_text(contact.function, language).unwrap_or("")),
            "Email" => s(
                default_entry(&contact.emails, |e| e.default, |e| e.consnumber)
                    .map_or("", |e| e.address),
            ),
            "Phone" => Value::Str(
                default_entry(&contact.phones, |p| p.default, |p| p.consnumber)
                    .map(phone_text)
                    .unwrap_or_default(),
            ),
            "EmailList" => Value::Str(
                default_first(&contact.emails, |e| e.default, |e| e.consnumber)
                    .iter()
                    .map(|e| e.address.trim())
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            "PhoneList" | "MobileList" => Value::Str(
                default_first(&contact.phones, |p| p.default, |p| p.consnumber)
                    .into_iter()
                    .filter(|phone| phone.mobile == (property == "MobileList"))
                    .map(phone_text)
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            _ => Value::Null,
        }
    }
}

fn date_ms(date: u32) -> i64 {
    NaiveDate::from_ymd_opt((date / 10_000) as i32, (date / 100) % 100, date % 100)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// One row of an entity set: a customer, or a contact with its customer.
#[derive(Clone, Copy)]
enum Entity<'a> {
    Customer(&'a CustomerMaster),
    Contact(&'a CustomerMaster, &'a Contact),
}

impl<'a> Entity<'a> {
    fn value(&self, context: &Context<'_>, property: &str) -> Value {
        match self {
            Entity::Customer(customer) => context.customer_value(customer, property),
            Entity::Contact(customer, contact) => {
                context.contact_value(customer, contact, property)
            }
        }
    }

    fn key(&self) -> String {
        match self {
            Entity::Customer(customer) => customer.kunnr.to_string(),
            Entity::Contact(_, contact) => numc(contact.parnr, 10),
        }
    }

    fn set(&self) -> EntitySet {
        match self {
            Entity::Customer(_) => EntitySet::Customers,
            Entity::Contact(..) => EntitySet::Contacts,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Query options and the request

struct QueryOptions {
    raw: Vec<(String, String)>,
}

impl QueryOptions {
    fn parse(query: Option<&str>) -> Self {
        let raw = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |text: &str| {
                    percent_encoding::percent_decode_str(&text.replace('+', " "))
                        .decode_utf8_lossy()
                        .to_string()
                };
                (decode(name), decode(value))
            })
            .collect();
        Self { raw }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn number(&self, name: &str) -> Result<Option<usize>, ODataError> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                bad_request(format!(
                    "Invalid value '{text}' for system query option {name}"
                ))
            }),
        }
    }

    /// The query string for a next link: everything but `$skiptoken`, then the new token.
    fn next_link_query(&self, token: usize) -> String {
        let mut parts: Vec<String> = self
            .raw
            .iter()
            .filter(|(key, _)| key != "$skiptoken")
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect();
        parts.push(format!("$skiptoken={token}"));
        parts.join("&")
    }
}

fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'$')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b',');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

fn wants_json(options: &QueryOptions, headers: &HeaderMap) -> bool {
    match options.get("$format") {
        Some(format) => format.eq_ignore_ascii_case("json") || format.contains("application/json"),
        None => headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("application/json")),
    }
}

fn service_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}{SERVICE_ROOT}")
}

fn error_response(error: ODataError, json: bool) -> Response {
    let transaction = format!("{:032X}", rand::random::<u128>());
    let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S%.3f").to_string();
    if json {
        let body = serde_json::json!({
            "error": {
                "code": error.code,
                "message": {"lang": "en", "value": error.message},
                "innererror": {
                    "application": {
                        "component_id": "",
                        "service_namespace": "/SAP/",
                        "service_id": NAMESPACE,
                        "service_version": "0001"
                    },
                    "transactionid": transaction,
                    "timestamp": timestamp,
                    "Error_Resolution": {
                        "SAP_Transaction": "Run transaction /IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details",
                        "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)"
                    },
                    "errordetails": [{"code": error.code, "message": error.message, "propertyref": "", "severity": "error", "target": ""}]
                }
            }
        });
        return (
            error.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response();
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><error xmlns=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\">\
<code>{}</code><message xml:lang=\"en\">{}</message><innererror><application><component_id/><service_namespace>/SAP/</service_namespace>\
<service_id>{NAMESPACE}</service_id><service_version>0001</service_version></application><transactionid>{transaction}</transactionid>\
<timestamp>{timestamp}</timestamp><errordetails><errordetail><code>{}</code><message>{}</message><propertyref/><severity>error</severity>\
<target/></errordetail></errordetails></innererror></error>",
        escape(error.code),
        escape(&error.message),
        escape(error.code),
        escape(&error.message)
    );
    (
        error.status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

pub async fn handle_root(state: State<Arc<SimState>>, uri: Uri, headers: HeaderMap) -> Response {
    handle(state, Path(String::new()), uri, headers).await
}

pub async fn handle(
    State(state): State<Arc<SimState>>,
    Path(path): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    state.count_request();
    let options = QueryOptions::parse(uri.query());
    let json = wants_json(&options, &headers);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if !state.authorized(authorization, options.get("sap-client")) {
        if let Ok(mut stats) = state.stats.lock() {
            stats.unauthorized += 1;
        }
        return crate::state::unauthorized(&state.options.client);
    }
    let fault = state.injected_fault("GET", uri.path()).await;
    if fault.error_status.is_some() {
        // SAP Gateway answers every failure of the backend with 500, whichever was drawn.
        let error = ODataError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "/IWFND/CM_BEC/026",
            message: "Simulated system failure".into(),
        };
        return error_response(error, json);
    }
    let base = service_base(&headers);
    let worker = state.clone();
    let outcome =
        tokio::task::spawn_blocking(move || route(&worker, &path, &options, json, &base)).await;
    let response = match outcome {
        Ok(Ok((content_type, body))) => (StatusCode::OK, content_type, body),
        Ok(Err(error)) => return error_response(error, json),
        Err(error) => {
            return error_response(
                ODataError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "/IWFND/CM_BEC/026",
                    message: error.to_string(),
                },
                json,
            )
        }
    };
    let (status, content_type, body) = response;
    let response = (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::HeaderName::from_static("dataserviceversion"), "2.0"),
        ],
        body,
    )
        .into_response();
    state.deliver(fault, response).await
}

type Rendered = (&'static str, String);

fn route(
    state: &SimState,
    path: &str,
    options: &QueryOptions,
    json: bool,
    base: &str,
) -> Result<Rendered, ODataError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(service_document(json, base));
    }
    let custom = custom::active(state);
    if path == "$metadata" {
        let metadata = if custom {
            custom::metadata()
        } else {
            metadata()
        };
        return Ok(("application/xml; charset=utf-8", metadata));
    }
    if custom && !json {
        return Err(ODataError {
            status: StatusCode::NOT_ACCEPTABLE,
            code: "/IWBEP/CM_MGW_RT/004",
            message: "This service is provided in JSON only: use $format=json".into(),
        });
    }
    let (segment, navigation) = match path.split_once('/') {
        Some((segment, rest)) => (segment, Some(rest)),
        None => (path, None),
    };
    let (set_name, key) = match segment.split_once('(') {
        Some((name, rest)) => {
            let key = rest
                .strip_suffix(')')
                .ok_or_else(|| bad_request(format!("Invalid key in segment '{segment}'")))?;
            let key = key.split_once('=').map_or(key, |(_, value)| value);
            let key = key
                .trim()
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .ok_or_else(|| bad_request(format!("Invalid key {key}")))?;
            let key = key.replace("''", "'");
            // Gateway converts a key shown without leading zeros back (ALPHA input).
            let key = if custom {
                custom::alpha_input(&key)
            } else {
                key
            };
            (name, Some(key))
        }
        None => (segment, None),
    };
    let not_found = || ODataError {
        status: StatusCode::NOT_FOUND,
        code: "/IWFND/MED/170",
        message: format!("No service found for namespace '', name '{path}', version '0001'"),
    };
    let set = EntitySet::from_name(set_name).ok_or_else(|| ODataError {
        status: StatusCode::NOT_FOUND,
        code: "/IWBEP/CM_MGW_RT/020",
        message: format!("Resource not found for segment '{set_name}'"),
    })?;
    if let Ok(mut stats) = state.stats.lock() {
        *stats
            .calls_by_entity_set
            .entry(set.name().to_string())
            .or_default() += 1;
    }
    let data = state.read_data();
    let context = Context::new(state, &data);
    match (key, navigation) {
        (None, None) => collection(&context, set, None, options, json, base),
        (None, Some("$count")) => {
            let entities = select_entities(&context, set, None, options)?;
            Ok(("text/plain; charset=utf-8", entities.len().to_string()))
        }
        (Some(key), navigation) => {
            let entity = find_entity(&data, set, &key).ok_or_else(|| ODataError {
                status: StatusCode::NOT_FOUND,
                code: "/IWBEP/CM_MGW_RT/021",
                message: format!("Resource not found for segment '{set_name}'"),
            })?;
            match (navigation, entity) {
                (None, entity) => single(&context, entity, options, json, base),
                (Some("ToContacts"), Entity::Customer(customer)) => collection(
                    &context,
                    EntitySet::Contacts,
                    Some(customer),
                    options,
                    json,
                    base,
                ),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

fn find_entity<'a>(data: &'a EccData, set: EntitySet, key: &str) -> Option<Entity<'a>> {
    match set {
        EntitySet::Customers => data
            .customer_index(key)
            .map(|index| Entity::Customer(&data.customers[index])),
        EntitySet::Contacts => {
            let parnr: u32 = key.trim().parse().ok()?;
            let (customer, contact) = data.find_contact(parnr)?;
            Some(Entity::Contact(
                &data.customers[customer],
                &data.customers[customer].contacts[contact],
            ))
        }
    }
}

/// Entities of a set (or a customer's contacts) after `$filter` and `$orderby`, in key order
/// by default.
fn select_entities<'a>(
    context: &Context<'a>,
    set: EntitySet,
    parent: Option<&'a CustomerMaster>,
    options: &QueryOptions,
) -> Result<Vec<Entity<'a>>, ODataError> {
    let filter = match options.get("$filter") {
        Some(text) if !context.state.options.odata_ignore_filter => Some(
            parse_filter(text, set, custom::active(context.state)).map_err(|error| {
                bad_request(format!("Invalid filter expression: '{text}'. {error}"))
            })?,
        ),
        _ => None,
    };
    let mut order: Vec<(&'static str, bool)> = Vec::new();
    if let Some(text) = options.get("$orderby") {
        for part in text.split(',') {
            let mut words = part.split_whitespace();
            let name = words.next().unwrap_or("");
            let property =
                resolve_property(set, name, custom::active(context.state)).ok_or_else(|| {
                    bad_request(format!(
                        "Invalid $orderby: property '{name}' not found in type '{}'",
                        set.type_name()
                    ))
                })?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(bad_request(format!("Invalid $orderby direction '{other}'")))
                }
            };
            order.push((property, descending));
        }
    }
    let data = context.data;
    let mut entities: Vec<Entity<'a>> = Vec::new();
    let mut consider = |entity: Entity<'a>| -> Result<(), ODataError> {
        let keep = match &filter {
            None => true,
            Some(expression) => match evaluate(expression, &entity, context) {
                Ok(value) => truthy(&value),
                Err(error) => {
                    return Err(bad_request(format!("Invalid filter expression: {error}")))
                }
            },
        };
        if keep {
            entities.push(entity);
        }
        Ok(())
    };
    match (set, parent) {
        (EntitySet::Customers, _) => {
            for customer in data.customers_in_key_order() {
                consider(Entity::Customer(customer))?;
            }
        }
        (EntitySet::Contacts, Some(customer)) => {
            let mut contacts: Vec<&Contact> = customer.contacts.iter().collect();
            contacts.sort_by_key(|contact| contact.parnr);
            for contact in contacts {
                consider(Entity::Contact(customer, contact))?;
            }
        }
        (EntitySet::Contacts, None) => {
            // Contact numbers are assigned in customer order, so this is PARNR order.
            for customer in &data.customers {
                for contact in &customer.contacts {
                    consider(Entity::Contact(customer, contact))?;
                }
            }
        }
    }
    if !order.is_empty() {
        let mut keyed: Vec<(Vec<Value>, Entity<'a>)> = entities
            .into_iter()
            .map(|entity| {
                (
                    order
                        .iter()
                        .map(|(name, _)| entity.value(context, name))
                        .collect(),
                    entity,
                )
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for (index, (_, descending)) in order.iter().enumerate() {
                let ordering = compare_values(&a[index], &b[index]);
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
        entities = keyed.into_iter().map(|(_, entity)| entity).collect();
    }
    Ok(entities)
}

/// The (flat) property a name in `$filter` or `$orderby` stands for.
fn resolve_property(set: EntitySet, name: &str, custom: bool) -> Option<&'static str> {
    if custom {
        return custom::flat_property(set, name);
    }
    set.properties()
        .iter()
        .find(|property| property.name == name)
        .map(|property| property.name)
}

fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
}

fn selected_properties(
    set: EntitySet,
    options: &QueryOptions,
) -> Result<Vec<&'static Property>, ODataError> {
    let Some(text) = options.get("$select") else {
        return Ok(set.properties().iter().collect());
    };
    let mut selected = Vec::new();
    for name in text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if name == "*" {
            return Ok(set.properties().iter().collect());
        }
        if set == EntitySet::Customers && name == "ToContacts" {
            continue;
        }
        let property = set
            .properties()
            .iter()
            .find(|property| property.name == name)
            .ok_or_else(|| {
                bad_request(format!(
                    "Invalid $select: property '{name}' not found in type '{}'",
                    set.type_name()
                ))
            })?;
        selected.push(property);
    }
    Ok(selected)
}

fn expands_contacts(set: EntitySet, options: &QueryOptions) -> Result<bool, ODataError> {
    match options.get("$expand") {
        None => Ok(false),
        Some(text) => {
            for name in text
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
            {
                if set != EntitySet::Customers || name != "ToContacts" {
                    return Err(bad_request(format!(
                        "Invalid $expand: navigation property '{name}' not found in type '{}'",
                        set.type_name()
                    )));
                }
            }
            Ok(true)
        }
    }
}

/// How the custom service shapes a request's entities: expanded navigations and `$select`.
type CustomShape = (custom::Expand, Option<Vec<String>>);

fn custom_shape(
    context: &Context<'_>,
    set: EntitySet,
    options: &QueryOptions,
) -> Result<Option<CustomShape>, ODataError> {
    if !custom::active(context.state) {
        return Ok(None);
    }
    Ok(Some((
        custom::expand(set, options)?,
        custom::selection(set, options)?,
    )))
}

fn collection(
    context: &Context<'_>,
    set: EntitySet,
    parent: Option<&CustomerMaster>,
    options: &QueryOptions,
    json: bool,
    base: &str,
) -> Result<Rendered, ODataError> {
    let custom_shape = custom_shape(context, set, options)?;
    let (properties, expand) = match custom_shape {
        Some(_) => (Vec::new(), false),
        None => (
            selected_properties(set, options)?,
            expands_contacts(set, options)?,
        ),
    };
    let ignore_paging = context.state.options.odata_ignore_paging;
    let skip = if ignore_paging {
        None
    } else {
        options.number("$skip")?
    };
    let top = if ignore_paging {
        None
    } else {
        options.number("$top")?
    };
    let token = if ignore_paging {
        None
    } else {
        options.number("$skiptoken")?
    };
    let inline_count = match options.get("$inlinecount") {
        None | Some("none") => false,
        Some("allpages") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "Invalid value '{other}' for system query option $inlinecount"
            )))
        }
    };
    let entities = select_entities(context, set, parent, options)?;
    let total = entities.len();
    let start = skip.unwrap_or(0).min(total);
    let end = top.map_or(total, |top| (start + top).min(total));
    let window = &entities[start..end];
    let offset = token.unwrap_or(0).min(window.len());
    let page_size = context.state.options.page_size.max(1);
    let page_end = if ignore_paging {
        window.len()
    } else {
        (offset + page_size).min(window.len())
    };
    let page = &window[offset..page_end];
    if let Ok(mut stats) = context.state.stats.lock() {
        stats.rows_returned += page.len() as u64;
    }
    let path = match parent {
        Some(customer) => format!("CustomerSet('{}')/ToContacts", customer.kunnr),
        None => set.name().to_string(),
    };
    let next = (page_end < window.len())
        .then(|| format!("{base}{path}?{}", options.next_link_query(page_end)));
    let count = inline_count.then_some(total);
    if json {
        let results: Vec<serde_json::Value> = page
            .iter()
            .map(|entity| match &custom_shape {
                Some((expand, selection)) => {
                    custom::entity_json(context, entity, *expand, selection.as_deref(), base)
                }
                None => entity_json(context, entity, &properties, expand, base),
            })
            .collect();
        let mut d = serde_json::Map::new();
        if let Some(count) = count {
            d.insert(
                "__count".into(),
                serde_json::Value::String(count.to_string()),
            );
        }
        d.insert("results".into(), serde_json::Value::Array(results));
        if let Some(next) = next {
            d.insert("__next".into(), serde_json::Value::String(next));
        }
        return Ok((
            "application/json; charset=utf-8",
            serde_json::json!({ "d": d }).to_string(),
        ));
    }
    let mut xml = String::with_capacity(4096 + page.len() * 1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    xml.push_str(&format!(
        "<feed xml:base=\"{}\" xmlns=\"http://www.w3.org/2005/Atom\" xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" \
xmlns:d=\"http://schemas.microsoft.com/ado/2007/08/dataservices\">",
        escape(base)
    ));
    feed_body(
        &mut xml,
        context,
        &path,
        page,
        &properties,
        expand,
        base,
        count,
    );
    if let Some(next) = next {
        xml.push_str(&format!("<link href=\"{}\" rel=\"next\"/>", escape(&next)));
    }
    xml.push_str("</feed>");
    Ok(("application/atom+xml; type=feed; charset=utf-8", xml))
}

fn entity_uri(base: &str, entity: &Entity<'_>) -> String {
    format!("{base}{}('{}')", entity.set().name(), entity.key())
}

fn json_value(property: &Property, value: Value) -> serde_json::Value {
    match (property.edm, value) {
        (_, Value::Null) => serde_json::Value::Null,
        (EdmType::DateTime, Value::DateTime(ms)) => {
            serde_json::Value::String(format!("/Date({ms})/"))
        }
        (EdmType::Boolean, Value::Bool(flag)) => serde_json::Value::Bool(flag),
        (_, other) => serde_json::Value::String(other.as_text()),
    }
}

fn entity_json(
    context: &Context<'_>,
    entity: &Entity<'_>,
    properties: &[&Property],
    expand: bool,
    base: &str,
) -> serde_json::Value {
    let uri = entity_uri(base, entity);
    let mut object = serde_json::Map::new();
    object.insert(
        "__metadata".into(),
        serde_json::json!({"id": uri, "uri": uri, "type": format!("{NAMESPACE}.{}", entity.set().type_name())}),
    );
    for property in properties {
        object.insert(
            property.name.into(),
            json_value(property, entity.value(context, property.name)),
        );
    }
    if let Entity::Customer(customer) = entity {
        if expand {
            let mut contacts: Vec<&Contact> = customer.contacts.iter().collect();
            contacts.sort_by_key(|contact| contact.parnr);
            let all: Vec<&Property> = CONTACT_PROPERTIES.iter().collect();
            let results: Vec<serde_json::Value> = contacts
                .into_iter()
                .map(|contact| {
                    entity_json(
                        context,
                        &Entity::Contact(customer, contact),
                        &all,
                        false,
                        base,
                    )
                })
                .collect();
            object.insert(
                "ToContacts".into(),
                serde_json::json!({ "results": results }),
            );
        } else {
            object.insert(
                "ToContacts".into(),
                serde_json::json!({"__deferred": {"uri": format!("{uri}/ToContacts")}}),
            );
        }
    }
    serde_json::Value::Object(object)
}

fn single(
    context: &Context<'_>,
    entity: Entity<'_>,
    options: &QueryOptions,
    json: bool,
    base: &str,
) -> Result<Rendered, ODataError> {
    if let Some((expand, selection)) = custom_shape(context, entity.set(), options)? {
        let entity = custom::entity_json(context, &entity, expand, selection.as_deref(), base);
        let body = serde_json::json!({ "d": entity });
        return Ok(("application/json; charset=utf-8", body.to_string()));
    }
    let properties = selected_properties(entity.set(), options)?;
    let expand = expands_contacts(entity.set(), options)?;
    if json {
        let body =
            serde_json::json!({ "d": entity_json(context, &entity, &properties, expand, base) });
        return Ok(("application/json; charset=utf-8", body.to_string()));
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let mut entry = String::new();
    entry_xml(&mut entry, context, &entity, &properties, expand, base);
    let namespaces = format!(
        "<entry xml:base=\"{}\" xmlns=\"http://www.w3.org/2005/Atom\" xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" \
xmlns:d=\"http://schemas.microsoft.com/ado/2007/08/dataservices\">",
        escape(base)
    );
    xml.push_str(&entry.replacen("<entry>", &namespaces, 1));
    Ok(("application/atom+xml; type=entry; charset=utf-8", xml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar_parses_and_refuses() {
        assert!(parse_filter(
            "Country eq 'DE' and not (City eq 'Köln' or substringof('GmbH',Name1))",
            EntitySet::Customers,
            false
        )
        .is_ok());
        assert!(parse_filter(
            "ChangedAt ge datetime'2026-01-01T00:00:00'",
            EntitySet::Customers,
            false
        )
        .is_ok());
        assert!(parse_filter("startswith(Name1,'M''x')", EntitySet::Customers, false).is_ok());
        assert!(parse_filter("Nope eq 'x'", EntitySet::Customers, false).is_err());
        assert!(parse_filter("Country eq", EntitySet::Customers, false).is_err());
        assert!(parse_filter("Country eq 'DE", EntitySet::Customers, false).is_err());
        assert!(parse_filter(
            "ChangedAt ge datetime'2026-01-01T00:00:00Z'",
            EntitySet::Customers,
            false
        )
        .is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_filter_parses_or_fails_without_panicking(text in "[ -~ä]{0,60}") {
            let _ = parse_filter(&text, EntitySet::Customers, false);
        }

        #[test]
        fn filter_words_in_any_order_never_panic(words in proptest::collection::vec(proptest::sample::select(vec![
            "Country", "eq", "ne", "'DE'", "and", "or", "not", "(", ")", "substringof(", ",", "Name1",
            "datetime'2026-01-01T00:00'", "ChangedAt", "gt", "true", "startswith(", "tolower(", "1",
        ]), 0..12)) {
            let _ = parse_filter(&words.join(" "), EntitySet::Customers, false);
        }
    }
}
