//! The server's Prometheus metrics (prometheus-client's registry and OpenMetrics text).

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use gitops_queue::QueueStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    outcome: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// The workers' side of the metrics: jobs by kind and outcome, and how long they ran. Cheap to
/// clone (shared counters); [`crate::Ingress::job_metrics`] hands out the ones `/metrics` shows.
#[derive(Clone, Debug)]
pub struct JobMetrics {
    jobs: Family<JobLabels, Counter>,
    running: Histogram,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            jobs: Family::default(),
            // 10 ms to ~20 minutes.
            running: Histogram::new(exponential_buckets(0.01, 2.0, 18)),
        }
    }
}

impl JobMetrics {
    /// A job of `kind` ended as `outcome` (done, retried, dead, released) after `took`.
    pub(crate) fn job(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        self.jobs.get_or_create(&JobLabels { kind, outcome }).inc();
        self.running.observe(took.as_secs_f64());
    }
}

pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    pub(crate) jobs: JobMetrics,
    deliveries: Family<DeliveryLabels, Counter>,
    handling: Histogram,
    depth: Gauge,
    in_flight: Gauge,
    oldest_age: Gauge<f64, AtomicU64>,
    dead_letters: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        // 0.5 ms to ~4 s.
        let handling = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let (depth, in_flight, dead_letters) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let oldest_age = Gauge::<f64, AtomicU64>::default();
        let mut registry = Registry::default();
        registry.register(
            "gitops_webhook_deliveries",
            "Webhook deliveries answered, by outcome (enqueued, duplicate, ignored, refused, unavailable) and HTTP status.",
            deliveries.clone(),
        );
        registry.register(
            "gitops_webhook_handling_seconds",
            "Time from a delivery's request to its answer.",
            handling.clone(),
        );
        registry.register(
            "gitops_queue_depth",
            "Jobs waiting in the work queue.",
            depth.clone(),
        );
        registry.register(
            "gitops_queue_in_flight",
            "Jobs a worker is holding.",
            in_flight.clone(),
        );
        registry.register(
            "gitops_queue_oldest_age_seconds",
            "Age of the oldest job not done (0 when the queue is empty or cannot tell).",
            oldest_age.clone(),
        );
        registry.register(
            "gitops_queue_dead_letters",
            "Jobs given up on (in the dead-letter queue).",
            dead_letters.clone(),
        );
        let jobs = JobMetrics::default();
        registry.register(
            "gitops_jobs",
            "Jobs the workers of this process ended, by kind (request, dispatch, checks, deploy, installation) and outcome (done, retried, dead, released).",
            jobs.jobs.clone(),
        );
        registry.register(
            "gitops_job_seconds",
            "How long a job ran before it ended.",
            jobs.running.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            jobs,
            deliveries,
            handling,
            depth,
            in_flight,
            oldest_age,
            dead_letters,
        }
    }

    pub(crate) fn delivery(&self, outcome: &str, status: u16, took: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                outcome: outcome.to_owned(),
                status,
            })
            .inc();
        self.handling.observe(took.as_secs_f64());
    }

    pub(crate) fn queue(&self, stats: &QueueStats) {
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.depth, stats.depth);
        gauge(&self.in_flight, stats.in_flight);
        gauge(&self.dead_letters, stats.dead_letters);
        self.oldest_age
            .set(stats.oldest_age.map_or(0.0, |a| a.as_secs_f64()));
    }

    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}
