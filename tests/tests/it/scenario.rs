//! The end-to-end scenario (issue 13): the very workflows `mfe render` and `gitops init` write,
//! run by fake-github's workflow runner (act in host mode), installing our binaries through the
//! setup action from a loopback release, against S3, DynamoDB and CloudFront in moto. Nothing
//! is scripted between the steps but what people do: push a tag, start the CD workflow, approve
//! a pull request, set secrets and variables.
//!
//! The cloud is what people adopting us make (issue 15): `terraform apply` of
//! deploy/terraform's example on a moto of the scenario's own, `gitops init --from-terraform`
//! for `gitops.yaml`, and the module's deploy, publish and artifact-reader roles in the
//! repositories' variables, so the workflows assume exactly those roles (the
//! configure-aws-credentials stand-in evaluates their trust policies): a trust policy of the
//! module that refuses a job the scenario needs fails it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops_testkit::FakeGithub;
use gitops_testkit::runner::RunnerConfig;
use gitops_testkit::state::WorkflowRun;
use reqwest::Method;
use serde_json::{Value, json};

use crate::scenario_aws::{
    Cloud, MfeRoles, ModuleMfe, REGION, oidc_role, provision_with_terraform,
};
use crate::setup_action::{Release, serve};
use crate::support::{OwnMoto, git};

const ACTION_REPO: &str = "mfe-gitops/mfe-gitops";
const ACTION_SHA: &str = "5e7a0b6f3c2d1e9f8a7b6c5d4e3f2a1b0c9d8e7f";
/// The GitOps repository's administrator (the account fake-github makes repositories as).
const BOT: &str = "gitops-bot:bot-secret";
/// The GitOps GitHub App (variable GITOPS_APP_ID, secret GITOPS_APP_PRIVATE_KEY): each GitOps
/// job mints its own installation token with `actions/create-github-app-token`; what it does
/// starts workflows (unlike a workflow's GITHUB_TOKEN).
const APP_ID: u64 = 414_243;
const APP_SLUG: &str = "acme-gitops";
const APP_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nfake-github compares this text\n-----END RSA PRIVATE KEY-----\n";
/// The MFE team's dispatch token (GITOPS_DISPATCH_TOKEN).
const DISPATCHER: &str = "checkout-ci:dispatch-secret";
/// A developer of the checkout team.
const DEV: &str = "dana:ghp_dana";
/// The test watching (its calls are left out of the report).
const OBSERVER: &str = "observer:fake-github-testkit";
/// The person who approves production deploys.
const APPROVER: &str = "priya:ghp_priya";

/// What each scenario took, for `target/e2e-report.json`.
#[derive(Debug, Default)]
struct Report {
    scenarios: Vec<Value>,
}

struct World {
    dir: tempfile::TempDir,
    gh: FakeGithub,
    cloud: Cloud,
    mfe_dir: PathBuf,
    release_url: String,
    /// The release served at `release_url` (its files live as long as it does).
    _release: Release,
    /// The roles deploy/terraform made for each MFE.
    mfe_roles: Vec<MfeRoles>,
    /// The moto of this scenario (the cloud's endpoint), stopped last.
    _moto: OwnMoto,
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl World {
    async fn api(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self
            .gh
            .api(token, method.clone(), path, body)
            .await
            .unwrap();
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    async fn var(&self, repo: &str, env: Option<&str>, name: &str, value: &str) {
        let path = match env {
            Some(e) => format!("/repos/acme/{repo}/environments/{e}/variables"),
            None => format!("/repos/acme/{repo}/actions/variables"),
        };
        self.api(
            DEV,
            Method::POST,
            &path,
            Some(json!({"name": name, "value": value})),
        )
        .await;
    }

    /// The rendered MFE workflows, re-rendered in the MFE checkout with `extra` options.
    fn render_mfe(&self, dir: &Path, extra: &[&str]) {
        let url = self.cloud.artifact_url("checkout");
        let mut args = vec![
            "render",
            "--mfe",
            "checkout",
            "--gitops-repo",
            "acme/gitops",
            "--artifact-url",
            &url,
            "--action",
        ];
        let action = format!("{ACTION_REPO}@{ACTION_SHA}");
        args.push(&action);
        args.extend_from_slice(extra);
        let out = std::process::Command::new(crate::mfe_bin())
            .args(&args)
            .current_dir(dir)
            .env_remove("MFE_GITOPS_ACTION")
            .output()
            .unwrap();
        assert!(out.status.success(), "mfe render: {}", text(&out));
    }

    /// Starts the CD workflow of `repo` at `git_ref` for `version`, as a person does in the UI.
    async fn start_cd(&self, repo: &str, git_ref: &str, version: &str) {
        self.api(
            DEV,
            Method::POST,
            &format!("/repos/acme/{repo}/actions/workflows/micro-frontend-cd.yml/dispatches"),
            Some(json!({"ref": git_ref, "inputs": {"version": version}})),
        )
        .await;
    }

    async fn runs(&self, repo: &str) -> Vec<WorkflowRun> {
        self.gh.runs("acme", repo).await.unwrap()
    }

    /// Waits for run number `after` (from 0) of the workflow at `path` in `repo` to finish;
    /// with `gitops_runs`, fails as soon as a GitOps run after that many fails.
    async fn wait_run(
        &self,
        repo: &str,
        path: &str,
        after: usize,
        timeout: Duration,
        gitops_runs: Option<usize>,
    ) -> WorkflowRun {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = gitops_runs {
                self.no_gitops_failure(n).await;
            }
            let runs: Vec<WorkflowRun> = self
                .runs(repo)
                .await
                .into_iter()
                .filter(|r| r.path == path)
                .collect();
            if let Some(r) = runs.get(after)
                && r.status == "completed"
            {
                return r.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{repo} {path}: run #{after} did not finish in {timeout:?}: {runs:#?}\n{}",
                self.logs_of(repo).await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Every job log of `repo`, for failure messages.
    async fn logs_of(&self, repo: &str) -> String {
        let mut out = String::new();
        for r in self.runs(repo).await {
            for j in &r.jobs {
                let p = self
                    .dir
                    .path()
                    .join(format!("work/run-{}/job-{}/log.txt", r.id, j.id));
                let log = std::fs::read_to_string(p).unwrap_or_default();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(60)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                let _ = write!(
                    out,
                    "\n---- {repo} run {} {} / job {} ({:?}) summary:\n{}\n---- log tail:\n{tail}\n",
                    r.id, r.path, j.name, j.conclusion, j.summary
                );
            }
        }
        out
    }

    /// Whether CI published `version` of the checkout MFE (an unsigned listing, which moto
    /// answers).
    async fn artifact_exists(&self, version: &str) -> bool {
        let key = format!("artifacts/checkout/checkout-{version}.tgz");
        let url = format!(
            "{}/{}?list-type=2&prefix={key}",
            self.cloud.endpoint, self.cloud.artifacts_bucket
        );
        let body = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.contains(&format!("<Key>{key}</Key>"))
    }

    async fn requests_by_stage(&self) -> Vec<gitops_testkit::RequestRecord> {
        self.gh.requests().await.unwrap()
    }
}

/// The GitOps environments, in promotion order.
const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

/// Builds the world: the cloud and its OIDC roles from `terraform apply` of
/// deploy/terraform's example on a moto of the scenario's own, fake-github with its runner,
/// the GitOps repository from `gitops init --from-terraform`, the MFE repository from the
/// fixture project and `mfe render`, their secrets, variables and environments.
async fn world(act: PathBuf, moto: OwnMoto, terraform: (PathBuf, PathBuf)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!(
        "e2e-{}",
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    );
    let prefix = &prefix[..20];
    let mut mfes = vec![ModuleMfe {
        name: "checkout",
        repository: "acme/checkout-mfe",
        environments: &ENVIRONMENTS,
    }];
    // Ten more MFEs of the same team, for ten pairs merged at once.
    mfes.extend(FLEET.iter().map(|name| ModuleMfe {
        name,
        repository: "acme/checkout-mfe",
        environments: &ENVIRONMENTS,
    }));
    let t = Instant::now();
    let applied = provision_with_terraform(
        terraform,
        &moto.url,
        &ENVIRONMENTS,
        prefix,
        ("acme", "gitops"),
        &mfes,
    )
    .await;
    let _ = writeln!(
        std::io::stderr(),
        "deploy/terraform applied on moto in {:?}",
        t.elapsed()
    );
    let cloud = applied.cloud.clone();

    let release = Release::pack(crate::gitops_bin().parent().unwrap()).await;
    let release_url = serve(release.assets()).await;
    let mut cfg = RunnerConfig::new(act, dir.path().join("work"));
    cfg.local_actions
        .push((format!("{ACTION_REPO}@{ACTION_SHA}"), release.action()));
    cfg.env = vec![
        ("AWS_ENDPOINT_URL".into(), cloud.endpoint.clone()),
        (
            "RUNNER_TOOL_CACHE".into(),
            dir.path().join("tool-cache").display().to_string(),
        ),
    ];
    let gh = FakeGithub::spawn_with_runner(
        dir.path().join("github"),
        gitops_testkit::openapi_from_env(),
        cfg,
    )
    .await
    .unwrap();

    // The GitOps repository: `gitops init --from-terraform` (gitops.yaml from the module's
    // outputs), the MFEs at the module's artifact templates.
    let scaffold = dir.path().join("scaffold");
    let outputs = dir.path().join("terraform-outputs.json");
    std::fs::write(&outputs, &applied.outputs).unwrap();
    let out = std::process::Command::new(crate::gitops_bin())
        .args(["init", scaffold.to_str().unwrap(), "--action"])
        .arg(format!("{ACTION_REPO}@{ACTION_SHA}"))
        .arg("--from-terraform")
        .arg(&outputs)
        .env_remove("MFE_GITOPS_ACTION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gitops init --from-terraform: {}",
        text(&out)
    );
    for (env, arn) in &applied.deploy_roles {
        assert!(
            text(&out).contains(&format!("environment {env}: AWS_ROLE_ARN={arn}")),
            "gitops init --from-terraform names the {env} deploy role: {}",
            text(&out)
        );
    }
    let checked = cloud
        .run(
            crate::gitops_bin(),
            &["bootstrap", "--check", "--repo", scaffold.to_str().unwrap()],
            &scaffold,
        )
        .await;
    assert!(
        checked.status.success() && text(&checked).contains("all 9 target(s) exist"),
        "gitops bootstrap --check on what terraform made: {}",
        text(&checked)
    );
    std::fs::write(
        scaffold.join("mfes/checkout.yaml"),
        cloud.mfe_yaml("checkout", "acme/checkout-mfe"),
    )
    .unwrap();
    for mfe in FLEET {
        std::fs::write(
            scaffold.join(format!("mfes/{mfe}.yaml")),
            cloud.mfe_yaml(mfe, "acme/checkout-mfe"),
        )
        .unwrap();
    }
    let mut files = Vec::new();
    crate::collect_files(&scaffold, &scaffold, &mut files);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    gh.create_repo("acme", "gitops", &borrowed).await.unwrap();

    let w = World {
        dir,
        gh,
        cloud,
        mfe_dir: PathBuf::new(),
        release_url,
        _release: release,
        mfe_roles: applied.mfes.clone(),
        _moto: moto,
    };
    // Its settings, as the scaffold's README asks: the release mirror, the region, and per
    // environment the module's deploy role (trusted for that environment only); the App
    // exists, with the permissions the README lists, but the repository gets its id and key
    // only later (`gitops_token_is_required`). Priya may approve (write access); Dana may not
    // approve her own requests.
    w.gh.register_app(
        APP_ID,
        APP_SLUG,
        APP_KEY,
        &[
            ("contents", "write"),
            ("pull_requests", "write"),
            ("statuses", "write"),
            ("checks", "read"),
            ("deployments", "write"),
            ("actions", "read"),
            ("metadata", "read"),
        ],
    )
    .await
    .unwrap();
    w.api(
        BOT,
        Method::PUT,
        "/repos/acme/gitops/collaborators/priya",
        Some(json!({"permission": "push"})),
    )
    .await;
    w.var("gitops", None, "MFE_GITOPS_RELEASE_URL", &w.release_url)
        .await;
    w.var("gitops", None, "AWS_REGION", REGION).await;
    for (env, arn) in &applied.deploy_roles {
        w.api(
            DEV,
            Method::PUT,
            &format!("/repos/acme/gitops/environments/{env}"),
            Some(json!({})),
        )
        .await;
        w.var("gitops", Some(env), "AWS_ROLE_ARN", arn).await;
    }
    w
}

/// The MFE repository: the fixture project with `mfe render` output, pushed by a developer with
/// its first release tag; its secrets and variables.
async fn mfe_repo(w: &mut World) {
    w.api(
        DEV,
        Method::POST,
        "/orgs/acme/repos",
        Some(json!({"name": "checkout-mfe"})),
    )
    .await;
    let local = w.dir.path().join("checkout-mfe");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/checkout-mfe"),
        &local,
    );
    w.render_mfe(&local, &[]);
    git(&local, &["init", "-q", "-b", "main", "."]);
    git(&local, &["add", "-A"]);
    git(
        &local,
        &["commit", "-qm", "checkout MFE with the rendered workflows"],
    );
    git(&local, &["tag", "v1.0.0"]);
    w.mfe_dir = local;
    w.gh.set_secret(
        "acme",
        "checkout-mfe",
        None,
        "GITOPS_DISPATCH_TOKEN",
        DISPATCHER,
    )
    .await
    .unwrap();
    w.var(
        "checkout-mfe",
        None,
        "MFE_GITOPS_RELEASE_URL",
        &w.release_url.clone(),
    )
    .await;
    w.var("checkout-mfe", None, "AWS_REGION", REGION).await;
    let roles = w
        .mfe_roles
        .iter()
        .find(|m| m.name == "checkout")
        .expect("the module made the checkout MFE's roles")
        .clone();
    // The module's publish role (CI): the default branch and v* tags only, never an
    // environment.
    w.var("checkout-mfe", None, "MFE_PUBLISH_ROLE_ARN", &roles.publish)
        .await;
    // The module's artifact-reader role (CD): the jobs read the provenance of what they
    // request, in their environments, which the publish role's trust refuses.
    w.var(
        "checkout-mfe",
        None,
        "MFE_ARTIFACT_READ_ROLE_ARN",
        &roles.artifact_read,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rendered_workflows_deploy_an_mfe_end_to_end() {
    let test = "the_rendered_workflows_deploy_an_mfe_end_to_end";
    let Some(act) = std::env::var_os("GITOPS_TEST_ACT").filter(|v| !v.is_empty()) else {
        gitops_testkit::skip(test, "GITOPS_TEST_ACT (nektos/act) is not set");
        return;
    };
    let Some(terraform) = crate::support::terraform(test) else {
        return;
    };
    // A moto of its own: the module creates GitHub's OIDC provider, which exists once per
    // account.
    let Some(moto) = OwnMoto::start(test).await else {
        return;
    };
    let started = Instant::now();
    let mut w = world(PathBuf::from(act), moto, terraform).await;
    mfe_repo(&mut w).await;
    let mut report = Report::default();
    gitops_token_is_required(&w).await;

    // 1. A developer pushes main and the tag v1.0.0: CI builds, tests and publishes both.
    let t = Instant::now();
    w.gh.git_push(
        "acme",
        "checkout-mfe",
        "dana",
        &w.mfe_dir,
        &[
            "refs/heads/main:refs/heads/main",
            "refs/tags/v1.0.0:refs/tags/v1.0.0",
        ],
    )
    .await
    .unwrap();
    let runs =
        w.gh.settle("acme", "checkout-mfe", Duration::from_mins(4))
            .await
            .unwrap();
    let ci: Vec<&WorkflowRun> = runs
        .iter()
        .filter(|r| r.path == ".github/workflows/micro-frontend-ci.yml")
        .collect();
    assert_eq!(ci.len(), 2, "one CI run per pushed ref: {runs:#?}");
    assert!(
        ci.iter()
            .all(|r| r.conclusion.as_deref() == Some("success")),
        "CI succeeds: {runs:#?}\n{}",
        w.logs_of("checkout-mfe").await
    );
    assert!(w.artifact_exists("1.0.0").await, "the tag published 1.0.0");
    report.scenarios.push(json!({
        "name": "CI: push main and v1.0.0, build, test, publish",
        "seconds": t.elapsed().as_secs_f64(),
        "workflow_runs_started": ci.len(),
    }));

    // 2. Requests that must be refused end red on the requester's side within a minute, the
    //    reason in the job summary: prod before staging (a manual CD run from a branch whose
    //    rendered CD targets prod only), and a repository that does not own the MFE.
    let mark = w.mark().await;
    let prod_first = w.dir.path().join("prod-first");
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            w.mfe_dir.to_str().unwrap(),
            prod_first.to_str().unwrap(),
        ],
    );
    git(&prod_first, &["checkout", "-q", "-b", "prod-first"]);
    w.render_mfe(&prod_first, &["--environment", "prod", "--force"]);
    git(&prod_first, &["commit", "-qam", "CD straight to prod"]);
    w.gh.git_push(
        "acme",
        "checkout-mfe",
        "dana",
        &prod_first,
        &["refs/heads/prod-first:refs/heads/prod-first"],
    )
    .await
    .unwrap();
    rogue_repo(&w).await;
    let (cd_mfe, cd_rogue) = (
        w.cd_runs("checkout-mfe").await,
        w.cd_runs("rogue-mfe").await,
    );
    let requested = Instant::now();
    w.start_cd("checkout-mfe", "prod-first", "1.0.0").await;
    w.start_cd("rogue-mfe", "main", "1.0.0").await;
    let refused = w
        .wait_run("checkout-mfe", CD, cd_mfe, Duration::from_mins(2), None)
        .await;
    let rogue = w
        .wait_run("rogue-mfe", CD, cd_rogue, Duration::from_mins(2), None)
        .await;
    let elapsed = requested.elapsed();
    for (run, repo) in [(&refused, "checkout-mfe"), (&rogue, "rogue-mfe")] {
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{repo}: the refused request ends red: {run:#?}\n{}",
            w.logs_of(repo).await
        );
    }
    // Prod before staging: refused by the GitOps side, told on the requester's deployment.
    let summary: String = refused.jobs.iter().map(|j| j.summary.as_str()).collect();
    assert!(
        summary.contains("refused") && summary.contains("staging"),
        "the job summary says why: {summary}\n{}",
        w.logs_of("checkout-mfe").await
    );
    // Another team cannot even name the checkout team's build: its provenance says who built
    // it, so the rogue CD stops before sending anything.
    let rogue_logs = w.logs_of("rogue-mfe").await;
    assert!(
        rogue_logs.contains("built by acme/checkout-mfe, not acme/rogue-mfe"),
        "{rogue_logs}"
    );
    assert!(
        elapsed < Duration::from_mins(1),
        "refusals reach the requester within a minute, not {elapsed:?}"
    );
    forged_origin_is_refused(&w).await;
    for env in ["dev", "staging", "prod"] {
        assert_eq!(
            w.cloud.deployed(env, "checkout").await.live,
            None,
            "nothing deployed to {env}"
        );
    }
    report.scenarios.push(
        w.stage_report(
            "refused requests (prod before staging; another team's build; a forged origin)",
            mark,
        )
        .await,
    );

    // 3. The developer starts the CD workflow for 1.0.0: dev, then staging, then prod, which
    //    waits for the approval a release manager gives through the API.
    let mark = w.mark().await;
    let cd_before = w.cd_runs("checkout-mfe").await;
    let gitops_runs = w.runs("gitops").await.len();
    w.start_cd("checkout-mfe", "main", "1.0.0").await;
    let pr = w
        .wait_for_prod_pull_request(Duration::from_mins(6), gitops_runs)
        .await;
    for env in ["dev", "staging"] {
        let d = w.cloud.deployed(env, "checkout").await;
        assert_eq!(
            d.live.as_ref().map(|l| l.version.as_str()),
            Some("1.0.0"),
            "{env} is live before prod: {d:?}"
        );
    }
    assert_eq!(
        w.cloud.deployed("prod", "checkout").await.live,
        None,
        "prod waits for the approval"
    );
    // The requester sees it waiting, and for whom, once the checks of the prod PR ran.
    let said = w
        .wait_for_status("prod", "in_progress", Duration::from_mins(2))
        .await;
    assert!(
        said.contains("approv") && said.contains(&format!("#{pr}")) && said.contains("not @dana"),
        "{said}"
    );
    // The requester's own approval does not count: the checks it starts leave the PR waiting.
    let checks = w
        .runs("gitops")
        .await
        .iter()
        .filter(|r| r.path == CHECKS)
        .count();
    w.api(
        DEV,
        Method::POST,
        &format!("/repos/acme/gitops/pulls/{pr}/reviews"),
        Some(json!({"event": "APPROVE", "body": "my own request"})),
    )
    .await;
    w.wait_run(
        "gitops",
        CHECKS,
        checks,
        Duration::from_mins(2),
        Some(gitops_runs),
    )
    .await;
    assert_eq!(
        w.cloud.deployed("prod", "checkout").await.live,
        None,
        "the requester cannot approve their own deploy"
    );
    w.api(
        APPROVER,
        Method::POST,
        &format!("/repos/acme/gitops/pulls/{pr}/reviews"),
        Some(json!({"event": "APPROVE", "body": "ship it"})),
    )
    .await;
    let cd = w
        .wait_run(
            "checkout-mfe",
            CD,
            cd_before,
            Duration::from_mins(6),
            Some(gitops_runs),
        )
        .await;
    assert_eq!(
        cd.conclusion.as_deref(),
        Some("success"),
        "the CD run is green because each waiter saw its deploy succeed: {cd:#?}\n{}{}",
        w.logs_of("checkout-mfe").await,
        w.logs_of("gitops").await
    );
    for env in ["dev", "staging", "prod"] {
        w.assert_live(env, "1.0.0").await;
    }
    report.scenarios.push(
        w.stage_report("deploy 1.0.0 to dev, staging and prod (approved)", mark)
            .await,
    );

    // 4. Three requests for one pair in quick succession: the newest is live, and each older
    //    one's requester is told it was superseded.
    let mark = w.mark().await;
    w.publish_versions(&["1.0.1", "1.0.2", "1.0.3"]).await;
    let mut waiters = Vec::new();
    for version in ["1.0.1", "1.0.2", "1.0.3"] {
        waiters.push((
            version,
            w.dispatch_and_wait("checkout", version, "dev").await,
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (version, waiter) in waiters {
        let out = tokio::time::timeout(Duration::from_mins(5), waiter)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the waiter for {version} was left to time out\n{}",
                    futures_logs()
                )
            })
            .unwrap();
        let said = text(&out);
        if version == "1.0.3" {
            assert!(
                out.status.success(),
                "{version} is deployed: {said}\n{}",
                w.logs_of("gitops").await
            );
        } else {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{version} ends as superseded: {said}\n{}",
                w.logs_of("gitops").await
            );
            // Requests are processed in parallel, so an older one is either superseded by a
            // newer one (its pull request moves on) or, processed after one, refused as a
            // downgrade naming that newer pending version: told either way, promptly.
            let newer = ["1.0.2", "1.0.3"]
                .into_iter()
                .filter(|n| *n > version)
                .any(|n| said.contains(&format!("lower than {n}")));
            assert!(
                said.contains("supersed") || (said.contains("downgrade") && newer),
                "{version}: the requester is told a newer request won: {said}"
            );
        }
    }
    w.assert_live("dev", "1.0.3").await;
    let stage = w
        .stage_report("three requests for dev in quick succession", mark)
        .await;
    budget_of_waiters(&stage);
    report.scenarios.push(stage);

    // 5. Ten requests for ten pairs at once: ten pull requests checked and merged concurrently
    //    (GitHub refuses all but one merge of a moment with 405 "Base branch was modified"),
    //    all landed and deployed, every requester told.
    let mark = w.mark().await;
    for mfe in FLEET {
        w.publish_as(mfe, &["1.0.0"]).await;
    }
    let mut waiters = Vec::new();
    for mfe in FLEET {
        waiters.push((mfe, w.dispatch_and_wait(mfe, "1.0.0", "dev").await));
    }
    for (mfe, waiter) in waiters {
        let out = tokio::time::timeout(Duration::from_mins(6), waiter)
            .await
            .unwrap_or_else(|_| panic!("the waiter for {mfe} was left to time out"))
            .unwrap();
        assert!(
            out.status.success(),
            "{mfe} is deployed: {}\n{}",
            text(&out),
            w.logs_of("gitops").await
        );
    }
    let main = w
        .api(
            OBSERVER,
            Method::GET,
            "/repos/acme/gitops/contents/deployments/dev",
            None,
        )
        .await;
    let landed: Vec<&str> = main
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for mfe in FLEET {
        assert!(
            landed.contains(&format!("{mfe}.json").as_str()),
            "{mfe} merged: {landed:?}"
        );
        let live = w.cloud.deployed("dev", mfe).await.live;
        assert_eq!(
            live.map(|l| l.version),
            Some("1.0.0".to_owned()),
            "{mfe} is live in dev"
        );
    }
    let stage = w
        .stage_report("ten pairs requested, merged and deployed at once", mark)
        .await;
    budget_of_waiters(&stage);
    report.scenarios.push(stage);

    // The report.
    let runs_gitops = w.runs("gitops").await.len();
    let runs_mfe = w.runs("checkout-mfe").await.len() + w.runs("rogue-mfe").await.len();
    let report = json!({
        "total_seconds": started.elapsed().as_secs_f64(),
        "workflow_runs": {"acme/gitops": runs_gitops, "mfe repositories": runs_mfe},
        "scenarios": report.scenarios,
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-report.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "e2e report ({}):\n{}",
        path.display(),
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert_eq!(
        w.gh.violations().await.unwrap(),
        vec![],
        "every response conforms to GitHub's OpenAPI description"
    );
}

const CD: &str = ".github/workflows/micro-frontend-cd.yml";
const CHECKS: &str = ".github/workflows/gitops-checks.yml";

/// Ten MFEs of the checkout team: ten (dev, MFE) pairs requested, checked and merged at once.
const FLEET: [&str; 10] = [
    "fleet-a", "fleet-b", "fleet-c", "fleet-d", "fleet-e", "fleet-f", "fleet-g", "fleet-h",
    "fleet-i", "fleet-j",
];

fn futures_logs() -> &'static str {
    "(see the job logs under the runner's work directory)"
}

/// A `GITHUB_TOKEN`'s budget: 1,000 requests an hour per repository.
const GITHUB_TOKEN_BUDGET_PER_HOUR: f64 = 1000.0;

/// Asserts the requester side of a stage (the deployment `mfe dispatch` makes, the dispatch,
/// and the wait) spent few enough budget-counting calls per request (304s are free) that 20
/// concurrent waiters stay within a `GITHUB_TOKEN`'s hourly budget.
fn budget_of_waiters(stage: &Value) {
    let calls = stage["requester_calls_per_request"].as_f64().unwrap();
    assert!(
        calls * 20.0 <= GITHUB_TOKEN_BUDGET_PER_HOUR,
        "20 waiters at {calls} calls each exceed a GITHUB_TOKEN's hourly budget: {stage}"
    );
}

/// A repository that does not own the checkout MFE but holds a dispatch token and renders the
/// CD for it (only the CD workflow: it never publishes).
async fn rogue_repo(w: &World) {
    w.api(
        DEV,
        Method::POST,
        "/orgs/acme/repos",
        Some(json!({"name": "rogue-mfe"})),
    )
    .await;
    let local = w.dir.path().join("rogue-mfe");
    std::fs::create_dir_all(&local).unwrap();
    w.render_mfe(&local, &["--environment", "dev"]);
    std::fs::remove_file(local.join(".github/workflows/micro-frontend-ci.yml")).unwrap();
    git(&local, &["init", "-q", "-b", "main", "."]);
    git(&local, &["add", "-A"]);
    git(&local, &["commit", "-qm", "a CD for someone else's MFE"]);
    w.gh.set_secret(
        "acme",
        "rogue-mfe",
        None,
        "GITOPS_DISPATCH_TOKEN",
        "rogue:rogue-secret",
    )
    .await
    .unwrap();
    w.var("rogue-mfe", None, "MFE_GITOPS_RELEASE_URL", &w.release_url)
        .await;
    // Its own artifact-reader role, able to read the artifacts (moto does not enforce policies).
    w.var("rogue-mfe", None, "AWS_REGION", REGION).await;
    let arn = oidc_role(
        &w.cloud.endpoint,
        &format!(
            "{}-rogue",
            w.cloud.artifacts_bucket.trim_end_matches("-artifacts")
        ),
        &["repo:acme/rogue-mfe:environment:dev"],
    )
    .await;
    w.var("rogue-mfe", None, "MFE_ARTIFACT_READ_ROLE_ARN", &arn)
        .await;
    w.gh.git_push(
        "acme",
        "rogue-mfe",
        "mallory",
        &local,
        &["refs/heads/main:refs/heads/main"],
    )
    .await
    .unwrap();
}

/// 0. Before the GitOps repository has its token, a request fails the process job at once, with
///    exit 2 and a message naming the secret to set (never a silent fallback to a local git
///    branch on the runner); then the operator sets it.
async fn gitops_token_is_required(w: &World) {
    let id = ulid::Ulid::generate().to_string();
    let sha = git(&w.mfe_dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let run = dispatch_raw(w, DISPATCHER, &id, &sha).await;
    let logs = w.logs_of("gitops").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{run:#?}\n{logs}"
    );
    assert!(
        logs.contains("GITOPS_GITHUB_TOKEN") && logs.contains("exit status 2"),
        "the job says which secret is missing, with exit 2: {logs}"
    );
    w.var("gitops", None, "GITOPS_APP_ID", &APP_ID.to_string())
        .await;
    w.gh.set_secret("acme", "gitops", None, "GITOPS_APP_PRIVATE_KEY", APP_KEY)
        .await
        .unwrap();
}

/// Sends a request for checkout 1.0.0 to dev claiming the checkout repository at `sha`, with
/// `token`, straight through the API; returns the GitOps process run it started, completed.
async fn dispatch_raw(w: &World, token: &str, id: &str, sha: &str) -> WorkflowRun {
    let before = w.runs("gitops").await.len();
    w.api(
        token,
        Method::POST,
        "/repos/acme/gitops/dispatches",
        Some(
            json!({"event_type": "deploy-mfe-trigger", "client_payload": {
                "id": id, "timestamp": "2026-12-01T00:00:00Z", "user": "mallory",
                "mfe": "checkout", "version": "1.0.0", "environment": "dev",
                "cache_invalidation_keys": [], "repository": "acme/checkout-mfe",
                "ref": "refs/heads/main", "sha": sha,
            }}),
        ),
    )
    .await;
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let runs = w.runs("gitops").await;
        if let Some(r) = runs
            .iter()
            .skip(before)
            .find(|r| r.display_title.contains(id) && r.status == "completed")
        {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no process run for request {id}: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Someone holding a dispatch token (the rogue team's) sends a request claiming the checkout
/// repository, at its real head: the GitOps side refuses it (`unverified-origin`) and writes
/// nothing, neither a pull request nor a status on the claimed repository.
async fn forged_origin_is_refused(w: &World) {
    let id = ulid::Ulid::generate().to_string();
    let sha = git(&w.mfe_dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let run = dispatch_raw(w, "rogue:rogue-secret", &id, &sha).await;
    let logs = w.logs_of("gitops").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{run:#?}\n{logs}"
    );
    assert!(
        logs.contains("unverified-origin"),
        "the run says why: {logs}"
    );
    let deployments = w
        .api(
            OBSERVER,
            Method::GET,
            "/repos/acme/checkout-mfe/deployments?per_page=100",
            None,
        )
        .await;
    assert!(
        !deployments.to_string().contains(&id),
        "nothing is written on the claimed repository: {deployments}"
    );
    let pulls = w
        .api(
            OBSERVER,
            Method::GET,
            "/repos/acme/gitops/pulls?state=all",
            None,
        )
        .await;
    assert!(!pulls.to_string().contains(&id), "no pull request: {pulls}");
}

impl World {
    /// Panics (with every log) when a run of the GitOps repository after the first `after`
    /// ended other than green: nothing on that side may fail while a deploy goes through.
    async fn no_gitops_failure(&self, after: usize) {
        let runs = self.runs("gitops").await;
        if let Some(bad) = runs.iter().skip(after).find(|r| {
            r.status == "completed"
                && !matches!(r.conclusion.as_deref(), Some("success" | "skipped"))
        }) {
            panic!(
                "a GitOps run failed: {} {:?}\n{}",
                bad.path,
                bad.conclusion,
                self.logs_of("gitops").await
            );
        }
    }

    /// The description of the newest status of the checkout repository's newest deployment to
    /// `env`, once that status is `state`.
    async fn wait_for_status(&self, env: &str, state: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let deployments = self
                .api(
                    OBSERVER,
                    Method::GET,
                    &format!("/repos/acme/checkout-mfe/deployments?environment={env}"),
                    None,
                )
                .await;
            let mut newest = Value::Null;
            if let Some(id) = deployments[0]["id"].as_u64() {
                newest = self
                    .api(
                        OBSERVER,
                        Method::GET,
                        &format!("/repos/acme/checkout-mfe/deployments/{id}/statuses"),
                        None,
                    )
                    .await[0]
                    .clone();
                if newest["state"] == state {
                    return newest["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{env}: no {state} status in {timeout:?}: {newest}\n{}",
                self.logs_of("gitops").await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// How many CD runs `repo` has had.
    async fn cd_runs(&self, repo: &str) -> usize {
        self.runs(repo)
            .await
            .iter()
            .filter(|r| r.path == CD)
            .count()
    }

    /// The number of the open deploy pull request for prod, once its checks ran and left it
    /// waiting for an approval.
    async fn wait_for_prod_pull_request(&self, timeout: Duration, gitops_runs: usize) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            self.no_gitops_failure(gitops_runs).await;
            let pulls = self
                .api(
                    OBSERVER,
                    Method::GET,
                    "/repos/acme/gitops/pulls?state=open",
                    None,
                )
                .await;
            if let Some(pr) = pulls
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["head"]["ref"] == "gitops/prod/checkout")
            {
                let number = pr["number"].as_u64().unwrap();
                let head = pr["head"]["sha"].as_str().unwrap().to_owned();
                // The checks ran on this head and did not merge it.
                let runs = self.runs("gitops").await;
                let checked = runs.iter().any(|r| {
                    r.path == ".github/workflows/gitops-checks.yml"
                        && r.status == "completed"
                        && r.jobs
                            .iter()
                            .any(|j| j.key == "merge" && j.conclusion.is_some())
                });
                let _ = head;
                if checked {
                    return number;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no prod pull request waiting for approval in {timeout:?}\n{}{}",
                self.logs_of("checkout-mfe").await,
                self.logs_of("gitops").await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Asserts `version` is live in `env` as a deploy leaves it: the registry, the files with
    /// their headers, and one more CDN invalidation.
    async fn assert_live(&self, env: &str, version: &str) {
        let d = self.cloud.deployed(env, "checkout").await;
        let live = d
            .live
            .as_ref()
            .unwrap_or_else(|| panic!("{env}: nothing live: {d:?}"));
        assert_eq!(live.version, version, "{env}: {d:?}");
        assert_eq!(
            live.pending_invalidation, None,
            "{env}: the CDN is in sync: {d:?}"
        );
        let names: Vec<&str> = d.version_objects.iter().map(|o| o.key.as_str()).collect();
        assert!(
            names
                .iter()
                .any(|k| k.ends_with(&format!("/{version}/remoteEntry.js"))),
            "{env}: {names:?}"
        );
        for o in &d.version_objects {
            if o.key.contains("/assets/") {
                assert!(o.cache_control.contains("immutable"), "{env}: {o:?}");
            } else {
                assert!(o.cache_control.contains("must-revalidate"), "{env}: {o:?}");
            }
            assert!(o.content_type.starts_with("text/"), "{env}: {o:?}");
        }
        assert!(
            d.import_map_entry
                .as_deref()
                .is_some_and(|e| e.ends_with(&format!("/mfe/checkout/{version}/remoteEntry.js"))),
            "{env}: {d:?}"
        );
        assert!(!d.invalidations.is_empty(), "{env}: invalidated: {d:?}");
        assert_eq!(
            d.invalidations.last().map(|i| i.paths.clone()),
            Some(vec![
                "/importmap.json".to_owned(),
                "/mfe/checkout/remoteEntry.js".to_owned()
            ]),
            "{env}: exactly the changed paths: {d:?}"
        );
    }

    /// Builds the fixture and publishes it as `versions` of the checkout MFE (as a developer
    /// with credentials would, from a laptop).
    async fn publish_versions(&self, versions: &[&str]) {
        self.publish_as("checkout", versions).await;
    }

    /// Builds the fixture and publishes it as `versions` of `mfe`.
    async fn publish_as(&self, mfe: &str, versions: &[&str]) {
        let build = std::process::Command::new("npm")
            .args(["run", "build", "--silent"])
            .current_dir(&self.mfe_dir)
            .output()
            .unwrap();
        assert!(build.status.success(), "npm run build: {}", text(&build));
        let url = self.cloud.artifact_url(mfe);
        for v in versions {
            let out = self
                .cloud
                .run(
                    crate::mfe_bin(),
                    &[
                        "publish",
                        "--dist",
                        "dist",
                        "--mfe",
                        mfe,
                        "--version",
                        v,
                        "--to",
                        &url,
                    ],
                    &self.mfe_dir,
                )
                .await;
            assert!(out.status.success(), "mfe publish {v}: {}", text(&out));
        }
    }

    /// A `GITHUB_TOKEN` of a job of the checkout repository with `deployments: write`, as its
    /// CD job has.
    async fn cd_job_token(&self) -> String {
        let v = self
            .api(
                OBSERVER,
                Method::POST,
                "/_fake/tokens",
                Some(json!({
                    "repository": "acme/checkout-mfe",
                    "permissions": {"deployments": "write"},
                })),
            )
            .await;
        v["token"].as_str().unwrap().to_owned()
    }

    /// `mfe dispatch --wait` for `mfe` `version` to `env` from the checkout repository's main
    /// head, as its CD job would run it (with that job's `GITHUB_TOKEN`).
    async fn dispatch_and_wait(
        &self,
        mfe: &str,
        version: &str,
        env: &str,
    ) -> tokio::task::JoinHandle<std::process::Output> {
        let sha = git(&self.mfe_dir, &["rev-parse", "HEAD"]).trim().to_owned();
        let job_token = self.cd_job_token().await;
        let mut cmd = tokio::process::Command::new(crate::mfe_bin());
        cmd.args([
            "dispatch",
            "--gitops-repo",
            "acme/gitops",
            "--mfe",
            mfe,
            "--version",
            version,
            "--environment",
            env,
            "--repository",
            "acme/checkout-mfe",
            "--ref",
            "refs/heads/main",
            "--sha",
            &sha,
            "--user",
            "dana",
            "--wait",
            "--timeout",
            "240",
            "--interval",
            "1",
            "--api-url",
            &self.gh.base_url,
        ])
        .env_remove("GITHUB_ACTIONS")
        .env("GITOPS_DISPATCH_TOKEN", DISPATCHER)
        .env("GITHUB_TOKEN", job_token)
        .env(
            "GITHUB_STEP_SUMMARY",
            self.dir.path().join(format!("summary-{mfe}-{version}.md")),
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        tokio::spawn(async move { cmd.output().await.unwrap() })
    }

    /// Workflow runs started so far, in every repository.
    async fn total_runs(&self) -> usize {
        let mut n = 0;
        for repo in ["gitops", "checkout-mfe", "rogue-mfe"] {
            n += self.runs(repo).await.len();
        }
        n
    }

    /// Where a stage starts: (its start, API calls so far, workflow runs so far).
    async fn mark(&self) -> (Instant, usize, usize) {
        (
            Instant::now(),
            self.gh.requests().await.unwrap().len(),
            self.total_runs().await,
        )
    }

    /// Wall time, workflow runs started and API calls by stage since `mark`.
    async fn stage_report(&self, name: &str, mark: (Instant, usize, usize)) -> Value {
        let (t, before, runs_before) = mark;
        let runs = self.total_runs().await - runs_before;
        let calls = self.requests_by_stage().await;
        let calls = &calls[before.min(calls.len())..];
        let calls: Vec<&gitops_testkit::RequestRecord> =
            calls.iter().filter(|c| c.login != "observer").collect();
        let mut by_stage: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        let mut by_operation: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for c in &calls {
            *by_stage.entry(stage_of(c)).or_default() += 1;
            *by_operation
                .entry(format!("{} {} {}", c.login, c.method, operation(&c.path)))
                .or_default() += 1;
        }
        let requester: Vec<&&gitops_testkit::RequestRecord> = calls
            .iter()
            .filter(|c| stage_of(c) == "requester: dispatch and wait")
            .collect();
        let not_modified = requester.iter().filter(|c| c.status == 304).count();
        let dispatches = requester
            .iter()
            .filter(|c| c.path.ends_with("/dispatches"))
            .count()
            .max(1);
        #[allow(clippy::cast_precision_loss)] // small counts
        let per_request = (requester.len() - not_modified) as f64 / dispatches as f64;
        json!({
            "name": name,
            "seconds": t.elapsed().as_secs_f64(),
            "workflow_runs_started": runs,
            "requester_calls": requester.len(),
            "requester_not_modified": not_modified,
            "requester_calls_per_request": per_request,
            "api_calls": calls.len(),
            "api_calls_by_stage": by_stage,
            "api_calls_by_operation": by_operation,
        })
    }
}

/// A path with its ids, numbers and refs replaced by placeholders.
fn operation(path: &str) -> String {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let generic = (i == 1 || i == 2) && segs[0] == "repos"
            || s.chars().all(|c| c.is_ascii_digit())
            || (s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()));
        out.push(if generic { "*" } else { s });
    }
    format!("/{}", out.join("/"))
}

/// The stage an API call belongs to, from who made it and what it touched: the requester's
/// dispatch token and its job's `GITHUB_TOKEN` (its deployment, waiting on it), and the GitOps
/// App's installation tokens by resource (deployments: reporting; statuses, reviews, files and merges: checks and
/// merge; the rest: reading the repository and proposing).
fn stage_of(c: &gitops_testkit::RequestRecord) -> &'static str {
    let p = c.path.as_str();
    match c.login.as_str() {
        "checkout-ci" | "rogue" => "requester: dispatch and wait",
        "github-actions[bot]" if p.contains("/deployments") => "requester: dispatch and wait",
        "github-actions[bot]" => "workflow GITHUB_TOKEN, other",
        "acme-gitops[bot]" if p.contains("/deployments") => "gitops: report to the requester",
        "acme-gitops[bot]"
            if p.ends_with("/merge")
                || p.contains("/statuses/")
                || p.contains("/reviews")
                || p.ends_with("/files") =>
        {
            "gitops: checks and merge"
        }
        "acme-gitops[bot]" => "gitops: read the repository and propose",
        _ => "people",
    }
}
