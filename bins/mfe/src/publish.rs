//! `mfe publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gitops_artifact_store::{Error, Origin, StoreOpener, WriteOutcome};
use gitops_event_model::{MfeName, Version};

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
    // A name or version that breaks its rule is a refusal (1), like a different artifact.
    let mfe = MfeName::parse(&args.mfe).map_err(|e| (1, format!("--mfe: {}", e.message)))?;
    let version =
        Version::parse(&args.version).map_err(|e| (1, format!("--version: {}", e.message)))?;
    let location =
        gitops_artifact_store::expand_template(&args.to, &mfe, &version).map_err(classify)?;
    let lower = location.to_ascii_lowercase();
    if !(lower.ends_with(".tgz") || lower.ends_with(".tar.gz")) {
        return Err((
            2,
            format!("`{location}` must end in .tgz or .tar.gz (the artifact is a gzip tar)"),
        ));
    }
    if !args.dist.is_dir() {
        return Err((2, format!("{} is not a directory", args.dist.display())));
    }
    let base = std::env::current_dir().map_err(|e| (2, format!("current directory: {e}")))?;
    let object = StoreOpener::from_env(base)
        .and_then(|opener| opener.open_object(&location))
        .map_err(classify)?;
    let origin = Origin::from_flags(
        &mfe,
        &version,
        args.sha.as_deref(),
        args.repository.as_deref(),
        args.git_ref.as_deref(),
    )
    .map_err(classify)?;
    let report = gitops_artifact_store::publish_dir_with(&object, &args.dist, origin.as_ref())
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

/// A different artifact (or provenance) under the same version is a refusal (1); everything
/// else (IO, store, credentials) exits 2.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(classify)`
fn classify(e: Error) -> (u8, String) {
    let code = if matches!(e, Error::ImmutableConflict { .. }) {
        1
    } else {
        2
    };
    (code, e.to_string())
}
