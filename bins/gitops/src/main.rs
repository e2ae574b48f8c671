//! `gitops`: the command the GitOps repository's workflows run. Thin: parse arguments, call the
//! use-cases of `gitops-app`, print, map the outcome to an exit code.
//!
//! Exit codes: 0 done, 1 refused or failed check, 2 usage or configuration error, 3 an outside
//! service failed and a retry may help.

// Shadow std's printing macros for the whole crate: ours never panic on a closed pipe.
macro_rules! println {
    () => { gitops_actions::out(format_args!("")) };
    ($($arg:tt)*) => { gitops_actions::out(format_args!($($arg)*)) };
}
macro_rules! print {
    ($($arg:tt)*) => { gitops_actions::out_raw(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { gitops_actions::err(format_args!($($arg)*)) };
}

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gitops_app::cli::{ForgeArg, Format};
use gitops_app::report;
use gitops_app::{Error, Session, metrics};
use gitops_app::{drift, pins, promote, prune};
use gitops_pipeline::ErrorClass;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(
    name = "gitops",
    version,
    about = "Run the GitOps repository of micro-frontend deployments"
)]
struct Cli {
    /// The GitOps repository.
    #[arg(long, global = true, default_value = ".")]
    repo: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate every file of the GitOps repository (gitops.yaml, mfes/, deployments/).
    Check,
    /// Evaluate a deploy request against the repository's policy.
    ///
    /// With --dry-run, prints the decision as one JSON object and writes nothing.
    Process {
        /// A bare client_payload or a repository_dispatch event; default $GITHUB_EVENT_PATH.
        #[arg(long, env = "GITHUB_EVENT_PATH")]
        event: Option<PathBuf>,
        /// Evaluate as of this RFC 3339 time instead of now (freeze windows).
        #[arg(long, value_parser = gitops_app::parse_time)]
        at: Option<OffsetDateTime>,
        /// Print the decision and the changes without writing or proposing anything.
        #[arg(long)]
        dry_run: bool,
        /// Override a pin (where gitops.yaml sets `allow_pin_override`), lifting it.
        #[arg(long)]
        override_pin: bool,
        /// The forge: GitHub with a token and GITHUB_REPOSITORY (auto), else local git.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
        /// The event type of deploy requests; an event whose `action` differs is refused.
        #[arg(long, default_value = gitops_event_model::EVENT_TYPE)]
        event_type: String,
    },
    /// Check deploy pull requests and merge the checked head of those that pass (waiting for an
    /// approval where the environment requires one).
    Merge {
        /// The pull request.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        pr: Option<u64>,
        /// Every open deploy pull request (branches gitops/<env>/<mfe>).
        #[arg(long)]
        all: bool,
        /// Evaluate the policy as of this RFC 3339 time instead of now.
        #[arg(long, value_parser = gitops_app::parse_time)]
        at: Option<OffsetDateTime>,
        /// The forge.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
    },
    /// Record an approving review of a deploy pull request on the local git forge (on GitHub,
    /// approve in the pull request).
    Approve {
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
        /// The environment.
        #[arg(long, visible_alias = "environment")]
        env: String,
        /// The MFE.
        #[arg(long)]
        mfe: String,
        /// The version to return to; default: the previous live version in the registry.
        #[arg(long)]
        to: Option<String>,
        /// Why: shown to every request refused while the pair is pinned.
        #[arg(long, conflicts_with = "no_pin")]
        reason: Option<String>,
        /// Do not pin the pair (by default automation may not change it until `gitops unpin`).
        #[arg(long)]
        no_pin: bool,
        /// The forge.
        #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
        forge: ForgeArg,
    },
    /// Walk the whole flow on one machine (request, PR, checks, merge, deploy, status, a second
    /// version, rollback) on the embedded backends, narrated; leaves the files to inspect.
    Demo {
        /// Where to build the demo (new or empty); default: a new temporary directory.
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
        /// The setup action installing gitops (default: $MFE_GITOPS_ACTION, else built in).
        #[arg(long, value_name = "OWNER/REPO@SHA")]
        action: Option<String>,
        /// Environments and AWS targets from `terraform output -json` of deploy/terraform.
        #[arg(long, value_name = "FILE")]
        from_terraform: Option<PathBuf>,
    },
    /// Reconcile every desired (environment, MFE) with what is live: upload, commit, publish,
    /// invalidate. Pairs already live are skipped without touching the CDN.
    Deploy {
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
        /// Only this environment.
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Compare desired (git), live (registry) and served (storage, aliases, import map): exit 1
    /// listing each disagreement with its kind and the command that repairs it.
    Drift(drift::Args),
    /// Promote what is desired and live in one environment to another: one pull request.
    Promote(promote::Args),
    /// Lift the pin of a pair (a pull request), so requests for it are accepted again.
    Unpin(pins::UnpinArgs),
    /// Delete version prefixes no longer live, desired, pinned or recent.
    Prune(prune::Args),
    /// Create what the configured targets need and is missing (storage, registry); check that
    /// CloudFront distributions exist. Idempotent.
    Bootstrap {
        /// Only this environment.
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
        /// Create nothing: exit 1 listing every target that does not exist.
        #[arg(long)]
        check: bool,
    },
    /// Deployment metrics: the DORA four per environment and MFE (with their formulas and
    /// counts) and per-stage times, from git history, the registries and the stage events.
    Metrics(metrics::Args),
    /// Write the fleet's board, a static HTML page (index.html), into a directory.
    Board {
        /// Only this environment.
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
        /// Where (created if missing).
        #[arg(long, default_value = "board")]
        out: PathBuf,
    },
    /// Run as a GitHub App: take GitHub's webhooks, queue and work them (see the README).
    Serve(gitops_app::serve::Args),
    /// Print the least IAM policy of each environment's deploy role (what deploy, bootstrap
    /// --check, status, drift and prune call on its bucket, table, distribution and artifacts).
    IamPolicy {
        /// Only this environment: print its policy document alone.
        #[arg(long, visible_alias = "environment")]
        env: Option<String>,
        /// The AWS account id the table and distribution ARNs name.
        #[arg(long, env = "AWS_ACCOUNT_ID")]
        account: Option<String>,
        /// The region of the tables (default $AWS_REGION, else $AWS_DEFAULT_REGION).
        #[arg(long)]
        region: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let repo = cli.repo;
    let now = OffsetDateTime::now_utc;
    match cli.command {
        Command::Check => show(gitops_app::check(&repo)),
        Command::Process {
            event,
            at,
            dry_run,
            override_pin,
            forge,
            event_type,
        } => {
            let at = at.unwrap_or_else(now);
            let request = match gitops_app::read_event(event.as_deref(), &event_type) {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            if dry_run {
                gitops_app::dry_run(&repo, &request, at, override_pin)
                    .map_or_else(|e| fail(&e), |d| show(report::dry_run(&d)))
            } else {
                run(async move {
                    let report = Session::open(&repo)
                        .await?
                        .process(&request, at, override_pin, forge.into())
                        .await?;
                    Ok(show(report::process_in_actions(&report)))
                })
            }
        }
        Command::Merge {
            pr,
            all: _,
            at,
            forge,
        } => run(async move {
            let results =
                gitops_app::merge(&repo, pr, at.unwrap_or_else(now), forge.into()).await?;
            Ok(show(report::merge(&results)))
        }),
        Command::Approve { pr, user } => run(async move {
            gitops_runtime::Runtime::from_env(&repo)?
                .approve_local(pr, &user)
                .await?;
            println!("approved #{pr} as {user}");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Rollback {
            env,
            mfe,
            to,
            reason,
            no_pin,
            forge,
        } => run(async move {
            let pin = (!no_pin).then_some(reason);
            let report = Session::open(&repo)
                .await?
                .rollback(&env, &mfe, to.as_deref(), pin, forge.into())
                .await?;
            Ok(show(report::process_in_actions(&report)))
        }),
        Command::Demo { dir } => run(async move {
            Ok(ExitCode::from(
                gitops_app::demo::narrated(dir, &mut |l| println!("{l}")).await?,
            ))
        }),
        Command::Init {
            dir,
            check,
            force,
            action,
            from_terraform,
        } => gitops_app::init(
            &dir,
            action.as_deref(),
            from_terraform.as_deref(),
            check,
            force,
        )
        .map_or_else(|e| fail(&e), show),
        Command::Deploy { env, mfe, format } => run(async move {
            let session = Session::open(&repo).await?;
            let filters = session.filters(env.as_deref(), mfe.as_deref())?;
            let report = session.deploy(&filters).await?;
            Ok(show(report::deploy_in_actions(
                &report,
                format == Format::Json,
            )))
        }),
        Command::Status { env, format } => run(async move {
            let session = Session::open(&repo).await?;
            let rows = session
                .status(&session.filters(env.as_deref(), None)?)
                .await?;
            match format {
                Format::Json => println!("{}", report::json(&rows)),
                Format::Table => print!("{}", report::status_table(&rows)),
            }
            Ok(report::unreadable_class(&rows).map_or(ExitCode::SUCCESS, class_exit))
        }),
        Command::Drift(args) => run(async move {
            Ok(show(
                drift::command(&Session::open(&repo).await?, &args).await?,
            ))
        }),
        Command::Promote(args) => run(async move {
            Ok(show(
                promote::command(&Session::open(&repo).await?, &args).await?,
            ))
        }),
        Command::Unpin(args) => run(async move {
            Ok(show(
                pins::unpin(&Session::open(&repo).await?, &args).await?,
            ))
        }),
        Command::Prune(args) => run(async move {
            Ok(show(
                prune::command(&Session::open(&repo).await?, &args).await?,
            ))
        }),
        Command::Bootstrap { env, check } => run(async move {
            let session = Session::open(&repo).await?;
            let filters = session.filters(env.as_deref(), None)?;
            let states = session.bootstrap(&filters, !check).await?;
            Ok(show(report::bootstrap(&states, check)))
        }),
        Command::Metrics(args) => run(async move {
            Ok(show(
                metrics::run(&Session::open(&repo).await?, &args, now()).await?,
            ))
        }),
        Command::Board { env, out } => run(async move {
            let session = Session::open(&repo).await?;
            let filters = session.filters(env.as_deref(), None)?;
            let file = session.board(&filters, &out, now()).await?;
            println!("board written to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }),
        Command::Serve(args) => run(async move {
            gitops_app::serve::run(&repo, &args, |a| println!("listening on http://{a}")).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::IamPolicy {
            env,
            account,
            region,
        } => run(async move {
            let session = Session::open(&repo).await?;
            let filters = session.filters(env.as_deref(), None)?;
            let scope = gitops_runtime::iam::AwsScope::from_env(account, region);
            let policies = session.iam_policies(&filters, &scope)?;
            Ok(show(report::iam_policies(&policies, env.is_some())))
        }),
    }
}

/// Runs an async use-case to its exit code; its error is printed and classified.
fn run(work: impl std::future::Future<Output = Result<ExitCode, Error>>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work).unwrap_or_else(|e| fail(&e)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(3)
        }
    }
}

/// Prints `error` (each repository problem on its own line) and returns its exit code.
fn fail(error: &Error) -> ExitCode {
    if let Error::Repository { problems, .. } = error {
        for problem in problems {
            eprintln!("error: {problem}");
        }
    }
    eprintln!("error: {error}");
    class_exit(error.class())
}

fn class_exit(class: ErrorClass) -> ExitCode {
    ExitCode::from(report::exit_code(class))
}

/// Prints what a command shows and returns its exit code.
fn show(shown: report::Shown) -> ExitCode {
    ExitCode::from(report::print(shown))
}
