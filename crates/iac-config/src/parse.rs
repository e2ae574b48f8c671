//! Parsing repository files into their types without echoing their content: parser messages
//! quote offending values (`invalid type: string "..."`), so quoted text is redacted; YAML tags
//! and directives are refused before the typed model is read.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use crate::load::{ConfigProblem, problem};

/// Longest backquoted word kept in a parser message (longer ones could be secrets: a GitHub
/// token has 40 characters).
const MAX_SHOWN: usize = 32;

/// Whether `word` may appear in a message: a short identifier or path (`storag`, `qa`, `5`,
/// `.git`, `local/dev`), or a URL scheme (`gs://`).
fn is_showable(word: &str) -> bool {
    let word = word.strip_suffix("://").unwrap_or(word);
    let mut chars = word.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        && word.len() <= MAX_SHOWN
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

/// `` `value` `` when it is a short identifier, else `` `…` ``: how messages name a value read
/// from a file.
pub(crate) fn shown(value: &str) -> String {
    if is_showable(value) {
        format!("`{value}`")
    } else {
        "`…`".to_owned()
    }
}

/// `message` with every double-quoted string replaced by `"…"` and every backquoted word that
/// is not a short identifier replaced by `` `…` ``, so a parser's message never repeats
/// arbitrary file content.
pub(crate) fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for inner in chars.by_ref() {
                    match inner {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"…\"");
            }
            '`' => {
                let word: String = chars.by_ref().take_while(|&c| c != '`').collect();
                if is_showable(&word) {
                    out.push('`');
                    out.push_str(&word);
                    out.push('`');
                } else {
                    out.push_str("`…`");
                }
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A parser message without its trailing ` at line X column Y` (the line is reported apart).
fn without_position(text: &str) -> &str {
    text.find(" at line ").map_or(text, |i| &text[..i])
}

/// Splits serde_yaml's `path.to[0].field: message` into the field and the message.
fn split_field(message: &str) -> (Option<&str>, &str) {
    if let Some((head, rest)) = message.split_once(": ")
        && !head.is_empty()
        && head.len() <= 200
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
    {
        return (Some(head), rest);
    }
    (None, message)
}

/// Whether every key of a parser's path (`a.b[0].c`) is a short identifier: the path of an
/// untyped parse is made of the file's own keys.
fn is_showable_path(field: &str) -> bool {
    field
        .split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .all(|key| key.is_empty() || is_showable(key))
}

/// A problem of the untyped parse. Its two messages that carry a path (a repeated key, an empty
/// tag) are the tool's own, since the path is made of the file's keys: the path is kept only
/// when made of short identifiers.
fn syntax_problem(path: &str, text: &str, error: &serde_yaml_ng::Error) -> ConfigProblem {
    let shown = redact(&error.to_string());
    let message = if shown.contains("duplicate entry ") {
        "a key appears more than once in the same mapping"
    } else if shown.contains("empty YAML tag is not allowed") {
        "empty YAML tags (`!`) are not allowed"
    } else {
        return yaml_problem(path, text, error);
    };
    let raw = error.to_string();
    let field = split_field(&raw).0.filter(|field| is_showable_path(field));
    problem(path, error.location().map(|l| l.line()), field, message)
}

fn yaml_problem(path: &str, text: &str, error: &serde_yaml_ng::Error) -> ConfigProblem {
    let line = error.location().map(|l| l.line());
    let shown = error.to_string();
    let (field, message) = split_field(without_position(&shown));
    // A value's own error may name its key (`storage: ...`) below the path serde_yaml reports
    // (`environments[0]`).
    if let Some(parent) = field
        && let Some((key, rest)) = message.split_once(": ")
        && !key.is_empty()
        && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        let field = format!("{parent}.{key}");
        // serde_yaml places such an error at the enclosing mapping: find the key's own line.
        let needle = format!("{key}:");
        let line = line.map(|start| {
            text.lines()
                .enumerate()
                .skip(start.saturating_sub(1))
                .find(|(_, l)| l.trim_start().trim_start_matches("- ").starts_with(&needle))
                .map_or(start, |(i, _)| i + 1)
        });
        return problem(path, line, Some(&field), redact(rest));
    }
    problem(path, line, field, redact(message))
}

/// Parses a YAML file as `T`: UTF-8, one document, no tags or directives anywhere, then the
/// typed model (whose errors carry line and field). Problems never quote the file.
pub(crate) fn parse_yaml<T: DeserializeOwned>(
    path: &str,
    bytes: &[u8],
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push(problem(path, None, None, "not UTF-8 text"));
        return None;
    };
    if let Err(e) = serde_yaml_ng::from_str::<Value>(text) {
        problems.push(syntax_problem(path, text, &e));
        return None;
    }
    let before = problems.len();
    check_tags(path, text, problems);
    if problems.len() > before {
        return None;
    }
    match serde_yaml_ng::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(yaml_problem(path, text, &e));
            None
        }
    }
}

/// Refuses YAML tags (`!foo`, `!!binary`, `!!str`, `!<verbatim>`) and directives (`%TAG`,
/// `%YAML`): a tagged value can mean one thing to this tool and another to the next reader.
///
/// The parser resolves the standard `!!` tags silently, so the text is parsed again with
/// `%TAG !! !` in front, which turns every `!!x` into a local tag `!x` that the parsed value
/// keeps; verbatim tags and directives are found in the text.
fn check_tags(path: &str, text: &str, problems: &mut Vec<ConfigProblem>) {
    const TAGS: &str = "YAML tags (`!…`, `!!…`) are not allowed: write plain values (quote a value that starts with `!`)";
    let mut found = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('%') {
            problems.push(problem(
                path,
                Some(i + 1),
                None,
                "YAML directives (`%YAML`, `%TAG`) are not allowed",
            ));
            found = true;
        } else if line.contains("!<") {
            problems.push(problem(path, Some(i + 1), None, TAGS));
            found = true;
        }
    }
    if found {
        return;
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reparsed = serde_yaml_ng::from_str::<Value>(&format!("%TAG !! !\n---\n{body}"))
        .or_else(|_| serde_yaml_ng::from_str::<Value>(&format!("%TAG !! !\n{body}")));
    match reparsed {
        Ok(value) if has_tag(&value) => {
            problems.push(problem(path, tag_line(text), None, TAGS));
        }
        Ok(_) => {}
        Err(_) => problems.push(problem(
            path,
            None,
            None,
            "cannot be checked for YAML tags: write one plain YAML document",
        )),
    }
}

fn has_tag(value: &Value) -> bool {
    match value {
        Value::Tagged(_) => true,
        Value::Sequence(items) => items.iter().any(has_tag),
        Value::Mapping(map) => map.iter().any(|(k, v)| has_tag(k) || has_tag(v)),
        _ => false,
    }
}

/// The first line (1-based) with a `!` where a tag can start, outside comment lines.
fn tag_line(text: &str) -> Option<usize> {
    text.lines().enumerate().find_map(|(i, line)| {
        if line.trim_start().starts_with('#') {
            return None;
        }
        let bytes = line.as_bytes();
        bytes
            .iter()
            .enumerate()
            .any(|(j, &b)| {
                b == b'!'
                    && (j == 0 || matches!(bytes[j - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b'!'))
            })
            .then_some(i + 1)
    })
}

/// Parses a JSON file as `T`. Problems never quote the file.
pub(crate) fn parse_json<T: DeserializeOwned>(
    path: &str,
    bytes: &[u8],
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = (e.line() > 0).then_some(e.line());
            let text = e.to_string();
            problems.push(problem(path, line, None, redact(without_position(&text))));
            None
        }
    }
}
