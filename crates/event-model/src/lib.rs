//! # gitops-event-model (package `mfe-gitops-event-model`)
//!
//! The contract between an MFE repository and its GitOps repository: the deploy request sent as
//! the `client_payload` of a `repository_dispatch` event (type [`EVENT_TYPE`]).
//!
//! - [`DeployRequest`]: a request that satisfies every rule; made by [`validate_bytes`],
//!   [`validate_event`], [`validate_value`] or [`DeployRequest::builder`].
//! - Untrusted text is read by [`validate_bytes`] / [`validate_event`], which refuse a key
//!   repeated anywhere in the document ([`Rule::DuplicateKey`]); [`validate_event`] also requires
//!   an envelope's `action` to be the configured event type.
//! - Two wire forms: canonical (with `id`) and the seed article's (with `type`; the id is then
//!   derived deterministically from the other fields, see [`request::derive_seed_id`]).
//! - [`DeploymentPayload`]: what the GitHub deployment of a request carries (both sides use it).
//! - [`EnvelopeInfo`]: the `repository_dispatch` event around a payload; both a bare payload and
//!   a whole event (`GITHUB_EVENT_PATH`) are accepted.
//! - Validation runs the generated JSON Schema ([`deploy_request_schema`], committed as
//!   `schemas/deploy-request.schema.json`) plus the checks a schema cannot express (SemVer,
//!   RFC 3339 calendars, git ref rules, CDN path segments), and reports every [`Problem`] at once,
//!   each naming its field as a JSON pointer and the [`Rule`] broken.
//!
//! This crate does no IO and has no async runtime or HTTP client in its dependency tree, so other
//! repositories can use it to check payloads before they send them.

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod deployment;
mod envelope;
pub mod fields;
mod merge_method;
mod problem;
pub mod request;
mod schema;
mod strict;
mod validate;

pub use deployment::{DeploymentFacts, DeploymentPayload};
pub use envelope::EnvelopeInfo;
pub use fields::{
    CdnPath, CommitSha, EnvironmentName, EventType, FieldError, GitRef, Login, MfeName,
    RepositoryName, RequestId, Timestamp, Version,
};
pub use merge_method::MergeMethod;
pub use problem::{Problem, Rule};
pub use request::{DeployRequest, DeployRequestBuilder, EVENT_TYPE, Form, WirePayload};
pub use schema::{canonical_json_text, deploy_request_schema, deploy_request_schema_text};
pub use validate::{
    KEYS, Validated, validate_bytes, validate_event, validate_value, validation_report,
};

/// GitHub refuses a `client_payload` of 64 KB or more (serialised).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// GitHub allows at most 10 top-level keys in `client_payload`.
pub const MAX_TOP_LEVEL_KEYS: usize = 10;
/// The largest document [`validate_bytes`] and [`validate_event`] read (an event envelope is a
/// few KB).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// The crate's error: the document is not a valid deploy request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Every problem found, in document order.
    #[error("invalid deploy request: {}", summary(.problems))]
    Invalid {
        /// The problems, each naming its field.
        problems: Vec<Problem>,
    },
}

impl Error {
    pub(crate) fn invalid(problems: Vec<Problem>) -> Self {
        Error::Invalid { problems }
    }

    /// The problems found.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems } => problems,
        }
    }

    /// The problems found, by value.
    pub fn into_problems(self) -> Vec<Problem> {
        match self {
            Error::Invalid { problems } => problems,
        }
    }
}

fn summary(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
