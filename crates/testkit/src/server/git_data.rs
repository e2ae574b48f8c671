//! Git data: refs, blobs, trees and commits (`/repos/{o}/{r}/git/...`), and the tarball with its
//! codeload redirect target.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::{Ctx, valid_path};
use super::pagination::page;
use super::wire::{
    ApiError, R, Resp, RespBody, bad_field, decode_b64, encode_b64, flag, invalid, list, missing,
    not_found, s,
};
use crate::git::{TreeOp, ZERO_OID};
use crate::json as j;

impl Ctx<'_> {
    fn ref_json(&self, full: &str, sha: &str, kind: &str) -> Value {
        j::git_ref(self.base(), &self.full, full, sha, kind)
    }

    pub(super) fn list_refs(&self, prefix: &str, q: &HashMap<String, String>) -> R {
        let want = format!("refs/{prefix}");
        let items = self
            .git
            .refs()?
            .into_iter()
            .filter(|(n, _, _)| prefix.is_empty() || n.starts_with(&want))
            .map(|(n, sha, kind)| self.ref_json(&n, &sha, &kind))
            .collect();
        Ok(page(items, q, &self.url("git/refs")))
    }

    pub(super) fn is_ref(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.git.ref_target(&format!("refs/{name}"))?.is_some())
    }

    pub(super) fn get_ref(&self, name: &str) -> R {
        let full = format!("refs/{name}");
        let found = self.git.refs()?.into_iter().find(|(n, _, _)| *n == full);
        match found {
            Some((n, sha, kind)) => Ok(Resp::json(200, self.ref_json(&n, &sha, &kind))),
            None => Err(not_found()),
        }
    }

    fn check_ref_name(&self, full: &str) -> Result<(), ApiError> {
        let ok = full.starts_with("refs/")
            && full.matches('/').count() >= 2
            && self
                .git
                .run(&["check-ref-format", full], None, &[])?
                .status
                .success();
        if ok {
            Ok(())
        } else {
            Err(invalid("Reference name is invalid", json!([])))
        }
    }

    pub(super) fn create_ref(&self, b: &Value) -> R {
        let Some(full) = s(b, "ref")? else {
            return Err(missing("Reference", "ref"));
        };
        let Some(sha) = s(b, "sha")? else {
            return Err(missing("Reference", "sha"));
        };
        self.check_ref_name(full)?;
        let Some(kind) = self.git.object_type(sha)? else {
            return Err(invalid("Object does not exist", json!([])));
        };
        if full.starts_with("refs/heads/") && kind != "commit" {
            return Err(invalid("Object is not a commit", json!([])));
        }
        if !self.git.update_ref(full, sha, ZERO_OID)? {
            return Err(invalid("Reference already exists", json!([])));
        }
        let v = self.ref_json(full, sha, &kind);
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/{full}"))))
    }

    pub(super) fn update_ref(&self, name: &str, b: &Value) -> R {
        let full = format!("refs/{name}");
        let Some(sha) = s(b, "sha")? else {
            return Err(missing("Reference", "sha"));
        };
        let force = flag(b, "force")?.unwrap_or(false);
        let Some(current) = self.git.ref_target(&full)? else {
            return Err(invalid("Reference does not exist", json!([])));
        };
        let Some(kind) = self.git.object_type(sha)? else {
            return Err(invalid("Object does not exist", json!([])));
        };
        if full.starts_with("refs/heads/") && kind != "commit" {
            return Err(invalid("Object is not a commit", json!([])));
        }
        let fast_forward = kind == "commit" && self.git.is_ancestor(&current, sha)?;
        if !force && !fast_forward {
            return Err(invalid("Update is not a fast forward", json!([])));
        }
        if !self.git.update_ref(&full, sha, &current)? {
            return Err(invalid("Reference cannot be updated", json!([])));
        }
        Ok(Resp::json(200, self.ref_json(&full, sha, &kind)))
    }

    pub(super) fn delete_ref(&self, name: &str) -> R {
        let full = format!("refs/{name}");
        let Some(current) = self.git.ref_target(&full)? else {
            return Err(invalid("Reference does not exist", json!([])));
        };
        if !self.git.delete_ref(&full, &current)? {
            return Err(invalid("Reference cannot be deleted", json!([])));
        }
        // As on GitHub, deleting the head branch of an open pull request closes it; it keeps
        // the head it had.
        if let Some(branch) = full.strip_prefix("refs/heads/") {
            let t = crate::json::now();
            self.write(|d, _| {
                for p in d
                    .pulls
                    .iter_mut()
                    .filter(|p| p.state == "open" && p.head_ref == branch)
                {
                    p.state = "closed".into();
                    p.closed_at = Some(t);
                    p.closed_head_sha = Some(current.clone());
                }
            })?;
        }
        Ok(Resp::empty(204))
    }

    // ------------------------------------------------------------ blobs, trees, commits

    pub(super) fn create_blob(&self, b: &Value) -> R {
        let Some(content) = s(b, "content")? else {
            return Err(missing("Blob", "content"));
        };
        let bytes = match s(b, "encoding")?.unwrap_or("utf-8") {
            "utf-8" | "utf8" => content.as_bytes().to_vec(),
            "base64" => decode_b64(content).ok_or_else(|| bad_field("Blob", "content"))?,
            _ => return Err(bad_field("Blob", "encoding")),
        };
        let sha = self.git.hash_object(&bytes)?;
        let url = self.url(&format!("git/blobs/{sha}"));
        Ok(Resp::json(201, json!({"sha": sha, "url": url})).header("location", url))
    }

    pub(super) fn get_blob(&self, sha: &str) -> R {
        if self.git.object_type(sha)?.as_deref() != Some("blob") {
            return Err(not_found());
        }
        let content = self.git.blob(sha)?;
        Ok(Resp::json(
            200,
            json!({
                "sha": sha,
                "node_id": format!("B_{}", &sha[..12]),
                "size": content.len(),
                "url": self.url(&format!("git/blobs/{sha}")),
                "content": encode_b64(&content),
                "encoding": "base64",
            }),
        ))
    }

    fn tree_json(&self, sha: &str, recursive: bool) -> Result<Value, ApiError> {
        let entries: Vec<Value> = self
            .git
            .ls_tree(sha, recursive)?
            .into_iter()
            .map(|e| {
                let kind_url = if e.kind == "tree" { "trees" } else { "blobs" };
                let mut v = json!({
                    "path": e.path,
                    "mode": e.mode,
                    "type": e.kind,
                    "sha": e.sha,
                    "url": self.url(&format!("git/{kind_url}/{}", e.sha)),
                });
                if let (Some(size), Some(o)) = (e.size, v.as_object_mut()) {
                    o.insert("size".into(), json!(size));
                }
                v
            })
            .collect();
        Ok(
            json!({"sha": sha, "url": self.url(&format!("git/trees/{sha}")), "tree": entries, "truncated": false}),
        )
    }

    pub(super) fn create_tree(&self, b: &Value) -> R {
        let Some(entries) = list(b, "tree")? else {
            return Err(missing("Tree", "tree"));
        };
        let base = match s(b, "base_tree")? {
            Some(t) if self.git.object_type(t)?.as_deref() == Some("tree") => Some(t.to_owned()),
            Some(_) => return Err(invalid("base_tree is not a valid tree", json!([]))),
            None => None,
        };
        let mut ops = Vec::new();
        for e in entries {
            let Some(path) = s(e, "path")? else {
                return Err(missing("Tree", "path"));
            };
            if !valid_path(path) {
                return Err(invalid(
                    format!("tree.path contains a malformed path component: {path:?}"),
                    json!([]),
                ));
            }
            let Some(mode) = s(e, "mode")? else {
                return Err(missing("Tree", "mode"));
            };
            if !["100644", "100755", "040000", "160000", "120000"].contains(&mode) {
                return Err(invalid(
                    format!("tree.mode {mode:?} is not valid"),
                    json!([]),
                ));
            }
            let kind = s(e, "type")?.unwrap_or(if mode == "040000" {
                "tree"
            } else if mode == "160000" {
                "commit"
            } else {
                "blob"
            });
            let expected = match mode {
                "040000" => "tree",
                "160000" => "commit",
                _ => "blob",
            };
            if kind != expected {
                return Err(invalid(
                    format!("tree.type {kind:?} does not match mode {mode}"),
                    json!([]),
                ));
            }
            match (e.get("sha"), e.get("content")) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "Must supply either tree.sha or tree.content, not both",
                        json!([]),
                    ));
                }
                (Some(Value::Null), None) => ops.push(TreeOp::Delete {
                    path: path.to_owned(),
                }),
                (Some(Value::String(sha)), None) => {
                    if kind != "commit" && self.git.object_type(sha)?.as_deref() != Some(kind) {
                        return Err(invalid(
                            format!("tree.sha {sha} is not a valid {kind}"),
                            json!([]),
                        ));
                    }
                    ops.push(TreeOp::Put {
                        path: path.to_owned(),
                        mode: mode.to_owned(),
                        sha: sha.clone(),
                    });
                }
                (None, Some(Value::String(content))) if kind == "blob" => {
                    let sha = self.git.hash_object(content.as_bytes())?;
                    ops.push(TreeOp::Put {
                        path: path.to_owned(),
                        mode: mode.to_owned(),
                        sha,
                    });
                }
                _ => {
                    return Err(invalid(
                        "Must supply a valid tree.sha or tree.content",
                        json!([]),
                    ));
                }
            }
        }
        let sha = self.git.build_tree(base.as_deref(), &ops)?;
        let v = self.tree_json(&sha, false)?;
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/trees/{sha}"))))
    }

    pub(super) fn get_tree(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let tree = match self.git.object_type(rev)?.as_deref() {
            Some("tree") => rev.to_owned(),
            _ => match self.commit_of(rev)? {
                Some(c) => self.commit_info(&c)?.tree,
                None => return Err(not_found()),
            },
        };
        let recursive = q
            .get("recursive")
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        Ok(Resp::json(200, self.tree_json(&tree, recursive)?))
    }

    pub(super) fn create_commit(&self, b: &Value) -> R {
        let Some(message) = s(b, "message")? else {
            return Err(missing("Commit", "message"));
        };
        let Some(tree) = s(b, "tree")? else {
            return Err(missing("Commit", "tree"));
        };
        if self.git.object_type(tree)?.as_deref() != Some("tree") {
            return Err(invalid("Tree SHA does not exist", json!([])));
        }
        let people = self.people(b)?;
        let mut parents = Vec::new();
        // No `parents`: a root commit.
        for p in list(b, "parents")?.into_iter().flatten() {
            let p = p.as_str().ok_or_else(|| bad_field("Commit", "parents"))?;
            if self.git.object_type(p)?.as_deref() != Some("commit") {
                return Err(invalid(
                    "Parent SHA does not exist or is not a commit object",
                    json!([]),
                ));
            }
            parents.push(p.to_owned());
        }
        let sha = self.commit_as(&people, tree, &parents, message)?;
        let info = self.commit_info(&sha)?;
        let v = j::git_commit(self.base(), &self.full, &sha, &info);
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/commits/{sha}"))))
    }

    pub(super) fn get_commit(&self, sha: &str) -> R {
        let info = self.git.commit(sha)?.ok_or_else(not_found)?;
        Ok(Resp::json(
            200,
            j::git_commit(self.base(), &self.full, sha, &info),
        ))
    }

    pub(super) fn tarball(&self, rev: &str) -> R {
        let rev = if rev.is_empty() {
            self.meta.default_branch.clone()
        } else {
            rev.to_owned()
        };
        let commit = self.commit_of(&rev)?.ok_or_else(not_found)?;
        let location = format!(
            "{}/_codeload/{}/legacy.tar.gz/{commit}",
            self.base(),
            self.full
        );
        Ok(Resp::empty(302).header("location", location))
    }

    pub(super) fn codeload(&self, sha: &str) -> R {
        let commit = self.commit_of(sha)?.ok_or_else(not_found)?;
        let prefix = format!("{}-{}-{}", self.meta.owner, self.meta.name, &commit[..7]);
        let bytes = self.git.archive(&commit, &prefix)?;
        Ok(Resp {
            status: 200,
            body: RespBody::Bytes(bytes, "application/x-gzip"),
            headers: Vec::new(),
        }
        .header(
            "content-disposition",
            format!("attachment; filename={prefix}.tar.gz"),
        ))
    }
}
