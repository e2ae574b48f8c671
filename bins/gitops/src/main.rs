//! `gitops`: the command the GitOps repository's workflows run. Thin: parse arguments, call the
//! libraries, map the outcome to an exit code.
//!
//! Exit codes: 0 done, 1 refused or failed check, 2 usage or configuration error, 3 an outside
//! service failed and a retry may help.

// Shadow std's printing macros for the whole crate: ours never panic on a closed pipe.
macro_rules! println {
    () => { gitops_actions::out(format_args!("")) };
    ($($arg:tt)*) => { gitops_actions::out(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { gitops_actions::err(format_args!($($arg)*)) };
}

mod demo;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gitops_actions::Level;
use gitops_iac_config::{Decision, Outcome, Repository, evaluate};
use gitops_pipeline::{DeployOptions, DeployReport, ErrorClass, PairOutcome, StatusRow, SyncState};
use gitops_runtime::{ForgeChoice, Runtime};
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
        /// The forge: GitHub when a token and GITHUB_REPOSITORY are set (auto), or the local git
        /// repository.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
        /// The `repository_dispatch` event type deploy requests are sent as; an event whose
        /// `action` differs is refused.
        #[arg(long, default_value = gitops_event_model::EVENT_TYPE)]
        event_type: String,
    },
    /// Check deploy pull requests and merge the checked head of those that pass (waiting for an
    /// approval where the environment requires one).
    Merge {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The pull request.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        pr: Option<u64>,
        /// Every open deploy pull request (branches gitops/<env>/<mfe>).
        #[arg(long)]
        all: bool,
        /// Evaluate the policy as of this RFC 3339 time instead of now.
        #[arg(long, value_parser = parse_time)]
        at: Option<OffsetDateTime>,
        /// The forge.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
    },
    /// Record an approving review of a deploy pull request on the local git forge (on GitHub,
    /// approve in the pull request).
    Approve {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The pull request.
        #[arg(long)]
        pr: u64,
        /// Who approves.
        #[arg(long)]
        user: String,
    },
    /// Roll an MFE back the GitOps way: a PR setting the previous (or named) version with
    /// `rollback: true`, then the normal merge and deploy.
    Rollback {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The environment.
        #[arg(long, visible_alias = "environment")]
        env: String,
        /// The MFE.
        #[arg(long)]
        mfe: String,
        /// The version to return to; default: the previous live version in the registry.
        #[arg(long)]
        to: Option<String>,
        /// The forge.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
    },
    /// Walk the whole flow on one machine (request, PR, checks, merge, deploy, status, a second
    /// version, rollback) on the embedded backends, narrated; leaves the files to inspect.
    Demo {
        /// Where to build the demo repository (must be new or empty); default: a new temporary
        /// directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Scaffold a GitOps repository: gitops.yaml (dev, staging, prod on the embedded backends),
    /// mfes/, deployments/, a README for operators and the GitHub Actions workflows.
    Init {
        /// Where (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Exit 1 when the files differ from what would be written; write nothing.
        #[arg(long)]
        check: bool,
        /// Overwrite generated workflows even when they were edited.
        #[arg(long)]
        force: bool,
    },
    /// Reconcile every desired (environment, MFE) with what is live: upload, commit, publish,
    /// invalidate. Pairs already live are skipped without touching the CDN.
    Deploy {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Only this environment.
        #[arg(long, visible_alias = "environment")]
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
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Compare desired (git) and live (registry): exit 1 listing every pair that differs.
    Drift {
        /// The GitOps repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Only this environment.
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
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
enum ForgeArg {
    Auto,
    Github,
    Local,
}

impl From<ForgeArg> for ForgeChoice {
    fn from(value: ForgeArg) -> Self {
        match value {
            ForgeArg::Auto => ForgeChoice::Auto,
            ForgeArg::Github => ForgeChoice::Github,
            ForgeArg::Local => ForgeChoice::Local,
        }
    }
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
        Command::Drift { repo, env } => with_runtime(drift(&repo, env.as_deref())),
        Command::Check { repo } => check(&repo),
        Command::Process {
            repo,
            event,
            at,
            dry_run,
            forge,
            event_type,
        } => {
            let at = at.unwrap_or_else(OffsetDateTime::now_utc);
            if dry_run {
                process_dry_run(&repo, event.as_deref(), &event_type, at)
            } else {
                with_runtime(process(
                    &repo,
                    event.as_deref(),
                    &event_type,
                    at,
                    forge.into(),
                ))
            }
        }
        Command::Merge {
            repo,
            pr,
            all: _,
            at,
            forge,
        } => with_runtime(merge(
            &repo,
            pr,
            at.unwrap_or_else(OffsetDateTime::now_utc),
            forge.into(),
        )),
        Command::Approve { repo, pr, user } => with_runtime(async move {
            match Runtime::new(&repo).approve_local(pr, &user).await {
                Ok(()) => {
                    println!("approved #{pr} as {user}");
                    ExitCode::SUCCESS
                }
                Err(e) => pipeline_exit(&e),
            }
        }),
        Command::Init { dir, check, force } => init(&dir, check, force),
        Command::Demo { dir } => with_runtime(demo::run(dir)),
        Command::Rollback {
            repo,
            env,
            mfe,
            to,
            forge,
        } => with_runtime(rollback(&repo, &env, &mfe, to, forge.into())),
    }
}

/// Whether the operator allowed embedded targets outside the repository.
fn load_options() -> gitops_iac_config::LoadOptions {
    gitops_iac_config::LoadOptions {
        allow_absolute_targets: std::env::var("GITOPS_ALLOW_ABSOLUTE_TARGETS")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
    }
}

fn load(repo: &Path) -> Result<Repository, ExitCode> {
    if !repo.is_dir() {
        eprintln!("error: {} is not a directory", repo.display());
        return Err(ExitCode::from(2));
    }
    Repository::load_dir_with(repo, &load_options()).map_err(|problems| {
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

fn process_dry_run(
    repo: &Path,
    event: Option<&Path>,
    event_type: &str,
    at: OffsetDateTime,
) -> ExitCode {
    let request = match read_event(event, event_type) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // A broken repository is a configuration error (2), not a refusal of the request.
    let Ok(repository) = load(repo) else {
        return ExitCode::from(2);
    };
    let decision = match request {
        Ok(request) => evaluate(&repository, &request, false, at),
        Err(error) => Decision::invalid_payload(error.problems()),
    };
    println!("{}", json(&decision));
    if decision.decision == Outcome::Reject {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads at most one byte more than the validator accepts (so too large is still reported as
/// such), from a regular file only: a FIFO or a device would block or never end.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let limit = u64::try_from(gitops_event_model::MAX_INPUT_BYTES).unwrap_or(u64::MAX) + 1;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The repository and its adapters; a broken repository or environment is a configuration
/// error (2).
fn open(repo: &Path) -> Result<(Repository, Runtime), ExitCode> {
    let repository = load(repo).map_err(|_| ExitCode::from(2))?;
    let runtime = Runtime::from_env(repo).map_err(|e| pipeline_exit(&e))?;
    Ok((repository, runtime))
}

/// Refuses `--env`/`--mfe` filters that name nothing in the repository (exit 2): a typo must
/// not read as "nothing to do" or "no drift".
fn check_filters(
    repository: &Repository,
    env: Option<&str>,
    mfe: Option<&str>,
) -> Result<(), ExitCode> {
    if let Some(env) = env
        && repository.environment(env).is_none()
    {
        let known: Vec<&str> = repository
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        eprintln!(
            "error: environment `{env}` is not declared in gitops.yaml (declared: {})",
            known.join(", ")
        );
        return Err(ExitCode::from(2));
    }
    if let Some(mfe) = mfe
        && !repository.mfes.contains_key(mfe)
    {
        eprintln!("error: MFE `{mfe}` is not registered: there is no mfes/{mfe}.yaml");
        return Err(ExitCode::from(2));
    }
    Ok(())
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
    class_exit(error.class())
}

fn class_exit(class: ErrorClass) -> ExitCode {
    match class {
        ErrorClass::Config => ExitCode::from(2),
        ErrorClass::Retryable => ExitCode::from(3),
        ErrorClass::Refused => ExitCode::from(1),
    }
}

async fn deploy(repo: &Path, env: Option<String>, mfe: Option<String>, format: Format) -> ExitCode {
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if let Err(code) = check_filters(&repository, env.as_deref(), mfe.as_deref()) {
        return code;
    }
    // Git orders the desired states: the deploy needs the history and a clean deployments/.
    let revisions = match runtime.revisions().await {
        Ok(revisions) => revisions,
        Err(e) => return pipeline_exit(&e),
    };
    // Tell requesters on their commits when a forge is at hand (GitHub, or a local git repo).
    let requester = match runtime.forge(ForgeChoice::Auto).await {
        Ok(handle) => Some(handle.requester),
        Err(e) => {
            eprintln!("note: requesters will not be told: {e}");
            None
        }
    };
    let options = DeployOptions {
        environment: env,
        mfe,
        requester,
        revisions: Some(revisions),
        ..DeployOptions::default()
    };
    let report = match gitops_pipeline::deploy_all(&repository, &runtime, &options).await {
        Ok(report) => report,
        Err(e) => return pipeline_exit(&e),
    };
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Table => print_deploy(&report),
    }
    gitops_actions::append_summary(&deploy_markdown(&report));
    if !report.failed() {
        ExitCode::SUCCESS
    } else if report.all_failures_retryable() {
        ExitCode::from(3)
    } else {
        ExitCode::from(1)
    }
}

/// `value` as one line of JSON; our reports always serialise.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the report: {e}\"}}"))
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
            if gitops_actions::in_actions() {
                gitops_actions::annotate(
                    Level::Error,
                    &format!("deploy {}/{} failed", pair.environment, pair.mfe),
                    &outcome_text(&pair.outcome),
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
            gitops_actions::cell(&outcome_text(&p.outcome)),
            p.files_uploaded,
            p.invalidated.join("<br>")
        );
    }
    md
}

async fn status(repo: &Path, env: Option<&str>, format: Format) -> ExitCode {
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if let Err(code) = check_filters(&repository, env, None) {
        return code;
    }
    let rows = match gitops_pipeline::status(&repository, &runtime, env).await {
        Ok(rows) => rows,
        Err(e) => return pipeline_exit(&e),
    };
    match format {
        Format::Json => println!("{}", json(&rows)),
        Format::Table => print_status(&rows),
    }
    unreadable_exit(&rows).unwrap_or(ExitCode::SUCCESS)
}

/// What a row's state means to a person.
fn state_text(r: &StatusRow) -> String {
    let or_nothing = |v: &Option<String>| v.clone().unwrap_or_else(|| "nothing".to_owned());
    match r.state {
        SyncState::InSync => "in sync".to_owned(),
        SyncState::LiveDiffers => format!("desired {}", or_nothing(&r.desired)),
        SyncState::PointersBehind => format!("pointers serve {}", or_nothing(&r.served)),
        SyncState::CdnPending => "CDN invalidation pending".to_owned(),
        SyncState::NotDesired => "not desired".to_owned(),
        SyncState::Unknown => format!(
            "unknown: {}",
            r.error
                .as_deref()
                .unwrap_or("the environment could not be read")
        ),
    }
}

/// Exit code when some environment could not be read: 2 when its configuration is unusable,
/// else 3 (the target is outside: unreachable, refusing, or holding data we cannot read);
/// `None` when every environment was read.
fn unreadable_exit(rows: &[StatusRow]) -> Option<ExitCode> {
    let classes: Vec<ErrorClass> = rows.iter().filter_map(|r| r.error_class).collect();
    if classes.contains(&ErrorClass::Config) {
        Some(ExitCode::from(2))
    } else if classes.is_empty() {
        None
    } else {
        Some(ExitCode::from(3))
    }
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
                state_text(r),
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
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
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

/// Reads the event file (bounded) and validates it, refusing an envelope of another event type;
/// IO errors are configuration errors (2).
fn read_event(
    event: Option<&Path>,
    event_type: &str,
) -> Result<Result<gitops_event_model::DeployRequest, gitops_event_model::Error>, ExitCode> {
    let Some(event) = event else {
        eprintln!("error: no event: give --event FILE or set GITHUB_EVENT_PATH");
        return Err(ExitCode::from(2));
    };
    let bytes = read_limited(event).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", event.display());
        ExitCode::from(2)
    })?;
    Ok(gitops_event_model::validate_event(&bytes, event_type).map(|v| v.request))
}

/// The commit the local checkout is on (`GITHUB_SHA` in Actions), to base the PR on it.
fn checkout_sha(repo: &Path) -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA")
        && sha.len() == 40
    {
        return Some(sha);
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn process(
    repo: &Path,
    event: Option<&Path>,
    event_type: &str,
    at: OffsetDateTime,
    forge: ForgeChoice,
) -> ExitCode {
    let request = match read_event(event, event_type) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let handle = match runtime.forge(forge).await {
        Ok(h) => h,
        Err(e) => return pipeline_exit(&e),
    };
    let base = if handle.kind == "github" {
        checkout_sha(repo)
    } else {
        None
    };
    let problems: Vec<gitops_event_model::Problem> = match &request {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    };
    let input = match &request {
        Ok(r) => Ok(r),
        Err(_) => Err(problems.as_slice()),
    };
    let report = match gitops_pipeline::process(
        &repository,
        base.as_deref(),
        input,
        at,
        handle.forge.as_ref(),
        Some(handle.requester.as_ref()),
        &runtime.metrics_by_environment(&repository),
    )
    .await
    {
        Ok(report) => report,
        Err(e) => return pipeline_exit(&e),
    };
    println!("{}", json(&report));
    if let (Some(number), Some(url)) = (report.pull_request, &report.pull_request_url) {
        gitops_actions::set_output("pull-request", &number.to_string());
        gitops_actions::append_summary(&format!(
            "### Deploy request\n\n{}: pull request #{number} {url}\n",
            report.decision.decision
        ));
    }
    gitops_actions::set_output("decision", &report.decision.decision.to_string());
    if report.decision.decision != Outcome::Reject {
        return ExitCode::SUCCESS;
    }
    for reason in &report.decision.reasons {
        if gitops_actions::in_actions() {
            gitops_actions::annotate(Level::Error, reason.code.as_str(), &reason.message);
        } else {
            eprintln!("refused: {}: {}", reason.code, reason.message);
        }
    }
    ExitCode::from(1)
}

async fn merge(repo: &Path, pr: Option<u64>, at: OffsetDateTime, forge: ForgeChoice) -> ExitCode {
    use gitops_pipeline::MergeOutcome;
    let runtime = Runtime::new(repo);
    // Metrics go to each environment's sink when the checkout's configuration is readable.
    let metrics = Repository::load_dir_with(repo, &load_options())
        .map(|r| runtime.metrics_by_environment(&r))
        .unwrap_or_default();
    let handle = match runtime.forge(forge).await {
        Ok(h) => h,
        Err(e) => return pipeline_exit(&e),
    };
    let numbers = match pr {
        Some(n) => vec![n],
        None => match handle.forge.open_pull_requests().await {
            Ok(prs) => prs
                .into_iter()
                .filter(|p| p.branch.starts_with("gitops/"))
                .map(|p| p.number)
                .collect(),
            Err(e) => return pipeline_exit(&gitops_pipeline::Error::Forge(e)),
        },
    };
    let mut refused = false;
    for number in numbers {
        match gitops_pipeline::merge_pull_request(handle.forge.as_ref(), number, at, &metrics).await
        {
            Ok(MergeOutcome::Merged { sha }) => println!("#{number}: merged ({sha})"),
            Ok(MergeOutcome::WaitingForApproval) => {
                println!("#{number}: checks passed; waiting for an approval of the head");
            }
            Ok(MergeOutcome::Refused { reasons }) => {
                refused = true;
                for reason in reasons {
                    eprintln!("error: #{number}: {reason}");
                }
            }
            Ok(MergeOutcome::Skipped { reason }) => println!("#{number}: skipped: {reason}"),
            Err(e) => return pipeline_exit(&e),
        }
    }
    if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn init(dir: &Path, check: bool, force: bool) -> ExitCode {
    let written = gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::default())
        .and_then(|files| gitops_render::write_files(dir, &files, check, force));
    let outcome = match written {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for file in &outcome.files {
        let written = if file.written { " (written)" } else { "" };
        println!("{:?}{written}: {}", file.status, file.path);
        if let Some(diff) = &file.diff {
            eprintln!("{diff}");
        }
    }
    if (check && outcome.differs()) || (!check && outcome.refused()) {
        return ExitCode::from(1);
    }
    if !check {
        println!(
            "next: add an MFE under mfes/, then run `gitops check --repo {}`",
            dir.display()
        );
    }
    ExitCode::SUCCESS
}

async fn rollback(
    repo: &Path,
    env: &str,
    mfe: &str,
    to: Option<String>,
    forge: ForgeChoice,
) -> ExitCode {
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if let Err(code) = check_filters(&repository, Some(env), Some(mfe)) {
        return code;
    }
    let (Some(environment), Some(current)) =
        (repository.environment(env), repository.deployment(env, mfe))
    else {
        eprintln!(
            "error: nothing is desired for {mfe} in {env}: there is no deployments/{env}/{mfe}.json"
        );
        return ExitCode::from(2);
    };
    let version = if let Some(v) = to {
        v
    } else {
        let history = match gitops_pipeline::Backends::targets(&runtime, environment).await {
            Ok(t) => t
                .registry
                .history(env, mfe)
                .await
                .map_err(gitops_pipeline::Error::from),
            Err(e) => Err(e),
        };
        match history.map(|h| gitops_pipeline::previous_version(&h, &current.version)) {
            Ok(Some(v)) => v,
            Ok(None) => {
                eprintln!(
                    "error: the registry has no earlier version of {mfe} in {env}; give --to VERSION"
                );
                return ExitCode::from(2);
            }
            Err(e) => return pipeline_exit(&e),
        }
    };
    let user = std::env::var("GITHUB_ACTOR").unwrap_or_else(|_| "gitops-rollback".to_owned());
    let request = match gitops_pipeline::rollback_request(current, &version, &user) {
        Ok(r) => r,
        Err(e) => return pipeline_exit(&e),
    };
    let handle = match runtime.forge(forge).await {
        Ok(h) => h,
        Err(e) => return pipeline_exit(&e),
    };
    match gitops_pipeline::rollback(
        &repository,
        &request,
        OffsetDateTime::now_utc(),
        handle.forge.as_ref(),
        Some(handle.requester.as_ref()),
    )
    .await
    {
        Ok(report) => {
            println!("{}", json(&report));
            if report.decision.decision == Outcome::Reject {
                for r in &report.decision.reasons {
                    eprintln!("refused: {}: {}", r.code, r.message);
                }
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => pipeline_exit(&e),
    }
}

/// Desired against live, served and confirmed: exit 1 when a pair drifted, 2 when the
/// configuration is unusable, 3 when an environment could not be read (its pairs are listed as
/// unknown; the others are still checked).
async fn drift(repo: &Path, env: Option<&str>) -> ExitCode {
    let (repository, runtime) = match open(repo) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if let Err(code) = check_filters(&repository, env, None) {
        return code;
    }
    let rows = match gitops_pipeline::status(&repository, &runtime, env).await {
        Ok(rows) => rows,
        Err(e) => return pipeline_exit(&e),
    };
    for r in rows.iter().filter(|r| r.differs) {
        let line = format!(
            "{}/{}: desired {}, live {}: {}",
            r.environment,
            r.mfe,
            r.desired.as_deref().unwrap_or("nothing"),
            r.version.as_deref().unwrap_or("nothing"),
            state_text(r)
        );
        let kind = if r.state == SyncState::Unknown {
            "error"
        } else {
            "drift"
        };
        if gitops_actions::in_actions() {
            gitops_actions::annotate(Level::Warning, kind, &line);
        } else {
            println!("{kind}: {line}");
        }
    }
    if let Some(code) = unreadable_exit(&rows) {
        return code;
    }
    if rows.iter().any(|r| r.differs) {
        ExitCode::from(1)
    } else {
        println!("no drift: {} pair(s) in sync", rows.len());
        ExitCode::SUCCESS
    }
}
