//! Validation problems: each names its field (a JSON pointer) and the rule it broke.

use std::fmt;

use serde::Serialize;

/// The rules a deploy request can break. [`Rule::code`] is a stable machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rule {
    /// The input is not JSON (empty, truncated, binary, not UTF-8, nested too deeply).
    Syntax,
    /// The input is larger than the reader accepts.
    InputTooLarge,
    /// A key appears twice in one JSON object (anywhere in the document). JSON parsers disagree
    /// on which value counts, so such a document could mean two different requests.
    DuplicateKey,
    /// The payload is not a JSON object.
    NotAnObject,
    /// A required key is missing.
    Required,
    /// A key that the contract does not define.
    UnknownKey,
    /// More than the 10 top-level keys GitHub allows in `client_payload`.
    TooManyKeys,
    /// The payload is 64 KB or more; GitHub refuses it.
    TooLarge,
    /// Neither or both of `id` and `type` are present.
    IdOrType,
    /// A value of the wrong JSON type.
    Type,
    /// A string that does not match the field's pattern.
    Pattern,
    /// A string or list longer than allowed.
    MaxLength,
    /// A version that is not SemVer 2.0.
    Semver,
    /// A timestamp that is not RFC 3339.
    Timestamp,
    /// A ref that git would refuse.
    GitRef,
    /// A CDN path that is relative, has `.`/`..` segments or a misplaced wildcard.
    CdnPath,
    /// The envelope around the payload is malformed, or (with [`crate::validate_event`]) its
    /// `action` is not the configured event type.
    Envelope,
    /// Any other schema keyword.
    Schema,
}

impl Rule {
    /// The stable machine code (`unknown-key`, `pattern`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Rule::Syntax => "syntax",
            Rule::InputTooLarge => "input-too-large",
            Rule::DuplicateKey => "duplicate-key",
            Rule::NotAnObject => "not-an-object",
            Rule::Required => "required",
            Rule::UnknownKey => "unknown-key",
            Rule::TooManyKeys => "too-many-keys",
            Rule::TooLarge => "too-large",
            Rule::IdOrType => "id-or-type",
            Rule::Type => "type",
            Rule::Pattern => "pattern",
            Rule::MaxLength => "max-length",
            Rule::Semver => "semver",
            Rule::Timestamp => "timestamp",
            Rule::GitRef => "git-ref",
            Rule::CdnPath => "cdn-path",
            Rule::Envelope => "envelope",
            Rule::Schema => "schema",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer of the offending value in the document given (`""` is the whole document).
    pub field: String,
    /// The rule broken.
    pub rule: Rule,
    /// A sentence naming the problem.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// `<field>: <reason>`, the whole document being written `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "/"
        } else {
            &self.field
        };
        write!(f, "{field}: {}", self.message)
    }
}

/// Appends one segment to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn pointer(base: &str, segment: &str) -> String {
    format!("{base}/{}", segment.replace('~', "~0").replace('/', "~1"))
}
