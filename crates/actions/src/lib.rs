//! # gitops-actions
//!
//! What both binaries (`mfe`, `gitops`) write to the outside world, in one place:
//!
//! - [`out`] and [`err`]: standard output and error that never panic. `println!` panics when
//!   stdout is a closed pipe (`gitops status | head -0`); a reader going away is not an error of
//!   ours (ripgrep: a broken pipe "means graceful termination"), so these drop what cannot be
//!   written and the command goes on to its normal exit code: a deploy whose log reader
//!   vanished still finishes and reports through its exit code. The binaries shadow
//!   `println!`/`print!`/`eprintln!` with them ([`out_raw`] for `print!`).
//! - GitHub Actions' files and workflow commands: [`set_output`] (`$GITHUB_OUTPUT`),
//!   [`append_summary`] (`$GITHUB_STEP_SUMMARY`) and [`annotate`] (`::error title=...::`), each
//!   a no-op outside Actions and escaped so that no value can forge another output or command.
//!
//! No dependencies, no IO beyond those two streams and those two files.

use std::fmt;
use std::io::Write;

/// Writes one line to standard output; a closed or failing stdout is ignored.
pub fn out(args: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
}

/// Writes to standard output without a line break; a closed or failing stdout is ignored.
pub fn out_raw(args: fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Writes one line to standard error; a closed or failing stderr is ignored.
pub fn err(args: fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Whether this process runs in a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Sets the step output `name` to `value` (appended to `$GITHUB_OUTPUT` when set). A value with
/// line breaks uses the delimiter form with a delimiter the value does not contain, so it can
/// never define another output.
pub fn set_output(name: &str, value: &str) {
    append_env_file("GITHUB_OUTPUT", &output_record(name, value));
}

/// The `$GITHUB_OUTPUT` record setting `name` to `value`.
fn output_record(name: &str, value: &str) -> String {
    if !value.contains(['\n', '\r']) {
        return format!("{name}={value}\n");
    }
    let mut delimiter = String::from("gitops_EOF");
    while value.contains(&delimiter) {
        delimiter.push('_');
    }
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Appends Markdown to the job summary (`$GITHUB_STEP_SUMMARY`), when set.
pub fn append_summary(markdown: &str) {
    append_env_file("GITHUB_STEP_SUMMARY", markdown);
}

/// Whether a job summary is being written (`$GITHUB_STEP_SUMMARY` set).
pub fn has_summary() -> bool {
    std::env::var_os("GITHUB_STEP_SUMMARY").is_some_and(|v| !v.is_empty())
}

/// A Markdown table cell: no line breaks, pipes escaped.
pub fn cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('|', "\\|")
}

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::error`.
    Error,
    /// `::warning`.
    Warning,
    /// `::notice`.
    Notice,
}

/// Prints an annotation (`::error title=T::message`) in Actions; elsewhere the line
/// `<level>: <title>: <message>` on standard error. Values are escaped as the runner expects,
/// so a message cannot end the command early or start another.
pub fn annotate(level: Level, title: &str, message: &str) {
    if in_actions() {
        out(format_args!("{}", annotation(level, title, message)));
    } else {
        let name = match level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        };
        err(format_args!("{name}: {title}: {message}"));
    }
}

/// The workflow command line of an annotation.
fn annotation(level: Level, title: &str, message: &str) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    format!(
        "::{command} title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

/// Escapes a workflow command's data (`%`, CR, LF), as the runner's `escapeData`.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`), as `escapeProperty`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

// One small append to a runner file per output, as stdout is written: synchronous like stdout.
#[allow(clippy::disallowed_methods)]
fn append_env_file(var_name: &str, text: &str) {
    let Some(path) = std::env::var_os(var_name).filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        err(format_args!("warning: cannot write ${var_name}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_with_line_breaks_cannot_define_another_output() {
        assert_eq!(output_record("decision", "accept"), "decision=accept\n");
        let record = output_record("reasons", "a\nforged=1\ngitops_EOF\nx");
        assert!(record.starts_with("reasons<<gitops_EOF_\n"), "{record}");
        assert!(record.ends_with("\ngitops_EOF_\n"), "{record}");
        // Only the last line closes the value.
        assert_eq!(record.matches("\ngitops_EOF_\n").count(), 1, "{record}");
    }

    #[test]
    fn annotations_are_escaped() {
        assert_eq!(
            annotation(
                Level::Error,
                "deploy dev/x: failed, 50%",
                "line 1\r\n::error::forged"
            ),
            "::error title=deploy dev/x%3A failed%2C 50%25::line 1%0D%0A::error::forged"
        );
        assert_eq!(annotation(Level::Warning, "t", "m"), "::warning title=t::m");
    }

    #[test]
    fn cells_stay_in_their_column() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
