//! `gitops metrics` and `gitops board` as a user runs them (issue 16): on the repository `gitops
//! demo` leaves (a deploy of 1.0.0, then 1.1.0, then a rollback to 1.0.0 on dev), every format,
//! the push to a real Prometheus Pushgateway, the board file, and refused arguments.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn gitops(dir: &Path, args: &[&str]) -> Output {
    Command::new(crate::gitops_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITOPS_METRICS_FILE")
        .env_remove("GITHUB_REPOSITORY")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(out)
}

/// A demo repository: the whole flow ran once on the embedded backends.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    ok(
        "gitops demo",
        &gitops(dir.path(), &["demo", "--dir", target.to_str().unwrap()]),
    );
    dir
}

#[test]
fn metrics_of_the_demo_in_every_format() {
    let tmp = demo();
    let repo = tmp.path().join("demo");
    let r = repo.to_str().unwrap();

    let table = ok("gitops metrics", &gitops(&repo, &["metrics", "--repo", r]));
    for needed in [
        "deployment frequency",
        "lead time",
        "change failure rate",
        "recovery time",
        "proposed",
        "checks",
        "merge",
        "upload",
        "commit",
        "invalidation",
        "report",
        "Slowest stage",
    ] {
        assert!(table.contains(needed), "no {needed:?} in:\n{table}");
    }

    // The demo deploys 1.0.0, then 1.1.0, then rolls back to 1.0.0: three deploys live, one a
    // rollback; two changes, of which 1.1.0 was rolled back (a failed change), recovered by the
    // rollback.
    let json: Value = serde_json::from_str(&ok(
        "gitops metrics --format json",
        &gitops(
            &repo,
            &["metrics", "--repo", r, "--format", "json", "--env", "dev"],
        ),
    ))
    .unwrap();
    let dev = json["dora"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["environment"] == "dev" && d["mfe"].is_null())
        .unwrap_or_else(|| panic!("no dev figures: {json}"));
    assert_eq!(
        dev["deployment_frequency"]["counts"]["deployments"], 3,
        "{dev}"
    );
    assert_eq!(
        dev["deployment_frequency"]["counts"]["rollbacks"], 1,
        "{dev}"
    );
    assert_eq!(dev["change_failure_rate"]["counts"]["changes"], 2, "{dev}");
    assert_eq!(dev["change_failure_rate"]["counts"]["failed"], 1, "{dev}");
    assert_eq!(dev["change_failure_rate"]["value"], 0.5, "{dev}");
    assert_eq!(dev["recovery_time"]["counts"]["by_rollback"], 1, "{dev}");
    assert_eq!(dev["lead_time"]["basis"]["requested_at"], 2, "{dev}");
    assert_eq!(json["recent"].as_array().unwrap().len(), 3, "{json}");
    assert!(
        json["dora"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["environment"] == "dev"),
        "--env dev: {json}"
    );

    let markdown = ok(
        "gitops metrics --format markdown",
        &gitops(&repo, &["metrics", "--repo", r, "--format", "markdown"]),
    );
    assert!(markdown.contains("| Environment |"), "{markdown}");
    assert!(markdown.contains("```mermaid\nxychart-beta"), "{markdown}");

    let exposition = ok(
        "gitops metrics --format prometheus",
        &gitops(&repo, &["metrics", "--repo", r, "--format", "prometheus"]),
    );
    assert!(
        exposition.contains("gitops_deployments{environment=\"dev\",mfe=\"checkout\"} 3"),
        "{exposition}"
    );
    for line in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(series.starts_with("gitops_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn metrics_refuses_what_it_cannot_read() {
    let tmp = demo();
    let repo = tmp.path().join("demo");
    let r = repo.to_str().unwrap();
    for (args, needle) in [
        (&["--since", "3x"][..], "--since"),
        (&["--since", "0d"], "--since"),
        (&["--format", "yaml"], "yaml"),
        (&["--env", "nowhere"], "nowhere"),
        (&["--mfe", "nothing"], "nothing"),
    ] {
        let out = gitops(&repo, &[&["metrics", "--repo", r][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // An unreachable Pushgateway fails the command after printing nothing half-pushed.
    let out = gitops(
        &repo,
        &["metrics", "--repo", r, "--push", "http://127.0.0.1:9/"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
}

#[test]
fn metrics_push_reaches_a_real_pushgateway() {
    const TEST: &str = "metrics_push_reaches_a_real_pushgateway";
    let Some(gateway) = std::env::var("GITOPS_TEST_PUSHGATEWAY")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        gitops_testkit::skip(
            TEST,
            "GITOPS_TEST_PUSHGATEWAY (a Prometheus Pushgateway) is not set",
        );
        return;
    };
    let tmp = demo();
    let repo = tmp.path().join("demo");
    let r = repo.to_str().unwrap();
    let out = gitops(&repo, &["metrics", "--repo", r, "--push", &gateway]);
    ok("gitops metrics --push", &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pushed to"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = reqwest::blocking_get(&format!("{}/metrics", gateway.trim_end_matches('/')));
    let pushed = body.lines().any(|line| {
        line.starts_with("gitops_deployments{")
            && ["environment=\"dev\"", "job=\"gitops\"", "mfe=\"checkout\""]
                .iter()
                .all(|label| line.contains(label))
            && line.ends_with(" 3")
    });
    assert!(
        pushed,
        "the pushed series is not in the gateway's /metrics:\n{body}"
    );
}

#[test]
fn board_of_the_demo_is_one_self_contained_page() {
    let tmp = demo();
    let repo = tmp.path().join("demo");
    let out_dir = tmp.path().join("site");
    let out = ok(
        "gitops board",
        &gitops(
            &repo,
            &[
                "board",
                "--repo",
                repo.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
            ],
        ),
    );
    assert!(out.contains("index.html"), "{out}");
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    for needed in [
        "checkout",
        "dev",
        "1.0.0",
        "rollback",
        "Deployment frequency",
    ] {
        assert!(html.contains(needed), "no {needed:?} on the board");
    }
    assert!(
        !html.contains("src=\"http"),
        "the board loads nothing from outside"
    );

    // On GitHub (GITHUB_REPOSITORY set), each pair links the pull request that merged its
    // desired state (the demo's local forge merges as GitHub does: `Merge pull request #N`).
    let linked = tmp.path().join("linked");
    let out = Command::new(crate::gitops_bin())
        .args(["board", "--repo", repo.to_str().unwrap(), "--out"])
        .arg(&linked)
        .env("GITHUB_REPOSITORY", "acme/gitops-demo")
        .env("GITHUB_SERVER_URL", "https://github.example.com")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    ok("gitops board on GitHub", &out);
    // minijinja escapes `/` in attribute values as `&#x2f;`, which browsers read back as `/`.
    let html = std::fs::read_to_string(linked.join("index.html"))
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        html.contains("href=\"https://github.example.com/acme/gitops-demo/pull/3\""),
        "no pull request link on the board"
    );

    let one = tmp.path().join("dev-only");
    ok(
        "gitops board --env dev",
        &gitops(
            &repo,
            &[
                "board",
                "--repo",
                repo.to_str().unwrap(),
                "--env",
                "dev",
                "--out",
                one.to_str().unwrap(),
            ],
        ),
    );
    assert!(one.join("index.html").is_file());
}

/// A blocking GET for the test (reqwest's async client on a throwaway runtime).
mod reqwest {
    pub fn blocking_get(url: &str) -> String {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                ::reqwest::Client::new()
                    .get(url)
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            })
    }
}
