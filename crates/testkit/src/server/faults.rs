//! Injected faults (`/_fake/faults`): errors, rate limits, latency and connection resets,
//! applied before auth as a proxy in front of GitHub would.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::wire::Resp;
use super::{App, lock};
use crate::json::{self as j, now};

/// An injected fault (`POST /_fake/faults`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    /// Regex matched against the request path (no query).
    pub path_regex: String,
    /// Only this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer instead of serving (503, 429, 403, ...); none = only add latency;
    /// [`RESET`] (0) = drop the connection without an answer ([`Fault::reset`]).
    #[serde(default)]
    pub status: Option<u16>,
    /// `retry-after` seconds to send.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How many matching requests it applies to (forever when absent).
    #[serde(default)]
    pub count: Option<u32>,
    /// Delay before answering.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// For 403: a primary rate limit (`x-ratelimit-remaining: 0`) instead of a secondary one.
    #[serde(default)]
    pub primary: bool,
}

/// The [`Fault::status`] of a connection reset: the server drops the TCP connection (a reset,
/// `SO_LINGER` 0) without answering, as a failing proxy or load balancer does.
pub const RESET: u16 = 0;

impl Fault {
    /// A connection reset of `method` (any when `None`) on paths matching `path_regex`, for the
    /// first `count` matches (always when `None`).
    #[must_use]
    pub fn reset(path_regex: &str, method: Option<&str>, count: Option<u32>) -> Fault {
        Fault {
            path_regex: path_regex.to_owned(),
            method: method.map(str::to_owned),
            status: Some(RESET),
            retry_after: None,
            count,
            latency_ms: None,
            primary: false,
        }
    }
}

/// Returns (fault to answer with, latency to add) for the first matching fault.
pub(super) fn take(app: &App, method: &str, path: &str) -> Option<(Option<Fault>, u64)> {
    let mut faults = lock(&app.faults);
    let idx = faults.iter().position(|f| {
        f.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && regex::Regex::new(&f.path_regex).is_ok_and(|r| r.is_match(path))
    })?;
    let fault = faults[idx].clone();
    if let Some(c) = faults[idx].count.as_mut() {
        *c = c.saturating_sub(1);
        if *c == 0 {
            faults.remove(idx);
        }
    }
    Some((
        fault.status.is_some().then(|| fault.clone()),
        fault.latency_ms.unwrap_or(0),
    ))
}

/// The response a fault answers instead of serving.
pub(super) fn response(f: &Fault) -> Resp {
    let status = f.status.unwrap_or(503);
    let reset = now() + i64::try_from(f.retry_after.unwrap_or(60)).unwrap_or(60);
    let mut resp = match status {
        403 if !f.primary => Resp::json(
            403,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403",
            }),
        ),
        403 | 429 => Resp::json(
            status,
            json!({
                "message": "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
                "status": status.to_string(),
            }),
        )
        .header("x-ratelimit-remaining", "0".into())
        .header("x-ratelimit-reset", reset.to_string()),
        _ => Resp::json(status, j::error(if status >= 500 { "Server Error" } else { "Injected fault" }, status)),
    };
    if let Some(s) = f.retry_after {
        resp = resp.header("retry-after", s.to_string());
    }
    resp
}
