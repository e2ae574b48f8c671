//! Releases: `POST /repos/{o}/{r}/releases` (creating the tag when it is new) and their listing;
//! a published release is the `release` event (`published`) for the runner.

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::wire::{R, Resp, bad_field, flag, invalid, missing, s};
use crate::json::{self as j, now, ts};
use crate::runner::Trigger;
use crate::runner::workflow::EventKind;
use crate::state::Release;

impl Ctx<'_> {
    fn release_json(&self, r: &Release) -> Value {
        let u = self.url(&format!("releases/{}", r.id));
        json!({
            "url": u,
            "html_url": format!("https://github.com/{}/releases/tag/{}", self.full, r.tag_name),
            "assets_url": format!("{u}/assets"),
            "upload_url": format!("https://uploads.github.com/repos/{}/releases/{}/assets{{?name,label}}", self.full, r.id),
            "tarball_url": self.url(&format!("tarball/{}", r.tag_name)),
            "zipball_url": self.url(&format!("zipball/{}", r.tag_name)),
            "id": r.id,
            "node_id": format!("RE_{}", r.id),
            "tag_name": r.tag_name,
            "target_commitish": r.target_commitish,
            "name": r.name,
            "body": r.body,
            "draft": r.draft,
            "prerelease": r.prerelease,
            "immutable": false,
            "created_at": ts(r.created_at),
            "updated_at": ts(r.created_at),
            "published_at": if r.draft { Value::Null } else { json!(ts(r.created_at)) },
            "author": j::user(self.base(), &r.author, false),
            "assets": [],
        })
    }

    /// `POST /repos/{o}/{r}/releases` `{tag_name, target_commitish, name, body, draft,
    /// prerelease}`.
    pub(super) fn create_release(&self, b: &Value) -> R {
        let Some(tag) = s(b, "tag_name")? else {
            return Err(missing("Release", "tag_name"));
        };
        if tag.is_empty() || tag.contains("..") || tag.starts_with('/') {
            return Err(bad_field("Release", "tag_name"));
        }
        if self.read(|d| d.releases.iter().any(|r| r.tag_name == tag)) {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "Release", "code": "already_exists", "field": "tag_name"}]),
            ));
        }
        let target = s(b, "target_commitish")?
            .unwrap_or(&self.meta.default_branch)
            .to_owned();
        let full_tag = format!("refs/tags/{tag}");
        let sha = if let Some(sha) = self.git.ref_target(&full_tag)? {
            sha
        } else {
            let Some(sha) = self.commit_of(&target)? else {
                return Err(bad_field("Release", "target_commitish"));
            };
            self.git.ok(&["update-ref", &full_tag, &sha])?;
            sha
        };
        let sha = self.git.resolve_commit(&sha)?.unwrap_or(sha);
        let draft = flag(b, "draft")?.unwrap_or(false);
        let prerelease = flag(b, "prerelease")?.unwrap_or(false);
        let t = now();
        let r = self.write(|d, id| {
            let r = Release {
                id: id(),
                tag_name: tag.to_owned(),
                target_commitish: target.clone(),
                name: s(b, "name").ok().flatten().map(str::to_owned),
                body: s(b, "body").ok().flatten().map(str::to_owned),
                draft,
                prerelease,
                author: self.login.to_owned(),
                created_at: t,
            };
            d.releases.push(r.clone());
            r
        })?;
        let v = self.release_json(&r);
        if !draft {
            // The webhook's release has neither `immutable` nor `updated_at`, and a string body.
            let mut release = v.clone();
            if let Some(o) = release.as_object_mut() {
                o.remove("immutable");
                o.remove("updated_at");
                if o.get("body").is_some_and(Value::is_null) {
                    o.insert("body".into(), json!(""));
                }
            }
            self.app.emit(vec![Trigger {
                repo: self.full.clone(),
                event: "release".into(),
                kind: EventKind::Release {
                    action: "published".into(),
                },
                payload: self.hook_payload(json!({
                    "action": "published",
                    "release": release,
                    "repository": self.hook_repo(),
                    "sender": self.sender(),
                })),
                actor: self.login.to_owned(),
                sha,
                git_ref: full_tag,
                inputs: None,
                workflow: None,
            }]);
        }
        Ok(Resp::json(201, v).header("location", self.url(&format!("releases/{}", r.id))))
    }

    /// `GET /repos/{o}/{r}/releases`, newest first.
    pub(super) fn list_releases(&self) -> Resp {
        let mut rs = self.read(|d| d.releases.clone());
        rs.reverse();
        Resp::json(
            200,
            Value::Array(rs.iter().map(|r| self.release_json(r)).collect()),
        )
    }
}
