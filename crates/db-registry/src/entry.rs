//! The registry entry: typed fields (the event model's, so each name rule exists once), the
//! checks the types cannot make, and how stored text is read back into the types.

use gitops_event_model::{CommitSha, EnvironmentName, Login, MfeName, RequestId, Version};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Error;

/// The highest deploy sequence a registry accepts (`i64::MAX`, what SQLite's INTEGER holds).
pub const MAX_SEQUENCE: u64 = i64::MAX.unsigned_abs();

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
///
/// The text fields are the event model's types, valid by construction: the registry has no
/// name rule of its own. None of them can hold `#`, `/`, whitespace or a control character, so
/// they are safe in storage keys. Serialised (serde) as plain strings; deserialising checks
/// each field's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The environment (case kept and significant: `Prod` is not `prod`).
    pub environment: EnvironmentName,
    /// The MFE.
    pub mfe: MfeName,
    /// The deployed version. Compared as written: `1.0.0+a` and `1.0.0+b` are different
    /// deploys, although SemVer gives them the same precedence.
    pub version: Version,
    /// Monotonic deploy sequence for `(environment, mfe)`, in `1..=MAX_SEQUENCE`.
    pub sequence: u64,
    /// The deploy request's id.
    pub request_id: RequestId,
    /// The requester's commit (lowercase).
    pub sha: CommitSha,
    /// When the commit point was reached; serialised as RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub deployed_at: OffsetDateTime,
    /// Who requested the deploy.
    pub deployed_by: Login,
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
    /// Check what the field types cannot: `sequence` is in `1..=MAX_SEQUENCE`, the pending
    /// invalidation (if any) passes [`Invalidation::validate`], and `deployed_at` is
    /// representable in RFC 3339 (years 0 to 9999). A problem is [`Error::Invalid`] naming the
    /// field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_sequence(self.sequence)?;
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

/// `deployed_at` as stored by the backends (RFC 3339).
pub(crate) fn format_time(at: OffsetDateTime) -> Result<String, Error> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Invalid {
            field: "deployed_at",
            reason: format!("not representable in RFC 3339: {e}"),
        })
}

/// An entry as a backend stored it: the text fields not yet parsed into their types.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
#[derive(Debug)]
pub(crate) struct StoredEntry {
    pub(crate) environment: String,
    pub(crate) mfe: String,
    pub(crate) version: String,
    pub(crate) sequence: u64,
    pub(crate) request_id: String,
    pub(crate) sha: String,
    pub(crate) deployed_at: String,
    pub(crate) deployed_by: String,
    pub(crate) rollback: bool,
    pub(crate) invalidation: Option<Invalidation>,
}

#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
impl StoredEntry {
    /// Parse every stored field into its type, with the same rules as a request. A value that
    /// does not parse is [`Error::Corrupt`] naming `location` (where the data is, itself
    /// shortened) and the field, with the parser's reason, which quotes at most a short excerpt
    /// of the value: never the whole value, never the whole item.
    pub(crate) fn parse(self, location: &str) -> Result<Entry, Error> {
        fn field<T>(
            location: &str,
            name: &str,
            text: &str,
            parse: fn(&str) -> Result<T, gitops_event_model::FieldError>,
        ) -> Result<T, Error> {
            parse(text).map_err(|e| corrupt_field(location, name, &e))
        }
        Ok(Entry {
            environment: field(
                location,
                "environment",
                &self.environment,
                EnvironmentName::parse,
            )?,
            mfe: field(location, "mfe", &self.mfe, MfeName::parse)?,
            version: field(location, "version", &self.version, Version::parse)?,
            sequence: self.sequence,
            request_id: field(location, "request_id", &self.request_id, RequestId::parse)?,
            sha: field(location, "sha", &self.sha, CommitSha::parse)?,
            deployed_at: OffsetDateTime::parse(
                &self.deployed_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| {
                corrupt_field(
                    location,
                    "deployed_at",
                    &format!("{} is not RFC 3339: {e}", preview(&self.deployed_at)),
                )
            })?,
            deployed_by: field(location, "deployed_by", &self.deployed_by, Login::parse)?,
            rollback: self.rollback,
            invalidation: self.invalidation,
        })
    }
}

/// [`Error::Corrupt`] for the stored field `name` at `location`.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn corrupt_field(location: &str, name: &str, why: &dyn std::fmt::Display) -> Error {
    Error::Corrupt {
        reason: format!("{location}: stored `{name}` is not valid: {why}"),
    }
}

/// At most 40 characters of a stored value, quoted and escaped, for an error message.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn preview(value: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = value
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            environment: EnvironmentName::parse("Prod").unwrap(),
            mfe: MfeName::parse("checkout").unwrap(),
            version: Version::parse("1.2.3-rc.1+build.007").unwrap(),
            sequence: 7,
            request_id: RequestId::parse("01J00000000000000000000000").unwrap(),
            sha: CommitSha::parse("0123456789abcdef0123456789abcdef01234567").unwrap(),
            deployed_at: time::macros::datetime!(2026-11-26 21:00:00.123456789 +01:00),
            deployed_by: Login::parse("octocat").unwrap(),
            rollback: false,
            invalidation: Some(Invalidation {
                reference: "deploy-01J00000000000000000000000-7".into(),
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
        e.sequence = 0;
        assert_eq!(invalid_field(&e), "sequence");
        let mut e = entry();
        e.sequence = MAX_SEQUENCE + 1;
        assert_eq!(invalid_field(&e), "sequence");
        let mut e = entry();
        e.sequence = MAX_SEQUENCE;
        e.validate().unwrap();
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
        c.deployed_by = Login::parse("someone-else").unwrap();
        assert!(!a.same_deploy(&c));
        let mut c = a.clone();
        c.rollback = true;
        assert!(!a.same_deploy(&c));
        // Build metadata does not order versions, but it makes another version.
        let mut c = a.clone();
        c.version = Version::parse("1.2.3-rc.1+build.008").unwrap();
        assert!(!a.same_deploy(&c));
        // Environment names keep their case: `prod` is another environment than `Prod`.
        let mut c = a.clone();
        c.environment = EnvironmentName::parse("prod").unwrap();
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
    fn json_round_trip_uses_rfc3339_and_plain_strings() {
        let e = entry();
        let json = serde_json::to_string(&e).unwrap();
        for expected in [
            r#""deployed_at":"2026-11-26T21:00:00.123456789+01:00""#,
            r#""environment":"Prod""#,
            r#""version":"1.2.3-rc.1+build.007""#,
            r#""sha":"0123456789abcdef0123456789abcdef01234567""#,
        ] {
            assert!(json.contains(expected), "{expected} in {json}");
        }
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn json_with_a_value_the_request_would_refuse_is_refused() {
        let json = serde_json::to_value(entry()).unwrap();
        for (field, bad) in [
            ("environment", "prod#x"),
            ("environment", "a..b"),
            ("mfe", "Checkout"),
            ("version", "v1"),
            ("request_id", "req-1"),
            ("sha", "abc"),
            ("deployed_by", "two words"),
        ] {
            let mut edited = json.clone();
            edited[field] = serde_json::Value::from(bad);
            let err = serde_json::from_value::<Entry>(edited).unwrap_err();
            assert!(err.is_data(), "{field}: {err}");
        }
    }

    #[cfg(any(feature = "sqlite", feature = "dynamodb"))]
    fn stored() -> StoredEntry {
        let e = entry();
        StoredEntry {
            environment: e.environment.to_string(),
            mfe: e.mfe.to_string(),
            version: e.version.to_string(),
            sequence: e.sequence,
            request_id: e.request_id.to_string(),
            sha: e.sha.to_string(),
            deployed_at: format_time(e.deployed_at).unwrap(),
            deployed_by: e.deployed_by.to_string(),
            rollback: e.rollback,
            invalidation: e.invalidation,
        }
    }

    #[cfg(any(feature = "sqlite", feature = "dynamodb"))]
    #[test]
    fn stored_text_parses_back_to_the_committed_entry() {
        let back = stored().parse("here").unwrap();
        assert_eq!(back, entry());
        assert_eq!(back.deployed_at.offset(), entry().deployed_at.offset());
        // A sha stored in capitals (an earlier release kept the case as requested) reads
        // lowercased, so it is the same deploy as the lowercased request's.
        let mut upper = stored();
        upper.sha = upper.sha.to_ascii_uppercase();
        assert_eq!(upper.parse("here").unwrap(), entry());
    }

    #[cfg(any(feature = "sqlite", feature = "dynamodb"))]
    #[test]
    fn a_stored_value_that_does_not_parse_is_corrupt_naming_the_field() {
        type Edit = fn(&mut StoredEntry, String);
        let long = format!("{}#", "x".repeat(10_000));
        let edits: [(&str, Edit); 7] = [
            ("environment", |s, v| s.environment = v),
            ("mfe", |s, v| s.mfe = v),
            ("version", |s, v| s.version = v),
            ("request_id", |s, v| s.request_id = v),
            ("sha", |s, v| s.sha = v),
            ("deployed_at", |s, v| s.deployed_at = v),
            ("deployed_by", |s, v| s.deployed_by = v),
        ];
        for (field, edit) in edits {
            for bad in ["", "Not Valid", long.as_str()] {
                let mut s = stored();
                edit(&mut s, bad.to_owned());
                let err = s.parse("registry_live row Prod/checkout").unwrap_err();
                let Error::Corrupt { reason } = &err else {
                    panic!("{field} = {bad:?}: expected Corrupt, got {err:?}");
                };
                assert!(
                    reason.starts_with(&format!(
                        "registry_live row Prod/checkout: stored `{field}` is not valid: "
                    )),
                    "{reason}"
                );
                // Never the whole value: a short excerpt at most.
                assert!(reason.len() < 400, "{field}: {} bytes", reason.len());
            }
        }
    }

    #[cfg(any(feature = "sqlite", feature = "dynamodb"))]
    #[test]
    fn previews_are_short_and_escaped() {
        assert_eq!(preview("abc"), "\"abc\"");
        assert_eq!(preview("a\nb"), "\"a\\nb\"");
        let long = "\u{e9}".repeat(100);
        assert_eq!(preview(&long), format!("\"{}...\"", "\u{e9}".repeat(40)));
    }
}
