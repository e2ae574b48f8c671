//! Stage events kept in the environment's bucket (moto), read back, and pushed to a real
//! Pushgateway; the embedded events file as before.

use std::sync::Arc;

use gitops_artifact_store::{AwsSettings, StoreOpener};
use gitops_event_model::EnvironmentName;
use gitops_iac_config::{Approval, CdnTarget, Environment, RegistryTarget, StorageTarget};
use gitops_metrics::{MetricsSink, Outcome, Stage, StageEvent};
use gitops_runtime::{ReadBounds, Runtime, push_to_pushgateway};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A secret access key that must never appear in a warning or an error.
const SECRET: &str = "s3cr3t-marker-never-shown";

/// Creates a uniquely named bucket with a plain, unsigned `PUT /<bucket>` (moto accepts it).
async fn create_bucket(endpoint: &str) -> String {
    let bucket = unique("ev");
    let url = reqwest::Url::parse(endpoint).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let port = url.port_or_known_default().unwrap();
    let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .unwrap();
    let req = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
    bucket
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

fn opener(endpoint: &str, base: &std::path::Path) -> StoreOpener {
    StoreOpener::new(base).with_aws(AwsSettings::emulator(endpoint, "testing", SECRET))
}

/// A runtime for a repository at `root` whose storage goes to moto.
fn runtime(endpoint: &str, root: &std::path::Path) -> Runtime {
    Runtime::from_env(root)
        .unwrap()
        .with_store_opener(opener(endpoint, root))
}

fn environment(name: &str, storage: &str, registry: &str, cdn: &str) -> Environment {
    Environment {
        name: EnvironmentName::parse(name).unwrap(),
        storage: StorageTarget::parse(storage).unwrap(),
        registry: RegistryTarget::parse(registry).unwrap(),
        cdn: CdnTarget::parse(cdn).unwrap(),
        public_url: "https://cdn.example.com/".to_owned(),
        requires: None,
        approval: Approval::default(),
        freeze: Vec::new(),
        allow_pin_override: false,
        batch: false,
    }
}

fn s3_environment(name: &str, bucket: &str) -> Environment {
    environment(
        name,
        &format!("s3://{bucket}/sites/{name}"),
        "dynamodb://gitops-registry",
        "cloudfront://E2EXAMPLE",
    )
}

fn event(at: OffsetDateTime, env: &str, stage: Stage, request: &str) -> StageEvent {
    StageEvent::new(
        at,
        stage,
        Outcome::Success,
        request,
        env,
        "checkout",
        "1.2.3",
    )
}

/// A deploy-like run: `uploaded`, `committed`, `invalidated`, `reported`.
fn record_run(sink: &dyn MetricsSink, first_at: OffsetDateTime, env: &str, request: &str) {
    let later = OffsetDateTime::now_utc();
    sink.record(&event(first_at, env, Stage::Uploaded, request))
        .unwrap();
    for stage in [Stage::Committed, Stage::Invalidated, Stage::Reported] {
        sink.record(&event(later, env, stage, request)).unwrap();
    }
}

/// The keys under `metrics/` of the environment's storage.
async fn event_keys(store: &dyn ObjectStore) -> Vec<String> {
    use futures::TryStreamExt as _;
    let mut keys: Vec<String> = store
        .list(Some(&ObjectPath::from("metrics")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn lines_of(store: &dyn ObjectStore, key: &str) -> Vec<String> {
    let bytes = store
        .get(&ObjectPath::from(key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn day_path(at: OffsetDateTime) -> String {
    format!(
        "metrics/{:04}/{:02}/{:02}/",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

#[tokio::test]
async fn s3_runs_write_one_object_each_under_their_day_and_read_back() {
    let Some(endpoint) =
        gitops_testkit::aws_endpoint("s3_runs_write_one_object_each_under_their_day_and_read_back")
    else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let env = s3_environment("prod", &bucket);
    let store = opener(&endpoint, repo.path())
        .open_storage(&env.storage.to_string())
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let yesterday = now - Duration::DAY;

    // Two runs (two processes) of the same environment, recording at the same time.
    let (first, second) = (
        runtime(&endpoint, repo.path()),
        runtime(&endpoint, repo.path()),
    );
    record_run(first.metrics(&env).as_ref(), yesterday, "prod", "req-1");
    record_run(second.metrics(&env).as_ref(), now, "prod", "req-2");
    // A second sink of the same run (another target of the same bucket) shares its buffer.
    first
        .metrics(&env)
        .record(&event(now, "prod", Stage::Failed, "req-3"))
        .unwrap();
    assert!(
        event_keys(store.as_ref()).await.is_empty(),
        "events are buffered, not written one by one"
    );

    let (a, b) = tokio::join!(first.flush_metrics(), second.flush_metrics());
    assert!(
        a.warnings.is_empty() && b.warnings.is_empty(),
        "{a:?} {b:?}"
    );
    assert_eq!((a.written.len(), b.written.len()), (1, 1), "{a:?} {b:?}");
    let keys = event_keys(store.as_ref()).await;
    assert_eq!(keys.len(), 2, "one object per run: {keys:?}");
    // Filed under the UTC day of the run's first event, named local-<ULID>.
    let first_key = keys
        .iter()
        .find(|k| k.starts_with(&day_path(yesterday)))
        .unwrap_or_else(|| panic!("no key under {}: {keys:?}", day_path(yesterday)));
    let second_key = keys
        .iter()
        .find(|k| k.starts_with(&day_path(now)) && *k != first_key)
        .unwrap_or_else(|| panic!("no key under {}: {keys:?}", day_path(now)));
    for key in [first_key, second_key] {
        let name = key.rsplit('/').next().unwrap();
        let run = name.strip_suffix(".jsonl").unwrap();
        let ulid = run.strip_prefix("local-").unwrap();
        assert!(ulid::Ulid::from_string(ulid).is_ok(), "{key}");
        assert!(
            a.written
                .iter()
                .chain(&b.written)
                .any(|w| w == &format!("s3://{bucket}/sites/prod/{key}")),
            "{a:?} {b:?} {key}"
        );
    }
    assert_eq!(lines_of(store.as_ref(), first_key).await.len(), 5);
    assert_eq!(lines_of(store.as_ref(), second_key).await.len(), 4);

    // A flush with nothing new writes nothing.
    let again = first.flush_metrics().await;
    assert_eq!(again, gitops_runtime::FlushReport::default());
    assert_eq!(event_keys(store.as_ref()).await.len(), 2);

    // An object of a day outside the window (its event inside it: only the key can tell),
    // and one in the window with a bad line and another environment's event.
    let put = |key: String, body: String| {
        let store = store.clone();
        async move {
            store
                .put(&ObjectPath::from(key.as_str()), body.into_bytes().into())
                .await
                .unwrap();
        }
    };
    let line = |e: StageEvent| e.to_line().unwrap() + "\n";
    put(
        "metrics/2020/01/01/old-run.jsonl".to_owned(),
        line(event(now, "prod", Stage::Committed, "req-old")),
    )
    .await;
    put(
        format!("{}manual.jsonl", day_path(now)),
        line(event(now, "prod", Stage::Merged, "req-4"))
            + "{not an event}\n"
            + &line(event(now, "staging", Stage::Merged, "req-5")),
    )
    .await;

    let since = yesterday - Duration::HOUR;
    let read = first
        .read_stage_events(&env, since, ReadBounds::default())
        .await
        .unwrap();
    assert_eq!((read.objects, read.bad_lines), (3, 1), "{read:?}");
    let mut requests: Vec<&str> = read.events.iter().map(|e| e.request_id.as_str()).collect();
    requests.sort_unstable();
    requests.dedup();
    assert_eq!(requests, ["req-1", "req-2", "req-3", "req-4"], "{read:?}");
    assert_eq!(read.events.len(), 4 + 4 + 1 + 1);
    assert!(read.events.windows(2).all(|w| w[0].at <= w[1].at));
    let events = first.stage_events(&env, since).await.unwrap();
    assert_eq!(events, read.events);
    // `since` also cuts inside the window's objects: run 1's first event is older.
    let later = first
        .stage_events(&env, now - Duration::HOUR)
        .await
        .unwrap();
    assert_eq!(later.len(), read.events.len() - 1);

    // The bounds are errors naming them.
    let few = ReadBounds {
        max_objects: 2,
        ..ReadBounds::default()
    };
    let error = first
        .read_stage_events(&env, since, few)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("more than 2 stage events objects"),
        "{error}"
    );
    let small = ReadBounds {
        max_bytes: 100,
        ..ReadBounds::default()
    };
    let error = first
        .read_stage_events(&env, since, small)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("more than 100 bytes"), "{error}");
}

#[tokio::test]
async fn s3_refused_write_is_one_warning_naming_the_object() {
    let Some(endpoint) =
        gitops_testkit::aws_endpoint("s3_refused_write_is_one_warning_naming_the_object")
    else {
        return;
    };
    // No such bucket: the store refuses the put.
    let bucket = unique("missing");
    let repo = tempfile::tempdir().unwrap();
    let env = s3_environment("prod", &bucket);
    let run = runtime(&endpoint, repo.path());
    record_run(
        run.metrics(&env).as_ref(),
        OffsetDateTime::now_utc(),
        "prod",
        "req-1",
    );
    let report = run.flush_metrics().await;
    assert!(report.written.is_empty(), "{report:?}");
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    let warning = &report.warnings[0];
    assert!(
        warning.contains(&format!("s3://{bucket}/sites/prod/metrics/"))
            && warning.contains(".jsonl"),
        "{warning}"
    );
    assert!(!warning.contains(SECRET), "{warning}");
    // Reported once: the events are not retried by a later flush.
    assert_eq!(
        run.flush_metrics().await,
        gitops_runtime::FlushReport::default()
    );
}

#[tokio::test]
async fn embedded_events_stay_in_the_file_beside_the_registry() {
    let repo = tempfile::tempdir().unwrap();
    let run = Runtime::from_env(repo.path()).unwrap();
    let env = environment(
        "dev",
        "local/dev/storage",
        "local/dev/registry.db",
        "local/dev/invalidations.log",
    );
    let now = OffsetDateTime::now_utc();
    let sink: Arc<dyn MetricsSink> = run.metrics(&env);
    record_run(sink.as_ref(), now, "dev", "req-1");
    let file = repo.path().join("local/dev/metrics/events.jsonl");
    let text = tokio::fs::read_to_string(&file).await.unwrap();
    assert_eq!(text.lines().count(), 4, "written as recorded: {text}");
    assert_eq!(
        run.flush_metrics().await,
        gitops_runtime::FlushReport::default()
    );
    let mut file_handle = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .await
        .unwrap();
    file_handle.write_all(b"not an event\n").await.unwrap();
    let read = run
        .read_stage_events(&env, now - Duration::MINUTE, ReadBounds::default())
        .await
        .unwrap();
    assert_eq!((read.events.len(), read.bad_lines), (4, 1), "{read:?}");
    let small = ReadBounds {
        max_bytes: 10,
        ..ReadBounds::default()
    };
    let error = run
        .read_stage_events(&env, now, small)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("larger than 10 bytes"), "{error}");
    // No file yet: no events, no error.
    let other = environment(
        "qa",
        "local/qa/storage",
        "local/qa/registry.db",
        "local/qa/invalidations.log",
    );
    assert!(run.stage_events(&other, now).await.unwrap().is_empty());
}

/// `GITOPS_TEST_PUSHGATEWAY` (a Pushgateway on loopback), or `None` after skipping `test`.
fn pushgateway(test: &str) -> Option<String> {
    match std::env::var("GITOPS_TEST_PUSHGATEWAY") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            gitops_testkit::skip(
                test,
                "GITOPS_TEST_PUSHGATEWAY (prometheus-pushgateway) is not set",
            );
            None
        }
    }
}

#[tokio::test]
async fn pushgateway_shows_the_pushed_series_under_the_job() {
    let Some(url) = pushgateway("pushgateway_shows_the_pushed_series_under_the_job") else {
        return;
    };
    let job = unique("gitops-test");
    let body = "# HELP gitops_test_deployments Deploys in the window.\n\
                # TYPE gitops_test_deployments gauge\n\
                gitops_test_deployments{environment=\"prod\",mfe=\"checkout\"} 42\n"
        .to_owned();
    push_to_pushgateway(&format!("{url}/"), &job, body)
        .await
        .unwrap();
    let shown = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = shown
        .lines()
        .find(|l| {
            l.starts_with("gitops_test_deployments{") && l.contains(&format!("job=\"{job}\""))
        })
        .unwrap_or_else(|| panic!("no series of job {job} in:\n{shown}"));
    assert!(
        series.contains("environment=\"prod\"")
            && series.contains("mfe=\"checkout\"")
            && series.ends_with(" 42"),
        "{series}"
    );

    // A body the Pushgateway refuses is an error with its status and a short quote.
    let error = push_to_pushgateway(&url, &job, "not exposition {{{\n".to_owned())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("400"), "{error}");
    assert!(error.len() < 600, "{error}");
    // A job that would leave the path is refused before any call.
    let error = push_to_pushgateway(&url, "a/../b", String::new())
        .await
        .unwrap_err();
    assert!(error.is_config(), "{error}");
}
