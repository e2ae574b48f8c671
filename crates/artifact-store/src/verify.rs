//! Fetching an artifact and verifying it against its `<artifact>.sha256` sidecar.

use object_store::ObjectStoreExt as _;
use sha2::{Digest as _, Sha256};

use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::location::ObjectLocation;
use crate::provenance::{Provenance, read_provenance};
use crate::spool::{Content, spool_download};

/// An artifact whose bytes matched its sidecar.
#[derive(Debug, Clone)]
pub struct VerifiedArtifact {
    /// The artifact as located (for messages).
    pub display: String,
    /// Its file name (decides the archive format).
    pub file_name: String,
    /// The verified archive ([`fetch_verified`] spools it to a private temporary file).
    pub archive: Content,
    /// Lower-case hex sha256 of `archive`.
    pub sha256: String,
    /// Its provenance record, when it has one (its `sha256` is checked to be the sidecar's).
    pub provenance: Option<Provenance>,
}

/// Lower-case hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The sidecar line `sha256sum` writes: `<hex>  <file name>\n`.
pub fn sidecar_line(sha256: &str, file_name: &str) -> String {
    format!("{sha256}  {file_name}\n")
}

/// The largest sidecar read, in bytes; a larger one is malformed (it is never read whole).
pub const MAX_SIDECAR_BYTES: u64 = 4096;

/// Parses a sidecar: exactly one sha256 (64 hexadecimal characters, either case), optionally
/// followed by whitespace and the artifact's file name (`sha256sum`'s `HASH  name` and
/// `HASH *name`; a relative path whose last segment is the file name is accepted too, as
/// `sha256sum dist/x.tgz` writes it), optionally ending with one newline (`\n` or `\r\n`).
/// Anything else is [`Error::ChecksumMalformed`]: a second line, two hashes, leading or
/// trailing garbage, another file name. Returns the lower-case digest.
pub fn parse_sidecar(content: &str, artifact: &str, file_name: &str) -> Result<String> {
    let malformed = |reason: String| Error::ChecksumMalformed {
        artifact: artifact.to_owned(),
        reason,
    };
    let line = content
        .strip_suffix("\r\n")
        .or_else(|| content.strip_suffix('\n'))
        .unwrap_or(content);
    if line.is_empty() {
        return Err(malformed("empty file".to_owned()));
    }
    if line.contains(['\n', '\r']) {
        return Err(malformed(
            "more than one line (exactly one sha256 is accepted)".to_owned(),
        ));
    }
    let digest = line
        .get(..64)
        .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| malformed("expected 64 hexadecimal characters at the start".to_owned()))?;
    let rest = &line[64..];
    if !rest.is_empty() {
        let named = rest.trim_start_matches([' ', '\t']);
        if named.len() == rest.len() {
            return Err(malformed(
                "the sha256 must be followed by whitespace and a file name, or nothing".to_owned(),
            ));
        }
        let named = named.strip_prefix('*').unwrap_or(named);
        let base = named.rsplit('/').next().unwrap_or(named);
        if base != file_name {
            let shown: String = named.chars().take(80).collect();
            return Err(malformed(format!(
                "after the sha256 it names `{shown}`, not `{file_name}`"
            )));
        }
    }
    Ok(digest.to_ascii_lowercase())
}

/// Reads the artifact and its sidecar and checks the digest. Nothing is returned unless the
/// digest matches.
///
/// Order: the archive's existence first (a missing archive is [`Error::NotFound`] naming the
/// artifact, whether or not a sidecar exists), then the sidecar (at most
/// [`MAX_SIDECAR_BYTES`]; missing is [`Error::ChecksumMissing`]), then the provenance record
/// when there is one ([`crate::read_provenance`]; its `sha256` must be the sidecar's, else
/// [`Error::ProvenanceMismatch`]), then the archive's bytes
/// (at most `max_bytes`, else [`Error::LimitExceeded`]), streamed into a private temporary
/// file and hashed as it arrives, so memory stays flat whatever its size. A store that does not
/// answer within its timeouts gives [`Error::Timeout`] naming the artifact.
pub async fn fetch_verified(location: &ObjectLocation, max_bytes: u64) -> Result<VerifiedArtifact> {
    let artifact = location.display.clone();
    let file_name = location.file_name()?.to_owned();
    let too_large = || Error::LimitExceeded {
        artifact: artifact.clone(),
        limit: "max_archive_bytes",
        max: max_bytes,
        entry: String::new(),
    };

    let meta = location
        .store
        .head(&location.path)
        .await
        .map_err(|e| Error::from_store(e, &artifact))?;
    if meta.size > max_bytes {
        return Err(too_large());
    }

    let sidecar_name = format!("{artifact}.sha256");
    let sidecar = match location.store.get(&location.sidecar_path()).await {
        Ok(r) => read_bounded(r, MAX_SIDECAR_BYTES, &sidecar_name)
            .await?
            .ok_or_else(|| Error::ChecksumMalformed {
                artifact: artifact.clone(),
                reason: format!("larger than {MAX_SIDECAR_BYTES} bytes"),
            })?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Error::ChecksumMissing { artifact });
        }
        Err(e) => return Err(Error::from_store(e, &sidecar_name)),
    };
    let sidecar = std::str::from_utf8(&sidecar).map_err(|_| Error::ChecksumMalformed {
        artifact: artifact.clone(),
        reason: "not UTF-8 text".to_owned(),
    })?;
    let expected = parse_sidecar(sidecar, &artifact, &file_name)?;

    // The provenance, when there is one, must describe this archive: the digest the sidecar
    // vouches for (checked before the archive is downloaded).
    let provenance = read_provenance(location).await?;
    if let Some(p) = &provenance
        && p.sha256 != expected
    {
        return Err(Error::ProvenanceMismatch {
            artifact,
            reason: format!(
                "the provenance record says sha256 {}, but the sidecar says {expected}",
                p.sha256
            ),
        });
    }

    let got = location
        .store
        .get(&location.path)
        .await
        .map_err(|e| Error::from_store(e, &artifact))?;
    let (archive, actual) = spool_download(got, max_bytes, &artifact)
        .await?
        .ok_or_else(too_large)?;
    if actual != expected {
        return Err(Error::ChecksumMismatch {
            artifact,
            expected,
            actual,
        });
    }
    Ok(VerifiedArtifact {
        display: artifact,
        file_name,
        archive,
        sha256: actual,
        provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn sidecar_forms() {
        assert_eq!(parse_sidecar(H, "a", "x.tgz").unwrap(), H);
        assert_eq!(
            parse_sidecar(&format!("{H}  x.tgz\n"), "a", "x.tgz").unwrap(),
            H
        );
        assert_eq!(
            parse_sidecar(&format!("{H} *dist/x.tgz"), "a", "x.tgz").unwrap(),
            H
        );
        assert_eq!(
            parse_sidecar(&H.to_ascii_uppercase(), "a", "x.tgz").unwrap(),
            H
        );
        assert_eq!(
            parse_sidecar(&format!("{H}\t*x.tgz\r\n"), "a", "x.tgz").unwrap(),
            H
        );
        assert_eq!(parse_sidecar(&format!("{H}\n"), "a", "x.tgz").unwrap(), H);
        let other = "0".repeat(64);
        for bad in [
            format!("{H}  y.tgz"),
            "abc  x.tgz".to_owned(),
            "\n\n".to_owned(),
            String::new(),
            format!("{H}\n\n"),
            format!("{H}  x.tgz\n{other}  x.tgz\n"),
            format!("{H}\n{other}"),
            format!("{H} {other}"),
            format!("{H}{other}"),
            format!("{H}  x.tgz trailing"),
            format!("{H}  x.tgz "),
            format!(" {H}  x.tgz"),
            format!("{H}  "),
            format!("{H}x"),
            H[..63].to_owned(),
            format!("{}g", &H[..63]),
        ] {
            assert!(
                matches!(
                    parse_sidecar(&bad, "a", "x.tgz"),
                    Err(Error::ChecksumMalformed { .. })
                ),
                "{bad:?} accepted"
            );
        }
        assert_eq!(sha256_hex(b"test"), H);
    }
}
