//! 1. Deploy of a 300-file and a 3,000-file bundle to S3 on moto: the whole `gitops deploy`
//!    vs `aws s3 sync` of the same files to the same endpoint vs a raw uploader (object_store
//!    PUTs, 32 and 16 in flight, no checks: the emulator's ceiling). A fresh bucket per run;
//!    the methods interleaved within each run so a slow moment of the machine hits them alike.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use gitops_artifact_store::headers;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore as _, PutMode, PutOptions};

use crate::Ctx;
use crate::generate;
use crate::measure::{Stats, measured, mib_bytes, own_cpu, ratio};
use crate::repo::{Backend, BenchRepo, count_objects, create_bucket, fresh_id};

/// The version prefix every method writes under.
const PREFIX: &str = "mfe/app/1.0.0";

/// Every file under `dist` as (path relative to it, bytes).
fn load(dist: &Path) -> Vec<(String, Bytes)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Bytes)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("reading dist")
            .map(|e| e.expect("a dist entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under dist")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, Bytes::from(std::fs::read(&path).expect("a dist file"))));
            }
        }
    }
    let mut out = Vec::new();
    walk(dist, dist, &mut out);
    out
}

/// What the raw uploader sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Puts {
    /// Plain PUTs: no condition, no headers.
    Plain,
    /// The requests the deploy sends: write-once (`If-None-Match: *`) with Content-Type and
    /// Cache-Control (`gitops_artifact_store::headers`). Isolates the deploy's own cost from
    /// what the emulator charges for those requests.
    AsDeploy,
}

/// PUTs every file into a fresh bucket, `in_flight` at a time; seconds, and the CPU seconds
/// this process spent meanwhile.
async fn raw_upload(
    endpoint: &str,
    files: &[(String, Bytes)],
    in_flight: usize,
    puts: Puts,
) -> (f64, f64) {
    let bucket = format!("raw-{}", fresh_id());
    create_bucket(endpoint, &bucket).await;
    let store = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("an S3 object store");
    let store = &store;
    let (start, cpu) = (Instant::now(), own_cpu());
    let entry_points = ["remoteEntry.js".to_owned()];
    let entry_points = &entry_points;
    futures::stream::iter(files.iter().map(|(rel, bytes)| async move {
        let path = object_store::path::Path::from(format!("{PREFIX}/{rel}"));
        let opts = match puts {
            Puts::Plain => PutOptions::default(),
            Puts::AsDeploy => PutOptions {
                mode: PutMode::Create,
                attributes: headers::attributes(rel, headers::cache_control(rel, entry_points)),
                ..PutOptions::default()
            },
        };
        store.put_opts(&path, bytes.clone().into(), opts).await
    }))
    .buffer_unordered(in_flight)
    .try_collect::<Vec<_>>()
    .await
    .expect("a raw PUT to moto");
    let seconds = start.elapsed().as_secs_f64();
    let cpu = own_cpu() - cpu;
    let stored = count_objects(endpoint, &bucket, PREFIX).await;
    assert_eq!(
        stored,
        files.len() as u64,
        "the raw uploader stored every file"
    );
    (seconds, cpu)
}

/// `aws s3 sync dist s3://<fresh bucket>/<prefix>`; seconds, and the CPU seconds it used.
fn sync(ctx: &Ctx, aws: &Path, endpoint: &str, dist: &Path, files: u64) -> (f64, f64) {
    let bucket = format!("sync-{}", fresh_id());
    ctx.rt.block_on(create_bucket(endpoint, &bucket));
    let dist = dist.to_string_lossy().into_owned();
    let target = format!("s3://{bucket}/{PREFIX}/");
    let sample = measured(
        &ctx.work,
        aws,
        &[
            "s3",
            "sync",
            &dist,
            &target,
            "--endpoint-url",
            endpoint,
            "--only-show-errors",
            "--no-progress",
        ],
        |c| {
            crate::repo::aws_env(c, endpoint);
            c.env_remove("AWS_PROFILE")
                .env("AWS_CONFIG_FILE", "/dev/null");
        },
    );
    assert!(sample.ok(), "{}", sample.failure("aws s3 sync"));
    let stored = ctx.rt.block_on(count_objects(endpoint, &bucket, PREFIX));
    assert_eq!(stored, files, "aws s3 sync stored every file");
    (sample.wall, sample.cpu)
}

/// Runs the section and appends its report to `out`.
pub fn run(ctx: &Ctx, out: &mut String) {
    let _ = writeln!(out, "## Deploy of a bundle to S3 (moto)\n");
    let Some(endpoint) = ctx.endpoint.clone() else {
        let _ = writeln!(
            out,
            "Skipped: no moto endpoint (set GITOPS_BENCH_AWS_ENDPOINT, or run scripts/bench).\n"
        );
        return;
    };
    if ctx.aws_cli.is_none() {
        let _ = writeln!(
            out,
            "`aws s3 sync` not measured: no AWS CLI (set GITOPS_BENCH_AWS_CLI, or run scripts/bench).\n"
        );
    }
    let counts: &[u64] = if ctx.quick { &[300] } else { &[300, 3_000] };
    let mut rows = Vec::new();
    let mut stage_rows = Vec::new();
    let mut cpu_rows = Vec::new();
    for &count in counts {
        let artifact = generate::bundle(&ctx.cache, count);
        let dist = artifact.dist.clone().expect("a bundle has its dist");
        let files = load(&dist);
        let (mut deploy, mut synced, mut raw32, mut raw16, mut like) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut deploy_cpu, mut sync_cpu, mut raw_cpu) = (Vec::new(), Vec::new(), Vec::new());
        let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
        for run in 0..ctx.runs {
            eprintln!("bundle {count}: run {}/{}", run + 1, ctx.runs);
            let backend = Backend::Moto(endpoint.clone());
            let repo = BenchRepo::new(&ctx.rt, &ctx.gitops, &ctx.work, &backend, &artifact);
            let (sample, recorded) = repo.deploy(&ctx.gitops);
            deploy.push(sample.wall);
            deploy_cpu.push(sample.cpu);
            for (stage, seconds) in recorded {
                match stages.iter_mut().find(|(s, _)| *s == stage) {
                    Some((_, all)) => all.push(seconds),
                    None => stages.push((stage, vec![seconds])),
                }
            }
            repo.remove();
            if let Some(aws) = &ctx.aws_cli {
                let (seconds, cpu) = sync(ctx, aws, &endpoint, &dist, artifact.files);
                synced.push(seconds);
                sync_cpu.push(cpu);
            }
            let (seconds, cpu) = ctx
                .rt
                .block_on(raw_upload(&endpoint, &files, 32, Puts::Plain));
            raw32.push(seconds);
            raw_cpu.push(cpu);
            raw16.push(
                ctx.rt
                    .block_on(raw_upload(&endpoint, &files, 16, Puts::Plain))
                    .0,
            );
            like.push(
                ctx.rt
                    .block_on(raw_upload(&endpoint, &files, 32, Puts::AsDeploy))
                    .0,
            );
        }
        let (d, s, r32, r16, rl) = (
            Stats::of(&deploy),
            Stats::of(&synced),
            Stats::of(&raw32),
            Stats::of(&raw16),
            Stats::of(&like),
        );
        rows.push(format!(
            "| {count} files, {:.1} MiB ({:.1} MiB archive) | {} | {} | {} | {} | **{}** | **{}** | {} |",
            mib_bytes(artifact.expanded),
            mib_bytes(artifact.compressed),
            d.show(2, " s"),
            if synced.is_empty() { "n/a".to_owned() } else { s.show(2, " s") },
            r32.show(2, " s"),
            r16.show(2, " s"),
            ratio(d.median, s.median),
            ratio(d.median, r32.median),
            ratio(d.median, r16.median),
        ));
        let mut shown = Vec::new();
        for (stage, all) in &stages {
            shown.push(format!("{stage} {}", Stats::of(all).show(2, " s")));
        }
        let upload = stages
            .iter()
            .find(|(s, _)| s == "uploaded")
            .map_or(f64::NAN, |(_, all)| Stats::of(all).median);
        stage_rows.push(format!(
            "| {count} files | {} | {} | {} | {} | {} |",
            shown.join("; "),
            rl.show(2, " s"),
            ratio(rl.median, r32.median),
            ratio(upload, rl.median),
            ratio(d.median, rl.median),
        ));
        let (dc, sc, rc) = (
            Stats::of(&deploy_cpu),
            Stats::of(&sync_cpu),
            Stats::of(&raw_cpu),
        );
        cpu_rows.push(format!(
            "| {count} files | {} | {} | {} | {} | {} |",
            dc.show(2, " s"),
            if sync_cpu.is_empty() {
                "n/a".to_owned()
            } else {
                sc.show(2, " s")
            },
            rc.show(2, " s"),
            ratio(dc.median, rc.median),
            ratio(dc.median, d.median),
        ));
    }
    let _ = writeln!(
        out,
        "Wall time, median (min-max) of {} run(s), each into a fresh bucket. `gitops deploy` is the \
         release binary's whole deploy (artifact fetch from the repository's local artifact store, \
         verify, unpack, write-once upload, DynamoDB registry commit, aliases and import map, \
         CloudFront invalidation); `aws s3 sync` and the raw uploader (object_store PUTs, no \
         checks) send the same files to the same endpoint.\n",
        ctx.runs
    );
    let _ = writeln!(
        out,
        "| bundle | gitops deploy | aws s3 sync | raw, 32 in flight | raw, 16 in flight | deploy / sync | deploy / raw 32 | deploy / raw 16 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\nWhere the deploy's time goes: its own stage events (`GITOPS_METRICS_FILE`; `uploaded` is \
         fetch + verify + unpack + upload), next to the raw uploader sending the very requests the \
         deploy sends (write-once `If-None-Match: *`, Content-Type and Cache-Control; 32 in \
         flight): what the emulator charges for those requests, apart from the deploy's own work.\n"
    );
    let _ = writeln!(
        out,
        "| bundle | deploy stages, median (min-max) | raw 32, the deploy's requests | those / plain raw 32 | uploaded stage / those | deploy / those |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in stage_rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\nCPU time (user + system) of each client: the deploy and `aws s3 sync` processes' own \
         (`wait4`), the raw uploader's as this process's (/proc/self/stat). The emulator is a \
         Python process on the same cores: what a client spends on CPU, it takes from moto.\n"
    );
    let _ = writeln!(
        out,
        "| bundle | gitops deploy CPU | aws s3 sync CPU | raw 32 CPU | deploy / raw 32 CPU | deploy CPU / its wall |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in cpu_rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out);
}
