//! The deploy benchmarks of issue 18 (`cargo bench -p gitops-e2e --bench deploy`; scripts/bench
//! provisions what they need, runs them and writes `target/bench-report.md`):
//!
//! 1. a 300-file and a 3,000-file bundle deployed to S3 on moto by `gitops deploy`, next to
//!    `aws s3 sync` and a raw uploader of the same files ([`bundles`]);
//! 2. artifacts of 3 MB, 100 MB and 1 GB: wall time and exact peak RSS of the deploy
//!    ([`sizes`]);
//! 3. start-up of both binaries and `mfe validate`'s throughput ([`startup`]).
//!
//! Every figure is a ratio against a peer measured in the same run; nothing asserts a timing
//! (the machine is shared and noisy). The inputs are generated from fixed seeds and cached
//! under `target/bench/`; the report goes to `target/bench/deploy.md` (`--out` to change it).
//!
//! Usage: `cargo bench -p gitops-e2e --bench deploy -- [--quick] [--runs N] [--only
//! bundles,sizes,startup] [--moto-1g] [--out FILE]`. Environment: `GITOPS_BIN`, `MFE_BIN` (the
//! binaries measured; default the release ones next to this bench), `GITOPS_BENCH_AWS_ENDPOINT`
//! (else `GITOPS_TEST_AWS_ENDPOINT`: a moto server; without one the moto parts are skipped),
//! `GITOPS_BENCH_AWS_CLI` (the `aws` command), `GITOPS_BENCH_CHECK_JSONSCHEMA`.

// A benchmark driver: it runs processes and reads files on its own thread by design; the only
// async code (the raw uploader, moto's clients) does no blocking call.
#![allow(clippy::disallowed_methods)]
// Figures: counts, sizes and seconds, far below 2^52.
#![allow(clippy::cast_precision_loss)]

#[path = "deploy/bundles.rs"]
mod bundles;
#[path = "deploy/generate.rs"]
mod generate;
#[path = "deploy/measure.rs"]
mod measure;
#[path = "deploy/repo.rs"]
mod repo;
#[path = "deploy/sizes.rs"]
mod sizes;
#[path = "deploy/startup.rs"]
mod startup;

use std::path::{Path, PathBuf};

const USAGE: &str = "usage: cargo bench -p gitops-e2e --bench deploy -- [--quick] [--runs N] [--only bundles,sizes,startup] [--moto-1g] [--out FILE]";

/// What every section needs.
#[derive(Debug)]
pub struct Ctx {
    /// Smaller sizes, one run, no 1 GB.
    pub quick: bool,
    pub runs: usize,
    pub moto_1g: bool,
    pub gitops: PathBuf,
    pub mfe: PathBuf,
    /// The workspace root (schemas/, examples/).
    pub root: PathBuf,
    /// `target/bench`: the generated inputs, cached.
    pub cache: PathBuf,
    /// `target/bench/work`: repositories and scratch files of this run, removed at the end.
    pub work: PathBuf,
    pub endpoint: Option<String>,
    pub aws_cli: Option<PathBuf>,
    pub check_jsonschema: Option<PathBuf>,
    pub rt: tokio::runtime::Runtime,
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The target directory's profile directory holding this bench (`target/release`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

fn binary(name: &str, var: &str) -> PathBuf {
    let bin = env_path(var).unwrap_or_else(|| profile_dir().join(name));
    assert!(
        bin.is_file(),
        "{} is missing: build it (`cargo build --release -p mfe-gitops -p mfe-gitops-mfe --bins`) or set {var}",
        bin.display()
    );
    bin
}

fn main() {
    let (mut quick, mut runs, mut moto_1g, mut out, mut only) =
        (false, None::<usize>, false, None::<PathBuf>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            "--quick" => quick = true,
            "--moto-1g" => moto_1g = true,
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0),
            "--out" => out = args.next().map(PathBuf::from),
            "--only" => only = args.next(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("deploy bench: unknown argument `{other}`\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let target = profile_dir()
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let cache = target.join("bench");
    let work = cache.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("creating target/bench/work");
    let ctx = Ctx {
        quick,
        runs: runs.unwrap_or(if quick { 1 } else { 3 }),
        moto_1g,
        gitops: binary("gitops", "GITOPS_BIN"),
        mfe: binary("mfe", "MFE_BIN"),
        root: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .to_path_buf(),
        cache,
        work,
        endpoint: std::env::var("GITOPS_BENCH_AWS_ENDPOINT")
            .or_else(|_| std::env::var("GITOPS_TEST_AWS_ENDPOINT"))
            .ok()
            .filter(|e| !e.is_empty()),
        aws_cli: env_path("GITOPS_BENCH_AWS_CLI"),
        check_jsonschema: env_path("GITOPS_BENCH_CHECK_JSONSCHEMA"),
        rt: tokio::runtime::Runtime::new().expect("a tokio runtime"),
    };
    let wanted = |section: &str| {
        only.as_deref()
            .is_none_or(|list| list.split(',').any(|s| s.trim() == section))
    };
    let mut report = format!(
        "# Deploy benchmarks\n\n{} mode, {} run(s) per figure, {} cores, `{}`; every ratio compares \
         figures measured in this run (the machine is shared: only ratios mean something).\n\n",
        if quick { "Quick" } else { "Full" },
        ctx.runs,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        ctx.gitops.display(),
    );
    if wanted("bundles") {
        bundles::run(&ctx, &mut report);
    }
    if wanted("sizes") {
        sizes::run(&ctx, &mut report);
    }
    if wanted("startup") {
        startup::run(&ctx, &mut report);
    }
    let out = out.unwrap_or_else(|| ctx.cache.join("deploy.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("creating the report's directory");
    }
    std::fs::write(&out, &report).expect("writing the report");
    let _ = std::fs::remove_dir_all(&ctx.work);
    print!("{report}");
    eprintln!("(written to {})", out.display());
}
