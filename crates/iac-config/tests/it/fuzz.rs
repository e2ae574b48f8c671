//! Fuzz-style properties of the repository loader (issue 18): arbitrary bytes as `gitops.yaml`,
//! as `mfes/<x>.yaml` and as `deployments/<env>/<x>.json`, and YAML- or JSON-shaped mutations of
//! the example repository, never panic; every problem names one of the files given (with a line
//! inside it, when it has one), and no problem repeats file content: a secret-looking marker
//! planted in the input never appears in a problem.

use std::collections::BTreeMap;

use gitops_iac_config::{ConfigProblem, Repository};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Planted in inputs; never to be shown. 40 characters, like a GitHub token: longer than any
/// value the loader may quote.
const MARKER: &str = "ghp_LEAKMARKER0123456789abcdefghijklmnop";
/// The same, spelled as a valid MFE and environment name (lowercase, `-`): a value that parses
/// as a name is still file content.
const NAME_MARKER: &str = "ghp-leakmarker-0123456789-abcdefghijklmn";

type Files = BTreeMap<String, Vec<u8>>;

/// The properties every outcome must have, whatever the files.
fn check(
    files: &Files,
    outcome: &Result<Repository, Vec<ConfigProblem>>,
) -> Result<(), TestCaseError> {
    let Err(problems) = outcome else {
        return Ok(());
    };
    prop_assert!(!problems.is_empty(), "refused without a problem");
    for problem in problems {
        let shown = problem.to_string();
        prop_assert!(
            files.contains_key(&problem.file) || problem.file == gitops_iac_config::CONFIG_FILE,
            "the problem names no file given: {}",
            shown
        );
        if let (Some(line), Some(bytes)) = (problem.line, files.get(&problem.file)) {
            // YAML breaks lines at `\n`, `\r\n` and a lone `\r`
            let lines = 1 + bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
                .count();
            prop_assert!(
                (1..=lines + 1).contains(&line),
                "line {} of a {}-line file: {}",
                line,
                lines,
                shown
            );
        }
        prop_assert!(!problem.message.is_empty(), "{}", shown);
        for marker in [MARKER, NAME_MARKER] {
            prop_assert!(
                !shown.contains(marker),
                "a problem repeats file content: {}",
                shown
            );
        }
    }
    Ok(())
}

/// Loads `files` twice: the same outcome both times (no hidden state), checked.
fn load_and_check(files: &Files) -> Result<(), TestCaseError> {
    let outcome = Repository::from_files(files);
    prop_assert_eq!(&outcome, &Repository::from_files(files));
    check(files, &outcome)
}

/// `bytes` with `marker` spliced in at `at` (a fraction of the length, in 1/256ths).
fn with_marker(mut bytes: Vec<u8>, at: u8, marker: &str) -> Vec<u8> {
    let i = bytes.len() * usize::from(at) / 256;
    bytes.splice(i..i, marker.bytes());
    bytes
}

/// Arbitrary bytes, half of them carrying the marker.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..768),
        prop::option::of((any::<u8>(), prop::sample::select(vec![MARKER, NAME_MARKER]))),
    )
        .prop_map(|(bytes, at)| match at {
            Some((at, marker)) => with_marker(bytes, at, marker),
            None => bytes,
        })
}

/// YAML and JSON fragments, many carrying a marker where a value, key, tag, anchor, URL or
/// path would be.
fn fragments() -> Vec<String> {
    let mut all = marked(MARKER);
    all.extend(marked(NAME_MARKER));
    all.sort();
    all.dedup();
    all
}

/// The fragments with `m` as the marker.
fn marked(m: &str) -> Vec<String> {
    [
        "{m}",
        "\"{m}\"",
        "'{m}'",
        "[{m}]",
        "{{{m}: {m}}}",
        "!{m} x",
        "!!binary {m}",
        "&{m} x",
        "*{m}",
        "{m}: x",
        "x: {m}",
        "- {m}",
        "s3://{m}",
        "s3://{m}/p",
        "gs://{m}",
        "dynamodb://{m}",
        "cloudfront://{m}",
        "local/{m}",
        "/abs/{m}",
        "../{m}",
        "https://{m}.example/x",
        "http://user:{m}@host/",
        "@acme/{m}",
        "acme/{m}",
        "{m}-{{version}}.tgz",
        "{m}.js",
        "[dev, {m}]",
        "{{ from: {m}, until: {m}, reason: {m} }}",
        "{{ from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: {m} }}",
        "# {m}",
        "|\n  {m}",
        ">\n  {m}",
        "\"\\u0000{m}\"",
        "\"{m}\\\"",
        "%YAML 1.2",
        "%TAG ! tag:{m}:",
        "!<tag:{m}> x",
        "---",
        "...",
        "<<: *{m}",
        "~",
        "null",
        "true",
        "0x1F",
        ".inf",
        "-1",
        "99999999999999999999999",
        "1e400",
        "\t",
        "{{",
        "[",
        "\"",
        "'",
        "\u{feff}",
        "\u{0}",
        "é",
        "",
    ]
    .iter()
    .map(|f| f.replace("{m}", m).replace("{{", "{").replace("}}", "}"))
    .collect()
}

/// One line-level change to a YAML file.
#[derive(Debug, Clone)]
enum YamlEdit {
    /// The line removed.
    Delete(usize),
    /// The line written twice.
    Duplicate(usize),
    /// Two lines swapped.
    Swap(usize, usize),
    /// The line's indentation changed by this many spaces (negative: removed).
    Indent(usize, i8),
    /// The value after the line's first `: ` (or its whole text) replaced by a fragment.
    Value(usize, String),
    /// The key before the line's first `:` replaced by a fragment.
    Key(usize, String),
    /// A fragment inserted as a line of its own, indented.
    Insert(usize, String, u8),
    /// The file cut at this fraction of its length (in 1/256ths).
    Truncate(u8),
}

fn arb_yaml_edit() -> impl Strategy<Value = YamlEdit> {
    let fragment = prop::sample::select(fragments());
    prop_oneof![
        any::<usize>().prop_map(YamlEdit::Delete),
        any::<usize>().prop_map(YamlEdit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| YamlEdit::Swap(a, b)),
        (any::<usize>(), -4i8..5).prop_map(|(l, d)| YamlEdit::Indent(l, d)),
        (any::<usize>(), fragment.clone()).prop_map(|(l, f)| YamlEdit::Value(l, f)),
        (any::<usize>(), fragment.clone()).prop_map(|(l, f)| YamlEdit::Key(l, f)),
        (any::<usize>(), fragment, 0u8..8).prop_map(|(l, f, i)| YamlEdit::Insert(l, f, i)),
        any::<u8>().prop_map(YamlEdit::Truncate),
    ]
}

/// `text` with `edits` applied, in order.
fn apply(text: &str, edits: &[YamlEdit]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut truncate = None;
    for edit in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match edit {
            YamlEdit::Delete(l) => {
                lines.remove(l % n);
            }
            YamlEdit::Duplicate(l) => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            YamlEdit::Swap(a, b) => lines.swap(a % n, b % n),
            YamlEdit::Indent(l, d) => {
                let line = &mut lines[l % n];
                if *d >= 0 {
                    line.insert_str(0, &" ".repeat(d.unsigned_abs().into()));
                } else {
                    let strip = line
                        .len()
                        .min(d.unsigned_abs().into())
                        .min(line.len() - line.trim_start().len());
                    line.drain(..strip);
                }
            }
            YamlEdit::Value(l, fragment) => {
                let line = &mut lines[l % n];
                *line = match line.split_once(": ") {
                    Some((key, _)) => format!("{key}: {fragment}"),
                    None => fragment.clone(),
                };
            }
            YamlEdit::Key(l, fragment) => {
                let line = &mut lines[l % n];
                if let Some((key, value)) = line.split_once(':') {
                    let indent = &key[..key.len() - key.trim_start().len()];
                    *line = format!("{indent}{fragment}:{value}");
                }
            }
            YamlEdit::Insert(l, fragment, indent) => {
                lines.insert(
                    l % (n + 1),
                    format!("{}{fragment}", " ".repeat((*indent).into())),
                );
            }
            YamlEdit::Truncate(at) => truncate = Some(*at),
        }
    }
    let mut bytes = (lines.join("\n") + "\n").into_bytes();
    if let Some(at) = truncate {
        bytes.truncate(bytes.len() * usize::from(at) / 256);
    }
    bytes
}

/// A mutation of a desired-state (JSON) file: a key set to a fragment (as a JSON string or as
/// raw text), removed, or added.
fn mutate_json(text: &str, key: &str, fragment: &str, raw: bool, remove: bool) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text) else {
        return text.as_bytes().to_vec();
    };
    if remove {
        object.remove(key);
    } else {
        object.insert(
            key.to_owned(),
            serde_json::Value::String(fragment.to_owned()),
        );
    }
    let json = serde_json::Value::Object(object).to_string();
    if raw {
        // the fragment as raw text where its quoted string was (often not JSON)
        let quoted = serde_json::Value::String(fragment.to_owned()).to_string();
        return json.replacen(&quoted, fragment, 1).into_bytes();
    }
    json.into_bytes()
}

/// The example repository with `path` set to `bytes`.
fn example_with(path: &str, bytes: Vec<u8>) -> Files {
    let mut files = crate::example_files();
    files.insert(path.to_owned(), bytes);
    files
}

const YAML_FILES: [&str; 3] = ["gitops.yaml", "mfes/checkout.yaml", "mfes/search.yaml"];

const DEPLOYMENT_KEYS: [&str; 15] = [
    "mfe",
    "environment",
    "version",
    "sha",
    "ref",
    "repository",
    "requested_by",
    "requested_at",
    "request_id",
    "rollback",
    "cache_invalidation_keys",
    "pinned",
    "sequence",
    "extra",
    "",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fuzz_arbitrary_bytes_as_gitops_yaml(bytes in arb_bytes()) {
        load_and_check(&example_with("gitops.yaml", bytes))?;
    }

    #[test]
    fn fuzz_arbitrary_bytes_as_an_mfe_file(
        bytes in arb_bytes(),
        name in prop::sample::select(vec!["checkout", "search", "fuzz", "Fuzz", "a b", "é", ".", ""]),
        ext in prop::sample::select(vec!["yaml", "yml"]),
    ) {
        load_and_check(&example_with(&format!("mfes/{name}.{ext}"), bytes))?;
    }

    #[test]
    fn fuzz_arbitrary_bytes_as_a_deployment(
        bytes in arb_bytes(),
        env in prop::sample::select(vec!["dev", "staging", "prod", "qa", "Dev", "é", ""]),
        name in prop::sample::select(vec!["checkout", "search", "fuzz", "a b", ""]),
    ) {
        load_and_check(&example_with(&format!("deployments/{env}/{name}.json"), bytes))?;
    }

    #[test]
    fn fuzz_yaml_mutations_of_the_example(
        file in prop::sample::select(YAML_FILES.to_vec()),
        edits in prop::collection::vec(arb_yaml_edit(), 1..4),
    ) {
        let text = String::from_utf8(crate::example_files()[file].clone()).unwrap_or_default();
        load_and_check(&example_with(file, apply(&text, &edits)))?;
    }

    #[test]
    fn fuzz_json_mutations_of_the_example(
        file in prop::sample::select(vec!["deployments/dev/checkout.json", "deployments/staging/checkout.json"]),
        key in prop::sample::select(DEPLOYMENT_KEYS.to_vec()),
        fragment in prop::sample::select(fragments()),
        raw in any::<bool>(),
        remove in any::<bool>(),
    ) {
        let text = String::from_utf8(crate::example_files()[file].clone()).unwrap_or_default();
        load_and_check(&example_with(file, mutate_json(&text, key, &fragment, raw, remove)))?;
    }
}

/// The harness can fail: a problem naming no file, a line outside its file, a problem that
/// repeats the marker and a refusal without a problem are all caught, and so is a panic.
#[test]
fn fuzz_harness_catches_bad_outcomes() {
    let files = crate::example_files();
    let problem = |file: &str, line: Option<usize>, message: &str| ConfigProblem {
        file: file.to_owned(),
        line,
        field: None,
        message: message.to_owned(),
    };
    for bad in [
        vec![],
        vec![problem("nowhere.yaml", None, "x")],
        vec![problem("gitops.yaml", Some(10_000), "x")],
        vec![problem(
            "mfes/checkout.yaml",
            None,
            &format!("bad value {MARKER}"),
        )],
    ] {
        assert!(check(&files, &Err(bad.clone())).is_err(), "{bad:?}");
    }
    assert!(check(&files, &Repository::from_files(&files)).is_ok());
    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    let panicking = runner.run(&any::<u8>(), |_| -> Result<(), TestCaseError> {
        panic!("loader panicked")
    });
    assert!(panicking.is_err(), "a panic went unnoticed");
    // the marker planted in a value reaches the loader (it is refused, without being shown)
    let planted = example_with(
        "mfes/checkout.yaml",
        apply(
            &String::from_utf8(files["mfes/checkout.yaml"].clone()).unwrap(),
            &[YamlEdit::Value(1, MARKER.to_owned())],
        ),
    );
    let problems = Repository::from_files(&planted).unwrap_err();
    assert!(check(&planted, &Err(problems)).is_ok());
}

/// The problems of the example repository with `path`'s `key` set to `value` (JSON files: the
/// key's value; YAML files: the `key:` line).
fn problems_with(path: &str, key: &str, value: &str) -> Vec<ConfigProblem> {
    let files = crate::example_files();
    let text = String::from_utf8(files[path].clone()).unwrap();
    let bytes = if path.ends_with(".json") {
        mutate_json(&text, key, value, false, false)
    } else {
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("{key}:")))
            .unwrap();
        apply(&text, &[YamlEdit::Value(line, value.to_owned())])
    };
    let files = example_with(path, bytes);
    let outcome = Repository::from_files(&files);
    check(&files, &outcome).unwrap();
    outcome.unwrap_err()
}

/// Found by `fuzz_json_mutations_of_the_example`: a desired state whose `environment` or `mfe`
/// is a valid name other than its path's was refused with a message quoting the name in full.
#[test]
fn fuzz_regression_a_name_that_disagrees_with_the_path_is_not_quoted() {
    for (key, expected) in [
        ("environment", "does not match the directory"),
        ("mfe", "does not match the file name"),
        ("mfe", "has no file under mfes/"),
    ] {
        let problems = problems_with("deployments/dev/checkout.json", key, NAME_MARKER);
        assert!(
            problems
                .iter()
                .any(|p| p.field.as_deref() == Some(key) && p.message.contains(expected)),
            "{expected}: {problems:?}"
        );
    }
    let problems = problems_with("mfes/checkout.yaml", "name", NAME_MARKER);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("must be described in mfes/")),
        "{problems:?}"
    );
    // a short name is still shown
    let problems = problems_with("deployments/dev/checkout.json", "environment", "staging");
    assert!(
        problems.iter().any(|p| p
            .message
            .starts_with("`staging` does not match the directory")),
        "{problems:?}"
    );
}

/// Found by `fuzz_yaml_mutations_of_the_example`: a key repeated under a long key was reported
/// with the YAML parser's path, which is made of the file's own keys, in front of the message.
#[test]
fn fuzz_regression_a_repeated_key_is_reported_without_the_keys_above_it() {
    for parent in [NAME_MARKER, MARKER, &format!("acme/{NAME_MARKER}")] {
        let yaml = format!("version: 1\n{parent}:\n  a: 1\n  a: 2\nenvironments: []\n");
        let files = example_with("gitops.yaml", yaml.into_bytes());
        let outcome = Repository::from_files(&files);
        check(&files, &outcome).unwrap();
        let problems = outcome.unwrap_err();
        let p = &problems[0];
        assert_eq!(
            (p.file.as_str(), p.line, p.field.as_deref()),
            ("gitops.yaml", Some(3), None),
            "{p}"
        );
        assert!(p.message.contains("more than once"), "{p}");
    }
    // a path of short keys is kept
    let yaml = "version: 1\nenvironments:\n  - name: dev\n    name: qa\n";
    let files = example_with("gitops.yaml", yaml.as_bytes().to_vec());
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(
        problems[0].field.as_deref(),
        Some("environments[0]"),
        "{problems:?}"
    );
}
