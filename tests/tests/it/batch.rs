//! Batches through the binary (issue 18, `batch: true`): requests for many MFEs of one
//! environment, processed at once as Actions runs them (one `gitops process` each), share one
//! pull request; none is lost to the races on the batch's branch, each pair ends on its newest
//! request, and one merge and one deploy take them all live.

use crate::support::{Repo, both, write};

const MFES: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

/// A repository whose `dev` batches, every MFE's `1.0.0`, `1.1.0` and `1.2.0` published.
fn batching() -> Repo {
    let repo = Repo::new(&["dev"], &MFES);
    let config = std::fs::read_to_string(repo.path().join("gitops.yaml")).unwrap();
    write(
        repo.path(),
        "gitops.yaml",
        format!("{config}    batch: true\n").as_bytes(),
    );
    repo.commit_all("dev batches");
    for mfe in MFES {
        for version in ["1.0.0", "1.1.0", "1.2.0"] {
            repo.publish(mfe, version);
        }
    }
    repo
}

/// The version of `mfe` live and in sync in `dev`.
fn live(repo: &Repo, mfe: &str) -> String {
    let row = repo.status("dev", mfe);
    assert_eq!(row["state"], "in-sync", "{row}");
    row["version"].as_str().unwrap().to_owned()
}

/// Starts `gitops process` for every (MFE, version) at once; each report, in order.
fn process_at_once(repo: &Repo, requests: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let children: Vec<_> = requests
        .iter()
        .map(|(mfe, version)| {
            let event = repo.request(mfe, "dev", version);
            repo.command(&["process", "--event", event.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", both(&out));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}

#[test]
fn requests_for_many_mfes_at_once_share_one_pull_request_and_lose_none() {
    let repo = batching();
    for (round, version) in ["1.0.0", "1.2.0"].into_iter().enumerate() {
        let requests: Vec<(&str, &str)> = MFES.iter().map(|m| (*m, version)).collect();
        let reports = process_at_once(&repo, &requests);
        let prs: std::collections::BTreeSet<u64> = reports
            .iter()
            .map(|r| {
                assert_eq!(r["decision"], "accept", "round {round}: {r}");
                r["pull_request"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(prs.len(), 1, "round {round}: one batch, {prs:?}");
        let changed = repo.git(&["diff", "--name-only", "main...gitops-batch/dev"]);
        assert_eq!(
            changed.lines().count(),
            MFES.len(),
            "round {round}: every request in the batch:\n{changed}"
        );
        let merged = repo.ok(&["merge", "--all"]);
        assert_eq!(
            merged.matches(": merged (").count(),
            1,
            "round {round}: one merge\n{merged}"
        );
        repo.ok(&["deploy"]);
        for mfe in MFES {
            assert_eq!(live(&repo, mfe), version, "round {round}: {mfe}");
        }
    }
}

#[test]
fn the_newest_request_of_each_pair_wins_inside_a_batch() {
    let repo = batching();
    // Versions of two MFEs in arrival order: a newer version replaces the pending one of its
    // pair inside the batch, a lower one is refused as a downgrade of the pending one.
    let requests = [
        ("alpha", "1.0.0"),
        ("bravo", "1.1.0"),
        ("alpha", "1.1.0"),
        ("bravo", "1.0.0"),
        ("alpha", "1.2.0"),
    ];
    let mut codes = Vec::new();
    for (mfe, version) in requests {
        let (report, code) = repo.process(mfe, "dev", version);
        codes.push((code, report["reasons"][0]["code"].clone()));
    }
    assert_eq!(
        codes.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [0, 0, 0, 1, 0],
        "{codes:?}"
    );
    assert_eq!(codes[3].1, "downgrade", "lower than the pending 1.1.0");
    repo.ok(&["merge", "--all"]);
    repo.ok(&["deploy"]);
    assert_eq!(live(&repo, "alpha"), "1.2.0");
    assert_eq!(live(&repo, "bravo"), "1.1.0");
}
