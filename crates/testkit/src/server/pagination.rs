//! Pagination as GitHub does it: `per_page` (default 30, at most 100) and `page` (from 1), with a
//! `Link: <...>; rel="next"` header while there is more.

use std::collections::HashMap;

use serde_json::Value;

use super::wire::Resp;

/// The slice of a list one request asks for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    per: usize,
    page: usize,
}

impl Window {
    /// Reads `per_page` and `page` from a query.
    pub(super) fn of(q: &HashMap<String, String>) -> Self {
        let per = q
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = q
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        Self { per, page }
    }

    /// The items of this page.
    pub(super) fn slice<T>(self, items: impl IntoIterator<Item = T>) -> impl Iterator<Item = T> {
        items
            .into_iter()
            .skip((self.page - 1) * self.per)
            .take(self.per)
    }
}

/// One page of `items` as a JSON array, with a `link` to the next page when there is one.
pub(super) fn page(items: Vec<Value>, q: &HashMap<String, String>, url: &str) -> Resp {
    let w = Window::of(q);
    let total = items.len();
    let out: Vec<Value> = w.slice(items).collect();
    let mut resp = Resp::json(200, Value::Array(out));
    if w.page * w.per < total {
        let mut others: Vec<String> = q
            .iter()
            .filter(|(k, _)| *k != "page" && *k != "per_page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        others.sort();
        let extra: String = others.iter().flat_map(|kv| ["&", kv.as_str()]).collect();
        resp = resp.header(
            "link",
            format!(
                "<{url}?per_page={}&page={}{extra}>; rel=\"next\"",
                w.per,
                w.page + 1
            ),
        );
    }
    resp
}
