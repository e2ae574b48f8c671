//! Self-throttling of content-creating calls, as GitHub asks of integrations ("Best practices
//! for using the REST API": make mutating requests serially, not concurrently, and wait at
//! least one second between them when making many): one pacer per API and token in a process
//! (GitHub's limits count per user or installation), so every forge of a process using the same
//! token on the same API shares it, and two APIs (two fake-github servers of a test run) or two
//! tokens never wait for each other.
//!
//! Writes never overlap (each holds the pacer while it is in flight). Once GitHub has pushed
//! back (a rate-limited answer, [`Pacer::press`]) they are also spaced: a token bucket of
//! [`BURST`] writes refilled one per interval, starting empty. Before any push-back writes are
//! not delayed, so a command's (or a test suite's) writes cost no waiting. The interval is `GITOPS_GITHUB_WRITE_INTERVAL_MS` (milliseconds, read once per
//! process; default 1,000; `0` turns pacing off), so a time-scaled simulation can scale it.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, OnceLock};
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
    /// Whether GitHub has pushed back: writes are spaced from then on.
    pressed: std::sync::atomic::AtomicBool,
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
            pressed: std::sync::atomic::AtomicBool::new(false),
            bucket: tokio::sync::Mutex::new(Bucket {
                tokens: f64::from(BURST),
                at: Instant::now(),
            }),
        }
    }

    /// GitHub pushed back (a rate limit): space the writes from now on, the bucket empty.
    pub(super) fn press(&self) {
        if !self.pressed.swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Ok(mut b) = self.bucket.try_lock()
        {
            b.tokens = 0.0;
            b.at = Instant::now();
        }
    }

    /// Waits for a write's turn: the previous write done and, once pressed, a token available.
    pub(super) async fn turn(&self) -> Turn<'_> {
        let mut b = self.bucket.lock().await;
        if self.interval.is_zero() || !self.pressed.load(std::sync::atomic::Ordering::SeqCst) {
            return Turn { _held: Some(b) };
        }
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

/// The pacers of a process, by API URL and the token's hash.
type Pacers = HashMap<(String, u64), Arc<Pacer>>;

/// The process's pacer for `token` on `api_url` (the interval read from the environment once
/// per process). The token is only hashed into the key, never kept.
pub(super) fn pacer(api_url: &str, token: &secrecy::SecretString) -> Arc<Pacer> {
    static INTERVAL: OnceLock<Duration> = OnceLock::new();
    static PACERS: OnceLock<Mutex<Pacers>> = OnceLock::new();
    let interval =
        *INTERVAL.get_or_init(|| interval_of(std::env::var(WRITE_INTERVAL_VAR).ok().as_deref()));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secrecy::ExposeSecret::expose_secret(token).hash(&mut hasher);
    let key = (api_url.to_owned(), hasher.finish());
    let mut pacers = PACERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(
        pacers
            .entry(key)
            .or_insert_with(|| Arc::new(Pacer::new(interval))),
    )
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
    async fn writes_are_spaced_once_github_pushed_back() {
        let pacer = Pacer::new(Duration::from_millis(40));
        let started = Instant::now();
        for _ in 0..3 * BURST {
            drop(pacer.turn().await);
        }
        assert!(
            started.elapsed() < Duration::from_millis(40),
            "not pressed: no wait"
        );
        pacer.press();
        let started = Instant::now();
        for _ in 0..3 {
            drop(pacer.turn().await);
        }
        // Three writes after a push-back: about three intervals (a scheduler may add a little).
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
        // Spacing off (interval 0): writes still take turns, and never wait once done.
        let off = Pacer::new(Duration::ZERO);
        off.press();
        let started = Instant::now();
        for _ in 0..3 * BURST {
            drop(off.turn().await);
        }
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
