//! The load generator: signed `deployment` deliveries, an open loop at a fixed rate with a
//! bounded number in flight, a closed loop for the saturation rate, and their figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// GitHub's limit for an answer: a delivery not answered within it is failed.
pub const GITHUB_TIMEOUT: Duration = Duration::from_secs(10);

/// The environments the pairs are spread over (the example repository's).
const ENVIRONMENTS: [&str; 2] = ["staging", "prod"];

/// One delivery, ready to send: its body and the headers GitHub would send with it (the
/// delivery id is drawn at send time: every POST is a new delivery).
pub struct Delivery {
    pub body: Bytes,
    pub signature: String,
}

/// `count` distinct `deployment` `created` deliveries over `pairs` pairs (`mfe-NNN` in
/// staging and prod), each with its own deploy request (a fresh ULID) and deployment id, signed
/// with `secret`, shaped as GitHub (and fake-github) sends them: the deployment, the MFE
/// repository as webhook payloads carry it, the sender and the App installation.
pub fn deliveries(secret: &SecretString, count: usize, pairs: usize) -> Vec<Delivery> {
    (0..count)
        .map(|i| {
            let pair = i % pairs.max(1);
            let mfe = format!("mfe-{:03}", pair / ENVIRONMENTS.len());
            let environment = ENVIRONMENTS[pair % ENVIRONMENTS.len()];
            let body = Bytes::from(body(&mfe, environment, i as u64 + 1).to_string());
            let signature = gitops_webhook::signature(secret, &body);
            Delivery { body, signature }
        })
        .collect()
}

fn user(login: &str, id: u64, kind: &str) -> Value {
    let u = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id:08}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": u, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"), "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind, "user_view_type": "public", "site_admin": false,
    })
}

fn repository(full: &str, id: u64) -> Value {
    let u = format!("https://api.github.com/repos/{full}");
    let name = full.rsplit('/').next().unwrap_or(full);
    let mut r = json!({
        "id": id, "node_id": format!("R_kgDO{id:08}"), "name": name, "full_name": full,
        "private": true, "owner": user("acme", 1000, "Organization"),
        "html_url": format!("https://github.com/{full}"), "description": null, "fork": false,
        "url": u, "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-11-30T09:00:00Z",
        "pushed_at": "2026-12-01T08:00:00Z", "git_url": format!("git://github.com/{full}.git"),
        "ssh_url": format!("git@github.com:{full}.git"),
        "clone_url": format!("https://github.com/{full}.git"),
        "svn_url": format!("https://github.com/{full}"), "homepage": null, "size": 812,
        "stargazers_count": 0, "watchers_count": 0, "language": "TypeScript",
        "has_issues": true, "has_projects": false, "has_downloads": true, "has_wiki": false,
        "has_pages": false, "has_discussions": false, "forks_count": 0, "mirror_url": null,
        "archived": false, "disabled": false, "open_issues_count": 0, "license": null,
        "allow_forking": false, "is_template": false, "web_commit_signoff_required": false,
        "topics": [], "visibility": "private", "forks": 0, "open_issues": 0, "watchers": 0,
        "default_branch": "main", "custom_properties": {},
    });
    for (key, path) in [
        ("forks_url", "forks"),
        ("keys_url", "keys{/key_id}"),
        ("collaborators_url", "collaborators{/collaborator}"),
        ("teams_url", "teams"),
        ("hooks_url", "hooks"),
        ("issue_events_url", "issues/events{/number}"),
        ("events_url", "events"),
        ("assignees_url", "assignees{/user}"),
        ("branches_url", "branches{/branch}"),
        ("tags_url", "tags"),
        ("blobs_url", "git/blobs{/sha}"),
        ("git_tags_url", "git/tags{/sha}"),
        ("git_refs_url", "git/refs{/sha}"),
        ("trees_url", "git/trees{/sha}"),
        ("statuses_url", "statuses/{sha}"),
        ("languages_url", "languages"),
        ("stargazers_url", "stargazers"),
        ("contributors_url", "contributors"),
        ("subscribers_url", "subscribers"),
        ("subscription_url", "subscription"),
        ("commits_url", "commits{/sha}"),
        ("git_commits_url", "git/commits{/sha}"),
        ("comments_url", "comments{/number}"),
        ("issue_comment_url", "issues/comments{/number}"),
        ("contents_url", "contents/{+path}"),
        ("compare_url", "compare/{base}...{head}"),
        ("merges_url", "merges"),
        ("archive_url", "{archive_format}{/ref}"),
        ("downloads_url", "downloads"),
        ("issues_url", "issues{/number}"),
        ("pulls_url", "pulls{/number}"),
        ("milestones_url", "milestones{/number}"),
        (
            "notifications_url",
            "notifications{?since,all,participating}",
        ),
        ("labels_url", "labels{/name}"),
        ("releases_url", "releases{/id}"),
        ("deployments_url", "deployments"),
    ] {
        r[key] = json!(format!("{u}/{path}"));
    }
    r
}

/// The body of the `n`-th delivery: a deployment of `mfe` to `environment` created by the MFE
/// repository's workflow, carrying a deploy request's payload.
fn body(mfe: &str, environment: &str, n: u64) -> Value {
    let full = format!("acme/{mfe}");
    let repo_id = 5_000 + n % 1_000;
    let u = format!("https://api.github.com/repos/{full}");
    let id = 9_000_000 + n;
    let sha = format!("{:040x}", 0xfeed_0000_u64 + n);
    json!({
        "action": "created",
        "deployment": {
            "url": format!("{u}/deployments/{id}"), "id": id,
            "node_id": format!("DE_kwDO{id:010}"), "sha": sha, "ref": "main",
            "task": "deploy",
            "payload": {
                "id": ulid::Ulid::generate().to_string(),
                "mfe": mfe,
                "version": format!("1.{}.{}", n / 1_000, n % 1_000),
            },
            "original_environment": environment, "environment": environment,
            "description": format!("deploy {mfe}"),
            "creator": user("github-actions[bot]", 41_898_282, "Bot"),
            "created_at": "2026-12-01T19:00:00Z", "updated_at": "2026-12-01T19:00:00Z",
            "statuses_url": format!("{u}/deployments/{id}/statuses"), "repository_url": u,
            "transient_environment": false,
            "production_environment": environment == "prod",
        },
        "workflow": null,
        "workflow_run": null,
        "repository": repository(&full, repo_id),
        "organization": {"login": "acme", "id": 1000, "node_id": "O_kgDOAAAD6A",
            "url": "https://api.github.com/orgs/acme", "description": null},
        "sender": user("github-actions[bot]", 41_898_282, "Bot"),
        "installation": {"id": 77_001, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzcwMDE="},
    })
}

/// What one POST got: its latency (sent to answered), its lateness against its schedule (open
/// loop) and its answer.
struct Answer {
    latency: Duration,
    from_schedule: Duration,
    outcome: Result<u16, String>,
}

/// The figures of one measured run.
#[derive(Debug, Default)]
pub struct Figures {
    /// Deliveries sent.
    pub sent: usize,
    /// Answers by status (`error` for no answer).
    pub statuses: BTreeMap<String, usize>,
    /// The first few answers other than 202, described.
    pub errors: Vec<String>,
    /// Latencies of every answered delivery, sorted.
    pub latencies: Vec<Duration>,
    /// From each delivery's scheduled time to its answer, sorted (open loop: it includes the
    /// wait for a free slot when the bound on in-flight deliveries is reached).
    pub from_schedule: Vec<Duration>,
    /// First send to last answer.
    pub wall: Duration,
}

impl Figures {
    fn of(answers: Vec<Answer>, wall: Duration) -> Self {
        let mut f = Figures {
            sent: answers.len(),
            wall,
            ..Figures::default()
        };
        for a in answers {
            match a.outcome {
                Ok(status) => {
                    *f.statuses.entry(status.to_string()).or_default() += 1;
                    if status != 202 && f.errors.len() < 5 {
                        f.errors.push(format!("answered {status}"));
                    }
                    f.latencies.push(a.latency);
                    f.from_schedule.push(a.from_schedule);
                }
                Err(e) => {
                    *f.statuses.entry("error".to_owned()).or_default() += 1;
                    if f.errors.len() < 5 {
                        f.errors.push(e);
                    }
                }
            }
        }
        f.latencies.sort_unstable();
        f.from_schedule.sort_unstable();
        f
    }

    /// Deliveries answered 202.
    pub fn accepted(&self) -> usize {
        self.statuses.get("202").copied().unwrap_or(0)
    }

    /// Deliveries answered otherwise or not at all.
    pub fn failed(&self) -> usize {
        self.sent - self.accepted()
    }

    /// Deliveries answered 202 a second, over the run's wall time.
    pub fn rate(&self) -> f64 {
        self.accepted() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the latencies.
    pub fn latency(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }
}

/// The nearest-rank `q` quantile of `sorted` (zero when empty).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A client for one run (its own connections: a run starts with none).
pub fn client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(GITHUB_TIMEOUT)
        .pool_max_idle_per_host(pool)
        .build()
        .expect("an HTTP client")
}

async fn post(client: &reqwest::Client, url: &str, delivery: &Delivery) -> Result<u16, String> {
    let guid = uuid::Uuid::new_v4().to_string();
    let answer = client
        .post(url)
        .header(gitops_webhook::EVENT_HEADER, "deployment")
        .header(gitops_webhook::DELIVERY_HEADER, guid)
        .header(gitops_webhook::SIGNATURE_HEADER, &delivery.signature)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/bench")
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = answer.status().as_u16();
    // Read the answer to its end, so the connection is reused.
    answer
        .bytes()
        .await
        .map_err(|e| format!("answer cut: {e}"))?;
    Ok(status)
}

/// Open loop: delivery `i` is due at `i / rate` seconds and sent then, or as soon as one of
/// `in_flight` slots is free; the deliveries go round-robin to `urls`.
pub async fn open_loop(
    urls: &[String],
    deliveries: &Arc<Vec<Delivery>>,
    rate: f64,
    count: usize,
    in_flight: usize,
) -> Figures {
    let client = client(in_flight);
    let slots = Arc::new(Semaphore::new(in_flight));
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("the semaphore stays open");
        let (client, deliveries) = (client.clone(), Arc::clone(deliveries));
        let url = urls[i % urls.len()].clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = post(&client, &url, &deliveries[i % deliveries.len()]).await;
            let done = Instant::now();
            drop(slot);
            (
                Answer {
                    latency: done - sent,
                    from_schedule: done.saturating_duration_since(due),
                    outcome,
                },
                done,
            )
        }));
    }
    let mut answers = Vec::with_capacity(count);
    let mut last = start;
    for t in tasks {
        let (answer, done) = t.await.expect("a delivery task");
        last = last.max(done);
        answers.push(answer);
    }
    Figures::of(answers, last.saturating_duration_since(start))
}

/// Closed loop: `in_flight` senders, each sending its next delivery as soon as the last is
/// answered, for `length`; the deliveries go round-robin to `urls`.
pub async fn closed_loop(
    urls: &[String],
    deliveries: &Arc<Vec<Delivery>>,
    in_flight: usize,
    length: Duration,
) -> Figures {
    let client = client(in_flight);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + length;
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let (client, deliveries, next) =
            (client.clone(), Arc::clone(deliveries), Arc::clone(&next));
        let urls = urls.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut last = start;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = post(
                    &client,
                    &urls[i % urls.len()],
                    &deliveries[i % deliveries.len()],
                )
                .await;
                last = Instant::now();
                answers.push(Answer {
                    latency: last - sent,
                    from_schedule: last - sent,
                    outcome,
                });
            }
            (answers, last)
        }));
    }
    let mut answers = Vec::new();
    let mut last = start;
    for t in tasks {
        let (mine, done) = t.await.expect("a sender task");
        last = last.max(done);
        answers.extend(mine);
    }
    Figures::of(answers, last.saturating_duration_since(start))
}
