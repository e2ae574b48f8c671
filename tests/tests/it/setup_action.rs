//! The setup action's install logic (`action/install.sh`, what `action.yml` runs) against a local
//! release (`scripts/release-local`) served over loopback HTTP: a verified archive installs into
//! the tool cache and runs from the `GITHUB_PATH` entry; a tampered archive, a missing asset, a
//! version or archive the committed manifest does not name, an unsupported platform and an
//! unreachable server are each refused with one `::error::` line, leaving the tool cache empty and
//! `GITHUB_PATH`/`GITHUB_ENV` untouched.
//!
//! The good-archive test packs the workspace's debug binaries the way `gitops_bin` finds them
//! (`scripts/release-local --bin-dir`, no build from the test); the refusal, credential and
//! reproducibility tests pack small stand-in executables, which is all they need (a refused
//! archive is never unpacked) and keeps them fast.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The commit the tests pretend the action runs at.
const ACTION_SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const ACTION_REPOSITORY: &str = "mfe-gitops/mfe-gitops";

/// A local release: `v<version>/` (the assets) and `action/` (the action at a commit).
pub(crate) struct Release {
    dir: tempfile::TempDir,
    version: String,
}

impl Release {
    /// `scripts/release-local --bin-dir BIN_DIR OUT` (BIN_DIR holds `gitops` and `mfe`).
    pub(crate) async fn pack(bin_dir: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/release-local");
        let out = tokio::process::Command::new(&script)
            .arg("--bin-dir")
            .arg(bin_dir)
            .arg(dir.path())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_mins(5), out)
            .await
            .expect("scripts/release-local finishes")
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/release-local failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let latest = std::fs::read_to_string(dir.path().join("action/release/LATEST")).unwrap();
        Release {
            dir,
            version: latest.trim().to_owned(),
        }
    }

    pub(crate) fn assets(&self) -> PathBuf {
        self.dir.path().join(format!("v{}", self.version))
    }

    pub(crate) fn action(&self) -> PathBuf {
        self.dir.path().join("action")
    }

    /// The archive of `tool` (a local release holds one target: the host's).
    pub(crate) fn archive(&self, tool: &str) -> String {
        let prefix = format!("mfe-gitops-{tool}-v{}-", self.version);
        self.sums()
            .into_keys()
            .find(|name| name.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {tool} archive in the release"))
    }

    /// `SHA256SUMS` of the assets: name -> sha256.
    fn sums(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.assets().join("SHA256SUMS"))
            .unwrap()
            .lines()
            .map(|line| {
                let (sum, name) = line.split_once("  ").expect("sha256sum format");
                (name.to_owned(), sum.to_owned())
            })
            .collect()
    }
}

/// Two small stand-ins for `gitops` and `mfe`: `--version` prints `<tool> 0.0.0-stand-in` and
/// writes the environment it sees to `<dir>/env-<tool>`.
fn stand_in_binaries() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["gitops", "mfe"] {
        let env_file = dir.path().join(format!("env-{tool}"));
        let script = format!(
            "#!/bin/sh\nenv > '{}'\necho '{tool} 0.0.0-stand-in'\n",
            env_file.display()
        );
        let path = dir.path().join(tool);
        std::fs::write(&path, script).unwrap();
        set_mode(&path, 0o755);
    }
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Serves the files of `root` over HTTP/1.1 on loopback (GET; 404 for anything else).
pub(crate) async fn serve(root: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let root = Arc::new(root);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let root = root.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
                let name = path.trim_start_matches('/');
                let file = (method == "GET" && !name.is_empty() && !name.contains(['/', '\\']))
                    .then(|| root.join(name));
                let reply = match file {
                    Some(file) => match tokio::fs::read(&file).await {
                        Ok(body) => {
                            let mut reply = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            reply.extend(body);
                            reply
                        }
                        Err(_) => not_found(),
                    },
                    None => not_found(),
                };
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn not_found() -> Vec<u8> {
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
}

/// A URL nothing listens on: a port bound and released again.
async fn unreachable_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A runner's view: a tool cache, the `GITHUB_PATH` and `GITHUB_ENV` files, a temp directory.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tool-cache", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        for file in ["github_path", "github_env", "github_output"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        Runner { dir }
    }

    fn tool_cache(&self) -> PathBuf {
        self.dir.path().join("tool-cache")
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(file)).unwrap()
    }

    /// Everything under the tool cache, relative paths.
    fn cached(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(root).unwrap().display().to_string());
                if path.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.tool_cache(), &self.tool_cache(), &mut out);
        out
    }

    /// Runs the action's `install.sh` of `action` with `vars` (on top of an Actions-like
    /// environment: tool cache, GITHUB_PATH/ENV/OUTPUT, the action's repository and ref, and a
    /// credential that must not reach the install).
    async fn install(&self, action: &Path, vars: &[(&str, &str)]) -> Install {
        let mut command = self.command(action);
        command
            .env("RUNNER_TOOL_CACHE", self.tool_cache())
            .env("GITHUB_PATH", self.dir.path().join("github_path"))
            .env("GITHUB_ENV", self.dir.path().join("github_env"))
            .env("GITHUB_OUTPUT", self.dir.path().join("github_output"))
            .env("ACTION_REPOSITORY", ACTION_REPOSITORY)
            .env("ACTION_REF", ACTION_SHA);
        for (name, value) in vars {
            command.env(name, value);
        }
        run(command).await
    }

    /// `install.sh` with only PATH, HOME and TMPDIR set besides `vars` (outside Actions).
    fn command(&self, action: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("bash");
        command
            .arg(action.join("action/install.sh"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("GITHUB_TOKEN", "ghs_must_not_reach_the_install")
            .env("AWS_SECRET_ACCESS_KEY", "must-not-reach-the-install")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// What an install printed and how it ended.
struct Install {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Install {
    fn errors(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|line| line.starts_with("::error::"))
            .collect()
    }
}

impl std::fmt::Display for Install {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

async fn run(mut command: tokio::process::Command) -> Install {
    let out = tokio::time::timeout(Duration::from_mins(2), command.output())
        .await
        .expect("install.sh finishes within 120 s")
        .unwrap();
    Install {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts a refusal: failure, exactly one `::error::` line containing every one of `words`,
/// nothing in the tool cache, nothing appended to GITHUB_PATH/GITHUB_ENV.
fn assert_refused(case: &str, runner: &Runner, install: &Install, words: &[&str]) {
    assert!(!install.ok, "{case}: the install must fail\n{install}");
    let errors = install.errors();
    assert_eq!(errors.len(), 1, "{case}: one ::error:: line\n{install}");
    for word in words {
        assert!(
            errors[0].contains(word),
            "{case}: the error names {word:?}: {}",
            errors[0]
        );
    }
    assert_eq!(
        runner.cached(),
        Vec::<String>::new(),
        "{case}: nothing is left in the tool cache"
    );
    assert_eq!(runner.read("github_path"), "", "{case}: nothing on PATH");
    assert_eq!(
        runner.read("github_env"),
        "",
        "{case}: nothing in GITHUB_ENV"
    );
    assert_eq!(
        std::fs::read_dir(runner.dir.path().join("tmp"))
            .unwrap()
            .count(),
        0,
        "{case}: the download's temporary directory is removed"
    );
}

/// The workspace's own `gitops`, packed by `scripts/release-local`, served over loopback,
/// installs through the action: into `<tool cache>/mfe-gitops/gitops/<version>/<target>/`,
/// byte-identical to the built binary, with that directory appended to GITHUB_PATH, the action's
/// pin in GITHUB_ENV, and `gitops --version` answering from there. A second run reuses the
/// verified install without downloading (the server is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_archive_installs_and_runs_from_the_path_entry() {
    let gitops = crate::gitops_bin();
    let release = Release::pack(gitops.parent().unwrap()).await;
    let url = serve(release.assets()).await;
    let runner = Runner::new();

    let install = runner
        .install(
            &release.action(),
            &[("INPUT_TOOL", "gitops"), ("INPUT_RELEASE_URL", &url)],
        )
        .await;
    assert!(install.ok, "the install succeeds\n{install}");
    assert!(install.errors().is_empty(), "{install}");

    let archive = release.archive("gitops");
    let target = archive
        .strip_prefix(&format!("mfe-gitops-gitops-v{}-", release.version))
        .and_then(|rest| rest.strip_suffix(".tar.gz"))
        .unwrap();
    let dir = runner
        .tool_cache()
        .join(format!("mfe-gitops/gitops/{}/{target}", release.version));
    assert_eq!(
        runner.read("github_path"),
        format!("{}\n", dir.display()),
        "the install directory is on PATH"
    );
    assert_eq!(
        runner.read("github_env"),
        format!("MFE_GITOPS_ACTION={ACTION_REPOSITORY}@{ACTION_SHA}\n"),
        "the action's pin is exported for re-rendered workflows"
    );
    assert_eq!(
        runner.read("github_output"),
        format!("path={}\nversion={}\n", dir.display(), release.version)
    );
    assert!(
        std::fs::read(dir.join("gitops")).unwrap() == std::fs::read(&gitops).unwrap(),
        "the installed gitops is the packed one"
    );
    let marker = std::fs::read_to_string(dir.with_extension("complete")).unwrap();
    assert_eq!(marker.trim(), release.sums()[&archive], "the cache marker");

    // `gitops --version` from the PATH entry, as a later step runs it.
    let out = tokio::process::Command::new("gitops")
        .arg("--version")
        .env("PATH", &dir)
        .output()
        .await
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success(), "gitops --version runs from PATH");
    assert_eq!(version, format!("gitops {}", release.version));
    assert!(
        install.stdout.contains(&version),
        "the install prints the installed version\n{install}"
    );

    // A second install of the same version finds the verified copy; nothing is downloaded.
    let offline = unreachable_url().await;
    let again = runner
        .install(
            &release.action(),
            &[("INPUT_TOOL", "gitops"), ("INPUT_RELEASE_URL", &offline)],
        )
        .await;
    assert!(again.ok, "a cached install needs no server\n{again}");
    assert!(again.stdout.contains("is in the tool cache"), "{again}");
    assert!(!again.stdout.contains("Downloading"), "{again}");
}

/// Every refusal: one clear `::error::` line, nothing installed, nothing on PATH, no download
/// left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_nothing_installed_and_nothing_on_path() {
    let bins = stand_in_binaries();
    let release = Release::pack(bins.path()).await;
    let archive = release.archive("gitops");
    let gitops = [("INPUT_TOOL", "gitops")];

    // One byte of the archive changed on the server.
    let tampered = tempfile::tempdir().unwrap();
    for name in release.sums().keys() {
        let mut bytes = std::fs::read(release.assets().join(name)).unwrap();
        if *name == archive {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
        }
        std::fs::write(tampered.path().join(name), bytes).unwrap();
    }
    let url = serve(tampered.path().to_path_buf()).await;
    let runner = Runner::new();
    let install = runner
        .install(&release.action(), &[gitops[0], ("INPUT_RELEASE_URL", &url)])
        .await;
    assert_refused(
        "a tampered archive",
        &runner,
        &install,
        &["checksum mismatch", &archive, &release.sums()[&archive]],
    );

    // The asset is missing from the server (the other tool's archive is there).
    let partial = tempfile::tempdir().unwrap();
    for name in release.sums().keys().filter(|name| **name != archive) {
        std::fs::copy(release.assets().join(name), partial.path().join(name)).unwrap();
    }
    let url = serve(partial.path().to_path_buf()).await;
    let runner = Runner::new();
    let install = runner
        .install(&release.action(), &[gitops[0], ("INPUT_RELEASE_URL", &url)])
        .await;
    assert_refused(
        "a missing asset",
        &runner,
        &install,
        &["missing from the release", &archive, "404"],
    );

    // A version the action's commit has no manifest for.
    let url = serve(release.assets()).await;
    let runner = Runner::new();
    let install = runner
        .install(
            &release.action(),
            &[
                gitops[0],
                ("INPUT_RELEASE_URL", &url),
                ("INPUT_VERSION", "9.9.9"),
            ],
        )
        .await;
    assert_refused(
        "a version missing from the manifests",
        &runner,
        &install,
        &[
            "no checksum manifest for v9.9.9",
            "release/v9.9.9/SHA256SUMS",
        ],
    );

    // The manifest of the version does not name the archive (the action at another commit).
    let manifest = release
        .action()
        .join(format!("release/v{}/SHA256SUMS", release.version));
    let original = std::fs::read_to_string(&manifest).unwrap();
    let without: String = original
        .split_inclusive('\n')
        .filter(|line| !line.trim_end().ends_with(&archive))
        .collect();
    assert_ne!(without, original);
    std::fs::write(&manifest, without).unwrap();
    let runner = Runner::new();
    let install = runner
        .install(&release.action(), &[gitops[0], ("INPUT_RELEASE_URL", &url)])
        .await;
    assert_refused(
        "an archive missing from the manifest",
        &runner,
        &install,
        &["has no checksum for", &archive],
    );
    std::fs::write(&manifest, original).unwrap();

    // A platform the releases do not cover (the runner's variables override the detection).
    for (os, arch) in [("Windows", "X64"), ("Linux", "ARM"), ("macOS", "X86")] {
        let runner = Runner::new();
        let install = runner
            .install(
                &release.action(),
                &[
                    gitops[0],
                    ("INPUT_RELEASE_URL", &url),
                    ("RUNNER_OS", os),
                    ("RUNNER_ARCH", arch),
                ],
            )
            .await;
        assert_refused(
            "an unsupported platform",
            &runner,
            &install,
            &[&format!("unsupported platform {os}/{arch}")],
        );
    }

    // Nothing listens at the release URL.
    let offline = unreachable_url().await;
    let runner = Runner::new();
    let install = runner
        .install(
            &release.action(),
            &[gitops[0], ("INPUT_RELEASE_URL", &offline)],
        )
        .await;
    assert_refused(
        "an unreachable server",
        &runner,
        &install,
        &["unreachable", &offline],
    );

    // An unknown tool and a malformed version are refused before anything is fetched.
    let runner = Runner::new();
    let install = runner
        .install(
            &release.action(),
            &[("INPUT_TOOL", "npm"), ("INPUT_RELEASE_URL", &url)],
        )
        .await;
    assert_refused(
        "an unknown tool",
        &runner,
        &install,
        &["unknown tool 'npm'"],
    );
    let runner = Runner::new();
    let install = runner
        .install(
            &release.action(),
            &[
                gitops[0],
                ("INPUT_RELEASE_URL", &url),
                ("INPUT_VERSION", "../../etc"),
            ],
        )
        .await;
    assert_refused(
        "a malformed version",
        &runner,
        &install,
        &["invalid version"],
    );
}

/// No credential of the job's environment reaches the install (the installed tool's `--version`
/// runs inside it and records what it sees); a ref that is not a full commit sha exports no pin;
/// outside Actions (no tool cache, no GITHUB_PATH) it installs into a temporary directory and
/// says how to put it on PATH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_sees_no_credentials_and_runs_outside_actions() {
    let bins = stand_in_binaries();
    let release = Release::pack(bins.path()).await;
    let url = serve(release.assets()).await;

    let runner = Runner::new();
    let install = runner
        .install(
            &release.action(),
            &[
                ("INPUT_TOOL", "mfe"),
                ("INPUT_RELEASE_URL", &url),
                ("ACTION_REF", "main"),
            ],
        )
        .await;
    assert!(install.ok, "{install}");
    assert!(install.stdout.contains("mfe 0.0.0-stand-in"), "{install}");
    let seen = std::fs::read_to_string(bins.path().join("env-mfe")).unwrap();
    assert!(
        !seen.contains("GITHUB_TOKEN") && !seen.contains("AWS_SECRET_ACCESS_KEY"),
        "the install's environment holds no credential:\n{seen}"
    );
    assert!(seen.contains("INPUT_TOOL=mfe"), "{seen}");
    assert_eq!(
        runner.read("github_env"),
        "",
        "a ref that is not a commit sha exports no pin"
    );
    assert!(
        install
            .stdout
            .contains("::warning::this action runs at 'main', not a full commit sha"),
        "{install}"
    );
    assert_eq!(runner.read("github_path").lines().count(), 1);

    // Outside Actions.
    let runner = Runner::new();
    let mut command = runner.command(&release.action());
    command
        .env("INPUT_TOOL", "mfe")
        .env("INPUT_RELEASE_URL", &url);
    let install = run(command).await;
    assert!(install.ok, "{install}");
    let tmp = runner.dir.path().join("tmp");
    let line = install
        .stdout
        .lines()
        .find(|line| line.starts_with("Add it to PATH: export PATH=\""))
        .unwrap_or_else(|| panic!("the PATH hint\n{install}"));
    let dir = line
        .trim_start_matches("Add it to PATH: export PATH=\"")
        .trim_end_matches(":$PATH\"");
    assert!(
        Path::new(dir).starts_with(&tmp),
        "installed under TMPDIR: {dir}"
    );
    assert!(Path::new(dir).join("mfe").is_file(), "{install}");
    assert_eq!(runner.cached(), Vec::<String>::new());
}

/// Packing is reproducible: the same binaries, packed twice with different file times and modes,
/// give byte-identical archives; every archive holds `<tool>` (0755) and README.md (0644) at its
/// root, sorted, mtime 0, owner 0:0, gzip without name or time; SHA256SUMS is sorted by name and
/// is also the action's manifest, with LATEST naming the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_releases_are_reproducible_and_laid_out_as_the_action_reads_them() {
    let bins = stand_in_binaries();
    let first = Release::pack(bins.path()).await;
    for tool in ["gitops", "mfe"] {
        let path = bins.path().join(tool);
        set_mode(&path, 0o700);
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567))
            .unwrap();
    }
    let second = Release::pack(bins.path()).await;

    assert_eq!(first.version, second.version);
    let sums = first.sums();
    assert_eq!(sums.len(), 2, "one archive per tool: {sums:?}");
    assert_eq!(
        sums,
        second.sums(),
        "the same binaries give the same archives"
    );
    for name in sums.keys() {
        assert_eq!(
            std::fs::read(first.assets().join(name)).unwrap(),
            std::fs::read(second.assets().join(name)).unwrap(),
            "{name} is byte-identical"
        );
    }
    let text = std::fs::read_to_string(first.assets().join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = text.lines().map(|l| &l[66..]).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "SHA256SUMS is sorted by name");
    assert!(
        text.lines().all(|l| l.len() > 66
            && l[..64].bytes().all(|b| b.is_ascii_hexdigit())
            && &l[64..66] == "  "),
        "sha256sum format:\n{text}"
    );
    assert_eq!(
        std::fs::read_to_string(
            first
                .action()
                .join(format!("release/v{}/SHA256SUMS", first.version))
        )
        .unwrap(),
        text,
        "the action's manifest is the release's SHA256SUMS"
    );
    assert!(first.action().join("action.yml").is_file());
    assert!(first.action().join("action/install.sh").is_file());

    for (name, sum) in &sums {
        let bytes = std::fs::read(first.assets().join(name)).unwrap();
        assert_eq!(&bytes[..2], [0x1f, 0x8b], "{name} is gzip");
        assert_eq!(&bytes[4..8], [0, 0, 0, 0], "{name}: gzip mtime 0");
        assert_eq!(
            bytes[3] & 0x08,
            0,
            "{name}: no file name in the gzip header"
        );
        let tool = if name.starts_with("mfe-gitops-gitops-") {
            "gitops"
        } else {
            "mfe"
        };
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut entries = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            let path = entry.path().unwrap().display().to_string();
            assert_eq!(header.mtime().unwrap(), 0, "{name}: {path} mtime");
            assert_eq!(
                (header.uid().unwrap(), header.gid().unwrap()),
                (0, 0),
                "{name}: {path} owner"
            );
            let mode = header.mode().unwrap();
            if path == tool {
                assert_eq!(mode, 0o755, "{name}: {path} mode");
                let mut body = String::new();
                entry.read_to_string(&mut body).unwrap();
                assert_eq!(
                    body,
                    std::fs::read_to_string(bins.path().join(tool)).unwrap(),
                    "{name}: the packed binary"
                );
            } else {
                assert_eq!(mode, 0o644, "{name}: {path} mode");
            }
            entries.push(path);
        }
        let mut sorted = entries.clone();
        sorted.sort_unstable();
        assert_eq!(entries, sorted, "{name}: entries sorted");
        assert!(entries.iter().any(|e| e == tool), "{name}: {entries:?}");
        assert!(
            entries.iter().any(|e| e == "README.md"),
            "{name}: {entries:?}"
        );
        assert!(
            entries.iter().all(|e| !e.contains('/')),
            "{name}: everything at the root: {entries:?}"
        );
        assert_eq!(sum.len(), 64);
    }
}

/// Relative paths given to `scripts/release-local` are the caller's, not the repository's.
#[test]
fn release_local_reads_relative_paths_from_the_callers_directory() {
    let bins = stand_in_binaries();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("bin")).unwrap();
    for tool in ["gitops", "mfe"] {
        std::fs::copy(bins.path().join(tool), cwd.path().join("bin").join(tool)).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/release-local");
    let out = std::process::Command::new(script)
        .args(["--bin-dir", "bin", "out"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = std::fs::read_to_string(cwd.path().join("out/action/release/LATEST")).unwrap();
    let sums = cwd
        .path()
        .join(format!("out/v{}/SHA256SUMS", latest.trim()));
    assert!(sums.is_file(), "{} is missing", sums.display());
}
