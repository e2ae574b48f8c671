//! The primary rate limit of the `core` resource: every authenticated request but
//! `GET /rate_limit` and a conditional GET answered `304 Not Modified` (see `conditional`)
//! uses one, reported in `x-ratelimit-*` headers and at `GET /rate_limit`.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::App;
use super::wire::Resp;
use crate::json::now;

const RATE_LIMIT: u64 = 5000;

/// The `core` resource now: (used, remaining, reset as epoch seconds).
fn core(app: &App) -> (u64, u64, i64) {
    let used = app.used.load(Ordering::Relaxed);
    (used, RATE_LIMIT.saturating_sub(used), now() + 3600)
}

/// Counts one request against the limit (`GET /rate_limit` itself is free, as on GitHub; the
/// server does not call this for a `304`).
pub(super) fn count(app: &App, path: &str) {
    if path != "/rate_limit" {
        app.used.fetch_add(1, Ordering::Relaxed);
    }
}

/// The `x-ratelimit-*` headers every API response carries.
pub(super) fn headers(app: &App) -> Vec<(&'static str, String)> {
    let (used, remaining, reset) = core(app);
    vec![
        ("x-ratelimit-limit", RATE_LIMIT.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ]
}

/// `GET /rate_limit`.
pub(super) fn endpoint(app: &App) -> Resp {
    let (used, remaining, reset) = core(app);
    let core = json!({"limit": RATE_LIMIT, "remaining": remaining, "reset": reset, "used": used, "resource": "core"});
    let other = |name: &str, limit: u64| json!({"limit": limit, "remaining": limit, "reset": reset, "used": 0, "resource": name});
    Resp::json(
        200,
        json!({
            "resources": {
                "core": core,
                "search": other("search", 30),
                "graphql": other("graphql", 5000),
                "integration_manifest": other("integration_manifest", 5000),
                "code_search": other("code_search", 10),
            },
            "rate": core,
        }),
    )
}
