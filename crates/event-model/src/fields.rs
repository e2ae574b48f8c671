//! Validated field types of the deploy request.
//!
//! Every type here can only be constructed through its `parse` function (or `FromStr`, or serde,
//! which call it), so a value of the type always satisfies its rule. Each type also describes its
//! rule as a JSON Schema fragment; the committed schema is generated from these fragments, so the
//! schema and the Rust checks cannot drift apart silently (a test compares them).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::problem::Rule;

/// Why a single field value was refused: the rule broken and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The rule the value broke.
    pub rule: Rule,
    /// A human sentence naming the problem (never echoing more than a short prefix of the value).
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// Regular expressions shared by the schema and the Rust checks (ECMA 262 and `regex` compatible).
pub mod patterns {
    /// MFE names: lowercase, start with a letter, at most 63 characters.
    pub const MFE: &str = "^[a-z][a-z0-9-]{0,62}$";
    /// Environment names.
    pub const ENVIRONMENT: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*(?:[.][A-Za-z0-9_-]+)*$";
    /// GitHub logins, including app bots such as `renovate[bot]`.
    pub const LOGIN: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$";
    /// `owner/name`.
    pub const REPOSITORY: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$";
    /// A full git ref under `refs/heads/`, `refs/tags/` or `refs/pull/` (the shape checked first;
    /// the schema uses [`git_ref_strict`]).
    pub const GIT_REF: &str = "^refs/(heads|tags|pull)/[^\\s~^:?*\\[\\\\]+$";
    /// A full 40-character commit id.
    pub const SHA: &str = "^[0-9a-fA-F]{40}$";
    /// A ULID or a hyphenated UUID.
    pub const REQUEST_ID: &str = "^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";
    /// SemVer 2.0, the expression published on semver.org.
    pub const SEMVER: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$";
    /// The shape of an RFC 3339 date-time (the calendar is checked in Rust).
    pub const TIMESTAMP: &str =
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$";
    /// An absolute CDN path without whitespace, query or fragment (the coarse shape; the schema
    /// uses [`cdn_path_strict`]).
    pub const CDN_PATH: &str = r"^/[^\s?#]*$";
    /// The seed form's event type.
    pub const EVENT_TYPE: &str = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$";

    // The strict patterns below are the schema's: each refuses only values the Rust checks
    // refuse (a property test checks it), as many of them as a regular expression can say.
    // They use no look-around and no `\s`/`\d`/`\w` (whose meaning differs between ECMA-262
    // and other dialects): character classes are spelled out with `\uXXXX` escapes.

    /// Unicode `White_Space` and control characters (`Cc`): the characters for which
    /// `char::is_whitespace` or `char::is_control` is true.
    const SPACE_OR_CONTROL: &str =
        r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// Unicode `White_Space`: the characters for which `char::is_whitespace` is true.
    const WHITESPACE: &str =
        r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

    /// One CDN path, unanchored; `excluded` are further characters it may not contain.
    ///
    /// Tokens: `/` or `%2F` separates segments; `.` or `%2E` is a dot; `%XX` is any other escape
    /// (not of a control character or space, which decode to what the Rust check refuses); a
    /// bare `%` is refused (the Rust check refuses it too). A segment is empty, or has a token
    /// other than a dot, or has three dots or more: never `.` or `..`. One `*` may end the path.
    fn cdn_path_body(excluded: &str) -> String {
        let plain = format!("[^{SPACE_OR_CONTROL}/%*?#.{excluded}]");
        let escape = "%(?:[3-689a-fA-F][0-9a-fA-F]|2[1-9a-dA-D]|7[0-9a-eA-E])";
        let other = format!("(?:{plain}|{escape})");
        let dot = r"(?:\.|%2[eE])";
        let separator = "(?:/|%2[fF])";
        let token = format!("(?:{other}|{dot})");
        let segment = format!("(?:{other}|{dot}(?:{other}|{dot}{token})){token}*");
        format!("/(?:(?:{segment})?{separator})*(?:{segment}|{token}*\\*)?")
    }

    /// The schema's CDN path: absolute; no whitespace, control character, `?` or `#`, nor an
    /// escape of a control character or space; no `.` or `..` segment, also when written
    /// `%2e`/`%2E` or separated by `%2f`/`%2F`; a `%` only as an escape; at most one `*`, only at
    /// the end.
    pub fn cdn_path_strict() -> &'static str {
        static PATTERN: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!("^{}$", cdn_path_body("")));
        &PATTERN
    }

    /// The schema's seed-form `cache_invalidation_keys` text: paths as [`cdn_path_strict`]
    /// (without `,`), separated by commas or whitespace.
    pub fn cdn_paths_text_strict() -> &'static str {
        static PATTERN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let path = cdn_path_body(",");
            let separator = format!("[,{WHITESPACE}]");
            format!("^{separator}*(?:{path}(?:{separator}+{path})*)?{separator}*$")
        });
        &PATTERN
    }

    /// The schema's git ref: `refs/heads/<name>` or `refs/tags/<name>` as `git check-ref-format`
    /// allows it (no whitespace, control character or any of `~^:?*[\`; no `..`, `@{` or `//`;
    /// no component that starts with `.` or ends with `.lock`, in any case; no trailing `/` or
    /// `.`), or `refs/pull/<digits>/merge` or `/head`.
    pub fn git_ref_strict() -> &'static str {
        static PATTERN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            // A dot-free run of a component ("segment"): no `@{`. `plain` excludes `{` and `@`;
            // `{` may follow only `{` or a plain character, so `(plain {*|@)*` cannot hold `@{`.
            let plain = |excluded: &str| format!(r"[^{SPACE_OR_CONTROL}~\^:?*\[\\/.@{{{excluded}]");
            let rest = format!(r"(?:{}\{{*|@)*", plain(""));
            // A non-empty segment whose first character is not one of `excluded`.
            let segment = |excluded: &str| format!(r"(?:\{{+|{}\{{*|@){rest}", plain(excluded));
            let any = segment("");
            // A non-empty segment other than `lock` (any case).
            let not_lock = format!(
                "(?:{}|[lL](?:{}|[oO](?:{}|[cC](?:{}|[kK]{any})?)?)?)",
                segment("lL"),
                segment("oO"),
                segment("cC"),
                segment("kK"),
            );
            // Components: a segment first (no leading dot), single dots between segments; the
            // last segment after a dot is not `lock` unless a dot follows it. The last component
            // of the ref does not end with a dot.
            let middle = format!(r"{any}(?:(?:\.{any})*\.(?:{not_lock})?)?");
            let last = format!(r"{any}(?:(?:\.{any})*\.{not_lock})?");
            format!("^refs/(?:(?:heads|tags)/(?:{middle}/)*{last}|pull/[0-9]+/(?:merge|head))$")
        });
        &PATTERN
    }

    /// The schema's repository: [`REPOSITORY`] without the names `.` and `..`.
    pub const REPOSITORY_STRICT: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$";
}

/// Limits on string lengths (bytes; all allowed characters are ASCII except in CDN paths).
pub mod limits {
    /// Longest SemVer string accepted.
    pub const VERSION: usize = 256;
    /// Longest git ref accepted.
    pub const GIT_REF: usize = 255;
    /// Longest CDN path accepted (CloudFront allows 4,000; a confined MFE path never needs more).
    pub const CDN_PATH: usize = 1024;
    /// Most CDN paths in one request (one CloudFront invalidation batch).
    pub const CDN_PATHS: usize = 3000;
    /// Longest timestamp string accepted.
    pub const TIMESTAMP: usize = 40;
}

/// A short, printable excerpt of a refused value for error messages.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = value
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// A compiled pattern from [`patterns`], compiled once.
macro_rules! regex {
    ($pattern:expr) => {{
        static RE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new($pattern).expect("patterns are tested"));
        &*RE
    }};
}

/// Declares a validated string newtype with serde, `FromStr`, `Display` and a schema fragment.
///
/// `exact` types compare as written; `ascii_case_insensitive` types (repository names, which
/// GitHub compares without case) compare, order and hash on the ASCII-lowercased text while
/// keeping the text as written; `ascii_lowercase` types (commit shas) are stored lowercased.
/// Each also compares with a `&str` under the same rule.
macro_rules! string_field {
    ($(#[$doc:meta])* $name:ident, $schema_name:literal, $check:path, $schema:expr) => {
        string_field!(@exact $(#[$doc])* $name, $schema_name, $check, $schema);
    };
    (@exact $(#[$doc:meta])* $name:ident, $schema_name:literal, $check:path, $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` against the field's rule.
            pub fn parse(value: &str) -> Result<Self, FieldError> {
                $check(value)?;
                Ok(Self(value.to_owned()))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        string_field!(@common $name, $schema_name, $schema);
    };
    (@ascii_lowercase $(#[$doc:meta])* $name:ident, $schema_name:literal, $check:path, $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` against the field's rule; the value is kept lowercased.
            pub fn parse(value: &str) -> Result<Self, FieldError> {
                $check(value)?;
                Ok(Self(value.to_ascii_lowercase()))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        string_field!(@common $name, $schema_name, $schema);
    };
    (@ascii_case_insensitive $(#[$doc:meta])* $name:ident, $schema_name:literal, $check:path, $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` against the field's rule; the text is kept as written.
            pub fn parse(value: &str) -> Result<Self, FieldError> {
                $check(value)?;
                Ok(Self(value.to_owned()))
            }

            fn key(&self) -> String {
                self.0.to_ascii_lowercase()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.eq_ignore_ascii_case(&other.0)
            }
        }

        impl Eq for $name {}

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.key().hash(state);
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.key().cmp(&other.key())
            }
        }

        string_field!(@common $name, $schema_name, $schema);
    };
    (@common $name:ident, $schema_name:literal, $schema:expr) => {
        impl $name {
            /// The value as kept (as written, or normalised where the type says so).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = FieldError;
            fn from_str(value: &str) -> Result<Self, FieldError> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

fn check_pattern(
    value: &str,
    re: &regex::Regex,
    max: usize,
    what: &str,
    rule_text: &str,
) -> Result<(), FieldError> {
    if value.len() > max {
        return Err(FieldError::new(
            Rule::MaxLength,
            format!(
                "{what} is {} bytes long; at most {max} are allowed",
                value.len()
            ),
        ));
    }
    if !re.is_match(value) {
        return Err(FieldError::new(
            Rule::Pattern,
            format!("{} is not {what}: {rule_text}", excerpt(value)),
        ));
    }
    Ok(())
}

fn check_mfe(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::MFE),
        63,
        "an MFE name",
        "lowercase letters, digits and '-', starting with a letter, at most 63 characters",
    )
}

fn check_environment(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::ENVIRONMENT),
        63,
        "an environment name",
        "letters, digits, '_' and '-', and '.' between them, starting with a letter or digit, at most 63 characters",
    )?;
    if value.to_ascii_lowercase().ends_with(".lock") {
        return Err(FieldError::new(
            Rule::Pattern,
            format!(
                "{} is not an environment name: it cannot end with '.lock' (git refuses such a branch)",
                excerpt(value)
            ),
        ));
    }
    Ok(())
}

fn check_login(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::LOGIN),
        44,
        "a GitHub login",
        "letters, digits and '-', at most 39 characters, optionally followed by '[bot]'",
    )
}

fn check_repository(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::REPOSITORY),
        140,
        "a repository",
        "expected 'owner/name'",
    )?;
    match value.split_once('/') {
        Some((_, "." | "..")) => Err(FieldError::new(
            Rule::Pattern,
            format!(
                "{} is not a repository: the name cannot be '.' or '..'",
                excerpt(value)
            ),
        )),
        _ => Ok(()),
    }
}

fn check_git_ref(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::GIT_REF),
        limits::GIT_REF,
        "a full git ref",
        "expected refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/<merge|head>",
    )?;
    let bad = |why: &str| {
        Err(FieldError::new(
            Rule::GitRef,
            format!("{} is not a valid git ref: {why}", excerpt(value)),
        ))
    };
    if value.chars().any(|c| c.is_control() || c == '\u{7f}') {
        return bad("it contains control characters");
    }
    if value.contains("..") || value.contains("@{") || value.contains("//") {
        return bad("it contains '..', '@{' or '//'");
    }
    if value.ends_with('/') || value.ends_with('.') {
        return bad("it ends with '/' or '.'");
    }
    if value.split('/').any(|part| {
        part.is_empty() || part.starts_with('.') || part.to_ascii_lowercase().ends_with(".lock")
    }) {
        return bad("a component is empty, starts with '.' or ends with '.lock'");
    }
    if let Some(rest) = value.strip_prefix("refs/pull/") {
        let ok = matches!(rest.split_once('/'), Some((n, "merge" | "head"))
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return bad("pull request refs look like refs/pull/<number>/merge or /head");
        }
    }
    Ok(())
}

fn check_sha(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::SHA),
        40,
        "a commit sha",
        "expected 40 hexadecimal characters",
    )
}

fn check_request_id(value: &str) -> Result<(), FieldError> {
    let a_ulid = value.len() == 26 && ulid::Ulid::from_string(value).is_ok();
    let a_hyphenated_uuid = value.len() == 36 && uuid::Uuid::try_parse(value).is_ok();
    if a_ulid || a_hyphenated_uuid {
        return Ok(());
    }
    check_pattern(
        value,
        regex!(patterns::REQUEST_ID),
        36,
        "a request id",
        "expected a ULID (26 characters) or a hyphenated UUID (36 characters)",
    )?;
    Err(FieldError::new(
        Rule::Pattern,
        format!("{} is not a valid ULID or UUID", excerpt(value)),
    ))
}

fn check_event_type(value: &str) -> Result<(), FieldError> {
    check_pattern(
        value,
        regex!(patterns::EVENT_TYPE),
        100,
        "an event type",
        "letters, digits, '.', '_', ':' and '-', at most 100 characters",
    )
}

fn check_cdn_path(value: &str) -> Result<(), FieldError> {
    if value.len() > limits::CDN_PATH {
        return Err(FieldError::new(
            Rule::MaxLength,
            format!(
                "a CDN path is {} bytes long; at most {} are allowed",
                value.len(),
                limits::CDN_PATH
            ),
        ));
    }
    let bad = |why: &str| {
        Err(FieldError::new(
            Rule::CdnPath,
            format!("{} is not an allowed CDN path: {why}", excerpt(value)),
        ))
    };
    if !value.starts_with('/') {
        return bad("it must be absolute (start with '/')");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    if value.contains(['?', '#']) {
        return bad("it contains a query or fragment");
    }
    // A `%` that does not start an escape is read differently by different decoders (kept,
    // refused, or half-decoded); CloudFront wants a literal `%` written `%25`.
    let bytes = value.as_bytes();
    if bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    }) {
        return bad("a '%' must start an escape of two hexadecimal digits (write '%' as %25)");
    }
    let Ok(decoded) = percent_decode_str(value).decode_utf8() else {
        return bad("its percent-encoding does not decode to UTF-8");
    };
    if decoded.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it decodes to whitespace or control characters");
    }
    if decoded.split('/').any(|s| s == "." || s == "..") {
        return bad("it contains a '.' or '..' segment");
    }
    if let Some(star) = value.find('*')
        && star != value.len() - 1
    {
        return bad("a '*' wildcard may only be the last character");
    }
    Ok(())
}

string_field!(
    /// An MFE name (`^[a-z][a-z0-9-]{0,62}$`).
    MfeName,
    "MfeName",
    check_mfe,
    json_schema!({"type": "string", "pattern": patterns::MFE, "maxLength": 63,
        "description": "MFE name, registered in the GitOps repository"})
);
string_field!(
    /// An environment name, declared in the GitOps repository. Case is kept and significant
    /// (`Prod` is not `prod`; a repository cannot declare both, see `gitops-iac-config`), and
    /// every name is also a valid git ref component, storage key and registry key: dots only
    /// between other characters, never `..`, no `.lock` ending.
    EnvironmentName,
    "EnvironmentName",
    check_environment,
    json_schema!({"type": "string", "pattern": patterns::ENVIRONMENT, "maxLength": 63,
        "description": "target environment, declared in the GitOps repository"})
);
string_field!(
    /// A GitHub login (`github.actor`); app bots such as `renovate[bot]` are valid.
    Login,
    "Login",
    check_login,
    json_schema!({"type": "string", "pattern": patterns::LOGIN, "maxLength": 44,
        "description": "GitHub login of the requester (github.actor)"})
);
string_field!(
    @ascii_case_insensitive
    /// A repository as `owner/name`. GitHub compares repository names without case, and so does
    /// this type (`Acme/Checkout` equals `acme/checkout`); the text is kept as written.
    RepositoryName,
    "Repository",
    check_repository,
    json_schema!({"type": "string", "pattern": patterns::REPOSITORY_STRICT, "maxLength": 140,
        "description": "requesting repository, owner/name; must be the one registered for the MFE"})
);
string_field!(
    /// A full git ref (`refs/heads/...`, `refs/tags/...`, `refs/pull/<n>/merge`).
    GitRef,
    "GitRef",
    check_git_ref,
    json_schema!({"type": "string", "pattern": patterns::git_ref_strict(),
        "maxLength": limits::GIT_REF,
        "description": "full git ref the version was built from"})
);
string_field!(
    @ascii_lowercase
    /// A 40-character commit sha, kept lowercased (git's spelling of an object id).
    CommitSha,
    "CommitSha",
    check_sha,
    json_schema!({"type": "string", "pattern": patterns::SHA, "minLength": 40, "maxLength": 40,
        "description": "commit the version was built from"})
);
string_field!(
    /// The correlation id of a request: a ULID or a hyphenated UUID.
    RequestId,
    "RequestId",
    check_request_id,
    json_schema!({"type": "string", "pattern": patterns::REQUEST_ID, "maxLength": 36,
        "description": "correlation id (ULID or UUID) created by the requester"})
);
string_field!(
    /// The seed form's `type` (the event type, `deploy-mfe-trigger`).
    EventType,
    "EventType",
    check_event_type,
    json_schema!({"type": "string", "pattern": patterns::EVENT_TYPE, "maxLength": 100,
        "description": "seed form only: the event type; the id is derived from the other fields"})
);
string_field!(
    /// An absolute CDN path with no `.`/`..` segments; a `*` may only end it.
    CdnPath,
    "CdnPath",
    check_cdn_path,
    json_schema!({"type": "string", "pattern": patterns::cdn_path_strict(),
        "maxLength": limits::CDN_PATH,
        "description": "absolute CDN path to invalidate, under /mfe/<mfe>/"})
);

impl RequestId {
    /// A fresh ULID, for requesters creating a new request.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate().to_string())
    }
}

/// A SemVer 2.0 version (pre-release and build metadata allowed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(semver::Version);

impl Version {
    /// Checks `value` is SemVer 2.0.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        if value.len() > limits::VERSION {
            return Err(FieldError::new(
                Rule::MaxLength,
                format!(
                    "a version is {} bytes long; at most {} are allowed",
                    value.len(),
                    limits::VERSION
                ),
            ));
        }
        semver::Version::parse(value).map(Self).map_err(|e| {
            FieldError::new(
                Rule::Semver,
                format!("{} is not a SemVer 2.0 version: {e}", excerpt(value)),
            )
        })
    }

    /// The parsed version, for ordering.
    pub fn semver(&self) -> &semver::Version {
        &self.0
    }
}

impl Ord for Version {
    /// SemVer precedence, with build metadata as the final tie-break so the order is total.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Version {
    /// Whether `other` is this version's text (exactly; build metadata included).
    fn eq(&self, other: &str) -> bool {
        self.0.to_string() == other
    }
}

impl PartialEq<&str> for Version {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl FromStr for Version {
    type Err = FieldError;
    fn from_str(value: &str) -> Result<Self, FieldError> {
        Self::parse(value)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": patterns::SEMVER, "maxLength": limits::VERSION,
            "description": "SemVer 2.0 version of the MFE artifact"})
    }
}

/// An RFC 3339 date-time; offsets other than `Z` are accepted. The text is kept as written so
/// a request serialises back byte-for-byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    at: time::OffsetDateTime,
}

impl Timestamp {
    /// Checks `value` is an RFC 3339 date-time.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        if value.len() > limits::TIMESTAMP {
            return Err(FieldError::new(
                Rule::MaxLength,
                format!(
                    "a timestamp is {} bytes long; at most {} are allowed",
                    value.len(),
                    limits::TIMESTAMP
                ),
            ));
        }
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .map(|at| Self {
                text: value.to_owned(),
                at,
            })
            .map_err(|e| {
                FieldError::new(
                    Rule::Timestamp,
                    format!("{} is not an RFC 3339 date-time: {e}", excerpt(value)),
                )
            })
    }

    /// The current time, in UTC, to the second.
    pub fn now() -> Self {
        let at = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        // The current UTC time is always within RFC 3339's years 0 to 9999.
        Self::from_datetime(at).unwrap_or_else(|_| Self {
            text: "1970-01-01T00:00:00Z".to_owned(),
            at: time::OffsetDateTime::UNIX_EPOCH,
        })
    }

    /// A timestamp for `at`, written in RFC 3339; an instant RFC 3339 cannot write (a year
    /// outside 0 to 9999) is an error, never an empty text.
    pub fn from_datetime(at: time::OffsetDateTime) -> Result<Self, FieldError> {
        let text = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                FieldError::new(
                    Rule::Timestamp,
                    format!("{at} cannot be written in RFC 3339: {e}"),
                )
            })?;
        Ok(Self { text, at })
    }

    /// The instant.
    pub fn datetime(&self) -> time::OffsetDateTime {
        self.at
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Timestamp {
    type Err = FieldError;
    fn from_str(value: &str) -> Result<Self, FieldError> {
        Self::parse(value)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time", "pattern": patterns::TIMESTAMP,
            "maxLength": limits::TIMESTAMP,
            "description": "RFC 3339 date-time the request was made (informational only)"})
    }
}
