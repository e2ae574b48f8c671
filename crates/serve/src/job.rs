//! What a delivery asks the workers to do, and in which queue group.
//!
//! Groups order the work the way the Actions mode's concurrency groups do: one pair's requests
//! one at a time (`<env>/<mfe>`), one pull request's checks one at a time
//! (`<repository>#<number>`), the GitOps repository's deploys one at a time
//! (`<repository>:deploy`), different pairs and pull requests in parallel. A group id longer
//! than the queue admits is shortened to a digest of itself (still one group per key).

use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, Login, MfeName, RepositoryName,
};
use gitops_queue::MAX_ID_LEN;
use gitops_webhook::{Delivery, Event};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One unit of work, as a worker reads it from the queue (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A deploy request: a deployment created in an MFE repository (GitHub vouches for the
    /// repository), to be processed (judged, proposed, told on that deployment).
    Request {
        /// The MFE repository.
        repository: RepositoryName,
        /// The deployment (statuses go on it).
        deployment_id: u64,
        /// The requester's commit.
        sha: CommitSha,
        /// The ref the deployment was made from.
        git_ref: String,
        /// The environment.
        environment: EnvironmentName,
        /// Who created the deployment.
        creator: Login,
        /// When GitHub created it (RFC 3339): the request's time.
        created_at: String,
        /// The request id, MFE, version, requester and CDN paths.
        payload: Box<DeploymentPayload>,
    },
    /// A `repository_dispatch` deploy request (the Actions mode's), to be processed.
    Dispatch {
        /// The repository dispatched to (the GitOps repository).
        repository: RepositoryName,
        /// The event type.
        event_type: String,
        /// The client payload as sent (validated by the worker).
        client_payload: Value,
    },
    /// Run the checks of a pull request of the GitOps repository and merge it when they pass.
    Checks {
        /// The GitOps repository.
        repository: RepositoryName,
        /// The pull request.
        pull_request: u64,
    },
    /// Deploy what the GitOps repository's default branch desires.
    Deploy {
        /// The GitOps repository.
        repository: RepositoryName,
        /// The commit pushed.
        after: CommitSha,
    },
    /// Reconcile without a webhook (`gitops serve --sweep-interval`): check and merge every
    /// open deploy pull request, then deploy what the default branch desires. GitHub does not
    /// redeliver a failed delivery by itself; the sweep finishes what a lost one left.
    Sweep {
        /// The GitOps repository.
        repository: RepositoryName,
    },
    /// The App was installed on, removed from, suspended or unsuspended on an account.
    Installation {
        /// The action.
        action: String,
        /// The installation.
        installation: u64,
        /// The account.
        account: Login,
        /// The repositories the event names.
        repositories: Vec<RepositoryName>,
    },
}

impl Job {
    /// The job's kind, as its JSON `kind` and the metrics' label say.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Request { .. } => "request",
            Job::Dispatch { .. } => "dispatch",
            Job::Checks { .. } => "checks",
            Job::Deploy { .. } => "deploy",
            Job::Sweep { .. } => "sweep",
            Job::Installation { .. } => "installation",
        }
    }
}

/// A job with its delivery's context, as enqueued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The delivery it came from (logs name it).
    pub delivery: String,
    /// The App installation the delivery was for.
    pub installation: Option<u64>,
    /// The work.
    pub job: Job,
}

/// One message to enqueue: its group, deduplication id and envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// The ordering group.
    pub group: String,
    /// The deduplication id: the delivery id (with the pull request's number when one delivery
    /// makes several jobs).
    pub dedup_id: String,
    /// What to do.
    pub envelope: Envelope,
}

/// The jobs a verified delivery makes: none for a ping or an ignored event, one per pull
/// request for a check suite, one otherwise (a push only when it is to the default branch).
pub fn jobs_of(delivery: &Delivery) -> Vec<Queued> {
    let one = |group: String, job: Job| Queued {
        group: group_id(&group),
        dedup_id: delivery.id.to_string(),
        envelope: Envelope {
            delivery: delivery.id.to_string(),
            installation: delivery.installation,
            job,
        },
    };
    match &delivery.event {
        Event::Deployment(d) => vec![one(
            format!("{}/{}", d.environment, d.payload.mfe),
            Job::Request {
                repository: d.repository.clone(),
                deployment_id: d.deployment_id,
                sha: d.sha.clone(),
                git_ref: d.git_ref.clone(),
                environment: d.environment.clone(),
                creator: d.creator.clone(),
                created_at: d.created_at.clone(),
                payload: Box::new(d.payload.clone()),
            },
        )],
        Event::Dispatch(d) => vec![one(
            pair_of(&d.client_payload).unwrap_or_else(|| format!("{}:requests", d.repository)),
            Job::Dispatch {
                repository: d.repository.clone(),
                event_type: d.event_type.clone(),
                client_payload: d.client_payload.clone(),
            },
        )],
        Event::PullRequest(p) => vec![one(
            format!("{}#{}", p.repository, p.number),
            Job::Checks {
                repository: p.repository.clone(),
                pull_request: p.number,
            },
        )],
        Event::Review(r) => vec![one(
            format!("{}#{}", r.repository, r.number),
            Job::Checks {
                repository: r.repository.clone(),
                pull_request: r.number,
            },
        )],
        Event::CheckSuite(c) => c
            .pull_requests
            .iter()
            .map(|n| {
                let mut q = one(
                    format!("{}#{n}", c.repository),
                    Job::Checks {
                        repository: c.repository.clone(),
                        pull_request: *n,
                    },
                );
                q.dedup_id = format!("{}/{n}", delivery.id);
                q
            })
            .collect(),
        Event::Push(p) if p.to_default_branch => vec![one(
            format!("{}:deploy", p.repository),
            Job::Deploy {
                repository: p.repository.clone(),
                after: p.after.clone(),
            },
        )],
        Event::Ping | Event::Ignored { .. } | Event::Push(_) => Vec::new(),
        Event::Installation(i) => vec![one(
            format!("installation/{}", i.installation),
            Job::Installation {
                action: i.action.clone(),
                installation: i.installation,
                account: i.account.clone(),
                repositories: i.repositories.clone(),
            },
        )],
    }
}

/// The sweep of `repository` for the `interval` holding `now` (seconds since the epoch): in
/// the repository's deploy group (never beside a deploy), deduplicated per interval, so any
/// number of replicas enqueue one sweep an interval between them.
pub fn sweep_of(repository: &RepositoryName, now: u64, interval: u64) -> Queued {
    let bucket = now / interval.max(1);
    let id = format!("sweep-{bucket}");
    Queued {
        group: group_id(&format!("{repository}:deploy")),
        dedup_id: group_id(&format!("{id}-{repository}")),
        envelope: Envelope {
            delivery: id,
            installation: None,
            job: Job::Sweep {
                repository: repository.clone(),
            },
        },
    }
}

/// `<env>/<mfe>` of a dispatched request's payload, when both parse.
fn pair_of(payload: &Value) -> Option<String> {
    let env = EnvironmentName::parse(payload["environment"].as_str()?).ok()?;
    let mfe = MfeName::parse(payload["mfe"].as_str()?).ok()?;
    Some(format!("{env}/{mfe}"))
}

/// `key` as a queue group id: itself when the queue admits it, else `sha256:` and a digest.
fn group_id(key: &str) -> String {
    if key.chars().count() <= MAX_ID_LEN && key.chars().all(|c| c.is_ascii_graphic()) {
        key.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}
