//! deploy, status and bootstrap on the embedded backends (local files, SQLite, invalidation log).

use std::path::Path;
use std::process::{Command, Output};

fn gitops(args: &[&str]) -> Output {
    Command::new(crate::gitops_bin())
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
}

/// The example repository with a packed, checksummed artifact for checkout 1.4.0.
fn repo_with_artifact() -> tempfile::TempDir {
    let repo = crate::repo_copy();
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("remoteEntry.js"), "// checkout\n").unwrap();
    let archive = gitops_artifact_store::pack_dir(dist.path()).unwrap();
    let dir = repo.path().join("local/artifacts/checkout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("checkout-1.4.0.tgz"), &archive).unwrap();
    std::fs::write(
        dir.join("checkout-1.4.0.tgz.sha256"),
        gitops_artifact_store::sidecar_line(
            &gitops_artifact_store::sha256_hex(&archive),
            "checkout-1.4.0.tgz",
        ),
    )
    .unwrap();
    repo
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bootstrap_deploy_status_on_embedded_backends() {
    let repo = repo_with_artifact();
    let r = repo.path().to_str().unwrap();
    // Before bootstrap, --check names every missing target (exit 1) and creates nothing.
    let real = repo.path().canonicalize().unwrap();
    let targets = |env: &str| {
        ["storage", "registry", "cdn"].map(|kind| {
            let file = match kind {
                "storage" => "storage",
                "registry" => "registry.db",
                _ => "cdn.log",
            };
            format!(
                "{env}: {kind} {}: ",
                real.join("local").join(env).join(file).display()
            )
        })
    };
    // The state directory holds the artifact only: no environment's directory appears.
    let created = || {
        ["dev", "staging", "prod"]
            .into_iter()
            .filter(|env| repo.path().join("local").join(env).exists())
            .collect::<Vec<_>>()
    };
    let check = gitops(&["bootstrap", "--check", "--repo", r]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    let said = String::from_utf8_lossy(&check.stderr).into_owned();
    for env in ["dev", "staging", "prod"] {
        for target in targets(env) {
            assert!(said.contains(&format!("{target}MISSING")), "{said}");
        }
    }
    assert_eq!(said.matches("MISSING").count(), 9, "{said}");
    assert!(!stdout(&check).contains("target(s) exist"));
    assert!(
        created().is_empty(),
        "--check creates nothing: {:?}",
        created()
    );
    let check = gitops(&["bootstrap", "--check", "--repo", r, "--env", "staging"]);
    assert_eq!(check.status.code(), Some(1));
    let said = String::from_utf8_lossy(&check.stderr).into_owned();
    assert_eq!(said.matches("MISSING").count(), 3, "--env limits: {said}");
    for target in targets("staging") {
        assert!(said.contains(&format!("{target}MISSING")), "{said}");
    }
    assert!(
        created().is_empty(),
        "--check --env creates nothing: {:?}",
        created()
    );

    assert_eq!(gitops(&["bootstrap", "--repo", r]).status.code(), Some(0));
    assert!(repo.path().join("local/prod/registry.db").is_file());
    let check = gitops(&["bootstrap", "--check", "--repo", r]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let said = stdout(&check);
    for target in ["dev", "staging", "prod"].into_iter().flat_map(targets) {
        assert!(said.contains(&format!("{target}exists")), "{said}");
    }
    assert!(said.contains("all 9 target(s) exist"), "{said}");
    let check = gitops(&["bootstrap", "--check", "--repo", r, "--env", "dev"]);
    assert_eq!(check.status.code(), Some(0));
    let said = stdout(&check);
    assert!(said.contains("all 3 target(s) exist"), "{said}");
    assert!(
        !said.contains("staging") && !said.contains("prod"),
        "{said}"
    );

    let out = gitops(&["deploy", "--repo", r, "--env", "dev"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("dev/checkout 1.4.0: deployed"),
        "{}",
        stdout(&out)
    );
    let storage = repo.path().join("local/dev/storage");
    assert!(storage.join("mfe/checkout/1.4.0/remoteEntry.js").is_file());
    assert!(storage.join("mfe/checkout/remoteEntry.js").is_file());
    assert!(
        std::fs::read_to_string(storage.join("importmap.json"))
            .unwrap()
            .contains("/mfe/checkout/1.4.0/remoteEntry.js")
    );
    let log = std::fs::read_to_string(repo.path().join("local/dev/cdn.log")).unwrap();
    assert_eq!(log.lines().count(), 1);
    assert!(
        !repo.path().join("local/staging/storage/mfe").exists(),
        "--env limits the deploy"
    );

    // Unchanged re-deploy: nothing touched.
    let out = gitops(&["deploy", "--repo", r, "--env", "dev"]);
    assert!(stdout(&out).contains("already live"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("local/dev/cdn.log"))
            .unwrap()
            .lines()
            .count(),
        1
    );

    let out = gitops(&["status", "--repo", r, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let dev = rows.iter().find(|row| row["environment"] == "dev").unwrap();
    assert_eq!(
        (
            dev["mfe"].as_str(),
            dev["version"].as_str(),
            dev["differs"].as_bool()
        ),
        (Some("checkout"), Some("1.4.0"), Some(false))
    );
    assert!(dev["deployed_at"].is_string());
    let staging = rows
        .iter()
        .find(|row| row["environment"] == "staging")
        .unwrap();
    assert!(staging["version"].is_null());
    assert_eq!(staging["differs"], true);
    // dev is in sync, staging desires 1.4.0 but has nothing live: drift, exit 1.
    let out = gitops(&["drift", "--repo", r]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("drift: staging/checkout: not-deployed: desired 1.4.0 is not live"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        gitops(&["drift", "--repo", r, "--env", "dev"])
            .status
            .code(),
        Some(0)
    );
    let table = stdout(&gitops(&["status", "--repo", r]));
    assert!(table.starts_with("ENVIRONMENT"), "{table}");
}

#[test]
fn a_tampered_artifact_fails_the_deploy_and_changes_nothing_live() {
    let repo = repo_with_artifact();
    let r = repo.path().to_str().unwrap();
    let artifact = repo
        .path()
        .join("local/artifacts/checkout/checkout-1.4.0.tgz");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&artifact, bytes).unwrap();
    let out = gitops(&["deploy", "--repo", r, "--env", "dev"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAILED"));
    assert!(!Path::new(&repo.path().join("local/dev/storage/mfe")).exists());
    let rows: serde_json::Value = serde_json::from_slice(
        &gitops(&["status", "--repo", r, "--env", "dev", "--format", "json"]).stdout,
    )
    .unwrap();
    assert!(rows[0]["version"].is_null());
}
