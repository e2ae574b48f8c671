//! Issue 14 on the rendered workflows: a GitHub App token minted per job, the requester told of
//! failures before gitops runs, drift per environment, versions and provenance on the MFE side.

use gitops_render::MfeOptions;
use serde_yaml_ng::Value;

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    get(v, key).and_then(Value::as_str).unwrap_or("")
}

fn scaffold() -> Vec<(String, Value)> {
    gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::new(crate::pin()))
        .unwrap()
        .into_iter()
        .filter(|f| f.path.starts_with(".github/workflows/"))
        .map(|f| {
            let doc = serde_yaml_ng::from_str(&f.contents).unwrap();
            (f.path, doc)
        })
        .collect()
}

fn job<'a>(files: &'a [(String, Value)], file: &str, id: &str) -> &'a Value {
    let (_, doc) = files.iter().find(|(p, _)| p.ends_with(file)).unwrap();
    get(get(doc, "jobs").unwrap(), id).unwrap_or_else(|| panic!("{file}: no job {id}"))
}

fn steps(job: &Value) -> &[Value] {
    get(job, "steps").and_then(Value::as_sequence).unwrap()
}

const TOKEN: &str = "${{ steps.app-token.outputs.token || secrets.GITOPS_GITHUB_TOKEN }}";

/// Every job that calls GitHub mints its own App token (pinned action, `owner:` so it reaches
/// the MFE repositories) and every step with GITOPS_GITHUB_TOKEN takes it, else the PAT secret;
/// jobs that do not call GitHub get no token at all.
#[test]
fn jobs_calling_github_mint_an_app_token_and_fall_back_to_the_pat() {
    let files = scaffold();
    let pin = gitops_render::PINNED_ACTIONS
        .iter()
        .find(|(n, _, _)| *n == "actions/create-github-app-token")
        .map(|(n, sha, _)| format!("{n}@{sha}"))
        .unwrap();
    let calling = [
        ("gitops-process.yml", "process"),
        ("gitops-checks.yml", "merge"),
        ("gitops-checks.yml", "sweep"),
        ("gitops-deploy.yml", "deploy"),
        ("gitops-operate.yml", "operate"),
    ];
    for (file, id) in calling {
        let what = format!("{file} {id}");
        let steps = steps(job(&files, file, id));
        let mint = steps
            .iter()
            .position(|s| text(s, "id") == "app-token")
            .unwrap_or_else(|| panic!("{what}: no app-token step"));
        let step = &steps[mint];
        assert_eq!(text(step, "uses"), pin, "{what}");
        assert_eq!(text(step, "if"), "vars.GITOPS_APP_ID != ''", "{what}");
        let with = get(step, "with").unwrap();
        assert_eq!(text(with, "app-id"), "${{ vars.GITOPS_APP_ID }}", "{what}");
        assert_eq!(
            text(with, "private-key"),
            "${{ secrets.GITOPS_APP_PRIVATE_KEY }}",
            "{what}"
        );
        assert_eq!(
            text(with, "owner"),
            "${{ github.repository_owner }}",
            "{what}"
        );
        let limited = with
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(Value::as_str)
            .filter(|k| k.starts_with("permission-"))
            .count();
        assert!(
            limited >= 3,
            "{what}: the token is not limited to the job's needs"
        );
        let mut users = 0;
        for (i, s) in steps.iter().enumerate() {
            if let Some(token) = get(s, "env").and_then(|e| get(e, "GITOPS_GITHUB_TOKEN")) {
                assert_eq!(token.as_str(), Some(TOKEN), "{what} step {i}");
                assert!(i > mint, "{what}: the token is used before it is minted");
                users += 1;
            }
        }
        assert!(users >= 1, "{what}: nothing uses the token");
    }
    for (file, id) in [
        ("gitops-checks.yml", "check"),
        ("gitops-drift.yml", "drift"),
        ("gitops-metrics.yml", "metrics"),
        ("gitops-prune.yml", "prune"),
    ] {
        let steps = steps(job(&files, file, id));
        assert!(
            steps.iter().all(|s| text(s, "id") != "app-token"
                && get(s, "env")
                    .and_then(|e| get(e, "GITOPS_GITHUB_TOKEN"))
                    .is_none()),
            "{file} {id}: calls no GitHub API, gets no token"
        );
    }
}

/// Process, merge and deploy end with a step that tells the requester when the job failed or
/// was cancelled, with curl and jq only (not gitops: its install may be what failed), reading
/// the event's payload through `env:` (process) or the desired-state file (merge, deploy).
#[test]
fn jobs_acting_for_a_requester_tell_it_when_they_fail_before_gitops() {
    let files = scaffold();
    for (file, id, reads) in [
        ("gitops-process.yml", "process", "REQ_REPOSITORY"),
        ("gitops-checks.yml", "merge", "HEAD_REF"),
        ("gitops-deploy.yml", "deploy", "MFE_NAME"),
    ] {
        let what = format!("{file} {id}");
        let last = steps(job(&files, file, id)).last().unwrap();
        let condition = text(last, "if");
        assert!(
            condition.starts_with("failure() || cancelled()")
                || condition.starts_with("(failure() || cancelled())"),
            "{what}: {last:?}"
        );
        if file == "gitops-process.yml" {
            // gitops ran to its end (a refusal exits 1): it told the requester, or chose not to
            // (an unproven origin names a repository that never asked).
            assert!(
                condition.ends_with("&& steps.process.outcome != 'failure'"),
                "{what}: {condition}"
            );
        }
        let env = get(last, "env").unwrap();
        assert_eq!(text(env, "GITOPS_GITHUB_TOKEN"), TOKEN, "{what}");
        assert!(get(env, reads).is_some(), "{what}: no {reads}");
        let run = text(last, "run");
        for needed in [
            "${deployments}/${id}/statuses",
            "state: \"error\"",
            "success|failure|error|inactive",
            "job failed before gitops could report: ${run_url}",
        ] {
            assert!(run.contains(needed), "{what}: lacks {needed}");
        }
        assert!(
            run.lines().all(|l| {
                let l = l.trim_start();
                !l.starts_with("gitops ") && !l.starts_with("gh ")
            }),
            "{what}: runs gitops or gh"
        );
        if reads != "REQ_REPOSITORY" {
            assert!(run.contains("deployments/${TARGET_ENVIRONMENT:-}/${MFE_NAME:-}.json"));
        }
    }
    let process = job(&files, "gitops-process.yml", "process");
    let env = get(steps(process).last().unwrap(), "env").unwrap();
    for (k, field) in [
        ("REQ_REPOSITORY", "repository"),
        ("REQ_SHA", "sha"),
        ("REQ_ENVIRONMENT", "environment"),
        ("REQ_ID", "id"),
    ] {
        assert_eq!(
            text(env, k),
            format!("${{{{ github.event.client_payload.{field} }}}}"),
            "{k}"
        );
    }
}

/// The merge job also runs after a failed check (to tell the requester) but merges only after
/// a passing one; a sweep merges what was left behind every 15 minutes.
#[test]
fn checks_merge_only_after_a_passing_check_and_sweep_on_a_schedule() {
    let files = scaffold();
    let merge = job(&files, "gitops-checks.yml", "merge");
    assert!(text(merge, "if").starts_with("always() && needs.check.result != 'skipped'"));
    let step = steps(merge)
        .iter()
        .find(|s| text(s, "run").starts_with("gitops merge"))
        .unwrap();
    assert_eq!(text(step, "if"), "needs.check.result == 'success'");
    let (_, doc) = files
        .iter()
        .find(|(p, _)| p.ends_with("gitops-checks.yml"))
        .unwrap();
    let on = get(doc, "on").unwrap();
    let cron = get(on, "schedule").and_then(Value::as_sequence).unwrap();
    assert_eq!(text(&cron[0], "cron"), "*/15 * * * *");
    assert!(get(on, "workflow_dispatch").is_some());
    let sweep = job(&files, "gitops-checks.yml", "sweep");
    assert!(
        steps(sweep)
            .iter()
            .any(|s| text(s, "run") == "gitops merge --repo . --all")
    );
}

/// Drift runs per environment, in that environment (its own role and region variables), and
/// the deploy job gets the Artifactory token.
#[test]
fn drift_runs_in_each_environment_and_deploy_gets_the_artifact_store_token() {
    let files = scaffold();
    let drift = job(&files, "gitops-drift.yml", "drift");
    assert_eq!(text(drift, "environment"), "${{ matrix.environment }}");
    let run = steps(drift).last().unwrap();
    assert_eq!(
        text(run, "run"),
        "gitops drift --repo . --env \"$TARGET_ENVIRONMENT\""
    );
    let deploy = job(&files, "gitops-deploy.yml", "deploy");
    let step = steps(deploy)
        .iter()
        .find(|s| text(s, "run").starts_with("gitops deploy"))
        .unwrap();
    assert_eq!(
        text(get(step, "env").unwrap(), "ARTIFACTORY_TOKEN"),
        "${{ secrets.ARTIFACTORY_TOKEN }}"
    );
}

/// The MFE side: CD creates the deployment (deployments: write), reads the version's
/// provenance from the artifact store with the store's credentials (s3: the artifact-reader role,
/// never the publish role), after installing mfe;
/// CI versions main builds as a pre-release of the next patch.
#[test]
fn mfe_cd_proves_its_origin_and_names_the_commit_that_built_the_version() {
    for (set, options) in crate::mfe_option_sets() {
        let files = gitops_render::render_mfe_workflows(&options).unwrap();
        let cd: Value = serde_yaml_ng::from_str(&files[1].contents).unwrap();
        for (id, job) in get(&cd, "jobs").and_then(Value::as_mapping).unwrap() {
            let what = format!("{set} CD {}", id.as_str().unwrap());
            let perms = get(job, "permissions").unwrap();
            assert_eq!(text(perms, "deployments"), "write", "{what}");
            let s3 = options.artifact_url.starts_with("s3://");
            assert_eq!(get(perms, "id-token").is_some(), s3, "{what}");
            let dispatch = steps(job).last().unwrap();
            let env = get(dispatch, "env").unwrap();
            assert_eq!(text(env, "ARTIFACT_URL"), options.artifact_url, "{what}");
            assert_eq!(
                get(env, "ARTIFACTORY_TOKEN").is_some(),
                options.artifact_url.starts_with("https://"),
                "{what}"
            );
            assert!(
                text(dispatch, "run").contains("--artifact \"$ARTIFACT_URL\""),
                "{what}"
            );
            if s3 {
                let role = steps(job)
                    .iter()
                    .find(|s| text(s, "uses").starts_with("aws-actions/"))
                    .unwrap();
                // Its own read-only role: the publish role trusts only the default branch and
                // v* tags, never the environments these jobs run in.
                assert_eq!(
                    text(get(role, "with").unwrap(), "role-to-assume"),
                    "${{ vars.MFE_ARTIFACT_READ_ROLE_ARN }}",
                    "{what}"
                );
                assert_eq!(text(role, "name"), "Assume the artifact-reader role (OIDC)");
            }
        }
        let s3 = options.artifact_url.starts_with("s3://");
        assert!(!files[1].contents.contains("MFE_PUBLISH_ROLE_ARN"), "{set}");
        assert_eq!(
            files[1]
                .contents
                .contains("MFE_ARTIFACT_READ_ROLE_ARN and AWS_REGION"),
            s3,
            "{set}: the CD header names the variables to set"
        );
        let ci = &files[0].contents;
        assert_eq!(ci.contains("${{ vars.MFE_PUBLISH_ROLE_ARN }}"), s3, "{set}");
        assert!(!ci.contains("MFE_ARTIFACT_READ_ROLE_ARN"), "{set}");
        assert!(
            ci.contains("X.Y.(Z+1)-main.<run number>.<attempt>"),
            "{set}"
        );
        assert!(ci.contains("$((BASH_REMATCH[3] + 1))"), "{set}");
    }
}

/// App mode (issue 19): the CD job's deployment is the request to the GitOps App, so no
/// dispatch token is named anywhere (not even empty) and every job runs `mfe dispatch --app`
/// with the same permissions and arguments; the Actions mode keeps its token and no `--app`.
/// The CI workflow is the same in both modes.
#[test]
fn mfe_cd_in_app_mode_names_no_dispatch_token_and_dispatches_with_app() {
    let mut app_sets = 0;
    for (set, options) in crate::mfe_option_sets() {
        let files = gitops_render::render_mfe_workflows(&options).unwrap();
        let contents = &files[1].contents;
        let cd: Value = serde_yaml_ng::from_str(contents).unwrap();
        assert_eq!(
            contents.contains("GITOPS_DISPATCH_TOKEN"),
            !options.app,
            "{set}"
        );
        let jobs = get(&cd, "jobs").and_then(Value::as_mapping).unwrap();
        assert_eq!(jobs.len(), options.environments.len(), "{set}");
        for (id, job) in jobs {
            let what = format!("{set} CD {}", id.as_str().unwrap());
            let perms = get(job, "permissions").and_then(Value::as_mapping).unwrap();
            let s3 = options.artifact_url.starts_with("s3://");
            assert_eq!(perms.len(), 1 + usize::from(s3), "{what}: {perms:?}");
            let dispatch = steps(job).last().unwrap();
            let env = get(dispatch, "env").unwrap();
            let run = text(dispatch, "run");
            assert_eq!(text(env, "GITHUB_TOKEN"), "${{ github.token }}", "{what}");
            assert!(run.contains("--wait --timeout 2400"), "{what}: {run}");
            assert!(
                run.contains("--artifact \"$ARTIFACT_URL\""),
                "{what}: {run}"
            );
            for key in &options.cache_invalidation_keys {
                assert!(
                    run.contains(&format!("--cache-invalidation-key \"{key}\"")),
                    "{what}"
                );
            }
            if options.app {
                assert!(get(env, "GITOPS_DISPATCH_TOKEN").is_none(), "{what}");
                assert!(
                    run.starts_with("mfe dispatch --app --gitops-repo "),
                    "{what}: {run}"
                );
            } else {
                assert_eq!(
                    text(env, "GITOPS_DISPATCH_TOKEN"),
                    "${{ secrets.GITOPS_DISPATCH_TOKEN }}",
                    "{what}"
                );
                assert!(
                    run.starts_with("mfe dispatch --gitops-repo "),
                    "{what}: {run}"
                );
                assert!(!run.contains("--app"), "{what}: {run}");
            }
        }
        if options.app {
            app_sets += 1;
            assert!(
                contents.contains("that deployment IS the request to the GitOps App"),
                "{set}: the header says how App mode works"
            );
            assert!(contents.contains("\n#   mfe render "), "{set}");
            assert!(options.render_command().ends_with(" --app"), "{set}");
            // The same options in the Actions mode: the same CI workflow (but for its header,
            // which records the command with `--app`), another CD workflow.
            let body = |s: &str| -> Vec<String> {
                let lines = s.lines().filter(|l| !l.starts_with('#'));
                lines.map(str::to_owned).collect()
            };
            let actions = gitops_render::render_mfe_workflows(&MfeOptions {
                app: false,
                ..options.clone()
            })
            .unwrap();
            assert_eq!(
                body(&actions[0].contents),
                body(&files[0].contents),
                "{set}"
            );
            assert_ne!(
                actions[0].contents, files[0].contents,
                "{set}: the recorded command"
            );
            assert!(
                actions[1].contents.contains("GITOPS_DISPATCH_TOKEN"),
                "{set}"
            );
        }
    }
    assert!(app_sets > 0, "an option set renders App mode");
}

/// The version computation of the CI workflow, run with bash: the next patch's pre-release on
/// the default branch, the tag's own version on a tag.
#[test]
fn ci_versions_sort_between_the_last_release_and_the_next() {
    let files = gitops_render::render_mfe_workflows(&crate::mfe_option_sets()[0].1).unwrap();
    let ci: Value = serde_yaml_ng::from_str(&files[0].contents).unwrap();
    let build = get(get(&ci, "jobs").unwrap(), "build").unwrap();
    let script = steps(build)
        .iter()
        .find(|s| text(s, "id") == "version")
        .map(|s| text(s, "run").to_owned())
        .unwrap();
    let version = |package: &str, ref_type: &str, ref_name: &str| -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package.json"),
            format!("{{\"version\": \"{package}\"}}"),
        )
        .unwrap();
        let out_file = dir.path().join("out");
        let status = std::process::Command::new("bash")
            .args(["-e", "-c", &script])
            .current_dir(dir.path())
            .env("GITHUB_REF_TYPE", ref_type)
            .env("GITHUB_REF_NAME", ref_name)
            .env("GITHUB_RUN_NUMBER", "42")
            .env("GITHUB_RUN_ATTEMPT", "2")
            .env("GITHUB_OUTPUT", &out_file)
            .output()
            .unwrap();
        status.status.success().then(|| {
            std::fs::read_to_string(&out_file)
                .unwrap()
                .trim()
                .to_owned()
        })
    };
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        gitops_testkit_skip("node is not installed");
        return;
    }
    assert_eq!(
        version("1.4.9", "branch", "main").as_deref(),
        Some("version=1.4.10-main.42.2")
    );
    assert_eq!(
        version("2.0.0-rc.1", "branch", "main").as_deref(),
        Some("version=2.0.0-main.42.2")
    );
    assert_eq!(
        version("1.4.9", "tag", "v1.5.0").as_deref(),
        Some("version=1.5.0")
    );
    assert_eq!(version("01.2.3", "branch", "main"), None);
    assert_eq!(version("latest", "branch", "main"), None);
}

fn gitops_testkit_skip(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skipping: {why}");
}
