//! The fleet simulation (issue 18, part 2): `cargo bench -p gitops-e2e --bench fleet [-- --quick]
//! [--scale N] [--runners N] [--out FILE] [--batch | --no-batch]`, run by `scripts/bench`.
//!
//! 200 deploy requests (`--quick`: 20) over 100 MFEs x 2 environments, on fake-github with
//! GitHub's limits on (secondary: 80 content-creating requests and 900 points a minute; primary:
//! 5,000 an hour for the App installation, 1,000 an hour per repository for a job's
//! `GITHUB_TOKEN`), 100 ms modelled latency per call, time-scaled (`--scale`, default 20: one
//! modelled minute in three real seconds), driven through the `gitops` binary as Actions would
//! (`sim.rs`), once in a burst and once as a Poisson stream at 80% of the ceiling the first
//! burst measured; in both modes by default, side by side on the same arrivals: one pull request
//! per request, and `batch: true` (one pull request per environment). Reports requests settled
//! per modelled minute against the ceiling in requests per minute (and merges against 80 /
//! writes per merge, and the installation's write utilisation: see [`METHOD`]), p50/p95
//! request-to-merged latency (modelled), the loss and ordering figures, rate limits surfacing to
//! users, and GitHub API calls per stage counted by fake-github (the sweep, `gitops merge --all`
//! every 15 modelled minutes and once at the end, as its own stage); writes
//! `target/bench/fleet.md`.
//!
//! The `gitops` measured: `GITOPS_BIN`, else the release binary next to this bench.

#![allow(clippy::disallowed_methods)] // a bench's synchronous file and process calls
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::many_single_char_names
)]

#[path = "fleet/sim.rs"]
mod sim;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

fn gitops_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GITOPS_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = profile_dir().join(format!("gitops{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it (`cargo build --release -p mfe-gitops --bin gitops`) or set GITOPS_BIN",
        bin.display()
    );
    bin
}

struct Args {
    quick: bool,
    scale: f64,
    runners: usize,
    out: PathBuf,
    /// Which modes: without batching, with it (`batch: true`).
    modes: Vec<bool>,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        scale: 20.0,
        runners: 4,
        out: PathBuf::new(),
        modes: vec![false, true],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--scale" => a.scale = it.next().and_then(|v| v.parse().ok()).expect("--scale N"),
            "--runners" => {
                a.runners = it.next().and_then(|v| v.parse().ok()).expect("--runners N");
            }
            "--out" => a.out = PathBuf::from(it.next().expect("--out FILE")),
            "--batch" => a.modes = vec![true],
            "--no-batch" => a.modes = vec![false],
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    if a.out.as_os_str().is_empty() {
        a.out = profile_dir()
            .parent()
            .expect("the target directory")
            .join("bench/fleet.md");
    }
    a
}

/// One run of the report: its column title, its outcome, and the rate it was offered
/// (requests per modelled minute; none for a burst).
struct Run {
    title: String,
    outcome: sim::Outcome,
    offered: Option<f64>,
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The figures of one run, in the order of [`LABELS`].
fn figures(run: &Run) -> Vec<String> {
    let o = &run.outcome;
    let (w, p, c) = o.per_request();
    let (secondary, primary) = o.ceilings();
    let merge_ceiling = o.merge_ceiling();
    vec![
        format!("{} / {}", o.requests, o.pairs),
        format!(
            "{} ({} + {} + {}; {} told superseded in all)",
            o.settled, o.merged, o.superseded_unmerged, o.refused_older, o.superseded
        ),
        o.merged_by_sweep.to_string(),
        o.merge_commits.to_string(),
        format!("{} / {}", o.merge_jobs, o.merge_jobs_coalesced),
        format!("{} / {}", o.left_to_sweep, o.sweeps),
        o.merge_races.to_string(),
        o.lost.len().to_string(),
        o.not_newest.len().to_string(),
        o.secondary_surfaced.to_string(),
        o.failures.len().to_string(),
        format!("{} / {}", o.secondary_refused, o.primary_refused),
        format!("{w:.1}, {p:.1}, {c:.1}"),
        format!("{:.1}", o.app_writes as f64 / o.merged.max(1) as f64),
        format!("{}, {}", o.peak_writes_per_minute, o.peak_points_per_minute),
        format!(
            "{:.1} / {:.1} ({}) / {:.0}",
            o.span_s / 60.0,
            o.sweep_tail_s / 60.0,
            pct(o.sweep_tail_s / o.span_s.max(1e-9)),
            o.real_s
        ),
        format!("{:.2}", o.throughput()),
        format!("{secondary:.2}"),
        format!("{primary:.2}"),
        pct(o.throughput() / secondary.max(1e-9)),
        format!(
            "{:.2} / {merge_ceiling:.2} = {}",
            o.merged_per_minute(),
            pct(o.merged_per_minute() / merge_ceiling.max(1e-9))
        ),
        pct(o.write_utilisation()),
        run.offered.map_or_else(
            || "-".to_owned(),
            |rate| format!("{rate:.2}: {}", pct(o.throughput() / rate.max(1e-9))),
        ),
        format!("{:.0} / {:.0}", o.percentile(0.5), o.percentile(0.95)),
    ]
}

const LABELS: [&str; 24] = [
    "requests / pairs",
    "**settled**, each once (merged + told superseded, `inactive`, unmerged + refused as older than a pending request, told)",
    "of the merged, merged by the sweep (`gitops merge --all` every 15 modelled min)",
    "pull requests merged (merge commits)",
    "merge jobs run / waiting ones replaced by a newer push (the PR's concurrency group)",
    "merge jobs giving up with their PR open (left to the sweep) / sweeps run",
    "merge jobs finding their PR merged or moved meanwhile",
    "requests lost",
    "pairs not ending on their newest request",
    "rate-limit errors surfacing to users",
    "failed steps",
    "limit refusals answered by fake-github (secondary / primary), retried",
    "installation per request: writes, points, calls",
    "installation writes per merged request",
    "installation peak per modelled minute: writes, points",
    "span, first arrival to last settled (modelled min) / of which after the last request settled other than by a sweep / real s",
    "**throughput: requests settled per modelled minute**",
    "**ceiling in requests per minute**: min(80 / writes, 900 / points) per request",
    "ceiling of the primary limit, sustained (5,000/h / calls per request)",
    "**settled throughput / ceiling**",
    "merged per modelled minute / ceiling in merges (80 / writes per merged request) = ratio",
    "installation write utilisation: writes up to the last merge / (80 x span min)",
    "offered rate (requests per modelled minute): settled throughput / offered",
    "request-to-merged p50 / p95 (modelled s)",
];

fn table(md: &mut String, runs: &[Run]) {
    let _ = write!(md, "| figure |");
    for r in runs {
        let _ = write!(md, " {} |", r.title);
    }
    let _ = write!(md, "\n|---|");
    for _ in runs {
        let _ = write!(md, "---|");
    }
    let _ = writeln!(md);
    let columns: Vec<Vec<String>> = runs.iter().map(figures).collect();
    for (i, label) in LABELS.iter().enumerate() {
        let _ = write!(md, "| {label} |");
        for c in &columns {
            let _ = write!(md, " {} |", c[i]);
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "\nGitHub API calls per stage (fake-github's log), per request: reads + writes (+ free 304s) [writes answered with a conflict: 405, 409, 422]\n"
    );
    let _ = write!(md, "| stage |");
    for r in runs {
        let _ = write!(md, " {} |", r.title);
    }
    let _ = write!(md, "\n|---|");
    for _ in runs {
        let _ = write!(md, "---|");
    }
    let _ = writeln!(md);
    for stage in sim::STAGES {
        let _ = write!(md, "| {stage} |");
        for r in runs {
            let n = r.outcome.requests.max(1) as f64;
            let c = r.outcome.calls.get(stage).cloned().unwrap_or_default();
            let _ = write!(
                md,
                " {:.1} + {:.1} (+{:.1}) [{:.2}] |",
                c.reads as f64 / n,
                c.writes as f64 / n,
                c.not_modified as f64 / n,
                c.conflicts as f64 / n
            );
        }
        let _ = writeln!(md);
    }
    for r in runs {
        let o = &r.outcome;
        for (what, list) in [
            ("failures", &o.failures),
            ("lost", &o.lost),
            ("lost, their records", &o.lost_records),
            ("not newest", &o.not_newest),
        ] {
            if !list.is_empty() {
                let _ = writeln!(md, "\n{}, {what}:\n", r.title);
                for l in list.iter().take(20) {
                    let _ = writeln!(md, "- {l}");
                }
            }
        }
    }
    let _ = writeln!(md);
}

/// How the figures are computed (the report's own words).
const METHOD: &str = "How the throughput is computed: a request is *settled* when it is merged (the merge commit that took it, read from the desired-state files the commit changed), told superseded (`inactive`; the moment its requester saw it, within one poll), or refused by `process` as older than a request pending for its pair (told `failure`); every request is one of these unless lost. Throughput = requests settled / span, the span running from the first arrival to the last request settled; the ceiling is in the same unit, requests per minute: min(80 / writes, 900 / points) per request, the installation's writes and points over the whole run divided by the requests. So settled throughput / ceiling = the installation's writes / (80 x span): the share of the secondary limit's budget the run kept busy (writes after the span, e.g. the last deploy's reports, count in the cost, so it is a little above the write utilisation measured up to the last merge). Merged per minute against 80 / writes per merged request is the same ratio counted in merges. The span includes any tail spent waiting for the 15-minute sweep (a merge job giving up under a burst); its share is shown. The merge job is modelled as the rendered `gitops-checks.yml` runs it: triggered by every push to a pull request (opened, synchronize), in the pull request's concurrency group (`gitops-checks-<N>`, no cancelling in progress: one runs, at most one waits, a newer trigger replaces the waiting one). With `batch: true` every request of an environment is pushed to its one batch pull request, so the requests pushed while a merge job runs share the next one: that run is the batch window (no timer is added).";

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let a = args();
    let requests = if a.quick { 20 } else { 200 };
    let cfg = |arrival, batch| sim::Config {
        requests,
        mfes: if a.quick { 10 } else { 100 },
        arrival,
        scale: a.scale,
        latency_ms: 100,
        runners: a.runners,
        seed: 18,
        poll_s: 30.0,
        deploy_each_merge: false,
        batch,
        gitops_bin: gitops_bin(),
    };
    let mode = |batch: bool| if batch { "batch" } else { "per request" };
    let mut runs = Vec::new();
    // The Poisson stream: 80% of the ceiling the first mode's burst measured, the same stream
    // for both modes.
    let mut rate = None;
    for &batch in &a.modes {
        eprintln!(
            "fleet ({}): {requests} requests in a burst (scale {}x)",
            mode(batch),
            a.scale
        );
        let burst = sim::run(&cfg(sim::Arrival::Burst, batch)).await;
        let (secondary, primary) = burst.ceilings();
        // A run shorter than an hour within the hour's 5,000 is bound by the secondary limits.
        let binding = if burst.app_requests <= 5_000 {
            secondary
        } else {
            secondary.min(primary)
        };
        let r = *rate.get_or_insert(0.8 * binding);
        runs.push(Run {
            title: format!("burst, {}", mode(batch)),
            outcome: burst,
            offered: None,
        });
        eprintln!(
            "fleet ({}): {requests} requests as a Poisson stream of {r:.2}/min",
            mode(batch)
        );
        let poisson = sim::run(&cfg(sim::Arrival::Poisson(r), batch)).await;
        runs.push(Run {
            title: format!("Poisson {r:.2}/min, {}", mode(batch)),
            outcome: poisson,
            offered: Some(r),
        });
    }
    let mut md = String::from("# Fleet simulation (issue 18)\n\n");
    let _ = writeln!(
        md,
        "`cargo bench -p gitops-e2e --bench fleet -- --scale {}{}` (one modelled minute in {:.1} real s; 100 ms modelled latency per call; {} runners; the `gitops` binary per step; fake-github with GitHub's limits on; the GitOps jobs share one App installation's budget). Modes: per request (one pull request per request) and `batch: true` (one pull request per environment), the same arrivals (seed 18).\n",
        a.scale,
        if a.quick { " --quick" } else { "" },
        60.0 / a.scale,
        a.runners
    );
    table(&mut md, &runs);
    let _ = writeln!(md, "{METHOD}\n");
    for r in runs.iter().filter(|r| r.offered.is_none()) {
        let o = &r.outcome;
        let (secondary, primary) = o.ceilings();
        let _ = writeln!(
            md,
            "- {}: {} requests settled in {:.1} modelled min ({:.1} of it waiting for the sweep), {:.2} a minute against a ceiling of {secondary:.2} ({}; sustained over an hour the primary limit allows {primary:.2}); write utilisation {}.",
            r.title,
            o.settled,
            o.span_s / 60.0,
            o.sweep_tail_s / 60.0,
            o.throughput(),
            pct(o.throughput() / secondary.max(1e-9)),
            pct(o.write_utilisation())
        );
    }
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir).expect("the report's directory");
    }
    std::fs::write(&a.out, &md).expect("the report");
    println!("{md}");
    eprintln!("fleet: wrote {}", a.out.display());
}
