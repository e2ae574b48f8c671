//! `gitops board`: the fleet on one static HTML page.
//!
//! [`render_board`] turns a [`BoardData`] (built by `gitops` from the status matrix, the
//! registry's history, git and the metrics report) into ONE self-contained HTML file: inline CSS,
//! inline SVG charts, one tiny inline script that only marks the document as scripted (the page
//! works without it), and a Content-Security-Policy that forbids every other load, so the page
//! works from `file://`, S3 or GitHub Pages and never reaches the network.
//!
//! - The environment x MFE matrix is a real `<table>` with a `<caption>` and `<th scope>`
//!   headers, inside a region that scrolls horizontally on a phone. Every state is a text badge
//!   ("in sync", "drift", "not deployed", "unknown", "pinned", "rollback", "failed"): colour only
//!   repeats what the text says, and every colour pair has at least 4.5:1 contrast.
//! - Every value is HTML-escaped (minijinja auto-escaping); a link is written only when it is an
//!   `http://` or `https://` URL, otherwise its text stands alone.
//! - The page is pure output: the renderer does no IO and knows no clock (`generated_at` and
//!   ages come in the data).

use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

const TEMPLATE: &str = include_str!("../templates/board.html.j2");
const TEMPLATE_NAME: &str = "board.html";
/// The page's only script: it marks the document as scripted (the board's test reads the mark
/// from Chromium's DOM dump). Its sha256 is the only script the page's policy allows.
const SCRIPT: &str = "document.documentElement.setAttribute(\"data-script\",\"ran\");";

/// Everything the board shows. Plain owned values: `gitops` fills it, [`render_board`] draws it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardData {
    /// The page's title (for example the GitOps repository's `owner/name`).
    pub title: String,
    /// When the data was read (RFC 3339), shown at the top.
    pub generated_at: String,
    /// The GitOps repository's web URL, linked from the title when it is http(s).
    pub repository_url: Option<String>,
    /// Environments in the configuration's order (the matrix's columns).
    pub environments: Vec<String>,
    /// MFEs in display order (the matrix's rows).
    pub mfes: Vec<String>,
    /// One per (environment, MFE) pair shown; a pair without a cell is drawn "unknown".
    pub cells: Vec<BoardCell>,
    /// The last deployments, newest first.
    pub recent: Vec<BoardDeployment>,
    /// The DORA figures, one entry per environment.
    pub dora: Vec<BoardDora>,
}

/// How a pair stands, as the board says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Live equals desired (and is served and confirmed).
    InSync,
    /// Live differs from desired, or is not served/confirmed yet.
    Drift,
    /// Desired, or known, but nothing is live.
    NotDeployed,
    /// The environment could not be read.
    #[default]
    Unknown,
}

impl CellState {
    /// The badge text.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            CellState::InSync => "in sync",
            CellState::Drift => "drift",
            CellState::NotDeployed => "not deployed",
            CellState::Unknown => "unknown",
        }
    }
}

/// One (environment, MFE) pair of the matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardCell {
    /// The environment (one of [`BoardData::environments`]).
    pub environment: String,
    /// The MFE (one of [`BoardData::mfes`]).
    pub mfe: String,
    /// The live version (registry), if any.
    pub live: Option<String>,
    /// The desired version (`deployments/`), if any.
    pub desired: Option<String>,
    /// How the pair stands.
    pub state: CellState,
    /// Why, in a few words, when the state needs explaining ("pointers not published", the
    /// read error...).
    pub detail: Option<String>,
    /// Whether the desired version is pinned.
    pub pinned: bool,
    /// Whether the live version is a rollback.
    pub rollback: bool,
    /// Whether the last deploy of the pair failed.
    pub failed: bool,
    /// When the live version went live (RFC 3339), if known.
    pub deployed_at: Option<String>,
    /// Seconds since then, if known (shown as "3 d", "5 h"...).
    pub age_seconds: Option<u64>,
    /// Who requested the live (or desired) version.
    pub requested_by: Option<String>,
    /// Where to read more.
    pub links: BoardLinks,
}

/// Links of a pair or a deployment; each optional, and written only when http(s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BoardLinks {
    /// The GitOps pull request of the request.
    pub pull_request: Option<String>,
    /// The requester's commit.
    pub commit: Option<String>,
    /// The deploy workflow run.
    pub run: Option<String>,
}

/// One of the last deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BoardDeployment {
    /// When it went live, or failed (RFC 3339).
    pub at: String,
    /// The environment.
    pub environment: String,
    /// The MFE.
    pub mfe: String,
    /// The version deployed.
    pub version: String,
    /// Whether it was a rollback.
    pub rollback: bool,
    /// Whether it failed.
    pub failed: bool,
    /// Who requested (or deployed) it.
    pub who: String,
    /// Where to read more.
    pub links: BoardLinks,
}

/// The DORA figures of one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardDora {
    /// The environment.
    pub environment: String,
    /// The four figures, in the order to show them.
    pub figures: Vec<BoardFigure>,
}

/// One figure with its chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardFigure {
    /// Its name ("Deployment frequency").
    pub name: String,
    /// The value in `unit`; `None` when undefined (shown "n/a").
    pub value: Option<f64>,
    /// A short unit text ("per day", "h", "%").
    pub unit: String,
    /// What the value rests on, in a few words ("3 of 36 changes").
    pub detail: Option<String>,
    /// A small series drawn as bars (for example deploys per day), oldest first; empty for no
    /// chart. Negative and non-finite values are drawn as zero.
    pub series: Vec<f64>,
    /// What the series is ("deploys per day, last 14 days"), the chart's accessible name.
    pub series_label: String,
}

/// The whole board as one self-contained HTML document.
#[must_use]
pub fn render_board(data: &BoardData) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let view = View::new(data);
    let rendered = env
        .add_template(TEMPLATE_NAME, TEMPLATE)
        .and_then(|()| env.get_template(TEMPLATE_NAME))
        .and_then(|t| t.render(context! { v => to_value(&view) }));
    match rendered {
        Ok(html) => html,
        // The template is ours and the view has no fallible value: a failure is a bug in this
        // crate. Still a page, never a panic.
        Err(e) => format!(
            "<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\"><title>board</title>\
             <p>The board could not be drawn: {}</p></html>\n",
            escape(&e.to_string())
        ),
    }
}

/// The view as a template value (this crate's minijinja has no serde feature: through JSON).
fn to_value(view: &View) -> Value {
    fn convert(j: serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::from(()),
            serde_json::Value::Bool(b) => Value::from(b),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(Value::from)
                .or_else(|| n.as_i64().map(Value::from))
                .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(0.0))),
            serde_json::Value::String(s) => Value::from(s),
            serde_json::Value::Array(a) => {
                Value::from(a.into_iter().map(convert).collect::<Vec<_>>())
            }
            serde_json::Value::Object(o) => Value::from(
                o.into_iter()
                    .map(|(k, v)| (k, convert(v)))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            ),
        }
    }
    convert(serde_json::to_value(view).unwrap_or_default())
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL the page may link to: `http://` or `https://` (any case), no whitespace or control
/// characters. Anything else (`javascript:`, relative paths, `data:`) is not linked.
fn http_url(url: Option<&String>) -> Option<String> {
    let url = url?.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (clean && !rest.is_empty() && !rest.starts_with('/')).then(|| url.to_owned())
}

/// "45 s", "12 min", "5 h", "3 d".
fn age_text(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3_600),
        s => format!("{} d", s / 86_400),
    }
}

/// A figure's value: up to two decimals, trailing zeros dropped.
fn number_text(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// --- the template's view --------------------------------------------------------------------

#[derive(Serialize)]
struct View {
    title: String,
    generated_at: String,
    repository_url: Option<String>,
    script: &'static str,
    script_hash: String,
    environments: Vec<ViewEnvironment>,
    rows: Vec<ViewRow>,
    cell_count: usize,
    summary: Vec<(String, usize)>,
    recent: Vec<ViewDeployment>,
    dora: Vec<ViewDora>,
}

#[derive(Serialize)]
struct ViewEnvironment {
    name: String,
    anchor: String,
}

#[derive(Serialize)]
struct ViewRow {
    mfe: String,
    cells: Vec<ViewCell>,
}

#[derive(Serialize)]
struct ViewCell {
    id: String,
    environment: String,
    mfe: String,
    live: Option<String>,
    desired: Option<String>,
    state: CellState,
    state_label: &'static str,
    detail: Option<String>,
    pinned: bool,
    rollback: bool,
    failed: bool,
    deployed_at: Option<String>,
    age: Option<String>,
    requested_by: Option<String>,
    links: ViewLinks,
}

#[derive(Serialize)]
struct ViewLinks {
    pull_request: Option<String>,
    commit: Option<String>,
    run: Option<String>,
    any: bool,
}

impl ViewLinks {
    fn new(l: &BoardLinks) -> Self {
        let pull_request = http_url(l.pull_request.as_ref());
        let commit = http_url(l.commit.as_ref());
        let run = http_url(l.run.as_ref());
        let any = pull_request.is_some() || commit.is_some() || run.is_some();
        ViewLinks {
            pull_request,
            commit,
            run,
            any,
        }
    }
}

#[derive(Serialize)]
struct ViewDeployment {
    at: String,
    environment: String,
    mfe: String,
    version: String,
    rollback: bool,
    failed: bool,
    who: String,
    links: ViewLinks,
}

#[derive(Serialize)]
struct ViewDora {
    environment: String,
    anchor: String,
    figures: Vec<ViewFigure>,
}

#[derive(Serialize)]
struct ViewFigure {
    name: String,
    value: String,
    unit: String,
    defined: bool,
    detail: Option<String>,
    series_label: String,
    bars: Vec<Bar>,
    chart_width: usize,
}

/// One bar of a chart, in the SVG's user units (viewBox 0 0 width 32).
#[derive(Serialize)]
struct Bar {
    x: usize,
    y: String,
    height: String,
    title: String,
}

const BAR_WIDTH: usize = 6;
const BAR_GAP: usize = 2;
const CHART_HEIGHT: f64 = 30.0;
/// At most this many points are drawn (the newest).
const MAX_BARS: usize = 60;

fn bars(series: &[f64]) -> Vec<Bar> {
    let start = series.len().saturating_sub(MAX_BARS);
    let points: Vec<f64> = series[start..]
        .iter()
        .map(|v| if v.is_finite() && *v > 0.0 { *v } else { 0.0 })
        .collect();
    let max = points.iter().copied().fold(0.0_f64, f64::max);
    points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            // Keep a sliver for zero so that the axis reads as a series, not as missing data.
            let h = if max > 0.0 {
                (v / max * CHART_HEIGHT).max(1.0)
            } else {
                1.0
            };
            Bar {
                x: i * (BAR_WIDTH + BAR_GAP),
                y: format!("{:.1}", 31.0 - h),
                height: format!("{h:.1}"),
                title: number_text(*v),
            }
        })
        .collect()
}

impl View {
    fn new(d: &BoardData) -> Self {
        let digest = Sha256::digest(SCRIPT.as_bytes());
        let environments: Vec<ViewEnvironment> = d
            .environments
            .iter()
            .enumerate()
            .map(|(i, name)| ViewEnvironment {
                name: name.clone(),
                anchor: format!("env-{i}"),
            })
            .collect();
        let mut summary: Vec<(String, usize)> = [
            CellState::InSync,
            CellState::Drift,
            CellState::NotDeployed,
            CellState::Unknown,
        ]
        .iter()
        .map(|s| (s.label().to_owned(), 0))
        .collect();
        let mut rows = Vec::with_capacity(d.mfes.len());
        for (r, mfe) in d.mfes.iter().enumerate() {
            let mut cells = Vec::with_capacity(d.environments.len());
            for (c, environment) in d.environments.iter().enumerate() {
                let found = d
                    .cells
                    .iter()
                    .find(|x| &x.environment == environment && &x.mfe == mfe);
                let fallback = BoardCell {
                    environment: environment.clone(),
                    mfe: mfe.clone(),
                    detail: Some("no data for this pair".to_owned()),
                    ..BoardCell::default()
                };
                let cell = found.unwrap_or(&fallback);
                if let Some(n) = summary.iter_mut().find(|(l, _)| l == cell.state.label()) {
                    n.1 += 1;
                }
                cells.push(ViewCell {
                    id: format!("cell-{c}-{r}"),
                    environment: environment.clone(),
                    mfe: mfe.clone(),
                    live: cell.live.clone(),
                    desired: cell.desired.clone(),
                    state: cell.state,
                    state_label: cell.state.label(),
                    detail: cell.detail.clone(),
                    pinned: cell.pinned,
                    rollback: cell.rollback,
                    failed: cell.failed,
                    deployed_at: cell.deployed_at.clone(),
                    age: cell.age_seconds.map(age_text),
                    requested_by: cell.requested_by.clone(),
                    links: ViewLinks::new(&cell.links),
                });
            }
            rows.push(ViewRow {
                mfe: mfe.clone(),
                cells,
            });
        }
        let recent = d
            .recent
            .iter()
            .map(|x| ViewDeployment {
                at: x.at.clone(),
                environment: x.environment.clone(),
                mfe: x.mfe.clone(),
                version: x.version.clone(),
                rollback: x.rollback,
                failed: x.failed,
                who: x.who.clone(),
                links: ViewLinks::new(&x.links),
            })
            .collect();
        let dora = d
            .dora
            .iter()
            .enumerate()
            .map(|(i, e)| ViewDora {
                environment: e.environment.clone(),
                anchor: format!("dora-{i}"),
                figures: e
                    .figures
                    .iter()
                    .map(|f| {
                        let bars = bars(&f.series);
                        ViewFigure {
                            name: f.name.clone(),
                            value: f.value.map_or_else(|| "n/a".to_owned(), number_text),
                            unit: f.unit.clone(),
                            defined: f.value.is_some_and(f64::is_finite),
                            detail: f.detail.clone(),
                            series_label: f.series_label.clone(),
                            chart_width: (bars.len() * (BAR_WIDTH + BAR_GAP)).max(1),
                            bars,
                        }
                    })
                    .collect(),
            })
            .collect();
        View {
            title: if d.title.is_empty() {
                "Deployment board".to_owned()
            } else {
                d.title.clone()
            },
            generated_at: d.generated_at.clone(),
            repository_url: http_url(d.repository_url.as_ref()),
            script: SCRIPT,
            script_hash: format!("sha256-{}", base64(&digest)),
            cell_count: d.environments.len() * d.mfes.len(),
            environments,
            rows,
            summary,
            recent,
            dora,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn only_http_urls_are_links() {
        let ok = |s: &str| http_url(Some(&s.to_owned()));
        assert_eq!(
            ok("https://github.com/a/b").as_deref(),
            Some("https://github.com/a/b")
        );
        assert_eq!(ok("HTTP://x.example").as_deref(), Some("HTTP://x.example"));
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "/relative",
            "//evil.example",
            "https://a b",
            "https://",
            "https:///path",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_and_numbers_read_short() {
        assert_eq!(age_text(5), "5 s");
        assert_eq!(age_text(125), "2 min");
        assert_eq!(age_text(7_200), "2 h");
        assert_eq!(age_text(3 * 86_400 + 5), "3 d");
        assert_eq!(number_text(2.0), "2");
        assert_eq!(number_text(0.126), "0.13");
        assert_eq!(number_text(-0.0001), "0");
        assert_eq!(number_text(f64::NAN), "n/a");
    }

    #[test]
    fn bars_scale_to_the_largest_and_ignore_bad_points() {
        let b = bars(&[0.0, 2.0, 4.0, f64::NAN, -1.0]);
        assert_eq!(b.len(), 5);
        assert_eq!(b[2].height, "30.0");
        assert_eq!(b[1].height, "15.0");
        assert_eq!(b[3].height, "1.0");
        assert_eq!(b[4].x, 4 * (BAR_WIDTH + BAR_GAP));
        assert_eq!(bars(&vec![1.0; 100]).len(), MAX_BARS);
    }
}
