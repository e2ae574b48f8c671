//! A GitOps repository under git, built for one test, and the `gitops` binary run against it
//! the way a user runs it (embedded backends, local git forge).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Environment variables of the test process that would change what `gitops` does.
use gitops_e2e::SCRUBBED;

/// A repository: `gitops.yaml` with the given environments (in order, no promotion rules, no
/// approval), one `mfes/<name>.yaml` per MFE (entry point `remoteEntry.js`, artifacts under
/// `local/artifacts/`), `local/` ignored, all committed on `main`.
#[derive(Debug)]
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    pub fn new(environments: &[&str], mfes: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut config = String::from("version: 1\nenvironments:\n");
        for env in environments {
            let lower = env.to_ascii_lowercase();
            let _ = write!(
                config,
                "  - name: {env}\n    storage: local/{lower}/storage\n    registry: local/{lower}/registry.db\n    cdn: local/{lower}/cdn.log\n    public_url: https://cdn.example.com/{lower}\n"
            );
        }
        std::fs::write(root.join("gitops.yaml"), config).unwrap();
        std::fs::create_dir_all(root.join("mfes")).unwrap();
        for mfe in mfes {
            std::fs::write(
                root.join(format!("mfes/{mfe}.yaml")),
                format!(
                    "name: {mfe}\nrepository: acme/{mfe}-mfe\nartifact: local/artifacts/{mfe}/{mfe}-{{version}}.tgz\nenvironments: [{}]\nentry_points: [remoteEntry.js]\n",
                    environments.join(", ")
                ),
            )
            .unwrap();
        }
        std::fs::write(root.join(".gitignore"), "local/\n").unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main", "."]);
        repo.commit_all("init");
        repo.ok(&["bootstrap"]);
        repo
    }

    /// [`Repo::new`] with each environment on the moto emulator at `endpoint` (its own bucket,
    /// table and CloudFront distribution, named after a fresh id), each requiring the previous
    /// one, bootstrapped. Artifacts stay in the repository's `local/artifacts/`.
    pub async fn on_moto(endpoint: &str, environments: &[&str], mfes: &[&str]) -> Self {
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        let cf = crate::moto::cloudfront(endpoint);
        let mut config = String::from("version: 1\nenvironments:\n");
        for (i, env) in environments.iter().enumerate() {
            let lower = env.to_ascii_lowercase();
            let distribution =
                crate::moto::create_distribution(&cf, &format!("{lower}-{id}")).await;
            let _ = write!(
                config,
                "  - name: {env}\n    storage: s3://{lower}-{id}\n    registry: dynamodb://{lower}-{id}\n    cdn: cloudfront://{distribution}\n    public_url: https://{lower}.cdn.example.com\n"
            );
            if i > 0 {
                let _ = writeln!(config, "    requires: {}", environments[i - 1]);
            }
        }
        let repo = Repo::new(environments, mfes);
        std::fs::write(repo.path().join("gitops.yaml"), config).unwrap();
        repo.commit_all("environments on AWS");
        repo.aws_ok(endpoint, &["bootstrap"]);
        repo
    }

    /// The S3 bucket of `env`'s storage (an environment made by [`Repo::on_moto`]).
    pub fn bucket(&self, env: &str) -> String {
        self.target(env, "storage: s3://")
    }

    /// The CloudFront distribution of `env`'s CDN (an environment made by [`Repo::on_moto`]).
    pub fn distribution(&self, env: &str) -> String {
        self.target(env, "cdn: cloudfront://")
    }

    /// What follows `key` (e.g. `storage: s3://`) in `env`'s entry of gitops.yaml.
    fn target(&self, env: &str, key: &str) -> String {
        let config = std::fs::read_to_string(self.path().join("gitops.yaml")).unwrap();
        let entry = config
            .split(&format!("- name: {env}\n"))
            .nth(1)
            .and_then(|after| after.split("\n  - name: ").next())
            .unwrap_or_else(|| panic!("no environment {env}"));
        entry
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(key))
            .unwrap_or_else(|| panic!("{env} has no `{key}`"))
            .to_owned()
    }

    /// The MFEs' artifacts moved to a fresh S3 bucket on the emulator at `endpoint`
    /// (`s3://<bucket>/<mfe>/<mfe>-{version}.tgz`), committed; published with
    /// [`Repo::publish_to_s3`].
    pub async fn artifacts_on_s3(&self, endpoint: &str) {
        let bucket = format!(
            "artifacts-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        crate::moto::create_bucket(endpoint, &bucket).await;
        for entry in std::fs::read_dir(self.path().join("mfes")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let moved = text.replacen(
                "artifact: local/artifacts/",
                &format!("artifact: s3://{bucket}/"),
                1,
            );
            assert_ne!(moved, text, "{}: no local artifact", path.display());
            std::fs::write(&path, moved).unwrap();
        }
        self.commit_all("artifacts on S3");
    }

    /// Publishes an artifact of `mfe` `version` holding exactly `files` (path, text), and its
    /// sidecar, where the MFE file says, on the emulator at `endpoint` (see
    /// [`Repo::artifacts_on_s3`]).
    pub async fn publish_to_s3(
        &self,
        endpoint: &str,
        mfe: &str,
        version: &str,
        files: &[(&str, &str)],
    ) {
        let file = std::fs::read_to_string(self.path().join(format!("mfes/{mfe}.yaml"))).unwrap();
        let location = file
            .lines()
            .find_map(|line| line.strip_prefix("artifact: "))
            .unwrap_or_else(|| panic!("mfes/{mfe}.yaml names no artifact"))
            .replace("{version}", version);
        crate::moto::publish(endpoint, &location, files).await;
    }

    /// The object store of `env`'s bucket on the emulator at `endpoint`.
    pub fn store(&self, endpoint: &str, env: &str) -> object_store::aws::AmazonS3 {
        crate::moto::store(endpoint, &self.bucket(env))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `gitops ARGS` in the repository, with a clean environment.
    pub fn gitops(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The `gitops` command, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(crate::gitops_bin());
        command
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null());
        for var in SCRUBBED {
            command.env_remove(var);
        }
        command
    }

    /// `gitops ARGS` in the repository against the moto emulator at `endpoint`.
    pub fn aws(&self, endpoint: &str, args: &[&str]) -> Output {
        crate::moto::aws_env(&mut self.command(args), endpoint)
            .output()
            .unwrap()
    }

    /// [`Repo::aws`], which must exit 0; its standard output.
    pub fn aws_ok(&self, endpoint: &str, args: &[&str]) -> String {
        let out = self.aws(endpoint, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "gitops {args:?}: {}",
            both(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`Repo::aws_ok`] of a command printing one JSON document; the document.
    pub fn aws_json(&self, endpoint: &str, args: &[&str]) -> serde_json::Value {
        let text = self.aws_ok(endpoint, args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// `gitops ARGS`, which must exit 0; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.gitops(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "gitops {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `gitops ARGS --format json` (or any command printing one JSON document), which must
    /// exit 0.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
    }

    /// Writes an artifact of `mfe` `version` (an entry point naming the version, a hashed asset)
    /// and its sidecar where the MFE file says.
    pub fn publish(&self, mfe: &str, version: &str) {
        self.publish_files(
            mfe,
            version,
            &[
                ("remoteEntry.js", format!("// {mfe} {version}\n").as_bytes()),
                (
                    "assets/main.3f7a9c1e.js",
                    format!("console.log('{mfe} {version}');\n").as_bytes(),
                ),
            ],
        );
    }

    /// Writes an artifact of `mfe` `version` holding exactly `files`, and its sidecar.
    pub fn publish_files(&self, mfe: &str, version: &str, files: &[(&str, &[u8])]) {
        let dist = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            write(dist.path(), name, bytes);
        }
        let archive = gitops_artifact_store::pack_dir(dist.path()).unwrap();
        self.write_artifact(mfe, version, &archive);
    }

    /// Puts `archive` (and a matching sidecar) as the artifact of `mfe` `version`.
    pub fn write_artifact(&self, mfe: &str, version: &str, archive: &[u8]) {
        let dir = self.path().join(format!("local/artifacts/{mfe}"));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("{mfe}-{version}.tgz");
        std::fs::write(dir.join(&name), archive).unwrap();
        std::fs::write(
            dir.join(format!("{name}.sha256")),
            gitops_artifact_store::sidecar_line(&gitops_artifact_store::sha256_hex(archive), &name),
        )
        .unwrap();
    }

    /// A deploy request of `mfe` `version` to `env` (fresh id) as an event file; its path.
    pub fn request(&self, mfe: &str, env: &str, version: &str) -> PathBuf {
        let id = ulid::Ulid::generate().to_string();
        self.request_with_id(mfe, env, version, &id)
    }

    pub fn request_with_id(&self, mfe: &str, env: &str, version: &str, id: &str) -> PathBuf {
        let payload = serde_json::json!({
            "id": id,
            "timestamp": "2026-11-30T12:00:00Z",
            "user": "octocat",
            "mfe": mfe,
            "version": version,
            "environment": env,
            "cache_invalidation_keys": [],
            "repository": format!("acme/{mfe}-mfe"),
            "ref": "refs/heads/main",
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        });
        let path = self
            .path()
            .join(format!("local/requests/{env}-{mfe}-{version}-{id}.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, payload.to_string()).unwrap();
        path
    }

    /// `gitops process FLAGS` of a request of `mfe` `version` to `env`.
    pub fn process_with(&self, mfe: &str, env: &str, version: &str, flags: &[&str]) -> Output {
        let event = self.request(mfe, env, version);
        let mut args = vec!["process", "--event", event.to_str().unwrap()];
        args.extend_from_slice(flags);
        self.gitops(&args)
    }

    /// `gitops process` of a request of `mfe` `version` to `env`; its JSON report and exit code.
    pub fn process(&self, mfe: &str, env: &str, version: &str) -> (serde_json::Value, i32) {
        let out = self.process_with(mfe, env, version, &[]);
        let report =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&out)));
        (report, out.status.code().unwrap_or(-1))
    }

    /// [`Repo::process`], which must accept the request (exit 0): a pull request proposed, not
    /// merged. Its report.
    pub fn propose(&self, mfe: &str, env: &str, version: &str) -> serde_json::Value {
        let (report, code) = self.process(mfe, env, version);
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["decision"], "accept", "{report}");
        report
    }

    /// [`Repo::propose`] and `gitops merge --all`: desired, not deployed yet.
    pub fn desire(&self, mfe: &str, env: &str, version: &str) {
        self.propose(mfe, env, version);
        self.ok(&["merge", "--all"]);
    }

    /// Request, merge and deploy `mfe` `version` in `env` (the artifact must be published).
    pub fn ship(&self, mfe: &str, env: &str, version: &str) {
        self.desire(mfe, env, version);
        self.ok(&["deploy"]);
    }

    /// Commits a desired state of `mfe` `version` in `env` written by hand, as a person would
    /// without `gitops process` (the same request id every time).
    pub fn commit_desired(&self, env: &str, mfe: &str, version: &str) {
        let state = serde_json::json!({
            "mfe": mfe, "environment": env, "version": version,
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b", "ref": "refs/heads/main",
            "repository": format!("acme/{mfe}-mfe"), "requested_by": "octocat",
            "requested_at": "2026-11-26T09:30:00Z", "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
        });
        write(
            self.path(),
            &format!("deployments/{env}/{mfe}.json"),
            state.to_string().as_bytes(),
        );
        self.commit_all(&format!("{mfe} {version} in {env}"));
    }

    /// `gitops deploy` while `env`'s CDN is unusable (its log's place taken by a directory),
    /// which must exit 3 (retry); the CDN usable again afterwards.
    pub fn deploy_with_the_cdn_down(&self, env: &str) {
        let log = self.local(env, "cdn.log");
        std::fs::create_dir_all(&log).unwrap();
        let out = self.gitops(&["deploy"]);
        assert_eq!(out.status.code(), Some(3), "{}", both(&out));
        std::fs::remove_dir(&log).unwrap();
    }

    /// The invalidations `env`'s CDN received, one a line (empty before the first).
    pub fn cdn_log(&self, env: &str) -> String {
        std::fs::read_to_string(self.local(env, "cdn.log")).unwrap_or_default()
    }

    /// Overwrites `env`'s registry with bytes that are no database.
    pub fn break_registry(&self, env: &str) {
        std::fs::write(
            self.local(env, "registry.db"),
            b"this is not a database, it is garbage, garbage, garbage, garbage",
        )
        .unwrap();
    }

    /// The served directory (storage) of `env`.
    pub fn storage(&self, env: &str) -> PathBuf {
        self.local(env, "storage")
    }

    /// `local/<env, lower-cased>/<name>`: where [`Repo::new`] keeps `env`'s targets.
    fn local(&self, env: &str, name: &str) -> PathBuf {
        self.path()
            .join(format!("local/{}/{name}", env.to_ascii_lowercase()))
    }

    /// The desired-state file of (env, MFE) at HEAD.
    pub fn desired(&self, env: &str, mfe: &str) -> serde_json::Value {
        serde_json::from_str(&self.git(&["show", &format!("HEAD:deployments/{env}/{mfe}.json")]))
            .unwrap()
    }

    /// The `gitops status --format json` row of (env, MFE).
    pub fn status(&self, env: &str, mfe: &str) -> serde_json::Value {
        let rows = self.json(&["status", "--format", "json"]);
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment"] == env && r["mfe"] == mfe)
            .cloned()
            .unwrap_or_else(|| panic!("no status row for {env}/{mfe} in {rows}"))
    }

    /// The import map of `env` (lower-cased directory name), parsed.
    pub fn import_map(&self, env: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.storage(env).join("importmap.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `contents` to `rel` under `root`, creating its directories.
pub fn write(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Every file under `dir`, depth first in directory order (none when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Standard output of `out`.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error of `out`.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output and error of `out`, for assertion messages.
pub fn both(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Each terraform step's bound (apply on moto takes well under a minute).
pub const TERRAFORM_STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(10);

/// terraform and the provider mirror (`GITOPS_TEST_TERRAFORM`, `GITOPS_TEST_TERRAFORM_PLUGINS`),
/// or `None` after skipping `test` (a failure under `GITOPS_TEST_REQUIRE_ALL=1`).
pub fn terraform(test: &str) -> Option<(PathBuf, PathBuf)> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let (Some(bin), Some(plugins)) = (
        var("GITOPS_TEST_TERRAFORM"),
        var("GITOPS_TEST_TERRAFORM_PLUGINS"),
    ) {
        return Some((bin, plugins));
    }
    gitops_testkit::skip(
        test,
        "terraform is missing: GITOPS_TEST_TERRAFORM (the terraform binary) and \
         GITOPS_TEST_TERRAFORM_PLUGINS (a provider mirror holding registry.terraform.io/) \
         are not set",
    );
    None
}

/// A moto server of one test's own (`GITOPS_TEST_MOTO_SERVER`): GitHub's OIDC provider exists
/// once per account, so a test applying `deploy/terraform` cannot share the suite's moto with
/// tests that create one. Stopped when dropped.
#[derive(Debug)]
pub struct OwnMoto {
    child: std::process::Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl OwnMoto {
    /// Starts one and waits until it answers; `None` after skipping `test` when
    /// `GITOPS_TEST_MOTO_SERVER` is not set.
    pub async fn start(test: &str) -> Option<OwnMoto> {
        let Some(server) = std::env::var_os("GITOPS_TEST_MOTO_SERVER").filter(|v| !v.is_empty())
        else {
            gitops_testkit::skip(
                test,
                "GITOPS_TEST_MOTO_SERVER (moto's moto_server) is not set",
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = OwnMoto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let ready = http
                .get(format!("{}/moto-api/", moto.url))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Some(moto);
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        panic!("moto did not start on {}", moto.url);
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A working copy of `deploy/terraform` (state and `.terraform/` never land in the checkout).
/// With `applied`, destroyed when dropped, even after a failure.
pub struct Stack {
    pub bin: PathBuf,
    pub plugins: PathBuf,
    pub dir: tempfile::TempDir,
    /// `-var NAME=VALUE`s of apply, plan and destroy.
    pub vars: Vec<String>,
    /// Whether dropping it runs `terraform destroy`.
    pub applied: bool,
}

impl Stack {
    /// A copy of the checkout's `deploy/terraform`, with an empty CLI configuration; nothing
    /// applied.
    pub fn copy(bin: PathBuf, plugins: PathBuf) -> Stack {
        let stack = Stack {
            bin,
            plugins,
            dir: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
            applied: false,
        };
        copy_tree(&terraform_module_dir(), stack.dir.path());
        std::fs::write(stack.rc(), "").unwrap();
        stack
    }

    /// The example root module of the copy.
    pub fn example(&self) -> PathBuf {
        self.dir.path().join("examples/complete")
    }

    /// An empty CLI configuration: no ~/.terraformrc is read, nothing is fetched.
    pub fn rc(&self) -> PathBuf {
        self.dir.path().join("terraformrc")
    }

    /// Puts the moto override (`testing/`) next to the example and runs `terraform init` from
    /// the provider mirror.
    pub async fn init_for_moto(&self) {
        for file in ["moto_override.tf", "moto_variables.tf"] {
            std::fs::copy(
                self.dir.path().join("testing").join(file),
                self.example().join(file),
            )
            .unwrap();
        }
        let plugin_dir = format!("-plugin-dir={}", self.plugins.display());
        self.ok(&["init", "-input=false", "-no-color", &plugin_dir])
            .await;
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        run_terraform(&self.bin, &self.example(), args, &self.vars, &self.rc()).await
    }

    /// `terraform ARGS` in the example, which must succeed; its standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "terraform {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.applied {
            return;
        }
        let mut command = Command::new(&self.bin);
        command
            .args(["destroy", "-auto-approve", "-input=false", "-no-color"])
            .args(self.vars.iter().flat_map(|v| ["-var", v.as_str()]))
            .current_dir(self.example());
        terraform_env(&mut command, &self.rc());
        let _ = command.output();
    }
}

fn terraform_env(command: &mut Command, rc: &Path) {
    command
        .env("TF_CLI_CONFIG_FILE", rc)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
}

/// `terraform ARGS` in `dir` (with `vars` for apply, destroy and plan), killed after
/// [`TERRAFORM_STEP_TIMEOUT`].
pub async fn run_terraform(
    bin: &Path,
    dir: &Path,
    args: &[&str],
    vars: &[String],
    rc: &Path,
) -> Output {
    let takes_vars = matches!(args.first(), Some(&("apply" | "destroy" | "plan")));
    let mut command = Command::new(bin);
    command.args(args).current_dir(dir);
    if takes_vars {
        command.args(vars.iter().flat_map(|v| ["-var", v.as_str()]));
    }
    terraform_env(&mut command, rc);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    tokio::time::timeout(TERRAFORM_STEP_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!("terraform {args:?} did not finish in {TERRAFORM_STEP_TIMEOUT:?}")
        })
        .unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform" || name_str.contains("tfstate") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The checkout's `deploy/terraform`.
pub fn terraform_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/terraform")
}
