//! The fleet simulation, reduced (issue 18): 20 requests over 10 MFEs x 2 environments arriving
//! at once, on fake-github with GitHub's limits on (60x time scale, 100 ms modelled latency),
//! driven through the `gitops` binary as Actions would (process, merge, deploy, the requester
//! waiting). Only the correctness figures are asserted, never a timing: no request lost, every
//! pair live on its newest request, no rate limit surfacing to a user. The full size and the
//! throughput figures are `cargo bench -p gitops-e2e --bench fleet`.

#[path = "../../benches/fleet/sim.rs"]
mod sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_fleet_loses_nothing_and_the_newest_request_wins_under_githubs_limits() {
    let cfg = sim::Config {
        requests: 20,
        mfes: 10,
        arrival: sim::Arrival::Burst,
        scale: 60.0,
        latency_ms: 100,
        runners: 4,
        seed: 18,
        poll_s: 30.0,
        gitops_bin: crate::gitops_bin(),
    };
    let out = sim::run(&cfg).await;
    eprintln!(
        "fleet (20 requests): {} merged, {} superseded, {} secondary refusals answered, {:.1} real s",
        out.merged, out.superseded, out.secondary_refused, out.real_s
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
