//! Backend-agnostic checks of the [`Forge`] and [`Requester`] contracts.
//!
//! Each check panics (with a message) when the backend breaks the contract, like
//! object_store's `integration` module. Every check uses its own (environment, MFE) pair, so
//! the checks can share one repository and run one after another or concurrently.

use std::sync::atomic::{AtomicU64, Ordering};

use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, EventType, Login, MfeName, RepositoryName,
    RequestId, Version,
};

mod batch;
mod branches;
mod stale;

pub use batch::batch_appends_on_its_head;
pub use branches::branch_addressed_proposal;
pub use stale::a_stale_checkout_never_reverts_a_merge;

use crate::{
    BranchHead, Change, CheckState, DeploymentState, Error, FileWrite, Forge,
    MAX_DESCRIPTION_CHARS, MAX_TOP_LEVEL_KEYS, PairState, PrState, PullRequest, Requester,
    StatusState,
};

/// A name unique in this process and very likely across processes.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn env_name(env: &str) -> EnvironmentName {
    EnvironmentName::parse(env).expect("a valid environment name")
}

fn mfe_name(mfe: &str) -> MfeName {
    MfeName::parse(mfe).expect("a valid MFE name")
}

/// `gitops/<env>/<mfe>`.
fn branch_name(env: &str, mfe: &str) -> String {
    crate::branch_name(&env_name(env), &mfe_name(mfe))
}

pub(crate) async fn base_sha(forge: &dyn Forge) -> CommitSha {
    forge
        .read_tree(forge.base_branch())
        .await
        .expect("read the base branch")
        .commit_sha
}

fn change(
    env: &str,
    mfe: &str,
    base: Option<CommitSha>,
    writes: Vec<FileWrite>,
    title: &str,
) -> Change {
    Change {
        branch: branch_name(env, mfe),
        base_sha: base,
        base_tree_sha: None,
        writes,
        title: title.to_owned(),
        body: format!("body of {title}"),
        expected: None,
        pull_request: None,
        keep_description: false,
    }
}

fn mfe_file(env: &str, mfe: &str) -> String {
    format!("environments/{env}/{mfe}.yaml")
}

/// Propose twice for one pair: same PR number, same branch, new head, updated title; the
/// head holds the base files plus exactly the second write; changed files are reported.
pub async fn propose_is_idempotent(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("idem"));
    let base = forge
        .read_tree(forge.base_branch())
        .await
        .expect("read base");
    let path = mfe_file(env, &mfe);
    let first = forge
        .propose(&change(
            env,
            &mfe,
            Some(base.commit_sha.clone()),
            vec![FileWrite::put(&path, "version: 1\n")],
            "deploy 1",
        ))
        .await
        .expect("first propose");
    assert_eq!(first.branch, branch_name(env, &mfe));
    assert_eq!(first.state, PrState::Open);
    assert_eq!(first.base, forge.base_branch());
    assert_eq!(first.title, "deploy 1");

    let second = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put(&path, "version: 2\n")],
            "deploy 2",
        ))
        .await
        .expect("second propose");
    assert_eq!(second.number, first.number, "same PR for the same pair");
    assert_eq!(second.branch, first.branch);
    assert_ne!(second.head_sha, first.head_sha, "new head");
    assert_eq!(second.title, "deploy 2");
    assert_eq!(second.body, "body of deploy 2");

    let read = forge.pull_request(first.number).await.expect("read PR");
    assert_eq!(read.head_sha, second.head_sha);
    assert_eq!(read.title, "deploy 2");
    assert_eq!(read.state, PrState::Open);

    let tree = forge
        .read_tree(second.head_sha.as_str())
        .await
        .expect("read head");
    assert_eq!(tree.commit_sha, second.head_sha);
    let mut expected = base.files.clone();
    expected.insert(path.clone(), b"version: 2\n".to_vec());
    assert_eq!(tree.files, expected, "head = base + the latest writes only");
    let by_branch = forge.read_tree(&second.branch).await.expect("read branch");
    assert_eq!(by_branch.commit_sha, second.head_sha);

    assert_eq!(
        forge.changed_files(first.number).await.expect("files"),
        vec![path]
    );
    let open = forge.open_pull_requests().await.expect("open PRs");
    assert_eq!(open.iter().filter(|p| p.branch == first.branch).count(), 1);

    // Deletion and invalid input.
    let del = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![
                FileWrite::delete("README.md"),
                FileWrite::put("x/y.txt", "y"),
            ],
            "deploy 3",
        ))
        .await;
    if base.files.contains_key("README.md") {
        let del = del.expect("propose with a delete");
        let t = forge.read_tree(del.head_sha.as_str()).await.expect("read");
        assert!(!t.files.contains_key("README.md"));
        assert!(
            !t.files.contains_key(&mfe_file(env, &mfe)),
            "one commit on the base only"
        );
        assert_eq!(t.files.get("x/y.txt").map(Vec::as_slice), Some(&b"y"[..]));
    }
    let bad = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put("../evil", "x")],
            "bad",
        ))
        .await;
    assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
    let bad = forge
        .propose(&change(env, &mfe, None, vec![], "no writes"))
        .await;
    assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
    let bad = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put("a", "x")],
            " ",
        ))
        .await;
    assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
    assert!(matches!(
        forge.pull_request(987_654).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        forge.read_tree("no-such-branch-xyz").await,
        Err(Error::NotFound { .. })
    ));
}

/// Merge only the exact head: a stale sha is `Conflict`, the current one merges, the base
/// then holds the change, and a second merge is `Conflict`.
pub async fn merge_is_guarded_by_head(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("guard"));
    let path = mfe_file(env, &mfe);
    let base = base_sha(forge).await;
    let one = forge
        .propose(&change(
            env,
            &mfe,
            Some(base.clone()),
            vec![FileWrite::put(&path, "v1")],
            "v1",
        ))
        .await
        .expect("propose v1");
    let two = forge
        .propose(&change(
            env,
            &mfe,
            Some(base),
            vec![FileWrite::put(&path, "v2")],
            "v2",
        ))
        .await
        .expect("propose v2");
    let stale = forge.merge(one.number, &one.head_sha).await;
    assert!(
        matches!(stale, Err(Error::Conflict { .. })),
        "stale head must be refused: {stale:?}"
    );
    assert_eq!(
        forge.pull_request(one.number).await.expect("pr").state,
        PrState::Open
    );

    let merge_sha = forge
        .merge(two.number, &two.head_sha)
        .await
        .expect("merge current head");
    let pr = forge.pull_request(two.number).await.expect("pr");
    assert_eq!(pr.state, PrState::Merged);
    let tree = forge
        .read_tree(forge.base_branch())
        .await
        .expect("read base");
    assert_eq!(
        tree.commit_sha, merge_sha,
        "base branch moved to the merge commit"
    );
    assert_eq!(tree.files.get(&path).map(Vec::as_slice), Some(&b"v2"[..]));

    let again = forge.merge(two.number, &two.head_sha).await;
    assert!(
        matches!(again, Err(Error::Conflict { .. })),
        "merged PR: {again:?}"
    );
    assert!(
        !forge
            .open_pull_requests()
            .await
            .expect("open")
            .iter()
            .any(|p| p.number == two.number),
        "a merged PR is not open"
    );

    // The next request for the pair opens a new PR on the same branch.
    let next = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put(&path, "v3")],
            "v3",
        ))
        .await
        .expect("propose after merge");
    assert_ne!(next.number, two.number);
    assert_eq!(next.branch, two.branch);
    let m = forge
        .merge(next.number, &next.head_sha)
        .await
        .expect("merge v3");
    let tree = forge.read_tree(m.as_str()).await.expect("read merge");
    assert_eq!(tree.files.get(&path).map(Vec::as_slice), Some(&b"v3"[..]));
}

/// Two proposers race on one pair with complete, different writes: each gets Ok or
/// `Conflict`, at least one wins, the branch holds exactly one proposer's complete write
/// (never a mix) and one open PR exists for the branch.
pub async fn racing_proposers_lose_no_write(a: &dyn Forge, b: &dyn Forge) {
    let (env, mfe) = ("conf", unique("race"));
    let base = base_sha(a).await;
    let (x, y) = (format!("race/{mfe}/x"), format!("race/{mfe}/y"));
    let ca = change(
        env,
        &mfe,
        Some(base.clone()),
        vec![FileWrite::put(&x, "a"), FileWrite::put(&y, "a")],
        "from a",
    );
    let cb = change(
        env,
        &mfe,
        Some(base),
        vec![FileWrite::put(&x, "b"), FileWrite::put(&y, "b")],
        "from b",
    );
    let (ra, rb) = futures::join!(a.propose(&ca), b.propose(&cb));
    for r in [&ra, &rb] {
        assert!(
            r.is_ok() || matches!(r, Err(Error::Conflict { .. })),
            "unexpected {r:?}"
        );
    }
    assert!(ra.is_ok() || rb.is_ok(), "someone must win");
    let tree = a
        .read_tree(&branch_name(env, &mfe))
        .await
        .expect("read branch");
    let (vx, vy) = (tree.files.get(&x).cloned(), tree.files.get(&y).cloned());
    assert_eq!(vx, vy, "a mix of two writes");
    let winner = vx.expect("written");
    assert!(winner == b"a" || winner == b"b");
    if ra.is_err() {
        assert_eq!(winner, b"b");
    }
    if rb.is_err() {
        assert_eq!(winner, b"a");
    }
    let open = a.open_pull_requests().await.expect("open");
    let mine: Vec<_> = open
        .iter()
        .filter(|p| p.branch == branch_name(env, &mfe))
        .collect();
    assert_eq!(mine.len(), 1, "exactly one PR for the branch: {mine:?}");
    assert_eq!(mine[0].head_sha, tree.commit_sha);
    for r in [ra, rb].into_iter().flatten() {
        assert_eq!(r.number, mine[0].number);
    }
}

/// Different MFEs proposed in parallel do not conflict, and both merge.
pub async fn parallel_mfes_do_not_conflict(forge: &dyn Forge) {
    let env = "conf";
    let (m1, m2) = (unique("par"), unique("par"));
    let base = base_sha(forge).await;
    let c1 = change(
        env,
        &m1,
        Some(base.clone()),
        vec![FileWrite::put(mfe_file(env, &m1), "one")],
        "one",
    );
    let c2 = change(
        env,
        &m2,
        Some(base),
        vec![FileWrite::put(mfe_file(env, &m2), "two")],
        "two",
    );
    let (p1, p2) = futures::join!(forge.propose(&c1), forge.propose(&c2));
    let (p1, p2) = (p1.expect("propose 1"), p2.expect("propose 2"));
    assert_ne!(p1.number, p2.number);
    forge.merge(p1.number, &p1.head_sha).await.expect("merge 1");
    forge
        .merge(p2.number, &p2.head_sha)
        .await
        .expect("merge 2 after 1");
    let tree = forge.read_tree(forge.base_branch()).await.expect("base");
    assert_eq!(
        tree.files.get(&mfe_file(env, &m1)).map(Vec::as_slice),
        Some(&b"one"[..])
    );
    assert_eq!(
        tree.files.get(&mfe_file(env, &m2)).map(Vec::as_slice),
        Some(&b"two"[..])
    );
}

/// Two pairs that write one file differently: the first merges, the second is
/// `NotMergeable` (a real content conflict) and stays open.
pub async fn real_conflict_is_not_mergeable(forge: &dyn Forge) {
    let env = "conf";
    let (m1, m2) = (unique("cfl"), unique("cfl"));
    let shared = format!("shared/{m1}.txt");
    let base = base_sha(forge).await;
    let p1 = forge
        .propose(&change(
            env,
            &m1,
            Some(base.clone()),
            vec![FileWrite::put(&shared, "one\n")],
            "one",
        ))
        .await
        .expect("propose 1");
    let p2 = forge
        .propose(&change(
            env,
            &m2,
            Some(base),
            vec![FileWrite::put(&shared, "two\n")],
            "two",
        ))
        .await
        .expect("propose 2");
    forge.merge(p1.number, &p1.head_sha).await.expect("merge 1");
    let r = forge.merge(p2.number, &p2.head_sha).await;
    assert!(
        matches!(r, Err(Error::NotMergeable { .. })),
        "expected NotMergeable, got {r:?}"
    );
    assert_eq!(
        forge.pull_request(p2.number).await.expect("pr").state,
        PrState::Open
    );
    let tree = forge.read_tree(forge.base_branch()).await.expect("base");
    assert_eq!(
        tree.files.get(&shared).map(Vec::as_slice),
        Some(&b"one\n"[..])
    );
}

/// Three upserts with one marker leave one comment (same id, latest body); another marker
/// makes a second comment.
pub async fn sticky_comment(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("cmt"));
    let pr = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put(mfe_file(env, &mfe), "c")],
            "comments",
        ))
        .await
        .expect("propose");
    let id1 = forge
        .upsert_comment(pr.number, "gitops:plan", "first")
        .await
        .expect("1");
    let id2 = forge
        .upsert_comment(pr.number, "gitops:plan", "second")
        .await
        .expect("2");
    let id3 = forge
        .upsert_comment(pr.number, "gitops:plan", "third")
        .await
        .expect("3");
    assert_eq!((id1, id2), (id2, id3));
    let comments = forge.comments(pr.number).await.expect("comments");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].id, id1);
    assert_eq!(comments[0].body, "<!-- gitops:plan -->\nthird");
    let other = forge
        .upsert_comment(pr.number, "gitops:checks", "x")
        .await
        .expect("other");
    assert_ne!(other, id1);
    assert_eq!(forge.comments(pr.number).await.expect("comments").len(), 2);
    assert!(matches!(
        forge.upsert_comment(pr.number, "bad marker -->", "x").await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        forge.upsert_comment(987_654, "gitops:plan", "x").await,
        Err(Error::NotFound { .. })
    ));
}

/// Statuses fold: pending while any runs, failure if any fails, success when all pass; a
/// later status of the same context replaces the earlier one.
pub async fn statuses_fold_into_combined_checks(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("chk"));
    let pr = forge
        .propose(&change(
            env,
            &mfe,
            None,
            vec![FileWrite::put(mfe_file(env, &mfe), "s")],
            "checks",
        ))
        .await
        .expect("propose");
    let sha = &pr.head_sha;
    forge
        .set_status(
            sha,
            "gitops/validate",
            StatusState::Pending,
            "running",
            None,
        )
        .await
        .expect("status");
    assert_eq!(
        forge.combined_checks(sha).await.expect("combined").state,
        CheckState::Pending
    );
    forge
        .set_status(
            sha,
            "gitops/validate",
            StatusState::Success,
            "ok",
            Some("https://example.test/log"),
        )
        .await
        .expect("status");
    assert_eq!(
        forge.combined_checks(sha).await.expect("combined").state,
        CheckState::Success
    );
    forge
        .set_status(sha, "gitops/policy", StatusState::Failure, "refused", None)
        .await
        .expect("status");
    assert_eq!(
        forge.combined_checks(sha).await.expect("combined").state,
        CheckState::Failure
    );
    forge
        .set_status(sha, "gitops/policy", StatusState::Success, "ok", None)
        .await
        .expect("status");
    let all = forge.combined_checks(sha).await.expect("combined");
    assert_eq!(all.state, CheckState::Success);
    assert_eq!(all.sha, *sha);
    let names: Vec<_> = all.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["gitops/policy", "gitops/validate"]);
    // GitHub's limits, on every backend, before any change.
    let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
    for (context, description) in [("gitops/policy", long.as_str()), ("", "ok")] {
        let r = forge
            .set_status(sha, context, StatusState::Failure, description, None)
            .await;
        assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    }
    let exactly = "é".repeat(MAX_DESCRIPTION_CHARS);
    forge
        .set_status(sha, "gitops/long", StatusState::Success, &exactly, None)
        .await
        .expect("a description of exactly the limit");
    let all = forge.combined_checks(sha).await.expect("combined");
    assert_eq!(
        all.state,
        CheckState::Success,
        "the refused statuses left no trace"
    );
    assert_eq!(all.contexts.len(), 3);
}

/// Deployment with statuses, listed and read back newest first, carrying its payload.
pub async fn deployments_and_statuses(
    requester: &dyn Requester,
    repo: &RepositoryName,
    sha: &CommitSha,
) {
    let env = env_name(&unique("env"));
    let payload = DeploymentPayload {
        id: RequestId::generate(),
        mfe: mfe_name("checkout"),
        version: Version::parse("1.2.3").expect("a version"),
        user: None,
        keys: Vec::new(),
    };
    let id = requester
        .create_deployment(repo, sha, &env, &payload, "deploy checkout 1.2.3")
        .await
        .expect("create deployment");
    for state in [
        DeploymentState::Queued,
        DeploymentState::InProgress,
        DeploymentState::Success,
    ] {
        requester
            .create_deployment_status(
                repo,
                id,
                state,
                "step",
                Some("https://example.test/log"),
                Some("https://example.test/app"),
            )
            .await
            .expect("status");
    }
    let list = requester
        .list_deployments(repo, sha, &env)
        .await
        .expect("list");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].sha, *sha);
    assert_eq!(list[0].environment, env);
    assert_eq!(list[0].payload.as_ref(), Some(&payload));
    let statuses = requester
        .deployment_statuses(repo, id)
        .await
        .expect("statuses");
    let states: Vec<_> = statuses.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            DeploymentState::Success,
            DeploymentState::InProgress,
            DeploymentState::Queued
        ]
    );
    assert_eq!(
        statuses[0].environment_url.as_deref(),
        Some("https://example.test/app")
    );
    assert_eq!(
        statuses[0].log_url.as_deref(),
        Some("https://example.test/log")
    );
    assert!(
        requester
            .list_deployments(repo, sha, &env_name("no-such-env"))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(matches!(
        requester.deployment_statuses(repo, 987_654_321).await,
        Err(Error::NotFound { .. })
    ));
    let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
    assert!(matches!(
        requester
            .create_deployment_status(repo, id, DeploymentState::Failure, &long, None, None)
            .await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(
        requester
            .deployment_statuses(repo, id)
            .await
            .expect("statuses")
            .len(),
        3,
        "a refused status is not recorded"
    );
    // The repository compares without case, as on GitHub.
    let upper = RepositoryName::parse(&repo.as_str().to_ascii_uppercase()).expect("repository");
    assert_eq!(
        requester
            .list_deployments(&upper, sha, &env)
            .await
            .expect("list")
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [id]
    );
}

/// A dispatch is accepted; one GitHub would refuse is refused before any call.
pub async fn dispatch_is_validated(requester: &dyn Requester, repo: &RepositoryName) {
    let deploy = EventType::parse("deploy").expect("event type");
    requester
        .dispatch(
            repo,
            &deploy,
            &serde_json::json!({"mfe": "checkout", "id": RequestId::generate()}),
        )
        .await
        .expect("dispatch");
    assert!(matches!(
        requester
            .dispatch(repo, &deploy, &serde_json::json!("string"))
            .await,
        Err(Error::Invalid { .. })
    ));
    let keys: serde_json::Map<String, serde_json::Value> = (0..=MAX_TOP_LEVEL_KEYS)
        .map(|i| (format!("k{i}"), serde_json::json!(i)))
        .collect();
    assert!(matches!(
        requester
            .dispatch(repo, &deploy, &serde_json::Value::Object(keys))
            .await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(
        requester
            .find_workflow_run(repo, &RequestId::generate())
            .await
            .expect("find"),
        None
    );
}

fn desired_file(env: &str, mfe: &str) -> String {
    format!("deployments/{env}/{mfe}.json")
}

/// One desired-state write for the pair, proposed against what `state` says.
fn judged(env: &str, mfe: &str, state: &PairState, version: &str) -> Change {
    change(
        env,
        mfe,
        None,
        vec![FileWrite::put(
            desired_file(env, mfe),
            format!("{{\"version\": \"{version}\"}}\n"),
        )],
        &format!("deploy {mfe} {version}"),
    )
    .judged_against(state)
}

async fn state_of(forge: &dyn Forge, env: &str, mfe: &str) -> PairState {
    forge
        .pair_state(
            &env_name(env),
            &mfe_name(mfe),
            &desired_file(env, mfe),
            true,
        )
        .await
        .expect("pair_state")
}

pub(crate) fn branch_head(forge_tree: Result<crate::Tree, Error>) -> Option<CommitSha> {
    match forge_tree {
        Ok(t) => Some(t.commit_sha),
        Err(Error::NotFound { .. }) => None,
        Err(e) => panic!("read the branch: {e:?}"),
    }
}

/// `pair_state` follows a pair: new (absent, nothing pending), proposed (its open PR, the
/// written content pending), merged (nothing pending, expected = the merged head), proposed
/// again on top of the merged head (a new PR whose diff is the write alone).
pub async fn pair_state_follows_the_pair(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("state"));
    let path = desired_file(env, &mfe);
    for exact in [false, true] {
        let fresh = forge
            .pair_state(&env_name(env), &mfe_name(&mfe), &path, exact)
            .await
            .expect("pair_state of a new pair");
        assert_eq!(
            fresh,
            PairState {
                expected: BranchHead::Absent,
                pull_request: None,
                pending: None
            },
            "exact: {exact}"
        );
    }

    let fresh = state_of(forge, env, &mfe).await;
    let pr = forge
        .propose(&judged(env, &mfe, &fresh, "1.0.0"))
        .await
        .expect("propose on an absent branch");
    assert_eq!(pr.state, PrState::Open);
    for exact in [false, true] {
        let open = forge
            .pair_state(&env_name(env), &mfe_name(&mfe), &path, exact)
            .await
            .expect("pair_state with an open PR");
        assert_eq!(
            open.expected,
            BranchHead::At(pr.head_sha.clone()),
            "exact: {exact}"
        );
        let seen = open.pull_request.as_ref().expect("the open PR");
        assert_eq!((seen.number, seen.state), (pr.number, PrState::Open));
        assert_eq!(seen.head_sha, pr.head_sha);
        assert_eq!(
            open.pending.as_deref(),
            Some(&b"{\"version\": \"1.0.0\"}\n"[..]),
            "the written content is pending (exact: {exact})"
        );
        let other = forge
            .pair_state(
                &env_name(env),
                &mfe_name(&mfe),
                &format!("deployments/{env}/none.json"),
                exact,
            )
            .await
            .expect("pair_state of a path the branch lacks");
        assert_eq!(other.pending, None, "no such file: nothing pending");
        assert_eq!(other.expected, open.expected);
    }

    let merged = forge.merge(pr.number, &pr.head_sha).await.expect("merge");
    for exact in [false, true] {
        let after = forge
            .pair_state(&env_name(env), &mfe_name(&mfe), &path, exact)
            .await
            .expect("pair_state after merge");
        assert_eq!(
            after,
            PairState {
                expected: BranchHead::At(pr.head_sha.clone()),
                pull_request: None,
                pending: None
            },
            "merged: nothing pending (exact: {exact})"
        );
    }

    let after = state_of(forge, env, &mfe).await;
    let mut next = judged(env, &mfe, &after, "1.1.0");
    next.base_sha = Some(merged);
    let next = forge
        .propose(&next)
        .await
        .expect("propose on the merged head");
    assert_ne!(next.number, pr.number, "a new PR after the merge");
    assert_eq!(
        forge.changed_files(next.number).await.expect("files"),
        vec![path.clone()],
        "the diff against the base is the write alone"
    );
    let state = state_of(forge, env, &mfe).await;
    assert_eq!(state.expected, BranchHead::At(next.head_sha.clone()));
    assert_eq!(
        state.pending.as_deref(),
        Some(&b"{\"version\": \"1.1.0\"}\n"[..])
    );
    assert_eq!(state.pull_request.map(|p| p.number), Some(next.number));
    assert!(matches!(
        forge
            .pair_state(&env_name(env), &mfe_name(&mfe), "../x", false)
            .await,
        Err(Error::Invalid { .. })
    ));
}

/// A proposal with a stale expectation is `Conflict` and changes nothing (branch, PR, title);
/// one with the current head replaces the open PR's content and keeps its number.
pub async fn stale_expectation_changes_nothing(forge: &dyn Forge) {
    let (env, mfe) = ("conf", unique("cas"));
    let branch = branch_name(env, &mfe);
    let fresh = state_of(forge, env, &mfe).await;
    let first = forge
        .propose(&judged(env, &mfe, &fresh, "2.1.0"))
        .await
        .expect("first proposal");
    let unchanged = |what: &'static str, pr: PullRequest| {
        let first = first.clone();
        async move {
            assert_eq!(pr.number, first.number, "{what}");
            assert_eq!(pr.head_sha, first.head_sha, "{what}: the PR head moved");
            assert_eq!(pr.title, first.title, "{what}: the PR was edited");
            assert_eq!(pr.state, PrState::Open, "{what}");
        }
    };

    // Stale: proposed against the (absent) state seen before the first proposal.
    let stale = forge.propose(&judged(env, &mfe, &fresh, "2.0.0")).await;
    assert!(
        matches!(stale, Err(Error::Conflict { .. })),
        "a proposal against an absent branch that exists: {stale:?}"
    );
    assert_eq!(
        branch_head(forge.read_tree(&branch).await),
        Some(first.head_sha.clone())
    );
    unchanged(
        "stale absent",
        forge.pull_request(first.number).await.expect("pr"),
    )
    .await;

    // Stale: another head (the base's).
    let base = base_sha(forge).await;
    let mut elsewhere = judged(env, &mfe, &fresh, "2.0.0").expecting(BranchHead::At(base));
    elsewhere.pull_request = Some(first.number);
    let r = forge.propose(&elsewhere).await;
    assert!(
        matches!(r, Err(Error::Conflict { .. })),
        "a proposal against another head: {r:?}"
    );
    assert_eq!(
        branch_head(forge.read_tree(&branch).await),
        Some(first.head_sha.clone())
    );
    unchanged(
        "stale head",
        forge.pull_request(first.number).await.expect("pr"),
    )
    .await;
    let still = state_of(forge, env, &mfe).await;
    assert_eq!(
        still.pending.as_deref(),
        Some(&b"{\"version\": \"2.1.0\"}\n"[..]),
        "the newer pending change survives a stale proposal"
    );
    let open = forge.open_pull_requests().await.expect("open");
    assert_eq!(open.iter().filter(|p| p.branch == branch).count(), 1);

    // Current: replaces the content, keeps the PR.
    let replaced = forge
        .propose(&judged(env, &mfe, &still, "2.2.0"))
        .await
        .expect("proposal against the current head");
    assert_eq!(replaced.number, first.number, "same PR for the same pair");
    assert_ne!(replaced.head_sha, first.head_sha);
    assert_eq!(replaced.title, format!("deploy {mfe} 2.2.0"));
    let read = forge.pull_request(first.number).await.expect("pr");
    assert_eq!(
        (read.head_sha.as_str(), read.title.as_str()),
        (replaced.head_sha.as_str(), replaced.title.as_str())
    );
    assert_eq!(
        forge.changed_files(first.number).await.expect("files"),
        vec![desired_file(env, &mfe)],
        "the replacement's diff against the base is its write alone"
    );
    let now = state_of(forge, env, &mfe).await;
    assert_eq!(
        now.pending.as_deref(),
        Some(&b"{\"version\": \"2.2.0\"}\n"[..])
    );
    assert_eq!(now.expected, BranchHead::At(replaced.head_sha.clone()));
    // The replaced head is stale now.
    let r = forge.propose(&judged(env, &mfe, &still, "2.0.0")).await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(
        branch_head(forge.read_tree(&branch).await),
        Some(replaced.head_sha)
    );
}

/// Two proposals with the same expectation race (on a new pair, then on an open PR): exactly
/// one succeeds, the other is `Conflict`; the branch holds the winner's write and one PR.
pub async fn same_expectation_exactly_one_wins(a: &dyn Forge, b: &dyn Forge) {
    let (env, mfe) = ("conf", unique("race-cas"));
    let branch = branch_name(env, &mfe);
    let mut number = None;
    for round in 0..2 {
        let state = state_of(a, env, &mfe).await;
        if round == 0 {
            assert_eq!(state.expected, BranchHead::Absent);
        } else {
            assert!(state.pull_request.is_some(), "round {round}: {state:?}");
        }
        let (va, vb) = (format!("{round}.0.1"), format!("{round}.0.2"));
        let (ca, cb) = (
            judged(env, &mfe, &state, &va),
            judged(env, &mfe, &state, &vb),
        );
        let (ra, rb) = futures::join!(a.propose(&ca), b.propose(&cb));
        let (winner, version) = match (&ra, &rb) {
            (Ok(w), Err(Error::Conflict { .. })) => (w.clone(), va),
            (Err(Error::Conflict { .. }), Ok(w)) => (w.clone(), vb),
            other => panic!("round {round}: expected exactly one Ok and one Conflict: {other:?}"),
        };
        if let Some(n) = number {
            assert_eq!(winner.number, n, "the open PR is kept");
        }
        number = Some(winner.number);
        assert_eq!(
            branch_head(a.read_tree(&branch).await),
            Some(winner.head_sha.clone())
        );
        let now = state_of(b, env, &mfe).await;
        assert_eq!(
            now.pending,
            Some(format!("{{\"version\": \"{version}\"}}\n").into_bytes()),
            "round {round}: the winner's write is pending"
        );
        let open = a.open_pull_requests().await.expect("open");
        let mine: Vec<_> = open.iter().filter(|p| p.branch == branch).collect();
        assert_eq!(mine.len(), 1, "round {round}: one PR: {mine:?}");
        assert_eq!(mine[0].head_sha, winner.head_sha);
        assert_eq!(mine[0].title, format!("deploy {mfe} {version}"));
    }
}

/// Twelve requests for one pair with versions in scrambled order race through `forges`,
/// each doing what the pipeline does: read the pair (exactly after a lost race), stop when
/// the pending version is as new as its own, else propose against what it read. Whatever the
/// interleaving, the newest version ends pending, in the one open PR.
pub async fn newest_intent_wins_under_contention(forges: &[&dyn Forge]) {
    const REQUESTS: u64 = 12;
    let (env, mfe) = ("conf", unique("newest"));
    let path = desired_file(env, &mfe);
    let version_in = |bytes: &[u8]| -> u64 {
        let text = String::from_utf8_lossy(bytes);
        text.trim()
            .trim_start_matches("{\"version\": \"")
            .trim_end_matches("\"}")
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or_else(|| panic!("unexpected pending content {text:?}"))
    };
    let requests = (0..REQUESTS).map(|i| {
        let forge = forges[usize::try_from(i).unwrap_or(0) % forges.len()];
        let mine = (i * 5) % REQUESTS;
        let (mfe, path) = (mfe.clone(), path.clone());
        async move {
            let mut exact = false;
            for _ in 0..100 {
                let state = forge
                    .pair_state(&env_name(env), &mfe_name(&mfe), &path, exact)
                    .await
                    .expect("pair_state");
                if state.pending.as_deref().map(version_in) >= Some(mine) {
                    return false;
                }
                let proposal = judged(env, &mfe, &state, &format!("{mine}.0.0"));
                match forge.propose(&proposal).await {
                    Ok(_) => return true,
                    Err(Error::Conflict { .. }) => exact = true,
                    Err(e) => panic!("request {mine}: {e:?}"),
                }
            }
            panic!("request {mine} made no progress in 100 rounds");
        }
    });
    let won = futures::future::join_all(requests).await;
    assert!(won.iter().any(|w| *w), "someone proposed");
    let last = state_of(forges[0], env, &mfe).await;
    assert_eq!(
        last.pending.as_deref().map(version_in),
        Some(REQUESTS - 1),
        "the newest intent is pending"
    );
    let pr = last.pull_request.expect("one open PR");
    assert_eq!(BranchHead::At(pr.head_sha.clone()), last.expected);
    let open = forges[0].open_pull_requests().await.expect("open");
    assert_eq!(
        open.iter()
            .filter(|p| p.branch == branch_name(env, &mfe))
            .count(),
        1
    );
}

/// An environment with capitals (GitHub environments may have them) goes through
/// `pair_state`, `propose` and `merge`.
pub async fn capital_environment_names(forge: &dyn Forge) {
    let (env, mfe) = ("Staging", unique("caps"));
    let path = desired_file(env, &mfe);
    let state = forge
        .pair_state(&env_name(env), &mfe_name(&mfe), &path, false)
        .await
        .expect("pair_state of Staging");
    assert_eq!(state.expected, BranchHead::Absent);
    let pr = forge
        .propose(&judged(env, &mfe, &state, "1.0.0"))
        .await
        .expect("propose to Staging");
    assert_eq!(pr.branch, format!("gitops/Staging/{mfe}"));
    let state = state_of(forge, env, &mfe).await;
    assert_eq!(state.pull_request.map(|p| p.number), Some(pr.number));
    assert!(state.pending.is_some());
    let merged = forge.merge(pr.number, &pr.head_sha).await.expect("merge");
    let tree = forge
        .read_tree(merged.as_str())
        .await
        .expect("read the merge");
    assert_eq!(
        tree.files.get(&path).map(Vec::as_slice),
        Some(&b"{\"version\": \"1.0.0\"}\n"[..])
    );
    assert_eq!(state_of(forge, env, &mfe).await.pending, None);
    let pr = forge.pull_request(pr.number).await.expect("the merged PR");
    assert_eq!(pr.pair(), Some((env_name(env), mfe_name(&mfe))));
}

/// [`Forge::has_write_access`]: `writer` (given write access by the test's setup) has it;
/// `outsider` (no access at all; `None` for a backend without accounts) has not, and asking
/// is no error.
pub async fn write_access_is_reported(forge: &dyn Forge, writer: &Login, outsider: Option<&Login>) {
    assert!(
        forge.has_write_access(writer).await.expect("writer"),
        "{writer} was given write access"
    );
    if let Some(outsider) = outsider {
        assert!(
            !forge
                .has_write_access(outsider)
                .await
                .expect("no access is no error"),
            "{outsider} has no access"
        );
    }
}

/// Every [`Forge`] check, one after another, on one repository.
pub async fn forge_suite(forge: &dyn Forge) {
    propose_is_idempotent(forge).await;
    merge_is_guarded_by_head(forge).await;
    racing_proposers_lose_no_write(forge, forge).await;
    parallel_mfes_do_not_conflict(forge).await;
    real_conflict_is_not_mergeable(forge).await;
    sticky_comment(forge).await;
    statuses_fold_into_combined_checks(forge).await;
    pair_state_follows_the_pair(forge).await;
    stale_expectation_changes_nothing(forge).await;
    same_expectation_exactly_one_wins(forge, forge).await;
    newest_intent_wins_under_contention(&[forge]).await;
    capital_environment_names(forge).await;
    branch_addressed_proposal(forge).await;
    batch_appends_on_its_head(forge).await;
    a_stale_checkout_never_reverts_a_merge(forge).await;
}

/// Every [`Requester`] check.
pub async fn requester_suite(requester: &dyn Requester, repo: &RepositoryName, sha: &CommitSha) {
    deployments_and_statuses(requester, repo, sha).await;
    dispatch_is_validated(requester, repo).await;
}
