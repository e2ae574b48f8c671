//! Issue 17 on the scaffold: storage retention runs every week, `gitops prune` per environment
//! with that environment's deploy role, and a deploy in flight is retried once, then left to
//! the next week without failing the job.

use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;

use crate::{get, job, scaffold_workflow, steps, text};

/// The step that runs gitops prune.
fn prune_step(job: &Value) -> &Value {
    let mut found = steps(job)
        .iter()
        .filter(|s| text(s, "run").contains("gitops prune"));
    let step = found.next().expect("no step runs gitops prune");
    assert!(found.next().is_none(), "two steps run gitops prune");
    step
}

const COMMAND: &str = "gitops prune --repo . --env \"$TARGET_ENVIRONMENT\" --keep \"$PRUNE_KEEP\" \
                       --older-than \"$PRUNE_OLDER_THAN\"";

/// Weekly (the option's cron) and on demand; one job per environment, in that environment, with
/// the deploy role and nothing else; one prune per environment at a time, never cancelled.
#[test]
fn prune_runs_weekly_per_environment_with_the_deploy_role_only() {
    for (set, options) in crate::gitops_option_sets() {
        let doc = scaffold_workflow(&options, "gitops-prune.yml");
        let on = get(&doc, "on").unwrap();
        let schedule = get(on, "schedule").and_then(Value::as_sequence).unwrap();
        assert_eq!(schedule.len(), 1, "{set}");
        assert_eq!(text(&schedule[0], "cron"), options.prune_cron, "{set}");
        assert!(get(on, "workflow_dispatch").is_some(), "{set}");
        let triggers = on.as_mapping().unwrap().len();
        assert_eq!(triggers, 2, "{set}: schedule and workflow_dispatch only");
        assert_eq!(
            get(&doc, "jobs").and_then(Value::as_mapping).unwrap().len(),
            1,
            "{set}"
        );

        let job = job(&doc, "prune");
        assert_eq!(text(job, "environment"), "${{ matrix.environment }}");
        let strategy = get(job, "strategy").unwrap();
        assert_eq!(get(strategy, "fail-fast"), Some(&Value::Bool(false)));
        let envs: Vec<&str> = get(get(strategy, "matrix").unwrap(), "environment")
            .and_then(Value::as_sequence)
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(envs, options.environments, "{set}");

        let perms = get(job, "permissions").and_then(Value::as_mapping).unwrap();
        assert_eq!(perms.len(), 2, "{set}: {perms:?}");
        assert_eq!(text(get(job, "permissions").unwrap(), "contents"), "read");
        assert_eq!(text(get(job, "permissions").unwrap(), "id-token"), "write");

        let concurrency = get(job, "concurrency").unwrap();
        assert_eq!(
            text(concurrency, "group"),
            "gitops-prune-${{ matrix.environment }}"
        );
        assert_eq!(
            get(concurrency, "cancel-in-progress"),
            Some(&Value::Bool(false))
        );
        assert!(get(&doc, "concurrency").is_none(), "{set}: per environment");

        let steps = steps(job);
        let position = |pred: &dyn Fn(&Value) -> bool| {
            steps
                .iter()
                .position(pred)
                .unwrap_or_else(|| panic!("{set}: step missing"))
        };
        let checkout = position(&|s| text(s, "uses").starts_with("actions/checkout@"));
        let with = |i: usize| get(&steps[i], "with").unwrap();
        assert_eq!(
            get(with(checkout), "fetch-depth").and_then(Value::as_u64),
            Some(0),
            "{set}: the whole history, as the other jobs"
        );
        let install = position(&|s| text(s, "uses") == crate::PIN);
        assert_eq!(text(with(install), "tool"), "gitops");
        let role =
            position(&|s| text(s, "uses").starts_with("aws-actions/configure-aws-credentials@"));
        // The deploy role: the only one allowed to delete (never the read-only drift role).
        assert_eq!(text(&steps[role], "if"), "vars.AWS_ROLE_ARN != ''");
        assert_eq!(
            text(with(role), "role-to-assume"),
            "${{ vars.AWS_ROLE_ARN }}"
        );
        assert_eq!(text(with(role), "aws-region"), "${{ vars.AWS_REGION }}");
        let prune = steps
            .iter()
            .position(|s| text(s, "run").contains("gitops prune"))
            .unwrap();
        assert!(
            checkout < install && install < role && role < prune,
            "{set}"
        );
        assert_eq!(prune, steps.len() - 1, "{set}: prune is the last step");

        // The command, its flags, and every value through env: (never an expression in run).
        let step = prune_step(job);
        let run = text(step, "run");
        assert!(!run.contains("${{"), "{set}: {run}");
        let invocations: Vec<&str> = run
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("gitops "))
            .collect();
        assert_eq!(invocations, [COMMAND], "{set}");
        let env = get(step, "env").and_then(Value::as_mapping).unwrap();
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            env,
            [
                ("TARGET_ENVIRONMENT", "${{ matrix.environment }}"),
                ("PRUNE_KEEP", "${{ vars.GITOPS_PRUNE_KEEP || '10' }}"),
                (
                    "PRUNE_OLDER_THAN",
                    "${{ vars.GITOPS_PRUNE_OLDER_THAN || '30d' }}"
                ),
            ],
            "{set}"
        );
        // It calls no GitHub API: no token of any kind.
        for step in steps {
            let env = get(step, "env");
            assert!(
                env.and_then(|e| get(e, "GITOPS_GITHUB_TOKEN")).is_none()
                    && env.and_then(|e| get(e, "GITHUB_TOKEN")).is_none()
                    && text(step, "id") != "app-token"
                    && !serde_yaml_ng::to_string(step).unwrap().contains("secrets."),
                "{set}: the prune job calls no GitHub API"
            );
        }
    }
}

/// The scaffold's README tells operators what the workflow does, when, with which role, and the
/// variables that change its retention, with the same defaults as the workflow.
#[test]
fn the_scaffold_readme_documents_the_prune_workflow_and_its_retention_variables() {
    for (set, options) in crate::gitops_option_sets() {
        let files = gitops_render::render_gitops_scaffold(&options).unwrap();
        let readme = &files
            .iter()
            .find(|f| f.path == "README.md")
            .unwrap()
            .contents;
        let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
        for needed in [
            "`gitops-prune.yml`",
            &format!("every week (cron `{}`, and on demand)", options.prune_cron),
            "deploy role (`AWS_ROLE_ARN`",
            "`GITOPS_PRUNE_KEEP`",
            "`GITOPS_PRUNE_OLDER_THAN`",
            "one of the last 10 live versions",
            "less than 30 days ago",
            "tries again 10 minutes later",
        ] {
            assert!(readme.contains(needed), "{set}: README.md lacks {needed}");
        }
    }
}

/// The default slot is weekly and differs from the metrics and drift ones; the schedule is an
/// option, validated like the others.
#[test]
fn the_prune_schedule_is_a_weekly_option_and_a_bad_one_is_refused() {
    let mut options = gitops_render::GitopsOptions::new(crate::pin());
    assert_eq!(options.prune_cron, "41 3 * * 0");
    assert_ne!(options.prune_cron, options.metrics_cron);
    assert_ne!(options.prune_cron, options.drift_cron);
    let fields: Vec<&str> = options.prune_cron.split(' ').collect();
    assert_eq!(
        (fields[2], fields[3]),
        ("*", "*"),
        "no day of month, no month"
    );
    assert!(
        fields[4].parse::<u8>().is_ok(),
        "one day of the week: {}",
        fields[4]
    );
    options.prune_cron = "0 2 * * 6".into();
    let doc = scaffold_workflow(&options, "gitops-prune.yml");
    let schedule = get(get(&doc, "on").unwrap(), "schedule")
        .and_then(Value::as_sequence)
        .unwrap();
    assert_eq!(text(&schedule[0], "cron"), "0 2 * * 6");
    options.prune_cron = "0 2 * * 6\n  evil: true".into();
    let err = gitops_render::render_gitops_scaffold(&options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prune schedule"), "{err}");
}

/// Runs the prune step's script as GitHub runs a `run:` (`bash -e`), with `gitops` and `sleep`
/// replaced by fakes: `gitops` exits with the next of `codes` and records its arguments (one
/// per line, a blank line after each call); `sleep` records its argument. Returns the script's
/// exit code, the recorded calls of each, and its stdout.
fn run_script(dir: &Path, codes: &[u8]) -> (i32, Vec<Vec<String>>, Vec<String>, String) {
    let doc = scaffold_workflow(
        &gitops_render::GitopsOptions::new(crate::pin()),
        "gitops-prune.yml",
    );
    let step = prune_step(job(&doc, "prune"));
    let script = dir.join("prune.sh");
    std::fs::write(&script, text(step, "run")).unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
    std::fs::write(dir.join("codes"), codes.join("\n") + "\n").unwrap();
    for log in ["gitops.log", "sleep.log"] {
        std::fs::write(dir.join(log), "").unwrap();
    }
    let fake_gitops = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{dir}/gitops.log'; done\n\
         echo >> '{dir}/gitops.log'\ncode=$(head -n 1 '{dir}/codes')\n\
         sed -i 1d '{dir}/codes'\nexit \"$code\"\n",
        dir = dir.display()
    );
    let fake_sleep = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}/sleep.log'\n",
        dir.display()
    );
    for (name, body) in [("gitops", fake_gitops), ("sleep", fake_sleep)] {
        let path = bin.join(name);
        std::fs::write(&path, body).unwrap();
        Command::new("chmod")
            .args(["+x", path.to_str().unwrap()])
            .status()
            .unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-e", script.to_str().unwrap()])
        .env("PATH", path)
        .env("TARGET_ENVIRONMENT", "eu.prod")
        .env("PRUNE_KEEP", "10")
        .env("PRUNE_OLDER_THAN", "30d")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.join("gitops.log")).unwrap();
    let calls = log
        .split("\n\n")
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.lines().map(str::to_owned).collect())
        .collect();
    let sleeps = std::fs::read_to_string(dir.join("sleep.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (
        out.status.code().unwrap(),
        calls,
        sleeps,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Exit 1 (a deploy in flight) is retried once after ten minutes; still refused, the job ends
/// green with a warning (next week retries). Any other failure fails the job at once.
#[test]
fn a_deploy_in_flight_is_retried_once_then_left_to_next_week() {
    let expected: Vec<String> = [
        "prune",
        "--repo",
        ".",
        "--env",
        "eu.prod",
        "--keep",
        "10",
        "--older-than",
        "30d",
    ]
    .map(str::to_owned)
    .to_vec();
    // (gitops' exit codes, the step's exit code, calls, sleeps, a warning)
    let cases: [(&[u8], i32, usize, usize, bool); 7] = [
        (&[0], 0, 1, 0, false),
        (&[3], 3, 1, 0, false),
        (&[2], 2, 1, 0, false),
        (&[1, 0], 0, 2, 1, false),
        (&[1, 1], 0, 2, 1, true),
        (&[1, 3], 3, 2, 1, false),
        (&[1, 2], 2, 2, 1, false),
    ];
    for (codes, code, calls, sleeps, warns) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (got, recorded, slept, stdout) = run_script(dir.path(), codes);
        let what = format!("gitops exiting {codes:?}: {stdout}");
        assert_eq!(got, code, "{what}");
        assert_eq!(recorded.len(), calls, "{what}");
        for call in &recorded {
            assert_eq!(call, &expected, "{what}");
        }
        assert_eq!(slept, vec!["600".to_owned(); sleeps], "{what}");
        assert_eq!(
            stdout.contains("::warning title=gitops prune::a deploy is still in flight in eu.prod"),
            warns,
            "{what}"
        );
    }
}
