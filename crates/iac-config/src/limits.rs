//! The values of an MFE's `limits:` ([`ArchiveLimits`](crate::model::ArchiveLimits)): sizes in
//! bytes or binary units, counts and ratios, each within a hard ceiling.
//!
//! A size is a whole number of bytes (`1048576`, or the same digits quoted) or a whole number
//! followed by a binary unit, with at most one space between them: `B`, `KiB`, `MiB`, `GiB`,
//! `TiB` (`300MiB`, `1 GiB`). Decimal units (`MB`, `GB`, ...) are refused rather than guessed:
//! whether `512MB` means 10^6 or 2^20 bytes depends on who wrote it. Counts and ratios are plain
//! whole numbers. Every value is at least 1 and at most its ceiling, so a typo cannot ask for
//! 10^18 bytes. Messages never repeat the value.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::model::ArchiveLimits;
use crate::parse::shown;

/// The largest size a `limits:` value may set: 16 GiB. Eight times the default archive bound
/// and sixteen times a 1 GB artifact, so a real artifact fits; a deploy spools and hashes every
/// byte it admits on the runner's disk, so a bound beyond what any runner has is no bound.
pub const MAX_LIMIT_BYTES: u64 = 16 << 30;

/// The most files `limits.max_files` may admit: 1,000,000 (a hundred times the default). Each
/// file is one upload and one object: a million is already hours of requests.
pub const MAX_LIMIT_FILES: u64 = 1_000_000;

/// The largest `limits.max_ratio`: 10,000 (fifty times the default). Minified text compresses
/// around 5 to 10 times; a higher ratio than this only admits a compression bomb, whose expanded
/// size `max_total_bytes` bounds anyway.
pub const MAX_LIMIT_RATIO: u64 = 10_000;

/// What a `limits:` key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A size in bytes (`max_archive_bytes`, `max_total_bytes`).
    Bytes,
    /// A number of files (`max_files`).
    Files,
    /// An expansion ratio (`max_ratio`).
    Ratio,
}

impl Kind {
    fn ceiling(self) -> u64 {
        match self {
            Kind::Bytes => MAX_LIMIT_BYTES,
            Kind::Files => MAX_LIMIT_FILES,
            Kind::Ratio => MAX_LIMIT_RATIO,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Bytes => {
                "a size: a whole number of bytes, or one with a binary unit (`300MiB`, `1GiB`)"
            }
            Kind::Files => "a whole number of files",
            Kind::Ratio => "a whole number (expanded bytes per archive byte)",
        }
    }

    fn ceiling_shown(self) -> String {
        match self {
            Kind::Bytes => "16GiB".to_owned(),
            Kind::Files => "1000000".to_owned(),
            Kind::Ratio => "10000".to_owned(),
        }
    }
}

/// A value as written, before it is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Written<'a> {
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Negative,
    /// A number with a fraction (or one too large for an integer).
    Fraction,
    /// A string.
    Text(&'a str),
    /// Anything else (a boolean, a list, a mapping).
    Other,
}

impl<'a> From<&'a serde_yaml_ng::Value> for Written<'a> {
    fn from(value: &'a serde_yaml_ng::Value) -> Self {
        use serde_yaml_ng::Value;
        match value {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Written::Unsigned(u),
                (None, Some(_)) => Written::Negative,
                (None, None) => Written::Fraction,
            },
            Value::String(s) => Written::Text(s),
            _ => Written::Other,
        }
    }
}

/// Checks `written` as a value of `kind`: at least 1 and at most its ceiling. The message never
/// repeats the value (a unit is named when it is a short identifier).
pub(crate) fn check(kind: Kind, written: Written<'_>) -> Result<u64, String> {
    let value = match written {
        Written::Unsigned(n) => n,
        Written::Text(text) if kind == Kind::Bytes => parse_size(text)?,
        Written::Negative => return Err(format!("cannot be negative: write {}", kind.expected())),
        Written::Fraction | Written::Text(_) | Written::Other => {
            return Err(format!("expected {}", kind.expected()));
        }
    };
    if value == 0 {
        return Err("must be at least 1".to_owned());
    }
    if value > kind.ceiling() {
        return Err(format!(
            "is over the ceiling of {} this tool accepts (a larger value is taken for a typo)",
            kind.ceiling_shown()
        ));
    }
    Ok(value)
}

/// The binary units, by how they are written.
const UNITS: [(&str, u32); 5] = [("B", 0), ("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)];

/// Parses a size written as text (see the module's documentation). Too many digits saturate to
/// `u64::MAX`, which the ceiling then refuses.
fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    let letters = unit.chars().all(|c| c.is_ascii_alphabetic());
    if digits.is_empty() || (unit.is_empty() && !rest.is_empty()) || !letters {
        return Err(format!("expected {}", Kind::Bytes.expected()));
    }
    let Some(shift) = (if unit.is_empty() {
        Some(0)
    } else {
        UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s)
    }) else {
        return Err(format!(
            "the unit {} is not read: write `B`, `KiB`, `MiB`, `GiB` or `TiB` (`512MiB` is 512 x 2^20 bytes; decimal units such as `MB` are refused rather than guessed)",
            shown(unit)
        ));
    };
    let number = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(number
        .checked_shl(shift)
        .filter(|v| v >> shift == number)
        .unwrap_or(u64::MAX))
}

/// Deserializes an MFE's `limits:`, a null (`limits:` with nothing after it) being no limit
/// set, as in the loader.
pub(crate) fn de_limits<'de, D: Deserializer<'de>>(d: D) -> Result<ArchiveLimits, D::Error> {
    Ok(Option::<ArchiveLimits>::deserialize(d)?.unwrap_or_default())
}

/// Deserializes an optional size (`serde(deserialize_with)` of the typed model).
pub(crate) fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(LimitVisitor(Kind::Bytes))
}

/// Deserializes an optional number of files.
pub(crate) fn de_files<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(LimitVisitor(Kind::Files))
}

/// Deserializes an optional ratio.
pub(crate) fn de_ratio<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(LimitVisitor(Kind::Ratio))
}

struct LimitVisitor(Kind);

impl LimitVisitor {
    fn checked<E: de::Error>(&self, written: Written<'_>) -> Result<Option<u64>, E> {
        check(self.0, written).map(Some).map_err(E::custom)
    }
}

impl Visitor<'_> for LimitVisitor {
    /// `None` for a null (`max_files:` with nothing after it): not set, as in the loader.
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.expected())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
        self.checked(Written::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
        self.checked(u64::try_from(v).map_or(Written::Negative, Written::Unsigned))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<u64>, E> {
        self.checked(Written::Fraction)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u64>, E> {
        self.checked(Written::Text(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<u64>, E> {
        self.checked(Written::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
}

/// The schema of a size: an integer of bytes or a string with a binary unit.
pub(crate) struct SizeSchema;

impl JsonSchema for SizeSchema {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "bytes: a whole number, or one followed by a binary unit (`300MiB`, `1 GiB`; B, KiB, MiB, GiB, TiB), at least 1 and at most 16GiB",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT_BYTES},
                {"type": "string", "pattern": "^[0-9]+ ?(B|KiB|MiB|GiB|TiB)?$"}
            ]
        })
    }
}
