//! The pure invalidation planner: no IO, no async, no clock.
//!
//! Storage layout (DESIGN.md 4.3) and the CDN paths it implies:
//!
//! | storage key                      | CDN path                          | mutable? |
//! |----------------------------------|-----------------------------------|----------|
//! | `mfe/<name>/<version>/<file>`    | `/mfe/<name>/<version>/<file>`    | no (write-once, hashed) |
//! | `mfe/<name>/<entry>`             | `/mfe/<name>/<entry>`             | yes (entry-point alias) |
//! | `importmap.json`                 | `/importmap.json`                 | yes (one per environment) |
//!
//! Only mutable paths are ever planned.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use gitops_event_model::{CdnPath, MfeName, Version};
use serde::{Deserialize, Serialize};

use crate::{Error, InvalidationRequest, MAX_PATHS_PER_BATCH, MAX_WILDCARDS_IN_FLIGHT};

/// CDN path of the per-environment import map.
pub const IMPORT_MAP_PATH: &str = "/importmap.json";

/// Default for [`PlanInput::collapse_threshold`]: when more than this many paths under
/// `/mfe/<name>/` would be invalidated, they are replaced by the single wildcard
/// `/mfe/<name>/*`.
///
/// Why 10: CloudFront bills every path after the first 1,000 a month and a wildcard counts as
/// one path, so for billing alone any collapse of two or more paths saves money. But a
/// wildcard also evicts the MFE's immutable versioned assets from every edge (a burst of origin
/// fetches and slower first loads) and uses one of only 15 wildcard slots in flight per
/// distribution that concurrent deploys of other MFEs share. A normal deploy invalidates 1 to
/// 3 aliases, so explicit paths are kept for those; past 10 paths the per-path cost (and the
/// 3,000-paths-in-flight budget) dominates and the wildcard is the cheaper choice.
pub const DEFAULT_COLLAPSE_THRESHOLD: usize = 10;

/// Longest accepted CDN path, in bytes after normalisation (CloudFront's limit is 4,000).
pub const MAX_PATH_LEN: usize = 4000;

/// Everything the planner needs to know about one deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    /// The MFE (its name rule is `gitops-event-model`'s).
    pub mfe: MfeName,
    /// The MFE's entry points, relative to `mfe/<name>/` (e.g. `remoteEntry.js`); each is
    /// published at the stable alias `/mfe/<name>/<entry>`.
    pub entry_points: Vec<String>,
    /// Whether the environment's import map changed (then `/importmap.json` is invalidated).
    pub import_map_changed: bool,
    /// The deploy request's `cache_invalidation_keys` (each a [`CdnPath`]: the request's rule),
    /// each confined to `/mfe/<name>/` and normalised by the planner (the CDN's rule).
    pub cache_invalidation_keys: Vec<CdnPath>,
    /// The version is already live: nothing changed, the plan is empty.
    pub already_live: bool,
    /// Collapse to `/mfe/<name>/*` when more paths than this would be invalidated under the
    /// prefix; `1..3000`. See [`DEFAULT_COLLAPSE_THRESHOLD`].
    pub collapse_threshold: usize,
}

impl PlanInput {
    /// Input for a new version of `mfe` with the given entry points: import map changed, no
    /// request keys, not already live, the default collapse threshold.
    pub fn new(mfe: MfeName, entry_points: Vec<String>) -> Self {
        Self {
            mfe,
            entry_points,
            import_map_changed: true,
            cache_invalidation_keys: Vec::new(),
            already_live: false,
            collapse_threshold: DEFAULT_COLLAPSE_THRESHOLD,
        }
    }
}

/// Something the planner did that the caller may want to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanNote {
    /// The version is already live: nothing is invalidated.
    AlreadyLive,
    /// A request key named an immutable asset under a version prefix; such paths never need
    /// invalidation, so it was dropped.
    DroppedVersioned {
        /// The normalised path dropped.
        path: String,
    },
    /// A path was dropped because a wildcard in the plan already covers it.
    DroppedCovered {
        /// The normalised path dropped.
        path: String,
        /// The wildcard covering it.
        wildcard: String,
    },
    /// Too many paths under the MFE prefix: they were replaced by one wildcard.
    Collapsed {
        /// The wildcard used, `/mfe/<name>/*`.
        wildcard: String,
        /// How many paths it replaced.
        replaced: usize,
    },
}

impl fmt::Display for PlanNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyLive => write!(f, "version already live: no invalidation needed"),
            Self::DroppedVersioned { path } => write!(
                f,
                "dropped `{path}`: files under a version prefix are immutable and never need invalidation"
            ),
            Self::DroppedCovered { path, wildcard } => {
                write!(f, "dropped `{path}`: already covered by `{wildcard}`")
            }
            Self::Collapsed { wildcard, replaced } => write!(
                f,
                "collapsed {replaced} paths into `{wildcard}` (cheaper than one path each)"
            ),
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InvalidationPlan {
    /// Normalised, deduplicated, sorted CDN paths; empty means "invalidate nothing".
    pub paths: Vec<String>,
    /// What was dropped or collapsed, and why.
    pub notes: Vec<PlanNote>,
}

impl InvalidationPlan {
    /// True when nothing needs invalidating (then no call to the CDN is made at all).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Number of wildcard paths in the plan.
    pub fn wildcard_count(&self) -> usize {
        self.paths.iter().filter(|p| p.ends_with('*')).count()
    }

    /// The request to send for deploy `deploy_id` (see [`InvalidationRequest::for_deploy`]),
    /// or `None` when the plan is empty.
    pub fn to_request(&self, deploy_id: &str) -> Result<Option<InvalidationRequest>, Error> {
        if self.is_empty() {
            return Ok(None);
        }
        InvalidationRequest::for_deploy(deploy_id, self.paths.clone()).map(Some)
    }
}

/// Decide which CDN paths a deploy invalidates.
///
/// Rules, in order:
/// 1. The threshold must be in `1..3000`; every entry point and request key is normalised by
///    [`normalize_path`] (errors name the field, e.g. `cache_invalidation_keys[1]`). The MFE
///    name and the keys arrive valid by their types ([`MfeName`], [`CdnPath`]).
/// 2. Entry points become `/mfe/<name>/<entry>`; an entry point that is absolute, a
///    wildcard, a directory or under a version prefix is [`Error::Invalid`].
/// 3. Request keys must stay under `/mfe/<name>/`: anything else is [`Error::Invalid`], and
///    `/*` is refused explicitly. Keys under a version prefix (`/mfe/<name>/<semver>/...`)
///    are dropped with a [`PlanNote::DroppedVersioned`].
/// 4. Already live: the plan is empty ([`PlanNote::AlreadyLive`]).
/// 5. Paths covered by a wildcard of the plan are dropped ([`PlanNote::DroppedCovered`]).
/// 6. When more than `collapse_threshold` paths (or more than 15 wildcards) remain under the
///    prefix, they are replaced by `/mfe/<name>/*` ([`PlanNote::Collapsed`]).
/// 7. `/importmap.json` is added when the import map changed. The result is sorted and
///    always fits one CloudFront batch (at most 3,000 paths, at most 15 wildcards).
pub fn plan_invalidation(input: &PlanInput) -> Result<InvalidationPlan, Error> {
    if !(1..MAX_PATHS_PER_BATCH).contains(&input.collapse_threshold) {
        return Err(Error::invalid(
            "collapse_threshold",
            format!(
                "must be between 1 and {}, got {}",
                MAX_PATHS_PER_BATCH - 1,
                input.collapse_threshold
            ),
        ));
    }
    let prefix = format!("/mfe/{}/", input.mfe);
    let mut under: BTreeSet<String> = BTreeSet::new();
    let mut notes = Vec::new();

    for (i, entry) in input.entry_points.iter().enumerate() {
        under.insert(entry_alias(&prefix, entry, &format!("entry_points[{i}]"))?);
    }

    let mut dropped_versioned = BTreeSet::new();
    for (i, key) in input.cache_invalidation_keys.iter().enumerate() {
        let field = format!("cache_invalidation_keys[{i}]");
        let path = normalize(key.as_str()).map_err(|reason| Error::invalid(&field, reason))?;
        if path == "/*" {
            return Err(Error::invalid(
                field,
                format!(
                    "the whole-distribution wildcard `/*` is refused; keys must stay under `{prefix}`"
                ),
            ));
        }
        if !path.starts_with(&prefix) {
            return Err(Error::invalid(
                field,
                format!("`{key}` is outside the MFE's own prefix `{prefix}`"),
            ));
        }
        if is_versioned_path(&path) {
            dropped_versioned.insert(path);
            continue;
        }
        under.insert(path);
    }

    if input.already_live {
        return Ok(InvalidationPlan {
            paths: Vec::new(),
            notes: vec![PlanNote::AlreadyLive],
        });
    }
    notes.extend(
        dropped_versioned
            .into_iter()
            .map(|path| PlanNote::DroppedVersioned { path }),
    );

    // Drop what a wildcard already covers (CloudFront's `*` matches any characters,
    // slashes included). Shortest wildcards first so notes name the widest one.
    let mut wildcards: Vec<&String> = under.iter().filter(|p| p.ends_with('*')).collect();
    wildcards.sort_by_key(|w| w.len());
    let mut kept = BTreeSet::new();
    for path in &under {
        let covering = wildcards
            .iter()
            .find(|w| **w != path && path.starts_with(&w[..w.len() - 1]));
        match covering {
            Some(w) => notes.push(PlanNote::DroppedCovered {
                path: path.clone(),
                wildcard: (*w).clone(),
            }),
            None => {
                kept.insert(path.clone());
            }
        }
    }

    let kept_wildcards = kept.iter().filter(|p| p.ends_with('*')).count();
    if kept.len() > input.collapse_threshold || kept_wildcards > MAX_WILDCARDS_IN_FLIGHT {
        let wildcard = format!("{prefix}*");
        notes.push(PlanNote::Collapsed {
            wildcard: wildcard.clone(),
            replaced: kept.len(),
        });
        kept = BTreeSet::from([wildcard]);
    }

    if input.import_map_changed {
        kept.insert(IMPORT_MAP_PATH.to_owned());
    }
    Ok(InvalidationPlan {
        paths: kept.into_iter().collect(),
        notes,
    })
}

fn entry_alias(prefix: &str, entry: &str, field: &str) -> Result<String, Error> {
    if entry.is_empty() || entry.starts_with('/') {
        return Err(Error::invalid(
            field,
            format!("`{entry}` must be a file name relative to `{prefix}`"),
        ));
    }
    if entry.contains('*') {
        return Err(Error::invalid(
            field,
            "an entry point is a file, not a wildcard",
        ));
    }
    let path = normalize(&format!("{prefix}{entry}")).map_err(|r| Error::invalid(field, r))?;
    if !path.starts_with(prefix) || path.len() == prefix.len() || path.ends_with('/') {
        return Err(Error::invalid(
            field,
            format!("`{entry}` must name a file under `{prefix}`"),
        ));
    }
    if is_versioned_path(&path) {
        return Err(Error::invalid(
            field,
            format!("`{entry}` lies under a version prefix; aliases live directly in `{prefix}`"),
        ));
    }
    Ok(path)
}

/// True for `/mfe/<any name>/<semver>` and anything below it: an immutable, versioned asset.
pub fn is_versioned_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/mfe/") else {
        return false;
    };
    let mut segments = rest.split('/');
    let (Some(name), Some(version)) = (segments.next(), segments.next()) else {
        return false;
    };
    !name.is_empty() && Version::parse(version).is_ok()
}

/// Normalise one CDN path.
///
/// * must start with `/`; no query string (`?`), fragment (`#`), whitespace or control
///   characters; `*` only as the last character (CloudFront's wildcard);
/// * percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other
///   escapes are kept with upper-case hex, malformed escapes are refused;
/// * characters that must be escaped in a URL path (non-ASCII, `"<>\^`{|}[]`) are
///   percent-encoded as UTF-8;
/// * duplicate slashes are collapsed (a trailing slash is kept); `.` and `..` segments are
///   refused (also when written as escapes);
/// * at most [`MAX_PATH_LEN`] bytes.
pub fn normalize_path(raw: &str) -> Result<String, Error> {
    normalize(raw).map_err(|reason| Error::invalid("path", reason))
}

fn normalize(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err(format!("`{}` must start with `/`", shorten(raw)));
    }
    if raw.len() > 3 * MAX_PATH_LEN {
        return Err(format!("longer than {MAX_PATH_LEN} bytes"));
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let value = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| {
                        bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
                    })
                    .ok_or_else(|| format!("malformed percent-escape in `{}`", shorten(raw)))?;
                if is_unreserved(value) {
                    out.push(char::from(value));
                } else {
                    let _ = write!(out, "%{value:02X}");
                }
                i += 3;
                continue;
            }
            b'?' | b'#' => {
                return Err(
                    "query strings and fragments are not part of an invalidation path".to_owned(),
                );
            }
            b'*' if i + 1 != bytes.len() => {
                return Err("`*` is allowed only as the last character".to_owned());
            }
            0x00..=0x20 | 0x7f => {
                return Err("whitespace and control characters are not allowed".to_owned());
            }
            b'*' => out.push('*'),
            _ if is_unreserved(b) || b"!$&'()+,;=:@/".contains(&b) => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
        i += 1;
    }

    let trailing_slash = out.ends_with('/');
    let segments: Vec<&str> = out.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(format!(
            "`.` and `..` segments are not allowed in `{}`",
            shorten(raw)
        ));
    }
    let mut path = String::with_capacity(out.len());
    path.push('/');
    path.push_str(&segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        path.push('/');
    }
    if path.len() > MAX_PATH_LEN {
        return Err(format!("longer than {MAX_PATH_LEN} bytes"));
    }
    Ok(path)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// At most 80 characters of user input in an error message.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(77).collect();
        t.push_str("...");
        t
    }
}
