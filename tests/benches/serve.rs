//! `gitops serve` under load (issue 19, part 5): `cargo bench -p gitops-e2e --bench serve [--
//! --quick] [--in-process] [--replicas 1,2,4] [--rate N] [--seconds S] [--in-flight N]
//! [--saturation-seconds S] [--saturation-in-flight N] [--out FILE]`, run by `scripts/bench`.
//!
//! A bounded load generator POSTs signed `deployment` `created` deliveries (unique
//! `X-GitHub-Delivery` GUIDs, `X-Hub-Signature-256` from [`gitops_webhook::signature`], the
//! payload GitHub sends, 100 pairs) to 1, 2 and 4 replicas sharing one SQLite queue file, round
//! robin: an open loop at a fixed rate (default 200/s for 10 s; `--quick` 3 s; at most 64 in
//! flight) for the acknowledgement latency (request sent to answer received: p50, p95, p99,
//! max), and a closed loop (64 in flight, 5 s) for the saturation rate. Every answer must be
//! 202; anything else is counted and printed. After the runs, the queue file must hold exactly
//! one message per 202 (nothing lost, nothing twice).
//!
//! The replicas are `gitops --repo DIR serve --listen 127.0.0.1:0 --queue sqlite:PATH
//! --workers 0` processes (ingress only: the measure is the acknowledgement), the binary being
//! `GITOPS_BIN`, else the release binary next to this bench; `--in-process` runs instead
//! [`gitops_serve::router`] over an [`gitops_serve::Ingress`] per replica, each on its own
//! [`gitops_queue::SqliteQueue`] handle on the same file, on a runtime of their own (the
//! ingress without process start-up or logging; also what runs when the binary has no `serve`).
//! The peer, measured in the same run by the same generator: axum answering 202 after reading
//! the body, as many endpoints as replicas. Figures are reported as ratios to the peer's; nothing
//! asserts a timing. Beside them, the Actions mode's request-to-merged time quoted from the fleet
//! bench's report (`target/bench/fleet.md`) when present. Writes `target/bench/serve.md`.

// The webhook payloads' `json!` literals are deep.
#![recursion_limit = "256"]
#![allow(clippy::disallowed_methods)] // a bench's synchronous file and process calls
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

#[path = "serve/load.rs"]
mod load;
#[path = "serve/replicas.rs"]
mod replicas;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gitops_webhook::{Event, Headers, Limits};
use secrecy::SecretString;

use load::Figures;

const USAGE: &str = "usage: cargo bench -p gitops-e2e --bench serve -- [--quick] [--in-process] [--replicas 1,2,4] [--rate N] [--seconds S] [--in-flight N] [--saturation-seconds S] [--saturation-in-flight N] [--out FILE]";

/// The webhook secret the replicas verify with.
const SECRET: &str = "serve-bench-webhook-secret";

/// Pairs (MFE x environment) the deliveries are spread over.
const PAIRS: usize = 100;

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
    profile_dir().join(format!("gitops{}", std::env::consts::EXE_SUFFIX))
}

/// Whether `gitops` has the `serve` command.
fn has_serve(gitops: &Path) -> bool {
    Command::new(gitops)
        .args(["serve", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs git in `dir`, with a fixed identity.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Args {
    quick: bool,
    in_process: bool,
    replicas: Vec<usize>,
    rate: f64,
    seconds: f64,
    in_flight: usize,
    saturation_seconds: f64,
    saturation_in_flight: usize,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        in_process: false,
        replicas: vec![1, 2, 4],
        rate: 200.0,
        seconds: 0.0,
        in_flight: 64,
        saturation_seconds: 5.0,
        saturation_in_flight: 64,
        out: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    let number = |it: &mut dyn Iterator<Item = String>, what: &str| -> f64 {
        it.next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .unwrap_or_else(|| panic!("{what} needs a positive number\n{USAGE}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--in-process" => a.in_process = true,
            "--replicas" => {
                a.replicas = it
                    .next()
                    .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                    .filter(|v: &Vec<usize>| !v.is_empty() && !v.contains(&0))
                    .unwrap_or_else(|| panic!("--replicas needs a list like 1,2,4\n{USAGE}"));
            }
            "--rate" => a.rate = number(&mut it, "--rate"),
            "--seconds" => a.seconds = number(&mut it, "--seconds"),
            "--in-flight" => a.in_flight = number(&mut it, "--in-flight") as usize,
            "--saturation-seconds" => {
                a.saturation_seconds = number(&mut it, "--saturation-seconds");
            }
            "--saturation-in-flight" => {
                a.saturation_in_flight = number(&mut it, "--saturation-in-flight") as usize;
            }
            "--out" => a.out = PathBuf::from(it.next().expect("--out FILE")),
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}\n{USAGE}"),
        }
    }
    if a.seconds == 0.0 {
        a.seconds = if a.quick { 3.0 } else { 10.0 };
    }
    if a.out.as_os_str().is_empty() {
        a.out = profile_dir()
            .parent()
            .expect("the target directory")
            .join("bench/serve.md");
    }
    a
}

/// The figures of one replica count.
struct Row {
    replicas: usize,
    peer: Figures,
    serve: Figures,
    peer_saturation: Figures,
    serve_saturation: Figures,
    /// Messages in the queue file (waiting + in flight) against the 202s it was sent.
    queued: Option<u64>,
    acknowledged: usize,
    problems: Vec<String>,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn statuses(f: &Figures) -> String {
    f.statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the generator against the reader the server runs: its delivery verifies and reads
/// as a deploy request of one of the pairs.
fn check_generator(secret: &SecretString, sample: &load::Delivery) {
    let delivery = gitops_webhook::read(
        secret,
        Headers {
            event: Some("deployment"),
            delivery: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            signature: Some(&sample.signature),
        },
        &sample.body,
        Limits::default(),
    )
    .expect("the generator's delivery verifies and reads");
    assert!(
        matches!(delivery.event, Event::Deployment(_)),
        "the generator's delivery is a deploy request: {:?}",
        delivery.event
    );
    let jobs = gitops_serve::jobs_of(&delivery);
    assert_eq!(jobs.len(), 1, "one job per delivery");
}

/// What the fleet bench's report (`fleet.md`) says of the Actions mode: its command, and per
/// run (column) its title, request-to-merged p50 / p95, settled requests per modelled minute
/// and the ceiling GitHub's limits put on them.
struct Fleet {
    command: String,
    runs: Vec<[String; 4]>,
}

fn fleet_figures(fleet_md: &Path) -> Option<Fleet> {
    let text = std::fs::read_to_string(fleet_md).ok()?;
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let row = |label: &str| text.lines().find(|l| l.starts_with(label)).map(cells);
    let header = row("| figure |")?;
    let latency = row("| request-to-merged p50 / p95")?;
    let settled = row("| **throughput: requests settled per modelled minute**")?;
    let ceiling = row("| **ceiling in requests per minute**")?;
    let command = text
        .lines()
        .find(|l| l.starts_with("`cargo bench"))
        .and_then(|l| l.split('`').nth(1))
        .unwrap_or("cargo bench -p gitops-e2e --bench fleet")
        .to_owned();
    let runs = (1..header.len())
        .map(|i| {
            let at = |r: &Vec<String>| r.get(i).cloned().unwrap_or_default();
            [at(&header), at(&latency), at(&settled), at(&ceiling)]
        })
        .collect();
    Some(Fleet { command, runs })
}

#[allow(clippy::too_many_lines)] // the report, table by table
fn report(a: &Args, mode: &str, body_bytes: usize, rows: &[Row], fleet_md: &Path) -> String {
    let mut md =
        String::from("# `gitops serve`: webhook acknowledgement under load (issue 19)\n\n");
    let _ = writeln!(
        md,
        "`cargo bench -p gitops-e2e --bench serve --{}{}` on {} cores. Replicas: {mode}, sharing one SQLite queue file (`--queue sqlite:PATH`, `--workers 0`: ingress only), the load round-robin over them. Deliveries: `deployment` `created` as GitHub sends them ({body_bytes} bytes, signed, a fresh `X-GitHub-Delivery` GUID each), over {PAIRS} pairs. Peer: axum on the same loopback answering 202 after reading the body, as many endpoints as replicas, the same generator. Latency: request sent to answer received (the client keeps its connections). Every figure is from this run; only the ratios mean something on a shared machine.\n",
        if a.quick { " --quick" } else { "" },
        if a.in_process { " --in-process" } else { "" },
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );
    let _ = writeln!(
        md,
        "## Acknowledgement latency: open loop, {:.0} deliveries/s for {:.0} s (at most {} in flight)\n",
        a.rate, a.seconds, a.in_flight
    );
    md.push_str("| replicas | endpoint | sent | answers | achieved /s | p50 ms | p95 ms | p99 ms | max ms | p99 from scheduled send ms (incl. the generator's lateness) | **p99 / peer p99** |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        for (name, f) in [("peer", &r.peer), ("`gitops serve`", &r.serve)] {
            let _ = writeln!(
                md,
                "| {} | {name} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                r.replicas,
                f.sent,
                statuses(f),
                f.rate(),
                ms(f.latency(0.5)),
                ms(f.latency(0.95)),
                ms(f.latency(0.99)),
                ms(f.latency(1.0)),
                ms(load::percentile(&f.from_schedule, 0.99)),
                if name == "peer" {
                    "1.00x".to_owned()
                } else {
                    format!("**{}**", ratio(f.latency(0.99), r.peer.latency(0.99)))
                }
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Throughput: saturation, closed loop ({} in flight, {:.0} s)\n",
        a.saturation_in_flight, a.saturation_seconds
    );
    md.push_str("| replicas | peer acknowledged /s | `gitops serve` acknowledged /s | **serve / peer** | serve / serve at 1 replica | serve p50 / p99 ms under saturation | serve answers |\n|---|---|---|---|---|---|---|\n");
    let base = rows
        .iter()
        .find(|r| r.replicas == 1)
        .map(|r| r.serve_saturation.rate());
    for r in rows {
        let s = &r.serve_saturation;
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | **{:.0}%** | {} | {} / {} | {} |",
            r.replicas,
            r.peer_saturation.rate(),
            s.rate(),
            100.0 * s.rate() / r.peer_saturation.rate().max(1e-9),
            base.map_or_else(
                || "-".to_owned(),
                |b| format!("{:.2}x", s.rate() / b.max(1e-9))
            ),
            ms(s.latency(0.5)),
            ms(s.latency(0.99)),
            statuses(s),
        );
    }
    md.push_str("\n## Checks\n\n");
    for r in rows {
        let queued = r.queued.map_or_else(
            || "the queue could not be read".to_owned(),
            |q| {
                format!(
                    "{q} messages in the queue for {} deliveries acknowledged{}",
                    r.acknowledged,
                    if q == r.acknowledged as u64 {
                        " (nothing lost, nothing twice)"
                    } else {
                        " (**MISMATCH**)"
                    }
                )
            },
        );
        let failed = r.serve.failed() + r.serve_saturation.failed();
        let _ = writeln!(
            md,
            "- {} replica{}: {queued}; {} answer{} other than 202{}.",
            r.replicas,
            if r.replicas == 1 { "" } else { "s" },
            failed,
            if failed == 1 { "" } else { "s" },
            if failed == 0 { "" } else { " (**errors**)" }
        );
        for e in r
            .serve
            .errors
            .iter()
            .chain(&r.serve_saturation.errors)
            .chain(&r.problems)
        {
            let _ = writeln!(md, "  - {e}");
        }
    }
    if let Some(one) = rows.iter().find(|r| r.replicas == 1) {
        let p99 = one.serve.latency(0.99);
        let _ = writeln!(
            md,
            "- Target (issue 19): acknowledgement p99 under 100 ms at 200 deliveries/s on one replica: p99 {} ms at {:.0}/s offered, {}.",
            ms(p99),
            a.rate,
            if p99 < Duration::from_millis(100) && one.serve.failed() == 0 {
                "met on this run"
            } else {
                "**not met on this run**"
            }
        );
    }
    md.push_str("\n## Beside the Actions mode\n\n");
    let serve_one = rows.iter().find(|r| r.replicas == 1).or(rows.first());
    match (fleet_figures(fleet_md), serve_one) {
        (Some(fleet), Some(one)) => {
            let _ = writeln!(
                md,
                "App mode acknowledges a request (enqueued, GitHub answered) in p50 {} ms / p99 {} ms at {:.0}/s on one replica. The Actions mode on the same kind of work (deploy requests over 100 MFEs x 2 environments), quoted from `{}` (`{}`; not re-run here; modelled time: fake-github's 100 ms a call and GitHub's limits):\n",
                ms(one.serve.latency(0.5)),
                ms(one.serve.latency(0.99)),
                a.rate,
                fleet_md.display(),
                fleet.command,
            );
            md.push_str("| Actions mode run | request-to-merged p50 / p95 (modelled s) | requests settled per modelled minute | GitHub's ceiling, requests per minute |\n|---|---|---|---|\n");
            for [title, latency, settled, ceiling] in &fleet.runs {
                let _ = writeln!(md, "| {title} | {latency} | {settled} | {ceiling} |");
            }
            let ceiling = fleet
                .runs
                .iter()
                .filter_map(|r| r[3].parse::<f64>().ok())
                .fold(0.0_f64, f64::max);
            let slowest = rows
                .iter()
                .map(|r| r.serve_saturation.rate())
                .fold(f64::INFINITY, f64::min);
            if ceiling > 0.0 && slowest.is_finite() {
                let _ = writeln!(
                    md,
                    "\nThe ingress's slowest saturation rate here ({slowest:.0}/s, {:.0} a minute) is {:.0} times the highest ceiling GitHub's limits allow the whole pipeline ({ceiling:.2} requests a minute): acknowledging is never the bottleneck, GitHub's write budget is, from one replica on. Replicas add availability and workers, not settled throughput.",
                    slowest * 60.0,
                    slowest * 60.0 / ceiling
                );
            }
            md.push_str("\nThe two latencies measure different things: the acknowledgement is the App's answer to GitHub (the job is on the queue; processing, merge and deploy follow on the workers, bound by the same GitHub limits), the request-to-merged time is the whole way to a merged pull request through runners. What App mode removes from a request's path is a runner start-up per step and the dispatch; what it cannot remove is GitHub's write budget.\n");
        }
        _ => {
            let _ = writeln!(
                md,
                "No fleet report at `{}`: run `cargo bench -p gitops-e2e --bench fleet` (or `scripts/bench`) for the Actions mode's request-to-merged time.",
                fleet_md.display()
            );
        }
    }
    md
}

fn main() {
    let mut a = args();
    let gitops = gitops_bin();
    if !a.in_process && !has_serve(&gitops) {
        eprintln!(
            "serve bench: {} has no `serve` command: measuring in process",
            gitops.display()
        );
        a.in_process = true;
    }
    let mode = if a.in_process {
        "in process (`gitops_serve::router` over an `Ingress` per replica, each its own `SqliteQueue` handle on the file, on their own 2-thread runtime)"
    } else {
        "`gitops serve` processes"
    };
    let secret = SecretString::from(SECRET);
    let count = (a.rate * a.seconds).ceil() as usize;
    let deliveries = Arc::new(load::deliveries(&secret, count.max(2_000), PAIRS));
    check_generator(&secret, &deliveries[0]);
    let body_bytes = deliveries[0].body.len();

    let target = profile_dir()
        .parent()
        .expect("the target directory")
        .to_path_buf();
    std::fs::create_dir_all(target.join("bench")).expect("target/bench");
    let work = tempfile::Builder::new()
        .prefix("serve-work-")
        .tempdir_in(target.join("bench"))
        .expect("a work directory");

    // The servers run on a runtime of their own, the generator on another.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("servers")
        .enable_all()
        .build()
        .expect("the servers' runtime");
    let generator = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("generator")
        .enable_all()
        .build()
        .expect("the generator's runtime");

    let origin = work.path().join("origin");
    if !a.in_process {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops-repo");
        let out = Command::new("cp")
            .arg("-R")
            .arg(&examples)
            .arg(&origin)
            .output()
            .expect("cp runs");
        assert!(out.status.success(), "copying {}", examples.display());
        git(&origin, &["init", "--quiet", "--initial-branch", "main"]);
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "--quiet", "-m", "gitops repository"]);
    }

    let rows: Vec<Row> = generator.block_on(async {
        let mut rows = Vec::new();
        for &n in &a.replicas {
            let queue = work.path().join(format!("queue-{n}.sqlite"));
            let peer = replicas::peers(servers.handle(), n).await;
            let serve = if a.in_process {
                replicas::in_process(servers.handle(), n, &secret, &queue).await
            } else {
                let dir = work.path().join(format!("replicas-{n}"));
                std::fs::create_dir_all(&dir).expect("the replicas' directory");
                replicas::processes(servers.handle(), n, SECRET, &gitops, &origin, &queue, &dir)
                    .await
            };
            // Warm-up, not measured: connections, caches, the queue file's first pages.
            let warm = 20 * n;
            let _ = load::open_loop(&peer.urls, &deliveries, a.rate, warm, a.in_flight).await;
            let warm_serve =
                load::open_loop(&serve.urls, &deliveries, a.rate, warm, a.in_flight).await;
            eprintln!("serve bench: {n} replica(s), open loop, peer then gitops serve");
            let peer_open =
                load::open_loop(&peer.urls, &deliveries, a.rate, count, a.in_flight).await;
            let serve_open =
                load::open_loop(&serve.urls, &deliveries, a.rate, count, a.in_flight).await;
            eprintln!("serve bench: {n} replica(s), saturation, peer then gitops serve");
            let length = Duration::from_secs_f64(a.saturation_seconds);
            let peer_sat =
                load::closed_loop(&peer.urls, &deliveries, a.saturation_in_flight, length).await;
            let serve_sat =
                load::closed_loop(&serve.urls, &deliveries, a.saturation_in_flight, length).await;
            let queued = serve.queue_stats().await.map(|s| s.depth + s.in_flight);
            let mut problems = peer.stop().await;
            problems.extend(serve.stop().await);
            eprintln!(
                "serve bench: {n} replica(s): p99 {} ms (peer {} ms), saturation {:.0}/s (peer {:.0}/s)",
                ms(serve_open.latency(0.99)),
                ms(peer_open.latency(0.99)),
                serve_sat.rate(),
                peer_sat.rate()
            );
            for e in serve_open
                .errors
                .iter()
                .chain(&serve_sat.errors)
                .chain(&problems)
            {
                eprintln!("serve bench: {n} replica(s): {e}");
            }
            rows.push(Row {
                replicas: n,
                acknowledged: warm_serve.accepted() + serve_open.accepted() + serve_sat.accepted(),
                peer: peer_open,
                serve: serve_open,
                peer_saturation: peer_sat,
                serve_saturation: serve_sat,
                queued,
                problems,
            });
        }
        rows
    });
    drop(generator);
    drop(servers);

    let md = report(&a, mode, body_bytes, &rows, &target.join("bench/fleet.md"));
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir).expect("the report's directory");
    }
    std::fs::write(&a.out, &md).expect("the report");
    println!("{md}");
    eprintln!("serve bench: wrote {}", a.out.display());
}
