//! The fleet simulation (issue 18, part 2): `cargo bench -p gitops-e2e --bench fleet [-- --quick]
//! [--scale N] [--runners N] [--out FILE]`, run by `scripts/bench`.
//!
//! 200 deploy requests (`--quick`: 20) over 100 MFEs x 2 environments, on fake-github with
//! GitHub's limits on (secondary: 80 content-creating requests and 900 points a minute; primary:
//! 5,000 an hour for the App installation, 1,000 an hour per repository for a job's
//! `GITHUB_TOKEN`), 100 ms modelled latency per call, time-scaled (`--scale`, default 20: one
//! modelled minute in three real seconds), driven through the `gitops` binary as Actions would
//! (`sim.rs`), once in a burst and once as a Poisson stream at 80% of the ceiling the burst
//! measured. Reports throughput against that ceiling, p50/p95 request-to-merged latency
//! (modelled), the loss and ordering figures, rate limits surfacing to users, and GitHub API
//! calls per stage counted by fake-github (the sweep, `gitops merge --all` every 15 modelled
//! minutes and once at the end, as its own stage); writes `target/bench/fleet.md`.
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
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        scale: 20.0,
        runners: 4,
        out: profile_dir()
            .parent()
            .expect("the target directory")
            .join("bench/fleet.md"),
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
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn section(md: &mut String, title: &str, o: &sim::Outcome, against: f64) {
    let (w, p, c) = o.per_request();
    let (secondary, primary) = o.ceilings();
    let _ = writeln!(md, "## {title}\n");
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let rows = [
        ("requests / pairs", format!("{} / {}", o.requests, o.pairs)),
        (
            "merged (of which by the sweep, `gitops merge --all` every 15 modelled min)",
            format!("{} ({})", o.merged, o.merged_by_sweep),
        ),
        (
            "merge steps giving up with their PR open (left to the sweep) / sweeps run",
            format!("{} / {}", o.left_to_sweep, o.sweeps),
        ),
        ("superseded (told `inactive`)", o.superseded.to_string()),
        (
            "refused as older than a pending request (told)",
            o.refused_older.to_string(),
        ),
        ("requests lost", o.lost.len().to_string()),
        (
            "pairs not ending on their newest request",
            o.not_newest.len().to_string(),
        ),
        (
            "rate-limit errors surfacing to users",
            o.secondary_surfaced.to_string(),
        ),
        ("failed steps", o.failures.len().to_string()),
        (
            "merge steps finding their PR merged or moved by a newer request",
            o.merge_races.to_string(),
        ),
        (
            "limit refusals answered by fake-github (secondary / primary), retried",
            format!("{} / {}", o.secondary_refused, o.primary_refused),
        ),
        (
            "throughput (merged per modelled minute)",
            format!("{:.2}", o.throughput()),
        ),
        (
            "ceiling of the secondary limits (min(80/writes, 900/points) per request)",
            format!("{secondary:.2}"),
        ),
        (
            "ceiling of the primary limit, sustained (5,000/h / calls per request)",
            format!("{primary:.2}"),
        ),
        (
            "throughput / ceiling of this run",
            format!("{:.0}%", 100.0 * o.throughput() / against.max(1e-9)),
        ),
        (
            "installation per request: writes, points, calls",
            format!("{w:.1}, {p:.1}, {c:.1}"),
        ),
        (
            "installation peak per modelled minute: writes, points",
            format!("{}, {}", o.peak_writes_per_minute, o.peak_points_per_minute),
        ),
        (
            "request-to-merged p50 / p95 (modelled s)",
            format!("{:.0} / {:.0}", o.percentile(0.5), o.percentile(0.95)),
        ),
        (
            "span (modelled min) / real s",
            format!("{:.1} / {:.0}", o.span_s / 60.0, o.real_s),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nGitHub API calls per stage (fake-github's log; per request in brackets):\n\n| stage | reads | writes | 304 (free) |\n|---|---|---|---|"
    );
    let n = o.requests.max(1) as f64;
    for stage in sim::STAGES {
        let c = o.calls.get(stage).cloned().unwrap_or_default();
        let _ = writeln!(
            md,
            "| {stage} | {} ({:.1}) | {} ({:.1}) | {} ({:.1}) |",
            c.reads,
            c.reads as f64 / n,
            c.writes,
            c.writes as f64 / n,
            c.not_modified,
            c.not_modified as f64 / n
        );
    }
    for (what, list) in [
        ("failures", &o.failures),
        ("lost", &o.lost),
        ("lost, their records", &o.lost_records),
        ("not newest", &o.not_newest),
    ] {
        if !list.is_empty() {
            let _ = writeln!(md, "\n{what}:\n");
            for l in list.iter().take(20) {
                let _ = writeln!(md, "- {l}");
            }
        }
    }
    let _ = writeln!(md);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let a = args();
    let requests = if a.quick { 20 } else { 200 };
    let cfg = |arrival| sim::Config {
        requests,
        mfes: if a.quick { 10 } else { 100 },
        arrival,
        scale: a.scale,
        latency_ms: 100,
        runners: a.runners,
        seed: 18,
        poll_s: 30.0,
        deploy_each_merge: false,
        gitops_bin: gitops_bin(),
    };
    eprintln!("fleet: {requests} requests in a burst (scale {}x)", a.scale);
    let burst = sim::run(&cfg(sim::Arrival::Burst)).await;
    let (secondary, primary) = burst.ceilings();
    // A run shorter than an hour within the hour's 5,000 is bound by the secondary limits.
    let binding = if burst.app_requests <= 5_000 {
        secondary
    } else {
        secondary.min(primary)
    };
    let rate = 0.8 * binding;
    eprintln!("fleet: {requests} requests as a Poisson stream of {rate:.2}/min");
    let poisson = sim::run(&cfg(sim::Arrival::Poisson(rate))).await;
    let mut md = String::from("# Fleet simulation (issue 18)\n\n");
    let _ = writeln!(
        md,
        "`cargo bench -p gitops-e2e --bench fleet{}` (scale {}x: one modelled minute in {:.1} real s; 100 ms modelled latency per call; {} runners; the `gitops` binary per step; fake-github with GitHub's limits on; the GitOps jobs share one App installation's budget).\n",
        if a.quick { " -- --quick" } else { "" },
        a.scale,
        60.0 / a.scale,
        a.runners
    );
    section(&mut md, "Burst", &burst, binding);
    section(
        &mut md,
        &format!("Poisson stream ({rate:.2} requests per modelled minute)"),
        &poisson,
        rate.min(binding),
    );
    let bottleneck = if binding <= 0.0 {
        "no figure".to_owned()
    } else {
        format!(
            "the burst reached {:.0}% of the ceiling the limits allow ({binding:.2} merged requests per modelled minute; sustained over an hour the primary limit allows {primary:.2}); batching several pairs per PR is out of scope here",
            100.0 * burst.throughput() / binding
        )
    };
    let _ = writeln!(md, "Bottleneck: {bottleneck}.");
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir).expect("the report's directory");
    }
    std::fs::write(&a.out, &md).expect("the report");
    println!("{md}");
    eprintln!("fleet: wrote {}", a.out.display());
}
