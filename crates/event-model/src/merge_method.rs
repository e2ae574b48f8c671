//! How deploy pull requests are merged: one type for the GitOps configuration's
//! `merge_method:` key (`gitops-iac-config`) and the forge that merges (`gitops-gh-pr`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a deploy pull request is merged (GitHub's `merge_method`); it must be one the
/// repository allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// A merge commit (parents: the base head, the PR head). The default.
    #[default]
    Merge,
    /// One commit on the base with the PR's changes, the base its only parent.
    Squash,
    /// The PR's commits replayed on the base (for a deploy branch's single commit: one commit,
    /// the base its only parent).
    Rebase,
}

impl MergeMethod {
    /// Every method, in GitHub's order.
    pub const ALL: [MergeMethod; 3] =
        [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase];

    /// GitHub's name: `merge`, `squash` or `rebase`.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

impl fmt::Display for MergeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_written_as_github_names_them() {
        for m in MergeMethod::ALL {
            let json = serde_json::to_value(m).unwrap();
            assert_eq!(json, m.as_str());
            assert_eq!(serde_json::from_value::<MergeMethod>(json).unwrap(), m);
        }
        assert!(serde_json::from_str::<MergeMethod>("\"fast-forward\"").is_err());
        assert_eq!(MergeMethod::default(), MergeMethod::Merge);
    }
}
