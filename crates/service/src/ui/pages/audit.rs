//! The audit trail searched by customer number, name, run, action and time, a page at a time,
//! and one customer's history with what was read, extracted and done.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use chrono::{DateTime, NaiveDateTime, Utc};
use mlc_canonical::{alpha_input, alpha_output};
use mlc_store::{Action, AuditQuery, EntityKind, StoreError};
use serde::Deserialize;

use super::{event_row, record_name, EventRow, PageResult};
use crate::ui::{html, message, Session, Ui};
use crate::ServiceState;

/// Audit events per page.
const AUDIT_PAGE: u32 = 50;
/// Events of one customer's history page.
const HISTORY_EVENTS: u32 = 200;
/// Organization events a name search looks through, newest first, and the most customers it
/// lists.
const NAME_SEARCH_EVENTS: u32 = 20_000;
const NAME_SEARCH_CUSTOMERS: usize = 50;

/// The audit form's fields as typed (empty fields are no filter).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditFilters {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    run: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    cursor: String,
}

impl AuditFilters {
    /// The store query the filters ask for, or what is wrong with one of them.
    fn query(&self) -> Result<AuditQuery, String> {
        let text = |value: &str| {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_string())
        };
        let customer_number = match text(&self.customer) {
            Some(number) => Some(alpha_input(&number, 10).ok_or_else(|| {
                format!("Customer number “{number}”: a customer number has at most 10 characters.")
            })?),
            None => None,
        };
        let run_id = match text(&self.run) {
            Some(run) => Some(
                run.parse::<i64>()
                    .map_err(|_| format!("Run “{run}”: a run is a number."))?,
            ),
            None => None,
        };
        let action =
            match text(&self.action) {
                Some(action) => Some(Action::parse(&action).ok_or_else(|| {
                    format!("Action “{action}”: not an action of the audit trail.")
                })?),
                None => None,
            };
        let before_id = match text(&self.cursor) {
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| format!("Page “{cursor}”: not a page of the audit trail."))?,
            ),
            None => None,
        };
        Ok(AuditQuery {
            connection: text(&self.connection),
            customer_number,
            run_id,
            action,
            kind: None,
            since: parse_time("From", &self.since)?,
            until: parse_time("Until", &self.until)?,
            before_id,
            after_id: None,
            limit: Some(AUDIT_PAGE),
        })
    }

    /// `/audit?…` with these filters and another page cursor.
    fn link(&self, cursor: Option<i64>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("customer", &self.customer),
            ("name", &self.name),
            ("run", &self.run),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
            ("connection", &self.connection),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(key, value.trim());
            }
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", &cursor.to_string());
        }
        format!("/audit?{}", query.finish())
    }
}

/// A time typed in the form (`datetime-local`, in UTC) or RFC 3339.
pub fn parse_time(label: &str, value: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|at| at.and_utc()));
    }
    Err(format!(
        "{label} “{value}”: give a time as 2026-12-03T08:30 (UTC)."
    ))
}

struct CustomerHit {
    display: String,
    name: String,
    connection: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    section: &'static str,
    csrf_token: String,
    filters: AuditFilters,
    actions: Vec<&'static str>,
    error: Option<String>,
    customers: Vec<CustomerHit>,
    events: Vec<EventRow>,
    first_link: Option<String>,
    next_link: Option<String>,
}

pub async fn audit(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Query(filters): Query<AuditFilters>,
) -> PageResult {
    let state = &ui.service;
    let mut page = AuditPage {
        section: "audit",
        csrf_token: session.csrf_token.clone(),
        filters: filters.clone(),
        actions: Action::ALL.iter().map(|action| action.as_str()).collect(),
        error: None,
        customers: Vec::new(),
        events: Vec::new(),
        first_link: None,
        next_link: None,
    };
    let query = match filters.query() {
        Ok(query) => query,
        Err(error) => {
            page.error = Some(error);
            return Ok(html(StatusCode::BAD_REQUEST, page.render()));
        }
    };
    let name = filters.name.trim();
    if !name.is_empty() {
        let (hits, searched_all) = customers_named(state, &query, name).await?;
        if hits.is_empty() {
            page.error = Some(format!(
                "No customer named like “{name}” in {} organization events.",
                if searched_all {
                    "the audit trail's".to_string()
                } else {
                    format!("the newest {NAME_SEARCH_EVENTS}")
                }
            ));
        }
        // The events shown are those of the customers found.
        if query.customer_number.is_none() && !hits.is_empty() {
            let mut events = Vec::new();
            for hit in hits.iter().take(10) {
                events.extend(
                    state
                        .store
                        .audit(&AuditQuery {
                            customer_number: alpha_input(&hit.display, 10),
                            connection: Some(hit.connection.clone()),
                            limit: Some(AUDIT_PAGE),
                            ..query.clone()
                        })
                        .await?,
                );
            }
            events.sort_by_key(|event| std::cmp::Reverse(event.id));
            events.truncate(AUDIT_PAGE as usize);
            page.events = events.iter().map(|event| event_row(state, event)).collect();
            page.customers = hits;
            return Ok(html(StatusCode::OK, page.render()));
        }
        page.customers = hits;
    }
    let events = state.store.audit(&query).await?;
    if events.len() as u32 == AUDIT_PAGE {
        page.next_link = events.last().map(|event| filters.link(Some(event.id)));
    }
    if query.before_id.is_some() {
        page.first_link = Some(filters.link(None));
    }
    page.events = events.iter().map(|event| event_row(state, event)).collect();
    Ok(html(StatusCode::OK, page.render()))
}

/// Customers whose organization events carry a name containing `fragment` (case-insensitive),
/// from the newest organization events within the other filters; whether the whole trail
/// was searched.
async fn customers_named(
    state: &ServiceState,
    query: &AuditQuery,
    fragment: &str,
) -> Result<(Vec<CustomerHit>, bool), StoreError> {
    let wanted = fragment.to_lowercase();
    let mut hits: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut before_id = None;
    let mut searched = 0u32;
    let page_size = 1_000u32;
    loop {
        let events = state
            .store
            .audit(&AuditQuery {
                kind: Some(EntityKind::Organization),
                before_id,
                limit: Some(page_size),
                ..query.clone()
            })
            .await?;
        searched += events.len() as u32;
        for event in &events {
            let name = record_name(&event.extracted);
            if name.to_lowercase().contains(&wanted) {
                hits.entry((event.connection.clone(), event.customer_number.clone()))
                    .or_insert(name);
            }
        }
        let done = (events.len() as u32) < page_size;
        if done || hits.len() >= NAME_SEARCH_CUSTOMERS || searched >= NAME_SEARCH_EVENTS {
            let hits = hits
                .into_iter()
                .take(NAME_SEARCH_CUSTOMERS)
                .map(|((connection, number), name)| CustomerHit {
                    display: alpha_output(&number),
                    name,
                    connection,
                })
                .collect();
            return Ok((hits, done));
        }
        before_id = events.last().map(|event| event.id);
    }
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    section: &'static str,
    csrf_token: String,
    customer_display: String,
    name: String,
    organization_link: Option<String>,
    events: Vec<EventRow>,
    truncated: bool,
}

/// One customer's history: every event of it and its contacts, newest first.
pub async fn customer(
    State(ui): State<Arc<Ui>>,
    Extension(session): Extension<Session>,
    Path(number): Path<String>,
) -> PageResult {
    let state = &ui.service;
    let Some(internal) = alpha_input(&number, 10).filter(|number| !number.is_empty()) else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            &session,
            "No such customer number",
            &format!("“{number}”: a customer number has 1 to 10 characters."),
        ));
    };
    let events = state
        .store
        .audit(&AuditQuery {
            customer_number: Some(internal.clone()),
            limit: Some(HISTORY_EVENTS),
            ..AuditQuery::default()
        })
        .await?;
    let organization_event = events
        .iter()
        .find(|event| event.kind == EntityKind::Organization);
    let name = organization_event
        .map(|event| record_name(&event.extracted))
        .unwrap_or_default();
    let organization_link = events
        .iter()
        .find(|event| event.kind == EntityKind::Organization && event.pipedrive_id.is_some())
        .and_then(|event| event_row(state, event).pipedrive_link);
    let page = CustomerPage {
        section: "audit",
        csrf_token: session.csrf_token.clone(),
        customer_display: alpha_output(&internal),
        name,
        organization_link,
        truncated: events.len() as u32 == HISTORY_EVENTS,
        events: events.iter().map(|event| event_row(state, event)).collect(),
    };
    Ok(html(StatusCode::OK, page.render()))
}
