//! Fetching an artifact and verifying it against its `<artifact>.sha256` sidecar.

use bytes::Bytes;
use object_store::ObjectStoreExt as _;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::location::ObjectLocation;

/// An artifact whose bytes matched its sidecar.
#[derive(Debug, Clone)]
pub struct VerifiedArtifact {
    /// The artifact as located (for messages).
    pub display: String,
    /// Its file name (decides the archive format).
    pub file_name: String,
    /// The verified bytes.
    pub bytes: Bytes,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
}

/// Lower-case hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The sidecar line `sha256sum` writes: `<hex>  <file name>\n`.
pub fn sidecar_line(sha256: &str, file_name: &str) -> String {
    format!("{sha256}  {file_name}\n")
}

/// Parses a `sha256sum`-style sidecar (`<64 hex>  <name>`, `<64 hex> *<name>` or just the
/// hex) and returns the lower-case digest. When a file name is present, its last path
/// segment must equal `file_name`.
pub fn parse_sidecar(content: &str, artifact: &str, file_name: &str) -> Result<String> {
    let malformed = |reason: String| Error::ChecksumMalformed {
        artifact: artifact.to_owned(),
        reason,
    };
    let line = content
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| malformed("empty file".to_owned()))?;
    let (digest, rest) = match line.split_once(char::is_whitespace) {
        Some((d, r)) => (d, r.trim()),
        None => (line, ""),
    };
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(
            "expected 64 hexadecimal characters at the start".to_owned(),
        ));
    }
    let named = rest.trim_start_matches('*');
    if !named.is_empty() {
        let base = named.rsplit(['/', '\\']).next().unwrap_or(named);
        if base != file_name {
            return Err(malformed(format!("it names `{named}`, not `{file_name}`")));
        }
    }
    Ok(digest.to_ascii_lowercase())
}

/// Reads the sidecar, then the artifact (refusing one larger than `max_bytes`), and checks
/// the digest. Nothing is returned unless the digest matches.
pub async fn fetch_verified(location: &ObjectLocation, max_bytes: u64) -> Result<VerifiedArtifact> {
    let artifact = location.display.clone();
    let file_name = location.file_name().to_owned();
    let sidecar = match location.store.get(&location.sidecar_path()).await {
        Ok(r) => r.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Error::ChecksumMissing { artifact });
        }
        Err(e) => return Err(e.into()),
    };
    let sidecar = std::str::from_utf8(&sidecar).map_err(|_| Error::ChecksumMalformed {
        artifact: artifact.clone(),
        reason: "not UTF-8 text".to_owned(),
    })?;
    let expected = parse_sidecar(sidecar, &artifact, &file_name)?;

    let got = match location.store.get(&location.path).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Error::NotFound { path: artifact });
        }
        Err(e) => return Err(e.into()),
    };
    if got.meta.size > max_bytes {
        return Err(Error::LimitExceeded {
            artifact,
            limit: "max_archive_bytes",
            max: max_bytes,
            entry: String::new(),
        });
    }
    let bytes = got.bytes().await?;
    let actual = sha256_hex(&bytes);
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
        bytes,
        sha256: actual,
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
        assert!(parse_sidecar(&format!("{H}  y.tgz"), "a", "x.tgz").is_err());
        assert!(parse_sidecar("abc  x.tgz", "a", "x.tgz").is_err());
        assert!(parse_sidecar("\n\n", "a", "x.tgz").is_err());
        assert_eq!(sha256_hex(b"test"), H);
    }
}
