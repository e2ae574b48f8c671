//! The primary rate limit of the `core` resource: every authenticated request but
//! `GET /rate_limit` and a conditional GET answered `304 Not Modified` (see `conditional`)
//! uses one, reported in `x-ratelimit-*` headers and at `GET /rate_limit`.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::wire::Resp;
use super::{App, lock};
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

// ---------------------------------------------------------------------------------------------
// GitHub's limits, modelled (issue 18): opt-in with `POST /_fake/limits` (`FakeGithub::
// set_limits`), off by default so existing tests are unaffected.

/// The limits fake-github models once enabled (`POST /_fake/limits`; `DELETE` turns them off).
///
/// Every figure is in *modelled* time; `scale` says how much faster than real time it runs
/// (60: one modelled minute passes in one real second). Latency and every wait fake-github asks
/// for (`retry-after`, `x-ratelimit-reset`) are scaled the same way; `retry-after` is sent as
/// GitHub sends it, whole seconds (real ones, at least 1).
///
/// Budgets are kept per token: a `<login>:<secret>` token is charged to `<secret>` (so tokens
/// sharing a secret share a budget, as the tokens an App installation mints for several jobs
/// do, while the login tells the jobs apart in the request log), an App installation token to
/// its installation, and a job's `GITHUB_TOKEN` to its repository (the 1,000/hour limit).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// Modelled seconds per real second (at least 1).
    pub scale: f64,
    /// Modelled latency added to every API call, in milliseconds.
    pub latency_ms: u64,
    /// Whether the secondary limits apply.
    pub secondary: bool,
    /// Content-creating requests (POST, PATCH, PUT, DELETE) per modelled minute.
    pub content_per_minute: u32,
    /// Points per modelled minute (a GET or HEAD costs 1, any other method 5).
    pub points_per_minute: u32,
    /// Whether the primary limit applies.
    pub primary: bool,
    /// Requests per modelled hour of a user token or an App installation.
    pub per_hour: u64,
    /// Requests per modelled hour of a job's `GITHUB_TOKEN`, per repository.
    pub job_token_per_hour: u64,
}

impl Default for RateLimits {
    /// GitHub's documented figures, in real time, with no latency.
    fn default() -> Self {
        RateLimits {
            scale: 1.0,
            latency_ms: 0,
            secondary: true,
            content_per_minute: 80,
            points_per_minute: 900,
            primary: true,
            per_hour: 5_000,
            job_token_per_hour: 1_000,
        }
    }
}

/// What a budget is charged to (see [`RateLimits`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Bucket {
    /// The key the budget is kept under (never a whole token).
    pub(super) key: String,
    /// A job's `GITHUB_TOKEN` (1,000/hour) rather than a user or installation token.
    pub(super) job_token: bool,
}

impl Bucket {
    /// The bucket of a request's `Authorization` header; `job_repo` is the repository a job's
    /// `GITHUB_TOKEN` was issued for, `installation` the login of an App installation token.
    pub(super) fn of(
        authorization: Option<&str>,
        job_repo: Option<&str>,
        installation: Option<&str>,
    ) -> Bucket {
        if let Some(repo) = job_repo {
            return Bucket {
                key: format!("GITHUB_TOKEN of {repo}"),
                job_token: true,
            };
        }
        if let Some(login) = installation {
            return Bucket {
                key: format!("installation {login}"),
                job_token: false,
            };
        }
        let token = authorization
            .and_then(|v| v.split_once(' '))
            .map_or("", |(_, t)| t.trim());
        let key = match token.split_once(':') {
            Some((_, secret)) => format!("token *:#{:08x}", fingerprint(secret)),
            // Never the token itself: a short fingerprint tells tokens apart.
            None => format!("token #{:08x}", fingerprint(token)),
        };
        Bucket {
            key,
            job_token: false,
        }
    }
}

fn fingerprint(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// One budget's use (`GET /_fake/limits` lists them).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BucketUse {
    /// Requests admitted.
    pub requests: u64,
    /// Content-creating requests admitted.
    pub writes: u64,
    /// Points charged.
    pub points: u64,
    /// Requests refused by a secondary limit.
    pub secondary_refused: u64,
    /// Requests refused by the primary limit.
    pub primary_refused: u64,
    /// The most content-creating requests admitted in any modelled minute (sliding).
    pub peak_writes_per_minute: u64,
    /// The most points charged in any modelled minute (sliding).
    pub peak_points_per_minute: u64,
}

#[derive(Debug, Default)]
struct BucketState {
    /// Modelled times of the writes of the last minute.
    writes: std::collections::VecDeque<f64>,
    /// Modelled times and costs of the points of the last minute.
    points: std::collections::VecDeque<(f64, u32)>,
    /// Start of the current primary window (modelled seconds) and its use.
    hour_start: Option<f64>,
    hour_used: u64,
    usage: BucketUse,
}

/// A refusal, with the modelled seconds until the request would be admitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Refusal {
    /// A secondary limit (content creation or points).
    Secondary { wait: f64 },
    /// The primary limit.
    Primary { wait: f64, limit: u64 },
}

/// An admitted request's primary window, for its `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Admitted {
    limit: u64,
    used: u64,
    /// Modelled seconds until the window resets.
    reset_in: f64,
}

/// The model: its configuration, a modelled clock and the budgets.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) limits: RateLimits,
    started: std::time::Instant,
    buckets: std::collections::HashMap<Bucket, BucketState>,
}

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;

fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

impl Model {
    pub(super) fn new(mut limits: RateLimits) -> Model {
        if !limits.scale.is_finite() || limits.scale < 1.0 {
            limits.scale = 1.0;
        }
        Model {
            limits,
            started: std::time::Instant::now(),
            buckets: std::collections::HashMap::new(),
        }
    }

    /// Modelled seconds since the model was enabled.
    pub(super) fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.limits.scale
    }

    /// Real time standing for `modelled` seconds.
    pub(super) fn real(&self, modelled: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((modelled / self.limits.scale).max(0.0))
    }

    /// The real latency of one call.
    pub(super) fn latency(&self) -> std::time::Duration {
        #[allow(clippy::cast_precision_loss)] // milliseconds: far below 2^52
        self.real(self.limits.latency_ms as f64 / 1000.0)
    }

    /// Admits `method` for `bucket` at modelled time `now`, charging it, or refuses it.
    pub(super) fn admit(
        &mut self,
        bucket: &Bucket,
        method: &str,
        now: f64,
    ) -> Result<Admitted, Refusal> {
        let l = self.limits;
        let state = self.buckets.entry(bucket.clone()).or_default();
        let limit = if bucket.job_token {
            l.job_token_per_hour
        } else {
            l.per_hour
        };
        let start = match state.hour_start {
            Some(s) if now - s < HOUR => s,
            _ => {
                state.hour_start = Some(now);
                state.hour_used = 0;
                now
            }
        };
        if l.primary && state.hour_used >= limit {
            state.usage.primary_refused += 1;
            return Err(Refusal::Primary {
                wait: start + HOUR - now,
                limit,
            });
        }
        while state.writes.front().is_some_and(|t| now - t >= MINUTE) {
            state.writes.pop_front();
        }
        while state.points.front().is_some_and(|(t, _)| now - t >= MINUTE) {
            state.points.pop_front();
        }
        let write = is_write(method);
        let cost: u32 = if write { 5 } else { 1 };
        if l.secondary {
            let mut wait: f64 = 0.0;
            if write && state.writes.len() >= l.content_per_minute as usize {
                let idx = state.writes.len() - l.content_per_minute as usize;
                wait = wait.max(state.writes[idx] + MINUTE - now);
            }
            let used: u32 = state.points.iter().map(|(_, c)| c).sum();
            if used + cost > l.points_per_minute {
                // Wait until enough points have left the window.
                let mut freed = 0;
                for (t, c) in &state.points {
                    freed += c;
                    if used - freed + cost <= l.points_per_minute {
                        wait = wait.max(t + MINUTE - now);
                        break;
                    }
                }
            }
            if wait > 0.0 {
                state.usage.secondary_refused += 1;
                return Err(Refusal::Secondary { wait });
            }
        }
        state.hour_used += 1;
        state.points.push_back((now, cost));
        state.usage.requests += 1;
        state.usage.points += u64::from(cost);
        if write {
            state.writes.push_back(now);
            state.usage.writes += 1;
        }
        let in_minute: u32 = state.points.iter().map(|(_, c)| c).sum();
        state.usage.peak_points_per_minute =
            state.usage.peak_points_per_minute.max(u64::from(in_minute));
        state.usage.peak_writes_per_minute = state
            .usage
            .peak_writes_per_minute
            .max(state.writes.len() as u64);
        Ok(Admitted {
            limit,
            used: state.hour_used,
            reset_in: start + HOUR - now,
        })
    }

    /// Gives back the primary charge of an answer that turned out free (a `304`).
    pub(super) fn refund_primary(&mut self, bucket: &Bucket) {
        if let Some(state) = self.buckets.get_mut(bucket) {
            state.hour_used = state.hour_used.saturating_sub(1);
        }
    }

    /// Every budget's use, by key.
    pub(super) fn usage(&self) -> std::collections::BTreeMap<String, BucketUse> {
        self.buckets
            .iter()
            .map(|(b, s)| (b.key.clone(), s.usage.clone()))
            .collect()
    }

    /// Whole real seconds (at least 1) standing for `modelled` seconds, rounded up.
    fn whole_real_seconds(&self, modelled: f64) -> i64 {
        #[allow(clippy::cast_possible_truncation)] // at most an hour
        let secs = (modelled / self.limits.scale).ceil() as i64;
        secs.max(1)
    }

    /// The `x-ratelimit-*` headers of an admitted request (the window's reset in real epoch
    /// seconds).
    pub(super) fn headers(&self, a: Admitted) -> Vec<(&'static str, String)> {
        vec![
            ("x-ratelimit-limit", a.limit.to_string()),
            (
                "x-ratelimit-remaining",
                a.limit.saturating_sub(a.used).to_string(),
            ),
            ("x-ratelimit-used", a.used.to_string()),
            (
                "x-ratelimit-reset",
                (now() + self.whole_real_seconds(a.reset_in)).to_string(),
            ),
            ("x-ratelimit-resource", "core".to_owned()),
        ]
    }

    /// GitHub's answer to a refused request: a secondary limit is a 403 with `retry-after`;
    /// the primary one a 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
    pub(super) fn refusal(&self, r: Refusal) -> Resp {
        match r {
            Refusal::Secondary { wait } => Resp::json(
                403,
                json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    "status": "403",
                }),
            )
            .header("retry-after", self.whole_real_seconds(wait).to_string()),
            Refusal::Primary { wait, limit } => Resp::json(
                403,
                json!({
                    "message": "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
                    "status": "403",
                }),
            )
            .header("x-ratelimit-limit", limit.to_string())
            .header("x-ratelimit-remaining", "0".into())
            .header("x-ratelimit-used", limit.to_string())
            .header(
                "x-ratelimit-reset",
                (now() + self.whole_real_seconds(wait)).to_string(),
            )
            .header("x-ratelimit-resource", "core".into()),
        }
    }
}

/// Before serving an API request with the model on: its latency, then its admission. `Ok`
/// with the admitted window (none when the model is off, or for `GET /rate_limit`), or
/// GitHub's refusal to answer instead.
pub(super) async fn gate(
    app: &App,
    bucket: &Bucket,
    method: &str,
    path: &str,
) -> Result<Option<Admitted>, Resp> {
    let latency = match lock(&app.limits).as_ref() {
        Some(m) => m.latency(),
        None => return Ok(None),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if path == "/rate_limit" {
        return Ok(None);
    }
    let mut guard = lock(&app.limits);
    let Some(m) = guard.as_mut() else {
        return Ok(None);
    };
    let now = m.now();
    m.admit(bucket, method, now)
        .map(Some)
        .map_err(|r| m.refusal(r))
}

/// After serving: a `304` is given back its primary charge; the budget's `x-ratelimit-*`
/// headers, to send with the answer.
pub(super) fn settle(
    app: &App,
    bucket: &Bucket,
    admitted: Option<Admitted>,
    not_modified: bool,
) -> Vec<(&'static str, String)> {
    let mut guard = lock(&app.limits);
    let (Some(m), Some(mut a)) = (guard.as_mut(), admitted) else {
        return Vec::new();
    };
    if not_modified {
        m.refund_primary(bucket);
        a.used = a.used.saturating_sub(1);
    }
    m.headers(a)
}

/// `POST /_fake/limits`: turns the model on with `body`'s limits (missing fields: GitHub's
/// figures), on a fresh clock and fresh budgets.
pub(super) fn enable(app: &App, body: &[u8]) -> Resp {
    match serde_json::from_slice::<RateLimits>(body) {
        Ok(limits) => {
            *lock(&app.limits) = Some(Model::new(limits));
            Resp::empty(204)
        }
        Err(e) => Resp::json(400, crate::json::error(&format!("bad limits: {e}"), 400)),
    }
}

/// `GET /_fake/limits`: the limits in force (`null` when off), the modelled seconds elapsed,
/// and every budget's use.
pub(super) fn describe(app: &App) -> Resp {
    let guard = lock(&app.limits);
    Resp::json(
        200,
        match guard.as_ref() {
            Some(m) => {
                json!({"limits": m.limits, "modelled_seconds": m.now(), "buckets": m.usage()})
            }
            None => json!({"limits": null, "modelled_seconds": 0, "buckets": {}}),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(key: &str) -> Bucket {
        Bucket {
            key: key.into(),
            job_token: false,
        }
    }

    fn model(f: impl FnOnce(&mut RateLimits)) -> Model {
        let mut l = RateLimits::default();
        f(&mut l);
        Model::new(l)
    }

    #[test]
    fn content_creation_is_limited_per_sliding_minute() {
        let mut m = model(|l| l.points_per_minute = 10_000);
        let b = bucket("a");
        for i in 0..80 {
            m.admit(&b, "POST", f64::from(i) * 0.5).unwrap();
        }
        // The 81st within the minute waits until the first write leaves it (t = 60).
        let Err(Refusal::Secondary { wait }) = m.admit(&b, "PATCH", 45.0) else {
            panic!("admitted");
        };
        assert!((wait - 15.0).abs() < 1e-9, "{wait}");
        // Reads are not content creation.
        m.admit(&b, "GET", 45.0).unwrap();
        // Another token has its own budget.
        m.admit(&bucket("b"), "POST", 45.0).unwrap();
        m.admit(&b, "PUT", 60.0).unwrap();
        let Err(Refusal::Secondary { wait }) = m.admit(&b, "DELETE", 60.1) else {
            panic!("admitted");
        };
        assert!((wait - 0.4).abs() < 1e-9, "{wait}");
        let used = &m.usage()["a"];
        assert_eq!(
            (used.writes, used.requests, used.secondary_refused),
            (81, 82, 2)
        );
        assert_eq!(used.peak_writes_per_minute, 80);
    }

    #[test]
    fn points_weigh_writes_five_and_reads_one() {
        let mut m = model(|l| l.content_per_minute = 1_000);
        let b = bucket("a");
        // 100 writes (500 points) and 400 reads: 900.
        for _ in 0..100 {
            m.admit(&b, "POST", 1.0).unwrap();
        }
        for _ in 0..400 {
            m.admit(&b, "GET", 2.0).unwrap();
        }
        assert!(matches!(
            m.admit(&b, "GET", 3.0),
            Err(Refusal::Secondary { .. })
        ));
        // A write needs 5 points: freed once the writes at t = 1 leave the window.
        let Err(Refusal::Secondary { wait }) = m.admit(&b, "POST", 30.0) else {
            panic!("admitted");
        };
        assert!((wait - 31.0).abs() < 1e-9, "{wait}");
        m.admit(&b, "POST", 61.0).unwrap();
        assert_eq!(m.usage()["a"].peak_points_per_minute, 900);
    }

    #[test]
    fn the_primary_limit_is_an_hour_from_the_first_request() {
        let mut m = model(|l| {
            l.secondary = false;
            l.per_hour = 3;
        });
        let b = bucket("a");
        let first = m.admit(&b, "GET", 100.0).unwrap();
        assert_eq!((first.limit, first.used), (3, 1));
        m.admit(&b, "GET", 200.0).unwrap();
        // A 304 is free.
        m.admit(&b, "GET", 300.0).unwrap();
        m.refund_primary(&b);
        let last = m.admit(&b, "GET", 400.0).unwrap();
        assert!((last.reset_in - 3300.0).abs() < 1e-9);
        let Err(Refusal::Primary { wait, limit }) = m.admit(&b, "POST", 500.0) else {
            panic!("admitted");
        };
        assert_eq!(limit, 3);
        assert!((wait - 3200.0).abs() < 1e-9, "{wait}");
        m.admit(&b, "GET", 3700.0).unwrap();
        // A job token's budget is its own, 1,000 an hour.
        let job = Bucket {
            key: "GITHUB_TOKEN of acme/x".into(),
            job_token: true,
        };
        assert_eq!(m.admit(&job, "GET", 0.0).unwrap().limit, 1_000);
    }

    #[test]
    fn answers_are_githubs_and_waits_are_scaled_to_whole_real_seconds() {
        let m = model(|l| l.scale = 60.0);
        let r = m.refusal(Refusal::Secondary { wait: 15.0 }).encode();
        assert_eq!(r.status, 403);
        let header = |r: &super::super::wire::Encoded, k: &str| {
            r.headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        };
        // 15 modelled seconds are a quarter of a real one: at least 1.
        assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
        assert!(String::from_utf8_lossy(&r.bytes).contains("secondary rate limit"));
        let r = m
            .refusal(Refusal::Primary {
                wait: 600.0,
                limit: 5_000,
            })
            .encode();
        assert_eq!(header(&r, "x-ratelimit-remaining").as_deref(), Some("0"));
        let reset: i64 = header(&r, "x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((now() + 9..=now() + 11).contains(&reset), "{reset}");
        assert_eq!(header(&r, "retry-after"), None);
        assert_eq!(m.latency(), std::time::Duration::ZERO);
        let slow = model(|l| {
            l.scale = 50.0;
            l.latency_ms = 100;
        });
        assert_eq!(slow.latency(), std::time::Duration::from_millis(2));
    }

    #[test]
    fn buckets_never_hold_a_token() {
        let b = Bucket::of(Some("Bearer process:app-1"), None, None);
        assert!(b.key.starts_with("token *:#"), "{}", b.key);
        assert!(!b.key.contains("app-1"), "{}", b.key);
        assert_eq!(
            b,
            Bucket::of(Some("token merge:app-1"), None, None),
            "one secret, one budget"
        );
        let opaque = Bucket::of(Some("Bearer ghp_secretvalue"), None, None);
        assert!(!opaque.key.contains("secretvalue"), "{}", opaque.key);
        let job = Bucket::of(Some("Bearer ghs_x"), Some("acme/mfe"), None);
        assert!(job.job_token);
    }
}
