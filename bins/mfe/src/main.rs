//! `mfe`: the command an MFE repository's workflows run. Thin: parse arguments, call the
//! libraries, map the outcome to an exit code. It links no cloud SDK (DESIGN.md 2).
//!
//! Exit codes: 0 success, 1 the input was refused (or the deploy failed), 2 usage or IO error,
//! 3 `dispatch --wait` timed out.

// Shadow std's printing macros for the whole crate: ours never panic on a closed pipe.
macro_rules! println {
    () => { gitops_actions::out(format_args!("")) };
    ($($arg:tt)*) => { gitops_actions::out(format_args!($($arg)*)) };
}
macro_rules! print {
    ($($arg:tt)*) => { gitops_actions::out_raw(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { gitops_actions::err(format_args!($($arg)*)) };
}

mod dispatch;
mod publish;
mod render;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gitops_event_model::MAX_INPUT_BYTES;

#[derive(Debug, Parser)]
#[command(
    name = "mfe",
    version,
    about = "Deploy micro-frontends through a GitOps repository"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a deploy request: a bare client_payload or a whole repository_dispatch event.
    ///
    /// A key repeated in any object is refused, and an event's `action` must be the event type.
    /// Exit 0 when valid, 1 when invalid (one line per problem), 2 on usage or IO errors.
    Validate {
        /// The JSON file to check; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Output format: `text` for people, `json` for machines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The event type a whole repository_dispatch event must carry as its `action` (the
        /// GitOps repository's `types:` filter). A bare payload has no action to check.
        #[arg(long, value_name = "TYPE", default_value = gitops_event_model::EVENT_TYPE,
            value_parser = parse_event_type)]
        event_type: String,
    },
    /// Print the deploy-request JSON Schema.
    Schema,
    /// Write the MFE repository's workflows (micro-frontend-ci.yml, micro-frontend-cd.yml).
    ///
    /// Idempotent. Exit 0 when written or unchanged; 1 when `--check` finds a difference or an
    /// edited file was kept (rerun with `--force`); 2 on usage or IO errors.
    Render(render::RenderArgs),
    /// Re-render the workflows `mfe render` wrote with the options recorded in them and the
    /// current setup action pin (`--action`); print what changed. Exit codes as `render`.
    Upgrade(render::WriteArgs),
    /// Pack a build directory reproducibly and put it, with its .sha256 sidecar, into the
    /// artifact store.
    ///
    /// Exit 0 when published (or already published with the same bytes); 1 when refused (bad
    /// name or version, the version exists with other bytes); 2 on usage, IO or store errors.
    Publish(publish::PublishArgs),
    /// Send a deploy request to the GitOps repository and, with `--wait`, follow it.
    ///
    /// Exit 0 when sent (with `--wait`: deployed); 1 when the request is invalid or the deploy
    /// was refused or failed; 2 on usage or GitHub errors; 3 when `--wait` timed out.
    Dispatch(dispatch::DispatchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate {
            file,
            format,
            event_type,
        } => validate(file.as_deref(), format, &event_type),
        Command::Schema => {
            print!("{}", gitops_event_model::deploy_request_schema_text());
            ExitCode::SUCCESS
        }
        Command::Render(args) => render::run(args),
        Command::Upgrade(args) => render::upgrade(&args),
        Command::Publish(args) => block_on(publish::run(args)),
        Command::Dispatch(args) => block_on(dispatch::run(args)),
    }
}

fn block_on(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--event-type`: an event type as the seed form's `type` rule allows it (letters, digits,
/// `.`, `_`, `:` and `-`, at most 100 characters).
fn parse_event_type(value: &str) -> Result<String, String> {
    gitops_event_model::EventType::parse(value)
        .map(|t| t.as_str().to_owned())
        .map_err(|e| e.message)
}

fn validate(file: Option<&std::path::Path>, format: Format, event_type: &str) -> ExitCode {
    let input = match read_input(file) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let outcome = gitops_event_model::validate_event(&input, event_type);
    match format {
        Format::Json => println!("{}", gitops_event_model::validation_report(&outcome)),
        Format::Text => match &outcome {
            Ok(validated) => println!("{}", validated.summary()),
            Err(error) => {
                for problem in error.problems() {
                    eprintln!("error: {}", problem.to_string().replace(['\n', '\r'], " "));
                }
            }
        },
    }
    if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Reads the whole input, at most one byte more than the validator accepts (so an oversized
/// input is reported as such without reading all of it).
#[allow(clippy::disallowed_methods)] // `mfe validate` is synchronous (no async runtime)
fn read_input(file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    let limit = u64::try_from(MAX_INPUT_BYTES).unwrap_or(u64::MAX) + 1;
    let mut input = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            file.take(limit)
                .read_to_end(&mut input)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(
                    "no input: give a FILE, or pipe the JSON into `mfe validate -`".to_owned(),
                );
            }
            stdin
                .lock()
                .take(limit)
                .read_to_end(&mut input)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
        }
    }
    Ok(input)
}
