//! Dispatches and runs, deployments, faults, auth, restarts, the binary.

use std::time::Instant;

use gitops_testkit::{FakeGithub, Fault};
use serde_json::json;

use crate::{T, TOKEN, client, git};

#[tokio::test]
async fn dispatch_creates_a_run_findable_by_correlation_id() {
    let t = T::new().await;
    let head =
        t.gh.create_repo("acme", "gitops", &[("x", "1")])
            .await
            .expect("repo")
            .expect("sha");
    let id = "01JDEPLOYREQ0000000000000A";
    let before = time::OffsetDateTime::now_utc()
        .date()
        .previous_day()
        .expect("date");
    t.call(
        "POST",
        "/repos/acme/gitops/dispatches",
        Some(json!({"client_payload": {}})),
    )
    .await
    .expect(422);
    let res = t
        .call("POST", "/repos/acme/gitops/dispatches", Some(json!({"event_type": "deploy", "client_payload": {"id": id, "mfe": "a", "version": "1.2.3"}})))
        .await;
    assert_eq!(res.status, 204);
    assert!(res.bytes.is_empty());
    t.call(
        "POST",
        "/repos/acme/gitops/dispatches",
        Some(json!({"event_type": "deploy", "client_payload": {"id": "other"}})),
    )
    .await;

    let runs = t.get(&format!("/repos/acme/gitops/actions/runs?event=repository_dispatch&status=queued&created=>={before}")).await.expect(200);
    assert_eq!(runs["total_count"], 2);
    let found: Vec<&serde_json::Value> = runs["workflow_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["name"].as_str().is_some_and(|n| n.contains(id)))
        .collect();
    assert_eq!(found.len(), 1);
    let run = found[0];
    assert_eq!(run["head_sha"], head.as_str());
    assert_eq!(run["event"], "repository_dispatch");
    assert_eq!(run["status"], "queued");
    let run_id = run["id"].as_u64().expect("id");

    let none = t
        .get("/repos/acme/gitops/actions/runs?created=<2001-01-01")
        .await
        .expect(200);
    assert_eq!(none["total_count"], 0);
    t.get("/repos/acme/gitops/actions/runs?created=garbage")
        .await
        .expect(422);

    t.gh.set_run_status("acme", "gitops", run_id, "completed", Some("success"))
        .await
        .expect("admin");
    let one = t
        .get(&format!("/repos/acme/gitops/actions/runs/{run_id}"))
        .await
        .expect(200);
    assert_eq!(one["status"], "completed");
    assert_eq!(one["conclusion"], "success");
    let done = t
        .get("/repos/acme/gitops/actions/runs?status=success")
        .await
        .expect(200);
    assert_eq!(done["total_count"], 1);
    t.get("/repos/acme/gitops/actions/runs/1").await.expect(404);
    t.assert_conformant().await;
}

#[tokio::test]
async fn deployments_and_deployment_statuses() {
    let t = T::new().await;
    let sha =
        t.gh.create_repo("acme", "mfe-a", &[("src/index.ts", "export {}\n")])
            .await
            .expect("repo")
            .expect("sha");
    t.call(
        "POST",
        "/repos/acme/mfe-a/deployments",
        Some(json!({"ref": "nope"})),
    )
    .await
    .expect(422);
    // A failing commit status blocks a deployment unless required_contexts says otherwise.
    t.call(
        "POST",
        &format!("/repos/acme/mfe-a/statuses/{sha}"),
        Some(json!({"state": "failure", "context": "ci"})),
    )
    .await
    .expect(201);
    let blocked = t
        .call(
            "POST",
            "/repos/acme/mfe-a/deployments",
            Some(json!({"ref": sha, "environment": "prod"})),
        )
        .await;
    assert_eq!(blocked.status, 409, "{}", blocked.body);
    let d = t
        .call(
            "POST",
            "/repos/acme/mfe-a/deployments",
            Some(json!({"ref": sha, "environment": "prod", "required_contexts": [], "auto_merge": false, "payload": {"request": "01J"}, "description": "mfe-a 1.2.3"})),
        )
        .await
        .expect(201);
    let did = d["id"].as_u64().expect("id");
    assert_eq!(d["sha"], sha.as_str());
    assert_eq!(d["environment"], "prod");
    assert_eq!(d["payload"]["request"], "01J");
    let d2 = t
        .call(
            "POST",
            "/repos/acme/mfe-a/deployments",
            Some(json!({"ref": "main", "environment": "staging", "required_contexts": []})),
        )
        .await
        .expect(201);
    assert_eq!(d2["sha"], sha.as_str());

    let by_env = t
        .get("/repos/acme/mfe-a/deployments?environment=prod")
        .await
        .expect(200);
    assert_eq!(by_env.as_array().map(Vec::len), Some(1));
    let by_sha = t
        .get(&format!("/repos/acme/mfe-a/deployments?sha={sha}"))
        .await
        .expect(200);
    assert_eq!(by_sha.as_array().map(Vec::len), Some(2));
    assert_eq!(
        t.get("/repos/acme/mfe-a/deployments?ref=main")
            .await
            .expect(200)[0]["id"],
        d2["id"]
    );

    t.call(
        "POST",
        &format!("/repos/acme/mfe-a/deployments/{did}/statuses"),
        Some(json!({"state": "nope"})),
    )
    .await
    .expect(422);
    t.call(
        "POST",
        &format!("/repos/acme/mfe-a/deployments/{did}/statuses"),
        Some(json!({"state": "in_progress", "description": "merging"})),
    )
    .await
    .expect(201);
    let ok = t
        .call("POST", &format!("/repos/acme/mfe-a/deployments/{did}/statuses"), Some(json!({"state": "success", "environment_url": "https://cdn.example.com/mfe-a/1.2.3/", "log_url": "https://github.example/run/1"})))
        .await
        .expect(201);
    assert_eq!(ok["state"], "success");
    assert_eq!(
        ok["environment_url"],
        "https://cdn.example.com/mfe-a/1.2.3/"
    );
    let statuses = t
        .get(&format!("/repos/acme/mfe-a/deployments/{did}/statuses"))
        .await
        .expect(200);
    let states: Vec<&str> = statuses
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert_eq!(states, ["success", "in_progress"]);
    t.get("/repos/acme/mfe-a/deployments/42/statuses")
        .await
        .expect(404);
    t.assert_conformant().await;
}

#[tokio::test]
async fn injected_faults_then_success() {
    let t = T::new().await;
    t.gh.create_repo("acme", "f", &[]).await.expect("repo");
    t.gh.clear_requests().await.expect("clear");

    let fault = |status: u16, count: u32, retry_after: Option<u64>| Fault {
        path_regex: "^/repos/acme/f$".into(),
        method: Some("GET".into()),
        status: Some(status),
        retry_after,
        count: Some(count),
        latency_ms: None,
        primary: false,
    };
    t.gh.set_fault(&fault(503, 2, None)).await.expect("fault");
    assert_eq!(t.get("/repos/acme/f").await.status, 503);
    assert_eq!(t.get("/repos/acme/f").await.status, 503);
    t.get("/repos/acme/f").await.expect(200);

    t.gh.set_fault(&fault(429, 1, Some(1)))
        .await
        .expect("fault");
    let r = t.get("/repos/acme/f").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(
        r.header("x-ratelimit-reset")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some()
    );
    t.get("/repos/acme/f").await.expect(200);

    t.gh.set_fault(&fault(403, 1, Some(2)))
        .await
        .expect("fault");
    let r = t.get("/repos/acme/f").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("You have exceeded a secondary rate limit")
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));

    let mut primary = fault(403, 1, None);
    primary.primary = true;
    t.gh.set_fault(&primary).await.expect("fault");
    let r = t.get("/repos/acme/f").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));

    let slow = Fault {
        status: None,
        latency_ms: Some(300),
        ..fault(0, 1, None)
    };
    t.gh.set_fault(&slow).await.expect("fault");
    let start = Instant::now();
    t.get("/repos/acme/f").await.expect(200);
    assert!(start.elapsed().as_millis() >= 300);

    let log = t.gh.requests().await.expect("log");
    let statuses: Vec<u16> = log
        .iter()
        .filter(|r| r.path == "/repos/acme/f")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200, 429, 200, 403, 403, 200]);
    assert!(log.iter().all(|r| r.method == "GET"));
    t.assert_conformant().await;
}

#[tokio::test]
async fn authentication_is_required() {
    let t = T::new().await;
    t.gh.create_repo("acme", "auth", &[]).await.expect("repo");
    let r = t.call_as(None, "GET", "/repos/acme/auth", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["message"], "Requires authentication");
    let r = t
        .http
        .get(format!("{}/repos/acme/auth", t.gh.base_url))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .header("user-agent", "t")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = t
        .http
        .get(format!("{}/repos/acme/auth", t.gh.base_url))
        .header("authorization", format!("token {TOKEN}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let rl = t.get("/rate_limit").await;
    assert!(rl.header("x-ratelimit-limit").is_some());
    let rl = rl.expect(200);
    assert_eq!(rl["resources"]["core"]["limit"], 5000);
    t.call_as(None, "GET", "/rate_limit", None)
        .await
        .expect(401);
    t.assert_conformant().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let http = client();
    let sha;
    {
        let gh = FakeGithub::spawn(&data, None).await.expect("spawn");
        sha = gh
            .create_repo("acme", "keep", &[("a.txt", "a\n")])
            .await
            .expect("repo")
            .expect("sha");
        let r = http
            .post(format!("{}/repos/acme/keep/statuses/{sha}", gh.base_url))
            .bearer_auth(TOKEN)
            .header("user-agent", "t")
            .json(&json!({"state": "success", "context": "ci"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 201);
    }
    let gh = FakeGithub::spawn(&data, None).await.expect("respawn");
    let get = |p: String| {
        http.get(format!("{}{p}", gh.base_url))
            .bearer_auth(TOKEN)
            .header("user-agent", "t")
            .send()
    };
    let combined: serde_json::Value = get(format!("/repos/acme/keep/commits/{sha}/status"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(combined["state"], "success");
    let file = get("/repos/acme/keep/contents/a.txt".into())
        .await
        .expect("send");
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(
        git(
            &gh.repo_path("acme", "keep"),
            &["rev-parse", "refs/heads/main"]
        ),
        sha
    );
}

#[tokio::test]
async fn binary_prints_its_base_url_and_serves() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_fake-github"));
    let gh = FakeGithub::spawn_bin(&bin, dir.path().join("data"), crate::openapi())
        .await
        .expect("spawn binary");
    assert!(
        gh.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        gh.base_url
    );
    let sha = gh
        .create_repo("acme", "bin", &[("k", "v")])
        .await
        .expect("repo")
        .expect("sha");
    assert_eq!(
        git(
            &gh.repo_path("acme", "bin"),
            &["rev-parse", "refs/heads/main"]
        ),
        sha
    );
    assert!(gh.requests().await.expect("log").len() >= 4);
    let v = gh.violations().await.expect("violations");
    assert!(v.is_empty(), "{v:?}");
}

#[tokio::test]
async fn user_repo_with_auto_init_pagination_and_racing_contents_writes() {
    let t = T::new().await;
    let repo = t
        .call(
            "POST",
            "/user/repos",
            Some(json!({"name": "site", "auto_init": true, "private": true})),
        )
        .await
        .expect(201);
    assert_eq!(repo["owner"]["login"], "gitops-bot");
    assert_eq!(repo["private"], true);
    let readme = t
        .get("/repos/gitops-bot/site/contents/README.md")
        .await
        .expect(200);
    let sha = readme["sha"].as_str().expect("sha").to_owned();
    t.call("POST", "/user/repos", Some(json!({"private": true})))
        .await
        .expect(422);

    // Two writers with the same precondition: exactly one wins, the other gets 409.
    let body = |c: &str| json!({"message": "m", "content": crate::b64(c), "sha": sha});
    let (a, b) = tokio::join!(
        t.call(
            "PUT",
            "/repos/gitops-bot/site/contents/README.md",
            Some(body("a"))
        ),
        t.call(
            "PUT",
            "/repos/gitops-bot/site/contents/README.md",
            Some(body("b"))
        ),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);

    // Pagination with Link headers.
    for i in 0..3 {
        t.call("POST", "/repos/gitops-bot/site/git/refs", Some(json!({"ref": format!("refs/heads/b{i}"), "sha": git(&t.bare("gitops-bot", "site"), &["rev-parse", "main"])})))
            .await
            .expect(201);
    }
    let p1 = t
        .get("/repos/gitops-bot/site/git/refs/heads?per_page=2")
        .await;
    let link = p1.header("link").expect("link header");
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    assert_eq!(p1.expect(200).as_array().map(Vec::len), Some(2));
    let exact = t
        .get("/repos/gitops-bot/site/git/refs/heads/b1")
        .await
        .expect(200);
    assert_eq!(exact["ref"], "refs/heads/b1");
    let p2 = t
        .get("/repos/gitops-bot/site/git/refs/heads?per_page=2&page=2")
        .await;
    assert!(p2.header("link").is_none());
    assert_eq!(p2.expect(200).as_array().map(Vec::len), Some(2));
    t.assert_conformant().await;
}
