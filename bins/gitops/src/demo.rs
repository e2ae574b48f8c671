//! `gitops demo`: the whole flow on one machine, on the embedded backends, narrated.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gitops_event_model::DeployRequest;
use gitops_iac_config::{Outcome, Repository};
use gitops_pipeline::{DeployOptions, MergeOutcome};
use gitops_runtime::{ForgeChoice, Runtime};
use time::OffsetDateTime;

const MFE_FILE: &str = "name: checkout
repository: acme/checkout-mfe      # the only repository that may request deploys of it
artifact: local/artifacts/checkout/checkout-{version}.tgz
environments: [dev, staging, prod]
entry_points: [remoteEntry.js]
owners: [\"@acme/checkout-team\"]
";

type Step<T> = Result<T, String>;

fn say(text: &str) {
    println!("\n==> {text}");
}

fn git(dir: &Path, args: &[&str]) -> Step<()> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "gitops demo")
        .env("GIT_AUTHOR_EMAIL", "demo@example.invalid")
        .env("GIT_COMMITTER_NAME", "gitops demo")
        .env("GIT_COMMITTER_EMAIL", "demo@example.invalid")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Builds a small MFE bundle for `version` and publishes it the way `mfe publish` does: a
/// reproducible `.tgz` plus its `.sha256` sidecar in the local artifact store.
fn publish(dir: &Path, version: &str) -> Step<()> {
    let dist = dir.join(format!("local/dist/checkout-{version}"));
    std::fs::create_dir_all(dist.join("assets")).map_err(|e| e.to_string())?;
    let hash = &gitops_artifact_store::sha256_hex(version.as_bytes())[..8];
    std::fs::write(
        dist.join("remoteEntry.js"),
        format!("// checkout {version}: loads ./assets/main.{hash}.js\n"),
    )
    .and_then(|()| {
        std::fs::write(
            dist.join(format!("assets/main.{hash}.js")),
            format!("console.log('checkout {version}');\n"),
        )
    })
    .map_err(|e| e.to_string())?;
    let archive = gitops_artifact_store::pack_dir(&dist).map_err(|e| e.to_string())?;
    let store = dir.join("local/artifacts/checkout");
    std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
    let name = format!("checkout-{version}.tgz");
    std::fs::write(store.join(&name), &archive)
        .and_then(|()| {
            std::fs::write(
                store.join(format!("{name}.sha256")),
                gitops_artifact_store::sidecar_line(
                    &gitops_artifact_store::sha256_hex(&archive),
                    &name,
                ),
            )
        })
        .map_err(|e| e.to_string())?;
    println!("    published local/artifacts/checkout/{name} (+ .sha256)");
    Ok(())
}

fn request(env: &str, version: &str) -> Step<DeployRequest> {
    DeployRequest::builder()
        .user("demo-user")
        .mfe("checkout")
        .version(version)
        .environment(env)
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_key("/mfe/checkout/manifest.json")
        .build()
        .map_err(|e| e.to_string())
}

fn load(dir: &Path) -> Step<Repository> {
    Repository::load_dir(dir).map_err(|p| {
        p.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// request -> PR -> checks -> merge, narrated; `Ok(false)` when the policy refused it.
async fn request_and_merge(dir: &Path, runtime: &Runtime, request: &DeployRequest) -> Step<bool> {
    let handle = runtime
        .forge(ForgeChoice::Local)
        .await
        .map_err(|e| e.to_string())?;
    let repository = load(dir)?;
    let now = OffsetDateTime::now_utc();
    let report = gitops_pipeline::process(
        &repository,
        None,
        Ok(request),
        now,
        handle.forge.as_ref(),
        Some(handle.requester.as_ref()),
        &runtime.metrics_by_environment(&repository),
    )
    .await
    .map_err(|e| e.to_string())?;
    match report.decision.decision {
        Outcome::Reject => {
            for r in &report.decision.reasons {
                println!("    refused ({}): {}", r.code, r.message);
            }
            return Ok(false);
        }
        Outcome::Noop => {
            println!("    nothing to do: already desired");
            return Ok(false);
        }
        Outcome::Accept => {}
    }
    let number = report.pull_request.unwrap_or_default();
    println!(
        "    policy accepts; pull request #{number} on branch gitops/{}/checkout writes {}",
        request.environment(),
        report.decision.changes[0].path
    );
    merge(dir, runtime, number).await?;
    Ok(true)
}

async fn merge(dir: &Path, runtime: &Runtime, number: u64) -> Step<()> {
    let handle = runtime
        .forge(ForgeChoice::Local)
        .await
        .map_err(|e| e.to_string())?;
    let metrics = runtime.metrics_by_environment(&load(dir)?);
    match gitops_pipeline::merge_pull_request(
        handle.forge.as_ref(),
        number,
        OffsetDateTime::now_utc(),
        &metrics,
    )
    .await
    .map_err(|e| e.to_string())?
    {
        MergeOutcome::Merged { sha } => println!(
            "    checks passed (valid repository, bot-owned file, policy); merged #{number} as {}",
            &sha[..12.min(sha.len())]
        ),
        other => return Err(format!("#{number} was not merged: {other:?}")),
    }
    Ok(())
}

async fn deploy(dir: &Path, runtime: &Runtime) -> Step<()> {
    let handle = runtime
        .forge(ForgeChoice::Local)
        .await
        .map_err(|e| e.to_string())?;
    let options = DeployOptions {
        requester: Some(handle.requester),
        revisions: Some(runtime.revisions().await.map_err(|e| e.to_string())?),
        ..DeployOptions::default()
    };
    let report = gitops_pipeline::deploy_all(&load(dir)?, runtime, &options)
        .await
        .map_err(|e| e.to_string())?;
    for p in &report.pairs {
        println!(
            "    {}/{} {}: {:?}; {} files uploaded; CDN invalidated: {}",
            p.environment,
            p.mfe,
            p.version,
            p.outcome,
            p.files_uploaded,
            if p.invalidated.is_empty() {
                "nothing".to_owned()
            } else {
                p.invalidated.join(" ")
            }
        );
    }
    if report.failed() {
        return Err("a deploy failed".to_owned());
    }
    Ok(())
}

async fn show_status(dir: &Path, runtime: &Runtime) -> Step<()> {
    for row in gitops_pipeline::status(&load(dir)?, runtime, None)
        .await
        .map_err(|e| e.to_string())?
    {
        println!(
            "    {:<8} {:<9} live {:<8} desired {:<8} {}",
            row.environment,
            row.mfe,
            row.version.as_deref().unwrap_or("-"),
            row.desired.as_deref().unwrap_or("-"),
            if row.differs {
                "(not in sync)"
            } else {
                "(in sync)"
            }
        );
    }
    Ok(())
}

pub async fn run(dir: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "mfe-gitops-demo-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        ))
    });
    if dir.exists() && std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "error: {} exists and is not empty; give --dir a new directory",
            dir.display()
        );
        return ExitCode::from(2);
    }
    match walk(&dir).await {
        Ok(()) => {
            println!(
                "\nDone. Everything is left in {} for you to inspect:",
                dir.display()
            );
            println!(
                "  git log --oneline --graph --all    the audit trail (one PR branch per environment and MFE)"
            );
            println!("  deployments/dev/checkout.json      the desired state, written by the bot");
            println!(
                "  local/dev/storage/                 what a CDN would serve (mfe/checkout/<version>/, aliases, importmap.json)"
            );
            println!(
                "  local/dev/registry.db              the live versions and their history (SQLite)"
            );
            println!("  local/dev/cdn.log                  one line per CDN invalidation");
            println!("Try: gitops status --repo {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: the demo failed: {e} (files left in {})",
                dir.display()
            );
            ExitCode::from(3)
        }
    }
}

async fn walk(dir: &Path) -> Step<()> {
    say(&format!(
        "Creating a GitOps repository in {} (the same files `gitops init` writes)",
        dir.display()
    ));
    let files = gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::default())
        .map_err(|e| e.to_string())?;
    gitops_render::write_files(dir, &files, false, false).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("mfes/checkout.yaml"), MFE_FILE).map_err(|e| e.to_string())?;
    println!(
        "    gitops.yaml: dev -> staging -> prod (prod requires staging and an approval) on local files, SQLite and a CDN log"
    );
    println!("    mfes/checkout.yaml: the MFE `checkout`, deployable only from acme/checkout-mfe");
    git(dir, &["init", "-q", "-b", "main", "."])?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "gitops init"])?;
    let runtime = Runtime::new(dir);
    for env in &load(dir)?.config.environments {
        runtime.bootstrap(env).await.map_err(|e| e.to_string())?;
    }

    say("The MFE's CI publishes two versions to the artifact store (as `mfe publish` does)");
    publish(dir, "1.0.0")?;
    publish(dir, "1.1.0")?;

    for version in ["1.0.0", "1.1.0"] {
        say(&format!(
            "acme/checkout-mfe asks to deploy checkout {version} to dev (a repository_dispatch)"
        ));
        request_and_merge(dir, &runtime, &request("dev", version)?).await?;
        say("Deploying what main now desires");
        deploy(dir, &runtime).await?;
        show_status(dir, &runtime).await?;
    }

    say("A request straight to prod is refused by the policy (prod requires staging first)");
    request_and_merge(dir, &runtime, &request("prod", "1.1.0")?).await?;

    say("Deploying again changes nothing: the live version is skipped, the CDN untouched");
    deploy(dir, &runtime).await?;

    say("Rolling dev back the GitOps way: a PR setting the previous version with rollback: true");
    let repository = load(dir)?;
    let current = repository
        .deployment("dev", "checkout")
        .ok_or("nothing desired in dev")?
        .clone();
    let targets = gitops_pipeline::Backends::targets(
        &runtime,
        repository.environment("dev").ok_or("no dev")?,
    )
    .await
    .map_err(|e| e.to_string())?;
    let history = targets
        .registry
        .history("dev", "checkout")
        .await
        .map_err(|e| e.to_string())?;
    let previous = gitops_pipeline::previous_version(&history, &current.version)
        .ok_or("no previous version")?;
    let rollback = gitops_pipeline::rollback_request(&current, &previous, "demo-user")
        .map_err(|e| e.to_string())?;
    let handle = runtime
        .forge(ForgeChoice::Local)
        .await
        .map_err(|e| e.to_string())?;
    let report = gitops_pipeline::rollback(
        &repository,
        &rollback,
        OffsetDateTime::now_utc(),
        handle.forge.as_ref(),
        Some(handle.requester.as_ref()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let number = report.pull_request.ok_or("the rollback was not proposed")?;
    println!(
        "    pull request #{number}: checkout {} -> {previous} in dev",
        current.version
    );
    merge(dir, &runtime, number).await?;
    deploy(dir, &runtime).await?;
    show_status(dir, &runtime).await?;
    Ok(())
}
