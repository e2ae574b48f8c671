//! Deploy step 4: the mutable pointers to a version, written with compare-and-swap.
//!
//! - entry-point aliases `mfe/<name>/<entry>` (copies of `mfe/<name>/<version>/<entry>`),
//! - `importmap.json` at the storage root (single-spa format).
//!
//! Both are read, changed and written back with `PutMode::Update` on the e-tag/version that
//! was read (`PutMode::Create` when absent), retrying when another writer got in between.
//! Stores that report `NotImplemented` for conditional updates (LocalFileSystem; S3 with
//! conditional put disabled) get a plain overwrite instead: deploys of one (environment, mfe)
//! pair run in one GitHub Actions concurrency group, the registry commit (step 3) already
//! refused stale deploys, and the local backend serves a single machine.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    Attributes, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion,
};

use crate::error::{Error, Result};
use crate::headers::{self, REVALIDATE};
use crate::upload::{Refusal, StoreQuirks, not_implemented, version_prefix};

/// How many times a compare-and-swap is retried after losing a race.
pub const CAS_ATTEMPTS: u32 = 10;

/// The object path of the import map at the storage root.
pub const IMPORT_MAP: &str = "importmap.json";

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
        let data = match store.get(&source).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    path: source.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let attributes = headers::attributes(&rel, REVALIDATE);
        let changed = cas_update(store, &alias, &attributes, &quirks, |current| {
            Ok((current != Some(&data[..])).then(|| data.clone()))
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
        |current| {
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

/// Returns the import map `current` (or an empty one) with `imports[mfe] = url`.
pub fn set_import(current: Option<&[u8]>, mfe: &str, url: &str) -> Result<Bytes> {
    let bad = |reason: String| Error::invalid("importmap.json", reason);
    let mut root = match current {
        None => serde_json::Map::new(),
        Some(raw) => match serde_json::from_slice::<serde_json::Value>(raw)
            .map_err(|e| bad(format!("not JSON: {e}")))?
        {
            serde_json::Value::Object(m) => m,
            _ => return Err(bad("the top level is not an object".to_owned())),
        },
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

fn check_entry(entry: &str) -> Result<String> {
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

/// Read-modify-write of one object with compare-and-swap. `change` gets the current bytes
/// (or `None`) and returns the new bytes, or `None` for "leave it". Returns whether it wrote.
async fn cas_update<F>(
    store: &dyn ObjectStore,
    path: &Path,
    attributes: &Attributes,
    quirks: &StoreQuirks,
    change: F,
) -> Result<bool>
where
    F: Fn(Option<&[u8]>) -> Result<Option<Bytes>>,
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
                (Some(r.bytes().await?), Some(v))
            }
            Err(object_store::Error::NotFound { .. }) => (None, None),
            Err(e) => return Err(e.into()),
        };
        let Some(new) = change(current.as_deref())? else {
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
                    _ => return Err(e.into()),
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
    fn entries_must_stay_inside() {
        assert!(check_entry("../x.js").is_err());
        assert!(check_entry("a//b.js").is_err());
        assert_eq!(check_entry("/remoteEntry.js").unwrap(), "remoteEntry.js");
    }
}
