//! Artifact storage for MFE deploys, over `Arc<dyn object_store::ObjectStore>`.
//!
//! Deploy side (DESIGN.md 4.3 steps 1, 2 and 4):
//! 1. [`StoreOpener::open_artifact`] resolves an MFE's `artifact` template (local path,
//!    `s3://`, `http(s)://`); [`fetch_verified`] checks that the archive exists, reads its
//!    `.sha256` sidecar (exactly one hash, at most [`MAX_SIDECAR_BYTES`]) and the archive
//!    (at most [`Limits::max_archive_bytes`]) and compares them;
//! 2. [`unpack`] refuses unsafe, ambiguous or oversized archives ([`Limits`], names as
//!    documented on [`unpack`]) and strips npm's `package/`; [`upload_version`] checks the
//!    MFE's entry points and key lengths, then writes `mfe/<name>/<version>/...` write-once
//!    with Content-Type and Cache-Control from [`headers`] ([`stage_artifact`] does all of
//!    this; nothing is uploaded unless every check passed for the whole archive);
//! 3. (the registry commit is another crate's job)
//! 4. [`publish_aliases`] and [`update_import_map`] move the mutable pointers with
//!    compare-and-swap; [`served_imports`] and [`version_of_url`] read back which version
//!    the import map serves.
//!
//! Publishing side (`mfe publish`): [`pack_dir`] packs reproducibly, [`publish_archive`] /
//! [`publish_dir`] put the archive and its sidecar; their `_with` forms put a [`Provenance`]
//! record between the two (the commit that built the version, from an [`Origin`]), which
//! [`read_provenance`] reads back and [`fetch_verified`] checks against the sidecar.
//!
//! Retention side (`gitops prune`): [`list_version_prefixes`] reports each MFE's version
//! prefixes (objects, bytes, newest object), [`delete_version_prefix`] deletes one with the
//! store's bulk deletion, [`entry_point_max_age`] reads the CDN's max-age from [`headers`].
//!
//! Drift side (`gitops drift`): [`stored_mfes`], [`list_version`] and [`alias_state`] read back
//! what storage serves; [`unpack_verified`] and [`upload_missing`] re-upload a version's missing
//! files from its verified artifact.
//!
//! Backends: S3 and HTTP (Artifactory) through object_store, with connect and request
//! timeouts ([`StoreOpener::with_timeouts`]); local storage targets are a [`LocalStore`]
//! (conditional puts under a cross-process file lock, temporary files staged outside the
//! served directory). The strict in-memory fake is `object_store::memory::InMemory`, which
//! implements conditional puts and attributes like S3 does.
//!
//! Names: MFEs and versions cross this crate's boundary as `gitops-event-model`'s `MfeName`
//! and `Version` (their rules live there, once), so every object path built from them is
//! valid by construction.
//!
//! Async hygiene: unpacking, hashing and packing run on tokio's blocking threads
//! (`spawn_blocking`), never on the async ones; [`LocalStore`] does its file work there too.
//!
//! Errors: one [`Error`]; [`Error::is_retryable`] separates outside failures (IO, network,
//! timeouts, throttling, lost compare-and-swap races) from deterministic refusals. Store
//! messages never carry response bodies or credentials. The one retry loop of the crate (the
//! pointers' compare-and-swap) runs under `gitops-retry`.

mod blocking;
mod bounded;
mod error;
pub mod headers;
mod local;
mod location;
mod pointers;
mod provenance;
mod publish;
mod retention;
mod served;
mod spool;
mod unpack;
mod upload;
mod verify;

/// The IAM actions the S3 backend calls on a storage target's objects, through object_store:
/// `s3:GetObject` (GET, and HEAD, which S3 authorises as GetObject) and `s3:PutObject` (the
/// write-once and compare-and-swap puts of versions, aliases and the import map).
pub const IAM_STORAGE_ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject"];
/// The IAM actions on an S3 storage or artifact bucket itself: `s3:ListBucket`, without which S3
/// answers 403 instead of 404 for a missing object (the first import map, a missing artifact),
/// and which `gitops bootstrap`'s `HeadBucket` needs.
pub const IAM_BUCKET_ACTIONS: &[&str] = &["s3:ListBucket"];
/// The IAM actions reading an artifact calls on its objects (the archive, its `.sha256` and
/// provenance sidecars: HEAD and GET).
pub const IAM_ARTIFACT_ACTIONS: &[&str] = &["s3:GetObject"];
/// The IAM actions `gitops prune` calls on a storage target's version prefixes (under `mfe/`
/// only): `s3:DeleteObject` (one `DeleteObjects` request per thousand keys, which S3
/// authorises as `DeleteObject` on each key).
pub const IAM_PRUNE_ACTIONS: &[&str] = &["s3:DeleteObject"];

pub use error::{Error, Result};
pub use local::LocalStore;
pub use location::{
    AwsSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, HttpAuth, ObjectLocation,
    StoreOpener, expand_template,
};
pub use pointers::{
    IMPORT_MAP, MAX_IMPORT_MAP_BYTES, PointerUpdate, publish_aliases, served_imports, set_import,
    update_import_map, version_of_url, versioned_url,
};
pub use provenance::{
    MAX_PROVENANCE_BYTES, Origin, PROVENANCE_SUFFIX, Provenance, read_provenance,
};
pub use publish::{
    PublishAsk, PublishReport, pack_dir, publish_archive, publish_archive_with, publish_as_asked,
    publish_dir, publish_dir_with,
};
pub use retention::{
    Deleted, MAX_VERSION_PREFIXES, StoredVersions, VersionPrefix, delete_version_prefix,
    entry_point_max_age, list_version_prefixes,
};
pub use served::{
    AliasState, MAX_ALIAS_BYTES, MAX_LISTED_MFES, MAX_LISTED_OBJECTS, alias_state, list_version,
    stored_mfes, unpack_verified, upload_missing,
};
pub use spool::{CHUNK_BYTES, Content, SpooledFile};
pub use unpack::{
    ArchiveFormat, Limits, MAX_COMPONENT_BYTES, MAX_PATH_BYTES, UnpackedFile, unpack,
    unpack_spooled,
};
pub use upload::{
    LARGE_FILE_BYTES, MAX_KEY_BYTES, PART_BYTES, Progress, UploadOptions, UploadReport,
    WriteOutcome, put_write_once, stage_artifact, stage_verified, upload_version, version_prefix,
};
pub use verify::{
    MAX_SIDECAR_BYTES, VerifiedArtifact, fetch_verified, parse_sidecar, sha256_hex, sidecar_line,
};
