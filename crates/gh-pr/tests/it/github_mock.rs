//! The GitHub adapter against a tiny hand-written server, for what fake-github does not do:
//! echoing credentials back, an API root with a path (GitHub Enterprise Server), and
//! `x-ratelimit-reset`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use gitops_gh_pr::{Error, Forge, GithubForge, RetryPolicy};
use secrecy::SecretString;

const TOKEN: &str = "ghp_super-secret-value-123";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn pr_json(n: u64) -> serde_json::Value {
    serde_json::json!({
        "number": n, "state": "open", "title": "t", "body": null, "html_url": "https://example.test/pr",
        "merged": false, "mergeable": true, "merge_commit_sha": null,
        "head": {"ref": "gitops/prod/checkout", "sha": "a".repeat(40)},
        "base": {"ref": "main", "sha": "b".repeat(40)}
    })
}

#[tokio::test]
async fn token_never_reaches_errors_or_debug_even_when_echoed() {
    let app = Router::new().route(
        "/repos/acme/gitops/pulls/{n}",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"message": format!("Bad credentials: {auth}")})),
            )
        }),
    );
    let url = serve(app).await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), "acme", "gitops").unwrap();
    let err = f.pull_request(1).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let shown = format!("{err} / {err:?} / {f:?}");
    assert!(shown.contains("Bad credentials"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert_eq!(f.calls(), 1, "401 is not retried");
}

#[tokio::test]
async fn api_root_with_a_path_is_honoured() {
    let app = Router::new().route(
        "/api/v3/repos/acme/gitops/pulls/{n}",
        get(|| async { axum::Json(pr_json(7)) }),
    );
    let url = serve(app).await;
    let f = GithubForge::new(
        &format!("{url}/api/v3/"),
        SecretString::from(TOKEN),
        "acme",
        "gitops",
    )
    .unwrap();
    let pr = f.pull_request(7).await.unwrap();
    assert_eq!(pr.number, 7);
    assert_eq!(pr.body, "");
    assert_eq!(pr.mergeable, Some(true));
}

#[tokio::test]
async fn primary_rate_limit_waits_for_the_reset() {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/repos/acme/gitops/pulls/{n}",
        get(move || {
            let h = h.clone();
            async move {
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    let reset = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        + 1;
                    let mut headers = HeaderMap::new();
                    headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
                    headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
                    (
                        StatusCode::FORBIDDEN,
                        headers,
                        axum::Json(serde_json::json!({"message": "API rate limit exceeded"})),
                    )
                        .into_response()
                } else {
                    axum::Json(pr_json(3)).into_response()
                }
            }
        }),
    );
    let url = serve(app).await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), "acme", "gitops")
        .unwrap()
        .with_retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        });
    let t = Instant::now();
    assert_eq!(f.pull_request(3).await.unwrap().number, 3);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn plain_forbidden_is_not_retried() {
    let app = Router::new().route(
        "/repos/acme/gitops/pulls/{n}",
        get(|| async {
            (
                StatusCode::FORBIDDEN,
                axum::Json(
                    serde_json::json!({"message": "Resource not accessible by integration"}),
                ),
            )
        }),
    );
    let url = serve(app).await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), "acme", "gitops").unwrap();
    assert!(matches!(
        f.pull_request(1).await,
        Err(Error::Unauthorized { .. })
    ));
    assert_eq!(f.calls(), 1);
}

#[tokio::test]
async fn transport_errors_on_reads_are_retried_then_reported() {
    // Nothing listens on this port (bound then dropped).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let f = GithubForge::new(
        &format!("http://127.0.0.1:{port}"),
        SecretString::from(TOKEN),
        "acme",
        "gitops",
    )
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_total_wait: Duration::from_secs(1),
    });
    let err = f.pull_request(1).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(f.calls(), 3);
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn from_lookup_reads_the_standard_variables() {
    let vars = |k: &str| match k {
        "GITHUB_TOKEN" => Some(TOKEN.to_owned()),
        "GITHUB_REPOSITORY" => Some("acme/gitops".to_owned()),
        "GITHUB_API_URL" => Some("https://ghe.example.test/api/v3".to_owned()),
        _ => None,
    };
    let f = GithubForge::from_lookup(vars).unwrap();
    assert_eq!(f.repository(), "acme/gitops");
    let dbg = format!("{f:?}");
    assert!(
        dbg.contains("ghe.example.test") && !dbg.contains(TOKEN),
        "{dbg}"
    );
    let missing =
        GithubForge::from_lookup(|k| (k == "GITHUB_REPOSITORY").then(|| "acme/gitops".to_owned()));
    assert!(matches!(missing, Err(Error::Unauthorized { .. })));
    let bad = GithubForge::from_lookup(|k| match k {
        "GITOPS_GITHUB_TOKEN" => Some("x".to_owned()),
        "GITHUB_REPOSITORY" => Some("nope".to_owned()),
        _ => None,
    });
    assert!(matches!(bad, Err(Error::Invalid { .. })));
}

/// A server that accepts connections and never answers (keeps every socket open, reads
/// nothing); returns its URL.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

fn silent_forge(url: &str, retry: RetryPolicy) -> GithubForge {
    GithubForge::new(url, SecretString::from(TOKEN), "acme", "gitops")
        .unwrap()
        .with_timeouts(Duration::from_secs(2), Duration::from_millis(300))
        .with_retry_policy(retry)
}

fn assert_timed_out(err: &Error, call: &str) {
    let Error::Transport { message } = err else {
        panic!("a timeout is a retryable transport error: {err:?}");
    };
    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains(call), "names the call {call}: {message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn reads_from_a_forge_that_never_answers_time_out_and_are_retried_within_bounds() {
    let url = silent_server().await;
    let f = silent_forge(
        &url,
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_total_wait: Duration::from_secs(30),
        },
    );
    let started = Instant::now();
    let err = f
        .pair_state("prod", "checkout", "deployments/prod/checkout.json", false)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_timed_out(&err, "GET /repos/acme/gitops/pulls");
    assert_eq!(f.calls(), 3, "a timed-out read is retried");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "three attempts of 300 ms: {took:?}"
    );

    let started = Instant::now();
    let err = f.read_tree("main").await.unwrap_err();
    assert_timed_out(&err, "GET /repos/acme/gitops/tarball/main");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.calls(), 6);
}

#[tokio::test]
async fn a_timed_out_write_is_never_retried() {
    let url = silent_server().await;
    let f = silent_forge(&url, RetryPolicy::default());
    let change = gitops_gh_pr::Change::new(
        "prod",
        "checkout",
        "deploy",
        "",
        vec![gitops_gh_pr::FileWrite::put("a.json", "{}")],
    )
    .on_base("a".repeat(40), Some("b".repeat(40)))
    .expecting(gitops_gh_pr::BranchHead::Absent);
    let started = Instant::now();
    let err = f.propose(&change).await.unwrap_err();
    assert_timed_out(&err, "POST /repos/acme/gitops/git/trees");
    assert_eq!(f.calls(), 1, "the write may have landed: not repeated");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_retry_budget_bounds_a_read_that_keeps_timing_out() {
    let url = silent_server().await;
    let f = silent_forge(
        &url,
        RetryPolicy {
            max_attempts: 1000,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_total_wait: Duration::from_secs(1),
        },
    );
    let started = Instant::now();
    let err = f.pull_request(1).await.unwrap_err();
    let took = started.elapsed();
    assert_timed_out(&err, "GET /repos/acme/gitops/pulls/1");
    assert!(
        took >= Duration::from_millis(900)
            && took < Duration::from_millis(1300) + Duration::from_millis(500),
        "the budget (1 s) plus at most one request timeout (300 ms): {took:?}"
    );
    assert!((3..=5).contains(&f.calls()), "{} attempts", f.calls());
}

#[tokio::test]
async fn default_timeouts_are_bounded() {
    let f = GithubForge::new(
        "http://127.0.0.1:9",
        SecretString::from(TOKEN),
        "acme",
        "gitops",
    )
    .unwrap();
    let dbg = format!("{f:?}");
    assert!(
        dbg.contains("connect_timeout: 10s") && dbg.contains("request_timeout: 30s"),
        "{dbg}"
    );
    let f = f.with_timeouts(Duration::from_secs(3), Duration::from_secs(7));
    let dbg = format!("{f:?}");
    assert!(
        dbg.contains("connect_timeout: 3s") && dbg.contains("request_timeout: 7s"),
        "{dbg}"
    );
}
