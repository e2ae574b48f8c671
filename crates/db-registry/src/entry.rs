//! The registry entry and its validation.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Error;

/// The highest deploy sequence a registry accepts (`i64::MAX`, what SQLite's INTEGER holds).
pub const MAX_SEQUENCE: u64 = i64::MAX.unsigned_abs();

/// Longest accepted `environment` or `mfe` name, in bytes.
const MAX_NAME_LEN: usize = 128;
/// Longest accepted value of the other text fields, in bytes.
const MAX_TEXT_LEN: usize = 1024;

/// Longest accepted [`Invalidation::reference`], in bytes.
pub const MAX_INVALIDATION_REFERENCE_LEN: usize = 128;
/// Most paths one [`Invalidation`] may hold (one CloudFront batch).
pub const MAX_INVALIDATION_PATHS: usize = 3000;
/// Longest accepted invalidation path, in bytes.
pub const MAX_INVALIDATION_PATH_LEN: usize = 4096;
/// Most bytes all paths of one [`Invalidation`] may hold together. The entry is stored twice in
/// one DynamoDB transaction (live and history item, 400 KB each at most), so every backend
/// refuses the same oversized invalidation instead of only DynamoDB. A deploy's plan comes
/// from a request under 64 KiB and collapses many paths into a wildcard, far below this.
pub const MAX_INVALIDATION_BYTES: usize = 256 * 1024;

/// One deploy of one MFE version into one environment: the live entry and a history record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Environment name (`[A-Za-z0-9._-]`, 1 to 128 bytes).
    pub environment: String,
    /// MFE name (`[A-Za-z0-9._-]`, 1 to 128 bytes).
    pub mfe: String,
    /// The deployed version, SemVer text; opaque to the registry (non-empty).
    pub version: String,
    /// Monotonic deploy sequence for `(environment, mfe)`, in `1..=MAX_SEQUENCE`.
    pub sequence: u64,
    /// The deploy request's id (non-empty).
    pub request_id: String,
    /// The requester's commit (non-empty).
    pub sha: String,
    /// When the commit point was reached; serialised as RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub deployed_at: OffsetDateTime,
    /// Who requested the deploy (non-empty).
    pub deployed_by: String,
    /// Whether this deploy is an explicit rollback to an older version.
    pub rollback: bool,
    /// The CDN invalidation this deploy still owes, recorded atomically with the entry at the
    /// commit point and cleared by [`Registry::settle_invalidation`](crate::Registry::settle_invalidation)
    /// once the CDN confirmed it. `None`: nothing is pending for this entry. Absent from the
    /// JSON form when `None`; stored data from before this field reads as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<Invalidation>,
}

/// A pending CDN invalidation: the idempotency reference it is issued under and its paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    /// The CDN idempotency reference (1 to 128 bytes of printable ASCII, no space).
    pub reference: String,
    /// The CDN paths (1 to 3000, each 1 to 4096 bytes, starting with `/`, no control
    /// characters; 256 KiB together at most).
    pub paths: Vec<String>,
}

impl Invalidation {
    /// Check the reference and the paths (see the field docs); a problem is
    /// [`Error::Invalid`] with field `invalidation.reference` or `invalidation.paths`.
    pub fn validate(&self) -> Result<(), Error> {
        validate_reference(&self.reference)?;
        let invalid = |reason: String| Error::Invalid {
            field: "invalidation.paths",
            reason,
        };
        if self.paths.is_empty() || self.paths.len() > MAX_INVALIDATION_PATHS {
            return Err(invalid(format!(
                "must hold 1 to {MAX_INVALIDATION_PATHS} paths, not {}",
                self.paths.len()
            )));
        }
        let mut total = 0usize;
        for (i, path) in self.paths.iter().enumerate() {
            if path.is_empty() || path.len() > MAX_INVALIDATION_PATH_LEN {
                return Err(invalid(format!(
                    "path {i} must be 1 to {MAX_INVALIDATION_PATH_LEN} bytes long"
                )));
            }
            if !path.starts_with('/') {
                return Err(invalid(format!("path {i} must start with `/`")));
            }
            if path.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "path {i} must not contain control characters"
                )));
            }
            total += path.len();
        }
        if total > MAX_INVALIDATION_BYTES {
            return Err(invalid(format!(
                "{total} bytes of paths, more than {MAX_INVALIDATION_BYTES}"
            )));
        }
        Ok(())
    }
}

/// Validate an invalidation reference (also the argument of `settle_invalidation`).
pub(crate) fn validate_reference(reference: &str) -> Result<(), Error> {
    if reference.is_empty() || reference.len() > MAX_INVALIDATION_REFERENCE_LEN {
        return Err(Error::Invalid {
            field: "invalidation.reference",
            reason: format!("must be 1 to {MAX_INVALIDATION_REFERENCE_LEN} bytes long"),
        });
    }
    if !reference.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Invalid {
            field: "invalidation.reference",
            reason: "must be printable ASCII without spaces".into(),
        });
    }
    Ok(())
}

/// Validate a `sequence` (also the argument of `settle_invalidation`).
pub(crate) fn validate_sequence(sequence: u64) -> Result<(), Error> {
    if sequence == 0 || sequence > MAX_SEQUENCE {
        return Err(Error::Invalid {
            field: "sequence",
            reason: format!("{sequence} is outside 1..={MAX_SEQUENCE}"),
        });
    }
    Ok(())
}

impl Entry {
    /// Check every field against the rules every backend enforces.
    ///
    /// `environment` and `mfe` are 1 to 128 bytes of `[A-Za-z0-9._-]` (they form storage keys,
    /// so `#`, `/` and whitespace are refused); `sequence` is in `1..=MAX_SEQUENCE`; the other
    /// text fields are non-empty, at most 1024 bytes, without control characters;
    /// `deployed_at` must be representable in RFC 3339 (years 0 to 9999).
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("environment", &self.environment)?;
        validate_name("mfe", &self.mfe)?;
        validate_sequence(self.sequence)?;
        validate_text("version", &self.version)?;
        validate_text("request_id", &self.request_id)?;
        validate_text("sha", &self.sha)?;
        validate_text("deployed_by", &self.deployed_by)?;
        if let Some(invalidation) = &self.invalidation {
            invalidation.validate()?;
        }
        format_time(self.deployed_at).map(|_| ())
    }

    /// Whether `other` records the same deploy: every field equal except `invalidation`
    /// (which changes when the invalidation is settled). The commit's replay rule.
    pub(crate) fn same_deploy(&self, other: &Entry) -> bool {
        let Entry {
            environment,
            mfe,
            version,
            sequence,
            request_id,
            sha,
            deployed_at,
            deployed_by,
            rollback,
            invalidation: _,
        } = self;
        *environment == other.environment
            && *mfe == other.mfe
            && *version == other.version
            && *sequence == other.sequence
            && *request_id == other.request_id
            && *sha == other.sha
            && *deployed_at == other.deployed_at
            && *deployed_by == other.deployed_by
            && *rollback == other.rollback
    }
}

/// Validate an `environment` or `mfe` name (also used for the arguments of get/list/history).
pub(crate) fn validate_name(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        return Err(Error::Invalid {
            field,
            reason: format!("must be 1 to {MAX_NAME_LEN} bytes long"),
        });
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::Invalid {
            field,
            reason: format!("{bad:?} is not allowed (only A-Z, a-z, 0-9, '.', '_', '-')"),
        });
    }
    Ok(())
}

fn validate_text(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > MAX_TEXT_LEN {
        return Err(Error::Invalid {
            field,
            reason: format!("must be 1 to {MAX_TEXT_LEN} bytes long"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::Invalid {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}

/// `deployed_at` as stored by the backends (RFC 3339).
pub(crate) fn format_time(at: OffsetDateTime) -> Result<String, Error> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Invalid {
            field: "deployed_at",
            reason: format!("not representable in RFC 3339: {e}"),
        })
}

/// Parse a stored `deployed_at`.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn parse_time(text: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        Error::Corrupt {
            reason: format!("deployed_at {text:?} is not RFC 3339: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            environment: "prod".into(),
            mfe: "checkout".into(),
            version: "1.2.3".into(),
            sequence: 7,
            request_id: "01J0000000000000000000000".into(),
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            deployed_at: time::macros::datetime!(2026-11-26 21:00:00.123456789 +01:00),
            deployed_by: "octocat".into(),
            rollback: false,
            invalidation: Some(Invalidation {
                reference: "deploy-01J0000000000000000000000-7".into(),
                paths: vec!["/importmap.json".into(), "/mfe/checkout/*".into()],
            }),
        }
    }

    fn invalid_field(e: &Entry) -> &'static str {
        match e.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_entry_passes() {
        entry().validate().unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let mut e = entry();
        e.environment = "prod#x".into();
        assert_eq!(invalid_field(&e), "environment");
        let mut e = entry();
        e.mfe = String::new();
        assert_eq!(invalid_field(&e), "mfe");
        let mut e = entry();
        e.mfe = "a".repeat(129);
        assert_eq!(invalid_field(&e), "mfe");
        let mut e = entry();
        e.sequence = 0;
        assert_eq!(invalid_field(&e), "sequence");
        let mut e = entry();
        e.sequence = MAX_SEQUENCE + 1;
        assert_eq!(invalid_field(&e), "sequence");
        let mut e = entry();
        e.version = String::new();
        assert_eq!(invalid_field(&e), "version");
        let mut e = entry();
        e.sha = "a\nb".into();
        assert_eq!(invalid_field(&e), "sha");
        let mut e = entry();
        e.deployed_at = time::macros::datetime!(-0001-01-01 00:00 UTC);
        assert_eq!(invalid_field(&e), "deployed_at");
    }

    fn with_invalidation(reference: &str, paths: Vec<String>) -> Entry {
        let mut e = entry();
        e.invalidation = Some(Invalidation {
            reference: reference.into(),
            paths,
        });
        e
    }

    #[test]
    fn invalidation_bounds_are_exact() {
        let ok = |reference: &str, paths: Vec<String>| {
            with_invalidation(reference, paths).validate().unwrap();
        };
        let bad = |reference: &str, paths: Vec<String>| {
            invalid_field(&with_invalidation(reference, paths))
        };
        let one = || vec!["/a".to_owned()];
        ok(&"r".repeat(128), one());
        ok("!~deploy:01J/x", one());
        assert_eq!(bad(&"r".repeat(129), one()), "invalidation.reference");
        assert_eq!(bad("", one()), "invalidation.reference");
        assert_eq!(bad("a b", one()), "invalidation.reference");
        assert_eq!(bad("caf\u{e9}", one()), "invalidation.reference");
        assert_eq!(bad("a\tb", one()), "invalidation.reference");

        ok("r", vec![format!("/{}", "a".repeat(4095))]);
        ok("r", vec!["/".to_owned(); 3000]);
        ok("r", vec!["/mfe/caf\u{e9}/*".to_owned()]);
        assert_eq!(bad("r", vec![]), "invalidation.paths");
        assert_eq!(bad("r", vec!["/".to_owned(); 3001]), "invalidation.paths");
        assert_eq!(
            bad("r", vec![format!("/{}", "a".repeat(4096))]),
            "invalidation.paths"
        );
        assert_eq!(bad("r", vec![String::new()]), "invalidation.paths");
        assert_eq!(bad("r", vec!["a/b".to_owned()]), "invalidation.paths");
        assert_eq!(bad("r", vec!["/a\nb".to_owned()]), "invalidation.paths");
        assert_eq!(bad("r", vec!["/a\u{7f}".to_owned()]), "invalidation.paths");
        // 100 paths of 3000 bytes: each fine, together over 256 KiB.
        let big = vec![format!("/{}", "a".repeat(2999)); 100];
        assert_eq!(bad("r", big), "invalidation.paths");
        let mut none = entry();
        none.invalidation = None;
        none.validate().unwrap();
    }

    #[test]
    fn same_deploy_ignores_only_the_invalidation() {
        let a = entry();
        let mut b = a.clone();
        b.invalidation = None;
        assert!(a.same_deploy(&b) && b.same_deploy(&a));
        b.invalidation = Some(Invalidation {
            reference: "other".into(),
            paths: vec!["/x".into()],
        });
        assert!(a.same_deploy(&b));
        let mut c = a.clone();
        c.deployed_by = "someone-else".into();
        assert!(!a.same_deploy(&c));
        let mut c = a.clone();
        c.rollback = true;
        assert!(!a.same_deploy(&c));
    }

    #[test]
    fn json_without_invalidation_reads_as_none() {
        let mut e = entry();
        e.invalidation = None;
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("invalidation"), "{json}");
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn json_round_trip_uses_rfc3339() {
        let e = entry();
        let json = serde_json::to_string(&e).unwrap();
        assert!(
            json.contains(r#""deployed_at":"2026-11-26T21:00:00.123456789+01:00""#),
            "{json}"
        );
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn stored_time_round_trips() {
        let at = entry().deployed_at;
        let text = format_time(at).unwrap();
        let back = parse_time(&text).unwrap();
        assert_eq!(back, at);
        assert_eq!(back.offset(), at.offset());
    }
}
