//! Conditional requests: every GET answered `200` with an `ETag` is remembered (the tag and
//! the body, per path and query), the next GET of the same URL sends `If-None-Match`, and a
//! `304 Not Modified` is answered from memory. GitHub does not count a `304` against the
//! primary rate limit, so a waiter polling an unchanged list costs no budget.
//!
//! The memory is bounded: [`MAX_ENTRIES`] URLs, [`MAX_BYTES`] of bodies in all, none larger
//! than [`MAX_ENTRY_BYTES`]; the least recently used entry goes first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

use super::GithubForge;

/// URLs remembered at most.
pub(super) const MAX_ENTRIES: usize = 256;
/// Bytes of bodies remembered at most, all entries together.
pub(super) const MAX_BYTES: usize = 8 * 1024 * 1024;
/// A body larger than this is never remembered.
pub(super) const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// One remembered answer.
struct Entry {
    etag: String,
    body: Vec<u8>,
    /// When it was last stored or used (a counter, for eviction).
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

impl Cache {
    fn remove(&mut self, url: &str) {
        if let Some(old) = self.entries.remove(url) {
            self.bytes -= old.body.len();
        }
    }

    fn evict_one(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.remove(&k);
        }
    }
}

/// The remembered answers of one forge, and how many requests they saved.
#[derive(Default)]
pub(super) struct Conditional {
    cache: Mutex<Cache>,
    not_modified: AtomicU64,
}

impl Conditional {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tag to send as `If-None-Match` for `url`, and the body it stands for.
    pub(super) fn lookup(&self, url: &str) -> Option<(String, Vec<u8>)> {
        let mut c = self.cache();
        c.clock += 1;
        let now = c.clock;
        let e = c.entries.get_mut(url)?;
        e.used = now;
        Some((e.etag.clone(), e.body.clone()))
    }

    /// Remembers a `200` answer to `url` when it carries an `ETag` (and forgets the old one
    /// otherwise: it no longer stands for the resource).
    pub(super) fn store(&self, url: &str, headers: &HeaderMap, body: &[u8]) {
        let etag = headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let mut c = self.cache();
        c.remove(url);
        let Some(etag) = etag else { return };
        if body.len() > MAX_ENTRY_BYTES {
            return;
        }
        while c.entries.len() >= MAX_ENTRIES || c.bytes + body.len() > MAX_BYTES {
            if c.entries.is_empty() {
                return;
            }
            c.evict_one();
        }
        c.clock += 1;
        let used = c.clock;
        c.bytes += body.len();
        c.entries.insert(
            url.to_owned(),
            Entry {
                etag: etag.to_owned(),
                body: body.to_vec(),
                used,
            },
        );
    }

    /// Counts one `304` answered from memory.
    pub(super) fn hit(&self) {
        self.not_modified.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets `url` (a `304` for a tag we did not send is not trusted).
    pub(super) fn forget(&self, url: &str) {
        self.cache().remove(url);
    }

    #[cfg(test)]
    fn len_and_bytes(&self) -> (usize, usize) {
        let c = self.cache();
        (c.entries.len(), c.bytes)
    }
}

impl GithubForge {
    /// HTTP requests answered `304 Not Modified` so far (a conditional GET of an unchanged
    /// resource, served from memory): part of [`GithubForge::calls`], but free on GitHub's
    /// primary rate limit.
    pub fn not_modified(&self) -> u64 {
        self.conditional.not_modified.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn tagged(tag: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ETAG, HeaderValue::from_str(tag).unwrap());
        h
    }

    #[test]
    fn remembers_tagged_answers_only() {
        let c = Conditional::default();
        c.store("/a", &tagged("\"1\""), b"[1]");
        c.store("/b", &HeaderMap::new(), b"[2]");
        assert_eq!(c.lookup("/a"), Some(("\"1\"".to_owned(), b"[1]".to_vec())));
        assert_eq!(c.lookup("/b"), None);
        // A new answer without a tag forgets the old one.
        c.store("/a", &HeaderMap::new(), b"[3]");
        assert_eq!(c.lookup("/a"), None);
        assert_eq!(c.len_and_bytes(), (0, 0));
    }

    #[test]
    fn is_bounded_in_entries_and_bytes() {
        let c = Conditional::default();
        for i in 0..MAX_ENTRIES + 10 {
            c.store(&format!("/{i}"), &tagged("\"t\""), b"x");
        }
        assert_eq!(c.len_and_bytes().0, MAX_ENTRIES);
        assert_eq!(c.lookup("/0"), None, "the least recently used went first");
        let big = vec![b'x'; MAX_ENTRY_BYTES];
        for i in 0..(MAX_BYTES / MAX_ENTRY_BYTES) + 2 {
            c.store(&format!("/big{i}"), &tagged("\"t\""), &big);
        }
        let (_, bytes) = c.len_and_bytes();
        assert!(bytes <= MAX_BYTES, "{bytes}");
        c.store("/huge", &tagged("\"t\""), &vec![b'x'; MAX_ENTRY_BYTES + 1]);
        assert_eq!(c.lookup("/huge"), None);
    }

    #[test]
    fn recently_used_entries_survive() {
        let c = Conditional::default();
        for i in 0..MAX_ENTRIES {
            c.store(&format!("/{i}"), &tagged("\"t\""), b"x");
        }
        assert!(c.lookup("/0").is_some());
        c.store("/new", &tagged("\"t\""), b"x");
        assert!(c.lookup("/0").is_some());
        assert_eq!(c.lookup("/1"), None);
    }
}
