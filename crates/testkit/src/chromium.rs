//! Headless Chromium for tests that look at a page as a browser does (the board, Mermaid's
//! parser): Debian's `chromium`, offline, with a throwaway profile, bounded in time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs Chromium `bin` headless on `url` with `args` (e.g. `--dump-dom`,
/// `--screenshot=...`), its output kept as `dir/<name>.stdout` and `.stderr`; returns (stdout,
/// stderr). Panics (the test fails) when it does not start, does not finish in two minutes, or
/// fails.
pub fn headless(bin: &str, dir: &Path, url: &str, name: &str, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().expect("a temporary Chromium profile");
    let out = dir.join(format!("{name}.stdout"));
    let err = dir.join(format!("{name}.stderr"));
    let file = |path: &Path| std::fs::File::create(path).expect("an output file for Chromium");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} does not start: {e}"));
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for Chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {name}: no answer in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(status.success(), "{bin} {name}: {status}\n{stderr}");
    (stdout, stderr)
}
