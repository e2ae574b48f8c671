//! The requester's waiter (issue 14): it ends on a final status at the poll that sees it,
//! times out only at its timeout, and on fake-github twenty of them at once spend few counted
//! requests (conditional polls answered `304` are free).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_event_model::{DeployRequest, DeploymentPayload, RepositoryName};
use gitops_gh_pr::{DeploymentState, FakeForge, GithubForge, Requester, RetryPolicy};
use gitops_pipeline::follow::{ApiUse, FollowSettings, Outcome, follow_deployment};
use gitops_testkit::FakeGithub;
use secrecy::SecretString;

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

fn request(repository: &str, sha: &str) -> DeployRequest {
    request_to("prod", repository, sha)
}

fn request_to(environment: &str, repository: &str, sha: &str) -> DeployRequest {
    DeployRequest::builder()
        .user("octocat")
        .mfe("checkout")
        .version("1.2.3")
        .environment(environment)
        .repository(repository)
        .git_ref("refs/heads/main")
        .sha(sha)
        .build()
        .unwrap()
}

fn settings(timeout_ms: u64) -> FollowSettings {
    FollowSettings {
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn a_final_status_ends_the_wait_at_the_next_poll() {
    let forge = Arc::new(FakeForge::new());
    let req = request("acme/checkout", SHA);
    let repo = req.repository().clone();
    let id = forge
        .create_deployment(
            &repo,
            req.sha(),
            req.environment(),
            &DeploymentPayload::of(&req),
            "checkout 1.2.3",
        )
        .await
        .unwrap();
    let poster = Arc::clone(&forge);
    let r = repo.clone();
    let final_posted = tokio::spawn(async move {
        for (state, text) in [
            (DeploymentState::Queued, "queued"),
            (DeploymentState::InProgress, "waiting for approval"),
            (DeploymentState::Success, "live"),
        ] {
            tokio::time::sleep(Duration::from_millis(60)).await;
            poster
                .create_deployment_status(&r, id, state, text, None, None)
                .await
                .unwrap();
        }
        Instant::now()
    });
    let calls = forge.calls();
    let mut seen = Vec::new();
    let report = follow_deployment(
        forge.as_ref(),
        &req,
        Some(id),
        settings(20_000),
        &mut |step| {
            if let gitops_pipeline::follow::Step::Status(s) = step {
                seen.push(s.state);
            }
        },
    )
    .await;
    let ended = Instant::now();
    let success_posted = final_posted.await.unwrap();
    assert_eq!(report.outcome, Outcome::Deployed, "{report:?}");
    assert_eq!(report.deployment, Some(id));
    assert_eq!(
        seen,
        [
            DeploymentState::Queued,
            DeploymentState::InProgress,
            DeploymentState::Success
        ]
    );
    // Within one wait of the status: changes keep the waits short (here 10 ms, 15 ms, ...).
    assert!(
        ended.duration_since(success_posted) < Duration::from_millis(500),
        "{:?} after the final status",
        ended.duration_since(success_posted)
    );
    // No search: each poll of a known deployment is one read (plus the three statuses posted).
    assert_eq!(forge.calls() - calls, u64::from(report.polls) + 3);
}

#[tokio::test]
async fn only_the_timeout_times_out() {
    let forge = FakeForge::new();
    let req = request("acme/checkout", SHA);
    let id = forge
        .create_deployment(
            req.repository(),
            req.sha(),
            req.environment(),
            &DeploymentPayload::of(&req),
            "checkout 1.2.3",
        )
        .await
        .unwrap();
    forge
        .create_deployment_status(
            req.repository(),
            id,
            DeploymentState::InProgress,
            "waiting for approval by @acme/approvers",
            None,
            None,
        )
        .await
        .unwrap();
    let started = Instant::now();
    let calls = forge.calls();
    let report = follow_deployment(&forge, &req, Some(id), settings(400), &mut |_| {}).await;
    assert_eq!(report.outcome, Outcome::TimedOut, "{report:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(
        report.last.map(|s| s.state),
        Some(DeploymentState::InProgress)
    );
    // Backed off: far fewer polls than 400 ms / 10 ms, each a single read.
    assert!(report.polls < 20, "{} polls", report.polls);
    assert_eq!(forge.calls() - calls, u64::from(report.polls));
}

/// One waiter's answer: how it ended, on which state, and what it spent.
struct Waited {
    outcome: Outcome,
    last: Option<DeploymentState>,
    api: ApiUse,
}

#[tokio::test]
async fn twenty_waiters_spend_few_counted_requests() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), gitops_testkit::openapi_from_env())
        .await
        .unwrap();
    let head = gh
        .create_repo("acme", "checkout", &[("README.md", "# checkout\n")])
        .await
        .unwrap()
        .unwrap();
    let repo = RepositoryName::parse("acme/checkout").unwrap();
    let forge = |token: &str| {
        GithubForge::new(&gh.base_url, SecretString::from(token), repo.clone())
            .unwrap()
            .with_retry_policy(RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                max_total: Duration::from_secs(5),
            })
    };
    let gitops = Arc::new(forge("gitops-bot:x"));
    // Twenty requests, each with the deployment its requester created; one environment each,
    // so no success makes another's deployment inactive.
    let mut requests = Vec::new();
    for i in 0..20 {
        let req = request_to(&format!("env-{i}"), "acme/checkout", &head);
        let id = gitops
            .create_deployment(
                &repo,
                req.sha(),
                req.environment(),
                &DeploymentPayload::of(&req),
                "checkout 1.2.3",
            )
            .await
            .unwrap();
        requests.push((req, id));
    }
    // What the GitOps side posts to each: a few statuses, then a final one.
    let plan = |i: usize| -> Vec<DeploymentState> {
        let last = match i % 4 {
            0 | 1 => DeploymentState::Success,
            2 => DeploymentState::Failure,
            _ => DeploymentState::Inactive,
        };
        vec![
            DeploymentState::Queued,
            DeploymentState::InProgress,
            DeploymentState::InProgress,
            last,
        ]
    };
    let poster = {
        let gitops = Arc::clone(&gitops);
        let ids: Vec<u64> = requests.iter().map(|(_, id)| *id).collect();
        let repo = repo.clone();
        tokio::spawn(async move {
            for round in 0..4 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                for (i, id) in ids.iter().enumerate() {
                    let state = plan(i)[round];
                    gitops
                        .create_deployment_status(
                            &repo,
                            *id,
                            state,
                            &format!("step {round}"),
                            None,
                            None,
                        )
                        .await
                        .unwrap();
                }
            }
        })
    };
    let waiters: Vec<_> = requests
        .into_iter()
        .map(|(req, id)| {
            let f = forge("octocat:x");
            tokio::spawn(async move {
                let before = ApiUse {
                    requests: f.calls(),
                    not_modified: f.not_modified(),
                };
                let mut report =
                    follow_deployment(&f, &req, Some(id), settings(30_000), &mut |_| {}).await;
                report.api = ApiUse {
                    requests: f.calls(),
                    not_modified: f.not_modified(),
                }
                .since(before);
                Waited {
                    outcome: report.outcome,
                    last: report.last.map(|s| s.state),
                    api: report.api,
                }
            })
        })
        .collect();
    poster.await.unwrap();
    let (mut free, mut counted) = (0, 0);
    for (i, w) in waiters.into_iter().enumerate() {
        let w = w.await.unwrap();
        let want = plan(i);
        assert_eq!(w.last, want.last().copied(), "waiter {i}");
        let outcome = if want.last() == Some(&DeploymentState::Success) {
            Outcome::Deployed
        } else {
            Outcome::Failed
        };
        assert_eq!(w.outcome, outcome, "waiter {i}");
        assert!(
            w.api.counted() <= want.len() as u64 + 2,
            "waiter {i} spent {:?} for {} statuses",
            w.api,
            want.len()
        );
        free += w.api.not_modified;
        counted += w.api.counted();
    }
    // The scenario's figure: what following a request cost its requester.
    eprintln!("20 waiters: {counted} counted requests, {free} not modified (free)");
    assert!(free > 0, "the waiters polled without conditional requests");
}
