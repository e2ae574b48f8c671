//! Golden renders (insta snapshots under tests/it/snapshots/).

use crate::{gitops_option_sets, mfe_option_sets};

#[test]
fn mfe_workflows_match_their_snapshots() {
    for (set, options) in mfe_option_sets() {
        for file in gitops_render::render_mfe_workflows(&options).unwrap() {
            let name = format!("{set}__{}", file.path.rsplit('/').next().unwrap());
            insta::assert_snapshot!(name, file.contents);
        }
    }
}

#[test]
fn gitops_scaffold_matches_its_snapshots() {
    for (set, options) in gitops_option_sets() {
        for file in gitops_render::render_gitops_scaffold(&options).unwrap() {
            let name = format!("gitops-{set}__{}", file.path.replace('/', "_"));
            insta::assert_snapshot!(name, file.contents);
        }
    }
}

#[test]
fn renders_are_deterministic() {
    for (_, options) in mfe_option_sets() {
        assert_eq!(
            gitops_render::render_mfe_workflows(&options).unwrap(),
            gitops_render::render_mfe_workflows(&options).unwrap()
        );
    }
    for (_, options) in gitops_option_sets() {
        assert_eq!(
            gitops_render::render_gitops_scaffold(&options).unwrap(),
            gitops_render::render_gitops_scaffold(&options).unwrap()
        );
    }
}
