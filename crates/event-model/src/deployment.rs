//! The payload of the GitHub deployment that carries a request's outcome on the requester's own
//! commit: the GitOps side creates (or finds) it, posts every status to it, and `mfe dispatch
//! --wait` follows it by the request id. One type, so both sides read and write the same keys.

use serde::{Deserialize, Serialize};

use crate::{DeployRequest, Error, Login, MfeName, RequestId, Version};

/// `{"id", "mfe", "version", "user"?, "cache_invalidation_keys"?}` of a deployment created for
/// a deploy request. In App mode the deployment IS the request (`gitops serve` reads it from
/// the `deployment` webhook), so it also carries the requester's login and the CDN paths; a
/// payload without them (an older `mfe`) still reads, as a request with neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPayload {
    /// The request's correlation id.
    pub id: RequestId,
    /// The MFE asked for.
    pub mfe: MfeName,
    /// The version asked for.
    pub version: Version,
    /// Who asked (`github.actor` of the requester's workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Login>,
    /// The CDN paths to invalidate, as the request gives them (checked when the request is
    /// rebuilt from the payload, [`DeploymentPayload::request`]).
    #[serde(
        default,
        rename = "cache_invalidation_keys",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub keys: Vec<String>,
}

/// What GitHub asserts about a deployment (not its payload): where and by whom it was made.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentFacts<'a> {
    /// The repository it is in.
    pub repository: &'a str,
    /// The commit.
    pub sha: &'a str,
    /// The ref it was made from (a branch name or a full ref).
    pub git_ref: &'a str,
    /// Its environment.
    pub environment: &'a str,
    /// When it was created (RFC 3339): the request's time.
    pub created_at: &'a str,
    /// Who created it: the requester when the payload names nobody.
    pub creator: &'a str,
}

impl DeploymentPayload {
    /// The payload of `request`'s deployment.
    pub fn of(request: &DeployRequest) -> Self {
        DeploymentPayload {
            id: request.id().clone(),
            mfe: request.mfe().clone(),
            version: request.version().clone(),
            user: Some(request.user().clone()),
            keys: request
                .cache_invalidation_keys()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// The deploy request a deployment carrying this payload makes (App mode): the id, MFE,
    /// version, user and paths from the payload; the repository, commit, ref, environment and
    /// time from what GitHub asserts (`facts`). A bare branch name as the ref is read as
    /// `refs/heads/<name>` (GitHub stores what the deployment was created with).
    ///
    /// # Errors
    /// Every problem of the rebuilt request, as [`DeployRequest::builder`] reports them.
    pub fn request(&self, facts: &DeploymentFacts<'_>) -> Result<DeployRequest, Error> {
        let git_ref = if facts.git_ref.starts_with("refs/") {
            facts.git_ref.to_owned()
        } else {
            format!("refs/heads/{}", facts.git_ref)
        };
        DeployRequest::builder()
            .id(self.id.as_str())
            .mfe(self.mfe.as_str())
            .version(self.version.to_string())
            .user(self.user.as_ref().map_or(facts.creator, Login::as_str))
            .cache_invalidation_keys(self.keys.iter().cloned())
            .repository(facts.repository)
            .sha(facts.sha)
            .git_ref(git_ref)
            .environment(facts.environment)
            .timestamp(facts.created_at)
            .build()
    }

    /// The payload of a deployment, when it is one of ours; `None` for any other payload
    /// (other tools create deployments on the same commits).
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }

    /// As the JSON object GitHub stores.
    pub fn to_value(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "id": self.id.as_str(),
            "mfe": self.mfe.as_str(),
            "version": self.version.to_string(),
        });
        if let Some(user) = &self.user {
            value["user"] = user.as_str().into();
        }
        if !self.keys.is_empty() {
            value["cache_invalidation_keys"] = self.keys.clone().into();
        }
        value
    }
}
