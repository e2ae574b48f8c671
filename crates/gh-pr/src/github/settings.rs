//! The repository's own settings: its default branch (the base of deploy pull requests unless
//! one is configured) and the merge methods it allows, read once per forge (`GET
//! /repos/{owner}/{repo}`) and kept; the merge method this forge uses, checked against them
//! before the first merge.

use http::Method;
use serde::Deserialize;

use gitops_event_model::MergeMethod;

use super::GithubForge;
use crate::{Error, Result};

/// The repository setting that allows `method`.
fn setting(method: MergeMethod) -> &'static str {
    match method {
        MergeMethod::Merge => "allow_merge_commit",
        MergeMethod::Squash => "allow_squash_merge",
        MergeMethod::Rebase => "allow_rebase_merge",
    }
}

/// What this crate reads of `GET /repos/{owner}/{repo}` (`full-repository`). The `allow_*`
/// flags are optional in GitHub's description (shown to callers who may push): an absent one
/// is unknown, and the merge itself then decides.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RepoSettings {
    pub(super) default_branch: String,
    #[serde(default)]
    allow_merge_commit: Option<bool>,
    #[serde(default)]
    allow_squash_merge: Option<bool>,
    #[serde(default)]
    allow_rebase_merge: Option<bool>,
}

impl RepoSettings {
    fn allows(&self, method: MergeMethod) -> Option<bool> {
        match method {
            MergeMethod::Merge => self.allow_merge_commit,
            MergeMethod::Squash => self.allow_squash_merge,
            MergeMethod::Rebase => self.allow_rebase_merge,
        }
    }

    /// The methods the repository allows, in GitHub's order, as far as it says.
    fn allowed(&self) -> Vec<&'static str> {
        MergeMethod::ALL
            .into_iter()
            .filter(|m| self.allows(*m) == Some(true))
            .map(MergeMethod::as_str)
            .collect()
    }
}

/// The error of a merge method the repository does not allow: names the method, what the
/// repository allows and the configuration key to change.
pub(super) fn method_not_allowed(repository: &str, method: MergeMethod, allowed: &[&str]) -> Error {
    let allowed = if allowed.is_empty() {
        "none it tells this token about".to_owned()
    } else {
        allowed.join(", ")
    };
    Error::invalid(
        "merge_method",
        format!(
            "the repository {repository} does not allow the merge method {method} ({} is \
             false; it allows: {allowed}); set `merge_method:` in gitops.yaml to one it allows",
            setting(method)
        ),
    )
}

impl GithubForge {
    /// The repository's settings: read on the first use (one call), then kept for the life of
    /// this forge and its clones.
    pub(super) async fn settings(&self) -> Result<&RepoSettings> {
        self.settings
            .get_or_try_init(|| async {
                let path = format!("/repos/{}", self.repository);
                self.json::<RepoSettings>(Method::GET, &path, None).await
            })
            .await
    }

    /// Reads the repository's settings now (one call) so that later calls do not pay for
    /// them: the base branch becomes the repository's default branch, unless one was set
    /// ([`GithubForge::with_base_branch`], `GITOPS_BASE_BRANCH`).
    pub async fn resolve(mut self) -> Result<Self> {
        let default_branch = self.settings().await?.default_branch.clone();
        if !self.base_set {
            if default_branch.is_empty() {
                return Err(Error::malformed(
                    format!("GET /repos/{}", self.repository),
                    "default_branch is empty",
                ));
            }
            self.base = default_branch;
        }
        Ok(self)
    }

    /// Refuses a merge method the repository does not allow, before any merge (the settings
    /// call is made once, unless [`GithubForge::resolve`] made it already).
    pub(super) async fn check_merge_method(&self) -> Result<()> {
        let settings = self.settings().await?;
        if settings.allows(self.merge_method) == Some(false) {
            return Err(method_not_allowed(
                self.repository.as_str(),
                self.merge_method,
                &settings.allowed(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_and_name_their_setting() {
        assert_eq!(setting(MergeMethod::Squash), "allow_squash_merge");
        let settings: RepoSettings = serde_json::from_value(serde_json::json!({
            "default_branch": "trunk", "allow_merge_commit": false,
            "allow_squash_merge": true, "allow_rebase_merge": false
        }))
        .unwrap();
        assert_eq!(settings.allowed(), ["squash"]);
        let e = method_not_allowed("acme/gitops", MergeMethod::Merge, &settings.allowed());
        let text = e.to_string();
        for part in [
            "merge method merge",
            "allow_merge_commit",
            "allows: squash",
            "merge_method:",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let unknown: RepoSettings =
            serde_json::from_value(serde_json::json!({"default_branch": "main"})).unwrap();
        assert_eq!(
            unknown.allows(MergeMethod::Squash),
            None,
            "absent is unknown"
        );
    }
}
