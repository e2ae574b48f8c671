//! `mfe dispatch`: build a deploy request from typed arguments, create its deployment on this
//! repository's commit (the proof of origin the GitOps side checks, and where it reports), send
//! it as a `repository_dispatch` event, and optionally follow that deployment's statuses.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use gitops_event_model::{DeployRequest, DeploymentPayload, EVENT_TYPE, EventType, RepositoryName};
use gitops_gh_pr::{DeploymentState, GithubForge, Requester};
use gitops_pipeline::follow::{
    ApiUse, FollowSettings, Outcome, Step, follow_deployment, state_text,
};
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

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{name} must be a positive number of seconds"))
}

pub async fn run(args: DispatchArgs) -> ExitCode {
    // Build and validate first: nothing is sent for an invalid request.
    let request = match DeployRequest::builder()
        .mfe(&args.mfe)
        .version(&args.version)
        .environment(&args.environment)
        .cache_invalidation_keys(args.cache_invalidation_keys.iter().cloned())
        .repository(args.repository.clone().unwrap_or_default())
        .git_ref(args.git_ref.clone().unwrap_or_default())
        .sha(args.sha.clone().unwrap_or_default())
        .user(args.user.clone().unwrap_or_default())
        .build()
    {
        Ok(request) => request,
        Err(e) => {
            for problem in e.problems() {
                eprintln!("error: {}", problem.to_string().replace(['\n', '\r'], " "));
            }
            eprintln!(
                "(repository, ref, sha and user default to GITHUB_REPOSITORY, GITHUB_REF, GITHUB_SHA and GITHUB_ACTOR)"
            );
            return ExitCode::from(1);
        }
    };
    let (settings, gitops_repo, event_type) = match (
        seconds("timeout", args.timeout),
        seconds("interval", args.interval),
        RepositoryName::parse(&args.gitops_repo),
        EventType::parse(EVENT_TYPE),
    ) {
        (Ok(timeout), Ok(interval), Ok(repo), Ok(event_type)) => {
            (FollowSettings { timeout, interval }, repo, event_type)
        }
        (Err(e), ..) | (_, Err(e), ..) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        (_, _, Err(e), _) | (.., Err(e)) => {
            eprintln!("error: --gitops-repo: {}", e.message);
            return ExitCode::from(2);
        }
    };
    let Some(send_token) = var("GITOPS_DISPATCH_TOKEN")
        .or_else(|| var("GITOPS_GITHUB_TOKEN"))
        .or_else(|| var("GITHUB_TOKEN"))
    else {
        eprintln!(
            "error: no token: set GITOPS_DISPATCH_TOKEN (allowed to dispatch to {gitops_repo}), or GITOPS_GITHUB_TOKEN / GITHUB_TOKEN"
        );
        return ExitCode::from(2);
    };
    let read_token = var("GITHUB_TOKEN").unwrap_or_else(|| send_token.clone());
    let forge = |token: String, repo: &RepositoryName| {
        GithubForge::new(&args.api_url, SecretString::from(token), repo.clone())
    };
    let (sender, reader) = match (
        forge(send_token, &gitops_repo),
        forge(read_token, request.repository()),
    ) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    println!(
        "request {}: deploy {} {} to {} from {}@{}",
        request.id(),
        request.mfe(),
        request.version(),
        request.environment(),
        request.repository(),
        request.sha()
    );
    // The proof of origin: this repository's own deployment of the request, made with the
    // workflow's GITHUB_TOKEN before anything is sent; the GitOps side refuses a request whose
    // claimed repository has none, and posts every status on this one.
    if var("GITHUB_ACTIONS").as_deref() != Some("true") {
        eprintln!(
            "warning: not in GitHub Actions: the deployment is made with your own token, and the GitOps side accepts only deployments a workflow of {} made (github-actions[bot])",
            request.repository()
        );
    }
    let deployment = match reader
        .create_deployment(
            request.repository(),
            request.sha(),
            request.environment(),
            &DeploymentPayload::of(&request),
            &format!("{} {}", request.mfe(), request.version()),
        )
        .await
    {
        Ok(id) => id,
        Err(e) => {
            eprintln!(
                "error: could not create the request's deployment on {} (the job needs `permissions: deployments: write`): {e}",
                request.repository()
            );
            return ExitCode::from(2);
        }
    };
    println!(
        "deployment {deployment} created on {}",
        request.repository()
    );
    if let Err(e) = sender
        .dispatch(&gitops_repo, &event_type, &request.to_value())
        .await
    {
        eprintln!("error: could not send the deploy request to {gitops_repo}: {e}");
        let description = format!("could not send the request to {gitops_repo}");
        if let Err(e) = reader
            .create_deployment_status(
                request.repository(),
                deployment,
                DeploymentState::Error,
                &description,
                None,
                None,
            )
            .await
        {
            eprintln!("warning: could not mark deployment {deployment} as failed: {e}");
        }
        return ExitCode::from(2);
    }
    println!("sent to {gitops_repo} ({EVENT_TYPE})");
    gitops_actions::set_output("request-id", request.id().as_str());
    if !args.wait {
        return ExitCode::SUCCESS;
    }
    println!(
        "waiting for the GitOps repository to pick up request {} (timeout {}s)",
        request.id(),
        settings.timeout.as_secs()
    );
    let repo = request.repository().clone();
    let mut report = follow_deployment(
        &reader,
        &request,
        Some(deployment),
        settings,
        &mut |step| match step {
            Step::DeploymentFound(id) => println!("deployment {id} created on {repo}"),
            Step::Status(status) => println!(
                "{}: {}",
                state_text(status.state),
                status.description.as_deref().unwrap_or("")
            ),
            Step::PollFailed(e) => eprintln!("warning: {e} (retrying)"),
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
    match report.outcome {
        Outcome::Deployed => ExitCode::SUCCESS,
        Outcome::Failed => {
            eprintln!("failed: {}", report.message);
            ExitCode::from(1)
        }
        Outcome::TimedOut => {
            eprintln!("timeout: {}", report.message);
            ExitCode::from(3)
        }
        Outcome::Unauthorized => {
            eprintln!("error: {}", report.message);
            ExitCode::from(2)
        }
    }
}
