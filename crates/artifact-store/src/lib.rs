//! Artifact storage for MFE deploys, over `Arc<dyn object_store::ObjectStore>`.
//!
//! Deploy side (DESIGN.md 4.3 steps 1, 2 and 4):
//! 1. [`StoreOpener::open_artifact`] resolves an MFE's `artifact` template (local path,
//!    `s3://`, `http(s)://`); [`fetch_verified`] reads it and checks its `.sha256` sidecar;
//! 2. [`unpack`] refuses unsafe or oversized archives ([`Limits`]) and strips npm's
//!    `package/`; [`upload_version`] writes `mfe/<name>/<version>/...` write-once with
//!    Content-Type and Cache-Control from [`headers`] ([`stage_artifact`] does all of this);
//! 3. (the registry commit is another crate's job)
//! 4. [`publish_aliases`] and [`update_import_map`] move the mutable pointers with
//!    compare-and-swap.
//!
//! Publishing side (`mfe publish`): [`pack_dir`] packs reproducibly, [`publish_archive`] /
//! [`publish_dir`] put the archive and its sidecar.
//!
//! The strict in-memory fake for this crate is `object_store::memory::InMemory`, which
//! implements conditional puts and attributes like S3 does.

mod error;
pub mod headers;
mod location;
mod pointers;
mod publish;
mod unpack;
mod upload;
mod verify;

pub use error::{Error, Result};
pub use location::{
    AwsSettings, HttpAuth, ObjectLocation, StoreOpener, expand_template, validate_mfe_name,
    validate_version,
};
pub use pointers::{
    CAS_ATTEMPTS, IMPORT_MAP, PointerUpdate, publish_aliases, set_import, update_import_map,
    versioned_url,
};
pub use publish::{PublishReport, pack_dir, publish_archive, publish_dir};
pub use unpack::{ArchiveFormat, Limits, UnpackedFile, unpack};
pub use upload::{
    Progress, UploadOptions, UploadReport, WriteOutcome, put_write_once, stage_artifact,
    upload_version, version_prefix,
};
pub use verify::{VerifiedArtifact, fetch_verified, parse_sidecar, sha256_hex, sidecar_line};
