//! The event: one per stage of each deploy request, one JSON object per line.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::Error;

/// Longest `detail` written to a line, in bytes; longer details are cut at a character boundary
/// and end with `…`, so one error message cannot blow up a line.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// A stage of a deploy request's life, in pipeline order. The kebab-case names are stable: they
/// are what the events file holds and what dashboards filter on. `Refused` and `Failed` are
/// terminal markers for a request that stops without a more specific stage (see their docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// `received`: the deploy request was read and validated (`gitops process`).
    Received,
    /// `pr-opened`: the deploy PR was created or updated.
    PrOpened,
    /// `checks-passed`: the quality checks ran on the PR's head (`gitops merge`).
    ChecksPassed,
    /// `merged`: the PR was merged.
    Merged,
    /// `uploaded`: the artifact was fetched, verified and copied to its immutable prefix.
    Uploaded,
    /// `committed`: the registry's conditional write, the single commit point. A successful
    /// `committed` means the version is live.
    Committed,
    /// `invalidated`: the mutable CDN paths were invalidated.
    Invalidated,
    /// `reported`: the requester was told (deployment status, job summary).
    Reported,
    /// `refused`: the request was refused before any stage could act on it (validation,
    /// policy, freeze); `detail` holds the reasons. Use with [`Outcome::Refused`].
    Refused,
    /// `failed`: the deploy of the pair gave up for a reason not tied to one stage above.
    /// Counts as a failed deploy. Use with [`Outcome::Failure`].
    Failed,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 10] = [
        Stage::Received,
        Stage::PrOpened,
        Stage::ChecksPassed,
        Stage::Merged,
        Stage::Uploaded,
        Stage::Committed,
        Stage::Invalidated,
        Stage::Reported,
        Stage::Refused,
        Stage::Failed,
    ];

    /// The stable kebab-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::PrOpened => "pr-opened",
            Stage::ChecksPassed => "checks-passed",
            Stage::Merged => "merged",
            Stage::Uploaded => "uploaded",
            Stage::Committed => "committed",
            Stage::Invalidated => "invalidated",
            Stage::Reported => "reported",
            Stage::Refused => "refused",
            Stage::Failed => "failed",
        }
    }

    /// Whether the stage belongs to the deploy phase (`gitops deploy`), the part the DORA
    /// aggregates count deploys from: `uploaded`, `committed`, `invalidated`, `reported`,
    /// `failed`.
    pub const fn is_deploy_phase(self) -> bool {
        matches!(
            self,
            Stage::Uploaded
                | Stage::Committed
                | Stage::Invalidated
                | Stage::Reported
                | Stage::Failed
        )
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| Error::invalid("stage", format!("unknown stage `{s}`")))
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `success`: the stage did its work.
    Success,
    /// `failure`: the stage failed (an outside service, a bad artifact, a failed check).
    Failure,
    /// `skipped`: the stage did not run (e.g. an earlier stage failed, or `--dry-run`).
    Skipped,
    /// `noop`: nothing to do (a replayed request, a version already live).
    Noop,
    /// `refused`: refused by a rule (policy, a stale or duplicate registry commit).
    Refused,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Skipped,
        Outcome::Noop,
        Outcome::Refused,
    ];

    /// The stable kebab-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
            Outcome::Noop => "noop",
            Outcome::Refused => "refused",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| Error::invalid("outcome", format!("unknown outcome `{s}`")))
    }
}

/// One stage of one deploy request for one (environment, MFE) pair.
///
/// Serialised by [`StageEvent::to_line`] as one compact JSON object with every key present, in
/// this order: `at`, `stage`, `outcome`, `request_id`, `environment`, `mfe`, `version`,
/// `duration_ms`, `detail` (absent values are `null`). `at` is RFC 3339 in UTC and is the moment
/// the stage *finished*; the stage started `duration_ms` earlier.
///
/// The identity fields are plain strings, not the validated `event-model` types, so that a
/// refused request whose fields are malformed can still be recorded as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEvent {
    /// When the stage finished (RFC 3339; written in UTC).
    #[serde(with = "utc_rfc3339")]
    pub at: OffsetDateTime,
    /// Which stage.
    pub stage: Stage,
    /// How it ended.
    pub outcome: Outcome,
    /// The deploy request's id; every stage of one request carries the same id.
    pub request_id: String,
    /// Target environment.
    pub environment: String,
    /// MFE name.
    pub mfe: String,
    /// Requested version (as requested; may be malformed on a refused request).
    pub version: String,
    /// How long the stage took, in milliseconds, when it was measured.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Free text: the reason for a failure or refusal, a PR number, a count of paths.
    #[serde(default)]
    pub detail: Option<String>,
}

impl StageEvent {
    /// An event at `at` without duration or detail.
    pub fn new(
        at: OffsetDateTime,
        stage: Stage,
        outcome: Outcome,
        request_id: impl Into<String>,
        environment: impl Into<String>,
        mfe: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        StageEvent {
            at,
            stage,
            outcome,
            request_id: request_id.into(),
            environment: environment.into(),
            mfe: mfe.into(),
            version: version.into(),
            duration_ms: None,
            detail: None,
        }
    }

    /// With a duration.
    #[must_use]
    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
    }

    /// With a detail (cut to [`MAX_DETAIL_BYTES`]).
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(cap_detail(detail.into()));
        self
    }

    /// The event as one line of JSON, *without* the trailing newline. The line never contains a
    /// raw `\n` or `\r` (JSON escapes them inside strings).
    ///
    /// Refuses (`Invalid { field: "at" }`) a timestamp that RFC 3339 cannot represent in UTC
    /// (a year outside 0000..=9999). A `detail` over [`MAX_DETAIL_BYTES`] is cut.
    pub fn to_line(&self) -> Result<String, Error> {
        check_at(self.at)?;
        let capped;
        let event = match &self.detail {
            Some(detail) if detail.len() > MAX_DETAIL_BYTES => {
                capped = StageEvent {
                    detail: Some(cap_detail(detail.clone())),
                    ..self.clone()
                };
                &capped
            }
            _ => self,
        };
        let line =
            serde_json::to_string(event).map_err(|e| Error::invalid("event", e.to_string()))?;
        debug_assert!(
            !line.contains(['\n', '\r']),
            "serde_json escapes control characters"
        );
        Ok(line)
    }

    /// Parses one line (with or without its trailing newline).
    pub fn from_line(line: &str) -> Result<StageEvent, Error> {
        serde_json::from_str(line.trim_end_matches(['\n', '\r']))
            .map_err(|e| Error::invalid("line", e.to_string()))
    }
}

fn check_at(at: OffsetDateTime) -> Result<(), Error> {
    match at.checked_to_offset(UtcOffset::UTC) {
        Some(utc) if (0..=9999).contains(&utc.year()) => Ok(()),
        _ => Err(Error::invalid(
            "at",
            format!("{at} cannot be written as an RFC 3339 UTC time"),
        )),
    }
}

fn cap_detail(mut detail: String) -> String {
    if detail.len() > MAX_DETAIL_BYTES {
        let ellipsis = '…';
        let mut end = MAX_DETAIL_BYTES - ellipsis.len_utf8();
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push(ellipsis);
    }
    detail
}

/// `at` as RFC 3339, always written in UTC (`Z`), read with any offset and normalised to UTC.
mod utc_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes &T
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        let utc = at
            .checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| ser::Error::custom("timestamp out of range in UTC"))?;
        let text = utc.format(&Rfc3339).map_err(ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let at = OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|e| de::Error::custom(format!("`at` is not RFC 3339 ({e}): `{text}`")))?;
        at.checked_to_offset(UtcOffset::UTC)
            .ok_or_else(|| de::Error::custom("`at` out of range in UTC"))
    }
}

/// The identity of one deploy request for one pair, to stamp events with and time stages.
///
/// ```text
/// let clock = StageClock::new(request_id, "prod", "checkout", "1.4.0");
/// let timer = clock.start(Stage::Uploaded);
/// // ... upload ...
/// sink.record(&timer.finish(Outcome::Success))?;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageClock {
    request_id: String,
    environment: String,
    mfe: String,
    version: String,
}

impl StageClock {
    /// A clock for one request and pair.
    pub fn new(
        request_id: impl Into<String>,
        environment: impl Into<String>,
        mfe: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        StageClock {
            request_id: request_id.into(),
            environment: environment.into(),
            mfe: mfe.into(),
            version: version.into(),
        }
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Starts measuring `stage` now.
    pub fn start(&self, stage: Stage) -> StageTimer {
        StageTimer {
            clock: self.clone(),
            stage,
            started: Instant::now(),
        }
    }

    /// An unmeasured event (no duration) for `stage`, stamped now.
    pub fn event(&self, stage: Stage, outcome: Outcome) -> StageEvent {
        self.event_at(OffsetDateTime::now_utc(), stage, outcome)
    }

    /// An unmeasured event for `stage` stamped `at` (for tests and replays with `--at`).
    pub fn event_at(&self, at: OffsetDateTime, stage: Stage, outcome: Outcome) -> StageEvent {
        StageEvent::new(
            at,
            stage,
            outcome,
            self.request_id.clone(),
            self.environment.clone(),
            self.mfe.clone(),
            self.version.clone(),
        )
    }
}

/// A stage being measured; [`StageTimer::finish`] builds its event. Uses the monotonic clock for
/// the duration and the wall clock for `at`.
#[derive(Debug, Clone)]
pub struct StageTimer {
    clock: StageClock,
    stage: Stage,
    started: Instant,
}

impl StageTimer {
    /// The stage being measured.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Milliseconds since the stage started (saturating).
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The event: stamped now, with the measured duration.
    pub fn finish(self, outcome: Outcome) -> StageEvent {
        let duration_ms = self.elapsed_ms();
        self.clock
            .event(self.stage, outcome)
            .with_duration_ms(duration_ms)
    }

    /// The event with a detail (a failure reason, a PR number).
    pub fn finish_with_detail(self, outcome: Outcome, detail: impl Into<String>) -> StageEvent {
        self.finish(outcome).with_detail(detail)
    }
}
