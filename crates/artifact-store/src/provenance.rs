//! Provenance: which commit of which repository built a version. `mfe publish` records it next
//! to the archive, write-once like the archive (`<archive>.provenance.json`); `mfe dispatch`
//! reads it back to send that commit as the request's `sha`, and the deploy checks that the
//! desired state names the same commit and repository ([`Provenance::check_request`]) and that
//! it describes the very archive the sidecar vouches for (its `sha256`, checked by
//! [`crate::fetch_verified`]).

use gitops_event_model::{CommitSha, GitRef, MfeName, RepositoryName, Version};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::location::ObjectLocation;

/// The largest provenance record read, in bytes; a larger one is malformed (it is never read
/// whole).
pub const MAX_PROVENANCE_BYTES: u64 = 16 * 1024;

/// The suffix of the provenance record next to an archive.
pub const PROVENANCE_SUFFIX: &str = ".provenance.json";

/// What `mfe publish` records with an archive: the MFE and version, the commit (and, when
/// known, the repository and ref) that built it, and the archive's sha256.
///
/// JSON: `{"mfe", "version", "repository", "sha", "ref", "sha256"}`; `repository` and `ref` are
/// left out when unknown. Fields this version does not know are ignored (a newer `mfe` may add
/// some); a known field with an invalid value makes the whole record malformed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The MFE.
    pub mfe: MfeName,
    /// The version.
    pub version: Version,
    /// The repository that built it (`GITHUB_REPOSITORY` of the build job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositoryName>,
    /// The commit that built it (`GITHUB_SHA` of the build job).
    pub sha: CommitSha,
    /// The ref it was built from (`GITHUB_REF` of the build job).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<GitRef>,
    /// Lower-case hex sha256 of the archive (what its `.sha256` sidecar says).
    pub sha256: String,
}

/// Who built an archive, as `mfe publish` knows it: [`crate::publish_archive_with`] makes the
/// [`Provenance`] from it and the archive's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The MFE.
    pub mfe: MfeName,
    /// The version.
    pub version: Version,
    /// The repository that built it, when known.
    pub repository: Option<RepositoryName>,
    /// The commit that built it.
    pub sha: CommitSha,
    /// The ref it was built from, when known.
    pub git_ref: Option<GitRef>,
}

impl Origin {
    /// From `mfe publish`'s `--sha`, `--repository` and `--ref` (their `GITHUB_*` defaults; a
    /// blank value counts as absent): `None` without a commit; a value that breaks its rule is
    /// [`Error::Invalid`] naming the flag.
    pub fn from_flags(
        mfe: &MfeName,
        version: &Version,
        sha: Option<&str>,
        repository: Option<&str>,
        git_ref: Option<&str>,
    ) -> Result<Option<Self>> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(sha) = given(sha) else {
            return Ok(None);
        };
        let invalid = |field, e: gitops_event_model::FieldError| Error::invalid(field, e.message);
        Ok(Some(Origin {
            mfe: mfe.clone(),
            version: version.clone(),
            sha: CommitSha::parse(&sha).map_err(|e| invalid("--sha (GITHUB_SHA)", e))?,
            repository: given(repository)
                .map(|r| RepositoryName::parse(&r))
                .transpose()
                .map_err(|e| invalid("--repository (GITHUB_REPOSITORY)", e))?,
            git_ref: given(git_ref)
                .map(|r| GitRef::parse(&r))
                .transpose()
                .map_err(|e| invalid("--ref (GITHUB_REF)", e))?,
        }))
    }

    /// The provenance record of the archive whose sha256 is `sha256`.
    pub fn provenance(&self, sha256: &str) -> Provenance {
        Provenance {
            mfe: self.mfe.clone(),
            version: self.version.clone(),
            repository: self.repository.clone(),
            sha: self.sha.clone(),
            git_ref: self.git_ref.clone(),
            sha256: sha256.to_owned(),
        }
    }
}

impl std::fmt::Display for Provenance {
    /// `<sha>`, or `<sha> of <owner/name>` when the repository is known.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.repository {
            Some(repository) => write!(f, "{} of {repository}", self.sha),
            None => write!(f, "{}", self.sha),
        }
    }
}

impl Provenance {
    /// The record as stored: pretty JSON, fields in a fixed order, one final newline (the same
    /// provenance always gives the same bytes, so publishing again is idempotent).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing this struct cannot fail: every field is a string.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses a stored record; `artifact` names the archive in errors
    /// ([`Error::ProvenanceMalformed`]).
    pub fn parse(bytes: &[u8], artifact: &str) -> Result<Self> {
        let malformed = |reason: String| Error::ProvenanceMalformed {
            artifact: artifact.to_owned(),
            reason,
        };
        let provenance: Provenance = serde_json::from_slice(bytes)
            .map_err(|e| malformed(format!("not a provenance record: {e}")))?;
        if provenance.sha256.len() != 64
            || !provenance
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed(
                "`sha256` must be 64 lower-case hexadecimal characters".to_owned(),
            ));
        }
        Ok(provenance)
    }

    /// Checks that a deploy request for `mfe` `version` from `repository` at `sha` is the one
    /// this record describes: same MFE and version, same commit, and the same repository when
    /// the record names one. Otherwise [`Error::ProvenanceMismatch`] naming both sides.
    pub fn check_request(
        &self,
        artifact: &str,
        mfe: &MfeName,
        version: &Version,
        repository: &RepositoryName,
        sha: &CommitSha,
    ) -> Result<()> {
        let mismatch = |reason: String| Error::ProvenanceMismatch {
            artifact: artifact.to_owned(),
            reason,
        };
        if self.mfe != *mfe || self.version != *version {
            return Err(mismatch(format!(
                "the artifact's provenance records {} {}, but the request is for {mfe} {version}",
                self.mfe, self.version
            )));
        }
        if self.sha != *sha {
            // Both shas first: a deployment status description keeps 140 characters.
            return Err(mismatch(format!(
                "request sha {sha} is not the build commit {} of {mfe} {version}{}; send the commit that built the version (mfe dispatch --artifact reads it from this record)",
                self.sha,
                self.repository
                    .as_ref()
                    .map(|r| format!(" in {r}"))
                    .unwrap_or_default(),
            )));
        }
        if let Some(built_by) = &self.repository
            && built_by != repository
        {
            return Err(mismatch(format!(
                "{mfe} {version} was built by {built_by} (commit {}), but the request comes from {repository}",
                self.sha
            )));
        }
        Ok(())
    }
}

impl ObjectLocation {
    /// The path of the `<artifact>.provenance.json` record next to this object.
    pub fn provenance_path(&self) -> Path {
        Path::from(format!("{}{PROVENANCE_SUFFIX}", self.path))
    }
}

/// Reads the provenance record of the archive at `location` (at most
/// [`MAX_PROVENANCE_BYTES`]): `Ok(None)` when there is none (an archive published by an older
/// `mfe`, or without a known commit); [`Error::ProvenanceMalformed`] when it is larger or not a
/// valid record; the store's errors otherwise (a timeout is [`Error::Timeout`] naming it).
///
/// It does not check the record against the archive: [`crate::fetch_verified`] does that (its
/// `sha256` must be the sidecar's).
pub async fn read_provenance(location: &ObjectLocation) -> Result<Option<Provenance>> {
    let name = format!("{}{PROVENANCE_SUFFIX}", location.display);
    let got = match location.store.get(&location.provenance_path()).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::from_store(e, &name)),
    };
    let bytes = read_bounded(got, MAX_PROVENANCE_BYTES, &name)
        .await?
        .ok_or_else(|| Error::ProvenanceMalformed {
            artifact: location.display.clone(),
            reason: format!("larger than {MAX_PROVENANCE_BYTES} bytes"),
        })?;
    Provenance::parse(&bytes, &location.display).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn record() -> Provenance {
        Origin {
            mfe: MfeName::parse("checkout").unwrap(),
            version: Version::parse("1.2.3").unwrap(),
            repository: Some(RepositoryName::parse("acme/checkout-mfe").unwrap()),
            sha: CommitSha::parse(SHA).unwrap(),
            git_ref: Some(GitRef::parse("refs/heads/main").unwrap()),
        }
        .provenance(H)
    }

    #[test]
    fn round_trips_and_refuses_malformed_records() {
        let p = record();
        let bytes = p.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"ref\": \"refs/heads/main\""), "{text}");
        assert_eq!(Provenance::parse(&bytes, "a").unwrap(), p);
        // Unknown fields are ignored; repository and ref are optional.
        let minimal = format!(
            r#"{{"mfe":"checkout","version":"1.2.3","sha":"{SHA}","sha256":"{H}","later":1}}"#
        );
        let parsed = Provenance::parse(minimal.as_bytes(), "a").unwrap();
        assert_eq!((parsed.repository, parsed.git_ref), (None, None));
        for bad in [
            "not json".to_owned(),
            "[]".to_owned(),
            format!(r#"{{"mfe":"checkout","version":"1.2.3","sha256":"{H}"}}"#),
            format!(r#"{{"mfe":"checkout","version":"1.2.3","sha":"xyz","sha256":"{H}"}}"#),
            format!(r#"{{"mfe":"checkout","version":"1.2.3","sha":"{SHA}","sha256":"abc"}}"#),
            format!(
                r#"{{"mfe":"checkout","version":"1.2.3","sha":"{SHA}","sha256":"{}"}}"#,
                H.to_ascii_uppercase()
            ),
            format!(r#"{{"mfe":"Checkout!","version":"1.2.3","sha":"{SHA}","sha256":"{H}"}}"#),
        ] {
            let err = Provenance::parse(bad.as_bytes(), "art.tgz").unwrap_err();
            assert!(
                matches!(&err, Error::ProvenanceMalformed { artifact, .. } if artifact == "art.tgz"),
                "{bad}: {err:?}"
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn a_request_must_name_the_commit_and_repository_that_built_the_version() {
        let p = record();
        let (mfe, version) = (p.mfe.clone(), p.version.clone());
        let repo = RepositoryName::parse("acme/checkout-mfe").unwrap();
        let sha = CommitSha::parse(SHA).unwrap();
        p.check_request("a", &mfe, &version, &repo, &sha).unwrap();
        // GitHub compares repository names without case.
        let upper = RepositoryName::parse("Acme/Checkout-MFE").unwrap();
        p.check_request("a", &mfe, &version, &upper, &sha).unwrap();

        let head = CommitSha::parse(&"f".repeat(40)).unwrap();
        let err = p
            .check_request("a", &mfe, &version, &repo, &head)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::ProvenanceMismatch { .. })
                && text.contains(SHA)
                && text.contains(&"f".repeat(40)),
            "{text}"
        );
        let evil = RepositoryName::parse("acme/evil").unwrap();
        let text = p
            .check_request("a", &mfe, &version, &evil, &sha)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("acme/evil") && text.contains("acme/checkout-mfe"),
            "{text}"
        );
        let other = Version::parse("1.2.4").unwrap();
        assert!(p.check_request("a", &mfe, &other, &repo, &sha).is_err());
        // Without a recorded repository, only the commit is compared.
        let anonymous = Provenance {
            repository: None,
            ..record()
        };
        anonymous
            .check_request("a", &mfe, &version, &evil, &sha)
            .unwrap();
    }
}
