//! The HTTP side of fake-github: auth, faults, request log, OpenAPI checks, and the
//! REST routes (dispatched by hand over path segments, so refs and paths may hold slashes).

// Handlers follow GitHub's vocabulary: `n` a number, `b` a body, `p` a pull request, `q` a query.
#![allow(clippy::many_single_char_names)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Error;
use crate::git::{self, Repo, TreeOp, ZERO_OID};
use crate::json::{self as j, PullGit, now};
use crate::openapi::{OpenApi, Violation};
use crate::state::{
    CheckRun, Comment, Deployment, DeploymentStatus, Dispatch, Pull, RepoData, RepoMeta, Review,
    State, Status, WorkflowRun,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const RATE_LIMIT: u64 = 5000;

/// An injected fault (`POST /_fake/faults`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    /// Regex matched against the request path (no query).
    pub path_regex: String,
    /// Only this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer instead of serving (503, 429, 403, ...); none = only add latency.
    #[serde(default)]
    pub status: Option<u16>,
    /// `retry-after` seconds to send.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How many matching requests it applies to (forever when absent).
    #[serde(default)]
    pub count: Option<u32>,
    /// Delay before answering.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// For 403: a primary rate limit (`x-ratelimit-remaining: 0`) instead of a secondary one.
    #[serde(default)]
    pub primary: bool,
}

/// One served request (`GET /_fake/requests`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Status answered.
    pub status: u16,
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
        })
    }

    /// Sets the base URL once the listener is bound.
    pub fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
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

// ---------------------------------------------------------------- responses

#[derive(Debug)]
struct Resp {
    status: u16,
    body: RespBody,
    headers: Vec<(&'static str, String)>,
}

#[derive(Debug)]
enum RespBody {
    Json(Value),
    Bytes(Vec<u8>, &'static str),
    Empty,
}

impl Resp {
    fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            body: RespBody::Json(v),
            headers: Vec::new(),
        }
    }
    fn empty(status: u16) -> Self {
        Self {
            status,
            body: RespBody::Empty,
            headers: Vec::new(),
        }
    }
    fn header(mut self, k: &'static str, v: String) -> Self {
        self.headers.push((k, v));
        self
    }
}

#[derive(Debug)]
struct ApiError {
    status: u16,
    message: String,
    errors: Option<Value>,
}

type R = Result<Resp, ApiError>;

fn err(status: u16, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
        errors: None,
    }
}

fn not_found() -> ApiError {
    err(404, "Not Found")
}

fn invalid(message: impl Into<String>, errors: Value) -> ApiError {
    ApiError {
        status: 422,
        message: message.into(),
        errors: Some(errors),
    }
}

fn missing(resource: &str, field: &str) -> ApiError {
    invalid(
        "Validation Failed",
        json!([{"resource": resource, "code": "missing_field", "field": field}]),
    )
}

fn bad_field(resource: &str, field: &str) -> ApiError {
    invalid(
        "Validation Failed",
        json!([{"resource": resource, "code": "invalid", "field": field}]),
    )
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        eprintln!("fake-github: internal error: {e}");
        err(500, "Server Error")
    }
}

impl ApiError {
    fn into_resp(self) -> Resp {
        let mut body = j::error(&self.message, self.status);
        if let (Some(errors), Some(o)) = (self.errors, body.as_object_mut()) {
            o.insert("errors".into(), errors);
        }
        Resp::json(self.status, body)
    }
}

// ---------------------------------------------------------------- the entry point

async fn handle(AxState(app): AxState<Arc<App>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let headers = req.headers().clone();
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

    if let Some(admin) = path.strip_prefix("/_fake/") {
        let resp = admin_route(&app, &method, admin, &body);
        return to_response(&app, resp, false);
    }

    // Faults first, as a proxy in front of GitHub would inject them.
    if let Some((fault, latency)) = take_fault(&app, &method, &path) {
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if let Some(f) = fault {
            let resp = fault_response(&f);
            return finish(&app, &method, &path, resp, false);
        }
    }

    let codeload = path.starts_with("/_codeload/");
    let login = match auth_login(&app, &headers) {
        Some(l) => l,
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
    // GitHub validates request bodies against its schema and answers 422 when they do not
    // conform; with the description loaded, so does the fake. That is the client's mistake,
    // answered like GitHub answers it, not a violation of the fake's own.
    if let Some(api) = &app.openapi
        && !codeload
        && !body.iter().all(u8::is_ascii_whitespace)
        && let Some((_, errors)) = api.check_request(&method, &path, &body)
        && let Some(first) = errors.first()
    {
        eprintln!("fake-github: invalid request body: {method} {path}: {first}");
        let message = format!("Invalid request.\n\n{first}");
        return finish(&app, &method, &path, err(422, message).into_resp(), true);
    }
    if path != "/rate_limit" {
        app.used.fetch_add(1, Ordering::Relaxed);
    }

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
        route(&app2, &login, &m2, &segs, &query, &body).unwrap_or_else(ApiError::into_resp)
    })
    .await
    .unwrap_or_else(|_| err(500, "Server Error").into_resp());
    finish(&app, &method, &path, resp, !codeload)
}

fn finish(app: &App, method: &str, path: &str, resp: Resp, validate: bool) -> Response {
    lock(&app.log).push(RequestRecord {
        method: method.to_owned(),
        path: path.to_owned(),
        status: resp.status,
    });
    if validate && let Some(api) = &app.openapi {
        let (bytes, is_json) = match &resp.body {
            RespBody::Json(v) => (serde_json::to_vec(v).unwrap_or_default(), true),
            RespBody::Bytes(b, _) => (b.clone(), false),
            RespBody::Empty => (Vec::new(), false),
        };
        let checked = match api.check(method, path, resp.status, &bytes, is_json) {
            Some(found) => Some(found),
            // GitHub answers 404 for paths it does not know, so only successes must match.
            None if resp.status >= 400 => None,
            None => Some((
                String::new(),
                vec!["no operation in the OpenAPI description matches this request".to_owned()],
            )),
        };
        if let Some((operation, errors)) = checked
            && !errors.is_empty()
        {
            for e in &errors {
                eprintln!(
                    "fake-github: OpenAPI violation: {method} {path} -> {}: {e}",
                    resp.status
                );
            }
            lock(&app.violations).push(Violation {
                method: method.to_owned(),
                path: path.to_owned(),
                operation,
                status: resp.status,
                errors,
            });
        }
    }
    to_response(app, resp, true)
}

fn to_response(app: &App, resp: Resp, rate_headers: bool) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (body, ctype) = match resp.body {
        RespBody::Json(v) => (
            Body::from(serde_json::to_vec(&v).unwrap_or_default()),
            Some("application/json; charset=utf-8"),
        ),
        RespBody::Bytes(b, t) => (Body::from(b), Some(t)),
        RespBody::Empty => (Body::empty(), None),
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    let h: &mut HeaderMap = out.headers_mut();
    if let Some(t) = ctype {
        h.insert("content-type", HeaderValue::from_static(t));
    }
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    if rate_headers {
        let used = app.used.load(Ordering::Relaxed);
        let reset = now() + 3600;
        for (k, v) in [
            ("x-ratelimit-limit", RATE_LIMIT.to_string()),
            (
                "x-ratelimit-remaining",
                RATE_LIMIT.saturating_sub(used).to_string(),
            ),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-resource", "core".to_owned()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
    }
    for (k, v) in resp.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    out
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The login a token stands for: `<login>:<secret>` tokens name their user, others are the bot.
fn auth_login(app: &App, headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
        return None;
    }
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    match token.split_once(':') {
        Some((login, _))
            if !login.is_empty()
                && login
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Some(login.to_owned())
        }
        _ => Some(app.default_login.clone()),
    }
}

// ---------------------------------------------------------------- faults and admin

/// Returns (fault to answer with, latency to add) for the first matching fault.
fn take_fault(app: &App, method: &str, path: &str) -> Option<(Option<Fault>, u64)> {
    let mut faults = lock(&app.faults);
    let idx = faults.iter().position(|f| {
        f.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && regex::Regex::new(&f.path_regex).is_ok_and(|r| r.is_match(path))
    })?;
    let fault = faults[idx].clone();
    if let Some(c) = faults[idx].count.as_mut() {
        *c = c.saturating_sub(1);
        if *c == 0 {
            faults.remove(idx);
        }
    }
    Some((
        fault.status.is_some().then(|| fault.clone()),
        fault.latency_ms.unwrap_or(0),
    ))
}

fn fault_response(f: &Fault) -> Resp {
    let status = f.status.unwrap_or(503);
    let reset = now() + i64::try_from(f.retry_after.unwrap_or(60)).unwrap_or(60);
    let mut resp = match status {
        403 if !f.primary => Resp::json(
            403,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403",
            }),
        ),
        403 | 429 => Resp::json(
            status,
            json!({
                "message": "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
                "status": status.to_string(),
            }),
        )
        .header("x-ratelimit-remaining", "0".into())
        .header("x-ratelimit-reset", reset.to_string()),
        _ => Resp::json(status, j::error(if status >= 500 { "Server Error" } else { "Injected fault" }, status)),
    };
    if let Some(s) = f.retry_after {
        resp = resp.header("retry-after", s.to_string());
    }
    resp
}

fn admin_route(app: &App, method: &str, path: &str, body: &[u8]) -> Resp {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["faults"]) => Resp::json(200, json!(*lock(&app.faults))),
        ("POST", ["faults"]) => match serde_json::from_slice::<Fault>(body) {
            Ok(f) if regex::Regex::new(&f.path_regex).is_ok() => {
                lock(&app.faults).push(f);
                Resp::empty(204)
            }
            Ok(_) => Resp::json(422, j::error("path_regex is not a valid regex", 422)),
            Err(e) => Resp::json(400, j::error(&format!("bad fault: {e}"), 400)),
        },
        ("DELETE", ["faults"]) => {
            lock(&app.faults).clear();
            Resp::empty(204)
        }
        ("GET", ["requests"]) => Resp::json(200, json!(*lock(&app.log))),
        ("DELETE", ["requests"]) => {
            lock(&app.log).clear();
            Resp::empty(204)
        }
        ("GET", ["violations"]) => Resp::json(200, json!(*lock(&app.violations))),
        ("DELETE", ["violations"]) => {
            lock(&app.violations).clear();
            Resp::empty(204)
        }
        ("GET", ["openapi"]) => Resp::json(200, json!({"enabled": app.openapi.is_some()})),
        // Moves a workflow run along: {"status": "completed", "conclusion": "success"}.
        ("PATCH", ["runs", owner, repo, id]) => {
            let Ok(v) = serde_json::from_slice::<Value>(body) else {
                return Resp::json(400, j::error("Problems parsing JSON", 400));
            };
            let key = repo_key(owner, repo);
            let mut st = lock(&app.state);
            let Some(run) = st
                .repos
                .get_mut(&key)
                .and_then(|d| d.runs.iter_mut().find(|r| r.id.to_string() == *id))
            else {
                return Resp::json(404, j::error("Not Found", 404));
            };
            if let Some(s) = v.get("status").and_then(Value::as_str) {
                s.clone_into(&mut run.status);
            }
            if let Some(c) = v.get("conclusion") {
                run.conclusion = c.as_str().map(str::to_owned);
            }
            run.updated_at = now();
            let _ = st.save(&app.data);
            Resp::empty(204)
        }
        _ => Resp::json(404, j::error("Not Found", 404)),
    }
}

// ---------------------------------------------------------------- routing

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| err(400, "Problems parsing JSON"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(err(400, "Problems parsing JSON"))
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn repo_key(owner: &str, name: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

fn route(
    app: &App,
    login: &str,
    method: &str,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
) -> R {
    match (method, segs) {
        ("GET", ["rate_limit"]) => Ok(rate_limit(app)),
        ("POST", ["user", "repos"]) => create_repo(app, login, false, &body_json(body)?),
        ("POST", ["orgs", org, "repos"]) => create_repo(app, org, true, &body_json(body)?),
        ("GET", ["_codeload", owner, repo, "legacy.tar.gz", sha]) => {
            let ctx = Ctx::open(app, login, owner, repo)?;
            ctx.codeload(sha)
        }
        (_, ["repos", owner, repo, rest @ ..]) => {
            let ctx = Ctx::open(app, login, owner, repo)?;
            let mutating = method != "GET" && method != "HEAD";
            let repo_lock = if mutating {
                let key = repo_key(owner, repo);
                Some(Arc::clone(lock(&app.locks).entry(key).or_default()))
            } else {
                None
            };
            let _guard = repo_lock.as_ref().map(|l| lock(l));
            ctx.route(method, rest, q, body)
        }
        _ => Err(not_found()),
    }
}

fn rate_limit(app: &App) -> Resp {
    let used = app.used.load(Ordering::Relaxed);
    let reset = now() + 3600;
    let core = json!({"limit": RATE_LIMIT, "remaining": RATE_LIMIT.saturating_sub(used), "reset": reset, "used": used, "resource": "core"});
    let other = |name: &str, limit: u64| json!({"limit": limit, "remaining": limit, "reset": reset, "used": 0, "resource": name});
    Resp::json(
        200,
        json!({
            "resources": {
                "core": core,
                "search": other("search", 30),
                "graphql": other("graphql", 5000),
                "integration_manifest": other("integration_manifest", 5000),
                "code_search": other("code_search", 10),
            },
            "rate": core,
        }),
    )
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn create_repo(app: &App, owner: &str, is_org: bool, b: &Value) -> R {
    let Some(name) = s(b, "name") else {
        return Err(missing("Repository", "name"));
    };
    if !valid_name(name) || !valid_name(owner) || owner.starts_with('_') {
        return Err(bad_field("Repository", "name"));
    }
    let key = repo_key(owner, name);
    let mut st = lock(&app.state);
    if st.repos.get(&key).is_some_and(|d| d.meta.is_some()) {
        return Err(invalid(
            "Repository creation failed.",
            json!([{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]),
        ));
    }
    let t = now();
    let meta = RepoMeta {
        id: st.id(),
        owner: owner.to_owned(),
        name: name.to_owned(),
        owner_is_org: is_org,
        private: b.get("private").and_then(Value::as_bool).unwrap_or(false),
        description: s(b, "description").map(str::to_owned),
        default_branch: "main".into(),
        created_at: t,
        updated_at: t,
    };
    let dir = repo_dir(&app.data, owner, name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::Io(e.to_string()))?;
    }
    let repo = Repo::init(&dir, &meta.default_branch)?;
    if b.get("auto_init").and_then(Value::as_bool) == Some(true) {
        let readme = match &meta.description {
            Some(d) => format!("# {name}\n{d}\n"),
            None => format!("# {name}\n"),
        };
        let blob = repo.hash_object(readme.as_bytes())?;
        let tree = repo.build_tree(
            None,
            &[TreeOp::Put {
                path: "README.md".into(),
                mode: "100644".into(),
                sha: blob,
            }],
        )?;
        let commit = repo.commit_tree(&tree, &[], "Initial commit", None, None)?;
        repo.update_ref("refs/heads/main", &commit, ZERO_OID)?;
    }
    let json = j::repo(app.base(), &meta, 0, t);
    st.repos.insert(
        key,
        RepoData {
            meta: Some(meta),
            next_number: 1,
            ..RepoData::default()
        },
    );
    st.save(&app.data)?;
    Ok(Resp::json(201, json))
}

fn repo_dir(data: &Path, owner: &str, name: &str) -> PathBuf {
    data.join(owner.to_ascii_lowercase())
        .join(format!("{}.git", name.to_ascii_lowercase()))
}

/// GitHub's path rules for tree entries and contents.
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\0')
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git"))
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(clean).ok()
}

/// Base64 with a newline every 60 characters, as GitHub sends file and blob content.
fn encode_b64(bytes: &[u8]) -> String {
    let flat = B64.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for (i, c) in flat.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn page(items: Vec<Value>, q: &HashMap<String, String>, url: &str) -> Resp {
    let per = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let pg = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let out: Vec<Value> = items.into_iter().skip((pg - 1) * per).take(per).collect();
    let mut resp = Resp::json(200, Value::Array(out));
    if pg * per < total {
        let mut others: Vec<String> = q
            .iter()
            .filter(|(k, _)| *k != "page" && *k != "per_page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        others.sort();
        let extra: String = others.iter().flat_map(|kv| ["&", kv.as_str()]).collect();
        resp = resp.header(
            "link",
            format!(
                "<{url}?per_page={per}&page={}{extra}>; rel=\"next\"",
                pg + 1
            ),
        );
    }
    resp
}

/// A request's view of one repository.
struct Ctx<'a> {
    app: &'a App,
    login: &'a str,
    key: String,
    meta: RepoMeta,
    git: Repo,
    full: String,
}

fn who(v: Option<&Value>) -> Option<(String, String, Option<String>)> {
    let v = v?;
    Some((
        s(v, "name")?.to_owned(),
        s(v, "email")?.to_owned(),
        s(v, "date").map(str::to_owned),
    ))
}

impl<'a> Ctx<'a> {
    fn open(app: &'a App, login: &'a str, owner: &str, name: &str) -> Result<Self, ApiError> {
        let key = repo_key(owner, name);
        let meta = lock(&app.state)
            .repos
            .get(&key)
            .and_then(|d| d.meta.clone())
            .ok_or_else(not_found)?;
        let git = Repo::open(repo_dir(&app.data, &meta.owner, &meta.name));
        let full = format!("{}/{}", meta.owner, meta.name);
        Ok(Self {
            app,
            login,
            key,
            meta,
            git,
            full,
        })
    }

    fn base(&self) -> &str {
        self.app.base()
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/repos/{}/{rest}", self.base(), self.full)
    }

    /// Reads this repository's metadata.
    fn read<T>(&self, f: impl FnOnce(&RepoData) -> T) -> T {
        let st = lock(&self.app.state);
        let empty = RepoData::default();
        f(st.repos.get(&self.key).unwrap_or(&empty))
    }

    /// Changes this repository's metadata and persists it.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut RepoData, &mut dyn FnMut() -> u64) -> T,
    ) -> Result<T, ApiError> {
        let mut st = lock(&self.app.state);
        let mut next = st.next_id;
        let out = {
            let data = st.repos.entry(self.key.clone()).or_default();
            let mut id = || {
                next += 1;
                next
            };
            f(data, &mut id)
        };
        st.next_id = next;
        st.save(&self.app.data)?;
        Ok(out)
    }

    fn repo_json(&self) -> Value {
        let open = self.read(|d| d.pulls.iter().filter(|p| p.state == "open").count() as u64);
        j::repo(self.base(), &self.meta, open, self.meta.updated_at)
    }

    fn minimal_repo_json(&self) -> Value {
        self.repo_json()
    }

    fn person(&self, v: Option<&Value>) -> (String, String, Option<String>) {
        who(v).unwrap_or_else(|| {
            (
                self.login.to_owned(),
                format!("{}@users.noreply.github.com", self.login),
                None,
            )
        })
    }

    fn commit_of(&self, rev: &str) -> Result<Option<String>, ApiError> {
        Ok(self.git.resolve_commit(rev)?)
    }

    fn route(&self, method: &str, rest: &[&str], q: &HashMap<String, String>, body: &[u8]) -> R {
        match (method, rest) {
            ("GET", []) => Ok(Resp::json(200, self.repo_json())),
            ("GET", ["contents", path @ ..]) => self.get_contents(&path.join("/"), q),
            ("PUT", ["contents", path @ ..]) => {
                self.put_contents(&path.join("/"), &body_json(body)?)
            }
            ("GET", ["git", "refs", name @ ..])
                if !name.is_empty() && self.is_ref(&name.join("/"))? =>
            {
                self.get_ref(&name.join("/"))
            }
            ("GET", ["git", "refs" | "matching-refs", prefix @ ..]) => {
                self.list_refs(&prefix.join("/"), q)
            }
            ("GET", ["git", "ref", name @ ..]) => self.get_ref(&name.join("/")),
            ("POST", ["git", "refs"]) => self.create_ref(&body_json(body)?),
            ("PATCH", ["git", "refs", name @ ..]) => {
                self.update_ref(&name.join("/"), &body_json(body)?)
            }
            ("DELETE", ["git", "refs", name @ ..]) => self.delete_ref(&name.join("/")),
            ("POST", ["git", "blobs"]) => self.create_blob(&body_json(body)?),
            ("GET", ["git", "blobs", sha]) => self.get_blob(sha),
            ("POST", ["git", "trees"]) => self.create_tree(&body_json(body)?),
            ("GET", ["git", "trees", sha @ ..]) => self.get_tree(&sha.join("/"), q),
            ("POST", ["git", "commits"]) => self.create_commit(&body_json(body)?),
            ("GET", ["git", "commits", sha]) => self.get_commit(sha),
            ("GET", ["tarball", r @ ..]) => self.tarball(&r.join("/")),
            ("GET", ["pulls"]) => self.list_pulls(q),
            ("POST", ["pulls"]) => self.create_pull(&body_json(body)?),
            ("GET", ["pulls", n]) => self.get_pull(n),
            ("PATCH", ["pulls", n]) => self.update_pull(n, &body_json(body)?),
            ("GET", ["pulls", n, "files"]) => self.pull_files(n, q),
            ("GET", ["pulls", n, "reviews"]) => self.list_reviews(n, q),
            ("POST", ["pulls", n, "reviews"]) => self.create_review(n, &body_json(body)?),
            ("GET", ["pulls", n, "merge"]) => self.is_merged(n),
            ("PUT", ["pulls", n, "merge"]) => self.merge(n, &body_json(body)?),
            ("GET", ["issues", n, "comments"]) => self.list_comments(n, q),
            ("POST", ["issues", n, "comments"]) => self.create_comment(n, &body_json(body)?),
            ("GET", ["issues", "comments", id]) => self.get_comment(id),
            ("PATCH", ["issues", "comments", id]) => self.update_comment(id, &body_json(body)?),
            ("DELETE", ["issues", "comments", id]) => self.delete_comment(id),
            ("POST", ["statuses", sha]) => self.create_status(sha, &body_json(body)?),
            ("GET", ["commits", r @ .., "status"]) if !r.is_empty() => {
                self.combined_status(&r.join("/"))
            }
            ("GET", ["commits", r @ .., "statuses"]) if !r.is_empty() => {
                self.list_statuses(&r.join("/"), q)
            }
            ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
                self.list_check_runs(&r.join("/"), q)
            }
            ("POST", ["check-runs"]) => self.create_check_run(None, &body_json(body)?),
            ("PATCH", ["check-runs", id]) => self.create_check_run(Some(id), &body_json(body)?),
            ("GET", ["check-runs", id]) => self.get_check_run(id),
            ("GET", ["deployments"]) => Ok(self.list_deployments(q)),
            ("POST", ["deployments"]) => self.create_deployment(&body_json(body)?),
            ("GET", ["deployments", id]) => self.get_deployment(id),
            ("GET", ["deployments", id, "statuses"]) => self.list_deployment_statuses(id, q),
            ("POST", ["deployments", id, "statuses"]) => {
                self.create_deployment_status(id, &body_json(body)?)
            }
            ("POST", ["dispatches"]) => self.dispatch(&body_json(body)?),
            ("GET", ["actions", "runs"]) => self.list_runs(q),
            ("GET", ["actions", "runs", id]) => self.get_run(id),
            _ => Err(not_found()),
        }
    }

    // ------------------------------------------------------------ contents

    fn get_contents(&self, path: &str, q: &HashMap<String, String>) -> R {
        let git_ref = q
            .get("ref")
            .cloned()
            .unwrap_or_else(|| self.meta.default_branch.clone());
        let Some(commit) = self.commit_of(&git_ref)? else {
            if self.git.refs()?.is_empty() {
                return Err(err(404, "This repository is empty."));
            }
            return Err(err(404, format!("No commit found for the ref {git_ref}")));
        };
        let path = path.trim_matches('/');
        if !path.is_empty() && !valid_path(path) {
            return Err(not_found());
        }
        let Some(sha) = self.git.resolve_path(&commit, path)? else {
            return Err(not_found());
        };
        match self.git.object_type(&sha)?.as_deref() {
            Some("blob") => {
                let content = self.git.blob(&sha)?;
                let mut v = j::content_entry(
                    self.base(),
                    &self.full,
                    path,
                    &sha,
                    "file",
                    content.len() as u64,
                    &git_ref,
                );
                if let Some(o) = v.as_object_mut() {
                    o.insert("content".into(), json!(encode_b64(&content)));
                    o.insert("encoding".into(), json!("base64"));
                }
                Ok(Resp::json(200, v))
            }
            Some("tree") => {
                let items = self
                    .git
                    .ls_tree(&sha, false)?
                    .into_iter()
                    .map(|e| {
                        let kind = match e.kind.as_str() {
                            "tree" => "dir",
                            "commit" => "submodule",
                            _ if e.mode == "120000" => "symlink",
                            _ => "file",
                        };
                        let p = if path.is_empty() {
                            e.path.clone()
                        } else {
                            format!("{path}/{}", e.path)
                        };
                        j::content_entry(
                            self.base(),
                            &self.full,
                            &p,
                            &e.sha,
                            kind,
                            e.size.unwrap_or(0),
                            &git_ref,
                        )
                    })
                    .collect();
                Ok(Resp::json(200, Value::Array(items)))
            }
            _ => Err(not_found()),
        }
    }

    fn put_contents(&self, path: &str, b: &Value) -> R {
        if !valid_path(path) {
            return Err(bad_field("Content", "path"));
        }
        let Some(message) = s(b, "message") else {
            return Err(missing("Content", "message"));
        };
        let Some(content) = s(b, "content") else {
            return Err(missing("Content", "content"));
        };
        let Some(bytes) = decode_b64(content) else {
            return Err(invalid(
                "content is not valid Base64",
                json!([{"resource": "Content", "code": "invalid", "field": "content"}]),
            ));
        };
        let branch = s(b, "branch")
            .unwrap_or(&self.meta.default_branch)
            .to_owned();
        let full_ref = format!("refs/heads/{branch}");
        let head = self.git.ref_target(&full_ref)?;
        if head.is_none() && !self.git.refs()?.is_empty() {
            return Err(err(404, format!("Branch {branch} not found")));
        }
        let head_tree = match &head {
            Some(h) => self.git.commit(h)?.map(|c| c.tree),
            None => None,
        };
        let existing = match &head {
            Some(h) => self.git.resolve_path(h, path)?,
            None => None,
        };
        if let Some(existing) = &existing {
            match s(b, "sha") {
                None => {
                    return Err(invalid(
                        "Invalid request.\n\n\"sha\" wasn't supplied.",
                        json!([]),
                    ));
                }
                Some(given) if given != existing => {
                    return Err(err(409, format!("{path} does not match {given}")));
                }
                Some(_) => {}
            }
        }
        let blob = self.git.hash_object(&bytes)?;
        let tree = self.git.build_tree(
            head_tree.as_deref(),
            &[TreeOp::Put {
                path: path.to_owned(),
                mode: "100644".into(),
                sha: blob.clone(),
            }],
        )?;
        let (an, ae, ad) = self.person(b.get("author"));
        let committer = who(b.get("committer"));
        let parents: Vec<String> = head.iter().cloned().collect();
        let commit = self.git.commit_tree(
            &tree,
            &parents,
            message,
            Some((&an, &ae, ad.as_deref())),
            committer
                .as_ref()
                .map(|(n, e, d)| (n.as_str(), e.as_str(), d.as_deref())),
        )?;
        if !self
            .git
            .update_ref(&full_ref, &commit, head.as_deref().unwrap_or(ZERO_OID))?
        {
            return Err(err(409, format!("{path} does not match")));
        }
        let info = self
            .git
            .commit(&commit)?
            .ok_or_else(|| Error::Git("commit vanished".into()))?;
        let mut content = j::content_entry(
            self.base(),
            &self.full,
            path,
            &blob,
            "file",
            bytes.len() as u64,
            &branch,
        );
        if let Some(o) = content.as_object_mut() {
            o.remove("content");
        }
        let status = if existing.is_some() { 200 } else { 201 };
        Ok(Resp::json(
            status,
            json!({"content": content, "commit": j::git_commit(self.base(), &self.full, &commit, &info)}),
        ))
    }

    // ------------------------------------------------------------ refs

    fn ref_json(&self, full: &str, sha: &str, kind: &str) -> Value {
        j::git_ref(self.base(), &self.full, full, sha, kind)
    }

    fn list_refs(&self, prefix: &str, q: &HashMap<String, String>) -> R {
        let want = format!("refs/{prefix}");
        let items = self
            .git
            .refs()?
            .into_iter()
            .filter(|(n, _, _)| prefix.is_empty() || n.starts_with(&want))
            .map(|(n, sha, kind)| self.ref_json(&n, &sha, &kind))
            .collect();
        Ok(page(items, q, &self.url("git/refs")))
    }

    fn is_ref(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.git.ref_target(&format!("refs/{name}"))?.is_some())
    }

    fn get_ref(&self, name: &str) -> R {
        let full = format!("refs/{name}");
        let found = self.git.refs()?.into_iter().find(|(n, _, _)| *n == full);
        match found {
            Some((n, sha, kind)) => Ok(Resp::json(200, self.ref_json(&n, &sha, &kind))),
            None => Err(not_found()),
        }
    }

    fn check_ref_name(&self, full: &str) -> Result<(), ApiError> {
        let ok = full.starts_with("refs/")
            && full.matches('/').count() >= 2
            && self
                .git
                .run(&["check-ref-format", full], None, &[])?
                .status
                .success();
        if ok {
            Ok(())
        } else {
            Err(invalid("Reference name is invalid", json!([])))
        }
    }

    fn create_ref(&self, b: &Value) -> R {
        let Some(full) = s(b, "ref") else {
            return Err(missing("Reference", "ref"));
        };
        let Some(sha) = s(b, "sha") else {
            return Err(missing("Reference", "sha"));
        };
        self.check_ref_name(full)?;
        let Some(kind) = self.git.object_type(sha)? else {
            return Err(invalid("Object does not exist", json!([])));
        };
        if full.starts_with("refs/heads/") && kind != "commit" {
            return Err(invalid("Object is not a commit", json!([])));
        }
        if !self.git.update_ref(full, sha, ZERO_OID)? {
            return Err(invalid("Reference already exists", json!([])));
        }
        let v = self.ref_json(full, sha, &kind);
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/{full}"))))
    }

    fn update_ref(&self, name: &str, b: &Value) -> R {
        let full = format!("refs/{name}");
        let Some(sha) = s(b, "sha") else {
            return Err(missing("Reference", "sha"));
        };
        let force = b.get("force").and_then(Value::as_bool).unwrap_or(false);
        let Some(current) = self.git.ref_target(&full)? else {
            return Err(invalid("Reference does not exist", json!([])));
        };
        let Some(kind) = self.git.object_type(sha)? else {
            return Err(invalid("Object does not exist", json!([])));
        };
        if full.starts_with("refs/heads/") && kind != "commit" {
            return Err(invalid("Object is not a commit", json!([])));
        }
        let fast_forward = kind == "commit" && self.git.is_ancestor(&current, sha)?;
        if !force && !fast_forward {
            return Err(invalid("Update is not a fast forward", json!([])));
        }
        if !self.git.update_ref(&full, sha, &current)? {
            return Err(invalid("Reference cannot be updated", json!([])));
        }
        Ok(Resp::json(200, self.ref_json(&full, sha, &kind)))
    }

    fn delete_ref(&self, name: &str) -> R {
        let full = format!("refs/{name}");
        let Some(current) = self.git.ref_target(&full)? else {
            return Err(invalid("Reference does not exist", json!([])));
        };
        if !self.git.delete_ref(&full, &current)? {
            return Err(invalid("Reference cannot be deleted", json!([])));
        }
        Ok(Resp::empty(204))
    }

    // ------------------------------------------------------------ blobs, trees, commits

    fn create_blob(&self, b: &Value) -> R {
        let Some(content) = s(b, "content") else {
            return Err(missing("Blob", "content"));
        };
        let bytes = match s(b, "encoding").unwrap_or("utf-8") {
            "utf-8" | "utf8" => content.as_bytes().to_vec(),
            "base64" => decode_b64(content).ok_or_else(|| bad_field("Blob", "content"))?,
            _ => return Err(bad_field("Blob", "encoding")),
        };
        let sha = self.git.hash_object(&bytes)?;
        let url = self.url(&format!("git/blobs/{sha}"));
        Ok(Resp::json(201, json!({"sha": sha, "url": url})).header("location", url))
    }

    fn get_blob(&self, sha: &str) -> R {
        if self.git.object_type(sha)?.as_deref() != Some("blob") {
            return Err(not_found());
        }
        let content = self.git.blob(sha)?;
        Ok(Resp::json(
            200,
            json!({
                "sha": sha,
                "node_id": format!("B_{}", &sha[..12]),
                "size": content.len(),
                "url": self.url(&format!("git/blobs/{sha}")),
                "content": encode_b64(&content),
                "encoding": "base64",
            }),
        ))
    }

    fn tree_json(&self, sha: &str, recursive: bool) -> Result<Value, ApiError> {
        let entries: Vec<Value> = self
            .git
            .ls_tree(sha, recursive)?
            .into_iter()
            .map(|e| {
                let kind_url = if e.kind == "tree" { "trees" } else { "blobs" };
                let mut v = json!({
                    "path": e.path,
                    "mode": e.mode,
                    "type": e.kind,
                    "sha": e.sha,
                    "url": self.url(&format!("git/{kind_url}/{}", e.sha)),
                });
                if let (Some(size), Some(o)) = (e.size, v.as_object_mut()) {
                    o.insert("size".into(), json!(size));
                }
                v
            })
            .collect();
        Ok(
            json!({"sha": sha, "url": self.url(&format!("git/trees/{sha}")), "tree": entries, "truncated": false}),
        )
    }

    fn create_tree(&self, b: &Value) -> R {
        let Some(entries) = b.get("tree").and_then(Value::as_array) else {
            return Err(missing("Tree", "tree"));
        };
        let base = match b.get("base_tree").and_then(Value::as_str) {
            Some(t) if self.git.object_type(t)?.as_deref() == Some("tree") => Some(t.to_owned()),
            Some(_) => return Err(invalid("base_tree is not a valid tree", json!([]))),
            None => None,
        };
        let mut ops = Vec::new();
        for e in entries {
            let path = s(e, "path").unwrap_or_default();
            if !valid_path(path) {
                return Err(invalid(
                    format!("tree.path contains a malformed path component: {path:?}"),
                    json!([]),
                ));
            }
            let mode = s(e, "mode").unwrap_or_default();
            if !["100644", "100755", "040000", "160000", "120000"].contains(&mode) {
                return Err(invalid(
                    format!("tree.mode {mode:?} is not valid"),
                    json!([]),
                ));
            }
            let kind = s(e, "type").unwrap_or(if mode == "040000" {
                "tree"
            } else if mode == "160000" {
                "commit"
            } else {
                "blob"
            });
            let expected = match mode {
                "040000" => "tree",
                "160000" => "commit",
                _ => "blob",
            };
            if kind != expected {
                return Err(invalid(
                    format!("tree.type {kind:?} does not match mode {mode}"),
                    json!([]),
                ));
            }
            match (e.get("sha"), e.get("content")) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "Must supply either tree.sha or tree.content, not both",
                        json!([]),
                    ));
                }
                (Some(Value::Null), None) => ops.push(TreeOp::Delete {
                    path: path.to_owned(),
                }),
                (Some(Value::String(sha)), None) => {
                    if kind != "commit" && self.git.object_type(sha)?.as_deref() != Some(kind) {
                        return Err(invalid(
                            format!("tree.sha {sha} is not a valid {kind}"),
                            json!([]),
                        ));
                    }
                    ops.push(TreeOp::Put {
                        path: path.to_owned(),
                        mode: mode.to_owned(),
                        sha: sha.clone(),
                    });
                }
                (None, Some(Value::String(content))) if kind == "blob" => {
                    let sha = self.git.hash_object(content.as_bytes())?;
                    ops.push(TreeOp::Put {
                        path: path.to_owned(),
                        mode: mode.to_owned(),
                        sha,
                    });
                }
                _ => {
                    return Err(invalid(
                        "Must supply a valid tree.sha or tree.content",
                        json!([]),
                    ));
                }
            }
        }
        let sha = self.git.build_tree(base.as_deref(), &ops)?;
        let v = self.tree_json(&sha, false)?;
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/trees/{sha}"))))
    }

    fn get_tree(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let tree = match self.git.object_type(rev)?.as_deref() {
            Some("tree") => rev.to_owned(),
            _ => match self.commit_of(rev)? {
                Some(c) => self.git.commit(&c)?.map(|c| c.tree).ok_or_else(not_found)?,
                None => return Err(not_found()),
            },
        };
        let recursive = q
            .get("recursive")
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        Ok(Resp::json(200, self.tree_json(&tree, recursive)?))
    }

    fn create_commit(&self, b: &Value) -> R {
        let Some(message) = s(b, "message") else {
            return Err(missing("Commit", "message"));
        };
        let Some(tree) = s(b, "tree") else {
            return Err(missing("Commit", "tree"));
        };
        if self.git.object_type(tree)?.as_deref() != Some("tree") {
            return Err(invalid("Tree SHA does not exist", json!([])));
        }
        let mut parents = Vec::new();
        for p in b
            .get("parents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = p.as_str().unwrap_or_default();
            if self.git.object_type(p)?.as_deref() != Some("commit") {
                return Err(invalid(
                    "Parent SHA does not exist or is not a commit object",
                    json!([]),
                ));
            }
            parents.push(p.to_owned());
        }
        let (an, ae, ad) = self.person(b.get("author"));
        let committer = who(b.get("committer"));
        let sha = self.git.commit_tree(
            tree,
            &parents,
            message,
            Some((&an, &ae, ad.as_deref())),
            committer
                .as_ref()
                .map(|(n, e, d)| (n.as_str(), e.as_str(), d.as_deref())),
        )?;
        let info = self
            .git
            .commit(&sha)?
            .ok_or_else(|| Error::Git("commit vanished".into()))?;
        let v = j::git_commit(self.base(), &self.full, &sha, &info);
        Ok(Resp::json(201, v).header("location", self.url(&format!("git/commits/{sha}"))))
    }

    fn get_commit(&self, sha: &str) -> R {
        let info = self.git.commit(sha)?.ok_or_else(not_found)?;
        Ok(Resp::json(
            200,
            j::git_commit(self.base(), &self.full, sha, &info),
        ))
    }

    fn tarball(&self, rev: &str) -> R {
        let rev = if rev.is_empty() {
            self.meta.default_branch.clone()
        } else {
            rev.to_owned()
        };
        let commit = self.commit_of(&rev)?.ok_or_else(not_found)?;
        let location = format!(
            "{}/_codeload/{}/legacy.tar.gz/{commit}",
            self.base(),
            self.full
        );
        Ok(Resp::empty(302).header("location", location))
    }

    fn codeload(&self, sha: &str) -> R {
        let commit = self.commit_of(sha)?.ok_or_else(not_found)?;
        let prefix = format!("{}-{}-{}", self.meta.owner, self.meta.name, &commit[..7]);
        let bytes = self.git.archive(&commit, &prefix)?;
        Ok(Resp {
            status: 200,
            body: RespBody::Bytes(bytes, "application/x-gzip"),
            headers: Vec::new(),
        }
        .header(
            "content-disposition",
            format!("attachment; filename={prefix}.tar.gz"),
        ))
    }

    // ------------------------------------------------------------ pulls

    fn find_pull(&self, n: &str) -> Result<Pull, ApiError> {
        let n: u64 = n.parse().map_err(|_| not_found())?;
        self.read(|d| d.pulls.iter().find(|p| p.number == n).cloned())
            .ok_or_else(not_found)
    }

    fn pull_git(&self, p: &Pull) -> Result<PullGit, ApiError> {
        let comments =
            self.read(|d| d.comments.iter().filter(|c| c.issue == p.number).count() as u64);
        let head = match &p.closed_head_sha {
            Some(s) => Some(s.clone()),
            None => self.git.ref_target(&format!("refs/heads/{}", p.head_ref))?,
        };
        let base = match &p.closed_base_sha {
            Some(s) => Some(s.clone()),
            None => self.git.ref_target(&format!("refs/heads/{}", p.base_ref))?,
        };
        let (Some(head), Some(base)) = (head, base) else {
            return Ok(PullGit {
                comments,
                ..PullGit::default()
            });
        };
        let mut g = PullGit {
            head_sha: head.clone(),
            base_sha: base.clone(),
            comments,
            ..PullGit::default()
        };
        if p.state == "open" {
            g.mergeable = Some(self.git.merge_tree(&base, &head)?.is_some());
        }
        let count = self
            .git
            .ok(&["rev-list", "--count", &format!("{base}..{head}")])?;
        g.commits = count.parse().unwrap_or(0);
        if let Some(mb) = self.git.merge_base(&base, &head)? {
            let files = self.git.diff(&mb, &head)?;
            g.changed_files = files.len() as u64;
            g.additions = files.iter().map(|f| f.additions).sum();
            g.deletions = files.iter().map(|f| f.deletions).sum();
        }
        Ok(g)
    }

    fn pull_json(&self, p: &Pull) -> Result<Value, ApiError> {
        let g = self.pull_git(p)?;
        Ok(j::pull(self.base(), &self.repo_json(), &self.meta, p, &g))
    }

    fn list_pulls(&self, q: &HashMap<String, String>) -> R {
        let state = q.get("state").map_or("open", String::as_str);
        let head = q
            .get("head")
            .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b).to_owned());
        let head_owner = q
            .get("head")
            .and_then(|h| h.split_once(':').map(|(o, _)| o.to_ascii_lowercase()));
        if head_owner
            .as_deref()
            .is_some_and(|o| o != self.meta.owner.to_ascii_lowercase())
        {
            return Ok(Resp::json(200, json!([])));
        }
        let mut pulls: Vec<Pull> = self.read(|d| {
            d.pulls
                .iter()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| head.as_ref().is_none_or(|h| p.head_ref == *h))
                .filter(|p| q.get("base").is_none_or(|b| p.base_ref == *b))
                .cloned()
                .collect()
        });
        pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
        if q.get("direction").is_some_and(|d| d == "asc") {
            pulls.reverse();
        }
        let items = pulls
            .iter()
            .map(|p| self.pull_json(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, q, &self.url("pulls")))
    }

    fn create_pull(&self, b: &Value) -> R {
        let Some(title) = s(b, "title") else {
            return Err(missing("PullRequest", "title"));
        };
        let Some(head) = s(b, "head") else {
            return Err(missing("PullRequest", "head"));
        };
        let Some(base) = s(b, "base") else {
            return Err(missing("PullRequest", "base"));
        };
        let head_ref = match head.split_once(':') {
            Some((o, br)) if o.eq_ignore_ascii_case(&self.meta.owner) => br,
            Some(_) => return Err(bad_field("PullRequest", "head")),
            None => head,
        };
        let Some(head_sha) = self.git.ref_target(&format!("refs/heads/{head_ref}"))? else {
            return Err(bad_field("PullRequest", "head"));
        };
        let Some(base_sha) = self.git.ref_target(&format!("refs/heads/{base}"))? else {
            return Err(bad_field("PullRequest", "base"));
        };
        let dup = self.read(|d| {
            d.pulls
                .iter()
                .any(|p| p.state == "open" && p.head_ref == head_ref && p.base_ref == base)
        });
        if dup {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {}:{head_ref}.", self.meta.owner)}]),
            ));
        }
        if self.git.is_ancestor(&head_sha, &base_sha)? {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("No commits between {base} and {head_ref}")}]),
            ));
        }
        let t = now();
        let pull = self.write(|d, id| {
            let number = d.next_number.max(1);
            d.next_number = number + 1;
            let p = Pull {
                id: id(),
                number,
                user: self.login.to_owned(),
                title: title.to_owned(),
                body: s(b, "body").map(str::to_owned),
                head_ref: head_ref.to_owned(),
                base_ref: base.to_owned(),
                closed_head_sha: None,
                closed_base_sha: None,
                state: "open".into(),
                draft: b.get("draft").and_then(Value::as_bool).unwrap_or(false),
                merged: false,
                merged_by: None,
                merge_commit_sha: None,
                created_at: t,
                updated_at: t,
                closed_at: None,
                merged_at: None,
            };
            d.pulls.push(p.clone());
            p
        })?;
        let v = self.pull_json(&pull)?;
        Ok(Resp::json(201, v).header("location", self.url(&format!("pulls/{}", pull.number))))
    }

    fn get_pull(&self, n: &str) -> R {
        let p = self.find_pull(n)?;
        Ok(Resp::json(200, self.pull_json(&p)?))
    }

    fn update_pull(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let new_state = s(b, "state");
        if let Some(st) = new_state
            && st != "open"
            && st != "closed"
        {
            return Err(bad_field("PullRequest", "state"));
        }
        if new_state == Some("open") && p.merged {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": "state cannot be changed. The pull request has been merged."}]),
            ));
        }
        if let Some(base) = s(b, "base")
            && self
                .git
                .ref_target(&format!("refs/heads/{base}"))?
                .is_none()
        {
            return Err(bad_field("PullRequest", "base"));
        }
        let head_now = self.git.ref_target(&format!("refs/heads/{}", p.head_ref))?;
        let base_now = self.git.ref_target(&format!("refs/heads/{}", p.base_ref))?;
        let t = now();
        let updated = self.write(|d, _| {
            let p = d.pulls.iter_mut().find(|x| x.number == p.number)?;
            if let Some(t) = s(b, "title") {
                t.clone_into(&mut p.title);
            }
            if b.get("body").is_some() {
                p.body = s(b, "body").map(str::to_owned);
            }
            if let Some(base) = s(b, "base") {
                base.clone_into(&mut p.base_ref);
            }
            match new_state {
                Some("closed") if p.state == "open" => {
                    p.state = "closed".into();
                    p.closed_at = Some(t);
                    p.closed_head_sha.clone_from(&head_now);
                    p.closed_base_sha.clone_from(&base_now);
                }
                Some("open") if p.state == "closed" => {
                    p.state = "open".into();
                    p.closed_at = None;
                    p.closed_head_sha = None;
                    p.closed_base_sha = None;
                }
                _ => {}
            }
            p.updated_at = t;
            Some(p.clone())
        })?;
        let p = updated.ok_or_else(not_found)?;
        Ok(Resp::json(200, self.pull_json(&p)?))
    }

    fn pull_files(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let g = self.pull_git(&p)?;
        if g.head_sha.is_empty() {
            return Ok(Resp::json(200, json!([])));
        }
        let mb = self
            .git
            .merge_base(&g.base_sha, &g.head_sha)?
            .unwrap_or(g.base_sha.clone());
        let items = self
            .git
            .diff(&mb, &g.head_sha)?
            .into_iter()
            .map(|f| {
                let at = if f.status == "removed" {
                    mb.clone()
                } else {
                    g.head_sha.clone()
                };
                json!({
                    "sha": f.sha,
                    "filename": f.path,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                    "changes": f.additions + f.deletions,
                    "blob_url": format!("{}/{}/blob/{at}/{}", self.base(), self.full, f.path),
                    "raw_url": format!("{}/{}/raw/{at}/{}", self.base(), self.full, f.path),
                    "contents_url": self.url(&format!("contents/{}?ref={at}", f.path)),
                })
            })
            .collect();
        Ok(page(
            items,
            q,
            &self.url(&format!("pulls/{}/files", p.number)),
        ))
    }

    fn list_reviews(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let items = self.read(|d| {
            d.reviews
                .iter()
                .filter(|r| r.pull == p.number)
                .map(|r| j::review(self.base(), &self.full, r))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("pulls/{}/reviews", p.number)),
        ))
    }

    fn create_review(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let state = match s(b, "event") {
            Some("APPROVE") => "APPROVED",
            Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
            Some("COMMENT") => "COMMENTED",
            None => "PENDING",
            Some(_) => return Err(invalid("Unprocessable Entity", json!(["Invalid event"]))),
        };
        let body = s(b, "body").unwrap_or_default();
        if p.state != "open" && state != "COMMENTED" {
            return Err(invalid(
                "Unprocessable Entity",
                json!(["Can not approve or request changes on a closed pull request"]),
            ));
        }
        if p.user.eq_ignore_ascii_case(self.login)
            && (state == "APPROVED" || state == "CHANGES_REQUESTED")
        {
            let what = if state == "APPROVED" {
                "approve"
            } else {
                "request changes on"
            };
            return Err(invalid(
                "Unprocessable Entity",
                json!([format!("Review Can not {what} your own pull request")]),
            ));
        }
        if (state == "CHANGES_REQUESTED" || state == "COMMENTED") && body.is_empty() {
            return Err(invalid(
                "Unprocessable Entity",
                json!(["Review body is required"]),
            ));
        }
        let g = self.pull_git(&p)?;
        let commit_id = s(b, "commit_id").map_or(g.head_sha, str::to_owned);
        let t = now();
        let r = self.write(|d, id| {
            let r = Review {
                id: id(),
                pull: p.number,
                user: self.login.to_owned(),
                body: body.to_owned(),
                state: state.to_owned(),
                commit_id,
                submitted_at: t,
            };
            d.reviews.push(r.clone());
            r
        })?;
        Ok(Resp::json(200, j::review(self.base(), &self.full, &r)))
    }

    fn is_merged(&self, n: &str) -> R {
        let p = self.find_pull(n)?;
        if p.merged {
            Ok(Resp::empty(204))
        } else {
            Err(not_found())
        }
    }

    fn merge(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        if p.state != "open" {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        let g = self.pull_git(&p)?;
        if g.head_sha.is_empty() {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        if let Some(sha) = s(b, "sha")
            && sha != g.head_sha
        {
            return Err(err(
                409,
                "Head branch was modified. Review and try the merge again.",
            ));
        }
        let method = s(b, "merge_method").unwrap_or("merge");
        if method != "merge" && method != "squash" {
            return Err(err(
                405,
                format!("{method} merges are not allowed on this repository."),
            ));
        }
        let Some(tree) = self.git.merge_tree(&g.base_sha, &g.head_sha)? else {
            return Err(err(405, "Pull Request is not mergeable"));
        };
        let (title, parents) = if method == "merge" {
            (
                format!(
                    "Merge pull request #{} from {}/{}",
                    p.number, self.meta.owner, p.head_ref
                ),
                vec![g.base_sha.clone(), g.head_sha.clone()],
            )
        } else {
            (
                format!("{} (#{})", p.title, p.number),
                vec![g.base_sha.clone()],
            )
        };
        let title = s(b, "commit_title").map_or(title, str::to_owned);
        let body = s(b, "commit_message").map_or_else(
            || {
                if method == "merge" {
                    p.title.clone()
                } else {
                    String::new()
                }
            },
            str::to_owned,
        );
        let message = if body.is_empty() {
            format!("{title}\n")
        } else {
            format!("{title}\n\n{body}\n")
        };
        let (an, ae, _) = self.person(None);
        let sha = self.git.commit_tree(
            &tree,
            &parents,
            &message,
            Some((&an, &ae, None)),
            Some(("GitHub", "noreply@github.com", None)),
        )?;
        if !self
            .git
            .update_ref(&format!("refs/heads/{}", p.base_ref), &sha, &g.base_sha)?
        {
            return Err(err(
                409,
                "Base branch was modified. Review and try the merge again.",
            ));
        }
        let t = now();
        self.write(|d, _| {
            if let Some(x) = d.pulls.iter_mut().find(|x| x.number == p.number) {
                x.state = "closed".into();
                x.merged = true;
                x.merged_by = Some(self.login.to_owned());
                x.merge_commit_sha = Some(sha.clone());
                x.merged_at = Some(t);
                x.closed_at = Some(t);
                x.updated_at = t;
                x.closed_head_sha = Some(g.head_sha.clone());
                x.closed_base_sha = Some(g.base_sha.clone());
            }
        })?;
        Ok(Resp::json(
            200,
            json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        ))
    }

    // ------------------------------------------------------------ comments

    fn list_comments(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let items = self.read(|d| {
            d.comments
                .iter()
                .filter(|c| c.issue == p.number)
                .map(|c| j::comment(self.base(), &self.full, c))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("issues/{}/comments", p.number)),
        ))
    }

    fn create_comment(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let Some(body) = s(b, "body").filter(|b| !b.is_empty()) else {
            return Err(missing("IssueComment", "body"));
        };
        if body.chars().count() > 65536 {
            return Err(bad_field("IssueComment", "body"));
        }
        let t = now();
        let c = self.write(|d, id| {
            let c = Comment {
                id: id(),
                issue: p.number,
                user: self.login.to_owned(),
                body: body.to_owned(),
                created_at: t,
                updated_at: t,
            };
            d.comments.push(c.clone());
            c
        })?;
        let url = self.url(&format!("issues/comments/{}", c.id));
        Ok(Resp::json(201, j::comment(self.base(), &self.full, &c)).header("location", url))
    }

    fn find_comment(&self, id: &str) -> Result<Comment, ApiError> {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.read(|d| d.comments.iter().find(|c| c.id == id).cloned())
            .ok_or_else(not_found)
    }

    fn get_comment(&self, id: &str) -> R {
        let c = self.find_comment(id)?;
        Ok(Resp::json(200, j::comment(self.base(), &self.full, &c)))
    }

    fn update_comment(&self, id: &str, b: &Value) -> R {
        let c = self.find_comment(id)?;
        let Some(body) = s(b, "body").filter(|b| !b.is_empty()) else {
            return Err(missing("IssueComment", "body"));
        };
        let t = now();
        let c = self.write(|d, _| {
            let x = d.comments.iter_mut().find(|x| x.id == c.id)?;
            body.clone_into(&mut x.body);
            x.updated_at = t;
            Some(x.clone())
        })?;
        let c = c.ok_or_else(not_found)?;
        Ok(Resp::json(200, j::comment(self.base(), &self.full, &c)))
    }

    fn delete_comment(&self, id: &str) -> R {
        let c = self.find_comment(id)?;
        self.write(|d, _| d.comments.retain(|x| x.id != c.id))?;
        Ok(Resp::empty(204))
    }

    // ------------------------------------------------------------ statuses and checks

    fn create_status(&self, sha: &str, b: &Value) -> R {
        if !git::is_hex_sha(sha) || self.git.object_type(sha)?.as_deref() != Some("commit") {
            return Err(invalid(
                format!("No commit found for SHA: {sha}"),
                json!([]),
            ));
        }
        let Some(state) = s(b, "state") else {
            return Err(missing("Status", "state"));
        };
        if !["error", "failure", "pending", "success"].contains(&state) {
            return Err(bad_field("Status", "state"));
        }
        let t = now();
        let st = self.write(|d, id| {
            let st = Status {
                id: id(),
                sha: sha.to_owned(),
                state: state.to_owned(),
                context: s(b, "context").unwrap_or("default").to_owned(),
                description: s(b, "description").map(str::to_owned),
                target_url: s(b, "target_url").map(str::to_owned),
                creator: self.login.to_owned(),
                created_at: t,
            };
            d.statuses.push(st.clone());
            st
        })?;
        Ok(Resp::json(201, j::status(self.base(), &self.full, &st)))
    }

    fn latest_statuses(&self, sha: &str) -> Vec<Status> {
        self.read(|d| {
            let mut latest: Vec<Status> = Vec::new();
            for st in d.statuses.iter().rev().filter(|x| x.sha == sha) {
                if !latest.iter().any(|l| l.context == st.context) {
                    latest.push(st.clone());
                }
            }
            latest
        })
    }

    fn combined_status(&self, rev: &str) -> R {
        let sha = self
            .commit_of(rev)?
            .ok_or_else(|| err(404, format!("No commit found for SHA: {rev}")))?;
        let latest = self.latest_statuses(&sha);
        let state = if latest
            .iter()
            .any(|x| x.state == "error" || x.state == "failure")
        {
            "failure"
        } else if latest.is_empty() || latest.iter().any(|x| x.state == "pending") {
            "pending"
        } else {
            "success"
        };
        let statuses: Vec<Value> = latest
            .iter()
            .map(|x| j::status(self.base(), &self.full, x))
            .collect();
        Ok(Resp::json(
            200,
            json!({
                "state": state,
                "statuses": statuses,
                "sha": sha,
                "total_count": latest.len(),
                "repository": self.minimal_repo_json(),
                "commit_url": self.url(&format!("commits/{sha}")),
                "url": self.url(&format!("commits/{sha}/status")),
            }),
        ))
    }

    fn list_statuses(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let sha = self.commit_of(rev)?.ok_or_else(not_found)?;
        let items = self.read(|d| {
            d.statuses
                .iter()
                .rev()
                .filter(|x| x.sha == sha)
                .map(|x| j::status(self.base(), &self.full, x))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("commits/{rev}/statuses")),
        ))
    }

    fn create_check_run(&self, update: Option<&str>, b: &Value) -> R {
        let existing = match update {
            Some(id) => {
                let id: u64 = id.parse().map_err(|_| not_found())?;
                Some(
                    self.read(|d| d.check_runs.iter().find(|c| c.id == id).cloned())
                        .ok_or_else(not_found)?,
                )
            }
            None => None,
        };
        let name = s(b, "name")
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.name.clone()));
        let Some(name) = name else {
            return Err(missing("CheckRun", "name"));
        };
        let head_sha = s(b, "head_sha")
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.head_sha.clone()));
        let Some(head_sha) = head_sha else {
            return Err(missing("CheckRun", "head_sha"));
        };
        if self.git.object_type(&head_sha)?.as_deref() != Some("commit") {
            return Err(invalid(
                "No commit found for SHA",
                json!([{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}]),
            ));
        }
        let conclusion = s(b, "conclusion")
            .map(str::to_owned)
            .or_else(|| existing.as_ref().and_then(|c| c.conclusion.clone()));
        let mut status = s(b, "status")
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.status.clone()))
            .unwrap_or_else(|| "queued".into());
        if conclusion.is_some() {
            status = "completed".into();
        }
        if ![
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ]
        .contains(&status.as_str())
        {
            return Err(bad_field("CheckRun", "status"));
        }
        if status == "completed" && conclusion.is_none() {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "CheckRun", "code": "missing_field", "field": "conclusion"}]),
            ));
        }
        if let Some(c) = &conclusion
            && ![
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "stale",
                "timed_out",
            ]
            .contains(&c.as_str())
        {
            return Err(bad_field("CheckRun", "conclusion"));
        }
        let t = now();
        let parse_t = |k: &str| {
            s(b, k)
                .and_then(|v| {
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(time::OffsetDateTime::unix_timestamp)
        };
        let output = b.get("output");
        let out_s =
            |k: &str, old: Option<String>| output.and_then(|o| s(o, k)).map(str::to_owned).or(old);
        let c = self.write(|d, id| {
            let c = CheckRun {
                id: match &existing {
                    Some(e) => e.id,
                    None => id(),
                },
                head_sha,
                name,
                details_url: s(b, "details_url")
                    .map(str::to_owned)
                    .or_else(|| existing.as_ref().and_then(|e| e.details_url.clone())),
                external_id: s(b, "external_id")
                    .map(str::to_owned)
                    .or_else(|| existing.as_ref().and_then(|e| e.external_id.clone())),
                title: out_s("title", existing.as_ref().and_then(|e| e.title.clone())),
                summary: out_s("summary", existing.as_ref().and_then(|e| e.summary.clone())),
                text: out_s("text", existing.as_ref().and_then(|e| e.text.clone())),
                started_at: parse_t("started_at")
                    .or_else(|| existing.as_ref().and_then(|e| e.started_at))
                    .or(Some(t)),
                completed_at: if status == "completed" {
                    parse_t("completed_at")
                        .or_else(|| existing.as_ref().and_then(|e| e.completed_at))
                        .or(Some(t))
                } else {
                    None
                },
                status,
                conclusion,
            };
            d.check_runs.retain(|x| x.id != c.id);
            d.check_runs.push(c.clone());
            c
        })?;
        let code = if update.is_some() { 200 } else { 201 };
        Ok(Resp::json(code, j::check_run(self.base(), &self.full, &c)))
    }

    fn get_check_run(&self, id: &str) -> R {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let c = self
            .read(|d| d.check_runs.iter().find(|c| c.id == id).cloned())
            .ok_or_else(not_found)?;
        Ok(Resp::json(200, j::check_run(self.base(), &self.full, &c)))
    }

    fn list_check_runs(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let sha = self
            .commit_of(rev)?
            .ok_or_else(|| err(422, format!("No commit found for SHA: {rev}")))?;
        let mut runs: Vec<CheckRun> = self.read(|d| {
            d.check_runs
                .iter()
                .rev()
                .filter(|c| c.head_sha == sha)
                .filter(|c| q.get("check_name").is_none_or(|n| c.name == *n))
                .filter(|c| q.get("status").is_none_or(|st| c.status == *st))
                .cloned()
                .collect()
        });
        if q.get("filter").is_none_or(|f| f == "latest") {
            let mut seen = Vec::new();
            runs.retain(|c| {
                let fresh = !seen.contains(&c.name);
                seen.push(c.name.clone());
                fresh
            });
        }
        let items: Vec<Value> = runs
            .iter()
            .map(|c| j::check_run(self.base(), &self.full, c))
            .collect();
        Ok(Resp::json(
            200,
            json!({"total_count": items.len(), "check_runs": items}),
        ))
    }

    // ------------------------------------------------------------ deployments

    fn find_deployment(&self, id: &str) -> Result<Deployment, ApiError> {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.read(|d| d.deployments.iter().find(|x| x.id == id).cloned())
            .ok_or_else(not_found)
    }

    fn create_deployment(&self, b: &Value) -> R {
        let Some(git_ref) = s(b, "ref") else {
            return Err(missing("Deployment", "ref"));
        };
        let Some(sha) = self.commit_of(git_ref)? else {
            return Err(invalid(format!("No ref found for: {git_ref}"), json!([])));
        };
        let latest = self.latest_statuses(&sha);
        let failing: Vec<String> = match b.get("required_contexts").and_then(Value::as_array) {
            Some(req) => req
                .iter()
                .filter_map(Value::as_str)
                .filter(|c| {
                    !latest
                        .iter()
                        .any(|l| l.context == *c && l.state == "success")
                })
                .map(str::to_owned)
                .collect(),
            None => latest
                .iter()
                .filter(|l| l.state != "success")
                .map(|l| l.context.clone())
                .collect(),
        };
        if !failing.is_empty() {
            return Err(ApiError {
                status: 409,
                message: format!("Conflict: Commit status checks failed for {git_ref}."),
                errors: Some(
                    json!([{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}]),
                ),
            });
        }
        let environment = s(b, "environment").unwrap_or("production").to_owned();
        let payload = match b.get("payload") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(p)) => serde_json::from_str::<Value>(p).unwrap_or_else(|_| json!(p)),
            Some(p) => p.clone(),
        };
        let t = now();
        let dep = self.write(|d, id| {
            let dep = Deployment {
                id: id(),
                sha,
                git_ref: git_ref.to_owned(),
                task: s(b, "task").unwrap_or("deploy").to_owned(),
                production_environment: b
                    .get("production_environment")
                    .and_then(Value::as_bool)
                    .unwrap_or(environment == "production"),
                transient_environment: b
                    .get("transient_environment")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                environment,
                description: s(b, "description").map(str::to_owned),
                payload,
                creator: self.login.to_owned(),
                created_at: t,
                updated_at: t,
            };
            d.deployments.push(dep.clone());
            dep
        })?;
        Ok(Resp::json(
            201,
            j::deployment(self.base(), &self.full, &dep),
        ))
    }

    fn list_deployments(&self, q: &HashMap<String, String>) -> Resp {
        let items = self.read(|d| {
            d.deployments
                .iter()
                .rev()
                .filter(|x| q.get("sha").is_none_or(|v| x.sha == *v))
                .filter(|x| q.get("ref").is_none_or(|v| x.git_ref == *v))
                .filter(|x| q.get("task").is_none_or(|v| x.task == *v))
                .filter(|x| q.get("environment").is_none_or(|v| x.environment == *v))
                .map(|x| j::deployment(self.base(), &self.full, x))
                .collect()
        });
        page(items, q, &self.url("deployments"))
    }

    fn get_deployment(&self, id: &str) -> R {
        let dep = self.find_deployment(id)?;
        Ok(Resp::json(
            200,
            j::deployment(self.base(), &self.full, &dep),
        ))
    }

    fn create_deployment_status(&self, id: &str, b: &Value) -> R {
        let dep = self.find_deployment(id)?;
        let Some(state) = s(b, "state") else {
            return Err(missing("DeploymentStatus", "state"));
        };
        if ![
            "error",
            "failure",
            "inactive",
            "in_progress",
            "queued",
            "pending",
            "success",
        ]
        .contains(&state)
        {
            return Err(bad_field("DeploymentStatus", "state"));
        }
        let t = now();
        let st = self.write(|d, id| {
            let target = s(b, "target_url")
                .or_else(|| s(b, "log_url"))
                .unwrap_or_default()
                .to_owned();
            let st = DeploymentStatus {
                id: id(),
                deployment: dep.id,
                state: state.to_owned(),
                description: s(b, "description").unwrap_or_default().to_owned(),
                environment: s(b, "environment").unwrap_or(&dep.environment).to_owned(),
                environment_url: s(b, "environment_url").unwrap_or_default().to_owned(),
                log_url: s(b, "log_url").map_or_else(|| target.clone(), str::to_owned),
                target_url: target,
                creator: self.login.to_owned(),
                created_at: t,
            };
            // `auto_inactive` (default true): a new success marks older deployments of the
            // same environment inactive, as GitHub does for non-transient environments.
            if state == "success" && b.get("auto_inactive").and_then(Value::as_bool) != Some(false)
            {
                let others: Vec<u64> = d
                    .deployments
                    .iter()
                    .filter(|x| {
                        x.environment == dep.environment
                            && x.id != dep.id
                            && !x.transient_environment
                    })
                    .map(|x| x.id)
                    .collect();
                for other in others {
                    let last = d
                        .deployment_statuses
                        .iter()
                        .rev()
                        .find(|s| s.deployment == other)
                        .map(|s| s.state.clone());
                    if last.as_deref() == Some("success") {
                        let inactive = DeploymentStatus {
                            id: id(),
                            deployment: other,
                            state: "inactive".into(),
                            description: String::new(),
                            environment: dep.environment.clone(),
                            environment_url: String::new(),
                            log_url: String::new(),
                            target_url: String::new(),
                            creator: self.login.to_owned(),
                            created_at: t,
                        };
                        d.deployment_statuses.push(inactive);
                    }
                }
            }
            d.deployment_statuses.push(st.clone());
            if let Some(x) = d.deployments.iter_mut().find(|x| x.id == dep.id) {
                x.updated_at = t;
            }
            st
        })?;
        Ok(Resp::json(
            201,
            j::deployment_status(self.base(), &self.full, &st),
        ))
    }

    fn list_deployment_statuses(&self, id: &str, q: &HashMap<String, String>) -> R {
        let dep = self.find_deployment(id)?;
        let items = self.read(|d| {
            d.deployment_statuses
                .iter()
                .rev()
                .filter(|x| x.deployment == dep.id)
                .map(|x| j::deployment_status(self.base(), &self.full, x))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("deployments/{}/statuses", dep.id)),
        ))
    }

    // ------------------------------------------------------------ dispatches and runs

    fn dispatch(&self, b: &Value) -> R {
        let Some(event_type) = s(b, "event_type").filter(|e| !e.is_empty() && e.len() <= 100)
        else {
            return Err(missing("Dispatch", "event_type"));
        };
        let payload = b
            .get("client_payload")
            .cloned()
            .unwrap_or_else(|| json!({}));
        match payload.as_object() {
            Some(o) if o.len() <= 10 => {}
            Some(_) => {
                return Err(invalid(
                    "client_payload has too many top-level properties (max 10)",
                    json!([]),
                ));
            }
            None => return Err(bad_field("Dispatch", "client_payload")),
        }
        let head = self
            .git
            .ref_target(&format!("refs/heads/{}", self.meta.default_branch))?;
        let correlation = match payload.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ Value::Number(_)) => Some(v.to_string()),
            _ => None,
        };
        let name = match &correlation {
            Some(id) => format!("{event_type} {id}"),
            None => event_type.to_owned(),
        };
        let t = now();
        self.write(|d, id| {
            let run_id = head.as_ref().map_or(0, |head| {
                let run_id = id();
                let run_number = d.runs.len() as u64 + 1;
                d.runs.push(WorkflowRun {
                    id: run_id,
                    run_number,
                    name,
                    event: "repository_dispatch".into(),
                    status: "queued".into(),
                    conclusion: None,
                    head_branch: self.meta.default_branch.clone(),
                    head_sha: head.clone(),
                    actor: self.login.to_owned(),
                    created_at: t,
                    updated_at: t,
                });
                run_id
            });
            d.dispatches.push(Dispatch {
                event_type: event_type.to_owned(),
                client_payload: payload,
                sender: self.login.to_owned(),
                created_at: t,
                run_id,
            });
        })?;
        Ok(Resp::empty(204))
    }

    fn run_json(&self, r: &WorkflowRun) -> Result<Value, ApiError> {
        let head = self.git.commit(&r.head_sha)?;
        Ok(j::workflow_run(
            self.base(),
            &self.repo_json(),
            &self.full,
            r,
            head.as_ref(),
        ))
    }

    fn list_runs(&self, q: &HashMap<String, String>) -> R {
        let created = q.get("created").map(|c| created_filter(c)).transpose()?;
        let runs: Vec<WorkflowRun> = self.read(|d| {
            d.runs
                .iter()
                .rev()
                .filter(|r| q.get("event").is_none_or(|e| r.event == *e))
                .filter(|r| q.get("branch").is_none_or(|e| r.head_branch == *e))
                .filter(|r| q.get("head_sha").is_none_or(|e| r.head_sha == *e))
                .filter(|r| q.get("actor").is_none_or(|e| r.actor == *e))
                .filter(|r| {
                    q.get("status").is_none_or(|st| {
                        r.status == *st || r.conclusion.as_deref() == Some(st.as_str())
                    })
                })
                .filter(|r| {
                    created
                        .as_ref()
                        .is_none_or(|(lo, hi)| r.created_at >= *lo && r.created_at <= *hi)
                })
                .cloned()
                .collect()
        });
        let total = runs.len();
        let per = q
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let pg = q
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let items = runs
            .iter()
            .skip((pg - 1) * per)
            .take(per)
            .map(|r| self.run_json(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resp::json(
            200,
            json!({"total_count": total, "workflow_runs": items}),
        ))
    }

    fn get_run(&self, id: &str) -> R {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let r = self
            .read(|d| d.runs.iter().find(|r| r.id == id).cloned())
            .ok_or_else(not_found)?;
        Ok(Resp::json(200, self.run_json(&r)?))
    }
}

/// Parses GitHub's `created` search qualifier into an inclusive [lo, hi] range of epoch seconds.
fn created_filter(c: &str) -> Result<(i64, i64), ApiError> {
    let bad = || {
        invalid(
            "Invalid created filter",
            json!([{"resource": "WorkflowRun", "code": "invalid", "field": "created"}]),
        )
    };
    let parse = |v: &str, end: bool| -> Result<i64, ApiError> {
        let v = v.trim();
        if let Ok(t) =
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        {
            return Ok(t.unix_timestamp());
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(v, &fmt).map_err(|_| bad())?;
        let t = d.midnight().assume_utc().unix_timestamp();
        Ok(if end { t + 86_399 } else { t })
    };
    if let Some((a, b)) = c.split_once("..") {
        let lo = if a == "*" { i64::MIN } else { parse(a, false)? };
        let hi = if b == "*" { i64::MAX } else { parse(b, true)? };
        return Ok((lo, hi));
    }
    if let Some(v) = c.strip_prefix(">=") {
        return Ok((parse(v, false)?, i64::MAX));
    }
    if let Some(v) = c.strip_prefix('>') {
        return Ok((parse(v, true)? + 1, i64::MAX));
    }
    if let Some(v) = c.strip_prefix("<=") {
        return Ok((i64::MIN, parse(v, true)?));
    }
    if let Some(v) = c.strip_prefix('<') {
        return Ok((i64::MIN, parse(v, false)? - 1));
    }
    Ok((parse(c, false)?, parse(c, true)?))
}
