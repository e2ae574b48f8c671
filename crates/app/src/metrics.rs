//! `gitops metrics`: the deploy metrics of the selected environments and MFEs, from the three
//! sources of truth: git history of `deployments/` (what was requested and merged, rollbacks),
//! each registry's history (what went live and when) and each environment's stage events
//! (per-stage durations, failed deploys). The figures are computed by
//! `gitops_metrics::report`, which is pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gitops_metrics::{
    DesiredChange, DoraFigures, LiveRecord, MetricsInput, MetricsQuery, MetricsReport,
};
use gitops_pipeline::{Backends as _, SyncState};
use gitops_render::{
    BoardCell, BoardData, BoardDeployment, BoardDora, BoardFigure, BoardLinks, CellState,
};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::report::{Line, Shown};
use crate::{Error, Filters, Session};

/// How `gitops metrics` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables.
    Table,
    /// GitHub Markdown: tables and Mermaid charts (job summaries, PR comments).
    Markdown,
    /// The report as one JSON object.
    Json,
    /// The Prometheus exposition format (0.0.4).
    Prometheus,
}

impl Format {
    /// The names `--format` takes, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["table", "markdown", "json", "prometheus"];
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "table" => Ok(Format::Table),
            "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "prometheus" => Ok(Format::Prometheus),
            other => Err(Error::Usage(format!(
                "--format `{}`: one of {}",
                other.escape_debug(),
                Format::NAMES.join(", ")
            ))),
        }
    }
}

/// `gitops metrics`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this environment.
    #[arg(long, visible_alias = "environment")]
    pub env: Option<String>,
    /// Only this MFE.
    #[arg(long)]
    pub mfe: Option<String>,
    /// The window: back from now (30d, 12h, 2w, 90m) or from an RFC 3339 time.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = Format::NAMES)]
    pub format: String,
    /// Also push the Prometheus series to this Pushgateway (http(s)://host:port).
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
}

/// `gitops metrics` as typed: its filters and flags parsed as of `now`, then [`command`].
///
/// # Errors
/// Usage (a filter, the window, the format), then [`command`]'s.
pub async fn run(session: &Session, args: &Args, now: OffsetDateTime) -> Result<Shown, Error> {
    let filters = session.filters(args.env.as_deref(), args.mfe.as_deref())?;
    let asked = Asked::parse(&args.since, &args.format, args.push.clone(), now)?;
    command(session, &filters, &asked).await
}

/// What `gitops metrics` was asked, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Start of the window.
    pub since: OffsetDateTime,
    /// End of the window (now).
    pub until: OffsetDateTime,
    /// The output format.
    pub format: Format,
    /// The Pushgateway to push to.
    pub push: Option<String>,
}

impl Asked {
    /// Parses `--since` (see [`parse_since`]) and `--format` as of `now`.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the flag.
    pub fn parse(
        since: &str,
        format: &str,
        push: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        Ok(Asked {
            since: parse_since(since, now)?,
            until: now,
            format: format.parse()?,
            push,
        })
    }
}

/// `gitops metrics`: the report of the selected pairs over the window, shown as asked.
///
/// # Errors
/// Reading the sources, or the push.
pub async fn command(session: &Session, filters: &Filters, asked: &Asked) -> Result<Shown, Error> {
    let report = session.metrics(filters, asked.since, asked.until).await?;
    shown(&report, asked.format, asked.push.as_deref()).await
}

/// The Pushgateway job `--push` sends the series under.
pub const PUSH_JOB: &str = "gitops";

/// What `gitops metrics` shows in `format`; with `push`, the Prometheus exposition is also sent
/// to that Pushgateway (a failed push fails the command: exit 2 for a refused URL, 3 when the
/// gateway did not answer).
///
/// # Errors
/// The push's.
pub async fn shown(
    report: &MetricsReport,
    format: Format,
    push: Option<&str>,
) -> Result<Shown, Error> {
    let text = match format {
        Format::Table => gitops_metrics::render::table(report),
        Format::Markdown => gitops_metrics::render::markdown(report),
        Format::Json => crate::report::json(report),
        Format::Prometheus => gitops_metrics::render::prometheus(report),
    };
    let mut lines = vec![Line::Out(text.trim_end().to_owned())];
    if let Some(url) = push {
        gitops_runtime::push_to_pushgateway(
            url,
            PUSH_JOB,
            gitops_metrics::render::prometheus(report),
        )
        .await?;
        lines.push(Line::Err(format!("pushed to {url} (job {PUSH_JOB})")));
    }
    Ok(Shown { lines, class: None })
}

/// How far before the window requests are read: a change deployed in the window may have been
/// requested (and merged) before it.
const REQUEST_LOOKBACK: Duration = Duration::days(30);
/// The most desired-state versions read from git.
const MAX_DESIRED_VERSIONS: usize = 20_000;

/// `--since`: a duration back from `now` (`30d`, `12h`, `2w`, `90m`) or an RFC 3339 time.
///
/// # Errors
/// [`Error::Usage`] naming the accepted forms.
pub fn parse_since(value: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    let bad = || {
        Error::Usage(format!(
            "--since `{}`: give a duration back from now (30d, 12h, 2w, 90m) or an RFC 3339 time",
            value.escape_debug()
        ))
    };
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = value.split_at(split);
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    let span = match unit {
        "m" => Duration::minutes(number),
        "h" => Duration::hours(number),
        "d" => Duration::days(number),
        "w" => Duration::weeks(number),
        _ => return Err(bad()),
    };
    if span > Duration::days(3660) {
        return Err(bad());
    }
    Ok(now - span)
}

impl Session {
    /// The metrics of the selected environments and MFEs over `[since, until)`.
    pub async fn metrics(
        &self,
        filters: &Filters,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<MetricsReport, Error> {
        let input = self.metrics_sources(filters, since).await?.input;
        Ok(gitops_metrics::report(
            &input,
            &query(filters, since, until),
        ))
    }

    async fn metrics_sources(
        &self,
        filters: &Filters,
        since: OffsetDateTime,
    ) -> Result<Sources, Error> {
        let from = (since - REQUEST_LOOKBACK).unix_timestamp();
        let history = gitops_gh_pr::desired_history(
            self.dir(),
            gitops_iac_config::DEPLOYMENTS_DIR,
            from,
            MAX_DESIRED_VERSIONS,
        )
        .await
        .map_err(|e| Error::Usage(format!("the history of deployments/: {e}")))?;
        let mut desired = Vec::new();
        let mut pull_requests = BTreeMap::new();
        for version in history {
            // Files of other shapes (a README, a version written by hand that no longer
            // parses) are not requests.
            let Ok(file) =
                serde_json::from_slice::<gitops_iac_config::Deployment>(&version.content)
            else {
                continue;
            };
            let Ok(merged_at) = OffsetDateTime::from_unix_timestamp(version.committed_at) else {
                continue;
            };
            // Oldest first: the pair's last version names its pull request, if any.
            let pair = (file.environment.to_string(), file.mfe.to_string());
            match pull_request_number(&version.subject) {
                Some(number) => pull_requests.insert(pair, number),
                None => pull_requests.remove(&pair),
            };
            desired.push(DesiredChange {
                environment: file.environment.to_string(),
                mfe: file.mfe.to_string(),
                version: file.version.to_string(),
                rollback: file.rollback,
                request_id: file.request_id.to_string(),
                requested_by: file.requested_by.to_string(),
                requested_at: OffsetDateTime::parse(&file.requested_at, &Rfc3339).ok(),
                source_commit_at: None,
                merged_at,
                commit: version.commit.to_string(),
            });
        }
        let mut live = Vec::new();
        let mut events = Vec::new();
        for env in self.selected(filters) {
            let targets = self.runtime.targets(env).await?;
            for mfe in self.repository.mfes.values() {
                if filters.mfe.as_ref().is_some_and(|m| *m != mfe.name)
                    || !mfe.environments.contains(&env.name)
                {
                    continue;
                }
                let entries = targets
                    .registry
                    .history(&env.name, &mfe.name)
                    .await
                    .map_err(gitops_pipeline::Error::from)?;
                live.extend(entries.into_iter().map(|e| LiveRecord {
                    environment: e.environment.to_string(),
                    mfe: e.mfe.to_string(),
                    version: e.version.to_string(),
                    sequence: e.sequence,
                    deployed_at: e.deployed_at,
                    rollback: e.rollback,
                    request_id: e.request_id.to_string(),
                    deployed_by: e.deployed_by.to_string(),
                }));
            }
            events.extend(self.runtime.stage_events(env, since).await?);
        }
        Ok(Sources {
            input: MetricsInput {
                desired,
                live,
                events,
            },
            pull_requests,
        })
    }
}

/// The report's selection: the filters over `[since, until)`.
fn query(filters: &Filters, since: OffsetDateTime, until: OffsetDateTime) -> MetricsQuery {
    MetricsQuery {
        environment: filters.environment.as_ref().map(ToString::to_string),
        mfe: filters.mfe.as_ref().map(ToString::to_string),
        since,
        until,
    }
}

/// What the metrics are computed from, and the pull request that wrote each pair's current
/// desired state (the board links it).
struct Sources {
    input: MetricsInput,
    pull_requests: BTreeMap<(String, String), u64>,
}

/// The pull request a merge commit's subject names: `Merge pull request #12 from ...` (a merge
/// commit), `title (#12)` (a squash); the last `#<number>` of the subject.
fn pull_request_number(subject: &str) -> Option<u64> {
    subject.rmatch_indices('#').find_map(|(at, _)| {
        let digits: String = subject[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok().filter(|n| *n > 0)
    })
}

impl Session {
    /// Writes the fleet's board (`index.html`, self-contained) into `out`, created if missing:
    /// the environment x MFE matrix from `gitops status`, the last deployments and each
    /// environment's DORA figures over the last 30 days; with an environment filter, that
    /// environment's alone (readable with its own role).
    pub async fn board(
        &self,
        filters: &Filters,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<PathBuf, Error> {
        let rows = self.status(filters).await?;
        let since = now - Duration::days(30);
        let sources = self.metrics_sources(filters, since).await?;
        let report = gitops_metrics::report(&sources.input, &query(filters, since, now));
        let mut data = board_data(self, &rows, &report, &sources.pull_requests, now);
        if let Some(env) = &filters.environment {
            data.environments.retain(|e| e == env.as_str());
        }
        let html = gitops_render::render_board(&data);
        let unwritable = |e: std::io::Error| {
            Error::Usage(format!(
                "cannot write the board into {}: {e}",
                out.display()
            ))
        };
        tokio::fs::create_dir_all(out).await.map_err(unwritable)?;
        let file = out.join("index.html");
        tokio::fs::write(&file, html).await.map_err(unwritable)?;
        Ok(file)
    }
}

/// `https://github.com/<owner>/<repo>` of a repository, as links on the board.
fn repository_url(repository: &str) -> String {
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
        .unwrap_or_else(|| "https://github.com".to_owned());
    format!("{}/{repository}", server.trim_end_matches('/'))
}

fn board_data(
    session: &Session,
    rows: &[gitops_pipeline::StatusRow],
    report: &MetricsReport,
    pull_requests: &BTreeMap<(String, String), u64>,
    now: OffsetDateTime,
) -> BoardData {
    let config = &session.repository.config;
    let gitops_url = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|r| gitops_event_model::RepositoryName::parse(r).is_ok())
        .map(|r| repository_url(&r));
    let pair_figures = |env: &str, mfe: &str| -> Option<&DoraFigures> {
        report
            .dora
            .iter()
            .find(|d| d.environment == env && d.mfe.as_deref() == Some(mfe))
    };
    let cells = rows
        .iter()
        .map(|row| {
            let desired = session.repository.deployment(&row.environment, &row.mfe);
            let failed =
                pair_figures(row.environment.as_str(), row.mfe.as_str()).is_some_and(|d| {
                    d.change_failure_rate.counts.failed_deploy > 0
                        && d.recovery_time.counts.unrecovered > 0
                });
            let deployed = row
                .deployed_at
                .as_deref()
                .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok());
            BoardCell {
                environment: row.environment.to_string(),
                mfe: row.mfe.to_string(),
                live: row.version.as_ref().map(ToString::to_string),
                desired: row.desired.as_ref().map(ToString::to_string),
                state: match row.state {
                    SyncState::InSync => CellState::InSync,
                    SyncState::Unknown => CellState::Unknown,
                    _ if row.version.is_none() => CellState::NotDeployed,
                    _ => CellState::Drift,
                },
                detail: row.error.clone().or_else(|| match row.state {
                    SyncState::LiveDiffers => Some("live differs from desired".to_owned()),
                    SyncState::PointersBehind => Some("pointers not published".to_owned()),
                    SyncState::CdnPending => Some("CDN invalidation pending".to_owned()),
                    SyncState::NotDesired => Some("live but not desired".to_owned()),
                    _ => row.pinned.as_ref().map(|pin| {
                        let why = if pin.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", pin.reason)
                        };
                        format!("pinned by @{} at {}{why}", pin.by, pin.since())
                    }),
                }),
                pinned: row.pinned.is_some(),
                rollback: row.rollback,
                failed,
                deployed_at: row.deployed_at.clone(),
                age_seconds: deployed.and_then(|at| u64::try_from((now - at).whole_seconds()).ok()),
                requested_by: desired.map(|d| d.requested_by.to_string()),
                links: BoardLinks {
                    pull_request: gitops_url.as_ref().and_then(|url| {
                        pull_requests
                            .get(&(row.environment.to_string(), row.mfe.to_string()))
                            .map(|n| format!("{url}/pull/{n}"))
                    }),
                    commit: desired.map(|d| {
                        format!("{}/commit/{}", repository_url(d.repository.as_str()), d.sha)
                    }),
                    run: None,
                },
            }
        })
        .collect();
    let recent = report
        .recent
        .iter()
        .map(|r| BoardDeployment {
            at: r.deployed_at.format(&Rfc3339).unwrap_or_default(),
            environment: r.environment.clone(),
            mfe: r.mfe.clone(),
            version: r.version.clone(),
            rollback: r.rollback,
            failed: false,
            who: r.deployed_by.clone(),
            links: BoardLinks::default(),
        })
        .collect();
    let dora = report
        .dora
        .iter()
        .filter(|d| d.mfe.is_none())
        .map(|d| BoardDora {
            environment: d.environment.clone(),
            figures: board_figures(d),
        })
        .collect();
    BoardData {
        title: "mfe-gitops fleet".to_owned(),
        generated_at: now.format(&Rfc3339).unwrap_or_default(),
        repository_url: gitops_url,
        environments: config
            .environments
            .iter()
            .map(|e| e.name.to_string())
            .collect(),
        mfes: session
            .repository
            .mfes
            .keys()
            .map(ToString::to_string)
            .collect(),
        cells,
        recent,
        dora,
    }
}

fn board_figures(d: &DoraFigures) -> Vec<BoardFigure> {
    let hours = |s: Option<f64>| s.map(|s| s / 3600.0);
    let per_day: Vec<f64> = d
        .deployments_by_day
        .iter()
        .map(|day| f64::from(u32::try_from(day.deployments).unwrap_or(u32::MAX)))
        .collect();
    vec![
        BoardFigure {
            name: "Deployment frequency".to_owned(),
            value: d.deployment_frequency.value,
            unit: "per day".to_owned(),
            detail: Some(format!(
                "{} deploys",
                d.deployment_frequency.counts.deployments
            )),
            series: per_day,
            series_label: "deploys per day".to_owned(),
        },
        BoardFigure {
            name: "Lead time for changes".to_owned(),
            value: hours(d.lead_time.value),
            unit: "hours (median)".to_owned(),
            detail: Some(format!("{} changes", d.lead_time.counts.samples)),
            series: Vec::new(),
            series_label: String::new(),
        },
        BoardFigure {
            name: "Change failure rate".to_owned(),
            value: d.change_failure_rate.value.map(|r| r * 100.0),
            unit: "%".to_owned(),
            detail: Some(format!(
                "{} of {} changes",
                d.change_failure_rate.counts.failed, d.change_failure_rate.counts.changes
            )),
            series: Vec::new(),
            series_label: String::new(),
        },
        BoardFigure {
            name: "Failed deployment recovery time".to_owned(),
            value: hours(d.recovery_time.value),
            unit: "hours (median)".to_owned(),
            detail: Some(format!("{} failures", d.recovery_time.counts.failures)),
            series: Vec::new(),
            series_label: String::new(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_from_merge_subjects() {
        assert_eq!(
            pull_request_number("Merge pull request #12 from acme/gitops/dev/x"),
            Some(12)
        );
        assert_eq!(
            pull_request_number("deploy checkout 1.2.0 to dev (#7)"),
            Some(7)
        );
        assert_eq!(pull_request_number("fix #3 then (#41)"), Some(41));
        assert_eq!(pull_request_number("deploy checkout 1.2.0"), None);
        assert_eq!(pull_request_number("# heading #0 #"), None);
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = OffsetDateTime::parse("2026-12-01T00:00:00Z", &Rfc3339).unwrap();
        let at = |s: &str| parse_since(s, now).unwrap();
        assert_eq!(at("30d"), now - Duration::days(30));
        assert_eq!(at("12h"), now - Duration::hours(12));
        assert_eq!(at("2w"), now - Duration::weeks(2));
        assert_eq!(at("90m"), now - Duration::minutes(90));
        assert_eq!(
            at("2026-11-01T00:00:00Z"),
            OffsetDateTime::parse("2026-11-01T00:00:00Z", &Rfc3339).unwrap()
        );
        for bad in ["", "d", "0d", "-3d", "3y", "3.5d", "99999999d", "yesterday"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
