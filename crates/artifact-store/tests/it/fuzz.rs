//! Fuzz-style properties of `unpack` (issue 18): arbitrary bytes named `.tgz`, `.tar.gz` and
//! `.zip`, and mutations of valid small archives (bit flips, overwritten bytes, truncation,
//! appended garbage; for tar also flips inside the decompressed stream, recompressed so that
//! they reach the tar reader), never panic; an `Ok` holds only safe, distinct, sorted paths,
//! within every limit; an `Err` is one of the archive refusals, never retryable.

use std::io::Write as _;

use gitops_artifact_store::{
    Error, Limits, MAX_COMPONENT_BYTES, MAX_PATH_BYTES, UnpackedFile, unpack,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{TarEntry, tgz};

/// Small limits, so that the fuzzed archives reach every bound.
const TIGHT: Limits = Limits {
    max_files: 4,
    max_total_bytes: 16 * 1024,
    max_ratio: 20,
    ratio_grace_bytes: 2048,
    max_archive_bytes: 64 * 1024,
};

/// Why `path` is not a safe relative object path, if it is not.
fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty");
    }
    if path.starts_with('/') {
        return Some("absolute");
    }
    if path.contains('\\') {
        return Some("backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("control character");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("too long");
    }
    if path
        .split('/')
        .next()
        .is_some_and(|first| first.len() == 2 && first.ends_with(':'))
    {
        return Some("drive letter");
    }
    for part in path.split('/') {
        match part {
            "" => return Some("empty component"),
            "." => return Some("`.` component"),
            ".." => return Some("`..` component"),
            p if p.len() > MAX_COMPONENT_BYTES => return Some("component too long"),
            _ => {}
        }
    }
    None
}

/// The properties every outcome must have: `archive` is the input, `limits` those applied.
fn check(
    archive: &[u8],
    limits: &Limits,
    outcome: &Result<Vec<UnpackedFile>, Error>,
) -> Result<(), TestCaseError> {
    match outcome {
        Ok(files) => {
            prop_assert!(!files.is_empty(), "an Ok without files");
            prop_assert!(
                files.len() as u64 <= limits.max_files,
                "{} files, limit {}",
                files.len(),
                limits.max_files
            );
            let total: u64 = files.iter().map(|f| f.data.len()).sum();
            let ceiling = (archive.len() as u64)
                .saturating_mul(limits.max_ratio)
                .max(limits.ratio_grace_bytes)
                .min(limits.max_total_bytes);
            prop_assert!(
                total <= ceiling,
                "{} bytes expanded, ceiling {}",
                total,
                ceiling
            );
            prop_assert!(archive.len() as u64 <= limits.max_archive_bytes);
            for file in files {
                prop_assert!(
                    unsafe_path(&file.path).is_none(),
                    "unsafe path {:?} ({:?}) accepted",
                    file.path,
                    unsafe_path(&file.path)
                );
            }
            for pair in files.windows(2) {
                prop_assert!(pair[0].path < pair[1].path, "not sorted or not distinct");
                prop_assert!(
                    !pair[1].path.starts_with(&format!("{}/", pair[0].path)),
                    "{:?} is both a file and a directory",
                    pair[0].path
                );
            }
        }
        Err(error) => {
            prop_assert!(
                matches!(
                    error,
                    Error::Archive { .. } | Error::UnsafeEntry { .. } | Error::LimitExceeded { .. }
                ),
                "not an archive refusal: {:?}",
                error
            );
            prop_assert!(!error.is_retryable(), "retryable: {}", error);
            prop_assert!(!error.to_string().is_empty());
        }
    }
    Ok(())
}

/// Unpacks `archive` under each name and both limits, checking every outcome.
fn unpack_and_check(names: &[&str], archive: &[u8]) -> Result<(), TestCaseError> {
    for name in names {
        for limits in [Limits::default(), TIGHT] {
            check(archive, &limits, &unpack("fuzz", name, archive, &limits))?;
        }
    }
    Ok(())
}

/// Entry names: ordinary ones, and every kind the rules refuse or normalise.
fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(vec![
            "index.js",
            "remoteEntry.js",
            "package/index.js",
            "package/dir/a.css",
            "./x.js",
            "./package/y.js",
            "a/b/c/d.txt",
            "a",
            "a/b",
            "é/ü.js",
            "x.js#v1",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "../evil.js",
            "a/../../b",
            "/etc/passwd",
            "a\\..\\b",
            "C:/x",
            "a//b",
            "a/./b",
            "package/.",
            "x.js#12",
            "a\u{1}b",
            ".",
            "",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z./\\\\]{1,40}",
        1 => "\\PC{1,20}",
    ]
}

/// Small file contents; sometimes a large, very compressible one.
fn arb_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        1 => (1usize..40_000).prop_map(|n| vec![b'0'; n]),
    ]
}

/// `(name, data, is_dir)` entries of a small archive.
fn arb_entries() -> impl Strategy<Value = Vec<(String, Vec<u8>, bool)>> {
    prop::collection::vec((arb_name(), arb_data(), prop::bool::weighted(0.15)), 1..6)
}

/// A gzip-compressed tar of `entries` (names up to 100 bytes, written verbatim).
fn build_tgz(entries: &[(String, Vec<u8>, bool)]) -> Vec<u8> {
    let tar_entries: Vec<TarEntry<'_>> = entries
        .iter()
        .filter(|(name, _, _)| name.len() <= 100)
        .map(|(name, data, is_dir)| TarEntry {
            name,
            kind: if *is_dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            },
            data: if *is_dir { b"" } else { data },
            link: "",
        })
        .collect();
    tgz(&tar_entries).to_vec()
}

/// A zip of `entries` (the writer refuses some names and duplicates: those are left out).
fn build_zip(entries: &[(String, Vec<u8>, bool)], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data, is_dir) in entries {
        if *is_dir {
            let _ = w.add_directory(name.as_str(), opts);
        } else if w.start_file(name.as_str(), opts).is_ok() {
            let _ = w.write_all(data);
        }
    }
    w.finish()
        .map(std::io::Cursor::into_inner)
        .unwrap_or_default()
}

/// One change to an archive's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Bits flipped: (position as a fraction of the length in 1/65536ths, bit).
    Flip(Vec<(u16, u8)>),
    /// A byte overwritten with a value (interesting values: 0, 0xff, '/', '.', '\\').
    Overwrite(u16, u8),
    /// Cut at a fraction of the length (1/65536ths).
    Truncate(u16),
    /// Bytes appended.
    Append(Vec<u8>),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::collection::vec((any::<u16>(), 0u8..8), 1..6).prop_map(Mutation::Flip),
        (
            any::<u16>(),
            prop_oneof![
                Just(0u8),
                Just(0xff),
                Just(b'/'),
                Just(b'.'),
                Just(b'\\'),
                any::<u8>()
            ]
        )
            .prop_map(|(at, b)| Mutation::Overwrite(at, b)),
        any::<u16>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..300).prop_map(Mutation::Append),
    ]
}

fn position(len: usize, at: u16) -> usize {
    (len * usize::from(at)) >> 16
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match mutation {
            Mutation::Flip(flips) => {
                for (at, bit) in flips {
                    let i = position(bytes.len(), *at);
                    bytes[i] ^= 1 << bit;
                }
            }
            Mutation::Overwrite(at, value) => {
                let i = position(bytes.len(), *at);
                bytes[i] = *value;
            }
            Mutation::Truncate(at) => bytes.truncate(position(bytes.len(), *at)),
            Mutation::Append(extra) => bytes.extend_from_slice(extra),
        }
    }
    bytes
}

/// `archive` (a `.tgz`) decompressed, mutated and compressed again: the changes reach the tar
/// reader instead of failing gzip's checksum.
fn mutate_inside_gzip(archive: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut tar = Vec::new();
    let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(archive), &mut tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&apply(tar, mutations));
    gz.finish().unwrap_or_default()
}

const TGZ: [&str; 2] = ["a-1.0.0.tgz", "a-1.0.0.tar.gz"];
const ZIP: [&str; 1] = ["a-1.0.0.zip"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fuzz_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        unpack_and_check(&["a.tgz", "a.tar.gz", "a.zip"], &bytes)?;
    }

    #[test]
    fn fuzz_arbitrary_bytes_behind_valid_magic(
        tail in prop::collection::vec(any::<u8>(), 0..1024),
        zip in any::<bool>(),
    ) {
        // past the first check of each format: the gzip header, the zip's local and end
        // records
        let mut bytes = if zip { b"PK\x03\x04".to_vec() } else { vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] };
        bytes.extend_from_slice(&tail);
        if zip {
            bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\0\0\0\0\0\0");
        }
        unpack_and_check(if zip { &ZIP } else { &TGZ }, &bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fuzz_mutated_tgz(
        entries in arb_entries(),
        mutations in prop::collection::vec(arb_mutation(), 0..3),
        inside in any::<bool>(),
    ) {
        let archive = build_tgz(&entries);
        let mutated = if inside {
            mutate_inside_gzip(&archive, &mutations)
        } else {
            apply(archive, &mutations)
        };
        unpack_and_check(&TGZ, &mutated)?;
    }

    #[test]
    fn fuzz_mutated_zip(
        entries in arb_entries(),
        deflate in any::<bool>(),
        mutations in prop::collection::vec(arb_mutation(), 0..3),
    ) {
        let archive = build_zip(&entries, deflate);
        unpack_and_check(&ZIP, &apply(archive, &mutations))?;
    }
}

/// The harness can fail, and sees successes: unsafe paths, too many files or bytes, and a
/// retryable error are all caught, a panic too; an intact archive unpacks to what was packed.
#[test]
fn fuzz_harness_catches_bad_outcomes() {
    let file = |path: &str, len: usize| UnpackedFile {
        path: path.to_owned(),
        data: vec![0; len].into(),
    };
    let archive = [0u8; 100];
    for bad in [
        vec![],
        vec![file("../x", 1)],
        vec![file("/x", 1)],
        vec![file("a\\b", 1)],
        vec![file("a//b", 1)],
        vec![file("a", 1), file("a/b", 1)],
        vec![file("b", 1), file("a", 1)],
        (0..5).map(|i| file(&format!("f{i}"), 1)).collect(),
        vec![file("big", 2049)],
    ] {
        assert!(
            check(&archive, &TIGHT, &Ok(bad.clone())).is_err(),
            "{bad:?}"
        );
    }
    let retryable = Error::Timeout {
        location: "the store".to_owned(),
    };
    assert!(check(&archive, &TIGHT, &Err(retryable)).is_err());

    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    let panicking = runner.run(&any::<u8>(), |_| -> Result<(), TestCaseError> {
        panic!("unpack panicked")
    });
    assert!(panicking.is_err(), "a panic went unnoticed");

    let entries = vec![
        ("package/index.js".to_owned(), b"export {}".to_vec(), false),
        ("package/css/a.css".to_owned(), b"a{}".to_vec(), false),
    ];
    for (name, archive) in [
        ("a.tgz", build_tgz(&entries)),
        ("a.zip", build_zip(&entries, true)),
        ("a.zip", build_zip(&entries, false)),
    ] {
        let files = unpack("fuzz", name, &archive, &TIGHT).unwrap();
        assert!(check(&archive, &TIGHT, &Ok(files.clone())).is_ok());
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["css/a.css", "index.js"]);
        // and an unmutated tar rewritten through the gzip round trip is still the same archive
        if name == "a.tgz" {
            assert_eq!(
                unpack("fuzz", name, &mutate_inside_gzip(&archive, &[]), &TIGHT).unwrap(),
                files
            );
        }
    }
}
