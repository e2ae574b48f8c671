//! What a waiter costs on GitHub (issue 14): conditional GETs answered `304` from memory and
//! free on fake-github's rate limit, and a token refused for a missing permission told which
//! one.

use std::time::Duration;

use gitops_event_model::{DeploymentPayload, RequestId};
use gitops_gh_pr::{DeploymentState, Error, GithubForge, Requester, RetryPolicy};
use gitops_testkit::FakeGithub;
use secrecy::SecretString;

use crate::{env as env_name, repo, sha};

/// fake-github's rate limit used so far, read without spending it (`GET /rate_limit` is free).
async fn rate_used(gh: &FakeGithub) -> u64 {
    let (status, v) = gh
        .api("reader:x", http::Method::GET, "/rate_limit", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    v["resources"]["core"]["used"].as_u64().unwrap()
}

fn forge(gh: &FakeGithub, token: &str, name: &str) -> GithubForge {
    GithubForge::new(&gh.base_url, SecretString::from(token), repo(name))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_total: Duration::from_secs(2),
        })
}

fn payload() -> DeploymentPayload {
    DeploymentPayload::from_value(&serde_json::json!({
        "id": RequestId::generate().as_str(),
        "mfe": "checkout",
        "version": "1.2.3",
    }))
    .unwrap()
}

#[tokio::test]
async fn an_unchanged_poll_is_a_free_304_answered_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), gitops_testkit::openapi_from_env())
        .await
        .unwrap();
    let head = gh
        .create_repo("acme", "checkout", &[("README.md", "# checkout\n")])
        .await
        .unwrap()
        .unwrap();
    let f = forge(&gh, "reader:x", "acme/checkout");
    let r = repo("acme/checkout");
    let d = f
        .create_deployment(
            &r,
            &sha(&head),
            &env_name("prod"),
            &payload(),
            "checkout 1.2.3",
        )
        .await
        .unwrap();

    let first = f.deployment_statuses(&r, d).await.unwrap();
    assert!(first.is_empty());
    assert_eq!(f.not_modified(), 0);
    let (calls, used) = (f.calls(), rate_used(&gh).await);
    let again = f.deployment_statuses(&r, d).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(f.calls(), calls + 1, "one request");
    assert_eq!(f.not_modified(), 1, "answered 304");
    assert_eq!(rate_used(&gh).await, used, "a 304 costs no rate limit");

    // A new status is a new tag: the next poll reads it whole, and counts.
    f.create_deployment_status(&r, d, DeploymentState::InProgress, "deploying", None, None)
        .await
        .unwrap();
    let used = rate_used(&gh).await;
    let changed = f.deployment_statuses(&r, d).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, DeploymentState::InProgress);
    assert_eq!(f.not_modified(), 1);
    assert_eq!(rate_used(&gh).await, used + 1);
    let same = f.deployment_statuses(&r, d).await.unwrap();
    assert_eq!(same, changed);
    assert_eq!(f.not_modified(), 2);

    // The same holds for the deployments list, and fake-github logs the 304s.
    f.list_deployments(&r, &sha(&head), &env_name("prod"))
        .await
        .unwrap();
    let listed = f
        .list_deployments(&r, &sha(&head), &env_name("prod"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(f.not_modified(), 3);
    let log = gh.requests().await.unwrap();
    assert_eq!(
        log.iter().filter(|r| r.status == 304).count(),
        3,
        "{log:#?}"
    );
    if gitops_testkit::openapi_from_env().is_some() {
        let v = gh.violations().await.unwrap();
        assert!(v.is_empty(), "{v:#?}");
    }
}

#[tokio::test]
async fn a_refusal_for_a_missing_permission_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = gitops_testkit::runner::RunnerConfig::new(
        dir.path().join("no-act"),
        dir.path().join("work"),
    );
    let gh = FakeGithub::spawn_with_runner(dir.path().join("data"), None, cfg)
        .await
        .unwrap();
    let head = gh
        .create_repo("acme", "checkout", &[("README.md", "# checkout\n")])
        .await
        .unwrap()
        .unwrap();
    // A job token of acme/checkout that may read deployments but not create them.
    let (status, minted) = gh
        .api(
            "testkit",
            http::Method::POST,
            "/_fake/tokens",
            Some(serde_json::json!({
                "repository": "acme/checkout",
                "permissions": {"deployments": "read", "contents": "read"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    let f = forge(&gh, &token, "acme/checkout");
    let r = repo("acme/checkout");
    let e = f
        .create_deployment(
            &r,
            &sha(&head),
            &env_name("prod"),
            &payload(),
            "checkout 1.2.3",
        )
        .await
        .unwrap_err();
    let Error::Unauthorized { message } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        message,
        "GitHub refused POST /repos/acme/checkout/deployments: the token lacks \
         `deployments: write` on acme/checkout (403 Resource not accessible by integration)"
    );
    assert!(!message.contains(&token));
    // What it may do, it does.
    assert!(
        f.list_deployments(&r, &sha(&head), &env_name("prod"))
            .await
            .unwrap()
            .is_empty()
    );
    let e = f
        .dispatch(
            &r,
            &gitops_event_model::EventType::parse("deploy-request").unwrap(),
            &serde_json::json!({}),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("`contents: write` on acme/checkout"),
        "{e}"
    );
}
