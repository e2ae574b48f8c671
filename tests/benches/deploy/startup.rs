//! 3. Start-up of both binaries next to `git --version`, and `mfe validate`'s throughput
//!    (payloads/s): one process per payload, in-process through the library, next to
//!    check-jsonschema on the same payloads against the published schema and Python's
//!    `json.loads` (the floor: parsing without any check).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::Ctx;
use crate::generate;
use crate::measure::{Stats, ratio, timed};

/// Python's `json.loads` over the files named on stdin, repeated for at least argv[1] seconds:
/// payloads per second.
const JSON_LOADS: &str = r"
import json, sys, time
docs = [open(p, 'rb').read() for p in sys.stdin.read().split()]
budget, done, start = float(sys.argv[1]), 0, time.perf_counter()
while True:
    for d in docs:
        json.loads(d)
    done += len(docs)
    elapsed = time.perf_counter() - start
    if elapsed >= budget:
        break
print(done / elapsed)
";

fn run_ok(what: &str, command: &mut Command) -> f64 {
    let (seconds, out) = timed(command);
    assert!(
        out.status.success(),
        "{what} exited {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    seconds
}

/// Runs the section and appends its report to `out`.
pub fn run(ctx: &Ctx, out: &mut String) {
    let runs = if ctx.quick { 10 } else { 50 };
    let payloads = generate::payloads(&ctx.cache, if ctx.quick { 200 } else { 2_000 });
    let first = payloads[0].to_string_lossy().into_owned();
    let example = ctx.root.join("examples/gitops-repo");
    let example = example.to_string_lossy().into_owned();
    let git = PathBuf::from("git");
    let commands: Vec<(&str, &Path, Vec<&str>)> = vec![
        ("git --version", &git, vec!["--version"]),
        ("gitops --version", &ctx.gitops, vec!["--version"]),
        ("mfe --version", &ctx.mfe, vec!["--version"]),
        (
            "mfe validate <one payload>",
            &ctx.mfe,
            vec!["validate", &first],
        ),
        (
            "gitops check --repo examples/gitops-repo",
            &ctx.gitops,
            vec!["check", "--repo", &example],
        ),
    ];
    eprintln!("start-up: {runs} runs of {} commands", commands.len());
    let mut samples = vec![Vec::new(); commands.len()];
    for _ in 0..runs {
        for (i, (what, program, args)) in commands.iter().enumerate() {
            samples[i].push(1000.0 * run_ok(what, Command::new(program).args(args)));
        }
    }
    let stats: Vec<Stats> = samples.iter().map(|s| Stats::of(s)).collect();
    let _ = writeln!(out, "## Start-up and `mfe validate` throughput\n");
    let _ = writeln!(
        out,
        "Wall time of the whole process, median (min-max) of {runs} runs, interleaved.\n"
    );
    let _ = writeln!(out, "| command | wall | / git --version |");
    let _ = writeln!(out, "|---|---|---|");
    for (i, ((what, _, _), s)) in commands.iter().zip(&stats).enumerate() {
        let _ = writeln!(
            out,
            "| `{what}`{} | {} | {} |",
            if i == 0 { " (peer)" } else { "" },
            s.show(1, " ms"),
            ratio(s.median, stats[0].median)
        );
    }

    // Throughput. `mfe validate` takes one payload per process.
    let per_process_count = if ctx.quick { 50 } else { 200 }.min(payloads.len());
    eprintln!("mfe validate: {per_process_count} processes");
    let start = Instant::now();
    for path in &payloads[..per_process_count] {
        run_ok(
            "mfe validate",
            Command::new(&ctx.mfe).arg("validate").arg(path),
        );
    }
    let per_process = per_process_count as f64 / start.elapsed().as_secs_f64();

    let docs: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| std::fs::read(p).expect("a payload"))
        .collect();
    let budget = if ctx.quick { 0.3 } else { 1.0 };
    let (mut done, start) = (0usize, Instant::now());
    while start.elapsed().as_secs_f64() < budget {
        for doc in &docs {
            let validated = gitops_event_model::validate_bytes(doc);
            assert!(validated.is_ok(), "a generated payload is valid");
            done += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let in_process = done as f64 / start.elapsed().as_secs_f64();

    let names: String = payloads
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let floor = {
        let mut child = Command::new("python3")
            .args(["-c", JSON_LOADS, &budget.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("python's stdin"),
            names.as_bytes(),
        )
        .expect("naming the payloads to python");
        let out = child.wait_with_output().expect("python3 finishes");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    };

    let schema = ctx.root.join("schemas/deploy-request.schema.json");
    let checker = ctx.check_jsonschema.as_ref().map(|cj| {
        let check = |files: &[PathBuf]| {
            let mut command = Command::new(cj);
            command.arg("--schemafile").arg(&schema).args(files);
            run_ok("check-jsonschema", &mut command)
        };
        let reps = if ctx.quick { 1 } else { 3 };
        let one: Vec<f64> = (0..reps).map(|_| check(&payloads[..1])).collect();
        let all: Vec<f64> = (0..reps).map(|_| check(&payloads)).collect();
        let (one, all) = (Stats::of(&one).median, Stats::of(&all).median);
        #[allow(clippy::cast_precision_loss)]
        let n = payloads.len() as f64;
        (1.0 / one, n / all, (n - 1.0) / (all - one))
    });

    let _ = writeln!(
        out,
        "\n`mfe validate` takes one payload per process (a file or stdin), so its throughput is \
         measured per process ({per_process_count} processes in a row) and in-process through \
         `gitops_event_model::validate_bytes` (the function the command calls) over {} distinct \
         valid payloads. The peers: check-jsonschema (PyPI) against the published \
         `schemas/deploy-request.schema.json`, one process per payload and all payloads in one \
         process (its marginal rate subtracts the one-payload run), and Python's `json.loads` \
         (parsing only, no check: a floor).\n",
        payloads.len()
    );
    let mut rows = vec![
        (
            "`mfe validate`, one process per payload",
            per_process,
            f64::NAN,
        ),
        ("`validate_bytes`, in-process", in_process, f64::NAN),
    ];
    if let Some((per, whole, marginal)) = checker {
        rows.push((
            "check-jsonschema, one process per payload",
            per,
            per_process,
        ));
        rows.push((
            "check-jsonschema, all payloads in one process",
            whole,
            in_process,
        ));
        rows.push((
            "check-jsonschema, marginal (one process)",
            marginal,
            in_process,
        ));
    }
    rows.push(("Python `json.loads` (parse only)", floor, in_process));
    let _ = writeln!(out, "| validator | payloads/s | mfe / it |");
    let _ = writeln!(out, "|---|---|---|");
    for (what, rate, mine) in rows {
        let shown = if rate > 0.0 {
            format!("{rate:.0}")
        } else {
            "n/a (noise)".to_owned()
        };
        let versus = if mine.is_nan() {
            "-".to_owned()
        } else {
            ratio(mine, rate)
        };
        let _ = writeln!(out, "| {what} | {shown} | {versus} |");
    }
    if checker.is_none() {
        let _ = writeln!(
            out,
            "\ncheck-jsonschema not measured: not installed (set GITOPS_BENCH_CHECK_JSONSCHEMA, or run scripts/bench)."
        );
    }
    let _ = writeln!(
        out,
        "\nThe `mfe / it` column divides `mfe`'s rate in the same mode (per process or in one \
         process) by the row's: above 1x `mfe` is faster.\n"
    );
}
