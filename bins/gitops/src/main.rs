//! `gitops`: the command the GitOps repository's workflows run. Thin: parse arguments, call the
//! libraries, map the outcome to an exit code.
//!
//! Exit codes: 0 done, 1 refused or failed check, 2 usage or configuration error, 3 an outside
//! service failed and a retry may help.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gitops_iac_config::{Decision, Outcome, Repository, evaluate};
use gitops_pipeline::{DeployOptions, DeployReport, PairOutcome, StatusRow};
use gitops_runtime::Runtime;
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
    /// Reconcile every desired (environment, MFE) with what is live: upload, commit, publish,
    /// invalidate. Pairs already live are skipped without touching the CDN.
    Deploy {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only this MFE.
        #[arg(long)]
        mfe: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show the environment x MFE matrix: live version, when, and whether desired differs.
    Status {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Create what the configured targets need and is missing (storage, registry); check that
    /// CloudFront distributions exist. Idempotent.
    Bootstrap {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|e| format!("`{value}` is not an RFC 3339 time: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Deploy {
            repo,
            env,
            mfe,
            format,
        } => with_runtime(deploy(&repo, env, mfe, format)),
        Command::Status { repo, env, format } => {
            with_runtime(status(&repo, env.as_deref(), format))
        }
        Command::Bootstrap { repo } => with_runtime(bootstrap(&repo)),
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

fn with_runtime(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(3)
        }
    }
}

/// Exit code for a pipeline error: configuration (2), a retryable outside failure (3), or a
/// refusal (1).
fn pipeline_exit(error: &gitops_pipeline::Error) -> ExitCode {
    eprintln!("error: {error}");
    match error {
        gitops_pipeline::Error::Config { .. } => ExitCode::from(2),
        e if e.is_retryable() => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

async fn deploy(repo: &Path, env: Option<String>, mfe: Option<String>, format: Format) -> ExitCode {
    let Ok(repository) = load(repo) else {
        return ExitCode::from(2);
    };
    let options = DeployOptions {
        environment: env,
        mfe,
        ..DeployOptions::default()
    };
    let report = match gitops_pipeline::deploy_all(&repository, &Runtime::new(repo), &options).await
    {
        Ok(report) => report,
        Err(e) => return pipeline_exit(&e),
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string(&report).unwrap_or_default()),
        Format::Table => print_deploy(&report),
    }
    write_step_summary(&deploy_markdown(&report));
    if !report.failed() {
        ExitCode::SUCCESS
    } else if report.all_failures_retryable() {
        ExitCode::from(3)
    } else {
        ExitCode::from(1)
    }
}

fn outcome_text(outcome: &PairOutcome) -> String {
    match outcome {
        PairOutcome::Deployed => "deployed".to_owned(),
        PairOutcome::Resumed => "deployed (resumed)".to_owned(),
        PairOutcome::AlreadyLive => "already live".to_owned(),
        PairOutcome::Superseded { live_sequence } => {
            format!("superseded (sequence {live_sequence} is live)")
        }
        PairOutcome::Failed { error, .. } => format!("FAILED: {error}"),
    }
}

fn print_deploy(report: &DeployReport) {
    if report.pairs.is_empty() {
        println!("nothing to deploy: no desired state matches");
    }
    for pair in &report.pairs {
        let line = format!(
            "{}/{} {}: {} ({} files, {} invalidated, {} ms)",
            pair.environment,
            pair.mfe,
            pair.version,
            outcome_text(&pair.outcome),
            pair.files_uploaded,
            pair.invalidated.len(),
            pair.duration_ms
        );
        if matches!(pair.outcome, PairOutcome::Failed { .. }) {
            eprintln!("error: {line}");
            if std::env::var_os("GITHUB_ACTIONS").is_some() {
                println!(
                    "::error title=deploy {}/{} failed::{}",
                    pair.environment,
                    pair.mfe,
                    outcome_text(&pair.outcome)
                );
            }
        } else {
            println!("{line}");
        }
    }
}

fn deploy_markdown(report: &DeployReport) -> String {
    use std::fmt::Write as _;
    let mut md = String::from(
        "### Deploy\n\n| environment | MFE | version | outcome | files | invalidated |\n|---|---|---|---|---|---|\n",
    );
    for p in &report.pairs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            p.environment,
            p.mfe,
            p.version,
            outcome_text(&p.outcome).replace('|', "\\|"),
            p.files_uploaded,
            p.invalidated.join("<br>")
        );
    }
    md
}

/// Appends Markdown to the GitHub Actions job summary when running there.
fn write_step_summary(markdown: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    if let Err(e) = written {
        eprintln!("warning: cannot write the job summary: {e}");
    }
}

async fn status(repo: &Path, env: Option<&str>, format: Format) -> ExitCode {
    let Ok(repository) = load(repo) else {
        return ExitCode::from(2);
    };
    if let Some(env) = env
        && repository.environment(env).is_none()
    {
        eprintln!("error: environment `{env}` is not declared in gitops.yaml");
        return ExitCode::from(2);
    }
    let rows = match gitops_pipeline::status(&repository, &Runtime::new(repo), env).await {
        Ok(rows) => rows,
        Err(e) => return pipeline_exit(&e),
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string(&rows).unwrap_or_default()),
        Format::Table => print_status(&rows),
    }
    ExitCode::SUCCESS
}

fn print_status(rows: &[StatusRow]) {
    let dash = || "-".to_owned();
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.environment.clone(),
                r.mfe.clone(),
                r.version.clone().unwrap_or_else(dash),
                r.deployed_at.clone().unwrap_or_else(dash),
                match (&r.desired, r.differs) {
                    (_, false) => "in sync".to_owned(),
                    (Some(d), true) => format!("desired {d}"),
                    (None, true) => "not desired".to_owned(),
                },
            ]
        })
        .collect();
    let header = ["ENVIRONMENT", "MFE", "LIVE", "DEPLOYED AT", "STATE"];
    let mut widths = header.map(str::len);
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 5]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header);
    for row in &table {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}

async fn bootstrap(repo: &Path) -> ExitCode {
    let Ok(repository) = load(repo) else {
        return ExitCode::from(2);
    };
    let runtime = Runtime::new(repo);
    for env in &repository.config.environments {
        match runtime.bootstrap(env).await {
            Ok(lines) => {
                for line in lines {
                    println!("{}: {line}", env.name);
                }
            }
            Err(e) => return pipeline_exit(&e),
        }
    }
    ExitCode::SUCCESS
}
