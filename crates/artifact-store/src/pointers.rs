//! Deploy step 4: the mutable pointers to a version, written with compare-and-swap.
//!
//! - entry-point aliases `mfe/<name>/<entry>` (copies of `mfe/<name>/<version>/<entry>`),
//! - `importmap.json` at the storage root (single-spa format).
//!
//! Both are read, changed and written back with `PutMode::Update` on the e-tag/version that
//! was read (`PutMode::Create` when absent), read again and retried when another writer got in
//! between, under `gitops_retry::RetryPolicy::CONTENDED` (jittered backoff, bounded attempts
//! and time; then [`Error::Conflict`]).
//! S3, the in-memory fake and the local backend ([`crate::LocalStore`], which serialises
//! conditional puts under a file lock) all support this, so concurrent deploys of different
//! MFEs never lose each other's import-map entry. Only a store that reports
//! `NotImplemented` for conditional updates (a plain object_store `LocalFileSystem`, S3 with
//! conditional put disabled) gets a plain overwrite instead.
//!
//! [`served_imports`] and [`version_of_url`] read back what the import map serves, so a
//! status check can tell whether the pointers follow the registry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use gitops_event_model::{MfeName, Version};
use gitops_retry::{RetryPolicy, retry};
use object_store::path::Path;
use object_store::{
    Attributes, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion,
};

use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::headers::{self, REVALIDATE};
use crate::upload::{Refusal, StoreQuirks, not_implemented, version_prefix};

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
    mfe: &MfeName,
    version: &Version,
    entry_points: &[String],
) -> Result<Vec<PointerUpdate>> {
    let prefix = version_prefix(mfe, version);
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
        let changed = cas_update(
            store,
            &alias,
            &attributes,
            &quirks,
            bound,
            RetryPolicy::CONTENDED,
            |current| {
                Ok(match current {
                    Current::Bytes(c) if c == &data[..] => None,
                    _ => Some(data.clone()),
                })
            },
        )
        .await?;
        out.push(PointerUpdate {
            path: alias.to_string(),
            changed,
        });
    }
    Ok(out)
}

/// The versioned URL of an MFE entry point: `<public_url>/mfe/<name>/<version>/<entry>`. Fails
/// only for an entry point that is not a relative path inside the version.
pub fn versioned_url(
    public_url: &str,
    mfe: &MfeName,
    version: &Version,
    entry: &str,
) -> Result<String> {
    let prefix = version_prefix(mfe, version);
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
    mfe: &MfeName,
    version: &Version,
    entry: &str,
) -> Result<PointerUpdate> {
    update_import_map_with(
        store,
        public_url,
        mfe,
        version,
        entry,
        RetryPolicy::CONTENDED,
    )
    .await
}

async fn update_import_map_with(
    store: &dyn ObjectStore,
    public_url: &str,
    mfe: &MfeName,
    version: &Version,
    entry: &str,
    policy: RetryPolicy,
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
        policy,
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

/// What the storage's `importmap.json` serves: its `imports`, MFE name to URL. Empty when
/// the object does not exist or has no `imports`; a corrupt import map (not JSON, not an
/// object, `imports` not an object of strings, over [`MAX_IMPORT_MAP_BYTES`]) is an error,
/// never an empty map. Keys that are not MFE names (`@org/shared`, entries another tool keeps
/// in the same map) cannot be an MFE this crate deployed and are left out; their values must
/// still be strings.
pub async fn served_imports(store: &dyn ObjectStore) -> Result<BTreeMap<MfeName, String>> {
    let got = match store.get(&Path::from(IMPORT_MAP)).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::from_store(e, IMPORT_MAP)),
    };
    let raw = read_bounded(got, MAX_IMPORT_MAP_BYTES, IMPORT_MAP)
        .await?
        .ok_or_else(import_map_too_large)?;
    let mut root = parse_import_map(&raw)?;
    let imports = match root.remove("imports") {
        None => return Ok(BTreeMap::new()),
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => {
            return Err(Error::invalid(
                "importmap.json",
                "`imports` is not an object",
            ));
        }
    };
    let mut served = BTreeMap::new();
    for (key, value) in imports {
        let serde_json::Value::String(url) = value else {
            return Err(Error::invalid(
                "importmap.json",
                format!("`imports.{key}` is not a string"),
            ));
        };
        if let Ok(mfe) = MfeName::parse(&key) {
            served.insert(mfe, url);
        }
    }
    Ok(served)
}

/// The inverse of [`versioned_url`]: the version that `url` (as served by the import map)
/// points at, when it is `<public_url>/mfe/<mfe>/<version>/<entry>` with a SemVer version
/// (written as [`Version`] writes it) and a non-empty entry; `None` for anything else
/// (another host or MFE, an alias without a version, a malformed URL): such a URL serves no
/// version of `mfe`.
pub fn version_of_url(public_url: &str, mfe: &MfeName, url: &str) -> Option<Version> {
    let base = public_url.trim_end_matches('/');
    let rest = url.strip_prefix(base)?.strip_prefix("/mfe/")?;
    let rest = rest.strip_prefix(mfe.as_str())?.strip_prefix('/')?;
    let (segment, entry) = rest.split_once('/')?;
    check_entry(entry).ok()?;
    let version = Version::parse(segment).ok()?;
    (version == segment).then_some(version)
}

/// Returns the import map `current` (or an empty one) with `imports[mfe] = url`.
pub fn set_import(current: Option<&[u8]>, mfe: &MfeName, url: &str) -> Result<Bytes> {
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
    imports.retain(|(k, _)| k != mfe.as_str());
    imports.push((mfe.to_string(), serde_json::Value::String(url.to_owned())));
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
/// whether it wrote. A lost race is read again, under `policy` ([`Error::retry_class`]
/// decides); still losing when the policy is spent, it is [`Error::Conflict`] counting the
/// attempts.
async fn cas_update<F>(
    store: &dyn ObjectStore,
    path: &Path,
    attributes: &Attributes,
    quirks: &StoreQuirks,
    bound: u64,
    policy: RetryPolicy,
    change: F,
) -> Result<bool>
where
    F: Fn(Current<'_>) -> Result<Option<Bytes>>,
{
    let attempts = AtomicU32::new(0);
    retry(
        policy,
        || {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            cas_attempt(store, path, attributes, quirks, bound, &change, attempt)
        },
        Error::retry_class,
    )
    .await
}

/// One read-modify-write; a lost race is [`Error::Conflict`] with `attempt` attempts.
async fn cas_attempt<F>(
    store: &dyn ObjectStore,
    path: &Path,
    attributes: &Attributes,
    quirks: &StoreQuirks,
    bound: u64,
    change: &F,
    attempt: u32,
) -> Result<bool>
where
    F: Fn(Current<'_>) -> Result<Option<Bytes>>,
{
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
    // Each pass of this loop learns one thing the store refuses (attributes, conditional
    // puts) and puts again without it; it ends after at most three passes.
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
                tracing::debug!(%path, attempt, "lost a compare-and-swap race");
                return Err(Error::Conflict {
                    path: path.to_string(),
                    attempts: attempt,
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mfe(name: &str) -> MfeName {
        MfeName::parse(name).unwrap()
    }

    fn version(v: &str) -> Version {
        Version::parse(v).unwrap()
    }

    #[test]
    fn import_map_edit_keeps_other_keys_and_sorts() {
        let cur = br#"{"imports":{"zeta":"z","checkout":"old"},"scopes":{"a":{}}}"#;
        let out = set_import(Some(cur), &mfe("checkout"), "https://cdn/x.js").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["imports"]["checkout"], "https://cdn/x.js");
        assert_eq!(v["imports"]["zeta"], "z");
        assert!(v["scopes"]["a"].is_object());
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.find("checkout").unwrap() < text.find("zeta").unwrap());
        assert!(text.ends_with('\n'));
        assert!(set_import(Some(b"[]"), &mfe("a"), "u").is_err());
        assert!(set_import(Some(br#"{"imports":[]}"#), &mfe("a"), "u").is_err());
    }

    #[test]
    fn version_of_url_inverts_versioned_url() {
        for base in [
            "https://cdn.example.com",
            "https://cdn.example.com/",
            "http://h:8080/p",
        ] {
            let v = version("1.2.3-rc.1+b5");
            let url = versioned_url(base, &mfe("checkout"), &v, "assets/remoteEntry.js").unwrap();
            assert_eq!(
                version_of_url(base, &mfe("checkout"), &url),
                Some(v),
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
            "https://cdn/mfe/checkout/01.2.3/remoteEntry.js",
            "",
        ] {
            assert_eq!(version_of_url(b, &mfe("checkout"), url), None, "{url}");
        }
    }

    #[test]
    fn entries_must_stay_inside() {
        assert!(check_entry("../x.js").is_err());
        assert!(check_entry("a//b.js").is_err());
        assert_eq!(check_entry("/remoteEntry.js").unwrap(), "remoteEntry.js");
    }

    /// A store where another writer changes the object between every read and write of ours
    /// (for the first `races` attempts): the compare-and-swap must notice each time.
    async fn racing_update(races: u32, policy: RetryPolicy) -> (Result<bool>, u32, Bytes) {
        use object_store::memory::InMemory;
        let store = InMemory::new();
        let path = Path::from("importmap.json");
        store
            .put(&path, Bytes::from_static(b"{}").into())
            .await
            .unwrap();
        let calls = AtomicU32::new(0);
        let result = cas_update(
            &store,
            &path,
            &Attributes::new(),
            &StoreQuirks::default(),
            MAX_IMPORT_MAP_BYTES,
            policy,
            |_| {
                let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if call <= races {
                    // The other writer, between our read and our write.
                    let other = Bytes::from(format!("{{\"other\": {call}}}"));
                    futures::executor::block_on(store.put(&path, other.into())).unwrap();
                }
                Ok(Some(Bytes::from_static(b"{\"ours\": true}")))
            },
        )
        .await;
        let stored = store.get(&path).await.unwrap().bytes().await.unwrap();
        (result, calls.into_inner(), stored)
    }

    #[tokio::test]
    async fn a_lost_race_is_read_again_and_then_wins() {
        let (result, calls, stored) = racing_update(2, RetryPolicy::FAST).await;
        assert!(result.unwrap(), "it wrote");
        assert_eq!(calls, 3, "two lost races, then a write");
        assert_eq!(&stored[..], b"{\"ours\": true}");
    }

    #[tokio::test]
    async fn a_race_lost_every_time_ends_within_the_policy() {
        let policy = RetryPolicy::FAST.with_max_attempts(4);
        let (result, calls, stored) = racing_update(u32::MAX, policy).await;
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::Conflict { path, attempts: 4 } if path == "importmap.json"),
            "{err:?}"
        );
        assert_eq!(calls, 4);
        assert!(err.is_retryable(), "a later run may win the race");
        assert_eq!(
            &stored[..],
            b"{\"other\": 4}",
            "never overwrote the other writer"
        );
    }

    #[tokio::test]
    async fn only_lost_races_are_retried() {
        // A corrupt import map is a refusal: one read, no retry.
        let store = object_store::memory::InMemory::new();
        store
            .put(&Path::from(IMPORT_MAP), Bytes::from_static(b"[]").into())
            .await
            .unwrap();
        let err = update_import_map_with(
            &store,
            "https://cdn",
            &mfe("checkout"),
            &version("1.0.0"),
            "e.js",
            RetryPolicy::FAST,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
        assert_eq!(err.retry_class(), gitops_retry::Retry::Never);
    }
}
