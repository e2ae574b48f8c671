//! Reading an events file back.

use std::path::{Path, PathBuf};

use crate::{Error, StageEvent};

/// The events of a file, and whether an unfinished last line was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The events, in file order.
    pub events: Vec<StageEvent>,
    /// The 1-based line number of a last line that had no newline and did not parse (a writer
    /// killed mid-line, or a line still being written), which was skipped.
    pub truncated_line: Option<usize>,
}

/// Reads every event of a JSON Lines events file. See [`parse_event_log`] for the rules.
pub fn read_events(path: impl AsRef<Path>) -> Result<Vec<StageEvent>, Error> {
    read_event_log(path).map(|log| log.events)
}

/// Reads an events file, saying whether a truncated last line was skipped.
#[allow(clippy::disallowed_methods)] // synchronous API (this crate has no async runtime)
pub fn read_event_log(path: impl AsRef<Path>) -> Result<EventLog, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_event_log(path, &bytes)
}

/// Parses the bytes of an events file; `path` only names the file in errors.
///
/// - Blank lines are skipped.
/// - A last line without a trailing newline that does not parse is a truncated write: it is
///   skipped and reported in [`EventLog::truncated_line`]. (One that parses is kept.)
/// - Any other line that is not valid UTF-8 or not a valid event is [`Error::Corrupt`] with its
///   1-based line number.
pub fn parse_event_log(path: impl Into<PathBuf>, bytes: &[u8]) -> Result<EventLog, Error> {
    let ends_with_newline = bytes.last() == Some(&b'\n');
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if ends_with_newline || bytes.is_empty() {
        // `split` yields an empty piece after the final newline.
        lines.pop();
    }
    let last = lines.len();
    let mut log = EventLog {
        events: Vec::with_capacity(lines.len()),
        truncated_line: None,
    };
    for (index, raw) in lines.into_iter().enumerate() {
        let number = index + 1;
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    StageEvent::from_line(text).map(Some).map_err(|e| match e {
                        Error::Invalid { reason, .. } => reason,
                        other => other.to_string(),
                    })
                }
            });
        match parsed {
            Ok(Some(event)) => log.events.push(event),
            Ok(None) => {}
            Err(_) if number == last && !ends_with_newline => log.truncated_line = Some(number),
            Err(reason) => {
                return Err(Error::Corrupt {
                    path: path.into(),
                    line: number,
                    reason,
                });
            }
        }
    }
    Ok(log)
}
