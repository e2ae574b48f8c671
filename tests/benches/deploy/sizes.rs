//! 2. Artifact sizes (3 MB, 100 MB, 1 GB, mostly incompressible): wall time and the exact peak
//!    RSS of the `gitops deploy` process, on the embedded backends and on moto, next to
//!    `tar -xzf` of the same archive (the peer: a streaming unpack and nothing else).

use std::fmt::Write as _;

use crate::Ctx;
use crate::generate;
use crate::measure::{Stats, measured, mib, mib_bytes, ratio};
use crate::repo::{Backend, BenchRepo};

struct Row {
    label: &'static str,
    backend: &'static str,
    archive: u64,
    files: u64,
    wall: Stats,
    rss: Stats,
    tar_wall: Stats,
    tar_rss: Stats,
    /// Peak RSS with glibc's malloc held to one arena (embedded only).
    one_arena: Stats,
}

/// Runs the section and appends its report to `out`.
pub fn run(ctx: &Ctx, out: &mut String) {
    let _ = writeln!(
        out,
        "## Artifact size: wall time and peak memory of `gitops deploy`\n"
    );
    let sizes: &[(&str, u64)] = if ctx.quick {
        &[("3MB", 3_000_000), ("30MB", 30_000_000)]
    } else {
        &[
            ("3MB", 3_000_000),
            ("100MB", 100_000_000),
            ("1GB", 1_000_000_000),
        ]
    };
    let mut backends = vec![Backend::Embedded];
    if let Some(endpoint) = &ctx.endpoint {
        backends.push(Backend::Moto(endpoint.clone()));
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped = Vec::new();
    for &(label, bytes) in sizes {
        let artifact = generate::sized(&ctx.cache, label, bytes);
        for backend in &backends {
            if matches!(backend, Backend::Moto(_)) && bytes > 200_000_000 && !ctx.moto_1g {
                skipped.push(format!("{label} on moto (pass --moto-1g)"));
                continue;
            }
            let (mut wall, mut rss, mut tar_wall, mut tar_rss, mut one_arena) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for run in 0..ctx.runs {
                eprintln!(
                    "artifact {label} on {}: run {}/{}",
                    backend.name(),
                    run + 1,
                    ctx.runs
                );
                let repo = BenchRepo::new(&ctx.rt, &ctx.gitops, &ctx.work, backend, &artifact);
                let (sample, _) = repo.deploy(&ctx.gitops);
                wall.push(sample.wall);
                #[allow(clippy::cast_precision_loss)]
                rss.push(mib(sample.max_rss_kib));
                repo.remove();
                if matches!(backend, Backend::Embedded) {
                    // The same deploy with glibc's malloc held to one arena: how much of the
                    // peak is memory freed by the worker threads but kept by their arenas.
                    let repo = BenchRepo::new(&ctx.rt, &ctx.gitops, &ctx.work, backend, &artifact);
                    let (sample, _) = repo.deploy_with(&ctx.gitops, &[("MALLOC_ARENA_MAX", "1")]);
                    one_arena.push(mib(sample.max_rss_kib));
                    repo.remove();
                    let into = ctx.work.join(format!("untar-{}", crate::repo::fresh_id()));
                    std::fs::create_dir_all(&into).expect("mkdir");
                    let archive = artifact.archive.to_string_lossy().into_owned();
                    let into_s = into.to_string_lossy().into_owned();
                    let tar = measured(
                        &ctx.work,
                        std::path::Path::new("tar"),
                        &["-xzf", &archive, "-C", &into_s],
                        |_| {},
                    );
                    assert!(tar.ok(), "{}", tar.failure("tar -xzf"));
                    tar_wall.push(tar.wall);
                    tar_rss.push(mib(tar.max_rss_kib));
                    let _ = std::fs::remove_dir_all(&into);
                }
            }
            rows.push(Row {
                label,
                backend: backend.name(),
                archive: artifact.compressed,
                files: artifact.files,
                wall: Stats::of(&wall),
                rss: Stats::of(&rss),
                tar_wall: Stats::of(&tar_wall),
                tar_rss: Stats::of(&tar_rss),
                one_arena: Stats::of(&one_arena),
            });
        }
    }
    let _ = writeln!(
        out,
        "Median (min-max) of {} run(s). Peak RSS is the deploy process's own `ru_maxrss` from \
         `wait4` (exact, not polled). The artifacts are random bytes (incompressible) in files of \
         4 KB up to an eighth of the total (at most 64 MiB), gzip level 1; the MFE sets no \
         `limits:`: the defaults admit every size. The peer, on the same disk, \
         is `tar -xzf` of the same archive. On the embedded backend the deploy also runs with \
         `MALLOC_ARENA_MAX=1` (glibc's malloc held to one arena): the difference is memory the \
         worker threads freed but their arenas kept.\n",
        ctx.runs
    );
    let _ = writeln!(
        out,
        "| artifact | backend | archive | files | deploy wall | MiB/s | deploy peak RSS | RSS / RSS(3MB) | peak RSS, one arena | its / 3MB's | tar -xzf wall | deploy / tar wall | tar peak RSS |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let base = rows
            .iter()
            .find(|r| r.backend == row.backend && r.label == "3MB")
            .map_or(f64::NAN, |r| r.rss.median);
        let base_arena = rows
            .iter()
            .find(|r| r.backend == row.backend && r.label == "3MB")
            .map_or(f64::NAN, |r| r.one_arena.median);
        let (arena, arena_ratio) = if row.one_arena.n == 0 {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                row.one_arena.show(1, " MiB"),
                ratio(row.one_arena.median, base_arena),
            )
        };
        let (tar_wall, tar_ratio, tar_rss) = if row.tar_wall.n == 0 {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            (
                row.tar_wall.show(2, " s"),
                ratio(row.wall.median, row.tar_wall.median),
                row.tar_rss.show(1, " MiB"),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} MiB | {} | {} | {:.0} | {} | **{}** | {arena} | {arena_ratio} | {tar_wall} | {tar_ratio} | {tar_rss} |",
            row.label,
            row.backend,
            mib_bytes(row.archive),
            row.files,
            row.wall.show(2, " s"),
            mib_bytes(row.archive) / row.wall.median,
            row.rss.show(1, " MiB"),
            ratio(row.rss.median, base),
        );
    }
    let floor = measured(&ctx.work, &ctx.gitops, &["--version"], |_| {});
    let _ = writeln!(
        out,
        "\nThe process's floor: `gitops --version` peaks at {:.1} MiB.",
        mib(floor.max_rss_kib)
    );
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nNot measured: {}.", skipped.join(", "));
    }
    let _ = writeln!(out);
}
