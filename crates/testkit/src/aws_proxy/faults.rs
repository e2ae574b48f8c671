//! Fault rules for [`super::RecordingProxy`]: a test adds [`Rule`]s, each matched
//! on the classified request ([`super::classify`]) by its operation (e.g.
//! `s3:PutObject`, `dynamodb:TransactWriteItems`, `dynamodb:PutItem`,
//! `cloudfront:CreateInvalidation`) and optionally a substring of a resource ARN (a key
//! prefix), with a [`Fault`] for the first N matches or for every one.
//!
//! The faults are what AWS and the network do: an error answer in the service's own error body
//! shape ([`Fault::ServerError`], [`Fault::Throttle`]), a connection reset before any answer
//! ([`Fault::Reset`]), a slow answer ([`Fault::Delay`], then forwarded), or a request held at
//! the proxy until the test releases it or drops it ([`Fault::Hold`]; see
//! [`super::RecordingProxy::wait_held`]). A request matching no rule is forwarded
//! unchanged. Rules are tried in the order they were added; the first that matches and has
//! matches left applies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::AwsCall;

/// What the proxy does with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with the service's internal-error body (`InternalError`,
    /// `InternalServerError`).
    ServerError,
    /// The service's throttling answer: S3 `503 SlowDown`, DynamoDB `400 ThrottlingException`,
    /// CloudFront `400 Throttling`.
    Throttle,
    /// The connection is reset (`SO_LINGER` 0, then closed) without an answer.
    Reset,
    /// The request is forwarded after this long.
    Delay(Duration),
    /// The request waits at the proxy until the test releases it (then forwarded) or drops it
    /// (then reset).
    Hold,
}

/// One fault rule: which requests, what fault, how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    operation: String,
    resource_contains: Option<String>,
    fault: Fault,
    remaining: Option<u32>,
}

impl Rule {
    /// `fault` on every request whose operation or one of whose IAM actions is `operation`
    /// (`service:Name`, e.g. `s3:PutObject`, `dynamodb:TransactWriteItems`).
    pub fn new(operation: &str, fault: Fault) -> Self {
        Self {
            operation: operation.to_owned(),
            resource_contains: None,
            fault,
            remaining: None,
        }
    }

    /// Only requests with a resource ARN containing `text` (e.g. `/mfe/checkout/` for a key
    /// prefix, a table or distribution name).
    #[must_use]
    pub fn resource_contains(mut self, text: &str) -> Self {
        self.resource_contains = Some(text.to_owned());
        self
    }

    /// Only the first `n` matching requests; later ones are forwarded.
    #[must_use]
    pub fn first(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Whether this rule matches a request of `operation` needing `calls` (ignoring how many
    /// matches are left).
    pub fn matches(&self, operation: &str, calls: &[AwsCall]) -> bool {
        let named = operation == self.operation || calls.iter().any(|c| c.action == self.operation);
        named
            && self
                .resource_contains
                .as_deref()
                .is_none_or(|text| calls.iter().any(|c| c.resource.contains(text)))
    }

    /// The service the rule's operation belongs to (`s3`, `dynamodb`, ...).
    fn service(&self) -> &str {
        self.operation
            .split_once(':')
            .map_or(self.operation.as_str(), |(s, _)| s)
    }
}

/// The operation a request performs, for matching: `dynamodb:<X-Amz-Target operation>` for
/// DynamoDB (so `dynamodb:TransactWriteItems` matches though its IAM actions are per item),
/// else the first IAM action.
pub fn operation_of(dynamodb_target: Option<&str>, calls: &[AwsCall]) -> String {
    match dynamodb_target.and_then(|t| t.strip_prefix("DynamoDB_20120810.")) {
        Some(op) => format!("dynamodb:{op}"),
        None => calls
            .first()
            .map_or_else(|| "aws:UNKNOWN".to_owned(), |c| c.action.clone()),
    }
}

/// What the test decides for a held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Forward it as if nothing happened.
    Forward,
    /// Reset its connection without forwarding.
    Drop,
}

#[derive(Debug)]
struct Held {
    what: String,
    tx: tokio::sync::oneshot::Sender<Release>,
}

/// The rules and held requests of one proxy.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Rule>>,
    held: Mutex<Vec<Held>>,
    /// `(operation, fault)` of every fault applied, in order.
    applied: Mutex<Vec<(String, Fault)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Faults {
    pub(crate) fn add(&self, rule: Rule) {
        lock(&self.rules).push(rule);
    }

    pub(crate) fn clear(&self) {
        lock(&self.rules).clear();
    }

    pub(crate) fn applied(&self) -> Vec<(String, Fault)> {
        lock(&self.applied).clone()
    }

    /// The fault for a request (the first matching rule with matches left, one match used),
    /// and the service whose error shape it answers in.
    pub(crate) fn decide(&self, operation: &str, calls: &[AwsCall]) -> Option<(Fault, String)> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|r| r.remaining != Some(0) && r.matches(operation, calls))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        lock(&self.applied).push((operation.to_owned(), rule.fault));
        Some((rule.fault, rule.service().to_owned()))
    }

    /// Parks a request; what the test decides (a dropped decision is [`Release::Drop`]).
    pub(crate) fn hold(&self, what: String) -> tokio::sync::oneshot::Receiver<Release> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.held).push(Held { what, tx });
        rx
    }

    /// The held requests, oldest first (method and path).
    pub(crate) fn held(&self) -> Vec<String> {
        lock(&self.held).iter().map(|h| h.what.clone()).collect()
    }

    /// Decides every held request; how many there were.
    pub(crate) fn settle(&self, release: Release) -> usize {
        let held: Vec<Held> = lock(&self.held).drain(..).collect();
        let n = held.len();
        for h in held {
            let _ = h.tx.send(release);
        }
        n
    }
}

/// The service's error answer for `fault` ([`Fault::ServerError`] or [`Fault::Throttle`]).
pub(crate) fn error_response(service: &str, fault: Fault) -> Response {
    let throttle = fault == Fault::Throttle;
    let (status, content_type, body) = match service {
        "dynamodb" => {
            let (status, kind, message) = if throttle {
                (
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                )
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Internal server error (injected by the fault proxy)",
                )
            };
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
                "message": message,
            });
            (status, "application/x-amz-json-1.0", body.to_string())
        }
        "cloudfront" => {
            let (status, kind, code) = if throttle {
                (StatusCode::BAD_REQUEST, "Sender", "Throttling")
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Receiver",
                    "InternalError",
                )
            };
            let body = format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{code} (injected by the fault proxy)</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            );
            (status, "text/xml", body)
        }
        // S3 and the query-protocol services share the plain `<Error>` shape.
        _ => {
            let (status, code, message) = if throttle {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                )
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            );
            (status, "application/xml", body)
        }
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
    r
}

/// A listener whose connections a handler can reset ([`ConnReset`] in its connect info).
#[derive(Debug)]
pub(crate) struct ResettableListener(pub(crate) tokio::net::TcpListener);

/// A connection's reset switch, given to handlers as connect info.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnReset(Arc<AtomicBool>);

impl ConnReset {
    /// From now on the connection fails every read and write, and is reset when dropped.
    pub(crate) fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl axum::serve::Listener for ResettableListener {
    type Io = ResettableIo;
    type Addr = ConnReset;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let reset = ConnReset::default();
                    let io = ResettableIo {
                        stream,
                        reset: reset.clone(),
                    };
                    return (io, reset);
                }
                // Out of descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(ConnReset::default())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ResettableListener>>
    for ConnReset
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ResettableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP stream that turns into a reset once its [`ConnReset`] is pulled.
#[derive(Debug)]
pub(crate) struct ResettableIo {
    stream: tokio::net::TcpStream,
    reset: ConnReset,
}

impl ResettableIo {
    fn failed(&self) -> Option<std::io::Error> {
        if !self.reset.0.load(Ordering::SeqCst) {
            return None;
        }
        // Dropping the stream now sends RST instead of FIN.
        let _ = self.stream.set_zero_linger();
        Some(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by the fault proxy",
        ))
    }
}

impl AsyncRead for ResettableIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;
    use crate::aws_proxy::classify;

    fn request(
        method: &str,
        uri: &str,
        target: Option<&str>,
        body: &str,
    ) -> (String, Vec<AwsCall>) {
        let mut headers = HeaderMap::new();
        if let Some(t) = target {
            headers.insert("x-amz-target", HeaderValue::from_str(t).unwrap());
        }
        let calls = classify(method, uri, &headers, body.as_bytes(), "123456789012");
        (operation_of(target, &calls), calls)
    }

    #[test]
    fn rules_match_on_operation_action_and_resource() {
        let (op, calls) = request("PUT", "/site/mfe/checkout/1.0.0/remoteEntry.js", None, "");
        assert_eq!(op, "s3:PutObject");
        let upload = Rule::new("s3:PutObject", Fault::Reset).resource_contains("/mfe/checkout/1.");
        assert!(upload.matches(&op, &calls));
        let alias = Rule::new("s3:PutObject", Fault::Hold)
            .resource_contains("site/mfe/checkout/remoteEntry.js");
        assert!(!alias.matches(&op, &calls), "a version's file is no alias");
        assert!(!Rule::new("s3:GetObject", Fault::Reset).matches(&op, &calls));

        let tx = r#"{"TransactItems":[{"Put":{"TableName":"reg"}},{"Put":{"TableName":"reg"}}]}"#;
        let (op, calls) = request(
            "POST",
            "/",
            Some("DynamoDB_20120810.TransactWriteItems"),
            tx,
        );
        assert_eq!(op, "dynamodb:TransactWriteItems");
        for name in ["dynamodb:TransactWriteItems", "dynamodb:PutItem"] {
            assert!(
                Rule::new(name, Fault::Throttle).matches(&op, &calls),
                "{name}"
            );
        }
        assert!(
            !Rule::new("dynamodb:PutItem", Fault::Throttle)
                .resource_contains("table/other")
                .matches(&op, &calls)
        );

        let (op, calls) = request(
            "GET",
            "/2020-05-31/distribution/E1/invalidation/I1",
            None,
            "",
        );
        assert_eq!(op, "cloudfront:GetInvalidation");
        assert!(Rule::new("cloudfront:GetInvalidation", Fault::Hold).matches(&op, &calls));
        assert!(!Rule::new("cloudfront:CreateInvalidation", Fault::Hold).matches(&op, &calls));
    }

    #[test]
    fn first_n_matches_then_forwarded_and_rules_apply_in_order() {
        let faults = Faults::default();
        let (op, calls) = request("POST", "/2020-05-31/distribution/E1/invalidation", None, "");
        faults.add(Rule::new("cloudfront:CreateInvalidation", Fault::ServerError).first(2));
        faults.add(Rule::new("cloudfront:CreateInvalidation", Fault::Throttle).first(1));
        let seen: Vec<_> = (0..4)
            .map(|_| faults.decide(&op, &calls).map(|d| d.0))
            .collect();
        assert_eq!(
            seen,
            [
                Some(Fault::ServerError),
                Some(Fault::ServerError),
                Some(Fault::Throttle),
                None
            ]
        );
        assert_eq!(faults.applied().len(), 3);
        faults.add(Rule::new("cloudfront:CreateInvalidation", Fault::Reset));
        assert_eq!(
            faults.decide(&op, &calls).map(|d| d.1),
            Some("cloudfront".to_owned())
        );
        faults.clear();
        assert_eq!(faults.decide(&op, &calls), None);
    }

    #[tokio::test]
    async fn held_requests_wait_for_the_test() {
        let faults = Faults::default();
        let forward = faults.hold("PUT /a".to_owned());
        let dropped = faults.hold("PUT /b".to_owned());
        assert_eq!(faults.held(), ["PUT /a", "PUT /b"]);
        assert_eq!(faults.settle(Release::Forward), 2);
        assert_eq!(forward.await, Ok(Release::Forward));
        assert_eq!(dropped.await, Ok(Release::Forward));
        assert!(faults.held().is_empty());
    }

    /// Through a real connection: a reset is an error without an answer, an error answer is
    /// the service's, a held request waits and a dropped one is reset (the upstream is never
    /// reached: it does not exist).
    #[tokio::test(flavor = "multi_thread")]
    async fn faults_reach_a_real_client() {
        let proxy = super::super::RecordingProxy::start("http://127.0.0.1:9").await;
        let http = reqwest::Client::new();
        let url = format!("{}/site/key", proxy.url());
        proxy.add_fault(Rule::new("s3:PutObject", Fault::Throttle).first(1));
        proxy.add_fault(Rule::new("s3:PutObject", Fault::Reset).first(1));
        proxy.add_fault(Rule::new("s3:PutObject", Fault::Hold));
        let slow = http.put(&url).body("x").send().await.unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(slow.text().await.unwrap().contains("<Code>SlowDown</Code>"));
        let reset = http.put(&url).body("x").send().await;
        assert!(reset.is_err(), "{reset:?}");
        let held = tokio::spawn(http.put(&url).body("x").send());
        assert_eq!(
            proxy.wait_held(Duration::from_secs(10)).await,
            ["PUT /site/key"]
        );
        assert_eq!(proxy.drop_held(), 1);
        assert!(held.await.unwrap().is_err());
        assert_eq!(proxy.calls().len(), 3);
        assert_eq!(proxy.faults_applied().len(), 3);
    }

    #[test]
    fn error_bodies_have_each_services_shape() {
        let r = error_response("s3", Fault::Throttle);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r = error_response("dynamodb", Fault::Throttle);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/x-amz-json-1.0"
        );
        let r = error_response("cloudfront", Fault::ServerError);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/xml");
    }
}
