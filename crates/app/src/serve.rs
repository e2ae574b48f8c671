//! `gitops serve` (issue 19, App mode): the same pipeline behind a server GitHub calls.
//!
//! The ingress (`gitops-serve`) verifies each webhook and enqueues its jobs; this module's
//! workers run them with the App's installation tokens:
//! - a `deployment` created in an MFE repository IS a deploy request (GitHub asserts the
//!   repository; [`OriginCheck::Asserted`]): judged and proposed, told on that deployment;
//! - a `repository_dispatch` is processed as the Actions mode does (origin proven from the
//!   requester's deployment);
//! - a deploy pull request's events run its checks and merge it when they pass;
//! - a push to the default branch deploys what it desires;
//! - every `--sweep-interval` a sweep merges the open deploy pull requests and deploys, which
//!   finishes what a lost webhook left (GitHub does not redeliver a failed delivery).
//!
//! The GitOps repository is read from the server's own clone (`--repo`, cloned from
//! `GITOPS_REPO_URL` when it is not one yet), fetched before every job: gitops.yaml, mfes/,
//! deployments/ and the history that orders desired states are always the default branch's
//! newest. A redelivered request is recognised on GitHub itself: a deployment already told
//! (it has a status) is not processed again, whichever replica sees it. A job given up (dead
//! letter) is told on the requester's deployment as `error`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gitops_event_model::{CommitSha, DeploymentFacts, DeploymentPayload, RepositoryName};
use gitops_gh_pr::{
    AppCredentials, DeploymentState, InstallationRequester, InstallationTokens, Requester,
};
use gitops_pipeline::{ErrorClass, OriginCheck};
use gitops_queue::WorkQueue;
use gitops_runtime::{ForgeHandle, ForgeKind};
use gitops_serve::{Envelope, Ingress, Job, JobError, JobRunner, WorkerOptions};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::{RwLock, RwLockReadGuard, watch};
use tracing::Instrument as _;

use crate::{Error, Filters, Session};

/// How long one git call of the server's clone may take.
const GIT_TIMEOUT: Duration = Duration::from_mins(2);

/// `gitops serve`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where to listen for GitHub's webhooks (`POST /webhook`); port 0 picks a free port.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// The work queue: `sqlite:PATH` (one machine; default `sqlite:<repo>/.gitops/serve/
    /// queue.sqlite`) or an SQS FIFO queue's URL (replicas share it).
    #[arg(long)]
    pub queue: Option<String>,
    /// With an SQS queue: its dead-letter queue's URL (default `<name>-dlq.fifo` beside it).
    #[arg(long, value_name = "URL")]
    pub dead_letter_queue: Option<String>,
    /// Worker tasks in this process; 0 only takes deliveries (another process works them).
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Deliveries of a job before it is dead-lettered (and its requester told `error`).
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// Seconds a job stays leased (the heartbeat extends it while it runs).
    #[arg(long, default_value_t = 60)]
    pub visibility: u64,
    /// Seconds of the first retry's backoff (doubling per attempt, at most 5 minutes).
    #[arg(long, default_value_t = 5.0)]
    pub backoff: f64,
    /// Seconds between sweeps (every open deploy pull request checked and merged, then a
    /// deploy), which finish what a lost webhook left: GitHub does not redeliver a failed
    /// delivery by itself. 0: never.
    #[arg(long, default_value_t = 600)]
    pub sweep_interval: u64,
}

/// What the server reads from its environment.
struct Settings {
    secret: SecretString,
    gitops_repo: RepositoryName,
    api_url: String,
    clone_url: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    fn from_env() -> Result<Self, Error> {
        let secret = var("GITOPS_WEBHOOK_SECRET").map(SecretString::from).ok_or_else(|| {
            Error::Usage(
                "GITOPS_WEBHOOK_SECRET is not set: the App's webhook secret, which every delivery's signature is checked against".to_owned(),
            )
        })?;
        let raw = var("GITOPS_REPOSITORY")
            .or_else(|| var("GITHUB_REPOSITORY"))
            .ok_or_else(|| {
                Error::Usage(
                    "GITOPS_REPOSITORY is not set: the GitOps repository, owner/name".to_owned(),
                )
            })?;
        let gitops_repo = RepositoryName::parse(&raw)
            .map_err(|e| Error::Usage(format!("GITOPS_REPOSITORY: {}", e.message)))?;
        let api_url =
            var("GITHUB_API_URL").unwrap_or_else(|| gitops_gh_pr::DEFAULT_API_URL.to_owned());
        let clone_url = var("GITOPS_REPO_URL").unwrap_or_else(|| {
            let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            format!("{}/{gitops_repo}.git", server.trim_end_matches('/'))
        });
        Ok(Settings {
            secret,
            gitops_repo,
            api_url,
            clone_url,
        })
    }
}

/// Runs the server until SIGTERM or Ctrl-C: the ingress on `--listen` (its address handed to
/// `announce` once bound) and `--workers` workers on the queue; then stops taking deliveries,
/// lets the running jobs finish (or releases them after the grace) and returns.
pub async fn run(repo: &Path, args: &Args, announce: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    init_logs();
    let settings = Settings::from_env()?;
    let app = AppCredentials::from_env()
        .await
        .map_err(|e| Error::Usage(e.to_string()))?;
    let tokens = Arc::new(InstallationTokens::new(&settings.api_url, app));
    let checkout = Checkout {
        dir: repo.to_path_buf(),
        url: settings.clone_url.clone(),
        gitops_repo: settings.gitops_repo.clone(),
        tokens: Arc::clone(&tokens),
        lock: RwLock::new(None),
    };
    checkout.prepare().await.map_err(Error::Usage)?;
    let queue = open_queue(repo, args).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let runner: Arc<dyn JobRunner> = Arc::new(AppRunner {
        requester: Arc::new(InstallationRequester::new(Arc::clone(&tokens))),
        tokens,
        gitops_repo: settings.gitops_repo.clone(),
        checkout,
        deployed: tokio::sync::Mutex::new(None),
    });
    let options = WorkerOptions {
        visibility: Duration::from_secs(args.visibility.max(3)),
        max_attempts: args.max_attempts.max(1),
        backoff: Duration::try_from_secs_f64(args.backoff)
            .map_err(|_| Error::Usage("--backoff must be a number of seconds".to_owned()))?,
        ..WorkerOptions::default()
    };
    let (stop, stopped) = watch::channel(false);
    let ingress = Arc::new(Ingress::new(settings.secret, Arc::clone(&queue)));
    let workers: Vec<_> = (0..args.workers)
        .map(|_| {
            tokio::spawn(gitops_serve::work_counted(
                Arc::clone(&queue),
                Arc::clone(&runner),
                options,
                stopped.clone(),
                ingress.job_metrics(),
            ))
        })
        .collect();
    let sweeper = (args.sweep_interval > 0).then(|| {
        tokio::spawn(sweep_every(
            Arc::clone(&queue),
            settings.gitops_repo.clone(),
            Duration::from_secs(args.sweep_interval),
            stopped.clone(),
        ))
    });
    let router = gitops_serve::router(ingress);
    announce(address);
    tracing::info!(%address, workers = args.workers, "gitops serve is listening");
    let served = gitops_serve::serve(listener, router, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new deliveries; running jobs finish or are released");
        let _ = stop.send(true);
    })
    .await;
    if let Some(sweeper) = sweeper {
        let _ = sweeper.await;
    }
    for worker in workers {
        if let Ok(report) = worker.await {
            tracing::info!(
                done = report.done,
                retried = report.retried,
                dead = report.dead,
                released = report.released,
                "worker stopped"
            );
        }
    }
    served.map_err(|e| Error::Usage(format!("serving {address}: {e}")))
}

/// Enqueues a sweep of `repository` every `every` until `stopped` (replicas enqueue one an
/// interval between them: [`gitops_serve::sweep_of`]).
async fn sweep_every(
    queue: Arc<dyn WorkQueue>,
    repository: RepositoryName,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let sweep = gitops_serve::sweep_of(&repository, now, every.as_secs());
        let sent = match serde_json::to_string(&sweep.envelope) {
            Ok(body) => {
                let message = gitops_queue::Message::new(sweep.group, sweep.dedup_id, body);
                queue
                    .send(&message)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "the sweep could not be enqueued; the next one will be");
        }
    }
}

/// JSON lines on standard error, filtered by `RUST_LOG` (default `info`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_writer(std::io::stderr)
        .try_init();
}

/// SIGTERM (how containers are stopped) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The queue `--queue` names.
async fn open_queue(repo: &Path, args: &Args) -> Result<Arc<dyn WorkQueue>, Error> {
    let spec = args.queue.clone().unwrap_or_else(|| {
        format!(
            "sqlite:{}",
            repo.join(".gitops/serve/queue.sqlite").display()
        )
    });
    if let Some(path) = spec.strip_prefix("sqlite:") {
        let path = PathBuf::from(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::Usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        let queue = gitops_queue::SqliteQueue::open(&path)
            .await
            .map_err(|e| Error::Usage(format!("--queue {spec}: {e}")))?;
        return Ok(Arc::new(queue));
    }
    let is_url = spec.starts_with("https://") || spec.starts_with("http://");
    let Some(stem) = spec.strip_suffix(".fifo").filter(|_| is_url) else {
        return Err(Error::Usage(format!(
            "--queue {spec}: give sqlite:PATH or an SQS FIFO queue's URL (ending in .fifo)"
        )));
    };
    let dead = args
        .dead_letter_queue
        .clone()
        .unwrap_or_else(|| format!("{stem}-dlq.fifo"));
    Ok(Arc::new(
        gitops_queue::SqsQueue::from_env(spec.clone(), dead).await,
    ))
}

/// The server's clone of the GitOps repository: fetched and moved to the default branch's
/// newest commit before each job (exclusively), read by any number of jobs at once.
struct Checkout {
    dir: PathBuf,
    url: String,
    gitops_repo: RepositoryName,
    tokens: Arc<InstallationTokens>,
    /// Held exclusively to move the clone, shared while a job loads from it; it holds when
    /// the last successful fetch started.
    lock: RwLock<Option<Instant>>,
}

impl Checkout {
    /// Clones the repository into the directory unless it is a clone already.
    async fn prepare(&self) -> Result<(), String> {
        if tokio::fs::try_exists(self.dir.join(".git"))
            .await
            .unwrap_or(false)
        {
            return Ok(());
        }
        let parent = self
            .dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let dir = self.dir.to_string_lossy().into_owned();
        self.git(parent, &["clone", "--quiet", "--no-tags", &self.url, &dir])
            .await
            .map(drop)
    }

    /// The default branch's newest commit checked out; read-locked for the job. Jobs asking
    /// together share one fetch: a fetch that started after a job asked serves it.
    async fn fresh(&self) -> Result<RwLockReadGuard<'_, Option<Instant>>, String> {
        let asked = Instant::now();
        {
            let mut fetched = self.lock.write().await;
            if fetched.is_some_and(|started| started >= asked) {
                drop(fetched);
                return Ok(self.lock.read().await);
            }
            *fetched = Some(Instant::now());
            let done = async {
                let fetch = ["fetch", "--quiet", "--no-tags", "origin", "HEAD"];
                self.git(&self.dir, &fetch).await?;
                let checkout = ["checkout", "--quiet", "--force", "--detach", "FETCH_HEAD"];
                self.git(&self.dir, &checkout).await
            }
            .await;
            if let Err(e) = done {
                *fetched = None;
                return Err(e);
            }
        }
        Ok(self.lock.read().await)
    }

    /// `git ARGS` in `cwd`, authenticated with an installation token when the clone is
    /// fetched over HTTP(S) (an `http.extraHeader` in the environment: never in a command
    /// line, a file or an error), bounded by [`GIT_TIMEOUT`].
    async fn git(&self, cwd: &Path, args: &[&str]) -> Result<String, String> {
        let mut env = Vec::new();
        if self.url.starts_with("https://") || self.url.starts_with("http://") {
            let token = self
                .tokens
                .token_for(&self.gitops_repo)
                .await
                .map_err(|e| format!("a token to fetch {}: {e}", self.gitops_repo))?;
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("x-access-token:{}", token.expose_secret()));
            env.push(("GIT_CONFIG_COUNT", "1".to_owned()));
            env.push(("GIT_CONFIG_KEY_0", "http.extraHeader".to_owned()));
            env.push((
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: basic {basic}"),
            ));
        }
        gitops_runtime::git_with(cwd, args, &env, GIT_TIMEOUT)
            .await
            .map_err(|e| format!("{e} ({})", self.gitops_repo))
    }
}

/// Runs jobs with the App's tokens.
struct AppRunner {
    tokens: Arc<InstallationTokens>,
    requester: Arc<InstallationRequester>,
    gitops_repo: RepositoryName,
    checkout: Checkout,
    /// The default branch's commit this process last deployed without a failure: a push job
    /// finding the branch still there has nothing new to deploy (a burst of pushes is one
    /// deploy, not one per push).
    deployed: tokio::sync::Mutex<Option<String>>,
}

/// A use-case's failure as a job's: retried when a retry may help, else given up. A broken
/// GitOps repository is described by its first problem (file, line, field), not by where the
/// server keeps its clone: the text reaches requesters.
fn classify(error: &Error) -> JobError {
    let text = match error {
        Error::Repository { problems, .. } if !problems.is_empty() => format!(
            "the GitOps repository's default branch does not load ({} problem(s)): {}",
            problems.len(),
            problems[0]
        ),
        e => e.to_string(),
    };
    if error.class() == ErrorClass::Retryable {
        JobError::Retry(text)
    } else {
        JobError::GiveUp(text)
    }
}

/// A GitHub call's failure as a job's.
fn forge_failure(error: gitops_gh_pr::Error) -> JobError {
    classify(&Error::Pipeline(error.into()))
}

#[async_trait::async_trait]
impl JobRunner for AppRunner {
    async fn run(&self, envelope: &Envelope, attempt: u32) -> Result<(), JobError> {
        let span = tracing::info_span!(
            "job",
            delivery = %envelope.delivery,
            kind = envelope.job.kind(),
            attempt,
            request = tracing::field::Empty
        );
        async {
            let outcome = self.run_job(&envelope.job).await;
            match &outcome {
                Ok(()) => tracing::info!("job done"),
                Err(e) => tracing::warn!(error = ?e, "job failed"),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn gave_up(&self, envelope: &Envelope, reason: &str) {
        let text = format!("gitops serve gave up: {reason}");
        match &envelope.job {
            Job::Request {
                repository,
                deployment_id,
                ..
            } => {
                self.tell(repository, *deployment_id, DeploymentState::Error, &text)
                    .await;
            }
            Job::Dispatch {
                event_type,
                client_payload,
                ..
            } => {
                let request = request_of(event_type, client_payload);
                if let Some((repository, id)) = self.proven(&request).await {
                    self.tell(&repository, id, DeploymentState::Error, &text)
                        .await;
                }
            }
            _ => {}
        }
    }
}

impl AppRunner {
    async fn run_job(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Request {
                repository,
                deployment_id,
                sha,
                git_ref,
                environment,
                creator,
                created_at,
                payload,
            } => {
                let facts = DeploymentFacts {
                    repository: repository.as_str(),
                    sha: sha.as_str(),
                    git_ref,
                    environment: environment.as_str(),
                    created_at,
                    creator: creator.as_str(),
                };
                self.request(&facts, *deployment_id, payload).await
            }
            Job::Dispatch {
                event_type,
                client_payload,
                ..
            } => self.dispatch(event_type, client_payload).await,
            Job::Checks {
                repository,
                pull_request,
            } if *repository == self.gitops_repo => self.checks(Some(*pull_request)).await,
            Job::Sweep { repository } if *repository == self.gitops_repo => self.sweep().await,
            Job::Deploy { repository, after } if *repository == self.gitops_repo => {
                tracing::info!(%after, "deploying the default branch");
                self.deploy().await
            }
            Job::Checks { repository, .. }
            | Job::Deploy { repository, .. }
            | Job::Sweep { repository } => {
                tracing::info!(%repository, "not the GitOps repository this server runs: ignored");
                Ok(())
            }
            Job::Installation {
                action,
                installation,
                account,
                repositories,
            } => {
                tracing::info!(
                    %action, installation, %account, repositories = repositories.len(),
                    "installation changed"
                );
                Ok(())
            }
        }
    }

    /// A deployment created in an MFE repository: the request itself.
    async fn request(
        &self,
        facts: &DeploymentFacts<'_>,
        deployment_id: u64,
        payload: &DeploymentPayload,
    ) -> Result<(), JobError> {
        let repository =
            RepositoryName::parse(facts.repository).map_err(|e| JobError::GiveUp(e.message))?;
        tracing::Span::current().record("request", payload.id.as_str());
        tracing::info!(mfe = %payload.mfe, version = %payload.version, "deploy request");
        if self.told(&repository, deployment_id).await? {
            tracing::info!("already told on its deployment: a redelivery");
            return Ok(());
        }
        let request = payload.request(facts);
        if let Err(e) = &request {
            let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
            let text = format!("invalid request: {}", problems.join("; "));
            self.tell(&repository, deployment_id, DeploymentState::Failure, &text)
                .await;
            return Ok(());
        }
        self.process(&request, OriginCheck::Asserted(deployment_id))
            .await
    }

    /// A `repository_dispatch` (the Actions mode's request), its origin proven as there.
    async fn dispatch(
        &self,
        event_type: &str,
        client_payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        if event_type != gitops_event_model::EVENT_TYPE {
            tracing::info!(%event_type, "not a deploy request's event type: ignored");
            return Ok(());
        }
        let request = request_of(event_type, client_payload);
        if let Ok(request) = &request {
            tracing::Span::current().record("request", request.id().as_str());
        }
        if let Some((repository, id)) = self.proven(&request).await
            && self.told(&repository, id).await?
        {
            tracing::info!(
                deployment = id,
                "already told on its deployment: a redelivery"
            );
            return Ok(());
        }
        self.process(&request, OriginCheck::Verify).await
    }

    async fn process(
        &self,
        request: &Result<gitops_event_model::DeployRequest, gitops_event_model::Error>,
        origin: OriginCheck,
    ) -> Result<(), JobError> {
        let (session, head, _) = self.session(false).await?;
        let handle = self.handle(&session).await?;
        let at = OffsetDateTime::now_utc();
        let report = session
            .process_on(request, at, false, &handle, (origin, head.as_ref()))
            .await
            .map_err(|e| classify(&e));
        flush(&session).await;
        let report = report?;
        tracing::info!(
            decision = ?report.decision.decision,
            codes = ?report.decision.codes(),
            pull_request = report.pull_request,
            "processed"
        );
        Ok(())
    }

    /// Checks and merges pull request `pr`, or (a sweep) every open deploy pull request.
    async fn checks(&self, pr: Option<u64>) -> Result<(), JobError> {
        let (session, _, _) = self.session(false).await?;
        let handle = self.handle(&session).await?;
        let results = session
            .merge_on(&handle, pr, OffsetDateTime::now_utc())
            .await
            .map_err(|e| classify(&e));
        flush(&session).await;
        let results = results?;
        let mut retry = None;
        for (number, result) in results {
            match result {
                Ok(outcome) => tracing::info!(pull_request = number, outcome = ?outcome, "checked"),
                Err(e) => {
                    tracing::warn!(pull_request = number, error = %e, "the checks or the merge failed");
                    let failed = classify(&Error::Pipeline(e));
                    // One pull request's failure is the job's when it is the only one; a
                    // sweep goes on and comes back for what a retry may help.
                    if pr.is_some() || matches!(failed, JobError::Retry(_)) {
                        retry.get_or_insert(failed);
                    }
                }
            }
        }
        retry.map_or(Ok(()), Err)
    }

    /// What a lost webhook left: every open deploy pull request checked (and merged), then
    /// the default branch deployed.
    async fn sweep(&self) -> Result<(), JobError> {
        let checked = self.checks(None).await;
        self.deploy().await?;
        checked
    }

    async fn deploy(&self) -> Result<(), JobError> {
        // One deploy at a time in this process (the queue orders them per repository across
        // replicas too), so the head loaded here is the one deployed.
        let mut deployed = self.deployed.lock().await;
        let (session, head, revisions) = self.session(true).await?;
        let head = head.map(|h| h.to_string());
        if head.is_some() && *deployed == head {
            tracing::info!(head = ?head, "already deployed at the default branch's head");
            return Ok(());
        }
        let Some(revisions) = revisions else {
            return Err(JobError::Retry(
                "the desired states' order was not read".into(),
            ));
        };
        let requester: Arc<dyn Requester> = self.requester.clone();
        // The deploy's future is not provably `Send` (borrows across awaits deep in the
        // pipeline), so it runs to completion on a blocking thread of this same runtime.
        let runtime = tokio::runtime::Handle::current();
        let span = tracing::Span::current();
        let report = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                runtime.block_on(session.deploy_with(&Filters::default(), revisions, requester))
            })
        })
        .await
        .map_err(|e| JobError::Retry(format!("the deploy was interrupted: {e}")))?
        .map_err(|e| classify(&e))?;
        for pair in &report.pairs {
            tracing::info!(environment = %pair.environment, mfe = %pair.mfe, outcome = ?pair.outcome, "deploy");
        }
        match report.failure_class() {
            None => {
                *deployed = head;
                Ok(())
            }
            Some(ErrorClass::Retryable) => Err(JobError::Retry("a pair failed to deploy".into())),
            Some(_) => Err(JobError::GiveUp("a pair failed to deploy".into())),
        }
    }

    /// The GitOps repository at its default branch's newest commit, that commit and, when
    /// asked, the order of its desired states (from its history): read while the clone is
    /// held still; then the clone is free for the next job to move.
    async fn session(
        &self,
        revisions: bool,
    ) -> Result<(Session, Option<CommitSha>, Option<gitops_gh_pr::Revisions>), JobError> {
        let _still = self.checkout.fresh().await.map_err(JobError::Retry)?;
        let session = Session::open(&self.checkout.dir)
            .await
            .map_err(|e| classify(&e))?;
        let head = session.runtime.checkout_head().await;
        let revisions = if revisions {
            let read = session.runtime.revisions().await;
            Some(read.map_err(|e| classify(&Error::from(e)))?)
        } else {
            None
        };
        Ok((session, head, revisions))
    }

    /// The GitOps repository's forge with an installation token, merging the way its
    /// gitops.yaml says; requesters told with their own installations' tokens.
    async fn handle(&self, session: &Session) -> Result<ForgeHandle, JobError> {
        let forge = self
            .tokens
            .forge_for(&self.gitops_repo)
            .await
            .map_err(forge_failure)?
            .with_merge_method(session.repository.config.merge_method)
            .resolve()
            .await
            .map_err(forge_failure)?;
        Ok(ForgeHandle {
            forge: Arc::new(forge),
            requester: self.requester.clone(),
            kind: ForgeKind::Github,
        })
    }

    /// Whether the deployment has any status yet (the request was processed and told).
    async fn told(&self, repository: &RepositoryName, deployment: u64) -> Result<bool, JobError> {
        match self
            .requester
            .deployment_statuses(repository, deployment)
            .await
        {
            Ok(statuses) => Ok(!statuses.is_empty()),
            Err(gitops_gh_pr::Error::NotFound { .. }) => Err(JobError::GiveUp(format!(
                "deployment {deployment} of {repository} cannot be read (deleted, or the App is not installed there)"
            ))),
            Err(e) => Err(forge_failure(e)),
        }
    }

    /// The requester's deployment of a dispatched request, when it is valid and proven.
    async fn proven(
        &self,
        request: &Result<gitops_event_model::DeployRequest, gitops_event_model::Error>,
    ) -> Option<(RepositoryName, u64)> {
        let request = request.as_ref().ok()?;
        match gitops_pipeline::origin::prove(self.requester.as_ref(), request).await {
            Ok(Ok(id)) => Some((request.repository().clone(), id)),
            _ => None,
        }
    }

    /// Posts a status on a requester's deployment; a failure is logged (best effort).
    async fn tell(
        &self,
        repository: &RepositoryName,
        deployment: u64,
        state: DeploymentState,
        text: &str,
    ) {
        if let Err(e) = self
            .requester
            .create_deployment_status(
                repository,
                deployment,
                state,
                &gitops_pipeline::clip(text),
                None,
                None,
            )
            .await
        {
            tracing::warn!(%repository, deployment, error = %e, "could not tell the requester");
        }
    }
}

/// Writes the stage events a job recorded (process, merge) where its environments keep them;
/// a failed write is a warning, never the job's failure. (A deploy flushes its own.)
async fn flush(session: &Session) {
    for warning in session.runtime.flush_metrics().await.warnings {
        tracing::warn!(%warning, "stage events");
    }
}

/// A dispatched client payload as a deploy request (validated as `gitops process` does).
fn request_of(
    event_type: &str,
    client_payload: &serde_json::Value,
) -> Result<gitops_event_model::DeployRequest, gitops_event_model::Error> {
    let bytes = serde_json::to_vec(client_payload).unwrap_or_default();
    gitops_event_model::validate_event(&bytes, event_type).map(|v| v.request)
}
