//! One HTTP attempt (counted, bounded in time and size), the retries around it under
//! [`gitops_retry`], what is retried (one function: [`classify`]), and reading answers into
//! typed structs: a body that does not parse, or lacks a field we need, is
//! [`Error::Malformed`] naming it, never a default.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gitops_retry::Retry;
use http::{HeaderMap, Method};
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::GithubForge;
use crate::{Error, Result};

/// Largest API answer read (a page of 100 pull requests, a 1 MB file inlined as base64).
pub(super) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Items per page of a list, and the most pages read: a longer list is refused
/// ([`Error::TooLarge`]), never cut short.
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 50;

/// One answer of the forge: status, headers and the whole (bounded) body.
pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// The part of GitHub's error body we show.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    errors: Option<Value>,
}

impl Resp {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// GitHub's message (and its `errors` details); for a body that is not GitHub's JSON
    /// error only the status: a raw body is never shown.
    pub(super) fn message(&self) -> String {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(ErrorBody {
                message,
                errors: Some(errors),
            }) => format!("{message} ({errors})"),
            Ok(ErrorBody {
                message,
                errors: None,
            }) if !message.is_empty() => message,
            _ => format!("HTTP {}", self.status),
        }
    }

    /// The body read as `T`; `what` names the call in the error.
    pub(super) fn parse<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::malformed(what, clip(&e.to_string())))
    }
}

/// Why a response may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retryable {
    /// 5xx: the server failed.
    ServerError,
    /// 429 or a secondary-rate-limit 403.
    RateLimited,
}

/// Classify a response: `None` = final (success, or a 4xx that will not change: never
/// retried).
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<Retryable> {
    match status {
        500..=599 => Some(Retryable::ServerError),
        429 => Some(Retryable::RateLimited),
        403 => {
            let remaining_zero = header_str(headers, "x-ratelimit-remaining") == Some("0");
            let lower = String::from_utf8_lossy(body).to_ascii_lowercase();
            (headers.contains_key("retry-after") || remaining_zero || lower.contains("rate limit"))
                .then_some(Retryable::RateLimited)
        }
        _ => None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The wait the server asked for: `retry-after` (seconds), else `x-ratelimit-reset` (epoch
/// seconds) when the remaining quota is zero or not said.
pub(super) fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(secs) = header_str(headers, "retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header_str(headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    if header_str(headers, "x-ratelimit-remaining").is_some_and(|r| r != "0") {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    // One extra second: the reset instant is rounded down by the server.
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

/// Rounds of the retry policy's attempts a rate-limited call may take, each after waiting as
/// the forge asked (all within the policy's total time).
const THROTTLE_ROUNDS: u32 = 3;

/// One attempt that did not end the call.
enum Attempt {
    /// An answer worth retrying (5xx, rate limit), with the server's hint.
    Answer {
        resp: Resp,
        throttled: bool,
        hint: Option<Duration>,
    },
    /// No usable answer.
    Failed(Error),
}

/// Reads a field GitHub documents as required but nullable: present, `null` or a value
/// (a missing one is an error, unlike serde's default for `Option`).
pub(super) fn nullable<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// A message cut to 300 characters (serde echoes values in its errors).
fn clip(message: &str) -> String {
    message.chars().take(300).collect()
}

pub(super) fn first_line(s: &str) -> String {
    clip(s.lines().next().unwrap_or(""))
}

/// Whether a 403's message is GitHub's refusal of a token that lacks a permission (an
/// installation token, a job's `GITHUB_TOKEN`, or a fine-grained personal access token).
pub(super) fn refused_for_permission(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.starts_with("resource not accessible by integration")
        || m.starts_with("resource not accessible by personal access token")
}

/// The permission (scope and level, as a workflow's `permissions:` names it) that `method` on
/// `path` (`/repos/{owner}/{name}/...`) needs, and the repository; `None` outside a repository.
pub(super) fn permission_for(method: &Method, path: &str) -> Option<(String, String)> {
    let bare = path.split_once('?').map_or(path, |(bare, _)| bare);
    let segs: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let ["repos", owner, name, rest @ ..] = segs.as_slice() else {
        return None;
    };
    let write = *method != Method::GET && *method != Method::HEAD;
    let level = if write { "write" } else { "read" };
    let scope = match rest {
        [] | ["collaborators", ..] => "metadata",
        ["pulls", _, "merge"] if write => "contents",
        ["pulls", ..] => "pull-requests",
        ["issues", ..] => "issues",
        ["statuses", ..] | ["commits", .., "status" | "statuses"] => "statuses",
        ["check-runs" | "check-suites", ..] | ["commits", .., "check-runs"] => "checks",
        ["deployments", ..] => "deployments",
        ["actions" | "environments", ..] => "actions",
        // Git data, contents, tarballs, repository dispatches, merges.
        _ => "contents",
    };
    let level = if scope == "metadata" { "read" } else { level };
    Some((format!("{scope}: {level}"), format!("{owner}/{name}")))
}

/// The error message of a permission refusal: the call, the permission it needs and on which
/// repository, and GitHub's own words.
pub(super) fn refusal(method: &Method, path: &str, message: &str) -> String {
    let call = call_name(method, path);
    match permission_for(method, path) {
        Some((permission, repo)) => format!(
            "GitHub refused {call}: the token lacks `{permission}` on {repo} (403 {message})"
        ),
        None => {
            format!("GitHub refused {call}: the token lacks a permission it needs (403 {message})")
        }
    }
}

/// `GET /repos/o/r/pulls`: the method and the path without its query, naming a call.
pub(super) fn call_name(method: &Method, path: &str) -> String {
    let bare = path.split_once('?').map_or(path, |(bare, _)| bare);
    format!("{method} {bare}")
}

pub(super) fn build_client(
    api_url: &str,
    token: &SecretString,
    connect: Duration,
) -> Result<Octocrab> {
    Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| Error::invalid("api_url", first_line(&e.to_string())))?
        .personal_token(token.expose_secret().to_owned())
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .set_connect_timeout(Some(connect))
        // The request timeout wraps each whole attempt (`send_once`).
        .set_read_timeout(None)
        .build()
        .map_err(|e| Error::Transport {
            message: first_line(&e.to_string()),
        })
}

/// Percent-encode each segment of a repository path for a URL (unreserved bytes kept).
pub(super) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl GithubForge {
    pub(super) fn scrub(&self, msg: &str) -> String {
        let t = self.token.expose_secret();
        if t.is_empty() {
            msg.to_owned()
        } else {
            msg.replace(t, "[redacted]")
        }
    }

    /// `/repos/<owner>/<name>/<rest>` of the GitOps repository.
    pub(super) fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{rest}", self.repository)
    }

    pub(super) fn timed_out(call: &str, after: Duration) -> Error {
        Error::Transport {
            message: format!("{call} timed out after {after:?} (the forge did not answer)"),
        }
    }

    /// A transport failure of `call`: a timeout says so; otherwise the first line of the
    /// client's error (never a response: those are handled by status), token scrubbed.
    pub(super) fn transport(&self, call: &str, e: &(dyn std::error::Error + 'static)) -> Error {
        let mut source = Some(e);
        while let Some(err) = source {
            let timeout = err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
                || err.to_string().to_ascii_lowercase().contains("timed out");
            if timeout {
                return Error::Transport {
                    message: format!(
                        "{call} timed out (connect timeout {:?}, request timeout {:?})",
                        self.connect_timeout, self.request_timeout
                    ),
                };
            }
            source = err.source();
        }
        Error::Transport {
            message: format!("{call}: {}", self.scrub(&first_line(&e.to_string()))),
        }
    }

    /// Read an answer whole, at most `limit` bytes of body (more is [`Error::TooLarge`]).
    pub(super) async fn read_answer<B>(
        &self,
        call: &str,
        response: http::Response<B>,
        limit: usize,
    ) -> Result<Resp>
    where
        B: http_body_util::BodyExt,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = response.into_parts();
        let collected = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Error::TooLarge {
                        what: format!("the answer to {call}"),
                        limit: format!("more than {} MiB", limit / (1024 * 1024)),
                    }
                } else {
                    self.transport(call, &*e)
                }
            })?;
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: collected.to_bytes().into(),
        })
    }

    /// One attempt, counted, bounded by the request timeout.
    async fn send_once(&self, method: &Method, path: &str, body: Option<&Value>) -> Result<Resp> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let call = call_name(method, path);
        let remembered = if *method == Method::GET {
            self.conditional.lookup(path)
        } else {
            None
        };
        // Content-creating calls take their turn: one at a time, paced (`pacing`).
        let turn = if *method == Method::GET {
            None
        } else {
            Some(self.pacer.turn().await)
        };
        let attempt = async {
            let r = match *method {
                Method::GET => {
                    let headers = remembered
                        .as_ref()
                        .and_then(|(etag, _)| http::HeaderValue::from_str(etag).ok())
                        .map(|tag| {
                            let mut h = HeaderMap::new();
                            h.insert(http::header::IF_NONE_MATCH, tag);
                            h
                        });
                    self.crab._get_with_headers(path, headers).await
                }
                Method::POST => self.crab._post(path, body).await,
                Method::PATCH => self.crab._patch(path, body).await,
                Method::PUT => self.crab._put(path, body).await,
                Method::DELETE => self.crab._delete(path, body).await,
                _ => return Err(Error::invalid("method", method.as_str())),
            }
            .map_err(|e| self.transport(&call, &e))?;
            self.read_answer(&call, r, MAX_BODY_BYTES).await
        };
        let resp = tokio::time::timeout(self.request_timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(Self::timed_out(&call, self.request_timeout)))?;
        drop(turn);
        if *method != Method::GET {
            return Ok(resp);
        }
        Ok(match (resp.status, remembered) {
            // Not modified: the body we remembered, as the success it stands for.
            (304, Some((_, body))) => {
                self.conditional.hit();
                Resp {
                    status: 200,
                    headers: resp.headers,
                    body,
                }
            }
            (304, None) => {
                self.conditional.forget(path);
                resp
            }
            (200, _) => {
                self.conditional.store(path, &resp.headers, &resp.body);
                resp
            }
            _ => resp,
        })
    }

    /// Send under the retry policy. Returns the final answer whatever its status, except a
    /// rate limit that outlasts the policy (`Throttled`, at once when the forge asks for a
    /// wait past the budget) and a failed attempt (transport errors and timeouts are repeated
    /// on reads only: a write may have landed).
    ///
    /// A rate limit that names its wait (`retry-after`, `x-ratelimit-reset`) is waited out as
    /// often as it takes within the policy's total time (at most [`THROTTLE_ROUNDS`] rounds of
    /// the policy's attempts): waiting is what GitHub asks, and a limit that waiting lifts must
    /// never reach the user as an error.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Resp> {
        let started = std::time::Instant::now();
        let mut round = 1;
        loop {
            let outcome = self.send_round(&method, path, body).await;
            if let Err(Attempt::Answer {
                throttled: true,
                hint: Some(wait),
                ..
            }) = &outcome
                && round < THROTTLE_ROUNDS
                && started.elapsed().saturating_add(*wait) <= self.retry.max_total
            {
                tracing::debug!(%method, path, ?wait, "rate limited: waiting as the forge asked");
                tokio::time::sleep(*wait).await;
                round += 1;
                continue;
            }
            return self.settle(&method, path, outcome);
        }
    }

    /// One round of attempts under the retry policy.
    async fn send_round(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<Resp, Attempt> {
        let read = *method == Method::GET;
        gitops_retry::retry(
            self.retry,
            || async {
                match self.send_once(method, path, body).await {
                    Ok(resp) => match classify(resp.status, &resp.headers, &resp.body) {
                        None => Ok(resp),
                        Some(kind) => {
                            if kind == Retryable::RateLimited {
                                self.pacer.press();
                            }
                            tracing::debug!(%method, path, status = resp.status, "forge call may be retried");
                            Err(Attempt::Answer {
                                hint: server_hint(&resp.headers, SystemTime::now()),
                                throttled: kind == Retryable::RateLimited,
                                resp,
                            })
                        }
                    },
                    Err(e) => Err(Attempt::Failed(e)),
                }
            },
            |attempt| match attempt {
                Attempt::Answer {
                    hint: Some(wait), ..
                } => Retry::After(*wait),
                Attempt::Answer { .. } => Retry::Backoff,
                Attempt::Failed(Error::Transport { .. }) if read => Retry::Backoff,
                Attempt::Failed(_) => Retry::Never,
            },
        )
        .await
    }

    /// The result of a call's last round.
    fn settle(
        &self,
        method: &Method,
        path: &str,
        outcome: std::result::Result<Resp, Attempt>,
    ) -> Result<Resp> {
        match outcome {
            Err(Attempt::Answer {
                throttled: true,
                hint,
                ..
            }) => Err(Error::Throttled { retry_after: hint }),
            Ok(resp) if resp.status == 403 && refused_for_permission(&resp.message()) => {
                Err(Error::Unauthorized {
                    message: self.scrub(&refusal(method, path, &resp.message())),
                })
            }
            // A 5xx the policy did not outlast: the caller maps it (`Api`, retryable).
            Ok(resp) | Err(Attempt::Answer { resp, .. }) => Ok(resp),
            Err(Attempt::Failed(e)) => Err(e),
        }
    }

    /// The error of a final non-success answer.
    pub(super) fn error(&self, what: &str, resp: &Resp) -> Error {
        let message = self.scrub(&resp.message());
        match resp.status {
            401 | 403 => Error::Unauthorized { message },
            404 => Error::not_found(what.to_owned()),
            409 => Error::conflict(message),
            422 => Error::invalid(what, message),
            429 => Error::Throttled { retry_after: None },
            // Which call failed (the path without its query), as the other errors say.
            status => Error::Api {
                status,
                message: format!(
                    "{}: {message}",
                    what.split_once('?').map_or(what, |(bare, _)| bare)
                ),
            },
        }
    }

    /// Send, and read a success as `T` (anything else is an error).
    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let call = call_name(&method, path);
        let resp = self.send(method, path, body).await?;
        if resp.ok() {
            resp.parse(&call)
        } else {
            Err(self.error(path, &resp))
        }
    }

    /// Send a write whose answer we do not need; anything but a success is an error.
    pub(super) async fn write(&self, method: Method, path: &str, body: &Value) -> Result<()> {
        let resp = self.send(method, path, Some(body)).await?;
        if resp.ok() {
            Ok(())
        } else {
            Err(self.error(path, &resp))
        }
    }

    /// GET a JSON array, following `page=` while pages are full.
    pub(super) async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        self.pages(path, |page: Vec<T>| page).await
    }

    /// GET a paginated answer `P` holding items, following `page=` while pages are full; a
    /// list longer than 5,000 items is refused rather than cut short.
    pub(super) async fn pages<P: DeserializeOwned, T>(
        &self,
        path: &str,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        for page in 1..=MAX_PAGES {
            let answer: P = self
                .json(
                    Method::GET,
                    &format!("{path}{sep}per_page={PER_PAGE}&page={page}"),
                    None,
                )
                .await?;
            let page = items(answer);
            let full = page.len() >= PER_PAGE;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
        Err(Error::TooLarge {
            what: call_name(&Method::GET, path),
            limit: format!("more than {} items", PER_PAGE * MAX_PAGES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn classification() {
        let none = HeaderMap::new();
        assert_eq!(classify(502, &none, b""), Some(Retryable::ServerError));
        assert_eq!(classify(429, &none, b""), Some(Retryable::RateLimited));
        for s in [400, 401, 404, 405, 409, 422] {
            assert_eq!(classify(s, &none, b"whatever"), None, "{s}");
        }
        assert_eq!(
            classify(403, &none, br#"{"message":"Resource not accessible"}"#),
            None
        );
        assert_eq!(
            classify(
                403,
                &none,
                br#"{"message":"You have exceeded a secondary rate limit"}"#
            ),
            Some(Retryable::RateLimited)
        );
        assert_eq!(
            classify(403, &headers(&[("retry-after", "3")]), b""),
            Some(Retryable::RateLimited)
        );
        assert_eq!(
            classify(403, &headers(&[("x-ratelimit-remaining", "0")]), b""),
            Some(Retryable::RateLimited)
        );
    }

    #[test]
    fn hints() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            server_hint(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            server_hint(
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1010")
                ]),
                now
            ),
            Some(Duration::from_secs(11))
        );
        assert_eq!(
            server_hint(
                &headers(&[
                    ("x-ratelimit-remaining", "10"),
                    ("x-ratelimit-reset", "1010")
                ]),
                now
            ),
            None
        );
        assert_eq!(server_hint(&HeaderMap::new(), now), None);
    }

    fn resp(status: u16, body: &str) -> Resp {
        Resp {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn messages_never_show_a_raw_body() {
        assert_eq!(
            resp(
                422,
                r#"{"message":"Validation Failed","errors":[{"code":"x"}]}"#
            )
            .message(),
            r#"Validation Failed ([{"code":"x"}])"#
        );
        assert_eq!(
            resp(404, r#"{"message":"Not Found"}"#).message(),
            "Not Found"
        );
        assert_eq!(
            resp(502, "<html>secret proxy page</html>").message(),
            "HTTP 502"
        );
    }

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        sha: String,
        #[serde(deserialize_with = "nullable")]
        body: Option<String>,
    }

    #[test]
    fn answers_parse_strictly() {
        let ok: Sample = resp(200, r#"{"sha":"x","body":null}"#)
            .parse("GET x")
            .unwrap();
        assert_eq!(ok.body, None);
        let missing = resp(200, r#"{"body":"b"}"#)
            .parse::<Sample>("GET /repos/a/b/git/commits/c")
            .unwrap_err();
        let Error::Malformed { what, reason } = &missing else {
            panic!("{missing:?}");
        };
        assert_eq!(what, "GET /repos/a/b/git/commits/c");
        assert!(reason.contains("missing field `sha`"), "{reason}");
        assert!(!missing.is_retryable());
        let absent_nullable = resp(200, r#"{"sha":"x"}"#)
            .parse::<Sample>("GET x")
            .unwrap_err();
        assert!(
            absent_nullable.to_string().contains("missing field `body`"),
            "{absent_nullable}"
        );
        let not_json = resp(200, "<html>").parse::<Sample>("GET x").unwrap_err();
        assert!(matches!(not_json, Error::Malformed { .. }), "{not_json:?}");
        assert!(!not_json.is_retryable());
    }

    #[test]
    fn refusals_name_the_permission_the_call_needs() {
        let need = |m: Method, p: &str| permission_for(&m, p).map(|(perm, _)| perm);
        let cases = [
            (Method::POST, "/repos/a/b/pulls", "pull-requests: write"),
            (
                Method::GET,
                "/repos/a/b/pulls?state=open&page=2",
                "pull-requests: read",
            ),
            (Method::PUT, "/repos/a/b/pulls/3/merge", "contents: write"),
            (Method::POST, "/repos/a/b/statuses/abc", "statuses: write"),
            (
                Method::GET,
                "/repos/a/b/commits/abc/status",
                "statuses: read",
            ),
            (
                Method::GET,
                "/repos/a/b/commits/abc/check-runs",
                "checks: read",
            ),
            (Method::POST, "/repos/a/b/deployments", "deployments: write"),
            (
                Method::GET,
                "/repos/a/b/deployments/7/statuses",
                "deployments: read",
            ),
            (Method::POST, "/repos/a/b/git/refs", "contents: write"),
            (Method::GET, "/repos/a/b/contents/x.yaml", "contents: read"),
            (Method::POST, "/repos/a/b/dispatches", "contents: write"),
            (Method::GET, "/repos/a/b/actions/runs", "actions: read"),
            (
                Method::POST,
                "/repos/a/b/issues/3/comments",
                "issues: write",
            ),
            (
                Method::GET,
                "/repos/a/b/collaborators/x/permission",
                "metadata: read",
            ),
            (Method::GET, "/repos/a/b", "metadata: read"),
        ];
        for (m, p, want) in cases {
            assert_eq!(need(m.clone(), p).as_deref(), Some(want), "{m} {p}");
        }
        assert_eq!(need(Method::GET, "/user"), None);
        assert_eq!(
            refusal(
                &Method::POST,
                "/repos/acme/checkout/deployments",
                "Resource not accessible by integration"
            ),
            "GitHub refused POST /repos/acme/checkout/deployments: the token lacks \
             `deployments: write` on acme/checkout (403 Resource not accessible by integration)"
        );
        assert!(refused_for_permission(
            "Resource not accessible by integration"
        ));
        assert!(refused_for_permission(
            "Resource not accessible by personal access token"
        ));
        assert!(!refused_for_permission(
            "Must have admin rights to Repository."
        ));
    }

    #[test]
    fn call_names_drop_the_query() {
        assert_eq!(
            call_name(&Method::GET, "/repos/a/b/pulls?state=open&page=2"),
            "GET /repos/a/b/pulls"
        );
        assert_eq!(encode_path("a b/c%d.json"), "a%20b/c%25d.json");
    }
}
