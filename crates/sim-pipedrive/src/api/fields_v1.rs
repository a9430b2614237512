//! `/v1/organizationFields` and `/v1/personFields` (also under `/api/v1`): the v1 field
//! endpoints, which Pipedrive still offers beside v2.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::fields_v2::{create_field, option_labels};
use super::responses::{json_body, ok, query_map, v1_error};
use crate::clock::now_secs;
use crate::errors::{self, json_response};
use crate::fields::{field_v1_json, EntityKind};
use crate::state::Shared;
use crate::validate::query_integer;

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
    let numbering = store.field_numbering(kind);
    let mut next_option_id = *numbering.next_option_id;
    let fields = numbering.fields;
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
    *numbering.next_option_id = next_option_id;
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
macro_rules! field_routes_v1 {
    ($kind:expr, $list1:ident, $get1:ident, $add1:ident, $update1:ident, $delete1:ident, $bulk1:ident) => {
        pub(super) async fn $list1(
            State(shared): State<Arc<Shared>>,
            RawQuery(query): RawQuery,
        ) -> Response {
            list_fields_v1(shared, $kind, query).await
        }
        pub(super) async fn $get1(
            State(shared): State<Arc<Shared>>,
            Path(id): Path<String>,
        ) -> Response {
            get_field_v1(shared, $kind, id).await
        }
        pub(super) async fn $add1(
            State(shared): State<Arc<Shared>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            add_field_v1(shared, $kind, headers, body).await
        }
        pub(super) async fn $update1(
            State(shared): State<Arc<Shared>>,
            Path(id): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            update_field_v1(shared, $kind, id, headers, body).await
        }
        pub(super) async fn $delete1(
            State(shared): State<Arc<Shared>>,
            Path(id): Path<String>,
        ) -> Response {
            delete_field_v1(shared, $kind, id).await
        }
        pub(super) async fn $bulk1(
            State(shared): State<Arc<Shared>>,
            RawQuery(query): RawQuery,
        ) -> Response {
            bulk_delete_fields_v1(shared, $kind, query).await
        }
    };
}

field_routes_v1!(
    EntityKind::Organization,
    list_fields_v1_org,
    get_field_v1_org,
    add_field_v1_org,
    update_field_v1_org,
    delete_field_v1_org,
    bulk_delete_fields_v1_org
);
field_routes_v1!(
    EntityKind::Person,
    list_fields_v1_person,
    get_field_v1_person,
    add_field_v1_person,
    update_field_v1_person,
    delete_field_v1_person,
    bulk_delete_fields_v1_person
);
