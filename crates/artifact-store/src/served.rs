//! What a storage serves, read back for `gitops drift` (issue 17), and the repair's one upload:
//!
//! - [`stored_mfes`]: the MFE directories under `mfe/`;
//! - [`list_version`]: the files of a version prefix `mfe/<name>/<version>/`, with their sizes;
//! - [`alias_state`]: whether an entry-point alias `mfe/<name>/<entry>` holds exactly the bytes
//!   of `mfe/<name>/<version>/<entry>`;
//! - [`unpack_verified`]: a verified artifact's files, after the deploy's checks (limits, entry
//!   points, key lengths), for comparing with the prefix;
//! - [`upload_missing`]: write-once puts of exactly the missing paths, with the deploy's headers
//!   (through [`crate::upload_version`]).
//!
//! Every listing is bounded ([`MAX_LISTED_OBJECTS`], [`MAX_LISTED_MFES`]) and every read whole
//! too (an alias and its source at most [`MAX_ALIAS_BYTES`] each).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt as _;
use gitops_event_model::{MfeName, Version};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::blocking;
use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::pointers::check_entry;
use crate::unpack::{Limits, UnpackedFile, unpack_spooled};
use crate::upload::{UploadOptions, UploadReport, check_files, upload_version, version_prefix};
use crate::verify::VerifiedArtifact;

/// The most objects [`list_version`] reads under one version prefix: ten times the default
/// [`Limits::max_files`], so a complete version with leftovers beside it always fits.
pub const MAX_LISTED_OBJECTS: usize = 100_000;

/// The most MFE directories [`stored_mfes`] accepts under `mfe/`.
pub const MAX_LISTED_MFES: usize = 10_000;

/// The largest alias or entry point compared by [`alias_state`] (64 MiB, the bound
/// [`crate::publish_aliases`] copies within).
pub const MAX_ALIAS_BYTES: u64 = 64 << 20;

/// How an entry-point alias `mfe/<name>/<entry>` stands against `mfe/<name>/<version>/<entry>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AliasState {
    /// The alias holds exactly the version's bytes.
    Current,
    /// The alias holds other bytes.
    Differs,
    /// There is no alias.
    Missing,
    /// The version's own entry point is missing, so the alias cannot be compared (the version
    /// prefix is incomplete: that is what to repair first).
    SourceMissing,
}

/// The MFE directories under `mfe/` of `store`: each name with at least one object under
/// `mfe/<name>/`. Directory names that are not MFE names cannot be an MFE this tool deployed and
/// are left out, as [`crate::served_imports`] leaves such keys out.
///
/// # Errors
/// The listing failed, or it names more than [`MAX_LISTED_MFES`] directories.
pub async fn stored_mfes(store: &dyn ObjectStore) -> Result<BTreeSet<MfeName>> {
    let root = Path::from("mfe");
    let listed = match store.list_with_delimiter(Some(&root)).await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => return Ok(BTreeSet::new()),
        Err(e) => return Err(Error::from_store(e, "mfe/")),
    };
    if listed.common_prefixes.len() > MAX_LISTED_MFES {
        return Err(Error::invalid(
            "storage",
            format!("more than {MAX_LISTED_MFES} directories under mfe/"),
        ));
    }
    Ok(listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|name| MfeName::parse(name).ok())
        .collect())
}

/// The files under `mfe/<mfe>/<version>/`: each path relative to the prefix, with its size. An
/// absent prefix is an empty map.
///
/// # Errors
/// The listing failed, or it holds more than [`MAX_LISTED_OBJECTS`] objects.
pub async fn list_version(
    store: &dyn ObjectStore,
    mfe: &MfeName,
    version: &Version,
) -> Result<BTreeMap<String, u64>> {
    let prefix = version_prefix(mfe, version);
    let mut files = BTreeMap::new();
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = match meta {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => break,
            Err(e) => return Err(Error::from_store(e, prefix.as_ref())),
        };
        let Some(rel) = meta
            .location
            .prefix_match(&prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
        else {
            continue;
        };
        if files.len() >= MAX_LISTED_OBJECTS {
            return Err(Error::invalid(
                "storage",
                format!("more than {MAX_LISTED_OBJECTS} objects under `{prefix}/`"),
            ));
        }
        files.insert(rel.join("/"), meta.size);
    }
    Ok(files)
}

/// Whether the alias of `entry` holds exactly the bytes of the `version`'s own entry point
/// (what [`crate::publish_aliases`] copies). Sizes are compared first; bytes only when they
/// agree.
///
/// # Errors
/// An entry point that is not a relative path inside the version, a read that failed, or an
/// object over [`MAX_ALIAS_BYTES`].
pub async fn alias_state(
    store: &dyn ObjectStore,
    mfe: &MfeName,
    version: &Version,
    entry: &str,
) -> Result<AliasState> {
    let rel = check_entry(entry)?;
    let source = Path::from(format!("{}/{rel}", version_prefix(mfe, version)));
    let alias = Path::from(format!("mfe/{mfe}/{rel}"));
    let Some(source) = get_optional(store, &source).await? else {
        return Ok(AliasState::SourceMissing);
    };
    let Some(alias) = get_optional(store, &alias).await? else {
        return Ok(AliasState::Missing);
    };
    if source.meta.size != alias.meta.size {
        return Ok(AliasState::Differs);
    }
    let source = read_whole(source).await?;
    let alias = read_whole(alias).await?;
    Ok(if source == alias {
        AliasState::Current
    } else {
        AliasState::Differs
    })
}

async fn get_optional(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<object_store::GetResult>> {
    match store.get(path).await {
        Ok(got) => Ok(Some(got)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::from_store(e, path.as_ref())),
    }
}

async fn read_whole(got: object_store::GetResult) -> Result<bytes::Bytes> {
    let path = got.meta.location.to_string();
    read_bounded(got, MAX_ALIAS_BYTES, &path)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "entry point",
                format!("`{path}` is larger than {MAX_ALIAS_BYTES} bytes"),
            )
        })
}

/// The files of a verified artifact, unpacked on the blocking pool within `limits`, with the
/// deploy's checks before its upload: every entry point present, every key
/// `mfe/<name>/<version>/<path>` within [`crate::MAX_KEY_BYTES`].
///
/// # Errors
/// Whatever [`unpack`] refuses, [`Error::MissingEntryPoint`], [`Error::UnsafeEntry`].
pub async fn unpack_verified(
    verified: VerifiedArtifact,
    mfe: &MfeName,
    version: &Version,
    limits: &Limits,
    entry_points: &[String],
) -> Result<Vec<UnpackedFile>> {
    let prefix = version_prefix(mfe, version);
    let (limits, entry_points) = (*limits, entry_points.to_vec());
    blocking::run("unpacking the artifact", move || {
        let files = unpack_spooled(
            &verified.display,
            &verified.file_name,
            &verified.archive,
            &limits,
        )?;
        check_files(&verified.display, &prefix, &files, &entry_points)?;
        Ok(files)
    })
    .await
}

/// Uploads exactly the files of `files` whose path is in `paths` to `mfe/<mfe>/<version>/`,
/// write-once, with the headers the deploy gives them ([`crate::upload_version`]; entry points
/// among them keep the revalidating Cache-Control). A path that is not among `files` is
/// ignored. `files` should come from [`unpack_verified`], so nothing is uploaded from an
/// artifact that did not pass whole.
///
/// # Errors
/// As [`crate::upload_version`]: a file that is there with other bytes is
/// [`Error::ImmutableConflict`].
pub async fn upload_missing(
    store: &Arc<dyn ObjectStore>,
    mfe: &MfeName,
    version: &Version,
    files: &[UnpackedFile],
    paths: &BTreeSet<String>,
    opts: &UploadOptions,
) -> Result<UploadReport> {
    let chosen: Vec<UnpackedFile> = files
        .iter()
        .filter(|f| paths.contains(&f.path))
        .cloned()
        .collect();
    let mut opts = opts.clone();
    // Only the entry points being uploaded: upload_version checks those it is told about are
    // among the files it is handed (unpack_verified checked the whole artifact).
    opts.entry_points
        .retain(|entry| check_entry(entry).is_ok_and(|rel| chosen.iter().any(|f| f.path == rel)));
    upload_version(store, mfe, version, &chosen, &opts).await
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use object_store::memory::InMemory;
    use object_store::{Attribute, PutPayload};

    use super::*;
    use crate::upload::Progress;

    fn mfe(name: &str) -> MfeName {
        MfeName::parse(name).unwrap()
    }

    fn version(v: &str) -> Version {
        Version::parse(v).unwrap()
    }

    async fn put(store: &InMemory, path: &str, data: &'static [u8]) {
        store
            .put(
                &Path::from(path),
                PutPayload::from(Bytes::from_static(data)),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn stored_mfes_are_the_directories_with_mfe_names() {
        let store = InMemory::new();
        assert!(stored_mfes(&store).await.unwrap().is_empty());
        put(&store, "mfe/checkout/1.0.0/remoteEntry.js", b"x").await;
        put(&store, "mfe/checkout/remoteEntry.js", b"x").await;
        put(&store, "mfe/ghost/1.0.0/x.js", b"x").await;
        put(&store, "mfe/Not_A_Name/x.js", b"x").await;
        put(&store, "mfe/loose.js", b"x").await;
        put(&store, "importmap.json", b"{}").await;
        let names: Vec<String> = stored_mfes(&store)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["checkout", "ghost"]);
    }

    #[tokio::test]
    async fn a_version_lists_its_own_files_only() {
        let store = InMemory::new();
        put(&store, "mfe/checkout/1.0.0/remoteEntry.js", b"entry").await;
        put(&store, "mfe/checkout/1.0.0/assets/a.js", b"aa").await;
        put(&store, "mfe/checkout/1.0.0-rc.1/x.js", b"x").await;
        put(&store, "mfe/checkout/remoteEntry.js", b"entry").await;
        let files = list_version(&store, &mfe("checkout"), &version("1.0.0"))
            .await
            .unwrap();
        let listed: Vec<(&str, u64)> = files.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        assert_eq!(listed, [("assets/a.js", 2), ("remoteEntry.js", 5)]);
        assert!(
            list_version(&store, &mfe("checkout"), &version("2.0.0"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_alias_is_current_only_with_the_versions_bytes() {
        let store = InMemory::new();
        let (m, v) = (mfe("checkout"), version("1.0.0"));
        let state = |store: InMemory| {
            let (m, v) = (m.clone(), v.clone());
            async move { alias_state(&store, &m, &v, "remoteEntry.js").await.unwrap() }
        };
        assert_eq!(state(store.clone()).await, AliasState::SourceMissing);
        put(&store, "mfe/checkout/1.0.0/remoteEntry.js", b"// 1.0.0").await;
        assert_eq!(state(store.clone()).await, AliasState::Missing);
        put(&store, "mfe/checkout/remoteEntry.js", b"// 0.9.0").await;
        assert_eq!(state(store.clone()).await, AliasState::Differs, "same size");
        put(&store, "mfe/checkout/remoteEntry.js", b"// 1.0").await;
        assert_eq!(
            state(store.clone()).await,
            AliasState::Differs,
            "other size"
        );
        put(&store, "mfe/checkout/remoteEntry.js", b"// 1.0.0").await;
        assert_eq!(state(store.clone()).await, AliasState::Current);
        assert!(alias_state(&store, &m, &v, "../x.js").await.is_err());
    }

    fn unpacked(path: &str, data: &'static [u8]) -> UnpackedFile {
        UnpackedFile {
            path: path.to_owned(),
            data: Bytes::from_static(data).into(),
        }
    }

    #[tokio::test]
    async fn only_the_missing_paths_are_uploaded_with_the_deploys_headers() {
        let memory = InMemory::new();
        put(&memory, "mfe/checkout/1.0.0/assets/app.3f7a9c1e.js", b"app").await;
        let store: Arc<dyn ObjectStore> = Arc::new(memory);
        let files = [
            unpacked("remoteEntry.js", b"entry"),
            unpacked("assets/app.3f7a9c1e.js", b"app"),
            unpacked("assets/logo.svg", b"<svg/>"),
        ];
        let paths: BTreeSet<String> = ["remoteEntry.js", "assets/logo.svg", "not/in/artifact.js"]
            .map(str::to_owned)
            .into();
        let opts = UploadOptions {
            entry_points: vec!["remoteEntry.js".to_owned()],
            progress: Progress::Hidden,
            ..UploadOptions::default()
        };
        let (m, v) = (mfe("checkout"), version("1.0.0"));
        let report = upload_missing(&store, &m, &v, &files, &paths, &opts)
            .await
            .unwrap();
        assert_eq!((report.files, report.skipped_identical), (2, 0));
        let listed = list_version(store.as_ref(), &m, &v).await.unwrap();
        assert_eq!(listed.len(), 3, "{listed:?}");
        let entry = store
            .get(&Path::from("mfe/checkout/1.0.0/remoteEntry.js"))
            .await
            .unwrap();
        let cache = entry.attributes.get(&Attribute::CacheControl).unwrap();
        assert!(cache.as_ref().contains("must-revalidate"), "{cache:?}");
        // An entry point that is not being uploaded is no reason to refuse.
        let only_logo: BTreeSet<String> = ["assets/logo.svg".to_owned()].into();
        upload_missing(&store, &m, &v, &files, &only_logo, &opts)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_artifact_without_its_entry_point_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        tokio::fs::write(dir.path().join("main.js"), b"x")
            .await
            .unwrap();
        let archive = crate::pack_dir(dir.path()).unwrap();
        let verified = VerifiedArtifact {
            display: "checkout-1.0.0.tgz".to_owned(),
            file_name: "checkout-1.0.0.tgz".to_owned(),
            sha256: crate::sha256_hex(&archive),
            archive: archive.into(),
            provenance: None,
        };
        let (m, v) = (mfe("checkout"), version("1.0.0"));
        let limits = Limits::default();
        let files = unpack_verified(verified.clone(), &m, &v, &limits, &[])
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        let err = unpack_verified(verified, &m, &v, &limits, &["remoteEntry.js".to_owned()])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MissingEntryPoint { .. }), "{err:?}");
    }
}
