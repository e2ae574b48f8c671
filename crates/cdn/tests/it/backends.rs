//! The fake and the local log: conformance, idempotency, backoff, waiting.

use std::sync::Arc;
use std::time::Duration;

use gitops_cdn::{
    Cdn, Error, FakeCall, FakeCdn, InvalidationRequest, LocalLogCdn, MAX_LOG_BYTES, PlanInput,
    conformance, plan_invalidation,
};
use gitops_event_model::{CdnPath, MfeName};
use gitops_retry::RetryPolicy;

fn request(reference: &str, paths: &[&str]) -> InvalidationRequest {
    InvalidationRequest {
        reference: reference.to_owned(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

fn checkout() -> MfeName {
    MfeName::parse("checkout").unwrap()
}

#[tokio::test]
async fn conformance_fake() {
    let fake = FakeCdn::new();
    conformance::run_all(&fake, "fake").await;
}

#[tokio::test]
async fn conformance_fake_slow_completion() {
    // Invalidations need three polls: multi-batch requests really wait in between.
    let fake = FakeCdn::new().with_polls_to_complete(3);
    conformance::run_all(&fake, "slow").await;
}

#[tokio::test]
async fn conformance_local_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLogCdn::new(dir.path().join("nested/dir/invalidations.jsonl"));
    conformance::run_all(&log, "log").await;
}

#[tokio::test]
async fn usable_as_arc_dyn() {
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<Arc<dyn Cdn>> = vec![
        Arc::new(FakeCdn::new()),
        Arc::new(LocalLogCdn::new(dir.path().join("log.jsonl"))),
    ];
    for cdn in backends {
        let r = cdn.invalidate(&request("dyn", &["/a"])).await.unwrap();
        cdn.wait(&r, Duration::from_secs(1)).await.unwrap();
    }
}

#[tokio::test]
async fn fake_retry_with_same_reference_invalidates_once() {
    let fake = FakeCdn::new();
    let req = request("deploy-1", &["/importmap.json", "/mfe/a/remoteEntry.js"]);
    let a = fake.invalidate(&req).await.unwrap();
    let b = fake.invalidate(&req).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(fake.invalidations().len(), 1);
    assert_eq!(fake.create_calls(), 2, "the retry reached the service");
}

#[tokio::test]
async fn fake_backs_off_on_too_many_in_progress() {
    let fake = FakeCdn::new();
    fake.fail_next_creates_with_too_many(3);
    let receipt = fake.invalidate(&request("r", &["/a"])).await.unwrap();
    assert_eq!(receipt.batches.len(), 1);
    assert_eq!(fake.create_calls(), 4);
    assert_eq!(fake.invalidations().len(), 1);
}

#[tokio::test]
async fn fake_gives_up_after_bounded_attempts() {
    let fake = FakeCdn::new();
    fake.fail_next_creates_with_too_many(1000);
    let err = fake.invalidate(&request("r", &["/a"])).await.unwrap_err();
    let max = RetryPolicy::FAST.max_attempts;
    assert!(
        matches!(&err, Error::Throttled { attempts, reason } if *attempts == max && reason.contains("TooManyInvalidationsInProgress")),
        "{err:?}"
    );
    assert_eq!(fake.create_calls(), max as usize);
    assert!(fake.invalidations().is_empty());
}

#[tokio::test]
async fn fake_waits_out_other_deploys_wildcards() {
    let policy = RetryPolicy {
        max_attempts: 200,
        ..RetryPolicy::FAST
    };
    let fake = FakeCdn::new()
        .with_polls_to_complete(u32::MAX)
        .with_retry_policy(policy);
    // Another deploy holds all 15 wildcard slots.
    let others: Vec<String> = (0..15).map(|i| format!("/mfe/o{i}/*")).collect();
    fake.create_invalidation("other-deploy", &others).unwrap();
    let releaser = {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            fake.complete_all();
        })
    };
    let receipt = fake
        .invalidate(&request("mine", &["/mfe/a/*"]))
        .await
        .unwrap();
    releaser.await.unwrap();
    assert_eq!(receipt.batches.len(), 1);
    assert!(fake.create_calls() > 2, "backed off at least once");
}

#[tokio::test]
async fn fake_wait_times_out_then_completes() {
    let fake = FakeCdn::new().with_polls_to_complete(u32::MAX);
    let receipt = fake.invalidate(&request("r", &["/a"])).await.unwrap();
    let err = fake
        .wait(&receipt, Duration::from_millis(20))
        .await
        .unwrap_err();
    match err {
        Error::Timeout { pending, waited } => {
            assert_eq!(pending, receipt.ids());
            assert!(waited >= Duration::from_millis(20));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    fake.complete_all();
    fake.wait(&receipt, Duration::from_millis(20))
        .await
        .unwrap();
}

#[tokio::test]
async fn fake_multi_batch_waits_before_next_batch() {
    let fake = FakeCdn::new();
    let paths: Vec<String> = (0..16).map(|i| format!("/mfe/w{i}/*")).collect();
    let receipt = fake
        .invalidate(&InvalidationRequest {
            reference: "multi".into(),
            paths,
        })
        .await
        .unwrap();
    let calls = fake.calls();
    let kinds: Vec<&str> = calls
        .iter()
        .map(|c| match c {
            FakeCall::CreateInvalidation { .. } => "create",
            FakeCall::GetInvalidation { .. } => "get",
        })
        .collect();
    assert_eq!(kinds, vec!["create", "get", "create"]);
    let refs: Vec<&str> = receipt
        .batches
        .iter()
        .map(|b| b.caller_reference.as_str())
        .collect();
    assert_eq!(refs, vec!["multi-0", "multi-1"]);
}

#[tokio::test]
async fn already_live_plan_makes_no_call() {
    let fake = FakeCdn::new();
    let mut input = PlanInput::new(checkout(), vec!["remoteEntry.js".into()]);
    input.already_live = true;
    let plan = plan_invalidation(&input).unwrap();
    if let Some(req) = plan.to_request("01J00000000000000000000000").unwrap() {
        fake.invalidate(&req).await.unwrap();
    }
    assert!(
        fake.calls().is_empty(),
        "zero invalidations for an already-live version"
    );
}

#[tokio::test]
async fn planned_deploy_is_one_invalidation_of_mutable_paths() {
    let fake = FakeCdn::new();
    let mut input = PlanInput::new(checkout(), vec!["remoteEntry.js".into()]);
    input.cache_invalidation_keys = vec![
        CdnPath::parse("/mfe/checkout/1.4.0/main.0a1b2c.js").unwrap(),
        CdnPath::parse("/mfe/checkout/styles.css").unwrap(),
    ];
    let plan = plan_invalidation(&input).unwrap();
    let req = plan
        .to_request("01J00000000000000000000000")
        .unwrap()
        .unwrap();
    fake.invalidate(&req).await.unwrap();
    let invs = fake.invalidations();
    assert_eq!(invs.len(), 1);
    assert_eq!(
        invs[0].paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/remoteEntry.js",
            "/mfe/checkout/styles.css"
        ]
    );
    assert_eq!(
        invs[0].caller_reference,
        "deploy-01J00000000000000000000000"
    );
}

#[tokio::test]
async fn local_log_writes_one_json_line_per_invalidation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/cdn.log");
    let log = LocalLogCdn::new(&path);
    let req = request("deploy-x", &["/importmap.json", "/mfe/a/remoteEntry.js"]);
    let first = log.invalidate(&req).await.unwrap();
    let second = log.invalidate(&req).await.unwrap();
    assert_eq!(first, second);
    // A new instance (another process) on the same file is idempotent too.
    let third = LocalLogCdn::new(&path).invalidate(&req).await.unwrap();
    assert_eq!(first, third);

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["reference"], "deploy-x");
    assert_eq!(
        v["paths"],
        serde_json::json!(["/importmap.json", "/mfe/a/remoteEntry.js"])
    );
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
        "{ts}"
    );

    log.invalidate(&request("deploy-y", &["/importmap.json"]))
        .await
        .unwrap();
    let entries = log.entries().await.unwrap();
    let refs: Vec<&str> = entries.iter().map(|e| e.reference.as_str()).collect();
    assert_eq!(refs, vec!["deploy-x", "deploy-y"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_log_concurrent_same_reference_appends_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdn.log");
    let log = LocalLogCdn::new(&path);
    let req = request("deploy-c", &["/importmap.json"]);
    // Separate instances share nothing but the file (as separate processes would).
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let log = LocalLogCdn::new(&path);
            let req = req.clone();
            tokio::spawn(async move { log.invalidate(&req).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(log.entries().await.unwrap().len(), 1);
}

#[tokio::test]
async fn local_log_refuses_a_corrupt_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdn.log");
    std::fs::write(&path, "not json\n").unwrap();
    let err = LocalLogCdn::new(&path)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap_err();
    // Deterministic: a re-run reads the same line, so it is not called retryable.
    assert!(
        matches!(&err, Error::Corrupt { reason, .. } if reason.contains("line 1")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json\n");
}

#[tokio::test]
async fn local_log_unwritable_path_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    // A path below a regular file cannot be created.
    let log = LocalLogCdn::new(file.join("sub/cdn.log"));
    let err = log.invalidate(&request("r", &["/a"])).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[tokio::test]
async fn local_log_over_the_bound_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdn.log");
    // Sparse: costs no disk, but is one byte over the bound.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(MAX_LOG_BYTES + 1)
        .unwrap();
    let log = LocalLogCdn::new(&path);
    for err in [
        log.entries().await.unwrap_err(),
        log.invalidate(&request("r", &["/a"])).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Corrupt { reason, .. } if reason.contains("larger than")),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        MAX_LOG_BYTES + 1,
        "nothing appended"
    );
}

/// The log's file lock is waited for on a blocking thread: on a single-threaded runtime, other
/// tasks keep running while a writer waits for a lock another process (here: another open
/// file description) holds.
#[tokio::test(flavor = "current_thread")]
async fn local_log_waits_for_its_file_lock_off_the_async_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdn.log");
    let holder = std::fs::File::create(&path).unwrap();
    holder.lock().unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        holder.unlock().unwrap();
    });
    let log = LocalLogCdn::new(&path);
    let writer = tokio::spawn(async move { log.invalidate(&request("locked", &["/a"])).await });
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the writer held the runtime's only thread for {:?}",
        started.elapsed()
    );
    assert!(
        !writer.is_finished(),
        "the lock is held: the writer must wait"
    );
    releaser.join().unwrap();
    let receipt = writer.await.unwrap().unwrap();
    assert_eq!(receipt.batches.len(), 1);
    assert_eq!(LocalLogCdn::new(&path).entries().await.unwrap().len(), 1);
}

/// Throttling is retried under the one retry policy, which bounds the total time as well as
/// the attempts: a CDN that stays throttled ends the call within the budget.
#[tokio::test]
async fn throttling_retries_end_within_the_policy_time_budget() {
    let policy = RetryPolicy {
        max_attempts: 1_000_000,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_total: Duration::from_millis(150),
    };
    let fake = FakeCdn::new().with_retry_policy(policy);
    fake.fail_next_creates_with_too_many(u32::MAX);
    let started = std::time::Instant::now();
    let err = fake.invalidate(&request("r", &["/a"])).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    let calls = fake.create_calls();
    assert!(calls > 1, "retried at least once");
    assert!(
        matches!(&err, Error::Throttled { attempts, .. } if *attempts as usize == calls),
        "{err:?} after {calls} calls"
    );
    assert!(err.is_retryable(), "still throttled: a later run may pass");
}

/// What is retried now (throttling, by the driver) and what a later run may fix
/// (`is_retryable`) are decided by the error's kind: deterministic failures are neither.
#[tokio::test]
async fn refusals_are_not_retried_and_not_retryable() {
    let fake = FakeCdn::new();
    let first = fake.invalidate(&request("ref", &["/a"])).await.unwrap();
    fake.wait(&first, Duration::from_secs(1)).await.unwrap();
    let calls = fake.create_calls();
    let err = fake.invalidate(&request("ref", &["/b"])).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(fake.create_calls(), calls + 1, "a conflict is not retried");
    assert!(!err.is_retryable());
}
