//! The HTTP side of fake-github, organised as GitHub's REST API is: one module per resource
//! (`repos` and contents, `git_data`, `pulls`, `issues`, `checks`, `deployments`, `actions`)
//! over shared plumbing: `routes` (the operation table), `auth`, `faults`, `admin` (the
//! `/_fake/` test hooks), `pagination`, `rate_limit`, `conformance` (OpenAPI checks), `wire`
//! (responses, API errors, request bodies) and `ctx` (a request's view of one repository).

// Handlers follow GitHub's vocabulary: `n` a number, `b` a body, `p` a pull request, `q` a query.
#![allow(clippy::many_single_char_names)]

mod actions;
mod admin;
mod app_jwt;
mod apps;
mod auth;
mod checks;
mod collaborators;
mod conditional;
mod conformance;
mod ctx;
mod deployments;
mod environments;
mod events;
mod faults;
mod git_data;
mod hooks;
mod issues;
mod job_tokens;
mod pagination;
mod permissions;
mod pulls;
mod rate_limit;
mod releases;
mod repos;
mod routes;
mod runs;
mod wire;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

pub use faults::Fault;
pub use rate_limit::{BucketUse, RateLimits};

use crate::Error;
use crate::openapi::{OpenApi, Violation};
use crate::state::State;
use wire::{ApiError, Encoded, Resp, err, parse_query};

/// One served request (`GET /_fake/requests`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// Who asked (`github-actions[bot]` for a job's `GITHUB_TOKEN`; empty when unknown).
    #[serde(default)]
    pub login: String,
}

/// Server-wide state.
pub struct App {
    data: PathBuf,
    base_url: OnceLock<String>,
    default_login: String,
    state: Mutex<State>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<RequestRecord>>,
    violations: Mutex<Vec<Violation>>,
    openapi: Option<Arc<OpenApi>>,
    used: AtomicU64,
    /// GitHub's limits, modelled once a test turns them on (`rate_limit::Model`).
    limits: Mutex<Option<rate_limit::Model>>,
    /// The workflow runner, once started (`App::start_runner`).
    runner: OnceLock<runs::Runner>,
    /// Every login that has called the API (reviewers are named by user id).
    logins: Mutex<std::collections::BTreeSet<String>>,
    /// Registered GitHub Apps and their installation tokens.
    apps: apps::Apps,
    /// Registered webhooks and their deliveries.
    hooks: hooks::Hooks,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("data", &self.data)
            .field("openapi", &self.openapi)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    /// Loads the state under `data` and the OpenAPI description, if any.
    pub fn new(data: &Path, openapi: Option<&Path>) -> Result<Self, Error> {
        std::fs::create_dir_all(data).map_err(|e| Error::Io(format!("{}: {e}", data.display())))?;
        // Absolute, so no git command ever depends on the working directory.
        let data =
            std::path::absolute(data).map_err(|e| Error::Io(format!("{}: {e}", data.display())))?;
        let state = State::load(&data)?;
        let openapi = openapi.map(OpenApi::load_shared).transpose()?;
        Ok(Self {
            data,
            base_url: OnceLock::new(),
            default_login: "gitops-bot".into(),
            state: Mutex::new(state),
            locks: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            openapi,
            used: AtomicU64::new(0),
            limits: Mutex::new(None),
            runner: OnceLock::new(),
            logins: Mutex::new(std::collections::BTreeSet::new()),
            apps: apps::Apps::default(),
            hooks: hooks::Hooks::default(),
        })
    }

    /// Sets the base URL once the listener is bound.
    pub fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// The login whose user id is `id`, among those fake-github has seen.
    fn known_login(&self, id: u64) -> Option<String> {
        lock(&self.logins)
            .iter()
            .find(|l| crate::json::user_id(l) == id)
            .cloned()
    }

    fn base(&self) -> &str {
        self.base_url
            .get()
            .map_or("http://127.0.0.1", String::as_str)
    }
}

/// Builds the axum router.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

/// Every request: read the body, serve test hooks, inject faults, authenticate, check the
/// body against GitHub's schema, route (on a blocking thread: git runs as a process), then
/// log, check the response and add headers.
async fn handle(AxState(app): AxState<Arc<App>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let headers = req.headers().clone();
    let conn = req
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::aws_proxy::faults::ConnReset>>()
        .map(|c| c.0.clone());
    let body = match axum::body::to_bytes(req.into_body(), 100 * 1024 * 1024).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return finish(
                &app,
                &method,
                &path,
                err(413, "Payload Too Large").into_resp(),
                false,
            );
        }
    };

    if path == "/_fake/oidc/token" {
        let resp = runs::oidc_token(&app, &headers, &query).unwrap_or_else(ApiError::into_resp);
        return to_response(&app, resp.encode(), false);
    }
    if path == "/_fake/tokens" && method == "POST" {
        return to_response(&app, job_tokens::mint(&app, &body).encode(), false);
    }
    if let Some(admin) = path.strip_prefix("/_fake/") {
        let resp = admin::route(&app, &method, admin, &body);
        return to_response(&app, resp.encode(), false);
    }

    // Faults first, as a proxy in front of GitHub would inject them.
    if let Some((fault, latency)) = faults::take(&app, &method, &path) {
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if let Some(f) = fault {
            if f.status == Some(faults::RESET) {
                // Dropped without an answer (the 502 below is never delivered when served by
                // `serve`, whose connections can be reset).
                if let Some(conn) = &conn {
                    conn.reset();
                }
                return finish(&app, &method, &path, Resp::empty(502), false);
            }
            let resp = faults::response(&f);
            return finish(&app, &method, &path, resp, false);
        }
    }

    // The App flow authenticates with a JWT, not a token.
    if let Some(resp) = app_jwt::route(&app, &method, &path, &headers) {
        return finish(&app, &method, &path, resp, false);
    }

    let codeload = path.starts_with("/_codeload/");
    let (mut job_repo, mut installation) = (None, None);
    let login = match auth::login(&app, &headers) {
        Some(auth::Caller::Token(grant)) => {
            if let Err(e) = runs::authorize(&app, &grant, &method, &path) {
                return finish(&app, &method, &path, e.into_resp(), true);
            }
            job_repo = Some(grant.repo.clone());
            events::ACTIONS_BOT.to_owned()
        }
        Some(auth::Caller::App(t)) => {
            if let Err(e) = apps::authorize(&app, &t, &method, &path) {
                return finish(&app, &method, &path, e.into_resp(), true);
            }
            installation = Some(t.login());
            t.login()
        }
        Some(auth::Caller::Revoked) => {
            return finish(
                &app,
                &method,
                &path,
                err(401, "Bad credentials").into_resp(),
                true,
            );
        }
        Some(auth::Caller::Login(l)) => {
            lock(&app.logins).insert(l.clone());
            l
        }
        None if codeload => app.default_login.clone(),
        None => {
            return finish(
                &app,
                &method,
                &path,
                err(401, "Requires authentication").into_resp(),
                true,
            );
        }
    };
    if !codeload && let Err(e) = conformance::check_request(&app, &method, &path, &body) {
        return finish(&app, &method, &path, e.into_resp(), true);
    }
    let bucket = rate_limit::Bucket::of(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        job_repo.as_deref(),
        installation.as_deref(),
    );
    let admitted = match rate_limit::gate(&app, &bucket, &method, &path).await {
        Ok(a) => a,
        Err(refused) => {
            let resp = refused.encode();
            record(&app, &method, &path, resp.status, &login);
            return to_response(&app, resp, false);
        }
    };
    let login_of_log = login.clone();
    let app2 = Arc::clone(&app);
    let (m2, p2) = (method.clone(), path.clone());
    let resp = tokio::task::spawn_blocking(move || {
        let segs: Vec<String> = p2
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        routes::route(&app2, &login, &m2, &segs, &query, &body).unwrap_or_else(ApiError::into_resp)
    })
    .await
    .unwrap_or_else(|_| err(500, "Server Error").into_resp());
    let resp = resp.encode();
    if !codeload {
        conformance::check_response(&app, &method, &path, &resp);
    }
    // A 304 is free on the rate limit; everything else routed counts.
    let (mut resp, not_modified) = conditional::apply(&method, &headers, resp);
    if !not_modified {
        rate_limit::count(&app, &path);
    }
    resp.headers
        .extend(rate_limit::settle(&app, &bucket, admitted, not_modified));
    record(&app, &method, &path, resp.status, &login_of_log);
    to_response(&app, resp, true)
}

fn record(app: &App, method: &str, path: &str, status: u16, login: &str) {
    lock(&app.log).push(RequestRecord {
        method: method.to_owned(),
        path: path.to_owned(),
        status,
        login: login.to_owned(),
    });
}

/// Encodes a response, logs it, checks it against the description when `validate`, and
/// sends it with the rate-limit headers.
fn finish(app: &App, method: &str, path: &str, resp: Resp, validate: bool) -> Response {
    let resp = resp.encode();
    record(app, method, path, resp.status, "");
    if validate {
        conformance::check_response(app, method, path, &resp);
    }
    to_response(app, resp, true)
}

/// Builds the HTTP response with GitHub's headers (`x-ratelimit-*` when `rate_headers`).
fn to_response(app: &App, resp: Encoded, rate_headers: bool) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(Body::from(resp.bytes));
    *out.status_mut() = status;
    let h: &mut HeaderMap = out.headers_mut();
    if let Some(t) = resp.content_type {
        h.insert("content-type", HeaderValue::from_static(t));
    }
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    let rate = if rate_headers {
        rate_limit::headers(app)
    } else {
        Vec::new()
    };
    for (k, v) in rate.into_iter().chain(resp.headers) {
        match HeaderValue::from_str(&v) {
            Ok(v) => {
                h.insert(k, v);
            }
            Err(_) => eprintln!(
                "fake-github: internal error: header {k}: {v:?} is not a valid value; not sent"
            ),
        }
    }
    out
}
