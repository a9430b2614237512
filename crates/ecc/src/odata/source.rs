//! Customers from an OData V2 service: the customer set page by page, contacts inline
//! (`$expand`) or from the contact set by customer number, assembled into canonical records with
//! the same quality checks as the RFC path.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use mlc_canonical::{
    record::join_name_parts, Address, ContactPerson, Customer, CustomerNumber, PaymentTerms,
};
use mlc_config::sections::ecc::DirtyRecordPolicy;
use mlc_config::{EccConfig, OdataConfig};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use super::json::{self, flag, parse_collection, text, CollectionPage};
use super::mapping::PropertyMap;
use super::metadata::ServiceMetadata;
use super::shape::{has_paths, metadata_problems, ChangeStamp, ServiceShape};
use super::ODataFetch;
use crate::assemble::inspect;
use crate::delta::DeltaCursor;
use crate::error::EccError;
use crate::server_clock::clock_check;
use crate::source::{
    distinct_numbers, CheckLine, CustomerSource, ExtractBatch, ExtractedCustomer, FullRead,
};

/// Characters left as they are in a query value: what OData syntax needs to stay readable.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':');

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// An OData string literal: quoted, a quote inside doubled.
pub fn odata_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Customer numbers per `$filter` of `eq ... or ...` (keeps URLs well under 8 KB).
const NUMBERS_PER_FILTER: usize = 40;

pub struct ODataSource {
    fetch: Arc<dyn ODataFetch>,
    config: OdataConfig,
    map: PropertyMap,
    policy: DirtyRecordPolicy,
    timezone: Tz,
    overlap: std::time::Duration,
    label: String,
    calls: AtomicU64,
    /// Learned from `$metadata` at the first read that needs it.
    shape: tokio::sync::OnceCell<ServiceShape>,
}

impl ODataSource {
    pub fn new(
        fetch: Arc<dyn ODataFetch>,
        config: &EccConfig,
        label: &str,
    ) -> Result<Self, EccError> {
        if !config.select.is_everything() {
            return Err(EccError::Config(
                "ecc.select is applied by the soap-rfc transport (and the agent via soap-rfc); \
                 over OData the Gateway service decides which customers it exposes: remove \
                 [ecc.select] or filter in the service"
                    .into(),
            ));
        }
        Ok(ODataSource {
            fetch,
            map: PropertyMap::from_config(&config.odata)?,
            config: config.odata.clone(),
            policy: config.dirty_records,
            timezone: config.timezone,
            overlap: config.delta_overlap,
            label: label.to_string(),
            calls: AtomicU64::new(0),
            shape: tokio::sync::OnceCell::new(),
        })
    }

    /// The service's `$metadata`, parsed.
    async fn read_metadata(&self) -> Result<ServiceMetadata, EccError> {
        let path = format!("{}$metadata", self.service());
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.fetch.get(&path).await? {
            (200, body) => ServiceMetadata::parse(&body, &self.fetch.endpoint()),
            (status, body) => Err(EccError::Http {
                endpoint: format!("{}{path}", self.fetch.endpoint()),
                status,
                detail: body.chars().take(200).collect(),
            }),
        }
    }

    /// The service's shape, read from `$metadata` once. Without mapped paths a service whose
    /// `$metadata` cannot be read is taken as plain (its change stamp a timestamp).
    async fn shape(&self) -> Result<&ServiceShape, EccError> {
        self.shape
            .get_or_try_init(|| async {
                let needed = has_paths(&self.map);
                let detect_dates = !self.map.customer("changed_at").is_empty()
                    && self.config.changed_time_property.is_none();
                if !needed && !detect_dates {
                    return ServiceShape::learn(None, &self.config, &self.map);
                }
                match self.read_metadata().await {
                    Ok(metadata) => ServiceShape::learn(Some(&metadata), &self.config, &self.map),
                    Err(error) if !needed => {
                        tracing::warn!(%error, "$metadata unreadable: the change stamp is taken as a timestamp");
                        ServiceShape::learn(None, &self.config, &self.map)
                    }
                    Err(error) => Err(error),
                }
            })
            .await
    }

    /// The `ecc odata metadata` check line: every configured entity set and mapped property
    /// path exists in the service's `$metadata`; a missing one is named with the nearest
    /// existing.
    async fn metadata_check(&self) -> CheckLine {
        let name = "ecc odata metadata";
        let metadata = match self.read_metadata().await {
            Ok(metadata) => metadata,
            Err(error) => return CheckLine::failed(name, error.to_string()),
        };
        let problems = metadata_problems(&metadata, &self.config, &self.map);
        if problems.is_empty() {
            let changed = match ServiceShape::learn(Some(&metadata), &self.config, &self.map) {
                Ok(shape) => match shape.changed {
                    ChangeStamp::Timestamp => "",
                    ChangeStamp::DateOnly => {
                        "; the change stamp is a date only, deltas re-read the day before"
                    }
                    ChangeStamp::DateAndTime(_) => "; the change stamp is a date and a local time",
                },
                Err(error) => return CheckLine::failed(name, error.to_string()),
            };
            CheckLine::passed(
                name,
                format!("every entity set and mapped property exists in $metadata{changed}"),
            )
        } else {
            CheckLine::failed(name, problems.join("; "))
        }
    }

    fn service(&self) -> String {
        let path = self.config.service_path.trim_end_matches('/');
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        format!("{path}/")
    }

    fn set_path(&self, set: &str, query: &[(&str, String)]) -> String {
        let mut path = format!("{}{set}?$format=json", self.service());
        for (name, value) in query {
            path.push('&');
            path.push_str(name);
            path.push('=');
            path.push_str(&encode(value));
        }
        path
    }

    /// A `__next` link as a path under the host, with `$format=json` kept.
    /// The path of the server's `__next` link, unless the walk already followed it: a service
    /// whose link repeats would otherwise be read forever.
    fn follow(
        &self,
        next: Option<String>,
        followed: &mut HashSet<String>,
        set: &str,
    ) -> Result<Option<String>, EccError> {
        let Some(next) = next else {
            return Ok(None);
        };
        let path = self.next_path(&next);
        if !followed.insert(path.clone()) {
            return Err(EccError::OData {
                endpoint: format!("{}{path}", self.fetch.endpoint()),
                status: 200,
                code: String::new(),
                message: format!(
                    "the service's __next link of {set} repeats; stopped instead of reading the same pages forever"
                ),
            });
        }
        Ok(Some(path))
    }

    fn next_path(&self, next: &str) -> String {
        let path = match url::Url::parse(next) {
            Ok(url) => match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_string(),
            },
            // A relative link: relative to the service root.
            Err(_) if next.starts_with('/') => next.to_string(),
            Err(_) => format!("{}{next}", self.service()),
        };
        let without_client: Vec<&str> = path.splitn(2, '?').collect();
        let (base, query) = (
            without_client[0],
            without_client.get(1).copied().unwrap_or(""),
        );
        let mut parts: Vec<&str> = query
            .split('&')
            .filter(|part| {
                !part.is_empty()
                    && !part.starts_with("sap-client=")
                    && !part.starts_with("sap-language=")
            })
            .collect();
        if !parts.iter().any(|part| part.starts_with("$format=")) {
            parts.insert(0, "$format=json");
        }
        format!("{base}?{}", parts.join("&"))
    }

    async fn get_page(&self, path: &str, set: &str) -> Result<CollectionPage, EccError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (status, body) = self.fetch.get(path).await?;
        let endpoint = format!("{}{path}", self.fetch.endpoint());
        match status {
            200 => parse_collection(set, &body),
            401 | 403 => Err(EccError::LogonFailed {
                endpoint,
                user: String::new(),
                status,
            }),
            _ => {
                let (code, message) = json::parse_error(&body)
                    .unwrap_or_else(|| (String::new(), body.chars().take(300).collect()));
                Err(EccError::OData {
                    endpoint,
                    status,
                    code,
                    message,
                })
            }
        }
    }

    /// `$expand` of a customer read: the contacts' navigation (with the navigations of
    /// contact paths under it) and the navigations of customer paths.
    async fn customer_query(&self) -> Result<Vec<(&'static str, String)>, EccError> {
        let shape = self.shape().await?;
        let mut expand: Vec<String> = Vec::new();
        if let Some(contacts) = &self.config.expand_contacts {
            expand.push(contacts.clone());
            expand.extend(
                shape
                    .contact_navigations
                    .iter()
                    .map(|navigation| format!("{contacts}/{navigation}")),
            );
        }
        expand.extend(shape.customer_navigations.iter().cloned());
        Ok(if expand.is_empty() {
            Vec::new()
        } else {
            vec![("$expand", expand.join(","))]
        })
    }

    /// The customers of `numbers` by `$filter`, every page followed; entities of other
    /// customers (a service that ignores `$filter`) are dropped here.
    async fn customers_by_number(
        &self,
        numbers: &[String],
    ) -> Result<Vec<Map<String, Value>>, EccError> {
        let key = self.map.customer("customer_number").to_string();
        let wanted: HashSet<&str> = numbers.iter().map(String::as_str).collect();
        let mut found: HashMap<String, Map<String, Value>> = HashMap::new();
        for chunk in numbers.chunks(NUMBERS_PER_FILTER) {
            let filter = chunk
                .iter()
                .map(|number| format!("{key} eq {}", odata_literal(number)))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut query = self.customer_query().await?;
            query.push(("$filter", filter));
            let mut path = Some(self.set_path(&self.config.customer_set, &query));
            let mut followed = HashSet::new();
            while let Some(current) = path.take() {
                let page = self.get_page(&current, &self.config.customer_set).await?;
                let ignored_filter = page
                    .results
                    .iter()
                    .any(|entity| !wanted.contains(internal_key(&text(entity, &key)).as_str()));
                for entity in page.results {
                    let number = internal_key(&text(&entity, &key));
                    if wanted.contains(number.as_str()) {
                        found.insert(number, entity);
                    }
                }
                if ignored_filter && found.len() == wanted.len() {
                    break;
                }
                path = self.follow(page.next, &mut followed, &self.config.customer_set)?;
            }
            if found.len() == wanted.len() {
                break;
            }
        }
        let mut entities: Vec<Map<String, Value>> = found.into_values().collect();
        entities.sort_by_key(|entity| internal_key(&text(entity, &key)));
        Ok(entities)
    }

    /// Contacts of `customers` from the contact set, by customer number.
    async fn contacts_of(
        &self,
        customers: &[String],
    ) -> Result<HashMap<String, Vec<Map<String, Value>>>, EccError> {
        let key = self.map.contact("customer_number").to_string();
        let wanted: HashSet<&str> = customers.iter().map(String::as_str).collect();
        let mut contacts: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let contact_key = self.map.contact("contact_number").to_string();
        for chunk in customers.chunks(NUMBERS_PER_FILTER) {
            let filter = chunk
                .iter()
                .map(|number| format!("{key} eq {}", odata_literal(number)))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut query = vec![("$filter", filter)];
            let navigations = &self.shape().await?.contact_navigations;
            if !navigations.is_empty() {
                query.push(("$expand", navigations.join(",")));
            }
            let mut path = Some(self.set_path(&self.config.contact_set, &query));
            let mut followed = HashSet::new();
            let mut ignored_filter = false;
            while let Some(current) = path.take() {
                let page = self.get_page(&current, &self.config.contact_set).await?;
                for entity in page.results {
                    let customer = internal_key(&text(&entity, &key));
                    if !wanted.contains(customer.as_str()) {
                        ignored_filter = true;
                        continue;
                    }
                    if seen.insert(internal_key(&text(&entity, &contact_key))) {
                        contacts.entry(customer).or_default().push(entity);
                    }
                }
                path = self.follow(page.next, &mut followed, &self.config.contact_set)?;
            }
            if ignored_filter {
                // The service returned every contact: this chunk's read covered all customers.
                break;
            }
        }
        Ok(contacts)
    }

    /// Canonical records of customer entities (with their contacts inline or from the set).
    async fn assemble(&self, entities: Vec<Map<String, Value>>) -> Result<ExtractBatch, EccError> {
        let key = self.map.customer("customer_number").to_string();
        let numbers: Vec<String> = entities
            .iter()
            .map(|entity| internal_key(&text(entity, &key)))
            .collect();
        let mut contacts = match &self.config.expand_contacts {
            Some(_) => HashMap::new(),
            None if numbers.is_empty() => HashMap::new(),
            None => self.contacts_of(&numbers).await?,
        };
        let read_at = Utc::now();
        let source = format!("{}:{}", self.label, self.config.customer_set);
        let mut batch = ExtractBatch::default();
        for entity in entities {
            let number = internal_key(&text(&entity, &key));
            let inline = self
                .config
                .expand_contacts
                .as_ref()
                .map(|navigation| expanded(&entity, navigation));
            let contact_entities =
                inline.unwrap_or_else(|| contacts.remove(&number).unwrap_or_default());
            let mut customer = self.customer_of(&entity);
            let deleted = self.map.contact("deleted");
            customer.contacts = contact_entities
                .iter()
                .filter(|contact| deleted.is_empty() || !flag(contact, deleted))
                .map(|contact| self.contact_of(contact))
                .collect();
            customer
                .contacts
                .sort_by(|a, b| a.contact_number.cmp(&b.contact_number));
            let problems = inspect(&mut customer, self.policy == DirtyRecordPolicy::Clean);
            if !problems.is_empty() && self.policy == DirtyRecordPolicy::Skip {
                batch.rejected.extend(problems);
                continue;
            }
            batch.records.push(ExtractedCustomer {
                customer,
                source: source.clone(),
                read_at,
                problems,
            });
        }
        Ok(batch)
    }

    fn customer_of(&self, entity: &Map<String, Value>) -> Customer {
        let field = |name: &str| -> String {
            let property = self.map.customer(name);
            if property.is_empty() {
                String::new()
            } else {
                text(entity, property).trim_matches(' ').to_string()
            }
        };
        let set = |name: &str| -> bool {
            let property = self.map.customer(name);
            !property.is_empty()
                && (flag(entity, property)
                    || matches!(entity.get(property), Some(Value::String(text)) if !text.trim().is_empty() && !text.trim().eq_ignore_ascii_case("false")))
        };
        let optional = |value: String| (!value.trim().is_empty()).then(|| value.trim().to_string());
        let customer_number =
            CustomerNumber::from_internal(internal_key(&field("customer_number")));
        let name_parts = [
            field("name1"),
            field("name2"),
            field("name3"),
            field("name4"),
        ];
        let blocked_property = self.map.customer("blocked");
        let blocked = if blocked_property.is_empty() {
            set("posting_block")
                || set("order_block")
                || set("delivery_block")
                || set("billing_block")
        } else {
            flag(entity, blocked_property)
        };
        let ship_to = Address {
            street: field("ship_to_street"),
            house_number: field("ship_to_house_number"),
            postal_code: field("ship_to_postal_code"),
            city: field("ship_to_city"),
            region: field("ship_to_region"),
            country: field("ship_to_country"),
        };
        Customer {
            customer_number_display: customer_number.display(),
            name: join_name_parts(&name_parts),
            name_parts,
            account_group: field("account_group"),
            vat_number: optional(field("vat_number")),
            deleted: flag(entity, self.map.customer("deleted")),
            blocked,
            billing_address: Address {
                street: field("street"),
                house_number: field("house_number"),
                postal_code: field("postal_code"),
                city: field("city"),
                region: field("region"),
                country: field("country"),
            },
            shipping_address: (ship_to != Address::default()).then_some(ship_to),
            email: optional(field("email")),
            phone: optional(field("phone")),
            payment_terms: optional(field("payment_terms")).map(|code| PaymentTerms {
                code,
                text: optional(field("payment_terms_text")),
            }),
            contacts: Vec::new(),
            customer_number,
        }
    }

    fn contact_of(&self, entity: &Map<String, Value>) -> ContactPerson {
        let field = |name: &str| -> String {
            let property = self.map.contact(name);
            if property.is_empty() {
                String::new()
            } else {
                text(entity, property).trim_matches(' ').to_string()
            }
        };
        let optional = |value: String| (!value.trim().is_empty()).then(|| value.trim().to_string());
        ContactPerson {
            contact_number: internal_key(&field("contact_number")),
            first_name: field("first_name"),
            last_name: field("last_name"),
            department: optional(field("department")),
            function: optional(field("function")),
            emails: list(entity, self.map.contact("emails")),
            phones: list(entity, self.map.contact("phones")),
            mobile_phones: list(entity, self.map.contact("mobile_phones")),
        }
    }

    /// `changed_at` of an entity in server-local time: a timestamp (`/Date(ms)/` is UTC), a
    /// local date (midnight UTC as Gateway writes a DATS, no zone to convert), or a local date
    /// and a local time.
    fn changed_at(
        &self,
        entity: &Map<String, Value>,
        stamp: &ChangeStamp,
    ) -> Option<NaiveDateTime> {
        let property = self.map.customer("changed_at");
        if property.is_empty() {
            return None;
        }
        let instant = json::parse_date(&text(entity, property))?;
        Some(match stamp {
            ChangeStamp::Timestamp => instant.with_timezone(&self.timezone).naive_local(),
            ChangeStamp::DateOnly => instant.date_naive().and_time(NaiveTime::MIN),
            ChangeStamp::DateAndTime(time_property) => {
                let time = json::parse_time(&text(entity, time_property)).unwrap_or(NaiveTime::MIN);
                instant.date_naive().and_time(time)
            }
        })
    }
}

/// `$select` of property paths, and the `$expand` the navigations among them need: a path into
/// a complex type selects the complex property, one through a navigation selects itself.
fn selection(paths: &[String], navigations: &[String]) -> (String, String) {
    let mut select: Vec<String> = Vec::new();
    let mut expand: Vec<String> = Vec::new();
    for path in paths {
        let first = path.split('/').next().unwrap_or(path).to_string();
        let item = if navigations.contains(&first) {
            if !expand.contains(&first) {
                expand.push(first);
            }
            path.clone()
        } else {
            first
        };
        if !select.contains(&item) {
            select.push(item);
        }
    }
    (select.join(","), expand.join(","))
}

/// Values of a collection property (`{"results":[...]}`, an array, or text separated by `;`).
fn list(entity: &Map<String, Value>, property: &str) -> Vec<String> {
    if property.is_empty() {
        return Vec::new();
    }
    let values: Vec<String> = match json::lookup(entity, property) {
        Some(Value::Array(items)) => items.iter().map(value_text).collect(),
        Some(Value::Object(object)) => match object.get("results") {
            Some(Value::Array(items)) => items.iter().map(value_text).collect(),
            _ => Vec::new(),
        },
        Some(Value::String(text)) => text.split(';').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    values
        .into_iter()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .collect()
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(object) => object
            .iter()
            .find(|(name, _)| !name.starts_with("__"))
            .map(|(_, value)| value_text(value))
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

fn expanded(entity: &Map<String, Value>, navigation: &str) -> Vec<Map<String, Value>> {
    let items = match entity.get(navigation) {
        Some(Value::Object(object)) => object
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .collect()
}

/// How the full read pages through the customer set: `$top`/`$skip` windows, each followed
/// through the server's `__next` links, or windows by key (`$filter=key gt 'last'`) for a
/// service that ignores `$skip`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Window {
    Skip(usize),
    Key(String),
    Done,
}

struct ODataFullRead {
    source: Arc<ODataSource>,
    window: Window,
    /// The server's link to the rest of the current window.
    next: Option<String>,
    /// Entities of the current window so far.
    in_window: usize,
    /// Largest key of the previous window, to detect a service that ignores `$skip`.
    last_key: Option<String>,
    /// The `__next` links followed in the current window, to stop a link that repeats.
    followed: HashSet<String>,
}

#[async_trait::async_trait]
impl FullRead for ODataFullRead {
    async fn next_batch(&mut self) -> Result<Option<ExtractBatch>, EccError> {
        let source = self.source.clone();
        let set = source.config.customer_set.clone();
        let key = source.map.customer("customer_number").to_string();
        let top = source.config.page_size;
        loop {
            let path = match (&self.next, &self.window) {
                (_, Window::Done) => return Ok(None),
                (Some(next), _) => source.next_path(next),
                (None, Window::Skip(skip)) => {
                    let mut query = source.customer_query().await?;
                    query.push(("$top", top.to_string()));
                    query.push(("$skip", skip.to_string()));
                    if *skip == 0 {
                        query.push(("$inlinecount", "allpages".to_string()));
                    }
                    source.set_path(&set, &query)
                }
                (None, Window::Key(last)) => {
                    let mut query = source.customer_query().await?;
                    query.push(("$filter", format!("{key} gt {}", odata_literal(last))));
                    query.push(("$orderby", key.clone()));
                    query.push(("$top", top.to_string()));
                    source.set_path(&set, &query)
                }
            };
            let window_start = self.next.is_none();
            let page = source.get_page(&path, &set).await?;
            let keys: Vec<String> = page
                .results
                .iter()
                .map(|entity| internal_key(&text(entity, &key)))
                .collect();
            let first = keys.iter().min().cloned();
            let repeated = window_start
                && matches!((&first, &self.last_key), (Some(first), Some(previous)) if first <= previous);
            if repeated {
                match &self.window {
                    Window::Skip(_) => {
                        tracing::warn!(set = %set, "the service ignores $skip; paging by key instead");
                        self.window = Window::Key(self.last_key.clone().unwrap_or_default());
                        continue;
                    }
                    _ => {
                        return Err(EccError::OData {
                            endpoint: format!("{}{path}", source.fetch.endpoint()),
                            status: 200,
                            code: String::new(),
                            message: "the service ignores $skip and $filter but honours $top, so it cannot be paged: set ecc.odata.page_size above the number of customers".into(),
                        })
                    }
                }
            }
            let ignored_top = window_start && page.next.is_none() && keys.len() > top;
            self.in_window += keys.len();
            if let Some(max) = keys.iter().max() {
                if self.last_key.as_ref().is_none_or(|last| max > last) {
                    self.last_key = Some(max.clone());
                }
            }
            self.next = match source.follow(page.next.clone(), &mut self.followed, &set)? {
                Some(_) => page.next.clone(),
                None => None,
            };
            if self.next.is_none() {
                self.followed.clear();
                // The window is complete: a full one means there may be more.
                self.window = if ignored_top || self.in_window < top {
                    Window::Done
                } else {
                    match &self.window {
                        Window::Skip(skip) => Window::Skip(skip + top),
                        _ => Window::Key(self.last_key.clone().unwrap_or_default()),
                    }
                };
                self.in_window = 0;
            }
            if page.results.is_empty() {
                continue;
            }
            return source.assemble(page.results).await.map(Some);
        }
    }
}

#[async_trait::async_trait]
impl CustomerSource for ODataSource {
    fn start_full(self: Arc<Self>) -> Box<dyn FullRead> {
        Box::new(ODataFullRead {
            source: self,
            window: Window::Skip(0),
            next: None,
            in_window: 0,
            last_key: None,
            followed: HashSet::new(),
        })
    }

    async fn customers(&self, numbers: &[String]) -> Result<ExtractBatch, EccError> {
        let numbers = distinct_numbers(numbers);
        if numbers.is_empty() {
            return Ok(ExtractBatch::default());
        }
        let entities = self.customers_by_number(&numbers).await?;
        self.assemble(entities).await
    }

    async fn changed_since(
        &self,
        since: &DeltaCursor,
    ) -> Result<(Vec<String>, DeltaCursor), EccError> {
        let property = self.map.customer("changed_at").to_string();
        if property.is_empty() {
            return Err(EccError::Config(
                "deltas over OData need ecc.odata.changed_at_property; run full reads instead"
                    .into(),
            ));
        }
        let shape = self.shape().await?.clone();
        // The window ends at Gateway's time (its `Date` header), not ours: the change stamps
        // carry the server's clock. Taken before the reads, converted after their answers.
        let asked_at = Utc::now();
        let window = since.window_start(self.overlap);
        let key = self.map.customer("customer_number").to_string();
        let set = self.config.customer_set.clone();
        // Changes at or after `lower` (server-local) count.
        let lower = match &shape.changed {
            ChangeStamp::Timestamp | ChangeStamp::DateAndTime(_) => window,
            // A day only: the whole day before the window's too, so a change late on a day
            // is not lost to the time the date cannot show.
            ChangeStamp::DateOnly => (window.date() - Duration::days(1)).and_time(NaiveTime::MIN),
        };
        let filter = match &shape.changed {
            // OData V2 datetime literals carry no zone; Gateway reads them as UTC.
            ChangeStamp::Timestamp => format!(
                "{property} ge datetime'{}'",
                DeltaCursor::at(window)
                    .to_utc(self.timezone)
                    .format("%Y-%m-%dT%H:%M:%S")
            ),
            // A date is the server's local day at midnight, as written.
            ChangeStamp::DateOnly | ChangeStamp::DateAndTime(_) => format!(
                "{property} ge datetime'{}T00:00:00'",
                lower.date().format("%Y-%m-%d")
            ),
        };
        let mut selected = vec![key.clone(), property.clone()];
        if let ChangeStamp::DateAndTime(time) = &shape.changed {
            selected.push(time.clone());
        }
        let mut query = vec![("$filter", filter)];
        let (select, expand) = selection(&selected, &shape.customer_navigations);
        query.push(("$select", select));
        if !expand.is_empty() {
            query.push(("$expand", expand));
        }
        let mut path = Some(self.set_path(&set, &query));
        let mut followed = HashSet::new();
        let mut in_window = Vec::new();
        while let Some(current) = path.take() {
            let page = self.get_page(&current, &set).await?;
            for entity in &page.results {
                let Some(changed) = self.changed_at(entity, &shape.changed) else {
                    continue;
                };
                // A service that ignores $filter sends everything: filter here too.
                if changed >= lower {
                    in_window.push((internal_key(&text(entity, &key)), changed));
                }
            }
            path = self.follow(page.next, &mut followed, &set)?;
        }
        let next_time = self.cursor_at(asked_at).server_time.max(since.server_time);
        let mut next = DeltaCursor::at(next_time);
        let next_window = next.window_start(self.overlap);
        let mut numbers = BTreeSet::new();
        for (number, changed) in in_window {
            if shape.changed == ChangeStamp::DateOnly {
                // Two changes on one day look the same: every one in the window is read.
                numbers.insert(number);
                continue;
            }
            let id = format!("{number}@{}", changed.format("%Y%m%d%H%M%S"));
            if !since.seen_changes.contains(&id) {
                numbers.insert(number);
            }
            if changed >= next_window {
                next.seen_changes.push(id);
            }
        }
        Ok((numbers.into_iter().collect(), next))
    }

    fn cursor_at(&self, ours: chrono::DateTime<Utc>) -> DeltaCursor {
        DeltaCursor::on_server_clock(ours, self.fetch.clock_skew(), self.timezone)
    }

    async fn check(&self) -> Vec<CheckLine> {
        let mut lines = Vec::new();
        for set in [
            self.config.customer_set.clone(),
            self.config.contact_set.clone(),
        ] {
            let path = self.set_path(&set, &[("$top", "1".to_string())]);
            let name = format!("ecc odata {set}");
            match self.get_page(&path, &set).await {
                Ok(_) => lines.push(CheckLine::passed(
                    name,
                    format!("readable at {}", self.service()),
                )),
                Err(error) => lines.push(CheckLine::failed(name, error.to_string())),
            }
        }
        // Without any answer there is no Date header to judge; the set lines say why.
        if lines.iter().any(|line| line.ok) {
            lines.push(clock_check(self.fetch.clock_skew(), self.overlap));
        }
        lines.push(self.metadata_check().await);
        lines
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn batch_size(&self) -> usize {
        self.config.page_size
    }
}

/// KUNNR/PARNR in SAP's internal form: Gateway applies the ALPHA output conversion to
/// dictionary-bound properties, so "4711" arrives for "0000004711"; converted back (ALPHA
/// input), keys agree with the soap-rfc transport.
fn internal_key(number: &str) -> String {
    mlc_canonical::alpha_input(number, 10).unwrap_or_else(|| number.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoService;

    #[async_trait::async_trait]
    impl ODataFetch for NoService {
        async fn get(&self, _path: &str) -> Result<(u16, String), EccError> {
            Ok((404, String::new()))
        }
        fn endpoint(&self) -> String {
            "test".into()
        }
    }

    #[test]
    fn numbers_without_leading_zeros_become_internal_keys() {
        let config = mlc_config::parse("t.toml", mlc_config::TEMPLATE, &|_| Some("x".into()))
            .unwrap()
            .ecc;
        let source = ODataSource::new(Arc::new(NoService), &config, "odata").unwrap();
        let entity = |pairs: &[(&str, &str)]| -> Map<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect()
        };
        let customer = source.customer_of(&entity(&[("CustomerNumber", "4711"), ("Name1", "A")]));
        assert_eq!(customer.customer_number.as_str(), "0000004711");
        assert_eq!(customer.customer_number_display.as_str(), "4711");
        let external = source.customer_of(&entity(&[("CustomerNumber", "CPD00001")]));
        assert_eq!(external.customer_number.as_str(), "CPD00001");
        let contact = source.contact_of(&entity(&[("ContactNumber", "32")]));
        assert_eq!(contact.contact_number, "0000000032");
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(odata_literal("O'Brien"), "'O''Brien'");
        assert_eq!(
            encode("CustomerNumber eq 'A&B'"),
            "CustomerNumber%20eq%20'A%26B'"
        );
    }
}
