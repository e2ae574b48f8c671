//! The deploy request in its canonical form, the seed article's form, and the builder.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fields::{
    CdnPath, CommitSha, EnvironmentName, EventType, FieldError, GitRef, Login, MfeName,
    RepositoryName, RequestId, Timestamp, Version, limits,
};
use crate::problem::{Problem, Rule};
use crate::{Error, MAX_PAYLOAD_BYTES};

/// The event type GitOps repositories listen for (`repository_dispatch` `types:`).
pub const EVENT_TYPE: &str = "deploy-mfe-trigger";

/// Namespace of the UUIDv5 ids derived for seed-form requests.
const SEED_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d66_652d_6769_746f_7073_2d69_6430_0001);

/// Which form a request arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `id` present: the canonical form.
    Canonical,
    /// `type` instead of `id`: the form the seed article's workflow sends. The id was derived.
    Seed {
        /// The `type` value sent.
        event_type: EventType,
    },
}

/// A valid deploy request. Every value of this type satisfies the contract (DESIGN.md 4.1): it
/// can only be made by [`crate::validate_bytes`], [`crate::validate_event`],
/// [`crate::validate_value`] or [`DeployRequest::builder`], all of which check every rule.
///
/// It always serialises in the canonical form (ten keys, documented order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployRequest {
    id: RequestId,
    timestamp: Timestamp,
    user: Login,
    mfe: MfeName,
    version: Version,
    environment: EnvironmentName,
    cache_invalidation_keys: Vec<CdnPath>,
    repository: RepositoryName,
    #[serde(rename = "ref")]
    git_ref: GitRef,
    sha: CommitSha,
    #[serde(skip)]
    form: Form,
}

impl DeployRequest {
    /// A builder; see [`DeployRequestBuilder`].
    pub fn builder() -> DeployRequestBuilder {
        DeployRequestBuilder::default()
    }

    /// Correlation id.
    pub fn id(&self) -> &RequestId {
        &self.id
    }
    /// When the requester says it made the request (informational; never used for policy).
    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp
    }
    /// Requesting GitHub login.
    pub fn user(&self) -> &Login {
        &self.user
    }
    /// MFE to deploy.
    pub fn mfe(&self) -> &MfeName {
        &self.mfe
    }
    /// Version to deploy.
    pub fn version(&self) -> &Version {
        &self.version
    }
    /// Target environment.
    pub fn environment(&self) -> &EnvironmentName {
        &self.environment
    }
    /// CDN paths the requester asks to invalidate.
    pub fn cache_invalidation_keys(&self) -> &[CdnPath] {
        &self.cache_invalidation_keys
    }
    /// Requesting repository.
    pub fn repository(&self) -> &RepositoryName {
        &self.repository
    }
    /// Git ref the version was built from.
    pub fn git_ref(&self) -> &GitRef {
        &self.git_ref
    }
    /// Commit the version was built from.
    pub fn sha(&self) -> &CommitSha {
        &self.sha
    }
    /// The form the request arrived in.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The canonical JSON payload (compact), as sent in `client_payload`.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The canonical payload as a JSON value (built field by field: it cannot fail).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.as_str(),
            "timestamp": self.timestamp.as_str(),
            "user": self.user.as_str(),
            "mfe": self.mfe.as_str(),
            "version": self.version.to_string(),
            "environment": self.environment.as_str(),
            "cache_invalidation_keys": self
                .cache_invalidation_keys
                .iter()
                .map(CdnPath::as_str)
                .collect::<Vec<_>>(),
            "repository": self.repository.as_str(),
            "ref": self.git_ref.as_str(),
            "sha": self.sha.as_str(),
        })
    }
}

/// The id derived for a seed-form request: a UUIDv5 over every other field, so the same
/// request always gets the same id and a replay is recognised.
pub fn derive_seed_id(wire: &WirePayload) -> RequestId {
    let mut text = String::new();
    for part in [
        wire.event_type.as_ref().map_or("", EventType::as_str),
        wire.timestamp.as_str(),
        wire.user.as_str(),
        wire.mfe.as_str(),
        &wire.version.to_string(),
        wire.environment.as_str(),
        &wire
            .cache_invalidation_keys
            .paths()
            .iter()
            .map(CdnPath::as_str)
            .collect::<Vec<_>>()
            .join("\u{1f}"),
        wire.repository.as_str(),
        wire.git_ref.as_str(),
        &wire.sha.as_str().to_ascii_lowercase(),
    ] {
        text.push_str(part);
        text.push('\u{1e}');
    }
    let uuid = uuid::Uuid::new_v5(&SEED_ID_NAMESPACE, text.as_bytes());
    RequestId::parse(&uuid.hyphenated().to_string()).unwrap_or_else(|_| RequestId::generate())
}

/// `cache_invalidation_keys` as sent: a list (canonical) or, as the seed workflow does, one
/// string of paths separated by commas or whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InvalidationKeys {
    /// A JSON list of paths.
    List(#[schemars(length(max = 3000))] Vec<CdnPath>),
    /// Paths in one string, separated by commas or whitespace (seed form).
    #[schemars(description = "paths separated by commas or whitespace (seed form)")]
    Text(
        #[serde(with = "keys_text")]
        #[schemars(schema_with = "keys_text_schema")]
        Vec<CdnPath>,
    ),
}

impl InvalidationKeys {
    /// The paths, in order.
    pub fn paths(&self) -> &[CdnPath] {
        match self {
            InvalidationKeys::List(paths) | InvalidationKeys::Text(paths) => paths,
        }
    }
}

/// The schema of the seed form's single string of paths.
fn keys_text_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string",
        "pattern": crate::fields::patterns::cdn_paths_text_strict()})
}

/// Splits the seed form's single string of paths.
pub(crate) fn split_keys_text(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

mod keys_text {
    use super::{CdnPath, split_keys_text};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(paths: &[CdnPath], serializer: S) -> Result<S::Ok, S::Error> {
        let joined: Vec<&str> = paths.iter().map(CdnPath::as_str).collect();
        serializer.serialize_str(&joined.join(","))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<CdnPath>, D::Error> {
        let text = String::deserialize(deserializer)?;
        split_keys_text(&text)
            .map(|p| CdnPath::parse(p).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The payload as it travels: both forms, described by the committed JSON Schema.
///
/// Exactly one of `id` (canonical) and `type` (seed) is present; the other nine keys are
/// required; nothing else is allowed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "mfe-gitops deploy request",
    description = "The client_payload of a repository_dispatch event of type deploy-mfe-trigger, sent by an MFE repository to its GitOps repository. Canonical form carries `id`; the seed form carries `type` instead and its id is derived from the other fields.",
    extend("oneOf" = [{"required": ["id"]}, {"required": ["type"]}], "maxProperties" = 10)
)]
pub struct WirePayload {
    /// Correlation id (canonical form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "RequestId")]
    pub id: Option<RequestId>,
    /// Event type (seed form).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "EventType")]
    pub event_type: Option<EventType>,
    /// RFC 3339 date-time.
    pub timestamp: Timestamp,
    /// Requesting GitHub login.
    pub user: Login,
    /// MFE name.
    pub mfe: MfeName,
    /// SemVer 2.0 version.
    pub version: Version,
    /// Target environment.
    pub environment: EnvironmentName,
    /// CDN paths to invalidate, each under `/mfe/<mfe>/`.
    pub cache_invalidation_keys: InvalidationKeys,
    /// Requesting repository, `owner/name`.
    pub repository: RepositoryName,
    /// Full git ref.
    #[serde(rename = "ref")]
    pub git_ref: GitRef,
    /// 40-hex commit sha.
    pub sha: CommitSha,
}

impl WirePayload {
    /// Converts a checked wire payload into the request, deriving the id for the seed form.
    pub(crate) fn into_request(self) -> Result<DeployRequest, Error> {
        let (id, form) = match (&self.id, &self.event_type) {
            (Some(id), None) => (id.clone(), Form::Canonical),
            (None, Some(event_type)) => (
                derive_seed_id(&self),
                Form::Seed {
                    event_type: event_type.clone(),
                },
            ),
            _ => {
                return Err(Error::invalid(vec![Problem::new(
                    "/id",
                    Rule::IdOrType,
                    "exactly one of `id` (canonical form) and `type` (seed form) is required",
                )]));
            }
        };
        Ok(DeployRequest {
            id,
            timestamp: self.timestamp,
            user: self.user,
            mfe: self.mfe,
            version: self.version,
            environment: self.environment,
            cache_invalidation_keys: self.cache_invalidation_keys.paths().to_vec(),
            repository: self.repository,
            git_ref: self.git_ref,
            sha: self.sha,
            form,
        })
    }
}

/// Builds a [`DeployRequest`] from loose values; [`DeployRequestBuilder::build`] checks every
/// rule and reports every problem at once, so it can never produce an invalid request.
#[derive(Debug, Clone, Default)]
pub struct DeployRequestBuilder {
    id: Option<String>,
    timestamp: Option<String>,
    user: Option<String>,
    mfe: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    keys: Vec<String>,
    repository: Option<String>,
    git_ref: Option<String>,
    sha: Option<String>,
}

macro_rules! setter {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}

impl DeployRequestBuilder {
    setter!(
        /// Correlation id; a fresh ULID when not set.
        id,
        /// RFC 3339 timestamp; now (UTC) when not set.
        timestamp,
        /// Requesting login (`github.actor`).
        user,
        /// MFE name.
        mfe,
        /// SemVer version.
        version,
        /// Target environment.
        environment,
        /// Requesting repository, `owner/name`.
        repository,
        /// Full git ref.
        git_ref,
        /// 40-hex commit sha.
        sha
    );

    /// Adds one CDN path to invalidate.
    #[must_use]
    pub fn cache_invalidation_key(mut self, path: impl Into<String>) -> Self {
        self.keys.push(path.into());
        self
    }

    /// Adds CDN paths to invalidate.
    #[must_use]
    pub fn cache_invalidation_keys<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Checks every field and returns the request, or every problem found.
    pub fn build(self) -> Result<DeployRequest, Error> {
        let mut problems = Vec::new();
        let id = match self.id {
            Some(raw) => collect(&mut problems, "id", RequestId::parse(&raw)),
            None => Some(RequestId::generate()),
        };
        let timestamp = match self.timestamp {
            Some(raw) => collect(&mut problems, "timestamp", Timestamp::parse(&raw)),
            None => Some(Timestamp::now()),
        };
        let user = required(&mut problems, "user", self.user, Login::parse);
        let mfe = required(&mut problems, "mfe", self.mfe, MfeName::parse);
        let version = required(&mut problems, "version", self.version, Version::parse);
        let environment = required(
            &mut problems,
            "environment",
            self.environment,
            EnvironmentName::parse,
        );
        let repository = required(
            &mut problems,
            "repository",
            self.repository,
            RepositoryName::parse,
        );
        let git_ref = required(&mut problems, "ref", self.git_ref, GitRef::parse);
        let sha = required(&mut problems, "sha", self.sha, CommitSha::parse);
        if self.keys.len() > limits::CDN_PATHS {
            problems.push(Problem::new(
                "/cache_invalidation_keys",
                Rule::MaxLength,
                format!(
                    "{} paths given; at most {} are allowed",
                    self.keys.len(),
                    limits::CDN_PATHS
                ),
            ));
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        for (i, raw) in self.keys.iter().enumerate() {
            if let Some(path) = collect(
                &mut problems,
                &format!("cache_invalidation_keys/{i}"),
                CdnPath::parse(raw),
            ) {
                keys.push(path);
            }
        }
        let (
            Some(id),
            Some(timestamp),
            Some(user),
            Some(mfe),
            Some(version),
            Some(environment),
            Some(repository),
            Some(git_ref),
            Some(sha),
        ) = (
            id,
            timestamp,
            user,
            mfe,
            version,
            environment,
            repository,
            git_ref,
            sha,
        )
        else {
            return Err(Error::invalid(problems));
        };
        if !problems.is_empty() {
            return Err(Error::invalid(problems));
        }
        let request = DeployRequest {
            id,
            timestamp,
            user,
            mfe,
            version,
            environment,
            cache_invalidation_keys: keys,
            repository,
            git_ref,
            sha,
            form: Form::Canonical,
        };
        let size = request.to_json().len();
        if size >= MAX_PAYLOAD_BYTES {
            return Err(Error::invalid(vec![Problem::new(
                "",
                Rule::TooLarge,
                format!(
                    "the payload would be {size} bytes; GitHub accepts less than {MAX_PAYLOAD_BYTES}"
                ),
            )]));
        }
        Ok(request)
    }
}

fn collect<T>(
    problems: &mut Vec<Problem>,
    field: &str,
    result: Result<T, FieldError>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(Problem::new(format!("/{field}"), e.rule, e.message));
            None
        }
    }
}

fn required<T>(
    problems: &mut Vec<Problem>,
    field: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Option<T> {
    if let Some(raw) = value {
        return collect(problems, field, parse(&raw));
    }
    problems.push(Problem::new(
        format!("/{field}"),
        Rule::Required,
        format!("`{field}` is required"),
    ));
    None
}
