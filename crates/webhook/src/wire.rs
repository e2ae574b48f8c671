//! The payloads as GitHub sends them, reduced to the fields read (serde ignores the rest), and
//! their conversion into [`Event`]s.

use gitops_event_model::{CommitSha, DeploymentPayload, EnvironmentName, Login, RepositoryName};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    CheckSuiteCompleted, DeploymentCreated, Dispatch, Event, InstallationChanged,
    PullRequestChanged, Pushed, ReviewChanged, parse,
};

/// The events `gitops serve` handles.
pub(crate) const KNOWN: &[&str] = &[
    "ping",
    "deployment",
    "repository_dispatch",
    "pull_request",
    "pull_request_review",
    "check_suite",
    "push",
    "installation",
];

/// What every payload may carry.
#[derive(Deserialize)]
pub(crate) struct Common {
    pub(crate) action: Option<String>,
    pub(crate) installation: Option<Installation>,
}

#[derive(Deserialize)]
pub(crate) struct Installation {
    pub(crate) id: u64,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct DeploymentEvent {
    deployment: Deployment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Deployment {
    id: u64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    environment: String,
    #[serde(default)]
    payload: Value,
    creator: User,
    created_at: String,
}

#[derive(Deserialize)]
struct DispatchEvent {
    action: String,
    #[serde(default)]
    client_payload: Value,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    number: u64,
    pull_request: Pull,
    repository: Repository,
}

#[derive(Deserialize)]
struct Pull {
    head: Branch,
    base: BaseBranch,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
}

#[derive(Deserialize)]
struct BaseBranch {
    #[serde(rename = "ref")]
    git_ref: String,
}

#[derive(Deserialize)]
struct ReviewEvent {
    review: Review,
    pull_request: Numbered,
    repository: Repository,
}

#[derive(Deserialize)]
struct Review {
    state: String,
}

#[derive(Deserialize)]
struct Numbered {
    number: u64,
}

#[derive(Deserialize)]
struct CheckSuiteEvent {
    check_suite: CheckSuite,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckSuite {
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<Numbered>,
}

#[derive(Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: PushRepository,
}

#[derive(Deserialize)]
struct PushRepository {
    full_name: String,
    default_branch: String,
}

#[derive(Deserialize)]
struct InstallationEvent {
    installation: InstallationObject,
    #[serde(default)]
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
struct InstallationObject {
    id: u64,
    account: User,
}

/// Why `error` refused a body, without any of the body's content (serde_json's own message
/// may quote a value).
pub(crate) fn reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let at = format!("line {} column {}", error.line(), error.column());
    if let Some(rest) = text.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return format!("missing field `{field}`");
    }
    match error.classify() {
        serde_json::error::Category::Data => format!("a field has the wrong type ({at})"),
        _ => format!("not JSON ({at})"),
    }
}

fn repository(r: &Repository) -> Result<RepositoryName, String> {
    RepositoryName::parse(&r.full_name)
        .map_err(|_| "repository.full_name is not `owner/name`".to_owned())
}

fn sha(field: &str, s: &str) -> Result<CommitSha, String> {
    CommitSha::parse(s).map_err(|_| format!("{field} is not a commit sha"))
}

fn ignored(event: &str, action: Option<&str>, why: &'static str) -> Event {
    Event::Ignored {
        event: event.to_owned(),
        action: action.map(str::to_owned),
        why,
    }
}

/// The [`Event`] of `body`, a payload of `event` whose action is `action`.
pub(crate) fn event(event: &str, action: Option<&str>, body: &[u8]) -> Result<Event, String> {
    let is = |actions: &[&str]| action.is_some_and(|a| actions.contains(&a));
    Ok(match event {
        "ping" => Event::Ping,
        "deployment" if is(&["created"]) => deployment(parse(body)?)?,
        "repository_dispatch" => {
            let d: DispatchEvent = parse(body)?;
            Event::Dispatch(Dispatch {
                repository: repository(&d.repository)?,
                event_type: d.action,
                client_payload: d.client_payload,
            })
        }
        "pull_request" if is(&["opened", "reopened", "synchronize", "ready_for_review"]) => {
            let p: PullRequestEvent = parse(body)?;
            Event::PullRequest(PullRequestChanged {
                repository: repository(&p.repository)?,
                action: action.unwrap_or_default().to_owned(),
                number: p.number,
                head_ref: p.pull_request.head.git_ref,
                head_sha: sha("pull_request.head.sha", &p.pull_request.head.sha)?,
                base_ref: p.pull_request.base.git_ref,
            })
        }
        "pull_request_review" if is(&["submitted", "dismissed"]) => {
            let r: ReviewEvent = parse(body)?;
            Event::Review(ReviewChanged {
                repository: repository(&r.repository)?,
                action: action.unwrap_or_default().to_owned(),
                number: r.pull_request.number,
                state: r.review.state.to_ascii_lowercase(),
            })
        }
        "check_suite" if is(&["completed"]) => {
            let c: CheckSuiteEvent = parse(body)?;
            Event::CheckSuite(CheckSuiteCompleted {
                repository: repository(&c.repository)?,
                head_sha: sha("check_suite.head_sha", &c.check_suite.head_sha)?,
                pull_requests: c
                    .check_suite
                    .pull_requests
                    .iter()
                    .map(|p| p.number)
                    .collect(),
            })
        }
        "push" => {
            let p: PushEvent = parse(body)?;
            if p.deleted {
                return Ok(ignored(event, action, "a branch or tag deleted"));
            }
            if !p.git_ref.starts_with("refs/heads/") {
                return Ok(ignored(event, action, "a push to a tag"));
            }
            Event::Push(Pushed {
                repository: repository(&Repository {
                    full_name: p.repository.full_name,
                })?,
                after: sha("after", &p.after)?,
                to_default_branch: p.git_ref.strip_prefix("refs/heads/")
                    == Some(p.repository.default_branch.as_str()),
                git_ref: p.git_ref,
            })
        }
        "installation" if is(&["created", "deleted", "suspend", "unsuspend"]) => {
            let i: InstallationEvent = parse(body)?;
            Event::Installation(InstallationChanged {
                action: action.unwrap_or_default().to_owned(),
                installation: i.installation.id,
                account: Login::parse(&i.installation.account.login)
                    .map_err(|_| "installation.account.login is not a login".to_owned())?,
                repositories: i
                    .repositories
                    .iter()
                    .map(repository)
                    .collect::<Result<_, _>>()?,
            })
        }
        _ => ignored(event, action, "an action gitops serve does not act on"),
    })
}

/// A created deployment: ours when its environment is an environment name and its payload a
/// deploy request's ([`DeploymentPayload`]; GitHub sends the payload as an object, or as the
/// string it was created with).
fn deployment(d: DeploymentEvent) -> Result<Event, String> {
    let action = Some("created");
    let payload = match d.deployment.payload {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        other => other,
    };
    let Some(payload) = DeploymentPayload::from_value(&payload) else {
        return Ok(ignored(
            "deployment",
            action,
            "its payload is not a deploy request",
        ));
    };
    let Ok(environment) = EnvironmentName::parse(&d.deployment.environment) else {
        return Ok(ignored(
            "deployment",
            action,
            "its environment is no environment name",
        ));
    };
    Ok(Event::Deployment(DeploymentCreated {
        repository: repository(&d.repository)?,
        deployment_id: d.deployment.id,
        sha: sha("deployment.sha", &d.deployment.sha)?,
        git_ref: d.deployment.git_ref,
        environment,
        creator: Login::parse(&d.deployment.creator.login)
            .map_err(|_| "deployment.creator.login is not a login".to_owned())?,
        created_at: d.deployment.created_at,
        payload,
    }))
}
