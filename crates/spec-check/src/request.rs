//! What a client sends, against the documents: the operation exists, its query parameters are
//! declared (with allowed values and types), its body matches the request schema, closed
//! against undeclared keys as API v2 is.

use serde_json::Value;

use crate::documents::Specs;
use crate::known_mistakes;

impl Specs {
    /// Every problem of one request to a concrete path: unknown operation, undeclared query
    /// parameters or values outside their enum, a missing required parameter, a body that
    /// does not match the request schema. Empty: Pipedrive takes it.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let Some((template, operation)) = self.operation(method, path) else {
            return vec![format!("{method} {path}: no such operation in the spec")];
        };
        let document = self.document_of(path);
        let mut problems = Vec::new();
        let parameters = inline(
            document,
            operation.get("parameters").unwrap_or(&Value::Null),
            0,
        );
        let declared: Vec<&Value> = parameters
            .as_array()
            .map(|list| list.iter().collect())
            .unwrap_or_default();
        for (name, value) in query {
            let Some(parameter) = declared.iter().find(|parameter| {
                parameter["in"] == "query" && parameter["name"].as_str() == Some(name)
            }) else {
                problems.push(format!(
                    "{method} {template}: query parameter {name} is not declared"
                ));
                continue;
            };
            let schema = &parameter["schema"];
            if let Some(allowed) = schema.get("enum").and_then(|list| list.as_array()) {
                // Comma lists (fields=name,custom_fields) are checked item by item.
                for item in value.split(',') {
                    if !allowed.iter().any(|allowed| allowed.as_str() == Some(item)) {
                        problems.push(format!(
                            "{method} {template}: {name}={item} is not one of {allowed:?}"
                        ));
                    }
                }
            }
            match schema.get("type").and_then(|kind| kind.as_str()) {
                Some("integer") if value.parse::<i64>().is_err() => problems.push(format!(
                    "{method} {template}: {name}={value} is not an integer"
                )),
                Some("boolean") if value != "true" && value != "false" => problems.push(format!(
                    "{method} {template}: {name}={value} is not a boolean"
                )),
                _ => {}
            }
        }
        for parameter in &declared {
            if parameter["in"] == "query" && parameter["required"] == true {
                let name = parameter["name"].as_str().unwrap_or_default();
                if !query.iter().any(|(key, _)| key == name) {
                    problems.push(format!(
                        "{method} {template}: required query parameter {name} missing"
                    ));
                }
            }
        }
        let request_body = operation
            .get("requestBody")
            .map(|body| inline(document, body, 0));
        match (request_body, body) {
            (None, Some(body)) => problems.push(format!(
                "{method} {template}: sends a body ({body}) the operation does not take"
            )),
            (Some(declared), None) if declared["required"] == true => {
                problems.push(format!("{method} {template}: the required body is missing"))
            }
            (Some(declared), Some(body)) => {
                let mut schema = declared["content"]["application/json"]["schema"].clone();
                if let Some(required) = known_mistakes::required_body(method, &template) {
                    schema["required"] = Value::from(required.to_vec());
                }
                // API v2 refuses keys it does not declare ("Parameter 'x' is not allowed for
                // this request"), which the documents leave open: close them for the check.
                close_objects(&mut schema);
                match jsonschema::validator_for(&schema) {
                    Ok(validator) => {
                        for error in validator.iter_errors(body) {
                            problems.push(format!(
                                "{method} {template}: body {body}: {error} at {}",
                                error.instance_path
                            ));
                        }
                    }
                    Err(error) => problems.push(format!(
                        "{method} {template}: schema does not compile: {error}"
                    )),
                }
            }
            _ => {}
        }
        problems
    }
}

/// A schema made self-contained for a JSON Schema validator: `$ref`s inlined, prose dropped,
/// and OpenAPI's `nullable: true` turned into JSON Schema's `type: [t, "null"]`.
fn inline(document: &Value, value: &Value, depth: usize) -> Value {
    if depth > 40 {
        return Value::Object(Default::default());
    }
    match value {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                let target = crate::documents::follow_ref(document, value);
                return inline(document, target, depth + 1);
            }
            let mut resolved = serde_json::Map::new();
            for (key, inner) in map {
                if key == "example"
                    || key == "examples"
                    || key == "description"
                    || key == "x-nullable"
                {
                    continue;
                }
                resolved.insert(key.clone(), inline(document, inner, depth + 1));
            }
            if resolved.get("nullable") == Some(&Value::Bool(true)) {
                resolved.remove("nullable");
                if let Some(Value::String(kind)) = resolved.get("type").cloned() {
                    resolved.insert("type".into(), serde_json::json!([kind, "null"]));
                }
                if let Some(Value::Array(options)) = resolved.get_mut("enum") {
                    options.push(Value::Null);
                }
            } else {
                resolved.remove("nullable");
            }
            Value::Object(resolved)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| inline(document, item, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Adds `additionalProperties: false` to every object schema that lists its properties and
/// says nothing about others.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, inner) in map.iter_mut() {
                close_objects(inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}
