//! Templates, their context, and the two render entry points.

use std::collections::BTreeMap;

use minijinja::{Environment, Value, syntax::SyntaxConfig};

use crate::write::header_line;
use crate::{Error, GitopsOptions, MfeOptions, PINNED_ACTIONS, Result};

/// This crate's version, recorded in the header of every rendered file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The generator named in the header of the MFE workflows.
pub const MFE_GENERATOR: &str = "mfe render";
/// The generator named in the header of the GitOps scaffold.
pub const GITOPS_GENERATOR: &str = "gitops init";

/// How [`crate::write_files`] treats a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Ours: starts with a header recording the sha256 of the rest; re-rendered when unedited,
    /// never overwritten once edited (unless forced).
    Managed,
    /// Written when absent, then the user's: never compared, never overwritten.
    Seed,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The whole content (header included for managed files).
    pub contents: String,
    /// How it is written.
    pub policy: Policy,
}

const MFE_CI: &str = include_str!("../templates/micro-frontend-ci.yml.j2");
const MFE_CD: &str = include_str!("../templates/micro-frontend-cd.yml.j2");
const GITOPS_PROCESS: &str = include_str!("../templates/gitops-process.yml.j2");
const GITOPS_CHECKS: &str = include_str!("../templates/gitops-checks.yml.j2");
const GITOPS_DEPLOY: &str = include_str!("../templates/gitops-deploy.yml.j2");
const GITOPS_DRIFT: &str = include_str!("../templates/gitops-drift.yml.j2");
const GITOPS_METRICS: &str = include_str!("../templates/gitops-metrics.yml.j2");
const GITOPS_PRUNE: &str = include_str!("../templates/gitops-prune.yml.j2");
const GITOPS_OPERATE: &str = include_str!("../templates/gitops-operate.yml.j2");
const GITOPS_YAML: &str = include_str!("../templates/gitops.yaml.j2");
const GITIGNORE: &str = include_str!("../templates/gitignore.j2");
const README: &str = include_str!("../templates/README.md.j2");
const REPORT_FAILURE: &str = include_str!("../templates/report-failure.sh.j2");
const APP_TOKEN: &str = include_str!("../templates/app-token.yml.j2");

const TEMPLATES: &[(&str, &str)] = &[
    ("micro-frontend-ci.yml", MFE_CI),
    ("micro-frontend-cd.yml", MFE_CD),
    ("gitops-process.yml", GITOPS_PROCESS),
    ("gitops-checks.yml", GITOPS_CHECKS),
    ("gitops-deploy.yml", GITOPS_DEPLOY),
    ("gitops-drift.yml", GITOPS_DRIFT),
    ("gitops-metrics.yml", GITOPS_METRICS),
    ("gitops-prune.yml", GITOPS_PRUNE),
    ("gitops-operate.yml", GITOPS_OPERATE),
    ("gitops.yaml", GITOPS_YAML),
    ("gitignore", GITIGNORE),
    ("README.md", README),
    ("report-failure.sh", REPORT_FAILURE),
    ("app-token.yml", APP_TOKEN),
];

/// Templates use `{= value =}` for values and `{% ... %}` for blocks, so that GitHub's own
/// `${{ ... }}` expressions pass through untouched.
fn environment() -> Result<Environment<'static>> {
    let syntax = SyntaxConfig::builder()
        .variable_delimiters("{=", "=}")
        .block_delimiters("{%", "%}")
        .comment_delimiters("{##", "##}")
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error("syntax", &e))?;
    let mut env = Environment::new();
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // A YAML double-quoted scalar (JSON string syntax is a subset of it).
    env.add_filter("q", |s: String| {
        serde_json::to_string(&s).unwrap_or_else(|_| "\"\"".to_owned())
    });
    // A YAML scalar: plain when unambiguous, double-quoted otherwise.
    env.add_filter("yq", |s: String| yaml_scalar(&s));
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| template_error(name, &e))?;
    }
    Ok(env)
}

fn yaml_scalar(s: &str) -> String {
    let plain = s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && ![
            "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
        ]
        .contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

fn template_error(name: &str, e: &minijinja::Error) -> Error {
    Error::Template {
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

fn render(env: &Environment<'_>, name: &str, ctx: &Value) -> Result<String> {
    env.get_template(name)
        .and_then(|t| t.render(ctx.clone()))
        .map_err(|e| template_error(name, &e))
}

fn uses() -> Value {
    let key = |name: &str| match name {
        "actions/checkout" => "checkout",
        "actions/setup-node" => "setup_node",
        "actions/upload-artifact" => "upload_artifact",
        "actions/download-artifact" => "download_artifact",
        "aws-actions/configure-aws-credentials" => "aws_credentials",
        "actions/create-github-app-token" => "app_token",
        "pnpm/action-setup" => "pnpm",
        _ => "unknown",
    };
    let map: BTreeMap<String, Value> = PINNED_ACTIONS
        .iter()
        .map(|(name, sha, tag)| {
            (
                key(name).to_owned(),
                Value::from(format!("{name}@{sha} # {tag}")),
            )
        })
        .collect();
    Value::from(map)
}

fn managed(generator: &str, path: String, body: &str) -> RenderedFile {
    let contents = format!("{}\n{body}", header_line(generator, body));
    RenderedFile {
        path,
        contents,
        policy: Policy::Managed,
    }
}

/// A GitHub Actions job id for an environment: lower case, `.` becomes `-`.
fn job_id(prefix: &str, environment: &str) -> String {
    format!(
        "{prefix}-{}",
        environment.to_ascii_lowercase().replace('.', "-")
    )
}

/// Renders `.github/workflows/micro-frontend-ci.yml` and `micro-frontend-cd.yml` for an MFE
/// repository. Both are [`Policy::Managed`]. The same options always give the same bytes.
pub fn render_mfe_workflows(options: &MfeOptions) -> Result<Vec<RenderedFile>> {
    options.validate()?;
    let mut environments = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, name) in options.environments.iter().enumerate() {
        let job = job_id("deploy", name);
        if seen.contains(&job) {
            return Err(Error::invalid(
                "environments",
                format!("`{name}` gives the same job id as an earlier environment ({job})"),
            ));
        }
        let needs = if i == 0 {
            Value::from(false)
        } else {
            Value::from(seen[i - 1].clone())
        };
        seen.push(job.clone());
        environments.push(minijinja::context! {
            name => name.clone(),
            job => job,
            needs => needs,
        });
    }
    let lower = options.artifact_url.to_ascii_lowercase();
    let ctx = minijinja::context! {
        mfe => options.mfe.clone(),
        gitops_repo => options.gitops_repo.clone(),
        artifact_url => options.artifact_url.clone(),
        pm => options.package_manager.as_str(),
        install_command => options.package_manager.install_command(),
        test_command => options.test_command(),
        build_command => options.build_command(),
        node_version => options.node_version.clone(),
        dist_dir => options.dist_dir.clone(),
        environments => environments,
        cache_keys => options.cache_invalidation_keys.clone(),
        default_branch => options.default_branch.clone(),
        tool_version => options.tool_version.clone(),
        setup => options.action.uses(&options.tool_version),
        s3 => lower.starts_with("s3://"),
        https => lower.starts_with("https://") || lower.starts_with("http://"),
        app => options.app,
        rerender => options.render_command(),
        uses => uses(),
    };
    let env = environment()?;
    ["micro-frontend-ci.yml", "micro-frontend-cd.yml"]
        .into_iter()
        .map(|name| {
            let body = render(&env, name, &ctx)?;
            Ok(managed(
                MFE_GENERATOR,
                format!(".github/workflows/{name}"),
                &body,
            ))
        })
        .collect()
}

/// Renders a GitOps repository: `gitops.yaml` (the environments on the embedded backends,
/// with commented S3/DynamoDB/CloudFront examples), `mfes/.gitkeep`, `deployments/.gitkeep`,
/// `.gitignore` and `README.md` ([`Policy::Seed`]), and the workflows `gitops-process.yml`,
/// `gitops-checks.yml`, `gitops-deploy.yml`, `gitops-drift.yml`, `gitops-metrics.yml`,
/// `gitops-prune.yml` and `gitops-operate.yml` ([`Policy::Managed`]).
pub fn render_gitops_scaffold(options: &GitopsOptions) -> Result<Vec<RenderedFile>> {
    options.validate()?;
    let last = options.environments.len() - 1;
    let environments: Vec<Value> = options
        .environments
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let embedded = |what: &str| format!("local/{name}/{what}");
            let aws = options.aws.as_ref().map(|aws| &aws.environments[i]);
            minijinja::context! {
                name => name.clone(),
                requires => if i == 0 { Value::from(false) } else { Value::from(options.environments[i - 1].clone()) },
                approval => i == last && last > 0,
                storage => aws.map_or_else(|| embedded("storage"), |a| a.storage.clone()),
                registry => aws.map_or_else(|| embedded("registry.db"), |a| a.registry.clone()),
                cdn => aws.map_or_else(|| embedded("cdn.log"), |a| a.cdn.clone()),
                public_url => aws.map_or_else(|| format!("http://localhost:8080/{name}"), |a| a.public_url.clone()),
            }
        })
        .collect();
    let env = environment()?;
    // The last step of the jobs that act for a requester, per where the request is read from:
    // the event's payload (process), the desired state of the matrix pair (deploy) or of the
    // pull request's branch (merge).
    let mut report = BTreeMap::new();
    for source in ["event", "file", "branch"] {
        let script = render(
            &env,
            "report-failure.sh",
            &minijinja::context! { source => source },
        )?;
        report.insert(source, script.trim_end().to_owned());
    }
    let ctx = minijinja::context! {
        report => report,
        environments => environments,
        aws => options.aws.is_some(),
        default_branch => options.default_branch.clone(),
        drift_cron => options.drift_cron.clone(),
        metrics_cron => options.metrics_cron.clone(),
        prune_cron => options.prune_cron.clone(),
        tool_version => options.tool_version.clone(),
        setup => options.action.uses(&options.tool_version),
        version => VERSION,
        uses => uses(),
    };
    let seed = |path: &str, contents: String| RenderedFile {
        path: path.to_owned(),
        contents,
        policy: Policy::Seed,
    };
    let config = render(&env, "gitops.yaml", &ctx)?;
    let mut files = vec![
        // From Terraform's outputs it is generated, so a later run that would change it stops
        // at a hand edit (without --force) instead of keeping a stale one silently.
        if options.aws.is_some() {
            managed(GITOPS_GENERATOR, "gitops.yaml".to_owned(), &config)
        } else {
            seed("gitops.yaml", config)
        },
        seed("mfes/.gitkeep", String::new()),
        seed("deployments/.gitkeep", String::new()),
        seed(".gitignore", render(&env, "gitignore", &ctx)?),
        seed("README.md", render(&env, "README.md", &ctx)?),
    ];
    for name in [
        "gitops-process.yml",
        "gitops-checks.yml",
        "gitops-deploy.yml",
        "gitops-drift.yml",
        "gitops-metrics.yml",
        "gitops-prune.yml",
        "gitops-operate.yml",
    ] {
        let body = render(&env, name, &ctx)?;
        files.push(managed(
            GITOPS_GENERATOR,
            format!(".github/workflows/{name}"),
            &body,
        ));
    }
    Ok(files)
}
