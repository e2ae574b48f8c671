//! The commands that write rendered files: `gitops init` (the scaffold) and `mfe upgrade`
//! (an MFE repository's workflows re-rendered with the options recorded in them and a new
//! setup action pin).

// Blocking by design: like `write_files`, this reads and writes files synchronously
// (command-line use, no async runtime).
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::Path;

use crate::{ActionRef, Error, GitopsOptions, MfeOptions, Outcome, Result, write_files};

/// `gitops init`: the scaffold with default options, pinned to `action` (`--action`) or the
/// default [`ActionRef::resolve`] finds, written into `dir` as [`write_files`] does.
pub fn init_gitops_repository(
    dir: &Path,
    action: Option<&str>,
    aws: Option<&crate::TerraformTargets>,
    check: bool,
    force: bool,
) -> Result<Outcome> {
    let (action, _) = ActionRef::resolve(action)?;
    let mut options = GitopsOptions::new(action);
    if let Some(aws) = aws {
        options.environments = aws.environment_names();
        options.aws = Some(aws.clone());
    }
    let files = crate::render_gitops_scaffold(&options)?;
    write_files(dir, &files, check, force)
}

impl Outcome {
    /// [`Outcome::report`] for `gitops init`, with the next step after a successful write.
    pub fn init_report(&self, check: bool, dir: &Path) -> String {
        let mut out = self.report(check);
        if !check && !self.failed(check) {
            let _ = writeln!(
                out,
                "next: add an MFE under mfes/, then run `gitops check --repo {}`",
                dir.display()
            );
            // What keeps a dispatch-token holder (contents: write) from pushing to the default
            // branch is the repository's settings, not these files: say so at once.
            let _ = writeln!(
                out,
                "then, on GitHub (README.md, Set-up): install the GitOps App on this repository and the MFE repositories \
                 (variable GITOPS_APP_ID, secret GITOPS_APP_PRIVATE_KEY), and protect the default branch with a ruleset: \
                 pull requests only, status gitops/checks required, only the App may bypass; \
                 a dispatch token can otherwise push deployments/ straight to it"
            );
        }
        out
    }
}

/// The workflows `mfe render` writes, relative to the repository root.
pub const MFE_WORKFLOWS: [&str; 2] = [
    ".github/workflows/micro-frontend-ci.yml",
    ".github/workflows/micro-frontend-cd.yml",
];

/// The `mfe render` line recorded in the leading comments of a rendered MFE workflow.
fn recorded_command(contents: &str) -> Option<&str> {
    contents
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            let text = l.trim_start_matches('#').trim_start();
            text.starts_with("mfe render ").then_some(text)
        })
}

/// The options the MFE workflows in `dir` were rendered with (the `mfe render` command each
/// records in its comments), pinned to `action`, at this crate's tool version; and which of
/// [`MFE_WORKFLOWS`] exist. Errors when none exists, when one records no command or a command
/// [`MfeOptions::from_render_command`] refuses, or when the two record different options.
pub fn read_mfe_options(dir: &Path, action: &ActionRef) -> Result<(MfeOptions, Vec<&'static str>)> {
    let mut found: Option<(MfeOptions, &str)> = None;
    let mut present = Vec::new();
    for path in MFE_WORKFLOWS {
        let target = dir.join(path);
        let contents = match std::fs::read(&target) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: target.display().to_string(),
                    source,
                });
            }
        };
        let unreadable = |reason: String| Error::Unreadable {
            path: target.display().to_string(),
            reason,
        };
        let line = recorded_command(&contents).ok_or_else(|| {
            unreadable(
                "no `mfe render` command in its leading comments: it was not written by \
                 `mfe render`; run `mfe render` with your options instead"
                    .to_owned(),
            )
        })?;
        let options = MfeOptions::from_render_command(line, action.clone())
            .map_err(|e| unreadable(e.to_string()))?;
        if let Some((first, first_path)) = &found
            && *first != options
        {
            return Err(unreadable(format!(
                "records other options than {first_path} (`{}`); run `mfe render` with the \
                 options you want",
                first.render_command()
            )));
        }
        found.get_or_insert((options, path));
        present.push(path);
    }
    match found {
        Some((options, _)) => Ok((options, present)),
        None => Err(Error::Unreadable {
            path: dir.join(".github/workflows").display().to_string(),
            reason: "no workflow written by `mfe render` here: run `mfe render` first".to_owned(),
        }),
    }
}

/// `mfe upgrade`: re-renders the MFE workflows present in `dir` with the options they record
/// ([`read_mfe_options`]), the pin `action` and this crate's tool version, and writes them as
/// [`write_files`] does (with `check`, only compares; an edited file is kept unless `force`).
/// A workflow that was deleted stays deleted. [`Outcome::upgrade_report`] says what changed.
pub fn upgrade_mfe_workflows(
    dir: &Path,
    action: &ActionRef,
    check: bool,
    force: bool,
) -> Result<Outcome> {
    let (options, present) = read_mfe_options(dir, action)?;
    let files: Vec<_> = crate::render_mfe_workflows(&options)?
        .into_iter()
        .filter(|f| present.contains(&f.path.as_str()))
        .collect();
    write_files(dir, &files, check, force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_read_from_the_leading_comments_only() {
        let file = "# Generated by mfe render 0.1.0; edits are detected (sha256: x)\r\n\
                    # Builds it. Do not edit: re-render with\r\n\
                    #   mfe render --mfe a --gitops-repo b/c\r\n\
                    name: x\n# mfe render --mfe other\n";
        assert_eq!(
            recorded_command(file),
            Some("mfe render --mfe a --gitops-repo b/c")
        );
        assert_eq!(recorded_command("name: x\n#   mfe render --mfe a\n"), None);
    }
}
