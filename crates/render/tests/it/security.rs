//! Properties every rendered workflow must have, checked on the parsed YAML.

use serde_yaml_ng::Value;

use crate::all_workflows;

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

#[test]
fn every_workflow_is_locked_down() {
    let workflows = all_workflows();
    assert!(workflows.len() >= 10);
    for (set, file) in workflows {
        let what = format!("{set} {}", file.path);
        let doc: Value = serde_yaml_ng::from_str(&file.contents)
            .unwrap_or_else(|e| panic!("{what}: not YAML: {e}"));
        // Top-level permissions: {}.
        let perms = get(&doc, "permissions").unwrap_or_else(|| panic!("{what}: no permissions"));
        assert!(
            perms
                .as_mapping()
                .is_some_and(serde_yaml_ng::Mapping::is_empty),
            "{what}: top-level permissions must be {{}}"
        );
        let jobs = get(&doc, "jobs").and_then(Value::as_mapping).unwrap();
        for (id, job) in jobs {
            let what = format!("{what} job {id:?}");
            let perms = get(job, "permissions")
                .and_then(Value::as_mapping)
                .unwrap_or_else(|| panic!("{what}: no job permissions"));
            for (k, v) in perms {
                let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap());
                assert_ne!(k, "write-all", "{what}");
                if v == "write" {
                    // The MFE CD jobs create the deployment on their own commit (proof of
                    // origin); nothing else writes with a workflow's own token.
                    let cd_deployments =
                        k == "deployments" && file.path.ends_with("micro-frontend-cd.yml");
                    assert!(
                        k == "id-token" || cd_deployments,
                        "{what}: only id-token (and deployments in the CD jobs) may be write"
                    );
                }
            }
            let oidc = perms.get("id-token").is_some();
            let mut assumes_role = false;
            for step in get(job, "steps").and_then(Value::as_sequence).unwrap() {
                if let Some(uses) = get(step, "uses").and_then(Value::as_str) {
                    let (_, sha) = uses.split_once('@').unwrap();
                    assert!(
                        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{what}: {uses} is not pinned to a full sha"
                    );
                    if uses.starts_with("actions/checkout@") {
                        assert_eq!(
                            get(get(step, "with").unwrap(), "persist-credentials"),
                            Some(&Value::Bool(false)),
                            "{what}"
                        );
                    }
                    assumes_role |= uses.starts_with("aws-actions/configure-aws-credentials@");
                }
                if let Some(run) = get(step, "run").and_then(Value::as_str) {
                    assert!(!run.contains("${{"), "{what}: expression inside run: {run}");
                }
            }
            assert_eq!(
                oidc, assumes_role,
                "{what}: id-token exactly where a role is assumed"
            );
        }
        // No long-lived cloud keys anywhere.
        for bad in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "aws-access-key-id",
        ] {
            assert!(!file.contents.contains(bad), "{what}: mentions {bad}");
        }
        // Every `uses:` line carries its version in a comment.
        for line in file.contents.lines().filter(|l| {
            let l = l.trim_start();
            l.starts_with("uses: ") || l.starts_with("- uses: ")
        }) {
            assert!(line.contains(" # v"), "{what}: {line}");
        }
    }
}

/// Deploys are serialised per pair; requests are not: GitHub cancels an older *pending* run of
/// a concurrency group without a trace, which would leave that request's requester waiting,
/// while the proposal itself is compare-and-swap on the pair's branch.
#[test]
fn gitops_deploy_is_serialised_per_pair_and_no_request_is_dropped() {
    let files =
        gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::new(crate::pin()))
            .unwrap();
    let find = |name: &str| {
        let f = files.iter().find(|f| f.path.ends_with(name)).unwrap();
        serde_yaml_ng::from_str::<Value>(&f.contents).unwrap()
    };
    let process = find("gitops-process.yml");
    assert!(
        get(&process, "concurrency").is_none(),
        "a concurrency group on process drops pending requests"
    );
    let on = get(&process, "on").unwrap();
    let types = get(get(on, "repository_dispatch").unwrap(), "types").unwrap();
    assert_eq!(types, &Value::Sequence(vec!["deploy-mfe-trigger".into()]));
    let deploy = find("gitops-deploy.yml");
    let job = get(get(&deploy, "jobs").unwrap(), "deploy").unwrap();
    let group = get(get(job, "concurrency").unwrap(), "group")
        .and_then(Value::as_str)
        .unwrap();
    assert!(group.contains("matrix.environment") && group.contains("matrix.mfe"));
}

/// The steps of every job of every rendered workflow: (what, job steps).
fn jobs() -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for (set, file) in all_workflows() {
        let doc: Value = serde_yaml_ng::from_str(&file.contents).unwrap();
        for (id, job) in get(&doc, "jobs").and_then(Value::as_mapping).unwrap() {
            let steps = get(job, "steps").and_then(Value::as_sequence).unwrap();
            let what = format!("{set} {} job {}", file.path, id.as_str().unwrap());
            out.push((what, steps.clone()));
        }
    }
    out
}

fn uses(step: &Value) -> &str {
    get(step, "uses").and_then(Value::as_str).unwrap_or("")
}

#[test]
fn every_tool_is_installed_by_the_pinned_setup_action_before_any_cloud_credentials() {
    let (mut installs, mut with_credentials) = (0, 0);
    for (what, steps) in jobs() {
        let install = steps.iter().position(|s| uses(s) == crate::PIN);
        let credentials = steps
            .iter()
            .position(|s| uses(s).starts_with("aws-actions/configure-aws-credentials@"));
        let runs_tool = steps.iter().position(|s| {
            get(s, "run").and_then(Value::as_str).is_some_and(|run| {
                run.lines().any(|l| {
                    l.trim_start().starts_with("mfe ") || l.trim_start().starts_with("gitops ")
                })
            })
        });
        if let Some(run) = runs_tool {
            let install =
                install.unwrap_or_else(|| panic!("{what}: runs a tool it never installs"));
            assert!(
                install < run,
                "{what}: the tool runs before it is installed"
            );
            let step = &steps[install];
            let with = get(step, "with").unwrap();
            let tool = if what.contains("micro-frontend") {
                "mfe"
            } else {
                "gitops"
            };
            assert_eq!(
                get(with, "tool").and_then(Value::as_str),
                Some(tool),
                "{what}"
            );
            assert_eq!(
                get(with, "version").and_then(Value::as_str),
                Some(gitops_render::VERSION),
                "{what}"
            );
            assert_eq!(
                get(step, "name").and_then(Value::as_str),
                Some(format!("Install {tool}").as_str()),
                "{what}"
            );
            installs += 1;
        }
        if let Some(credentials) = credentials {
            let install =
                install.unwrap_or_else(|| panic!("{what}: credentials in a job without a tool"));
            assert!(
                install < credentials,
                "{what}: cloud credentials exist while the setup action runs"
            );
            with_credentials += 1;
        }
    }
    // Both sides, every tool-running job: process, check, merge, sweep, deploy, drift, metrics,
    // prune, operate per scaffold (x2), and per MFE option set the CI publish job and one CD
    // job per environment.
    assert_eq!(
        installs,
        2 * 9 + (1 + 3) + (1 + 2) + (1 + 3) + (1 + 2),
        "install steps"
    );
    // deploy, drift, metrics, prune and operate per scaffold; the CI publish job and the CD
    // jobs of the s3 sets (three in Actions mode, two in App mode).
    assert_eq!(
        with_credentials,
        2 * 5 + (1 + 3) + (1 + 2),
        "jobs assuming a cloud role"
    );
}

#[test]
fn no_rendered_file_runs_cargo_install_and_every_pin_line_names_its_version() {
    let mut files: Vec<gitops_render::RenderedFile> = Vec::new();
    for (_, o) in crate::mfe_option_sets() {
        files.extend(gitops_render::render_mfe_workflows(&o).unwrap());
    }
    for (_, o) in crate::gitops_option_sets() {
        files.extend(gitops_render::render_gitops_scaffold(&o).unwrap());
    }
    assert!(files.len() >= 24);
    let pin_line = format!("uses: {} # v{}", crate::PIN, gitops_render::VERSION);
    for f in files {
        assert!(!f.contents.contains("cargo install"), "{}", f.path);
        assert!(!f.contents.contains("cargo-binstall"), "{}", f.path);
        if f.path.starts_with(".github/workflows/") {
            assert!(
                f.contents.contains(&pin_line),
                "{}: no `{pin_line}`",
                f.path
            );
        }
    }
}
