//! GitHub Actions expressions (`${{ ... }}`), evaluated the way GitHub's runner does:
//! literals (`null`, booleans, JSON/hex/octal numbers, `'strings'` with `''`), context access
//! (`a.b`, `a['b']`, `a[0]`, the `a.*.b` object filter), `!`, comparisons with GitHub's loose
//! equality (strings compared case-insensitively, other mixed types coerced to numbers), `&&`
//! and `||` returning an operand, and the functions GitHub documents (`hashFiles` is refused:
//! the runner does not model the workspace).
//!
//! [`bind`] partially evaluates: it replaces the context accesses whose root is known (e.g.
//! `needs`) by literals and prints the rest back, so a job can be handed to act with the values
//! GitHub would have given it.
//!
//! Reference: <https://docs.github.com/actions/reference/evaluate-expressions-in-workflows-and-actions>.

use std::fmt::Write as _;

use serde_json::Value;

mod bind;

pub use bind::{bind, bind_if};

/// An expression that cannot be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression `{expr}`: {message}")]
pub struct ExprError {
    /// The expression (or text) in question.
    pub expr: String,
    /// What is wrong with it.
    pub message: String,
}

impl ExprError {
    fn new(expr: &str, message: impl Into<String>) -> Self {
        Self {
            expr: expr.to_owned(),
            message: message.into(),
        }
    }
}

/// The status the status functions (`success()`, `failure()`, `cancelled()`, `always()`) read:
/// for a step, the job's status so far; for a job, the outcome of the jobs it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    #[default]
    Success,
    Failure,
    Cancelled,
}

/// The context names GitHub knows; any other name is an error ("Unrecognized named-value").
const CONTEXTS: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
    "needs", "inputs",
];

const STATUS_FUNCTIONS: &[&str] = &["success", "failure", "cancelled", "always"];

// ---------------------------------------------------------------------------------------------
// Syntax
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Null,
    Bool(bool),
    /// A number literal: its value and its text as written.
    Num(f64, String),
    Str(String),
    Ident(String),
    Dot,
    Star,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

fn lex(src: &str) -> Result<Vec<Tok>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = |n: char| chars.get(i + 1) == Some(&n);
        let tok = match c {
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit)
                || matches!(
                    out.last(),
                    Some(Tok::Ident(_) | Tok::RBracket | Tok::RParen)
                ) =>
            {
                i += 1;
                Tok::Dot
            }
            '*' => {
                i += 1;
                Tok::Star
            }
            '[' => {
                i += 1;
                Tok::LBracket
            }
            ']' => {
                i += 1;
                Tok::RBracket
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '!' if two('=') => {
                i += 2;
                Tok::Ne
            }
            '!' => {
                i += 1;
                Tok::Not
            }
            '<' if two('=') => {
                i += 2;
                Tok::Le
            }
            '<' => {
                i += 1;
                Tok::Lt
            }
            '>' if two('=') => {
                i += 2;
                Tok::Ge
            }
            '>' => {
                i += 1;
                Tok::Gt
            }
            '=' if two('=') => {
                i += 2;
                Tok::Eq
            }
            '&' if two('&') => {
                i += 2;
                Tok::And
            }
            '|' if two('|') => {
                i += 2;
                Tok::Or
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ExprError::new(src, "unterminated string literal")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    let prev = chars[i - 1];
                    if d.is_ascii_alphanumeric()
                        || d == '.'
                        || ((d == '-' || d == '+') && matches!(prev, 'e' | 'E'))
                    {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let text: String = chars[start..i].iter().collect();
                let value = parse_number_literal(&text)
                    .ok_or_else(|| ExprError::new(src, format!("unexpected symbol `{text}`")))?;
                Tok::Num(value, text)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // Keywords only where a value is expected (after `.`, `null` is a property).
                let after_dot = matches!(out.last(), Some(Tok::Dot));
                match word.as_str() {
                    "null" if !after_dot => Tok::Null,
                    "true" if !after_dot => Tok::Bool(true),
                    "false" if !after_dot => Tok::Bool(false),
                    "NaN" if !after_dot => Tok::Num(f64::NAN, word),
                    "Infinity" if !after_dot => Tok::Num(f64::INFINITY, word),
                    _ => Tok::Ident(word),
                }
            }
            other => return Err(ExprError::new(src, format!("unexpected symbol `{other}`"))),
        };
        out.push(tok);
    }
    Ok(out)
}

/// A number literal as GitHub accepts it: JSON numbers, `0x` hex, `0o` octal, a sign.
fn parse_number_literal(text: &str) -> Option<f64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        #[allow(clippy::cast_precision_loss)]
        let v = u64::from_str_radix(h, 16).ok()? as f64;
        v
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        #[allow(clippy::cast_precision_loss)]
        let v = u64::from_str_radix(o, 8).ok()? as f64;
        v
    } else if body == "Infinity" {
        f64::INFINITY
    } else {
        if body.is_empty()
            || !body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Num(f64, String),
    Str(String),
    /// A context name (`github`, `needs`, ...), as written.
    Context(String),
    Prop(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    /// The object filter `x.*` / `x[*]`.
    Star(Box<Node>),
    Not(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    /// A function call: name as written, arguments.
    Call(String, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
    fn from_tok(t: &Tok) -> Option<Self> {
        Some(match t {
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Eq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::And => BinOp::And,
            Tok::Or => BinOp::Or,
            _ => return None,
        })
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Limits that keep parsing and evaluation (recursive: four frames per level in a debug
/// build, each several KiB) well within a 2 MiB thread stack on any input. 50 is GitHub's own
/// maximum expression depth.
const MAX_DEPTH: usize = 50;
const MAX_TOKENS: usize = 1000;

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(self.src, message)
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), ExprError> {
        match self.next() {
            Some(ref got) if got == t => Ok(()),
            Some(got) => Err(self.err(format!("expected {what}, found {got:?}"))),
            None => Err(self.err(format!("expected {what} at the end"))),
        }
    }

    fn binary(&mut self, min: u8) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("expression nested too deeply"));
        }
        let mut left = self.unary()?;
        while let Some(op) = self.peek().and_then(BinOp::from_tok) {
            if op.precedence() < min {
                break;
            }
            self.pos += 1;
            let right = self.binary(op.precedence() + 1)?;
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err("expression nested too deeply"));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node, ExprError> {
        let mut node = self.primary()?;
        // Each access nests the tree one level deeper (evaluation recurses through it).
        let outer = self.depth;
        loop {
            if matches!(self.peek(), Some(Tok::Dot | Tok::LBracket)) {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.err("expression nested too deeply"));
                }
            }
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Ident(name)) => node = Node::Prop(Box::new(node), name),
                        Some(Tok::Star) => node = Node::Star(Box::new(node)),
                        // `a.null`, `a.true`: keywords are property names after a dot.
                        Some(Tok::Null) => node = Node::Prop(Box::new(node), "null".into()),
                        Some(Tok::Bool(b)) => node = Node::Prop(Box::new(node), b.to_string()),
                        _ => return Err(self.err("expected a property name after `.`")),
                    }
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    if self.peek() == Some(&Tok::Star) {
                        self.pos += 1;
                        self.expect(&Tok::RBracket, "`]`")?;
                        node = Node::Star(Box::new(node));
                    } else {
                        let index = self.binary(0)?;
                        self.expect(&Tok::RBracket, "`]`")?;
                        node = Node::Index(Box::new(node), Box::new(index));
                    }
                }
                _ => {
                    self.depth = outer;
                    return Ok(node);
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        match self.next() {
            Some(Tok::Null) => Ok(Node::Null),
            Some(Tok::Bool(b)) => Ok(Node::Bool(b)),
            Some(Tok::Num(v, t)) => Ok(Node::Num(v, t)),
            Some(Tok::Str(s)) => Ok(Node::Str(s)),
            Some(Tok::LParen) => {
                let inner = self.binary(0)?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Some(Tok::Ident(name)) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() == Some(&Tok::RParen) {
                        self.pos += 1;
                    } else {
                        loop {
                            args.push(self.binary(0)?);
                            match self.next() {
                                Some(Tok::Comma) => {}
                                Some(Tok::RParen) => break,
                                _ => {
                                    return Err(self.err(format!(
                                        "expected `,` or `)` in the arguments of `{name}`"
                                    )));
                                }
                            }
                        }
                    }
                    check_call(self.src, &name, args.len())?;
                    Ok(Node::Call(name, args))
                } else if CONTEXTS.iter().any(|c| c.eq_ignore_ascii_case(&name)) {
                    Ok(Node::Context(name))
                } else {
                    Err(self.err(format!("unrecognized named-value: `{name}`")))
                }
            }
            Some(t) => Err(self.err(format!("unexpected {t:?}"))),
            None => Err(self.err("unexpected end of expression")),
        }
    }
}

/// Refuses unknown functions and wrong argument counts, as GitHub does when it loads a workflow.
fn check_call(src: &str, name: &str, n: usize) -> Result<(), ExprError> {
    let (min, max) = match name.to_ascii_lowercase().as_str() {
        "contains" | "startswith" | "endswith" => (2, 2),
        "format" | "hashfiles" => (1, usize::MAX),
        "join" => (1, 2),
        "tojson" | "fromjson" => (1, 1),
        "success" | "failure" | "cancelled" | "always" => (0, 0),
        _ => {
            return Err(ExprError::new(
                src,
                format!("unrecognized function: `{name}`"),
            ));
        }
    };
    if n < min || n > max {
        return Err(ExprError::new(
            src,
            format!("function `{name}` takes {min}..{max} arguments, got {n}")
                .replace(&format!("..{}", usize::MAX), " or more"),
        ));
    }
    Ok(())
}

fn parse(src: &str) -> Result<Node, ExprError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err(ExprError::new(src, "empty expression"));
    }
    if toks.len() > MAX_TOKENS {
        return Err(ExprError::new(
            src,
            format!("expression longer than {MAX_TOKENS} tokens"),
        ));
    }
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
    };
    let node = p.binary(0)?;
    if p.pos < p.toks.len() {
        return Err(p.err(format!(
            "unexpected {:?} after the expression",
            p.toks[p.pos]
        )));
    }
    Ok(node)
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// A value, or the result of an object filter (to which later accesses apply element-wise).
enum Res {
    One(Value),
    Filtered(Vec<Value>),
}

impl Res {
    fn value(self) -> Value {
        match self {
            Res::One(v) => v,
            Res::Filtered(items) => Value::Array(items),
        }
    }
}

struct Eval<'a> {
    src: &'a str,
    ctx: &'a Value,
    status: JobStatus,
}

/// A property of an object, matched case-insensitively as GitHub does (exact match first).
fn get_prop<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn index_value(v: &Value, index: &Value) -> Value {
    match (v, index) {
        (Value::Array(items), _) => {
            let n = to_number(index);
            if n.is_finite() && n >= 0.0 && n.fract() == 0.0 {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = n as usize;
                items.get(i).cloned().unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        }
        (Value::Object(_), _) => get_prop(v, &to_string(index))
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn star_items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}

impl Eval<'_> {
    fn err(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(self.src, message)
    }

    fn value(&self, node: &Node) -> Result<Value, ExprError> {
        Ok(self.eval(node)?.value())
    }

    fn eval(&self, node: &Node) -> Result<Res, ExprError> {
        Ok(Res::One(match node {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Num(v, _) => number_value(*v),
            Node::Str(s) => Value::String(s.clone()),
            Node::Context(name) => get_prop(self.ctx, &name.to_ascii_lowercase())
                .cloned()
                .unwrap_or(Value::Null),
            Node::Prop(base, name) => match self.eval(base)? {
                Res::One(v) => get_prop(&v, name).cloned().unwrap_or(Value::Null),
                Res::Filtered(items) => {
                    return Ok(Res::Filtered(
                        items
                            .iter()
                            .filter_map(|i| get_prop(i, name).cloned())
                            .collect(),
                    ));
                }
            },
            Node::Index(base, index) => {
                let base = self.eval(base)?;
                let index = self.value(index)?;
                match base {
                    Res::One(v) => index_value(&v, &index),
                    Res::Filtered(items) => {
                        return Ok(Res::Filtered(
                            items
                                .iter()
                                .map(|i| index_value(i, &index))
                                .filter(|v| !v.is_null())
                                .collect(),
                        ));
                    }
                }
            }
            Node::Star(base) => {
                return Ok(Res::Filtered(match self.eval(base)? {
                    Res::One(v) => star_items(&v),
                    Res::Filtered(items) => items.iter().flat_map(star_items).collect(),
                }));
            }
            Node::Not(inner) => Value::Bool(!truthy(&self.value(inner)?)),
            Node::Bin(BinOp::And, l, r) => {
                let l = self.value(l)?;
                if truthy(&l) { self.value(r)? } else { l }
            }
            Node::Bin(BinOp::Or, l, r) => {
                let l = self.value(l)?;
                if truthy(&l) { l } else { self.value(r)? }
            }
            Node::Bin(op, l, r) => {
                let (l, r) = (self.value(l)?, self.value(r)?);
                Value::Bool(match op {
                    BinOp::Eq => loose_eq(&l, &r),
                    BinOp::Ne => !loose_eq(&l, &r),
                    _ => compare(*op, &l, &r),
                })
            }
            Node::Call(name, args) => self.call(name, args)?,
        }))
    }

    fn call(&self, name: &str, args: &[Node]) -> Result<Value, ExprError> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "success" => return Ok(Value::Bool(self.status == JobStatus::Success)),
            "failure" => return Ok(Value::Bool(self.status == JobStatus::Failure)),
            "cancelled" => return Ok(Value::Bool(self.status == JobStatus::Cancelled)),
            "always" => return Ok(Value::Bool(true)),
            "hashfiles" => {
                return Err(self.err("hashFiles() is not supported by fake-github's runner"));
            }
            _ => {}
        }
        let vals = args
            .iter()
            .map(|a| self.value(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match lower.as_str() {
            "contains" => Value::Bool(match &vals[0] {
                Value::Array(items) => items.iter().any(|i| loose_eq(i, &vals[1])),
                s => text_pair(s, &vals[1]).is_some_and(|(a, b)| a.contains(&b)),
            }),
            "startswith" => {
                Value::Bool(text_pair(&vals[0], &vals[1]).is_some_and(|(a, b)| a.starts_with(&b)))
            }
            "endswith" => {
                Value::Bool(text_pair(&vals[0], &vals[1]).is_some_and(|(a, b)| a.ends_with(&b)))
            }
            "format" => Value::String(self.format(&to_string(&vals[0]), &vals[1..])?),
            "join" => {
                let sep = vals.get(1).map_or_else(|| ",".to_owned(), to_string);
                Value::String(match &vals[0] {
                    Value::Array(items) => {
                        items.iter().map(to_string).collect::<Vec<_>>().join(&sep)
                    }
                    v => to_string(v),
                })
            }
            "tojson" => Value::String(
                serde_json::to_string_pretty(&vals[0])
                    .map_err(|e| self.err(format!("toJSON: {e}")))?,
            ),
            "fromjson" => {
                let text = to_string(&vals[0]);
                serde_json::from_str(text.trim())
                    .map_err(|e| self.err(format!("fromJSON: `{text}` is not JSON: {e}")))?
            }
            _ => return Err(self.err(format!("unrecognized function: `{name}`"))),
        })
    }

    /// `format('{0} {1}', a, b)`: `{{` and `}}` are literal braces.
    fn format(&self, fmt: &str, args: &[Value]) -> Result<String, ExprError> {
        let chars: Vec<char> = fmt.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '{' if chars.get(i + 1) == Some(&'{') => {
                    out.push('{');
                    i += 2;
                }
                '}' if chars.get(i + 1) == Some(&'}') => {
                    out.push('}');
                    i += 2;
                }
                '{' => {
                    let end = chars[i..].iter().position(|&c| c == '}').ok_or_else(|| {
                        self.err(format!("format: invalid format string `{fmt}`"))
                    })?;
                    let digits: String = chars[i + 1..i + end].iter().collect();
                    let n: usize = digits
                        .parse()
                        .map_err(|_| self.err(format!("format: invalid format string `{fmt}`")))?;
                    let arg = args.get(n).ok_or_else(|| {
                        self.err(format!(
                            "format: `{fmt}` references argument {n}, but only {} were given",
                            args.len()
                        ))
                    })?;
                    out.push_str(&to_string(arg));
                    i += end + 1;
                }
                '}' => return Err(self.err(format!("format: invalid format string `{fmt}`"))),
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        Ok(out)
    }
}

/// Both values as upper-cased strings for the case-insensitive string functions; `None` when
/// one is an array or an object (GitHub's runner does not coerce those: the result is false).
fn text_pair(a: &Value, b: &Value) -> Option<(String, String)> {
    let text = |v: &Value| match v {
        Value::Array(_) | Value::Object(_) => None,
        v => Some(to_string(v).to_uppercase()),
    };
    Some((text(a)?, text(b)?))
}

fn number_value(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(v as i64);
    }
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// GitHub's coercion to a number: null 0, booleans 0/1, strings parsed (blank 0, invalid NaN),
/// arrays and objects NaN.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else {
                parse_number_literal(t).unwrap_or(f64::NAN)
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// GitHub's `==`: same kinds compare directly (strings case-insensitively; arrays and objects
/// never, GitHub comparing instances), different kinds as numbers.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x.to_uppercase() == y.to_uppercase(),
        // GitHub: "only equal when they are the same instance"; values here are copies, so two
        // arrays or objects are never equal.
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => false,
        _ => {
            #[allow(clippy::float_cmp)]
            let eq = to_number(a) == to_number(b);
            eq
        }
    }
}

fn compare(op: BinOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = if let (Value::String(x), Value::String(y)) = (a, b) {
        Some(x.to_uppercase().cmp(&y.to_uppercase()))
    } else {
        to_number(a).partial_cmp(&to_number(b))
    };
    match (op, ord) {
        (BinOp::Lt, Some(o)) => o == Ordering::Less,
        (BinOp::Le, Some(o)) => o != Ordering::Greater,
        (BinOp::Gt, Some(o)) => o == Ordering::Greater,
        (BinOp::Ge, Some(o)) => o != Ordering::Less,
        _ => false,
    }
}

/// GitHub's truthiness: `null`, `false`, `0`, `''` (and NaN) are false; everything else true.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// GitHub's coercion to a string: null `""`, booleans `true`/`false`, numbers as GitHub prints
/// them (.NET's `G15`: `3`, `0.5`, `1E+20`), arrays and objects as their kind, `Array` and
/// `Object`, as GitHub's runner does (`toJSON` gives JSON).
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n
                .as_i64()
                .filter(|i| i.unsigned_abs() < 1_000_000_000_000_000)
            {
                i.to_string()
            } else {
                format_g15(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => s.clone(),
        // GitHub's runner does not turn these into JSON (that is what toJSON is for): it prints
        // the kind (EvaluationResult.ConvertToString).
        Value::Array(_) => "Array".into(),
        Value::Object(_) => "Object".into(),
    }
}

/// .NET's `double.ToString("G15")`: 15 significant digits, scientific notation when the
/// exponent is below -5 or at least 15.
fn format_g15(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.14e}"); // d.dddddddddddddde±x
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-5..15).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "E{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        #[allow(clippy::cast_sign_loss)]
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Evaluates one expression (the text between `${{` and `}}`) against `ctx`, an object of
/// contexts (`{"github": {...}, "needs": {...}, ...}`, any subset; a missing one is null).
pub fn eval(expr: &str, ctx: &Value, status: JobStatus) -> Result<Value, ExprError> {
    let node = parse(expr)?;
    Eval {
        src: expr,
        ctx,
        status,
    }
    .value(&node)
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// A piece of a template: literal text or the source of one `${{ }}` expression.
enum Piece<'a> {
    Text(&'a str),
    Expr(&'a str),
}

/// Splits `text` at its `${{ ... }}` expressions (a `}}` inside a string literal does not end
/// one).
fn split_template(text: &str) -> Result<Vec<Piece<'_>>, ExprError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let body = &rest[start + 3..];
        let mut in_str = false;
        let mut end = None;
        let bytes = body.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\'' => in_str = !in_str, // `''` toggles twice: still right
                b'}' if !in_str && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let end = end.ok_or_else(|| ExprError::new(text, "`${{` without a closing `}}`"))?;
        out.push(Piece::Expr(&body[..end]));
        rest = &body[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Replaces every `${{ expr }}` in `text` by its value as a string.
pub fn interpolate(text: &str, ctx: &Value, status: JobStatus) -> Result<String, ExprError> {
    let mut out = String::new();
    for piece in split_template(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(e) => out.push_str(&to_string(&eval(e, ctx, status)?)),
        }
    }
    Ok(out)
}

/// A field value as GitHub reads it: a string that is exactly one `${{ expr }}` gives the
/// expression's value (any type: `strategy.matrix`, `cancel-in-progress`, `with:` values, ...);
/// any other string is interpolated; non-strings are returned as they are.
pub fn eval_template(v: &Value, ctx: &Value, status: JobStatus) -> Result<Value, ExprError> {
    let Value::String(text) = v else {
        return Ok(v.clone());
    };
    match split_template(text.trim())?.as_slice() {
        [Piece::Expr(e)] => eval(e, ctx, status),
        _ => interpolate(text, ctx, status).map(Value::String),
    }
}

/// An `if:` value: `Ok(Some(expr))` when it is one bare expression (written with or without
/// a `${{ }}` wrapper), `Ok(None)` when it is a template mixing text and expressions.
fn if_expression(cond: &str) -> Result<Option<&str>, ExprError> {
    let t = cond.trim();
    if !t.contains("${{") {
        return Ok(Some(t));
    }
    let pieces = split_template(t)?;
    match pieces.as_slice() {
        [Piece::Expr(e)] => Ok(Some(e)),
        _ => Ok(None),
    }
}

fn calls_status_function(node: &Node) -> bool {
    match node {
        Node::Call(name, args) => {
            STATUS_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name))
                || args.iter().any(calls_status_function)
        }
        Node::Prop(b, _) | Node::Star(b) | Node::Not(b) => calls_status_function(b),
        Node::Index(a, b) | Node::Bin(_, a, b) => {
            calls_status_function(a) || calls_status_function(b)
        }
        Node::Null | Node::Bool(_) | Node::Num(..) | Node::Str(_) | Node::Context(_) => false,
    }
}

/// Evaluates an `if:` value as GitHub does: the whole value is an expression, with or without
/// `${{ }}`; an empty one is `success()`; one calling none of `success()`, `failure()`,
/// `always()`, `cancelled()` means `success() && (cond)`. A value mixing text and `${{ }}` is a
/// string, true unless empty (GitHub's well-known trap).
pub fn eval_if(cond: &str, ctx: &Value, status: JobStatus) -> Result<bool, ExprError> {
    let Some(expr) = if_expression(cond)? else {
        return Ok(!interpolate(cond.trim(), ctx, status)?.is_empty());
    };
    if expr.trim().is_empty() {
        return Ok(status == JobStatus::Success);
    }
    let node = parse(expr)?;
    let ev = Eval {
        src: expr,
        ctx,
        status,
    };
    if calls_status_function(&node) {
        Ok(truthy(&ev.value(&node)?))
    } else {
        Ok(status == JobStatus::Success && truthy(&ev.value(&node)?))
    }
}

#[cfg(test)]
mod tests;
