//! Who may approve a deploy pull request: an approval of the head counts only from a user
//! with write access to the GitOps repository who is neither the requester nor a bot.

use gitops_gh_pr::FakeForge;
use gitops_iac_config::Repository;
use gitops_pipeline::merge::counting_approvals;
use gitops_pipeline::{MergeOutcome, OriginCheck, merge_pull_request, process};

use crate::forge::{files, now, request};
use crate::login;

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
        merge_pull_request(forge, None, number, now(), &gitops_metrics::NullSink)
            .await
            .unwrap(),
        MergeOutcome::WaitingForApproval
    );
    number
}

async fn merge(forge: &FakeForge, number: u64) -> MergeOutcome {
    merge_pull_request(forge, None, number, now(), &gitops_metrics::NullSink)
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

/// The statuses of the one deployment `process` made for `req` (newest first).
async fn told(forge: &FakeForge, req: &gitops_event_model::DeployRequest) -> Vec<(String, String)> {
    use gitops_gh_pr::Requester;
    let deployments = forge
        .list_deployments(req.repository(), req.sha(), req.environment())
        .await
        .unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    forge
        .deployment_statuses(req.repository(), deployments[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.state.as_str().to_owned(),
                s.description.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_requester_is_told_it_waits_for_an_approval_once_and_by_whom() {
    use gitops_gh_pr::Requester;
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let req = request("prod", "1.4.0");
    let number = process(
        &repo,
        None,
        Ok(&req),
        now(),
        &forge,
        Some(&forge as &dyn Requester),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    for _ in 0..3 {
        // The checks run again on every review and every sweep.
        assert_eq!(
            merge_pull_request(
                &forge,
                Some(&forge as &dyn Requester),
                number,
                now(),
                &gitops_metrics::NullSink
            )
            .await
            .unwrap(),
            MergeOutcome::WaitingForApproval
        );
    }
    let statuses = told(&forge, &req).await;
    assert_eq!(
        statuses.len(),
        2,
        "queued, then in_progress once: {statuses:?}"
    );
    let (state, said) = &statuses[0];
    assert_eq!(state, "in_progress");
    assert!(
        said.contains(&format!("pull request #{number}")) && said.contains("not @octocat"),
        "{said}"
    );
}

#[tokio::test]
async fn a_refusal_at_merge_is_told_to_the_requester() {
    use gitops_gh_pr::Requester;
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let req = request("dev", "1.5.0");
    let number = process(
        &repo,
        None,
        Ok(&req),
        now(),
        &forge,
        Some(&forge as &dyn Requester),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    // Meanwhile dev is frozen on main: the checks refuse the PR at merge time.
    let config = String::from_utf8(files()["gitops.yaml"].clone()).unwrap();
    let frozen = config.replacen(
        "  - name: dev\n",
        "  - name: dev\n    freeze:\n      - { from: 2026-01-01T00:00:00Z, until: 2027-01-01T00:00:00Z, reason: audit }\n",
        1,
    );
    assert_ne!(frozen, config, "the example names dev first");
    forge
        .push_to_base(&[gitops_gh_pr::FileWrite::put("gitops.yaml", frozen)])
        .unwrap();
    for _ in 0..2 {
        // The sweep checks the refused PR again: the requester hears it once.
        let outcome = merge_pull_request(
            &forge,
            Some(&forge as &dyn Requester),
            number,
            now(),
            &gitops_metrics::NullSink,
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, MergeOutcome::Refused { .. }),
            "{outcome:?}"
        );
    }
    let statuses = told(&forge, &req).await;
    assert_eq!(statuses.len(), 2, "queued, then failure once: {statuses:?}");
    let (state, said) = &statuses[0];
    assert_eq!(state, "failure", "{statuses:?}");
    assert!(
        said.contains("refused at merge") && said.contains("freeze-window"),
        "{said}"
    );
}
