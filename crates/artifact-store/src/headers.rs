//! Content-Type and Cache-Control for uploaded files.
//!
//! Content-Type: explicit types for the web formats browsers are strict about, then
//! `mime_guess`, then `application/octet-stream`. Every `text/*` type carries
//! `; charset=utf-8`; other types never carry a charset.
//!
//! Cache-Control: [`IMMUTABLE`] for content-hashed files under a version prefix,
//! [`REVALIDATE`] for entry points, aliases, the import map and anything unhashed.
//!
//! ## The content-hash heuristic
//!
//! A file is content-hashed when its name, minus its extensions, has a segment (delimited by
//! `.` or `-`, and not the first segment) that
//! - is 8 to 64 characters long, made of `[A-Za-z0-9_]`,
//! - contains at least one ASCII letter and one digit, and
//! - switches between letters and digits at least twice (so `bundle2024` or `es2015` are not
//!   hashes, while `3f2a9c1b`, `5GX7K2QD` and `BZ3x9_aQ` are).
//!
//! This recognises webpack (`main.3f2a9c1b.js`, `[contenthash]`), esbuild
//! (`chunk-5GX7K2QD.js`) and Vite/Rollup (`index-BZ3x9_aQ.js`) names, and their `.map`
//! files. A miss is harmless (the file gets the short policy); a false positive would cache
//! a file for a year, but files under `mfe/<name>/<version>/` are write-once anyway.

use object_store::{Attribute, Attributes};

/// Cache-Control for content-hashed files under a version prefix.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control for entry points, aliases, the import map and unhashed files.
pub const REVALIDATE: &str = "public, max-age=60, must-revalidate";

/// Content-Type of anything this module cannot name: raw bytes (RFC 9110's default).
const OCTET_STREAM: &str = "application/octet-stream";

/// The last segment of a `/`-separated path (the whole path when it has no `/`).
fn file_name(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some((_, name)) => name,
        None => path,
    }
}

/// The Content-Type for a path, by extension. A name without an extension, or with one
/// neither this module nor `mime_guess` knows, is `application/octet-stream`: that is the
/// right type for bytes of unknown kind (browsers will not sniff or execute them), not a
/// failure.
pub fn content_type(path: &str) -> String {
    let Some((_, ext)) = file_name(path).rsplit_once('.') else {
        return OCTET_STREAM.to_owned();
    };
    let ext = ext.to_ascii_lowercase();
    let explicit = match ext.as_str() {
        "js" | "mjs" | "cjs" => Some("text/javascript"),
        "css" => Some("text/css"),
        "html" | "htm" => Some("text/html"),
        "txt" | "sha256" => Some("text/plain"),
        "wasm" => Some("application/wasm"),
        "json" | "map" => Some("application/json"),
        "webmanifest" => Some("application/manifest+json"),
        "svg" => Some("image/svg+xml"),
        "webp" => Some("image/webp"),
        "avif" => Some("image/avif"),
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        "ico" => Some("image/x-icon"),
        "woff2" => Some("font/woff2"),
        "woff" => Some("font/woff"),
        "ttf" => Some("font/ttf"),
        "otf" => Some("font/otf"),
        "xml" => Some("application/xml"),
        "gz" | "tgz" => Some("application/gzip"),
        "zip" => Some("application/zip"),
        _ => None,
    };
    let base = match explicit.or_else(|| mime_guess::from_ext(&ext).first_raw()) {
        Some(t) => t.to_owned(),
        None => OCTET_STREAM.to_owned(),
    };
    if base.starts_with("text/") {
        format!("{base}; charset=utf-8")
    } else {
        base
    }
}

/// Whether a file name looks content-hashed (see the module documentation).
pub fn is_content_hashed(path: &str) -> bool {
    let file = file_name(path);
    // Drop extensions: `main.3f2a9c1b.js.map` -> consider segments of the whole name, but the
    // extensions themselves never qualify (too short or no digits).
    let mut segments = file.split(['.', '-']);
    segments.next(); // the first segment is the file's own name
    segments.any(is_hash_segment)
}

fn is_hash_segment(s: &str) -> bool {
    if !(8..=64).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return false;
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = s.bytes().any(|b| b.is_ascii_alphabetic());
    let mut switches = 0;
    let mut prev: Option<bool> = None;
    for b in s.bytes().filter(u8::is_ascii_alphanumeric) {
        let digit = b.is_ascii_digit();
        if prev.is_some_and(|p| p != digit) {
            switches += 1;
        }
        prev = Some(digit);
    }
    has_digit && has_alpha && switches >= 2
}

/// The Cache-Control for a file at `rel_path` inside a version prefix.
pub fn cache_control(rel_path: &str, entry_points: &[String]) -> &'static str {
    if entry_points
        .iter()
        .any(|e| e.trim_start_matches('/') == rel_path)
    {
        REVALIDATE
    } else if is_content_hashed(rel_path) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// The attributes (Content-Type, Cache-Control) for a file.
pub fn attributes(path: &str, cache: &'static str) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::ContentType, content_type(path).into());
    a.insert(Attribute::CacheControl, cache.into());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        for yes in [
            "main.3f2a9c1b.js",
            "chunk-5GX7K2QD.js",
            "assets/index-BZ3x9_aQ.js",
            "main.3f2a9c1b.js.map",
            "static/js/787.a1b2c3d4e5f60718.chunk.js",
            "fonts/inter.8d9a7c6b.woff2",
        ] {
            assert!(is_content_hashed(yes), "{yes}");
        }
        for no in [
            "remoteEntry.js",
            "index.html",
            "vendor-react.js",
            "polyfills-es2015.js",
            "bundle2024.js",
            "app.bundle2024.js",
            "jquery-3.7.1.min.js",
            "3f2a9c1b.js",
            "logo.svg",
            "report-20240101.txt",
        ] {
            assert!(!is_content_hashed(no), "{no}");
        }
    }

    #[test]
    fn types() {
        assert_eq!(content_type("a/b.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.WASM"), "application/wasm");
        assert_eq!(content_type("x.js.map"), "application/json");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
        assert_eq!(content_type("x.unknownext"), "application/octet-stream");
        assert_eq!(content_type("x.pdf"), "application/pdf");
        assert_eq!(content_type("x.md"), "text/markdown; charset=utf-8");
        assert_eq!(content_type("x."), "application/octet-stream");
        assert_eq!(content_type("dir.d/README"), "application/octet-stream");
        assert_eq!(content_type("dir.d/x.CSS"), "text/css; charset=utf-8");
    }

    #[test]
    fn cache_policy() {
        let entries = vec!["remoteEntry.js".to_owned(), "main.3f2a9c1b.js".to_owned()];
        assert_eq!(cache_control("main.3f2a9c1b.js", &entries), REVALIDATE);
        assert_eq!(cache_control("chunk-5GX7K2QD.js", &entries), IMMUTABLE);
        assert_eq!(cache_control("index.html", &entries), REVALIDATE);
    }
}
