//! Deploy metrics for mfe-gitops.
//!
//! - [`StageEvent`]: one structured event per stage of each deploy request ([`Stage`],
//!   [`Outcome`]), one JSON object per line with a fixed key order; [`StageClock`] and
//!   [`StageTimer`] stamp and measure them.
//! - [`MetricsSink`]: where events go. [`JsonlSink`] appends to a JSON Lines file (by default
//!   [`DEFAULT_RELATIVE_PATH`] beside a local registry), [`MemorySink`], [`NullSink`],
//!   [`MultiSink`].
//! - [`read_events`]: reads a file back, tolerating a truncated last line.
//! - [`aggregate`]: the four DORA numbers over a range, as pure functions over events.
//! - [`report()`]: the metrics report (the DORA four per environment and MFE from git history,
//!   the registry's history and the events; per-stage times), pure; [`render`] turns it into
//!   a terminal table, Markdown with Mermaid charts, or the Prometheus exposition format.
//!
//! No SDK, no HTTP, no async runtime: recording is one short blocking append.

mod aggregate;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod event;
mod read;
pub mod render;
mod report;
mod sink;

pub use aggregate::{Aggregates, DayCount, DurationStats, Query, aggregate, environments};
pub use error::Error;
pub use event::{MAX_DETAIL_BYTES, Outcome, Stage, StageClock, StageEvent, StageTimer};
pub use read::{EventLog, parse_event_log, read_event_log, read_events};
pub use report::{
    ChangeFailureRate, DeploymentFrequency, DesiredChange, DoraFigures, FailureCounts,
    FrequencyCounts, LeadTime, LeadTimeBasis, LeadTimeCounts, LiveRecord, MetricsInput,
    MetricsQuery, MetricsReport, RECENT_LIMIT, RecoveryCounts, RecoveryTime, ReportStage,
    StageStats, Window, report,
};
pub use sink::{
    DEFAULT_RELATIVE_PATH, JsonlSink, MemorySink, MetricsSink, MultiSink, NullSink,
    default_path_beside,
};
