//! Integration tests of fake-github: a GitOps-like sequence of REST calls with real git checks,
//! faults, auth, races, restarts, and OpenAPI conformance of every response.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::many_single_char_names)]

mod aws_proxy;
mod flow;
mod iam;
mod more;
mod openapi;
mod runner;
mod strict;
mod webhooks;

use std::path::Path;
use std::process::Command;
use std::sync::Once;

use gitops_testkit::FakeGithub;
use serde_json::Value;

pub const TOKEN: &str = "ghs_botsecrettoken";
pub const ALICE: &str = "alice:ghp_alicesecret";

/// A response as the tests see it.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Res {
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.body
        );
        self.body
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A fake-github with its own data directory and a client.
#[derive(Debug)]
pub struct T {
    pub gh: FakeGithub,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

static SKIP_NOTE: Once = Once::new();

pub fn openapi() -> Option<std::path::PathBuf> {
    let o = gitops_testkit::openapi_from_env();
    if o.is_none() {
        SKIP_NOTE.call_once(|| {
            gitops_testkit::skip(
                "OpenAPI conformance checks",
                "GITOPS_TEST_OPENAPI is not set",
            );
        });
    }
    o
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl T {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let gh = FakeGithub::spawn_from_env(dir.path().join("data"), openapi())
            .await
            .expect("spawn fake-github");
        Self {
            gh,
            http: client(),
            dir,
        }
    }

    /// A fake-github without GitHub's description, so its own reading of request bodies
    /// answers (with it, GitHub's schema refuses a malformed body first).
    pub async fn without_openapi() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let gh = FakeGithub::spawn_from_env(dir.path().join("data"), None)
            .await
            .expect("spawn fake-github");
        Self {
            gh,
            http: client(),
            dir,
        }
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Res {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.gh.base_url)
        };
        let mut req = self
            .http
            .request(method.parse().expect("method"), url)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "gitops-testkit-tests");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.call("GET", path, None).await
    }

    pub fn bare(&self, owner: &str, repo: &str) -> std::path::PathBuf {
        self.gh.repo_path(owner, repo)
    }

    /// Every response so far conformed to GitHub's OpenAPI description.
    pub async fn assert_conformant(&self) {
        let v = self.gh.violations().await.expect("violations");
        assert!(
            v.is_empty(),
            "OpenAPI violations: {}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    }
}

/// Runs git against a bare repository and returns stdout.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `git hash-object` of some bytes (no repository needed).
pub fn hash_object(content: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(content)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn unb64(s: &str) -> String {
    use base64::Engine as _;
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(clean)
            .expect("base64"),
    )
    .expect("utf8")
}
