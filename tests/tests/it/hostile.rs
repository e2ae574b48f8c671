//! Hostile input and unlucky operators (issue 10, items 9-13): bounded, unambiguous, contained;
//! through the `gitops` binary.

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Repo, both};

/// Runs `command` to its end, killing it after `limit` (a hang is a failure, not a stuck test).
fn bounded(
    mut command: std::process::Command,
    limit: Duration,
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", both(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn repository_files_are_read_only_when_regular_bounded_and_inside() {
    type Make<'a> = &'a dyn Fn(&std::path::Path);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let cases: [(&str, Make); 4] = [
        ("/dev/zero", &|p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap();
        }),
        ("/etc/passwd", &|p| {
            std::os::unix::fs::symlink("/etc/passwd", p).unwrap();
        }),
        ("a FIFO", &|p| {
            let status = std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .unwrap();
            assert!(status.success());
        }),
        ("a file outside", &|p| {
            let outside =
                std::env::temp_dir().join(format!("outside-{}.yaml", ulid::Ulid::generate()));
            std::fs::write(
                &outside,
                "name: p\nrepository: evil/p\nartifact: x-{version}.tgz\nenvironments: [dev]\n",
            )
            .unwrap();
            std::os::unix::fs::symlink(outside, p).unwrap();
        }),
    ];
    for (what, make) in cases {
        let repo = Repo::new(&["dev"], &["checkout"]);
        make(&repo.path().join("mfes/p.yaml"));
        let (out, took) = bounded(repo.command(&["check"]), Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(1), "{what}: {}", both(&out));
        assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
        let text = both(&out);
        assert!(text.contains("mfes/p.yaml"), "{what}: {text}");
        for line in passwd.lines().filter(|l| l.len() > 8) {
            assert!(!text.contains(line), "{what}: echoed {line:?}");
        }
    }
}

#[test]
fn dangerous_embedded_targets_are_refused() {
    for target in [
        ".git",
        ".",
        "/",
        "..",
        "local/../../x",
        "/tmp/anywhere",
        "mfes",
    ] {
        let repo = Repo::new(&["dev"], &["checkout"]);
        let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
        std::fs::write(
            repo.path().join("gitops.yaml"),
            config.replace(
                "storage: local/dev/storage",
                &format!("storage: {target:?}"),
            ),
        )
        .unwrap();
        let out = repo.gitops(&["check"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "storage {target}: {}",
            both(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("storage"),
            "{}",
            both(&out)
        );
    }
    // A committed symlink cannot take an embedded target out of the state directory.
    let repo = Repo::new(&["dev"], &["checkout"]);
    std::fs::remove_dir_all(repo.path().join("local/dev")).unwrap();
    std::os::unix::fs::symlink(repo.path().join(".git"), repo.path().join("local/dev")).unwrap();
    repo.publish("checkout", "1.0.0");
    let (report, code) = repo.process("checkout", "dev", "1.0.0");
    assert_eq!(code, 0, "{report}");
    repo.ok(&["merge", "--all"]);
    let out = repo.gitops(&["deploy"]);
    assert_ne!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!repo.path().join(".git/storage").exists());
    assert!(!repo.path().join(".git/registry.db").exists());
    // Environment names are unique case-insensitively.
    let repo = Repo::new(&["dev"], &["checkout"]);
    let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
    let twin = config
        .lines()
        .skip(2)
        .collect::<Vec<_>>()
        .join("\n")
        .replace("name: dev", "name: Dev")
        .replace("local/dev", "local/dev2");
    std::fs::write(repo.path().join("gitops.yaml"), format!("{config}{twin}\n")).unwrap();
    assert_eq!(repo.gitops(&["check"]).status.code(), Some(1));
}

#[test]
fn ambiguous_requests_are_refused() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let event = repo.request("checkout", "dev", "1.0.0");
    let text = std::fs::read_to_string(&event).unwrap();
    // `repository` twice: JavaScript would read the first, serde_json the last.
    let twice = text.replacen(
        "\"repository\":\"acme/checkout-mfe\"",
        "\"repository\":\"acme/checkout-mfe\",\"repository\":\"evil/checkout-mfe\"",
        1,
    );
    assert_ne!(twice, text, "the fixture has the expected shape");
    std::fs::write(&event, twice).unwrap();
    let out = repo.gitops(&["process", "--dry-run", "--event", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        both(&out).contains("duplicate-key") || both(&out).contains("duplicate"),
        "{}",
        both(&out)
    );

    // An envelope of another event type.
    let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    let envelope = serde_json::json!({"action": "something-else", "client_payload": payload});
    std::fs::write(&event, envelope.to_string()).unwrap();
    let out = repo.gitops(&["process", "--dry-run", "--event", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let envelope = serde_json::json!({"action": "deploy-mfe-trigger", "client_payload": payload});
    std::fs::write(&event, envelope.to_string()).unwrap();
    let out = repo.gitops(&["process", "--dry-run", "--event", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    for args in [
        &["status"][..],
        &["status", "--format", "json"],
        &["check"],
        &["drift"],
    ] {
        let mut child = repo
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away, as `| head -0` does
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn unknown_filters_are_usage_errors() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    for args in [
        &["drift", "--env", "nope"][..],
        &["status", "--env", "nope"],
        &["deploy", "--env", "nope"],
        &["deploy", "--mfe", "nope"],
    ] {
        let out = repo.gitops(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", both(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nope"),
            "{}",
            both(&out)
        );
    }
}

/// A listener that accepts connections and never answers; kept alive by the returned handle.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 1024];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = stream.read(&mut buf);
            held.push(stream); // never answered, never closed
        }
        drop(held);
    });
    (format!("http://{addr}"), handle)
}

#[test]
fn a_github_api_that_never_answers_is_a_bounded_retryable_failure() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let (url, _server) = silent_server();
    let event = repo.request("checkout", "dev", "1.0.0");
    let mut command = repo.command(&["process", "--event", event.to_str().unwrap()]);
    command
        .env("GITHUB_API_URL", &url)
        .env(
            "GITOPS_GITHUB_TOKEN",
            "ghp_not_a_real_token_000000000000000000",
        )
        .env("GITHUB_REPOSITORY", "acme/gitops")
        .env("GITOPS_CONNECT_TIMEOUT", "2")
        .env("GITOPS_REQUEST_TIMEOUT", "1");
    let (out, took) = bounded(command, Duration::from_mins(2));
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(took < Duration::from_mins(1), "took {took:?}");
    let text = both(&out);
    assert!(text.contains("timed out"), "{text}");
    assert!(!text.contains("ghp_not_a_real_token"), "{text}");
}

#[test]
fn an_artifact_server_that_never_answers_is_a_bounded_retryable_failure() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    let (url, _server) = silent_server();
    let mfe = std::fs::read_to_string(repo.path().join("mfes/checkout.yaml")).unwrap();
    std::fs::write(
        repo.path().join("mfes/checkout.yaml"),
        mfe.replace(
            "artifact: local/artifacts/checkout/checkout-{version}.tgz",
            &format!("artifact: {url}/artifacts/checkout-{{version}}.tgz"),
        ),
    )
    .unwrap();
    repo.commit_all("artifacts over HTTP");
    let (report, code) = repo.process("checkout", "dev", "1.0.0");
    assert_eq!(code, 0, "{report}");
    repo.ok(&["merge", "--all"]);
    let mut command = repo.command(&["deploy"]);
    command
        .env("GITOPS_CONNECT_TIMEOUT", "2")
        .env("GITOPS_REQUEST_TIMEOUT", "1");
    let (out, took) = bounded(command, Duration::from_mins(2));
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(took < Duration::from_mins(1), "took {took:?}");
}
