//! `gitops drift --repair`: what belongs to the live version re-published (missing files from
//! the verified artifact, aliases, the import-map entry, the pending CDN invalidation), never a
//! desired or live version changed, nothing deleted, no pointer moved to another version than
//! the live one.

use std::collections::BTreeSet;

use gitops_artifact_store::{self as store, PointerUpdate};
use gitops_cdn::InvalidationRequest;
use gitops_db_registry::Entry;
use gitops_event_model::Version;
use gitops_iac_config::{Environment, MfeConfig};
use time::OffsetDateTime;

use super::{DriftKind, DriftOptions, Failure, PairDrift, verified_files};
use crate::{Backends, Targets};

/// One pair's repair: what it needs.
pub(super) struct RepairJob<'a> {
    pub(super) environment: &'a Environment,
    pub(super) mfe: &'a MfeConfig,
    pub(super) targets: &'a Targets,
    pub(super) backends: &'a dyn Backends,
    pub(super) options: &'a DriftOptions,
}

/// Repairs what `pair`'s repairable findings name, for the live version only (read again
/// first: if it moved since the check, nothing is touched). `notes` says what was done.
pub(super) async fn repair_pair(
    job: &RepairJob<'_>,
    pair: &PairDrift,
    notes: &mut Vec<String>,
) -> Result<(), Failure> {
    let kinds: BTreeSet<DriftKind> = pair
        .findings
        .iter()
        .filter(|f| f.repairable)
        .map(|f| f.kind)
        .collect();
    let (environment, mfe, targets) = (job.environment, job.mfe, job.targets);
    let Some(live) = targets.registry.get(&environment.name, &mfe.name).await? else {
        notes.push("nothing is live any more: nothing repaired".to_owned());
        return Ok(());
    };
    if pair.live.as_ref() != Some(&live.version) {
        notes.push(format!(
            "{} went live since the check: nothing repaired (run gitops drift again)",
            live.version
        ));
        return Ok(());
    }
    if kinds.contains(&DriftKind::FilesMissing) {
        upload_missing(job, &live, notes).await?;
    }
    let pointers = [
        DriftKind::FilesMissing,
        DriftKind::AliasStale,
        DriftKind::ImportmapStale,
    ];
    if pointers.iter().any(|k| kinds.contains(k)) && !mfe.entry_points.is_empty() {
        let changed = publish_live_pointers(job, &live, notes).await?;
        if !changed.is_empty() {
            invalidate_repaired(job, &live, changed, notes).await?;
        }
    }
    if kinds.contains(&DriftKind::CdnPending)
        && let Some(pending) = &live.invalidation
    {
        let request = InvalidationRequest {
            reference: pending.reference.clone(),
            paths: pending.paths.clone(),
        };
        targets.cdn.invalidate(&request).await?;
        let settled = targets
            .registry
            .settle_invalidation(
                &environment.name,
                &mfe.name,
                live.sequence,
                &pending.reference,
            )
            .await?;
        notes.push(format!(
            "issued the pending CDN invalidation {} ({}){}",
            pending.reference,
            pending.paths.join(" "),
            if settled {
                " and settled it"
            } else {
                "; the live entry changed meanwhile, so it was not settled"
            }
        ));
    }
    Ok(())
}

/// Uploads, write-once, exactly the files of the live version's artifact that its prefix lacks
/// (listed again now), from an artifact that verified whole.
async fn upload_missing(
    job: &RepairJob<'_>,
    live: &Entry,
    notes: &mut Vec<String>,
) -> Result<(), Failure> {
    let (mfe, version) = (job.mfe, &live.version);
    let files = verified_files(job.backends, job.options, mfe, version, Some(live)).await?;
    let listed = store::list_version(job.targets.storage.as_ref(), &mfe.name, version).await?;
    let missing: BTreeSet<String> = files
        .iter()
        .filter(|f| !listed.contains_key(&f.path))
        .map(|f| f.path.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let opts = store::UploadOptions {
        entry_points: mfe.entry_points.clone(),
        progress: store::Progress::Hidden,
        ..store::UploadOptions::default()
    };
    let report = store::upload_missing(
        &job.targets.storage,
        &mfe.name,
        version,
        &files,
        &missing,
        &opts,
    )
    .await?;
    notes.push(format!(
        "uploaded {} missing file(s) of {version} ({} bytes) from the verified artifact",
        report.files - report.skipped_identical,
        report.bytes
    ));
    Ok(())
}

/// Publishes the aliases and the import-map entry of the live version (unchanged pointers are
/// not rewritten). The registry is read again before and after: pointers are never published for
/// a version that is no longer live, and when a newer deploy committed meanwhile they end on
/// its version, as the deploy's own race rule has them. Returns the pointers that changed.
async fn publish_live_pointers(
    job: &RepairJob<'_>,
    live: &Entry,
    notes: &mut Vec<String>,
) -> Result<Vec<PointerUpdate>, Failure> {
    let (environment, mfe, targets) = (job.environment, job.mfe, job.targets);
    let now = targets.registry.get(&environment.name, &mfe.name).await?;
    if now.as_ref().map(|e| e.sequence) != Some(live.sequence) {
        notes.push("the live entry moved during the repair: pointers left to its deploy".into());
        return Ok(Vec::new());
    }
    let mut changed = publish_pointers(environment, mfe, &live.version, targets).await?;
    let after = targets.registry.get(&environment.name, &mfe.name).await?;
    if let Some(newer) = after.filter(|e| e.sequence > live.sequence) {
        changed.extend(publish_pointers(environment, mfe, &newer.version, targets).await?);
        notes.push(format!(
            "{} went live during the repair: pointers published for it",
            newer.version
        ));
    }
    changed.retain(|p| p.changed);
    for pointer in &changed {
        notes.push(format!("re-published {}", pointer.path));
    }
    Ok(changed)
}

async fn publish_pointers(
    environment: &Environment,
    mfe: &MfeConfig,
    version: &Version,
    targets: &Targets,
) -> Result<Vec<PointerUpdate>, Failure> {
    let storage = targets.storage.as_ref();
    let mut updates =
        store::publish_aliases(storage, &mfe.name, version, &mfe.entry_points).await?;
    if let Some(entry) = mfe.entry_points.first() {
        updates.push(
            store::update_import_map(storage, &environment.public_url, &mfe.name, version, entry)
                .await?,
        );
    }
    Ok(updates)
}

/// Invalidates the pointers the repair changed (the CDN may hold their old bytes), under a
/// reference of this repair: `drift-<unix ms>-<sequence>-<mfe>`.
async fn invalidate_repaired(
    job: &RepairJob<'_>,
    live: &Entry,
    changed: Vec<PointerUpdate>,
    notes: &mut Vec<String>,
) -> Result<(), Failure> {
    let paths: BTreeSet<String> = changed
        .into_iter()
        .map(|p| format!("/{}", p.path))
        .collect();
    let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut reference = format!("drift-{millis}-{}-{}", live.sequence, job.mfe.name);
    reference.truncate(gitops_cdn::MAX_REFERENCE_LEN);
    let request = InvalidationRequest {
        reference,
        paths: paths.into_iter().collect(),
    };
    job.targets.cdn.invalidate(&request).await?;
    notes.push(format!(
        "invalidated {} (CDN reference {})",
        request.paths.join(" "),
        request.reference
    ));
    Ok(())
}
