//! Collaborators: `PUT` and `DELETE /repos/{o}/{r}/collaborators/{username}`, and
//! `GET /repos/{o}/{r}/collaborators/{username}/permission`.
//!
//! Who has which role: the owner of a user's repository and the fake's own account (the one
//! requests without a `<login>:` token act as, which creates the repositories of tests) are
//! admins; a collaborator added with `PUT` has the role it was given (GitHub's default
//! `push`), at once, as for an organisation member (204, no invitation to accept); anyone else
//! has no access (404). Only an admin may add or remove collaborators (403 otherwise).

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::repos::Settings;
use super::wire::{ApiError, R, Resp, bad_field, err, not_found, s};

/// A login as GitHub allows one: letters, digits and single inner hyphens, at most 39.
fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The role a `permission` of `PUT .../collaborators/{username}` gives.
fn role_of_permission(permission: &str) -> Option<&'static str> {
    Some(match permission {
        "pull" => "read",
        "triage" => "triage",
        "push" => "write",
        "maintain" => "maintain",
        "admin" => "admin",
        _ => return None,
    })
}

/// GitHub's legacy `permission` of a role: `admin`, `write` or `read`.
fn permission_of_role(role: &str) -> &'static str {
    match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        _ => "read",
    }
}

impl Ctx<'_> {
    /// Refuses a caller who is not an admin of this repository, as GitHub does for its
    /// settings and collaborators.
    pub(super) fn require_admin(&self) -> Result<(), ApiError> {
        let settings = self.settings()?;
        if self.role_of(self.login, &settings).as_deref() == Some("admin") {
            Ok(())
        } else {
            Err(err(403, "Must have admin rights to Repository."))
        }
    }

    /// The role `login` has on this repository, if any.
    fn role_of(&self, login: &str, settings: &Settings) -> Option<String> {
        let owner = !self.meta.owner_is_org && login.eq_ignore_ascii_case(&self.meta.owner);
        if owner || login.eq_ignore_ascii_case(&self.app.default_login) {
            return Some("admin".to_owned());
        }
        settings
            .collaborators
            .get(&login.to_ascii_lowercase())
            .cloned()
    }

    /// `PUT /repos/{o}/{r}/collaborators/{username}` with `{"permission"}` (default `push`).
    pub(super) fn add_collaborator(&self, login: &str, b: &Value) -> R {
        self.require_admin()?;
        if !valid_login(login) {
            return Err(not_found());
        }
        let permission = s(b, "permission")?.unwrap_or("push");
        let Some(role) = role_of_permission(permission) else {
            return Err(bad_field("Collaborator", "permission"));
        };
        let mut settings = self.settings()?;
        settings
            .collaborators
            .insert(login.to_ascii_lowercase(), role.to_owned());
        self.save_settings(&settings)?;
        Ok(Resp::empty(204))
    }

    /// `DELETE /repos/{o}/{r}/collaborators/{username}`.
    pub(super) fn remove_collaborator(&self, login: &str) -> R {
        self.require_admin()?;
        let mut settings = self.settings()?;
        if settings
            .collaborators
            .remove(&login.to_ascii_lowercase())
            .is_some()
        {
            self.save_settings(&settings)?;
        }
        Ok(Resp::empty(204))
    }

    /// `GET /repos/{o}/{r}/collaborators/{username}/permission`.
    pub(super) fn collaborator_permission(&self, login: &str) -> R {
        if !valid_login(login) {
            return Err(not_found());
        }
        let settings = self.settings()?;
        let Some(role) = self.role_of(login, &settings) else {
            return Err(not_found());
        };
        let permission = permission_of_role(&role);
        let at_least = |r: &[&str]| r.contains(&role.as_str());
        let mut user = crate::json::user(self.base(), login, false);
        user["role_name"] = json!(role);
        user["permissions"] = json!({
            "pull": true,
            "triage": at_least(&["triage", "write", "maintain", "admin"]),
            "push": at_least(&["write", "maintain", "admin"]),
            "maintain": at_least(&["maintain", "admin"]),
            "admin": role == "admin",
        });
        Ok(Resp::json(
            200,
            json!({"permission": permission, "role_name": role, "user": user}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_map_to_roles_and_back() {
        assert_eq!(role_of_permission("push"), Some("write"));
        assert_eq!(role_of_permission("pull"), Some("read"));
        assert_eq!(role_of_permission("write"), None, "the API's word is push");
        assert_eq!(permission_of_role("maintain"), "write");
        assert_eq!(permission_of_role("triage"), "read");
        assert!(valid_login("release-manager"));
        assert!(!valid_login("renovate[bot]"));
        assert!(!valid_login("-x"));
    }
}
