//! `gitops promote` through the binary (issue 17): staging to prod as ONE pull request with ONE
//! plan comment on the local git forge, merged by `gitops merge --all` and deployed by `gitops
//! deploy`; a frozen prod refuses it whole; partial promotion; dry runs; and both environments
//! on moto (S3, DynamoDB, CloudFront).

use std::process::Output;

use gitops_gh_pr::{Forge, LocalGitForge, PrState};

use crate::support::{Repo, both, stderr, stdout};

const BRANCH: &str = "gitops-promote/staging/prod";

/// `promote --from staging --to prod EXTRA`.
fn promote<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["promote", "--from", "staging", "--to", "prod"];
    args.extend_from_slice(extra);
    args
}

fn names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("mfe{i:02}")).collect()
}

fn strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Requests `version` of every MFE for `env` (artifacts published first), then one `merge --all`:
/// desired, not deployed yet.
fn desire_all(repo: &Repo, mfes: &[&str], env: &str, version: &str) {
    for mfe in mfes {
        repo.publish(mfe, version);
        repo.propose(mfe, env, version);
    }
    repo.ok(&["merge", "--all"]);
}

/// [`desire_all`] and `gitops deploy`.
fn ship_all(repo: &Repo, mfes: &[&str], env: &str, version: &str) {
    desire_all(repo, mfes, env, version);
    repo.ok(&["deploy"]);
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
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

/// The promotion exited 1 saying `why` on standard error, and proposed nothing.
async fn refused(repo: &Repo, out: &Output, why: &str) {
    assert_eq!(code(out), 1, "{}", both(out));
    assert!(stderr(out).contains(why), "{}", both(out));
    nothing_proposed(repo).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_mfes_are_one_pull_request_with_one_plan_comment_merged_and_deployed() {
    let mfes = names(12);
    let repo = Repo::new(&["staging", "prod"], &strs(&mfes));
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0");
    for mfe in &mfes {
        assert_eq!(repo.status("staging", mfe)["state"], "in-sync");
    }

    // A dry run prints the plan and writes nothing.
    let dry = repo.ok(&promote(&["--dry-run"]));
    assert!(
        dry.contains("12 change(s), 0 refused, 0 skipped") && dry.contains("would propose 12"),
        "{dry}"
    );
    assert!(dry.contains("change   mfe07  nothing -> 1.0.0"), "{dry}");
    nothing_proposed(&repo).await;

    let report = repo.json(&promote(&["--format", "json"]));
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
    let again = repo.json(&promote(&["--format", "json"]));
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
    let out = repo.ok(&promote(&[]));
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
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0");
    let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
    std::fs::write(
        repo.path().join("gitops.yaml"),
        format!(
            "{config}    freeze:\n      - {{ from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: year-end freeze }}\n"
        ),
    )
    .unwrap();
    repo.commit_all("freeze prod");
    for partial in [&[][..], &["--allow-partial"]] {
        let mut args = promote(&["--at", "2026-12-24T10:00:00Z"]);
        args.extend_from_slice(partial);
        let out = repo.gitops(&args);
        refused(&repo, &out, "nothing proposed").await;
        let text = stdout(&out);
        for mfe in &mfes {
            assert!(
                text.lines().any(|l| l.contains(&format!("refused  {mfe}"))
                    && l.contains("freeze-window")
                    && l.contains("year-end freeze")),
                "{mfe}: {text}"
            );
        }
    }
    // The same promotion after the freeze goes.
    let out = repo.ok(&promote(&["--at", "2027-01-04T00:00:00Z"]));
    assert!(out.contains("proposed: pull request #"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_promotion_needs_allow_partial_and_lists_the_refused() {
    let mfes = names(4);
    let repo = Repo::new(&["staging", "prod"], &strs(&mfes));
    ship_all(&repo, &strs(&mfes), "staging", "1.0.0");
    // mfe04 1.1.0 is desired in staging but not deployed yet: not live there.
    desire_all(&repo, &["mfe04"], "staging", "1.1.0");

    let out = repo.gitops(&promote(&[]));
    refused(&repo, &out, "--allow-partial proposes the 3 other").await;
    let text = stdout(&out);
    assert!(
        text.contains("refused  mfe04  1.1.0: not-live-in-source")
            && text.contains("1.0.0 is live"),
        "{text}"
    );

    // --dry-run exits as the promotion would, and writes nothing.
    let dry = repo.gitops(&promote(&["--dry-run"]));
    assert_eq!(code(&dry), 1, "{}", both(&dry));
    nothing_proposed(&repo).await;
    let dry = repo.json(&promote(&[
        "--dry-run",
        "--allow-partial",
        "--format",
        "json",
    ]));
    assert_eq!(dry["outcome"], "would-propose", "{dry}");
    assert_eq!(dry["pull_request"], serde_json::Value::Null);
    nothing_proposed(&repo).await;

    let report = repo.json(&promote(&["--allow-partial", "--format", "json"]));
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
    let out = repo.gitops(&promote(&["--mfe", "nope"]));
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(both(&out).contains("not registered"), "{}", both(&out));
    let out = repo.gitops(&["promote", "--from", "staging", "--to", "staging"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    // Only the named MFE.
    let one = repo.json(&promote(&["--mfe", "mfe02", "--format", "json"]));
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

    desire_all(&repo, &mfes, "staging", "2.0.0");
    repo.aws_ok(&url, &["deploy"]);

    let report = repo.aws_json(&url, &promote(&["--format", "json"]));
    assert_eq!(report["outcome"], "proposed", "{report}");
    assert_eq!(report["changes"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(open_prs(&repo).await.len(), 1);
    repo.ok(&["merge", "--all"]);
    let deployed = repo.aws_json(&url, &["deploy", "--env", "prod", "--format", "json"]);
    assert!(
        deployed["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["outcome"] == "deployed"),
        "{deployed}"
    );
    let rows = repo.aws_json(&url, &["status", "--env", "prod", "--format", "json"]);
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
    let map = crate::moto::get_json(&repo.store(&url, "prod"), "importmap.json").await;
    for mfe in mfes {
        assert_eq!(
            map["imports"][mfe],
            format!("https://prod.cdn.example.com/mfe/{mfe}/2.0.0/remoteEntry.js"),
            "{map}"
        );
    }
    // Promoting again: nothing to promote.
    let again = repo.aws_ok(&url, &promote(&[]));
    assert!(again.contains("nothing to promote"), "{again}");
}
