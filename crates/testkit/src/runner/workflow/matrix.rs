//! Matrices: `strategy.matrix` expanded into its combinations as GitHub does.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use super::{WorkflowError, err, expr, yaml_key, yaml_to_json};

/// GitHub's limit on the combinations of one matrix.
pub const MAX_COMBINATIONS: usize = 256;

/// Expands `strategy.matrix` (already evaluated: an object) into its combinations, in GitHub's
/// order: the product of the keys (serde_json keeps keys sorted; [`expand_matrix_yaml`] keeps
/// the file's order), then `exclude` (partial matches), then `include` (an entry extends every
/// original combination it does not contradict without overwriting original values, else it
/// is added as a new combination). An empty matrix gives no combination.
pub fn expand_matrix(matrix: &Value) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let Value::Object(m) = matrix else {
        return Err(err(format!(
            "strategy.matrix: expected a map, found {matrix} (evaluate expressions first)"
        )));
    };
    expand(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// [`expand_matrix`] for the matrix as written in the file (its key order kept).
pub fn expand_matrix_yaml(matrix: &Yaml) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let Yaml::Mapping(m) = matrix else {
        return Err(err(
            "strategy.matrix: expected a map (evaluate expressions first)",
        ));
    };
    expand(
        m.iter()
            .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
            .collect(),
    )
}

/// Every string of `v` through [`expr::eval_template`].
pub(super) fn eval_deep(v: &Value, ctx: &Value) -> Result<Value, expr::ExprError> {
    Ok(match v {
        Value::String(_) => expr::eval_template(v, ctx, expr::JobStatus::Success)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| eval_deep(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), eval_deep(v, ctx)?)))
                .collect::<Result<_, expr::ExprError>>()?,
        ),
        other => other.clone(),
    })
}

fn entries(v: &Value, key: &str) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_object().cloned().ok_or_else(|| {
                    err(format!(
                        "strategy.matrix.{key}: every entry must be a map, found {i}"
                    ))
                })
            })
            .collect(),
        other => Err(err(format!(
            "strategy.matrix.{key}: expected a list of maps, found {other}"
        ))),
    }
}

pub(super) fn expand(keys: Vec<(String, Value)>) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    let mut vectors = Vec::new();
    for (k, v) in keys {
        match k.as_str() {
            "include" => include = entries(&v, "include")?,
            "exclude" => exclude = entries(&v, "exclude")?,
            _ => match v {
                Value::Array(items) if !items.is_empty() => vectors.push((k, items)),
                Value::Array(_) => {
                    return Err(err(format!(
                        "strategy.matrix.{k}: a matrix vector must have at least one value"
                    )));
                }
                other => {
                    return Err(err(format!(
                        "strategy.matrix.{k}: expected a list, found {other} (evaluate expressions first)"
                    )));
                }
            },
        }
    }
    let too_many = || {
        err(format!(
            "strategy.matrix: more than {MAX_COMBINATIONS} combinations"
        ))
    };
    let mut combos: Vec<Map<String, Value>> = if vectors.is_empty() {
        Vec::new()
    } else {
        vec![Map::new()]
    };
    for (k, values) in &vectors {
        let mut next = Vec::new();
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.insert(k.clone(), v.clone());
                next.push(c);
                if next.len() > MAX_COMBINATIONS * 64 {
                    return Err(too_many());
                }
            }
        }
        combos = next;
    }
    combos.retain(|c| {
        !exclude
            .iter()
            .any(|x| x.iter().all(|(k, v)| c.get(k) == Some(v)))
    });
    let original: BTreeSet<&str> = vectors.iter().map(|(k, _)| k.as_str()).collect();
    let n_original = combos.len();
    for entry in include {
        let mut matched = false;
        for c in combos.iter_mut().take(n_original) {
            let fits = entry
                .iter()
                .filter(|(k, _)| original.contains(k.as_str()))
                .all(|(k, v)| c.get(k) == Some(v));
            if fits {
                matched = true;
                for (k, v) in &entry {
                    if !original.contains(k.as_str()) {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if !matched {
            combos.push(entry);
        }
    }
    if combos.len() > MAX_COMBINATIONS {
        return Err(too_many());
    }
    Ok(combos)
}
