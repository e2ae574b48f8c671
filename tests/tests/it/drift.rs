//! Three-way drift (issue 17) through the `gitops` binary: each kind created by the test that
//! checks it (an object deleted from the version prefix, an alias overwritten, the import map
//! edited, a registry entry committed out of band, a desired state never deployed, a stray MFE
//! directory, an unconfirmed invalidation), reported in the table and in JSON with exit 1, and
//! `--repair` repairing exactly the repairable ones; on the embedded backends and on moto.

use std::process::Command;

use gitops_db_registry::Registry as _;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt as _, PutPayload};
use serde_json::{Value, json};

use crate::support::{Repo, both, stderr, stdout};

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
    let served = repo.storage("dev");
    let invalidations = || repo.cdn_log("dev").lines().count();
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
    assert!(repo.cdn_log("dev").contains("/mfe/checkout/remoteEntry.js"));
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
    repo.desire("checkout", "staging", "1.0.0");
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
    let storage = repo.storage("dev");
    let stray = storage.join("mfe/ghost/1.0.0/x.js");
    crate::support::write(&storage, "mfe/ghost/1.0.0/x.js", b"// nobody's\n");
    let mut map = repo.import_map("dev");
    map["imports"]["ghost"] = json!("https://elsewhere.example.com/ghost.js");
    std::fs::write(storage.join("importmap.json"), map.to_string()).unwrap();

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
    std::fs::remove_dir_all(storage.join("mfe/ghost")).unwrap();
    map["imports"].as_object_mut().unwrap().remove("ghost");
    std::fs::write(storage.join("importmap.json"), map.to_string()).unwrap();
    assert_eq!(repo.gitops(&["drift"]).status.code(), Some(0));
}

#[test]
fn an_unconfirmed_invalidation_is_issued_and_settled_by_repair() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.desire("checkout", "dev", "1.0.0");
    repo.deploy_with_the_cdn_down("dev");
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
    assert_eq!(repo.cdn_log("dev").lines().count(), 1);
    assert_eq!(repo.status("dev", "checkout")["state"], "in-sync");
}

#[test]
fn an_artifact_that_no_longer_verifies_is_reported_and_nothing_is_uploaded() {
    let repo = Repo::new(&["dev"], &["checkout"]);
    repo.publish("checkout", "1.0.0");
    repo.ship("checkout", "dev", "1.0.0");
    let asset = repo
        .storage("dev")
        .join("mfe/checkout/1.0.0/assets/main.3f7a9c1e.js");
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
            stderr(&out).contains("checksum mismatch"),
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
    repo.break_registry("dev");
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
        stderr(&out).contains("cannot check dev/checkout"),
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
    assert!(stderr(&out).contains("fetch-depth: 0"), "{}", both(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_moto_missing_files_a_moved_alias_and_an_edited_import_map_are_repaired() {
    let Some(url) = crate::moto::endpoint(
        "on_moto_missing_files_a_moved_alias_and_an_edited_import_map_are_repaired",
    ) else {
        return;
    };
    let repo = Repo::on_moto(&url, &["dev"], &["checkout"]).await;
    repo.artifacts_on_s3(&url).await;
    repo.publish_to_s3(
        &url,
        "checkout",
        "1.5.0",
        &[
            ("remoteEntry.js", "// checkout 1.5.0\n"),
            ("assets/main.3f2a9c1b.js", "console.log(1)\n"),
            ("assets/logo.svg", "<svg/>\n"),
        ],
    )
    .await;
    repo.commit_desired("dev", "checkout", "1.5.0");
    repo.aws_ok(&url, &["deploy"]);
    let distribution = repo.distribution("dev");
    let drift = |extra: &[&str]| {
        let mut args = vec!["drift"];
        args.extend_from_slice(extra);
        repo.aws(&url, &args)
    };
    let out = drift(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains("no drift: 1 pair(s) in sync"),
        "{}",
        both(&out)
    );
    assert_eq!(
        crate::moto::invalidation_paths(&url, &distribution)
            .await
            .len(),
        1
    );

    // Drift made by hand in the bucket.
    let store = repo.store(&url, "dev");
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
                json!({"imports": {"checkout": "https://dev.cdn.example.com/mfe/checkout/1.4.0/remoteEntry.js"}})
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
    let cache = crate::moto::attribute(&got, &object_store::Attribute::ContentType);
    assert!(
        cache.starts_with("image/svg+xml"),
        "the deploy's headers: {cache}"
    );
    assert_eq!(&got.bytes().await.unwrap()[..], b"<svg/>\n");
    let alias_bytes = store.get(&alias).await.unwrap().bytes().await.unwrap();
    assert_eq!(&alias_bytes[..], b"// checkout 1.5.0\n");
    let map = crate::moto::get_json(&store, map.as_ref()).await;
    assert_eq!(
        map["imports"]["checkout"],
        "https://dev.cdn.example.com/mfe/checkout/1.5.0/remoteEntry.js"
    );
    // One more invalidation: the two repaired pointers.
    let all = crate::moto::invalidation_paths(&url, &distribution).await;
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
