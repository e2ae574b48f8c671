//! Renderers of a [`MetricsReport`]: a terminal [`table`], GitHub [`markdown`] (tables and
//! Mermaid `xychart-beta` charts) and the Prometheus text exposition format 0.0.4
//! ([`prometheus`]). Pure: a report in, a string out; names from the input are escaped for each
//! format, so no input can break the output's syntax.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::report::{DoraFigures, MetricsReport, StageStats, number};

/// The most bars of the deploys-per-day chart; longer windows are grouped into buckets of
/// several days.
const MAX_BARS: i64 = 60;

/// The report as plain-text tables for a terminal.
pub fn table(report: &MetricsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Deploy metrics, {}", window_line(report));
    out.push('\n');

    let header = [
        "ENVIRONMENT",
        "MFE",
        "DEPLOYS",
        "PER DAY",
        "LEAD P50",
        "LEAD P90",
        "LEAD BASIS",
        "CHANGE FAILURE",
        "RECOVERY P50",
    ];
    let rows: Vec<Vec<String>> = report
        .dora
        .iter()
        .map(|row| {
            let cells = dora_cells(row);
            let mfe = row.mfe.as_deref().map_or("(all)".to_owned(), plain);
            vec![
                plain(&row.environment),
                mfe,
                cells.deploys,
                cells.per_day,
                cells.lead_p50,
                cells.lead_p90,
                cells.lead_basis,
                cells.failure,
                cells.recovery,
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No deploys, requests or events in the selection.\n");
    } else {
        write_columns(&mut out, &header, &rows);
    }

    out.push('\n');
    for row in report.dora.iter().filter(|row| row.mfe.is_none()) {
        let _ = writeln!(out, "{}:", plain(&row.environment));
        for (name, formula) in formulas(row) {
            let _ = writeln!(out, "  {name}: {}", plain(formula));
        }
    }

    out.push('\n');
    let header = ["STAGE", "COUNT", "FAILURES", "P50", "P90", "MAX"];
    let rows: Vec<Vec<String>> = report.stages.iter().map(stage_cells).collect();
    write_columns(&mut out, &header, &rows);
    let _ = writeln!(out, "Slowest stage: {}", slowest(report));

    out.push('\n');
    if report.recent.is_empty() {
        out.push_str("No deploys before the window's end.\n");
    } else {
        let _ = writeln!(out, "Last {} deploys:", report.recent.len());
        let header = [
            "DEPLOYED AT",
            "ENVIRONMENT",
            "MFE",
            "VERSION",
            "ROLLBACK",
            "REQUEST",
            "BY",
        ];
        let rows: Vec<Vec<String>> = report
            .recent
            .iter()
            .map(|r| {
                vec![
                    time_text(r.deployed_at),
                    plain(&r.environment),
                    plain(&r.mfe),
                    plain(&r.version),
                    if r.rollback { "yes" } else { "no" }.to_owned(),
                    plain(&r.request_id),
                    plain(&r.deployed_by),
                ]
            })
            .collect();
        write_columns(&mut out, &header, &rows);
    }
    out
}

/// The report as GitHub-flavoured Markdown: tables plus Mermaid `xychart-beta` charts of the
/// deploys per day and the median lead time per environment.
pub fn markdown(report: &MetricsReport) -> String {
    let mut out = String::new();
    out.push_str("## Deploy metrics\n\n");
    let _ = writeln!(out, "{}\n", md(&window_line(report)));

    out.push_str("### DORA\n\n");
    if report.dora.is_empty() {
        out.push_str("No deploys, requests or events in the selection.\n\n");
    } else {
        out.push_str(
            "| Environment | MFE | Deploys | Per day | Lead time p50 | Lead time p90 | Lead time \
             basis | Change failure rate | Recovery p50 |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for row in &report.dora {
            let c = dora_cells(row);
            let mfe = row.mfe.as_deref().map_or("*(all)*".to_owned(), md);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&row.environment),
                mfe,
                md(&c.deploys),
                md(&c.per_day),
                md(&c.lead_p50),
                md(&c.lead_p90),
                md(&c.lead_basis),
                md(&c.failure),
                md(&c.recovery)
            );
        }
        out.push_str("\n<details><summary>Formulas and counts</summary>\n\n");
        for row in &report.dora {
            let who = match &row.mfe {
                Some(mfe) => format!("{} / {}", md(&row.environment), md(mfe)),
                None => md(&row.environment),
            };
            for (name, formula) in formulas(row) {
                let _ = writeln!(out, "- {who}, {name}: {}", md(formula));
            }
        }
        out.push_str("\n</details>\n\n");
    }

    out.push_str("### Deploys per day\n\n");
    deploys_chart(&mut out, report);
    out.push_str("### Lead time per environment\n\n");
    lead_time_chart(&mut out, report);

    out.push_str("### Stages\n\n");
    out.push_str("| Stage | Count | Failures | p50 | p90 | Max |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for stats in &report.stages {
        let cells = stage_cells(stats);
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\nSlowest stage: {}\n", md(&slowest(report)));

    out.push_str("### Recent deploys\n\n");
    if report.recent.is_empty() {
        out.push_str("No deploys before the window's end.\n");
    } else {
        out.push_str("| Deployed at | Environment | MFE | Version | Rollback | Request | By |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for r in &report.recent {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&time_text(r.deployed_at)),
                md(&r.environment),
                md(&r.mfe),
                md(&r.version),
                if r.rollback { "yes" } else { "no" },
                md(&r.request_id),
                md(&r.deployed_by)
            );
        }
    }
    out
}

/// The report in the Prometheus text exposition format 0.0.4: one `# HELP` and one `# TYPE`
/// line per metric name, then its samples; label values escaped (`\\`, `\"`, `\n`). The
/// environment rows have only the `environment` label, the pair rows also `mfe`. An undefined
/// figure has no sample. Stage durations have `quantile` "0.5", "0.9" and "1" (the longest).
pub fn prometheus(report: &MetricsReport) -> String {
    type Value = fn(&DoraFigures) -> Vec<(Option<&'static str>, Option<f64>)>;
    let dora: [(&str, &str, Value); 5] = [
        (
            "gitops_deployments",
            "Deploys that went live in the window (rollbacks included).",
            |row| {
                vec![(
                    None,
                    Some(count(row.deployment_frequency.counts.deployments)),
                )]
            },
        ),
        (
            "gitops_deployment_frequency_per_day",
            "Deploys that went live in the window per day of the window.",
            |row| vec![(None, row.deployment_frequency.value)],
        ),
        (
            "gitops_lead_time_seconds",
            "Lead time for changes: deployed_at minus the requester's commit time (else the request time), median and p90.",
            |row| {
                vec![
                    (Some("0.5"), row.lead_time.value),
                    (Some("0.9"), row.lead_time.p90),
                ]
            },
        ),
        (
            "gitops_change_failure_rate",
            "Failed changes (rolled back or followed by a failed deploy) per change in the window.",
            |row| vec![(None, row.change_failure_rate.value)],
        ),
        (
            "gitops_recovery_time_seconds",
            "Median failed-deployment recovery time: next live deploy minus the failure.",
            |row| vec![(None, row.recovery_time.value)],
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in dora {
        header(&mut out, name, help);
        for row in &report.dora {
            let mut labels = vec![("environment", row.environment.as_str())];
            if let Some(mfe) = &row.mfe {
                labels.push(("mfe", mfe));
            }
            for (quantile, sample) in value(row) {
                let mut labels = labels.clone();
                if let Some(q) = quantile {
                    labels.push(("quantile", q));
                }
                if let Some(sample) = sample {
                    line(&mut out, name, &labels, sample);
                }
            }
        }
    }
    let name = "gitops_stage_duration_seconds";
    header(
        &mut out,
        name,
        "Deploy stage durations in the window: p50, p90 and the longest (quantile 1).",
    );
    for stats in &report.stages {
        for (quantile, ms) in [
            ("0.5", stats.p50_ms),
            ("0.9", stats.p90_ms),
            ("1", stats.max_ms),
        ] {
            if let Some(ms) = ms {
                let labels = [("stage", stats.stage.as_str()), ("quantile", quantile)];
                line(&mut out, name, &labels, count(ms) / 1000.0);
            }
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", label_value(value)))
        .collect();
    let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), sample(value));
}

/// A label value escaped per the exposition format: backslash, double quote, line feed.
fn label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn sample(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

struct DoraCells {
    deploys: String,
    per_day: String,
    lead_p50: String,
    lead_p90: String,
    lead_basis: String,
    failure: String,
    recovery: String,
}

fn dora_cells(row: &DoraFigures) -> DoraCells {
    let f = &row.deployment_frequency;
    let deploys = if f.counts.rollbacks > 0 {
        format!(
            "{} ({} rollback{})",
            f.counts.deployments,
            f.counts.rollbacks,
            plural(f.counts.rollbacks)
        )
    } else {
        f.counts.deployments.to_string()
    };
    let l = &row.lead_time;
    let lead_basis = format!(
        "{}/{} ({} commit, {} request)",
        l.counts.samples, l.counts.changes, l.basis.source_commit, l.basis.requested_at
    );
    let c = &row.change_failure_rate;
    let failure = match c.value {
        Some(rate) => format!(
            "{}% ({}/{})",
            number(rate * 100.0),
            c.counts.failed,
            c.counts.changes
        ),
        None => "-".to_owned(),
    };
    let r = &row.recovery_time;
    let recovery = match r.value {
        Some(value) if r.counts.unrecovered > 0 => format!(
            "{} ({} unrecovered)",
            human_seconds(value),
            r.counts.unrecovered
        ),
        Some(value) => human_seconds(value),
        None if r.counts.unrecovered > 0 => format!("- ({} unrecovered)", r.counts.unrecovered),
        None => "-".to_owned(),
    };
    DoraCells {
        deploys,
        per_day: f.value.map_or("-".to_owned(), number),
        lead_p50: l.value.map_or("-".to_owned(), human_seconds),
        lead_p90: l.p90.map_or("-".to_owned(), human_seconds),
        lead_basis,
        failure,
        recovery,
    }
}

fn formulas(row: &DoraFigures) -> [(&'static str, &str); 4] {
    [
        ("deployment frequency", &row.deployment_frequency.formula),
        ("lead time", &row.lead_time.formula),
        ("change failure rate", &row.change_failure_rate.formula),
        ("recovery time", &row.recovery_time.formula),
    ]
}

fn stage_cells(stats: &StageStats) -> Vec<String> {
    let ms = |ms: Option<u64>| ms.map_or("-".to_owned(), human_ms);
    vec![
        stats.stage.as_str().to_owned(),
        stats.count.to_string(),
        stats.failures.to_string(),
        ms(stats.p50_ms),
        ms(stats.p90_ms),
        ms(stats.max_ms),
    ]
}

fn slowest(report: &MetricsReport) -> String {
    let Some(stage) = report.slowest_stage else {
        return "none (no stage durations in the window)".to_owned();
    };
    let p50 = report
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .and_then(|s| s.p50_ms)
        .map_or("-".to_owned(), human_ms);
    format!("{stage} (p50 {p50})")
}

fn window_line(report: &MetricsReport) -> String {
    let w = &report.window;
    let selection = match (&report.environment, &report.mfe) {
        (None, None) => "every environment and MFE".to_owned(),
        (Some(e), None) => format!("environment {}", plain(e)),
        (None, Some(m)) => format!("MFE {}", plain(m)),
        (Some(e), Some(m)) => format!("environment {}, MFE {}", plain(e), plain(m)),
    };
    format!(
        "{} to {} ({} days), {selection}",
        time_text(w.since),
        time_text(w.until),
        number(w.days)
    )
}

/// Writes `rows` under `header` in left-aligned columns two spaces apart.
fn write_columns(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut write_row = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    write_row(&mut header.iter().copied());
    for row in rows {
        write_row(&mut row.iter().map(String::as_str));
    }
}

fn deploys_chart(out: &mut String, report: &MetricsReport) {
    let w = &report.window;
    let end = w.until.checked_sub(Duration::nanoseconds(1));
    let (first, Some(last)) = (utc(w.since).date(), end.map(|end| utc(end).date())) else {
        out.push_str("No chart: the window is empty.\n\n");
        return;
    };
    if w.since >= w.until {
        out.push_str("No chart: the window is empty.\n\n");
        return;
    }
    let days = (last - first).whole_days() + 1;
    let bucket = (days + MAX_BARS - 1) / MAX_BARS;
    let bars = (days + bucket - 1) / bucket;
    let mut values = vec![0u64; usize::try_from(bars).unwrap_or(0)];
    let format = time::macros::format_description!("[year]-[month]-[day]");
    for row in report.dora.iter().filter(|row| row.mfe.is_none()) {
        for day in &row.deployments_by_day {
            let Ok(date) = Date::parse(&day.date, &format) else {
                continue;
            };
            let index = (date - first).whole_days() / bucket;
            if let Some(value) = usize::try_from(index).ok().and_then(|i| values.get_mut(i)) {
                *value += day.deployments;
            }
        }
    }
    let long = days > 365;
    let labels: Vec<String> = (0..bars)
        .map(|i| {
            let start = first
                .checked_add(Duration::days(i * bucket))
                .unwrap_or(last);
            let text = if long {
                format!(
                    "{:04}-{:02}-{:02}",
                    start.year(),
                    u8::from(start.month()),
                    start.day()
                )
            } else {
                format!("{:02}-{:02}", u8::from(start.month()), start.day())
            };
            format!("\"{text}\"")
        })
        .collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let title = if bucket == 1 {
        "Deploys per day".to_owned()
    } else {
        format!("Deploys per {bucket} days")
    };
    out.push_str("```mermaid\nxychart-beta\n");
    let _ = writeln!(out, "    title \"{title}\"");
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"Deploys\" 0 --> {max}");
    let values: Vec<String> = values.iter().map(u64::to_string).collect();
    let _ = writeln!(out, "    bar [{}]", values.join(", "));
    out.push_str("```\n\n");
}

fn lead_time_chart(out: &mut String, report: &MetricsReport) {
    let bars: Vec<(String, f64)> = report
        .dora
        .iter()
        .filter(|row| row.mfe.is_none())
        .filter_map(|row| Some((mermaid_label(&row.environment), row.lead_time.value?)))
        .collect();
    if bars.is_empty() {
        out.push_str("No lead time in the window.\n\n");
        return;
    }
    let hours: Vec<f64> = bars
        .iter()
        .map(|(_, seconds)| (seconds / 36.0).round() / 100.0)
        .collect();
    let max = hours.iter().copied().fold(0.0, f64::max);
    let top = if max > 0.0 { (max * 1.1).ceil() } else { 1.0 };
    out.push_str("```mermaid\nxychart-beta\n");
    out.push_str("    title \"Median lead time (hours)\"\n");
    let labels: Vec<String> = bars.iter().map(|(l, _)| format!("\"{l}\"")).collect();
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"Hours\" 0 --> {}", number(top));
    let values: Vec<String> = hours.iter().map(|h| number(*h)).collect();
    let _ = writeln!(out, "    bar [{}]", values.join(", "));
    out.push_str("```\n\n");
}

/// A label Mermaid parses inside double quotes: letters, digits, space and `-_.:/` kept, any
/// other character `_`, at most 40 characters.
fn mermaid_label(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.:/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A name for a terminal: control characters shown escaped.
fn plain(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_owned()
    }
}

/// Text for a Markdown table cell: no line break, no cell separator, no HTML, no emphasis.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn utc(at: OffsetDateTime) -> OffsetDateTime {
    at.checked_to_offset(UtcOffset::UTC).unwrap_or(at)
}

fn time_text(at: OffsetDateTime) -> String {
    utc(at).format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// `850ms`, `4.2s`, `3m 05s`, `2h 07m`, `3d 04h`.
fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}s", number(count(ms / 100) / 10.0)),
        60_000..3_600_000 => format!("{}m {:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // non-negative, saturating
fn human_seconds(seconds: f64) -> String {
    human_ms((seconds * 1000.0).round() as u64)
}

#[allow(clippy::cast_precision_loss)] // counts and milliseconds far below 2^52
fn count(n: u64) -> f64 {
    n as f64
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
