//! The publishing side (`mfe publish`): pack a dist directory reproducibly and put the
//! archive, its provenance record and its `.sha256` sidecar into an artifact store.

use std::io::Write as _;
use std::path::Path as FsPath;

use bytes::Bytes;
use object_store::path::Path;

use crate::blocking;
use crate::error::{Error, Result};
use crate::headers;
use crate::location::ObjectLocation;
use crate::provenance::{Origin, Provenance};
use crate::unpack::ArchiveFormat;
use crate::upload::{WriteOutcome, put_write_once};
use crate::verify::{sha256_hex, sidecar_line};

/// Packs the regular files under `dir` into a `.tgz` laid out like `npm pack`
/// (`package/<path>`), byte-for-byte reproducible: entries sorted by path, mtime 0,
/// uid/gid 0, no user/group names, mode 0644, gzip header with mtime 0 and OS "unknown".
///
/// Symbolic links and other special files are refused (a dist directory has none), and so is
/// a directory holding more than a deploy accepts expanded (`Limits::default()`'s
/// `max_total_bytes`, 4 GiB): no file is read past that bound.
///
/// Blocking (file reads, gzip): from async code, call it through `spawn_blocking` (as
/// [`publish_dir`] does).
#[allow(clippy::disallowed_methods)] // blocking by design: async callers use publish_dir, which packs on the blocking pool
pub fn pack_dir(dir: &FsPath) -> Result<Bytes> {
    pack_dir_within(dir, crate::unpack::Limits::default().max_total_bytes)
}

#[allow(clippy::disallowed_methods)] // blocking by design, as pack_dir
fn pack_dir_within(dir: &FsPath, max_total: u64) -> Result<Bytes> {
    let too_big = || {
        Error::invalid(
            "dist",
            format!(
                "`{}` holds more than {max_total} bytes, more than a deploy accepts",
                dir.display()
            ),
        )
    };
    let io = |path: &FsPath, source: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map_or_else(|| dir.to_path_buf(), FsPath::to_path_buf);
            io(&path, e.into())
        })?;
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(Error::invalid(
                "dist",
                format!(
                    "`{}` is a symbolic link or special file; only regular files are packed",
                    entry.path().display()
                ),
            ));
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(|_| Error::invalid("dist", "walked outside the directory"))?;
        let mut parts = Vec::new();
        for c in rel.components() {
            let s = c.as_os_str().to_str().ok_or_else(|| {
                Error::invalid(
                    "dist",
                    format!("`{}` is not valid UTF-8", entry.path().display()),
                )
            })?;
            parts.push(s.to_owned());
        }
        files.push((parts.join("/"), entry.path().to_path_buf()));
    }
    if files.is_empty() {
        return Err(Error::invalid(
            "dist",
            format!("`{}` contains no files", dir.display()),
        ));
    }
    files.sort();

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(gz);
    let mut total: u64 = 0;
    for (rel, full) in &files {
        let mut data = Vec::new();
        std::fs::File::open(full)
            .and_then(|f| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(f, max_total - total + 1),
                    &mut data,
                )
            })
            .map_err(|e| io(full, e))?;
        total += data.len() as u64;
        if total > max_total {
            return Err(too_big());
        }
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, format!("package/{rel}"), &data[..])
            .map_err(|e| io(full, e))?;
    }
    let gz = builder.into_inner().map_err(|e| io(dir, e))?;
    let mut gz_out = gz.finish().map_err(|e| io(dir, e))?;
    gz_out.flush().map_err(|e| io(dir, e))?;
    Ok(Bytes::from(gz_out))
}

/// What [`publish_archive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// Where the archive is, as located.
    pub artifact: String,
    /// Lower-case hex sha256 of the archive.
    pub sha256: String,
    /// Archive size.
    pub bytes: u64,
    /// Whether the archive was written or was already there, identical.
    pub outcome: WriteOutcome,
    /// The provenance record put next to the archive, when an [`Origin`] was given.
    pub provenance: Option<Provenance>,
}

/// Puts `archive` and then its sidecar at `location`, write-once: [`publish_archive_with`]
/// without a provenance record.
pub async fn publish_archive(location: &ObjectLocation, archive: Bytes) -> Result<PublishReport> {
    publish_archive_with(location, archive, None).await
}

/// Puts `archive`, then (when `origin` is given) its provenance record
/// (`<archive>.provenance.json`, [`Provenance`]), then its sidecar at `location`, each
/// write-once. Publishing the same bytes from the same commit again succeeds
/// ([`WriteOutcome::Identical`]); different bytes under the same name, or the same name
/// published from another commit, fail with [`Error::ImmutableConflict`]. The sidecar goes
/// last, so a half-finished publish is never deployable (deploys refuse an artifact without
/// its sidecar). The archive is hashed on tokio's blocking threads.
pub async fn publish_archive_with(
    location: &ObjectLocation,
    archive: Bytes,
    origin: Option<&Origin>,
) -> Result<PublishReport> {
    let file_name = location.file_name()?.to_owned();
    if ArchiveFormat::from_file_name(&file_name).is_none() {
        return Err(Error::invalid(
            "artifact location",
            format!("`{}` must end in .tgz, .tar.gz or .zip", location.display),
        ));
    }
    let hashed = archive.clone();
    let sha256 = blocking::run("hashing the archive", move || Ok(sha256_hex(&hashed))).await?;
    let bytes = archive.len() as u64;
    let outcome = put_write_once(
        location.store.as_ref(),
        &location.path,
        archive,
        &headers::attributes(&file_name, headers::IMMUTABLE),
    )
    .await?;
    let provenance = origin.map(|o| o.provenance(&sha256));
    if let Some(record) = &provenance {
        put_write_once(
            location.store.as_ref(),
            &location.provenance_path(),
            Bytes::from(record.to_bytes()),
            &headers::attributes("x.json", headers::IMMUTABLE),
        )
        .await?;
    }
    let sidecar: Path = location.sidecar_path();
    put_write_once(
        location.store.as_ref(),
        &sidecar,
        Bytes::from(sidecar_line(&sha256, &file_name)),
        &headers::attributes("x.sha256", headers::IMMUTABLE),
    )
    .await?;
    Ok(PublishReport {
        artifact: location.display.clone(),
        sha256,
        bytes,
        outcome,
        provenance,
    })
}

/// `mfe publish`: [`pack_dir`] (on tokio's blocking threads) then [`publish_archive`].
pub async fn publish_dir(location: &ObjectLocation, dist: &FsPath) -> Result<PublishReport> {
    publish_dir_with(location, dist, None).await
}

/// `mfe publish` with provenance: [`pack_dir`] (on tokio's blocking threads) then
/// [`publish_archive_with`].
pub async fn publish_dir_with(
    location: &ObjectLocation,
    dist: &FsPath,
    origin: Option<&Origin>,
) -> Result<PublishReport> {
    let dist = dist.to_path_buf();
    let archive = blocking::run("packing the dist directory", move || pack_dir(&dist)).await?;
    publish_archive_with(location, archive, origin).await
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests write their fixtures synchronously
mod tests {
    use super::*;

    #[test]
    fn packing_stops_at_the_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.js"), [1u8; 600]).unwrap();
        std::fs::write(dir.path().join("b.js"), [2u8; 600]).unwrap();
        assert!(pack_dir_within(dir.path(), 1200).is_ok());
        let err = pack_dir_within(dir.path(), 1199).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field: "dist", reason } if reason.contains("1199")),
            "{err:?}"
        );
    }
}

/// What `mfe publish` is asked, as given on its command line (names, version and commit still
/// text; the commit flags default to `GITHUB_SHA`, `GITHUB_REPOSITORY`, `GITHUB_REF`).
#[derive(Debug, Clone, Copy)]
pub struct PublishAsk<'a> {
    /// The build output directory to pack.
    pub dist: &'a FsPath,
    /// The MFE's name.
    pub mfe: &'a str,
    /// The version.
    pub version: &'a str,
    /// Where to put it: a location template (`{name}`, `{version}`) ending in `.tgz`/`.tar.gz`.
    pub to: &'a str,
    /// The commit that built it, if known (then provenance is recorded).
    pub sha: Option<&'a str>,
    /// The repository that built it, if known.
    pub repository: Option<&'a str>,
    /// The ref it was built from, if known.
    pub git_ref: Option<&'a str>,
}

/// `mfe publish` whole: parses the ask, expands `to`, checks that it names a gzip tar and that
/// `dist` is a directory, opens the store from the environment ([`crate::StoreOpener::from_env`],
/// local paths relative to `base`) and [`publish_dir_with`] the ask's provenance.
///
/// # Errors
/// [`Error::Invalid`] with field `--mfe` or `--version` for a name or version that breaks its
/// rule (a refusal), `--to` or `--dist` for an unusable location or directory; otherwise as
/// [`publish_dir_with`] ([`Error::ImmutableConflict`]: other bytes under that version).
pub async fn publish_as_asked(base: &FsPath, ask: &PublishAsk<'_>) -> Result<PublishReport> {
    use gitops_event_model::{MfeName, Version};
    let mfe = MfeName::parse(ask.mfe).map_err(|e| Error::invalid("--mfe", e.message))?;
    let version =
        Version::parse(ask.version).map_err(|e| Error::invalid("--version", e.message))?;
    let location = crate::expand_template(ask.to, &mfe, &version)?;
    let lower = location.to_ascii_lowercase();
    if !(lower.ends_with(".tgz") || lower.ends_with(".tar.gz")) {
        return Err(Error::invalid(
            "--to",
            format!("`{location}` must end in .tgz or .tar.gz (the artifact is a gzip tar)"),
        ));
    }
    if !ask.dist.is_dir() {
        return Err(Error::invalid(
            "--dist",
            format!("{} is not a directory", ask.dist.display()),
        ));
    }
    let object = crate::StoreOpener::from_env(base)?.open_object(&location)?;
    let origin = Origin::from_flags(&mfe, &version, ask.sha, ask.repository, ask.git_ref)?;
    publish_dir_with(&object, ask.dist, origin.as_ref()).await
}
