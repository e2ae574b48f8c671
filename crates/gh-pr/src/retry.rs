//! When and how long to wait before retrying a forge call. Pure: tested without a server.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// Bounded exponential backoff with jitter; server hints (`retry-after`,
/// `x-ratelimit-reset`) win over the computed delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry when the server gives no hint; doubles each retry.
    pub base_delay: Duration,
    /// Upper bound of one computed (hint-less) delay.
    pub max_delay: Duration,
    /// Upper bound of one call's retrying: no retry starts once the call has spent this long
    /// (its attempts, each bounded by the request timeout, and the waits between them), and
    /// a hint that would pass it ends the call with `Throttled` instead of sleeping. A call
    /// thus ends within this plus one request timeout.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_total_wait: Duration::from_secs(90),
        }
    }
}

/// Why a response may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retryable {
    /// 5xx: the server failed.
    ServerError,
    /// 429 or a secondary-rate-limit 403.
    RateLimited,
}

/// Classify a response: `None` = final (success or a 4xx that will not change).
pub(crate) fn classify(status: u16, headers: &HeaderMap, body: &str) -> Option<Retryable> {
    match status {
        500..=599 => Some(Retryable::ServerError),
        429 => Some(Retryable::RateLimited),
        403 => {
            let remaining_zero = header_str(headers, "x-ratelimit-remaining") == Some("0");
            let lower = body.to_ascii_lowercase();
            (headers.contains_key("retry-after") || remaining_zero || lower.contains("rate limit"))
                .then_some(Retryable::RateLimited)
        }
        _ => None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The wait the server asked for: `retry-after` (seconds), else `x-ratelimit-reset` (epoch
/// seconds) when the remaining quota is zero or the response is a rate limit.
pub(crate) fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(secs) = header_str(headers, "retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header_str(headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    if header_str(headers, "x-ratelimit-remaining").is_some_and(|r| r != "0") {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    // One extra second: the reset instant is rounded down by the server.
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `retry` (0-based) without a hint: exponential, capped,
    /// with "equal jitter" (between half and all of the step).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = step / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            random_u64() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Decide the next wait after `attempt` attempts and `spent` time in this call: `None` =
    /// give up.
    pub(crate) fn next_wait(
        &self,
        attempt: u32,
        spent: Duration,
        hint: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = hint.unwrap_or_else(|| self.backoff(attempt - 1));
        (spent + wait <= self.max_total_wait).then_some(wait)
    }
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn classification() {
        let none = HeaderMap::new();
        assert_eq!(classify(502, &none, ""), Some(Retryable::ServerError));
        assert_eq!(classify(429, &none, ""), Some(Retryable::RateLimited));
        for s in [400, 401, 404, 405, 409, 422] {
            assert_eq!(classify(s, &none, "whatever"), None, "{s}");
        }
        assert_eq!(
            classify(403, &none, r#"{"message":"Resource not accessible"}"#),
            None
        );
        assert_eq!(
            classify(
                403,
                &none,
                r#"{"message":"You have exceeded a secondary rate limit"}"#
            ),
            Some(Retryable::RateLimited)
        );
        assert_eq!(
            classify(403, &headers(&[("retry-after", "3")]), ""),
            Some(Retryable::RateLimited)
        );
        assert_eq!(
            classify(403, &headers(&[("x-ratelimit-remaining", "0")]), ""),
            Some(Retryable::RateLimited)
        );
    }

    #[test]
    fn hints() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            server_hint(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            server_hint(
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1010")
                ]),
                now
            ),
            Some(Duration::from_secs(11))
        );
        assert_eq!(
            server_hint(
                &headers(&[
                    ("x-ratelimit-remaining", "10"),
                    ("x-ratelimit-reset", "1010")
                ]),
                now
            ),
            None
        );
        assert_eq!(server_hint(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_total_wait: Duration::from_secs(1),
        };
        for retry in 0..10 {
            let d = p.backoff(retry);
            let step = (Duration::from_millis(100) * 2u32.pow(retry.min(10)))
                .min(Duration::from_millis(300));
            assert!(d >= step / 2 && d <= step, "{retry}: {d:?}");
        }
        assert!(
            p.next_wait(4, Duration::ZERO, None).is_none(),
            "attempts bounded"
        );
        assert!(
            p.next_wait(1, Duration::ZERO, Some(Duration::from_secs(2)))
                .is_none(),
            "total bounded"
        );
        assert_eq!(
            p.next_wait(1, Duration::ZERO, Some(Duration::from_millis(5))),
            Some(Duration::from_millis(5))
        );
        assert!(
            p.next_wait(1, Duration::from_millis(940), None).is_none(),
            "time spent in attempts counts against the budget"
        );
        assert!(p.next_wait(1, Duration::from_millis(800), None).is_some());
        assert!(
            RetryPolicy::none()
                .next_wait(1, Duration::ZERO, None)
                .is_none()
        );
    }
}
