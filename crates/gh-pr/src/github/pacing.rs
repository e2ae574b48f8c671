//! Self-throttling of content-creating calls, as GitHub asks of integrations ("Best practices
//! for using the REST API": make mutating requests serially, not concurrently, and wait at
//! least one second between them when making many): one process-wide pacer, so every forge of
//! a process (the GitOps repository's and a requester's) shares it.
//!
//! A token bucket: up to [`BURST`] writes go at once (one request's proposal or merge never
//! waits), then one per interval; writes never overlap (each holds the pacer while it is in
//! flight). The interval is `GITOPS_GITHUB_WRITE_INTERVAL_MS` (milliseconds, read once per
//! process; default 1,000; `0` turns pacing off), so a time-scaled simulation can scale it.

use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::Instant;

/// The variable naming the interval between content-creating calls, in milliseconds.
pub(super) const WRITE_INTERVAL_VAR: &str = "GITOPS_GITHUB_WRITE_INTERVAL_MS";
/// The default interval (GitHub's "at least one second").
pub(super) const DEFAULT_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// Writes allowed back to back before pacing starts.
pub(super) const BURST: u32 = 8;

/// The pacer's state: writes available now, and when that was computed.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket of `interval` and [`BURST`], whose lock serialises writes.
#[derive(Debug)]
pub(super) struct Pacer {
    interval: Duration,
    bucket: tokio::sync::Mutex<Bucket>,
}

/// A write's turn: the pacer stays held (no other write starts) until it is dropped.
pub(super) struct Turn<'a> {
    _held: Option<tokio::sync::MutexGuard<'a, Bucket>>,
}

impl Pacer {
    pub(super) fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            bucket: tokio::sync::Mutex::new(Bucket {
                tokens: f64::from(BURST),
                at: Instant::now(),
            }),
        }
    }

    /// Waits for a write's turn: the previous write done, and a token available.
    pub(super) async fn turn(&self) -> Turn<'_> {
        if self.interval.is_zero() {
            return Turn { _held: None };
        }
        let mut b = self.bucket.lock().await;
        let per = self.interval.as_secs_f64();
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() / per).min(f64::from(BURST));
        b.at = now;
        if b.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - b.tokens) * per);
            tokio::time::sleep(wait).await;
            b.tokens = 1.0;
            b.at = Instant::now();
        }
        b.tokens -= 1.0;
        Turn { _held: Some(b) }
    }
}

/// The interval a variable's value asks for: whole milliseconds; anything else is ignored
/// for the default (with a warning), pacing being a courtesy, not a setting to fail on.
fn interval_of(value: Option<&str>) -> Duration {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => DEFAULT_WRITE_INTERVAL,
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms <= 60_000 => Duration::from_millis(ms),
            _ => {
                tracing::warn!(
                    value = v,
                    "{WRITE_INTERVAL_VAR} is not milliseconds from 0 to 60000: using 1000"
                );
                DEFAULT_WRITE_INTERVAL
            }
        },
    }
}

/// The process's pacer (its interval read from the environment once).
pub(super) fn pacer() -> &'static Pacer {
    static PACER: OnceLock<Pacer> = OnceLock::new();
    PACER.get_or_init(|| {
        Pacer::new(interval_of(
            std::env::var(WRITE_INTERVAL_VAR).ok().as_deref(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_milliseconds_or_the_default() {
        assert_eq!(interval_of(None), DEFAULT_WRITE_INTERVAL);
        assert_eq!(interval_of(Some("")), DEFAULT_WRITE_INTERVAL);
        assert_eq!(interval_of(Some("16")), Duration::from_millis(16));
        assert_eq!(interval_of(Some("0")), Duration::ZERO);
        assert_eq!(interval_of(Some("1.5")), DEFAULT_WRITE_INTERVAL);
        assert_eq!(interval_of(Some("99999999")), DEFAULT_WRITE_INTERVAL);
    }

    #[tokio::test]
    async fn a_burst_goes_at_once_then_one_write_per_interval() {
        let pacer = Pacer::new(Duration::from_millis(40));
        let started = Instant::now();
        for _ in 0..BURST {
            drop(pacer.turn().await);
        }
        assert!(started.elapsed() < Duration::from_millis(40));
        for _ in 0..3 {
            drop(pacer.turn().await);
        }
        // Three more writes: about three intervals (a scheduler may add a little).
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(110), "{took:?}");
    }

    #[tokio::test]
    async fn writes_never_overlap() {
        let pacer = std::sync::Arc::new(Pacer::new(Duration::from_millis(1)));
        let turn = pacer.turn().await;
        let other = std::sync::Arc::clone(&pacer);
        let waiting = tokio::spawn(async move { drop(other.turn().await) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "a second write started during the first"
        );
        drop(turn);
        waiting.await.unwrap();
        let off = Pacer::new(Duration::ZERO);
        let (a, b) = (off.turn().await, off.turn().await);
        drop((a, b));
    }
}
