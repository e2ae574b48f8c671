//! Properties every rendered workflow must have, checked on the parsed YAML.

use serde_yaml_ng::Value;

use crate::all_workflows;

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

#[test]
fn every_workflow_is_locked_down() {
    let workflows = all_workflows();
    assert!(workflows.len() >= 10);
    for (set, file) in workflows {
        let what = format!("{set} {}", file.path);
        let doc: Value = serde_yaml_ng::from_str(&file.contents)
            .unwrap_or_else(|e| panic!("{what}: not YAML: {e}"));
        // Top-level permissions: {}.
        let perms = get(&doc, "permissions").unwrap_or_else(|| panic!("{what}: no permissions"));
        assert!(
            perms
                .as_mapping()
                .is_some_and(serde_yaml_ng::Mapping::is_empty),
            "{what}: top-level permissions must be {{}}"
        );
        let jobs = get(&doc, "jobs").and_then(Value::as_mapping).unwrap();
        for (id, job) in jobs {
            let what = format!("{what} job {id:?}");
            let perms = get(job, "permissions")
                .and_then(Value::as_mapping)
                .unwrap_or_else(|| panic!("{what}: no job permissions"));
            for (k, v) in perms {
                let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap());
                assert_ne!(k, "write-all", "{what}");
                if v == "write" {
                    assert_eq!(k, "id-token", "{what}: only id-token may be write");
                }
            }
            let oidc = perms.get("id-token").is_some();
            let mut assumes_role = false;
            for step in get(job, "steps").and_then(Value::as_sequence).unwrap() {
                if let Some(uses) = get(step, "uses").and_then(Value::as_str) {
                    let (_, sha) = uses.split_once('@').unwrap();
                    assert!(
                        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{what}: {uses} is not pinned to a full sha"
                    );
                    if uses.starts_with("actions/checkout@") {
                        assert_eq!(
                            get(get(step, "with").unwrap(), "persist-credentials"),
                            Some(&Value::Bool(false)),
                            "{what}"
                        );
                    }
                    assumes_role |= uses.starts_with("aws-actions/configure-aws-credentials@");
                }
                if let Some(run) = get(step, "run").and_then(Value::as_str) {
                    assert!(!run.contains("${{"), "{what}: expression inside run: {run}");
                }
            }
            assert_eq!(
                oidc, assumes_role,
                "{what}: id-token exactly where a role is assumed"
            );
        }
        // No long-lived cloud keys anywhere.
        for bad in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "aws-access-key-id",
        ] {
            assert!(!file.contents.contains(bad), "{what}: mentions {bad}");
        }
        // Every `uses:` line carries its version in a comment.
        for line in file.contents.lines().filter(|l| l.contains("uses: ")) {
            assert!(line.contains(" # v"), "{what}: {line}");
        }
    }
}

#[test]
fn gitops_process_and_deploy_are_serialised_per_pair() {
    let files =
        gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::default()).unwrap();
    let find = |name: &str| {
        let f = files.iter().find(|f| f.path.ends_with(name)).unwrap();
        serde_yaml_ng::from_str::<Value>(&f.contents).unwrap()
    };
    let process = find("gitops-process.yml");
    let group = get(get(&process, "concurrency").unwrap(), "group")
        .and_then(Value::as_str)
        .unwrap();
    assert!(group.contains("client_payload.environment") && group.contains("client_payload.mfe"));
    let on = get(&process, "on").unwrap();
    let types = get(get(on, "repository_dispatch").unwrap(), "types").unwrap();
    assert_eq!(types, &Value::Sequence(vec!["deploy-mfe-trigger".into()]));
    let deploy = find("gitops-deploy.yml");
    let job = get(get(&deploy, "jobs").unwrap(), "deploy").unwrap();
    let group = get(get(job, "concurrency").unwrap(), "group")
        .and_then(Value::as_str)
        .unwrap();
    assert!(group.contains("matrix.environment") && group.contains("matrix.mfe"));
}
