//! `/api/v2/organizations` and `/api/v2/persons`: list, get, create, update, delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::paging::{
    parse_custom_selection, parse_include_fields, parse_list_query, select_page, Row, RowRange,
    ORGANIZATION_INCLUDE_FIELDS, PERSON_INCLUDE_FIELDS,
};
use super::responses::{
    invalid_response, json_body, ok, ok_one, ok_page, op_error_response, parse_id, query_map,
};
use crate::errors::not_found;
use crate::fields::EntityKind;
use crate::model::{CustomSelection, OrganizationView, PersonView, Render};
use crate::state::Shared;
use crate::validate::query_bool;
use crate::webhooks::ChangeSource;

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

pub(super) async fn list_organizations(
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
        store.live_organizations_in(range).map(|org| Row {
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
        .filter_map(|id| store.organization(*id))
        .map(|org| OrganizationView {
            org,
            fields: store.fields(EntityKind::Organization),
            render,
            extras: if list.include_fields.is_empty() {
                Vec::new()
            } else {
                organization_extras(
                    org.id,
                    &list.include_fields,
                    if wants_people {
                        store.people_count(org.id)
                    } else {
                        0
                    },
                )
            },
        })
        .collect();
    ok_page(&data, next)
}

pub(super) async fn list_persons(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query_map(&query);
    let list = match parse_list_query(&query, &shared, EntityKind::Person) {
        Ok(list) => list,
        Err(response) => return response,
    };
    // No deals exist in the simulator, so a deal filter finds nobody.
    let deal_filter = query.contains_key("deal_id");
    let store = shared.read();
    let rows_in = |range: RowRange| {
        store.live_persons_in(range).map(|person| Row {
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
        .filter_map(|id| store.person(*id))
        .map(|person| PersonView {
            person,
            fields: store.fields(EntityKind::Person),
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

pub(super) async fn get_organization(
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
    let Some(org) = store.organization(id) else {
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
        fields: store.fields(EntityKind::Organization),
        render,
        extras: organization_extras(id, &include, store.people_count(id)),
    };
    ok_one(&view)
}

pub(super) async fn get_person(
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
    let Some(person) = store.person(id) else {
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
        fields: store.fields(EntityKind::Person),
        render,
        extras: person_extras(&include),
    };
    ok_one(&view)
}

pub(super) async fn create_organization(
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

pub(super) async fn update_organization(
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

pub(super) async fn delete_organization(
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

pub(super) async fn create_person(
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

pub(super) async fn update_person(
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

pub(super) async fn delete_person(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match shared.delete_person(id, ChangeSource::Api) {
        Ok(()) => ok(json!({"id": id})),
        Err(error) => op_error_response(error),
    }
}
