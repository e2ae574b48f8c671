//! `gitops serve` (issue 19, App mode): GitHub's webhooks in, jobs out onto the work queue.
//!
//! `POST /webhook` reads the body (bounded), verifies and reads the delivery
//! ([`gitops_webhook::read`]: nothing is parsed before the signature checks), turns it into
//! jobs ([`job::jobs_of`]) and sends each to the [`WorkQueue`] with the delivery id as its
//! deduplication id, so a redelivery is never a second job; then answers at once: the work is
//! never done inline, so the answer stays far inside GitHub's 10 seconds. Answers: `202`
//! enqueued, `200` a duplicate, a ping or an event that asks nothing, the refusal's own status
//! for a delivery refused (`401` unsigned or mis-signed, `413` too large, `400` otherwise: no
//! side effect), `503` when the queue could not take it (GitHub shows the delivery failed; it
//! can be redelivered). `GET /healthz` says the process runs; `GET /readyz` that the queue
//! answers (within 2 s); `GET /metrics` is the Prometheus text of the deliveries by outcome,
//! their handling time, and the queue's depth, in-flight count, oldest message's age and dead
//! letters, and the jobs this process's workers ended by kind and outcome and how long they ran.

pub mod job;
mod metrics;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gitops_queue::{Message, Sent, WorkQueue};
use gitops_webhook::{Headers, Limits};
use secrecy::SecretString;
use serde_json::json;

pub use job::{Envelope, Job, Queued, jobs_of, sweep_of};
pub use metrics::JobMetrics;
pub use worker::{JobError, JobRunner, WorkerOptions, WorkerReport, work, work_counted};

/// How long `/readyz` waits for the queue.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// What the webhook endpoint needs: the webhook secret, the bounds and the queue.
pub struct Ingress {
    secret: SecretString,
    limits: Limits,
    queue: Arc<dyn WorkQueue>,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("secret", &"[redacted]")
            .field("limits", &self.limits)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Ingress {
    /// Deliveries signed with `secret`, enqueued on `queue`, within [`Limits::default`].
    pub fn new(secret: SecretString, queue: Arc<dyn WorkQueue>) -> Self {
        Ingress {
            secret,
            limits: Limits::default(),
            queue,
            metrics: metrics::Metrics::new(),
        }
    }

    /// The job counters `/metrics` shows, for this process's workers ([`work_counted`]).
    pub fn job_metrics(&self) -> JobMetrics {
        self.metrics.jobs.clone()
    }

    /// Other bounds.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Handles one delivery: the status, the outcome's name (the metric's label, and the
    /// answer's `outcome`) and the rest of the answer.
    async fn accept(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (StatusCode, &'static str, serde_json::Value) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let delivery = match gitops_webhook::read(
            &self.secret,
            Headers {
                event: header(gitops_webhook::EVENT_HEADER),
                delivery: header(gitops_webhook::DELIVERY_HEADER),
                signature: header(gitops_webhook::SIGNATURE_HEADER),
            },
            body,
            self.limits,
        ) {
            Ok(delivery) => delivery,
            Err(refused) => {
                let status =
                    StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
                tracing::info!(status = status.as_u16(), reason = %refused, "delivery refused");
                return (status, "refused", json!({"reason": refused.to_string()}));
            }
        };
        let jobs = jobs_of(&delivery);
        if jobs.is_empty() {
            return (
                StatusCode::OK,
                "ignored",
                json!({"delivery": delivery.id.as_str()}),
            );
        }
        let mut enqueued = 0;
        for queued in &jobs {
            let body = match serde_json::to_string(&queued.envelope) {
                Ok(body) => body,
                Err(e) => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "failed",
                        json!({"reason": e.to_string()}),
                    );
                }
            };
            let message = Message::new(&queued.group, &queued.dedup_id, body);
            match self.queue.send(&message).await {
                Ok(Sent::Duplicate) => {}
                Ok(Sent::Enqueued | Sent::Accepted) => enqueued += 1,
                Err(e) => {
                    tracing::warn!(delivery = %delivery.id, error = %e, "the queue did not take the job");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        json!({"reason": "the work queue did not take the job; redeliver"}),
                    );
                }
            }
        }
        if enqueued == 0 {
            return (
                StatusCode::OK,
                "duplicate",
                json!({"delivery": delivery.id.as_str()}),
            );
        }
        tracing::info!(delivery = %delivery.id, jobs = enqueued, "delivery enqueued");
        (
            StatusCode::ACCEPTED,
            "enqueued",
            json!({"delivery": delivery.id.as_str(), "jobs": enqueued}),
        )
    }
}

/// The server's routes over `ingress`.
pub fn router(ingress: Arc<Ingress>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(ingress)
}

async fn webhook(State(ingress): State<Arc<Ingress>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let limit = ingress.limits.max_body_bytes;
    let (status, outcome, mut answer) =
        match axum::body::to_bytes(body, limit.saturating_add(1)).await {
            Ok(bytes) if bytes.len() <= limit => ingress.accept(&headers, &bytes).await,
            _ => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "refused",
                json!({"reason": format!("the delivery's body is over {limit} bytes")}),
            ),
        };
    answer["outcome"] = outcome.into();
    ingress
        .metrics
        .delivery(outcome, status.as_u16(), started.elapsed());
    (status, axum::Json(answer)).into_response()
}

async fn ready(State(ingress): State<Arc<Ingress>>) -> Response {
    match tokio::time::timeout(READY_WITHIN, ingress.queue.stats()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the work queue fails: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the work queue did not answer within 2 s\n",
        )
            .into_response(),
    }
}

async fn metrics_text(State(ingress): State<Arc<Ingress>>) -> Response {
    if let Ok(Ok(stats)) = tokio::time::timeout(READY_WITHIN, ingress.queue.stats()).await {
        ingress.metrics.queue(&stats);
    }
    match ingress.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            Bytes::from(text),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in
/// flight (axum's graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
