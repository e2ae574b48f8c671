//! Runs one job (one matrix combination) with nektos/act in host mode, in a directory of its
//! own, with a clean environment: only what the runner passes reaches the steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

/// Everything act needs for one job.
pub(crate) struct JobSpec {
    /// The single-job workflow (`Workflow::job_for_act`).
    pub(crate) workflow_yaml: String,
    pub(crate) event_name: String,
    pub(crate) event: Value,
    pub(crate) actor: String,
    /// `owner/name`.
    pub(crate) repo_full: String,
    /// The repository's bare directory.
    pub(crate) bare: PathBuf,
    pub(crate) sha: String,
    /// `GITHUB_REF`.
    pub(crate) git_ref: String,
    /// Secrets, `GITHUB_TOKEN` included.
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) vars: BTreeMap<String, String>,
    /// Environment of the steps besides act's own `GITHUB_*`.
    pub(crate) env: Vec<(String, String)>,
    /// `owner/repo@ref` -> directory, for `--local-repository`.
    pub(crate) actions: Vec<(String, PathBuf)>,
    /// Names of the job's outputs, in the order the recording step writes them.
    pub(crate) output_names: Vec<String>,
    /// A fresh directory for this job.
    pub(crate) dir: PathBuf,
    pub(crate) act: PathBuf,
    pub(crate) timeout: Duration,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub(crate) struct JobOutcome {
    /// `success`, `failure` or `cancelled`.
    pub(crate) conclusion: &'static str,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) summary: String,
}

/// The step appended to every job: records its outputs (`FAKE_GITHUB_OUT_<i>`) in
/// `$FAKE_GITHUB_JOB_DIR` for the runner.
pub(crate) fn recording_step(outputs: &[(String, String)]) -> Value {
    let mut env = serde_json::Map::new();
    for (i, (_, expr)) in outputs.iter().enumerate() {
        env.insert(format!("FAKE_GITHUB_OUT_{i}"), Value::String(expr.clone()));
    }
    serde_json::json!({
        "name": "fake-github: record the job's outputs",
        "if": "always()",
        "shell": "bash",
        "env": env,
        "run": "for v in ${!FAKE_GITHUB_OUT_@}; do printf '%s\\0%s\\0' \"${v#FAKE_GITHUB_OUT_}\" \"${!v}\"; done > \"$FAKE_GITHUB_JOB_DIR/outputs\"\n",
    })
}

fn io(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io("git", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A git directory act reads the repository, sha and ref from: a shared clone with HEAD at the
/// job's commit (on a branch of the ref's name for branches, detached otherwise).
fn prepare_repo(spec: &JobSpec, repo: &Path) -> Result<(), String> {
    let bare = spec.bare.to_string_lossy();
    let parent = repo.parent().ok_or("no parent")?;
    git(
        parent,
        &[
            "clone",
            "-q",
            "--shared",
            "--no-checkout",
            &bare,
            &repo.to_string_lossy(),
        ],
    )?;
    git(
        repo,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("https://github.com/{}", spec.repo_full),
        ],
    )?;
    match spec.git_ref.strip_prefix("refs/heads/") {
        Some(branch) => {
            git(
                repo,
                &["update-ref", &format!("refs/heads/{branch}"), &spec.sha],
            )?;
            git(
                repo,
                &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")],
            )
        }
        None => git(repo, &["update-ref", "--no-deref", "HEAD", &spec.sha]),
    }
}

/// A dotenv-style file act reads (`--secret-file`, `--var-file`); values on one line, quoted.
fn env_file(path: &Path, values: &BTreeMap<String, String>) -> Result<(), String> {
    let mut text = String::new();
    for (k, v) in values {
        let quoted = serde_json::to_string(v).map_err(|e| io("encode", e))?;
        let _ = writeln!(text, "{k}={quoted}");
    }
    write_private(path, text.as_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(&path.display().to_string(), e))?;
    f.write_all(bytes)
        .map_err(|e| io(&path.display().to_string(), e))
}

/// Runs the job; `cancel` turning true kills it (conclusion `cancelled`).
pub(crate) async fn run(spec: JobSpec, mut cancel: watch::Receiver<bool>) -> JobOutcome {
    match run_inner(&spec, &mut cancel).await {
        Ok(o) => o,
        Err(e) => JobOutcome {
            conclusion: "failure",
            outputs: BTreeMap::new(),
            summary: format!("fake-github runner: {e}\n"),
        },
    }
}

async fn run_inner(
    spec: &JobSpec,
    cancel: &mut watch::Receiver<bool>,
) -> Result<JobOutcome, String> {
    let d = &spec.dir;
    std::fs::create_dir_all(d).map_err(|e| io(&d.display().to_string(), e))?;
    let repo = d.join("repo");
    prepare_repo(spec, &repo)?;
    let workflow = d.join("workflow.yml");
    std::fs::write(&workflow, &spec.workflow_yaml).map_err(|e| io("workflow", e))?;
    let event = d.join("event.json");
    std::fs::write(&event, spec.event.to_string()).map_err(|e| io("event", e))?;
    env_file(&d.join("secrets"), &spec.secrets)?;
    env_file(&d.join("vars"), &spec.vars)?;
    let cache = d.join("cache");

    let mut cmd = tokio::process::Command::new(&spec.act);
    cmd.current_dir(&repo)
        .arg(&spec.event_name)
        .arg("-W")
        .arg(&workflow)
        .arg("-e")
        .arg(&event)
        .args([
            "-P",
            "ubuntu-latest=-self-hosted",
            "-P",
            "ubuntu-24.04=-self-hosted",
            "-P",
            "ubuntu-22.04=-self-hosted",
            "--action-offline-mode",
            "--no-recurse",
            // Run `actions/checkout` (its stand-in) rather than copying the working directory.
            "--no-skip-checkout",
        ])
        .arg("--action-cache-path")
        .arg(&cache)
        .arg("--actor")
        .arg(&spec.actor)
        .arg("--secret-file")
        .arg(d.join("secrets"))
        .arg("--var-file")
        .arg(d.join("vars"))
        // No `.env`/`.input` files from the checkout are read: both point at nothing.
        .arg("--env-file")
        .arg(d.join("no-env"))
        .arg("--input-file")
        .arg(d.join("no-input"));
    for (uses, dir) in &spec.actions {
        cmd.arg("--local-repository")
            .arg(format!("{uses}={}", dir.display()));
    }
    for (k, v) in &spec.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    cmd.arg("--env")
        .arg(format!("FAKE_GITHUB_JOB_DIR={}", d.display()));
    // A clean machine: the test process's environment (credentials, endpoints) never leaks in.
    cmd.env_clear();
    for k in ["PATH", "HOME", "LANG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("XDG_CACHE_HOME", &cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| io(&format!("cannot start {}", spec.act.display()), e))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let read_out = async {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b).await;
        b
    };
    let read_err = async {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b).await;
        b
    };
    let wait = async {
        let (o, e, status) = tokio::join!(read_out, read_err, child.wait());
        (o, e, status)
    };
    tokio::pin!(wait);
    let cancelled = async {
        while !*cancel.borrow() {
            if cancel.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let (conclusion, out, err) = tokio::select! {
        (o, e, status) = &mut wait => {
            let ok = status.is_ok_and(|s| s.success());
            (if ok { "success" } else { "failure" }, o, e)
        }
        () = cancelled => ("cancelled", Vec::new(), b"The operation was canceled.\n".to_vec()),
        () = tokio::time::sleep(spec.timeout) => (
            "cancelled",
            Vec::new(),
            format!("The job has exceeded the maximum execution time of {:?}\n", spec.timeout).into_bytes(),
        ),
    };
    let mut log = String::from_utf8_lossy(&out).into_owned();
    log.push_str(&String::from_utf8_lossy(&err));
    for f in ["secrets", "vars"] {
        let _ = std::fs::remove_file(d.join(f));
    }
    let outputs = read_outputs(&d.join("outputs"), &spec.output_names);
    let summary = summaries(&log);
    std::fs::write(d.join("log.txt"), &log).map_err(|e| io("log", e))?;
    Ok(JobOutcome {
        conclusion,
        outputs,
        summary,
    })
}

/// The job summary: what each step wrote to `$GITHUB_STEP_SUMMARY`, which act empties before
/// every step and prints after it (`⚙  Summary - <first line>` and the following lines, up to
/// the next line of its own).
fn summaries(log: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in log.lines() {
        if let Some((_, first)) = line
            .split_once("Summary - ")
            .filter(|_| line.starts_with('['))
        {
            inside = true;
            out.push_str(first);
            out.push('\n');
        } else if inside && !line.starts_with('[') {
            out.push_str(line);
            out.push('\n');
        } else {
            inside = false;
        }
    }
    out
}

/// The outputs the recording step wrote (`index\0value\0` pairs).
fn read_outputs(path: &Path, names: &[String]) -> BTreeMap<String, String> {
    let Ok(bytes) = std::fs::read(path) else {
        return BTreeMap::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut it = text.split('\0');
    let mut out = BTreeMap::new();
    while let (Some(i), Some(v)) = (it.next(), it.next()) {
        if let Some(name) = i.parse::<usize>().ok().and_then(|i| names.get(i)) {
            out.insert(name.clone(), v.to_owned());
        }
    }
    out
}
