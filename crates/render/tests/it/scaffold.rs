//! The scaffold is a valid GitOps repository.

use std::collections::BTreeMap;

use crate::gitops_option_sets;

#[test]
fn scaffold_passes_the_gitops_loader() {
    for (set, options) in gitops_option_sets() {
        let files: BTreeMap<String, Vec<u8>> = gitops_render::render_gitops_scaffold(&options)
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.contents.into_bytes()))
            .collect();
        let repo = gitops_iac_config::Repository::from_files(&files)
            .unwrap_or_else(|p| panic!("{set}: {p:?}"));
        let names: Vec<&str> = repo
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, options.environments, "{set}");
        assert!(repo.mfes.is_empty() && repo.deployments.is_empty());
    }
}

#[test]
fn scaffold_written_to_disk_loads_with_load_dir() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::new(crate::pin()))
            .unwrap();
    gitops_render::write_files(dir.path(), &files, false, false).unwrap();
    gitops_iac_config::Repository::load_dir(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["local/"]
    );
    assert!(dir.path().join("mfes/.gitkeep").exists());
    assert!(dir.path().join("deployments/.gitkeep").exists());
}

#[test]
fn awkward_environment_names_stay_valid_yaml() {
    let options = gitops_render::GitopsOptions {
        environments: vec!["1".into(), "yes".into(), "eu.prod".into()],
        ..gitops_render::GitopsOptions::new(crate::pin())
    };
    let files: BTreeMap<String, Vec<u8>> = gitops_render::render_gitops_scaffold(&options)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.contents.into_bytes()))
        .collect();
    let repo = gitops_iac_config::Repository::from_files(&files).unwrap();
    let names: Vec<&str> = repo
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["1", "yes", "eu.prod"]);
}
