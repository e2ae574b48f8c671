//! The last step of the process, merge and deploy jobs, run with bash, curl and jq against
//! fake-github: the request's own deployment gets an `error` status naming the run, unless its
//! latest status is already final; other requests' deployments are left alone; without a token
//! it does nothing and succeeds.

use gitops_testkit::FakeGithub;
use reqwest::Method;
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;

const BOT: &str = "gitops-bot:secret";
const REQUESTER: &str = "checkout-ci:secret";

/// The `run:` and `env:` keys of the last step of `job` in the scaffold's `file`.
fn last_step(file: &str, job: &str) -> (String, Vec<String>) {
    let files =
        gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::new(crate::pin()))
            .unwrap();
    let f = files.iter().find(|f| f.path.ends_with(file)).unwrap();
    let doc: Yaml = serde_yaml_ng::from_str(&f.contents).unwrap();
    let step = doc["jobs"][job]["steps"]
        .as_sequence()
        .and_then(|s| s.last())
        .unwrap()
        .clone();
    let env = step["env"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    (step["run"].as_str().unwrap().to_owned(), env)
}

fn tools_present() -> bool {
    ["curl", "jq", "bash"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

async fn deployment(gh: &FakeGithub, sha: &str, id: &str) -> u64 {
    let (status, d) = gh
        .api(
            REQUESTER,
            Method::POST,
            "/repos/acme/checkout-mfe/deployments",
            Some(
                json!({"ref": sha, "environment": "dev", "payload": {"id": id},
                        "auto_merge": false, "required_contexts": []}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{d}");
    d["id"].as_u64().unwrap()
}

async fn statuses(gh: &FakeGithub, id: u64) -> Vec<Value> {
    let (_, v) = gh
        .api(
            BOT,
            Method::GET,
            &format!("/repos/acme/checkout-mfe/deployments/{id}/statuses"),
            None,
        )
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// Runs `script` in `dir` with the runner's variables and `env`; its output.
async fn run(script: &str, dir: &std::path::Path, api: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.args(["-e", "-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", api)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/gitops")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_WORKFLOW", "gitops deploy");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the step failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_job_tells_the_requester_once_on_its_own_deployment() {
    if !tools_present() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipping: bash, curl or jq is missing\n",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("gh"), gitops_testkit::openapi_from_env())
        .await
        .unwrap();
    let sha = gh
        .create_repo("acme", "checkout-mfe", &[("README.md", "x\n")])
        .await
        .unwrap()
        .unwrap();
    let ours = deployment(&gh, &sha, "01REQUESTOURS").await;
    let other = deployment(&gh, &sha, "01REQUESTOTHER").await;
    let work = dir.path().join("checkout");
    std::fs::create_dir_all(work.join("deployments/dev")).unwrap();
    std::fs::write(
        work.join("deployments/dev/checkout.json"),
        json!({"mfe": "checkout", "version": "1.4.0", "repository": "acme/checkout-mfe",
               "sha": sha, "environment": "dev", "request_id": "01REQUESTOURS"})
        .to_string(),
    )
    .unwrap();
    let (script, env) = last_step("gitops-deploy.yml", "deploy");
    assert!(env.contains(&"MFE_NAME".to_owned()) && env.contains(&"TARGET_ENVIRONMENT".into()));
    let vars = [
        ("GITOPS_GITHUB_TOKEN", BOT),
        ("TARGET_ENVIRONMENT", "dev"),
        ("MFE_NAME", "checkout"),
    ];

    // Without a token: nothing, quietly.
    let out = run(&script, &work, &gh.base_url, &vars[1..]).await;
    assert!(out.contains("cannot be told"), "{out}");
    assert!(statuses(&gh, ours).await.is_empty());

    let out = run(&script, &work, &gh.base_url, &vars).await;
    let posted = statuses(&gh, ours).await;
    assert_eq!(posted.len(), 1, "{out}");
    assert_eq!(posted[0]["state"], "error");
    assert_eq!(
        posted[0]["description"],
        "gitops deploy job failed before gitops could report: \
         https://github.com/acme/gitops/actions/runs/4242"
    );
    assert!(statuses(&gh, other).await.is_empty(), "another request's");

    // Already final: left as it is.
    let out = run(&script, &work, &gh.base_url, &vars).await;
    assert!(out.contains("already error"), "{out}");
    assert_eq!(statuses(&gh, ours).await.len(), 1);

    // The process job reads the request from the event, through env.
    let third = deployment(&gh, &sha, "01REQUESTTHIRD").await;
    let (script, _) = last_step("gitops-process.yml", "process");
    run(
        &script,
        &work,
        &gh.base_url,
        &[
            ("GITOPS_GITHUB_TOKEN", BOT),
            ("REQ_REPOSITORY", "acme/checkout-mfe"),
            ("REQ_SHA", &sha),
            ("REQ_ENVIRONMENT", "dev"),
            ("REQ_ID", "01REQUESTTHIRD"),
        ],
    )
    .await;
    assert_eq!(statuses(&gh, third).await[0]["state"], "error");

    // The merge job finds the pair from the pull request's branch.
    let fourth = deployment(&gh, &sha, "01REQUESTOURS").await;
    let (script, _) = last_step("gitops-checks.yml", "merge");
    run(
        &script,
        &work,
        &gh.base_url,
        &[
            ("GITOPS_GITHUB_TOKEN", BOT),
            ("HEAD_REF", "gitops/dev/checkout"),
        ],
    )
    .await;
    assert_eq!(statuses(&gh, fourth).await[0]["state"], "error");
    let out = run(
        &script,
        &work,
        &gh.base_url,
        &[("GITOPS_GITHUB_TOKEN", BOT), ("HEAD_REF", "feature/x")],
    )
    .await;
    assert!(out.contains("Not a deploy pull request"), "{out}");
}
