//! What differs between renders, and the rules every value obeys before it reaches a template.

use crate::{ActionRef, Error, Result};

/// The MFE's package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackageManager {
    /// `npm ci`.
    #[default]
    Npm,
    /// `pnpm install --frozen-lockfile` (pnpm/action-setup reads `packageManager` from
    /// `package.json`).
    Pnpm,
    /// `yarn install --frozen-lockfile` (after `corepack enable`).
    Yarn,
}

impl PackageManager {
    /// `npm`, `pnpm` or `yarn`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm",
            PackageManager::Pnpm => "pnpm",
            PackageManager::Yarn => "yarn",
        }
    }

    /// The lockfile-respecting install command.
    pub fn install_command(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm ci",
            PackageManager::Pnpm => "pnpm install --frozen-lockfile",
            PackageManager::Yarn => "yarn install --frozen-lockfile",
        }
    }
}

impl std::str::FromStr for PackageManager {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "npm" => Ok(PackageManager::Npm),
            "pnpm" => Ok(PackageManager::Pnpm),
            "yarn" => Ok(PackageManager::Yarn),
            other => Err(Error::invalid(
                "package manager",
                format!("`{other}`: use npm, pnpm or yarn"),
            )),
        }
    }
}

/// Options of [`crate::render_mfe_workflows`]. Build with [`MfeOptions::new`] and adjust the
/// public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfeOptions {
    /// MFE name (`^[a-z][a-z0-9-]{0,62}$`).
    pub mfe: String,
    /// The GitOps repository, `owner/name`.
    pub gitops_repo: String,
    /// Where CI publishes the artifact: a local path, `s3://bucket/key` or `https://...`, with
    /// `{version}` (required) and optionally `{name}`. An `s3://` URL makes the publish job use
    /// OIDC (`id-token: write`, role in the `MFE_PUBLISH_ROLE_ARN` variable) and the CD jobs
    /// read the provenance with the read-only role in `MFE_ARTIFACT_READ_ROLE_ARN`; an
    /// `https://` URL passes the `ARTIFACTORY_TOKEN` secret.
    pub artifact_url: String,
    /// Package manager.
    pub package_manager: PackageManager,
    /// Node.js version for actions/setup-node (`20`, `20.11`, `lts/*`).
    pub node_version: String,
    /// Test command; default `<pm> test`.
    pub test_command: Option<String>,
    /// Build command; default `<pm> run build`.
    pub build_command: Option<String>,
    /// Build output directory, relative to the repository root.
    pub dist_dir: String,
    /// Target environments, in promotion order; one CD job (and GitHub environment) each.
    pub environments: Vec<String>,
    /// CDN paths sent with every deploy request (`--cache-invalidation-key`).
    pub cache_invalidation_keys: Vec<String>,
    /// The default branch: CI publishes pushes to it (and `v*` tags).
    pub default_branch: String,
    /// App mode (`gitops serve`, a GitHub App on the GitOps side): the CD jobs only create the
    /// deployment on their commit (`mfe dispatch --app`), which is the request itself; no
    /// dispatch token. Default `false`: the Actions mode (`repository_dispatch` with the
    /// `GITOPS_DISPATCH_TOKEN` secret).
    pub app: bool,
    /// The setup action the workflows install `mfe` through.
    pub action: ActionRef,
    /// The `mfe` version the setup action installs (default: this crate's version, so the
    /// workflows run the binary they were rendered for).
    pub tool_version: String,
}

impl MfeOptions {
    /// Defaults: npm, Node 20, `dist`, environments dev, staging, prod, branch `main`, the
    /// Actions mode (not App mode), this crate's version of the tools.
    pub fn new(
        mfe: impl Into<String>,
        gitops_repo: impl Into<String>,
        artifact_url: impl Into<String>,
        action: ActionRef,
    ) -> Self {
        MfeOptions {
            mfe: mfe.into(),
            gitops_repo: gitops_repo.into(),
            artifact_url: artifact_url.into(),
            package_manager: PackageManager::Npm,
            node_version: "20".to_owned(),
            test_command: None,
            build_command: None,
            dist_dir: "dist".to_owned(),
            environments: default_environments(),
            cache_invalidation_keys: Vec::new(),
            default_branch: "main".to_owned(),
            app: false,
            action,
            tool_version: crate::VERSION.to_owned(),
        }
    }

    /// The test command to run.
    pub fn test_command(&self) -> String {
        self.test_command
            .clone()
            .unwrap_or_else(|| format!("{} test", self.package_manager.as_str()))
    }

    /// The build command to run.
    pub fn build_command(&self) -> String {
        self.build_command
            .clone()
            .unwrap_or_else(|| format!("{} run build", self.package_manager.as_str()))
    }

    /// Checks every option; every template input passes through here.
    pub fn validate(&self) -> Result<()> {
        check_mfe_name(&self.mfe)?;
        check_repo(&self.gitops_repo)?;
        check_artifact_url(&self.artifact_url)?;
        check_node_version(&self.node_version)?;
        check_command("test command", &self.test_command())?;
        check_command("build command", &self.build_command())?;
        check_relative_dir("dist directory", &self.dist_dir)?;
        check_environments(&self.environments)?;
        for key in &self.cache_invalidation_keys {
            check_cdn_path(key)?;
        }
        check_branch(&self.default_branch)?;
        check_tool_version(&self.tool_version)?;
        Ok(())
    }
}

/// Options of [`crate::render_gitops_scaffold`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitopsOptions {
    /// Environments in promotion order: each requires the one before; the last one requires a
    /// human approval (when there are several).
    pub environments: Vec<String>,
    /// The branch deploys run from.
    pub default_branch: String,
    /// Cron schedule of the drift check (five fields).
    pub drift_cron: String,
    /// Cron schedule of the weekly metrics workflow (five fields): the job summary with the
    /// week's figures and each environment's board.
    pub metrics_cron: String,
    /// Cron schedule of the weekly retention workflow (five fields): `gitops prune` in each
    /// environment with its deploy role.
    pub prune_cron: String,
    /// The setup action the workflows install `gitops` through.
    pub action: ActionRef,
    /// The `gitops` version the setup action installs (default: this crate's version).
    pub tool_version: String,
    /// The AWS targets of each environment (`gitops init --from-terraform`); `None`: the
    /// embedded backends. When set, its environments are [`GitopsOptions::environments`].
    pub aws: Option<crate::TerraformTargets>,
}

impl GitopsOptions {
    /// Defaults: environments dev, staging, prod, branch `main`, a daily drift check, weekly
    /// metrics (Mondays), a weekly prune (Sundays, when deploys are fewest), this crate's
    /// version of the tools, installed through `action`.
    pub fn new(action: ActionRef) -> Self {
        GitopsOptions {
            environments: default_environments(),
            default_branch: "main".to_owned(),
            drift_cron: "17 5 * * *".to_owned(),
            metrics_cron: "23 6 * * 1".to_owned(),
            prune_cron: "41 3 * * 0".to_owned(),
            action,
            tool_version: crate::VERSION.to_owned(),
            aws: None,
        }
    }

    /// Checks every option.
    pub fn validate(&self) -> Result<()> {
        check_environments(&self.environments)?;
        if let Some(aws) = &self.aws
            && aws.environment_names() != self.environments
        {
            return Err(Error::invalid(
                "environments",
                "they differ from the Terraform output's environments",
            ));
        }
        check_branch(&self.default_branch)?;
        check_cron("drift schedule", &self.drift_cron)?;
        check_cron("metrics schedule", &self.metrics_cron)?;
        check_cron("prune schedule", &self.prune_cron)?;
        check_tool_version(&self.tool_version)?;
        Ok(())
    }
}

fn default_environments() -> Vec<String> {
    ["dev", "staging", "prod"].map(str::to_owned).to_vec()
}

fn no_expression(field: &'static str, value: &str) -> Result<()> {
    if value.contains("${{") || value.contains("}}") {
        return Err(Error::invalid(
            field,
            format!("`{value}` contains a GitHub expression delimiter (`${{{{` or `}}}}`)"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "contains a control character (line breaks included)",
        ));
    }
    Ok(())
}

/// The names are the event model's: one rule each, parsed, never copied here.
fn check_mfe_name(name: &str) -> Result<()> {
    gitops_event_model::MfeName::parse(name)
        .map(drop)
        .map_err(|e| Error::invalid("mfe", e.message))
}

fn check_repo(repo: &str) -> Result<()> {
    gitops_event_model::RepositoryName::parse(repo)
        .map(drop)
        .map_err(|e| Error::invalid("gitops repository", e.message))
}

fn check_artifact_url(url: &str) -> Result<()> {
    no_expression("artifact URL", url)?;
    if url.is_empty() || url.len() > 1024 {
        return Err(Error::invalid("artifact URL", "1 to 1,024 characters"));
    }
    if !url.contains("{version}") {
        return Err(Error::invalid(
            "artifact URL",
            format!("`{url}` must contain {{version}}"),
        ));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || "'\"`\\$".contains(c))
    {
        return Err(Error::invalid(
            "artifact URL",
            format!("`{url}` contains whitespace, a quote, a backslash or `$`"),
        ));
    }
    if let Some((scheme, _)) = url.split_once("://")
        && !["s3", "https", "http", "file"].contains(&scheme)
    {
        return Err(Error::invalid(
            "artifact URL",
            format!("scheme `{scheme}`: use a local path, s3://, http(s)://"),
        ));
    }
    let template = url.replace("{version}", "").replace("{name}", "");
    if template.contains('{') || template.contains('}') {
        return Err(Error::invalid(
            "artifact URL",
            format!("`{url}`: only {{name}} and {{version}} placeholders"),
        ));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.ends_with(".tgz") || lower.ends_with(".tar.gz")) {
        return Err(Error::invalid(
            "artifact URL",
            format!("`{url}` must end in .tgz or .tar.gz (`mfe publish` packs a gzip tar)"),
        ));
    }
    Ok(())
}

fn check_node_version(v: &str) -> Result<()> {
    let ok = v == "lts/*"
        || (!v.is_empty()
            && v.len() <= 20
            && v.split('.')
                .all(|p| p == "x" || (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "node version",
            format!("`{v}`: use digits and dots (`20`, `20.11.1`) or `lts/*`"),
        ))
    }
}

fn check_command(field: &'static str, command: &str) -> Result<()> {
    no_expression(field, command)?;
    if command.trim().is_empty() || command.len() > 1000 {
        return Err(Error::invalid(field, "1 to 1,000 characters on one line"));
    }
    if command.starts_with(|c: char| c.is_whitespace()) || command.ends_with(char::is_whitespace) {
        return Err(Error::invalid(field, "leading or trailing whitespace"));
    }
    Ok(())
}

fn check_relative_dir(field: &'static str, dir: &str) -> Result<()> {
    let ok = !dir.is_empty()
        && dir.len() <= 255
        && !dir.starts_with('/')
        && dir.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("`{dir}`: a relative path of [A-Za-z0-9._-] segments, no `.`/`..`"),
        ))
    }
}

fn check_environment(name: &str) -> Result<()> {
    gitops_event_model::EnvironmentName::parse(name)
        .map(drop)
        .map_err(|e| Error::invalid("environment", e.message))
}

pub(crate) fn check_environments(envs: &[String]) -> Result<()> {
    if envs.is_empty() {
        return Err(Error::invalid("environments", "at least one"));
    }
    for (i, e) in envs.iter().enumerate() {
        check_environment(e)?;
        if envs[..i].iter().any(|o| o.eq_ignore_ascii_case(e)) {
            return Err(Error::invalid("environments", format!("`{e}` is repeated")));
        }
    }
    Ok(())
}

fn check_cdn_path(path: &str) -> Result<()> {
    no_expression("cache invalidation key", path)?;
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-~*%".contains(&b))
        && path.split('/').all(|seg| seg != "." && seg != "..")
        && path.find('*').is_none_or(|i| i == path.len() - 1);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "cache invalidation key",
            format!("`{path}`: an absolute CDN path, no `.`/`..`, `*` only last"),
        ))
    }
}

fn check_branch(branch: &str) -> Result<()> {
    let ok = !branch.is_empty()
        && branch.len() <= 200
        && !branch.starts_with(['/', '-', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.contains("..")
        && !branch.contains("//")
        && branch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "default branch",
            format!("`{branch}` is not a plain branch name"),
        ))
    }
}

fn check_cron(field: &'static str, cron: &str) -> Result<()> {
    let fields: Vec<&str> = cron.split(' ').collect();
    let ok = fields.len() == 5
        && fields.iter().all(|f| {
            !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"*/,-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("`{cron}` is not five cron fields separated by single spaces"),
        ))
    }
}

fn check_tool_version(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "tool version",
            format!("`{v}` is not a version"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> ActionRef {
        ActionRef::parse("mfe-gitops/mfe-gitops@1111111111111111111111111111111111111111").unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        MfeOptions::new(
            "checkout",
            "acme/gitops",
            "s3://b/{name}-{version}.tgz",
            pin(),
        )
        .validate()
        .unwrap();
        GitopsOptions::new(pin()).validate().unwrap();
    }

    #[test]
    fn injection_attempts_are_refused() {
        let base = MfeOptions::new("checkout", "acme/gitops", "s3://b/{version}.tgz", pin());
        let mut o = base.clone();
        o.build_command = Some("npm run build ${{ github.event.issue.title }}".into());
        assert!(o.validate().is_err());
        let mut o = base.clone();
        o.build_command = Some("npm run build\n  evil: true".into());
        assert!(o.validate().is_err());
        let mut o = base.clone();
        o.artifact_url = "s3://b/{version}.tgz\"\nx: y".into();
        assert!(o.validate().is_err());
        let mut o = base.clone();
        o.environments = vec!["prod: x".into()];
        assert!(o.validate().is_err());
        let mut o = base.clone();
        o.node_version = "20\"; rm".into();
        assert!(o.validate().is_err());
        let mut o = base.clone();
        o.dist_dir = "../etc".into();
        assert!(o.validate().is_err());
        let mut o = base;
        o.cache_invalidation_keys = vec!["/mfe/x/../y".into()];
        assert!(o.validate().is_err());
        let g = GitopsOptions {
            drift_cron: "* * * * *\nx".into(),
            ..GitopsOptions::new(pin())
        };
        assert!(g.validate().is_err());
        let g = GitopsOptions {
            metrics_cron: "23 6 * * 1\"\nx: y".into(),
            ..GitopsOptions::new(pin())
        };
        let err = g.validate().unwrap_err().to_string();
        assert!(err.contains("metrics schedule"), "{err}");
        let g = GitopsOptions {
            prune_cron: "41 3 * * 0 ${{ github.event.x }}".into(),
            ..GitopsOptions::new(pin())
        };
        let err = g.validate().unwrap_err().to_string();
        assert!(err.contains("prune schedule"), "{err}");
    }

    #[test]
    fn artifact_url_rules() {
        for ok in [
            "s3://bucket/mfe/{name}/{name}-{version}.tgz",
            "https://artifactory.example.com/generic/{name}-{version}.tgz",
            "local/artifacts/{name}-{version}.tar.gz",
        ] {
            check_artifact_url(ok).unwrap();
        }
        for bad in [
            "s3://bucket/x.tgz",
            "gs://b/{version}.tgz",
            "s3://b/{version}.txt",
            "s3://b/{version}.zip",
            "s3://b/{other}/{version}.tgz",
            "s3://b/$HOME/{version}.tgz",
        ] {
            assert!(check_artifact_url(bad).is_err(), "{bad}");
        }
    }
}
