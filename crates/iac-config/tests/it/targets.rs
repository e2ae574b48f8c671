//! Dangerous targets and ambiguous YAML (issue 10 item 10): embedded targets stay under the
//! repository's ignored `local/` directory unless the operator allows absolute paths, never
//! overlap, never sit where they would be served; environment names are unique ignoring case;
//! YAML tags and directives are refused.

use gitops_iac_config::{
    CdnTarget, ConfigProblem, LoadOptions, RegistryTarget, Repository, StorageTarget,
};

fn gitops_yaml() -> String {
    String::from_utf8(crate::example_files()["gitops.yaml"].clone()).unwrap()
}

fn with_config(text: &str, options: LoadOptions) -> Result<Repository, Vec<ConfigProblem>> {
    let mut files = crate::example_files();
    files.insert("gitops.yaml".into(), text.as_bytes().to_vec());
    Repository::from_files_with(&files, &options)
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    with_config(text, LoadOptions::default()).unwrap_err()
}

#[test]
fn dangerous_storage_paths_are_refused() {
    for bad in [
        ".git",
        ".",
        "/",
        "..",
        "local/../..",
        "local/./x",
        "local//x",
        "local/x/",
        "local",
        "local/.git",
        "local/x/.GIT/y",
        "local\\\\x",
        "storage",
        "../outside",
        "deployments/dev",
        "\"local/x\\u0000y\"",
        "\"local/x\\ty\"",
    ] {
        let text =
            gitops_yaml().replace("storage: local/staging/storage", &format!("storage: {bad}"));
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert_eq!(found[0].file, "gitops.yaml");
        assert_eq!(found[0].line, Some(9), "{bad}: {found:?}");
        assert_eq!(
            found[0].field.as_deref(),
            Some("environments[1].storage"),
            "{bad}: {found:?}"
        );
        // the same through the type
        let raw: String = serde_yaml_ng::from_str(bad).unwrap();
        assert!(StorageTarget::parse(&raw).is_err(), "{bad}");
    }
    // the registry and the CDN log obey the same rules
    for (key, bad) in [("registry", ".git/x.db"), ("cdn", "/")] {
        let text = gitops_yaml().replace(&format!("{key}: local/dev/"), &format!("{key}: {bad}#"));
        let found = problems(&text);
        assert_eq!(
            found[0].field.as_deref(),
            Some(format!("environments[0].{key}").as_str()),
            "{found:?}"
        );
    }
    assert!(RegistryTarget::parse("local/../x.db").is_err());
    assert!(CdnTarget::parse("local/a/../cdn.log").is_err());
}

#[test]
fn paths_under_local_and_cloud_targets_are_accepted() {
    for good in [
        "local/dev/storage",
        "local/x",
        "local/a.b/c-d_e",
        "s3://bucket/prefix",
    ] {
        StorageTarget::parse(good).unwrap();
    }
    RegistryTarget::parse("dynamodb://table").unwrap();
    CdnTarget::parse("cloudfront://E2EXAMPLE").unwrap();
    let text = gitops_yaml().replace("storage: local/prod/storage", "storage: s3://bucket/site");
    with_config(&text, LoadOptions::default()).unwrap();
}

#[test]
fn absolute_paths_need_the_operators_permission() {
    let text = gitops_yaml()
        .replace("storage: local/prod/storage", "storage: /srv/mfe/prod")
        .replace(
            "registry: local/prod/registry.db",
            "registry: /var/lib/mfe/prod.db",
        );
    let found = problems(&text);
    let fields: Vec<_> = found.iter().map(|p| p.field.clone().unwrap()).collect();
    assert_eq!(
        fields,
        ["environments[2].storage", "environments[2].registry"],
        "{found:?}"
    );
    assert!(found[0].message.contains("absolute"), "{}", found[0]);
    assert_eq!(found[0].line, Some(15));
    let allowed = LoadOptions {
        allow_absolute_targets: true,
    };
    let repo = with_config(&text, allowed).unwrap();
    assert_eq!(
        repo.config.environments[2].storage.to_string(),
        "/srv/mfe/prod"
    );
    // allowed absolute paths still obey the lexical rules and the placement rules
    for bad in ["/", "/srv/../etc", "/srv/.git/x", "//srv"] {
        let text = gitops_yaml().replace("storage: local/prod/storage", &format!("storage: {bad}"));
        assert!(with_config(&text, allowed).is_err(), "{bad}");
    }
    let text = gitops_yaml()
        .replace("storage: local/prod/storage", "storage: /srv/mfe")
        .replace(
            "registry: local/prod/registry.db",
            "registry: /srv/mfe/prod.db",
        );
    let found = with_config(&text, allowed).unwrap_err();
    assert_eq!(found[0].field.as_deref(), Some("environments[2].registry"));
    // the old functions use the default (refuse)
    let mut files = crate::example_files();
    files.insert(
        "gitops.yaml".into(),
        gitops_yaml()
            .replace("storage: local/prod/storage", "storage: /srv/mfe/prod")
            .into_bytes(),
    );
    assert!(Repository::from_files(&files).is_err());
}

#[test]
fn storage_directories_must_not_overlap() {
    for (staging, why) in [
        ("local/dev/storage", "same"),
        ("local/dev/storage/staging", "nested inside dev's"),
        ("local/dev", "around dev's"),
        (
            "local/DEV/storage",
            "same on a case-insensitive file system",
        ),
    ] {
        let text = gitops_yaml().replace(
            "storage: local/staging/storage",
            &format!("storage: {staging}"),
        );
        let found = problems(&text);
        let p = found
            .iter()
            .find(|p| p.field.as_deref() == Some("environments[1].storage"))
            .unwrap_or_else(|| panic!("{why}: {found:?}"));
        assert!(
            p.message
                .contains("overlaps the storage directory of `dev`"),
            "{why}: {p}"
        );
    }
}

#[test]
fn registry_and_cdn_log_never_sit_inside_served_storage() {
    for (key, path, env_field) in [
        (
            "registry",
            "local/dev/storage/registry.db",
            "environments[0].registry",
        ),
        ("cdn", "local/dev/storage/cdn.log", "environments[0].cdn"),
        // another environment's storage is served too
        (
            "registry",
            "local/prod/storage/dev.db",
            "environments[0].registry",
        ),
    ] {
        let text = gitops_yaml().replace(
            &format!(
                "{key}: local/dev/{}",
                if key == "cdn" {
                    "cdn.log"
                } else {
                    "registry.db"
                }
            ),
            &format!("{key}: {path}"),
        );
        let found = problems(&text);
        let p = found
            .iter()
            .find(|p| p.field.as_deref() == Some(env_field))
            .unwrap_or_else(|| panic!("{path}: {found:?}"));
        assert!(p.message.contains("served publicly"), "{p}");
    }
    // a storage directory declared after, around an earlier registry: reported on the registry
    let text = gitops_yaml()
        .replace(
            "registry: local/dev/registry.db",
            "registry: local/shared/dev.db",
        )
        .replace("storage: local/prod/storage", "storage: local/shared");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field.as_deref(), Some("environments[0].registry"));
    assert_eq!(found[0].line, Some(5));
    assert!(
        found[0]
            .message
            .contains("inside the storage directory of `prod`"),
        "{}",
        found[0]
    );
    // a storage directory inside a file's path
    let text = gitops_yaml().replace(
        "storage: local/prod/storage",
        "storage: local/dev/cdn.log/x",
    );
    let found = problems(&text);
    assert_eq!(
        found[0].field.as_deref(),
        Some("environments[2].storage"),
        "{found:?}"
    );
    assert_eq!(found[0].line, Some(15));
    assert!(
        found[0].message.contains("both a file and a directory"),
        "{}",
        found[0]
    );
    // registry and log of one environment at one path
    let text = gitops_yaml().replace("cdn: local/dev/cdn.log", "cdn: local/dev/registry.db");
    let found = problems(&text);
    assert_eq!(
        found[0].field.as_deref(),
        Some("environments[0].cdn"),
        "{found:?}"
    );
    assert!(found[0].message.contains("same path"), "{}", found[0]);
    // one registry shared by every environment is fine
    let text = gitops_yaml().replace(
        "registry: local/staging/registry.db",
        "registry: local/dev/registry.db",
    );
    with_config(&text, LoadOptions::default()).unwrap();
}

#[test]
fn environment_names_are_unique_ignoring_case() {
    let text = gitops_yaml()
        .replace("name: prod", "name: Staging")
        .replace("local/prod/", "local/Staging2/");
    let found = problems(&text);
    let p = found
        .iter()
        .find(|p| p.field.as_deref() == Some("environments[2].name"))
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(p.message.contains("declared twice"), "{p}");
    assert_eq!(p.line, Some(14));
    // one `Staging` alone is fine
    let text = gitops_yaml()
        .replace("name: staging", "name: Staging")
        .replace("requires: staging", "requires: Staging");
    let mut files = crate::example_files();
    files.insert("gitops.yaml".into(), text.into_bytes());
    files.remove("deployments/staging/checkout.json");
    for mfe in ["mfes/checkout.yaml", "mfes/search.yaml"] {
        let text = String::from_utf8(files[mfe].clone())
            .unwrap()
            .replace("staging", "Staging");
        files.insert(mfe.into(), text.into_bytes());
    }
    let repo = Repository::from_files(&files).unwrap();
    assert_eq!(repo.config.environments[1].name.as_str(), "Staging");
}

#[test]
fn yaml_tags_and_directives_are_refused() {
    let config = gitops_yaml();
    let mfe = String::from_utf8(crate::example_files()["mfes/search.yaml"].clone()).unwrap();
    let cases = [
        // (file, text, line)
        (
            "gitops.yaml",
            config.replace(
                "public_url: http://localhost:8080/dev",
                "public_url: !!str http://localhost:8080/dev",
            ),
            7,
        ),
        (
            "gitops.yaml",
            config.replace("version: 1", "version: !!int 1"),
            1,
        ),
        (
            "gitops.yaml",
            config.replace(
                "storage: local/dev/storage",
                "storage: !!binary bG9jYWwvZGV2",
            ),
            4,
        ),
        (
            "gitops.yaml",
            config.replace(
                "storage: local/dev/storage",
                "storage: !foo local/dev/storage",
            ),
            4,
        ),
        (
            "gitops.yaml",
            config.replace("- name: dev", "- !!map\n    name: dev"),
            3,
        ),
        ("gitops.yaml", format!("--- !!map\n{config}"), 1),
        (
            "gitops.yaml",
            config.replace("name: dev", "name: !<tag:yaml.org,2002:str> dev"),
            3,
        ),
        ("gitops.yaml", format!("%YAML 1.1\n---\n{config}"), 1),
        (
            "gitops.yaml",
            format!(
                "%TAG !e! tag:example.com,2000:\n---\n{}",
                config.replace("name: dev", "name: !e!x dev")
            ),
            1,
        ),
        (
            "mfes/search.yaml",
            mfe.replace("name: search", "name: !!str search"),
            1,
        ),
        (
            "mfes/search.yaml",
            mfe.replace(
                "environments: [dev, staging]",
                "environments: [dev, !!str staging]",
            ),
            4,
        ),
        (
            "mfes/search.yaml",
            mfe.replace(
                "entry_points: [remoteEntry.js]",
                "entry_points: !!seq [remoteEntry.js]",
            ),
            5,
        ),
        (
            "mfes/search.yaml",
            mfe.replace("name: search", "!!str name: search"),
            1,
        ),
        (
            "mfes/search.yaml",
            mfe.replace("name: search", "name: &a !x search"),
            1,
        ),
        (
            "mfes/search.yaml",
            mfe.replace("name: search", "name: ! search"),
            1,
        ),
    ];
    for (file, text, line) in cases {
        let mut files = crate::example_files();
        files.insert(file.into(), text.clone().into_bytes());
        let found = Repository::from_files(&files).unwrap_err();
        assert_eq!(found.len(), 1, "{text}\n{found:?}");
        assert_eq!(found[0].file, file);
        assert!(
            found[0].message.contains("YAML tags") || found[0].message.contains("YAML directives"),
            "{text}\n{}",
            found[0]
        );
        assert_eq!(found[0].line, Some(line), "{text}\n{}", found[0]);
    }
    // a `!` inside a value is text, not a tag; a document marker is fine
    for text in [
        config.replace("reason: year-end freeze", "reason: \"stop! !now\""),
        config.replace("reason: year-end freeze", "reason: year-end freeze!"),
        format!("---\n{config}"),
        format!("# comment !tag\n{config}"),
    ] {
        let mut files = crate::example_files();
        files.insert("gitops.yaml".into(), text.clone().into_bytes());
        Repository::from_files(&files).unwrap_or_else(|e| panic!("{text}\n{e:?}"));
    }
}

#[test]
fn the_scaffold_convention_and_the_examples_pass() {
    // `gitops init` writes local/<env>/{storage,registry.db,cdn.log}: the example does too
    let repo = crate::example();
    for env in &repo.config.environments {
        assert_eq!(
            env.storage.to_string(),
            format!("local/{}/storage", env.name)
        );
        assert_eq!(
            env.registry.local_path(),
            Some(format!("local/{}/registry.db", env.name).as_str())
        );
    }
}

/// Cloud targets follow the names AWS allows, so that no wildcard or stray character reaches an
/// ARN (`gitops iam-policy`) or a request; messages never repeat the value.
#[test]
fn cloud_targets_are_aws_names_without_wildcards() {
    for good in [
        "s3://acme-mfe-dev",
        "s3://a.b-c/assets",
        "s3://bkt/a/b_c/d.e/",
    ] {
        StorageTarget::parse(good).unwrap();
    }
    for bad in [
        "s3://*",
        "s3://b*",
        "s3://bk",
        "s3://Bucket",
        "s3://-bucket",
        "s3://bucket-",
        "s3://bucket/a*",
        "s3://bucket/a?b",
        "s3://bucket/../x",
        "s3://bucket//x",
        "s3://bucket/$HOME",
        &format!("s3://{}", "b".repeat(64)),
    ] {
        let err = StorageTarget::parse(bad).unwrap_err();
        assert!(!err.contains(bad), "{bad}: {err}");
    }
    RegistryTarget::parse("dynamodb://mfe_registry.dev-1").unwrap();
    for bad in [
        "dynamodb://t*",
        "dynamodb://ab",
        "dynamodb://a/b",
        "dynamodb://t:x",
    ] {
        assert!(RegistryTarget::parse(bad).is_err(), "{bad}");
    }
    for bad in [
        "cloudfront://*",
        "cloudfront://e2example",
        "cloudfront://E2-X",
    ] {
        assert!(CdnTarget::parse(bad).is_err(), "{bad}");
    }
}
