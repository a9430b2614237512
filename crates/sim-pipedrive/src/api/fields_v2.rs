//! `/api/v2/organizationFields` and `/api/v2/personFields`: fields and their options.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::paging::{decode_cursor, encode_cursor, parse_limit};
use super::responses::{json_body, ok, ok_with_cursor, query_map};
use crate::clock::now_secs;
use crate::errors::{self, json_response, v2_error, validation_failed};
use crate::fields::{field_v2_json, EntityKind, FieldIncludes, CREATABLE_TYPES};
use crate::state::Shared;

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

pub(super) fn option_labels(value: Option<&Value>, key: &str) -> Result<Vec<String>, Response> {
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

pub(super) fn create_field(
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
    let numbering = store.field_numbering(kind);
    let mut next_id = *numbering.next_field_id;
    let mut next_option_id = *numbering.next_option_id;
    let fields = numbering.fields;
    let index = fields.add_custom(
        name,
        field_type,
        labels,
        now_secs(),
        numbering.rng,
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
    *numbering.next_field_id = next_id;
    *numbering.next_option_id = next_option_id;
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
    let numbering = store.field_numbering(kind);
    let mut next_option_id = *numbering.next_option_id;
    let fields = numbering.fields;
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
    *numbering.next_option_id = next_option_id;
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": result, "additional_data": null}),
    )
}

// Thin per-entity wrappers, so each route names its entity.
macro_rules! field_routes_v2 {
    ($kind:expr, $list2:ident, $get2:ident, $add2:ident, $update2:ident, $delete2:ident, $add_opt:ident, $update_opt:ident, $delete_opt:ident) => {
        pub(super) async fn $list2(
            State(shared): State<Arc<Shared>>,
            RawQuery(query): RawQuery,
        ) -> Response {
            list_fields_v2(shared, $kind, query).await
        }
        pub(super) async fn $get2(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            RawQuery(query): RawQuery,
        ) -> Response {
            get_field_v2(shared, $kind, code, query).await
        }
        pub(super) async fn $add2(
            State(shared): State<Arc<Shared>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            add_field_v2(shared, $kind, headers, body).await
        }
        pub(super) async fn $update2(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            update_field_v2(shared, $kind, code, headers, body).await
        }
        pub(super) async fn $delete2(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
        ) -> Response {
            delete_field_v2(shared, $kind, code).await
        }
        pub(super) async fn $add_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Add, headers, body).await
        }
        pub(super) async fn $update_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Update, headers, body).await
        }
        pub(super) async fn $delete_opt(
            State(shared): State<Arc<Shared>>,
            Path(code): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            field_options(shared, $kind, code, OptionsOp::Delete, headers, body).await
        }
    };
}

field_routes_v2!(
    EntityKind::Organization,
    list_fields_v2_org,
    get_field_v2_org,
    add_field_v2_org,
    update_field_v2_org,
    delete_field_v2_org,
    add_options_org,
    update_options_org,
    delete_options_org
);
field_routes_v2!(
    EntityKind::Person,
    list_fields_v2_person,
    get_field_v2_person,
    add_field_v2_person,
    update_field_v2_person,
    delete_field_v2_person,
    add_options_person,
    update_options_person,
    delete_options_person
);
