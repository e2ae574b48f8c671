//! `gitops`: the command the GitOps repository's workflows run. Thin: parse arguments, call the
//! libraries, map the outcome to an exit code.
//!
//! Exit codes: 0 done, 1 refused or failed check, 2 usage or configuration error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gitops_iac_config::{Decision, Outcome, Repository, evaluate};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Parser)]
#[command(
    name = "gitops",
    version,
    about = "Run the GitOps repository of micro-frontend deployments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate every file of the GitOps repository (gitops.yaml, mfes/, deployments/).
    Check {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Evaluate a deploy request against the repository's policy.
    ///
    /// With --dry-run, prints the decision as one JSON object and writes nothing.
    Process {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// A bare client_payload or a repository_dispatch event; default $GITHUB_EVENT_PATH.
        #[arg(long, env = "GITHUB_EVENT_PATH")]
        event: Option<PathBuf>,
        /// Evaluate as of this RFC 3339 time instead of now (freeze windows).
        #[arg(long, value_parser = parse_time)]
        at: Option<OffsetDateTime>,
        /// Print the decision and the changes without writing or proposing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|e| format!("`{value}` is not an RFC 3339 time: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { repo } => check(&repo),
        Command::Process {
            repo,
            event,
            at,
            dry_run,
        } => {
            if !dry_run {
                eprintln!(
                    "error: `gitops process` can only evaluate (--dry-run) in this version; proposing pull requests is not available yet"
                );
                return ExitCode::from(2);
            }
            process_dry_run(
                &repo,
                event.as_deref(),
                at.unwrap_or_else(OffsetDateTime::now_utc),
            )
        }
    }
}

fn load(repo: &Path) -> Result<Repository, ExitCode> {
    if !repo.is_dir() {
        eprintln!("error: {} is not a directory", repo.display());
        return Err(ExitCode::from(2));
    }
    Repository::load_dir(repo).map_err(|problems| {
        for problem in &problems {
            eprintln!("error: {problem}");
        }
        eprintln!("{} problem(s) in {}", problems.len(), repo.display());
        ExitCode::from(1)
    })
}

fn check(repo: &Path) -> ExitCode {
    match load(repo) {
        Ok(repository) => {
            println!(
                "ok: {} environment(s), {} MFE(s), {} deployment(s)",
                repository.config.environments.len(),
                repository.mfes.len(),
                repository.deployments.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn process_dry_run(repo: &Path, event: Option<&Path>, at: OffsetDateTime) -> ExitCode {
    let Some(event) = event else {
        eprintln!("error: no event: give --event FILE or set GITHUB_EVENT_PATH");
        return ExitCode::from(2);
    };
    let bytes = match read_limited(event) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", event.display());
            return ExitCode::from(2);
        }
    };
    // A broken repository is a configuration error (2), not a refusal of the request.
    let Ok(repository) = load(repo) else {
        return ExitCode::from(2);
    };
    let decision = match gitops_event_model::validate_bytes(&bytes) {
        Ok(validated) => evaluate(&repository, &validated.request, false, at),
        Err(error) => Decision::invalid_payload(error.problems()),
    };
    println!("{}", serde_json::to_string(&decision).unwrap_or_default());
    if decision.decision == Outcome::Reject {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let limit = u64::try_from(gitops_event_model::MAX_INPUT_BYTES).unwrap_or(u64::MAX) + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
