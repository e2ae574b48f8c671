//! `gitops prune` through the binary: on the embedded backends (versions shipped as a user
//! ships them, older prefixes written into the served directory, ages set with file times), the
//! README's example on the repository `gitops demo` leaves, and on moto (S3 + DynamoDB +
//! CloudFront).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt as _, PutPayload};

use crate::moto::keys;
use crate::support::{Repo, both, files_under};

const DAY: Duration = Duration::from_hours(24);

/// Every file under `dir`: path relative to it, to size.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    files_under(dir)
        .into_iter()
        .map(|path| {
            let size = std::fs::metadata(&path).unwrap().len();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, size)
        })
        .collect()
}

/// Sets the modification time of every file under `dir` to `at`.
fn date(dir: &Path, at: SystemTime) {
    for rel in files(dir).keys() {
        std::fs::File::options()
            .write(true)
            .open(dir.join(rel))
            .unwrap()
            .set_modified(at)
            .unwrap();
    }
}

/// Writes a version prefix by hand (as an old tool or a failed deploy would have left it).
fn write_prefix(storage: &Path, mfe: &str, version: &str) {
    let dir = storage.join(format!("mfe/{mfe}/{version}"));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("remoteEntry.js"), format!("// {mfe} {version}\n")).unwrap();
    std::fs::write(
        dir.join("assets/main.9c8b7a6d.js"),
        format!("console.log('{mfe} {version} ...');\n"),
    )
    .unwrap();
}

/// The files of `all` under `mfe/<mfe>/<version>/` for each version: (count, bytes).
fn under(all: &BTreeMap<String, u64>, mfe: &str, versions: &[&str]) -> (u64, u64) {
    let sizes: Vec<u64> = all
        .iter()
        .filter(|(p, _)| {
            versions
                .iter()
                .any(|v| p.starts_with(&format!("mfe/{mfe}/{v}/")))
        })
        .map(|(_, s)| *s)
        .collect();
    (sizes.len() as u64, sizes.iter().sum())
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_str().unwrap().to_owned())
        .collect()
}

fn pair<'a>(report: &'a serde_json::Value, mfe: &str) -> &'a serde_json::Value {
    report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mfe"] == mfe)
        .unwrap_or_else(|| panic!("no pair {mfe}: {report}"))
}

#[test]
fn prune_on_the_embedded_backends() {
    let repo = Repo::new(&["dev"], &["checkout", "cart"]);
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"] {
        repo.publish("checkout", v);
        repo.ship("checkout", "dev", v);
    }
    let shipped = std::time::Instant::now();
    repo.publish("cart", "2.0.0");
    repo.ship("cart", "dev", "2.0.0");
    let storage = repo.storage("dev");
    // Prefixes that never went live, and a directory of an MFE that is not registered; every
    // file 40 days old but 0.9.6's (10 days).
    for v in ["0.8.0", "0.9.0", "0.9.6"] {
        write_prefix(&storage, "checkout", v);
    }
    write_prefix(&storage, "legacy", "1.0.0");
    date(&storage, SystemTime::now() - 40 * DAY);
    date(
        &storage.join("mfe/checkout/0.9.6"),
        SystemTime::now() - 10 * DAY,
    );

    // 1.2.0's files are old, but it was live until a moment ago: a cached import map may still
    // name it, so it is young (as long as the CDN's max-age).
    let now = repo.json(&[
        "prune",
        "--env",
        "dev",
        "--keep",
        "0",
        "--dry-run",
        "--format",
        "json",
    ]);
    let young = pair(&now, "checkout")["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["version"] == "1.2.0")
        .cloned();
    assert_eq!(
        young.map(|k| k["reasons"].clone()),
        Some(serde_json::json!(["young"])),
        "{now}"
    );
    std::thread::sleep(Duration::from_secs(61).saturating_sub(shipped.elapsed()));
    // A prefix whose files are newer than the CDN's max-age (dated ahead of the clock, so that
    // it stays young however long the steps below take).
    write_prefix(&storage, "checkout", "0.9.5");
    date(
        &storage.join("mfe/checkout/0.9.5"),
        SystemTime::now() + Duration::from_mins(10),
    );
    let before = files(&storage);

    // Dry run: the plan in JSON, nothing deleted.
    let dry = repo.json(&[
        "prune",
        "--env",
        "dev",
        "--keep",
        "2",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(files(&storage), before, "a dry run deletes nothing");
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["min_age_seconds"], 60, "{dry}");
    let checkout = pair(&dry, "checkout");
    assert_eq!(
        names(&checkout["deleted"]),
        ["1.1.0", "1.0.0", "0.9.6", "0.9.0", "0.8.0"],
        "{dry}"
    );
    let kept: Vec<(String, serde_json::Value)> = checkout["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["version"].as_str().unwrap().to_owned(),
                k["reasons"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (
                "1.3.0".to_owned(),
                serde_json::json!(["live", "desired", "recent"])
            ),
            ("1.2.0".to_owned(), serde_json::json!(["recent"])),
            ("0.9.5".to_owned(), serde_json::json!(["young"])),
        ]
    );
    assert_eq!(names(&pair(&dry, "cart")["kept"]), ["2.0.0"]);
    assert_eq!(dry["skipped"][0]["directory"], "mfe/legacy/", "{dry}");
    let doomed = ["1.1.0", "1.0.0", "0.9.6", "0.9.0", "0.8.0"];
    let (objects, bytes) = under(&before, "checkout", &doomed);
    assert_eq!(
        dry["freed"],
        serde_json::json!({"objects": objects, "bytes": bytes})
    );

    // The table says the same for people.
    let table = repo.ok(&["prune", "--env", "dev", "--keep", "2", "--dry-run"]);
    for line in [
        "dev/checkout: live 1.3.0, desired 1.3.0",
        "  keep          1.3.0  live, desired, recent",
        "  keep          0.9.5  young",
        "  would delete  0.8.0  2 object(s), ",
        "skipped mfe/legacy/: not a registered MFE",
        &format!("dry run: would free {objects} object(s), {bytes} bytes; nothing deleted"),
    ] {
        assert!(table.contains(line), "{line:?} in:\n{table}");
    }

    // For real, with --older-than 30d: 0.9.6 (10 days old) stays too.
    let done = repo.json(&[
        "prune",
        "--env",
        "dev",
        "--keep",
        "2",
        "--older-than",
        "30d",
        "--format",
        "json",
    ]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["failure"], serde_json::Value::Null, "{done}");
    let gone = ["1.1.0", "1.0.0", "0.9.0", "0.8.0"];
    assert_eq!(names(&pair(&done, "checkout")["deleted"]), gone);
    let (objects, bytes) = under(&before, "checkout", &gone);
    assert_eq!(
        done["freed"],
        serde_json::json!({"objects": objects, "bytes": bytes})
    );
    let expected: BTreeMap<String, u64> = before
        .iter()
        .filter(|(p, _)| {
            !gone
                .iter()
                .any(|v| p.starts_with(&format!("mfe/checkout/{v}/")))
        })
        .map(|(p, s)| (p.clone(), *s))
        .collect();
    assert_eq!(
        files(&storage),
        expected,
        "exactly the unprotected prefixes are gone"
    );

    // Still in sync, the live version still served.
    for mfe in ["checkout", "cart"] {
        assert_eq!(repo.status("dev", mfe)["state"], "in-sync");
    }
    assert_eq!(
        repo.import_map("dev")["imports"]["checkout"],
        "https://cdn.example.com/dev/mfe/checkout/1.3.0/remoteEntry.js"
    );
    assert_eq!(
        std::fs::read_to_string(storage.join("mfe/checkout/1.3.0/remoteEntry.js")).unwrap(),
        "// checkout 1.3.0\n"
    );
    assert_eq!(
        std::fs::read_to_string(storage.join("mfe/checkout/remoteEntry.js")).unwrap(),
        "// checkout 1.3.0\n"
    );

    // A deploy in flight (desired 1.4.0 merged, not deployed): refused, exit 1, nothing deleted.
    repo.publish("checkout", "1.4.0");
    repo.desire("checkout", "dev", "1.4.0");
    let kept_files = files(&storage);
    let refused = repo.gitops(&["prune", "--env", "dev", "--keep", "0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("dev/checkout: desired 1.4.0 is not live yet (live 1.3.0)"),
        "{said}"
    );
    assert_eq!(files(&storage), kept_files);
    // Another pair can still be pruned meanwhile.
    repo.ok(&["prune", "--env", "dev", "--mfe", "cart", "--keep", "0"]);
    // Once deployed, --keep 0 leaves only what is live, desired or young.
    repo.ok(&["deploy"]);
    let after = repo.json(&["prune", "--env", "dev", "--keep", "0", "--format", "json"]);
    assert_eq!(
        names(&pair(&after, "checkout")["deleted"]),
        ["1.2.0", "0.9.6"],
        "{after}"
    );
    assert_eq!(
        names(&pair(&after, "checkout")["kept"]),
        ["1.4.0", "1.3.0", "0.9.5"]
    );
    assert_eq!(
        pair(&after, "checkout")["kept"][1]["reasons"],
        serde_json::json!(["young"]),
        "1.3.0 was live until the deploy a moment ago: {after}"
    );
    assert_eq!(repo.status("dev", "checkout")["state"], "in-sync");

    // Usage errors: exit 2.
    for args in [
        &["prune", "--env", "nowhere"][..],
        &["prune", "--env", "dev", "--older-than", "soon"],
        &["prune", "--env", "dev", "--mfe", "unknown"],
    ] {
        let out = repo.gitops(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", both(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_on_s3_dynamodb_and_cloudfront() {
    let Some(url) = crate::moto::endpoint("prune_on_s3_dynamodb_and_cloudfront") else {
        return;
    };
    let repo = Repo::on_moto(&url, &["dev"], &["checkout"]).await;
    repo.artifacts_on_s3(&url).await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        let (entry, main) = (
            format!("// checkout {v}\n"),
            format!("console.log('{v}')\n"),
        );
        repo.publish_to_s3(
            &url,
            "checkout",
            v,
            &[
                ("remoteEntry.js", &entry),
                ("assets/main.3f2a9c1b.js", &main),
            ],
        )
        .await;
        repo.commit_desired("dev", "checkout", v);
        repo.aws_ok(&url, &["deploy"]);
    }
    let site = repo.bucket("dev");
    let store = repo.store(&url, "dev");
    // A prefix that never went live.
    store
        .put(
            &StorePath::from("mfe/checkout/0.9.0/remoteEntry.js"),
            PutPayload::from_static(b"// checkout 0.9.0\n"),
        )
        .await
        .unwrap();
    let written = std::time::Instant::now();
    let before = keys(&url, &site, "").await;
    let json = |args: &[&str]| {
        let mut all = vec!["prune", "--env", "dev", "--format", "json"];
        all.extend_from_slice(args);
        repo.aws_json(&url, &all)
    };

    // Just written (0.9.0) or live until just now (1.1.0): younger than the CDN's max-age.
    let young = json(&["--keep", "0", "--dry-run"]);
    let kept = &pair(&young, "checkout")["kept"];
    for (version, reasons) in [
        ("1.2.0", serde_json::json!(["live", "desired", "young"])),
        ("1.1.0", serde_json::json!(["young"])),
        ("0.9.0", serde_json::json!(["young"])),
    ] {
        assert!(
            kept.as_array()
                .unwrap()
                .iter()
                .any(|k| k["version"] == version && k["reasons"] == reasons),
            "{version} {reasons}: {young}"
        );
    }
    assert_eq!(keys(&url, &site, "").await, before);

    // A deploy in flight: refused.
    repo.commit_desired("dev", "checkout", "1.3.0");
    let refused = repo.aws(&url, &["prune", "--env", "dev"]);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    repo.commit_desired("dev", "checkout", "1.2.0");

    // Past the max-age (and 1.1.0's retirement), with --keep 2.
    let wait = Duration::from_secs(62).saturating_sub(written.elapsed());
    tokio::time::sleep(wait).await;
    let dry = json(&["--keep", "2", "--dry-run"]);
    assert_eq!(
        names(&pair(&dry, "checkout")["deleted"]),
        ["1.0.0", "0.9.0"],
        "{dry}"
    );
    assert_eq!(keys(&url, &site, "").await, before);
    // The real run goes through a recording proxy: every call it makes is one the deploy role's
    // policy (`gitops iam-policy`) allows, and it deletes only under mfe/.
    let proxy = gitops_testkit::aws_proxy::RecordingProxy::start(&url).await;
    let done = repo.aws_json(
        proxy.url(),
        &["prune", "--env", "dev", "--format", "json", "--keep", "2"],
    );
    let calls = proxy.calls();
    let policy = repo.aws_json(
        &url,
        &[
            "iam-policy",
            "--env",
            "dev",
            "--account",
            gitops_testkit::aws_proxy::MOTO_ACCOUNT,
            "--region",
            "us-east-1",
        ],
    );
    let policy = gitops_testkit::iam::Policy::parse(&policy).unwrap();
    let refused: Vec<_> = calls.iter().filter(|c| !c.allowed_by(&policy)).collect();
    assert!(
        refused.is_empty(),
        "not allowed by the deploy role: {refused:#?}"
    );
    let deletes: Vec<&str> = calls
        .iter()
        .filter(|c| c.action == "s3:DeleteObject")
        .map(|c| c.resource.as_str())
        .collect();
    assert_eq!(deletes.len(), 3, "{calls:#?}");
    assert!(
        deletes
            .iter()
            .all(|r| r.starts_with(&format!("arn:aws:s3:::{site}/mfe/checkout/"))),
        "{deletes:?}"
    );
    assert_eq!(done["failure"], serde_json::Value::Null, "{done}");
    assert_eq!(
        names(&pair(&done, "checkout")["deleted"]),
        ["1.0.0", "0.9.0"]
    );
    assert_eq!(done["freed"]["objects"], 3, "{done}");
    let expected: Vec<String> = before
        .iter()
        .filter(|k| !k.starts_with("mfe/checkout/1.0.0/") && !k.starts_with("mfe/checkout/0.9.0/"))
        .cloned()
        .collect();
    assert_eq!(keys(&url, &site, "").await, expected);
    assert!(
        expected.iter().any(|k| k.starts_with("metrics/")),
        "{expected:?}"
    );
    assert!(expected.contains(&"importmap.json".to_owned()));
    assert!(expected.contains(&"mfe/checkout/1.1.0/remoteEntry.js".to_owned()));

    // Still in sync, the live version still served.
    let rows = repo.aws_json(&url, &["status", "--format", "json"]);
    assert_eq!(rows[0]["state"], "in-sync", "{rows}");
    let map = crate::moto::get_json(&store, "importmap.json").await;
    assert_eq!(
        map["imports"]["checkout"],
        "https://dev.cdn.example.com/mfe/checkout/1.2.0/remoteEntry.js"
    );
    store
        .get(&StorePath::from(
            "mfe/checkout/1.2.0/assets/main.3f2a9c1b.js",
        ))
        .await
        .unwrap();
}
