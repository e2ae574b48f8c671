//! Deterministic inputs: a seeded generator, the bundles (a build's `dist/` and its artifact),
//! the sized artifacts (streamed straight into a `.tgz`) and the deploy-request payloads. Every
//! input is cached under `target/bench/` behind a marker naming the generator's version, so a
//! rerun reuses it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// Bumped whenever what the generator writes changes: a cache made by another version is
/// rebuilt.
const GENERATOR: &str = "deploy-bench-inputs v1";

/// SplitMix64: small, fast and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A size between `low` and `high`, uniform on a logarithmic scale (many small files, a
    /// few large ones, as a build has).
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (lo, hi) = ((low as f64).ln(), (high.max(low) as f64).ln());
        (lo + unit * (hi - lo)).exp().round() as u64
    }

    /// Eight hex digits, the content hash of a bundler's file name.
    pub fn hash8(&mut self) -> String {
        format!("{:08x}", self.next_u64() >> 32)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `len` bytes of minified-looking JavaScript (compresses about as well as real code).
    pub fn code(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "function",
            "return",
            "const",
            "this",
            "props",
            "=>",
            "null",
            "export",
            "import",
            "var",
            "e",
            "t",
            "n",
            "r",
            "o",
            "useState",
            "createElement",
            "window",
            "document",
            "0",
            "1",
            "\"div\"",
            "className",
            "{",
            "}",
            "(",
            ")",
            ";",
            ",",
            ".",
            "=",
            "?",
            ":",
        ];
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            let roll = self.below(12);
            if roll == 0 {
                out.extend_from_slice(format!("_{:x}", self.next_u64() >> 44).as_bytes());
            } else {
                let word = WORDS[usize::try_from(self.below(WORDS.len() as u64)).unwrap_or(0)];
                out.extend_from_slice(word.as_bytes());
            }
            if roll == 1 {
                out.push(b' ');
            }
        }
        out.truncate(len);
        out
    }
}

/// `len` bytes of the generator, as a reader (a file of any size without holding it).
struct RandomReader {
    rng: Rng,
    left: u64,
}

impl Read for RandomReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.rng.fill(&mut buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// An artifact on disk: the `.tgz`, its sidecar beside it, and what it holds.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// `<dir>/app-1.0.0.tgz`.
    pub archive: PathBuf,
    /// `<dir>/app-1.0.0.tgz.sha256`.
    pub sidecar: PathBuf,
    /// The unpacked files (bundles only: what `aws s3 sync` and the raw uploader send).
    pub dist: Option<PathBuf>,
    pub files: u64,
    /// Bytes of the files, expanded.
    pub expanded: u64,
    /// Bytes of the archive.
    pub compressed: u64,
}

/// The artifact's file name: MFE `app`, version `1.0.0`.
pub const ARCHIVE_NAME: &str = "app-1.0.0.tgz";

fn cached(dir: &Path, dist: bool) -> Option<Artifact> {
    let marker = fs::read_to_string(dir.join("complete")).ok()?;
    let mut lines = marker.lines();
    if lines.next()? != GENERATOR {
        return None;
    }
    let mut next = || lines.next().and_then(|l| l.parse::<u64>().ok());
    let (files, expanded, compressed) = (next()?, next()?, next()?);
    Some(Artifact {
        archive: dir.join(ARCHIVE_NAME),
        sidecar: dir.join(format!("{ARCHIVE_NAME}.sha256")),
        dist: dist.then(|| dir.join("dist")),
        files,
        expanded,
        compressed,
    })
}

fn finish(dir: &Path, files: u64, expanded: u64, dist: bool) -> Artifact {
    let archive = dir.join(ARCHIVE_NAME);
    let mut hasher = sha2::Sha256::new();
    let mut file = fs::File::open(&archive).expect("the generated archive");
    let mut buf = vec![0u8; 1 << 20];
    let mut compressed = 0u64;
    loop {
        let n = file.read(&mut buf).expect("reading the generated archive");
        if n == 0 {
            break;
        }
        compressed += n as u64;
        hasher.update(&buf[..n]);
    }
    let sidecar = dir.join(format!("{ARCHIVE_NAME}.sha256"));
    fs::write(
        &sidecar,
        gitops_artifact_store::sidecar_line(&hex::encode(hasher.finalize()), ARCHIVE_NAME),
    )
    .expect("writing the sidecar");
    fs::write(
        dir.join("complete"),
        format!("{GENERATOR}\n{files}\n{expanded}\n{compressed}\n"),
    )
    .expect("writing the cache marker");
    Artifact {
        archive,
        sidecar,
        dist: dist.then(|| dir.join("dist")),
        files,
        expanded,
        compressed,
    }
}

/// The files of a bundle of `count` files, as a build writes them: `index.html` and
/// `remoteEntry.js` (the entry points), many small hashed JS/CSS chunks (300 B to 60 KB), and
/// one asset in fifty of 100 KB to 2 MB (images, fonts: incompressible).
fn bundle_files(count: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(0x6275_6e64_6c65 ^ count);
    let mut files = vec![
        (
            "index.html".to_owned(),
            b"<!doctype html><html><head><script type=\"module\" src=\"./remoteEntry.js\"></script></head><body><div id=\"app\"></div></body></html>\n".to_vec(),
        ),
        ("remoteEntry.js".to_owned(), rng.code(6_000)),
    ];
    let assets = (count / 50).max(2);
    for i in 0..assets {
        let ext = ["png", "jpg", "woff2", "webp"][usize::try_from(i % 4).unwrap_or(0)];
        let size = rng.log_uniform(100_000, 2_000_000);
        let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
        rng.fill(&mut bytes);
        files.push((
            format!("assets/media/asset-{i}.{}.{ext}", rng.hash8()),
            bytes,
        ));
    }
    let mut i = 0;
    while (files.len() as u64) < count {
        let size = usize::try_from(rng.log_uniform(300, 60_000)).unwrap_or(300);
        let name = if i % 4 == 3 {
            format!("assets/css/style-{i}.{}.css", rng.hash8())
        } else {
            format!("assets/js/chunk-{i}.{}.js", rng.hash8())
        };
        files.push((name, rng.code(size)));
        i += 1;
    }
    files
}

/// The bundle of `count` files under `cache/bundle-<count>/` (`dist/` and the artifact packed
/// by `gitops_artifact_store::pack_dir`, as `mfe publish` packs it), generated once.
pub fn bundle(cache: &Path, count: u64) -> Artifact {
    let dir = cache.join(format!("bundle-{count}"));
    if let Some(found) = cached(&dir, true) {
        return found;
    }
    let _ = fs::remove_dir_all(&dir);
    let dist = dir.join("dist");
    let mut expanded = 0;
    let files = bundle_files(count);
    for (name, bytes) in &files {
        let path = dist.join(name);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("creating dist");
        fs::write(&path, bytes).expect("writing dist");
        expanded += bytes.len() as u64;
    }
    let archive = gitops_artifact_store::pack_dir(&dist).expect("packing the bundle");
    fs::write(dir.join(ARCHIVE_NAME), &archive).expect("writing the bundle's archive");
    finish(&dir, files.len() as u64, expanded, true)
}

/// An artifact of about `bytes` bytes (compressed and expanded alike: mostly incompressible),
/// under `cache/size-<label>/`, streamed into the `.tgz` (never held whole): `index.html`,
/// `remoteEntry.js`, then random files of 4 KB up to an eighth of the total (at most 64 MiB),
/// log-uniform, until the total is reached; generated once.
pub fn sized(cache: &Path, label: &str, bytes: u64) -> Artifact {
    let dir = cache.join(format!("size-{label}"));
    if let Some(found) = cached(&dir, false) {
        return found;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating the artifact's cache directory");
    let mut rng = Rng::new(0x7369_7a65 ^ bytes);
    let file = fs::File::create(dir.join(ARCHIVE_NAME)).expect("creating the archive");
    let gz = flate2::GzBuilder::new().mtime(0).write(
        io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let append = |tar: &mut tar::Builder<_>, name: &str, len: u64, reader: &mut dyn Read| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("package/{name}"), reader)
            .expect("writing the archive");
    };
    let index = b"<!doctype html><script type=\"module\" src=\"./remoteEntry.js\"></script>\n";
    append(&mut tar, "index.html", index.len() as u64, &mut &index[..]);
    let entry = rng.code(6_000);
    append(
        &mut tar,
        "remoteEntry.js",
        entry.len() as u64,
        &mut &entry[..],
    );
    let (mut files, mut expanded) = (2u64, (index.len() + entry.len()) as u64);
    let largest = (bytes / 8).clamp(8_192, 64 << 20);
    while expanded < bytes {
        let size = rng.log_uniform(4_096, largest).min(bytes - expanded).max(1);
        let name = format!("assets/blob-{files}.{}.bin", rng.hash8());
        let mut reader = RandomReader {
            rng: Rng::new(rng.next_u64()),
            left: size,
        };
        append(&mut tar, &name, size, &mut reader);
        files += 1;
        expanded += size;
    }
    let gz = tar.into_inner().expect("finishing the tar");
    let mut out = gz.finish().expect("finishing the gzip stream");
    out.flush().expect("flushing the archive");
    drop(out);
    finish(&dir, files, expanded, false)
}

/// The digits of a ULID.
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `count` valid deploy-request payloads (bare `client_payload`s), one a file, under
/// `cache/payloads-<count>/`; their paths.
pub fn payloads(cache: &Path, count: u64) -> Vec<PathBuf> {
    let dir = cache.join(format!("payloads-{count}"));
    let paths: Vec<PathBuf> = (0..count)
        .map(|i| dir.join(format!("payload-{i:05}.json")))
        .collect();
    let marker = dir.join("complete");
    if fs::read_to_string(&marker).is_ok_and(|m| m == GENERATOR) {
        return paths;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating the payloads' directory");
    let mut rng = Rng::new(0x0070_6179_6c6f_6164);
    for (i, path) in paths.iter().enumerate() {
        // A ULID: 26 Crockford base-32 digits, the first at most 7.
        let mut id: String = (0..26)
            .map(|_| char::from(CROCKFORD[usize::try_from(rng.below(32)).unwrap_or(0)]))
            .collect();
        id.replace_range(0..1, "0");
        let mut sha = [0u8; 20];
        rng.fill(&mut sha);
        let mfe = format!("mfe-{}", i % 100);
        let payload = serde_json::json!({
            "id": id,
            "timestamp": "2026-11-30T12:00:00Z",
            "user": "octocat",
            "mfe": mfe,
            "version": format!("1.{}.{}", i % 50, rng.below(100)),
            "environment": if i % 2 == 0 { "dev" } else { "prod" },
            "cache_invalidation_keys": [format!("/mfe/{mfe}/manifest.json")],
            "repository": format!("acme/{mfe}"),
            "ref": "refs/heads/main",
            "sha": hex::encode(sha),
        });
        fs::write(path, payload.to_string()).expect("writing a payload");
    }
    fs::write(&marker, GENERATOR).expect("writing the cache marker");
    paths
}
