//! `mfe render`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use gitops_render::{MfeOptions, PackageManager};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pm {
    Npm,
    Pnpm,
    Yarn,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The MFE repository's root.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// MFE name, as registered in the GitOps repository.
    #[arg(long)]
    mfe: String,
    /// The GitOps repository, owner/name.
    #[arg(long)]
    gitops_repo: String,
    /// Where CI publishes the artifact (local path, s3://, https://), with {version} and
    /// optionally {name}; must end in .tgz or .tar.gz.
    #[arg(long)]
    artifact_url: String,
    /// Package manager.
    #[arg(long, value_enum, default_value_t = Pm::Npm)]
    package_manager: Pm,
    /// Node.js version.
    #[arg(long, default_value = "20")]
    node_version: String,
    /// Test command (default: `<package manager> test`).
    #[arg(long)]
    test_command: Option<String>,
    /// Build command (default: `<package manager> run build`).
    #[arg(long)]
    build_command: Option<String>,
    /// Build output directory.
    #[arg(long = "dist", default_value = "dist")]
    dist_dir: String,
    /// Target environment, in promotion order (repeat; default dev, staging, prod).
    #[arg(long = "environment")]
    environments: Vec<String>,
    /// CDN path sent with every deploy request (repeat).
    #[arg(long = "cache-invalidation-key")]
    cache_invalidation_keys: Vec<String>,
    /// The default branch (CI publishes its pushes).
    #[arg(long, default_value = "main")]
    default_branch: String,
    /// Only compare: exit 1 when a file differs from what would be rendered.
    #[arg(long)]
    check: bool,
    /// Overwrite files edited since they were rendered.
    #[arg(long)]
    force: bool,
}

impl RenderArgs {
    fn options(&self) -> MfeOptions {
        let mut o = MfeOptions::new(&self.mfe, &self.gitops_repo, &self.artifact_url);
        o.package_manager = match self.package_manager {
            Pm::Npm => PackageManager::Npm,
            Pm::Pnpm => PackageManager::Pnpm,
            Pm::Yarn => PackageManager::Yarn,
        };
        o.node_version.clone_from(&self.node_version);
        o.test_command.clone_from(&self.test_command);
        o.build_command.clone_from(&self.build_command);
        o.dist_dir.clone_from(&self.dist_dir);
        if !self.environments.is_empty() {
            o.environments.clone_from(&self.environments);
        }
        o.cache_invalidation_keys
            .clone_from(&self.cache_invalidation_keys);
        o.default_branch.clone_from(&self.default_branch);
        o
    }
}

pub fn run(args: &RenderArgs) -> ExitCode {
    let written = gitops_render::render_mfe_workflows(&args.options())
        .and_then(|files| gitops_render::write_files(&args.dir, &files, args.check, args.force));
    match written {
        Ok(outcome) => {
            print!("{}", outcome.report(args.check));
            ExitCode::from(u8::from(outcome.failed(args.check)))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
