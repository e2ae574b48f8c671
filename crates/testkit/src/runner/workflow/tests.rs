use super::*;
use serde_json::json;

const DEPLOY: &str = r"
name: Deploy
run-name: Deploy ${{ inputs.env }}
on:
  workflow_dispatch:
    inputs:
      env: {required: true}
      mode: {type: choice, options: [fast, slow], default: fast, description: How}
      dry: {type: boolean, default: false}
  repository_dispatch:
    types: [deploy]
permissions:
  contents: read
concurrency: deploy-${{ inputs.env }}
env:
  GLOBAL: ${{ needs.plan.outputs.x }}
  PLAIN: plain
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      pairs: ${{ steps.p.outputs.pairs }}
      count: ${{ steps.p.outputs.count }}
    steps:
      - id: p
        run: echo pairs=[] >> $GITHUB_OUTPUT
  deploy:
    name: deploy ${{ matrix.pair.mfe }}
    needs: plan
    if: needs.plan.outputs.count > 0
    runs-on: ubuntu-latest
    timeout-minutes: 10
    environment:
      name: ${{ inputs.env }}
      url: https://example.test
    concurrency:
      group: deploy-${{ inputs.env }}
      cancel-in-progress: ${{ inputs.env != 'prod' }}
    permissions:
      id-token: write
      contents: read
    strategy:
      fail-fast: false
      matrix:
        pair: ${{ fromJSON(needs.plan.outputs.pairs) }}
    env:
      PAIRS: ${{ needs.plan.outputs.pairs }}
      ENV: ${{ inputs.env }}
    steps:
      - name: deploy ${{ matrix.pair.mfe }}
        if: ${{ needs.plan.result == 'success' && matrix.pair.env != '' }}
        run: echo '${{ toJSON(needs.plan.outputs) }}'
      - uses: actions/checkout@v4
        with:
          ref: ${{ needs.plan.outputs.count }}
  report:
    needs: [plan, deploy]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo done
";

fn deploy() -> Workflow {
    Workflow::parse(".github/workflows/deploy.yml", DEPLOY).unwrap()
}

fn parse_err(text: &str) -> String {
    Workflow::parse("w.yml", text).unwrap_err().message
}

#[test]
fn parses_the_model() {
    let w = deploy();
    assert_eq!(w.name.as_deref(), Some("Deploy"));
    assert_eq!(
        w.on.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["workflow_dispatch", "repository_dispatch"]
    );
    assert_eq!(
        w.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["plan", "deploy", "report"]
    );
    let plan = w.job("plan").unwrap();
    assert_eq!(plan.outputs[0].0, "pairs");
    assert_eq!(plan.outputs[1].0, "count");
    let d = w.job("deploy").unwrap();
    assert_eq!(d.needs, ["plan"]);
    assert_eq!(d.if_.as_deref(), Some("needs.plan.outputs.count > 0"));
    assert_eq!(
        d.environment,
        Some(EnvironmentRef {
            name: "${{ inputs.env }}".into(),
            url: Some("https://example.test".into())
        })
    );
    let c = d.concurrency.as_ref().unwrap();
    assert_eq!(c.group, "deploy-${{ inputs.env }}");
    assert_eq!(c.cancel_in_progress, json!("${{ inputs.env != 'prod' }}"));
    assert_eq!(
        w.concurrency,
        Some(Concurrency {
            group: "deploy-${{ inputs.env }}".into(),
            cancel_in_progress: json!(false)
        })
    );
    assert_eq!(
        d.matrix,
        Some(json!({"pair": "${{ fromJSON(needs.plan.outputs.pairs) }}"}))
    );
    assert_eq!(w.job("report").unwrap().needs, ["plan", "deploy"]);
    assert_eq!(d.timeout_minutes, Some(10));
    assert_eq!(plan.timeout_minutes, None);
    assert_eq!(d.uses(), ["actions/checkout@v4"]);
    assert!(plan.uses().is_empty() && d.reusable().is_none());
    let inputs = w.dispatch_inputs();
    assert_eq!(
        inputs
            .iter()
            .map(|i| (
                i.name.as_str(),
                i.kind.as_str(),
                i.required,
                i.default.as_deref()
            ))
            .collect::<Vec<_>>(),
        [
            ("env", "string", true, None),
            ("mode", "choice", false, Some("fast")),
            ("dry", "boolean", false, Some("false"))
        ]
    );
    assert_eq!(inputs[1].options, ["fast", "slow"]);
    assert_eq!(inputs[1].description.as_deref(), Some("How"));
    assert_eq!(w.env["PLAIN"], json!("plain"));
    assert_eq!(w.run_name(&json!({"inputs": {"env": "dev"}})), "Deploy dev");
    let mut unnamed = w.clone();
    unnamed.run_name = None;
    unnamed.name = None;
    assert_eq!(unnamed.run_name(&json!({})), ".github/workflows/deploy.yml");
}

#[test]
fn on_forms() {
    let w = Workflow::parse(
        "a.yml",
        "on: push\njobs: {a: {runs-on: x, steps: [{run: a}]}}",
    )
    .unwrap();
    assert_eq!(w.on, [("push".to_owned(), Value::Null)]);
    let w = Workflow::parse(
        "a.yml",
        "on: [push, pull_request]\njobs: {a: {runs-on: x, steps: [{run: a}]}}",
    )
    .unwrap();
    assert_eq!(w.on.len(), 2);
    assert!(w.triggered_by(&EventKind::Push {
        git_ref: "refs/heads/x".into(),
        changed: None
    }));
    assert!(!w.triggered_by(&EventKind::WorkflowDispatch));
}

#[test]
fn refuses_what_github_refuses() {
    assert!(parse_err("jobs: {a: {runs-on: x}}").contains("no `on`"));
    assert!(parse_err("on: push").contains("no `jobs`"));
    assert!(parse_err("on: push\njobs: {a: {runs-on: x, needs: b}}").contains("needs `b`"));
    let e = parse_err(
        "on: push\njobs: {a: {runs-on: x, needs: b}, b: {runs-on: x, needs: [a]}, c: {runs-on: x}}",
    );
    assert!(e.contains("cycle") && e.contains("jobs a, b form"), "{e}");
    assert!(parse_err("on: push\njobs: {a: {steps: []}}").contains("neither `runs-on` nor `uses`"));
    assert!(parse_err("on: push\njobs: {1a: {runs-on: x}}").contains("job id"));
    assert!(
        parse_err("on: {push: {branches: [a], branches-ignore: [b]}}\njobs: {a: {runs-on: x}}")
            .contains("cannot both")
    );
    assert!(
        parse_err("on: {push: {branches: ['!a']}}\njobs: {a: {runs-on: x}}").contains("negative")
    );
    assert!(
        parse_err("on: push\npermissions: {contents: admin}\njobs: {a: {runs-on: x}}")
            .contains("none, read or write")
    );
    assert!(
        parse_err("on: push\npermissions: {foo: read}\njobs: {a: {runs-on: x}}")
            .contains("unknown permission scope `foo`")
    );
    assert!(
        parse_err("on: push\njobs: {a: {runs-on: x, concurrency: {cancel-in-progress: true}}}")
            .contains("`group` is required")
    );
    assert!(parse_err("on: [push\n").contains("not valid YAML"));
    assert!(
        parse_err("on: push\njobs: {a: {runs-on: x, steps: [{name: x}]}}")
            .contains("neither `run` nor `uses`")
    );
    assert!(parse_err("- a").contains("must be a map"));
    // Unknown keys, as GitHub's "Unexpected value".
    assert!(
        parse_err("on: push\nenvironment: x\njobs: {a: {runs-on: x}}")
            .contains("unexpected key `environment`")
    );
    let e = parse_err("on: push\njobs: {a: {runs-on: x, timeout: 3}}");
    assert_eq!(e, "w.yml: job `a`: unexpected key `timeout`");
    let e = parse_err("on: push\njobs: {a: {runs-on: x, steps: [{run: a, uses: b}]}}");
    assert!(e.contains("step 1 has both"), "{e}");
    let e = parse_err(
        "on: push\njobs: {a: {runs-on: x, steps: [{run: a, with: {}}, {run: b, env-vars: {}}]}}",
    );
    assert_eq!(e, "w.yml: job `a`: step 2: unexpected key `env-vars`");
    let e = parse_err("on: push\njobs: {a: {uses: ./b.yml, runs-on: x}}");
    assert!(e.contains("reusable") && e.contains("`runs-on`"), "{e}");
    // The message names the file.
    assert!(parse_err("on: push").starts_with("w.yml: "));
}

#[test]
fn filter_pattern_syntax() {
    let m = |p: &[&str], name: &str| {
        filters_match(&p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), name)
    };
    assert!(m(&["feature/*"], "feature/a"));
    assert!(!m(&["feature/*"], "feature/a/b"));
    assert!(m(&["feature/**"], "feature/a/b"));
    assert!(m(&["**"], "a/b/c"));
    assert!(!m(&["*"], "a/b"));
    assert!(m(&["v1.?"], "v1.") && m(&["v1.?"], "v1") && !m(&["v1.?"], "v12"));
    assert!(m(&["v2+"], "v222") && !m(&["v2+"], "v"));
    assert!(m(&["v[12].[0-9]+.[0-9]+"], "v1.10.3"));
    assert!(!m(&["v[12].[0-9]+.[0-9]+"], "v3.1.1"));
    assert!(!m(&["v1.0"], "v1x0")); // `.` is literal
    assert!(m(&["a\\*"], "a*") && !m(&["a\\*"], "ab"));
    assert!(m(&["*.md"], "README.md") && !m(&["*.md"], "docs/x.md"));
    assert!(m(&["**.md"], "docs/x.md"));
    // Negation, in order: the last matching pattern wins.
    assert!(!m(
        &["releases/**", "!releases/**-alpha"],
        "releases/1-alpha"
    ));
    assert!(m(
        &[
            "releases/**",
            "!releases/**-alpha",
            "releases/special-alpha"
        ],
        "releases/special-alpha"
    ));
    assert!(m(&["!a", "a"], "a"));
    assert!(!m(&["a", "!a"], "a"));
    // One pattern (deployment branch policies).
    assert!(filter_matches("release/*", "release/1") && !filter_matches("release/*", "main"));
    // An invalid pattern matches nothing (and parse refuses it).
    assert!(!m(&["[a"], "[a"));
    assert!(!m(&["+a"], "a"));
    assert!(
        parse_err("on: {push: {branches: ['[a']}}\njobs: {a: {runs-on: x}}")
            .contains("on.push.branches")
    );
}

fn wf(on: &str) -> Workflow {
    Workflow::parse(
        "t.yml",
        &format!("on: {on}\njobs: {{a: {{runs-on: x, steps: [{{run: a}}]}}}}"),
    )
    .unwrap()
}

fn push(r: &str, changed: Option<&[&str]>) -> EventKind {
    EventKind::Push {
        git_ref: r.into(),
        changed: changed.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn job_order_respects_needs() {
    let w = Workflow::parse(
            "o.yml",
            "on: push\njobs: {z: {runs-on: x, needs: [b, a]}, a: {runs-on: x}, b: {runs-on: x, needs: a}, c: {runs-on: x}}",
        )
        .unwrap();
    let ids: Vec<&str> = w.job_order().iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "z", "c"]);
}

#[test]
fn skip_ci_markers() {
    assert!(skips_ci("fix: x [skip ci]"));
    assert!(skips_ci("Fix [CI SKIP] now"));
    assert!(skips_ci("subject\n\nbody\n\nskip-checks: true"));
    assert!(!skips_ci("subject\n\nskip-checks: true\n\nlater paragraph"));
    assert!(!skips_ci("skip ci please"));
}

#[test]
fn push_branch_and_tag_filters() {
    let any = wf("push");
    assert!(any.triggered_by(&push("refs/heads/main", None)));
    assert!(any.triggered_by(&push("refs/tags/v1", None)));

    let tags = wf("{push: {tags: ['v*']}}");
    assert!(tags.triggered_by(&push("refs/tags/v1.0.0", None)));
    assert!(!tags.triggered_by(&push("refs/tags/x1", None)));
    // Only tags: a branch push runs nothing.
    assert!(!tags.triggered_by(&push("refs/heads/main", Some(&["a"]))));

    let branches = wf("{push: {branches: [main]}}");
    assert!(branches.triggered_by(&push("refs/heads/main", Some(&["a"]))));
    assert!(!branches.triggered_by(&push("refs/heads/dev", Some(&["a"]))));
    // Only branches: a tag push runs nothing.
    assert!(!branches.triggered_by(&push("refs/tags/v1", None)));

    let ignore = wf("{push: {branches-ignore: ['dependabot/**'], tags-ignore: [wip]}}");
    assert!(ignore.triggered_by(&push("refs/heads/main", None)));
    assert!(!ignore.triggered_by(&push("refs/heads/dependabot/npm/x", None)));
    assert!(ignore.triggered_by(&push("refs/tags/v1", None)));
    assert!(!ignore.triggered_by(&push("refs/tags/wip", None)));

    let both = wf("{push: {branches: [main], tags: ['v*']}}");
    assert!(both.triggered_by(&push("refs/heads/main", None)));
    assert!(both.triggered_by(&push("refs/tags/v2", None)));
    assert!(!both.triggered_by(&push("refs/tags/x", None)));
}

#[test]
fn push_path_filters() {
    let paths = wf("{push: {branches: [main], paths: ['src/**', '!src/**/*.md']}}");
    assert!(paths.triggered_by(&push("refs/heads/main", Some(&["README.md", "src/a.rs"]))));
    assert!(!paths.triggered_by(&push("refs/heads/main", Some(&["README.md"]))));
    assert!(!paths.triggered_by(&push("refs/heads/main", Some(&["src/docs/x.md"]))));
    // Unknown changes (a new branch): the workflow runs.
    assert!(paths.triggered_by(&push("refs/heads/main", None)));
    // Both the branch and the paths filter must pass.
    assert!(!paths.triggered_by(&push("refs/heads/dev", Some(&["src/a.rs"]))));

    let ignore = wf("{push: {paths-ignore: ['docs/**']}}");
    assert!(!ignore.triggered_by(&push("refs/heads/x", Some(&["docs/a.md"]))));
    assert!(ignore.triggered_by(&push("refs/heads/x", Some(&["docs/a.md", "b"]))));

    // Path filters are not evaluated for tag pushes.
    let only_paths = wf("{push: {paths: ['src/**']}}");
    assert!(only_paths.triggered_by(&push("refs/tags/v1", Some(&["docs/x"]))));
    assert!(!only_paths.triggered_by(&push("refs/heads/main", Some(&["docs/x"]))));
}

#[test]
fn pull_request_types_and_base_filters() {
    let pr = |action: &str, base: &str| EventKind::PullRequest {
        action: action.into(),
        base_ref: base.into(),
        changed: Some(vec!["src/a".into()]),
    };
    let w = wf("{pull_request: {branches: [main]}}");
    for a in ["opened", "synchronize", "reopened"] {
        assert!(w.triggered_by(&pr(a, "main")), "{a}");
    }
    // Default activity types only.
    assert!(!w.triggered_by(&pr("closed", "main")));
    assert!(!w.triggered_by(&pr("opened", "dev")));
    assert!(w.triggered_by(&pr("opened", "refs/heads/main")));
    let closed = wf("{pull_request: {types: [closed]}}");
    assert!(closed.triggered_by(&pr("closed", "dev")));
    assert!(!closed.triggered_by(&pr("opened", "dev")));
    let paths = wf("{pull_request: {paths: ['docs/**']}}");
    assert!(!paths.triggered_by(&pr("opened", "main")));
    // A push does not start a pull_request workflow.
    assert!(!w.triggered_by(&push("refs/heads/main", None)));
}

#[test]
fn other_events() {
    let w = deploy();
    let rd = |t: &str| EventKind::RepositoryDispatch {
        event_type: t.into(),
    };
    assert!(w.triggered_by(&rd("deploy")));
    assert!(!w.triggered_by(&rd("other")));
    assert!(w.triggered_by(&EventKind::WorkflowDispatch));
    assert!(!w.triggered_by(&EventKind::Schedule));
    assert!(wf("repository_dispatch").triggered_by(&rd("anything")));

    let review = |a: &str| EventKind::PullRequestReview { action: a.into() };
    assert!(wf("pull_request_review").triggered_by(&review("dismissed")));
    let submitted = wf("{pull_request_review: {types: [submitted]}}");
    assert!(submitted.triggered_by(&review("submitted")));
    assert!(!submitted.triggered_by(&review("edited")));

    let rel = |a: &str| EventKind::Release { action: a.into() };
    assert!(wf("release").triggered_by(&rel("created")));
    assert!(!wf("{release: {types: [published]}}").triggered_by(&rel("created")));

    let sched = wf("{schedule: [{cron: '0 0 * * *'}]}");
    assert!(sched.triggered_by(&EventKind::Schedule));
    assert!(!sched.triggered_by(&EventKind::WorkflowDispatch));
}

#[test]
#[allow(clippy::many_single_char_names)]
fn permissions() {
    let text = |wp: &str, jp: &str| {
        format!("on: push\n{wp}\njobs: {{a: {{runs-on: x, {jp} steps: [{{run: a}}]}}}}")
    };
    let eff = |wp: &str, jp: &str| {
        let w = Workflow::parse("p.yml", &text(wp, jp)).unwrap();
        effective_permissions(&w, &w.jobs[0])
    };
    let l = |m: &BTreeMap<String, Level>, s: &str| m[s];
    // Restricted default.
    let d = eff("", "");
    assert_eq!(l(&d, "contents"), Level::Read);
    assert_eq!(l(&d, "packages"), Level::Read);
    assert_eq!(l(&d, "metadata"), Level::Read);
    assert_eq!(l(&d, "pull-requests"), Level::None);
    // The workflow's, unless the job sets its own (which replaces it entirely).
    let w = eff("permissions: {pull-requests: write}", "");
    assert_eq!(
        (l(&w, "pull-requests"), l(&w, "contents")),
        (Level::Write, Level::None)
    );
    let j = eff(
        "permissions: {pull-requests: write}",
        "permissions: {id-token: write},",
    );
    assert_eq!(
        (l(&j, "pull-requests"), l(&j, "id-token")),
        (Level::None, Level::Write)
    );
    // `{}`: nothing but metadata.
    let e = eff("permissions: {}", "");
    assert!(e.iter().all(|(k, v)| if k == "metadata" {
        *v == Level::Read
    } else {
        *v == Level::None
    }));
    let r = eff("permissions: read-all", "");
    assert_eq!(
        (l(&r, "issues"), l(&r, "id-token"), l(&r, "models")),
        (Level::Read, Level::None, Level::Read)
    );
    let wa = eff("", "permissions: write-all,");
    assert!(SCOPES.iter().all(|s| wa[*s] == Level::Write));
    assert_eq!(wa.len(), SCOPES.len() + 1);
}

#[test]
fn matrix_product_exclude_include() {
    // GitHub's documented example.
    let m: Yaml = serde_yaml_ng::from_str(
        r"
fruit: [apple, pear]
animal: [cat, dog]
include:
  - color: green
  - color: pink
    animal: cat
  - fruit: apple
    shape: circle
  - fruit: banana
  - fruit: banana
    animal: cat
",
    )
    .unwrap();
    let got = expand_matrix_yaml(&m).unwrap();
    let want = [
        json!({"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"}),
        json!({"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"}),
        json!({"fruit": "pear", "animal": "cat", "color": "pink"}),
        json!({"fruit": "pear", "animal": "dog", "color": "green"}),
        json!({"fruit": "banana"}),
        json!({"fruit": "banana", "animal": "cat"}),
    ];
    assert_eq!(got.into_iter().map(Value::Object).collect::<Vec<_>>(), want);

    let m = json!({"os": ["a", "b"], "v": [1, 2, 3], "exclude": [{"os": "a", "v": 2}, {"v": 3}]});
    let got = expand_matrix(&m).unwrap();
    assert_eq!(
        got.into_iter().map(Value::Object).collect::<Vec<_>>(),
        [
            json!({"os": "a", "v": 1}),
            json!({"os": "b", "v": 1}),
            json!({"os": "b", "v": 2})
        ]
    );
    // `include` alone: one combination per entry; empty: none.
    let only = expand_matrix(&json!({"include": [{"a": 1}, {"a": 2}]})).unwrap();
    assert_eq!(only.len(), 2);
    assert!(expand_matrix(&json!({})).unwrap().is_empty());
    // Limits and errors.
    let big = json!({"a": (0..16).collect::<Vec<_>>(), "b": (0..17).collect::<Vec<_>>()});
    assert!(expand_matrix(&big).unwrap_err().message.contains("256"));
    assert!(
        expand_matrix(&json!({"a": (0..16).collect::<Vec<_>>(), "b": (0..16).collect::<Vec<_>>()}))
            .is_ok()
    );
    assert!(
        expand_matrix(&json!("${{ fromJSON(x) }}"))
            .unwrap_err()
            .message
            .contains("evaluate")
    );
    assert!(expand_matrix(&json!({"a": []})).is_err());
    assert!(expand_matrix(&json!({"a": "x"})).is_err());
    assert!(expand_matrix(&json!({"include": [1]})).is_err());
}

#[test]
fn job_matrices_are_evaluated_then_expanded_in_file_order() {
    let w = Workflow::parse(
        "m.yml",
        r"
on: push
jobs:
  a:
    runs-on: x
    strategy:
      matrix:
        zone: ['${{ vars.ZONE }}', b]
        app: [one, two]
        include: ${{ fromJSON(vars.EXTRA) }}
    steps: [{run: a}]
  b:
    runs-on: x
    strategy:
      matrix: ${{ fromJSON(vars.M) }}
    steps: [{run: a}]
  c:
    runs-on: x
    steps: [{run: a}]
",
    )
    .unwrap();
    let ctx = json!({"vars": {"ZONE": "z", "EXTRA": "[{\"app\": \"one\", \"big\": true}]",
                                  "M": "{\"include\": [{\"x\": 1}]}"}});
    let combos = w.jobs[0].matrix_combinations(&ctx).unwrap().unwrap();
    // `zone` comes first in the file, so it varies slowest (serde_json would sort `app` first).
    assert_eq!(
        combos.into_iter().map(Value::Object).collect::<Vec<_>>(),
        [
            json!({"zone": "z", "app": "one", "big": true}),
            json!({"zone": "z", "app": "two"}),
            json!({"zone": "b", "app": "one", "big": true}),
            json!({"zone": "b", "app": "two"}),
        ]
    );
    let b = w.jobs[1].matrix_combinations(&ctx).unwrap().unwrap();
    assert_eq!(b, [json!({"x": 1}).as_object().unwrap().clone()]);
    assert_eq!(w.jobs[2].matrix_combinations(&ctx).unwrap(), None);
    let e = w.jobs[1].matrix_combinations(&json!({})).unwrap_err();
    assert!(e.message.starts_with("job `b`: strategy.matrix"), "{e}");
}

#[test]
fn job_for_act_is_a_runnable_single_job_workflow() {
    let w = deploy();
    let known = json!({"needs": {"plan": {"result": "success",
            "outputs": {"pairs": "[{\"mfe\":\"checkout\",\"env\":\"dev\"}]", "count": "1", "x": "it's"}}}});
    let combo = json!({"pair": {"mfe": "checkout", "env": "dev"}});
    let extra = [json!({"name": "outputs", "run": "echo done"})];
    let yaml = w
        .job_for_act(w.job("deploy").unwrap(), combo.as_object(), &known, &extra)
        .unwrap();
    assert!(!yaml.contains("needs"), "{yaml}");
    let back = Workflow::parse("act.yml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(back.jobs.len(), 1);
    let j = &back.jobs[0];
    assert_eq!(j.id, "deploy");
    assert!(j.needs.is_empty() && j.if_.is_none() && j.environment.is_none());
    assert!(j.concurrency.is_none() && j.permissions.is_none());
    let raw = yaml_to_json(&j.raw);
    assert!(raw.get("timeout-minutes").is_none());
    assert_eq!(raw["strategy"], json!({"matrix": {"include": [combo]}}));
    assert_eq!(
        back.trigger("repository_dispatch"),
        Some(&json!({"types": ["deploy"]}))
    );
    assert_eq!(back.name.as_deref(), Some("Deploy"));
    assert!(back.permissions.is_none() && back.concurrency.is_none());
    // Strings are bound: evaluating them without `needs` gives what GitHub would.
    let steps = raw["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2], extra[0]);
    let ctx = json!({"matrix": combo});
    let cond = steps[0]["if"].as_str().unwrap();
    assert!(!cond.contains("${{"), "{cond}");
    assert!(expr::eval_if(cond, &ctx, expr::JobStatus::Success).unwrap());
    let pairs = raw["env"]["PAIRS"].as_str().unwrap();
    assert_eq!(
        expr::interpolate(pairs, &ctx, expr::JobStatus::Success).unwrap(),
        "[{\"mfe\":\"checkout\",\"env\":\"dev\"}]"
    );
    assert_eq!(raw["env"]["ENV"], json!("${{ inputs.env }}"));
    assert_eq!(raw["steps"][1]["with"]["ref"], json!("${{ '1' }}"));
    assert_eq!(
        yaml_to_json(&back.raw)["env"]["GLOBAL"],
        json!("${{ 'it''s' }}")
    );
    assert_eq!(raw["name"], json!("deploy ${{ matrix.pair.mfe }}"));

    // Without a combination the strategy stays (bound); a reusable-workflow job takes no
    // extra steps.
    let yaml = w
        .job_for_act(w.job("plan").unwrap(), None, &known, &[])
        .unwrap();
    assert!(Workflow::parse("act.yml", &yaml).is_ok());
    let reusable = Workflow::parse(
        "r.yml",
        "on: push\njobs: {a: {uses: ./.github/workflows/b.yml}}",
    )
    .unwrap();
    assert!(
        reusable
            .job_for_act(&reusable.jobs[0], None, &json!({}), &extra)
            .is_err()
    );
}

/// The workflows this project renders (the golden snapshots of `crates/render`) and its own
/// release workflow load, every expression in them parses, and they trigger as intended.
#[test]
fn the_projects_workflows_load_and_trigger() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let snaps = root.join("crates/render/tests/it/snapshots");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".yml.snap"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "golden workflows under {}",
        snaps.display()
    );
    files.push(root.join(".github/workflows/release.yml"));
    let mut loaded = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // insta snapshots: a `---` header, then the file.
        let body = match text.strip_prefix("---\n") {
            Some(rest) => rest.split_once("---\n").unwrap().1.to_owned(),
            None => text,
        };
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let w = Workflow::parse(&name, &body).unwrap_or_else(|e| panic!("{e}"));
        let none = json!({});
        for text in [
            &w.run_name,
            &w.concurrency.as_ref().map(|c| c.group.clone()),
        ]
        .into_iter()
        .flatten()
        {
            expr::bind(text, &none).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for j in &w.jobs {
            let yaml = w
                .job_for_act(j, None, &none, &[])
                .unwrap_or_else(|e| panic!("{e}"));
            Workflow::parse("act.yml", &yaml).unwrap_or_else(|e| panic!("{e}"));
            if let Some(c) = &j.if_ {
                expr::bind_if(c, &none).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        loaded.insert(name, w);
    }
    let get = |part: &str| {
        loaded
            .iter()
            .find_map(|(k, w)| k.contains(part).then_some(w))
            .unwrap_or_else(|| panic!("no golden workflow named like {part}"))
    };
    let deploy = get("gitops-default__.github_workflows_gitops-deploy");
    assert!(deploy.triggered_by(&push(
        "refs/heads/main",
        Some(&["deployments/dev/checkout.json"])
    )));
    assert!(!deploy.triggered_by(&push("refs/heads/main", Some(&["README.md"]))));
    assert!(!deploy.triggered_by(&push(
        "refs/heads/dev",
        Some(&["deployments/dev/checkout.json"])
    )));
    let process = get("gitops-default__.github_workflows_gitops-process");
    assert!(process.triggered_by(&EventKind::RepositoryDispatch {
        event_type: "deploy-mfe-trigger".into()
    }));
    let checks = get("gitops-default__.github_workflows_gitops-checks");
    assert!(checks.triggered_by(&EventKind::PullRequestReview {
        action: "submitted".into()
    }));
    assert!(!checks.triggered_by(&EventKind::PullRequestReview {
        action: "dismissed".into()
    }));
}
