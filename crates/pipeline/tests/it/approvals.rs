//! Who may approve a deploy pull request: an approval of the head counts only from a user
//! with write access to the GitOps repository who is neither the requester nor a bot.

use gitops_event_model::Login;
use gitops_gh_pr::FakeForge;
use gitops_iac_config::Repository;
use gitops_pipeline::merge::counting_approvals;
use gitops_pipeline::{MergeOutcome, OriginCheck, merge_pull_request, process};

use crate::forge::{files, now, request};

fn login(l: &str) -> Login {
    Login::parse(l).unwrap()
}

/// A prod deploy PR requested by `octocat`, waiting for its approval.
async fn prod_pr(forge: &FakeForge) -> u64 {
    let repo = Repository::from_files(&files()).unwrap();
    let number = process(
        &repo,
        None,
        Ok(&request("prod", "1.4.0")),
        now(),
        forge,
        None,
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    assert_eq!(
        merge_pull_request(forge, number, now(), &gitops_metrics::NullSink)
            .await
            .unwrap(),
        MergeOutcome::WaitingForApproval
    );
    number
}

async fn merge(forge: &FakeForge, number: u64) -> MergeOutcome {
    merge_pull_request(forge, number, now(), &gitops_metrics::NullSink)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_requesters_own_approval_does_not_count() {
    let forge = FakeForge::with_files(files());
    let number = prod_pr(&forge).await;
    // The requester may push, and still cannot approve their own deploy (any case).
    forge.grant_write(&login("octocat"));
    forge.record_approval(number, &login("OctoCat")).unwrap();
    assert_eq!(
        merge(&forge, number).await,
        MergeOutcome::WaitingForApproval
    );
}

#[tokio::test]
async fn a_read_only_users_approval_does_not_count() {
    let forge = FakeForge::with_files(files());
    let number = prod_pr(&forge).await;
    forge.record_approval(number, &login("visitor")).unwrap();
    assert_eq!(
        merge(&forge, number).await,
        MergeOutcome::WaitingForApproval
    );
}

#[tokio::test]
async fn a_bots_approval_does_not_count() {
    let forge = FakeForge::with_files(files());
    let number = prod_pr(&forge).await;
    for bot in ["github-actions[bot]", "renovate[bot]"] {
        forge.grant_write(&login(bot));
        forge.record_approval(number, &login(bot)).unwrap();
    }
    assert_eq!(
        merge(&forge, number).await,
        MergeOutcome::WaitingForApproval
    );
}

#[tokio::test]
async fn a_writers_approval_counts() {
    let forge = FakeForge::with_files(files());
    let number = prod_pr(&forge).await;
    forge.grant_write(&login("priya"));
    for l in ["octocat", "visitor", "priya", "github-actions[bot]"] {
        forge.record_approval(number, &login(l)).unwrap();
    }
    assert_eq!(
        counting_approvals(&forge, number, Some(&login("octocat")))
            .await
            .unwrap(),
        [login("priya")]
    );
    assert!(matches!(
        merge(&forge, number).await,
        MergeOutcome::Merged { .. }
    ));
}
