//! Shared by the simulator's tests: Pipedrive's OpenAPI documents, a validator for the subset
//! of OpenAPI 3.0 they use, the ONE list of places where we knowingly deviate from them, and an
//! HTTP client that validates every answer it receives.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::Method;
use serde_json::Value;

// ----- where Pipedrive's documents are -----

pub struct Specs {
    pub v1: Value,
    pub v2: Value,
}

fn specs_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MLC_PIPEDRIVE_SPECS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

fn yaml_to_json(value: serde_yaml::Value) -> Value {
    match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(flag) => Value::Bool(flag),
        serde_yaml::Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Value::from(int)
            } else if let Some(int) = number.as_u64() {
                Value::from(int)
            } else {
                serde_json::Number::from_f64(number.as_f64().unwrap_or_default())
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        serde_yaml::Value::String(text) => Value::String(text),
        serde_yaml::Value::Sequence(items) => {
            Value::Array(items.into_iter().map(yaml_to_json).collect())
        }
        serde_yaml::Value::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (key, value) in map {
                let key = match key {
                    serde_yaml::Value::String(text) => text,
                    serde_yaml::Value::Number(number) => number.to_string(),
                    serde_yaml::Value::Bool(flag) => flag.to_string(),
                    other => format!("{other:?}"),
                };
                object.insert(key, yaml_to_json(value));
            }
            Value::Object(object)
        }
        serde_yaml::Value::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn load(name: &str) -> Option<Value> {
    let path = specs_dir().join(name);
    let text = std::fs::read_to_string(&path).ok()?;
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
    Some(yaml_to_json(yaml))
}

/// Pipedrive's OpenAPI documents, or `None` (with the reason printed) when they are absent;
/// under `MLC_TEST_STRICT=1` their absence fails the test instead.
pub fn specs() -> Option<&'static Specs> {
    static SPECS: OnceLock<Option<Specs>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        let v1 = load("pipedrive-openapi-v1.yml");
        let v2 = load("pipedrive-openapi-v2.yml");
        match (v1, v2) {
            (Some(v1), Some(v2)) => Some(Specs { v1, v2 }),
            _ => None,
        }
    });
    if specs.is_none() {
        let reason = format!(
            "Pipedrive OpenAPI documents not found in {} (set MLC_PIPEDRIVE_SPECS)",
            specs_dir().display()
        );
        if std::env::var("MLC_TEST_STRICT").is_ok_and(|value| value == "1") {
            panic!("{reason}; MLC_TEST_STRICT=1 requires them");
        }
        eprintln!("skipping spec validation: {reason}");
    }
    specs.as_ref()
}

/// The operation object of `method` on a simulator route (`/api/v2/...` or `/v1/...`).
pub fn operation<'a>(specs: &'a Specs, method: &str, route: &str) -> Option<&'a Value> {
    let (document, path) = if let Some(path) = route.strip_prefix("/api/v2") {
        (&specs.v2, path)
    } else if let Some(path) = route.strip_prefix("/v1") {
        (&specs.v1, path)
    } else if route.starts_with("/oauth/") {
        (&specs.v1, route)
    } else {
        return None;
    };
    document["paths"]
        .get(path)?
        .get(method.to_ascii_lowercase())
}

// ----- the one list of deviations from the documents -----

/// A place where the simulator knowingly answers something the documents do not describe,
/// because Pipedrive itself does (each with its reason).
pub enum Deviation {
    /// A property the schema declares non-nullable that Pipedrive answers as `null`.
    /// `at` is the JSON path with `*` for any array index or key.
    Nullable {
        at: &'static str,
        reason: &'static str,
    },
    /// An error status the operation does not document; the body is checked against `schema`.
    UndocumentedStatus {
        status: u16,
        schema: ErrorSchema,
        reason: &'static str,
    },
    /// A request-side mistake of the documents the simulator follows Pipedrive's docs on.
    /// `required` replaces the document's list of required body properties (`None`: keep it).
    Request {
        method: &'static str,
        route: &'static str,
        required: Option<&'static [&'static str]>,
        reason: &'static str,
    },
}

#[derive(Clone, Copy, Debug)]
pub enum ErrorSchema {
    /// `{success, error, error_info, data, additional_data}`: the 404 schema the v2 document
    /// gives its convert endpoints (`GetConvertResponse`), plus `code` (observed).
    GenericError,
    /// `{success, error, errorCode}`: the v1 document's `unathorizedResponse`.
    Unauthorized,
    /// Cloudflare's HTML page (RL: "an HTML error page").
    Html,
    /// `{status, success, errors}`: the v1 `WebhooksBadRequestResponse`.
    WebhookError,
}

pub const DEVIATIONS: &[Deviation] = &[
    Deviation::Request {
        method: "POST",
        route: "/api/v2/organizations",
        required: Some(&["name"]),
        reason: "the document requires `title`; Pipedrive requires `name` (specs/README.md, MIG, every example), so the simulator requires `name` and rejects `title` as an unknown key",
    },
    Deviation::Request {
        method: "POST",
        route: "/api/v2/persons",
        required: Some(&["name"]),
        reason: "the document requires nothing, but a person needs `name` (MIG; first_name + last_name are not in the request schema nor the SDK, so the simulator refuses them)",
    },
    Deviation::Nullable {
        at: "additional_data.next_cursor",
        reason: "the description says `next_cursor` is null at the end of the data; only some schemas mark it nullable",
    },
    Deviation::Nullable {
        at: "data.address",
        reason: "an organization without an address answers `address: null` (research §2.3 open question; the webhook examples show null)",
    },
    Deviation::Nullable {
        at: "data.*.address",
        reason: "as data.address, in lists",
    },
    Deviation::Nullable {
        at: "data.address.*",
        reason: "MIG: address subfields not provided default to null, so a PATCH of only `value` nulls the others",
    },
    Deviation::Nullable {
        at: "data.*.address.*",
        reason: "as data.address.*, in lists",
    },
    Deviation::Nullable {
        at: "data.org_id",
        reason: "a person without an organization has `org_id: null` (MIG: org_id is a plain id or null)",
    },
    Deviation::Nullable {
        at: "data.*.org_id",
        reason: "as data.org_id, in lists",
    },
    Deviation::Nullable {
        at: "data.picture_id",
        reason: "a person without a picture has `picture_id: null`",
    },
    Deviation::Nullable {
        at: "data.*.picture_id",
        reason: "as data.picture_id, in lists",
    },
    Deviation::Nullable {
        at: "data.items.*.item.address",
        reason: "an organization without an address is found with `address: null`",
    },
    Deviation::Nullable {
        at: "data.items.*.item.organization",
        reason: "a person without an organization is found with `organization: null` (the document's own example has a null inside it)",
    },
    Deviation::UndocumentedStatus {
        status: 400,
        schema: ErrorSchema::GenericError,
        reason: "v2 operations document only 200, yet Pipedrive answers validation failures with 400 ERR_SCHEMA_VALIDATION_FAILED (client-nodejs #651, client-php #227, MIG)",
    },
    Deviation::UndocumentedStatus {
        status: 404,
        schema: ErrorSchema::GenericError,
        reason: "v2 operations document only 200; an unknown id gets 404 with the generic error body (the document's own 404 schema for convert endpoints)",
    },
    Deviation::UndocumentedStatus {
        status: 401,
        schema: ErrorSchema::Unauthorized,
        reason: "every operation needs auth but only some document 401; the body is the document's `unathorizedResponse` (OAuth: the status codes page)",
    },
    Deviation::UndocumentedStatus {
        status: 429,
        schema: ErrorSchema::Unauthorized,
        reason: "neither document declares 429; the observed body is {success:false, error, errorCode:429} (research §1.5)",
    },
    Deviation::UndocumentedStatus {
        status: 403,
        schema: ErrorSchema::Html,
        reason: "after sustained 429s Cloudflare answers an HTML 403 page (RL)",
    },
    Deviation::UndocumentedStatus {
        status: 405,
        schema: ErrorSchema::GenericError,
        reason: "a method a path does not have",
    },
];

fn path_matches(pattern: &str, at: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let at: Vec<&str> = at.split('.').collect();
    pattern.len() == at.len()
        && pattern
            .iter()
            .zip(at.iter())
            .all(|(p, a)| *p == "*" || p == a)
}

fn null_allowed(at: &str) -> bool {
    DEVIATIONS.iter().any(|deviation| matches!(deviation, Deviation::Nullable { at: pattern, .. } if path_matches(pattern, at)))
}

// ----- the validator (OpenAPI 3.0 subset: type, nullable, properties, required, items, enum,
// allOf/oneOf/anyOf, additionalProperties, min/maxLength, minProperties, $ref) -----

pub struct Validator<'a> {
    root: &'a Value,
}

impl<'a> Validator<'a> {
    pub fn new(root: &'a Value) -> Self {
        Validator { root }
    }

    fn resolve(&self, schema: &'a Value) -> &'a Value {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let mut node = self.root;
            for part in reference.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            return self.resolve(node);
        }
        schema
    }

    pub fn validate(&self, schema: &'a Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            let nullable = schema
                .get("nullable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let typeless = schema.get("type").is_none()
                && schema.get("allOf").is_none()
                && schema.get("oneOf").is_none()
                && schema.get("anyOf").is_none();
            if !nullable && !typeless && !null_allowed(at) {
                errors.push(format!("{at}: null where the schema is not nullable"));
            }
            return;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, value, at, errors);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let passing = options
                    .iter()
                    .filter(|sub| {
                        let mut sub_errors = Vec::new();
                        self.validate(sub, value, at, &mut sub_errors);
                        sub_errors.is_empty()
                    })
                    .count();
                if passing == 0 || (key == "oneOf" && passing > 1) {
                    errors.push(format!("{at}: {passing} of the {key} schemas match"));
                }
            }
        }
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            let ok = match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: expected {kind}, got {value}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Some(text) = value.as_str() {
            let length = text.chars().count() as u64;
            if schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|min| length < min)
            {
                errors.push(format!("{at}: shorter than minLength"));
            }
            if schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|max| length > max)
            {
                errors.push(format!("{at}: longer than maxLength"));
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && chrono::DateTime::parse_from_rfc3339(text).is_err()
            {
                errors.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
            }
        }
        if let Some(map) = value.as_object() {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errors.push(format!("{at}: required property {name} missing"));
                    }
                }
            }
            if schema
                .get("minProperties")
                .and_then(Value::as_u64)
                .is_some_and(|min| (map.len() as u64) < min)
            {
                errors.push(format!("{at}: fewer properties than minProperties"));
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, item) in map {
                let child = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                match properties.and_then(|properties| properties.get(name)) {
                    Some(sub) => self.validate(sub, item, &child, errors),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{child}: property not allowed"))
                        }
                        Some(sub @ Value::Object(_)) => self.validate(sub, item, &child, errors),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
            for (index, item) in items.iter().enumerate() {
                let _ = index;
                self.validate(schema_items, item, &format!("{at}.*"), errors);
            }
        }
    }
}

/// The schema of an error status the operation does not document (see [`DEVIATIONS`]).
fn deviation_schema(specs: &Specs, status: u16) -> Option<(ErrorSchema, Value)> {
    let schema = DEVIATIONS.iter().find_map(|deviation| match deviation {
        Deviation::UndocumentedStatus {
            status: documented,
            schema,
            ..
        } if *documented == status => Some(*schema),
        _ => None,
    })?;
    let body = match schema {
        ErrorSchema::GenericError => specs.v2["paths"]["/deals/{id}/convert/lead"]["post"]
            ["responses"]["404"]["content"]["application/json"]["schema"]
            .clone(),
        ErrorSchema::Unauthorized => specs.v1["paths"]["/users/me"]["get"]["responses"]["401"]
            ["content"]["application/json"]["schema"]
            .clone(),
        ErrorSchema::WebhookError => specs.v1["paths"]["/webhooks"]["post"]["responses"]["400"]
            ["content"]["application/json"]["schema"]
            .clone(),
        ErrorSchema::Html => Value::Null,
    };
    Some((schema, body))
}

/// Checks one answer against the documents: the status is documented for the operation (or a
/// listed deviation), and the body is valid against its schema. Returns the problems found.
pub fn check_response(
    specs: &Specs,
    method: &str,
    route: &str,
    status: u16,
    content_type: &str,
    body: &str,
) -> Vec<String> {
    let Some(operation) = operation(specs, method, route) else {
        return vec![format!(
            "{method} {route} is not an operation of the documents"
        )];
    };
    let root = if route.starts_with("/api/v2") {
        &specs.v2
    } else {
        &specs.v1
    };
    let documented = &operation["responses"][status.to_string()];
    let (schema, expect_json) = if !documented.is_null() {
        let content = &documented["content"];
        if let Some(json) = content.get("application/json") {
            (json["schema"].clone(), true)
        } else if content.get("text/html").is_some() {
            if !content_type.starts_with("text/html") {
                return vec![format!(
                    "{method} {route} {status}: expected text/html, got {content_type}"
                )];
            }
            return Vec::new();
        } else {
            (Value::Null, false)
        }
    } else {
        match deviation_schema(specs, status) {
            Some((ErrorSchema::Html, _)) => {
                if !content_type.starts_with("text/html") {
                    return vec![format!(
                        "{method} {route} {status}: expected an HTML page, got {content_type}"
                    )];
                }
                return Vec::new();
            }
            Some((_, schema)) => (schema, true),
            None => {
                return vec![format!(
                "{method} {route}: status {status} is neither documented nor a listed deviation"
            )]
            }
        }
    };
    if !expect_json {
        return Vec::new();
    }
    if !content_type.starts_with("application/json") {
        return vec![format!(
            "{method} {route} {status}: expected JSON, got {content_type}"
        )];
    }
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(error) => {
            return vec![format!(
                "{method} {route} {status}: body is not JSON: {error}"
            )]
        }
    };
    let mut errors = Vec::new();
    Validator::new(root).validate(&schema, &value, "", &mut errors);
    if status >= 400
        && value.get("success").is_some_and(|success| success != false)
        && value.get("success").is_some()
    {
        errors.push("success must be false on an error".to_string());
    }
    errors
        .into_iter()
        .map(|error| format!("{method} {route} {status}: {error}"))
        .collect()
}

/// Problems of a request body against the operation's request schema (with the listed
/// request deviations applied). Empty: the documents call the body valid.
pub fn check_request(specs: &Specs, method: &str, route: &str, body: &Value) -> Vec<String> {
    let Some(operation) = operation(specs, method, route) else {
        return Vec::new();
    };
    let root = if route.starts_with("/api/v2") {
        &specs.v2
    } else {
        &specs.v1
    };
    let mut schema = operation["requestBody"]["content"]["application/json"]["schema"].clone();
    if schema.is_null() {
        return Vec::new();
    }
    for deviation in DEVIATIONS {
        if let Deviation::Request {
            method: m,
            route: r,
            required: Some(required),
            ..
        } = deviation
        {
            if *m == method && *r == route {
                schema["required"] = Value::from(required.to_vec());
            }
        }
    }
    let mut errors = Vec::new();
    Validator::new(root).validate(&schema, body, "", &mut errors);
    errors
}

// ----- a client that validates every answer -----

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    }
}

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    /// Sent as `x-api-token` when set.
    pub api_token: Option<String>,
    /// Sent as `Authorization: Bearer` when set.
    pub bearer: Option<String>,
    /// Operations checked, by "METHOD route status".
    pub checked: std::sync::Mutex<HashMap<String, u32>>,
}

impl Api {
    pub fn new(base: &str, api_token: &str) -> Self {
        // Load the documents now, so timing-sensitive tests do not pay for parsing mid-way.
        let _ = specs();
        Api {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            api_token: Some(api_token.to_string()),
            bearer: None,
            checked: Default::default(),
        }
    }

    /// Calls `route` (a template such as `/api/v2/organizations/{id}`) with `params` filled in,
    /// validates the answer against the documents when present, and returns it.
    pub async fn call(
        &self,
        method: Method,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut path = route.to_string();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let mut request = self
            .client
            .request(method.clone(), format!("{}{}", self.base, path))
            .query(query);
        if let Some(token) = &self.api_token {
            request = request.header("x-api-token", token);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request to the simulator");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let answer = Answer {
            status,
            headers,
            text,
        };
        if let Some(specs) = specs() {
            let content_type = answer.header("content-type").unwrap_or_default();
            let problems = check_response(
                specs,
                method.as_str(),
                route,
                status,
                &content_type,
                &answer.text,
            );
            assert!(
                problems.is_empty(),
                "answer not valid against the documents:\n{}\nbody: {}",
                problems.join("\n"),
                answer.text
            );
            *self
                .checked
                .lock()
                .unwrap()
                .entry(format!("{} {} {}", method, route, status))
                .or_default() += 1;
        }
        answer
    }

    pub async fn get(
        &self,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Answer {
        self.call(Method::GET, route, params, query, None).await
    }

    pub async fn post(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::POST, route, params, &[], Some(body))
            .await
    }

    pub async fn patch(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::PATCH, route, params, &[], Some(body))
            .await
    }

    pub async fn put(&self, route: &str, params: &[(&str, &str)], body: &Value) -> Answer {
        self.call(Method::PUT, route, params, &[], Some(body)).await
    }

    pub async fn delete(
        &self,
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Answer {
        self.call(Method::DELETE, route, params, query, None).await
    }
}

pub async fn spawn_with(
    change: impl FnOnce(&mut mlc_sim_pipedrive::SimPipedriveOptions),
) -> mlc_sim_pipedrive::SpawnedPipedrive {
    let mut options = mlc_sim_pipedrive::SimPipedriveOptions::for_tests();
    change(&mut options);
    mlc_sim_pipedrive::spawn(options)
        .await
        .expect("simulator starts")
}
