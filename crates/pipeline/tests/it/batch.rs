//! Batches (issue 18, `batch: true`): the pending requests of several pairs of one environment
//! share one pull request (`gitops-batch/<env>`) and one merge, each pair's newest request
//! still winning inside it.

use std::collections::BTreeMap;

use gitops_event_model::DeployRequest;
use gitops_event_model::Login;
use gitops_gh_pr::{DeploymentState, FakeForge, FileWrite, Forge, Requester};
use gitops_iac_config::{Outcome, Repository};
use gitops_pipeline::{
    MergeOutcome, OriginCheck, ProcessReport, merge_pull_request, pins, process,
};

use crate::forge::{files, now, request};

/// The example repository with `dev` batching (and requiring an approval when `approval`).
fn batching(approval: bool) -> BTreeMap<String, Vec<u8>> {
    let mut files = files();
    let config = String::from_utf8(files["gitops.yaml"].clone()).unwrap();
    let dev = "    public_url: http://localhost:8080/dev\n";
    let extra = if approval {
        "    batch: true\n    approval: required\n"
    } else {
        "    batch: true\n"
    };
    assert!(config.contains(dev));
    files.insert(
        "gitops.yaml".to_owned(),
        config.replace(dev, &format!("{dev}{extra}")).into_bytes(),
    );
    files
}

fn search(version: &str) -> DeployRequest {
    DeployRequest::builder()
        .user("searcher")
        .mfe("search")
        .version(version)
        .environment("dev")
        .repository("acme/search-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .build()
        .unwrap()
}

async fn run(forge: &FakeForge, repo: &Repository, req: &DeployRequest) -> ProcessReport {
    process(
        repo,
        None,
        Ok(req),
        now(),
        forge,
        Some(forge as &dyn Requester),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
}

async fn states(forge: &FakeForge, req: &DeployRequest) -> Vec<DeploymentState> {
    let deployments = forge
        .list_deployments(req.repository(), req.sha(), req.environment())
        .await
        .unwrap();
    let mine = deployments
        .iter()
        .find(|d| d.payload.as_ref().is_some_and(|p| p.id == *req.id()))
        .unwrap();
    forge
        .deployment_statuses(req.repository(), mine.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.state)
        .collect()
}

async fn merge(forge: &FakeForge, number: u64) -> MergeOutcome {
    merge_pull_request(
        forge,
        Some(forge as &dyn Requester),
        number,
        now(),
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
}

fn version_on(files: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
    let value: serde_json::Value = serde_json::from_slice(&files[path]).unwrap();
    value["version"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pairs_of_a_batching_environment_share_one_pull_request_and_one_merge() {
    let forge = FakeForge::with_files(batching(false));
    let repo = Repository::from_files(&batching(false)).unwrap();
    let (checkout, search_1) = (request("dev", "1.5.0"), search("1.0.0"));
    let first = run(&forge, &repo, &checkout).await;
    let second = run(&forge, &repo, &search_1).await;
    assert_eq!(
        (first.decision.decision, second.decision.decision),
        (Outcome::Accept, Outcome::Accept)
    );
    let number = first.pull_request.unwrap();
    assert_eq!(second.pull_request, Some(number), "one pull request");
    let pr = forge.pull_request(number).await.unwrap();
    assert_eq!(
        (pr.branch.as_str(), pr.title.as_str(), pr.pair()),
        ("gitops-batch/dev", "Deploy batch to dev", None)
    );
    assert_eq!(
        forge.changed_files(number).await.unwrap(),
        [
            "deployments/dev/checkout.json",
            "deployments/dev/search.json"
        ]
    );
    assert!(
        forge.comments(number).await.unwrap().is_empty(),
        "no plan comment per request"
    );

    // The newest request of a pair wins inside the batch; the replaced one is told.
    let newer = request("dev", "1.6.0");
    let third = run(&forge, &repo, &newer).await;
    assert_eq!(third.pull_request, Some(number));
    assert_eq!(third.superseded.as_ref(), Some(checkout.id()));
    assert_eq!(
        states(&forge, &checkout).await,
        [DeploymentState::Inactive, DeploymentState::Queued]
    );
    let head = forge.read_tree(&pr.branch).await.unwrap().files;
    assert_eq!(version_on(&head, "deployments/dev/checkout.json"), "1.6.0");
    assert_eq!(version_on(&head, "deployments/dev/search.json"), "1.0.0");
    // A replay of a request already in the batch opens nothing new.
    let replay = run(&forge, &repo, &search_1).await;
    assert_eq!(replay.decision.decision, Outcome::Noop);
    assert_eq!(replay.pull_request, Some(number));

    let MergeOutcome::Merged { sha } = merge(&forge, number).await else {
        panic!("the batch merges")
    };
    let main = forge.read_tree(sha.as_str()).await.unwrap().files;
    assert_eq!(version_on(&main, "deployments/dev/checkout.json"), "1.6.0");
    assert_eq!(version_on(&main, "deployments/dev/search.json"), "1.0.0");
    assert!(
        states(&forge, &search_1)
            .await
            .iter()
            .all(|s| *s == DeploymentState::Queued),
        "queued, then queued again by the replay: a merge is told by the deploy"
    );

    // After the merge, the next request opens a new batch holding only itself.
    let repo = Repository::from_files(&main).unwrap();
    let next = run(&forge, &repo, &search("1.1.0")).await;
    let again = next.pull_request.unwrap();
    assert_ne!(again, number, "a new batch");
    assert_eq!(
        forge.changed_files(again).await.unwrap(),
        ["deployments/dev/search.json"]
    );
}

/// Found by the fleet simulation: a stale request appended to a batch after its pair's newer
/// request merged is refused at merge (a downgrade); merged whole, the batch then never merged
/// and took every other request in it along. The refused file is dropped back to the base's
/// content, its requester told why, and the rest merges.
#[tokio::test]
async fn a_file_refused_at_merge_is_dropped_from_the_batch_and_the_rest_merges() {
    let forge = FakeForge::with_files(batching(false));
    let repo = Repository::from_files(&batching(false)).unwrap();
    let (checkout, search_1) = (request("dev", "1.5.0"), search("1.0.0"));
    let number = run(&forge, &repo, &checkout).await.pull_request.unwrap();
    run(&forge, &repo, &search_1).await;
    // main moves checkout past the batch's version meanwhile: a downgrade at merge.
    let mut newer: serde_json::Value =
        serde_json::from_slice(&files()["deployments/dev/checkout.json"]).unwrap();
    newer["version"] = "2.0.0".into();
    let newer = serde_json::to_vec_pretty(&newer).unwrap();
    forge
        .push_to_base(&[FileWrite::put(
            "deployments/dev/checkout.json",
            newer.clone(),
        )])
        .unwrap();
    let MergeOutcome::Merged { sha } = merge(&forge, number).await else {
        panic!("the rest of the batch merges")
    };
    let main = forge.read_tree(sha.as_str()).await.unwrap().files;
    assert_eq!(version_on(&main, "deployments/dev/search.json"), "1.0.0");
    assert_eq!(
        main["deployments/dev/checkout.json"], newer,
        "the dropped file leaves the base's as it was"
    );
    let told = states(&forge, &checkout).await;
    assert_eq!(
        told[0],
        DeploymentState::Failure,
        "the refused file's requester is told"
    );
    assert_eq!(
        states(&forge, &search_1).await,
        [DeploymentState::Queued],
        "the others are not told any refusal"
    );
}

#[tokio::test]
async fn a_batch_waiting_for_approval_lists_its_changes_and_nobody_approves_their_own() {
    let forge = FakeForge::with_files(batching(true));
    let repo = Repository::from_files(&batching(true)).unwrap();
    let (checkout, search_1) = (request("dev", "1.5.0"), search("1.0.0"));
    let number = run(&forge, &repo, &checkout).await.pull_request.unwrap();
    run(&forge, &repo, &search_1).await;
    assert_eq!(
        merge(&forge, number).await,
        MergeOutcome::WaitingForApproval
    );
    let comments = forge.comments(number).await.unwrap();
    assert_eq!(comments.len(), 1);
    for needle in [
        "`checkout` | **1.5.0**",
        "`search` | **1.0.0**",
        "@searcher",
    ] {
        assert!(comments[0].body.contains(needle), "{}", comments[0].body);
    }
    assert_eq!(
        states(&forge, &search_1).await[0],
        DeploymentState::InProgress
    );
    // One of the requesters approving is not enough; someone else is.
    let searcher = Login::parse("searcher").unwrap();
    forge.grant_write(&searcher);
    forge.record_approval(number, &searcher).unwrap();
    assert_eq!(
        merge(&forge, number).await,
        MergeOutcome::WaitingForApproval
    );
    let reviewer = Login::parse("reviewer").unwrap();
    forge.grant_write(&reviewer);
    forge.record_approval(number, &reviewer).unwrap();
    assert!(matches!(
        merge(&forge, number).await,
        MergeOutcome::Merged { .. }
    ));
}

/// Only files the policy refuses are dropped: a batch changing anything else is refused whole.
#[tokio::test]
async fn a_batch_changing_anything_but_its_desired_states_is_refused() {
    let forge = FakeForge::with_files(batching(false));
    let repo = Repository::from_files(&batching(false)).unwrap();
    let number = run(&forge, &repo, &request("dev", "1.5.0"))
        .await
        .pull_request
        .unwrap();
    let pr = forge.pull_request(number).await.unwrap();
    let state = forge.branch_state(&pr.branch, None, true).await.unwrap();
    forge
        .propose(
            &gitops_gh_pr::Change::for_branch(
                &pr.branch,
                "sneak",
                "a hand-made commit",
                vec![FileWrite::put("mfes/search.yaml", "name: search\n")],
            )
            .on_base(pr.head_sha.clone(), None)
            .judged_against(&state)
            .keeping_description(),
        )
        .await
        .unwrap();
    let MergeOutcome::Refused { reasons } = merge(&forge, number).await else {
        panic!("refused")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("a batch of dev may only change")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn unpin_in_a_batching_environment_goes_into_the_batch() {
    let mut files = batching(false);
    let mut pinned: serde_json::Value =
        serde_json::from_slice(&files["deployments/dev/checkout.json"]).unwrap();
    pinned["pinned"] =
        serde_json::json!({"by": "oncall", "at": "2026-11-25T10:00:00Z", "reason": "incident"});
    files.insert(
        "deployments/dev/checkout.json".to_owned(),
        serde_json::to_vec_pretty(&pinned).unwrap(),
    );
    let forge = FakeForge::with_files(files.clone());
    let repo = Repository::from_files(&files).unwrap();
    let search_pr = run(&forge, &repo, &search("1.0.0")).await.pull_request;
    let env = gitops_event_model::EnvironmentName::parse("dev").unwrap();
    let mfe = gitops_event_model::MfeName::parse("checkout").unwrap();
    let outcome = pins::unpin(&repo, &env, &mfe, "oncall", &forge, None)
        .await
        .unwrap();
    let pins::UnpinOutcome::Proposed { pull_request, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(Some(pull_request), search_pr, "the batch's pull request");
    assert_eq!(
        forge.changed_files(pull_request).await.unwrap(),
        [
            "deployments/dev/checkout.json",
            "deployments/dev/search.json"
        ]
    );
}
