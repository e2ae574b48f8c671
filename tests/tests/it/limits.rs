//! `limits:` in `mfes/<mfe>.yaml` through the `gitops` binary: an artifact over its MFE's limit
//! is refused (exit 1) naming the limit and the file to raise it in, with nothing uploaded;
//! raised, the same artifact deploys.

use crate::support::{Repo, both, files_under};

/// `len` bytes gzip cannot shrink (a xorshift sequence), so the archive is larger than `len`.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Rewrites checkout's `limits:` (appended to the file `Repo::new` wrote) and commits it.
fn set_limits(repo: &Repo, base: &str, limits: &str) {
    std::fs::write(
        repo.path().join("mfes/checkout.yaml"),
        format!("{base}{limits}"),
    )
    .unwrap();
    repo.commit_all("checkout's limits");
}

#[test]
fn an_artifact_over_its_mfes_limit_is_refused_until_the_limit_is_raised() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let base = std::fs::read_to_string(repo.path().join("mfes/checkout.yaml")).unwrap();
    set_limits(&repo, &base, "limits:\n  max_archive_bytes: 2KiB\n");
    let asset = incompressible(8 * 1024);
    repo.publish_files(
        "checkout",
        "1.0.0",
        &[
            ("remoteEntry.js", b"// checkout 1.0.0\n"),
            ("assets/blob.3f7a9c1e.bin", &asset),
        ],
    );
    repo.desire("checkout", "dev", "1.0.0");

    let out = repo.gitops(&["deploy"]);
    let said = both(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("max_archive_bytes limit of 2048 bytes;"),
        "{said}"
    );
    assert!(
        said.contains("raise `limits.max_archive_bytes` in mfes/checkout.yaml"),
        "{said}"
    );
    let uploaded = files_under(&repo.storage("dev"));
    assert!(
        uploaded
            .iter()
            .all(|f| !f.to_string_lossy().contains("checkout")),
        "{uploaded:?}"
    );
    let row = repo.status("dev", "checkout");
    assert_eq!(row["version"], serde_json::Value::Null, "{row}");

    set_limits(&repo, &base, "limits:\n  max_archive_bytes: 1MiB\n");
    let out = repo.ok(&["deploy"]);
    assert!(out.contains("dev/checkout 1.0.0: deployed"), "{out}");
    let row = repo.status("dev", "checkout");
    assert_eq!(
        (&row["version"], &row["state"]),
        (&"1.0.0".into(), &"in-sync".into()),
        "{row}"
    );
    assert!(
        repo.storage("dev")
            .join("mfe/checkout/1.0.0/assets/blob.3f7a9c1e.bin")
            .is_file()
    );
}
