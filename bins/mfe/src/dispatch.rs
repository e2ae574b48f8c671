//! `mfe dispatch`: build a deploy request from typed arguments, send it as a
//! `repository_dispatch` event, and optionally follow the deployment the GitOps side creates on
//! the requester's commit (matched by the request id in the deployment's payload).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use gitops_event_model::{DeployRequest, EVENT_TYPE};
use gitops_gh_pr::{
    DeploymentState, DeploymentStatus, Error as ForgeError, GithubForge, Requester,
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
    let (timeout, interval) = match (
        seconds("timeout", args.timeout),
        seconds("interval", args.interval),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(send_token) = var("GITOPS_DISPATCH_TOKEN")
        .or_else(|| var("GITOPS_GITHUB_TOKEN"))
        .or_else(|| var("GITHUB_TOKEN"))
    else {
        eprintln!(
            "error: no token: set GITOPS_DISPATCH_TOKEN (allowed to dispatch to {}), or GITOPS_GITHUB_TOKEN / GITHUB_TOKEN",
            args.gitops_repo
        );
        return ExitCode::from(2);
    };
    let read_token = var("GITHUB_TOKEN").unwrap_or_else(|| send_token.clone());
    let forge = |token: String, repo: &str| -> Result<Arc<dyn Requester>, ForgeError> {
        let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
        Ok(Arc::new(GithubForge::new(
            &args.api_url,
            SecretString::from(token),
            owner,
            name,
        )?))
    };
    let (sender, reader) = match (
        forge(send_token, &args.gitops_repo),
        forge(read_token, request.repository().as_str()),
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
    if let Err(e) = sender
        .dispatch(&args.gitops_repo, EVENT_TYPE, &request.to_value())
        .await
    {
        eprintln!(
            "error: could not send the deploy request to {}: {e}",
            args.gitops_repo
        );
        return ExitCode::from(2);
    }
    println!("sent to {} ({EVENT_TYPE})", args.gitops_repo);
    gitops_actions::set_output("request-id", request.id().as_str());
    if !args.wait {
        return ExitCode::SUCCESS;
    }
    let end = wait(reader.as_ref(), &request, timeout, interval).await;
    write_summary(&args.gitops_repo, &request, &end);
    match end {
        End::Deployed(_) => ExitCode::SUCCESS,
        End::Failed(_) => ExitCode::from(1),
        End::TimedOut(_) => ExitCode::from(3),
        End::Error(_) => ExitCode::from(2),
    }
}

/// How waiting ended; carries the last status seen, if any.
#[derive(Debug)]
enum End {
    Deployed(Seen),
    Failed(Seen),
    TimedOut(Seen),
    Error(Seen),
}

#[derive(Debug, Default, Clone)]
struct Seen {
    deployment: Option<u64>,
    last: Option<DeploymentStatus>,
    message: String,
}

async fn wait(
    requester: &dyn Requester,
    request: &DeployRequest,
    timeout: Duration,
    interval: Duration,
) -> End {
    let started = Instant::now();
    let repo = request.repository().as_str();
    let id = request.id().as_str();
    let mut seen = Seen::default();
    let mut last_status_id = 0;
    println!(
        "waiting for the GitOps repository to pick up request {id} (timeout {}s)",
        timeout.as_secs()
    );
    loop {
        match poll(requester, repo, request, &mut seen).await {
            Ok(statuses) => {
                // Print every status not printed yet, oldest first.
                let printed = last_status_id;
                for status in statuses.iter().rev().filter(|s| s.id > printed) {
                    last_status_id = status.id;
                    println!(
                        "{}: {}",
                        state_name(status.state),
                        status.description.as_deref().unwrap_or("")
                    );
                }
                if let Some(newest) = statuses.first() {
                    seen.last = Some(newest.clone());
                    match newest.state {
                        DeploymentState::Success => return End::Deployed(seen),
                        DeploymentState::Failure | DeploymentState::Error => {
                            seen.message = newest.description.clone().unwrap_or_default();
                            return End::Failed(seen);
                        }
                        DeploymentState::Inactive => {
                            // Superseded: fine only if it had succeeded first.
                            if statuses.iter().any(|s| s.state == DeploymentState::Success) {
                                return End::Deployed(seen);
                            }
                            "superseded before it succeeded".clone_into(&mut seen.message);
                            return End::Failed(seen);
                        }
                        DeploymentState::Pending
                        | DeploymentState::Queued
                        | DeploymentState::InProgress => {}
                    }
                }
            }
            Err(ForgeError::Unauthorized { message }) => {
                seen.message = format!("unauthorized reading deployments of {repo}: {message}");
                eprintln!("error: {}", seen.message);
                return End::Error(seen);
            }
            Err(e) => eprintln!("warning: {e} (retrying)"),
        }
        let Some(remaining) = timeout
            .checked_sub(started.elapsed())
            .filter(|r| !r.is_zero())
        else {
            seen.message = format!(
                "no final status after {}s (request {id})",
                timeout.as_secs()
            );
            eprintln!("timeout: {}", seen.message);
            return End::TimedOut(seen);
        };
        tokio::time::sleep(interval.min(remaining)).await;
    }
}

/// Finds our deployment (payload `id` = request id) and returns its statuses, newest first;
/// empty while the GitOps side has not created it.
async fn poll(
    requester: &dyn Requester,
    repo: &str,
    request: &DeployRequest,
    seen: &mut Seen,
) -> Result<Vec<DeploymentStatus>, ForgeError> {
    let deployment = if let Some(d) = seen.deployment {
        d
    } else {
        let deployments = requester
            .list_deployments(repo, request.sha().as_str(), request.environment().as_str())
            .await?;
        let Some(ours) = deployments.iter().find(|d| {
            d.payload.get("id").and_then(serde_json::Value::as_str) == Some(request.id().as_str())
        }) else {
            return Ok(Vec::new());
        };
        println!("deployment {} created on {repo}", ours.id);
        seen.deployment = Some(ours.id);
        ours.id
    };
    requester.deployment_statuses(repo, deployment).await
}

fn state_name(state: DeploymentState) -> &'static str {
    match state {
        DeploymentState::Error => "error",
        DeploymentState::Failure => "failure",
        DeploymentState::Inactive => "inactive",
        DeploymentState::InProgress => "in progress",
        DeploymentState::Queued => "queued",
        DeploymentState::Pending => "pending",
        DeploymentState::Success => "success",
    }
}

/// The job summary (`$GITHUB_STEP_SUMMARY`), when set.
fn write_summary(gitops_repo: &str, request: &DeployRequest, end: &End) {
    if !gitops_actions::has_summary() {
        return;
    }
    let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
    let (outcome, seen) = match end {
        End::Deployed(s) => ("deployed", s),
        End::Failed(s) => ("failed", s),
        End::TimedOut(s) => ("timed out", s),
        End::Error(s) => ("could not be followed", s),
    };
    let repo = request.repository().as_str();
    let mut md = format!(
        "### Deploy {} {} to {}: {outcome}\n\n| | |\n|---|---|\n",
        request.mfe(),
        request.version(),
        request.environment()
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(md, "| {k} | {v} |");
    };
    row("request id", format!("`{}`", request.id()));
    row(
        "GitOps repository",
        format!("[{gitops_repo}]({server}/{gitops_repo}/actions)"),
    );
    row(
        "commit",
        format!(
            "[`{}`]({server}/{repo}/commit/{})",
            &request.sha().as_str()[..12],
            request.sha()
        ),
    );
    if let Some(d) = seen.deployment {
        row(
            "deployment",
            format!(
                "[{d}]({server}/{repo}/deployments/{})",
                request.environment()
            ),
        );
    }
    if let Some(status) = &seen.last {
        row(
            "last status",
            format!(
                "{}: {}",
                state_name(status.state),
                gitops_actions::cell(status.description.as_deref().unwrap_or(""))
            ),
        );
        if let Some(url) = &status.log_url {
            row(
                "logs",
                format!("[deploy run]({})", gitops_actions::cell(url)),
            );
        }
        if let Some(url) = &status.environment_url {
            row(
                "environment",
                format!("[{}]({})", request.environment(), gitops_actions::cell(url)),
            );
        }
    }
    if !seen.message.is_empty() {
        row("reason", gitops_actions::cell(&seen.message));
    }
    md.push('\n');
    gitops_actions::append_summary(&md);
}
