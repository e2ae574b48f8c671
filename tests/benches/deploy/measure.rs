//! Measuring processes (wall time and the child's exact peak RSS, from `wait4`'s resource
//! usage) and summarising samples (median and spread).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs argv[2:] and writes its wall time, exit code and the child's peak RSS (`ru_maxrss` of
/// `wait4`: exact, not polled) as JSON to argv[1]. Its output goes where the wrapper's goes.
const WAIT4: &str = r#"
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - start
with open(out, "w") as f:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, f)
"#;

/// One run of a process.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds from start to exit.
    pub wall: f64,
    /// The child's CPU time, user and system, seconds.
    pub cpu: f64,
    /// The child's peak resident set, KiB (0 when not measured).
    pub max_rss_kib: u64,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// A failure message naming the command and showing what it said.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{what} exited {}\nstdout: {}\nstderr: {}",
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    text.get(start..).unwrap_or(text)
}

/// Runs `program args` under the `wait4` wrapper, `configure` setting its environment and
/// working directory (the wrapper passes both on): wall time and exact peak RSS.
pub fn measured(
    scratch: &Path,
    program: &Path,
    args: &[&str],
    configure: impl FnOnce(&mut Command),
) -> Sample {
    let result = scratch.join(format!("wait4-{}.json", ulid::Ulid::generate()));
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(WAIT4)
        .arg(&result)
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    configure(&mut command);
    let out = command.output().expect("python3 runs (the wait4 wrapper)");
    let text = std::fs::read_to_string(&result).unwrap_or_default();
    let _ = std::fs::remove_file(&result);
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Sample {
        wall: parsed["wall"].as_f64().unwrap_or(f64::NAN),
        cpu: parsed["cpu"].as_f64().unwrap_or(f64::NAN),
        max_rss_kib: parsed["maxrss_kib"].as_u64().unwrap_or(0),
        code: parsed["code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `command` to its end (output captured): seconds, timed in this process.
pub fn timed(command: &mut Command) -> (f64, std::process::Output) {
    let start = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .output()
        .expect("the measured command starts");
    (start.elapsed().as_secs_f64(), out)
}

/// CPU time (user and system) this process has used so far, seconds (Linux: /proc/self/stat,
/// in clock ticks of 1/100 s; NaN elsewhere).
pub fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (tick(11), tick(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// Median, smallest and largest of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Stats {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n,
            };
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        Stats {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            n,
        }
    }

    /// `median (min-max)` with `unit`, each shown with `digits` decimals.
    pub fn show(&self, digits: usize, unit: &str) -> String {
        if self.n <= 1 {
            return format!("{:.digits$}{unit}", self.median);
        }
        format!(
            "{:.digits$}{unit} ({:.digits$}-{:.digits$})",
            self.median, self.min, self.max
        )
    }
}

/// `a / b` as `1.23x` (`n/a` when either is missing).
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".to_owned()
    }
}

/// KiB as MiB.
#[allow(clippy::cast_precision_loss)]
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Bytes as MiB.
#[allow(clippy::cast_precision_loss)]
pub fn mib_bytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
