//! Issue 17 on the scaffold: operators run `gitops promote`, `gitops rollback` and `gitops unpin`
//! from the Actions UI (`gitops-operate.yml`): typed inputs, the GitHub environment whose role
//! reads the registry the command needs, the App token, and one step whose script turns the
//! inputs into arguments without ever evaluating them.

use std::process::Command;

use serde_yaml_ng::Value;

use crate::{get, job, scaffold_workflow, steps, text};

/// The step that runs gitops (exactly one).
fn run_step(job: &Value) -> &Value {
    let mut found = steps(job).iter().filter(|s| {
        text(s, "run")
            .lines()
            .any(|l| l.trim_start().starts_with("gitops "))
    });
    let step = found.next().expect("no step runs gitops");
    assert!(found.next().is_none(), "two steps run gitops");
    step
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

const TOKEN: &str = "${{ steps.app-token.outputs.token || secrets.GITOPS_GITHUB_TOKEN }}";

/// `workflow_dispatch` only, with exactly these inputs: the command and the environment as
/// required choices (the environments the scaffold was rendered for), the rest optional strings
/// defaulting to empty and two booleans defaulting to false.
#[test]
fn operate_is_dispatched_by_hand_with_typed_inputs() {
    for (set, options) in crate::gitops_option_sets() {
        let doc = scaffold_workflow(&options, "gitops-operate.yml");
        let on = get(&doc, "on").and_then(Value::as_mapping).unwrap();
        assert_eq!(on.len(), 1, "{set}: workflow_dispatch only");
        let inputs = get(get(&doc, "on").unwrap(), "workflow_dispatch")
            .and_then(|d| get(d, "inputs"))
            .and_then(Value::as_mapping)
            .unwrap();
        let names: Vec<&str> = inputs.keys().filter_map(Value::as_str).collect();
        assert_eq!(
            names,
            [
                "command",
                "environment",
                "from",
                "mfe",
                "version",
                "reason",
                "allow_partial",
                "dry_run"
            ],
            "{set}"
        );
        for (name, input) in inputs {
            let name = name.as_str().unwrap();
            let what = format!("{set}: input {name}");
            assert!(!text(input, "description").is_empty(), "{what}");
            let required = get(input, "required").and_then(Value::as_bool);
            match name {
                "command" | "environment" => {
                    assert_eq!(text(input, "type"), "choice", "{what}");
                    assert_eq!(required, Some(true), "{what}");
                    assert!(get(input, "default").is_none(), "{what}");
                    let options_of = strings(get(input, "options").unwrap());
                    if name == "command" {
                        assert_eq!(options_of, ["promote", "rollback", "unpin"], "{what}");
                    } else {
                        assert_eq!(options_of, options.environments, "{what}");
                    }
                }
                "allow_partial" | "dry_run" => {
                    assert_eq!(text(input, "type"), "boolean", "{what}");
                    assert_eq!(required, Some(false), "{what}");
                    assert_eq!(get(input, "default"), Some(&Value::Bool(false)), "{what}");
                }
                _ => {
                    assert_eq!(text(input, "type"), "string", "{what}");
                    assert_eq!(required, Some(false), "{what}");
                    assert_eq!(text(input, "default"), "", "{what}");
                    assert!(get(input, "options").is_none(), "{what}");
                }
            }
        }
        assert_eq!(
            text(&doc, "run-name"),
            "gitops ${{ inputs.command }} in ${{ inputs.environment }} by @${{ github.actor }}",
            "{set}"
        );
    }
}

/// One job, in the GitHub environment whose deploy role reads the registry the command needs
/// (promote: the source), with exactly `contents: read` and `id-token: write`; one run per
/// environment acted on (promote: the target) at a time, never cancelled.
#[test]
fn operate_runs_where_the_needed_registry_is_readable_with_least_permissions() {
    for (set, options) in crate::gitops_option_sets() {
        let doc = scaffold_workflow(&options, "gitops-operate.yml");
        let perms = get(&doc, "permissions")
            .and_then(Value::as_mapping)
            .unwrap();
        assert!(perms.is_empty(), "{set}");
        let jobs = get(&doc, "jobs").and_then(Value::as_mapping).unwrap();
        assert_eq!(jobs.len(), 1, "{set}: one job");
        let job = job(&doc, "operate");
        assert_eq!(
            text(job, "environment"),
            "${{ inputs.command == 'promote' && inputs.from || inputs.environment }}",
            "{set}"
        );
        let perms = get(job, "permissions").and_then(Value::as_mapping).unwrap();
        let perms: Vec<(&str, &str)> = perms
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            perms,
            [("contents", "read"), ("id-token", "write")],
            "{set}"
        );
        let concurrency = get(job, "concurrency").unwrap();
        assert_eq!(
            text(concurrency, "group"),
            "gitops-operate-${{ inputs.environment }}",
            "{set}"
        );
        assert_eq!(
            get(concurrency, "cancel-in-progress"),
            Some(&Value::Bool(false)),
            "{set}"
        );
        assert!(get(&doc, "concurrency").is_none(), "{set}: per environment");
        assert!(
            get(job, "timeout-minutes")
                .and_then(Value::as_u64)
                .is_some(),
            "{set}"
        );
    }
}

/// The workflow as fake-github's runner reads it (strict keys, GitHub's expression semantics):
/// each command with its inputs lands in the GitHub environment whose role reads what it needs,
/// in the concurrency group of the environment it acts on, and assumes the role only when it
/// reads a registry and the environment has one.
#[test]
fn operate_expressions_pick_the_environment_group_and_role_github_would() {
    use gitops_testkit::runner::expr::{JobStatus, eval_if, interpolate};
    let options = gitops_render::GitopsOptions::new(crate::pin());
    let files = gitops_render::render_gitops_scaffold(&options).unwrap();
    let file = files
        .iter()
        .find(|f| f.path == ".github/workflows/gitops-operate.yml")
        .unwrap();
    let parsed = gitops_testkit::runner::workflow::Workflow::parse(&file.path, &file.contents)
        .unwrap_or_else(|e| panic!("fake-github refuses gitops-operate.yml: {e}"));
    let declared: Vec<(String, String, bool)> = parsed
        .dispatch_inputs()
        .into_iter()
        .map(|i| (i.name, i.kind, i.required))
        .collect();
    assert_eq!(declared.len(), 8, "{declared:?}");
    assert!(declared.contains(&("environment".into(), "choice".into(), true)));

    let doc = scaffold_workflow(&options, "gitops-operate.yml");
    let job = job(&doc, "operate");
    let environment = text(job, "environment");
    let group = text(get(job, "concurrency").unwrap(), "group");
    let role = steps(job)
        .iter()
        .find(|s| text(s, "uses").starts_with("aws-actions/configure-aws-credentials@"))
        .map(|s| text(s, "if"))
        .unwrap();
    // (command, environment, from) -> the GitHub environment the job runs in
    let cases = [
        ("promote", "prod", "staging", "staging"),
        ("promote", "staging", "dev", "dev"),
        // No source: the target's environment; the script then refuses the promotion.
        ("promote", "prod", "", "prod"),
        ("rollback", "prod", "", "prod"),
        ("unpin", "dev", "", "dev"),
    ];
    for (command, target, from, runs_in) in cases {
        for arn in ["arn:aws:iam::123456789012:role/deploy", ""] {
            let ctx = serde_json::json!({
                "inputs": {
                    "command": command, "environment": target, "from": from, "mfe": "checkout",
                    "version": "", "reason": "", "allow_partial": false, "dry_run": false,
                },
                "vars": {"AWS_ROLE_ARN": arn},
                "github": {"actor": "ops-lead"},
            });
            let what = format!("{command} {target} from {from:?}, role {arn:?}");
            assert_eq!(
                interpolate(environment, &ctx, JobStatus::Success).unwrap(),
                runs_in,
                "{what}"
            );
            assert_eq!(
                interpolate(group, &ctx, JobStatus::Success).unwrap(),
                format!("gitops-operate-{target}"),
                "{what}: the group is the environment acted on"
            );
            assert_eq!(
                eval_if(role, &ctx, JobStatus::Success).unwrap(),
                !arn.is_empty() && command != "unpin",
                "{what}"
            );
            assert_eq!(
                parsed.run_name(&ctx),
                format!("gitops {command} in {target} by @ops-lead"),
                "{what}"
            );
        }
    }
}

/// Check out (the whole history, no persisted credentials), mint the App token, install gitops,
/// assume the deploy role (not for unpin, which reads no registry), run: in this order, the run
/// last, the only step with a GitHub token, and every input reaching it through `env:`.
#[test]
fn operate_steps_mint_the_token_install_assume_the_role_then_run_one_script() {
    let pin = gitops_render::PINNED_ACTIONS
        .iter()
        .find(|(n, _, _)| *n == "actions/create-github-app-token")
        .map(|(n, sha, _)| format!("{n}@{sha}"))
        .unwrap();
    for (set, options) in crate::gitops_option_sets() {
        let doc = scaffold_workflow(&options, "gitops-operate.yml");
        let job = job(&doc, "operate");
        let steps = steps(job);
        let position = |pred: &dyn Fn(&Value) -> bool| {
            steps
                .iter()
                .position(pred)
                .unwrap_or_else(|| panic!("{set}: step missing"))
        };
        let with = |i: usize| get(&steps[i], "with").unwrap();
        let checkout = position(&|s| text(s, "uses").starts_with("actions/checkout@"));
        assert_eq!(
            get(with(checkout), "fetch-depth").and_then(Value::as_u64),
            Some(0),
            "{set}"
        );
        assert_eq!(
            get(with(checkout), "persist-credentials"),
            Some(&Value::Bool(false)),
            "{set}"
        );
        let mint = position(&|s| text(s, "id") == "app-token");
        assert_eq!(text(&steps[mint], "uses"), pin, "{set}");
        assert_eq!(
            text(&steps[mint], "if"),
            "vars.GITOPS_APP_ID != ''",
            "{set}"
        );
        let minted: Vec<(&str, &str)> = with(mint)
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap_or("")))
            .filter(|(k, _)| k.starts_with("permission-"))
            .collect();
        assert_eq!(
            minted,
            [
                ("permission-contents", "write"),
                ("permission-pull-requests", "write"),
                ("permission-deployments", "write"),
            ],
            "{set}: push the branch, open the pull request and its plan comment, tell a \
             superseded requester"
        );
        assert_eq!(
            text(with(mint), "owner"),
            "${{ github.repository_owner }}",
            "{set}"
        );
        let install = position(&|s| text(s, "uses") == crate::PIN);
        assert_eq!(text(with(install), "tool"), "gitops", "{set}");
        let role =
            position(&|s| text(s, "uses").starts_with("aws-actions/configure-aws-credentials@"));
        assert_eq!(
            text(&steps[role], "if"),
            "vars.AWS_ROLE_ARN != '' && inputs.command != 'unpin'",
            "{set}"
        );
        assert_eq!(
            text(with(role), "role-to-assume"),
            "${{ vars.AWS_ROLE_ARN }}",
            "{set}"
        );
        assert_eq!(text(with(role), "aws-region"), "${{ vars.AWS_REGION }}");
        let step = run_step(job);
        let run = steps.iter().position(|s| s == step).unwrap();
        assert!(
            checkout < mint && mint < install && install < role && role < run,
            "{set}: {checkout} {mint} {install} {role} {run}"
        );
        assert_eq!(run, steps.len() - 1, "{set}: the command is the last step");
        assert_eq!(steps.len(), 5, "{set}");

        let env: Vec<(&str, &str)> = get(step, "env")
            .and_then(Value::as_mapping)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        let default_ref = format!("refs/heads/{}", options.default_branch);
        assert_eq!(
            env,
            [
                ("GITOPS_GITHUB_TOKEN", TOKEN),
                ("DEFAULT_REF", default_ref.as_str()),
                ("COMMAND", "${{ inputs.command }}"),
                ("TARGET_ENVIRONMENT", "${{ inputs.environment }}"),
                ("SOURCE_ENVIRONMENT", "${{ inputs.from }}"),
                ("MFE_NAMES", "${{ inputs.mfe }}"),
                ("ROLLBACK_VERSION", "${{ inputs.version }}"),
                ("ROLLBACK_REASON", "${{ inputs.reason }}"),
                ("ALLOW_PARTIAL", "${{ inputs.allow_partial }}"),
                ("DRY_RUN", "${{ inputs.dry_run }}"),
            ],
            "{set}"
        );
        for (i, s) in steps.iter().enumerate() {
            if let Some(run) = get(s, "run").and_then(Value::as_str) {
                assert!(
                    !run.contains("${{"),
                    "{set} step {i}: expression in run: {run}"
                );
            }
            let env = get(s, "env");
            // GitHub sets GITHUB_ACTOR to who dispatched the run: nothing may replace it.
            assert!(
                env.and_then(|e| get(e, "GITHUB_ACTOR")).is_none(),
                "{set} step {i}"
            );
            if i != run {
                assert!(
                    env.and_then(|e| get(e, "GITOPS_GITHUB_TOKEN")).is_none(),
                    "{set} step {i}: only the command gets the token"
                );
            }
        }
        let invocations: Vec<&str> = text(step, "run")
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("gitops "))
            .collect();
        assert_eq!(
            invocations,
            ["gitops \"$COMMAND\" --repo . --forge github \"${args[@]}\""],
            "{set}"
        );
    }
}

/// The scaffold's README has a section on operating from the Actions UI: the inputs, which
/// environment's role each command runs with, and that the pull request goes through the
/// normal checks and merge.
#[test]
fn the_scaffold_readme_documents_operating_from_the_actions_ui() {
    for (set, options) in crate::gitops_option_sets() {
        let files = gitops_render::render_gitops_scaffold(&options).unwrap();
        let readme = &files
            .iter()
            .find(|f| f.path == "README.md")
            .unwrap()
            .contents;
        assert!(
            readme.contains("\n## Operating from the Actions UI\n"),
            "{set}"
        );
        let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
        for needed in [
            "`gitops-operate.yml` runs `gitops promote`, `gitops rollback` and `gitops unpin`",
            &format!("Run workflow (from `{}`)", options.default_branch),
            "| `command` | `promote` | `rollback` | `unpin` |",
            "| `from` | the source (`--from`), required |",
            "names separated by spaces or commas",
            "| `allow_partial`, `dry_run` | `--allow-partial`, `--dry-run` |",
            "refused (the run fails naming it) rather than ignored",
            "deploy role (`AWS_ROLE_ARN`)",
            "a promotion in the **source** environment",
            "a rollback in `environment`",
            "an unpin reads no registry and assumes no role",
            "`gitops-checks.yml` checks it and merges it once its policy allows",
            "`gitops-deploy.yml` deploys it",
            "One run at a time per environment acted on",
        ] {
            assert!(readme.contains(needed), "{set}: README.md lacks {needed}");
        }
    }
}

/// What one run of the step's script did.
#[derive(Debug)]
struct Ran {
    code: i32,
    /// Each call of the fake `gitops`: its arguments.
    calls: Vec<Vec<String>>,
    /// `GITHUB_ACTOR` as the fake `gitops` saw it.
    actor: String,
    stdout: String,
    /// The files in the script's working directory afterwards.
    files: Vec<String>,
}

/// Runs the run step's script as GitHub runs a `run:` (`bash --noprofile --norc -eo pipefail`)
/// in an empty directory (but for the files `a.txt` and `b.txt`) with only the step's `env:`
/// (each `${{ inputs.X }}` given `inputs`' value, GitHub's rendering of an input that is not
/// given: `""`, or `"false"` for a boolean), `GITHUB_REF`, `GITHUB_ACTOR` and `PATH`, with a
/// fake `gitops` first on `PATH` that records its arguments (NUL-separated, so a newline in
/// one is kept) and exits `exit`.
fn run_script(inputs: &[(&str, &str)], git_ref: &str, exit: u8) -> Ran {
    let doc = scaffold_workflow(
        &gitops_render::GitopsOptions::new(crate::pin()),
        "gitops-operate.yml",
    );
    let step = run_step(job(&doc, "operate"));
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    for f in ["a.txt", "b.txt"] {
        std::fs::write(work.join(f), "").unwrap();
    }
    let script = dir.join("operate.sh");
    std::fs::write(&script, text(step, "run")).unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = format!(
        "#!/bin/sh\nprintf '%s\\0' \"$#\" \"$@\" >> '{d}/gitops.log'\n\
         printf '%s' \"$GITHUB_ACTOR\" > '{d}/actor'\nexit {exit}\n",
        d = dir.display()
    );
    let gitops = bin.join("gitops");
    std::fs::write(&gitops, fake).unwrap();
    Command::new("chmod")
        .args(["+x", gitops.to_str().unwrap()])
        .status()
        .unwrap();
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(&work)
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GITHUB_REF", git_ref)
        .env("GITHUB_ACTOR", "ops-lead");
    for (key, value) in get(step, "env").and_then(Value::as_mapping).unwrap() {
        let (key, value) = (key.as_str().unwrap(), value.as_str().unwrap());
        let value = if let Some(input) = value
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.strip_suffix(" }}"))
        {
            let default = if ["allow_partial", "dry_run"].contains(&input) {
                "false"
            } else {
                ""
            };
            inputs
                .iter()
                .find(|(name, _)| *name == input)
                .map_or(default, |(_, v)| *v)
        } else if value.contains("${{") {
            "a-token"
        } else {
            value
        };
        command.env(key, value);
    }
    let passed = serde_yaml_ng::to_string(get(step, "env").unwrap()).unwrap();
    for (name, _) in inputs {
        assert!(
            passed.contains(&format!("${{{{ inputs.{name} }}}}")),
            "the step is not given the input {name}"
        );
    }
    let out = command.output().unwrap();
    let log = std::fs::read(dir.join("gitops.log")).unwrap_or_default();
    let mut fields = log
        .split(|b| *b == 0)
        .map(|f| String::from_utf8(f.to_vec()).unwrap());
    let mut calls = Vec::new();
    while let Some(count) = fields.next().filter(|c| !c.is_empty()) {
        let count: usize = count.parse().unwrap();
        calls.push(fields.by_ref().take(count).collect());
    }
    let mut files: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    Ran {
        code: out.status.code().unwrap(),
        calls,
        actor: std::fs::read_to_string(dir.join("actor")).unwrap_or_default(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        files,
    }
}

const MAIN: &str = "refs/heads/main";

/// Inputs by name, as the Actions UI sends them.
type Inputs<'a> = Vec<(&'a str, &'a str)>;

fn argv(command: &str, rest: &[&str]) -> Vec<String> {
    [command, "--repo", ".", "--forge", "github"]
        .iter()
        .chain(rest)
        .map(|s| (*s).to_owned())
        .collect()
}

/// Each command with several input combinations becomes exactly one `gitops` call with exactly
/// these arguments (empty inputs add no flag), its exit code is the step's, and `gitops` sees
/// the dispatcher as `GITHUB_ACTOR`.
#[test]
fn the_script_turns_each_command_s_inputs_into_exactly_its_arguments() {
    let cases: Vec<(Inputs, Vec<String>)> = vec![
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
            ],
            argv("promote", &["--from", "staging", "--to", "prod"]),
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("mfe", " checkout, cart  search,,header,\n footer "),
                ("allow_partial", "true"),
            ],
            argv(
                "promote",
                &[
                    "--from",
                    "staging",
                    "--to",
                    "prod",
                    "--mfe",
                    "checkout",
                    "--mfe",
                    "cart",
                    "--mfe",
                    "search",
                    "--mfe",
                    "header",
                    "--mfe",
                    "footer",
                    "--allow-partial",
                ],
            ),
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "staging"),
                ("from", "dev"),
                ("mfe", "checkout"),
                ("allow_partial", "true"),
                ("dry_run", "true"),
            ],
            argv(
                "promote",
                &[
                    "--from",
                    "dev",
                    "--to",
                    "staging",
                    "--mfe",
                    "checkout",
                    "--allow-partial",
                    "--dry-run",
                ],
            ),
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("mfe", ",, ,"),
                ("allow_partial", "false"),
                ("dry_run", "true"),
            ],
            argv(
                "promote",
                &["--from", "staging", "--to", "prod", "--dry-run"],
            ),
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", "checkout"),
            ],
            argv("rollback", &["--env", "prod", "--mfe", "checkout"]),
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", " checkout, "),
                ("version", "1.4.2"),
                ("reason", "1.5.0 breaks the basket; see \"INC-42\""),
            ],
            argv(
                "rollback",
                &[
                    "--env",
                    "prod",
                    "--mfe",
                    "checkout",
                    "--to",
                    "1.4.2",
                    "--reason",
                    "1.5.0 breaks the basket; see \"INC-42\"",
                ],
            ),
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "dev"),
                ("mfe", "cart"),
                ("reason", "flaky"),
                // A boolean left false is no input of another command.
                ("allow_partial", "false"),
                ("dry_run", "false"),
            ],
            argv(
                "rollback",
                &["--env", "dev", "--mfe", "cart", "--reason", "flaky"],
            ),
        ),
        (
            vec![
                ("command", "unpin"),
                ("environment", "dev"),
                ("mfe", "checkout"),
            ],
            argv("unpin", &["--env", "dev", "--mfe", "checkout"]),
        ),
    ];
    for (inputs, expected) in cases {
        for exit in [0, 1, 3] {
            let ran = run_script(&inputs, MAIN, exit);
            let what = format!("{inputs:?} (gitops exits {exit}): {ran:?}");
            assert_eq!(ran.code, i32::from(exit), "{what}");
            assert_eq!(ran.calls, std::slice::from_ref(&expected), "{what}");
            assert_eq!(ran.actor, "ops-lead", "{what}");
            assert!(!ran.stdout.contains("::error"), "{what}");
        }
    }
}

/// A bad `command`, a missing or surplus input, a bad boolean or another branch: exit 2 with
/// an error annotation that does not echo the input, and `gitops` is never run.
#[test]
fn the_script_refuses_what_the_command_does_not_take_and_runs_nothing() {
    let cases: Vec<(Inputs, &str, &str)> = vec![
        (
            vec![("command", "deploy")],
            MAIN,
            "the input command must be promote, rollback or unpin",
        ),
        (
            vec![("command", "")],
            MAIN,
            "the input command must be promote, rollback or unpin",
        ),
        (
            vec![("command", "promote; touch pwned")],
            MAIN,
            "the input command must be promote, rollback or unpin",
        ),
        (
            vec![("command", "Promote")],
            MAIN,
            "the input command must be promote, rollback or unpin",
        ),
        (
            vec![("command", "promote"), ("environment", "prod")],
            MAIN,
            "promote needs the input from (the source environment)",
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("version", "1.0.0"),
            ],
            MAIN,
            "the input version is for rollback only, not promote",
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("reason", "why"),
            ],
            MAIN,
            "the input reason is for rollback only, not promote",
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("dry_run", "yes"),
            ],
            MAIN,
            "allow_partial and dry_run are true or false",
        ),
        (
            vec![
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
            ],
            "refs/heads/feature",
            "run gitops operate from main",
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", "checkout"),
                ("dry_run", "true"),
            ],
            MAIN,
            "the input dry_run is for promote only, not rollback",
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", "checkout"),
                ("from", "staging"),
            ],
            MAIN,
            "the input from is for promote only, not rollback",
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", "checkout"),
                ("allow_partial", "true"),
            ],
            MAIN,
            "the input allow_partial is for promote only, not rollback",
        ),
        (
            vec![("command", "rollback"), ("environment", "prod")],
            MAIN,
            "rollback needs the input mfe: exactly one MFE",
        ),
        (
            vec![
                ("command", "rollback"),
                ("environment", "prod"),
                ("mfe", "checkout cart"),
            ],
            MAIN,
            "rollback needs the input mfe: exactly one MFE",
        ),
        (
            vec![
                ("command", "unpin"),
                ("environment", "dev"),
                ("mfe", "checkout,cart"),
            ],
            MAIN,
            "unpin needs the input mfe: exactly one MFE",
        ),
        (
            vec![
                ("command", "unpin"),
                ("environment", "dev"),
                ("mfe", "checkout"),
                ("version", "1.0.0"),
            ],
            MAIN,
            "the input version is for rollback only, not unpin",
        ),
        (
            vec![
                ("command", "unpin"),
                ("environment", "dev"),
                ("mfe", "checkout"),
                ("dry_run", "true"),
            ],
            MAIN,
            "the input dry_run is for promote only, not unpin",
        ),
    ];
    for (inputs, git_ref, message) in cases {
        let ran = run_script(&inputs, git_ref, 0);
        let what = format!("{inputs:?} on {git_ref}: {ran:?}");
        assert_eq!(ran.code, 2, "{what}");
        assert!(ran.calls.is_empty(), "{what}: gitops ran");
        assert_eq!(
            ran.stdout,
            format!("::error title=gitops operate::{message}\n"),
            "{what}"
        );
        assert_eq!(ran.files, ["a.txt", "b.txt"], "{what}");
    }
}

/// An MFE (or reason, version, environment) holding shell metacharacters reaches gitops as one
/// literal argument: nothing is substituted, executed, redirected or expanded as a pattern.
#[test]
fn inputs_with_shell_metacharacters_are_passed_literally_and_never_evaluated() {
    let hostile = [
        "$(touch${IFS}pwned)",
        "`touch${IFS}pwned`",
        "checkout;touch${IFS}pwned",
        "a|tee${IFS}pwned",
        "a&&touch${IFS}pwned>pwned",
        "*",
        "?.txt",
        "[ab].txt",
        "$HOME",
        "~",
        "'\"\\",
        "{a..c}",
    ];
    for mfe in hostile {
        let ran = run_script(
            &[
                ("command", "promote"),
                ("environment", "prod"),
                ("from", "staging"),
                ("mfe", mfe),
            ],
            MAIN,
            0,
        );
        let what = format!("{mfe}: {ran:?}");
        assert_eq!(ran.code, 0, "{what}");
        assert_eq!(
            ran.calls,
            [argv(
                "promote",
                &["--from", "staging", "--to", "prod", "--mfe", mfe]
            )],
            "{what}"
        );
        assert_eq!(ran.files, ["a.txt", "b.txt"], "{what}");

        let ran = run_script(
            &[
                ("command", "rollback"),
                ("environment", mfe),
                ("mfe", mfe),
                ("version", mfe),
                ("reason", &format!("{mfe} $(touch pwned) {mfe}")),
            ],
            MAIN,
            0,
        );
        let what = format!("{mfe}: {ran:?}");
        assert_eq!(ran.code, 0, "{what}");
        let reason = format!("{mfe} $(touch pwned) {mfe}");
        assert_eq!(
            ran.calls,
            [argv(
                "rollback",
                &["--env", mfe, "--mfe", mfe, "--to", mfe, "--reason", &reason]
            )],
            "{what}"
        );
        assert_eq!(ran.files, ["a.txt", "b.txt"], "{what}");
    }
    // Whitespace separates names, and only separates them: the pieces are still literal.
    let ran = run_script(
        &[
            ("command", "promote"),
            ("environment", "prod"),
            ("from", "staging"),
            ("mfe", "$(touch pwned) `touch pwned`"),
        ],
        MAIN,
        0,
    );
    assert_eq!(
        ran.calls,
        [argv(
            "promote",
            &[
                "--from", "staging", "--to", "prod", "--mfe", "$(touch", "--mfe", "pwned)",
                "--mfe", "`touch", "--mfe", "pwned`"
            ]
        )],
        "{ran:?}"
    );
    assert_eq!(ran.files, ["a.txt", "b.txt"], "{ran:?}");
    // A newline in a reason stays in the one argument, and no input is echoed.
    let ran = run_script(
        &[
            ("command", "rollback"),
            ("environment", "prod"),
            ("mfe", "checkout"),
            ("reason", "line one\n::warning::line two"),
        ],
        MAIN,
        0,
    );
    assert_eq!(
        ran.calls,
        [argv(
            "rollback",
            &[
                "--env",
                "prod",
                "--mfe",
                "checkout",
                "--reason",
                "line one\n::warning::line two"
            ]
        )]
    );
    assert!(
        !ran.stdout.contains("::warning"),
        "{ran:?}: an input echoed"
    );
}
