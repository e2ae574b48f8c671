//! Request bodies are read strictly: a field of the wrong type or an incomplete one is refused
//! as GitHub refuses it, never read as absent or replaced by a default; line counts of binary
//! files are GitHub's 0, not a failure.

use serde_json::{Value, json};

use crate::{T, b64};

/// The first entry of a 422's `errors`, or its message.
fn refused(res: crate::Res) -> Value {
    let body = res.expect(422);
    body["errors"]
        .get(0)
        .cloned()
        .unwrap_or_else(|| body["message"].clone())
}

#[tokio::test]
async fn wrongly_typed_or_incomplete_fields_are_refused_not_defaulted() {
    let t = T::without_openapi().await;

    // A repository flag that is not a boolean: refused, and nothing is created.
    let msg = refused(
        t.call(
            "POST",
            "/orgs/acme/repos",
            Some(json!({"name": "site", "private": "yes"})),
        )
        .await,
    );
    let msg = msg.as_str().expect("message");
    assert!(
        msg.contains("'properties/private'") && msg.contains("not a boolean"),
        "{msg}"
    );
    t.get("/repos/acme/site").await.expect(404);

    let head =
        t.gh.create_repo("acme", "site", &[("a.txt", "a\n")])
            .await
            .expect("repo")
            .expect("sha");
    let tree = t
        .get(&format!("/repos/acme/site/git/commits/{head}"))
        .await
        .expect(200)["tree"]["sha"]
        .as_str()
        .expect("tree")
        .to_owned();

    // Tree entries without a path or a mode name the missing field.
    for (entry, field) in [
        (
            json!({"mode": "100644", "type": "blob", "content": "x"}),
            "path",
        ),
        (
            json!({"path": "b.txt", "type": "blob", "content": "x"}),
            "mode",
        ),
    ] {
        let e = refused(
            t.call(
                "POST",
                "/repos/acme/site/git/trees",
                Some(json!({"tree": [entry]})),
            )
            .await,
        );
        assert_eq!(e["code"], "missing_field", "{e}");
        assert_eq!(e["field"], field, "{e}");
    }

    // A parent that is not a string, an author without an email: refused, not read as no
    // parent or as the caller.
    let e = refused(
        t.call(
            "POST",
            "/repos/acme/site/git/commits",
            Some(json!({"message": "m", "tree": tree, "parents": [5]})),
        )
        .await,
    );
    assert_eq!(e["field"], "parents", "{e}");
    let msg = refused(
        t.call(
            "POST",
            "/repos/acme/site/git/commits",
            Some(
                json!({"message": "m", "tree": tree, "parents": [head], "author": {"name": "Ann"}}),
            ),
        )
        .await,
    );
    assert!(
        msg.as_str()
            .is_some_and(|m| m.contains("\"email\" wasn't supplied")),
        "{msg}"
    );
    // A complete author is also the committer when none is given.
    let c = t
        .call(
            "POST",
            "/repos/acme/site/git/commits",
            Some(json!({"message": "m", "tree": tree, "parents": [head], "author": {"name": "Ann", "email": "ann@example.com"}})),
        )
        .await
        .expect(201);
    assert_eq!(c["author"]["name"], "Ann");
    assert_eq!(c["committer"]["email"], "ann@example.com");

    // A check run's start that is not a date is refused, not replaced by now.
    let e = refused(
        t.call(
            "POST",
            "/repos/acme/site/check-runs",
            Some(json!({"name": "plan", "head_sha": head, "started_at": "yesterday"})),
        )
        .await,
    );
    assert_eq!(e["field"], "started_at", "{e}");

    // A required context that is not a string is refused, not skipped.
    let e = refused(
        t.call(
            "POST",
            "/repos/acme/site/deployments",
            Some(json!({"ref": head, "required_contexts": [1]})),
        )
        .await,
    );
    assert_eq!(e["field"], "required_contexts", "{e}");
    let dep = t
        .call(
            "POST",
            "/repos/acme/site/deployments",
            Some(json!({"ref": head, "required_contexts": [], "environment": "Prod"})),
        )
        .await
        .expect(201);
    let statuses = format!("/repos/acme/site/deployments/{}/statuses", dep["id"]);
    let msg = refused(
        t.call(
            "POST",
            &statuses,
            Some(json!({"state": "success", "description": 5})),
        )
        .await,
    );
    assert!(
        msg.as_str()
            .is_some_and(|m| m.contains("'properties/description'")),
        "{msg}"
    );
    // Absent, they are GitHub's "" and each URL defaults to the other.
    let st = t
        .call(
            "POST",
            &statuses,
            Some(json!({"state": "success", "log_url": "https://ci.example/1"})),
        )
        .await
        .expect(201);
    assert_eq!(st["description"], "");
    assert_eq!(st["environment_url"], "");
    assert_eq!(st["target_url"], "https://ci.example/1");
    assert_eq!(st["environment"], "Prod");

    // The test hook that moves a run along refuses a status that is not a string.
    t.call(
        "POST",
        "/repos/acme/site/dispatches",
        Some(json!({"event_type": "deploy"})),
    )
    .await
    .expect(204);
    let runs = t.get("/repos/acme/site/actions/runs").await.expect(200);
    let run = runs["workflow_runs"][0]["id"].as_u64().expect("run id");
    let hook = format!("/_fake/runs/acme/site/{run}");
    refused(t.call("PATCH", &hook, Some(json!({"status": 5}))).await);
    t.call(
        "PATCH",
        &hook,
        Some(json!({"status": "completed", "conclusion": "failure"})),
    )
    .await;
    let r = t
        .get(&format!("/repos/acme/site/actions/runs/{run}"))
        .await
        .expect(200);
    assert_eq!(
        (r["status"].as_str(), r["conclusion"].as_str()),
        (Some("completed"), Some("failure"))
    );
}

#[tokio::test]
async fn binary_files_in_a_pull_request_count_no_lines() {
    let t = T::new().await;
    t.gh.create_repo("acme", "assets", &[("README.md", "assets\n")])
        .await
        .expect("repo");
    let main = t
        .get("/repos/acme/assets/git/ref/heads/main")
        .await
        .expect(200);
    t.call(
        "POST",
        "/repos/acme/assets/git/refs",
        Some(json!({"ref": "refs/heads/logo", "sha": main["object"]["sha"]})),
    )
    .await
    .expect(201);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0binary\0";
    let content = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(png)
    };
    t.call(
        "PUT",
        "/repos/acme/assets/contents/logo.png",
        Some(json!({"message": "logo", "content": content, "branch": "logo"})),
    )
    .await
    .expect(201);
    t.call(
        "PUT",
        "/repos/acme/assets/contents/notes.txt",
        Some(json!({"message": "notes", "content": b64("one\ntwo\n"), "branch": "logo"})),
    )
    .await
    .expect(201);
    let pr = t
        .call(
            "POST",
            "/repos/acme/assets/pulls",
            Some(json!({"title": "logo", "head": "logo", "base": "main"})),
        )
        .await
        .expect(201);
    let files = t
        .get(&format!("/repos/acme/assets/pulls/{}/files", pr["number"]))
        .await
        .expect(200);
    let counts: Vec<(&str, u64, u64)> = files
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().expect("filename"),
                f["additions"].as_u64().expect("additions"),
                f["deletions"].as_u64().expect("deletions"),
            )
        })
        .collect();
    assert_eq!(counts, [("logo.png", 0, 0), ("notes.txt", 2, 0)]);
    let pr = t
        .get(&format!("/repos/acme/assets/pulls/{}", pr["number"]))
        .await
        .expect(200);
    assert_eq!(
        (pr["additions"].as_u64(), pr["changed_files"].as_u64()),
        (Some(2), Some(2))
    );
    t.assert_conformant().await;
}
