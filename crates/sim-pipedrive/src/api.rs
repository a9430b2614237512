//! The routes: API v2 organizations and persons, their search and fields, the v1 fields,
//! merge, users/me and webhooks, OAuth, and the `/_sim` admin endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::errors::{
    self, json_response, not_found, v2_error, validation_failed, webhook_error, ERROR_INFO,
};
use crate::fields::{field_v1_json, field_v2_json, EntityKind, FieldIncludes, CREATABLE_TYPES};
use crate::model::{CustomSelection, OrganizationView, PersonView, Render};
use crate::state::{now_secs, OpError, Shared};
use crate::validate::{parse_time, query_bool, query_integer, Invalid};
use crate::webhooks::ChangeSource;

pub fn router(shared: Arc<Shared>) -> Router {
    let gate = axum::middleware::from_fn_with_state(shared.clone(), crate::gate::api_gate);
    let api = Router::new()
        .route(
            "/api/v2/organizations",
            get(list_organizations).post(create_organization),
        )
        .route(
            "/api/v2/organizations/search",
            get(crate::search::search_organizations),
        )
        .route(
            "/api/v2/organizations/{id}",
            get(get_organization)
                .patch(update_organization)
                .delete(delete_organization),
        )
        .route("/api/v2/persons", get(list_persons).post(create_person))
        .route("/api/v2/persons/search", get(crate::search::search_persons))
        .route(
            "/api/v2/itemSearch/field",
            get(crate::search::search_by_field),
        )
        .route(
            "/api/v2/persons/{id}",
            get(get_person).patch(update_person).delete(delete_person),
        )
        .route(
            "/api/v2/organizationFields",
            get(list_fields_v2_org).post(add_field_v2_org),
        )
        .route(
            "/api/v2/organizationFields/{field_code}",
            get(get_field_v2_org)
                .patch(update_field_v2_org)
                .delete(delete_field_v2_org),
        )
        .route(
            "/api/v2/organizationFields/{field_code}/options",
            axum::routing::post(add_options_org)
                .patch(update_options_org)
                .delete(delete_options_org),
        )
        .route(
            "/api/v2/personFields",
            get(list_fields_v2_person).post(add_field_v2_person),
        )
        .route(
            "/api/v2/personFields/{field_code}",
            get(get_field_v2_person)
                .patch(update_field_v2_person)
                .delete(delete_field_v2_person),
        )
        .route(
            "/api/v2/personFields/{field_code}/options",
            axum::routing::post(add_options_person)
                .patch(update_options_person)
                .delete(delete_options_person),
        );
    let mut v1 = Router::new();
    for prefix in ["/v1", "/api/v1"] {
        v1 = v1
            .route(
                &format!("{prefix}/organizationFields"),
                get(list_fields_v1_org)
                    .post(add_field_v1_org)
                    .delete(bulk_delete_fields_v1_org),
            )
            .route(
                &format!("{prefix}/organizationFields/{{id}}"),
                get(get_field_v1_org)
                    .put(update_field_v1_org)
                    .delete(delete_field_v1_org),
            )
            .route(
                &format!("{prefix}/personFields"),
                get(list_fields_v1_person)
                    .post(add_field_v1_person)
                    .delete(bulk_delete_fields_v1_person),
            )
            .route(
                &format!("{prefix}/personFields/{{id}}"),
                get(get_field_v1_person)
                    .put(update_field_v1_person)
                    .delete(delete_field_v1_person),
            )
            .route(
                &format!("{prefix}/organizations/{{id}}/merge"),
                put(merge_organizations),
            )
            .route(
                &format!("{prefix}/persons/{{id}}/merge"),
                put(merge_persons),
            )
            .route(&format!("{prefix}/users/me"), get(users_me))
            .route(
                &format!("{prefix}/webhooks"),
                get(list_webhooks).post(add_webhook),
            )
            .route(
                &format!("{prefix}/webhooks/{{id}}"),
                axum::routing::delete(delete_webhook),
            );
    }
    let gated = api
        .merge(v1)
        .route_layer(gate)
        .method_not_allowed_fallback(method_not_allowed);
    let counted = axum::middleware::from_fn_with_state(shared.clone(), count_plain);
    let plain = Router::new()
        .route("/oauth/authorize", get(crate::oauth::authorize))
        .route("/oauth/token", axum::routing::post(crate::oauth::token))
        .route("/oauth/token/", axum::routing::post(crate::oauth::token))
        .route("/_sim/stats", get(crate::admin::stats))
        .route(
            "/_sim/faults",
            get(crate::admin::get_faults).post(crate::admin::set_faults),
        )
        .route(
            "/_sim/ui-edit",
            axum::routing::post(crate::admin::ui_edit_handler),
        )
        .route("/_sim/reset", axum::routing::post(crate::admin::reset))
        .route_layer(counted);
    gated.merge(plain).fallback(fallback).with_state(shared)
}

/// Counts OAuth and admin requests in the stats (they pass no gate).
async fn count_plain(
    State(shared): State<Arc<Shared>>,
    matched: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let route = matched
        .map(|matched| matched.as_str().to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    if !route.starts_with("/_sim") {
        shared.record_request(&method, &route, response.status().as_u16());
    }
    response
}

async fn method_not_allowed() -> Response {
    v2_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "ERR_METHOD_NOT_ALLOWED",
    )
}

/// Unknown paths. `/v2/...` without `/api` answers HTML, as the real service does.
async fn fallback(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    shared.record_request(method.as_str(), "unmatched", 404);
    if uri.path().starts_with("/v2/") {
        let mut response = (StatusCode::NOT_FOUND, "<!DOCTYPE html><html><head><title>Pipedrive</title></head><body><h1>Page not found</h1></body></html>").into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return response;
    }
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"success": false, "error": "Unknown method .", "error_info": ERROR_INFO, "data": null, "additional_data": null}),
    )
}

// ----- small helpers -----

pub fn query_map(query: &Option<String>) -> HashMap<String, String> {
    query
        .as_deref()
        .map(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_id(text: &str) -> Result<u64, Response> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| validation_failed("Validation failed: id: Expected 'integer'"))
}

pub fn invalid_response(invalid: Invalid) -> Response {
    validation_failed(&invalid.0)
}

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(validation_failed(
            "Validation failed: body: Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|_| validation_failed("Validation failed: body: Invalid JSON"))
}

pub fn ok(data: Value) -> Response {
    json_response(StatusCode::OK, &json!({"success": true, "data": data}))
}

pub fn ok_with_cursor(data: Value, next_cursor: Option<String>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}}),
    )
}

fn op_error_response(error: OpError) -> Response {
    match error {
        OpError::Invalid(message) => validation_failed(&message),
        OpError::NotFound(entity) => not_found(entity),
    }
}

pub fn parse_limit(query: &HashMap<String, String>) -> Result<usize, Response> {
    let limit =
        query_integer("limit", query.get("limit").map(String::as_str)).map_err(invalid_response)?;
    match limit {
        None => Ok(100),
        Some(limit) if (1..=500).contains(&limit) => Ok(limit as usize),
        Some(_) => Err(validation_failed(
            "Validation failed: limit: Must be between 1 and 500",
        )),
    }
}

/// The opaque cursor: base64url of `{"field","fieldValue","sortDirection","id"}` like Pipedrive's.
pub fn encode_cursor(field: &str, value: i64, direction: &str, id: u64) -> String {
    let text = json!({"field": field, "fieldValue": value, "sortDirection": direction, "id": id})
        .to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

pub fn decode_cursor(cursor: &str, field: &str, direction: &str) -> Result<(i64, u64), Response> {
    let bad = || validation_failed("Validation failed: cursor: Invalid cursor");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value["field"] != field || value["sortDirection"] != direction {
        return Err(validation_failed(
            "Validation failed: cursor: The cursor does not match sort_by and sort_direction",
        ));
    }
    let field_value = value["fieldValue"].as_i64().ok_or_else(bad)?;
    let id = value["id"].as_u64().ok_or_else(bad)?;
    Ok((field_value, id))
}

// ----- organizations and persons -----

struct ListQuery {
    limit: usize,
    sort_by: &'static str,
    descending: bool,
    after: Option<(i64, u64)>,
    owner_id: Option<u64>,
    org_id: Option<u64>,
    ids: Option<Vec<u64>>,
    updated_since: Option<i64>,
    updated_until: Option<i64>,
    custom: Option<Vec<u32>>,
    option_labels: bool,
    include_fields: Vec<String>,
}

const ORGANIZATION_INCLUDE_FIELDS: [&str; 19] = [
    "next_activity_id",
    "last_activity_id",
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "email_messages_count",
    "people_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "smart_bcc_email",
];

const PERSON_INCLUDE_FIELDS: [&str; 22] = [
    "next_activity_id",
    "last_activity_id",
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "participant_open_deals_count",
    "participant_closed_deals_count",
    "email_messages_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
    "marketing_status",
];

fn parse_custom_selection(
    query: &HashMap<String, String>,
    shared: &Shared,
    kind: EntityKind,
) -> Result<Option<Vec<u32>>, Response> {
    let Some(list) = query.get("custom_fields") else {
        return Ok(None);
    };
    let keys: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .collect();
    if keys.len() > 15 {
        return Err(validation_failed(
            "Validation failed: custom_fields: A maximum of 15 keys is allowed",
        ));
    }
    let store = shared.read();
    let fields = store.fields(kind);
    let mut indexes = Vec::with_capacity(keys.len());
    for key in keys {
        match fields
            .index_of_key(key)
            .filter(|index| fields.get(*index).is_some_and(|field| field.is_custom))
        {
            Some(index) => indexes.push(index),
            None => {
                return Err(validation_failed(&format!(
                    "Validation failed: custom_fields: Custom field '{key}' does not exist"
                )))
            }
        }
    }
    Ok(Some(indexes))
}

fn parse_include_fields(
    query: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Vec<String>, Response> {
    let Some(list) = query.get("include_fields") else {
        return Ok(Vec::new());
    };
    let mut fields = Vec::new();
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if !allowed.contains(&name) {
            return Err(validation_failed(&format!(
                "Validation failed: include_fields: '{name}' is not allowed"
            )));
        }
        fields.push(name.to_string());
    }
    Ok(fields)
}

fn parse_list_query(
    query: &HashMap<String, String>,
    shared: &Shared,
    kind: EntityKind,
) -> Result<ListQuery, Response> {
    let limit = parse_limit(query)?;
    let sort_by = match query.get("sort_by").map(String::as_str) {
        None | Some("id") => "id",
        Some("update_time") => "update_time",
        Some("add_time") => "add_time",
        Some(_) => {
            return Err(validation_failed(
                "Validation failed: sort_by: Must be one of id, update_time, add_time",
            ))
        }
    };
    let descending = match query.get("sort_direction").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(validation_failed(
                "Validation failed: sort_direction: Must be one of asc, desc",
            ))
        }
    };
    let after = match query.get("cursor") {
        Some(cursor) => Some(decode_cursor(
            cursor,
            sort_by,
            if descending { "desc" } else { "asc" },
        )?),
        None => None,
    };
    let owner_id = query_integer("owner_id", query.get("owner_id").map(String::as_str))
        .map_err(invalid_response)?;
    let org_id = if kind == EntityKind::Person {
        query_integer("org_id", query.get("org_id").map(String::as_str))
            .map_err(invalid_response)?
    } else {
        None
    };
    let ids = match query.get("ids") {
        None => None,
        Some(list) => {
            let mut ids = Vec::new();
            for part in list
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
            {
                ids.push(part.parse::<u64>().map_err(|_| {
                    validation_failed("Validation failed: ids: Expected comma separated integers")
                })?);
            }
            if ids.len() > 100 {
                return Err(validation_failed(
                    "Validation failed: ids: A maximum of 100 ids is allowed",
                ));
            }
            Some(ids)
        }
    };
    let updated_since = query
        .get("updated_since")
        .map(|text| parse_time("updated_since", text))
        .transpose()
        .map_err(invalid_response)?;
    let updated_until = query
        .get("updated_until")
        .map(|text| parse_time("updated_until", text))
        .transpose()
        .map_err(invalid_response)?;
    let option_labels = query_bool(
        "include_option_labels",
        query.get("include_option_labels").map(String::as_str),
    )
    .map_err(invalid_response)?
    .unwrap_or(false);
    query_bool(
        "include_labels",
        query.get("include_labels").map(String::as_str),
    )
    .map_err(invalid_response)?;
    let allowed: &[&str] = match kind {
        EntityKind::Organization => &ORGANIZATION_INCLUDE_FIELDS,
        EntityKind::Person => &PERSON_INCLUDE_FIELDS,
    };
    let include_fields = parse_include_fields(query, allowed)?;
    let custom = parse_custom_selection(query, shared, kind)?;
    if query.contains_key("filter_id") {
        query_integer("filter_id", query.get("filter_id").map(String::as_str))
            .map_err(invalid_response)?;
        return Err(v2_error(
            StatusCode::NOT_FOUND,
            "Filter not found",
            "ERR_NOT_FOUND",
        ));
    }
    if kind == EntityKind::Person && query.contains_key("deal_id") {
        query_integer("deal_id", query.get("deal_id").map(String::as_str))
            .map_err(invalid_response)?;
    }
    Ok(ListQuery {
        limit,
        sort_by,
        descending,
        after,
        owner_id,
        org_id,
        ids,
        updated_since,
        updated_until,
        custom,
        option_labels,
        include_fields,
    })
}

/// Common to both entities: which records a list page holds.
struct Row {
    id: u64,
    owner_id: u64,
    org_id: Option<u64>,
    add_time: i64,
    update_time: i64,
}

type RowRange = (std::ops::Bound<u64>, std::ops::Bound<u64>);

/// Picks one page. `rows_in` yields the live records of an id range in ascending id order; with
/// `sort_by=id` only the page itself is visited, so paging through a large store stays cheap.
fn select_page<I>(
    rows_in: impl Fn(RowRange) -> I,
    list: &ListQuery,
    deal_filter: bool,
) -> (Vec<u64>, Option<String>)
where
    I: DoubleEndedIterator<Item = Row>,
{
    use std::ops::Bound::{Excluded, Unbounded};
    let keep = |row: &Row| -> bool {
        !deal_filter
            && list.owner_id.is_none_or(|owner| row.owner_id == owner)
            && list.org_id.is_none_or(|org| row.org_id == Some(org))
            && list.ids.as_ref().is_none_or(|ids| ids.contains(&row.id))
            && list
                .updated_since
                .is_none_or(|since| row.update_time >= since)
            && list
                .updated_until
                .is_none_or(|until| row.update_time < until)
    };
    let direction = if list.descending { "desc" } else { "asc" };
    let mut page: Vec<(i64, u64)> = if list.sort_by == "id" {
        let after = list.after.map(|(_, id)| id);
        let take = list.limit + 1;
        if list.descending {
            let range = (Unbounded, after.map_or(Unbounded, Excluded));
            rows_in(range)
                .rev()
                .filter(|row| keep(row))
                .map(|row| (row.id as i64, row.id))
                .take(take)
                .collect()
        } else {
            let range = (after.map_or(Unbounded, Excluded), Unbounded);
            rows_in(range)
                .filter(|row| keep(row))
                .map(|row| (row.id as i64, row.id))
                .take(take)
                .collect()
        }
    } else {
        let key_of = |row: &Row| -> i64 {
            if list.sort_by == "update_time" {
                row.update_time
            } else {
                row.add_time
            }
        };
        let mut keyed: Vec<(i64, u64)> = rows_in((Unbounded, Unbounded))
            .filter(|row| keep(row))
            .map(|row| (key_of(&row), row.id))
            .collect();
        keyed.sort_unstable();
        if list.descending {
            keyed.reverse();
        }
        let start = match list.after {
            None => 0,
            Some(after) => keyed.partition_point(|item| {
                if list.descending {
                    *item >= after
                } else {
                    *item <= after
                }
            }),
        };
        keyed.into_iter().skip(start).take(list.limit + 1).collect()
    };
    let more = page.len() > list.limit;
    page.truncate(list.limit);
    let next = if more {
        page.last()
            .map(|(value, id)| encode_cursor(list.sort_by, *value, direction, *id))
    } else {
        None
    };
    (page.into_iter().map(|(_, id)| id).collect(), next)
}

fn organization_extras(id: u64, include: &[String], people_count: u64) -> Vec<(String, Value)> {
    include
        .iter()
        .map(|name| {
            let value = match name.as_str() {
                "people_count" => json!(people_count),
                "next_activity_id" | "last_activity_id" => Value::Null,
                "smart_bcc_email" => json!(format!("sim+org{id}@pipedrivemail.com")),
                _ => json!(0),
            };
            (name.clone(), value)
        })
        .collect()
}

fn person_extras(include: &[String]) -> Vec<(String, Value)> {
    include
        .iter()
        .map(|name| {
            let value = match name.as_str() {
                "next_activity_id"
                | "last_activity_id"
                | "last_incoming_mail_time"
                | "last_outgoing_mail_time" => Value::Null,
                "marketing_status" => json!("no_consent"),
                _ => json!(0),
            };
            (name.clone(), value)
        })
        .collect()
}

fn people_count(store: &crate::state::Store, org_id: u64) -> u64 {
    store
        .persons
        .values()
        .filter(|person| !person.is_deleted && person.org_id == Some(org_id))
        .count() as u64
}

/// `{success, data, additional_data:{next_cursor}}` serialized straight from borrowed views.
fn ok_page<T: serde::Serialize>(data: &[T], next_cursor: Option<String>) -> Response {
    #[derive(serde::Serialize)]
    struct Page<'a, T> {
        success: bool,
        data: &'a [T],
        additional_data: Cursor,
    }
    #[derive(serde::Serialize)]
    struct Cursor {
        next_cursor: Option<String>,
    }
    let page = Page {
        success: true,
        data,
        additional_data: Cursor { next_cursor },
    };
    bytes_response(serde_json::to_vec(&page).unwrap_or_default())
}

fn ok_one<T: serde::Serialize>(data: &T) -> Response {
    #[derive(serde::Serialize)]
    struct One<'a, T> {
        success: bool,
        data: &'a T,
    }
    bytes_response(
        serde_json::to_vec(&One {
            success: true,
            data,
        })
        .unwrap_or_default(),
    )
}

fn bytes_response(bytes: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

async fn list_organizations(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_map(&query);
    let list = match parse_list_query(&query, &shared, EntityKind::Organization) {
        Ok(list) => list,
        Err(response) => return response,
    };
    let store = shared.read();
    let rows_in = |range: RowRange| {
        store
            .organizations
            .range(range)
            .map(|(_, org)| org)
            .filter(|org| !org.is_deleted)
            .map(|org| Row {
                id: org.id,
                owner_id: org.owner_id,
                org_id: None,
                add_time: org.add_time,
                update_time: org.update_time,
            })
    };
    let (ids, next) = select_page(rows_in, &list, false);
    let render = Render {
        custom: list
            .custom
            .as_deref()
            .map_or(CustomSelection::All, CustomSelection::Only),
        option_labels: list.option_labels,
    };
    let wants_people = list
        .include_fields
        .iter()
        .any(|name| name == "people_count");
    let data: Vec<OrganizationView> = ids
        .iter()
        .filter_map(|id| store.organizations.get(id))
        .map(|org| OrganizationView {
            org,
            fields: &store.organization_fields,
            render,
            extras: if list.include_fields.is_empty() {
                Vec::new()
            } else {
                organization_extras(
                    org.id,
                    &list.include_fields,
                    if wants_people {
                        people_count(&store, org.id)
                    } else {
                        0
                    },
                )
            },
        })
        .collect();
    ok_page(&data, next)
}

async fn list_persons(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = query_map(&query);
    let list = match parse_list_query(&query, &shared, EntityKind::Person) {
        Ok(list) => list,
        Err(response) => return response,
    };
    // No deals exist in the simulator, so a deal filter finds nobody.
    let deal_filter = query.contains_key("deal_id");
    let store = shared.read();
    let rows_in = |range: RowRange| {
        store
            .persons
            .range(range)
            .map(|(_, person)| person)
            .filter(|person| !person.is_deleted)
            .map(|person| Row {
                id: person.id,
                owner_id: person.owner_id,
                org_id: person.org_id,
                add_time: person.add_time,
                update_time: person.update_time,
            })
    };
    let (ids, next) = select_page(rows_in, &list, deal_filter);
    let render = Render {
        custom: list
            .custom
            .as_deref()
            .map_or(CustomSelection::All, CustomSelection::Only),
        option_labels: list.option_labels,
    };
    let data: Vec<PersonView> = ids
        .iter()
        .filter_map(|id| store.persons.get(id))
        .map(|person| PersonView {
            person,
            fields: &store.person_fields,
            render,
            extras: person_extras(&list.include_fields),
        })
        .collect();
    ok_page(&data, next)
}

/// Custom field selection, option labels, include_fields of a single-record answer.
type SingleRender = (Option<Vec<u32>>, bool, Vec<String>);

fn single_render_query(
    query: &HashMap<String, String>,
    shared: &Shared,
    kind: EntityKind,
    allowed: &[&str],
) -> Result<SingleRender, Response> {
    let custom = parse_custom_selection(query, shared, kind)?;
    let option_labels = query_bool(
        "include_option_labels",
        query.get("include_option_labels").map(String::as_str),
    )
    .map_err(invalid_response)?
    .unwrap_or(false);
    query_bool(
        "include_labels",
        query.get("include_labels").map(String::as_str),
    )
    .map_err(invalid_response)?;
    let include = parse_include_fields(query, allowed)?;
    Ok((custom, option_labels, include))
}

async fn get_organization(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let query = query_map(&query);
    let (custom, option_labels, include) = match single_render_query(
        &query,
        &shared,
        EntityKind::Organization,
        &ORGANIZATION_INCLUDE_FIELDS,
    ) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let store = shared.read();
    // A deleted organization is still shown, with is_deleted: true, until it is purged.
    let Some(org) = store.organizations.get(&id) else {
        return not_found("Organization");
    };
    let render = Render {
        custom: custom
            .as_deref()
            .map_or(CustomSelection::All, CustomSelection::Only),
        option_labels,
    };
    let view = OrganizationView {
        org,
        fields: &store.organization_fields,
        render,
        extras: organization_extras(id, &include, people_count(&store, id)),
    };
    ok_one(&view)
}

async fn get_person(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let query = query_map(&query);
    let (custom, option_labels, include) =
        match single_render_query(&query, &shared, EntityKind::Person, &PERSON_INCLUDE_FIELDS) {
            Ok(parts) => parts,
            Err(response) => return response,
        };
    let store = shared.read();
    let Some(person) = store.persons.get(&id) else {
        return not_found("Person");
    };
    let render = Render {
        custom: custom
            .as_deref()
            .map_or(CustomSelection::All, CustomSelection::Only),
        option_labels,
    };
    let view = PersonView {
        person,
        fields: &store.person_fields,
        render,
        extras: person_extras(&include),
    };
    ok_one(&view)
}

async fn create_organization(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match shared.create_organization(&body, ChangeSource::Api) {
        Ok(data) => ok(data),
        Err(error) => op_error_response(error),
    }
}

async fn update_organization(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match shared.update_organization(id, &body, ChangeSource::Api) {
        Ok(data) => ok(data),
        Err(error) => op_error_response(error),
    }
}

async fn delete_organization(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match shared.delete_organization(id, ChangeSource::Api) {
        Ok(()) => ok(json!({"id": id})),
        Err(error) => op_error_response(error),
    }
}

async fn create_person(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match shared.create_person(&body, ChangeSource::Api) {
        Ok(data) => ok(data),
        Err(error) => op_error_response(error),
    }
}

async fn update_person(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match shared.update_person(id, &body, ChangeSource::Api) {
        Ok(data) => ok(data),
        Err(error) => op_error_response(error),
    }
}

async fn delete_person(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match shared.delete_person(id, ChangeSource::Api) {
        Ok(()) => ok(json!({"id": id})),
        Err(error) => op_error_response(error),
    }
}

// ----- merge (v1) -----

fn v1_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"success": false, "error": message, "error_info": ERROR_INFO, "data": null, "additional_data": null}),
    )
}

fn merge_with_id(headers: &HeaderMap, body: &Bytes) -> Result<u64, Response> {
    let body = json_body(headers, body)?;
    match body.get("merge_with_id") {
        Some(Value::Number(number)) if number.is_u64() => Ok(number.as_u64().unwrap_or_default()),
        Some(_) => Err(v1_error(
            StatusCode::BAD_REQUEST,
            "merge_with_id must be an integer",
        )),
        None => Err(v1_error(
            StatusCode::BAD_REQUEST,
            "merge_with_id is required",
        )),
    }
}

fn merge_error(error: OpError, entity: &str) -> Response {
    match error {
        OpError::Invalid(message) => v1_error(StatusCode::BAD_REQUEST, &message),
        OpError::NotFound(_) => v1_error(StatusCode::NOT_FOUND, &format!("{entity} not found")),
    }
}

async fn merge_organizations(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let into = match merge_with_id(&headers, &body) {
        Ok(into) => into,
        Err(response) => return response,
    };
    match shared.merge_organizations(id, into, ChangeSource::Api) {
        Ok(survivor) => ok(json!({"id": survivor})),
        Err(error) => merge_error(error, "Organization"),
    }
}

fn v1_time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

async fn merge_persons(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let into = match merge_with_id(&headers, &body) {
        Ok(into) => into,
        Err(response) => return response,
    };
    let person = match shared.merge_persons(id, into, ChangeSource::Api) {
        Ok(person) => person,
        Err(error) => return merge_error(error, "Person"),
    };
    let org_name = person.org_id.and_then(|org_id| {
        shared
            .read()
            .organizations
            .get(&org_id)
            .map(|org| org.name.clone())
    });
    let (first_name, last_name) = person.first_last();
    let contact = |values: &Vec<crate::model::ContactValue>| -> Value {
        Value::Array(values.iter().map(|value| json!({"value": value.value, "primary": value.primary, "label": value.label})).collect())
    };
    let mut data = json!({
        "id": person.id, "company_id": shared.company_id, "owner_id": person.owner_id,
        "name": person.name, "first_name": first_name, "last_name": if last_name.is_empty() { Value::Null } else { json!(last_name) },
        "active_flag": true, "phone": contact(&person.phones), "email": contact(&person.emails),
        "first_char": person.name.chars().next().map(|c| c.to_lowercase().to_string()).unwrap_or_default(),
        "add_time": v1_time(person.add_time), "update_time": v1_time(person.update_time),
        "visible_to": person.visible_to.to_string(), "picture_id": null, "label": null, "label_ids": person.label_ids,
        "org_name": org_name, "owner_name": format!("Sim User {}", person.owner_id), "cc_email": null,
        "open_deals_count": 0, "related_open_deals_count": 0, "closed_deals_count": 0, "related_closed_deals_count": 0,
        "participant_open_deals_count": 0, "participant_closed_deals_count": 0, "email_messages_count": 0,
        "activities_count": 0, "done_activities_count": 0, "undone_activities_count": 0, "files_count": 0,
        "notes_count": 0, "followers_count": 1, "won_deals_count": 0, "related_won_deals_count": 0,
        "lost_deals_count": 0, "related_lost_deals_count": 0, "next_activity_date": null, "next_activity_time": null,
        "next_activity_id": null, "last_activity_id": null, "last_activity_date": null,
        "last_incoming_mail_time": null, "last_outgoing_mail_time": null, "merge_what_id": id,
    });
    if let Some(org_id) = person.org_id {
        data["org_id"] = json!(org_id);
    }
    ok(data)
}

// ----- users/me -----

async fn users_me(State(shared): State<Arc<Shared>>) -> Response {
    ok(json!({
        "id": 1, "name": "Sim Admin", "default_currency": "EUR", "locale": "en_US", "lang": 1,
        "email": "admin@sim-company.example", "phone": null, "activated": true,
        "last_login": v1_time(now_secs()), "created": "2020-01-01 00:00:00", "modified": null,
        "has_created_company": true,
        "access": [{"app": "sales", "admin": true, "permission_set_id": "00000000-0000-4000-8000-000000000001"},
                   {"app": "global", "admin": true, "permission_set_id": "00000000-0000-4000-8000-000000000002"}],
        "active_flag": true, "timezone_name": shared.options.timezone, "timezone_offset": "+02:00", "role_id": 1,
        "icon_url": null, "is_you": true, "is_deleted": false,
        "company_id": shared.company_id, "company_name": "Sim Company", "company_domain": "sim-company",
        "company_country": "DE", "company_industry": "Manufacturing",
        "language": {"language_code": "en", "country_code": "US"},
    }))
}

// ----- webhooks (v1) -----

async fn list_webhooks(State(shared): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status": "ok", "success": true, "data": shared.webhooks.list()}),
    )
}

async fn add_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return webhook_error(StatusCode::BAD_REQUEST, "body", "must be a JSON object"),
        Err(response) => return response,
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    for key in body.keys() {
        if ![
            "subscription_url",
            "event_action",
            "event_object",
            "name",
            "user_id",
            "http_auth_user",
            "http_auth_password",
            "version",
        ]
        .contains(&key.as_str())
        {
            return webhook_error(StatusCode::BAD_REQUEST, key, "is not allowed");
        }
    }
    let Some(url) = text("subscription_url").filter(|url| {
        url::Url::parse(url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
    }) else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "subscription_url",
            "invalid or non-reachable URL",
        );
    };
    let Some(action) = text("event_action")
        .filter(|action| ["create", "change", "delete", "*"].contains(&action.as_str()))
    else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "event_action",
            "must be one of create, change, delete, *",
        );
    };
    let objects = [
        "activity",
        "deal",
        "lead",
        "note",
        "organization",
        "person",
        "pipeline",
        "product",
        "stage",
        "user",
        "*",
    ];
    let Some(object) = text("event_object").filter(|object| objects.contains(&object.as_str()))
    else {
        return webhook_error(StatusCode::BAD_REQUEST, "event_object", "must be one of activity, deal, lead, note, organization, person, pipeline, product, stage, user, *");
    };
    let Some(name) = text("name").filter(|name| !name.is_empty() && name.chars().count() <= 255)
    else {
        return webhook_error(
            StatusCode::BAD_REQUEST,
            "name",
            "is required (at most 255 characters)",
        );
    };
    let user_id = match body.get("user_id") {
        None => 1,
        Some(value) => match value
            .as_u64()
            .filter(|id| (1..=u64::from(shared.seats)).contains(id))
        {
            Some(id) => id,
            None => {
                return webhook_error(
                    StatusCode::BAD_REQUEST,
                    "user_id",
                    "must be the id of a user of this company",
                )
            }
        },
    };
    let optional_text = |key: &str| -> Result<Option<String>, Response> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(webhook_error(
                StatusCode::BAD_REQUEST,
                key,
                "must be a string",
            )),
        }
    };
    let (auth_user, auth_password) = match (
        optional_text("http_auth_user"),
        optional_text("http_auth_password"),
    ) {
        (Ok(user), Ok(password)) => (user, password),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let version = match body.get("version") {
        None => "2.0".to_string(),
        Some(Value::String(version)) if version == "2.0" => version.clone(),
        Some(Value::String(version)) if version == "1.0" => {
            return webhook_error(
                StatusCode::BAD_REQUEST,
                "version",
                "this simulator delivers only version 2.0 payloads",
            );
        }
        Some(_) => return webhook_error(StatusCode::BAD_REQUEST, "version", "must be 1.0 or 2.0"),
    };
    match shared.webhooks.add(
        name,
        url,
        action,
        object,
        user_id,
        auth_user,
        auth_password,
        version,
    ) {
        Ok(data) => json_response(
            StatusCode::CREATED,
            &json!({"status": "ok", "success": true, "data": data}),
        ),
        Err(message) => webhook_error(StatusCode::BAD_REQUEST, "subscription_url", &message),
    }
}

async fn delete_webhook(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return webhook_error(StatusCode::NOT_FOUND, "id", "not found");
    };
    if shared.webhooks.remove(id) {
        json_response(StatusCode::OK, &json!({"status": "ok", "success": true}))
    } else {
        webhook_error(StatusCode::NOT_FOUND, "id", "not found")
    }
}

// ----- fields, v2 -----

fn field_includes(query: &HashMap<String, String>) -> Result<FieldIncludes, Response> {
    let mut includes = FieldIncludes::default();
    if let Some(list) = query.get("include_fields") {
        for name in list.split(',').map(str::trim) {
            match name {
                "ui_visibility" => includes.ui_visibility = true,
                "important_fields" => includes.important_fields = true,
                "required_fields" => includes.required_fields = true,
                _ => {
                    return Err(validation_failed(&format!(
                        "Validation failed: include_fields: '{name}' is not allowed"
                    )))
                }
            }
        }
    }
    Ok(includes)
}

fn field_not_found() -> Response {
    v2_error(StatusCode::NOT_FOUND, "Field not found", "ERR_NOT_FOUND")
}

async fn list_fields_v2(shared: Arc<Shared>, kind: EntityKind, query: Option<String>) -> Response {
    let query = query_map(&query);
    let includes = match field_includes(&query) {
        Ok(includes) => includes,
        Err(response) => return response,
    };
    let limit = match parse_limit(&query) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let start = match query.get("cursor") {
        None => 0,
        Some(cursor) => match decode_cursor(cursor, "field", "asc") {
            Ok((_, position)) => position as usize,
            Err(response) => return response,
        },
    };
    let store = shared.read();
    let all: Vec<Value> = store
        .fields(kind)
        .active()
        .map(|(_, field)| field_v2_json(field, includes))
        .collect();
    drop(store);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let next = (start + limit < all.len())
        .then(|| encode_cursor("field", 0, "asc", (start + limit) as u64));
    ok_with_cursor(Value::Array(page), next)
}

async fn get_field_v2(
    shared: Arc<Shared>,
    kind: EntityKind,
    code: String,
    query: Option<String>,
) -> Response {
    let includes = match field_includes(&query_map(&query)) {
        Ok(includes) => includes,
        Err(response) => return response,
    };
    let store = shared.read();
    let fields = store.fields(kind);
    match fields
        .index_of_key(&code)
        .and_then(|index| fields.get(index))
    {
        Some(field) => ok(field_v2_json(field, includes)),
        None => field_not_found(),
    }
}

fn option_labels(value: Option<&Value>, key: &str) -> Result<Vec<String>, Response> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(validation_failed(&format!(
            "Validation failed: {key}: Expected 'array'"
        )));
    };
    let mut labels = Vec::new();
    for item in items {
        match item.get("label").and_then(Value::as_str) {
            Some(label) if !label.trim().is_empty() && label.chars().count() <= 255 => {
                labels.push(label.to_string())
            }
            _ => {
                return Err(validation_failed(&format!(
                    "Validation failed: {key}.label: Parameter 'label' is required"
                )))
            }
        }
    }
    Ok(labels)
}

fn create_field(
    shared: &Shared,
    kind: EntityKind,
    name: String,
    field_type: String,
    labels: Vec<String>,
    extra: &Map<String, Value>,
) -> Result<u32, Response> {
    if !CREATABLE_TYPES.contains(&field_type.as_str()) {
        return Err(validation_failed(&format!(
            "Validation failed: field_type: Must be one of {}",
            CREATABLE_TYPES.join(", ")
        )));
    }
    let has_options = field_type == "enum" || field_type == "set";
    if has_options && labels.is_empty() {
        return Err(validation_failed(
            "Validation failed: options: Options are required for enum and set fields",
        ));
    }
    if !has_options && !labels.is_empty() {
        return Err(validation_failed(
            "Validation failed: options: Options are allowed only for enum and set fields",
        ));
    }
    let mut store = shared.write();
    let store = &mut *store;
    let mut next_id = store.next_field_id;
    let mut next_option_id = store.next_option_id;
    let fields = match kind {
        EntityKind::Organization => &mut store.organization_fields,
        EntityKind::Person => &mut store.person_fields,
    };
    let index = fields.add_custom(
        name,
        field_type,
        labels,
        now_secs(),
        &mut store.rng,
        &mut next_id,
        &mut next_option_id,
    );
    if let Some(field) = fields.get_mut(index) {
        field.ui_visibility = extra.get("ui_visibility").cloned();
        field.important_fields = extra.get("important_fields").cloned();
        field.required_fields = extra.get("required_fields").cloned();
        if let Some(flag) = extra.get("add_visible_flag").and_then(Value::as_bool) {
            field.add_visible_flag = flag;
        }
    }
    store.next_field_id = next_id;
    store.next_option_id = next_option_id;
    Ok(index)
}

fn check_object(map: &Map<String, Value>, key: &str) -> Result<(), Response> {
    match map.get(key) {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(validation_failed(&format!(
            "Validation failed: {key}: Expected 'object'"
        ))),
    }
}

fn field_name(value: Option<&Value>, key: &str) -> Result<String, Response> {
    match value {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= 255 => {
            Ok(name.clone())
        }
        Some(Value::String(_)) => Err(validation_failed(&format!(
            "Validation failed: {key}: Must be between 1 and 255 characters"
        ))),
        Some(_) => Err(validation_failed(&format!(
            "Validation failed: {key}: Expected 'string'"
        ))),
        None => Err(validation_failed(&format!(
            "Validation failed: {key}: Parameter '{key}' is required"
        ))),
    }
}

async fn add_field_v2(
    shared: Arc<Shared>,
    kind: EntityKind,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return validation_failed("Validation failed: body: Expected 'object'"),
        Err(response) => return response,
    };
    for key in map.keys() {
        if ![
            "field_name",
            "field_type",
            "options",
            "ui_visibility",
            "important_fields",
            "required_fields",
        ]
        .contains(&key.as_str())
        {
            return validation_failed(&format!(
                "Validation failed: {key}: Parameter '{key}' is not allowed for this request"
            ));
        }
    }
    let result = (|| -> Result<Value, Response> {
        let name = field_name(map.get("field_name"), "field_name")?;
        let field_type = match map.get("field_type") {
            Some(Value::String(field_type)) => field_type.clone(),
            Some(_) => {
                return Err(validation_failed(
                    "Validation failed: field_type: Expected 'string'",
                ))
            }
            None => {
                return Err(validation_failed(
                    "Validation failed: field_type: Parameter 'field_type' is required",
                ))
            }
        };
        for key in ["ui_visibility", "important_fields", "required_fields"] {
            check_object(&map, key)?;
        }
        let labels = option_labels(map.get("options"), "options")?;
        let index = create_field(&shared, kind, name, field_type, labels, &map)?;
        let store = shared.read();
        let field = store
            .fields(kind)
            .get(index)
            .ok_or_else(errors::internal_error)?;
        Ok(field_v2_json(field, FieldIncludes::default()))
    })();
    match result {
        Ok(data) => ok(data),
        Err(response) => response,
    }
}

async fn update_field_v2(
    shared: Arc<Shared>,
    kind: EntityKind,
    code: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return validation_failed("Validation failed: body: Expected 'object'"),
        Err(response) => return response,
    };
    if map.is_empty() {
        return validation_failed("Validation failed: body: At least one property is required");
    }
    for key in map.keys() {
        if ![
            "field_name",
            "ui_visibility",
            "important_fields",
            "required_fields",
        ]
        .contains(&key.as_str())
        {
            return validation_failed(&format!(
                "Validation failed: {key}: Parameter '{key}' is not allowed for this request"
            ));
        }
    }
    let name = match map
        .get("field_name")
        .map(|value| field_name(Some(value), "field_name"))
        .transpose()
    {
        Ok(name) => name,
        Err(response) => return response,
    };
    for key in ["ui_visibility", "important_fields", "required_fields"] {
        if let Err(response) = check_object(&map, key) {
            return response;
        }
    }
    let mut store = shared.write();
    let fields = store.fields_mut(kind);
    let Some(index) = fields.index_of_key(&code) else {
        return field_not_found();
    };
    let field = fields.get_mut(index).expect("index from index_of_key");
    if !field.is_custom && name.is_some() {
        return validation_failed("Validation failed: field_name: System fields cannot be renamed");
    }
    if let Some(name) = name {
        field.name = name;
    }
    for key in ["ui_visibility", "important_fields", "required_fields"] {
        if let Some(value) = map.get(key) {
            let slot = match key {
                "ui_visibility" => &mut field.ui_visibility,
                "important_fields" => &mut field.important_fields,
                _ => &mut field.required_fields,
            };
            *slot = Some(value.clone());
        }
    }
    field.update_time = now_secs();
    ok(field_v2_json(field, FieldIncludes::default()))
}

async fn delete_field_v2(shared: Arc<Shared>, kind: EntityKind, code: String) -> Response {
    let mut store = shared.write();
    let fields = store.fields_mut(kind);
    let Some(index) = fields.index_of_key(&code) else {
        return field_not_found();
    };
    let field = fields.get_mut(index).expect("index from index_of_key");
    if !field.is_custom {
        return validation_failed("Validation failed: field_code: System fields cannot be deleted");
    }
    field.active = false;
    field.update_time = now_secs();
    let data = field_v2_json(field, FieldIncludes::default());
    ok(data)
}

#[derive(Clone, Copy)]
enum OptionsOp {
    Add,
    Update,
    Delete,
}

async fn field_options(
    shared: Arc<Shared>,
    kind: EntityKind,
    code: String,
    op: OptionsOp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let items = match json_body(&headers, &body) {
        Ok(Value::Array(items)) if !items.is_empty() => items,
        Ok(_) => return validation_failed("Validation failed: body: Expected a non-empty array"),
        Err(response) => return response,
    };
    let mut store = shared.write();
    let store = &mut *store;
    let mut next_option_id = store.next_option_id;
    let fields = match kind {
        EntityKind::Organization => &mut store.organization_fields,
        EntityKind::Person => &mut store.person_fields,
    };
    let Some(index) = fields.index_of_key(&code) else {
        return field_not_found();
    };
    let field = fields.get_mut(index).expect("index from index_of_key");
    if !field.is_custom || (field.field_type != "enum" && field.field_type != "set") {
        return validation_failed("Validation failed: field_code: Options can be changed only on custom enum and set fields");
    }
    let now = now_secs();
    let mut result = Vec::new();
    // Check everything first: "The entire request fails if any option does not exist."
    for item in &items {
        let id = item.get("id").and_then(Value::as_u64);
        let label = item.get("label").and_then(Value::as_str);
        match op {
            OptionsOp::Add => {
                if label.is_none_or(|label| label.trim().is_empty() || label.chars().count() > 255)
                    || item.get("id").is_some()
                {
                    return validation_failed("Validation failed: label: Each option needs a label (1 to 255 characters) and no id");
                }
            }
            OptionsOp::Update | OptionsOp::Delete => {
                let Some(id) = id else {
                    return validation_failed("Validation failed: id: Parameter 'id' is required");
                };
                if !field.options.iter().any(|option| option.id == id) {
                    return v2_error(
                        StatusCode::NOT_FOUND,
                        &format!("Option {id} not found"),
                        "ERR_NOT_FOUND",
                    );
                }
                if matches!(op, OptionsOp::Update)
                    && label
                        .is_none_or(|label| label.trim().is_empty() || label.chars().count() > 255)
                {
                    return validation_failed(
                        "Validation failed: label: Parameter 'label' is required",
                    );
                }
            }
        }
    }
    for item in &items {
        let label = item
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match op {
            OptionsOp::Add => {
                let id = next_option_id;
                next_option_id += 1;
                field.options.push(crate::fields::FieldOption {
                    id,
                    label: label.clone(),
                    add_time: now,
                    update_time: now,
                });
                result.push(json!({"id": id, "label": label}));
            }
            OptionsOp::Update => {
                let id = item["id"].as_u64().unwrap_or_default();
                if let Some(option) = field.options.iter_mut().find(|option| option.id == id) {
                    option.label = label.clone();
                    option.update_time = now;
                }
                result.push(json!({"id": id, "label": label}));
            }
            OptionsOp::Delete => {
                let id = item["id"].as_u64().unwrap_or_default();
                if let Some(position) = field.options.iter().position(|option| option.id == id) {
                    let removed = field.options.remove(position);
                    result.push(json!({"id": removed.id, "label": removed.label}));
                }
            }
        }
    }
    field.update_time = now;
    store.next_option_id = next_option_id;
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": result, "additional_data": null}),
    )
}

// ----- fields, v1 -----

async fn list_fields_v1(shared: Arc<Shared>, kind: EntityKind, query: Option<String>) -> Response {
    let query = query_map(&query);
    let start = match query_integer("start", query.get("start").map(String::as_str)) {
        Ok(start) => start.unwrap_or(0) as usize,
        Err(invalid) => return v1_error(StatusCode::BAD_REQUEST, &invalid.0),
    };
    let limit = match query_integer("limit", query.get("limit").map(String::as_str)) {
        Ok(limit) => limit
            .map(|limit| (limit as usize).clamp(1, 500))
            .unwrap_or(100),
        Err(invalid) => return v1_error(StatusCode::BAD_REQUEST, &invalid.0),
    };
    let store = shared.read();
    let all: Vec<Value> = store
        .fields(kind)
        .active()
        .map(|(_, field)| field_v1_json(field))
        .collect();
    drop(store);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let more = start + limit < all.len();
    let mut pagination = json!({"start": start, "limit": limit, "more_items_in_collection": more});
    if more {
        pagination["next_start"] = json!(start + limit);
    }
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": page, "additional_data": {"pagination": pagination}}),
    )
}

fn v1_field_index(shared: &Shared, kind: EntityKind, id: &str) -> Result<u32, Response> {
    let id = id
        .parse::<u64>()
        .map_err(|_| v1_error(StatusCode::BAD_REQUEST, "id must be an integer"))?;
    shared
        .read()
        .fields(kind)
        .index_of_id(id)
        .ok_or_else(|| v1_error(StatusCode::NOT_FOUND, "Field not found"))
}

async fn get_field_v1(shared: Arc<Shared>, kind: EntityKind, id: String) -> Response {
    let index = match v1_field_index(&shared, kind, &id) {
        Ok(index) => index,
        Err(response) => return response,
    };
    let store = shared.read();
    match store.fields(kind).get(index) {
        Some(field) => ok(field_v1_json(field)),
        None => v1_error(StatusCode::NOT_FOUND, "Field not found"),
    }
}

async fn add_field_v1(
    shared: Arc<Shared>,
    kind: EntityKind,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return v1_error(StatusCode::BAD_REQUEST, "Body must be a JSON object"),
        Err(response) => return response,
    };
    for key in map.keys() {
        if !["name", "field_type", "options", "add_visible_flag"].contains(&key.as_str()) {
            return v1_error(
                StatusCode::BAD_REQUEST,
                &format!("Parameter '{key}' is not allowed for this request"),
            );
        }
    }
    let Some(name) = map
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map(str::to_string)
    else {
        return v1_error(StatusCode::BAD_REQUEST, "Name must be given");
    };
    let Some(field_type) = map
        .get("field_type")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return v1_error(StatusCode::BAD_REQUEST, "Field type must be given");
    };
    if map
        .get("add_visible_flag")
        .is_some_and(|flag| !flag.is_boolean())
    {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "add_visible_flag must be a boolean",
        );
    }
    let labels = match option_labels(map.get("options"), "options") {
        Ok(labels) => labels,
        Err(_) => {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "Options must be an array of objects with a label",
            )
        }
    };
    let index = match create_field(&shared, kind, name, field_type, labels, &map) {
        Ok(index) => index,
        Err(_) => return v1_error(StatusCode::BAD_REQUEST, "Invalid field_type or options (enum and set fields need options; other types take none)"),
    };
    let store = shared.read();
    match store.fields(kind).get(index) {
        Some(field) => ok(field_v1_json(field)),
        None => errors::internal_error(),
    }
}

async fn update_field_v1(
    shared: Arc<Shared>,
    kind: EntityKind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = match v1_field_index(&shared, kind, &id) {
        Ok(index) => index,
        Err(response) => return response,
    };
    let map = match json_body(&headers, &body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return v1_error(StatusCode::BAD_REQUEST, "Body must be a JSON object"),
        Err(response) => return response,
    };
    for key in map.keys() {
        if !["name", "options", "add_visible_flag"].contains(&key.as_str()) {
            return v1_error(
                StatusCode::BAD_REQUEST,
                &format!("Parameter '{key}' is not allowed for this request"),
            );
        }
    }
    let mut store = shared.write();
    let store = &mut *store;
    let mut next_option_id = store.next_option_id;
    let fields = match kind {
        EntityKind::Organization => &mut store.organization_fields,
        EntityKind::Person => &mut store.person_fields,
    };
    let field = fields.get_mut(index).expect("index from v1_field_index");
    if !field.is_custom {
        return v1_error(StatusCode::BAD_REQUEST, "System fields cannot be edited");
    }
    let now = now_secs();
    if let Some(name) = map.get("name") {
        match name.as_str().filter(|name| !name.trim().is_empty()) {
            Some(name) => field.name = name.to_string(),
            None => return v1_error(StatusCode::BAD_REQUEST, "Name must be a non-empty string"),
        }
    }
    if let Some(flag) = map.get("add_visible_flag") {
        match flag.as_bool() {
            Some(flag) => field.add_visible_flag = flag,
            None => {
                return v1_error(
                    StatusCode::BAD_REQUEST,
                    "add_visible_flag must be a boolean",
                )
            }
        }
    }
    if let Some(options) = map.get("options") {
        if field.field_type != "enum" && field.field_type != "set" {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "Options are allowed only for enum and set fields",
            );
        }
        let Some(items) = options.as_array() else {
            return v1_error(StatusCode::BAD_REQUEST, "Options must be an array");
        };
        // v1 replaces the whole option list: items with an id keep it, others are new.
        let mut replaced = Vec::new();
        for item in items {
            let Some(label) = item
                .get("label")
                .and_then(Value::as_str)
                .filter(|label| !label.trim().is_empty())
            else {
                return v1_error(StatusCode::BAD_REQUEST, "Each option needs a label");
            };
            match item.get("id").and_then(Value::as_u64) {
                Some(id) if field.options.iter().any(|option| option.id == id) => {
                    let add_time = field
                        .options
                        .iter()
                        .find(|option| option.id == id)
                        .map(|option| option.add_time)
                        .unwrap_or(now);
                    replaced.push(crate::fields::FieldOption {
                        id,
                        label: label.to_string(),
                        add_time,
                        update_time: now,
                    });
                }
                Some(id) => {
                    return v1_error(
                        StatusCode::BAD_REQUEST,
                        &format!("Option {id} does not exist"),
                    )
                }
                None => {
                    replaced.push(crate::fields::FieldOption {
                        id: next_option_id,
                        label: label.to_string(),
                        add_time: now,
                        update_time: now,
                    });
                    next_option_id += 1;
                }
            }
        }
        if replaced.is_empty() {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "Enum and set fields need at least one option",
            );
        }
        field.options = replaced;
    }
    field.update_time = now;
    let data = field_v1_json(field);
    store.next_option_id = next_option_id;
    ok(data)
}

fn deactivate_v1(shared: &Shared, kind: EntityKind, ids: &[u64]) -> Result<(), Response> {
    let mut store = shared.write();
    let fields = store.fields_mut(kind);
    let mut indexes = Vec::new();
    for id in ids {
        let Some(index) = fields.index_of_id(*id) else {
            return Err(v1_error(
                StatusCode::NOT_FOUND,
                &format!("Field {id} not found"),
            ));
        };
        if !fields.get(index).is_some_and(|field| field.is_custom) {
            return Err(v1_error(
                StatusCode::BAD_REQUEST,
                "System fields cannot be deleted",
            ));
        }
        indexes.push(index);
    }
    for index in indexes {
        if let Some(field) = fields.get_mut(index) {
            field.active = false;
            field.update_time = now_secs();
        }
    }
    Ok(())
}

async fn delete_field_v1(shared: Arc<Shared>, kind: EntityKind, id: String) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return v1_error(StatusCode::BAD_REQUEST, "id must be an integer");
    };
    match deactivate_v1(&shared, kind, &[id]) {
        Ok(()) => ok(json!({"id": id})),
        Err(response) => response,
    }
}

async fn bulk_delete_fields_v1(
    shared: Arc<Shared>,
    kind: EntityKind,
    query: Option<String>,
) -> Response {
    let query = query_map(&query);
    let Some(list) = query.get("ids") else {
        return v1_error(StatusCode::BAD_REQUEST, "ids must be given");
    };
    let ids: Result<Vec<u64>, _> = list
        .split(',')
        .map(|part| part.trim().parse::<u64>())
        .collect();
    let Ok(ids) = ids else {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "ids must be comma separated integers",
        );
    };
    match deactivate_v1(&shared, kind, &ids) {
        Ok(()) => ok(json!({"id": ids})),
        Err(response) => response,
    }
}

// Thin per-entity wrappers, so each route names its entity.
macro_rules! field_routes {
    ($kind:expr, $list2:ident, $get2:ident, $add2:ident, $update2:ident, $delete2:ident, $add_opt:ident, $update_opt:ident, $delete_opt:ident,
     $list1:ident, $get1:ident, $add1:ident, $update1:ident, $delete1:ident, $bulk1:ident) => {
        async fn $list2(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
            list_fields_v2(shared, $kind, query).await
        }
        async fn $get2(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            RawQuery(query): RawQuery,
        ) -> Response {
            get_field_v2(shared, $kind, code, query).await
        }
        async fn $add2(
            State(shared): State<Arc<Shared>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            add_field_v2(shared, $kind, headers, body).await
        }
        async fn $update2(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            update_field_v2(shared, $kind, code, headers, body).await
        }
        async fn $delete2(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
            delete_field_v2(shared, $kind, code).await
        }
        async fn $add_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Add, headers, body).await
        }
        async fn $update_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Update, headers, body).await
        }
        async fn $delete_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Delete, headers, body).await
        }
        async fn $list1(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
            list_fields_v1(shared, $kind, query).await
        }
        async fn $get1(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
            get_field_v1(shared, $kind, id).await
        }
        async fn $add1(
            State(shared): State<Arc<Shared>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            add_field_v1(shared, $kind, headers, body).await
        }
        async fn $update1(
            State(shared): State<Arc<Shared>>,
            Path(id): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            update_field_v1(shared, $kind, id, headers, body).await
        }
        async fn $delete1(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
            delete_field_v1(shared, $kind, id).await
        }
        async fn $bulk1(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
            bulk_delete_fields_v1(shared, $kind, query).await
        }
    };
}

field_routes!(
    EntityKind::Organization,
    list_fields_v2_org,
    get_field_v2_org,
    add_field_v2_org,
    update_field_v2_org,
    delete_field_v2_org,
    add_options_org,
    update_options_org,
    delete_options_org,
    list_fields_v1_org,
    get_field_v1_org,
    add_field_v1_org,
    update_field_v1_org,
    delete_field_v1_org,
    bulk_delete_fields_v1_org
);
field_routes!(
    EntityKind::Person,
    list_fields_v2_person,
    get_field_v2_person,
    add_field_v2_person,
    update_field_v2_person,
    delete_field_v2_person,
    add_options_person,
    update_options_person,
    delete_options_person,
    list_fields_v1_person,
    get_field_v1_person,
    add_field_v1_person,
    update_field_v1_person,
    delete_field_v1_person,
    bulk_delete_fields_v1_person
);
