//! The payload of the GitHub deployment that carries a request's outcome on the requester's own
//! commit: the GitOps side creates (or finds) it, posts every status to it, and `mfe dispatch
//! --wait` follows it by the request id. One type, so both sides read and write the same keys.

use serde::{Deserialize, Serialize};

use crate::{DeployRequest, MfeName, RequestId, Version};

/// `{"id", "mfe", "version"}` of a deployment created for a deploy request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPayload {
    /// The request's correlation id.
    pub id: RequestId,
    /// The MFE asked for.
    pub mfe: MfeName,
    /// The version asked for.
    pub version: Version,
}

impl DeploymentPayload {
    /// The payload of `request`'s deployment.
    pub fn of(request: &DeployRequest) -> Self {
        DeploymentPayload {
            id: request.id().clone(),
            mfe: request.mfe().clone(),
            version: request.version().clone(),
        }
    }

    /// The payload of a deployment, when it is one of ours; `None` for any other payload
    /// (other tools create deployments on the same commits).
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }

    /// As the JSON object GitHub stores.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.as_str(),
            "mfe": self.mfe.as_str(),
            "version": self.version.to_string(),
        })
    }
}
