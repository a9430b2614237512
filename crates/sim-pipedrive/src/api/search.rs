//! `/api/v2/organizations/search` and `/api/v2/persons/search`: case-insensitive matching on
//! name, address, e-mails, phones and searchable custom fields, through an index that lags
//! behind writes by `--search-lag-ms` (search is not read-your-writes).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::paging::{decode_cursor, encode_cursor, parse_limit};
use super::responses::{invalid_response, ok_with_cursor, query_map};
use crate::errors::validation_failed;
use crate::fields::{EntityKind, FieldSet};
use crate::model::{organization_search_text, person_search_text, SearchText, SearchVisibility};
use crate::state::Shared;
use crate::validate::{query_bool, query_integer};

struct SearchQuery {
    term: String,
    fields: Vec<String>,
    exact: bool,
    limit: usize,
    offset: usize,
}

fn parse_search(
    query: &HashMap<String, String>,
    allowed_fields: &[&str],
) -> Result<SearchQuery, Response> {
    let exact = query_bool("exact_match", query.get("exact_match").map(String::as_str))
        .map_err(invalid_response)?
        .unwrap_or(false);
    let Some(term) = query.get("term") else {
        return Err(validation_failed(
            "Validation failed: term: Parameter 'term' is required",
        ));
    };
    let term = term.trim().to_string();
    let minimum = if exact { 1 } else { 2 };
    if term.chars().count() < minimum {
        return Err(validation_failed(&format!(
            "Validation failed: term: Must be at least {minimum} characters long"
        )));
    }
    let mut fields = Vec::new();
    if let Some(list) = query.get("fields") {
        for name in list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if !allowed_fields.contains(&name) {
                return Err(validation_failed(&format!(
                    "Validation failed: fields: Must be one of {}",
                    allowed_fields.join(", ")
                )));
            }
            fields.push(name.to_string());
        }
    }
    let limit = parse_limit(query)?;
    let offset = match query.get("cursor") {
        Some(cursor) => decode_cursor(cursor, "search", "desc")?.1 as usize,
        None => 0,
    };
    Ok(SearchQuery {
        term,
        fields,
        exact,
        limit,
        offset,
    })
}

/// The text the index holds for a record right now, or `None` if the index has not seen it.
fn indexed_text(
    visibility: &SearchVisibility,
    now_ms: u64,
    current: impl FnOnce() -> SearchText,
) -> Option<SearchText> {
    if now_ms >= visibility.indexed_at_ms {
        return Some(current());
    }
    visibility.stale_text.as_deref().cloned()
}

/// 1.0 for an exact (case-insensitive) match, 0.5 for a partial one.
fn score(candidate: &str, term_lower: &str, exact: bool) -> Option<f64> {
    let candidate = candidate.to_lowercase();
    if candidate == term_lower {
        return Some(1.0);
    }
    if exact {
        return None;
    }
    if candidate.starts_with(term_lower) {
        return Some(0.8);
    }
    candidate.contains(term_lower).then_some(0.5)
}

fn best_score(
    text: &SearchText,
    query: &SearchQuery,
    searched: &dyn Fn(&str) -> bool,
) -> (Option<f64>, Vec<String>) {
    let term = query.term.to_lowercase();
    let mut best: Option<f64> = None;
    let mut keep = |found: Option<f64>| {
        if let Some(found) = found {
            best = Some(best.map_or(found, |best: f64| best.max(found)));
        }
    };
    if searched("name") {
        keep(score(&text.name, &term, query.exact));
    }
    if searched("address") {
        if let Some(address) = &text.address {
            keep(score(address, &term, query.exact));
        }
    }
    if searched("email") {
        for email in &text.emails {
            keep(score(email, &term, query.exact));
        }
    }
    if searched("phone") {
        for phone in &text.phones {
            keep(score(phone, &term, query.exact));
        }
    }
    let mut matched_custom = Vec::new();
    if searched("custom_fields") {
        for custom in &text.custom {
            let found = score(custom, &term, query.exact);
            if found.is_some() {
                matched_custom.push(custom.clone());
            }
            keep(found);
        }
    }
    (best, matched_custom)
}

fn page(mut hits: Vec<(f64, u64, Value)>, query: &SearchQuery) -> Response {
    hits.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    let total = hits.len();
    let items: Vec<Value> = hits
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|(score, _, item)| json!({"result_score": score, "item": item}))
        .collect();
    let next = (query.offset + query.limit < total)
        .then(|| encode_cursor("search", 0, "desc", (query.offset + query.limit) as u64));
    ok_with_cursor(json!({"items": items}), next)
}

pub(super) async fn search_organizations(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_map(&query);
    let search = match parse_search(&query, &["address", "custom_fields", "notes", "name"]) {
        Ok(search) => search,
        Err(response) => return response,
    };
    let searched =
        |field: &str| search.fields.is_empty() || search.fields.iter().any(|name| name == field);
    let now_ms = shared.now_ms();
    let store = shared.read();
    let fields: &FieldSet = store.fields(EntityKind::Organization);
    let mut hits = Vec::new();
    for org in store.live_organizations_in(..) {
        let Some(text) = indexed_text(&org.search, now_ms, || {
            organization_search_text(org, fields)
        }) else {
            continue;
        };
        let (best, custom) = best_score(&text, &search, &searched);
        if let Some(best) = best {
            hits.push((best, org.id, json!({
                "id": org.id, "type": "organization", "name": text.name, "address": text.address,
                "visible_to": org.visible_to, "owner": {"id": org.owner_id}, "custom_fields": custom, "notes": [],
            })));
        }
    }
    drop(store);
    page(hits, &search)
}

pub(super) async fn search_persons(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_map(&query);
    let search = match parse_search(
        &query,
        &["custom_fields", "email", "notes", "phone", "name"],
    ) {
        Ok(search) => search,
        Err(response) => return response,
    };
    let organization_id = match query_integer(
        "organization_id",
        query.get("organization_id").map(String::as_str),
    ) {
        Ok(id) => id,
        Err(invalid) => return invalid_response(invalid),
    };
    if let Some(include) = query.get("include_fields") {
        if include != "person.picture" {
            return validation_failed("Validation failed: include_fields: Must be person.picture");
        }
    }
    let searched =
        |field: &str| search.fields.is_empty() || search.fields.iter().any(|name| name == field);
    let now_ms = shared.now_ms();
    let store = shared.read();
    let fields: &FieldSet = store.fields(EntityKind::Person);
    let mut hits = Vec::new();
    for person in store.live_persons_in(..) {
        if organization_id.is_some() && person.org_id != organization_id {
            continue;
        }
        let Some(text) = indexed_text(&person.search, now_ms, || {
            person_search_text(person, fields)
        }) else {
            continue;
        };
        let (best, custom) = best_score(&text, &search, &searched);
        if let Some(best) = best {
            let organization = person
                .org_id
                .and_then(|org_id| store.organization(org_id))
                .map(|org| json!({"id": org.id, "name": org.name, "address": org.address.as_ref().and_then(|address| address.one_line())}));
            hits.push((best, person.id, json!({
                "id": person.id, "type": "person", "name": text.name, "phones": text.phones, "emails": text.emails,
                "visible_to": person.visible_to, "owner": {"id": person.owner_id}, "organization": organization,
                "custom_fields": custom, "notes": [],
            })));
        }
    }
    drop(store);
    page(hits, &search)
}

/// The value of one field of a record as field search sees it (`None`: not searchable).
fn field_text(standard: Option<&str>, custom: Option<&Value>) -> Option<Vec<String>> {
    if let Some(text) = standard {
        return Some(vec![text.to_string()]);
    }
    match custom? {
        Value::String(text) => Some(vec![text.clone()]),
        Value::Number(number) => Some(vec![number.to_string()]),
        Value::Object(map) => map.get("value").map(|value| match value {
            Value::String(text) => vec![text.clone()],
            other => vec![other.to_string()],
        }),
        _ => None,
    }
}

fn field_matches(candidate: &str, term: &str, mode: &str) -> bool {
    match mode {
        "beginning" => candidate.starts_with(term),
        "middle" => candidate.contains(term),
        _ => candidate == term,
    }
}

/// `GET /api/v2/itemSearch/field`: one field of one entity type; case-sensitive (SPEC-v2);
/// answers `[{id, name}]` as the document's example shows.
pub(super) async fn search_by_field(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_map(&query);
    let mode = match query.get("match").map(String::as_str) {
        None | Some("exact") => "exact",
        Some("beginning") => "beginning",
        Some("middle") => "middle",
        Some(_) => {
            return validation_failed(
                "Validation failed: match: Must be one of exact, beginning, middle",
            )
        }
    };
    let Some(term) = query.get("term").cloned() else {
        return validation_failed("Validation failed: term: Parameter 'term' is required");
    };
    let minimum = if mode == "exact" { 1 } else { 2 };
    if term.chars().count() < minimum {
        return validation_failed(&format!(
            "Validation failed: term: Must be at least {minimum} characters long"
        ));
    }
    let entity = match query.get("entity_type").map(String::as_str) {
        Some(entity @ ("organization" | "person")) => entity.to_string(),
        Some("deal" | "lead" | "product" | "project") => String::new(),
        Some(_) => return validation_failed("Validation failed: entity_type: Must be one of deal, lead, person, organization, product, project"),
        None => return validation_failed("Validation failed: entity_type: Parameter 'entity_type' is required"),
    };
    let Some(field_key) = query.get("field").cloned() else {
        return validation_failed("Validation failed: field: Parameter 'field' is required");
    };
    let limit = match parse_limit(&query) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let offset = match query.get("cursor") {
        Some(cursor) => match decode_cursor(cursor, "field_search", "asc") {
            Ok((_, offset)) => offset as usize,
            Err(response) => return response,
        },
        None => 0,
    };
    let now_ms = shared.now_ms();
    let store = shared.read();
    let mut found: Vec<(u64, String)> = Vec::new();
    let not_yet_indexed = |visibility: &SearchVisibility| {
        now_ms < visibility.indexed_at_ms && visibility.stale_text.is_none()
    };
    match entity.as_str() {
        "organization" => {
            let fields = store.fields(EntityKind::Organization);
            let Some(index) = fields.index_of_key(&field_key) else {
                return validation_failed(&format!(
                    "Validation failed: field: Field '{field_key}' does not exist"
                ));
            };
            for org in store
                .live_organizations_in(..)
                .filter(|org| !not_yet_indexed(&org.search))
            {
                let standard = match field_key.as_str() {
                    "name" => Some(org.name.clone()),
                    "address" => org.address.as_ref().and_then(|address| address.one_line()),
                    _ => None,
                };
                let custom = org
                    .custom_fields
                    .iter()
                    .find(|(field, _)| *field == index)
                    .map(|(_, value)| value);
                if field_text(standard.as_deref(), custom)
                    .is_some_and(|texts| texts.iter().any(|text| field_matches(text, &term, mode)))
                {
                    found.push((org.id, org.name.clone()));
                }
            }
        }
        "person" => {
            let fields = store.fields(EntityKind::Person);
            let Some(index) = fields.index_of_key(&field_key) else {
                return validation_failed(&format!(
                    "Validation failed: field: Field '{field_key}' does not exist"
                ));
            };
            for person in store
                .live_persons_in(..)
                .filter(|person| !not_yet_indexed(&person.search))
            {
                let texts = match field_key.as_str() {
                    "name" => Some(vec![person.name.clone()]),
                    "emails" => Some(
                        person
                            .emails
                            .iter()
                            .map(|email| email.value.clone())
                            .collect(),
                    ),
                    "phones" => Some(
                        person
                            .phones
                            .iter()
                            .map(|phone| phone.value.clone())
                            .collect(),
                    ),
                    _ => field_text(
                        None,
                        person
                            .custom_fields
                            .iter()
                            .find(|(field, _)| *field == index)
                            .map(|(_, value)| value),
                    ),
                };
                if texts
                    .is_some_and(|texts| texts.iter().any(|text| field_matches(text, &term, mode)))
                {
                    found.push((person.id, person.name.clone()));
                }
            }
        }
        _ => {}
    }
    drop(store);
    let total = found.len();
    let items: Vec<Value> = found
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let next = (offset + limit < total)
        .then(|| encode_cursor("field_search", 0, "asc", (offset + limit) as u64));
    ok_with_cursor(Value::Array(items), next)
}
