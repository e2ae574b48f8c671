//! Three-way drift (issue 17) through the `gitops` binary: each kind created by the test that
//! checks it (an object deleted from the version prefix, an alias overwritten, the import map
//! edited, a registry entry committed out of band, a desired state never deployed, a stray MFE
//! directory, an unconfirmed invalidation), reported in the table and in JSON with exit 1, and
//! `--repair` repairing exactly the repairable ones; on the embedded backends and on moto.

use std::process::{Command, Output};

use gitops_db_registry::Registry as _;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt as _, PutPayload};
use serde_json::{Value, json};

use crate::support::{Repo, both};

/// `gitops drift ARGS --format json`: the pairs and the exit code.
fn drift_json(repo: &Repo, args: &[&str]) -> (Vec<Value>, i32) {
    let mut all = vec!["drift", "--format", "json"];
    all.extend_from_slice(args);
    let out = repo.gitops(&all);
    let pairs: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&out)));
    (
        pairs.as_array().unwrap().clone(),
        out.status.code().unwrap_or(-1),
    )
}

fn pair<'a>(pairs: &'a [Value], env: &str, mfe: &str) -> &'a Value {
    pairs
        .iter()
        .find(|p| p["environment"] == env && p["mfe"] == mfe)
        .unwrap_or_else(|| panic!("no pair {env}/{mfe} in {pairs:#?}"))
}

/// The kinds found for a pair, in order.
fn kinds(pair: &Value) -> Vec<String> {
    pair["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn storage(repo: &Repo, env: &str) -> std::path::PathBuf {
    repo.path().join(format!("local/{env}/storage"))
}

/// Commits `entry` into `env`'s SQLite registry, as something other than gitops would.
fn commit_out_of_band(repo: &Repo, env: &str, entry: Value) {
    let entry: gitops_db_registry::Entry = serde_json::from_value(entry).unwrap();
    let file = repo.path().join(format!("local/{env}/registry.db"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let registry = gitops_db_registry::SqliteRegistry::open(file)
                .await
                .unwrap();
            registry.commit(&entry).await.unwrap();
        });
}

#[test]
fn a_fleet_in_sync_exits_0_in_both_formats() {
    let repo = Repo::new(&["dev"], &["checkout", "cart"]);
    for mfe in ["checkout", "cart"] {
        repo.publish(mfe, "1.0.0");
        repo.ship(mfe, "dev", "1.0.0");
    }
    let out = repo.gitops(&["drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ENVIRONMENT"), "{text}");
    assert!(text.contains("no drift: 2 pair(s) in sync"), "{text}");
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 0);
    assert_eq!(pairs.len(), 2, "{pairs:#?}");
    let checkout = pair(&pairs, "dev", "checkout");
    for (key, value) in [
        ("desired", json!("1.0.0")),
        ("live", json!("1.0.0")),
        ("served", json!("1.0.0")),
        ("in_sync", json!(true)),
        ("findings", json!([])),
        ("repaired", json!([])),
        ("error", Value::Null),
        ("error_class", Value::Null),
    ] {
        assert_eq!(checkout[key], value, "{key}: {checkout}");
    }
}

#[test]
fn missing_files_a_moved_alias_and_an_edited_import_map_are_repaired() {
    let repo = Repo::new(&["dev"], &["checkout", "cart"]);
    for mfe in ["checkout", "cart"] {
        repo.publish(mfe, "1.0.0");
        repo.ship(mfe, "dev", "1.0.0");
    }
    let served = storage(&repo, "dev");
    let cdn_log = repo.path().join("local/dev/cdn.log");
    let invalidations = || std::fs::read_to_string(&cdn_log).unwrap().lines().count();
    let before = invalidations();
    // files-missing: an object of the version prefix deleted.
    let asset = served.join("mfe/checkout/1.0.0/assets/main.3f7a9c1e.js");
    std::fs::remove_file(&asset).unwrap();
    // alias-stale: the alias overwritten with other bytes.
    let alias = served.join("mfe/checkout/remoteEntry.js");
    std::fs::write(&alias, "// someone else's entry\n").unwrap();
    // importmap-stale: cart's entry pointed at another version.
    let map_path = served.join("importmap.json");
    let mut map = repo.import_map("dev");
    map["imports"]["cart"] = json!("https://cdn.example.com/dev/mfe/cart/0.9.0/remoteEntry.js");
    std::fs::write(&map_path, map.to_string()).unwrap();

    let out = repo.gitops(&["drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    for line in [
        "drift: dev/checkout: files-missing: mfe/checkout/1.0.0/ lacks 1 of the artifact's 2 files: assets/main.3f7a9c1e.js; repair: gitops drift --env dev --repair",
        "drift: dev/checkout: alias-stale: the alias mfe/checkout/remoteEntry.js does not hold the bytes of the live mfe/checkout/1.0.0/remoteEntry.js; repair: gitops drift --env dev --repair",
        "drift: dev/cart: importmap-stale: importmap.json points `cart` at https://cdn.example.com/dev/mfe/cart/0.9.0/remoteEntry.js, not at the live 1.0.0: https://cdn.example.com/dev/mfe/cart/1.0.0/remoteEntry.js; repair: gitops drift --env dev --repair",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("dev")
            && l.contains("checkout")
            && l.ends_with("files-missing, alias-stale")),
        "{text}"
    );
    assert!(
        text.contains(
            "2 of 2 pair(s) drifted: 3 finding(s), 3 repairable with `gitops drift --repair`"
        ),
        "{text}"
    );
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        kinds(pair(&pairs, "dev", "checkout")),
        ["files-missing", "alias-stale"]
    );
    assert_eq!(kinds(pair(&pairs, "dev", "cart")), ["importmap-stale"]);
    assert_eq!(pair(&pairs, "dev", "cart")["served"], "0.9.0");
    let finding = &pair(&pairs, "dev", "checkout")["findings"][0];
    assert_eq!(finding["repairable"], true, "{finding}");
    assert_eq!(finding["repair"], "gitops drift --env dev --repair");
    assert_eq!(invalidations(), before, "checking changes nothing");

    // --repair: everything was repairable, so the check after it is clean.
    let out = repo.gitops(&["drift", "--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    for line in [
        "repaired: dev/checkout: uploaded 1 missing file(s) of 1.0.0",
        "repaired: dev/checkout: re-published mfe/checkout/remoteEntry.js",
        "repaired: dev/cart: re-published importmap.json",
        "no drift: 2 pair(s) in sync",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert_eq!(
        std::fs::read_to_string(&asset).unwrap(),
        "console.log('checkout 1.0.0');\n"
    );
    assert_eq!(
        std::fs::read_to_string(&alias).unwrap(),
        "// checkout 1.0.0\n"
    );
    assert_eq!(
        repo.import_map("dev")["imports"]["cart"],
        "https://cdn.example.com/dev/mfe/cart/1.0.0/remoteEntry.js"
    );
    // The repaired pointers were invalidated (one invalidation per repaired pair), live untouched.
    assert_eq!(invalidations(), before + 2);
    assert!(
        std::fs::read_to_string(&cdn_log)
            .unwrap()
            .contains("/mfe/checkout/remoteEntry.js")
    );
    assert_eq!(repo.status("dev", "checkout")["version"], "1.0.0");
    assert_eq!(repo.gitops(&["drift"]).status.code(), Some(0));
    let (pairs, _) = drift_json(&repo, &["--repair"]);
    assert_eq!(
        pair(&pairs, "dev", "cart")["repaired"],
        json!([]),
        "nothing left to do"
    );
}

#[test]
fn registry_ahead_and_not_deployed_are_reported_and_never_repaired() {
    let repo = Repo::new(&["dev", "staging"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.publish("checkout", "1.1.0");
    repo.ship("checkout", "dev", "1.0.0");
    // not-deployed: staging desires 1.0.0, merged, never deployed.
    let (report, code) = repo.process("checkout", "staging", "1.0.0");
    assert_eq!(code, 0, "{report}");
    repo.ok(&["merge", "--all"]);
    // registry-ahead: dev's registry gets 1.1.0 committed out of band, far ahead of git.
    commit_out_of_band(
        &repo,
        "dev",
        json!({
            "environment": "dev", "mfe": "checkout", "version": "1.1.0", "sequence": 1000,
            "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
            "deployed_at": "2026-12-01T10:00:00Z", "deployed_by": "mallory", "rollback": false,
        }),
    );

    let out = repo.gitops(&["drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("drift: staging/checkout: not-deployed: desired 1.0.0 is not live: the registry has no entry; repair: gitops deploy --env staging --mfe checkout"),
        "{text}"
    );
    assert!(
        text.contains("drift: dev/checkout: registry-ahead: the registry has 1.1.0 at sequence 1000, newer than the desired state (1.0.0 at git position"),
        "{text}"
    );
    assert!(text.contains("drift never changes live"), "{text}");
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 1);
    let staging = pair(&pairs, "staging", "checkout");
    assert_eq!(kinds(staging), ["not-deployed"]);
    assert_eq!(staging["live"], Value::Null);
    assert_eq!(staging["findings"][0]["repairable"], false);
    // Served state is judged against what is live: 1.1.0's prefix is empty and the pointers
    // still serve 1.0.0.
    let dev = pair(&pairs, "dev", "checkout");
    assert_eq!(
        kinds(dev),
        ["registry-ahead", "files-missing", "importmap-stale"],
        "{dev}"
    );
    assert_eq!(
        (&dev["desired"], &dev["live"]),
        (&json!("1.0.0"), &json!("1.1.0"))
    );

    // --repair re-publishes what belongs to the live 1.1.0 (files, aliases, import map) and
    // changes neither what is desired nor what is live; the other two kinds remain.
    let out = repo.gitops(&["drift", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(pair(&pairs, "dev", "checkout")), ["registry-ahead"]);
    assert_eq!(kinds(pair(&pairs, "staging", "checkout")), ["not-deployed"]);
    assert_eq!(repo.status("dev", "checkout")["version"], "1.1.0");
    assert_eq!(repo.desired("dev", "checkout")["version"], "1.0.0");
    assert!(repo.status("staging", "checkout")["version"].is_null());
    assert!(
        repo.import_map("dev")["imports"]["checkout"]
            .as_str()
            .unwrap()
            .contains("/1.1.0/")
    );
    // The deploy the finding names repairs staging.
    repo.ok(&["deploy", "--env", "staging", "--mfe", "checkout"]);
    assert_eq!(
        repo.gitops(&["drift", "--env", "staging"]).status.code(),
        Some(0)
    );
}

#[test]
fn an_mfe_nobody_registered_is_unknown_in_storage_and_left_alone() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    let stray = storage(&repo, "dev").join("mfe/ghost/1.0.0/x.js");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, "// nobody's\n").unwrap();
    let mut map = repo.import_map("dev");
    map["imports"]["ghost"] = json!("https://elsewhere.example.com/ghost.js");
    std::fs::write(
        storage(&repo, "dev").join("importmap.json"),
        map.to_string(),
    )
    .unwrap();

    let out = repo.gitops(&["drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("drift: dev/ghost: unknown-in-storage: mfe/ghost/ is in dev's storage, but no mfes/ghost.yaml registers ghost and the registry has no entry for it; repair: manual (drift never deletes)"),
        "{text}"
    );
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 1);
    let ghost = pair(&pairs, "dev", "ghost");
    assert_eq!(kinds(ghost), ["unknown-in-storage", "unknown-in-storage"]);
    assert_eq!(ghost["findings"][1]["repairable"], false);
    assert!(
        pair(&pairs, "dev", "checkout")["in_sync"]
            .as_bool()
            .unwrap()
    );

    let out = repo.gitops(&["drift", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stray.is_file(), "drift never deletes");
    assert_eq!(
        repo.import_map("dev")["imports"]["ghost"],
        "https://elsewhere.example.com/ghost.js"
    );
    // Deleting what the finding names ends the drift.
    std::fs::remove_dir_all(storage(&repo, "dev").join("mfe/ghost")).unwrap();
    map["imports"].as_object_mut().unwrap().remove("ghost");
    std::fs::write(
        storage(&repo, "dev").join("importmap.json"),
        map.to_string(),
    )
    .unwrap();
    assert_eq!(repo.gitops(&["drift"]).status.code(), Some(0));
}

#[test]
fn an_unconfirmed_invalidation_is_issued_and_settled_by_repair() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    let (report, code) = repo.process("checkout", "dev", "1.0.0");
    assert_eq!(code, 0, "{report}");
    repo.ok(&["merge", "--all"]);
    // The CDN is unusable during the deploy: the log's place is taken by a directory.
    let log = repo.path().join("local/dev/cdn.log");
    std::fs::create_dir_all(&log).unwrap();
    let out = repo.gitops(&["deploy"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    std::fs::remove_dir(&log).unwrap();
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 1);
    let checkout = pair(&pairs, "dev", "checkout");
    assert_eq!(kinds(checkout), ["cdn-pending"], "{checkout}");
    let out = repo.gitops(&["drift", "--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out)
            .contains("repaired: dev/checkout: issued the pending CDN invalidation deploy-"),
        "{}",
        both(&out)
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
    assert_eq!(repo.status("dev", "checkout")["state"], "in-sync");
}

#[test]
fn an_artifact_that_no_longer_verifies_is_reported_and_nothing_is_uploaded() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    let asset = storage(&repo, "dev").join("mfe/checkout/1.0.0/assets/main.3f7a9c1e.js");
    std::fs::remove_file(&asset).unwrap();
    // The archive's bytes no longer match its sidecar.
    let archive = repo
        .path()
        .join("local/artifacts/checkout/checkout-1.0.0.tgz");
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    for args in [&["drift"][..], &["drift", "--repair"]] {
        let out = repo.gitops(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", both(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"),
            "{args:?}: {}",
            both(&out)
        );
        assert!(
            !asset.exists(),
            "{args:?}: nothing uploaded from a tampered artifact"
        );
    }
    let (pairs, _) = drift_json(&repo, &[]);
    let checkout = pair(&pairs, "dev", "checkout");
    assert_eq!(checkout["error_class"], "refused", "{checkout}");
    assert!(!checkout["in_sync"].as_bool().unwrap());
}

#[test]
fn an_environment_that_cannot_be_read_is_listed_never_hidden() {
    let repo = Repo::new(&["dev", "prod"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    repo.ship("checkout", "prod", "1.0.0");
    std::fs::write(
        repo.path().join("local/dev/registry.db"),
        b"this is not a database, it is garbage, garbage, garbage, garbage",
    )
    .unwrap();
    let (pairs, code) = drift_json(&repo, &[]);
    assert_eq!(code, 3, "{pairs:#?}");
    let dev = pair(&pairs, "dev", "checkout");
    assert_eq!(dev["error_class"], "retryable", "{dev}");
    assert_eq!(dev["desired"], "1.0.0");
    assert!(dev["error"].as_str().unwrap().contains("registry"), "{dev}");
    assert_eq!(pair(&pairs, "prod", "checkout")["in_sync"], true);
    let out = repo.gitops(&["drift"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot check dev/checkout"),
        "{}",
        both(&out)
    );
    assert!(
        stdout(&out).contains("1 pair(s) could not be checked"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_shallow_clone_is_a_configuration_error() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    crate::support::git(
        clone.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let out = Command::new(crate::gitops_bin())
        .args(["drift", "--repo"])
        .arg(clone.path().join("shallow"))
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fetch-depth: 0"),
        "{}",
        both(&out)
    );
}

async fn invalidation_paths(
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
) -> Vec<Vec<String>> {
    let list = cf
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap();
    let mut all = Vec::new();
    for item in list.invalidation_list().unwrap().items() {
        let one = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(item.id())
            .send()
            .await
            .unwrap();
        let mut paths = one
            .invalidation()
            .unwrap()
            .invalidation_batch()
            .unwrap()
            .paths()
            .unwrap()
            .items()
            .to_vec();
        paths.sort();
        all.push(paths);
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn on_moto_missing_files_a_moved_alias_and_an_edited_import_map_are_repaired() {
    let Some(url) = crate::moto::endpoint(
        "on_moto_missing_files_a_moved_alias_and_an_edited_import_map_are_repaired",
    ) else {
        return;
    };
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let (site, artifacts, table) = (
        format!("drift-site-{id}"),
        format!("drift-artifacts-{id}"),
        format!("drift-registry-{id}"),
    );
    let cf = crate::moto::cloudfront(&url);
    let distribution = crate::moto::create_distribution(&cf, &format!("drift-{id}")).await;
    crate::moto::s3(&url)
        .create_bucket()
        .bucket(&artifacts)
        .send()
        .await
        .unwrap();
    let dist = tempfile::tempdir().unwrap();
    crate::moto::write(dist.path(), "remoteEntry.js", "// checkout 1.5.0\n");
    crate::moto::write(dist.path(), "assets/main.3f2a9c1b.js", "console.log(1)\n");
    crate::moto::write(dist.path(), "assets/logo.svg", "<svg/>\n");
    let opener = gitops_artifact_store::StoreOpener::new(dist.path()).with_aws(
        gitops_artifact_store::AwsSettings::emulator(&url, "testing", "testing"),
    );
    let location = opener
        .open_object(&format!("s3://{artifacts}/checkout/checkout-1.5.0.tgz"))
        .unwrap();
    gitops_artifact_store::publish_dir(&location, dist.path())
        .await
        .unwrap();

    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    crate::moto::write(
        r,
        "gitops.yaml",
        &format!(
            "version: 1\nenvironments:\n  - name: dev\n    storage: s3://{site}\n    registry: dynamodb://{table}\n    cdn: cloudfront://{distribution}\n    public_url: https://cdn.example.com\n"
        ),
    );
    crate::moto::write(
        r,
        "mfes/checkout.yaml",
        &format!(
            "name: checkout\nrepository: acme/checkout-mfe\nartifact: s3://{artifacts}/checkout/checkout-{{version}}.tgz\nenvironments: [dev]\nentry_points: [remoteEntry.js]\n"
        ),
    );
    crate::moto::write(
        r,
        "deployments/dev/checkout.json",
        &json!({
            "mfe": "checkout", "environment": "dev", "version": "1.5.0",
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b", "ref": "refs/heads/main",
            "repository": "acme/checkout-mfe", "requested_by": "octocat",
            "requested_at": "2026-11-26T09:30:00Z", "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            "rollback": false, "cache_invalidation_keys": [],
        })
        .to_string(),
    );
    for args in [
        &["init", "-q", "-b", "main", "."][..],
        &["add", "-A"],
        &["commit", "-qm", "desired state"],
    ] {
        crate::support::git(r, args);
    }
    let rs = r.to_str().unwrap();
    for args in [&["bootstrap", "--repo", rs][..], &["deploy", "--repo", rs]] {
        let out = crate::moto::gitops(&url, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", both(&out));
    }
    let drift = |extra: &[&str]| {
        let mut args = vec!["drift", "--repo", rs];
        args.extend_from_slice(extra);
        crate::moto::gitops(&url, &args)
    };
    let out = drift(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains("no drift: 1 pair(s) in sync"),
        "{}",
        both(&out)
    );
    assert_eq!(invalidation_paths(&cf, &distribution).await.len(), 1);

    // Drift made by hand in the bucket.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&site)
        .with_endpoint(&url)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let logo = StorePath::from("mfe/checkout/1.5.0/assets/logo.svg");
    store.delete(&logo).await.unwrap();
    let alias = StorePath::from("mfe/checkout/remoteEntry.js");
    store
        .put(&alias, PutPayload::from_static(b"// checkout 1.4.0\n"))
        .await
        .unwrap();
    let map = StorePath::from("importmap.json");
    store
        .put(
            &map,
            PutPayload::from(
                json!({"imports": {"checkout": "https://cdn.example.com/mfe/checkout/1.4.0/remoteEntry.js"}})
                    .to_string(),
            ),
        )
        .await
        .unwrap();

    let out = drift(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let pairs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checkout = pair(pairs.as_array().unwrap(), "dev", "checkout");
    assert_eq!(
        kinds(checkout),
        ["files-missing", "alias-stale", "importmap-stale"],
        "{checkout}"
    );
    assert_eq!(checkout["served"], "1.4.0");
    let out = drift(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("drift: dev/checkout: files-missing: mfe/checkout/1.5.0/ lacks 1 of the artifact's 3 files: assets/logo.svg"),
        "{}",
        both(&out)
    );

    let out = drift(&["--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("uploaded 1 missing file(s) of 1.5.0"),
        "{text}"
    );
    assert!(text.contains("no drift: 1 pair(s) in sync"), "{text}");
    let got = store.get(&logo).await.unwrap();
    let cache = got
        .attributes
        .get(&object_store::Attribute::ContentType)
        .map(|v| v.as_ref().to_owned())
        .unwrap_or_default();
    assert!(
        cache.starts_with("image/svg+xml"),
        "the deploy's headers: {cache}"
    );
    assert_eq!(&got.bytes().await.unwrap()[..], b"<svg/>\n");
    let alias_bytes = store.get(&alias).await.unwrap().bytes().await.unwrap();
    assert_eq!(&alias_bytes[..], b"// checkout 1.5.0\n");
    let map: Value =
        serde_json::from_slice(&store.get(&map).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(
        map["imports"]["checkout"],
        "https://cdn.example.com/mfe/checkout/1.5.0/remoteEntry.js"
    );
    // One more invalidation: the two repaired pointers.
    let all = invalidation_paths(&cf, &distribution).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.contains(&vec![
            "/importmap.json".to_owned(),
            "/mfe/checkout/remoteEntry.js".to_owned()
        ]),
        "{all:?}"
    );
    let out = drift(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}
