//! Issue 16 on the scaffold: the weekly metrics workflow writes each environment's figures to
//! its job summary and keeps that environment's board, with that environment's role only.

use serde_yaml_ng::Value;

use crate::{get, scaffold_workflow, text};

/// Weekly (the option's cron) and on demand; one job per environment, in that environment,
/// with the full history checked out; the summary, then the board, then its artifact.
#[test]
fn metrics_run_weekly_per_environment_into_the_summary_and_a_board_artifact() {
    for (set, options) in crate::gitops_option_sets() {
        let doc = scaffold_workflow(&options, "gitops-metrics.yml");
        let on = get(&doc, "on").unwrap();
        let schedule = get(on, "schedule").and_then(Value::as_sequence).unwrap();
        assert_eq!(text(&schedule[0], "cron"), options.metrics_cron, "{set}");
        assert!(get(on, "workflow_dispatch").is_some(), "{set}");

        let job = get(get(&doc, "jobs").unwrap(), "metrics").unwrap();
        assert_eq!(text(job, "environment"), "${{ matrix.environment }}");
        let matrix = get(get(job, "strategy").unwrap(), "matrix").unwrap();
        let envs: Vec<&str> = get(matrix, "environment")
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

        let steps = get(job, "steps").and_then(Value::as_sequence).unwrap();
        let with = |i: usize| get(&steps[i], "with").unwrap();
        let position = |pred: &dyn Fn(&Value) -> bool| {
            steps
                .iter()
                .position(pred)
                .unwrap_or_else(|| panic!("{set}: step missing"))
        };
        let checkout = position(&|s| text(s, "uses").starts_with("actions/checkout@"));
        assert_eq!(
            get(with(checkout), "fetch-depth").and_then(Value::as_u64),
            Some(0),
            "{set}: the history of deployments/ is a source"
        );
        let role =
            position(&|s| text(s, "uses").starts_with("aws-actions/configure-aws-credentials@"));
        assert_eq!(
            text(&steps[role], "if"),
            "vars.AWS_DRIFT_ROLE_ARN != '' || vars.AWS_ROLE_ARN != ''"
        );
        assert_eq!(
            text(with(role), "role-to-assume"),
            "${{ vars.AWS_DRIFT_ROLE_ARN || vars.AWS_ROLE_ARN }}"
        );
        let summary = position(&|s| text(s, "run").starts_with("gitops metrics"));
        assert_eq!(
            text(&steps[summary], "run"),
            "gitops metrics --env \"$TARGET_ENVIRONMENT\" --since 7d --format markdown \
             >> \"$GITHUB_STEP_SUMMARY\""
        );
        let board = position(&|s| text(s, "run").starts_with("gitops board"));
        assert_eq!(
            text(&steps[board], "run"),
            "gitops board --env \"$TARGET_ENVIRONMENT\" --out board"
        );
        for step in [summary, board] {
            assert_eq!(
                text(get(&steps[step], "env").unwrap(), "TARGET_ENVIRONMENT"),
                "${{ matrix.environment }}"
            );
        }
        let upload = position(&|s| text(s, "uses").starts_with("actions/upload-artifact@"));
        assert!(role < summary && summary < board && board < upload, "{set}");
        assert_eq!(
            text(with(upload), "name"),
            "board-${{ matrix.environment }}"
        );
        assert_eq!(text(with(upload), "path"), "board/");
        assert_eq!(
            get(with(upload), "retention-days").and_then(Value::as_u64),
            Some(30)
        );
        // Read-only: no GitHub token of any kind.
        for step in steps {
            let env = get(step, "env");
            assert!(
                env.and_then(|e| get(e, "GITOPS_GITHUB_TOKEN")).is_none()
                    && env.and_then(|e| get(e, "GITHUB_TOKEN")).is_none()
                    && text(step, "id") != "app-token",
                "{set}: the metrics job calls no GitHub API"
            );
        }
    }
}

/// The schedule is an option, validated like the drift one.
#[test]
fn the_metrics_schedule_is_an_option_and_a_bad_one_is_refused() {
    let mut options = gitops_render::GitopsOptions::new(crate::pin());
    assert_eq!(options.metrics_cron, "23 6 * * 1");
    options.metrics_cron = "0 7 * * 5".into();
    let doc = scaffold_workflow(&options, "gitops-metrics.yml");
    let schedule = get(get(&doc, "on").unwrap(), "schedule")
        .and_then(Value::as_sequence)
        .unwrap();
    assert_eq!(text(&schedule[0], "cron"), "0 7 * * 5");
    options.metrics_cron = "0 7 * * 5\n  evil: true".into();
    let err = gitops_render::render_gitops_scaffold(&options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrics schedule"), "{err}");
}
