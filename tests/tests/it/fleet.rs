//! The fleet simulation, reduced (issue 18): 20 requests over 10 MFEs x 2 environments arriving
//! at once, on fake-github with GitHub's limits on (60x time scale, 100 ms modelled latency),
//! driven through the `gitops` binary as Actions would (process, merge, deploy, the requester
//! waiting), per request and batched (`batch: true`). Only the correctness figures are
//! asserted, never a timing: no request lost, every pair live on its newest request, no rate
//! limit surfacing to a user. The full size and the throughput figures are
//! `cargo bench -p gitops-e2e --bench fleet`.

#[path = "../../benches/fleet/sim.rs"]
mod sim;

fn config(runners: usize, deploy_each_merge: bool, batch: bool) -> sim::Config {
    sim::Config {
        requests: 20,
        mfes: 10,
        arrival: sim::Arrival::Burst,
        scale: 60.0,
        latency_ms: 100,
        runners,
        seed: 18,
        poll_s: 30.0,
        deploy_each_merge,
        batch,
        gitops_bin: crate::gitops_bin(),
    }
}

fn check(out: &sim::Outcome) {
    eprintln!(
        "fleet (20 requests): {} merged ({} by the sweep; {} merge steps left their PR to it), {} superseded, {} refused as older, {} merge races, {} secondary refusals answered, {:.1} real s",
        out.merged,
        out.merged_by_sweep,
        out.left_to_sweep,
        out.superseded,
        out.refused_older,
        out.merge_races,
        out.secondary_refused,
        out.real_s
    );
    assert!(out.failures.is_empty(), "failed steps: {:#?}", out.failures);
    assert!(
        out.lost.is_empty(),
        "lost requests: {:#?}\n{:#?}",
        out.lost,
        out.lost_records
    );
    assert!(
        out.not_newest.is_empty(),
        "pairs not on their newest request: {:#?}",
        out.not_newest
    );
    assert_eq!(out.secondary_surfaced, 0, "{:#?}", out.failures);
    // Requests went through (a test that cannot fail is none), and the waits were counted.
    assert!(out.merged > 0, "{out:#?}");
    assert!(out.calls.contains_key("requester wait"), "{:?}", out.calls);
}

/// One runner and a deploy after each merge: no job starts on a checkout that a merge has
/// since left behind, and no deploy run is coalesced (the races below).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_fleet_loses_nothing_and_the_newest_request_wins_under_githubs_limits() {
    check(&sim::run(&config(1, true, false)).await);
}

/// As Actions runs it: jobs at once on four runners, deploy runs coalesced by their
/// concurrency group, the sweep (`gitops merge --all`) every 15 modelled minutes and once at
/// the end. The races this met, now fixed: a process job on a checkout a merge left behind
/// reverting the other pair's merged change (gh-pr builds the replaced head on the base's
/// head); the sweep and a PR's merge job checking the same PR at once, the loser refusing the
/// head the other merged as "already desired" and telling its requester `failure` (merge skips a
/// PR merged, closed or moved while it was checked). Merge steps or sweeps losing a race to
/// each other (PR no longer open, head or base moved) are counted, not failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_on_several_runners_with_coalesced_deploys_loses_nothing() {
    check(&sim::run(&config(4, false, false)).await);
}

/// `batch: true` in both environments: every request of an environment pushed to its one batch
/// pull request, merge jobs in that pull request's concurrency group taking what was pushed
/// while the previous one ran. Nothing lost, the newest request wins per pair, and requests
/// did share merges (fewer merge commits than requests merged).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batching_fleet_loses_nothing_and_shares_merges() {
    let out = sim::run(&config(4, false, true)).await;
    check(&out);
    eprintln!(
        "batch: {} requests merged in {} merge commits ({} merge jobs, {} coalesced)",
        out.merged, out.merge_commits, out.merge_jobs, out.merge_jobs_coalesced
    );
    assert!(out.merge_commits < out.merged, "{out:#?}");
}
