//! What a workflow's `GITHUB_TOKEN` may do: each operation needs one permission scope at read
//! or write (GitHub's "Permissions required for GitHub Apps" tables, for the operations
//! fake-github serves); a token limited by `permissions:` is refused the rest with GitHub's 403.

use super::runs::Grant;
use super::wire::{ApiError, err, not_found};
use crate::runner::workflow::Level;

/// The scopes (any one suffices) and level an operation on `/repos/{o}/{r}/{rest}` needs;
/// `None` when no installation token may do it at all (administration).
fn required(method: &str, rest: &[&str]) -> Option<(&'static [&'static str], Level)> {
    let write = method != "GET" && method != "HEAD";
    let level = if write { Level::Write } else { Level::Read };
    let scopes: &'static [&'static str] = match rest {
        // Adding collaborators is administration; reading a permission is metadata.
        ["collaborators", ..] if write => return None,
        [] | ["collaborators", ..] => &["metadata"],
        ["pulls", _, "merge"] if write => &["contents"],
        ["pulls", ..] => &["pull-requests"],
        ["issues", ..] => &["issues", "pull-requests"],
        ["statuses", ..] | ["commits", .., "status" | "statuses"] => &["statuses"],
        ["check-runs", ..] | ["commits", .., "check-runs"] => &["checks"],
        ["deployments", ..] => &["deployments"],
        // Reviewing deployments and administering environments: never an installation token.
        ["actions", "runs", _, "pending_deployments"] | ["environments", ..] if write => {
            return None;
        }
        ["actions" | "environments", ..] => &["actions"],
        // Contents, git data, tarballs, repository dispatches.
        _ => &["contents"],
    };
    Some((scopes, level))
}

/// Refuses what `grant` may not do on repository `key` (`owner/name` in lower case, `private`
/// or not): GitHub's 403 "Resource not accessible by integration", or 404 for a private
/// repository the token is not for.
pub(super) fn check(
    grant: &Grant,
    key: Option<(&str, bool)>,
    method: &str,
    rest: &[&str],
) -> Result<(), ApiError> {
    let forbidden = || err(403, "Resource not accessible by integration");
    let Some((key, private)) = key else {
        // Outside any repository (creating repositories, users): nothing but reads.
        return if method == "GET" {
            Ok(())
        } else {
            Err(forbidden())
        };
    };
    if key != grant.repo {
        return match (private, method) {
            (true, _) => Err(not_found()),
            (false, "GET" | "HEAD") => Ok(()),
            _ => Err(forbidden()),
        };
    }
    let Some((scopes, level)) = required(method, rest) else {
        return Err(forbidden());
    };
    let has = |s: &str| match grant.permissions.get(s) {
        Some(Level::Write) => true,
        Some(Level::Read) => level == Level::Read,
        _ => s == "metadata" && level == Level::Read,
    };
    if scopes.iter().any(|s| has(s)) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn grant(perms: &[(&str, Level)]) -> Grant {
        Grant {
            repo: "acme/gitops".into(),
            permissions: perms
                .iter()
                .map(|(k, l)| ((*k).to_owned(), *l))
                .collect::<BTreeMap<_, _>>(),
            identity: None,
        }
    }

    #[test]
    fn a_read_only_token_reads_but_cannot_write() {
        let g = grant(&[("contents", Level::Read)]);
        let repo = Some(("acme/gitops", false));
        assert!(check(&g, repo, "GET", &["contents", "x"]).is_ok());
        let e = check(&g, repo, "POST", &["git", "refs"]).unwrap_err();
        assert_eq!(e.status, 403);
        assert_eq!(e.message, "Resource not accessible by integration");
        assert!(check(&g, repo, "POST", &["pulls"]).is_err());
        assert!(
            check(&g, repo, "GET", &["pulls"]).is_err(),
            "no pull-requests scope"
        );
        assert!(
            check(&g, repo, "GET", &[]).is_ok(),
            "metadata is always readable"
        );
    }

    #[test]
    fn scopes_map_to_their_operations() {
        let repo = Some(("acme/gitops", false));
        let g = grant(&[("statuses", Level::Write), ("deployments", Level::Read)]);
        assert!(check(&g, repo, "POST", &["statuses", "abc"]).is_ok());
        assert!(check(&g, repo, "GET", &["deployments"]).is_ok());
        assert!(check(&g, repo, "POST", &["deployments"]).is_err());
        let g = grant(&[("contents", Level::Write)]);
        assert!(check(&g, repo, "PUT", &["pulls", "3", "merge"]).is_ok());
        assert!(check(&g, repo, "POST", &["dispatches"]).is_ok());
        let g = grant(&[("pull-requests", Level::Write)]);
        assert!(check(&g, repo, "POST", &["issues", "3", "comments"]).is_ok());
        let g = grant(&[("actions", Level::Write)]);
        assert!(
            check(
                &g,
                repo,
                "POST",
                &["actions", "runs", "1", "pending_deployments"]
            )
            .is_err(),
            "a GITHUB_TOKEN never approves a deployment"
        );
        // Any token reads who may write (metadata); none adds a collaborator.
        let g = grant(&[("deployments", Level::Read)]);
        assert!(check(&g, repo, "GET", &["collaborators", "priya", "permission"]).is_ok());
        let g = grant(&[("contents", Level::Write)]);
        assert!(check(&g, repo, "PUT", &["collaborators", "priya"]).is_err());
    }

    #[test]
    fn another_repository_is_readable_only_when_public() {
        let g = grant(&[("contents", Level::Write)]);
        assert!(check(&g, Some(("acme/other", false)), "GET", &["contents", "x"]).is_ok());
        assert_eq!(
            check(&g, Some(("acme/other", false)), "POST", &["git", "refs"])
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            check(&g, Some(("acme/secret", true)), "GET", &[])
                .unwrap_err()
                .status,
            404
        );
    }
}
