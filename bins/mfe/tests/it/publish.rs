//! `mfe publish` to a local directory, then the sidecar is checked.

use std::process::Command;

use super::{MFE, text};

fn publish(cwd: &std::path::Path, dist: &str, version: &str) -> std::process::Output {
    Command::new(MFE)
        .current_dir(cwd)
        .args([
            "publish",
            "--dist",
            dist,
            "--mfe",
            "checkout",
            "--version",
            version,
            "--to",
            "store/{name}/{name}-{version}.tgz",
        ])
        .output()
        .unwrap()
}

#[test]
fn publish_to_a_local_store_writes_artifact_and_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("remoteEntry.js"), "export default 1;\n").unwrap();
    std::fs::write(dist.join("assets/app.3f2a.js"), "console.log(1);\n").unwrap();

    let out = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let artifact = dir.path().join("store/checkout/checkout-1.2.3.tgz");
    let bytes = std::fs::read(&artifact).unwrap();
    let sha = gitops_artifact_store::sha256_hex(&bytes);
    assert!(stdout.contains(&format!("sha256: {sha}")), "{stdout}");
    assert!(
        stdout.contains("store/checkout/checkout-1.2.3.tgz"),
        "{stdout}"
    );
    let sidecar =
        std::fs::read_to_string(dir.path().join("store/checkout/checkout-1.2.3.tgz.sha256"))
            .unwrap();
    assert_eq!(sidecar, format!("{sha}  checkout-1.2.3.tgz\n"));
    assert_eq!(
        gitops_artifact_store::parse_sidecar(&sidecar, "checkout-1.2.3.tgz", "checkout-1.2.3.tgz")
            .unwrap(),
        sha
    );
    // The archive holds the files under package/, like npm pack.
    let mut names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["package/assets/app.3f2a.js", "package/remoteEntry.js"]
    );

    // Reproducible: the same build publishes again as identical.
    let again = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("already published"));

    // A different build under the same version is refused.
    std::fs::write(dist.join("remoteEntry.js"), "export default 2;\n").unwrap();
    let conflict = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(
        conflict.status.code(),
        Some(1),
        "{}",
        text(&conflict.stderr)
    );
    assert!(
        text(&conflict.stderr).contains("immutable"),
        "{}",
        text(&conflict.stderr)
    );
    assert_eq!(std::fs::read(&artifact).unwrap(), bytes);
}

#[test]
fn bad_version_or_missing_dist_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/a.js"), "1").unwrap();
    let out = publish(dir.path(), "dist", "1.2");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = publish(dir.path(), "nowhere", "1.2.3");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!dir.path().join("store").exists());
}
