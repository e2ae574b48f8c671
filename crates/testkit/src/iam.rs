//! A small, faithful evaluator of IAM JSON policy documents, for tests that check what a role
//! may do (moto does not evaluate IAM).
//!
//! - [`Policy`]: an identity (permission) policy: `Effect`, `Action`, `Resource`; an explicit
//!   `Deny` wins, otherwise some `Allow` must match. Anything it cannot evaluate faithfully
//!   (`NotAction`, `NotResource`, `Condition`, `Principal`, policy variables) is refused when
//!   parsing, never silently ignored.
//! - [`TrustPolicy`]: a role's trust policy: `Principal`, `Action` and `Condition` with the
//!   string operators, evaluated against the claims of a web-identity token.
//! - [`wildcard_findings`]: the tflint-class check for wildcard actions and resources.
//!
//! Matching follows IAM: actions compare case-insensitively, resources and condition values
//! case-sensitively (except the `IgnoreCase` operators); `*` matches any run of characters
//! (including `/` and `:`), `?` exactly one; condition key names compare case-insensitively.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// One statement of an identity policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// The `Action` patterns, as written.
    pub actions: Vec<String>,
    /// The `Resource` patterns, as written.
    pub resources: Vec<String>,
}

/// An identity (permission) policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The statements, in document order.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Reads a policy document: `Statement` an object or a list; `Action` and `Resource` a
    /// string or a list; `Effect` `Allow` or `Deny`. Refuses what this evaluator cannot decide
    /// faithfully (`NotAction`, `NotResource`, `Condition`, `Principal`, policy variables) and
    /// any key IAM does not know.
    pub fn parse(doc: &Value) -> Result<Self, String> {
        let mut statements = Vec::new();
        for (i, st) in statements_of(doc)?.into_iter().enumerate() {
            let at = label(i, st);
            for key in st.keys() {
                match key.as_str() {
                    "Sid" | "Effect" | "Action" | "Resource" => {}
                    "NotAction" | "NotResource" | "Condition" | "Principal" | "NotPrincipal" => {
                        return Err(format!(
                            "{at}: {key} is not supported by this evaluator in a permission policy"
                        ));
                    }
                    other => return Err(format!("{at}: unknown statement key {other:?}")),
                }
            }
            let actions = strings(st.get("Action"), "Action", &at)?;
            check_actions(&actions, &at)?;
            let resources = strings(st.get("Resource"), "Resource", &at)?;
            if let Some(r) = resources.iter().find(|r| r.contains("${")) {
                return Err(format!(
                    "{at}: resource {r:?} uses a policy variable, which this evaluator does not support"
                ));
            }
            statements.push(Statement {
                sid: sid_of(st, &at)?,
                effect: effect_of(st, &at)?,
                actions,
                resources,
            });
        }
        Ok(Self { statements })
    }

    /// Whether the policy allows `action` on `resource`: no matching `Deny`, and some matching
    /// `Allow`.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let matching = |s: &&Statement| {
            s.actions.iter().any(|p| action_matches(p, action))
                && s.resources.iter().any(|p| wildcard_match(p, resource))
        };
        let mut hits = self.statements.iter().filter(matching).peekable();
        if hits.peek().is_none() {
            return false;
        }
        hits.all(|s| s.effect == Effect::Allow)
    }

    /// The `(action, resource)` pairs the `Allow` statements grant, as written (every action of
    /// a statement with every resource of it).
    pub fn grants(&self) -> BTreeSet<(String, String)> {
        self.statements
            .iter()
            .filter(|s| s.effect == Effect::Allow)
            .flat_map(|s| {
                s.actions
                    .iter()
                    .flat_map(move |a| s.resources.iter().map(move |r| (a.clone(), r.clone())))
            })
            .collect()
    }
}

/// A string condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Exact, case-sensitive.
    StringEquals,
    /// Matches none of the values, case-sensitively.
    StringNotEquals,
    /// Exact, ignoring case.
    StringEqualsIgnoreCase,
    /// Matches none of the values, ignoring case.
    StringNotEqualsIgnoreCase,
    /// `*`/`?` wildcards, case-sensitive.
    StringLike,
    /// Matches none of the wildcard values.
    StringNotLike,
}

impl Operator {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals | Self::StringNotEqualsIgnoreCase | Self::StringNotLike
        )
    }

    /// Whether `value` matches `pattern` under the positive form of the operator.
    fn matches(self, pattern: &str, value: &str) -> bool {
        match self {
            Self::StringEquals | Self::StringNotEquals => pattern == value,
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase => {
                pattern.to_lowercase() == value.to_lowercase()
            }
            Self::StringLike | Self::StringNotLike => wildcard_match(pattern, value),
        }
    }
}

/// One `operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// Whether the operator carried the `IfExists` suffix (an absent key then holds).
    pub if_exists: bool,
    /// The condition key, as written.
    pub key: String,
    /// The values; the condition holds when the claim matches any of them (for the negated
    /// operators: none of them).
    pub values: Vec<String>,
}

impl Condition {
    fn holds(&self, claims: &BTreeMap<String, String>) -> bool {
        let claim = claims
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&self.key))
            .map(|(_, v)| v.as_str());
        let Some(value) = claim else {
            // IAM: an absent key fails a positive operator and satisfies a negated one.
            return self.if_exists || self.operator.negated();
        };
        let any = self.values.iter().any(|p| self.operator.matches(p, value));
        any != self.operator.negated()
    }
}

/// One statement of a trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStatement {
    /// The `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// `None` for `"Principal": "*"`; otherwise principal type (`Federated`, `AWS`, ...) to
    /// the principals listed.
    pub principal: Option<BTreeMap<String, Vec<String>>>,
    /// The `Action` patterns.
    pub actions: Vec<String>,
    /// Every condition (all must hold).
    pub conditions: Vec<Condition>,
}

impl TrustStatement {
    fn applies(&self, federated: &str, action: &str, claims: &BTreeMap<String, String>) -> bool {
        let principal = self.principal.as_ref().is_none_or(|p| {
            p.get("Federated")
                .is_some_and(|v| v.iter().any(|f| f == federated))
                || p.get("AWS").is_some_and(|v| v.iter().any(|a| a == "*"))
        });
        principal
            && self.actions.iter().any(|p| action_matches(p, action))
            && self.conditions.iter().all(|c| c.holds(claims))
    }
}

/// A role's trust (assume-role) policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    /// The statements, in document order.
    pub statements: Vec<TrustStatement>,
}

impl TrustPolicy {
    /// Reads a trust policy. Refuses `NotPrincipal`, `NotAction`, `Resource`, the
    /// `ForAnyValue:`/`ForAllValues:` set operators and any operator other than the string ones
    /// (an unknown operator is an error, never silently true).
    pub fn parse(doc: &Value) -> Result<Self, String> {
        let mut statements = Vec::new();
        for (i, st) in statements_of(doc)?.into_iter().enumerate() {
            let at = label(i, st);
            for key in st.keys() {
                match key.as_str() {
                    "Sid" | "Effect" | "Action" | "Principal" | "Condition" => {}
                    "NotAction" | "NotPrincipal" => {
                        return Err(format!("{at}: {key} is not supported by this evaluator"));
                    }
                    "Resource" | "NotResource" => {
                        return Err(format!("{at}: a trust policy has no {key}"));
                    }
                    other => return Err(format!("{at}: unknown statement key {other:?}")),
                }
            }
            let actions = strings(st.get("Action"), "Action", &at)?;
            check_actions(&actions, &at)?;
            statements.push(TrustStatement {
                sid: sid_of(st, &at)?,
                effect: effect_of(st, &at)?,
                principal: principal_of(st.get("Principal"), &at)?,
                actions,
                conditions: conditions_of(st.get("Condition"), &at)?,
            });
        }
        Ok(Self { statements })
    }

    /// Whether a request by the federated principal `principal_federated` (the OIDC provider's
    /// ARN) for `action` carrying `claims` (condition key, e.g.
    /// `token.actions.githubusercontent.com:sub`, to value) is admitted: no applicable `Deny`
    /// and some applicable `Allow`.
    pub fn admits(
        &self,
        principal_federated: &str,
        action: &str,
        claims: &BTreeMap<String, String>,
    ) -> bool {
        let mut hits = self
            .statements
            .iter()
            .filter(|s| s.applies(principal_federated, action, claims))
            .peekable();
        if hits.peek().is_none() {
            return false;
        }
        hits.all(|s| s.effect == Effect::Allow)
    }
}

/// The tflint-class findings of a policy document (identity or trust): any action with a
/// wildcard, any resource `*`, any ARN with a wildcard anywhere but a trailing S3 object-key
/// `/*` (`arn:aws:s3:::*`, `arn:aws:dynamodb:*:*:table/x`, `arn:aws:s3:::bkt*/x`), `NotAction`
/// or `NotResource` (which grant everything else), and a `*` principal. Empty when clean.
pub fn wildcard_findings(doc: &Value) -> Vec<String> {
    let list: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return vec!["the document has no Statement object or list".to_owned()],
    };
    let mut out = Vec::new();
    for (i, st) in list.into_iter().enumerate() {
        let Some(st) = st.as_object() else {
            out.push(format!("statement {}: not an object", i + 1));
            continue;
        };
        let at = label(i, st);
        for key in ["NotAction", "NotResource", "NotPrincipal"] {
            if st.contains_key(key) {
                out.push(format!("{at}: {key} grants everything not listed"));
            }
        }
        for key in ["Action", "NotAction"] {
            for a in loose_strings(st.get(key)) {
                if a.contains(['*', '?']) {
                    out.push(format!("{at}: action {a:?} has a wildcard"));
                }
            }
        }
        for key in ["Resource", "NotResource"] {
            for r in loose_strings(st.get(key)) {
                if r == "*" {
                    out.push(format!("{at}: resource \"*\""));
                    continue;
                }
                let base = if r.starts_with("arn:aws:s3:::") {
                    r.strip_suffix("/*").unwrap_or(r)
                } else {
                    r
                };
                if base.contains(['*', '?']) {
                    out.push(format!(
                        "{at}: resource {r:?} has a wildcard outside a trailing object-key /*"
                    ));
                }
            }
        }
        match st.get("Principal") {
            Some(Value::String(p)) if p == "*" => out.push(format!("{at}: principal \"*\"")),
            Some(Value::Object(m)) => {
                for (kind, v) in m {
                    if loose_strings(Some(v)).contains(&"*") {
                        out.push(format!("{at}: principal {kind} \"*\""));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `pattern` (IAM wildcards `*` and `?`) matches all of `text`, case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` in the pattern and the text position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the action pattern matches `action`, case-insensitively, with wildcards.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard_match(&pattern.to_lowercase(), &action.to_lowercase())
}

fn statements_of(doc: &Value) -> Result<Vec<&Map<String, Value>>, String> {
    let obj = doc
        .as_object()
        .ok_or("the policy document is not a JSON object")?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(format!("unknown policy document key {key:?}"));
        }
    }
    match obj.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(v) => return Err(format!("unknown policy Version {v}")),
    }
    let list: Vec<&Value> = match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(Value::Array(_)) => return Err("the Statement list is empty".to_owned()),
        _ => return Err("the document has no Statement object or list".to_owned()),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object()
                .ok_or_else(|| format!("statement {} is not a JSON object", i + 1))
        })
        .collect()
}

fn label(i: usize, st: &Map<String, Value>) -> String {
    match st.get("Sid").and_then(Value::as_str) {
        Some(sid) => format!("statement {} (Sid {sid})", i + 1),
        None => format!("statement {}", i + 1),
    }
}

fn sid_of(st: &Map<String, Value>, at: &str) -> Result<Option<String>, String> {
    match st.get("Sid") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("{at}: Sid {v} is not a string")),
    }
}

fn effect_of(st: &Map<String, Value>, at: &str) -> Result<Effect, String> {
    match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Ok(Effect::Allow),
        Some("Deny") => Ok(Effect::Deny),
        Some(other) => Err(format!("{at}: Effect {other:?} is neither Allow nor Deny")),
        None => Err(format!("{at}: no Effect string")),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: Option<&Value>, field: &str, at: &str) -> Result<Vec<String>, String> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{at}: {field} holds a non-string {x}"))
            })
            .collect(),
        Some(Value::Array(_)) => Err(format!("{at}: {field} is an empty list")),
        Some(other) => Err(format!(
            "{at}: {field} {other} is neither a string nor a list"
        )),
        None => Err(format!("{at}: no {field}")),
    }
}

/// The strings of a string-or-list value, ignoring anything else (for the findings).
fn loose_strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn check_actions(actions: &[String], at: &str) -> Result<(), String> {
    match actions
        .iter()
        .find(|a| a.as_str() != "*" && !a.contains(':'))
    {
        Some(a) => Err(format!("{at}: action {a:?} is not service:Action")),
        None => Ok(()),
    }
}

fn principal_of(
    v: Option<&Value>,
    at: &str,
) -> Result<Option<BTreeMap<String, Vec<String>>>, String> {
    match v {
        Some(Value::String(s)) if s == "*" => Ok(None),
        Some(Value::Object(m)) if !m.is_empty() => {
            let mut out = BTreeMap::new();
            for (kind, list) in m {
                if !matches!(
                    kind.as_str(),
                    "AWS" | "Federated" | "Service" | "CanonicalUser"
                ) {
                    return Err(format!("{at}: unknown principal type {kind:?}"));
                }
                out.insert(kind.clone(), strings(Some(list), "Principal", at)?);
            }
            Ok(Some(out))
        }
        Some(other) => Err(format!(
            "{at}: Principal {other} is neither \"*\" nor an object"
        )),
        None => Err(format!("{at}: a trust policy statement needs a Principal")),
    }
}

fn conditions_of(v: Option<&Value>, at: &str) -> Result<Vec<Condition>, String> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let blocks = v
        .as_object()
        .ok_or_else(|| format!("{at}: Condition is not an object"))?;
    let mut out = Vec::new();
    for (name, block) in blocks {
        if name.starts_with("ForAnyValue:") || name.starts_with("ForAllValues:") {
            return Err(format!(
                "{at}: the set operator {name:?} is not supported by this evaluator"
            ));
        }
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (name.as_str(), false),
        };
        let operator = Operator::from_name(base)
            .ok_or_else(|| format!("{at}: unknown or unsupported condition operator {name:?}"))?;
        let keys = block
            .as_object()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| format!("{at}: condition {name} is not a non-empty object"))?;
        for (key, values) in keys {
            let list: Vec<&Value> = match values {
                Value::Array(a) if !a.is_empty() => a.iter().collect(),
                Value::Array(_) => {
                    return Err(format!("{at}: condition {name} {key} has no values"));
                }
                v => vec![v],
            };
            let values = list
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Bool(_) | Value::Number(_) => Ok(v.to_string()),
                    other => Err(format!("{at}: condition {name} {key} value {other}")),
                })
                .collect::<Result<_, _>>()?;
            out.push(Condition {
                operator,
                if_exists,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}
