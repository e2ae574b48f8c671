//! What the load is sent to: `gitops serve` replicas sharing one SQLite queue file (as
//! processes, or in this process on a runtime of their own), and the peer, a trivial endpoint
//! answering 202.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use gitops_queue::{QueueStats, SqliteQueue, WorkQueue};
use gitops_serve::Ingress;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a `gitops serve` process has to print its address and be ready.
const START_WITHIN: Duration = Duration::from_mins(1);

/// Running endpoints: their webhook URLs and what stops them.
pub struct Replicas {
    pub urls: Vec<String>,
    servers: Vec<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
    processes: Vec<(Child, PathBuf)>,
    /// The queue file they share (none for the peer).
    pub queue: Option<PathBuf>,
    runtime: Handle,
}

/// `count` peers on `runtime`: axum answering `POST /webhook` with 202 after reading the body,
/// nothing else.
pub async fn peers(runtime: &Handle, count: usize) -> Replicas {
    let mut r = Replicas::empty(runtime, None);
    for _ in 0..count {
        let router = axum::Router::new().route(
            "/webhook",
            axum::routing::post(|_body: axum::body::Bytes| async { StatusCode::ACCEPTED }),
        );
        r.spawn(router).await;
    }
    r
}

/// `count` ingresses of `gitops_serve` on `runtime`, each over its own handle on the SQLite
/// queue file `queue` (what `gitops serve --workers 0` runs, without the process).
pub async fn in_process(
    runtime: &Handle,
    count: usize,
    secret: &SecretString,
    queue: &Path,
) -> Replicas {
    let mut r = Replicas::empty(runtime, Some(queue.to_owned()));
    for _ in 0..count {
        let path = queue.to_owned();
        let opened = runtime
            .spawn(async move { SqliteQueue::open(path).await })
            .await
            .expect("the open task")
            .expect("the SQLite queue opens");
        let ingress = Ingress::new(secret.clone(), Arc::new(opened));
        r.spawn(gitops_serve::router(Arc::new(ingress))).await;
    }
    r
}

/// `count` `gitops --repo DIR serve --listen 127.0.0.1:0 --queue sqlite:<queue> --workers 0`
/// processes of `gitops`, each with its own clone in `work`, logs (JSON lines, `RUST_LOG=info`)
/// in `work/serve-<i>.log`.
pub async fn processes(
    runtime: &Handle,
    count: usize,
    secret: &str,
    gitops: &Path,
    repo: &Path,
    queue: &Path,
    work: &Path,
) -> Replicas {
    let mut r = Replicas::empty(runtime, Some(queue.to_owned()));
    for i in 0..count {
        let clone = work.join(format!("replica-{i}"));
        crate::git(
            work,
            &[
                "clone",
                "--quiet",
                &repo.display().to_string(),
                &clone.display().to_string(),
            ],
        );
        let log = work.join(format!("serve-{i}.log"));
        let mut command = Command::new(gitops);
        command
            .arg("--repo")
            .arg(&clone)
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "0"])
            .arg("--queue")
            .arg(format!("sqlite:{}", queue.display()))
            .env("GITOPS_WEBHOOK_SECRET", secret)
            .env("GITOPS_REPOSITORY", "acme/gitops")
            .env("GITOPS_REPO_URL", repo)
            // The App's credentials are read at start-up; with --workers 0 no token is minted.
            .env("GITOPS_APP_ID", "1")
            .env("GITOPS_APP_PRIVATE_KEY_FILE", app_key())
            .env_remove("GITOPS_APP_PRIVATE_KEY")
            // Never called with --workers 0: nothing listens there.
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the log file"))
            .kill_on_drop(true);
        for var in gitops_e2e::SCRUBBED {
            command.env_remove(var);
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("{} does not start: {e}", gitops.display());
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let first = tokio::time::timeout(START_WITHIN, async {
            BufReader::new(stdout).lines().next_line().await
        })
        .await;
        let url = match first {
            Ok(Ok(Some(line))) => match line.strip_prefix("listening on ") {
                Some(base) => format!("{}/webhook", base.trim_end_matches('/')),
                None => panic!("gitops serve's first line is {line:?}"),
            },
            other => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                panic!(
                    "gitops serve printed no address ({other:?}); its log ({}):\n{}",
                    log.display(),
                    tail(&log)
                );
            }
        };
        ready(&url, &log).await;
        r.urls.push(url);
        r.processes.push((child, log));
    }
    r
}

/// fake-github's test App key (a fixture of gitops-testkit).
fn app_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/testkit/fixtures/github-app-test-key.pem")
}

/// Waits for `/readyz` next to `webhook` to answer 200.
async fn ready(webhook: &str, log: &Path) {
    let url = webhook.replace("/webhook", "/readyz");
    let client = crate::load::client(1);
    let until = Instant::now() + START_WITHIN;
    loop {
        if let Ok(answer) = client.get(&url).send().await
            && answer.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "{url} was not ready within {START_WITHIN:?}; log ({}):\n{}",
            log.display(),
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a log.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Replicas {
    fn empty(runtime: &Handle, queue: Option<PathBuf>) -> Self {
        Replicas {
            urls: Vec::new(),
            servers: Vec::new(),
            processes: Vec::new(),
            queue,
            runtime: runtime.clone(),
        }
    }

    async fn spawn(&mut self, router: axum::Router) {
        let listener = self
            .runtime
            .spawn(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("the bind task")
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = self
            .runtime
            .spawn(gitops_serve::serve(listener, router, async {
                let _ = stopped.await;
            }));
        self.urls.push(format!("http://{addr}/webhook"));
        self.servers.push((stop, server));
    }

    /// Stops them all: in-process servers finish what is in flight; processes get SIGTERM
    /// (they stop taking deliveries and exit 0) and are killed after 10 s. Problems (a process
    /// exiting otherwise) are returned.
    pub async fn stop(self) -> Vec<String> {
        let mut problems = Vec::new();
        for (stop, server) in self.servers {
            let _ = stop.send(());
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => problems.push(format!("an in-process server failed: {e}")),
                Ok(Err(e)) => problems.push(format!("an in-process server panicked: {e}")),
                Err(_) => problems.push("an in-process server did not stop within 10 s".into()),
            }
        }
        for (mut child, log) in self.processes {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => problems.push(format!(
                    "gitops serve exited with {status} on SIGTERM (log {})",
                    log.display()
                )),
                Ok(Err(e)) => problems.push(format!("waiting for gitops serve: {e}")),
                Err(_) => {
                    let _ = child.kill().await;
                    problems.push(format!(
                        "gitops serve did not exit within 10 s of SIGTERM (killed; log {})",
                        log.display()
                    ));
                }
            }
        }
        problems
    }

    /// The shared queue's figures, read through a handle of its own.
    pub async fn queue_stats(&self) -> Option<QueueStats> {
        let path = self.queue.clone()?;
        self.runtime
            .spawn(async move {
                let queue = SqliteQueue::open(path).await.ok()?;
                queue.stats().await.ok()
            })
            .await
            .ok()
            .flatten()
    }
}
