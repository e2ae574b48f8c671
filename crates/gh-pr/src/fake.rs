//! Strict in-memory forge: a tiny content-addressed commit graph, branches, PRs, statuses,
//! comments, reviews, deployments. Refuses what GitHub refuses (unknown refs and commits,
//! stale heads, merges with content conflicts, malformed input).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, EventType, Login, RepositoryName, RequestId,
};
use sha2::{Digest, Sha256};

use crate::{
    BranchHead, Change, CheckContext, CombinedChecks, Comment, Deployment, DeploymentState,
    DeploymentStatus, Error, Forge, PairState, PrState, PullRequest, Requester, Result, Review,
    ReviewState, StatusState, Tree, WorkflowRun, has_marker, not_the_base, sticky_body,
    validate_branch, validate_client_payload, validate_context, validate_description,
    validate_marker, validate_path,
};

#[derive(Debug, Clone)]
struct FakeCommit {
    parents: Vec<String>,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone)]
struct PrRecord {
    number: u64,
    branch: String,
    base: String,
    title: String,
    body: String,
    state: PrState,
    closed_head: Option<String>,
    merge_sha: Option<CommitSha>,
}

#[derive(Debug, Default)]
struct State {
    commits: HashMap<String, FakeCommit>,
    refs: BTreeMap<String, String>,
    prs: BTreeMap<u64, PrRecord>,
    next_number: u64,
    next_id: u64,
    statuses: HashMap<String, Vec<CheckContext>>,
    comments: BTreeMap<u64, Vec<Comment>>,
    /// (pr, login, commit, approved)
    reviews: Vec<(u64, Login, String, bool)>,
    /// Logins with write access ([`FakeForge::grant_write`]); nobody else has any.
    writers: BTreeSet<Login>,
    deployments: Vec<(RepositoryName, Deployment)>,
    deployment_statuses: HashMap<u64, Vec<DeploymentStatus>>,
    dispatches: Vec<(RepositoryName, EventType, serde_json::Value)>,
    runs: Vec<(RepositoryName, WorkflowRun)>,
    calls: u64,
    /// Who creates deployments from now on; `None`: [`crate::WORKFLOW_LOGIN`].
    creator: Option<String>,
}

/// Strict in-memory [`Forge`] and [`Requester`].
#[derive(Debug)]
pub struct FakeForge {
    base: String,
    state: Mutex<State>,
}

impl Default for FakeForge {
    fn default() -> Self {
        Self::new()
    }
}

/// A commit id of the fake's graph as the traits carry it.
fn oid(sha: &str) -> Result<CommitSha> {
    CommitSha::parse(sha).map_err(|e| Error::malformed("the fake's commit graph", e.message))
}

fn commit_sha(c: &FakeCommit) -> String {
    let mut h = Sha256::new();
    for p in &c.parents {
        h.update(b"parent ");
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    for (path, content) in &c.files {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(content);
    }
    hex::encode(h.finalize())[..40].to_owned()
}

impl FakeForge {
    /// A forge whose base branch `main` holds one commit with a `README.md`.
    pub fn new() -> Self {
        Self::with_files(BTreeMap::from([(
            "README.md".to_owned(),
            b"# gitops\n".to_vec(),
        )]))
    }

    /// A forge whose base branch `main` holds one commit with `files`.
    pub fn with_files(files: BTreeMap<String, Vec<u8>>) -> Self {
        let mut state = State {
            next_number: 1,
            next_id: 1000,
            ..State::default()
        };
        let root = FakeCommit {
            parents: vec![],
            files,
        };
        let sha = commit_sha(&root);
        state.commits.insert(sha.clone(), root);
        state.refs.insert("main".to_owned(), sha);
        FakeForge {
            base: "main".to_owned(),
            state: Mutex::new(state),
        }
    }

    /// Deployments created from now on record `login` as their creator (default
    /// [`crate::WORKFLOW_LOGIN`], a workflow of the repository): a person's token, or another
    /// repository's, for tests of the proof of origin.
    pub fn set_deployment_creator(&self, login: &str) {
        self.lock().creator = Some(login.to_owned());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.calls += 1;
        g
    }

    /// How many trait calls this fake answered.
    pub fn calls(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls
    }

    /// Record a review of the PR's current head: an approval, or a change request that
    /// cancels the login's earlier approval.
    pub fn record_review(&self, number: u64, login: &Login, approved: bool) -> Result<()> {
        let mut s = self.lock();
        let head = s.head_of(number)?;
        s.reviews.push((number, login.clone(), head, approved));
        Ok(())
    }

    /// Record an approving review of the PR's current head.
    pub fn record_approval(&self, number: u64, login: &Login) -> Result<()> {
        self.record_review(number, login, true)
    }

    /// Give `login` write access ([`Forge::has_write_access`]): strict, nobody has it unless
    /// granted.
    pub fn grant_write(&self, login: &Login) {
        self.lock().writers.insert(login.clone());
    }

    /// Commit `files` (None deletes) directly on the base branch, as another pusher would.
    pub fn push_to_base(&self, writes: &[crate::FileWrite]) -> Result<CommitSha> {
        let mut s = self.lock();
        let base = self.base.clone();
        let head = s
            .refs
            .get(&base)
            .cloned()
            .ok_or_else(|| Error::not_found(base.clone()))?;
        let sha = s.commit_on(&head, writes)?;
        s.refs.insert(base, sha.clone());
        oid(&sha)
    }

    /// Add a workflow run that [`Requester::find_workflow_run`] can find.
    pub fn add_workflow_run(&self, repo: &RepositoryName, run: WorkflowRun) {
        self.lock().runs.push((repo.clone(), run));
    }

    /// Every dispatch received: (repo, event type, client payload).
    pub fn dispatches(&self) -> Vec<(RepositoryName, EventType, serde_json::Value)> {
        self.lock().dispatches.clone()
    }
}

impl State {
    fn resolve(&self, git_ref: &str) -> Result<String> {
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        if let Some(sha) = self.refs.get(name) {
            return Ok(sha.clone());
        }
        if self.commits.contains_key(git_ref) {
            return Ok(git_ref.to_owned());
        }
        Err(Error::not_found(format!("ref {git_ref}")))
    }

    fn commit_on(&mut self, parent: &str, writes: &[crate::FileWrite]) -> Result<String> {
        let base = self
            .commits
            .get(parent)
            .ok_or_else(|| Error::not_found(format!("commit {parent}")))?;
        let mut files = base.files.clone();
        for w in writes {
            crate::validate_path(&w.path)?;
            match &w.content {
                Some(c) => {
                    files.insert(w.path.clone(), c.clone());
                }
                None => {
                    files.remove(&w.path);
                }
            }
        }
        let c = FakeCommit {
            parents: vec![parent.to_owned()],
            files,
        };
        let sha = commit_sha(&c);
        self.commits.insert(sha.clone(), c);
        Ok(sha)
    }

    fn ancestors(&self, sha: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([sha.to_owned()]);
        while let Some(s) = queue.pop_front() {
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// Nearest common ancestor (BFS from `b` over `a`'s ancestors).
    fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_a = self.ancestors(a);
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([b.to_owned()]);
        while let Some(s) = queue.pop_front() {
            if of_a.contains(&s) {
                return Some(s);
            }
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        None
    }

    fn pr(&self, number: u64) -> Result<&PrRecord> {
        self.prs
            .get(&number)
            .ok_or_else(|| Error::not_found(format!("pull request #{number}")))
    }

    fn head_of(&self, number: u64) -> Result<String> {
        let pr = self.pr(number)?;
        if let Some(h) = &pr.closed_head {
            return Ok(h.clone());
        }
        self.refs
            .get(&pr.branch)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("branch {}", pr.branch)))
    }

    fn view(&self, number: u64) -> Result<PullRequest> {
        let pr = self.pr(number)?;
        let head_sha = self.head_of(number)?;
        let mergeable = match self.refs.get(&pr.base) {
            Some(base) if pr.state == PrState::Open => {
                Some(self.three_way(base, &head_sha).is_ok())
            }
            _ => None,
        };
        Ok(PullRequest {
            number: pr.number,
            branch: pr.branch.clone(),
            base: pr.base.clone(),
            head_sha: oid(&head_sha)?,
            state: pr.state,
            mergeable,
            url: format!("fake://pulls/{}", pr.number),
            title: pr.title.clone(),
            body: pr.body.clone(),
            merge_sha: pr.merge_sha.clone(),
        })
    }

    /// File-level three-way merge of `theirs` into `ours`.
    fn three_way(&self, ours: &str, theirs: &str) -> Result<BTreeMap<String, Vec<u8>>> {
        let base = self
            .merge_base(ours, theirs)
            .ok_or_else(|| Error::NotMergeable {
                reason: "no common history".into(),
            })?;
        let get = |s: &str| self.commits.get(s).map(|c| &c.files);
        let (Some(b), Some(o), Some(t)) = (get(&base), get(ours), get(theirs)) else {
            return Err(Error::not_found("commit"));
        };
        let paths: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
        let mut out = BTreeMap::new();
        for p in paths {
            let (bv, ov, tv) = (b.get(p), o.get(p), t.get(p));
            let merged = if ov == tv || tv == bv {
                ov
            } else if ov == bv {
                tv
            } else {
                return Err(Error::NotMergeable {
                    reason: format!("content conflict in {p}"),
                });
            };
            if let Some(v) = merged {
                out.insert(p.clone(), v.clone());
            }
        }
        Ok(out)
    }

    fn deployment(&self, repo: &RepositoryName, id: u64) -> Result<&Deployment> {
        self.deployments
            .iter()
            .find(|(r, d)| r == repo && d.id == id)
            .map(|(_, d)| d)
            .ok_or_else(|| Error::not_found(format!("deployment {id} in {repo}")))
    }
}

#[async_trait]
impl Forge for FakeForge {
    fn base_branch(&self) -> &str {
        &self.base
    }

    async fn read_tree(&self, git_ref: &str) -> Result<Tree> {
        let s = self.lock();
        let sha = s.resolve(git_ref)?;
        let files = s.commits[&sha].files.clone();
        Ok(Tree {
            commit_sha: oid(&sha)?,
            files,
        })
    }

    async fn branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        _exact: bool,
    ) -> Result<PairState> {
        validate_branch(branch)?;
        if let Some(path) = path {
            validate_path(path)?;
        }
        let s = self.lock();
        let Some(head) = s.refs.get(branch).cloned() else {
            return Ok(PairState {
                expected: BranchHead::Absent,
                pull_request: None,
                pending: None,
            });
        };
        let open = s
            .prs
            .values()
            .filter(|p| p.branch == branch && p.state == PrState::Open)
            .map(|p| p.number)
            .next_back();
        let pull_request = open.map(|n| s.view(n)).transpose()?;
        // Exact: pending unless the head is a merged or closed PR's head (unknown = pending).
        let settled = open.is_none()
            && s.prs
                .values()
                .any(|p| p.branch == branch && p.closed_head.as_deref() == Some(head.as_str()));
        let pending = match path {
            Some(path) if !settled => s
                .commits
                .get(&head)
                .and_then(|c| c.files.get(path).cloned()),
            _ => None,
        };
        Ok(PairState {
            expected: BranchHead::At(oid(&head)?),
            pull_request,
            pending,
        })
    }

    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        change.validate()?;
        not_the_base(change.branch(), &self.base)?;
        let mut s = self.lock();
        let branch = change.branch().to_owned();
        if let Some(n) = change.pull_request
            && s.pr(n)?.branch != branch
        {
            return Err(Error::invalid(
                "pull_request",
                format!("#{n} is not the pull request of {branch}"),
            ));
        }
        if let Some(expected) = &change.expected {
            let actual = s.refs.get(&branch).cloned();
            let still = match expected {
                BranchHead::Absent => actual.is_none(),
                BranchHead::At(h) => actual.as_deref() == Some(h.as_str()),
            };
            if !still {
                return Err(Error::conflict(format!(
                    "branch {branch} moved: expected {expected:?}, found {}",
                    actual.as_deref().unwrap_or("no branch")
                )));
            }
        }
        let base_sha = match &change.base_sha {
            Some(sha) => {
                if !s.commits.contains_key(sha.as_str()) {
                    return Err(Error::not_found(format!("base commit {sha}")));
                }
                sha.to_string()
            }
            None => s.resolve(&self.base)?,
        };
        let head = s.commit_on(&base_sha, &change.writes)?;
        s.refs.insert(branch.clone(), head);
        let open = s
            .prs
            .values()
            .find(|p| p.branch == branch && p.state == PrState::Open)
            .map(|p| p.number);
        let number = if let Some(n) = open {
            let pr = s.prs.get_mut(&n).ok_or_else(|| Error::not_found("pr"))?;
            if !change.keep_description {
                pr.title.clone_from(&change.title);
                pr.body.clone_from(&change.body);
            }
            n
        } else {
            let n = s.next_number;
            s.next_number += 1;
            s.prs.insert(
                n,
                PrRecord {
                    number: n,
                    branch,
                    base: self.base.clone(),
                    title: change.title.clone(),
                    body: change.body.clone(),
                    state: PrState::Open,
                    closed_head: None,
                    merge_sha: None,
                },
            );
            n
        };
        s.view(number)
    }

    async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        self.lock().view(number)
    }

    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>> {
        let s = self.lock();
        s.prs
            .values()
            .filter(|p| p.state == PrState::Open)
            .map(|p| s.view(p.number))
            .collect()
    }

    async fn changed_files(&self, number: u64) -> Result<Vec<String>> {
        let s = self.lock();
        let pr = s.pr(number)?;
        let head = s.head_of(number)?;
        let base_head = s.resolve(&pr.base)?;
        let mb = match &pr.closed_head {
            // After a merge the base contains the head; diff against the head's parent.
            Some(_) => s.commits[&head].parents.first().cloned(),
            None => s.merge_base(&base_head, &head),
        }
        .ok_or_else(|| Error::not_found("merge base"))?;
        let (b, h) = (&s.commits[&mb].files, &s.commits[&head].files);
        let paths: BTreeSet<&String> = b.keys().chain(h.keys()).collect();
        Ok(paths
            .into_iter()
            .filter(|p| b.get(*p) != h.get(*p))
            .cloned()
            .collect())
    }

    async fn approvals(&self, number: u64) -> Result<Vec<Login>> {
        let s = self.lock();
        let head = oid(&s.head_of(number)?)?;
        let mut reviews = Vec::new();
        for (n, login, sha, approved) in &s.reviews {
            if *n == number {
                reviews.push(Review {
                    login: login.clone(),
                    commit: Some(oid(sha)?),
                    state: if *approved {
                        ReviewState::Approved
                    } else {
                        ReviewState::ChangesRequested
                    },
                });
            }
        }
        Ok(Review::approvals(&head, reviews))
    }

    async fn has_write_access(&self, login: &Login) -> Result<bool> {
        Ok(self.lock().writers.contains(login))
    }

    async fn combined_checks(&self, sha: &CommitSha) -> Result<CombinedChecks> {
        let s = self.lock();
        if !s.commits.contains_key(sha.as_str()) {
            return Err(Error::not_found(format!("commit {sha}")));
        }
        Ok(CombinedChecks::fold_history(
            sha.clone(),
            s.statuses.get(sha.as_str()).into_iter().flatten().cloned(),
        ))
    }

    async fn set_status(
        &self,
        sha: &CommitSha,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        validate_context(context)?;
        validate_description(description)?;
        let mut s = self.lock();
        if !s.commits.contains_key(sha.as_str()) {
            return Err(Error::invalid(
                "sha",
                format!("no commit found for SHA: {sha}"),
            ));
        }
        s.statuses
            .entry(sha.to_string())
            .or_default()
            .push(CheckContext {
                name: context.to_owned(),
                state: state.into(),
                description: Some(description.to_owned()),
                target_url: target_url.map(str::to_owned),
            });
        Ok(())
    }

    async fn merge(&self, number: u64, expected_head_sha: &CommitSha) -> Result<CommitSha> {
        let mut s = self.lock();
        let pr = s.pr(number)?.clone();
        if pr.state != PrState::Open {
            return Err(Error::conflict(format!(
                "pull request #{number} is not open"
            )));
        }
        let head = s.head_of(number)?;
        if head != expected_head_sha.as_str() {
            return Err(Error::conflict(format!(
                "head of #{number} is {head}, expected {expected_head_sha}"
            )));
        }
        let base_head = s.resolve(&pr.base)?;
        let files = s.three_way(&base_head, &head)?;
        let m = FakeCommit {
            parents: vec![base_head, head.clone()],
            files,
        };
        let sha = commit_sha(&m);
        s.commits.insert(sha.clone(), m);
        s.refs.insert(pr.base.clone(), sha.clone());
        let rec = s
            .prs
            .get_mut(&number)
            .ok_or_else(|| Error::not_found("pr"))?;
        let merged = oid(&sha)?;
        rec.state = PrState::Merged;
        rec.closed_head = Some(head);
        rec.merge_sha = Some(merged.clone());
        Ok(merged)
    }

    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        validate_marker(marker)?;
        let mut s = self.lock();
        s.pr(number)?;
        let full = sticky_body(marker, body);
        if let Some(c) = s
            .comments
            .entry(number)
            .or_default()
            .iter_mut()
            .find(|c| has_marker(&c.body, marker))
        {
            c.body = full;
            return Ok(c.id);
        }
        let id = s.next_id;
        s.next_id += 1;
        s.comments
            .entry(number)
            .or_default()
            .push(Comment { id, body: full });
        Ok(id)
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        let s = self.lock();
        s.pr(number)?;
        Ok(s.comments.get(&number).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl Requester for FakeForge {
    async fn create_deployment(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
        payload: &DeploymentPayload,
        description: &str,
    ) -> Result<u64> {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let creator = s
            .creator
            .clone()
            .unwrap_or_else(|| crate::WORKFLOW_LOGIN.to_owned());
        s.deployments.push((
            repo.clone(),
            Deployment {
                id,
                sha: sha.clone(),
                environment: environment.clone(),
                description: Some(description.to_owned()),
                payload: Some(payload.clone()),
                creator: Some(creator),
            },
        ));
        Ok(id)
    }

    async fn create_deployment_status(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()> {
        validate_description(description)?;
        let mut s = self.lock();
        s.deployment(repo, deployment_id)?;
        let id = s.next_id;
        s.next_id += 1;
        s.deployment_statuses
            .entry(deployment_id)
            .or_default()
            .push(DeploymentStatus {
                id,
                state,
                description: Some(description.to_owned()),
                log_url: log_url.map(str::to_owned),
                environment_url: environment_url.map(str::to_owned),
            });
        Ok(())
    }

    async fn list_deployments(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
    ) -> Result<Vec<Deployment>> {
        let s = self.lock();
        let mut v: Vec<Deployment> = s
            .deployments
            .iter()
            .filter(|(r, d)| r == repo && d.sha == *sha && d.environment == *environment)
            .map(|(_, d)| d.clone())
            .collect();
        v.reverse();
        Ok(v)
    }

    async fn deployment_statuses(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>> {
        let s = self.lock();
        s.deployment(repo, deployment_id)?;
        let mut v = s
            .deployment_statuses
            .get(&deployment_id)
            .cloned()
            .unwrap_or_default();
        v.reverse();
        Ok(v)
    }

    async fn dispatch(
        &self,
        repo: &RepositoryName,
        event_type: &EventType,
        client_payload: &serde_json::Value,
    ) -> Result<()> {
        validate_client_payload(client_payload)?;
        self.lock()
            .dispatches
            .push((repo.clone(), event_type.clone(), client_payload.clone()));
        Ok(())
    }

    async fn find_workflow_run(
        &self,
        repo: &RepositoryName,
        correlation_id: &RequestId,
    ) -> Result<Option<WorkflowRun>> {
        let s = self.lock();
        Ok(s.runs
            .iter()
            .filter(|(r, run)| r == repo && run.mentions(correlation_id))
            .map(|(_, run)| run)
            .max_by_key(|run| run.id)
            .cloned())
    }
}
