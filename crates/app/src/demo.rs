//! The demo: the whole flow on one machine, on the embedded backends, narrated. It runs the same
//! use-cases a user's commands run ([`Session`], [`crate::merge`], `gitops init`'s scaffold, `mfe
//! publish`'s packer), so what it shows is what the product does.

use std::path::{Path, PathBuf};

use gitops_event_model::{DeployRequest, MfeName, Version};
use gitops_iac_config::Outcome;
use gitops_pipeline::{MergeOutcome, PairOutcome};
use time::OffsetDateTime;

use crate::{Error, Filters, ForgeChoice, Session, report};

/// Where the narration goes, one line at a time.
pub type Narrator<'a> = &'a mut (dyn FnMut(&str) + Send);

const MFE_FILE: &str = "name: checkout
repository: acme/checkout-mfe      # the only repository that may request deploys of it
artifact: local/artifacts/checkout/checkout-{version}.tgz
environments: [dev, staging, prod]
entry_points: [remoteEntry.js]
owners: [\"@acme/checkout-team\"]
";

/// The setup action pin of the demo's workflows when no pin is known (no `MFE_GITOPS_ACTION`
/// in the environment or built in): a placeholder commit that exists nowhere. The demo never
/// runs its workflows, and says so; `gitops init --action OWNER/REPO@SHA` pins a real release.
pub const PLACEHOLDER_ACTION: &str =
    "mfe-gitops/mfe-gitops@0000000000000000000000000000000000000000";

/// What a demo directory holds, for the closing lines.
pub const LEFT_FOR_INSPECTION: &[(&str, &str)] = &[
    (
        "git log --oneline --graph --all",
        "the audit trail (one PR branch per environment and MFE)",
    ),
    (
        "deployments/dev/checkout.json",
        "the desired state, written by the bot",
    ),
    (
        "local/dev/storage/",
        "what a CDN would serve (mfe/checkout/<version>/, aliases, importmap.json)",
    ),
    (
        "local/dev/registry.db",
        "the live versions and their history (SQLite)",
    ),
    ("local/dev/cdn.log", "one line per CDN invalidation"),
];

/// `gitops demo`: the demo in `dir` (or a new temporary directory), narrated through `say`;
/// exit code 0, or 3 with the failure on standard error and the files left to inspect.
pub async fn narrated(dir: Option<PathBuf>, say: Narrator<'_>) -> Result<u8, Error> {
    let dir = directory(dir).await?;
    if let Err(e) = run(&dir, say).await {
        gitops_actions::err(format_args!(
            "error: the demo failed: {e} (files left in {})",
            dir.display()
        ));
        return Ok(3);
    }
    Ok(0)
}

/// A new directory for the demo: `dir`, which must not exist or be empty, or a fresh temporary
/// one.
pub async fn directory(dir: Option<PathBuf>) -> Result<PathBuf, Error> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "mfe-gitops-demo-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        ))
    });
    let not_empty = match tokio::fs::read_dir(&dir).await {
        Ok(mut entries) => entries.next_entry().await.is_ok_and(|e| e.is_some()),
        Err(_) => false,
    };
    if not_empty {
        return Err(Error::Usage(format!(
            "{} exists and is not empty; give --dir a new directory",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Walks the whole flow in `dir` (see [`directory`]), narrating to `say`, and closes with what
/// is left there to inspect ([`LEFT_FOR_INSPECTION`]).
pub async fn run(dir: &Path, say: Narrator<'_>) -> Result<(), Error> {
    say(&format!(
        "\n==> Creating a GitOps repository in {} (the same files `gitops init` writes)",
        dir.display()
    ));
    let action = pin(say)?;
    let files = gitops_render::render_gitops_scaffold(&gitops_render::GitopsOptions::new(action))
        .map_err(usage)?;
    gitops_render::write_files(dir, &files, false, false).map_err(usage)?;
    // The demo is a local test by definition: it runs on the local forge and embedded targets
    // even inside GitHub Actions (where gitops otherwise fails closed).
    let config = dir.join(gitops_iac_config::CONFIG_FILE);
    let mut yaml = tokio::fs::read_to_string(&config)
        .await
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", config.display())))?;
    yaml.push_str("\n# The demo is a local test: the local git forge and embedded targets, even in Actions.\nlocal_test: true\n");
    tokio::fs::write(&config, yaml)
        .await
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", config.display())))?;
    tokio::fs::write(dir.join("mfes/checkout.yaml"), MFE_FILE)
        .await
        .map_err(|e| Error::Usage(format!("cannot write mfes/checkout.yaml: {e}")))?;
    say(
        "    gitops.yaml: dev -> staging -> prod (prod requires staging and an approval) on local files, SQLite and a CDN log",
    );
    say("    mfes/checkout.yaml: the MFE `checkout`, deployable only from acme/checkout-mfe");
    gitops_runtime::git(dir, &["init", "-q", "-b", "main", "."]).await?;
    gitops_runtime::git(dir, &["add", "-A"]).await?;
    gitops_runtime::git(dir, &["commit", "-q", "-m", "gitops init"]).await?;
    let mut session = Session::open(dir).await?;
    session.bootstrap(&Filters::default(), true).await?;

    say("\n==> The MFE's CI publishes two versions to the artifact store (as `mfe publish` does)");
    for version in ["1.0.0", "1.1.0"] {
        publish(&session, version, say).await?;
    }

    for version in ["1.0.0", "1.1.0"] {
        say(&format!(
            "\n==> acme/checkout-mfe asks to deploy checkout {version} to dev (a repository_dispatch)"
        ));
        session = request_and_merge(session, &request("dev", version)?, say).await?;
        say("\n==> Deploying what main now desires");
        deploy(&session, say).await?;
        show_status(&session, say).await?;
    }

    say("\n==> A request straight to prod is refused by the policy (prod requires staging first)");
    session = request_and_merge(session, &request("prod", "1.1.0")?, say).await?;

    say("\n==> Deploying again changes nothing: the live version is skipped, the CDN untouched");
    deploy(&session, say).await?;

    say(
        "\n==> Rolling dev back the GitOps way: a PR setting the previous version with rollback: true",
    );
    let report = session
        .rollback(
            "dev",
            "checkout",
            None,
            Some(Some("the demo's rollback".to_owned())),
            ForgeChoice::Local,
        )
        .await?;
    let number = report
        .pull_request
        .ok_or_else(|| Error::Usage("the rollback was not proposed".into()))?;
    say(&format!(
        "    pull request #{number}: checkout back to the previous live version in dev"
    ));
    let session = merge(session, number, say).await?;
    deploy(&session, say).await?;
    show_status(&session, say).await?;

    say(
        "\n==> The rollback pinned checkout in dev: automation cannot undo it until `gitops unpin`",
    );
    request_and_merge(session, &request("dev", "1.1.0")?, say).await?;
    say(&format!(
        "\nDone. Everything is left in {} for you to inspect:",
        dir.display()
    ));
    for (what, why) in LEFT_FOR_INSPECTION {
        say(&format!("  {what:<34} {why}"));
    }
    say(&format!("Try: gitops status --repo {}", dir.display()));
    for next in [
        "gitops promote --from dev --to staging",
        "gitops drift",
        "gitops unpin --env dev --mfe checkout",
        "gitops prune --env dev --dry-run",
    ] {
        say(&format!("     {next} --repo {}", dir.display()));
    }
    Ok(())
}

/// The setup action the scaffold's workflows pin: the default `gitops init` uses, or
/// [`PLACEHOLDER_ACTION`] when none is known (a malformed `MFE_GITOPS_ACTION` is an error).
fn pin(say: Narrator<'_>) -> Result<gitops_render::ActionRef, Error> {
    match gitops_render::ActionRef::resolve(None) {
        Ok((action, source)) => {
            say(&format!(
                "    workflows install gitops through the setup action {action} (from {source})"
            ));
            Ok(action)
        }
        Err(gitops_render::Error::MissingAction) => {
            say(&format!(
                "    workflows pin the setup action to the placeholder {PLACEHOLDER_ACTION}: this build knows no release (MFE_GITOPS_ACTION is unset) and the demo never runs its workflows; `gitops init --action OWNER/REPO@SHA` pins a real one"
            ));
            gitops_render::ActionRef::parse(PLACEHOLDER_ACTION).map_err(usage)
        }
        Err(e) => Err(usage(e)),
    }
}

/// A small bundle for `version`, published as `mfe publish` does it: a reproducible `.tgz` and
/// its `.sha256` sidecar where the MFE's `artifact` template says.
async fn publish(session: &Session, version: &str, say: Narrator<'_>) -> Result<(), Error> {
    let dist = session.dir().join(format!("local/dist/checkout-{version}"));
    let hash = &gitops_artifact_store::sha256_hex(version.as_bytes())[..8];
    let write = |path: PathBuf, text: String| async move {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(path, text).await
    };
    write(
        dist.join("remoteEntry.js"),
        format!("// checkout {version}: loads ./assets/main.{hash}.js\n"),
    )
    .await
    .map_err(|e| Error::Usage(format!("cannot write the demo bundle: {e}")))?;
    write(
        dist.join(format!("assets/main.{hash}.js")),
        format!("console.log('checkout {version}');\n"),
    )
    .await
    .map_err(|e| Error::Usage(format!("cannot write the demo bundle: {e}")))?;
    let mfe = &session.repository.mfes[&MfeName::parse("checkout").map_err(usage)?];
    let version = Version::parse(version).map_err(usage)?;
    let location =
        gitops_pipeline::Backends::artifact(&session.runtime, &mfe.artifact, &mfe.name, &version)?;
    gitops_artifact_store::publish_dir(&location, &dist)
        .await
        .map_err(gitops_pipeline::Error::from)?;
    say(&format!("    published {} (+ .sha256)", location.display));
    Ok(())
}

fn usage(e: impl std::fmt::Display) -> Error {
    Error::Usage(e.to_string())
}

fn request(env: &str, version: &str) -> Result<DeployRequest, Error> {
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
        .map_err(|e| Error::Usage(e.to_string()))
}

/// request -> PR -> checks -> merge, narrated, through `gitops process` and `gitops merge`'s
/// use-cases; returns the session on the new `main`.
async fn request_and_merge(
    session: Session,
    request: &DeployRequest,
    say: Narrator<'_>,
) -> Result<Session, Error> {
    let report = session
        .process(
            &Ok(request.clone()),
            OffsetDateTime::now_utc(),
            false,
            ForgeChoice::Local,
        )
        .await?;
    match report.decision.decision {
        Outcome::Reject => {
            for r in &report.decision.reasons {
                say(&format!("    refused ({}): {}", r.code, r.message));
            }
            return Ok(session);
        }
        Outcome::Noop => {
            say("    nothing to do: already desired");
            return Ok(session);
        }
        Outcome::Accept => {}
    }
    let number = report
        .pull_request
        .ok_or_else(|| Error::Usage("the request was not proposed".into()))?;
    say(&format!(
        "    policy accepts; pull request #{number} on branch gitops/{}/checkout writes {}",
        request.environment(),
        report
            .decision
            .changes
            .first()
            .map_or("nothing", |c| c.path.as_str())
    ));
    merge(session, number, say).await
}

/// `gitops merge --pr N`, narrated; the session is reopened on the merged `main`.
async fn merge(session: Session, number: u64, say: Narrator<'_>) -> Result<Session, Error> {
    let dir = session.dir().to_path_buf();
    let results = crate::merge(
        &dir,
        Some(number),
        OffsetDateTime::now_utc(),
        ForgeChoice::Local,
    )
    .await?;
    for (n, result) in results {
        match result? {
            MergeOutcome::Merged { sha } => say(&format!(
                "    checks passed (valid repository, bot-owned file, policy); merged #{n} as {}",
                &sha.as_str()[..12]
            )),
            other => return Err(Error::Usage(format!("#{n} was not merged: {other:?}"))),
        }
    }
    Session::open(&dir).await
}

async fn deploy(session: &Session, say: Narrator<'_>) -> Result<(), Error> {
    let report = session.deploy(&Filters::default()).await?;
    for p in &report.pairs {
        say(&format!(
            "    {}/{} {}: {}; {} files uploaded; CDN invalidated: {}",
            p.environment,
            p.mfe,
            p.version,
            report::outcome_text(&p.outcome),
            p.files_uploaded,
            if p.invalidated.is_empty() {
                "nothing".to_owned()
            } else {
                p.invalidated.join(" ")
            }
        ));
    }
    if report
        .pairs
        .iter()
        .any(|p| matches!(p.outcome, PairOutcome::Failed { .. }))
    {
        return Err(Error::Usage("a deploy failed".to_owned()));
    }
    Ok(())
}

async fn show_status(session: &Session, say: Narrator<'_>) -> Result<(), Error> {
    for row in session.status(&Filters::default()).await? {
        say(&format!(
            "    {:<8} {:<9} live {:<8} desired {:<8} ({})",
            row.environment,
            row.mfe,
            row.version
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
            row.desired
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
            report::state_text(&row)
        ));
    }
    Ok(())
}
