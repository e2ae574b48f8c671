//! Checks response bodies against GitHub's published OpenAPI description
//! (npm `@octokit/openapi`, `generated/api.github.com.json` or its `.deref` variant).
//!
//! OpenAPI 3.0 schemas are converted to JSON Schema 2020-12 (`nullable: true` adds `null`,
//! `oneOf` is checked as `anyOf` because GitHub's alternatives overlap, annotations such as
//! `example` and `discriminator` are dropped) and `#/components/schemas/..`
//! references are resolved by embedding the referenced component schemas (only those reachable)
//! under `components` in each compiled validator. Validators are compiled lazily and cached.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::Error;

/// One non-conforming response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Violation {
    /// HTTP method.
    pub method: String,
    /// Request path (without query).
    pub path: String,
    /// The OpenAPI path template the request matched.
    pub operation: String,
    /// Response status.
    pub status: u16,
    /// What did not conform.
    pub errors: Vec<String>,
}

#[derive(Debug)]
struct Operation {
    template: String,
    segments: Vec<Seg>,
    /// method (lower case) -> status (or `default`) -> schema (None: no body documented).
    methods: HashMap<String, BTreeMap<String, Option<Value>>>,
    /// method (lower case) -> request body schema.
    requests: HashMap<String, Value>,
}

#[derive(Debug)]
enum Seg {
    Lit(String),
    /// A parameter; `multi` ones may span several segments (`{path}`, `{ref}`).
    Param {
        multi: bool,
    },
}

/// A loaded OpenAPI description.
pub struct OpenApi {
    ops: Vec<Operation>,
    schemas: Map<String, Value>,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi")
            .field("operations", &self.ops.len())
            .finish_non_exhaustive()
    }
}

const COMPONENT_PREFIX: &str = "#/components/schemas/";

impl OpenApi {
    /// Loads the description at `path` once per process and shares it.
    pub fn load_shared(path: &Path) -> Result<Arc<Self>, Error> {
        static CACHE: std::sync::OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<OpenApi>>>> =
            std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut guard = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(api) = guard.get(path) {
            return Ok(Arc::clone(api));
        }
        let api = Arc::new(Self::load(path)?);
        guard.insert(path.to_path_buf(), Arc::clone(&api));
        Ok(api)
    }

    /// Loads and prepares the description at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Self::from_value(&doc)
    }

    /// Prepares an already parsed description.
    pub fn from_value(doc: &Value) -> Result<Self, Error> {
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Io("OpenAPI description has no `paths`".into()))?;
        let responses = doc
            .pointer("/components/responses")
            .and_then(Value::as_object);
        let mut schemas = Map::new();
        if let Some(s) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (k, v) in s {
                schemas.insert(k.clone(), convert(v));
            }
        }
        let mut ops = Vec::new();
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut methods = HashMap::new();
            let mut requests = HashMap::new();
            for (method, op) in item {
                let Some(resps) = op.get("responses").and_then(Value::as_object) else {
                    continue;
                };
                let mut by_status = BTreeMap::new();
                for (status, resp) in resps {
                    let resp = match resp.get("$ref").and_then(Value::as_str) {
                        Some(r) => r
                            .strip_prefix("#/components/responses/")
                            .and_then(|name| responses.and_then(|rs| rs.get(name)))
                            .unwrap_or(&Value::Null),
                        None => resp,
                    };
                    by_status.insert(status.clone(), response_schema(resp).map(convert));
                }
                methods.insert(method.to_ascii_lowercase(), by_status);
                let request_body =
                    op.get("requestBody")
                        .map(|rb| match rb.get("$ref").and_then(Value::as_str) {
                            Some(r) => r
                                .strip_prefix("#/components/requestBodies/")
                                .and_then(|name| {
                                    doc.pointer(&format!("/components/requestBodies/{name}"))
                                })
                                .unwrap_or(&Value::Null),
                            None => rb,
                        });
                if let Some(schema) = request_body.and_then(response_schema) {
                    requests.insert(method.to_ascii_lowercase(), convert(schema));
                }
            }
            let segments = template
                .trim_start_matches('/')
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Seg::Param {
                            multi: name == "path" || name == "ref",
                        },
                        None => Seg::Lit(s.to_owned()),
                    },
                )
                .collect();
            ops.push(Operation {
                template: template.clone(),
                segments,
                methods,
                requests,
            });
        }
        Ok(Self {
            ops,
            schemas,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.ops
            .iter()
            .filter(|op| op.methods.contains_key(method) && matches(&op.segments, &segs))
            .max_by_key(|op| {
                op.segments
                    .iter()
                    .filter(|s| matches!(s, Seg::Lit(_)))
                    .count()
            })
    }

    /// Validates one response. Returns None when no operation matches the request,
    /// otherwise the list of problems (empty when the body conforms).
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        is_json: bool,
    ) -> Option<(String, Vec<String>)> {
        let method = method.to_ascii_lowercase();
        // `GET git/refs[/prefix]` (older than the description) answers one ref on an exact
        // match, as `git/ref/{ref}` documents it, else a list as `git/matching-refs/{ref}` does.
        let path = match (method.as_str(), path.split_once("/git/refs")) {
            ("get", Some((repo, rest))) => {
                let kind = if body.first() == Some(&b'{') {
                    "ref"
                } else {
                    "matching-refs"
                };
                format!("{repo}/git/{kind}/{}", rest.trim_start_matches('/'))
            }
            _ => path.to_owned(),
        };
        let op = self.find(&method, &path)?;
        let responses = op.methods.get(&method)?;
        let key = status.to_string();
        let mut errors = Vec::new();
        let schema = match responses.get(&key).or_else(|| responses.get("default")) {
            Some(s) => s.clone(),
            None if status >= 400 => {
                Some(json!({"$ref": format!("{COMPONENT_PREFIX}basic-error")}))
            }
            None => {
                errors.push(format!(
                    "status {status} is not documented for {} {}",
                    method.to_uppercase(),
                    op.template
                ));
                None
            }
        };
        if let Some(schema) = schema {
            if is_json {
                match serde_json::from_slice::<Value>(body) {
                    Err(e) => errors.push(format!("body is not JSON: {e}")),
                    Ok(instance) => {
                        match self.validator(&format!("{method} {} {key}", op.template), &schema) {
                            Err(e) => errors.push(format!("schema does not compile: {e}")),
                            Ok(v) => errors.extend(
                                v.iter_errors(&instance)
                                    .take(20)
                                    .map(|e| format!("{} at {}", e, e.instance_path())),
                            ),
                        }
                    }
                }
            } else {
                errors.push(format!("expected a JSON body for status {status}"));
            }
        } else if status < 300 && is_json && !body.is_empty() && responses.contains_key(&key) {
            errors.push(format!(
                "status {status} documents no body, but one was sent"
            ));
        }
        Some((op.template.clone(), errors))
    }

    /// Validates a request body against the operation's `requestBody` schema. Returns None
    /// when no operation matches or the body is not JSON (the handler answers 400 for that).
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Option<(String, Vec<String>)> {
        let method = method.to_ascii_lowercase();
        let op = self.find(&method, path)?;
        let Some(schema) = op.requests.get(&method) else {
            return Some((op.template.clone(), Vec::new()));
        };
        let instance: Value = serde_json::from_slice(body).ok()?;
        let errors = match self.validator(&format!("{method} {} request", op.template), schema) {
            Err(e) => vec![format!("schema does not compile: {e}")],
            Ok(v) => v
                .iter_errors(&instance)
                .take(20)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect(),
        };
        Some((op.template.clone(), errors))
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.cache.lock().map_err(|e| e.to_string())?.get(key) {
            return Ok(Arc::clone(v));
        }
        let mut needed = BTreeSet::new();
        let mut todo = Vec::new();
        collect_refs(schema, &mut todo);
        while let Some(name) = todo.pop() {
            if needed.insert(name.clone())
                && let Some(s) = self.schemas.get(&name)
            {
                collect_refs(s, &mut todo);
            }
        }
        let subset: Map<String, Value> = needed
            .iter()
            .filter_map(|n| self.schemas.get(n).map(|s| (n.clone(), s.clone())))
            .collect();
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": {"schemas": subset},
        });
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map_err(|e| e.to_string())?;
        let v = Arc::new(v);
        self.cache
            .lock()
            .map_err(|e| e.to_string())?
            .insert(key.to_owned(), Arc::clone(&v));
        Ok(v)
    }
}

fn matches(template: &[Seg], path: &[&str]) -> bool {
    match (template.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Seg::Lit(l)), Some(p)) => l == p && matches(&template[1..], &path[1..]),
        (Some(Seg::Param { multi: false }), Some(p)) => {
            !p.is_empty() && matches(&template[1..], &path[1..])
        }
        (Some(Seg::Param { multi: true }), Some(_)) => {
            (1..=path.len()).any(|n| matches(&template[1..], &path[n..]))
        }
    }
}

fn response_schema(resp: &Value) -> Option<&Value> {
    let content = resp.get("content")?.as_object()?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(k, _)| k.contains("json"))
                .map(|(_, v)| v)
        })?
        .get("schema")
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(COMPONENT_PREFIX))
            {
                out.push(r.to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Converts an OpenAPI 3.0 schema object to JSON Schema 2020-12.
pub fn convert(s: &Value) -> Value {
    let Some(obj) = s.as_object() else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" | "patternProperties" => {
                // Anything but an object is kept as written, so compiling the schema names the
                // mistake instead of checking against no properties at all.
                let props = match v.as_object() {
                    Some(m) => {
                        Value::Object(m.iter().map(|(pk, pv)| (pk.clone(), convert(pv))).collect())
                    }
                    None => v.clone(),
                };
                out.insert(k.clone(), props);
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(k.clone(), convert(v));
            }
            "allOf" | "anyOf" | "oneOf" => {
                // As for properties: anything but an array is kept as written.
                let list = match v.as_array() {
                    Some(a) => Value::Array(a.iter().map(convert).collect()),
                    None => v.clone(),
                };
                // GitHub's `oneOf` alternatives overlap (e.g. `basic-error` and
                // `repository-rule-violation-error` require nothing), so a real GitHub body
                // matches several; they are checked as `anyOf`.
                let key = if k == "oneOf" {
                    "anyOf".to_owned()
                } else {
                    k.clone()
                };
                out.insert(key, list);
            }
            "example" | "examples" | "discriminator" | "xml" | "externalDocs" | "nullable"
            | "readOnly" | "writeOnly" | "deprecated" => {}
            "exclusiveMinimum" | "exclusiveMaximum" if v.is_boolean() => {
                let bound = if k == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                if v.as_bool() == Some(true)
                    && let Some(b) = obj.get(bound)
                {
                    out.insert(k.clone(), b.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, excl) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if obj.get(excl).and_then(Value::as_bool) == Some(true) {
            out.remove(k);
        }
    }
    if obj.get("nullable").and_then(Value::as_bool) == Some(true) {
        if let Some(e) = out.get_mut("enum").and_then(Value::as_array_mut)
            && !e.contains(&Value::Null)
        {
            e.push(Value::Null);
        }
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = t.clone();
                out.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(a)) => {
                if !a.contains(&json!("null")) {
                    a.push(json!("null"));
                }
            }
            _ => return json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
        }
    }
    Value::Object(out)
}
