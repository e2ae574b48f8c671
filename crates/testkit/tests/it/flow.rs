//! The GitOps sequence: repo, contents, git data, PR, checks, comments, review, merge.

use std::io::Read as _;

use serde_json::json;

use crate::{ALICE, T, b64, git, hash_object, unb64};

#[tokio::test]
async fn gitops_sequence_with_real_git_semantics() {
    let t = T::new().await;
    let bare = t.bare("acme", "gitops");

    // Repository.
    let repo = t
        .call(
            "POST",
            "/orgs/acme/repos",
            Some(json!({"name": "gitops", "description": "desired state"})),
        )
        .await
        .expect(201);
    assert_eq!(repo["full_name"], "acme/gitops");
    assert_eq!(repo["owner"]["type"], "Organization");
    assert_eq!(repo["default_branch"], "main");
    t.call("POST", "/orgs/acme/repos", Some(json!({"name": "gitops"})))
        .await
        .expect(422);
    assert_eq!(
        t.get("/repos/acme/gitops").await.expect(200)["id"],
        repo["id"]
    );
    t.get("/repos/acme/nope").await.expect(404);
    assert_eq!(git(&bare, &["rev-parse", "--is-bare-repository"]), "true");

    // First file into the empty repository.
    t.get("/repos/acme/gitops/contents/README.md")
        .await
        .expect(404);
    let put = t
        .call(
            "PUT",
            "/repos/acme/gitops/contents/README.md",
            Some(json!({"message": "first", "content": b64("# gitops\n")})),
        )
        .await
        .expect(201);
    let readme_sha = put["content"]["sha"].as_str().expect("sha").to_owned();
    assert_eq!(readme_sha, hash_object(b"# gitops\n"));
    let first = put["commit"]["sha"].as_str().expect("commit").to_owned();
    assert_eq!(put["commit"]["parents"].as_array().map(Vec::len), Some(0));
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), first);
    assert_eq!(
        git(&bare, &["cat-file", "blob", &format!("{first}:README.md")]),
        "# gitops"
    );

    let file = t
        .get("/repos/acme/gitops/contents/README.md?ref=main")
        .await
        .expect(200);
    assert_eq!(file["type"], "file");
    assert_eq!(file["sha"], readme_sha.as_str());
    assert_eq!(
        unb64(file["content"].as_str().expect("content")),
        "# gitops\n"
    );
    let root = t.get("/repos/acme/gitops/contents/").await.expect(200);
    assert_eq!(root.as_array().map(Vec::len), Some(1));
    assert_eq!(root[0]["name"], "README.md");

    // Update with the sha precondition.
    let upd = |sha: Option<&str>| {
        let mut b = json!({"message": "second", "content": b64("# gitops v2\n")});
        if let Some(s) = sha {
            b["sha"] = json!(s);
        }
        b
    };
    t.call(
        "PUT",
        "/repos/acme/gitops/contents/README.md",
        Some(upd(None)),
    )
    .await
    .expect(422);
    t.call(
        "PUT",
        "/repos/acme/gitops/contents/README.md",
        Some(upd(Some(&"0".repeat(40)))),
    )
    .await
    .expect(409);
    let put2 = t
        .call(
            "PUT",
            "/repos/acme/gitops/contents/README.md",
            Some(upd(Some(&readme_sha))),
        )
        .await
        .expect(200);
    let main1 = put2["commit"]["sha"].as_str().expect("sha").to_owned();
    assert_eq!(put2["commit"]["parents"][0]["sha"], first.as_str());

    // Git data: blob, tree on a base tree, commit, ref.
    let blob = t
        .call(
            "POST",
            "/repos/acme/gitops/git/blobs",
            Some(json!({"content": "version: 1.2.3\n", "encoding": "utf-8"})),
        )
        .await
        .expect(201);
    let blob_sha = blob["sha"].as_str().expect("sha").to_owned();
    assert_eq!(blob_sha, hash_object(b"version: 1.2.3\n"));
    let got = t
        .get(&format!("/repos/acme/gitops/git/blobs/{blob_sha}"))
        .await
        .expect(200);
    assert_eq!(
        unb64(got["content"].as_str().expect("content")),
        "version: 1.2.3\n"
    );
    let b64blob = t
        .call(
            "POST",
            "/repos/acme/gitops/git/blobs",
            Some(json!({"content": b64("bin\u{1}"), "encoding": "base64"})),
        )
        .await
        .expect(201);
    assert_eq!(b64blob["sha"], hash_object(b"bin\x01").as_str());

    let main_commit = t
        .get(&format!("/repos/acme/gitops/git/commits/{main1}"))
        .await
        .expect(200);
    let base_tree = main_commit["tree"]["sha"]
        .as_str()
        .expect("tree")
        .to_owned();
    let tree = t
        .call(
            "POST",
            "/repos/acme/gitops/git/trees",
            Some(json!({"base_tree": base_tree, "tree": [
                {"path": "envs/prod/mfe-a.yaml", "mode": "100644", "type": "blob", "sha": blob_sha},
                {"path": "envs/prod/mfe-a.lock", "mode": "100644", "type": "blob", "content": "locked\n"},
            ]})),
        )
        .await
        .expect(201);
    let tree_sha = tree["sha"].as_str().expect("sha").to_owned();
    let names: Vec<&str> = tree["tree"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(names, ["README.md", "envs"]);
    assert_eq!(
        git(
            &bare,
            &["rev-parse", &format!("{tree_sha}:envs/prod/mfe-a.yaml")]
        ),
        blob_sha
    );
    t.call(
        "POST",
        "/repos/acme/gitops/git/trees",
        Some(json!({"tree": [{"path": "../x", "mode": "100644", "type": "blob", "content": "x"}]})),
    )
    .await
    .expect(422);
    let deleted = t
        .call("POST", "/repos/acme/gitops/git/trees", Some(json!({"base_tree": tree_sha, "tree": [{"path": "envs/prod/mfe-a.lock", "mode": "100644", "type": "blob", "sha": null}]})))
        .await
        .expect(201);
    let listing = git(
        &bare,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            deleted["sha"].as_str().expect("sha"),
        ],
    );
    assert_eq!(listing, "README.md\nenvs/prod/mfe-a.yaml");

    let commit = t
        .call(
            "POST",
            "/repos/acme/gitops/git/commits",
            Some(json!({"message": "deploy mfe-a 1.2.3 to prod", "tree": tree_sha, "parents": [main1],
                "author": {"name": "Deploy Bot", "email": "bot@example.com", "date": "2025-01-02T03:04:05Z"}})),
        )
        .await
        .expect(201);
    let head1 = commit["sha"].as_str().expect("sha").to_owned();
    assert_eq!(commit["author"]["date"], "2025-01-02T03:04:05Z");
    assert_eq!(git(&bare, &["cat-file", "-t", &head1]), "commit");
    assert_eq!(git(&bare, &["rev-parse", &format!("{head1}^")]), main1);
    t.call(
        "POST",
        "/repos/acme/gitops/git/commits",
        Some(json!({"message": "x", "tree": "f".repeat(40)})),
    )
    .await
    .expect(422);

    let branch = "gitops/prod/mfe-a";
    let r = t
        .call(
            "POST",
            "/repos/acme/gitops/git/refs",
            Some(json!({"ref": format!("refs/heads/{branch}"), "sha": head1})),
        )
        .await
        .expect(201);
    assert_eq!(r["object"]["sha"], head1.as_str());
    t.call(
        "POST",
        "/repos/acme/gitops/git/refs",
        Some(json!({"ref": format!("refs/heads/{branch}"), "sha": head1})),
    )
    .await
    .expect(422);
    let got = t
        .get(&format!("/repos/acme/gitops/git/ref/heads/{branch}"))
        .await
        .expect(200);
    assert_eq!(got["ref"], format!("refs/heads/{branch}"));
    let listed = t
        .get("/repos/acme/gitops/git/matching-refs/heads/gitops")
        .await
        .expect(200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let rec = t
        .get(&format!("/repos/acme/gitops/git/trees/{head1}?recursive=1"))
        .await
        .expect(200);
    let paths: Vec<&str> = rec["tree"]
        .as_array()
        .expect("tree")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"envs/prod/mfe-a.yaml") && paths.contains(&"envs/prod"),
        "{paths:?}"
    );

    // Tarball of a branch: 302 to a codeload URL serving a gzip tar like GitHub's.
    let tb = t.get(&format!("/repos/acme/gitops/tarball/{branch}")).await;
    assert_eq!(tb.status, 302);
    let loc = tb.header("location").expect("location");
    let tar = t.call("GET", &loc, None).await;
    assert_eq!(tar.status, 200);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar.bytes.as_slice()));
    let mut found = None;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        if path.ends_with("envs/prod/mfe-a.yaml") {
            let mut s = String::new();
            entry.read_to_string(&mut s).expect("read");
            found = Some((path, s));
        }
    }
    let (path, content) = found.expect("file in tarball");
    assert_eq!(
        path,
        format!("acme-gitops-{}/envs/prod/mfe-a.yaml", &head1[..7])
    );
    assert_eq!(content, "version: 1.2.3\n");

    // Pull request.
    let pr = t
        .call("POST", "/repos/acme/gitops/pulls", Some(json!({"title": "Deploy mfe-a 1.2.3 to prod", "head": branch, "base": "main", "body": "req 01J"})))
        .await
        .expect(201);
    let n = pr["number"].as_u64().expect("number");
    assert_eq!(pr["head"]["sha"], head1.as_str());
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["merged"], false);
    assert_eq!(pr["mergeable"], true);
    if crate::openapi().is_some() {
        // A body GitHub's schema refuses is answered 422 "Invalid request", as GitHub does.
        let bad = t
            .call(
                "POST",
                "/repos/acme/gitops/pulls",
                Some(json!({"title": "x", "head": branch, "base": "main", "draft": "yes"})),
            )
            .await
            .expect(422);
        assert!(
            bad["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Invalid request."),
            "{bad}"
        );
    }
    let dup = t
        .call(
            "POST",
            "/repos/acme/gitops/pulls",
            Some(json!({"title": "again", "head": format!("acme:{branch}"), "base": "main"})),
        )
        .await
        .expect(422);
    assert!(dup.to_string().contains("already exists"), "{dup}");
    let listed = t
        .get(&format!(
            "/repos/acme/gitops/pulls?head=acme:{branch}&state=open"
        ))
        .await
        .expect(200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["number"], n);
    assert_eq!(
        t.get("/repos/acme/gitops/pulls?head=acme:gitops/prod/other")
            .await
            .expect(200),
        json!([])
    );
    assert_eq!(
        t.get(&format!(
            "/repos/acme/gitops/pulls?head=acme:{branch}&state=closed"
        ))
        .await
        .expect(200),
        json!([])
    );
    let files = t
        .get(&format!("/repos/acme/gitops/pulls/{n}/files"))
        .await
        .expect(200);
    let changed: Vec<(&str, &str)> = files
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap_or(""),
                f["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("envs/prod/mfe-a.lock", "added"),
            ("envs/prod/mfe-a.yaml", "added")
        ]
    );
    let upd = t
        .call(
            "PATCH",
            &format!("/repos/acme/gitops/pulls/{n}"),
            Some(json!({"title": "Deploy mfe-a 1.2.3 to prod (v2)"})),
        )
        .await
        .expect(200);
    assert_eq!(upd["title"], "Deploy mfe-a 1.2.3 to prod (v2)");

    // Statuses and the combined status.
    t.call(
        "POST",
        &format!("/repos/acme/gitops/statuses/{head1}"),
        Some(json!({"state": "bogus"})),
    )
    .await
    .expect(422);
    t.call(
        "POST",
        &format!("/repos/acme/gitops/statuses/{head1}"),
        Some(json!({"state": "pending", "context": "gitops/plan"})),
    )
    .await
    .expect(201);
    t.call("POST", &format!("/repos/acme/gitops/statuses/{head1}"), Some(json!({"state": "success", "context": "gitops/validate", "target_url": "https://ci.example.com/1"})))
        .await
        .expect(201);
    let combined = t
        .get(&format!("/repos/acme/gitops/commits/{head1}/status"))
        .await
        .expect(200);
    assert_eq!(combined["state"], "pending");
    assert_eq!(combined["total_count"], 2);
    t.call(
        "POST",
        &format!("/repos/acme/gitops/statuses/{head1}"),
        Some(json!({"state": "success", "context": "gitops/plan", "description": "ok"})),
    )
    .await
    .expect(201);
    let combined = t
        .get(&format!("/repos/acme/gitops/commits/{branch}/status"))
        .await
        .expect(200);
    assert_eq!(combined["state"], "success");
    assert_eq!(combined["sha"], head1.as_str());
    assert_eq!(combined["total_count"], 2);

    // Check runs.
    let cr = t
        .call("POST", "/repos/acme/gitops/check-runs", Some(json!({"name": "gitops-plan", "head_sha": head1, "status": "completed", "conclusion": "success", "output": {"title": "plan", "summary": "1 change"}})))
        .await
        .expect(201);
    assert_eq!(cr["conclusion"], "success");
    t.call(
        "POST",
        "/repos/acme/gitops/check-runs",
        Some(json!({"name": "x", "head_sha": head1, "status": "completed"})),
    )
    .await
    .expect(422);
    let runs = t
        .get(&format!("/repos/acme/gitops/commits/{head1}/check-runs"))
        .await
        .expect(200);
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["name"], "gitops-plan");

    // Sticky comment: create, edit, list.
    let c = t
        .call(
            "POST",
            &format!("/repos/acme/gitops/issues/{n}/comments"),
            Some(json!({"body": "<!-- gitops -->\nplanning"})),
        )
        .await
        .expect(201);
    let cid = c["id"].as_u64().expect("id");
    let e = t
        .call(
            "PATCH",
            &format!("/repos/acme/gitops/issues/comments/{cid}"),
            Some(json!({"body": "<!-- gitops -->\nplanned"})),
        )
        .await
        .expect(200);
    assert_eq!(e["id"], cid);
    assert_eq!(e["body"], "<!-- gitops -->\nplanned");
    let list = t
        .get(&format!("/repos/acme/gitops/issues/{n}/comments"))
        .await
        .expect(200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["body"], "<!-- gitops -->\nplanned");
    t.call(
        "POST",
        "/repos/acme/gitops/issues/999/comments",
        Some(json!({"body": "x"})),
    )
    .await
    .expect(404);

    // Reviews: the author cannot approve; another user can.
    t.call(
        "POST",
        &format!("/repos/acme/gitops/pulls/{n}/reviews"),
        Some(json!({"event": "APPROVE"})),
    )
    .await
    .expect(422);
    let rv = t
        .call_as(
            Some(ALICE),
            "POST",
            &format!("/repos/acme/gitops/pulls/{n}/reviews"),
            Some(json!({"event": "APPROVE"})),
        )
        .await
        .expect(200);
    assert_eq!(rv["state"], "APPROVED");
    assert_eq!(rv["user"]["login"], "alice");
    assert_eq!(rv["commit_id"], head1.as_str());
    let reviews = t
        .get(&format!("/repos/acme/gitops/pulls/{n}/reviews"))
        .await
        .expect(200);
    assert_eq!(reviews.as_array().map(Vec::len), Some(1));

    // Merge guarded by the head sha, then a real merge commit.
    let wrong = t
        .call(
            "PUT",
            &format!("/repos/acme/gitops/pulls/{n}/merge"),
            Some(json!({"sha": main1})),
        )
        .await
        .expect(409);
    assert!(
        wrong["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Head branch was modified")
    );
    let merged = t
        .call(
            "PUT",
            &format!("/repos/acme/gitops/pulls/{n}/merge"),
            Some(json!({"sha": head1, "merge_method": "merge"})),
        )
        .await
        .expect(200);
    assert_eq!(merged["merged"], true);
    let msha = merged["sha"].as_str().expect("sha").to_owned();
    let raw = git(&bare, &["cat-file", "-p", &msha]);
    let parents: Vec<&str> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("parent "))
        .collect();
    assert_eq!(parents, [main1.as_str(), head1.as_str()]);
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), msha);
    assert_eq!(
        git(
            &bare,
            &["cat-file", "blob", &format!("{msha}:envs/prod/mfe-a.yaml")]
        ),
        "version: 1.2.3"
    );
    let after = t
        .get(&format!("/repos/acme/gitops/pulls/{n}"))
        .await
        .expect(200);
    assert_eq!(after["merged"], true);
    assert_eq!(after["state"], "closed");
    assert_eq!(after["merge_commit_sha"], msha.as_str());
    assert_eq!(after["head"]["sha"], head1.as_str());
    t.call(
        "PUT",
        &format!("/repos/acme/gitops/pulls/{n}/merge"),
        Some(json!({"sha": head1})),
    )
    .await
    .expect(405);
    assert_eq!(
        t.get(&format!("/repos/acme/gitops/pulls?head=acme:{branch}"))
            .await
            .expect(200),
        json!([])
    );
    let all = t
        .get(&format!(
            "/repos/acme/gitops/pulls?head=acme:{branch}&state=all"
        ))
        .await
        .expect(200);
    assert_eq!(all.as_array().map(Vec::len), Some(1));

    // Ref updates: fast-forward only unless forced; delete.
    let refp = format!("/repos/acme/gitops/git/refs/heads/{branch}");
    t.call("PATCH", &refp, Some(json!({"sha": first})))
        .await
        .expect(422);
    t.call("PATCH", &refp, Some(json!({"sha": msha})))
        .await
        .expect(200);
    let forced = t
        .call("PATCH", &refp, Some(json!({"sha": first, "force": true})))
        .await
        .expect(200);
    assert_eq!(forced["object"]["sha"], first.as_str());
    assert_eq!(
        git(&bare, &["rev-parse", &format!("refs/heads/{branch}")]),
        first
    );
    t.call("DELETE", &refp, None).await.expect(204);
    t.get(&format!("/repos/acme/gitops/git/ref/heads/{branch}"))
        .await
        .expect(404);
    t.call("DELETE", &refp, None).await.expect(422);

    t.assert_conformant().await;
}

#[tokio::test]
async fn conflicting_pull_request_is_not_mergeable() {
    let t = T::new().await;
    let main =
        t.gh.create_repo("acme", "conflict", &[("app.yaml", "v: 1\n")])
            .await
            .expect("repo")
            .expect("sha");
    // Branch changes app.yaml one way...
    let tree = t
        .call("POST", "/repos/acme/conflict/git/trees", Some(json!({"tree": [{"path": "app.yaml", "mode": "100644", "type": "blob", "content": "v: 2\n"}]})))
        .await
        .expect(201);
    let c = t
        .call(
            "POST",
            "/repos/acme/conflict/git/commits",
            Some(json!({"message": "b", "tree": tree["sha"], "parents": [main]})),
        )
        .await
        .expect(201);
    t.call(
        "POST",
        "/repos/acme/conflict/git/refs",
        Some(json!({"ref": "refs/heads/feature", "sha": c["sha"]})),
    )
    .await
    .expect(201);
    let pr = t
        .call(
            "POST",
            "/repos/acme/conflict/pulls",
            Some(json!({"title": "t", "head": "feature", "base": "main"})),
        )
        .await
        .expect(201);
    let n = pr["number"].as_u64().expect("n");
    // ...and main changes it another way.
    let file = t
        .get("/repos/acme/conflict/contents/app.yaml")
        .await
        .expect(200);
    t.call(
        "PUT",
        "/repos/acme/conflict/contents/app.yaml",
        Some(json!({"message": "m", "content": b64("v: 3\n"), "sha": file["sha"]})),
    )
    .await
    .expect(200);
    let got = t
        .get(&format!("/repos/acme/conflict/pulls/{n}"))
        .await
        .expect(200);
    assert_eq!(got["mergeable"], false);
    assert_eq!(got["mergeable_state"], "dirty");
    let res = t
        .call(
            "PUT",
            &format!("/repos/acme/conflict/pulls/{n}/merge"),
            Some(json!({"sha": c["sha"]})),
        )
        .await
        .expect(405);
    assert_eq!(res["message"], "Pull Request is not mergeable");
    // Main did not move.
    let main_now = git(
        &t.bare("acme", "conflict"),
        &["rev-parse", "refs/heads/main"],
    );
    assert_eq!(
        t.get("/repos/acme/conflict/git/ref/heads/main")
            .await
            .expect(200)["object"]["sha"],
        main_now.as_str()
    );
    // No commits between: 422.
    t.call(
        "POST",
        "/repos/acme/conflict/git/refs",
        Some(json!({"ref": "refs/heads/same", "sha": main_now})),
    )
    .await
    .expect(201);
    t.call(
        "POST",
        "/repos/acme/conflict/pulls",
        Some(json!({"title": "t", "head": "same", "base": "main"})),
    )
    .await
    .expect(422);
    t.assert_conformant().await;
}

#[tokio::test]
async fn racing_ref_updates_one_wins() {
    let t = T::new().await;
    let base =
        t.gh.create_repo("acme", "race", &[("a", "1")])
            .await
            .expect("repo")
            .expect("sha");
    let mut heads = Vec::new();
    for i in 0..2 {
        let tree = t.call("POST", "/repos/acme/race/git/trees", Some(json!({"tree": [{"path": "a", "mode": "100644", "type": "blob", "content": format!("racer {i}")}]}))).await.expect(201);
        let c = t
            .call(
                "POST",
                "/repos/acme/race/git/commits",
                Some(json!({"message": "m", "tree": tree["sha"], "parents": [base]})),
            )
            .await
            .expect(201);
        heads.push(c["sha"].as_str().expect("sha").to_owned());
    }
    let path = "/repos/acme/race/git/refs/heads/main";
    let (a, b) = tokio::join!(
        t.call("PATCH", path, Some(json!({"sha": heads[0]}))),
        t.call("PATCH", path, Some(json!({"sha": heads[1]}))),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 422]);
    let winner = if a.status == 200 {
        &heads[0]
    } else {
        &heads[1]
    };
    assert_eq!(
        &git(&t.bare("acme", "race"), &["rev-parse", "refs/heads/main"]),
        winner
    );
    t.assert_conformant().await;
}

/// As on GitHub, deleting an open pull request's head branch closes the pull request, and the
/// pull request keeps the head it had (never an empty sha).
#[tokio::test]
async fn deleting_the_head_branch_closes_its_pull_request() {
    let t = T::new().await;
    let main =
        t.gh.create_repo("acme", "gone", &[("a.txt", "a\n")])
            .await
            .expect("repo")
            .expect("sha");
    let tree = t
        .call("POST", "/repos/acme/gone/git/trees", Some(json!({"tree": [{"path": "a.txt", "mode": "100644", "type": "blob", "content": "b\n"}]})))
        .await
        .expect(201);
    let c = t
        .call(
            "POST",
            "/repos/acme/gone/git/commits",
            Some(json!({"message": "b", "tree": tree["sha"], "parents": [main]})),
        )
        .await
        .expect(201);
    t.call(
        "POST",
        "/repos/acme/gone/git/refs",
        Some(json!({"ref": "refs/heads/topic", "sha": c["sha"]})),
    )
    .await
    .expect(201);
    let pr = t
        .call(
            "POST",
            "/repos/acme/gone/pulls",
            Some(json!({"title": "t", "head": "topic", "base": "main"})),
        )
        .await
        .expect(201);
    let n = pr["number"].as_u64().expect("n");
    t.call("DELETE", "/repos/acme/gone/git/refs/heads/topic", None)
        .await
        .expect(204);
    let after = t
        .get(&format!("/repos/acme/gone/pulls/{n}"))
        .await
        .expect(200);
    assert_eq!(after["state"], "closed");
    assert_eq!(after["head"]["sha"], c["sha"], "the head it had");
    t.assert_conformant().await;
}
