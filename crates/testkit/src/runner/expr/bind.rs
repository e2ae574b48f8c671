//! Partial evaluation: the contexts the runner knows (`needs`, `matrix`) bound to literals in
//! expressions handed to act.

use serde_json::Value;

use super::{
    Eval, ExprError, JobStatus, Node, Piece, get_prop, if_expression, parse, split_template,
};

/// The context an access chain starts from, if the node is an access chain.
fn access_root(node: &Node) -> Option<&str> {
    match node {
        Node::Context(name) => Some(name),
        Node::Prop(b, _) | Node::Index(b, _) | Node::Star(b) => access_root(b),
        _ => None,
    }
}

/// Whether every context `node` reads is in `known`.
fn closed(node: &Node, known: &Value) -> bool {
    match node {
        Node::Context(name) => get_prop(known, &name.to_ascii_lowercase()).is_some(),
        Node::Prop(b, _) | Node::Star(b) | Node::Not(b) => closed(b, known),
        Node::Index(a, b) | Node::Bin(_, a, b) => closed(a, known) && closed(b, known),
        Node::Call(_, args) => args.iter().all(|a| closed(a, known)),
        Node::Null | Node::Bool(_) | Node::Num(..) | Node::Str(_) => true,
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The literal expression for a value.
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(_) | Value::Object(_) => format!("fromJSON({})", quote(&v.to_string())),
    }
}

fn bind_node(node: &Node, known: &Value) -> Result<Node, ExprError> {
    if access_root(node).is_some() && closed(node, known) {
        let v = Eval {
            src: "",
            ctx: known,
            status: JobStatus::Success,
        }
        .value(node)?;
        return Ok(Node::Num(f64::NAN, literal(&v))); // printed verbatim
    }
    let b = |n: &Node| bind_node(n, known).map(Box::new);
    Ok(match node {
        Node::Prop(base, name) => Node::Prop(b(base)?, name.clone()),
        Node::Index(base, index) => Node::Index(b(base)?, b(index)?),
        Node::Star(base) => Node::Star(b(base)?),
        Node::Not(inner) => Node::Not(b(inner)?),
        Node::Bin(op, l, r) => Node::Bin(*op, b(l)?, b(r)?),
        Node::Call(name, args) => Node::Call(
            name.clone(),
            args.iter()
                .map(|a| bind_node(a, known))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// Prints an expression back (fully parenthesized where precedence needs it).
fn print(node: &Node, out: &mut String) {
    fn operand(node: &Node, min: u8, out: &mut String) {
        let needs = matches!(node, Node::Bin(op, ..) if op.precedence() < min);
        if needs {
            out.push('(');
        }
        print(node, out);
        if needs {
            out.push(')');
        }
    }
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Num(_, text) => out.push_str(text),
        Node::Str(s) => out.push_str(&quote(s)),
        Node::Context(name) => out.push_str(name),
        Node::Prop(base, name) => {
            operand(base, u8::MAX, out);
            out.push('.');
            out.push_str(name);
        }
        Node::Index(base, index) => {
            operand(base, u8::MAX, out);
            out.push('[');
            print(index, out);
            out.push(']');
        }
        Node::Star(base) => {
            operand(base, u8::MAX, out);
            out.push_str(".*");
        }
        Node::Not(inner) => {
            out.push('!');
            operand(inner, u8::MAX, out);
        }
        Node::Bin(op, l, r) => {
            operand(l, op.precedence(), out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            operand(r, op.precedence() + 1, out);
        }
        Node::Call(name, args) => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(a, out);
            }
            out.push(')');
        }
    }
}

fn bind_expr(expr: &str, known: &Value) -> Result<String, ExprError> {
    let node = bind_node(&parse(expr)?, known)?;
    let mut out = String::new();
    print(&node, &mut out);
    Ok(out)
}

/// Partial evaluation: inside every `${{ }}` of `text`, each context access rooted at a context
/// present in `known` (e.g. `needs`) is replaced by the literal of its value (`'..'`, numbers,
/// `true`/`false`/`null`, `fromJSON('..')` for arrays and objects); everything else is kept.
pub fn bind(text: &str, known: &Value) -> Result<String, ExprError> {
    let mut out = String::new();
    for piece in split_template(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(e) => {
                out.push_str("${{ ");
                out.push_str(&bind_expr(e, known)?);
                out.push_str(" }}");
            }
        }
    }
    Ok(out)
}

/// [`bind`] for an `if:` value: the result is a bare expression (no `${{ }}`), unless the value
/// is a template mixing text and expressions, which stays a template.
pub fn bind_if(cond: &str, known: &Value) -> Result<String, ExprError> {
    match if_expression(cond)? {
        Some(e) if e.trim().is_empty() => Ok(String::new()),
        Some(e) => bind_expr(e, known),
        None => bind(cond.trim(), known),
    }
}
