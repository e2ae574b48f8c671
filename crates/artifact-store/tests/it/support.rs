//! Builders for crafted archives and small store helpers.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;
use gitops_artifact_store::{ObjectLocation, sha256_hex, sidecar_line};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};

/// One entry of a crafted tar archive. `name` is written into the header verbatim (no
/// validation), so it can hold `..` or an absolute path.
pub struct TarEntry<'a> {
    pub name: &'a str,
    pub kind: tar::EntryType,
    pub data: &'a [u8],
    pub link: &'a str,
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> TarEntry<'a> {
    TarEntry {
        name,
        kind: tar::EntryType::Regular,
        data,
        link: "",
    }
}

pub fn special<'a>(name: &'a str, kind: tar::EntryType, link: &'a str) -> TarEntry<'a> {
    TarEntry {
        name,
        kind,
        data: b"",
        link,
    }
}

/// A gzip-compressed tar with the given entries, written without the tar crate's path checks.
pub fn tgz(entries: &[TarEntry<'_>]) -> Bytes {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
            old.linkname = [0; 100];
            old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        }
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, e.data).unwrap();
    }
    Bytes::from(b.into_inner().unwrap().finish().unwrap())
}

/// A zip archive; `(name, data, symlink)`.
pub fn zip_archive(entries: &[(&str, &[u8], bool)]) -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data, symlink) in entries {
        if *symlink {
            w.add_symlink(*name, std::str::from_utf8(data).unwrap(), opts)
                .unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    Bytes::from(w.finish().unwrap().into_inner())
}

/// Puts `archive` and (optionally) a correct sidecar into a fresh in-memory store under
/// `artifacts/<file_name>`; returns the location.
pub async fn artifact_in_memory(file_name: &str, archive: Bytes, sidecar: bool) -> ObjectLocation {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let path = Path::from(format!("artifacts/{file_name}"));
    if sidecar {
        let line = sidecar_line(&sha256_hex(&archive), file_name);
        store
            .put(
                &Path::from(format!("{path}.sha256")),
                Bytes::from(line).into(),
            )
            .await
            .unwrap();
    }
    store.put(&path, archive.into()).await.unwrap();
    ObjectLocation {
        store,
        path,
        display: format!("memory:///artifacts/{file_name}"),
    }
}

pub fn memory_store() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

pub async fn list(store: &dyn ObjectStore) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    v.sort();
    v
}

pub async fn read(store: &dyn ObjectStore, path: &str) -> (Bytes, object_store::Attributes) {
    let r = store.get(&Path::from(path)).await.unwrap();
    let attrs = r.attributes.clone();
    (r.bytes().await.unwrap(), attrs)
}

pub fn attr(attrs: &object_store::Attributes, key: &object_store::Attribute) -> String {
    attrs
        .get(key)
        .map(|v| v.as_ref().to_owned())
        .unwrap_or_default()
}

/// A gzip-compressed tar whose entries may have names of any length (GNU long names), as
/// regular files (`Some(data)`) or directories (`None`).
pub fn tgz_long(entries: &[(&str, Option<&[u8]>)]) -> Bytes {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        if let Some(d) = data {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(d.len() as u64);
            b.append_data(&mut h, name, *d).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, name, &[][..]).unwrap();
        }
    }
    Bytes::from(b.into_inner().unwrap().finish().unwrap())
}

/// A zip whose central directory lists `name` twice: written with a placeholder name of the
/// same length for the second entry, then patched (zip writers refuse duplicates).
pub fn zip_with_duplicate(name: &str) -> Bytes {
    let placeholder: String = name
        .chars()
        .map(|c| if c == 'Z' { 'Y' } else { 'Z' })
        .collect();
    let a = zip_archive(&[(name, b"first", false), (&placeholder, b"second", false)]);
    let mut raw = a.to_vec();
    let (from, to) = (placeholder.as_bytes(), name.as_bytes());
    let mut i = 0;
    let mut patched = 0;
    while i + from.len() <= raw.len() {
        if &raw[i..i + from.len()] == from {
            raw[i..i + from.len()].copy_from_slice(to);
            patched += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory");
    Bytes::from(raw)
}

/// An MFE name, parsed by the event model's rule.
pub fn mfe(name: &str) -> gitops_event_model::MfeName {
    gitops_event_model::MfeName::parse(name).unwrap()
}

/// A version, parsed by the event model's rule.
pub fn ver(version: &str) -> gitops_event_model::Version {
    gitops_event_model::Version::parse(version).unwrap()
}
