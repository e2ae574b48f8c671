//! Entry-point aliases and the import map.

use std::sync::Arc;

use bytes::Bytes;
use gitops_artifact_store::headers::REVALIDATE;
use gitops_artifact_store::{
    Error, LocalStore, MAX_IMPORT_MAP_BYTES, Progress, StoreOpener, UnpackedFile, UploadOptions,
    publish_aliases, served_imports, update_import_map, upload_version, version_of_url,
};
use object_store::{Attribute, ObjectStore};

use crate::support::{attr, memory_store, mfe, read, ver};

pub async fn upload(store: &Arc<dyn ObjectStore>, version: &str, entry: &str) {
    let files = vec![UnpackedFile {
        path: "remoteEntry.js".into(),
        data: Bytes::from(entry.to_owned()).into(),
    }];
    let opts = UploadOptions {
        progress: Progress::Hidden,
        ..UploadOptions::default()
    };
    upload_version(store, &mfe("checkout"), &ver(version), &files, &opts)
        .await
        .unwrap();
}

pub async fn import_map(store: &dyn ObjectStore) -> serde_json::Value {
    let (data, _) = read(store, "importmap.json").await;
    serde_json::from_slice(&data).unwrap()
}

#[tokio::test]
async fn aliases_are_copied_with_the_short_policy_and_only_when_changed() {
    let store = memory_store();
    upload(&store, "1.0.0", "v1").await;
    upload(&store, "1.1.0", "v2").await;
    let entries = vec!["remoteEntry.js".to_owned()];

    let u = publish_aliases(store.as_ref(), &mfe("checkout"), &ver("1.0.0"), &entries)
        .await
        .unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].path, "mfe/checkout/remoteEntry.js");
    assert!(u[0].changed);
    let (data, attrs) = read(store.as_ref(), "mfe/checkout/remoteEntry.js").await;
    assert_eq!(&data[..], b"v1");
    assert_eq!(attr(&attrs, &Attribute::CacheControl), REVALIDATE);
    assert_eq!(
        attr(&attrs, &Attribute::ContentType),
        "text/javascript; charset=utf-8"
    );

    let u = publish_aliases(store.as_ref(), &mfe("checkout"), &ver("1.0.0"), &entries)
        .await
        .unwrap();
    assert!(!u[0].changed, "same content must not count as a change");

    let u = publish_aliases(store.as_ref(), &mfe("checkout"), &ver("1.1.0"), &entries)
        .await
        .unwrap();
    assert!(u[0].changed);
    let (data, _) = read(store.as_ref(), "mfe/checkout/remoteEntry.js").await;
    assert_eq!(&data[..], b"v2");

    let err = publish_aliases(
        store.as_ref(),
        &mfe("checkout"),
        &ver("1.1.0"),
        &["missing.js".into()],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = publish_aliases(
        store.as_ref(),
        &mfe("checkout"),
        &ver("1.1.0"),
        &["../../x".into()],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn import_map_is_created_updated_and_left_alone_when_unchanged() {
    let store = memory_store();
    let cdn = "https://cdn.example.com/";
    let u = update_import_map(
        store.as_ref(),
        cdn,
        &mfe("checkout"),
        &ver("1.0.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    assert!(u.changed);
    assert_eq!(u.path, "importmap.json");
    let v = import_map(store.as_ref()).await;
    assert_eq!(
        v,
        serde_json::json!({"imports": {"checkout": "https://cdn.example.com/mfe/checkout/1.0.0/remoteEntry.js"}})
    );
    let (_, attrs) = read(store.as_ref(), "importmap.json").await;
    assert_eq!(attr(&attrs, &Attribute::ContentType), "application/json");
    assert_eq!(attr(&attrs, &Attribute::CacheControl), REVALIDATE);

    update_import_map(store.as_ref(), cdn, &mfe("cart"), &ver("0.1.0"), "cart.js")
        .await
        .unwrap();
    let u = update_import_map(
        store.as_ref(),
        cdn,
        &mfe("checkout"),
        &ver("1.1.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    assert!(u.changed);
    let v = import_map(store.as_ref()).await;
    assert_eq!(
        v["imports"]["checkout"],
        "https://cdn.example.com/mfe/checkout/1.1.0/remoteEntry.js"
    );
    assert_eq!(
        v["imports"]["cart"],
        "https://cdn.example.com/mfe/cart/0.1.0/cart.js"
    );

    let u = update_import_map(
        store.as_ref(),
        cdn,
        &mfe("checkout"),
        &ver("1.1.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    assert!(!u.changed);
}

/// Concurrent writers of different MFEs never lose each other's entry (compare-and-swap).
pub async fn concurrent_import_map_updates(store: Arc<dyn ObjectStore>) {
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            update_import_map(
                store.as_ref(),
                "https://cdn",
                &mfe(&format!("mfe{i}")),
                &ver("1.0.0"),
                "e.js",
            )
            .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        if let Err(e) = t.await.unwrap() {
            panic!("writer {i} failed: {e:?}");
        }
    }
    let v = import_map(store.as_ref()).await;
    let imports = v["imports"].as_object().unwrap();
    assert_eq!(imports.len(), 6, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_map_compare_and_swap_keeps_every_concurrent_update() {
    concurrent_import_map_updates(memory_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_map_compare_and_swap_holds_on_the_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_import_map_updates(Arc::new(LocalStore::open(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn import_map_and_aliases_on_the_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreOpener::new(dir.path()).open_storage("public").unwrap();
    update_import_map(
        store.as_ref(),
        "http://localhost:8080",
        &mfe("checkout"),
        &ver("1.0.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    update_import_map(
        store.as_ref(),
        "http://localhost:8080",
        &mfe("cart"),
        &ver("1.0.0"),
        "cart.js",
    )
    .await
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join("public/importmap.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["imports"].as_object().unwrap().len(), 2);
    assert!(text.ends_with("}\n"));

    upload(&store, "1.0.0", "v1").await;
    let u = publish_aliases(
        store.as_ref(),
        &mfe("checkout"),
        &ver("1.0.0"),
        &["remoteEntry.js".into()],
    )
    .await
    .unwrap();
    assert!(u[0].changed);
    assert_eq!(
        std::fs::read(dir.path().join("public/mfe/checkout/remoteEntry.js")).unwrap(),
        b"v1"
    );
}

#[tokio::test]
async fn a_corrupt_import_map_is_an_error_not_overwritten() {
    let store = memory_store();
    object_store::ObjectStoreExt::put(
        store.as_ref(),
        &"importmap.json".into(),
        Bytes::from_static(b"{not json").into(),
    )
    .await
    .unwrap();
    let err = update_import_map(
        store.as_ref(),
        "https://cdn",
        &mfe("checkout"),
        &ver("1.0.0"),
        "e.js",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "importmap.json",
                ..
            }
        ),
        "{err:?}"
    );
    let (data, _) = read(store.as_ref(), "importmap.json").await;
    assert_eq!(&data[..], b"{not json");
}

#[tokio::test]
async fn served_imports_reads_back_what_the_import_map_serves() {
    let store = memory_store();
    let cdn = "https://cdn.example.com";
    assert!(served_imports(store.as_ref()).await.unwrap().is_empty());
    update_import_map(
        store.as_ref(),
        cdn,
        &mfe("checkout"),
        &ver("1.2.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    update_import_map(store.as_ref(), cdn, &mfe("cart"), &ver("0.1.0"), "cart.js")
        .await
        .unwrap();
    let served = served_imports(store.as_ref()).await.unwrap();
    assert_eq!(served.len(), 2);
    let (checkout, cart) = (mfe("checkout"), mfe("cart"));
    assert_eq!(
        version_of_url(cdn, &checkout, &served[&checkout]),
        Some(ver("1.2.0"))
    );
    assert_eq!(
        version_of_url(cdn, &cart, &served[&cart]),
        Some(ver("0.1.0"))
    );
    // Another CDN base or MFE does not count as serving the version.
    assert_eq!(
        version_of_url("https://old-cdn.example.com", &checkout, &served[&checkout]),
        None
    );
    assert_eq!(version_of_url(cdn, &cart, &served[&checkout]), None);

    let put = |data: Vec<u8>| {
        let store = Arc::clone(&store);
        async move {
            object_store::ObjectStoreExt::put(
                store.as_ref(),
                &"importmap.json".into(),
                Bytes::from(data).into(),
            )
            .await
            .unwrap();
        }
    };
    put(br#"{"scopes": {}}"#.to_vec()).await;
    assert!(served_imports(store.as_ref()).await.unwrap().is_empty());
    // Entries another tool keeps in the map are not MFEs: left out, the rest still served.
    put(
        br#"{"imports": {"@org/shared": "https://x/s.js", "checkout": "https://x/c.js"}}"#.to_vec(),
    )
    .await;
    let served = served_imports(store.as_ref()).await.unwrap();
    assert_eq!(
        served.into_iter().collect::<Vec<_>>(),
        vec![(checkout.clone(), "https://x/c.js".to_owned())]
    );
    for corrupt in [
        &b"{not json"[..],
        b"[]",
        br#"{"imports": []}"#,
        br#"{"imports": {"checkout": 1}}"#,
        br#"{"imports": {"@org/shared": 1}}"#,
    ] {
        put(corrupt.to_vec()).await;
        let err = served_imports(store.as_ref()).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    field: "importmap.json",
                    ..
                }
            ),
            "{}: {err:?}",
            String::from_utf8_lossy(corrupt)
        );
    }
    // Bounded: a huge import map is refused, not read.
    let mut huge = br#"{"imports": {}, "pad": ""#.to_vec();
    huge.resize(usize::try_from(MAX_IMPORT_MAP_BYTES).unwrap() + 10, b' ');
    huge.extend_from_slice(b"\"}");
    put(huge).await;
    let err = served_imports(store.as_ref()).await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    let err = update_import_map(
        store.as_ref(),
        cdn,
        &mfe("checkout"),
        &ver("1.3.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}
