//! Deploy step 4: the mutable pointers to a version, written with compare-and-swap.
//!
//! - entry-point aliases `mfe/<name>/<entry>` (copies of `mfe/<name>/<version>/<entry>`),
//! - `importmap.json` at the storage root (single-spa format).
//!
//! Both are read, changed and written back with `PutMode::Update` on the e-tag/version that
//! was read (`PutMode::Create` when absent), retrying when another writer got in between.
//! S3, the in-memory fake and the local backend ([`crate::LocalStore`], which serialises
//! conditional puts under a file lock) all support this, so concurrent deploys of different
//! MFEs never lose each other's import-map entry. Only a store that reports
//! `NotImplemented` for conditional updates (a plain object_store `LocalFileSystem`, S3 with
//! conditional put disabled) gets a plain overwrite instead.
//!
//! [`served_imports`] and [`version_of_url`] read back what the import map serves, so a
//! status check can tell whether the pointers follow the registry.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    Attributes, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion,
};

use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::headers::{self, REVALIDATE};
use crate::upload::{Refusal, StoreQuirks, not_implemented, version_prefix};

/// How many times a compare-and-swap is retried after losing a race.
pub const CAS_ATTEMPTS: u32 = 10;

/// The object path of the import map at the storage root.
pub const IMPORT_MAP: &str = "importmap.json";

/// The largest import map read (8 MiB); a larger one is refused as corrupt.
pub const MAX_IMPORT_MAP_BYTES: u64 = 8 << 20;

/// The largest entry point copied to its alias (64 MiB).
const MAX_ENTRY_POINT_BYTES: u64 = 64 << 20;

/// What happened to one pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerUpdate {
    /// The pointer's object path (e.g. `mfe/checkout/remoteEntry.js`, `importmap.json`).
    pub path: String,
    /// Whether its content changed (and so needs a CDN invalidation).
    pub changed: bool,
}

/// Copies each entry point `mfe/<name>/<version>/<entry>` to its alias `mfe/<name>/<entry>`
/// with the short Cache-Control. Entries that already hold the same bytes are left alone.
pub async fn publish_aliases(
    store: &dyn ObjectStore,
    mfe: &str,
    version: &str,
    entry_points: &[String],
) -> Result<Vec<PointerUpdate>> {
    let prefix = version_prefix(mfe, version)?;
    let quirks = StoreQuirks::default();
    let mut out = Vec::with_capacity(entry_points.len());
    for entry in entry_points {
        let rel = check_entry(entry)?;
        let source = Path::from(format!("{prefix}/{rel}"));
        let alias = Path::from(format!("mfe/{mfe}/{rel}"));
        let got = store
            .get(&source)
            .await
            .map_err(|e| Error::from_store(e, source.as_ref()))?;
        let data = read_bounded(got, MAX_ENTRY_POINT_BYTES, source.as_ref())
            .await?
            .ok_or_else(|| {
                Error::invalid(
                    "entry point",
                    format!("`{source}` is larger than {MAX_ENTRY_POINT_BYTES} bytes"),
                )
            })?;
        let attributes = headers::attributes(&rel, REVALIDATE);
        let bound = data.len() as u64;
        let changed = cas_update(store, &alias, &attributes, &quirks, bound, |current| {
            Ok(match current {
                Current::Bytes(c) if c == &data[..] => None,
                _ => Some(data.clone()),
            })
        })
        .await?;
        out.push(PointerUpdate {
            path: alias.to_string(),
            changed,
        });
    }
    Ok(out)
}

/// The versioned URL of an MFE entry point: `<public_url>/mfe/<name>/<version>/<entry>`.
pub fn versioned_url(public_url: &str, mfe: &str, version: &str, entry: &str) -> Result<String> {
    let prefix = version_prefix(mfe, version)?;
    let rel = check_entry(entry)?;
    Ok(format!(
        "{}/{prefix}/{rel}",
        public_url.trim_end_matches('/')
    ))
}

/// Points the MFE's entry in `importmap.json` (`{"imports": {"<mfe>": "<url>"}}`) at
/// `<public_url>/mfe/<name>/<version>/<entry>`, keeping every other key. Creates the file
/// when absent. Output is pretty-printed with sorted imports and a trailing newline.
pub async fn update_import_map(
    store: &dyn ObjectStore,
    public_url: &str,
    mfe: &str,
    version: &str,
    entry: &str,
) -> Result<PointerUpdate> {
    let url = versioned_url(public_url, mfe, version, entry)?;
    let path = Path::from(IMPORT_MAP);
    let attributes = headers::attributes(IMPORT_MAP, REVALIDATE);
    let changed = cas_update(
        store,
        &path,
        &attributes,
        &StoreQuirks::default(),
        MAX_IMPORT_MAP_BYTES,
        |current| {
            let current = match current {
                Current::Absent => None,
                Current::Bytes(c) => Some(c),
                Current::TooLarge => return Err(import_map_too_large()),
            };
            let new = set_import(current, mfe, &url)?;
            Ok((current != Some(&new[..])).then_some(new))
        },
    )
    .await?;
    Ok(PointerUpdate {
        path: IMPORT_MAP.to_owned(),
        changed,
    })
}

fn import_map_too_large() -> Error {
    Error::invalid(
        "importmap.json",
        format!("larger than {MAX_IMPORT_MAP_BYTES} bytes"),
    )
}

fn parse_import_map(raw: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bad = |reason: String| Error::invalid("importmap.json", reason);
    match serde_json::from_slice::<serde_json::Value>(raw)
        .map_err(|e| bad(format!("not JSON: {e}")))?
    {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(bad("the top level is not an object".to_owned())),
    }
}

/// What the storage's `importmap.json` serves: its `imports` (MFE name to URL). Empty when
/// the object does not exist or has no `imports`; a corrupt import map (not JSON, not an
/// object, `imports` not an object of strings, over [`MAX_IMPORT_MAP_BYTES`]) is an error,
/// never an empty map.
pub async fn served_imports(store: &dyn ObjectStore) -> Result<BTreeMap<String, String>> {
    let got = match store.get(&Path::from(IMPORT_MAP)).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::from_store(e, IMPORT_MAP)),
    };
    let raw = read_bounded(got, MAX_IMPORT_MAP_BYTES, IMPORT_MAP)
        .await?
        .ok_or_else(import_map_too_large)?;
    let mut root = parse_import_map(&raw)?;
    match root.remove("imports") {
        None => Ok(BTreeMap::new()),
        Some(serde_json::Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(url) => Ok((k, url)),
                _ => Err(Error::invalid(
                    "importmap.json",
                    format!("`imports.{k}` is not a string"),
                )),
            })
            .collect(),
        Some(_) => Err(Error::invalid(
            "importmap.json",
            "`imports` is not an object",
        )),
    }
}

/// The inverse of [`versioned_url`]: the version that `url` (as served by the import map)
/// points at, when it is `<public_url>/mfe/<mfe>/<version>/<entry>` with a SemVer version
/// and a non-empty entry; `None` for anything else (another host or MFE, an alias without a
/// version, a malformed URL).
pub fn version_of_url(public_url: &str, mfe: &str, url: &str) -> Option<String> {
    let base = public_url.trim_end_matches('/');
    let rest = url.strip_prefix(base)?.strip_prefix("/mfe/")?;
    let rest = rest.strip_prefix(mfe)?.strip_prefix('/')?;
    let (version, entry) = rest.split_once('/')?;
    check_entry(entry).ok()?;
    version_prefix(mfe, version).ok()?;
    Some(version.to_owned())
}

/// Returns the import map `current` (or an empty one) with `imports[mfe] = url`.
pub fn set_import(current: Option<&[u8]>, mfe: &str, url: &str) -> Result<Bytes> {
    let bad = |reason: String| Error::invalid("importmap.json", reason);
    let mut root = match current {
        None => serde_json::Map::new(),
        Some(raw) => parse_import_map(raw)?,
    };
    let mut imports: Vec<(String, serde_json::Value)> = match root.remove("imports") {
        None => Vec::new(),
        Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
        Some(_) => return Err(bad("`imports` is not an object".to_owned())),
    };
    imports.retain(|(k, _)| k != mfe);
    imports.push((mfe.to_owned(), serde_json::Value::String(url.to_owned())));
    imports.sort_by(|a, b| a.0.cmp(&b.0));
    root.insert(
        "imports".to_owned(),
        serde_json::Value::Object(imports.into_iter().collect()),
    );
    let mut out = serde_json::to_vec_pretty(&serde_json::Value::Object(root))
        .map_err(|e| bad(e.to_string()))?;
    out.push(b'\n');
    Ok(Bytes::from(out))
}

/// Checks an entry point (relative to the version prefix; a leading `/` is dropped) and
/// returns it normalised.
pub(crate) fn check_entry(entry: &str) -> Result<String> {
    let rel = entry.trim_start_matches('/');
    let ok = !rel.is_empty()
        && !rel.contains('\\')
        && rel
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !ok || Path::parse(rel).is_err() {
        return Err(Error::invalid(
            "entry point",
            format!("`{entry}` must be a relative path inside the version"),
        ));
    }
    Ok(rel.to_owned())
}

/// The current content of a pointer, as read (at most a bound) by [`cas_update`].
enum Current<'a> {
    Absent,
    Bytes(&'a [u8]),
    TooLarge,
}

/// Read-modify-write of one object with compare-and-swap. `change` gets the current content
/// (read up to `bound` bytes) and returns the new bytes, or `None` for "leave it". Returns
/// whether it wrote.
async fn cas_update<F>(
    store: &dyn ObjectStore,
    path: &Path,
    attributes: &Attributes,
    quirks: &StoreQuirks,
    bound: u64,
    change: F,
) -> Result<bool>
where
    F: Fn(Current<'_>) -> Result<Option<Bytes>>,
{
    let mut attempts = 0;
    while attempts < CAS_ATTEMPTS {
        attempts += 1;
        let (current, version) = match store.get(path).await {
            Ok(r) => {
                let v = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                (Some(read_bounded(r, bound, path.as_ref()).await?), Some(v))
            }
            Err(object_store::Error::NotFound { .. }) => (None, None),
            Err(e) => return Err(Error::from_store(e, path.as_ref())),
        };
        let view = match &current {
            None => Current::Absent,
            Some(Some(b)) => Current::Bytes(b),
            Some(None) => Current::TooLarge,
        };
        let Some(new) = change(view)? else {
            return Ok(false);
        };
        loop {
            let mode = if quirks.no_conditional.load(Ordering::Relaxed) {
                PutMode::Overwrite
            } else {
                match &version {
                    Some(v) => PutMode::Update(v.clone()),
                    None => PutMode::Create,
                }
            };
            let opts = PutOptions {
                mode,
                attributes: quirks.attrs(attributes),
                ..PutOptions::default()
            };
            match store.put_opts(path, new.clone().into(), opts).await {
                Ok(_) => return Ok(true),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    tracing::debug!(%path, attempts, "lost a compare-and-swap race; retrying");
                    tokio::time::sleep(backoff(attempts)).await;
                    break;
                }
                Err(e) => match not_implemented(&e) {
                    Some(Refusal::Attributes)
                        if !quirks.no_attributes.swap(true, Ordering::Relaxed) => {}
                    Some(Refusal::Conditional)
                        if !quirks.no_conditional.swap(true, Ordering::Relaxed) =>
                    {
                        tracing::debug!(%path, "store has no conditional update; plain put");
                    }
                    _ => return Err(Error::from_store(e, path.as_ref())),
                },
            }
        }
    }
    Err(Error::Conflict {
        path: path.to_string(),
        attempts,
    })
}

/// Jittered exponential backoff: up to 10 ms, 20 ms, 40 ms, ... capped at 640 ms.
fn backoff(attempt: u32) -> std::time::Duration {
    let cap_ms = 10u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    std::time::Duration::from_millis(1 + nanos % cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_map_edit_keeps_other_keys_and_sorts() {
        let cur = br#"{"imports":{"zeta":"z","checkout":"old"},"scopes":{"a":{}}}"#;
        let out = set_import(Some(cur), "checkout", "https://cdn/x.js").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["imports"]["checkout"], "https://cdn/x.js");
        assert_eq!(v["imports"]["zeta"], "z");
        assert!(v["scopes"]["a"].is_object());
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.find("checkout").unwrap() < text.find("zeta").unwrap());
        assert!(text.ends_with('\n'));
        assert!(set_import(Some(b"[]"), "a", "u").is_err());
        assert!(set_import(Some(br#"{"imports":[]}"#), "a", "u").is_err());
    }

    #[test]
    fn version_of_url_inverts_versioned_url() {
        for base in [
            "https://cdn.example.com",
            "https://cdn.example.com/",
            "http://h:8080/p",
        ] {
            let url =
                versioned_url(base, "checkout", "1.2.3-rc.1+b5", "assets/remoteEntry.js").unwrap();
            assert_eq!(
                version_of_url(base, "checkout", &url).as_deref(),
                Some("1.2.3-rc.1+b5"),
                "{url}"
            );
        }
        let b = "https://cdn";
        for url in [
            "https://cdn/mfe/checkout/remoteEntry.js",
            "https://cdn/mfe/checkout/1.2.3/",
            "https://cdn/mfe/checkout/1.2/remoteEntry.js",
            "https://cdn/mfe/checkoutx/1.2.3/remoteEntry.js",
            "https://cdn/mfe/cart/1.2.3/remoteEntry.js",
            "https://other/mfe/checkout/1.2.3/remoteEntry.js",
            "https://cdn/mfe/checkout/1.2.3/../x.js",
            "",
        ] {
            assert_eq!(version_of_url(b, "checkout", url), None, "{url}");
        }
    }

    #[test]
    fn entries_must_stay_inside() {
        assert!(check_entry("../x.js").is_err());
        assert!(check_entry("a//b.js").is_err());
        assert_eq!(check_entry("/remoteEntry.js").unwrap(), "remoteEntry.js");
    }
}
