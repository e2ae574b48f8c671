use std::path::Path;
use std::process::Command;

use gitops_event_model::RequestId;
use gitops_gh_pr::conformance;
use gitops_gh_pr::{
    BranchHead, Change, Error, FileWrite, Forge, LocalGitForge, PrState, Requester,
};

use crate::{env, login, mfe, repo, sha};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.test")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.test")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn init_repo() -> (tempfile::TempDir, LocalGitForge) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("README.md"), "# gitops\n").unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::write(dir.path().join("environments/prod.yaml"), "name: prod\n").unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    let forge = LocalGitForge::open(dir.path()).await.unwrap();
    (dir, forge)
}

fn change(name: &str, writes: Vec<FileWrite>) -> Change {
    Change::new(
        env("prod"),
        mfe(name),
        format!("deploy {name}"),
        "body",
        writes,
    )
}

#[tokio::test]
async fn local_passes_the_forge_suite() {
    let (_dir, forge) = init_repo().await;
    assert_eq!(forge.base_branch(), "main");
    conformance::forge_suite(&forge).await;
}

#[tokio::test]
async fn local_passes_the_requester_suite() {
    let (dir, forge) = init_repo().await;
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    conformance::requester_suite(&forge, &repo("acme/checkout"), &sha(&head)).await;
    assert_eq!(forge.dispatches().await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_forge_instances_racing_lose_no_write() {
    let (dir, a) = init_repo().await;
    let b = LocalGitForge::open(dir.path()).await.unwrap();
    for _ in 0..3 {
        conformance::racing_proposers_lose_no_write(&a, &b).await;
    }
    conformance::parallel_mfes_do_not_conflict(&b).await;
}

#[tokio::test]
async fn propose_leaves_the_work_tree_and_index_alone() {
    let (dir, forge) = init_repo().await;
    std::fs::write(dir.path().join("scratch.txt"), "untracked").unwrap();
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    let pr = forge
        .propose(&change(
            "checkout",
            vec![FileWrite::put("environments/prod/checkout.yaml", "v: 1\n")],
        ))
        .await
        .unwrap();
    assert_eq!(git(dir.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git(dir.path(), &["status", "--porcelain"]),
        "?? scratch.txt"
    );
    assert!(!dir.path().join("environments/prod/checkout.yaml").exists());
    // One commit on top of the base, on the stable branch, recorded as a PR.
    assert_eq!(
        git(dir.path(), &["rev-parse", "gitops/prod/checkout"]),
        pr.head_sha.as_str()
    );
    assert_eq!(
        git(dir.path(), &["rev-parse", &format!("{}^", pr.head_sha)]),
        head
    );
    assert!(dir.path().join(".git/gitops/prs/1.json").exists());
}

#[tokio::test]
async fn merge_updates_the_checked_out_base_and_its_work_tree() {
    let (dir, forge) = init_repo().await;
    let pr = forge
        .propose(&change(
            "checkout",
            vec![FileWrite::put("environments/prod/checkout.yaml", "v: 1\n")],
        ))
        .await
        .unwrap();
    let m = forge.merge(pr.number, &pr.head_sha).await.unwrap();
    assert_eq!(git(dir.path(), &["rev-parse", "HEAD"]), m.as_str());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("environments/prod/checkout.yaml")).unwrap(),
        "v: 1\n"
    );
    assert_eq!(git(dir.path(), &["status", "--porcelain"]), "");
    // A real merge commit: base and PR head are its parents.
    assert_eq!(
        git(dir.path(), &["rev-parse", &format!("{m}^2")]),
        pr.head_sha.as_str()
    );
    assert_eq!(
        forge.changed_files(pr.number).await.unwrap(),
        ["environments/prod/checkout.yaml"]
    );
}

#[tokio::test]
async fn merge_refuses_to_overwrite_local_changes() {
    let (dir, forge) = init_repo().await;
    let pr = forge
        .propose(&change(
            "checkout",
            vec![FileWrite::put("README.md", "new\n")],
        ))
        .await
        .unwrap();
    std::fs::write(dir.path().join("README.md"), "local edit\n").unwrap();
    let before = git(dir.path(), &["rev-parse", "main"]);
    let r = forge.merge(pr.number, &pr.head_sha).await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(git(dir.path(), &["rev-parse", "main"]), before);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("README.md")).unwrap(),
        "local edit\n"
    );
    assert_eq!(
        forge.pull_request(pr.number).await.unwrap().state,
        PrState::Open
    );
}

#[tokio::test]
async fn merge_without_the_base_checked_out_moves_only_the_ref() {
    let (dir, forge) = init_repo().await;
    git(dir.path(), &["switch", "-q", "-c", "elsewhere"]);
    let forge = forge.with_base_branch("main");
    let pr = forge
        .propose(&change(
            "checkout",
            vec![FileWrite::put("environments/prod/checkout.yaml", "v: 1\n")],
        ))
        .await
        .unwrap();
    let m = forge.merge(pr.number, &pr.head_sha).await.unwrap();
    assert_eq!(git(dir.path(), &["rev-parse", "main"]), m.as_str());
    assert_ne!(git(dir.path(), &["rev-parse", "HEAD"]), m.as_str());
    assert!(!dir.path().join("environments/prod/checkout.yaml").exists());
}

#[tokio::test]
async fn approvals_are_recorded_and_go_stale_with_a_new_head() {
    let (_dir, forge) = init_repo().await;
    let pr = forge
        .propose(&change("checkout", vec![FileWrite::put("a", "1")]))
        .await
        .unwrap();
    forge
        .record_approval(pr.number, &login("alice"))
        .await
        .unwrap();
    forge
        .record_approval(pr.number, &login("bob"))
        .await
        .unwrap();
    forge
        .record_review(pr.number, &login("bob"), false)
        .await
        .unwrap();
    assert_eq!(forge.approvals(pr.number).await.unwrap(), [login("alice")]);
    forge
        .propose(&change("checkout", vec![FileWrite::put("a", "2")]))
        .await
        .unwrap();
    assert!(forge.approvals(pr.number).await.unwrap().is_empty());
    assert!(matches!(
        forge.record_approval(99, &login("alice")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn every_login_has_write_access_locally() {
    // No accounts: whoever writes the records can push to the checkout.
    let (_dir, forge) = init_repo().await;
    conformance::write_access_is_reported(&forge, &login("anyone"), None).await;
}

#[tokio::test]
async fn base_tree_sha_must_match_the_base() {
    let (dir, forge) = init_repo().await;
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    let tree = git(dir.path(), &["rev-parse", "HEAD^{tree}"]);
    let mut c = change("checkout", vec![FileWrite::put("a", "1")]);
    c.base_sha = Some(sha(&head));
    c.base_tree_sha = Some(sha(&tree));
    forge.propose(&c).await.unwrap();
    c.base_tree_sha = Some(sha(&head));
    assert!(matches!(
        forge.propose(&c).await,
        Err(Error::Invalid { .. })
    ));
}

#[tokio::test]
async fn binary_content_round_trips() {
    let (_dir, forge) = init_repo().await;
    let bytes: Vec<u8> = (0..=255u8).collect();
    let pr = forge
        .propose(&change(
            "bin",
            vec![FileWrite::put("blob.bin", bytes.clone())],
        ))
        .await
        .unwrap();
    let tree = forge.read_tree(pr.head_sha.as_str()).await.unwrap();
    assert_eq!(tree.files["blob.bin"], bytes);
    assert_eq!(tree.files["README.md"], b"# gitops\n");
}

#[tokio::test]
async fn local_workflow_runs_are_never_found() {
    let (_dir, forge) = init_repo().await;
    assert!(
        forge
            .find_workflow_run(&repo("acme/app"), &RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn many_racing_proposers_leave_one_complete_write_and_one_pr() {
    let (dir, first) = init_repo().await;
    let mut forges = vec![first];
    for _ in 0..3 {
        forges.push(LocalGitForge::open(dir.path()).await.unwrap());
    }
    let changes: Vec<Change> = (0..8)
        .map(|i| {
            let mut c = change(
                "checkout",
                vec![
                    FileWrite::put("environments/prod/checkout.yaml", format!("v: {i}\n")),
                    FileWrite::put("environments/prod/importmap.json", format!("{i}\n")),
                ],
            );
            c.title = format!("deploy {i}");
            c
        })
        .collect();
    let results = futures::future::join_all(
        changes
            .iter()
            .enumerate()
            .map(|(i, c)| forges[i % forges.len()].propose(c)),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let open = forges[0].open_pull_requests().await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let tree = forges[0]
        .read_tree(open[0].head_sha.as_str())
        .await
        .unwrap();
    let v = String::from_utf8(tree.files["environments/prod/checkout.yaml"].clone()).unwrap();
    let i = v.trim().trim_start_matches("v: ").to_owned();
    assert_eq!(
        tree.files["environments/prod/importmap.json"],
        format!("{i}\n").into_bytes()
    );
    assert_eq!(
        open[0].title,
        format!("deploy {i}"),
        "the PR describes the commit it holds"
    );
}

#[tokio::test]
async fn local_instances_with_the_same_expectation_let_exactly_one_win() {
    let (dir, a) = init_repo().await;
    let b = LocalGitForge::open(dir.path()).await.unwrap();
    for _ in 0..10 {
        conformance::same_expectation_exactly_one_wins(&a, &b).await;
    }
}

#[tokio::test]
async fn the_newest_intent_wins_across_local_instances() {
    let (dir, a) = init_repo().await;
    let b = LocalGitForge::open(dir.path()).await.unwrap();
    let c = LocalGitForge::open(dir.path()).await.unwrap();
    for _ in 0..5 {
        conformance::newest_intent_wins_under_contention(&[&a, &b, &c]).await;
    }
}

#[tokio::test]
async fn a_branch_moved_by_another_tool_is_a_conflict_that_changes_nothing() {
    let (dir, forge) = init_repo().await;
    let path = "deployments/prod/checkout.json";
    let state = forge
        .pair_state(&env("prod"), &mfe("checkout"), path, false)
        .await
        .unwrap();
    let pr = forge
        .propose(&change("checkout", vec![FileWrite::put(path, "1\n")]).judged_against(&state))
        .await
        .unwrap();
    let state = forge
        .pair_state(&env("prod"), &mfe("checkout"), path, false)
        .await
        .unwrap();
    // Someone moves the branch with plain git, without the forge's lock.
    git(
        dir.path(),
        &["update-ref", "refs/heads/gitops/prod/checkout", "main"],
    );
    let moved = git(dir.path(), &["rev-parse", "main"]);
    let mut c = change("checkout", vec![FileWrite::put(path, "2\n")]).judged_against(&state);
    c.title = "should not land".into();
    let r = forge.propose(&c).await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(
        git(dir.path(), &["rev-parse", "gitops/prod/checkout"]),
        moved
    );
    let read = forge.pull_request(pr.number).await.unwrap();
    assert_eq!(read.title, "deploy checkout", "the PR is untouched");
    // The exact state is the moved head, whose content (the base's) lacks the file.
    let now = forge
        .pair_state(&env("prod"), &mfe("checkout"), path, true)
        .await
        .unwrap();
    assert_eq!(now.expected, BranchHead::At(sha(&moved)));
    assert_eq!(now.pending, None);
    assert_eq!(now.pull_request.map(|p| p.number), Some(pr.number));
    // Another pair's PR number is refused before anything changes.
    let mut wrong = change(
        "cart",
        vec![FileWrite::put("deployments/prod/cart.json", "1\n")],
    );
    wrong.pull_request = Some(pr.number);
    let r = forge.propose(&wrong).await;
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    assert!(
        forge
            .pair_state(
                &env("prod"),
                &mfe("cart"),
                "deployments/prod/cart.json",
                true
            )
            .await
            .unwrap()
            .expected
            == BranchHead::Absent
    );
}
