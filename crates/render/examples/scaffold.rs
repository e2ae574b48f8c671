//! Renders a GitOps repository scaffold into DIR (used by scripts/check-workflows):
//! `cargo run -p gitops-render --example scaffold -- DIR [ENVIRONMENT...]`, pinned to the setup
//! action in `MFE_GITOPS_ACTION` (`OWNER/REPO@SHA`) or the one built in.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: scaffold DIR [ENVIRONMENT...]");
        return ExitCode::from(2);
    };
    let action = match gitops_render::ActionRef::resolve(None) {
        Ok((action, _)) => action,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut options = gitops_render::GitopsOptions::new(action);
    let envs: Vec<String> = args.collect();
    if !envs.is_empty() {
        options.environments = envs;
    }
    let files = match gitops_render::render_gitops_scaffold(&options) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match gitops_render::write_files(std::path::Path::new(&dir), &files, false, false) {
        Ok(outcome) if !outcome.refused() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: edited files were kept");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
