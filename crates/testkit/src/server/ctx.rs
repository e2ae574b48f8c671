//! A request's view of one repository, and the naming rules of repositories and paths.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::wire::{ApiError, Person, not_found, who};
use super::{App, lock};
use crate::Error;
use crate::git::{CommitInfo, Repo};
use crate::json as j;
use crate::state::{RepoData, RepoMeta};

/// The state key of a repository: owner and name compare without case, as on GitHub.
pub(super) fn repo_key(owner: &str, name: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

/// Where a repository's bare git directory lives under the data directory.
pub(super) fn repo_dir(data: &Path, owner: &str, name: &str) -> PathBuf {
    data.join(owner.to_ascii_lowercase())
        .join(format!("{}.git", name.to_ascii_lowercase()))
}

/// GitHub's path rules for tree entries and contents.
pub(super) fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\0')
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git"))
}

/// Who a commit is by.
pub(super) struct People {
    pub(super) author: Person,
    /// The author when `None`.
    pub(super) committer: Option<Person>,
}

/// A request's view of one repository.
pub(super) struct Ctx<'a> {
    pub(super) app: &'a App,
    /// Who is asking.
    pub(super) login: &'a str,
    key: String,
    pub(super) meta: RepoMeta,
    pub(super) git: Repo,
    /// `owner/name` as created.
    pub(super) full: String,
}

impl<'a> Ctx<'a> {
    pub(super) fn open(
        app: &'a App,
        login: &'a str,
        owner: &str,
        name: &str,
    ) -> Result<Self, ApiError> {
        let key = repo_key(owner, name);
        let meta = lock(&app.state)
            .repos
            .get(&key)
            .and_then(|d| d.meta.clone())
            .ok_or_else(not_found)?;
        let git = Repo::open(repo_dir(&app.data, &meta.owner, &meta.name));
        let full = format!("{}/{}", meta.owner, meta.name);
        Ok(Self {
            app,
            login,
            key,
            meta,
            git,
            full,
        })
    }

    pub(super) fn base(&self) -> &str {
        self.app.base()
    }

    /// The API URL of `rest` under this repository.
    pub(super) fn url(&self, rest: &str) -> String {
        format!("{}/repos/{}/{rest}", self.base(), self.full)
    }

    /// Reads this repository's metadata.
    pub(super) fn read<T>(&self, f: impl FnOnce(&RepoData) -> T) -> T {
        let st = lock(&self.app.state);
        let empty = RepoData::default();
        f(st.repos.get(&self.key).unwrap_or(&empty))
    }

    /// Changes this repository's metadata and persists it.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut RepoData, &mut dyn FnMut() -> u64) -> T,
    ) -> Result<T, ApiError> {
        let mut st = lock(&self.app.state);
        let mut next = st.next_id;
        let out = {
            let data = st.repos.entry(self.key.clone()).or_default();
            let mut id = || {
                next += 1;
                next
            };
            f(data, &mut id)
        };
        st.next_id = next;
        st.save(&self.app.data)?;
        Ok(out)
    }

    pub(super) fn repo_json(&self) -> Value {
        let open = self.read(|d| d.pulls.iter().filter(|p| p.state == "open").count() as u64);
        j::repo(self.base(), &self.meta, open, self.meta.updated_at)
    }

    /// The caller as a git identity (GitHub's noreply address).
    pub(super) fn caller(&self) -> Person {
        (
            self.login.to_owned(),
            format!("{}@users.noreply.github.com", self.login),
            None,
        )
    }

    /// Who a commit written from request body `b` is by: its `author` (the caller when
    /// absent) and `committer` (the author when absent).
    pub(super) fn people(&self, b: &Value) -> Result<People, ApiError> {
        Ok(People {
            author: who(b, "author")?.unwrap_or_else(|| self.caller()),
            committer: who(b, "committer")?,
        })
    }

    /// Writes a commit object by `people`; returns its sha.
    pub(super) fn commit_as(
        &self,
        people: &People,
        tree: &str,
        parents: &[String],
        message: &str,
    ) -> Result<String, ApiError> {
        fn git(p: &Person) -> (&str, &str, Option<&str>) {
            (p.0.as_str(), p.1.as_str(), p.2.as_deref())
        }
        Ok(self.git.commit_tree(
            tree,
            parents,
            message,
            Some(git(&people.author)),
            people.committer.as_ref().map(git),
        )?)
    }

    /// A commit that must exist (one just written, or a branch head): its absence is the
    /// fake's own failure (500), not an empty value.
    pub(super) fn commit_info(&self, sha: &str) -> Result<CommitInfo, ApiError> {
        Ok(self
            .git
            .commit(sha)?
            .ok_or_else(|| Error::Git(format!("commit {sha} is missing")))?)
    }

    /// The commit a ref, sha or abbreviation names.
    pub(super) fn commit_of(&self, rev: &str) -> Result<Option<String>, ApiError> {
        Ok(self.git.resolve_commit(rev)?)
    }
}
