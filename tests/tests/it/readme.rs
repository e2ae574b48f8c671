//! README's walkthroughs are tested as a user types them: each ```console block preceded by
//! `<!-- tested: walkthrough -->` runs in a new empty directory, command by command (`$ gitops
//! ...`, `$ cd DIR`, `$ sleep SECONDS`), each expected to exit 0 unless the line ends with `#
//! exit N`; every output line shown under a command must appear in what it printed (standard
//! output, then standard error), in order, where `…` stands for any text (times, paths, ids).
//! The blocks run in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;

const MARKER: &str = "<!-- tested: walkthrough -->";

/// One command of a walkthrough and what it shows.
#[derive(Debug)]
struct Step {
    line: usize,
    args: Vec<String>,
    exit: i32,
    shown: Vec<String>,
}

/// The walkthroughs of `readme`: one list of steps per marked block.
fn walkthroughs(readme: &str) -> Vec<Vec<Step>> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != MARKER {
            i += 1;
            continue;
        }
        i += 1;
        assert!(
            lines.get(i).is_some_and(|l| l.trim() == "```console"),
            "README line {}: `{MARKER}` must be followed by a ```console block",
            i + 1
        );
        i += 1;
        let mut steps: Vec<Step> = Vec::new();
        while i < lines.len() && lines[i].trim() != "```" {
            let line = lines[i];
            if let Some(command) = line.strip_prefix("$ ") {
                let (command, exit) = match command.split_once("# exit ") {
                    Some((c, code)) => (c, code.trim().parse().expect("`# exit N`")),
                    None => (command, 0),
                };
                steps.push(Step {
                    line: i + 1,
                    args: command.split_whitespace().map(str::to_owned).collect(),
                    exit,
                    shown: Vec::new(),
                });
            } else if !line.trim().is_empty() {
                steps
                    .last_mut()
                    .expect("output before the first command")
                    .shown
                    .push(line.to_owned());
            }
            i += 1;
        }
        blocks.push(steps);
    }
    blocks
}

/// Whether `printed` shows `shown`: the same text (leading and trailing blanks aside) where
/// each `…` in `shown` stands for any text.
fn shows(printed: &str, shown: &str) -> bool {
    let mut parts = shown.trim().split('…');
    let mut rest = printed.trim();
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(after) = rest.strip_prefix(first) else {
        return false;
    };
    rest = after;
    let parts: Vec<&str> = parts.collect();
    for (n, part) in parts.iter().enumerate() {
        if n + 1 == parts.len() {
            return rest.ends_with(part) && rest.len() >= part.len();
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn run(steps: &[Step], root: &Path) {
    let mut cwd: PathBuf = root.to_path_buf();
    for step in steps {
        let (program, args) = step.args.split_first().expect("an empty command");
        match program.as_str() {
            "cd" => {
                cwd = cwd.join(&args[0]);
                continue;
            }
            "sleep" => {
                let seconds: u64 = args[0].parse().expect("sleep SECONDS");
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                continue;
            }
            _ => {}
        }
        assert_eq!(
            program, "gitops",
            "README line {}: only gitops and cd run",
            step.line
        );
        let out = Command::new(crate::gitops_bin())
            .args(args)
            .current_dir(&cwd)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITOPS_GITHUB_TOKEN")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_EVENT_PATH")
            .env_remove("GITHUB_ACTOR")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(step.exit),
            "README line {}: `{}` exited {:?}:\n{text}",
            step.line,
            step.args.join(" "),
            out.status.code()
        );
        let mut printed = text.lines();
        for shown in &step.shown {
            assert!(
                printed.any(|p| shows(p, shown)),
                "README line {}: `{}` did not print (in order) `{shown}`:\n{text}",
                step.line,
                step.args.join(" ")
            );
        }
    }
}

#[test]
fn the_operating_walkthrough_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let blocks = walkthroughs(&readme);
    assert!(!blocks.is_empty(), "README has no `{MARKER}` block");
    std::thread::scope(|scope| {
        for steps in &blocks {
            scope.spawn(|| {
                let root = tempfile::tempdir().unwrap();
                run(steps, root.path());
            });
        }
    });
}

#[test]
fn shown_lines_match_with_wildcards() {
    assert!(shows("  ok: 3 environment(s)  ", "ok: 3 environment(s)"));
    assert!(shows(
        "pinned by @ops at 2026-12-01T10:00:00Z (bad)",
        "pinned by @ops at … (bad)"
    ));
    assert!(shows("anything at all", "…"));
    assert!(!shows("ok: 2 environment(s)", "ok: 3 environment(s)"));
    assert!(!shows(
        "ok: 3 environment(s) and more",
        "ok: 3 environment(s)"
    ));
    assert!(!shows(
        "pinned by @ops at T (good)",
        "pinned by @ops at … (bad)"
    ));
}

#[test]
fn a_walkthrough_that_lies_fails() {
    let readme = format!(
        "{MARKER}\n```console\n$ gitops demo --dir fleet\n… nothing like this is printed\n```\n"
    );
    let steps = &walkthroughs(&readme)[0];
    assert_eq!(steps.len(), 1);
    let root = tempfile::tempdir().unwrap();
    let failed = std::panic::catch_unwind(|| run(steps, root.path()));
    assert!(
        failed.is_err(),
        "a shown line that is not printed must fail"
    );
    // A wrong exit code too.
    let readme = format!("{MARKER}\n```console\n$ gitops check # exit 0\n```\n");
    let steps = &walkthroughs(&readme)[0];
    let root = tempfile::tempdir().unwrap();
    assert!(std::panic::catch_unwind(|| run(steps, root.path())).is_err());
}
