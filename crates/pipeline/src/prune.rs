//! Retention (`gitops prune`, issue 17): deleting the version prefixes `mfe/<m>/<version>/` of
//! one environment's storage that nothing protects.
//!
//! [`plan`] (pure) decides, for one pair, which stored prefixes are kept and why ([`Reason`]:
//! live, desired, pinned, among the last N live versions of the registry's history, younger
//! than the CDN's max-age or than `--older-than`) and which are deleted; [`prune`] gathers its
//! inputs (storage listing, desired states, registry), refuses the whole run while a deploy of a
//! selected pair is in flight, and deletes, re-reading each pair's live entry right before each
//! prefix and stopping at the first failure with what was deleted before it.

use std::collections::{BTreeMap, BTreeSet};

use gitops_artifact_store::{VersionPrefix, delete_version_prefix, list_version_prefixes};
use gitops_db_registry::Entry;
use gitops_event_model::{EnvironmentName, MfeName, Version};
use gitops_iac_config::Repository;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::{Backends, Error};

/// Why a version prefix is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// It is the live version (the registry's entry of the pair).
    Live,
    /// It is the desired version (`deployments/<env>/<mfe>.json`).
    Desired,
    /// The desired state is pinned on it.
    Pinned,
    /// It is among the last N distinct live versions of the registry's history (`--keep N`).
    Recent,
    /// Its newest object is younger than the CDN's max-age for entry points or than
    /// `--older-than`, or it stopped being live less than that max-age ago.
    Young,
}

impl Reason {
    /// The reason in one word, as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Live => "live",
            Reason::Desired => "desired",
            Reason::Pinned => "pinned",
            Reason::Recent => "recent",
            Reason::Young => "young",
        }
    }
}

/// One stored version prefix, as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// The version.
    pub version: Version,
    /// Objects under the prefix.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When its newest object was last modified (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub newest: OffsetDateTime,
}

impl From<VersionPrefix> for Stored {
    fn from(prefix: VersionPrefix) -> Self {
        Stored {
            version: prefix.version,
            objects: prefix.objects,
            bytes: prefix.bytes,
            newest: OffsetDateTime::from(prefix.newest),
        }
    }
}

/// What [`plan`] decides from, for one (environment, MFE) pair.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The pair's version prefixes in storage.
    pub prefixes: &'a [Stored],
    /// The live version (registry), if any.
    pub live: Option<&'a Version>,
    /// The desired version (git), if any.
    pub desired: Option<&'a Version>,
    /// The version the desired state pins, if it is pinned.
    pub pinned: Option<&'a Version>,
    /// The registry's history of the pair, ascending by sequence.
    pub history: &'a [Entry],
    /// How many distinct live versions of the history to keep, newest first (the live one
    /// counts as one of them).
    pub keep: usize,
    /// The time ages are measured at.
    pub now: OffsetDateTime,
    /// The CDN's max-age for entry points: younger prefixes are kept.
    pub min_age: Duration,
    /// `--older-than`: prefixes whose newest object is later than this are kept.
    pub older_than: Option<OffsetDateTime>,
}

/// A kept version prefix and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The version.
    pub version: Version,
    /// Every reason that protects it, in [`Reason`] order.
    pub reasons: Vec<Reason>,
    /// Objects under the prefix.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What [`plan`] decided for one pair: both lists newest version first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairPlan {
    /// The prefixes kept, with their reasons.
    pub keep: Vec<Kept>,
    /// The prefixes to delete.
    pub delete: Vec<Stored>,
}

/// Decides which of one pair's version prefixes are kept (and why) and which are deleted. Pure.
pub fn plan(input: &PlanInput<'_>) -> PairPlan {
    let recent = recent_versions(input.history, input.keep);
    let retired = retired_at(input.history);
    let young_after = input.now - input.min_age;
    let mut out = PairPlan::default();
    let mut prefixes: Vec<&Stored> = input.prefixes.iter().collect();
    prefixes.sort_by(|a, b| b.version.cmp(&a.version));
    for prefix in prefixes {
        let v = &prefix.version;
        let mut reasons = Vec::new();
        if input.live == Some(v) {
            reasons.push(Reason::Live);
        }
        if input.desired == Some(v) {
            reasons.push(Reason::Desired);
        }
        if input.pinned == Some(v) {
            reasons.push(Reason::Pinned);
        }
        if recent.contains(v) {
            reasons.push(Reason::Recent);
        }
        let young = prefix.newest > young_after
            || input.older_than.is_some_and(|cut| prefix.newest > cut)
            || retired.get(v).is_some_and(|at| *at > young_after);
        if young {
            reasons.push(Reason::Young);
        }
        if reasons.is_empty() {
            out.delete.push(prefix.clone());
        } else {
            out.keep.push(Kept {
                version: v.clone(),
                reasons,
                objects: prefix.objects,
                bytes: prefix.bytes,
            });
        }
    }
    out
}

/// The last `keep` distinct versions of `history` (ascending by sequence), newest first.
fn recent_versions(history: &[Entry], keep: usize) -> BTreeSet<&Version> {
    let mut recent = BTreeSet::new();
    for entry in history.iter().rev() {
        if recent.len() >= keep {
            break;
        }
        recent.insert(&entry.version);
    }
    recent
}

/// For each version that was live and then replaced by another: the last time it stopped
/// being live (the deploy time of the entry after it).
fn retired_at(history: &[Entry]) -> BTreeMap<&Version, OffsetDateTime> {
    let mut retired: BTreeMap<&Version, OffsetDateTime> = BTreeMap::new();
    for pair in history.windows(2) {
        let [before, after] = pair else { continue };
        if before.version != after.version {
            let at = retired.entry(&before.version).or_insert(after.deployed_at);
            *at = (*at).max(after.deployed_at);
        }
    }
    retired
}

/// What `gitops prune` is asked to do.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// The environment whose storage is pruned.
    pub environment: EnvironmentName,
    /// Only this MFE's prefixes.
    pub mfe: Option<MfeName>,
    /// How many distinct live versions of each pair's history to keep.
    pub keep: usize,
    /// Keep prefixes whose newest object is later than this (`--older-than`).
    pub older_than: Option<OffsetDateTime>,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// The time ages are measured at.
    pub now: OffsetDateTime,
}

/// A selected pair with a deploy in flight: the run is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFlight {
    /// The MFE.
    pub mfe: MfeName,
    /// Its live version, if any.
    pub live: Option<Version>,
    /// Its desired version, if any.
    pub desired: Option<Version>,
    /// Why the deploy is in flight.
    pub reason: String,
}

/// A version prefix deleted (with `--dry-run`: to be deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// The version.
    pub version: Version,
    /// Objects deleted.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// One pair's part of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairPrune {
    /// The MFE.
    pub mfe: MfeName,
    /// Its live version, if any.
    pub live: Option<Version>,
    /// Its desired version, if any.
    pub desired: Option<Version>,
    /// The version its desired state pins, if pinned.
    pub pinned: Option<Version>,
    /// The prefixes kept and why, newest first.
    pub kept: Vec<Kept>,
    /// The prefixes deleted (with `--dry-run`: to be deleted), newest first.
    pub deleted: Vec<Removed>,
    /// Why the pair's deletion stopped before its plan was done (its live entry changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A directory under `mfe/` left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The directory, `mfe/<name>/`.
    pub directory: String,
    /// Why it is left alone.
    pub reason: String,
}

/// Objects and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Freed {
    /// Objects.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The deletion that failed and stopped the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The prefix being deleted, `mfe/<m>/<version>/`.
    pub prefix: String,
    /// What failed.
    pub error: String,
    /// What of that prefix was deleted before the failure (also counted in `freed`).
    pub deleted: Freed,
}

/// What `gitops prune` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The environment.
    pub environment: EnvironmentName,
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// `--keep`.
    pub keep: usize,
    /// The CDN's max-age for entry points, in seconds: younger prefixes are kept.
    pub min_age_seconds: i64,
    /// `--older-than` as a time (RFC 3339): later prefixes are kept.
    #[serde(with = "time::serde::rfc3339::option")]
    pub older_than: Option<OffsetDateTime>,
    /// Pairs with a deploy in flight: when any, the run was refused and nothing deleted.
    pub refused: Vec<InFlight>,
    /// Each pair pruned, by MFE.
    pub pairs: Vec<PairPrune>,
    /// Directories under `mfe/` left alone.
    pub skipped: Vec<Skipped>,
    /// What was deleted (with `--dry-run`: would be).
    pub freed: Freed,
    /// The failure that stopped the run, if any.
    pub failure: Option<Failure>,
}

/// Prunes one environment's storage (see the module documentation); with `dry_run`, plans and
/// reports only.
///
/// A failure while deleting (a delete, or re-reading a live entry) is not an `Err`: it stops
/// the run and is the report's [`PruneReport::failure`], so that what was deleted before it is
/// reported too.
///
/// # Errors
/// The environment is not declared; its targets cannot be opened; listing the storage or
/// reading the registry failed before anything was deleted.
pub async fn prune(
    repository: &Repository,
    backends: &dyn Backends,
    options: &PruneOptions,
) -> Result<PruneReport, Error> {
    let env = repository
        .environment(&options.environment)
        .ok_or_else(|| Error::Config {
            reason: format!(
                "environment `{}` is not declared in gitops.yaml",
                options.environment
            ),
        })?;
    let min_age = gitops_artifact_store::entry_point_max_age()?;
    let min_age = Duration::try_from(min_age).map_err(|e| Error::Config {
        reason: format!("the CDN max-age is out of range: {e}"),
    })?;
    let targets = backends.targets(env).await?;
    let storage = targets.storage.as_ref();
    let registry = targets.registry.as_ref();
    let stored = list_version_prefixes(storage, options.mfe.as_ref()).await?;
    let mut report = PruneReport {
        environment: env.name.clone(),
        dry_run: options.dry_run,
        keep: options.keep,
        min_age_seconds: min_age.whole_seconds(),
        older_than: options.older_than,
        refused: Vec::new(),
        pairs: Vec::new(),
        skipped: stored
            .foreign
            .iter()
            .map(|directory| Skipped {
                directory: format!("mfe/{directory}/"),
                reason: "not an MFE name".to_owned(),
            })
            .collect(),
        freed: Freed::default(),
        failure: None,
    };
    let live: BTreeMap<MfeName, Entry> = registry
        .list(&env.name)
        .await?
        .into_iter()
        .map(|e| (e.mfe.clone(), e))
        .collect();
    let mut selected = Vec::new();
    for (mfe, prefixes) in stored.mfes {
        if !repository.mfes.contains_key(&mfe) {
            report.skipped.push(Skipped {
                directory: format!("mfe/{mfe}/"),
                reason: format!("not a registered MFE (no mfes/{mfe}.yaml)"),
            });
            continue;
        }
        let entry = live.get(&mfe).cloned();
        let desired = repository.deployment(&env.name, &mfe);
        if let Some(reason) = in_flight(entry.as_ref(), desired.map(|d| &d.version)) {
            report.refused.push(InFlight {
                mfe: mfe.clone(),
                live: entry.as_ref().map(|e| e.version.clone()),
                desired: desired.map(|d| d.version.clone()),
                reason,
            });
        }
        selected.push((mfe, prefixes, entry));
    }
    if !report.refused.is_empty() {
        return Ok(report);
    }
    // Every read first: a registry failure here deletes nothing.
    let mut planned = Vec::with_capacity(selected.len());
    for (mfe, prefixes, entry) in selected {
        let desired = repository.deployment(&env.name, &mfe);
        let pinned = desired
            .filter(|d| d.pinned.is_some())
            .map(|d| d.version.clone());
        let history = registry.history(&env.name, &mfe).await?;
        let prefixes: Vec<Stored> = prefixes.into_iter().map(Stored::from).collect();
        let decided = plan(&PlanInput {
            prefixes: &prefixes,
            live: entry.as_ref().map(|e| &e.version),
            desired: desired.map(|d| &d.version),
            pinned: pinned.as_ref(),
            history: &history,
            keep: options.keep,
            now: options.now,
            min_age,
            older_than: options.older_than,
        });
        let pair = PairPrune {
            mfe,
            live: entry.as_ref().map(|e| e.version.clone()),
            desired: desired.map(|d| d.version.clone()),
            pinned,
            kept: decided.keep,
            deleted: Vec::new(),
            stopped: None,
        };
        planned.push((pair, decided.delete, entry));
    }
    for (mut pair, delete, entry) in planned {
        if options.dry_run {
            for prefix in delete {
                report.freed.objects += prefix.objects;
                report.freed.bytes += prefix.bytes;
                pair.deleted.push(Removed {
                    version: prefix.version,
                    objects: prefix.objects,
                    bytes: prefix.bytes,
                });
            }
            report.pairs.push(pair);
            continue;
        }
        let failure = if report.failure.is_none() {
            delete_pair(
                &Targeted {
                    storage,
                    registry,
                    environment: &env.name,
                    expected: entry.as_ref(),
                },
                delete,
                &mut pair,
                &mut report.freed,
            )
            .await
        } else {
            if !delete.is_empty() {
                pair.stopped = Some("not attempted: an earlier deletion failed".to_owned());
            }
            None
        };
        report.pairs.push(pair);
        if failure.is_some() {
            report.failure = failure;
        }
    }
    Ok(report)
}

/// Why a deploy of the pair is in flight, if it is: the desired version is not the live one,
/// or the live deploy's CDN invalidation is not confirmed yet. A pair with no desired state
/// has nothing to deploy.
fn in_flight(live: Option<&Entry>, desired: Option<&Version>) -> Option<String> {
    let live_version = live.map(|e| &e.version);
    if let Some(desired) = desired
        && live_version != Some(desired)
    {
        return Some(match live_version {
            Some(live) => format!("desired {desired} is not live yet (live {live})"),
            None => format!("desired {desired} is not live yet (nothing live)"),
        });
    }
    live.filter(|e| e.invalidation.is_some()).map(|e| {
        format!(
            "the CDN invalidation of the live deploy (sequence {}) is not confirmed yet",
            e.sequence
        )
    })
}

/// Where one pair's prefixes are deleted, and the live entry they were planned against.
struct Targeted<'a> {
    storage: &'a dyn object_store::ObjectStore,
    registry: &'a dyn gitops_db_registry::Registry,
    environment: &'a EnvironmentName,
    expected: Option<&'a Entry>,
}

/// Deletes `delete` (oldest first), re-reading the pair's live entry before each prefix and
/// stopping the pair when it changed; the first failure is returned.
async fn delete_pair(
    at: &Targeted<'_>,
    mut delete: Vec<Stored>,
    pair: &mut PairPrune,
    freed: &mut Freed,
) -> Option<Failure> {
    delete.sort_by(|a, b| a.version.cmp(&b.version));
    for prefix in delete {
        let path = format!("mfe/{}/{}/", pair.mfe, prefix.version);
        match at.registry.get(at.environment, &pair.mfe).await {
            Ok(now) if now.as_ref() == at.expected => {}
            Ok(now) => {
                pair.stopped = Some(format!(
                    "the live entry changed during the run (now {}): the rest of the pair is left alone",
                    now.map_or_else(
                        || "nothing".to_owned(),
                        |e| format!("{} at sequence {}", e.version, e.sequence)
                    )
                ));
                break;
            }
            Err(e) => {
                return Some(Failure {
                    prefix: path,
                    error: format!("re-reading the live entry: {e}"),
                    deleted: Freed::default(),
                });
            }
        }
        let done = delete_version_prefix(at.storage, &pair.mfe, &prefix.version).await;
        freed.objects += done.objects;
        freed.bytes += done.bytes;
        let deleted = Freed {
            objects: done.objects,
            bytes: done.bytes,
        };
        if let Some(e) = done.failure {
            return Some(Failure {
                prefix: path,
                error: e.to_string(),
                deleted,
            });
        }
        pair.deleted.insert(
            0,
            Removed {
                version: prefix.version,
                objects: deleted.objects,
                bytes: deleted.bytes,
            },
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use gitops_event_model::{CommitSha, Login, RequestId};

    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    fn stored(version: &str, age: Duration) -> Stored {
        Stored {
            version: v(version),
            objects: 2,
            bytes: 10,
            newest: NOW - age,
        }
    }

    fn entry(sequence: u64, version: &str, age: Duration) -> Entry {
        Entry {
            environment: EnvironmentName::parse("prod").unwrap(),
            mfe: MfeName::parse("cart").unwrap(),
            version: v(version),
            sequence,
            request_id: RequestId::parse(&format!("00000000-0000-0000-0000-{sequence:012}"))
                .unwrap(),
            sha: CommitSha::parse(&"a".repeat(40)).unwrap(),
            deployed_at: NOW - age,
            deployed_by: Login::parse("alice").unwrap(),
            rollback: false,
            invalidation: None,
        }
    }

    fn input<'a>(prefixes: &'a [Stored], history: &'a [Entry]) -> PlanInput<'a> {
        PlanInput {
            prefixes,
            live: None,
            desired: None,
            pinned: None,
            history,
            keep: 0,
            now: NOW,
            min_age: Duration::seconds(60),
            older_than: None,
        }
    }

    fn kept(plan: &PairPlan) -> Vec<(String, Vec<Reason>)> {
        plan.keep
            .iter()
            .map(|k| (k.version.to_string(), k.reasons.clone()))
            .collect()
    }

    fn deleted(plan: &PairPlan) -> Vec<String> {
        plan.delete.iter().map(|d| d.version.to_string()).collect()
    }

    const OLD: Duration = Duration::days(40);

    #[test]
    fn nothing_protected_is_deleted_newest_first() {
        let prefixes = [
            stored("1.0.0", OLD),
            stored("2.0.0", OLD),
            stored("1.10.0", OLD),
        ];
        let decided = plan(&input(&prefixes, &[]));
        assert!(decided.keep.is_empty());
        assert_eq!(deleted(&decided), ["2.0.0", "1.10.0", "1.0.0"]);
    }

    #[test]
    fn live_desired_and_pinned_are_kept_each_for_its_reason() {
        let prefixes = [
            stored("1.0.0", OLD),
            stored("1.1.0", OLD),
            stored("1.2.0", OLD),
            stored("1.3.0", OLD),
        ];
        let (live, desired, pinned) = (v("1.1.0"), v("1.2.0"), v("1.0.0"));
        let mut asked = input(&prefixes, &[]);
        asked.live = Some(&live);
        asked.desired = Some(&desired);
        asked.pinned = Some(&pinned);
        let decided = plan(&asked);
        assert_eq!(
            kept(&decided),
            [
                ("1.2.0".into(), vec![Reason::Desired]),
                ("1.1.0".into(), vec![Reason::Live]),
                ("1.0.0".into(), vec![Reason::Pinned]),
            ]
        );
        assert_eq!(deleted(&decided), ["1.3.0"]);
        // Every reason is listed when several hold.
        asked.desired = Some(&live);
        asked.pinned = Some(&live);
        asked.keep = 1;
        let history = [entry(1, "1.1.0", OLD)];
        asked.history = &history;
        assert_eq!(
            kept(&plan(&asked)),
            [(
                "1.1.0".into(),
                vec![
                    Reason::Live,
                    Reason::Desired,
                    Reason::Pinned,
                    Reason::Recent
                ]
            )]
        );
    }

    #[test]
    fn keep_counts_distinct_live_versions_from_the_newest() {
        let prefixes: Vec<Stored> = (0..6).map(|i| stored(&format!("1.{i}.0"), OLD)).collect();
        // 1.0 .. 1.4 deployed in order, then a rollback to 1.2, then 1.4 again: the distinct
        // versions newest first are 1.4, 1.2, 1.3, 1.1, 1.0.
        let mut history: Vec<Entry> = (0..5)
            .map(|i| {
                entry(
                    i + 1,
                    &format!("1.{i}.0"),
                    Duration::days(50 - i64::try_from(i).unwrap()),
                )
            })
            .collect();
        history.push(entry(6, "1.2.0", Duration::days(30)));
        history.push(entry(7, "1.4.0", Duration::days(29)));
        let recent = |keep| {
            let mut asked = input(&prefixes, &history);
            asked.keep = keep;
            let decided = plan(&asked);
            (
                kept(&decided)
                    .into_iter()
                    .map(|(v, _)| v)
                    .collect::<Vec<_>>(),
                deleted(&decided),
            )
        };
        assert_eq!(
            recent(0),
            (
                vec![],
                vec!["1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>()
            )
        );
        assert_eq!(recent(1).0, ["1.4.0"]);
        assert_eq!(recent(2).0, ["1.4.0", "1.2.0"]);
        assert_eq!(recent(3).0, ["1.4.0", "1.3.0", "1.2.0"]);
        // Never deployed (1.5.0) is never recent, however large N.
        assert_eq!(recent(100).1, ["1.5.0"]);
        let mut asked = input(&prefixes, &history);
        asked.keep = 2;
        assert!(
            plan(&asked)
                .keep
                .iter()
                .all(|k| k.reasons == [Reason::Recent])
        );
    }

    #[test]
    fn a_prefix_younger_than_the_max_age_is_kept() {
        let prefixes = [
            stored("1.0.0", Duration::seconds(59)),
            stored("1.1.0", Duration::seconds(60)),
            stored("1.2.0", Duration::seconds(-3600)), // a clock ahead of ours
        ];
        let decided = plan(&input(&prefixes, &[]));
        assert_eq!(
            kept(&decided),
            [
                ("1.2.0".into(), vec![Reason::Young]),
                ("1.0.0".into(), vec![Reason::Young]),
            ]
        );
        assert_eq!(deleted(&decided), ["1.1.0"]);
    }

    #[test]
    fn older_than_keeps_what_is_later_than_the_cut() {
        let prefixes = [
            stored("1.0.0", Duration::days(31)),
            stored("1.1.0", Duration::days(30)),
            stored("1.2.0", Duration::days(29)),
        ];
        let mut asked = input(&prefixes, &[]);
        asked.older_than = Some(NOW - Duration::days(30));
        let decided = plan(&asked);
        assert_eq!(kept(&decided), [("1.2.0".into(), vec![Reason::Young])]);
        assert_eq!(deleted(&decided), ["1.1.0", "1.0.0"]);
    }

    #[test]
    fn a_version_retired_less_than_the_max_age_ago_is_kept() {
        // 1.0.0's files are old, but it was live until 30 seconds ago: a cached import map may
        // still point at it.
        let prefixes = [stored("1.0.0", OLD), stored("0.9.0", OLD)];
        let history = [
            entry(1, "0.9.0", Duration::days(50)),
            entry(2, "1.0.0", Duration::days(45)),
            entry(3, "1.1.0", Duration::seconds(30)),
        ];
        let decided = plan(&input(&prefixes, &history));
        assert_eq!(kept(&decided), [("1.0.0".into(), vec![Reason::Young])]);
        assert_eq!(deleted(&decided), ["0.9.0"]);
    }

    #[test]
    fn a_deploy_is_in_flight_until_desired_is_live_and_confirmed() {
        let live = entry(3, "1.1.0", OLD);
        assert_eq!(in_flight(Some(&live), Some(&v("1.1.0"))), None);
        assert_eq!(
            in_flight(Some(&live), None),
            None,
            "not desired: nothing to deploy"
        );
        assert_eq!(in_flight(None, None), None);
        assert!(
            in_flight(Some(&live), Some(&v("1.2.0")))
                .unwrap()
                .contains("desired 1.2.0 is not live yet (live 1.1.0)")
        );
        assert!(
            in_flight(None, Some(&v("1.2.0")))
                .unwrap()
                .contains("nothing live")
        );
        let mut pending = live.clone();
        pending.invalidation = Some(gitops_db_registry::Invalidation {
            reference: "deploy-3".into(),
            paths: vec!["/importmap.json".into()],
        });
        assert!(
            in_flight(Some(&pending), Some(&v("1.1.0")))
                .unwrap()
                .contains("sequence 3")
        );
    }
}
