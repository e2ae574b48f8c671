//! The GitHub adapter against a tiny hand-written server, for what fake-github does not do:
//! echoing credentials back, an API root with a path (GitHub Enterprise Server),
//! `x-ratelimit-reset`, answers that are not what GitHub documents.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gitops_gh_pr::{BranchHead, Change, Error, FileWrite, Forge, GithubForge, RetryPolicy};
use secrecy::SecretString;

use crate::{env, mfe, repo, sha};

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
        "merged": false, "merged_at": null, "mergeable": true, "merge_commit_sha": null,
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
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops")).unwrap();
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
        repo("acme/gitops"),
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
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::OUTSIDE
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
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops")).unwrap();
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
        repo("acme/gitops"),
    )
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_total: Duration::from_secs(1),
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
    assert_eq!(f.repository().as_str(), "acme/gitops");
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
    GithubForge::new(url, SecretString::from(TOKEN), repo("acme/gitops"))
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
            max_total: Duration::from_secs(30),
        },
    );
    let started = Instant::now();
    let err = f
        .pair_state(
            &env("prod"),
            &mfe("checkout"),
            "deployments/prod/checkout.json",
            false,
        )
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
    let f = silent_forge(&url, RetryPolicy::OUTSIDE);
    let change = Change::new(
        env("prod"),
        mfe("checkout"),
        "deploy",
        "",
        vec![FileWrite::put("a.json", "{}")],
    )
    .on_base(sha(&"a".repeat(40)), Some(sha(&"b".repeat(40))))
    .expecting(BranchHead::Absent);
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
            max_total: Duration::from_secs(1),
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
        repo("acme/gitops"),
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

fn fast(url: &str) -> GithubForge {
    GithubForge::new(url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
}

#[tokio::test]
async fn an_answer_missing_a_field_is_malformed_naming_it_and_not_retried() {
    let mut broken = pr_json(5);
    broken.as_object_mut().unwrap().remove("head");
    let app = Router::new()
        .route(
            "/repos/acme/gitops/pulls/{n}",
            get(move || {
                let broken = broken.clone();
                async move { axum::Json(broken) }
            }),
        )
        .route(
            "/repos/acme/gitops/pulls",
            get(|| async { (StatusCode::OK, "<html>a proxy page</html>") }),
        );
    let url = serve(app).await;
    let f = fast(&url);
    let err = f.pull_request(5).await.unwrap_err();
    let Error::Malformed { what, reason } = &err else {
        panic!("a missing field is Malformed: {err:?}");
    };
    assert!(what.contains("/repos/acme/gitops/pulls/5"), "{what}");
    assert!(reason.contains("missing field `head`"), "{reason}");
    assert!(!err.is_retryable(), "deterministic");
    assert_eq!(f.calls(), 1, "a malformed answer is not retried");

    let err = f.open_pull_requests().await.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        !err.to_string().contains("proxy page"),
        "no raw body: {err}"
    );
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn a_commit_without_its_sha_never_becomes_a_branch_target() {
    let ref_writes = Arc::new(AtomicU32::new(0));
    let writes = ref_writes.clone();
    let app = Router::new()
        .route(
            "/repos/acme/gitops/git/trees",
            post(|| async {
                (
                    StatusCode::CREATED,
                    axum::Json(serde_json::json!({"sha": "c".repeat(40)})),
                )
            }),
        )
        .route(
            "/repos/acme/gitops/git/commits",
            // A commit answer without its sha (a broken proxy, a changed API).
            post(|| async {
                (
                    StatusCode::CREATED,
                    axum::Json(serde_json::json!({"tree": {"sha": "c".repeat(40)}})),
                )
            }),
        )
        .route(
            "/repos/acme/gitops/git/refs",
            post(move || {
                let writes = writes.clone();
                async move {
                    writes.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::CREATED, axum::Json(serde_json::json!({})))
                }
            }),
        );
    let url = serve(app).await;
    let f = fast(&url);
    let change = Change::new(
        env("prod"),
        mfe("checkout"),
        "deploy",
        "",
        vec![FileWrite::put("deployments/prod/checkout.json", "{}\n")],
    )
    .on_base(sha(&"a".repeat(40)), Some(sha(&"b".repeat(40))))
    .expecting(BranchHead::Absent);
    let err = f.propose(&change).await.unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { reason, .. } if reason.contains("missing field `sha`")),
        "{err:?}"
    );
    assert_eq!(
        ref_writes.load(Ordering::SeqCst),
        0,
        "no ref moved to nothing"
    );
    assert_eq!(f.calls(), 2, "trees and commits, nothing after");
}

#[tokio::test]
async fn a_tarball_that_is_not_one_is_malformed() {
    let app = Router::new()
        .route(
            "/repos/acme/gitops/tarball/{*rest}",
            get(|request: HeaderMap| async move {
                let host = request["host"].to_str().unwrap().to_owned();
                let mut headers = HeaderMap::new();
                headers.insert(
                    "location",
                    format!("http://{host}/download/broken").parse().unwrap(),
                );
                (StatusCode::FOUND, headers)
            }),
        )
        .route(
            "/download/broken",
            get(|| async { (StatusCode::OK, "not a gzip stream") }),
        );
    let url = serve(app).await;
    let f = fast(&url);
    let err = f.read_tree("main").await.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(f.calls(), 2, "the redirect and the download");
}

#[tokio::test]
async fn a_failed_tarball_download_keeps_its_kind() {
    let app = Router::new()
        .route(
            "/repos/acme/gitops/tarball/{*rest}",
            get(|request: HeaderMap| async move {
                let host = request["host"].to_str().unwrap().to_owned();
                let mut headers = HeaderMap::new();
                headers.insert(
                    "location",
                    format!("http://{host}/download/down").parse().unwrap(),
                );
                (StatusCode::FOUND, headers)
            }),
        )
        .route(
            "/download/down",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html>upstream down</html>") }),
        );
    let url = serve(app).await;
    let f = fast(&url);
    let err = f.read_tree("main").await.unwrap_err();
    assert!(
        matches!(err, Error::Api { status: 502, .. }),
        "a 5xx download is the forge failing: {err:?}"
    );
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("upstream down"), "{err}");
}

/// A repository whose merges GitHub always answers with `status` and `message`; the number of
/// merge attempts it saw.
async fn refusing_merges(status: StatusCode, message: &'static str) -> (String, Arc<AtomicU32>) {
    let puts = Arc::new(AtomicU32::new(0));
    let p = puts.clone();
    let app = Router::new()
        .route(
            "/repos/acme/gitops",
            get(|| async {
                axum::Json(serde_json::json!({
                    "default_branch": "main", "allow_merge_commit": true,
                    "allow_squash_merge": true, "allow_rebase_merge": false
                }))
            }),
        )
        .route(
            "/repos/acme/gitops/pulls/{n}",
            get(|| async { axum::Json(pr_json(5)) }),
        )
        .route(
            "/repos/acme/gitops/pulls/{n}/merge",
            axum::routing::put(move || {
                let p = p.clone();
                async move {
                    p.fetch_add(1, Ordering::SeqCst);
                    (status, axum::Json(serde_json::json!({"message": message})))
                }
            }),
        );
    (serve(app).await, puts)
}

#[tokio::test]
async fn a_base_that_keeps_moving_is_retried_within_the_bound() {
    let (url, puts) = refusing_merges(
        StatusCode::METHOD_NOT_ALLOWED,
        "Base branch was modified. Review and try the merge again.",
    )
    .await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_merge_retry_policy(RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::FAST
        });
    let err = f.merge(5, &sha(&"a".repeat(40))).await.unwrap_err();
    assert!(
        matches!(&err, Error::Contended { reason } if reason.contains("Base branch was modified") && reason.contains("4 attempts")),
        "{err:?}"
    );
    assert!(err.is_retryable(), "a later merge may win: {err:?}");
    assert_eq!(puts.load(Ordering::SeqCst), 4, "bounded");
    assert_eq!(f.calls(), 1 + 4, "the settings, then four attempts");
}

#[tokio::test]
async fn other_refusals_to_merge_are_not_retried() {
    let (url, puts) = refusing_merges(
        StatusCode::METHOD_NOT_ALLOWED,
        "Pull Request is not mergeable",
    )
    .await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops")).unwrap();
    let err = f.merge(5, &sha(&"a".repeat(40))).await.unwrap_err();
    assert!(matches!(err, Error::NotMergeable { .. }), "{err:?}");
    assert_eq!(puts.load(Ordering::SeqCst), 1);

    // A method the repository refuses, found only by the merge (settings not shown).
    let (url, puts) = refusing_merges(
        StatusCode::METHOD_NOT_ALLOWED,
        "Squash merges are not allowed on this repository.",
    )
    .await;
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_merge_method(gitops_gh_pr::MergeMethod::Squash);
    let err = f.merge(5, &sha(&"a".repeat(40))).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, reason } if field == "merge_method" && reason.contains("squash")),
        "{err:?}"
    );
    assert_eq!(puts.load(Ordering::SeqCst), 1);

    // Refused from the settings, before any merge.
    let f = GithubForge::new(&url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_merge_method(gitops_gh_pr::MergeMethod::Rebase);
    let err = f.merge(5, &sha(&"a".repeat(40))).await.unwrap_err();
    assert!(err.to_string().contains("allows: merge, squash"), "{err}");
    assert_eq!(puts.load(Ordering::SeqCst), 1, "no merge attempted");
}
