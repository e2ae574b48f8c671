//! The fleet simulation, reduced (issue 18): 20 requests over 10 MFEs x 2 environments arriving
//! at once, on fake-github with GitHub's limits on (60x time scale, 100 ms modelled latency),
//! driven through the `gitops` binary as Actions would (process, merge, deploy, the requester
//! waiting). Only the correctness figures are asserted, never a timing: no request lost, every
//! pair live on its newest request, no rate limit surfacing to a user. The full size and the
//! throughput figures are `cargo bench -p gitops-e2e --bench fleet`.

#[path = "../../benches/fleet/sim.rs"]
mod sim;

fn config(runners: usize, deploy_each_merge: bool) -> sim::Config {
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
        gitops_bin: crate::gitops_bin(),
    }
}

fn check(out: &sim::Outcome) {
    eprintln!(
        "fleet (20 requests): {} merged, {} superseded, {} refused as older, {} merge races, {} secondary refusals answered, {:.1} real s",
        out.merged,
        out.superseded,
        out.refused_older,
        out.merge_races,
        out.secondary_refused,
        out.real_s
    );
    assert!(out.failures.is_empty(), "failed steps: {:#?}", out.failures);
    assert!(out.lost.is_empty(), "lost requests: {:#?}", out.lost);
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
/// since left behind, and no deploy run is coalesced (the two races below).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_fleet_loses_nothing_and_the_newest_request_wins_under_githubs_limits() {
    check(&sim::run(&config(1, true)).await);
}

/// As Actions runs it: jobs at once on several runners, deploy runs coalesced by their
/// concurrency group. Two races lose requests (found by the fleet bench):
/// - a request merged, then superseded on `main` by a newer one of its pair before any deploy
///   ran, is never told (the coalesced deploy sees only the newest desired state, and `process`
///   tells only the requester of a pending PR it replaces), so its requester waits forever;
/// - a process job whose checkout a merge left behind replaces a pending PR whose head is based
///   on the newer `main`: the new commit's tree is the checkout's tree plus the writes, so the
///   PR reverts the other pair's merged change; the merge check refuses it (never a wrong
///   state), but the request fails and its pair stays behind its newest request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "bug (intermittent, a race): requests lost to coalesced deploys (never told) and to proposals on a checkout a merge left behind (the PR reverts another pair); see the doc comment"]
async fn a_fleet_on_several_runners_with_coalesced_deploys_loses_nothing() {
    check(&sim::run(&config(4, false)).await);
}
