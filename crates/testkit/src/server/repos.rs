//! Repositories, their settings and contents: `POST /orgs/{org}/repos`, `POST /user/repos`,
//! `GET` and `PATCH /repos/{o}/{r}` (the default branch, the allowed merge methods),
//! `GET /repos/{o}/{r}/contents/{path}` and `PUT` of a file.
//!
//! Settings the metadata file does not hold (the merge methods, the collaborators) live next
//! to the repository's git data, in `fake-github-settings.json` of its bare directory.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::ctx::{Ctx, repo_dir, repo_key, valid_path};
use super::wire::{
    ApiError, R, Resp, bad_field, decode_b64, encode_b64, err, flag, invalid, missing, not_found, s,
};
use super::{App, lock};
use crate::Error;
use crate::git::{Repo, TreeOp, ZERO_OID};
use crate::json::{self as j, now};
use crate::state::{RepoData, RepoMeta};

/// The settings file in a repository's bare directory.
const SETTINGS_FILE: &str = "fake-github-settings.json";

/// A repository's settings beyond its metadata: which merge methods `PUT .../merge` accepts
/// (GitHub's `allow_*` flags, all on by default) and its collaborators (lower-case login to
/// the role given: `pull`, `triage`, `push`, `maintain` or `admin`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Settings {
    #[serde(default = "yes")]
    pub(super) allow_merge_commit: bool,
    #[serde(default = "yes")]
    pub(super) allow_squash_merge: bool,
    #[serde(default = "yes")]
    pub(super) allow_rebase_merge: bool,
    #[serde(default)]
    pub(super) collaborators: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_merge_commit: true,
            allow_squash_merge: true,
            allow_rebase_merge: true,
            collaborators: BTreeMap::new(),
        }
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `POST /user/repos` (`is_org` false) and `POST /orgs/{org}/repos`.
pub(super) fn create_repo(app: &App, owner: &str, is_org: bool, b: &Value) -> R {
    let Some(name) = s(b, "name")? else {
        return Err(missing("Repository", "name"));
    };
    if !valid_name(name) || !valid_name(owner) || owner.starts_with('_') {
        return Err(bad_field("Repository", "name"));
    }
    let private = flag(b, "private")?.unwrap_or(false);
    let description = s(b, "description")?.map(str::to_owned);
    let auto_init = flag(b, "auto_init")?.unwrap_or(false);
    let key = repo_key(owner, name);
    let mut st = lock(&app.state);
    if st.repos.get(&key).is_some_and(|d| d.meta.is_some()) {
        return Err(invalid(
            "Repository creation failed.",
            json!([{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]),
        ));
    }
    let t = now();
    let meta = RepoMeta {
        id: st.id(),
        owner: owner.to_owned(),
        name: name.to_owned(),
        owner_is_org: is_org,
        private,
        description,
        default_branch: "main".into(),
        created_at: t,
        updated_at: t,
    };
    let dir = repo_dir(&app.data, owner, name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::Io(e.to_string()))?;
    }
    let repo = Repo::init(&dir, &meta.default_branch)?;
    if auto_init {
        let readme = match &meta.description {
            Some(d) => format!("# {name}\n{d}\n"),
            None => format!("# {name}\n"),
        };
        let blob = repo.hash_object(readme.as_bytes())?;
        let tree = repo.build_tree(
            None,
            &[TreeOp::Put {
                path: "README.md".into(),
                mode: "100644".into(),
                sha: blob,
            }],
        )?;
        let commit = repo.commit_tree(&tree, &[], "Initial commit", None, None)?;
        if !repo.update_ref("refs/heads/main", &commit, ZERO_OID)? {
            return Err(Error::Git(format!("{key}: main exists in a new repository")).into());
        }
    }
    let json = j::repo(app.base(), &meta, 0, t);
    st.repos.insert(
        key,
        RepoData {
            meta: Some(meta),
            next_number: 1,
            ..RepoData::default()
        },
    );
    st.save(&app.data)?;
    Ok(Resp::json(201, json))
}

impl Ctx<'_> {
    /// This repository's settings (the defaults when none were changed).
    pub(super) fn settings(&self) -> Result<Settings, ApiError> {
        match std::fs::read(self.git.dir().join(SETTINGS_FILE)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .map_err(|e| Error::Io(format!("{SETTINGS_FILE}: {e}")))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(Error::Io(format!("{SETTINGS_FILE}: {e}")).into()),
        }
    }

    /// Replaces this repository's settings (the caller holds the repository's lock: only
    /// mutating requests write them). Written whole, then renamed, so a reader never sees
    /// half a file.
    pub(super) fn save_settings(&self, settings: &Settings) -> Result<(), ApiError> {
        let path = self.git.dir().join(SETTINGS_FILE);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| Error::Io(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| Error::Io(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::Io(e.to_string()))?;
        Ok(())
    }

    /// `full-repository` with this repository's settings.
    fn full_repo_json(&self) -> Result<Value, ApiError> {
        let settings = self.settings()?;
        let mut v = self.repo_json();
        v["allow_merge_commit"] = json!(settings.allow_merge_commit);
        v["allow_squash_merge"] = json!(settings.allow_squash_merge);
        v["allow_rebase_merge"] = json!(settings.allow_rebase_merge);
        Ok(v)
    }

    /// `GET /repos/{o}/{r}`.
    pub(super) fn get_repo(&self) -> R {
        Ok(Resp::json(200, self.full_repo_json()?))
    }

    /// `PATCH /repos/{o}/{r}`: `default_branch` (an existing branch; the bare repository's
    /// `HEAD` follows), `allow_merge_commit`, `allow_squash_merge`, `allow_rebase_merge` and
    /// `description`, by an admin (403 otherwise). Other fields are accepted and left as they
    /// are.
    pub(super) fn update_repo(&self, b: &Value) -> R {
        self.require_admin()?;
        let default_branch = s(b, "default_branch")?;
        let description = b
            .get("description")
            .map(|_| s(b, "description"))
            .transpose()?;
        let flags = [
            flag(b, "allow_merge_commit")?,
            flag(b, "allow_squash_merge")?,
            flag(b, "allow_rebase_merge")?,
        ];
        if let Some(branch) = default_branch
            && self
                .git
                .ref_target(&format!("refs/heads/{branch}"))?
                .is_none()
        {
            return Err(bad_field("Repository", "default_branch"));
        }
        if flags.iter().any(Option::is_some) {
            let mut settings = self.settings()?;
            let [merge, squash, rebase] = flags;
            settings.allow_merge_commit = merge.unwrap_or(settings.allow_merge_commit);
            settings.allow_squash_merge = squash.unwrap_or(settings.allow_squash_merge);
            settings.allow_rebase_merge = rebase.unwrap_or(settings.allow_rebase_merge);
            if !(settings.allow_merge_commit
                || settings.allow_squash_merge
                || settings.allow_rebase_merge)
            {
                return Err(invalid(
                    "Validation Failed",
                    json!([{"resource": "Repository", "code": "custom", "message": "At least one merge method must be allowed."}]),
                ));
            }
            self.save_settings(&settings)?;
        }
        if let Some(branch) = default_branch {
            self.git
                .ok(&["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")])?;
        }
        if default_branch.is_some() || description.is_some() {
            let t = now();
            self.write(|d, _| {
                if let Some(meta) = d.meta.as_mut() {
                    if let Some(branch) = default_branch {
                        branch.clone_into(&mut meta.default_branch);
                    }
                    if let Some(description) = description {
                        meta.description = description.map(str::to_owned);
                    }
                    meta.updated_at = t;
                }
            })?;
        }
        // The repository as it is now.
        Ctx::open(self.app, self.login, &self.meta.owner, &self.meta.name)?.get_repo()
    }

    pub(super) fn get_contents(&self, path: &str, q: &HashMap<String, String>) -> R {
        let git_ref = q
            .get("ref")
            .cloned()
            .unwrap_or_else(|| self.meta.default_branch.clone());
        let Some(commit) = self.commit_of(&git_ref)? else {
            if self.git.refs()?.is_empty() {
                return Err(err(404, "This repository is empty."));
            }
            return Err(err(404, format!("No commit found for the ref {git_ref}")));
        };
        let path = path.trim_matches('/');
        if !path.is_empty() && !valid_path(path) {
            return Err(not_found());
        }
        let Some(sha) = self.git.resolve_path(&commit, path)? else {
            return Err(not_found());
        };
        match self.git.object_type(&sha)?.as_deref() {
            Some("blob") => {
                let content = self.git.blob(&sha)?;
                let mut v = j::content_entry(
                    self.base(),
                    &self.full,
                    path,
                    &sha,
                    "file",
                    content.len() as u64,
                    &git_ref,
                );
                if let Some(o) = v.as_object_mut() {
                    o.insert("content".into(), json!(encode_b64(&content)));
                    o.insert("encoding".into(), json!("base64"));
                }
                Ok(Resp::json(200, v))
            }
            Some("tree") => {
                let items = self
                    .git
                    .ls_tree(&sha, false)?
                    .into_iter()
                    .map(|e| {
                        let kind = match e.kind.as_str() {
                            "tree" => "dir",
                            "commit" => "submodule",
                            _ if e.mode == "120000" => "symlink",
                            _ => "file",
                        };
                        let p = if path.is_empty() {
                            e.path.clone()
                        } else {
                            format!("{path}/{}", e.path)
                        };
                        j::content_entry(
                            self.base(),
                            &self.full,
                            &p,
                            &e.sha,
                            kind,
                            e.size.unwrap_or(0),
                            &git_ref,
                        )
                    })
                    .collect();
                Ok(Resp::json(200, Value::Array(items)))
            }
            _ => Err(not_found()),
        }
    }

    pub(super) fn put_contents(&self, path: &str, b: &Value) -> R {
        if !valid_path(path) {
            return Err(bad_field("Content", "path"));
        }
        let Some(message) = s(b, "message")? else {
            return Err(missing("Content", "message"));
        };
        let Some(content) = s(b, "content")? else {
            return Err(missing("Content", "content"));
        };
        let Some(bytes) = decode_b64(content) else {
            return Err(invalid(
                "content is not valid Base64",
                json!([{"resource": "Content", "code": "invalid", "field": "content"}]),
            ));
        };
        let people = self.people(b)?;
        let branch = s(b, "branch")?
            .unwrap_or(&self.meta.default_branch)
            .to_owned();
        let full_ref = format!("refs/heads/{branch}");
        let head = self.git.ref_target(&full_ref)?;
        if head.is_none() && !self.git.refs()?.is_empty() {
            return Err(err(404, format!("Branch {branch} not found")));
        }
        let head_tree = match &head {
            Some(h) => Some(self.commit_info(h)?.tree),
            None => None,
        };
        let existing = match &head {
            Some(h) => self.git.resolve_path(h, path)?,
            None => None,
        };
        if let Some(existing) = &existing {
            match s(b, "sha")? {
                None => {
                    return Err(invalid(
                        "Invalid request.\n\n\"sha\" wasn't supplied.",
                        json!([]),
                    ));
                }
                Some(given) if given != existing => {
                    return Err(err(409, format!("{path} does not match {given}")));
                }
                Some(_) => {}
            }
        }
        let blob = self.git.hash_object(&bytes)?;
        let tree = self.git.build_tree(
            head_tree.as_deref(),
            &[TreeOp::Put {
                path: path.to_owned(),
                mode: "100644".into(),
                sha: blob.clone(),
            }],
        )?;
        let parents: Vec<String> = head.iter().cloned().collect();
        let commit = self.commit_as(&people, &tree, &parents, message)?;
        if !self
            .git
            .update_ref(&full_ref, &commit, head.as_deref().unwrap_or(ZERO_OID))?
        {
            return Err(err(409, format!("{path} does not match")));
        }
        let info = self.commit_info(&commit)?;
        let mut content = j::content_entry(
            self.base(),
            &self.full,
            path,
            &blob,
            "file",
            bytes.len() as u64,
            &branch,
        );
        if let Some(o) = content.as_object_mut() {
            o.remove("content");
        }
        let status = if existing.is_some() { 200 } else { 201 };
        Ok(Resp::json(
            status,
            json!({"content": content, "commit": j::git_commit(self.base(), &self.full, &commit, &info)}),
        ))
    }
}
