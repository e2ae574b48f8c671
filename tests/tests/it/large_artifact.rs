//! A large artifact through the `gitops` binary: memory stays flat as the artifact grows (the
//! archive is spooled to disk while hashed, its files unpacked to disk and uploaded from there,
//! large ones in parts), and the spool directory is gone after the deploy, deployed or refused.
//! Peak memory is the process's own `ru_maxrss` from `wait4` (python3's `os.wait4`; exact, not
//! polled); the bound compares two deploys of the same run, never a timing.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Repo, both};

/// `len` bytes gzip cannot shrink (a xorshift sequence from `seed`).
fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A `.tgz` of `files` under `package/`, stored without compression (the data would not
/// shrink anyway; compressing it in a debug build is the slow part).
fn stored_tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{name}"), *data)
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Runs `gitops deploy` in `repo` with `TMPDIR` set to `tmp`; its output and peak RSS in KiB.
fn deploy_measured(repo: &Repo, tmp: &Path) -> (std::process::Output, u64) {
    let report = tmp.join("rusage.json");
    let wrapper = "import json, os, sys\n\
pid = os.fork()\n\
if pid == 0:\n    os.execv(sys.argv[2], sys.argv[2:])\n\
_, status, usage = os.wait4(pid, 0)\n\
json.dump({'maxrss_kib': usage.ru_maxrss, 'code': os.waitstatus_to_exitcode(status)}, open(sys.argv[1], 'w'))\n\
sys.exit(os.waitstatus_to_exitcode(status))\n";
    let command = repo.command(&["deploy"]);
    let gitops = crate::gitops_bin();
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(wrapper)
        .arg(&report)
        .arg(&gitops)
        .arg("deploy")
        .current_dir(repo.path())
        .stdin(Stdio::null())
        .env("TMPDIR", tmp);
    // The same environment the support's command has (its scrubbed variables removed).
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => python.env(key, value),
            None => python.env_remove(key),
        };
    }
    let out = python.output().expect("python3 runs (the wait4 wrapper)");
    let usage: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or_else(|e| {
            panic!(
                "no resource usage ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out, usage["maxrss_kib"].as_u64().unwrap())
}

fn spool_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gitops-artifact-"))
        .collect()
}

#[test]
fn deploying_a_96_mib_artifact_takes_no_more_memory_than_a_small_one() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let tmp = tempfile::tempdir().unwrap();
    let entry: &[u8] = b"// checkout\n";

    let small = incompressible(512 * 1024, 1);
    repo.write_artifact(
        "checkout",
        "1.0.0",
        &stored_tgz(&[("remoteEntry.js", entry), ("assets/a.1b2c3d4e.bin", &small)]),
    );
    repo.desire("checkout", "dev", "1.0.0");
    let (out, small_kib) = deploy_measured(&repo, tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        spool_dirs(tmp.path()).is_empty(),
        "{:?}",
        spool_dirs(tmp.path())
    );

    // 96 MB: six 12 MiB files (uploaded in parts) and forty 600 KiB ones.
    let big: Vec<Vec<u8>> = (0..6).map(|i| incompressible(12 << 20, 10 + i)).collect();
    let chunk: Vec<Vec<u8>> = (0..40)
        .map(|i| incompressible(600 * 1024, 100 + i))
        .collect();
    let mut names: Vec<(String, &[u8])> = vec![("remoteEntry.js".to_owned(), entry)];
    names.extend(
        big.iter()
            .enumerate()
            .map(|(i, d)| (format!("assets/big-{i}.{i:08x}.bin"), d.as_slice())),
    );
    names.extend(
        chunk
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("chunks/{i}.{i:08x}.js"), d.as_slice())),
    );
    let files: Vec<(&str, &[u8])> = names.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let archive = stored_tgz(&files);
    assert!(archive.len() > 95 << 20, "{}", archive.len());
    repo.write_artifact("checkout", "2.0.0", &archive);
    repo.desire("checkout", "dev", "2.0.0");
    let (out, big_kib) = deploy_measured(&repo, tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        both(&out).contains("dev/checkout 2.0.0: deployed"),
        "{}",
        both(&out)
    );
    assert!(
        spool_dirs(tmp.path()).is_empty(),
        "{:?}",
        spool_dirs(tmp.path())
    );
    let stored = std::fs::read(
        repo.storage("dev")
            .join("mfe/checkout/2.0.0/assets/big-3.00000003.bin"),
    )
    .unwrap();
    assert!(stored == big[3], "a large file arrived intact");

    eprintln!("peak RSS: {small_kib} KiB (small artifact), {big_kib} KiB (96 MB artifact)");
    // Held whole, the archive alone would add 95 MiB (and its files as many again). Streamed,
    // it adds the upload's in-flight budget at most (8 MiB; measured: about 5 MiB): 16 MiB
    // leaves room for a noisy run, not for a buffer that grows with the artifact.
    assert!(
        big_kib < small_kib + 16 * 1024,
        "peak RSS {big_kib} KiB for the 96 MiB artifact, {small_kib} KiB for the small one"
    );

    // Refused (a file too many): nothing spooled is left behind either.
    let base = std::fs::read_to_string(repo.path().join("mfes/checkout.yaml")).unwrap();
    std::fs::write(
        repo.path().join("mfes/checkout.yaml"),
        format!("{base}limits:\n  max_files: 10\n"),
    )
    .unwrap();
    repo.commit_all("checkout admits ten files");
    repo.write_artifact("checkout", "3.0.0", &archive);
    repo.desire("checkout", "dev", "3.0.0");
    let (out, _) = deploy_measured(&repo, tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(both(&out).contains("max_files"), "{}", both(&out));
    assert!(
        spool_dirs(tmp.path()).is_empty(),
        "{:?}",
        spool_dirs(tmp.path())
    );
}
