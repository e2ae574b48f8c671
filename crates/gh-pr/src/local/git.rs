//! Running `git` without blocking the async runtime (`tokio::process`), bounded in time and
//! output, with the caller's environment never leaking in (`GIT_DIR`, `GIT_WORK_TREE`,
//! `GIT_INDEX_FILE` removed; no prompts; C locale).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::{Error, Result};

/// Time one git command may take.
pub(crate) const GIT_TIMEOUT: Duration = Duration::from_mins(1);
/// Largest standard error kept (the rest is drained and dropped).
const MAX_STDERR: usize = 16 * 1024;

/// What a finished git command left.
pub(crate) struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: Vec<u8>,
    /// Trimmed, lossily decoded.
    pub stderr: String,
}

/// The subcommand of `args`, naming the command in errors.
pub(crate) fn subcommand<'a>(args: &[&'a str]) -> &'a str {
    args.iter()
        .find(|a| !a.starts_with('-') && !a.contains('='))
        .copied()
        .unwrap_or("git")
}

/// Run git in `dir` with `args`, feeding `stdin`, with `env` added. Fails (`Error::Git`) when
/// git cannot start, runs past [`GIT_TIMEOUT`] or prints more than `max_output` bytes; a
/// non-zero exit is returned as is.
pub(crate) async fn run(
    dir: &Path,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    env: &[(&str, &OsStr)],
    max_output: usize,
) -> Result<Output> {
    let name = subcommand(args);
    let failed = |message: String| Error::Git {
        command: name.to_owned(),
        message,
    };
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot run git: {e}")))?;
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(failed("no pipes to git".into()));
    };
    let input = child.stdin.take();
    let work = async {
        let feed = async {
            if let (Some(data), Some(mut pipe)) = (stdin, input) {
                // A broken pipe only means git stopped reading; its exit status tells the
                // rest.
                let _ = pipe.write_all(&data).await;
            }
        };
        let ((), stdout, stderr) = tokio::join!(
            feed,
            read_capped(&mut out, max_output, true),
            read_capped(&mut err, MAX_STDERR, false)
        );
        let (stdout, stderr) = (stdout?, stderr?);
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, stdout, stderr))
    };
    let (status, stdout, stderr) = match tokio::time::timeout(GIT_TIMEOUT, work).await {
        Err(_) => {
            return Err(failed(format!(
                "timed out after {} s",
                GIT_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            return Err(failed(format!(
                "printed more than {} MiB",
                max_output / (1024 * 1024)
            )));
        }
        Ok(r) => r?,
    };
    Ok(Output {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
    })
}

/// Read to the end keeping at most `cap` bytes: past it, fail (`strict`) or drain and drop.
async fn read_capped(
    r: &mut (impl AsyncRead + Unpin),
    cap: usize,
    strict: bool,
) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = cap.saturating_sub(kept.len());
        if n > room && strict {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "output too large",
            ));
        }
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}
