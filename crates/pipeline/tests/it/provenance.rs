//! Issue 14, part 6: the deploy checks that the request names the commit (and repository) that
//! built the version, as `mfe publish` recorded it next to the archive; nothing is uploaded
//! when they disagree, and the requester is told why.

use std::sync::Arc;

use gitops_artifact_store::{Origin, StoreOpener, publish_dir_with};
use gitops_db_registry::Registry as _;
use gitops_gh_pr::Requester as _;
use gitops_iac_config::Deployment;
use gitops_pipeline::{DeployOptions, ErrorClass, PairOutcome, deploy_all};

use super::{Fakes, desired, env, keys, mfe, parse, repository};

/// The commit that built the version (the desired states of `desired()` name it).
const BUILT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
/// The head of the branch a manual CD run started on: not the commit that built the version.
const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Publishes `mfe` at `version` with `mfe publish`'s library call, recording `sha` of
/// `repository` as its provenance.
async fn publish_built(fakes: &Fakes, name: &str, version: &str, sha: &str, repository: &str) {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(
        dist.path().join("remoteEntry.js"),
        format!("// {name} {version}\n"),
    )
    .unwrap();
    let location = StoreOpener::new(fakes.root.path())
        .open_artifact(
            "local/artifacts/{name}/{name}-{version}.tgz",
            &mfe(name),
            &parse(version),
        )
        .unwrap();
    let origin = Origin {
        mfe: mfe(name),
        version: parse(version),
        repository: Some(parse(repository)),
        sha: parse(sha),
        git_ref: Some(parse("refs/heads/main")),
    };
    let report = publish_dir_with(&location, dist.path(), Some(&origin))
        .await
        .unwrap();
    assert!(report.provenance.is_some());
}

/// The failure of the only pair of `outcome`, or a panic.
fn failure(outcome: &PairOutcome) -> (&str, ErrorClass) {
    match outcome {
        PairOutcome::Failed { error, class, .. } => (error, *class),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Deploys `desired` with a fake requester holding the request's deployment; the report and
/// the statuses its requester was told.
async fn deploy_told(
    fakes: &Fakes,
    desired: &Deployment,
) -> (gitops_pipeline::DeployReport, Vec<String>) {
    let forge = Arc::new(gitops_gh_pr::FakeForge::new());
    let id = forge
        .create_deployment(
            &desired.repository,
            &desired.sha,
            &desired.environment,
            &gitops_event_model::DeploymentPayload {
                id: desired.request_id.clone(),
                mfe: desired.mfe.clone(),
                version: desired.version.clone(),
                user: None,
                keys: Vec::new(),
            },
            "deploy",
        )
        .await
        .unwrap();
    let options = DeployOptions {
        requester: Some(forge.clone()),
        ..DeployOptions::default()
    };
    let report = deploy_all(&repository(std::slice::from_ref(desired)), fakes, &options)
        .await
        .unwrap();
    let told = forge
        .deployment_statuses(&desired.repository, id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| format!("{:?}: {}", s.state, s.description.unwrap_or_default()))
        .collect();
    (report, told)
}

#[tokio::test]
async fn a_version_deploys_when_the_request_names_the_commit_that_built_it() {
    let fakes = Fakes::new();
    publish_built(&fakes, "checkout", "1.5.0", BUILT, "acme/checkout-mfe").await;
    let (report, _) = deploy_told(&fakes, &desired("dev", "checkout", "1.5.0", 4)).await;
    assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed, "{report:?}");
    assert!(report.pairs[0].warnings.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_request_naming_another_commit_fails_before_anything_is_uploaded() {
    let fakes = Fakes::new();
    publish_built(&fakes, "checkout", "1.5.0", BUILT, "acme/checkout-mfe").await;
    let mut manual = desired("dev", "checkout", "1.5.0", 4);
    manual.sha = parse(HEAD);
    let (report, told) = deploy_told(&fakes, &manual).await;
    let (error, class) = failure(&report.pairs[0].outcome);
    assert!(
        error.contains(BUILT) && error.contains(HEAD) && error.contains("provenance"),
        "{error}"
    );
    assert_eq!(class, ErrorClass::Refused);
    assert!(
        keys(fakes.storage("dev")).await.is_empty(),
        "nothing uploaded"
    );
    assert!(
        fakes
            .registry
            .get(&env("dev"), &mfe("checkout"))
            .await
            .unwrap()
            .is_none()
    );
    // The requester learns why, through the deploy's failure reporting.
    assert!(
        told.iter()
            .any(|t| t.starts_with("Failure") && t.contains(BUILT) && t.contains(HEAD)),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_version_built_by_another_repository_is_refused() {
    let fakes = Fakes::new();
    publish_built(&fakes, "checkout", "1.5.0", BUILT, "acme/evil").await;
    let (report, _) = deploy_told(&fakes, &desired("dev", "checkout", "1.5.0", 4)).await;
    let (error, _) = failure(&report.pairs[0].outcome);
    assert!(
        error.contains("acme/evil") && error.contains("acme/checkout-mfe"),
        "{error}"
    );
    assert!(keys(fakes.storage("dev")).await.is_empty());
}

#[tokio::test]
async fn a_provenance_of_another_archive_is_refused() {
    let fakes = Fakes::new();
    publish_built(&fakes, "checkout", "1.5.0", BUILT, "acme/checkout-mfe").await;
    // The record describes other bytes than the sidecar vouches for.
    let record = fakes
        .root
        .path()
        .join("local/artifacts/checkout/checkout-1.5.0.tgz.provenance.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["sha256"] = "0".repeat(64).into();
    std::fs::write(&record, value.to_string()).unwrap();
    let (report, _) = deploy_told(&fakes, &desired("dev", "checkout", "1.5.0", 4)).await;
    let (error, class) = failure(&report.pairs[0].outcome);
    assert!(
        error.contains(&"0".repeat(64)) && error.contains("sidecar"),
        "{error}"
    );
    assert_eq!(class, ErrorClass::Refused);
    assert!(keys(fakes.storage("dev")).await.is_empty());
}

#[tokio::test]
async fn an_artifact_without_provenance_deploys_with_a_warning() {
    let fakes = Fakes::new();
    // Published as an older mfe did: archive and sidecar only.
    fakes.publish("checkout", "1.5.0");
    let mut manual = desired("dev", "checkout", "1.5.0", 4);
    manual.sha = parse(HEAD);
    let (report, _) = deploy_told(&fakes, &manual).await;
    assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed, "{report:?}");
    let warnings = &report.pairs[0].warnings;
    assert!(
        warnings.len() == 1 && warnings[0].contains("no provenance") && warnings[0].contains(HEAD),
        "{warnings:?}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["pairs"][0]["warnings"][0].is_string(), "{json}");
}
