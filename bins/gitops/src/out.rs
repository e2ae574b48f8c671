//! Standard output and error that never panic.
//!
//! `println!` panics when stdout is a closed pipe (`gitops status | head -0`). A reader going
//! away is not an error of ours (ripgrep: a broken pipe "means graceful termination"): these
//! writers drop what cannot be written and the command goes on to its normal exit code, so a
//! deploy whose log reader vanished still finishes and reports through its exit code. The crate
//! root shadows `println!` and `eprintln!` with these, so no module can reach std's.

use std::fmt;
use std::io::Write;

/// Writes one line to standard output; a closed or failing stdout is ignored.
pub fn out(args: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
}

/// Writes one line to standard error; a closed or failing stderr is ignored.
pub fn err(args: fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}
