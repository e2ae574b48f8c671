//! `mfe render` and `mfe upgrade`.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use gitops_render::{ActionRef, MfeOptions, Outcome, PackageManager, upgrade_mfe_workflows};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// MFE name, as registered in the GitOps repository.
    #[arg(long)]
    mfe: String,
    /// The GitOps repository, owner/name.
    #[arg(long)]
    gitops_repo: String,
    /// Where CI publishes the artifact (path, s3://, https://) with {version}; .tgz/.tar.gz.
    #[arg(long)]
    artifact_url: String,
    /// Package manager: npm, pnpm or yarn.
    #[arg(long, default_value = "npm")]
    package_manager: PackageManager,
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
    /// Target environment, in promotion order (repeat).
    #[arg(long = "environment", default_values = ["dev", "staging", "prod"])]
    environments: Vec<String>,
    /// CDN path sent with every deploy request (repeat).
    #[arg(long = "cache-invalidation-key")]
    cache_invalidation_keys: Vec<String>,
    /// The default branch (CI publishes its pushes).
    #[arg(long, default_value = "main")]
    default_branch: String,
    /// App mode: CD only creates the deployment the GitOps App acts on; no dispatch token.
    #[arg(long)]
    app: bool,
    #[command(flatten)]
    write: WriteArgs,
}

/// Where and how `render` and `upgrade` write.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The MFE repository's root.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The setup action installing mfe (default: $MFE_GITOPS_ACTION, else built in).
    #[arg(long, value_name = "OWNER/REPO@SHA")]
    action: Option<String>,
    /// Only compare: exit 1 when a file differs from what would be rendered.
    #[arg(long)]
    check: bool,
    /// Overwrite files edited since they were rendered.
    #[arg(long)]
    force: bool,
}

pub fn run(args: RenderArgs) -> ExitCode {
    let w = args.write;
    let options = |action| MfeOptions {
        package_manager: args.package_manager,
        node_version: args.node_version,
        test_command: args.test_command,
        build_command: args.build_command,
        dist_dir: args.dist_dir,
        environments: args.environments,
        cache_invalidation_keys: args.cache_invalidation_keys,
        default_branch: args.default_branch,
        app: args.app,
        ..MfeOptions::new(args.mfe, args.gitops_repo, args.artifact_url, action)
    };
    let written = ActionRef::resolve(w.action.as_deref())
        .and_then(|(action, _)| gitops_render::render_mfe_workflows(&options(action)))
        .and_then(|files| gitops_render::write_files(&w.dir, &files, w.check, w.force));
    finish(written, w.check, Outcome::report)
}

pub fn upgrade(w: &WriteArgs) -> ExitCode {
    let written = ActionRef::resolve(w.action.as_deref())
        .and_then(|(action, _)| upgrade_mfe_workflows(&w.dir, &action, w.check, w.force));
    finish(written, w.check, Outcome::upgrade_report)
}

type Report = fn(&Outcome, bool) -> String;

fn finish(outcome: gitops_render::Result<Outcome>, check: bool, report: Report) -> ExitCode {
    match outcome {
        Ok(outcome) => {
            print!("{}", report(&outcome, check));
            ExitCode::from(u8::from(outcome.failed(check)))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
