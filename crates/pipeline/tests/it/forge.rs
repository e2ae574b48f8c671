//! process and merge over the strict fake forge.

use std::collections::BTreeMap;
use std::path::Path;

use gitops_event_model::DeployRequest;
use gitops_gh_pr::{FakeForge, FileWrite, Forge, Requester};
use gitops_iac_config::{Outcome, Repository};
use gitops_pipeline::{MergeOutcome, OriginCheck, merge_pull_request, process};

pub(crate) fn files() -> BTreeMap<String, Vec<u8>> {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitops-repo"
    ));
    let mut files = BTreeMap::new();
    for rel in [
        "gitops.yaml",
        "mfes/checkout.yaml",
        "mfes/search.yaml",
        "deployments/dev/checkout.json",
        "deployments/staging/checkout.json",
    ] {
        files.insert(rel.to_owned(), std::fs::read(root.join(rel)).unwrap());
    }
    files
}

pub(crate) fn request(env: &str, version: &str) -> DeployRequest {
    DeployRequest::builder()
        .user("octocat")
        .mfe("checkout")
        .version(version)
        .environment(env)
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .build()
        .unwrap()
}

pub(crate) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        "2026-11-26T12:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[tokio::test]
async fn accepted_request_opens_one_pr_with_a_sticky_plan_and_a_queued_deployment() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let req = request("dev", "1.5.0");
    let report = process(
        &repo,
        None,
        Ok(&req),
        now(),
        &forge,
        Some(&forge),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    assert_eq!(report.decision.decision, Outcome::Accept);
    let number = report.pull_request.unwrap();
    let pr = forge.pull_request(number).await.unwrap();
    assert_eq!(pr.branch, "gitops/dev/checkout");
    assert_eq!(
        forge.changed_files(number).await.unwrap(),
        ["deployments/dev/checkout.json"]
    );

    // A newer request for the same pair updates the same PR and the same comment.
    let newer = request("dev", "1.6.0");
    let again = process(
        &repo,
        None,
        Ok(&newer),
        now(),
        &forge,
        Some(&forge),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    assert_eq!(again.pull_request, Some(number));
    let comments = forge.comments(number).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("1.4.0 -> **1.6.0**"),
        "{}",
        comments[0].body
    );

    let deployments = forge
        .list_deployments(req.repository(), req.sha(), req.environment())
        .await
        .unwrap();
    assert_eq!(deployments.len(), 2);
    let statuses = forge
        .deployment_statuses(req.repository(), report.deployment.unwrap())
        .await
        .unwrap();
    // Queued first, then told that the newer request superseded it, naming it.
    assert_eq!(format!("{:?}", statuses[1].state), "Queued");
    assert_eq!(format!("{:?}", statuses[0].state), "Inactive");
    assert!(
        statuses[0]
            .description
            .as_deref()
            .is_some_and(|d| d.contains(newer.id().as_str())),
        "{statuses:?}"
    );
    assert_eq!(again.superseded.as_ref(), Some(req.id()));
    assert_eq!(
        deployments
            .iter()
            .filter(|d| d.payload.as_ref().is_some_and(|p| p.id == *req.id()))
            .count(),
        1
    );
}

#[tokio::test]
async fn refused_and_replayed_requests_open_nothing_and_tell_the_requester() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let refused = request("staging", "9.9.9");
    let report = process(
        &repo,
        None,
        Ok(&refused),
        now(),
        &forge,
        Some(&forge),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    assert_eq!(report.decision.decision, Outcome::Reject);
    assert!(report.pull_request.is_none());
    let statuses = forge
        .deployment_statuses(refused.repository(), report.deployment.unwrap())
        .await
        .unwrap();
    assert_eq!(format!("{:?}", statuses[0].state), "Failure");
    let description = statuses[0].description.clone().unwrap_or_default();
    assert!(description.contains("promotion-required"), "{description}");

    let replay = request("dev", "1.4.0");
    let report = process(
        &repo,
        None,
        Ok(&replay),
        now(),
        &forge,
        Some(&forge),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    assert_eq!(report.decision.decision, Outcome::Noop);
    assert!(forge.open_pull_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn merge_checks_then_merges_the_checked_head() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let report = process(
        &repo,
        None,
        Ok(&request("dev", "1.5.0")),
        now(),
        &forge,
        None,
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    let number = report.pull_request.unwrap();
    match merge_pull_request(&forge, None, number, now(), &gitops_metrics::NullSink)
        .await
        .unwrap()
    {
        MergeOutcome::Merged { .. } => {}
        other => panic!("expected a merge, got {other:?}"),
    }
    let merged = forge.read_tree(forge.base_branch()).await.unwrap();
    let text = String::from_utf8(merged.files["deployments/dev/checkout.json"].clone()).unwrap();
    assert!(text.contains("\"version\": \"1.5.0\""));
    assert_eq!(
        forge
            .combined_checks(&forge.pull_request(number).await.unwrap().head_sha)
            .await
            .unwrap()
            .contexts[0]
            .name,
        "gitops/checks"
    );
}

#[tokio::test]
async fn merge_refuses_a_pr_that_the_policy_now_refuses_or_that_touches_other_files() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    // Accepted in dev at 1.5.0 ...
    let number = process(
        &repo,
        None,
        Ok(&request("dev", "1.5.0")),
        now(),
        &forge,
        None,
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    // ... but main moved on to 1.7.0 meanwhile: merging would be a downgrade.
    let mut moved = String::from_utf8(files()["deployments/dev/checkout.json"].clone()).unwrap();
    moved = moved
        .replace("1.4.0", "1.7.0")
        .replace("\"sequence\": 3", "\"sequence\": 9");
    forge
        .push_to_base(&[FileWrite::put(
            "deployments/dev/checkout.json",
            moved.into_bytes(),
        )])
        .unwrap();
    match merge_pull_request(&forge, None, number, now(), &gitops_metrics::NullSink)
        .await
        .unwrap()
    {
        MergeOutcome::Refused { reasons } => assert!(
            reasons.iter().any(|r| r.starts_with("downgrade")),
            "{reasons:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        format!("{:?}", forge.pull_request(number).await.unwrap().state),
        "Open"
    );
}

#[tokio::test]
async fn prod_waits_for_an_approval_of_the_head() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let number = process(
        &repo,
        None,
        Ok(&request("prod", "1.4.0")),
        now(),
        &forge,
        None,
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    assert_eq!(
        merge_pull_request(&forge, None, number, now(), &gitops_metrics::NullSink)
            .await
            .unwrap(),
        MergeOutcome::WaitingForApproval
    );
    // An approval counts from someone with write access (not the requester, not a bot).
    forge.grant_write(&"release-manager".parse().unwrap());
    forge
        .record_approval(number, &"release-manager".parse().unwrap())
        .unwrap();
    assert!(matches!(
        merge_pull_request(&forge, None, number, now(), &gitops_metrics::NullSink)
            .await
            .unwrap(),
        MergeOutcome::Merged { .. }
    ));
}

/// The requester's workflow makes the request's deployment before dispatching (`mfe dispatch`).
async fn requester_makes_deployment(forge: &FakeForge, req: &DeployRequest) -> u64 {
    forge
        .create_deployment(
            req.repository(),
            req.sha(),
            req.environment(),
            &gitops_event_model::DeploymentPayload::of(req),
            "checkout",
        )
        .await
        .unwrap()
}

async fn process_verified(
    forge: &FakeForge,
    req: &DeployRequest,
) -> gitops_pipeline::ProcessReport {
    let repo = Repository::from_files(&files()).unwrap();
    process(
        &repo,
        None,
        Ok(req),
        now(),
        forge,
        Some(forge),
        OriginCheck::Verify,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_proven_request_is_told_on_the_deployment_its_requester_made() {
    let forge = FakeForge::with_files(files());
    let req = request("dev", "1.5.0");
    let id = requester_makes_deployment(&forge, &req).await;
    let report = process_verified(&forge, &req).await;
    assert_eq!(report.decision.decision, Outcome::Accept, "{report:?}");
    assert_eq!(report.deployment, Some(id));
    let deployments = forge
        .list_deployments(req.repository(), req.sha(), req.environment())
        .await
        .unwrap();
    assert_eq!(
        deployments.len(),
        1,
        "no second deployment: {deployments:?}"
    );
    let statuses = forge
        .deployment_statuses(req.repository(), id)
        .await
        .unwrap();
    assert_eq!(statuses[0].state, gitops_gh_pr::DeploymentState::Queued);
}

#[tokio::test]
async fn a_request_its_repository_did_not_make_is_refused_and_nobody_is_told() {
    // No deployment at all: a dispatch-token holder claiming acme/checkout-mfe.
    let forge = FakeForge::with_files(files());
    let req = request("dev", "1.5.0");
    let report = process_verified(&forge, &req).await;
    assert_eq!(report.decision.decision, Outcome::Reject);
    assert_eq!(
        report.decision.codes(),
        [gitops_iac_config::Code::UnverifiedOrigin]
    );
    assert_eq!(report.pull_request, None);
    assert_eq!(report.deployment, None);
    assert!(forge.open_pull_requests().await.unwrap().is_empty());
    assert!(
        forge
            .list_deployments(req.repository(), req.sha(), req.environment())
            .await
            .unwrap()
            .is_empty(),
        "nothing written on the claimed repository"
    );

    // A deployment carrying the request, made with a person's token rather than a workflow's.
    let forge = FakeForge::with_files(files());
    forge.set_deployment_creator("mallory");
    let id = requester_makes_deployment(&forge, &req).await;
    let report = process_verified(&forge, &req).await;
    assert_eq!(
        report.decision.codes(),
        [gitops_iac_config::Code::UnverifiedOrigin]
    );
    assert!(report.decision.reasons[0].message.contains("mallory"));
    assert!(forge.open_pull_requests().await.unwrap().is_empty());
    assert!(
        forge
            .deployment_statuses(req.repository(), id)
            .await
            .unwrap()
            .is_empty()
    );

    // The request's id on a deployment the requester made for another version.
    let forge = FakeForge::with_files(files());
    let other = request("dev", "1.4.0");
    forge
        .create_deployment(
            req.repository(),
            req.sha(),
            req.environment(),
            &gitops_event_model::DeploymentPayload {
                id: req.id().clone(),
                ..gitops_event_model::DeploymentPayload::of(&other)
            },
            "checkout",
        )
        .await
        .unwrap();
    let report = process_verified(&forge, &req).await;
    assert_eq!(
        report.decision.codes(),
        [gitops_iac_config::Code::UnverifiedOrigin]
    );
}
