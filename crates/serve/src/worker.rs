//! The workers' loop (issue 19): take a job off the queue, keep it leased while it runs (a
//! heartbeat extends its visibility every third of it), then acknowledge it, leave it to come
//! back after a backoff, or dead-letter it. What a job does is a [`JobRunner`]'s.
//!
//! - A job done is acknowledged: its group's next job is deliverable.
//! - A job that failed in a way a retry may change ([`JobError::Retry`]) is left leased for a
//!   backoff that grows with its attempts (5 s, 10 s, ... at most 5 minutes) and comes back by
//!   itself; after [`WorkerOptions::max_attempts`] deliveries it is dead-lettered with its last
//!   error, and its group goes on.
//! - A job that can never succeed ([`JobError::GiveUp`]), or a message that is no job, is
//!   dead-lettered at once.
//! - On shutdown no new job is taken; the running one finishes within
//!   [`WorkerOptions::grace`], else it is released (given back now) for another replica: the
//!   pipeline converges when a job runs again.
//! - A replica killed mid-job holds no lock: its lease expires and the job is delivered again.

use std::sync::Arc;
use std::time::Duration;

use gitops_queue::{Received, WorkQueue};
use tokio::sync::watch;

use crate::{Envelope, JobMetrics};

/// Why a job did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// A retry may succeed (GitHub or AWS down, a rate limit, a lost race): try again later.
    Retry(String),
    /// No retry will (the job is malformed, the repository is not one this App serves).
    GiveUp(String),
}

/// What runs a job: the pipeline's use-cases with the App's installation tokens in
/// `gitops serve`; tests bring their own.
#[async_trait::async_trait]
pub trait JobRunner: Send + Sync {
    /// Runs `envelope`'s job, the `attempt`-th time (1-based).
    async fn run(&self, envelope: &Envelope, attempt: u32) -> Result<(), JobError>;

    /// `envelope`'s job was dead-lettered for `reason` (given up, or out of attempts): tell
    /// whoever waits on it (a requester's deployment). Best effort; by default nothing.
    async fn gave_up(&self, envelope: &Envelope, reason: &str) {
        let _ = (envelope, reason);
    }
}

/// How a worker leases and retries.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// A job's lease; the heartbeat extends it every third of it.
    pub visibility: Duration,
    /// The longest wait for a job in one receive (at most a third of `visibility` is used).
    pub wait: Duration,
    /// Deliveries of a job before it is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's backoff (doubling per attempt, at most 5 minutes).
    pub backoff: Duration,
    /// How long a shutdown waits for the running job before releasing it.
    pub grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            visibility: Duration::from_mins(1),
            wait: Duration::from_secs(20),
            max_attempts: 5,
            backoff: Duration::from_secs(5),
            grace: Duration::from_secs(30),
        }
    }
}

/// What a worker did until it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs done and acknowledged.
    pub done: u64,
    /// Jobs left to come back after a backoff.
    pub retried: u64,
    /// Jobs dead-lettered.
    pub dead: u64,
    /// Jobs released at shutdown.
    pub released: u64,
}

/// Runs jobs from `queue` with `runner` until `shutdown` turns true.
pub async fn work(
    queue: Arc<dyn WorkQueue>,
    runner: Arc<dyn JobRunner>,
    options: WorkerOptions,
    shutdown: watch::Receiver<bool>,
) -> WorkerReport {
    work_counted(queue, runner, options, shutdown, JobMetrics::default()).await
}

/// [`work`], counting each job's end in `metrics` (the server's `/metrics`).
pub async fn work_counted(
    queue: Arc<dyn WorkQueue>,
    runner: Arc<dyn JobRunner>,
    options: WorkerOptions,
    mut shutdown: watch::Receiver<bool>,
    metrics: JobMetrics,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    // A lease is measured from the start of the receive that took it (the queue's contract),
    // so a long wait would leave a job received late in the wait with little of its lease:
    // waiting at most a third of the visibility leaves two thirds when the job starts, and the
    // heartbeat extends it after one.
    let wait = options.wait.min(options.visibility / 3);
    while !*shutdown.borrow() {
        let received = tokio::select! {
            r = queue.receive(options.visibility, wait) => r,
            _ = shutdown.changed() => break,
        };
        let job = match received {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "the work queue failed; waiting before the next receive");
                tokio::time::sleep(options.backoff).await;
                continue;
            }
        };
        let started = std::time::Instant::now();
        let before = report;
        let kind = handle(&*queue, &*runner, options, &job, &mut shutdown, &mut report).await;
        metrics.job(kind, before.outcome_of(&report), started.elapsed());
    }
    report
}

impl WorkerReport {
    /// Which count grew from `self` to `after` (one job's outcome).
    fn outcome_of(&self, after: &WorkerReport) -> &'static str {
        if after.done > self.done {
            "done"
        } else if after.retried > self.retried {
            "retried"
        } else if after.dead > self.dead {
            "dead"
        } else {
            "released"
        }
    }
}

/// Runs one received job to its end; returns its kind (`unknown` for a message that is no job).
async fn handle(
    queue: &dyn WorkQueue,
    runner: &dyn JobRunner,
    options: WorkerOptions,
    job: &Received,
    shutdown: &mut watch::Receiver<bool>,
    report: &mut WorkerReport,
) -> &'static str {
    let envelope: Envelope = match serde_json::from_str(&job.body) {
        Ok(envelope) => envelope,
        Err(e) => {
            let reason = format!("not a job: {e}");
            settle(
                queue.dead_letter(&job.receipt, &reason).await,
                "dead-letter",
            );
            report.dead += 1;
            return "unknown";
        }
    };
    let heartbeat = async {
        let every = options.visibility / 3;
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = queue.extend(&job.receipt, options.visibility).await {
                tracing::warn!(delivery = %envelope.delivery, error = %e, "the job's lease could not be extended");
            }
        }
    };
    let run = runner.run(&envelope, job.attempts);
    let stopping = async {
        let _ = shutdown.wait_for(|stop| *stop).await;
        tokio::time::sleep(options.grace).await;
    };
    let outcome = tokio::select! {
        outcome = run => Some(outcome),
        () = heartbeat => None,
        () = stopping => None,
    };
    match outcome {
        None => {
            settle(queue.release(&job.receipt).await, "release");
            report.released += 1;
        }
        Some(Ok(())) => {
            settle(queue.ack(&job.receipt).await, "acknowledge");
            report.done += 1;
        }
        Some(Err(JobError::GiveUp(reason))) => {
            dead_letter(queue, runner, &envelope, &job.receipt, &reason).await;
            report.dead += 1;
        }
        Some(Err(JobError::Retry(reason))) if job.attempts >= options.max_attempts => {
            let reason = format!("gave up after {} attempts: {reason}", job.attempts);
            dead_letter(queue, runner, &envelope, &job.receipt, &reason).await;
            report.dead += 1;
        }
        Some(Err(JobError::Retry(reason))) => {
            tracing::info!(delivery = %envelope.delivery, attempt = job.attempts, %reason, "the job will be retried");
            let shift = job.attempts.saturating_sub(1).min(16);
            let backoff = options
                .backoff
                .saturating_mul(1 << shift)
                .min(Duration::from_mins(5));
            settle(queue.extend(&job.receipt, backoff).await, "back off");
            report.retried += 1;
        }
    }
    envelope.job.kind()
}

/// Dead-letters a job that ran and tells its runner, after the queue took it.
async fn dead_letter(
    queue: &dyn WorkQueue,
    runner: &dyn JobRunner,
    envelope: &Envelope,
    receipt: &gitops_queue::Receipt,
    reason: &str,
) {
    tracing::warn!(delivery = %envelope.delivery, %reason, "the job is dead-lettered");
    let result = queue.dead_letter(receipt, reason).await;
    let taken = result.is_ok();
    settle(result, "dead-letter");
    if taken {
        runner.gave_up(envelope, reason).await;
    }
}

/// Logs a queue call that failed after a job ran: the lease then simply expires and the job is
/// delivered again (the pipeline converges on a re-run).
fn settle(result: Result<(), gitops_queue::Error>, what: &str) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not {what} the job; it will be delivered again");
    }
}
