//! fake-github's workflow runner, one test per modelled rule: workflows run with act on the
//! events GitHub would start them for, with a per-job `GITHUB_TOKEN` limited to `permissions:`,
//! no workflows for events a `GITHUB_TOKEN` caused, concurrency groups, environments with
//! reviewers and branch rules, secrets and variables, OIDC tokens, matrices and job outputs.

use std::path::PathBuf;
use std::time::Duration;

use gitops_testkit::FakeGithub;
use gitops_testkit::runner::RunnerConfig;
use gitops_testkit::state::WorkflowRun;
use reqwest::Method;
use serde_json::{Value, json};

const USER: &str = "octocat:ghp_octocat";
const REVIEWER: &str = "reviewer:ghp_reviewer";

struct World {
    dir: tempfile::TempDir,
    gh: FakeGithub,
}

/// fake-github with its runner, or `None` after the skip line when act is missing.
async fn world(test: &str) -> Option<World> {
    let Some(act) = std::env::var_os("GITOPS_TEST_ACT").filter(|v| !v.is_empty()) else {
        gitops_testkit::skip(test, "GITOPS_TEST_ACT (nektos/act) is not set");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunnerConfig::new(PathBuf::from(act), dir.path().join("work"));
    let gh = FakeGithub::spawn_with_runner(
        dir.path().join("data"),
        gitops_testkit::openapi_from_env(),
        cfg,
    )
    .await
    .unwrap();
    Some(World { dir, gh })
}

impl World {
    async fn repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        self.gh
            .create_repo("acme", name, files)
            .await
            .unwrap()
            .unwrap()
    }

    async fn api(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.gh.api(token, method, path, body).await.unwrap()
    }

    async fn dispatch(&self, repo: &str, event_type: &str, payload: Value) {
        let (status, body) = self
            .api(
                USER,
                Method::POST,
                &format!("/repos/acme/{repo}/dispatches"),
                Some(json!({"event_type": event_type, "client_payload": payload})),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn settle(&self, repo: &str) -> Vec<WorkflowRun> {
        self.gh
            .settle("acme", repo, Duration::from_mins(3))
            .await
            .unwrap()
    }

    /// The log act wrote for each job of `run`.
    fn logs(&self, run: &WorkflowRun) -> String {
        let mut out = String::new();
        for j in &run.jobs {
            let p = self
                .dir
                .path()
                .join(format!("work/run-{}/job-{}/log.txt", run.id, j.id));
            out.push_str(&std::fs::read_to_string(p).unwrap_or_default());
        }
        out
    }

    async fn violations(&self) {
        assert_eq!(
            self.gh.violations().await.unwrap(),
            vec![],
            "OpenAPI conformance"
        );
    }
}

fn conclusions(runs: &[WorkflowRun]) -> Vec<(String, Option<String>)> {
    runs.iter()
        .map(|r| (r.display_title.clone(), r.conclusion.clone()))
        .collect()
}

const ON_DISPATCH_PUSHES: &str = r#"name: writer
on:
  repository_dispatch:
    types: [write]
permissions:
  contents: write
jobs:
  write:
    runs-on: ubuntu-latest
    steps:
      - name: Commit a file with the workflow's own token
        env:
          TOKEN: ${{ github.token }}
        run: |
          code=$(curl -sS -o out.json -w '%{http_code}' -X PUT \
            -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/contents/by-token.txt" \
            -d '{"message":"by the GITHUB_TOKEN","content":"aGk="}')
          cat out.json
          test "$code" = 201
"#;

const ON_PUSH: &str = r#"name: on push
run-name: push of ${{ github.sha }} by ${{ github.actor }}
on:
  push:
    branches: [main]
jobs:
  seen:
    runs-on: ubuntu-latest
    steps:
      - run: echo "push seen"
"#;

/// A push made with a workflow's `GITHUB_TOKEN` starts no workflow; the same push by a person
/// does; and the dispatch itself (by a person) did start one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_by_the_github_token_starts_no_workflow() {
    let Some(w) = world("a_push_by_the_github_token_starts_no_workflow").await else {
        return;
    };
    w.repo(
        "app",
        &[
            (".github/workflows/writer.yml", ON_DISPATCH_PUSHES),
            (".github/workflows/on-push.yml", ON_PUSH),
        ],
    )
    .await;
    // The repository's creation was a push by a person: one `on push` run.
    let runs = w.settle("app").await;
    assert_eq!(runs.len(), 1, "{:?}", conclusions(&runs));
    assert_eq!(runs[0].event, "push");

    w.dispatch("app", "write", json!({})).await;
    let runs = w.settle("app").await;
    let writer: Vec<&WorkflowRun> = runs.iter().filter(|r| r.name == "writer").collect();
    assert_eq!(writer.len(), 1);
    assert_eq!(
        writer[0].conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(writer[0])
    );
    assert_eq!(
        runs.iter().filter(|r| r.event == "push").count(),
        1,
        "the GITHUB_TOKEN's commit started nothing: {:?}",
        conclusions(&runs)
    );

    // The same kind of change by a person starts the push workflow.
    let (status, body) = w
        .api(
            USER,
            Method::PUT,
            "/repos/acme/app/contents/by-person.txt",
            Some(json!({"message": "by a person", "content": "aGk="})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let runs = w.settle("app").await;
    let pushes: Vec<&WorkflowRun> = runs.iter().filter(|r| r.event == "push").collect();
    assert_eq!(pushes.len(), 2, "{:?}", conclusions(&runs));
    assert!(
        pushes[1].display_title.ends_with("by octocat"),
        "{:?}",
        pushes[1].display_title
    );
    assert_eq!(pushes[1].conclusion.as_deref(), Some("success"));
    w.violations().await;
}

const READ_ONLY: &str = r#"name: read only
on: [workflow_dispatch]
permissions:
  contents: read
jobs:
  try:
    runs-on: ubuntu-latest
    steps:
      - name: Reading works, writing is refused with GitHub's 403
        env:
          TOKEN: ${{ secrets.GITHUB_TOKEN }}
        run: |
          api() { curl -sS -o body.json -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$@"; }
          test "$(api "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/contents/README.md")" = 200
          code=$(api -X POST "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/git/refs" \
            -d "{\"ref\":\"refs/heads/x\",\"sha\":\"$GITHUB_SHA\"}")
          cat body.json
          test "$code" = 403
          grep -q 'Resource not accessible by integration' body.json
          test "$(api -X POST "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/pulls" -d '{}')" = 403
          echo "$TOKEN" > "$FAKE_GITHUB_JOB_DIR/token"
"#;

/// A job's token reads what `permissions:` allows and is refused the rest with GitHub's 403
/// body; it stops working when the job ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_cannot_write_and_dies_with_its_job() {
    let Some(w) = world("a_read_only_token_cannot_write_and_dies_with_its_job").await else {
        return;
    };
    w.repo(
        "app",
        &[
            ("README.md", "hi\n"),
            (".github/workflows/ro.yml", READ_ONLY),
        ],
    )
    .await;
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/actions/workflows/ro.yml/dispatches",
            Some(json!({"ref": "main"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let runs = w.settle("app").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(&runs[0])
    );
    assert_eq!(runs[0].event, "workflow_dispatch");
    // No branch was created.
    let (status, _) = w
        .api(USER, Method::GET, "/repos/acme/app/git/ref/heads/x", None)
        .await;
    assert_eq!(status, 404);
    // The job's token, kept by the job, no longer works.
    let token = std::fs::read_to_string(w.dir.path().join(format!(
        "work/run-{}/job-{}/token",
        runs[0].id, runs[0].jobs[0].id
    )))
    .unwrap();
    assert!(token.starts_with("ghs_"), "{token}");
    let (status, body) = w
        .api(token.trim(), Method::GET, "/repos/acme/app", None)
        .await;
    assert_eq!(status, 401, "{body}");
    w.violations().await;
}

const QUEUED: &str = r"name: queued
run-name: request ${{ github.event.client_payload.n }}
on:
  repository_dispatch:
    types: [go]
concurrency:
  group: one-at-a-time
  cancel-in-progress: false
jobs:
  work:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 4
";

/// One run per group at a time and at most one pending: a newer pending run cancels the older
/// pending one, as on GitHub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_pending_run_cancels_the_older_pending_one() {
    let Some(w) = world("a_newer_pending_run_cancels_the_older_pending_one").await else {
        return;
    };
    w.repo("app", &[(".github/workflows/q.yml", QUEUED)]).await;
    for n in 1..=3 {
        w.dispatch("app", "go", json!({"n": n})).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let runs = w.settle("app").await;
    let mut got = conclusions(&runs);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("request 1".to_owned(), Some("success".to_owned())),
            ("request 2".to_owned(), Some("cancelled".to_owned())),
            ("request 3".to_owned(), Some("success".to_owned())),
        ]
    );
    w.violations().await;
}

const DEPLOY: &str = r#"name: deploy
on:
  workflow_dispatch:
    inputs:
      target:
        required: true
        type: choice
        options: [staging, prod]
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: ${{ inputs.target }}
    permissions:
      id-token: write
    steps:
      - name: Secrets and variables of the environment win over the repository's
        env:
          WHO: ${{ secrets.WHO }}
          REGION: ${{ vars.REGION }}
        run: |
          test "$WHO" = "env-$GITHUB_JOB" || test "$WHO" = env-secret
          test "$REGION" = eu-west-1
      - name: An OIDC token with GitHub's claims
        run: |
          curl -sS -H "Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
            "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com" > token.json
          python3 -c 'import json; print(json.load(open("token.json"))["value"])' > jwt
          curl -sS -f -X POST "$GITHUB_API_URL/_fake/oidc/verify" \
            -d "{\"token\":\"$(cat jwt)\"}" > claims.json
          python3 - <<'PY'
          import json
          c = json.load(open("claims.json"))
          assert c["sub"] == "repo:acme/app:environment:prod", c
          assert c["aud"] == "sts.amazonaws.com", c
          assert c["job_workflow_ref"] == "acme/app/.github/workflows/deploy.yml@refs/heads/main", c
          PY
"#;

/// A job in an environment with a required reviewer waits until the reviewer approves (a
/// non-reviewer cannot), then runs with the environment's secrets and variables and an OIDC
/// token naming the environment; a ref the environment's branch policy does not allow fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_with_a_required_reviewer_waits_for_the_approval() {
    let Some(w) = world("an_environment_with_a_required_reviewer_waits_for_the_approval").await
    else {
        return;
    };
    w.repo("app", &[(".github/workflows/deploy.yml", DEPLOY)])
        .await;
    // The reviewer is a known user (reviewers are named by id).
    let (_, reviewer) = w.api(REVIEWER, Method::GET, "/users/reviewer", None).await;
    let (status, body) = w
        .api(
            USER,
            Method::PUT,
            "/repos/acme/app/environments/prod",
            Some(json!({"reviewers": [{"type": "User", "id": reviewer["id"]}], "prevent_self_review": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/environments/prod/variables",
            Some(json!({"name": "REGION", "value": "eu-west-1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    w.gh.set_secret("acme", "app", None, "WHO", "repo-secret")
        .await
        .unwrap();
    w.gh.set_secret("acme", "app", Some("prod"), "WHO", "env-secret")
        .await
        .unwrap();

    // An input the workflow does not declare is refused.
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"target": "moon"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"target": "prod"}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // The run waits.
    let run = loop {
        let runs = w.gh.runs("acme", "app").await.unwrap();
        if let Some(r) = runs.iter().find(|r| r.status == "waiting") {
            break r.clone();
        }
        assert!(
            runs.iter().all(|r| r.status != "completed"),
            "the run must wait, not finish: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let path = format!(
        "/repos/acme/app/actions/runs/{}/pending_deployments",
        run.id
    );
    let (status, pending) = w.api(REVIEWER, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(pending[0]["environment"]["name"], "prod");
    assert_eq!(pending[0]["current_user_can_approve"], true);
    let env_id = pending[0]["environment"]["id"].clone();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        w.gh.runs("acme", "app").await.unwrap()[0].status,
        "waiting",
        "still waiting"
    );
    // The requester may not approve (prevent_self_review), nor may a stranger.
    for who in [USER, "stranger:x"] {
        let (status, body) = w
            .api(
                who,
                Method::POST,
                &path,
                Some(json!({"environment_ids": [env_id], "state": "approved", "comment": "ok"})),
            )
            .await;
        assert_eq!(status, 422, "{who}: {body}");
    }
    let (status, body) = w
        .api(
            REVIEWER,
            Method::POST,
            &path,
            Some(json!({"environment_ids": [env_id], "state": "approved", "comment": "ship it"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let runs = w.settle("app").await;
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(&runs[0])
    );
    assert!(
        !w.logs(&runs[0]).contains("env-secret"),
        "secrets are masked in the log"
    );

    // A branch policy that allows only `release/*`: main may not deploy.
    let (status, body) = w
        .api(
            USER,
            Method::PUT,
            "/repos/acme/app/environments/staging",
            Some(json!({"deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/environments/staging/deployment-branch-policies",
            Some(json!({"name": "release/*", "type": "branch"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"target": "staging"}})),
        )
        .await;
    assert_eq!(status, 204);
    let runs = w.settle("app").await;
    let last = runs.last().unwrap();
    assert_eq!(last.conclusion.as_deref(), Some("failure"));
    assert!(
        last.jobs[0]
            .summary
            .contains("Branch \"main\" is not allowed to deploy to staging"),
        "{:?}",
        last.jobs
    );
    w.violations().await;
}

const PIPELINE: &str = r#"name: pipeline
on:
  push:
    branches: [main]
    paths: ["services/**"]
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      targets: ${{ steps.t.outputs.targets }}
    steps:
      - id: t
        run: echo 'targets=[{"name":"a"},{"name":"b"}]' >> "$GITHUB_OUTPUT"
  build:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      matrix:
        include: ${{ fromJSON(needs.plan.outputs.targets) }}
    steps:
      - run: test "${{ matrix.name }}" = a || test "${{ matrix.name }}" = b
  never:
    needs: build
    if: needs.plan.outputs.targets == '[]'
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
"#;

/// Job outputs reach the jobs that need them, a matrix from them expands to one job per
/// entry, a false `if` skips, and a push outside `paths` starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_matrices_and_path_filters_behave_as_on_github() {
    let Some(w) = world("outputs_matrices_and_path_filters_behave_as_on_github").await else {
        return;
    };
    w.repo("app", &[(".github/workflows/p.yml", PIPELINE)])
        .await;
    // The creation push (a new branch: changed files unknown) runs it.
    let runs = w.settle("app").await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(run)
    );
    let mut jobs: Vec<(String, Option<String>)> = run
        .jobs
        .iter()
        .map(|j| (j.name.clone(), j.conclusion.clone()))
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        vec![
            ("build (a)".to_owned(), Some("success".to_owned())),
            ("build (b)".to_owned(), Some("success".to_owned())),
            ("never".to_owned(), Some("skipped".to_owned())),
            ("plan".to_owned(), Some("success".to_owned())),
        ]
    );
    // A change outside services/ starts nothing; one inside does.
    for (file, expected) in [("docs/x.md", 1), ("services/a.txt", 2)] {
        let (status, _) = w
            .api(
                USER,
                Method::PUT,
                &format!("/repos/acme/app/contents/{file}"),
                Some(json!({"message": "change", "content": "aGk="})),
            )
            .await;
        assert_eq!(status, 201);
        assert_eq!(w.settle("app").await.len(), expected, "after {file}");
    }
    let (status, jobs) = w
        .api(
            USER,
            Method::GET,
            &format!("/repos/acme/app/actions/runs/{}/jobs", run.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(jobs["total_count"], 4);
    w.violations().await;
}

const ON_RELEASE: &str = r#"name: on release
on:
  release:
    types: [published]
jobs:
  announce:
    runs-on: ubuntu-latest
    steps:
      - name: The release's tag is the ref and the event's tag name
        env:
          TAG: ${{ github.event.release.tag_name }}
        run: |
          test "$TAG" = v2.0.0
          test "$GITHUB_REF" = refs/tags/v2.0.0
          test "$GITHUB_REF_TYPE" = tag
"#;

const ON_SCHEDULE: &str = r#"name: nightly
on:
  schedule:
    - cron: "17 5 * * *"
jobs:
  tick:
    runs-on: ubuntu-latest
    steps:
      - run: test "$GITHUB_EVENT_NAME" = schedule
"#;

/// Publishing a release starts the workflows on `release: published` at the tag (a draft
/// starts none); the scheduler hook starts those on `schedule`, on the default branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_schedules_start_their_workflows() {
    let Some(w) = world("releases_and_schedules_start_their_workflows").await else {
        return;
    };
    w.repo(
        "app",
        &[
            (".github/workflows/release.yml", ON_RELEASE),
            (".github/workflows/nightly.yml", ON_SCHEDULE),
        ],
    )
    .await;
    assert!(w.settle("app").await.is_empty(), "a push starts neither");
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/releases",
            Some(json!({"tag_name": "v1.9.0", "draft": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(w.settle("app").await.is_empty(), "a draft starts nothing");
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            "/repos/acme/app/releases",
            Some(json!({"tag_name": "v2.0.0", "name": "2.0.0"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let runs = w.settle("app").await;
    assert_eq!(runs.len(), 1, "{:?}", conclusions(&runs));
    assert_eq!(runs[0].event, "release");
    assert_eq!(runs[0].head_branch, "v2.0.0");
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(&runs[0])
    );
    w.gh.fire_schedule("acme", "app").await.unwrap();
    let runs = w.settle("app").await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].event, "schedule");
    assert_eq!(
        runs[1].conclusion.as_deref(),
        Some("success"),
        "{}",
        w.logs(&runs[1])
    );
    w.violations().await;
}

const LATEST_ONLY: &str = r"name: latest only
run-name: request ${{ github.event.client_payload.n }}
on:
  repository_dispatch:
    types: [go]
concurrency:
  group: latest
  cancel-in-progress: true
jobs:
  work:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 30
";

/// With `cancel-in-progress`, a newer run cancels the running one (its act process is killed
/// long before its 30 seconds) and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_in_progress_cancels_the_running_run() {
    let Some(w) = world("cancel_in_progress_cancels_the_running_run").await else {
        return;
    };
    w.repo("app", &[(".github/workflows/l.yml", LATEST_ONLY)])
        .await;
    let started = std::time::Instant::now();
    w.dispatch("app", "go", json!({"n": 1})).await;
    // The first run is running before the second arrives.
    loop {
        let runs = w.gh.runs("acme", "app").await.unwrap();
        if runs
            .first()
            .is_some_and(|r| r.jobs.iter().any(|j| j.status == "in_progress"))
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.dispatch("app", "go", json!({"n": 2})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = w.gh.runs("acme", "app").await.unwrap();
    assert_eq!(runs[0].conclusion.as_deref(), Some("cancelled"), "{runs:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "killed, not waited for"
    );
    // Cancel the second through the API, as a person would.
    let (status, body) = w
        .api(
            USER,
            Method::POST,
            &format!("/repos/acme/app/actions/runs/{}/cancel", runs[1].id),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let runs = w.settle("app").await;
    assert_eq!(
        conclusions(&runs),
        vec![
            ("request 1".to_owned(), Some("cancelled".to_owned())),
            ("request 2".to_owned(), Some("cancelled".to_owned())),
        ]
    );
    w.violations().await;
}
