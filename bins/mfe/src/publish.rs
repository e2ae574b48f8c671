//! `mfe publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gitops_artifact_store::{Error, PublishAsk, WriteOutcome};

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The build output directory to pack.
    #[arg(long)]
    dist: PathBuf,
    /// MFE name.
    #[arg(long)]
    mfe: String,
    /// SemVer version.
    #[arg(long)]
    version: String,
    /// Where to put the artifact: a local path, s3://bucket/key or http(s)://...; `{name}` and
    /// `{version}` are substituted. Must end in .tgz or .tar.gz.
    #[arg(long)]
    to: String,
    /// The commit that built it (default GITHUB_SHA): recorded in `<artifact>.provenance.json`.
    #[arg(long, env = "GITHUB_SHA")]
    sha: Option<String>,
    /// The repository that built it, owner/name (default GITHUB_REPOSITORY).
    #[arg(long, env = "GITHUB_REPOSITORY")]
    repository: Option<String>,
    /// The git ref it was built from (default GITHUB_REF).
    #[arg(long = "ref", env = "GITHUB_REF")]
    git_ref: Option<String>,
}

pub async fn run(args: PublishArgs) -> ExitCode {
    match publish(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

async fn publish(args: &PublishArgs) -> Result<(), (u8, String)> {
    let base = std::env::current_dir().map_err(|e| (2, format!("current directory: {e}")))?;
    let ask = PublishAsk {
        dist: &args.dist,
        mfe: &args.mfe,
        version: &args.version,
        to: &args.to,
        sha: args.sha.as_deref(),
        repository: args.repository.as_deref(),
        git_ref: args.git_ref.as_deref(),
    };
    let report = gitops_artifact_store::publish_as_asked(&base, &ask)
        .await
        .map_err(classify)?;
    let how = match report.outcome {
        WriteOutcome::Written => "published",
        WriteOutcome::Identical => "already published (identical)",
    };
    println!("{how}: {}", report.artifact);
    println!("sha256: {}", report.sha256);
    println!("bytes: {}", report.bytes);
    let none = || "none (no --sha or GITHUB_SHA)".to_owned();
    println!(
        "provenance: {}",
        report.provenance.map_or_else(none, |p| p.to_string())
    );
    Ok(())
}

/// A refusal (1): a name or version that breaks its rule, or a different artifact (or
/// provenance) under the same version; everything else (IO, store, credentials) exits 2.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(classify)`
fn classify(e: Error) -> (u8, String) {
    let refused = matches!(
        e,
        Error::ImmutableConflict { .. }
            | Error::Invalid {
                field: "--mfe" | "--version",
                ..
            }
    );
    (if refused { 1 } else { 2 }, e.to_string())
}
