//! `gitops promote` through the binary (issue 17): staging to prod as ONE pull request with ONE
//! plan comment on the local git forge, merged by `gitops merge --all` and deployed by `gitops
//! deploy`; a frozen prod refuses it whole; partial promotion; dry runs; and both environments
//! on moto (S3, DynamoDB, CloudFront).

use std::process::Output;

use gitops_gh_pr::{Forge, LocalGitForge, PrState};

use crate::support::{Repo, both};

const BRANCH: &str = "gitops-promote/staging/prod";

fn names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("mfe{i:02}")).collect()
}

fn strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Requests `version` of every MFE for `env` (artifacts published first), then one `merge --all`
/// and, when `deploy`, one `deploy`.
fn ship_all(repo: &Repo, mfes: &[&str], env: &str, version: &str, deploy: bool) {
    for mfe in mfes {
        repo.publish(mfe, version);
        let (report, code) = repo.process(mfe, env, version);
        assert_eq!(
            (code, &report["decision"]),
            (0, &"accept".into()),
            "{report}"
        );
    }
    repo.ok(&["merge", "--all"]);
    if deploy {
        repo.ok(&["deploy"]);
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The open pull requests of the repository's local forge.
async fn open_prs(repo: &Repo) -> Vec<gitops_gh_pr::PullRequest> {
    LocalGitForge::open(repo.path())
        .await
        .unwrap()
        .open_pull_requests()
        .await
        .unwrap()
}

/// No promotion branch and no open pull request.
async fn nothing_proposed(repo: &Repo) {
    assert_eq!(repo.git(&["branch", "--list", "gitops-promote/*"]), "");
    assert!(open_prs(repo).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_mfes_are_one_pull_request_with_one_plan_comment_merged_and_deployed() {
    let mfes = names(12);
    let repo = Repo::new(&["staging", "prod"], &strs(&mfes));
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0", true);
    for mfe in &mfes {
        assert_eq!(repo.status("staging", mfe)["state"], "in-sync");
    }

    // A dry run prints the plan and writes nothing.
    let dry = repo.ok(&["promote", "--from", "staging", "--to", "prod", "--dry-run"]);
    assert!(
        dry.contains("12 change(s), 0 refused, 0 skipped") && dry.contains("would propose 12"),
        "{dry}"
    );
    assert!(dry.contains("change   mfe07  nothing -> 1.0.0"), "{dry}");
    nothing_proposed(&repo).await;

    let report = repo.json(&[
        "promote", "--from", "staging", "--to", "prod", "--format", "json",
    ]);
    assert_eq!(report["outcome"], "proposed", "{report}");
    assert_eq!(report["changes"].as_array().unwrap().len(), 12, "{report}");
    assert_eq!(report["refused"], serde_json::json!([]));
    let number = report["pull_request"].as_u64().unwrap();
    assert!(
        report["pull_request_url"]
            .as_str()
            .unwrap()
            .contains(&format!("#pr-{number}"))
    );

    let open = open_prs(&repo).await;
    assert_eq!(open.len(), 1, "ONE pull request: {open:?}");
    assert_eq!((open[0].number, open[0].branch.as_str()), (number, BRANCH));
    let forge = LocalGitForge::open(repo.path()).await.unwrap();
    let files = forge.changed_files(number).await.unwrap();
    assert_eq!(
        files,
        mfes.iter()
            .map(|m| format!("deployments/prod/{m}.json"))
            .collect::<Vec<_>>()
    );
    let comments = forge.comments(number).await.unwrap();
    assert_eq!(comments.len(), 1, "ONE plan comment: {comments:?}");
    for mfe in &mfes {
        assert!(
            comments[0]
                .body
                .contains(&format!("| `{mfe}` | nothing -> **1.0.0** |")),
            "{}",
            comments[0].body
        );
    }

    // Proposed again (say, the plan was re-run): the same pull request, still one comment.
    let again = repo.json(&[
        "promote", "--from", "staging", "--to", "prod", "--format", "json",
    ]);
    assert_eq!(again["pull_request"], number);
    assert_eq!(open_prs(&repo).await.len(), 1);
    assert_eq!(forge.comments(number).await.unwrap().len(), 1);

    let merged = repo.ok(&["merge", "--all"]);
    assert!(merged.contains(&format!("#{number}")), "{merged}");
    assert_eq!(
        forge.pull_request(number).await.unwrap().state,
        PrState::Merged
    );
    let desired = repo.desired("prod", "mfe12");
    assert_eq!(
        (&desired["version"], &desired["environment"]),
        (&"1.0.0".into(), &"prod".into())
    );
    let deployed = repo.json(&["deploy", "--env", "prod", "--format", "json"]);
    let pairs = deployed["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 12, "{deployed}");
    assert!(
        pairs.iter().all(|p| p["outcome"] == "deployed"),
        "{deployed}"
    );
    for mfe in &mfes {
        let row = repo.status("prod", mfe);
        assert_eq!(row["state"], "in-sync", "{row}");
    }
    assert_eq!(
        repo.import_map("prod")["imports"]
            .as_object()
            .unwrap()
            .len(),
        12
    );

    // Once merged, promoting again finds nothing to promote.
    let out = repo.ok(&["promote", "--from", "staging", "--to", "prod"]);
    assert!(
        out.contains("0 change(s), 0 refused, 12 skipped") && out.contains("nothing to promote"),
        "{out}"
    );
    assert!(open_prs(&repo).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_prod_refuses_the_whole_promotion_with_the_freeze_reason() {
    let mfes = names(3);
    let repo = Repo::new(&["staging", "prod"], &strs(&mfes));
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0", true);
    let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
    std::fs::write(
        repo.path().join("gitops.yaml"),
        format!(
            "{config}    freeze:\n      - {{ from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: year-end freeze }}\n"
        ),
    )
    .unwrap();
    repo.commit_all("freeze prod");
    for partial in [false, true] {
        let mut args = vec![
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "--at",
            "2026-12-24T10:00:00Z",
        ];
        if partial {
            args.push("--allow-partial");
        }
        let out = repo.gitops(&args);
        assert_eq!(code(&out), 1, "{}", both(&out));
        let text = stdout(&out);
        for mfe in &mfes {
            assert!(
                text.lines().any(|l| l.contains(&format!("refused  {mfe}"))
                    && l.contains("freeze-window")
                    && l.contains("year-end freeze")),
                "{mfe}: {text}"
            );
        }
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nothing proposed"),
            "{}",
            both(&out)
        );
        nothing_proposed(&repo).await;
    }
    // The same promotion after the freeze goes.
    let out = repo.ok(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "prod",
        "--at",
        "2027-01-04T00:00:00Z",
    ]);
    assert!(out.contains("proposed: pull request #"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_promotion_needs_allow_partial_and_lists_the_refused() {
    let mfes = names(4);
    let repo = Repo::new(&["staging", "prod"], &strs(&mfes));
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0", true);
    // mfe04 1.1.0 is desired in staging but not deployed yet: not live there.
    ship_all(&repo, &["mfe04"], "staging", "1.1.0", false);

    let out = repo.gitops(&["promote", "--from", "staging", "--to", "prod"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("refused  mfe04  1.1.0: not-live-in-source")
            && text.contains("1.0.0 is live"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--allow-partial proposes the 3 other"),
        "{}",
        both(&out)
    );
    nothing_proposed(&repo).await;

    // --dry-run exits as the promotion would, and writes nothing.
    let dry = repo.gitops(&["promote", "--from", "staging", "--to", "prod", "--dry-run"]);
    assert_eq!(code(&dry), 1, "{}", both(&dry));
    nothing_proposed(&repo).await;
    let dry = repo.json(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "prod",
        "--dry-run",
        "--allow-partial",
        "--format",
        "json",
    ]);
    assert_eq!(dry["outcome"], "would-propose", "{dry}");
    assert_eq!(dry["pull_request"], serde_json::Value::Null);
    nothing_proposed(&repo).await;

    let report = repo.json(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "prod",
        "--allow-partial",
        "--format",
        "json",
    ]);
    assert_eq!(report["outcome"], "proposed", "{report}");
    assert_eq!(report["refused"][0]["mfe"], "mfe04");
    assert_eq!(
        report["refused"][0]["reasons"][0]["code"],
        "not-live-in-source"
    );
    let number = report["pull_request"].as_u64().unwrap();
    let forge = LocalGitForge::open(repo.path()).await.unwrap();
    assert_eq!(
        forge.changed_files(number).await.unwrap(),
        [
            "deployments/prod/mfe01.json",
            "deployments/prod/mfe02.json",
            "deployments/prod/mfe03.json"
        ]
    );
    let plan = &forge.comments(number).await.unwrap()[0].body;
    assert!(
        plan.contains("| `mfe04` | 1.1.0 | `not-live-in-source` |"),
        "{plan}"
    );

    // --mfe names registered MFEs only (a usage error, exit 2).
    let out = repo.gitops(&[
        "promote", "--from", "staging", "--to", "prod", "--mfe", "nope",
    ]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(both(&out).contains("not registered"), "{}", both(&out));
    let out = repo.gitops(&["promote", "--from", "staging", "--to", "staging"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    // Only the named MFE.
    let one = repo.json(&[
        "promote", "--from", "staging", "--to", "prod", "--mfe", "mfe02", "--format", "json",
    ]);
    assert_eq!(one["changes"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(
        one["pull_request"], number,
        "replaces the pending promotion"
    );
    assert_eq!(
        forge.changed_files(number).await.unwrap(),
        ["deployments/prod/mfe02.json"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_between_two_environments_on_moto() {
    let Some(url) = crate::moto::endpoint("promotion_between_two_environments_on_moto") else {
        return;
    };
    let mfes = ["cart", "search"];
    let repo = Repo::on_moto(&url, &["staging", "prod"], &mfes).await;

    for mfe in mfes {
        repo.publish(mfe, "2.0.0");
        let (report, code) = repo.process(mfe, "staging", "2.0.0");
        assert_eq!(code, 0, "{report}");
    }
    repo.ok(&["merge", "--all"]);
    repo.aws_ok(&url, &["deploy"]);

    let report: serde_json::Value = serde_json::from_str(&repo.aws_ok(
        &url,
        &[
            "promote", "--from", "staging", "--to", "prod", "--format", "json",
        ],
    ))
    .unwrap();
    assert_eq!(report["outcome"], "proposed", "{report}");
    assert_eq!(report["changes"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(open_prs(&repo).await.len(), 1);
    repo.ok(&["merge", "--all"]);
    let deployed: serde_json::Value =
        serde_json::from_str(&repo.aws_ok(&url, &["deploy", "--env", "prod", "--format", "json"]))
            .unwrap();
    assert!(
        deployed["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["outcome"] == "deployed"),
        "{deployed}"
    );
    let rows: serde_json::Value =
        serde_json::from_str(&repo.aws_ok(&url, &["status", "--env", "prod", "--format", "json"]))
            .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        assert_eq!(
            (&row["state"], &row["version"]),
            (&"in-sync".into(), &"2.0.0".into()),
            "{row}"
        );
    }
    // The prod bucket serves both at 2.0.0.
    let map = crate::moto::s3(&url)
        .get_object()
        .bucket(repo.bucket("prod"))
        .key("importmap.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let map: serde_json::Value = serde_json::from_slice(&map).unwrap();
    for mfe in mfes {
        assert_eq!(
            map["imports"][mfe],
            format!("https://prod.cdn.example.com/mfe/{mfe}/2.0.0/remoteEntry.js"),
            "{map}"
        );
    }
    // Promoting again: nothing to promote.
    let again = repo.aws_ok(&url, &["promote", "--from", "staging", "--to", "prod"]);
    assert!(again.contains("nothing to promote"), "{again}");
}
