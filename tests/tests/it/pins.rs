//! Pins (issue 17) through the `gitops` binary on the embedded backends: `gitops rollback` pins
//! the pair, automation's requests for it are refused with `pinned` until `gitops unpin` (a pull
//! request, merged like any other), and where gitops.yaml allows it `--override-pin` lifts it.

use crate::support::{Repo, both};

/// dev with checkout shipped at 1.0.0 then 1.1.0, then rolled back (pinned) and deployed.
fn rolled_back(extra: &[&str]) -> Repo {
    let repo = Repo::new(&["dev"], &["checkout"]);
    for version in ["1.0.0", "1.1.0"] {
        repo.publish("checkout", version);
        repo.ship("checkout", "dev", version);
    }
    let mut args = vec!["rollback", "--env", "dev", "--mfe", "checkout"];
    args.extend_from_slice(extra);
    let out = repo.ok(&args);
    assert!(out.contains("accept"), "{out}");
    repo.ok(&["merge", "--all"]);
    repo.ok(&["deploy"]);
    repo
}

#[test]
fn a_rollback_pins_the_pair_until_it_is_unpinned() {
    let repo = rolled_back(&["--reason", "1.1.0 breaks checkout"]);
    let desired = repo.desired("dev", "checkout");
    assert_eq!(desired["version"], "1.0.0");
    assert_eq!(desired["rollback"], true);
    assert_eq!(desired["pinned"]["reason"], "1.1.0 breaks checkout");
    assert_eq!(desired["pinned"]["by"], "gitops-rollback");
    // Status shows the pin, in JSON and in the table.
    let row = repo.status("dev", "checkout");
    assert_eq!(row["state"], "in-sync", "{row}");
    assert_eq!(row["pinned"]["reason"], "1.1.0 breaks checkout");
    let table = repo.ok(&["status"]);
    assert!(
        table.contains("pinned by @gitops-rollback") && table.contains("1.1.0 breaks checkout"),
        "{table}"
    );

    // The dev auto-deploy of a newer version is refused with `pinned`, naming who and why.
    repo.publish("checkout", "1.2.0");
    let (report, code) = repo.process("checkout", "dev", "1.2.0");
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["decision"], "reject");
    assert_eq!(report["reasons"][0]["code"], "pinned", "{report}");
    let message = report["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("@gitops-rollback") && message.contains("1.1.0 breaks checkout"),
        "{message}"
    );
    // An override is refused where gitops.yaml does not allow one.
    let out = repo.process_with("checkout", "dev", "1.2.0", &["--override-pin"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(both(&out).contains("pinned"), "{}", both(&out));

    // Unpin: a pull request changing only the pin; merged; the deploy deploys nothing again.
    let out = repo.ok(&["unpin", "--env", "dev", "--mfe", "checkout"]);
    assert!(out.contains("proposed: unpin checkout in dev"), "{out}");
    // Until it merges, requests are still refused.
    let (report, _) = repo.process("checkout", "dev", "1.2.0");
    assert_eq!(report["reasons"][0]["code"], "pinned", "{report}");
    repo.ok(&["merge", "--all"]);
    let desired = repo.desired("dev", "checkout");
    assert_eq!(desired["version"], "1.0.0");
    assert!(desired.get("pinned").is_none(), "{desired}");
    let deploy = repo.ok(&["deploy"]);
    assert!(deploy.contains("already live"), "{deploy}");
    // Unpinning again: nothing to lift.
    let out = repo.ok(&["unpin", "--env", "dev", "--mfe", "checkout"]);
    assert!(out.contains("nothing to unpin"), "{out}");

    // Now the request goes through.
    repo.ship("checkout", "dev", "1.2.0");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.2.0");
}

#[test]
fn a_rollback_without_a_pin_leaves_automation_free() {
    let repo = rolled_back(&["--no-pin"]);
    let desired = repo.desired("dev", "checkout");
    assert_eq!(desired["version"], "1.0.0");
    assert!(desired.get("pinned").is_none(), "{desired}");
    repo.publish("checkout", "1.2.0");
    repo.ship("checkout", "dev", "1.2.0");
    assert_eq!(repo.status("dev", "checkout")["version"], "1.2.0");
}

#[test]
fn an_allowed_override_lifts_the_pin() {
    let repo = rolled_back(&[]);
    // The default reason names both versions.
    let desired = repo.desired("dev", "checkout");
    assert_eq!(
        desired["pinned"]["reason"], "rolled back from 1.1.0 to 1.0.0",
        "{desired}"
    );
    let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
    let config = config.replacen(
        "    public_url: https://cdn.example.com/dev\n",
        "    public_url: https://cdn.example.com/dev\n    allow_pin_override: true\n",
        1,
    );
    std::fs::write(repo.path().join("gitops.yaml"), config).unwrap();
    repo.commit_all("allow pin overrides in dev");
    repo.publish("checkout", "1.2.0");
    // Without the flag: still refused, and told an override exists.
    let (report, code) = repo.process("checkout", "dev", "1.2.0");
    assert_eq!(code, 1, "{report}");
    assert!(
        report["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("override"),
        "{report}"
    );
    let out = repo.process_with("checkout", "dev", "1.2.0", &["--override-pin"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    repo.ok(&["merge", "--all"]);
    repo.ok(&["deploy"]);
    assert_eq!(repo.status("dev", "checkout")["version"], "1.2.0");
    assert!(repo.desired("dev", "checkout").get("pinned").is_none());
}

/// On S3, DynamoDB and CloudFront: the rollback finds the previous version in DynamoDB's history
/// and pins; the request is refused; unpinning deploys nothing again (the live entry stays).
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_pins_and_an_unpin_deploys_nothing_on_moto() {
    let Some(url) = crate::moto::endpoint("a_rollback_pins_and_an_unpin_deploys_nothing_on_moto")
    else {
        return;
    };
    let repo = Repo::on_moto(&url, &["dev"], &["checkout"]).await;
    for version in ["1.0.0", "1.1.0"] {
        repo.publish("checkout", version);
        repo.desire("checkout", "dev", version);
        repo.aws_ok(&url, &["deploy"]);
    }
    repo.aws_ok(
        &url,
        &[
            "rollback", "--env", "dev", "--mfe", "checkout", "--reason", "bad",
        ],
    );
    repo.ok(&["merge", "--all"]);
    repo.aws_ok(&url, &["deploy"]);
    let rows = repo.aws_json(&url, &["status", "--format", "json"]);
    assert_eq!(rows[0]["version"], "1.0.0", "{rows}");
    assert_eq!(rows[0]["state"], "in-sync", "{rows}");
    assert_eq!(rows[0]["pinned"]["reason"], "bad", "{rows}");
    let sequence = rows[0]["sequence"].clone();

    repo.publish("checkout", "1.2.0");
    let (report, code) = repo.process("checkout", "dev", "1.2.0");
    assert_eq!((code, &report["reasons"][0]["code"]), (1, &"pinned".into()));

    repo.ok(&["unpin", "--env", "dev", "--mfe", "checkout"]);
    repo.ok(&["merge", "--all"]);
    let deploy = repo.aws_ok(&url, &["deploy"]);
    assert!(deploy.contains("already live"), "{deploy}");
    let rows = repo.aws_json(&url, &["status", "--format", "json"]);
    assert_eq!(
        rows[0]["sequence"], sequence,
        "nothing committed again: {rows}"
    );
    assert!(rows[0].get("pinned").is_none(), "{rows}");
    let drift = repo.aws(&url, &["drift"]);
    assert_eq!(drift.status.code(), Some(0), "{}", both(&drift));
}
