//! gitops-render: golden renders, security properties of every workflow, idempotent writing
//! and edit protection, and a scaffold that the GitOps loader accepts.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod board;
mod golden;
mod metrics_workflow;
mod operate_workflow;
mod prune_workflow;
mod report;
mod scaffold;
mod security;
mod tokens;
mod upgrade;
mod write;

use gitops_render::{ActionRef, GitopsOptions, MfeOptions, PackageManager, RenderedFile};

/// The setup action pin of the golden renders.
pub const PIN: &str = "mfe-gitops/mfe-gitops@5e7a0b6f3c2d1e9f8a7b6c5d4e3f2a1b0c9d8e7f";

pub fn pin() -> ActionRef {
    ActionRef::parse(PIN).unwrap()
}

/// The option sets the golden and security tests cover.
pub fn mfe_option_sets() -> Vec<(&'static str, MfeOptions)> {
    let basic = MfeOptions::new(
        "checkout",
        "acme/gitops-config",
        "s3://acme-mfe-artifacts/{name}/{name}-{version}.tgz",
        pin(),
    );
    let mut pnpm = MfeOptions::new(
        "search",
        "acme/gitops-config",
        "https://artifactory.example.com/artifactory/mfe/{name}/{name}-{version}.tgz",
        pin(),
    );
    pnpm.package_manager = PackageManager::Pnpm;
    pnpm.node_version = "22.11".into();
    pnpm.test_command = Some("pnpm run test:ci -- --coverage".into());
    pnpm.build_command = Some("pnpm run build:prod".into());
    pnpm.dist_dir = "build/client".into();
    pnpm.environments = vec!["qa".into(), "production".into()];
    pnpm.cache_invalidation_keys = vec!["/mfe/search/*".into()];
    let mut yarn = MfeOptions::new(
        "account-menu",
        "acme-corp/platform.gitops",
        "local/artifacts/{name}-{version}.tar.gz",
        pin(),
    );
    yarn.package_manager = PackageManager::Yarn;
    yarn.environments = vec!["dev".into(), "eu.prod".into(), "us.prod".into()];
    yarn.default_branch = "trunk".into();
    // App mode (`gitops serve`): the deployment is the request, no dispatch token.
    let mut app = MfeOptions::new(
        "profile",
        "acme/gitops-config",
        "s3://acme-mfe-artifacts/{name}/{name}-{version}.tgz",
        pin(),
    );
    app.app = true;
    app.environments = vec!["dev".into(), "prod".into()];
    app.cache_invalidation_keys = vec!["/mfe/profile/*".into()];
    vec![
        ("npm-s3", basic),
        ("pnpm-https", pnpm),
        ("yarn-local", yarn),
        ("app-s3", app),
    ]
}

pub fn gitops_option_sets() -> Vec<(&'static str, GitopsOptions)> {
    let custom = GitopsOptions {
        environments: vec!["qa".into(), "live".into()],
        default_branch: "trunk".into(),
        drift_cron: "0 */6 * * 1-5".into(),
        metrics_cron: "30 7 * * 0".into(),
        prune_cron: "5 2 * * 6".into(),
        ..GitopsOptions::new(pin())
    };
    vec![("default", GitopsOptions::new(pin())), ("two-envs", custom)]
}

pub fn all_workflows() -> Vec<(String, RenderedFile)> {
    let mut out = Vec::new();
    for (name, o) in mfe_option_sets() {
        for f in gitops_render::render_mfe_workflows(&o).unwrap() {
            out.push((name.to_owned(), f));
        }
    }
    for (name, o) in gitops_option_sets() {
        for f in gitops_render::render_gitops_scaffold(&o).unwrap() {
            if f.path.starts_with(".github/workflows/") {
                out.push((name.to_owned(), f));
            }
        }
    }
    out
}

/// `v[key]`, when `v` is a mapping holding it.
pub fn get<'a>(v: &'a serde_yaml_ng::Value, key: &str) -> Option<&'a serde_yaml_ng::Value> {
    v.as_mapping()?.get(key)
}

/// `v[key]` as text, or empty.
pub fn text<'a>(v: &'a serde_yaml_ng::Value, key: &str) -> &'a str {
    get(v, key)
        .and_then(serde_yaml_ng::Value::as_str)
        .unwrap_or("")
}

/// The scaffold's managed workflow `name` (e.g. `gitops-prune.yml`) rendered with `options`,
/// parsed.
pub fn scaffold_workflow(options: &GitopsOptions, name: &str) -> serde_yaml_ng::Value {
    let files = gitops_render::render_gitops_scaffold(options).unwrap();
    let path = format!(".github/workflows/{name}");
    let file = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("the scaffold has no {name}"));
    assert_eq!(file.policy, gitops_render::Policy::Managed);
    serde_yaml_ng::from_str(&file.contents).unwrap()
}

/// The job `name` of a workflow.
pub fn job<'a>(doc: &'a serde_yaml_ng::Value, name: &str) -> &'a serde_yaml_ng::Value {
    get(get(doc, "jobs").unwrap(), name).unwrap_or_else(|| panic!("no job `{name}`"))
}

/// A job's steps.
pub fn steps(job: &serde_yaml_ng::Value) -> &[serde_yaml_ng::Value] {
    get(job, "steps")
        .and_then(serde_yaml_ng::Value::as_sequence)
        .unwrap()
}
