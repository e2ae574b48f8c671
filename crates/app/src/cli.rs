//! Command-line arguments shared by the `gitops` commands, and the arguments of the commands
//! whose use-cases live in this crate (`promote`, `unpin`, `drift`, `prune`): parsed by clap in
//! the binary, defined next to the code that uses them so the binary stays thin.

use clap::ValueEnum;

use crate::ForgeChoice;

/// `--forge`: GitHub with a token and `GITHUB_REPOSITORY` (auto), else local git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ForgeArg {
    /// GitHub when a token and `GITHUB_REPOSITORY` are set, else local git.
    #[default]
    Auto,
    /// GitHub.
    Github,
    /// The local git forge.
    Local,
}

impl From<ForgeArg> for ForgeChoice {
    fn from(value: ForgeArg) -> Self {
        match value {
            ForgeArg::Auto => ForgeChoice::Auto,
            ForgeArg::Github => ForgeChoice::Github,
            ForgeArg::Local => ForgeChoice::Local,
        }
    }
}

/// `--format`: a table for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// An aligned table (or lines) for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
}
