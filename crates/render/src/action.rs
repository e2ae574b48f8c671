//! The setup action every rendered workflow installs `mfe`/`gitops` through, pinned by commit.

use std::fmt;

use gitops_event_model::{CommitSha, RepositoryName};

use crate::{Error, PINNED_ACTIONS, Result};

/// The environment variable holding the default pin, `OWNER/REPO@SHA`. The setup action sets
/// it for the steps after it (so a workflow re-rendering pins the release it runs); a build
/// may also bake one in at compile time.
pub const ACTION_ENV: &str = "MFE_GITOPS_ACTION";

/// The pin baked in when this crate was built with `MFE_GITOPS_ACTION` set, if it was.
pub const BUILT_IN_ACTION: Option<&str> = option_env!("MFE_GITOPS_ACTION");

/// The setup action at one commit: rendered as `uses: <repository>@<sha> # v<version>`.
///
/// A pin is a full commit sha, never a tag or branch: the commit holds the checksums the action
/// verifies the binaries against, so pinning the action pins the binaries' bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    /// `owner/name` of the repository holding `action.yml` (this project or a fork/mirror).
    pub repository: RepositoryName,
    /// The commit pinned.
    pub sha: CommitSha,
}

/// Where [`ActionRef::resolve`] found the pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinSource {
    /// `--action`.
    Flag,
    /// The `MFE_GITOPS_ACTION` environment variable.
    Environment,
    /// `MFE_GITOPS_ACTION` as set when this binary was built.
    BuiltIn,
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinSource::Flag => "--action",
            PinSource::Environment => "the MFE_GITOPS_ACTION environment variable",
            PinSource::BuiltIn => "the MFE_GITOPS_ACTION built into this binary",
        })
    }
}

impl ActionRef {
    /// Parses `OWNER/REPO@SHA` (a full 40-hex commit sha).
    pub fn parse(value: &str) -> Result<Self> {
        Self::parse_as("--action", value)
    }

    fn parse_as(field: &'static str, value: &str) -> Result<Self> {
        let shape = "expected OWNER/REPO@SHA with the full commit sha (a tag or branch is no pin)";
        let Some((repository, sha)) = value.split_once('@') else {
            return Err(Error::invalid(field, format!("`{value}`: {shape}")));
        };
        let repository = RepositoryName::parse(repository)
            .map_err(|e| Error::invalid(field, format!("`{value}`: {}", e.message)))?;
        let sha = CommitSha::parse(sha)
            .map_err(|e| Error::invalid(field, format!("`{value}`: {}; {shape}", e.message)))?;
        Ok(ActionRef { repository, sha })
    }

    /// The pin to render: `flag` (`--action`), else `MFE_GITOPS_ACTION` from the environment
    /// (an empty value counts as unset), else [`BUILT_IN_ACTION`], else
    /// [`Error::MissingAction`]. A malformed value is refused naming where it came from.
    pub fn resolve(flag: Option<&str>) -> Result<(Self, PinSource)> {
        let env = std::env::var(ACTION_ENV).ok();
        Self::resolve_from(flag, env.as_deref(), BUILT_IN_ACTION)
    }

    /// [`ActionRef::resolve`] with its sources given (for tests and embedders).
    pub fn resolve_from(
        flag: Option<&str>,
        env: Option<&str>,
        built_in: Option<&str>,
    ) -> Result<(Self, PinSource)> {
        if let Some(flag) = flag {
            Ok((Self::parse_as("--action", flag)?, PinSource::Flag))
        } else if let Some(env) = env.filter(|v| !v.is_empty()) {
            Ok((Self::parse_as(ACTION_ENV, env)?, PinSource::Environment))
        } else if let Some(built_in) = built_in.filter(|v| !v.is_empty()) {
            let field = "built-in MFE_GITOPS_ACTION";
            Ok((Self::parse_as(field, built_in)?, PinSource::BuiltIn))
        } else {
            Err(Error::MissingAction)
        }
    }

    /// The `uses:` value with its version comment: `owner/repo@sha # v<version>`.
    pub fn uses(&self, version: &str) -> String {
        format!("{self} # v{version}")
    }

    /// Reads a pin back from one line of a rendered workflow (`uses: OWNER/REPO@SHA # vX`):
    /// the pin and the version in its comment, or `None` when the line is not the setup
    /// action's (a third-party action of [`PINNED_ACTIONS`], or anything else).
    pub fn of_line(line: &str) -> Option<(Self, &str)> {
        let rest = line.trim().strip_prefix("uses: ")?;
        let (reference, version) = rest.split_once(" # v")?;
        let action = Self::parse(reference.trim()).ok()?;
        let third_party = PINNED_ACTIONS
            .iter()
            .any(|(name, _, _)| action.repository.as_str().eq_ignore_ascii_case(name));
        (!third_party).then_some((action, version.trim()))
    }
}

impl fmt::Display for ActionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.sha)
    }
}

impl std::str::FromStr for ActionRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "mfe-gitops/mfe-gitops@1111111111111111111111111111111111111111";
    const B: &str = "acme/mfe-gitops-fork@2222222222222222222222222222222222222222";
    const C: &str = "mirror/mfe-gitops@3333333333333333333333333333333333333333";

    fn pin(v: &str) -> ActionRef {
        ActionRef::parse(v).unwrap()
    }

    #[test]
    fn the_flag_wins_then_the_environment_then_the_built_in_then_an_error() {
        let r = |f, e, b| ActionRef::resolve_from(f, e, b);
        assert_eq!(
            r(Some(A), Some(B), Some(C)).unwrap(),
            (pin(A), PinSource::Flag)
        );
        assert_eq!(
            r(None, Some(B), Some(C)).unwrap(),
            (pin(B), PinSource::Environment)
        );
        assert_eq!(
            r(None, None, Some(C)).unwrap(),
            (pin(C), PinSource::BuiltIn)
        );
        assert_eq!(
            r(None, Some(""), Some(C)).unwrap(),
            (pin(C), PinSource::BuiltIn),
            "an empty variable is unset"
        );
        let none = r(None, None, None).unwrap_err();
        assert!(matches!(none, Error::MissingAction));
        assert!(none.to_string().contains("--action"), "{none}");
        assert!(none.to_string().contains("MFE_GITOPS_ACTION"), "{none}");
    }

    #[test]
    fn malformed_pins_are_refused_naming_their_source() {
        for bad in [
            "mfe-gitops/mfe-gitops",
            "mfe-gitops/mfe-gitops@v0.1.0",
            "mfe-gitops/mfe-gitops@main",
            "mfe-gitops/mfe-gitops@1111111",
            "mfe-gitops@1111111111111111111111111111111111111111",
            "mfe gitops/x@1111111111111111111111111111111111111111",
            "a/b@1111111111111111111111111111111111111111 # v1",
            "",
        ] {
            let e = ActionRef::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid --action: "), "{bad}: {e}");
        }
        let e = ActionRef::parse("acme/x@v1").unwrap_err().to_string();
        assert!(e.contains("OWNER/REPO@SHA"), "{e}");
        let e = ActionRef::resolve_from(None, Some("acme/x@main"), Some(A)).unwrap_err();
        assert!(e.to_string().contains("MFE_GITOPS_ACTION"), "{e}");
        let e = ActionRef::resolve_from(None, None, Some("acme/x")).unwrap_err();
        assert!(e.to_string().contains("built-in"), "{e}");
        // A malformed flag is refused even when a good default exists.
        assert!(ActionRef::resolve_from(Some("x"), Some(B), Some(C)).is_err());
    }

    #[test]
    fn shas_are_lowercased_and_lines_read_back() {
        let upper = pin("Acme/Fork@ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD");
        assert_eq!(
            upper.sha.as_str(),
            "abcdefabcdefabcdefabcdefabcdefabcdefabcd"
        );
        let line = format!("        uses: {}", upper.uses("0.2.0"));
        assert_eq!(ActionRef::of_line(&line), Some((upper, "0.2.0")));
        let checkout = format!(
            "uses: {}@{} # {}",
            PINNED_ACTIONS[0].0, PINNED_ACTIONS[0].1, PINNED_ACTIONS[0].2
        );
        assert_eq!(ActionRef::of_line(&checkout), None);
        assert_eq!(ActionRef::of_line("run: echo uses: a/b@c # v1"), None);
    }
}
