//! `POST /_fake/tokens` (a test hook, no auth): a job-like `GITHUB_TOKEN` limited to the
//! permissions given, as a workflow's `permissions:` would mint it, so a test can see GitHub's
//! 403 "Resource not accessible by integration" without running a workflow. Needs the runner
//! (job tokens are its part of the server).
//!
//! Body: `{"repository": "owner/name", "permissions": {"deployments": "read", ...}}`; answer
//! `201 {"token": "ghs_..."}`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::runs::Grant;
use super::wire::Resp;
use super::{App, lock};
use crate::json as j;
use crate::runner::workflow::Level;

pub(super) fn mint(app: &App, body: &[u8]) -> Resp {
    let Some(runner) = app.runner() else {
        return Resp::json(409, j::error("the runner is not started", 409));
    };
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(repo) = v["repository"].as_str().filter(|r| r.contains('/')) else {
        return Resp::json(422, j::error("repository (owner/name) is required", 422));
    };
    let mut permissions = BTreeMap::new();
    for (scope, level) in v["permissions"].as_object().into_iter().flatten() {
        let level = match level.as_str() {
            Some("read") => Level::Read,
            Some("write") => Level::Write,
            Some("none") => Level::None,
            _ => {
                return Resp::json(
                    422,
                    j::error(&format!("permission {scope}: read, write or none"), 422),
                );
            }
        };
        permissions.insert(scope.clone(), level);
    }
    let mut bytes = [0u8; 18];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        return Resp::json(500, j::error("no randomness", 500));
    }
    let token: String = std::iter::once("ghs_".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    lock(&runner.tokens).insert(
        token.clone(),
        Grant {
            repo: repo.to_ascii_lowercase(),
            permissions,
            identity: None,
        },
    );
    Resp::json(201, json!({"token": token}))
}
