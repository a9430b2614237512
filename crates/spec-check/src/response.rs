//! What a server answers, against the documents: the status is documented for the operation
//! (or a known mistake of the documents), and the body is valid against its schema. The
//! validator covers the subset of OpenAPI 3.0 the documents use: type, nullable, properties,
//! required, items, enum, allOf/oneOf/anyOf, additionalProperties, min/maxLength,
//! minProperties, date-time, $ref.

use serde_json::Value;

use crate::documents::{follow_ref, Specs};
use crate::known_mistakes::{self, ErrorSchema};

/// Validates values against schemas of one document (its `$ref`s resolve within it).
pub struct SchemaValidator<'a> {
    document: &'a Value,
}

impl<'a> SchemaValidator<'a> {
    pub fn new(document: &'a Value) -> Self {
        SchemaValidator { document }
    }

    /// Appends to `errors` every way `value` (found at the dotted path `at`) breaks `schema`.
    pub fn validate(&self, schema: &'a Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = follow_ref(self.document, schema);
        if value.is_null() {
            let nullable = schema
                .get("nullable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let typeless = schema.get("type").is_none()
                && schema.get("allOf").is_none()
                && schema.get("oneOf").is_none()
                && schema.get("anyOf").is_none();
            if !nullable && !typeless && !known_mistakes::null_allowed(at) {
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
            for item in items {
                self.validate(schema_items, item, &format!("{at}.*"), errors);
            }
        }
    }
}

impl Specs {
    /// The body schema of an error status no operation documents (see the known mistakes).
    fn undocumented_status_schema(&self, status: u16) -> Option<(ErrorSchema, Value)> {
        let schema = known_mistakes::undocumented_status(status)?;
        let body = match schema {
            ErrorSchema::GenericError => self.v2["paths"]["/deals/{id}/convert/lead"]["post"]
                ["responses"]["404"]["content"]["application/json"]["schema"]
                .clone(),
            ErrorSchema::Unauthorized | ErrorSchema::HtmlOrUnauthorized => self.v1["paths"]
                ["/users/me"]["get"]["responses"]["401"]["content"]["application/json"]["schema"]
                .clone(),
            ErrorSchema::WebhookError => self.v1["paths"]["/webhooks"]["post"]["responses"]["400"]
                ["content"]["application/json"]["schema"]
                .clone(),
        };
        Some((schema, body))
    }

    /// Every problem of one answer to `method` on `route` (a template or a concrete path):
    /// the status is documented or a known mistake, the content type fits, and the body is
    /// valid against the schema. Empty: Pipedrive could have answered this.
    pub fn check_response(
        &self,
        method: &str,
        route: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> Vec<String> {
        let Some((_, operation)) = self.operation(method, route) else {
            return vec![format!(
                "{method} {route} is not an operation of the documents"
            )];
        };
        let document = self.document_of(route);
        let documented = &operation["responses"][status.to_string()];
        let schema = if !documented.is_null() {
            let content = &documented["content"];
            if let Some(json) = content.get("application/json") {
                json["schema"].clone()
            } else if content.get("text/html").is_some() {
                if !content_type.starts_with("text/html") {
                    return vec![format!(
                        "{method} {route} {status}: expected text/html, got {content_type}"
                    )];
                }
                return Vec::new();
            } else {
                // A documented status without a body schema: nothing more to check.
                return Vec::new();
            }
        } else {
            match self.undocumented_status_schema(status) {
                Some((ErrorSchema::HtmlOrUnauthorized, _)) if content_type.starts_with("text/html") => {
                    return Vec::new();
                }
                Some((_, schema)) => schema,
                None => {
                    return vec![format!(
                        "{method} {route}: status {status} is neither documented nor a known mistake of the documents"
                    )]
                }
            }
        };
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
        SchemaValidator::new(document).validate(&schema, &value, "", &mut errors);
        if status >= 400 && value.get("success").is_some_and(|success| success != false) {
            errors.push("success must be false on an error".to_string());
        }
        errors
            .into_iter()
            .map(|error| format!("{method} {route} {status}: {error}"))
            .collect()
    }
}
