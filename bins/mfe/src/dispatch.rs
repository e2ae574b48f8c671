//! `mfe dispatch`: build a deploy request from typed arguments (naming, with `--artifact`, the
//! commit that built the version), send it through `gitops_pipeline::send` (its deployment on
//! this repository's commit first: the proof of origin), and optionally follow that deployment.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use gitops_event_model::{DeployRequest, EVENT_TYPE, EventType, RepositoryName};
use gitops_gh_pr::GithubForge;
use gitops_pipeline::follow::{ApiUse, FollowSettings, Step, follow_deployment, state_text};
use secrecy::SecretString;

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// The GitOps repository to send the request to, owner/name.
    #[arg(long)]
    gitops_repo: String,
    /// MFE name.
    #[arg(long)]
    mfe: String,
    /// SemVer version to deploy.
    #[arg(long)]
    version: String,
    /// Target environment.
    #[arg(long)]
    environment: String,
    /// CDN path to invalidate (repeat).
    #[arg(long = "cache-invalidation-key")]
    cache_invalidation_keys: Vec<String>,
    /// The requesting repository, owner/name.
    #[arg(long, env = "GITHUB_REPOSITORY")]
    repository: Option<String>,
    /// The full git ref built.
    #[arg(long = "ref", env = "GITHUB_REF")]
    git_ref: Option<String>,
    /// The 40-hex commit built.
    #[arg(long, env = "GITHUB_SHA")]
    sha: Option<String>,
    /// The requesting login.
    #[arg(long, env = "GITHUB_ACTOR")]
    user: Option<String>,
    /// Where the version was published (as `mfe publish --to`): the request then names the
    /// commit and ref that built it, from its provenance record, not the ones this run started on.
    #[arg(long, value_name = "URL")]
    artifact: Option<String>,
    /// The GitOps repository runs as a GitHub App (`gitops serve`): the deployment made on this
    /// commit is the request itself; nothing is dispatched, no dispatch token is needed.
    #[arg(long)]
    app: bool,
    /// Follow the deploy until it succeeds or fails.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds (exit 3).
    #[arg(long, default_value_t = 1800.0)]
    timeout: f64,
    /// With --wait: seconds between polls.
    #[arg(long, default_value_t = 5.0)]
    interval: f64,
    /// GitHub's API root.
    #[arg(long, env = "GITHUB_API_URL", default_value = gitops_gh_pr::DEFAULT_API_URL)]
    api_url: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn seconds(name: &str, value: f64) -> Result<Duration, (u8, String)> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| (2, format!("--{name} must be a positive number of seconds")))
}

pub async fn run(args: DispatchArgs) -> ExitCode {
    dispatch(args).await.unwrap_or_else(|(code, message)| {
        eprintln!("error: {message}");
        ExitCode::from(code)
    })
}

/// The commit and ref to name: with `--artifact`, those of the build (its provenance record).
async fn commit_and_ref(args: &DispatchArgs) -> Result<(String, String), (u8, String)> {
    let ambient = (
        args.sha.clone().unwrap_or_default(),
        args.git_ref.clone().unwrap_or_default(),
    );
    let Some(template) = &args.artifact else {
        return Ok(ambient);
    };
    let base = std::env::current_dir().map_err(|e| (2, format!("current directory: {e}")))?;
    let repository = args.repository.as_deref().unwrap_or_default();
    let (chosen, recorded) = gitops_pipeline::send::build_commit_at(
        template,
        &base,
        (&args.mfe, &args.version, repository),
        ambient,
    )
    .await?;
    if !recorded {
        eprintln!("warning: {template} has no provenance record: naming this run's commit");
    }
    println!("build commit: {} ({})", chosen.0, chosen.1);
    Ok(chosen)
}

async fn dispatch(args: DispatchArgs) -> Result<ExitCode, (u8, String)> {
    let (sha, git_ref) = commit_and_ref(&args).await?;
    // Build and validate first: nothing is sent for an invalid request.
    let request = DeployRequest::builder()
        .mfe(&args.mfe)
        .version(&args.version)
        .environment(&args.environment)
        .cache_invalidation_keys(args.cache_invalidation_keys.iter().cloned())
        .repository(args.repository.clone().unwrap_or_default())
        .git_ref(git_ref)
        .sha(sha)
        .user(args.user.clone().unwrap_or_default())
        .build()
        .map_err(|e| {
            for problem in e.problems() {
                eprintln!("error: {}", problem.to_string().replace(['\n', '\r'], " "));
            }
            (1, "(repository, ref, sha and user default to GITHUB_REPOSITORY, GITHUB_REF, GITHUB_SHA and GITHUB_ACTOR)".to_owned())
        })?;
    let settings = FollowSettings {
        timeout: seconds("timeout", args.timeout)?,
        interval: seconds("interval", args.interval)?,
    };
    let gitops_repo = RepositoryName::parse(&args.gitops_repo)
        .map_err(|e| (2, format!("--gitops-repo: {}", e.message)))?;
    let event_type = EventType::parse(EVENT_TYPE).map_err(|e| (2, e.message))?;
    let send_token = var("GITOPS_DISPATCH_TOKEN")
        .or_else(|| var("GITOPS_GITHUB_TOKEN"))
        .or_else(|| var("GITHUB_TOKEN"))
        .ok_or_else(|| (2, format!("no token: set GITOPS_DISPATCH_TOKEN (allowed to dispatch to {gitops_repo}), or GITOPS_GITHUB_TOKEN / GITHUB_TOKEN")))?;
    let read_token = var("GITHUB_TOKEN").unwrap_or_else(|| send_token.clone());
    let forge = |token: String, repo: &RepositoryName| {
        GithubForge::new(&args.api_url, SecretString::from(token), repo.clone())
            .map_err(|e| (2, e.to_string()))
    };
    let (sender, reader) = (
        forge(send_token, &gitops_repo)?,
        forge(read_token, request.repository())?,
    );
    println!(
        "request {}: deploy {} {} to {} from {}@{}",
        request.id(),
        request.mfe(),
        request.version(),
        request.environment(),
        request.repository(),
        request.sha()
    );
    if !gitops_actions::in_actions() {
        eprintln!(
            "warning: not in GitHub Actions: only a deployment a workflow's GITHUB_TOKEN made counts"
        );
    }
    let sent = if args.app {
        gitops_pipeline::send::deployment(&reader, &request).await
    } else {
        gitops_pipeline::send::send(&reader, &sender, &gitops_repo, &event_type, &request).await
    };
    let deployment = sent.map_err(|e| (2, e.to_string()))?;
    let (repo, how) = (
        request.repository(),
        if args.app { "the App" } else { EVENT_TYPE },
    );
    println!("deployment {deployment} created on {repo}; sent to {gitops_repo} ({how})");
    gitops_actions::set_output("request-id", request.id().as_str());
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "waiting for the GitOps repository to pick up request {} (timeout {}s)",
        request.id(),
        settings.timeout.as_secs()
    );
    let mut report = follow_deployment(
        &reader,
        &request,
        Some(deployment),
        settings,
        &mut |step| match step {
            Step::Status(s) => println!(
                "{}: {}",
                state_text(s.state),
                s.description.as_deref().unwrap_or("")
            ),
            Step::PollFailed(e) => eprintln!("warning: {e} (retrying)"),
            Step::DeploymentFound(_) => {}
        },
    )
    .await;
    // The job token's whole use: the deployment, the polls (a 304 is free on the budget).
    report.api = ApiUse {
        requests: reader.calls(),
        not_modified: reader.not_modified(),
    };
    println!(
        "GitHub API: {} requests, {} not modified (free)",
        report.api.requests, report.api.not_modified
    );
    if gitops_actions::has_summary() {
        let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        gitops_actions::append_summary(&report.markdown(&gitops_repo, &request, &server));
    }
    let (code, word) = report.outcome.exit();
    if code != 0 {
        eprintln!("{word}: {}", report.message);
    }
    Ok(ExitCode::from(code))
}
