//! Where the documents are, how they are read (YAML into JSON values), and how a request path
//! finds its operation in them.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// Pipedrive's two OpenAPI documents: API v1 (`/v1/...`, and the OAuth endpoints) and API v2
/// (`/api/v2/...`).
pub struct Specs {
    pub v1: Value,
    pub v2: Value,
}

const V1_FILE: &str = "pipedrive-openapi-v1.yml";
const V2_FILE: &str = "pipedrive-openapi-v2.yml";

fn specs_folder() -> PathBuf {
    if let Some(folder) = std::env::var_os("MLC_PIPEDRIVE_SPECS") {
        return PathBuf::from(folder);
    }
    // crates/spec-check -> the workspace -> its parent, where `shared/` lies.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

fn strict() -> bool {
    std::env::var("MLC_TEST_STRICT").as_deref() == Ok("1")
}

/// The documents, read once per test binary, or `None` (with the reason printed) when they are
/// not there. Under `MLC_TEST_STRICT=1` their absence panics instead, so CI cannot pass
/// without checking.
pub fn load() -> Option<&'static Specs> {
    static SPECS: OnceLock<Option<Specs>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        let folder = specs_folder();
        let (v1_path, v2_path) = (folder.join(V1_FILE), folder.join(V2_FILE));
        if !v1_path.exists() || !v2_path.exists() {
            return None;
        }
        Some(Specs {
            v1: read_yaml(&v1_path),
            v2: read_yaml(&v2_path),
        })
    });
    if specs.is_none() {
        let reason = format!(
            "Pipedrive OpenAPI documents not found in {} (set MLC_PIPEDRIVE_SPECS)",
            specs_folder().display()
        );
        if strict() {
            panic!("{reason}; MLC_TEST_STRICT=1 requires them");
        }
        eprintln!("skipped spec checks: {reason}");
    }
    specs.as_ref()
}

fn read_yaml(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{} is not readable: {error}", path.display()));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
    yaml_to_json(yaml)
}

/// YAML allows keys JSON does not (the documents' status codes are integer keys): every key
/// becomes its text, so `responses["200"]` finds them.
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

impl Specs {
    /// The document that describes `path`, its version prefix, and the path inside the
    /// document. The OAuth endpoints (`/oauth/...`) are in the v1 document as they are.
    pub(crate) fn locate<'path>(
        &self,
        path: &'path str,
    ) -> Option<(&Value, &'static str, &'path str)> {
        if let Some(rest) = path.strip_prefix("/api/v2") {
            Some((&self.v2, "/api/v2", rest))
        } else if let Some(rest) = path.strip_prefix("/v1") {
            Some((&self.v1, "/v1", rest))
        } else if path.starts_with("/oauth/") {
            Some((&self.v1, "", path))
        } else {
            None
        }
    }

    /// The document `path` belongs to; v2 for a path of neither (its operations are then
    /// unknown anyway).
    pub(crate) fn document_of(&self, path: &str) -> &Value {
        self.locate(path)
            .map(|(document, _, _)| document)
            .unwrap_or(&self.v2)
    }

    /// The operation for `method` on `path`, which is either a route template
    /// (`/api/v2/organizations/{id}`) or a concrete path (`/api/v2/organizations/7`), with
    /// its template (prefix included). The template with the most literal segments wins, so
    /// `/organizations/search` is not taken for `/organizations/{id}`.
    pub fn operation<'a>(&'a self, method: &str, path: &'a str) -> Option<(String, &'a Value)> {
        let (document, prefix, rest) = self.locate(path)?;
        let paths = document.get("paths")?.as_object()?;
        let method = method.to_ascii_lowercase();
        let wanted: Vec<&str> = rest.split('/').collect();
        let mut best: Option<(usize, &String, &Value)> = None;
        for (template, item) in paths {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != wanted.len() {
                continue;
            }
            let mut literal = 0;
            let matches = parts.iter().zip(&wanted).all(|(part, actual)| {
                if part.starts_with('{') {
                    true
                } else {
                    literal += 1;
                    part == actual
                }
            });
            if !matches {
                continue;
            }
            let Some(operation) = item.get(&method) else {
                continue;
            };
            if best.as_ref().is_none_or(|(score, _, _)| literal > *score) {
                best = Some((literal, template, operation));
            }
        }
        best.map(|(_, template, operation)| (format!("{prefix}{template}"), operation))
    }

    /// Every operation with its `x-token-cost`, as (METHOD, /prefix/template, cost).
    pub fn token_costs(&self) -> Vec<(String, String, u64)> {
        let mut costs = Vec::new();
        for (document, prefix) in [(&self.v1, "/v1"), (&self.v2, "/api/v2")] {
            let Some(paths) = document.get("paths").and_then(|paths| paths.as_object()) else {
                continue;
            };
            for (template, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, operation) in item {
                    if let Some(cost) = operation.get("x-token-cost").and_then(Value::as_u64) {
                        costs.push((
                            method.to_ascii_uppercase(),
                            format!("{prefix}{template}"),
                            cost,
                        ));
                    }
                }
            }
        }
        costs
    }
}

/// Follows a `$ref` (`#/components/schemas/X`) within `document`, repeatedly.
pub(crate) fn follow_ref<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..40 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let mut target = document;
        for part in reference.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        schema = target;
    }
    schema
}
