//! Hostile repository files (issue 10 item 9): only regular files really inside the repository
//! are read, each with a size bound, a FIFO never blocks, and no problem echoes file content.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use gitops_iac_config::{
    ConfigProblem, MAX_CONFIG_BYTES, MAX_DEPLOYMENT_BYTES, MAX_FILES, MAX_MFE_BYTES, Repository,
};

/// A copy of the example repository in a fresh directory.
fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, bytes) in crate::example_files() {
        let path = dir.path().join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// `load_dir` on another thread: it must answer within five seconds (a FIFO must not block it).
fn load_promptly(dir: &Path) -> Result<Repository, Vec<ConfigProblem>> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(Repository::load_dir(&dir));
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("load_dir did not return within 5 s")
}

fn problem_of<'a>(problems: &'a [ConfigProblem], file: &str) -> &'a ConfigProblem {
    problems
        .iter()
        .find(|p| p.file == file)
        .unwrap_or_else(|| panic!("no problem for {file}: {problems:?}"))
}

#[test]
fn the_copied_example_loads() {
    // the baseline the other tests break one thing of
    let dir = example_copy();
    assert_eq!(load_promptly(dir.path()).unwrap(), crate::example());
}

#[test]
fn a_symlink_to_dev_zero_is_refused_without_reading() {
    let dir = example_copy();
    symlink("/dev/zero", dir.path().join("mfes/z.yaml")).unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    let p = problem_of(&problems, "mfes/z.yaml");
    assert!(p.message.contains("symbolic link"), "{p}");
}

#[test]
fn a_fifo_is_refused_promptly() {
    let dir = example_copy();
    let fifo = dir.path().join("mfes/f.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let problems = load_promptly(dir.path()).unwrap_err();
    let p = problem_of(&problems, "mfes/f.yaml");
    assert!(p.message.contains("FIFO"), "{p}");
    // a FIFO where a desired-state file belongs, too
    std::fs::remove_file(&fifo).unwrap();
    let fifo = dir.path().join("deployments/dev/search.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "deployments/dev/search.json")
            .message
            .contains("FIFO")
    );
}

#[test]
fn a_socket_and_a_directory_are_not_files() {
    let dir = example_copy();
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("mfes/s.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("mfes/d.yaml")).unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "mfes/s.yaml")
            .message
            .contains("a socket")
    );
    assert!(
        problem_of(&problems, "mfes/d.yaml")
            .message
            .contains("a directory")
    );
}

#[test]
fn a_symlink_to_etc_passwd_is_refused_and_never_echoed() {
    let dir = example_copy();
    symlink("/etc/passwd", dir.path().join("mfes/p.yaml")).unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "mfes/p.yaml")
            .message
            .contains("symbolic link")
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let shown = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for line in passwd.lines().filter(|l| !l.trim().is_empty()) {
        assert!(!shown.contains(line), "{line} appears in {shown}");
    }
    // the same bytes handed in directly are parsed, and still not echoed
    let mut files = crate::example_files();
    files.insert("mfes/p.yaml".into(), passwd.clone().into_bytes());
    let problems = Repository::from_files(&files).unwrap_err();
    let shown = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for line in passwd.lines().filter(|l| !l.trim().is_empty()) {
        assert!(!shown.contains(line), "{line} appears in {shown}");
        for field in line.split(':').filter(|f| f.len() > 3) {
            assert!(!shown.contains(field), "{field} appears in {shown}");
        }
    }
}

#[test]
fn a_symlink_to_a_file_inside_the_repository_is_refused_too() {
    // even a link that stays inside: the file used for policy must be the file in the tree
    let dir = example_copy();
    std::fs::rename(
        dir.path().join("mfes/search.yaml"),
        dir.path().join("search.yaml"),
    )
    .unwrap();
    symlink("../search.yaml", dir.path().join("mfes/search.yaml")).unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "mfes/search.yaml")
            .message
            .contains("symbolic link")
    );
}

#[test]
fn symlinked_directories_are_refused() {
    let outside = example_copy();
    // mfes/ -> a directory outside the repository
    let dir = example_copy();
    std::fs::remove_dir_all(dir.path().join("mfes")).unwrap();
    symlink(outside.path().join("mfes"), dir.path().join("mfes")).unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "mfes")
            .message
            .contains("symbolic link")
    );
    // deployments/dev -> a directory outside the repository
    let dir = example_copy();
    std::fs::remove_dir_all(dir.path().join("deployments/dev")).unwrap();
    symlink(
        outside.path().join("deployments/dev"),
        dir.path().join("deployments/dev"),
    )
    .unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "deployments/dev")
            .message
            .contains("symbolic link")
    );
    // deployments/ itself
    let dir = example_copy();
    std::fs::remove_dir_all(dir.path().join("deployments")).unwrap();
    symlink(
        outside.path().join("deployments"),
        dir.path().join("deployments"),
    )
    .unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "deployments")
            .message
            .contains("symbolic link")
    );
    // gitops.yaml
    let dir = example_copy();
    std::fs::remove_file(dir.path().join("gitops.yaml")).unwrap();
    symlink(
        outside.path().join("gitops.yaml"),
        dir.path().join("gitops.yaml"),
    )
    .unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "gitops.yaml")
            .message
            .contains("symbolic link")
    );
}

#[test]
fn a_file_where_a_directory_belongs_is_refused() {
    let dir = example_copy();
    std::fs::remove_dir_all(dir.path().join("mfes")).unwrap();
    std::fs::write(dir.path().join("mfes"), "name: x\n").unwrap();
    let problems = load_promptly(dir.path()).unwrap_err();
    assert!(
        problem_of(&problems, "mfes")
            .message
            .contains("a directory was expected")
    );
}

#[test]
fn oversized_files_are_refused_on_disk_and_in_memory() {
    for (rel, bound) in [
        ("gitops.yaml", MAX_CONFIG_BYTES),
        ("mfes/search.yaml", MAX_MFE_BYTES),
        ("deployments/dev/checkout.json", MAX_DEPLOYMENT_BYTES),
    ] {
        // valid content padded with a comment or whitespace to one byte past the bound
        let mut content = crate::example_files()[rel].clone();
        let pad = if rel.ends_with(".json") { b' ' } else { b'#' };
        if pad == b'#' {
            content.push(b'\n');
        }
        content.resize(bound + 1, pad);
        let dir = example_copy();
        std::fs::write(dir.path().join(rel), &content).unwrap();
        let problems = load_promptly(dir.path()).unwrap_err();
        let p = problem_of(&problems, rel);
        assert!(p.message.contains("larger than"), "{p}");
        let mut files = crate::example_files();
        files.insert(rel.into(), content.clone());
        let problems = Repository::from_files(&files).unwrap_err();
        assert!(problem_of(&problems, rel).message.contains("larger than"));
        // exactly the bound is fine
        content.truncate(bound);
        files.insert(rel.into(), content.clone());
        Repository::from_files(&files).unwrap();
        std::fs::write(dir.path().join(rel), &content).unwrap();
        load_promptly(dir.path()).unwrap();
    }
}

#[test]
fn too_many_files_are_refused() {
    let dir = example_copy();
    for i in 0..=MAX_FILES {
        std::fs::write(dir.path().join(format!("mfes/n{i}.txt")), "").unwrap();
    }
    let problems = load_promptly(dir.path()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].message.contains("more than 10000 files"),
        "{}",
        problems[0]
    );
    // in memory, only the repository's own files count
    let mut files = crate::example_files();
    for i in 0..=MAX_FILES {
        files.insert(format!("deployments/dev/n{i}.json"), b"{}".to_vec());
    }
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("at most 10000"));
}

const SECRET: &str = "ghp_R4nd0mS3cr3tT0k3nV4lu3XXXXXXXXXXXXXX";

fn assert_no_secret(problems: &[ConfigProblem]) {
    for p in problems {
        let text = format!("{p} {p:?}");
        assert!(!text.contains("S3cr3t"), "{text}");
        assert!(!text.contains("root:x"), "{text}");
    }
}

#[test]
fn parser_messages_never_quote_values() {
    // a type error (the parser would quote the string)
    let mut files = crate::example_files();
    files.insert(
        "mfes/search.yaml".into(),
        format!("name: search\nrepository: acme/search-mfe\nartifact: a-{{version}}.tgz\nenvironments: \"{SECRET}\"\n").into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, Some(4));
    assert_eq!(problems[0].field.as_deref(), Some("environments"));
    assert!(
        problems[0].message.contains("invalid type"),
        "{}",
        problems[0]
    );
    assert_no_secret(&problems);
    // an unknown field named like a secret is not shown; a short one is
    files.insert(
        "mfes/search.yaml".into(),
        format!("name: search\n{SECRET}: 1\n").into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(problems[0].line, Some(2));
    assert!(
        problems[0].message.contains("unknown field `…`"),
        "{}",
        problems[0]
    );
    assert_no_secret(&problems);
    // a target value that fails its rule
    let base = String::from_utf8(crate::example_files()["gitops.yaml"].clone()).unwrap();
    files.insert(
        "gitops.yaml".into(),
        base.replace(
            "storage: local/dev/storage",
            "storage: \"root:x:0:0:root:/root:/bin/bash\"",
        )
        .into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert!(!problems.is_empty());
    assert_no_secret(&problems);
    // JSON: a type error and a field check from the event model
    let mut files = crate::example_files();
    let base =
        String::from_utf8(crate::example_files()["deployments/dev/checkout.json"].clone()).unwrap();
    files.insert(
        "deployments/dev/checkout.json".into(),
        base.replace("false", &format!("\"{SECRET}\"")).into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(problems[0].line, Some(11), "{problems:?}");
    assert_no_secret(&problems);
    files.insert(
        "deployments/dev/checkout.json".into(),
        base.replace("1.4.0", SECRET).into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert_eq!(
        problems[0].field.as_deref(),
        Some("version"),
        "{problems:?}"
    );
    assert_no_secret(&problems);
    // a YAML syntax error next to a secret
    let mut files = crate::example_files();
    files.insert(
        "mfes/search.yaml".into(),
        format!("name: search\nrepository: {{{SECRET}\n").into_bytes(),
    );
    let problems = Repository::from_files(&files).unwrap_err();
    assert_no_secret(&problems);
}
