//! A recording HTTP proxy in front of an AWS endpoint (moto): it forwards every request
//! unchanged (except `Host`) and records, for each, the IAM authorisations AWS would check
//! ([`AwsCall`]), so a test can run a real client through it and then ask an IAM policy
//! ([`crate::iam::Policy`]) whether every call was allowed.
//!
//! The proxy serves from its own thread and runtime, so a test may block on a child process
//! (`std::process::Command`) while the child talks through it. Request and response bodies are
//! buffered, up to [`MAX_BODY`] bytes each. Forwarding drops only `Host`, the hop-by-hop
//! headers and `Expect` (the proxy has the whole body already); the forwarding client adds
//! `Accept: */*` when the request has no `Accept` (unsigned by the SDKs, and moto does not
//! check signatures anyway).
//!
//! Classification ([`classify`]) covers what `gitops` and the SDKs send: S3 (path-style),
//! DynamoDB (`X-Amz-Target: DynamoDB_20120810.*`), CloudFront (`/2020-05-31/...`) and
//! query-protocol services (STS, IAM: `Action=` at `/`). What it cannot name is recorded with
//! the action `<service>:UNKNOWN` and the request in `detail`, so a test notices.
//!
//! Fault injection ([`faults`]): [`RecordingProxy::add_fault`] makes matching requests fail the
//! way AWS or the network does (an error answer in the service's shape, a reset, a delay) or
//! holds them until the test releases or drops them ([`RecordingProxy::wait_held`]). Every
//! request is recorded, faulted or not.

pub mod faults;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::Error;
use faults::{ConnReset, Fault, Faults, Release, ResettableListener, Rule};

/// The account id moto answers with, and the default account of a proxy's ARNs.
pub const MOTO_ACCOUNT: &str = "123456789012";
/// The largest request or response body the proxy forwards.
pub const MAX_BODY: usize = 512 * 1024 * 1024;
/// Region used in ARNs when a request carries no SigV4 credential scope.
pub const NO_REGION: &str = "NO-REGION";

/// One IAM authorisation a request needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct AwsCall {
    /// The IAM action, e.g. `s3:GetObject` (`<service>:UNKNOWN` when not recognised).
    pub action: String,
    /// The resource ARN the action is checked on (`*` when the action has no resource).
    pub resource: String,
    /// The request, for messages: method and path with query, plus what was read from it.
    pub detail: String,
}

impl AwsCall {
    /// Whether `policy` allows this call (`Policy::allows` on its action and resource).
    pub fn allowed_by(&self, policy: &crate::iam::Policy) -> bool {
        policy.allows(&self.action, &self.resource)
    }

    fn new(action: impl Into<String>, resource: impl Into<String>, detail: &str) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            detail: detail.to_owned(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    account: String,
    http: reqwest::Client,
    calls: Mutex<Vec<AwsCall>>,
    faults: Faults,
}

/// A running recording proxy; stopped when dropped.
#[derive(Debug)]
pub struct RecordingProxy {
    url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RecordingProxy {
    /// Starts a proxy on `127.0.0.1:<free port>` forwarding to `upstream` (e.g. moto's
    /// `http://127.0.0.1:5055`), with ARNs in moto's account [`MOTO_ACCOUNT`].
    ///
    /// # Panics
    /// When it cannot start (see [`RecordingProxy::try_start`] for the error instead).
    pub async fn start(upstream: &str) -> Self {
        match Self::try_start(upstream, MOTO_ACCOUNT).await {
            Ok(p) => p,
            Err(e) => panic!("cannot start the recording AWS proxy in front of {upstream}: {e}"),
        }
    }

    /// Starts a proxy forwarding to `upstream` whose ARNs name `account`.
    pub async fn try_start(upstream: &str, account: &str) -> Result<Self, Error> {
        let spawn = |what: &str, e: &dyn std::fmt::Display| Error::Spawn(format!("{what}: {e}"));
        let url = reqwest::Url::parse(upstream).map_err(|e| spawn("upstream URL", &e))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::Spawn(format!(
                "upstream {upstream:?} is not an http(s) URL"
            )));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_mins(10))
            .build()
            .map_err(|e| spawn("HTTP client", &e))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| spawn("bind", &e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| spawn("bind", &e))?;
        let addr = listener.local_addr().map_err(|e| spawn("bind", &e))?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            account: account.to_owned(),
            http,
            calls: Mutex::new(Vec::new()),
            faults: Faults::default(),
        });
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("aws-proxy".to_owned())
            .spawn(move || serve_on_own_runtime(listener, served, ready_tx, stop_rx))
            .map_err(|e| spawn("thread", &e))?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Spawn(e)),
            Err(_) => return Err(Error::Spawn("the proxy thread ended at start".to_owned())),
        }
        Ok(Self {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give clients instead of the upstream.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every authorisation recorded so far, in the order the requests arrived.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the recorded calls.
    pub fn clear(&self) {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Adds a fault rule (after the existing ones; see [`faults`]).
    pub fn add_fault(&self, rule: Rule) {
        self.shared.faults.add(rule);
    }

    /// Removes every fault rule (held requests stay held).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// `(operation, fault)` of every fault applied so far, in order.
    pub fn faults_applied(&self) -> Vec<(String, Fault)> {
        self.shared.faults.applied()
    }

    /// The requests held now ([`Fault::Hold`]), as method and path, oldest first.
    pub fn held(&self) -> Vec<String> {
        self.shared.faults.held()
    }

    /// Waits until at least one request is held, up to `timeout`; the held requests (empty
    /// when none arrived in time).
    pub async fn wait_held(&self, timeout: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let held = self.held();
            if !held.is_empty() || tokio::time::Instant::now() >= deadline {
                return held;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forwards every held request; how many there were.
    pub fn release_held(&self) -> usize {
        self.shared.faults.settle(Release::Forward)
    }

    /// Resets the connection of every held request without forwarding it; how many there were.
    pub fn drop_held(&self) -> usize {
        self.shared.faults.settle(Release::Drop)
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.shared.faults.settle(Release::Drop);
        // The thread only drops its runtime (cancelling open connections): quick.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_on_own_runtime(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("aws-proxy-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(format!("listener: {e}")));
                return;
            }
        };
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared)
            .into_make_service_with_connect_info::<ConnReset>();
        let _ = ready.send(Ok(()));
        tokio::select! {
            r = axum::serve(ResettableListener(listener), app) => {
                if let Err(e) = r {
                    eprintln!("aws-proxy: {e}");
                }
            }
            _ = stop => {}
        }
    });
    // Dropping the runtime here ends every connection still open.
    drop(rt);
}

/// Request headers not forwarded: `Host` (the upstream's own), hop-by-hop headers, and the
/// framing the forwarding client sets itself from the buffered body.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
            | "content-length"
    )
}

fn text(status: StatusCode, msg: String) -> Response {
    let mut r = Response::new(Body::from(msg));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnReset>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "aws-proxy: cannot read the request body of {} {uri} (limit {MAX_BODY} bytes): {e}",
                    parts.method
                ),
            );
        }
    };
    let calls = classify(
        parts.method.as_str(),
        &uri,
        &parts.headers,
        &body,
        &s.account,
    );
    let operation = faults::operation_of(header_str(&parts.headers, "x-amz-target"), &calls);
    let fault = s.faults.decide(&operation, &calls);
    s.calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(calls);
    let reset = || {
        conn.reset();
        text(
            StatusCode::BAD_GATEWAY,
            "reset by the fault proxy".to_owned(),
        )
    };
    match fault {
        None => {}
        Some((f @ (Fault::ServerError | Fault::Throttle), service)) => {
            return faults::error_response(&service, f);
        }
        Some((Fault::Reset, _)) => return reset(),
        Some((Fault::Delay(d), _)) => tokio::time::sleep(d).await,
        Some((Fault::Hold, _)) => {
            let decision = s.faults.hold(format!("{} {uri}", parts.method)).await;
            if decision != Ok(Release::Forward) {
                return reset();
            }
        }
    }

    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if !hop_by_hop(k) {
            headers.append(k.clone(), v.clone());
        }
    }
    let has_body = !body.is_empty()
        || parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut rb = s
        .http
        .request(parts.method.clone(), format!("{}{uri}", s.upstream))
        .headers(headers);
    if has_body {
        rb = rb.body(body);
    }
    let what = format!("{} {uri}", parts.method);
    let mut resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("aws-proxy: forwarding {what} to {} failed: {e}", s.upstream),
            );
        }
    };
    let status = resp.status();
    let resp_headers = resp.headers().clone();
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) if out.len() + c.len() > MAX_BODY => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("aws-proxy: the response to {what} exceeds {MAX_BODY} bytes"),
                );
            }
            Ok(Some(c)) => out.extend_from_slice(&c),
            Ok(None) => break,
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("aws-proxy: reading the response to {what} failed: {e}"),
                );
            }
        }
    }
    let mut r = Response::new(Body::from(Bytes::from(out)));
    *r.status_mut() = status;
    for (k, v) in &resp_headers {
        if !matches!(
            k.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "trailer"
                | "upgrade"
        ) {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    r
}

/// The IAM authorisations the request needs, as AWS checks them (see the module docs);
/// `account` names the account in ARNs, the region comes from the SigV4 credential scope
/// ([`NO_REGION`] when absent). `uri` is the path with its query, as sent.
pub fn classify(
    method: &str,
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
    account: &str,
) -> Vec<AwsCall> {
    let detail = format!("{method} {uri}");
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let query = form_pairs(query);
    let scope = credential_scope(headers, &query);
    let region = scope.as_ref().map_or(NO_REGION, |(r, _)| r.as_str());
    if let Some(target) = header_str(headers, "x-amz-target") {
        return match target.strip_prefix("DynamoDB_20120810.") {
            Some(op) => dynamodb(op, body, region, account, &detail),
            None => vec![AwsCall::new(
                "aws:UNKNOWN",
                "*",
                &format!("{detail} (X-Amz-Target {target})"),
            )],
        };
    }
    if path.starts_with("/2020-05-31/") {
        return vec![cloudfront(method, path, account, &detail)];
    }
    if path.starts_with("/moto-api/") {
        return vec![AwsCall::new("moto:Api", "*", &detail)];
    }
    if path == "/" {
        let form = header_str(headers, "content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let mut params = query.clone();
        if form {
            params.extend(form_pairs(&String::from_utf8_lossy(body)));
        }
        if let Some(action) = param(&params, "Action") {
            let service = scope
                .as_ref()
                .map(|(_, s)| s.as_str())
                .filter(|s| *s != "s3")
                .unwrap_or("sts");
            let resource = match action {
                "AssumeRole" | "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" => {
                    param(&params, "RoleArn").unwrap_or("*")
                }
                _ => "*",
            };
            return vec![AwsCall::new(
                format!("{service}:{action}"),
                resource,
                &detail,
            )];
        }
    }
    s3(method, path, &query, headers, body, &detail)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `a=1&b&c=x%20y` as decoded pairs (`+` is a space, as in forms).
fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn has(pairs: &[(String, String)], name: &str) -> bool {
    pairs.iter().any(|(k, _)| k == name)
}

/// `(region, service)` of the SigV4 credential scope, from `Authorization` or a presigned
/// URL's `X-Amz-Credential`.
fn credential_scope(headers: &HeaderMap, query: &[(String, String)]) -> Option<(String, String)> {
    let cred = header_str(headers, "authorization")
        .and_then(|a| {
            let start = a.find("Credential=")? + "Credential=".len();
            let rest = &a[start..];
            Some(rest.split([',', ' ']).next().unwrap_or(rest).to_owned())
        })
        .or_else(|| param(query, "X-Amz-Credential").map(str::to_owned))?;
    // AKID/DATE/REGION/SERVICE/aws4_request
    let parts: Vec<&str> = cred.split('/').collect();
    (parts.len() == 5).then(|| (parts[2].to_owned(), parts[3].to_owned()))
}

fn dynamodb(op: &str, body: &[u8], region: &str, account: &str, detail: &str) -> Vec<AwsCall> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let arn = |t: &str| {
        if t.starts_with("arn:") {
            t.to_owned()
        } else {
            format!("arn:aws:dynamodb:{region}:{account}:table/{t}")
        }
    };
    let unknown =
        |why: &str| AwsCall::new("dynamodb:UNKNOWN", "*", &format!("{detail} {op}: {why}"));
    match op {
        "TransactWriteItems" | "TransactGetItems" => {
            let Some(items) = v["TransactItems"].as_array().filter(|a| !a.is_empty()) else {
                return vec![unknown("no TransactItems")];
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(obj) = item.as_object() else {
                    out.push(unknown(&format!("item {i} is not an object")));
                    continue;
                };
                for (kind, inner) in obj {
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        _ => {
                            out.push(unknown(&format!("item {i} has {kind}")));
                            continue;
                        }
                    };
                    match inner["TableName"].as_str() {
                        Some(t) => out.push(AwsCall::new(
                            format!("dynamodb:{action}"),
                            arn(t),
                            &format!("{detail} {op} item {i} ({kind})"),
                        )),
                        None => out.push(unknown(&format!("item {i} has no TableName"))),
                    }
                }
            }
            out
        }
        "BatchGetItem" | "BatchWriteItem" => match v["RequestItems"].as_object() {
            Some(m) if !m.is_empty() => m
                .keys()
                .map(|t| AwsCall::new(format!("dynamodb:{op}"), arn(t), &format!("{detail} {op}")))
                .collect(),
            _ => vec![unknown("no RequestItems")],
        },
        _ => {
            let resource = match (v["TableName"].as_str(), v["ResourceArn"].as_str()) {
                (Some(t), _) => match v["IndexName"].as_str() {
                    Some(ix) if matches!(op, "Query" | "Scan") => format!("{}/index/{ix}", arn(t)),
                    _ => arn(t),
                },
                (None, Some(r)) => r.to_owned(),
                (None, None) => "*".to_owned(),
            };
            vec![AwsCall::new(
                format!("dynamodb:{op}"),
                resource,
                &format!("{detail} {op}"),
            )]
        }
    }
}

fn cloudfront(method: &str, path: &str, account: &str, detail: &str) -> AwsCall {
    let segs: Vec<&str> = path["/2020-05-31/".len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let dist = |id: &str| format!("arn:aws:cloudfront::{account}:distribution/{id}");
    let (action, resource) = match (method, segs.as_slice()) {
        ("GET", ["distribution"]) => ("ListDistributions", "*".to_owned()),
        ("POST", ["distribution"]) => ("CreateDistribution", dist("*")),
        (_, ["distribution", id, rest @ ..]) => {
            let action = match (method, rest) {
                ("GET" | "HEAD", []) => "GetDistribution",
                ("GET" | "HEAD", ["config"]) => "GetDistributionConfig",
                ("PUT", ["config"]) => "UpdateDistribution",
                ("DELETE", []) => "DeleteDistribution",
                ("POST", ["invalidation"]) => "CreateInvalidation",
                ("GET", ["invalidation"]) => "ListInvalidations",
                ("GET", ["invalidation", _]) => "GetInvalidation",
                _ => "UNKNOWN",
            };
            (action, dist(id))
        }
        _ => ("UNKNOWN", "*".to_owned()),
    };
    AwsCall::new(format!("cloudfront:{action}"), resource, detail)
}

/// Bucket sub-resources and the actions GET, PUT and DELETE on them need.
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetBucketAcl", "PutBucketAcl", ""),
    ("cors", "GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    (
        "encryption",
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
        "PutEncryptionConfiguration",
    ),
    (
        "lifecycle",
        "GetLifecycleConfiguration",
        "PutLifecycleConfiguration",
        "PutLifecycleConfiguration",
    ),
    ("location", "GetBucketLocation", "", ""),
    ("logging", "GetBucketLogging", "PutBucketLogging", ""),
    (
        "notification",
        "GetBucketNotification",
        "PutBucketNotification",
        "",
    ),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    (
        "policy",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
    ),
    ("policyStatus", "GetBucketPolicyStatus", "", ""),
    (
        "publicAccessBlock",
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    (
        "replication",
        "GetReplicationConfiguration",
        "PutReplicationConfiguration",
        "PutReplicationConfiguration",
    ),
    (
        "tagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "PutBucketTagging",
    ),
    ("uploads", "ListBucketMultipartUploads", "", ""),
    (
        "versioning",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "",
    ),
    ("versions", "ListBucketVersions", "", ""),
    (
        "website",
        "GetBucketWebsite",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
    ),
    (
        "object-lock",
        "GetBucketObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
        "",
    ),
];

fn s3(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    detail: &str,
) -> Vec<AwsCall> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let bucket = decode(bucket);
    let key = decode(key);
    let call =
        |action: &str, resource: String| AwsCall::new(format!("s3:{action}"), resource, detail);
    let unknown = || vec![call("UNKNOWN", "*".to_owned())];
    if bucket.is_empty() {
        return if method == "GET" {
            vec![call("ListAllMyBuckets", "*".to_owned())]
        } else {
            unknown()
        };
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    if key.is_empty() {
        let sub = BUCKET_SUBRESOURCES
            .iter()
            .find(|(name, ..)| has(query, name));
        // No query but the SDKs' informational `x-id`.
        let bare = query.iter().all(|(k, _)| k == "x-id");
        let action = match (method, sub) {
            ("GET", Some((_, get, _, _))) => *get,
            ("PUT", Some((_, _, put, _))) => *put,
            ("DELETE", Some((_, _, _, delete))) => *delete,
            ("GET" | "HEAD", None) => "ListBucket",
            // A query the table does not know is a sub-resource this cannot name.
            ("PUT", None) if bare => "CreateBucket",
            ("DELETE", None) if bare => "DeleteBucket",
            ("POST", None) if has(query, "delete") => {
                let keys = xml_keys(body);
                if keys.is_empty() {
                    return unknown();
                }
                return keys
                    .into_iter()
                    .map(|k| call("DeleteObject", format!("{bucket_arn}/{k}")))
                    .collect();
            }
            _ => "",
        };
        return if action.is_empty() {
            unknown()
        } else {
            vec![call(action, bucket_arn)]
        };
    }
    let object_arn = format!("{bucket_arn}/{key}");
    let version = has(query, "versionId");
    let mut out = Vec::new();
    let action = match method {
        "GET" | "HEAD" if has(query, "uploadId") => "ListMultipartUploadParts",
        "GET" if has(query, "acl") => {
            if version {
                "GetObjectVersionAcl"
            } else {
                "GetObjectAcl"
            }
        }
        "GET" if has(query, "tagging") => {
            if version {
                "GetObjectVersionTagging"
            } else {
                "GetObjectTagging"
            }
        }
        "GET" if has(query, "attributes") => {
            if version {
                "GetObjectVersionAttributes"
            } else {
                "GetObjectAttributes"
            }
        }
        "GET" if has(query, "retention") => "GetObjectRetention",
        "GET" if has(query, "legal-hold") => "GetObjectLegalHold",
        "GET" | "HEAD" => {
            if version {
                "GetObjectVersion"
            } else {
                "GetObject"
            }
        }
        "PUT" if has(query, "tagging") => "PutObjectTagging",
        "PUT" if has(query, "acl") => "PutObjectAcl",
        "PUT" if has(query, "retention") => "PutObjectRetention",
        "PUT" if has(query, "legal-hold") => "PutObjectLegalHold",
        "PUT" => {
            // PutObject, UploadPart, CopyObject, UploadPartCopy.
            if let Some(src) = header_str(headers, "x-amz-copy-source") {
                out.push(copy_source(src, detail));
            }
            if !has(query, "uploadId") {
                if headers.contains_key("x-amz-tagging") {
                    out.push(call("PutObjectTagging", object_arn.clone()));
                }
                if headers.contains_key("x-amz-acl")
                    || headers
                        .keys()
                        .any(|k| k.as_str().starts_with("x-amz-grant-"))
                {
                    out.push(call("PutObjectAcl", object_arn.clone()));
                }
            }
            "PutObject"
        }
        "POST" if has(query, "uploads") || has(query, "uploadId") => "PutObject",
        "POST" if has(query, "restore") => "RestoreObject",
        "POST" if has(query, "select") => "GetObject",
        "DELETE" if has(query, "uploadId") => "AbortMultipartUpload",
        "DELETE" if has(query, "tagging") => {
            if version {
                "DeleteObjectVersionTagging"
            } else {
                "DeleteObjectTagging"
            }
        }
        "DELETE" => {
            if version {
                "DeleteObjectVersion"
            } else {
                "DeleteObject"
            }
        }
        _ => return unknown(),
    };
    out.insert(0, call(action, object_arn));
    out
}

/// `x-amz-copy-source: [/]BUCKET/KEY[?versionId=V]` (URL-encoded) as the read it needs.
fn copy_source(src: &str, detail: &str) -> AwsCall {
    let (path, q) = src.split_once('?').unwrap_or((src, ""));
    let path = decode(path);
    let path = path.strip_prefix('/').unwrap_or(&path);
    let action = if q.contains("versionId=") {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    match path.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => AwsCall::new(
            action,
            format!("arn:aws:s3:::{b}/{k}"),
            &format!("{detail} (copy source {src})"),
        ),
        _ => AwsCall::new(
            "s3:UNKNOWN",
            "*",
            &format!("{detail} (copy source {src:?} is not /BUCKET/KEY)"),
        ),
    }
}

/// The `<Key>` values of a `DeleteObjects` body, unescaped.
fn xml_keys(body: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut rest = s.as_ref();
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + "<Key>".len()..];
        let Some(end) = rest.find("</Key>") else {
            break;
        };
        out.push(xml_unescape(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = c {
            out.push(c);
            rest = &rest[semi + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}
