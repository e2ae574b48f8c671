//! The newest intent wins (issue 10, items 1-3): pending requests, git order of desired
//! states, SemVer precedence; through the `gitops` binary on the local forge.

use gitops_event_model::{CommitSha, EnvironmentName, RepositoryName};
use gitops_gh_pr::{LocalGitForge, Requester};

use crate::support::{Repo, both};

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

/// The statuses (newest first) of the deployment created for request `id` on (repo, env).
async fn statuses_of(repo: &Repo, mfe: &str, env: &str, id: &str) -> Vec<(String, String)> {
    let forge = LocalGitForge::open(repo.path()).await.unwrap();
    let repository = RepositoryName::parse(&format!("acme/{mfe}-mfe")).unwrap();
    let deployments = forge
        .list_deployments(
            &repository,
            &CommitSha::parse(SHA).unwrap(),
            &EnvironmentName::parse(env).unwrap(),
        )
        .await
        .unwrap();
    let deployment = deployments
        .iter()
        .find(|d| d.payload.as_ref().is_some_and(|p| p.id.as_str() == id))
        .unwrap_or_else(|| panic!("no deployment for request {id}"));
    forge
        .deployment_statuses(&repository, deployment.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (format!("{:?}", s.state), s.description.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn an_older_request_never_replaces_a_newer_pending_one() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "2.1.0");
    repo.publish("checkout", "2.0.0");
    let (newer, code) = repo.process("checkout", "dev", "2.1.0");
    assert_eq!((code, newer["decision"].as_str()), (0, Some("accept")));
    let (older, code) = repo.process("checkout", "dev", "2.0.0");
    assert_eq!(code, 1, "{older}");
    assert_eq!(older["decision"], "reject");
    assert_eq!(older["reasons"][0]["code"], "downgrade", "{older}");
    assert!(
        older["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2.1.0"),
        "the refusal names the pending version: {older}"
    );
    repo.ok(&["merge", "--all"]);
    repo.ok(&["deploy"]);
    assert_eq!(repo.desired("dev", "checkout")["version"], "2.1.0");
    assert_eq!(repo.status("dev", "checkout")["version"], "2.1.0");
    // Its requester was told why, on its own commit.
    let forge = LocalGitForge::open(repo.path()).await.unwrap();
    let told = forge
        .deployment_statuses(
            &RepositoryName::parse("acme/checkout-mfe").unwrap(),
            older["deployment"].as_u64().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(format!("{:?}", told[0].state), "Failure", "{told:?}");
}

#[tokio::test]
async fn a_newer_request_replaces_the_pending_one_and_its_requester_is_told() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let first = ulid::Ulid::generate().to_string();
    let second = ulid::Ulid::generate().to_string();
    let e1 = repo.request_with_id("checkout", "dev", "2.0.0", &first);
    let e2 = repo.request_with_id("checkout", "dev", "2.1.0", &second);
    repo.ok(&["process", "--event", e1.to_str().unwrap()]);
    let report: serde_json::Value =
        serde_json::from_str(&repo.ok(&["process", "--event", e2.to_str().unwrap()])).unwrap();
    assert_eq!(report["superseded"], first.as_str(), "{report}");
    assert_eq!(
        report["pull_request"], 1,
        "the same PR is updated: {report}"
    );
    let told = statuses_of(&repo, "checkout", "dev", &first).await;
    assert_eq!(told[0].0, "Inactive", "{told:?}");
    assert!(
        told[0].1.contains(&second),
        "names the newer request: {told:?}"
    );
    // A replay of the pending request changes nothing and is not told "live".
    let replay: serde_json::Value =
        serde_json::from_str(&repo.ok(&["process", "--event", e2.to_str().unwrap()])).unwrap();
    assert_eq!(replay["decision"], "noop");
    assert_eq!(replay["reasons"][0]["code"], "already-pending", "{replay}");
    let replay_told = statuses_of(&repo, "checkout", "dev", &second).await;
    assert!(
        replay_told.iter().all(|(state, _)| state != "Success"),
        "{replay_told:?}"
    );
}

/// 12 rounds of three requests for one pair started at once, in a shuffled order: the pending
/// change must always end on the newest version. (Before the fix, 7 of 12 ended on an older.)
#[test]
fn concurrent_requests_for_one_pair_always_end_on_the_newest() {
    let versions = ["2.0.0", "2.1.0", "2.0.5"];
    for round in 0..12 {
        let repo = Repo::new(&["dev"], &["checkout"]);
        let mut order: Vec<&str> = versions.to_vec();
        order.rotate_left(round % 3);
        if round % 2 == 1 {
            order.reverse();
        }
        let events: Vec<_> = order
            .iter()
            .map(|v| repo.request("checkout", "dev", v))
            .collect();
        let children: Vec<_> = events
            .iter()
            .map(|e| {
                repo.command(&["process", "--event", e.to_str().unwrap()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "round {round}: {}",
                both(&out)
            );
        }
        let pending = repo.git(&["show", "gitops/dev/checkout:deployments/dev/checkout.json"]);
        assert!(
            pending.contains("\"version\": \"2.1.0\""),
            "round {round} ({order:?}) ended on {pending}"
        );
    }
}

#[test]
fn a_hand_written_desired_state_without_sequence_deploys() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.publish("checkout", "1.1.0");
    repo.ship("checkout", "dev", "1.0.0");
    // A person writes the next desired state by hand, with no `sequence`, and commits it.
    let mut desired = repo.desired("dev", "checkout");
    desired.as_object_mut().unwrap().remove("sequence");
    desired["version"] = "1.1.0".into();
    desired["request_id"] = ulid::Ulid::generate().to_string().into();
    std::fs::write(
        repo.path().join("deployments/dev/checkout.json"),
        serde_json::to_string_pretty(&desired).unwrap() + "\n",
    )
    .unwrap();
    repo.commit_all("dev: checkout 1.1.0, by hand");
    let out = repo.ok(&["deploy"]);
    assert!(out.contains("dev/checkout 1.1.0: deployed"), "{out}");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.1.0");
    assert_eq!(repo.status("dev", "checkout")["state"], "in-sync");
}

#[test]
fn a_hand_edit_that_keeps_an_old_sequence_still_deploys() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.publish("checkout", "1.2.0");
    repo.ship("checkout", "dev", "1.0.0");
    let mut desired = repo.desired("dev", "checkout");
    desired["version"] = "1.2.0".into();
    desired["sequence"] = 1.into();
    std::fs::write(
        repo.path().join("deployments/dev/checkout.json"),
        serde_json::to_string_pretty(&desired).unwrap() + "\n",
    )
    .unwrap();
    repo.commit_all("hand edit keeping sequence 1");
    let out = repo.ok(&["deploy"]);
    assert!(out.contains("dev/checkout 1.2.0: deployed"), "{out}");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.2.0");
}

#[test]
fn git_revert_of_a_deploy_goes_live_and_is_recorded_as_a_rollback() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.publish("checkout", "1.1.0");
    repo.ship("checkout", "dev", "1.0.0");
    repo.ship("checkout", "dev", "1.1.0");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.1.0");
    // Revert the merge that brought 1.1.0.
    repo.git(&["revert", "--no-edit", "-m", "1", "HEAD"]);
    assert_eq!(repo.desired("dev", "checkout")["version"], "1.0.0");
    let out = repo.ok(&["deploy"]);
    assert!(out.contains("dev/checkout 1.0.0: deployed"), "{out}");
    let row = repo.status("dev", "checkout");
    assert_eq!(row["version"], "1.0.0");
    assert_eq!(row["rollback"], true, "{row}");
    assert_eq!(row["state"], "in-sync", "{row}");
    // Deploying an older checkout (the commit before the revert) is superseded, not applied.
    repo.git(&["checkout", "-q", "HEAD~1"]);
    let out = repo.ok(&["deploy"]);
    assert!(out.contains("superseded"), "{out}");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.0.0");
}

#[test]
fn an_environment_named_staging_goes_from_request_to_live() {
    let repo = Repo::new(&["dev", "Staging"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "Staging", "1.0.0");
    let row = repo.status("Staging", "checkout");
    assert_eq!(row["version"], "1.0.0", "{row}");
    assert_eq!(row["state"], "in-sync", "{row}");
    assert!(
        repo.import_map("Staging")["imports"]["checkout"]
            .as_str()
            .unwrap()
            .ends_with("/mfe/checkout/1.0.0/remoteEntry.js")
    );
}

#[test]
fn build_metadata_is_not_newer() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    let (report, code) = repo.process("checkout", "dev", "1.0.0+zzz");
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["reasons"][0]["code"], "downgrade", "{report}");
    let (report, code) = repo.process("checkout", "dev", "1.0.0");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["decision"], "noop", "{report}");
}
