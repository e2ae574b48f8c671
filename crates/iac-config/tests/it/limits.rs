//! An MFE's `limits:`: sizes in bytes or binary units, counts and ratios, each bad value a
//! problem with its file, line and field.

use gitops_iac_config::{
    ArchiveLimits, ConfigProblem, MAX_LIMIT_BYTES, MAX_LIMIT_FILES, MAX_LIMIT_RATIO, MfeConfig,
    Repository,
};

const HEAD: &str =
    "name: search\nrepository: acme/search-mfe\nartifact: a-{version}.tgz\nenvironments: [dev]\n";

fn load(limits: &str) -> Result<Repository, Vec<ConfigProblem>> {
    let mut files = crate::example_files();
    files.insert(
        "mfes/search.yaml".to_owned(),
        format!("{HEAD}{limits}").into_bytes(),
    );
    Repository::from_files(&files)
}

fn limits_of(limits: &str) -> ArchiveLimits {
    let repo = load(limits).unwrap_or_else(|p| panic!("{limits:?}: {p:?}"));
    repo.mfes[&crate::mfe("search")].limits
}

/// The one problem of `value` written as `limits.<key>` (line 6 of the file).
fn one_problem(key: &str, value: &str) -> ConfigProblem {
    let found = load(&format!("limits:\n  {key}: {value}\n")).unwrap_err();
    assert_eq!(found.len(), 1, "{key}: {value}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn limits_parse_bytes_binary_units_counts_and_ratios() {
    let limits = limits_of(
        "limits:\n  max_archive_bytes: 1GiB\n  max_total_bytes: \"300 MiB\"\n  max_files: 20000\n  max_ratio: 50\n",
    );
    assert_eq!(
        limits,
        ArchiveLimits {
            max_archive_bytes: Some(1 << 30),
            max_total_bytes: Some(300 << 20),
            max_files: Some(20_000),
            max_ratio: Some(50),
        }
    );
    for (written, bytes) in [
        ("1", 1),
        ("1048576", 1 << 20),
        ("\"4096\"", 4096),
        ("7B", 7),
        ("2KiB", 2048),
        ("512MiB", 512 << 20),
        ("3 GiB", 3 << 30),
        ("16GiB", 16 << 30),
        ("16384MiB", MAX_LIMIT_BYTES),
    ] {
        let limits = limits_of(&format!("limits:\n  max_archive_bytes: {written}\n"));
        assert_eq!(limits.max_archive_bytes, Some(bytes), "{written}");
        assert_eq!(limits.max_total_bytes, None, "{written}");
    }
}

#[test]
fn absent_or_empty_limits_keep_every_default() {
    for text in ["", "limits:\n", "limits: {}\n", "limits:\n  max_files:\n"] {
        let limits = limits_of(text);
        assert!(limits.is_empty(), "{text:?}: {limits:?}");
        assert_eq!(limits, ArchiveLimits::default());
    }
    let model: MfeConfig = serde_yaml_ng::from_str(&format!("{HEAD}limits:\n")).unwrap();
    assert!(model.limits.is_empty());
    // The example's files have none, and a file without limits serializes without the key.
    let example = crate::example();
    let checkout = &example.mfes[&crate::mfe("checkout")];
    assert!(checkout.limits.is_empty());
    let text = serde_yaml_ng::to_string(checkout).unwrap();
    assert!(!text.contains("limits"), "{text}");
}

#[test]
fn each_bad_limit_is_a_problem_with_file_line_and_field() {
    let text = "limits:\n  max_archive_bytes: 0\n  max_total_bytes: 512MB\n  max_files: -3\n  max_ratio: 1.5\n";
    let found = load(text).unwrap_err();
    let summary: Vec<(&str, Option<usize>, Option<&str>)> = found
        .iter()
        .map(|p| (p.file.as_str(), p.line, p.field.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "mfes/search.yaml",
                Some(6),
                Some("limits.max_archive_bytes")
            ),
            ("mfes/search.yaml", Some(7), Some("limits.max_total_bytes")),
            ("mfes/search.yaml", Some(8), Some("limits.max_files")),
            ("mfes/search.yaml", Some(9), Some("limits.max_ratio")),
        ],
        "{found:?}"
    );
    assert!(found[0].message.contains("at least 1"), "{found:?}");
    assert!(found[1].message.contains("`MB`"), "{found:?}");
    assert!(found[1].message.contains("MiB"), "{found:?}");
    assert!(found[2].message.contains("negative"), "{found:?}");
    assert!(found[3].message.contains("whole number"), "{found:?}");
    // Rendered like every other problem: `file:line: field: message`.
    assert!(
        found[1]
            .to_string()
            .starts_with("mfes/search.yaml:7: limits.max_total_bytes: "),
        "{}",
        found[1]
    );
}

#[test]
fn values_over_their_ceiling_are_refused_as_typos() {
    for (key, value) in [
        ("max_archive_bytes", "17GiB".to_owned()),
        ("max_archive_bytes", "1TiB".to_owned()),
        ("max_total_bytes", (MAX_LIMIT_BYTES + 1).to_string()),
        ("max_total_bytes", "99999999999999999999999GiB".to_owned()),
        ("max_total_bytes", "18446744073709551615".to_owned()),
        ("max_files", (MAX_LIMIT_FILES + 1).to_string()),
        ("max_ratio", (MAX_LIMIT_RATIO + 1).to_string()),
    ] {
        let problem = one_problem(key, &value);
        assert_eq!(problem.line, Some(6), "{key}: {value}: {problem:?}");
        assert_eq!(problem.field.as_deref(), Some(&*format!("limits.{key}")));
        assert!(
            problem.message.contains("ceiling"),
            "{key}: {value}: {problem:?}"
        );
        assert!(!problem.message.contains(&value), "{problem:?}");
    }
    // At the ceiling is accepted.
    let at = limits_of(&format!(
        "limits:\n  max_files: {MAX_LIMIT_FILES}\n  max_ratio: {MAX_LIMIT_RATIO}\n"
    ));
    assert_eq!(at.max_files, Some(MAX_LIMIT_FILES));
    assert_eq!(at.max_ratio, Some(MAX_LIMIT_RATIO));
}

#[test]
fn malformed_values_are_refused_without_quoting_them() {
    for (key, value, fragment) in [
        ("max_archive_bytes", "lots", "expected a size"),
        ("max_archive_bytes", "\"\"", "expected a size"),
        ("max_archive_bytes", "1.5GiB", "expected a size"),
        ("max_archive_bytes", "\"300 \"", "expected a size"),
        ("max_archive_bytes", "2mib", "not read"),
        ("max_archive_bytes", "2 GB", "not read"),
        (
            "max_total_bytes",
            "\"12 MiB and then ghp_secretsecretsecretsecretsecret\"",
            "expected a size",
        ),
        (
            "max_total_bytes",
            "12ghpSecretSecretSecretSecretSecretSecret",
            "not read",
        ),
        ("max_total_bytes", "true", "expected a size"),
        ("max_total_bytes", "[1, 2]", "expected a size"),
        ("max_files", "10k", "whole number of files"),
        ("max_files", "\"100\"", "whole number of files"),
        ("max_ratio", "{a: 1}", "whole number"),
        ("max_ratio", "0", "at least 1"),
    ] {
        let problem = one_problem(key, value);
        assert_eq!(problem.file, "mfes/search.yaml");
        assert_eq!(problem.line, Some(6), "{key}: {value}: {problem:?}");
        assert_eq!(problem.field.as_deref(), Some(&*format!("limits.{key}")));
        assert!(
            problem.message.contains(fragment),
            "{key}: {value}: {problem:?}"
        );
        assert!(!problem.message.contains("ghp_"), "{problem:?}");
        assert!(!problem.message.contains("lots"), "{problem:?}");
    }
}

#[test]
fn unknown_limit_keys_and_a_non_mapping_are_refused_with_their_line() {
    let found = load("limits:\n  max_size: 1GiB\n").unwrap_err();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, Some(6), "{found:?}");
    assert!(found[0].message.contains("max_size"), "{found:?}");
    // ratio_grace_bytes is not exposed: the deploy's own.
    let found = load("limits:\n  ratio_grace_bytes: 1\n").unwrap_err();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("ratio_grace_bytes"), "{found:?}");
    let found = load("limits: 1GiB\n").unwrap_err();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, Some(5), "{found:?}");
}

#[test]
fn bad_limits_are_reported_with_the_files_other_problems() {
    let found = load("owners: [\"\"]\nlimits:\n  max_files: 0\n").unwrap_err();
    let fields: Vec<Option<&str>> = found.iter().map(|p| p.field.as_deref()).collect();
    assert_eq!(
        fields,
        [Some("owners[0]"), Some("limits.max_files")],
        "{found:?}"
    );
    assert_eq!(found[1].line, Some(7), "{found:?}");
}

#[test]
fn the_typed_model_reads_and_writes_limits_alike() {
    let text = format!("{HEAD}limits:\n  max_archive_bytes: 1GiB\n  max_files: 20000\n");
    let model: MfeConfig = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(model.limits.max_archive_bytes, Some(1 << 30));
    assert_eq!(model.limits.max_files, Some(20_000));
    assert_eq!(
        model,
        load("limits:\n  max_archive_bytes: 1GiB\n  max_files: 20000\n")
            .unwrap()
            .mfes[&crate::mfe("search")]
    );
    // Written as bytes, read back the same.
    let written = serde_json::to_string(&model).unwrap();
    assert!(
        written.contains("\"max_archive_bytes\":1073741824"),
        "{written}"
    );
    assert!(!written.contains("max_ratio"), "{written}");
    let back: MfeConfig = serde_json::from_str(&written).unwrap();
    assert_eq!(back, model);
    // The same checks as the loader.
    for bad in [
        "max_archive_bytes: 0",
        "max_archive_bytes: 17GiB",
        "max_files: -1",
        "max_ratio: 512MB",
    ] {
        let text = format!("{HEAD}limits:\n  {bad}\n");
        assert!(
            serde_yaml_ng::from_str::<MfeConfig>(&text).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn the_committed_schema_describes_limits() {
    let schemas = gitops_iac_config::schemas();
    let (_, mfe) = schemas
        .iter()
        .find(|(name, _)| *name == "mfe.schema.json")
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(mfe).unwrap();
    let limits = &schema["$defs"]["ArchiveLimits"];
    assert_eq!(limits["additionalProperties"], false, "{limits}");
    for key in [
        "max_archive_bytes",
        "max_total_bytes",
        "max_files",
        "max_ratio",
    ] {
        assert!(limits["properties"].get(key).is_some(), "{key}: {limits}");
    }
    assert_eq!(
        limits["properties"]["max_files"]["maximum"],
        MAX_LIMIT_FILES
    );
    let size = &schema["$defs"]["Size"];
    assert_eq!(size["anyOf"][0]["maximum"], MAX_LIMIT_BYTES, "{size}");
}
