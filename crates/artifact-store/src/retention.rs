//! Retention's storage side (`gitops prune`): what version prefixes `mfe/<name>/<version>/` a
//! storage holds (objects, bytes, the newest object's time) and deleting one prefix's objects.
//!
//! Only directories whose name is a version are version prefixes: an
//! alias (`mfe/<name>/<entry>`), a nested alias directory (`mfe/<name>/js/...`),
//! `importmap.json`, `metrics/` and anything else are never listed as one, so never deleted.
//! What to delete is the caller's decision; this module only reports and deletes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use futures::{StreamExt as _, TryStreamExt as _, stream};
use gitops_event_model::{MfeName, Version};
use object_store::ObjectStore;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::headers::REVALIDATE;
use crate::upload::version_prefix;

/// The most version prefixes one listing holds (a storage with more is refused, never read
/// without a bound).
pub const MAX_VERSION_PREFIXES: usize = 100_000;

/// One version prefix `mfe/<name>/<version>/` as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPrefix {
    /// The version (the directory's name).
    pub version: Version,
    /// Objects under the prefix.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the newest of them was last modified.
    pub newest: SystemTime,
}

/// What [`list_version_prefixes`] found under `mfe/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredVersions {
    /// Each MFE directory (any object under `mfe/<name>/`), with its version prefixes sorted by
    /// version (possibly none: a directory of aliases only).
    pub mfes: BTreeMap<MfeName, Vec<VersionPrefix>>,
    /// Directory names under `mfe/` that are not MFE names (never deployed by this tool).
    pub foreign: BTreeSet<String>,
}

/// The version prefixes of every MFE directory under `mfe/` (only `mfe/<only>/` when `only` is
/// given), from one recursive listing.
///
/// # Errors
/// The store's listing failed, or it holds more than [`MAX_VERSION_PREFIXES`] prefixes.
pub async fn list_version_prefixes(
    store: &dyn ObjectStore,
    only: Option<&MfeName>,
) -> Result<StoredVersions> {
    let root = match only {
        Some(mfe) => Path::from_iter(["mfe", mfe.as_str()]),
        None => Path::from("mfe"),
    };
    let mut found = StoredVersions::default();
    let mut prefixes: BTreeMap<(MfeName, Version), VersionPrefix> = BTreeMap::new();
    let mut listing = store.list(Some(&root));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| Error::from_store(e, root.as_ref()))?;
        let key = meta.location.as_ref();
        let mut parts = key.split('/').skip(1);
        let Some(directory) = parts.next() else {
            continue;
        };
        let Ok(mfe) = MfeName::parse(directory) else {
            found.foreign.insert(directory.to_owned());
            continue;
        };
        found.mfes.entry(mfe.clone()).or_default();
        let (Some(dir), Some(_)) = (parts.next(), parts.next()) else {
            continue; // an alias: mfe/<name>/<file>
        };
        // SemVer's grammar is strict (no leading zeros, no `v`): a directory that parses is a
        // version's own text, the one `version_prefix` writes.
        let Ok(version) = Version::parse(dir) else {
            continue;
        };
        let modified = SystemTime::from(meta.last_modified);
        let at = (mfe, version);
        if let Some(prefix) = prefixes.get_mut(&at) {
            prefix.objects += 1;
            prefix.bytes += meta.size;
            prefix.newest = prefix.newest.max(modified);
        } else {
            if prefixes.len() >= MAX_VERSION_PREFIXES {
                return Err(Error::invalid(
                    "storage",
                    format!("more than {MAX_VERSION_PREFIXES} version prefixes under mfe/"),
                ));
            }
            prefixes.insert(
                at.clone(),
                VersionPrefix {
                    version: at.1,
                    objects: 1,
                    bytes: meta.size,
                    newest: modified,
                },
            );
        }
    }
    for ((mfe, _), prefix) in prefixes {
        found.mfes.entry(mfe).or_default().push(prefix);
    }
    Ok(found)
}

/// What [`delete_version_prefix`] deleted, and the failure that stopped it.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Objects deleted.
    pub objects: u64,
    /// Their bytes (as listed just before deleting).
    pub bytes: u64,
    /// The failure that stopped the deletion, if any; what was deleted before it is counted.
    pub failure: Option<Error>,
}

/// Deletes every object under `mfe/<mfe>/<version>/` (listed again first, so objects written
/// since an earlier listing go too) with the store's own bulk deletion. An object already gone
/// is not an error and not counted.
pub async fn delete_version_prefix(
    store: &dyn ObjectStore,
    mfe: &MfeName,
    version: &Version,
) -> Deleted {
    let prefix = version_prefix(mfe, version);
    let mut done = Deleted::default();
    let listed: Vec<(Path, u64)> = match store
        .list(Some(&prefix))
        .map_ok(|meta| (meta.location, meta.size))
        .try_collect()
        .await
    {
        Ok(listed) => listed,
        Err(e) => {
            done.failure = Some(Error::from_store(e, prefix.as_ref()));
            return done;
        }
    };
    let sizes: BTreeMap<Path, u64> = listed.into_iter().collect();
    let paths: Vec<object_store::Result<Path>> = sizes.keys().cloned().map(Ok).collect();
    let mut deleting = store.delete_stream(stream::iter(paths).boxed());
    while let Some(result) = deleting.next().await {
        match result {
            Ok(path) => {
                done.objects += 1;
                done.bytes += sizes.get(&path).copied().unwrap_or(0);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                done.failure = Some(Error::from_store(e, prefix.as_ref()));
                break;
            }
        }
    }
    done
}

/// The CDN's max-age for entry points, aliases and the import map: the `max-age` of
/// [`REVALIDATE`], read from the constant itself so it is written once.
///
/// # Errors
/// The constant has no `max-age=<seconds>` (a defect a unit test catches).
pub fn entry_point_max_age() -> Result<Duration> {
    max_age_of(REVALIDATE).ok_or_else(|| {
        Error::invalid(
            "Cache-Control",
            format!("`{REVALIDATE}` has no max-age=<seconds>"),
        )
    })
}

/// The `max-age` directive of a Cache-Control value, in seconds.
fn max_age_of(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        (name.trim().eq_ignore_ascii_case("max-age"))
            .then(|| value.trim().parse().ok().map(Duration::from_secs))?
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt as _, PutPayload};

    use super::*;

    #[test]
    fn the_entry_points_max_age_comes_from_the_header() {
        assert_eq!(entry_point_max_age().unwrap(), Duration::from_mins(1));
        assert_eq!(
            max_age_of("public, MAX-AGE = 31536000, immutable"),
            Some(Duration::from_hours(24 * 365))
        );
        assert_eq!(max_age_of("no-store"), None);
        assert_eq!(max_age_of("max-age=soon"), None);
    }

    async fn put(store: &InMemory, key: &str, bytes: &'static [u8]) {
        store
            .put(
                &Path::from(key),
                PutPayload::from(Bytes::from_static(bytes)),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn only_version_directories_are_prefixes() {
        let store = InMemory::new();
        for (key, bytes) in [
            ("mfe/cart/1.0.0/remoteEntry.js", &b"12345"[..]),
            ("mfe/cart/1.0.0/assets/a.1a2b3c4d.js", b"123"),
            ("mfe/cart/2.0.0-rc.1/remoteEntry.js", b"1"),
            ("mfe/cart/remoteEntry.js", b"alias"),
            ("mfe/cart/js/remoteEntry.js", b"nested alias"),
            ("mfe/cart/01.0.0/x.js", b"not a version"),
            ("mfe/aliases-only/remoteEntry.js", b"x"),
            ("mfe/Not_A_Name/1.0.0/x.js", b"x"),
            ("importmap.json", b"{}"),
            ("metrics/2026/01/01/run.jsonl", b"{}"),
        ] {
            put(&store, key, bytes).await;
        }
        let found = list_version_prefixes(&store, None).await.unwrap();
        let cart = MfeName::parse("cart").unwrap();
        let listed: Vec<(String, u64, u64)> = found.mfes[&cart]
            .iter()
            .map(|p| (p.version.to_string(), p.objects, p.bytes))
            .collect();
        assert_eq!(
            listed,
            [("1.0.0".into(), 2, 8), ("2.0.0-rc.1".into(), 1, 1)]
        );
        assert_eq!(
            found.mfes[&MfeName::parse("aliases-only").unwrap()],
            Vec::new()
        );
        assert_eq!(
            found.foreign.iter().collect::<Vec<_>>(),
            [&"Not_A_Name".to_owned()]
        );
        let only = list_version_prefixes(&store, Some(&cart)).await.unwrap();
        assert_eq!(only.mfes.keys().collect::<Vec<_>>(), [&cart]);
        assert!(only.foreign.is_empty());

        let deleted = delete_version_prefix(&store, &cart, &Version::parse("1.0.0").unwrap()).await;
        assert!(deleted.failure.is_none());
        assert_eq!((deleted.objects, deleted.bytes), (2, 8));
        let mut left: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        left.sort();
        assert_eq!(
            left,
            [
                "importmap.json",
                "metrics/2026/01/01/run.jsonl",
                "mfe/Not_A_Name/1.0.0/x.js",
                "mfe/aliases-only/remoteEntry.js",
                "mfe/cart/01.0.0/x.js",
                "mfe/cart/2.0.0-rc.1/remoteEntry.js",
                "mfe/cart/js/remoteEntry.js",
                "mfe/cart/remoteEntry.js",
            ]
        );
        // Nothing left to delete: nothing counted, no failure.
        let again = delete_version_prefix(&store, &cart, &Version::parse("1.0.0").unwrap()).await;
        assert!(again.failure.is_none());
        assert_eq!((again.objects, again.bytes), (0, 0));
    }
}
