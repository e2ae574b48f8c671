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
        if self.sequence == 0 || self.sequence > MAX_SEQUENCE {
            return Err(Error::Invalid {
                field: "sequence",
                reason: format!("{} is outside 1..={MAX_SEQUENCE}", self.sequence),
            });
        }
        validate_text("version", &self.version)?;
        validate_text("request_id", &self.request_id)?;
        validate_text("sha", &self.sha)?;
        validate_text("deployed_by", &self.deployed_by)?;
        format_time(self.deployed_at).map(|_| ())
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
