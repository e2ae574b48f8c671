//! Checks webhook payloads against GitHub's published webhook schemas (npm
//! `@octokit/webhooks-schemas`, `schema.json`; `scripts/fetch-webhook-schemas` fetches it).
//!
//! The package is one JSON Schema (draft-07) document: a root `oneOf` of every event, each a
//! reference to a definition. An event without actions is one definition named `<event>$event`
//! (`push$event`, `repository_dispatch$event`, `workflow_dispatch$event`); an event with actions
//! is `<event>_event`, a `oneOf` of one definition per action, `<event>$<action>`
//! (`pull_request$opened`, `pull_request_review$submitted`). A payload is checked against the
//! definition its event name and `action` pick, never against the whole `oneOf` (whose errors
//! would name every other event). Every definition is compiled once, when the document is
//! loaded. `schedule`, which is no webhook, is checked against a definition of fake-github's
//! made of the package's own (see `schedule_definition`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::Error;

/// Environment variable naming the package's `schema.json` (`scripts/fetch-webhook-schemas`):
/// the workflow runner validates every payload against it (`RunnerConfig::webhook_schemas`).
pub const ENV_TEST_WEBHOOK_SCHEMAS: &str = "GITOPS_TEST_WEBHOOK_SCHEMAS";

/// How an event's payloads are described.
#[derive(Debug, Clone)]
enum Shape {
    /// One definition for every payload.
    Plain(String),
    /// One definition per `action`.
    Actions(BTreeMap<String, String>),
}

/// GitHub's webhook payload schemas, compiled.
pub struct WebhookSchemas {
    events: BTreeMap<String, Shape>,
    validators: jsonschema::ValidatorMap,
}

impl std::fmt::Debug for WebhookSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSchemas")
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Loaded documents by path: every fake-github in a process shares one.
static SHARED: Mutex<Option<HashMap<PathBuf, Arc<WebhookSchemas>>>> = Mutex::new(None);

/// `schedule` is no webhook (GitHub sends it to no server, so the package has no schema for it;
/// octokit/webhooks#141), but it is the payload of a scheduled run's `github.event`: the cron
/// that fired, the workflow's path, and the repository (with the organisation and sender every
/// payload carries), in the package's own definitions. This definition is fake-github's.
fn schedule_definition() -> Value {
    serde_json::json!({
        "title": "schedule event (fake-github's definition: no webhook is sent for it)",
        "type": "object",
        "required": ["schedule", "workflow", "repository"],
        "properties": {
            "schedule": {"type": "string", "description": "The cron that fired."},
            "workflow": {"type": "string", "description": "The workflow file's path."},
            "repository": {"$ref": "#/definitions/repository"},
            "organization": {"$ref": "#/definitions/organization"},
            "sender": {"$ref": "#/definitions/user"},
        },
        "additionalProperties": false,
    })
}

/// The definition a root `oneOf` item or an event's `oneOf` item refers to.
fn definition_ref(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix("#/definitions/")
}

impl WebhookSchemas {
    /// Loads `schema.json` at `path` once per process (later calls share it).
    pub fn load_shared(path: &Path) -> Result<Arc<Self>, Error> {
        let mut guard = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(s) = map.get(path) {
            return Ok(Arc::clone(s));
        }
        let s = Arc::new(Self::load(path)?);
        map.insert(path.to_path_buf(), Arc::clone(&s));
        Ok(s)
    }

    /// Loads and compiles the package's `schema.json` at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Io(format!("{}: not JSON: {e}", path.display())))?;
        Self::from_value(&doc).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
    }

    /// Compiles an already parsed document; the error says what is not as expected.
    pub fn from_value(doc: &Value) -> Result<Self, String> {
        let defs = doc
            .get("definitions")
            .and_then(Value::as_object)
            .ok_or("not @octokit/webhooks-schemas: no `definitions`")?;
        let roots = doc
            .get("oneOf")
            .and_then(Value::as_array)
            .ok_or("not @octokit/webhooks-schemas: no root `oneOf` of events")?;
        let mut events = BTreeMap::new();
        for root in roots {
            let name = definition_ref(root).ok_or_else(|| {
                format!("root `oneOf` item {root} is not a `#/definitions/` $ref")
            })?;
            let def = defs
                .get(name)
                .ok_or_else(|| format!("root `oneOf` refers to missing definition {name}"))?;
            if let Some(event) = name.strip_suffix("$event") {
                events.insert(event.to_owned(), Shape::Plain(name.to_owned()));
            } else if let Some(event) = name.strip_suffix("_event") {
                let prefix = format!("{event}$");
                let actions: Option<BTreeMap<String, String>> =
                    def.get("oneOf").and_then(Value::as_array).map(|items| {
                        items
                            .iter()
                            .filter_map(definition_ref)
                            .filter_map(|d| {
                                d.strip_prefix(&prefix)
                                    .map(|action| (action.to_owned(), d.to_owned()))
                            })
                            .collect()
                    });
                let shape = match actions {
                    Some(a) if !a.is_empty() => Shape::Actions(a),
                    _ => Shape::Plain(name.to_owned()),
                };
                events.insert(event.to_owned(), shape);
            } else {
                return Err(format!(
                    "root `oneOf` refers to {name}, neither `<event>$event` nor `<event>_event`"
                ));
            }
        }
        let mut doc = doc.clone();
        if !events.contains_key("schedule")
            && ["repository", "organization", "user"]
                .iter()
                .all(|d| defs.contains_key(*d))
        {
            doc["definitions"]["schedule$event"] = schedule_definition();
            events.insert("schedule".into(), Shape::Plain("schedule$event".into()));
        }
        let validators = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build_map(&doc)
            .map_err(|e| format!("the schema does not compile: {e}"))?;
        let this = Self { events, validators };
        for shape in this.events.values() {
            let names: Vec<&String> = match shape {
                Shape::Plain(d) => vec![d],
                Shape::Actions(a) => a.values().collect(),
            };
            for d in names {
                if this.validator(d).is_none() {
                    return Err(format!("definition {d} was not compiled"));
                }
            }
        }
        Ok(this)
    }

    fn validator(&self, definition: &str) -> Option<&jsonschema::Validator> {
        self.validators
            .get(&format!("#/definitions/{definition}"))
            .or_else(|| {
                // Fragments may be kept percent-encoded (`$` is `%24`).
                self.validators
                    .get(&format!("#/definitions/{}", definition.replace('$', "%24")))
            })
    }

    /// The events the schema describes.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.keys().map(String::as_str)
    }

    /// The definition `event`'s payload is checked against (it depends on the payload's
    /// `action` for events that have actions), or why there is none.
    pub fn definition(&self, event: &str, payload: &Value) -> Result<String, String> {
        match self.events.get(event) {
            None => Err(format!(
                "event {event:?} is not a webhook event @octokit/webhooks-schemas knows"
            )),
            Some(Shape::Plain(d)) => Ok(d.clone()),
            Some(Shape::Actions(actions)) => {
                let Some(action) = payload.get("action").and_then(Value::as_str) else {
                    return Err(format!(
                        "event {event:?} has actions ({}) but the payload has no string `action`",
                        actions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                };
                actions.get(action).cloned().ok_or_else(|| {
                    format!(
                        "event {event:?} has no action {action:?} (it has {})",
                        actions.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
            }
        }
    }

    /// What does not conform in `payload` as the payload of `event` (empty: it conforms). An
    /// event the schema does not know, or an action it does not know, is itself an error.
    pub fn validate(&self, event: &str, payload: &Value) -> Vec<String> {
        let definition = match self.definition(event, payload) {
            Ok(d) => d,
            Err(e) => return vec![e],
        };
        let Some(v) = self.validator(&definition) else {
            return vec![format!("definition {definition} was not compiled")];
        };
        v.iter_errors(payload)
            .take(20)
            .map(|e| {
                format!(
                    "{} at {}",
                    shorten(&e.to_string()),
                    display_path(&e.instance_path().to_string())
                )
            })
            .collect()
    }
}

/// A message at most 300 characters long: errors about a whole object (`oneOf`) quote it.
fn shorten(message: &str) -> String {
    const MAX: usize = 300;
    if message.chars().count() <= MAX {
        return message.to_owned();
    }
    let head: String = message.chars().take(MAX / 2).collect();
    let tail: Vec<char> = message.chars().rev().take(MAX / 2).collect();
    format!("{head} … {}", tail.into_iter().rev().collect::<String>())
}

/// An instance path for a message: `/` for the root.
fn display_path(p: &str) -> String {
    if p.is_empty() {
        "/".into()
    } else {
        p.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A document laid out as the package's is, small enough to read.
    fn doc() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "oneOf": [
                {"$ref": "#/definitions/ping$event"},
                {"$ref": "#/definitions/label_event"},
            ],
            "definitions": {
                "user": {
                    "type": "object",
                    "required": ["login", "id"],
                    "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
                    "additionalProperties": false,
                },
                "ping$event": {
                    "type": "object",
                    "required": ["zen", "sender"],
                    "properties": {
                        "zen": {"type": "string"},
                        "sender": {"$ref": "#/definitions/user"},
                        "hook_url": {"type": "string", "format": "uri"},
                    },
                    "additionalProperties": false,
                },
                "label_event": {"oneOf": [
                    {"$ref": "#/definitions/label$created"},
                    {"$ref": "#/definitions/label$deleted"},
                ]},
                "label$created": {
                    "type": "object",
                    "required": ["action", "label"],
                    "properties": {
                        "action": {"type": "string", "enum": ["created"]},
                        "label": {"type": "string"},
                    },
                    "additionalProperties": false,
                },
                "label$deleted": {
                    "type": "object",
                    "required": ["action", "label", "sender"],
                    "properties": {
                        "action": {"type": "string", "enum": ["deleted"]},
                        "label": {"type": "string"},
                        "sender": {"$ref": "#/definitions/user"},
                    },
                    "additionalProperties": false,
                },
            },
        })
    }

    fn schemas() -> WebhookSchemas {
        WebhookSchemas::from_value(&doc()).expect("the test document compiles")
    }

    #[test]
    fn events_are_read_from_the_root_one_of() {
        let s = schemas();
        assert_eq!(s.events().collect::<Vec<_>>(), ["label", "ping"]);
    }

    #[test]
    fn a_conforming_payload_has_no_errors() {
        let s = schemas();
        let ping = json!({"zen": "Keep it logically awesome.", "sender": {"login": "a", "id": 1}});
        assert_eq!(s.validate("ping", &ping), Vec::<String>::new());
        let created = json!({"action": "created", "label": "bug"});
        assert_eq!(s.validate("label", &created), Vec::<String>::new());
    }

    #[test]
    fn errors_name_what_is_wrong_and_where() {
        let s = schemas();
        let ping = json!({"zen": 1, "sender": {"login": "a", "id": 1, "extra": true}});
        let errors = s.validate("ping", &ping);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.ends_with("at /zen")), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("extra") && e.ends_with("at /sender")),
            "{errors:?}"
        );
        let missing = s.validate("ping", &json!({"zen": "z"}));
        assert!(
            missing
                .iter()
                .any(|e| e.contains("sender") && e.ends_with("at /")),
            "{missing:?}"
        );
    }

    #[test]
    fn formats_are_checked() {
        let s = schemas();
        let ping = json!({"zen": "z", "sender": {"login": "a", "id": 1}, "hook_url": "not a uri"});
        assert_eq!(s.validate("ping", &ping).len(), 1);
    }

    #[test]
    fn the_action_picks_the_definition() {
        let s = schemas();
        let deleted = json!({"action": "deleted", "label": "bug"});
        assert_eq!(
            s.definition("label", &deleted).as_deref(),
            Ok("label$deleted")
        );
        // Valid for `created`, but `deleted` requires a sender.
        let errors = s.validate("label", &deleted);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("sender"), "{errors:?}");
    }

    #[test]
    fn unknown_events_and_actions_are_errors() {
        let s = schemas();
        let unknown = s.validate("gollum", &json!({}));
        assert_eq!(unknown.len(), 1);
        assert!(unknown[0].contains("\"gollum\""), "{unknown:?}");
        // `schedule` is added only when the package's own definitions it is made of exist.
        assert!(s.validate("schedule", &json!({}))[0].contains("not a webhook event"));
        let action = s.validate("label", &json!({"action": "edited", "label": "x"}));
        assert_eq!(action.len(), 1);
        assert!(
            action[0].contains("\"edited\"") && action[0].contains("created, deleted"),
            "{action:?}"
        );
        let none = s.validate("label", &json!({"label": "x"}));
        assert!(none[0].contains("no string `action`"), "{none:?}");
    }

    #[test]
    fn documents_of_another_layout_are_refused() {
        assert!(
            WebhookSchemas::from_value(&json!({"definitions": {}}))
                .unwrap_err()
                .contains("oneOf")
        );
        let odd = json!({"oneOf": [{"$ref": "#/definitions/thing"}], "definitions": {"thing": {}}});
        assert!(
            WebhookSchemas::from_value(&odd)
                .unwrap_err()
                .contains("thing")
        );
        let dangling = json!({"oneOf": [{"$ref": "#/definitions/a$event"}], "definitions": {}});
        assert!(
            WebhookSchemas::from_value(&dangling)
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn long_messages_are_shortened_keeping_both_ends() {
        let long = format!("{} is not valid at the end", "x".repeat(1000));
        let short = shorten(&long);
        assert!(short.chars().count() < 310, "{short}");
        assert!(
            short.starts_with("xxx") && short.ends_with("valid at the end"),
            "{short}"
        );
        assert_eq!(shorten("short"), "short");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = WebhookSchemas::load(Path::new("/nonexistent/schema.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/schema.json"), "{e}");
    }

    /// The real package, when `GITOPS_TEST_WEBHOOK_SCHEMAS` names it.
    #[test]
    fn the_package_loads_and_knows_the_runner_events() {
        let Some(path) = std::env::var_os(ENV_TEST_WEBHOOK_SCHEMAS) else {
            crate::skip(
                "the_package_loads_and_knows_the_runner_events",
                "GITOPS_TEST_WEBHOOK_SCHEMAS is not set",
            );
            return;
        };
        let s = WebhookSchemas::load(Path::new(&path)).expect("the package loads");
        for (event, payload, def) in [
            ("push", json!({}), "push$event"),
            (
                "pull_request",
                json!({"action": "opened"}),
                "pull_request$opened",
            ),
            (
                "pull_request",
                json!({"action": "synchronize"}),
                "pull_request$synchronize",
            ),
            (
                "pull_request_review",
                json!({"action": "submitted"}),
                "pull_request_review$submitted",
            ),
            (
                "repository_dispatch",
                json!({"action": "deploy"}),
                "repository_dispatch$event",
            ),
            ("workflow_dispatch", json!({}), "workflow_dispatch$event"),
            ("schedule", json!({}), "schedule$event"),
            (
                "release",
                json!({"action": "published"}),
                "release$published",
            ),
        ] {
            assert_eq!(s.definition(event, &payload).as_deref(), Ok(def));
        }
        // An empty push payload misses every required property.
        assert!(s.validate("push", &json!({})).len() > 5);
        // fake-github's `schedule`: the cron and the workflow are required, nothing else is
        // allowed beside the repository, organisation and sender.
        let errors = s.validate("schedule", &json!({"schedule": "0 0 * * *", "extra": 1}));
        assert!(errors.iter().any(|e| e.contains("workflow")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("repository")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("extra")), "{errors:?}");
    }
}
