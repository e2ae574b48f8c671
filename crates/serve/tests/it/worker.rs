//! The workers' loop over the embedded queue: done, retried, given up, leased while long,
//! released at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gitops_queue::{Message, SqliteQueue, WorkQueue};
use gitops_serve::{Envelope, Job, JobError, JobRunner, WorkerOptions, WorkerReport, work};
use tokio::sync::watch;

/// A runner answering by attempt, counting its runs, taking `takes` per run, recording what
/// it was told of its jobs given up.
struct Scripted {
    answer: fn(u32) -> Result<(), JobError>,
    takes: Duration,
    runs: AtomicU32,
    given_up: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl JobRunner for Scripted {
    async fn run(&self, _envelope: &Envelope, attempt: u32) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        (self.answer)(attempt)
    }

    async fn gave_up(&self, envelope: &Envelope, reason: &str) {
        self.given_up
            .lock()
            .unwrap()
            .push((envelope.delivery.clone(), reason.to_owned()));
    }
}

fn runner(answer: fn(u32) -> Result<(), JobError>, takes: Duration) -> Arc<Scripted> {
    Arc::new(Scripted {
        answer,
        takes,
        runs: AtomicU32::new(0),
        given_up: std::sync::Mutex::new(Vec::new()),
    })
}

fn options() -> WorkerOptions {
    WorkerOptions {
        visibility: Duration::from_secs(1),
        wait: Duration::from_millis(200),
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        grace: Duration::from_millis(300),
    }
}

async fn queue_with(bodies: &[String]) -> (tempfile::TempDir, Arc<SqliteQueue>) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(
        SqliteQueue::open(dir.path().join("queue.db"))
            .await
            .unwrap(),
    );
    for (i, body) in bodies.iter().enumerate() {
        queue
            .send(&Message::new(
                "prod/checkout",
                format!("d{i}"),
                body.clone(),
            ))
            .await
            .unwrap();
    }
    (dir, queue)
}

fn job() -> String {
    serde_json::to_string(&Envelope {
        delivery: "d".to_owned(),
        installation: Some(1),
        job: Job::Checks {
            repository: gitops_event_model::RepositoryName::parse("acme/gitops").unwrap(),
            pull_request: 7,
        },
    })
    .unwrap()
}

/// Runs one worker until `until` holds of the queue's stats (at most 20 s), then stops it.
async fn run_until(
    queue: Arc<SqliteQueue>,
    runner: Arc<Scripted>,
    options: WorkerOptions,
    until: fn(&gitops_queue::QueueStats) -> bool,
) -> WorkerReport {
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(work(queue.clone(), runner, options, stopped));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !until(&queue.stats().await.unwrap()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            queue.stats().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap()
}

fn empty(s: &gitops_queue::QueueStats) -> bool {
    s.depth == 0 && s.in_flight == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_done_is_acknowledged_and_one_retried_comes_back_after_its_backoff() {
    let (_d, queue) = queue_with(&[job(), job()]).await;
    let r = runner(
        |attempt| {
            if attempt == 1 {
                Err(JobError::Retry("GitHub answered 502".to_owned()))
            } else {
                Ok(())
            }
        },
        Duration::ZERO,
    );
    let report = run_until(queue.clone(), r.clone(), options(), empty).await;
    assert_eq!(report.done, 2, "{report:?}");
    assert_eq!(report.retried, 2, "{report:?}");
    assert_eq!(r.runs.load(Ordering::SeqCst), 4);
    assert_eq!(queue.stats().await.unwrap().dead_letters, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_never_succeed_or_are_no_jobs_are_dead_lettered() {
    let (_d, queue) = queue_with(&[job(), "{not a job".to_owned()]).await;
    let r = runner(
        |_| Err(JobError::Retry("still down".to_owned())),
        Duration::ZERO,
    );
    let report = run_until(queue.clone(), r.clone(), options(), |s| s.dead_letters == 2).await;
    assert_eq!(r.runs.load(Ordering::SeqCst), 3, "max_attempts runs");
    assert_eq!((report.dead, report.done), (2, 0), "{report:?}");
    // The runner hears of the job it ran (to tell its requester), once, with the last error;
    // a message that is no job has nobody to tell.
    assert_eq!(
        *r.given_up.lock().unwrap(),
        [(
            "d".to_owned(),
            "gave up after 3 attempts: still down".to_owned()
        )]
    );
    let (_d2, queue) = queue_with(&[job()]).await;
    let r = runner(
        |_| Err(JobError::GiveUp("not our repository".to_owned())),
        Duration::ZERO,
    );
    let report = run_until(queue.clone(), r.clone(), options(), |s| s.dead_letters == 1).await;
    assert_eq!((report.dead, r.runs.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(r.given_up.lock().unwrap()[0].1, "not our repository");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_stays_leased_and_runs_once_with_two_workers() {
    let (_d, queue) = queue_with(&[job()]).await;
    // 2.5 s against a 1 s lease: only the heartbeat keeps the other worker away.
    let r = runner(|_| Ok(()), Duration::from_millis(2500));
    let (stop, stopped) = watch::channel(false);
    let workers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(work(queue.clone(), r.clone(), options(), stopped.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !empty(&queue.stats().await.unwrap()) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    let mut done = 0;
    for w in workers {
        done += w.await.unwrap().done;
    }
    assert_eq!((done, r.runs.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_releases_a_job_that_outlives_the_grace() {
    let (_d, queue) = queue_with(&[job()]).await;
    let r = runner(|_| Ok(()), Duration::from_secs(30));
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(work(queue.clone(), r.clone(), options(), stopped));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while r.runs.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the shutdown waits only the grace")
        .unwrap();
    assert_eq!(report.released, 1, "{report:?}");
    // Given back at once: another replica takes it, its second delivery.
    let again = queue
        .receive(Duration::from_secs(5), Duration::from_secs(1))
        .await
        .unwrap()
        .expect("the job is back");
    assert_eq!(again.attempts, 2);
}
