//! Loading and validating repositories: every problem names its file, line and field.

use gitops_iac_config::{ConfigProblem, Repository, schemas};

fn problems_with(path: &str, content: &str) -> Vec<ConfigProblem> {
    let mut files = crate::example_files();
    files.insert(path.to_owned(), content.as_bytes().to_vec());
    Repository::from_files(&files).unwrap_err()
}

#[test]
fn example_repository_loads_from_dir_and_from_files_alike() {
    let from_dir = Repository::load_dir(&crate::example_dir()).unwrap();
    assert_eq!(from_dir, crate::example());
    assert_eq!(from_dir.config.environments.len(), 3);
    assert_eq!(
        from_dir
            .deployment(&crate::env("dev"), &crate::mfe("checkout"))
            .unwrap()
            .version
            .to_string(),
        "1.4.0"
    );
}

#[test]
fn malformed_yaml_reports_its_line() {
    let found = problems_with(
        "mfes/search.yaml",
        "name: search\nrepository: [unclosed\nartifact: x\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "mfes/search.yaml");
    assert!(
        found[0].line.is_some_and(|l| (2..=4).contains(&l)),
        "{found:?}"
    );
}

#[test]
fn unknown_and_mistyped_fields_report_their_line() {
    let found = problems_with(
        "mfes/search.yaml",
        "name: search\nrepository: acme/search-mfe\nartifact: a-{version}.tgz\nenvironments: [dev]\nentrypoints: [x.js]\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, Some(5), "{found:?}");
    assert!(found[0].message.contains("entrypoints"), "{found:?}");
}

#[test]
fn semantic_problems_name_file_line_and_field() {
    let found = problems_with(
        "mfes/search.yaml",
        "name: search\nrepository: not-a-repo\nartifact: search.tgz\nenvironments: [dev, qa]\nentry_points: [../x.js]\n",
    );
    let summary: Vec<(Option<usize>, Option<String>)> =
        found.iter().map(|p| (p.line, p.field.clone())).collect();
    assert_eq!(
        summary,
        [
            (Some(2), Some("repository".to_owned())),
            (Some(3), Some("artifact".to_owned())),
            (Some(4), Some("environments[1]".to_owned())),
            (Some(5), Some("entry_points[0]".to_owned())),
        ]
    );
    assert!(found.iter().all(|p| p.file == "mfes/search.yaml"));
    assert!(
        found[2]
            .to_string()
            .starts_with("mfes/search.yaml:4: environments[1]: environment `qa` is not declared"),
        "{}",
        found[2]
    );
}

#[test]
fn gitops_yaml_rules() {
    let base = String::from_utf8(crate::example_files()["gitops.yaml"].clone()).unwrap();
    let found = problems_with(
        "gitops.yaml",
        &base.replace("requires: dev", "requires: prod"),
    );
    assert!(
        found
            .iter()
            .any(|p| p.field.as_deref() == Some("environments[1].requires")),
        "{found:?}"
    );
    let found = problems_with("gitops.yaml", &base.replace("version: 1", "version: 2"));
    assert_eq!(found[0].field.as_deref(), Some("version"));
    assert_eq!(found[0].line, Some(1));
    let found = problems_with(
        "gitops.yaml",
        &base.replace("http://localhost:8080/dev", "localhost"),
    );
    assert_eq!(
        found[0].field.as_deref(),
        Some("environments[0].public_url")
    );
    let found = problems_with(
        "gitops.yaml",
        &base.replace("storage: local/dev/storage", "storage: gs://bucket"),
    );
    assert!(found[0].message.contains("gs://"), "{found:?}");
    let found = problems_with(
        "gitops.yaml",
        &base.replace("until: 2027-01-04T00:00:00Z", "until: 2026-01-04T00:00:00Z"),
    );
    assert_eq!(found[0].field.as_deref(), Some("environments[2].freeze[0]"));
}

#[test]
fn deployment_files_must_match_their_path_and_registry() {
    let base =
        String::from_utf8(crate::example_files()["deployments/dev/checkout.json"].clone()).unwrap();
    let found = problems_with("deployments/dev/search.json", &base);
    assert!(
        found
            .iter()
            .any(|p| p.file == "deployments/dev/search.json" && p.field.as_deref() == Some("mfe")),
        "{found:?}"
    );
    let found = problems_with(
        "deployments/dev/checkout.json",
        &base.replace("1.4.0", "latest"),
    );
    assert_eq!(found[0].field.as_deref(), Some("version"));
    assert_eq!(found[0].line, Some(4));
    let found = problems_with(
        "deployments/qa/checkout.json",
        &base.replace("\"dev\"", "\"qa\""),
    );
    assert!(
        found.iter().any(|p| p.message.contains("not declared")),
        "{found:?}"
    );
    let found = problems_with("deployments/dev/checkout.json", "{\"mfe\": ");
    assert_eq!(found[0].line, Some(1));
}

#[test]
fn missing_config_is_reported() {
    let mut files = crate::example_files();
    files.remove("gitops.yaml");
    let found = Repository::from_files(&files).unwrap_err();
    assert!(
        found
            .iter()
            .any(|p| p.file == "gitops.yaml" && p.message.contains("missing"))
    );
}

#[test]
fn committed_schemas_are_not_stale() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    for (name, fresh) in schemas() {
        let path = format!("{dir}/{name}");
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "schemas/{name} is stale; run `UPDATE_SCHEMAS=1 cargo test -p gitops-iac-config`"
        );
    }
}
