//! GitHub Apps and their installation tokens. A test registers an App (`POST /_fake/apps` or
//! [`crate::FakeGithub::register_app`]): id, slug, private key (any text), repository
//! permissions and optionally the owners it is installed on (default: every owner). The
//! `create-github-app-token` stand-in exchanges (app id, private key, owner) for an installation
//! token (`POST /_fake/apps/{id}/token`): `ghs_...`, login `<slug>[bot]`, reaching every
//! repository of that owner (or the `repositories` asked for), limited to the App's permissions
//! (or fewer, when asked), expiring one hour after it was minted.
//!
//! The stand-in's divergence from GitHub: the private key is compared as text. GitHub's own
//! flow, a JWT signed with the key (`GET /repos/{owner}/{repo}/installation`, then `POST
//! /app/installations/{id}/access_tokens`), is served too, when the registered key is an RSA
//! private key (`app_jwt`). Tokens are checked by the same code as a job's
//! `GITHUB_TOKEN` (`permissions::check`), as if issued for whichever repository of the owner is
//! called.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::ctx::repo_key;
use super::runs::Grant;
use super::wire::{ApiError, Resp, err, not_found};
use super::{App, lock};
use crate::json::{now, ts, user_id};
use crate::runner::workflow::Level;

/// How long an installation token lives, as on GitHub.
const TOKEN_LIFETIME_SECS: i64 = 3600;
/// The permissions fake-github checks (GitHub App names; `pull_requests` is `pull-requests` in
/// a workflow's `permissions:`).
const PERMISSIONS: &[&str] = &[
    "actions",
    "checks",
    "contents",
    "deployments",
    "issues",
    "metadata",
    "pull_requests",
    "statuses",
];

/// Registered Apps and the tokens minted for them.
#[derive(Debug, Default)]
pub(super) struct Apps {
    apps: Mutex<BTreeMap<u64, Registered>>,
    tokens: Mutex<HashMap<String, AppToken>>,
}

#[derive(Debug, Clone)]
struct Registered {
    slug: String,
    private_key: String,
    permissions: BTreeMap<String, Level>,
    /// Lower-case owners it is installed on; `None`: every owner.
    owners: Option<Vec<String>>,
}

/// What an installation token may do.
#[derive(Debug, Clone)]
pub(super) struct AppToken {
    slug: String,
    /// Lower case.
    owner: String,
    /// Lower-case repository names of `owner`; `None`: all of them.
    repositories: Option<Vec<String>>,
    /// Workflow-style scope names (`pull-requests`), as `permissions::check` reads them.
    permissions: BTreeMap<String, Level>,
    expires_at: i64,
}

impl AppToken {
    /// `<slug>[bot]`, the login GitHub records for what the token does.
    pub(super) fn login(&self) -> String {
        format!("{}[bot]", self.slug)
    }

    fn reaches(&self, owner: &str, name: &str) -> bool {
        self.owner.eq_ignore_ascii_case(owner)
            && self
                .repositories
                .as_ref()
                .is_none_or(|r| r.iter().any(|n| n.eq_ignore_ascii_case(name)))
    }
}

impl App {
    /// The private key App `id` was registered with.
    pub(super) fn app_key(&self, id: u64) -> Option<String> {
        lock(&self.apps.apps)
            .get(&id)
            .map(|r| r.private_key.clone())
    }

    /// Whether App `id` is installed on `owner`.
    pub(super) fn app_installed_on(&self, id: u64, owner: &str) -> bool {
        lock(&self.apps.apps).get(&id).is_some_and(|r| {
            r.owners
                .as_ref()
                .is_none_or(|o| o.contains(&owner.to_ascii_lowercase()))
        })
    }
}

/// The token `token` names: `Some(Ok)` while valid, `Some(Err(()))` once expired, `None` when
/// it is not an installation token fake-github minted.
pub(super) fn lookup(app: &App, token: &str) -> Option<Result<AppToken, ()>> {
    let t = lock(&app.apps.tokens).get(token).cloned()?;
    Some(if now() < t.expires_at { Ok(t) } else { Err(()) })
}

/// Refuses what the installation token `t` may not do, as a job token is refused: GitHub's 403
/// "Resource not accessible by integration", or 404 for a private repository it does not reach.
pub(super) fn authorize(app: &App, t: &AppToken, method: &str, path: &str) -> Result<(), ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let grant = |repo: String| Grant {
        repo,
        permissions: t.permissions.clone(),
        identity: None,
    };
    match segs.as_slice() {
        ["repos", owner, name, rest @ ..] => {
            let key = repo_key(owner, name);
            let private = lock(&app.state)
                .repos
                .get(&key)
                .and_then(|d| d.meta.as_ref().map(|m| m.private));
            let Some(private) = private else {
                // An unknown repository answers 404 as usual.
                return Ok(());
            };
            let reached = if t.reaches(owner, name) {
                key.clone()
            } else {
                String::new()
            };
            super::permissions::check(&grant(reached), Some((&key, private)), method, rest)
        }
        _ => super::permissions::check(&grant(String::new()), None, method, &segs),
    }
}

fn level(v: &Value, what: &str) -> Result<Level, ApiError> {
    match v.as_str() {
        Some("read") => Ok(Level::Read),
        Some("write") => Ok(Level::Write),
        _ => Err(err(422, format!("{what}: the level must be read or write"))),
    }
}

/// Permissions given as `{"contents": "write", "pull_requests": "read", ...}`.
fn permissions(v: &Value) -> Result<BTreeMap<String, Level>, ApiError> {
    let Some(map) = v.as_object() else {
        return Err(err(422, "permissions must be an object"));
    };
    let mut out = BTreeMap::new();
    for (name, l) in map {
        let name = name.replace('-', "_");
        if !PERMISSIONS.contains(&name.as_str()) {
            return Err(err(
                422,
                format!(
                    "permission {name} is not modelled by fake-github ({})",
                    PERMISSIONS.join(", ")
                ),
            ));
        }
        out.insert(name, level(l, "permissions")?);
    }
    Ok(out)
}

fn body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| err(400, "Problems parsing JSON"))
}

/// `POST /_fake/apps` `{"id", "slug", "private_key", "permissions", "owners"?}`: registers (or
/// replaces) an App. 201 with the App.
pub(super) fn register(app: &App, bytes: &[u8]) -> Result<Resp, ApiError> {
    let v = body(bytes)?;
    let id = v["id"]
        .as_u64()
        .filter(|id| *id > 0)
        .ok_or_else(|| err(422, "id must be a positive integer"))?;
    let slug = v["slug"]
        .as_str()
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 100
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .ok_or_else(|| err(422, "slug must be lower-case letters, digits and dashes"))?
        .to_owned();
    let private_key = v["private_key"]
        .as_str()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| err(422, "private_key is required"))?
        .to_owned();
    let perms = permissions(&v["permissions"])?;
    let owners = match &v["owners"] {
        Value::Null => None,
        Value::Array(a) => Some(
            a.iter()
                .map(|o| o.as_str().map(str::to_ascii_lowercase))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(422, "owners must be strings"))?,
        ),
        _ => return Err(err(422, "owners must be an array")),
    };
    let answer = json!({"id": id, "slug": slug, "permissions": v["permissions"]});
    lock(&app.apps.apps).insert(
        id,
        Registered {
            slug,
            private_key,
            permissions: perms,
            owners,
        },
    );
    Ok(Resp::json(201, answer))
}

/// `POST /_fake/apps/{id}/token` `{"private_key", "owner", "repositories"?, "permissions"?}`:
/// an installation token, 201 `{"token", "expires_at", "installation_id", "app_slug",
/// "permissions", "repository_selection"}`. 404 for an unknown App or an owner it is not
/// installed on, 401 when the key is not the App's, 422 for permissions beyond the App's or a
/// repository the installation does not have.
pub(super) fn token(app: &App, id: &str, bytes: &[u8]) -> Result<Resp, ApiError> {
    let v = body(bytes)?;
    let registered = id
        .parse::<u64>()
        .ok()
        .and_then(|id| lock(&app.apps.apps).get(&id).cloned())
        .ok_or_else(|| err(404, "Integration not found"))?;
    let key = v["private_key"].as_str().map(str::trim).unwrap_or_default();
    if key != registered.private_key {
        return Err(err(401, "A JSON web token could not be decoded"));
    }
    let owner = v["owner"]
        .as_str()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| err(422, "owner is required"))?
        .to_ascii_lowercase();
    if registered
        .owners
        .as_ref()
        .is_some_and(|o| !o.contains(&owner))
    {
        return Err(not_found());
    }
    let repositories = match &v["repositories"] {
        Value::Null => None,
        Value::Array(a) => {
            let names = a
                .iter()
                .map(|n| n.as_str().map(str::to_ascii_lowercase))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(422, "repositories must be strings"))?;
            let state = lock(&app.state);
            if names.is_empty()
                || names
                    .iter()
                    .any(|n| !state.repos.contains_key(&repo_key(&owner, n)))
            {
                return Err(err(
                    422,
                    "There is at least one repository that does not exist or is not accessible \
                     to the parent installation.",
                ));
            }
            Some(names)
        }
        _ => return Err(err(422, "repositories must be an array")),
    };
    let mut granted = registered.permissions.clone();
    if !v["permissions"].is_null() {
        let asked = permissions(&v["permissions"])?;
        for (name, l) in &asked {
            if registered.permissions.get(name).is_none_or(|has| has < l) {
                return Err(err(
                    422,
                    "The permissions requested are not granted to this installation.",
                ));
            }
        }
        granted = asked;
    }
    let token = format!("ghs_{}", random_hex());
    let expires_at = now() + TOKEN_LIFETIME_SECS;
    let installation_id = user_id(&format!("installation/{id}/{owner}"));
    let shown: serde_json::Map<String, Value> = granted
        .iter()
        .map(|(k, l)| {
            let l = if *l == Level::Write { "write" } else { "read" };
            (k.clone(), json!(l))
        })
        .collect();
    let selection = if repositories.is_some() {
        "selected"
    } else {
        "all"
    };
    lock(&app.apps.tokens).insert(
        token.clone(),
        AppToken {
            slug: registered.slug.clone(),
            owner,
            repositories,
            permissions: granted
                .into_iter()
                .map(|(k, l)| (k.replace('_', "-"), l))
                .collect(),
            expires_at,
        },
    );
    Ok(Resp::json(
        201,
        json!({
            "token": token,
            "expires_at": ts(expires_at),
            "installation_id": installation_id,
            "app_slug": registered.slug,
            "permissions": shown,
            "repository_selection": selection,
        }),
    ))
}

/// 36 random hex digits (the length of GitHub's token bodies).
fn random_hex() -> String {
    use std::fmt::Write as _;
    let mut b = [0u8; 18];
    let rng = ring::rand::SystemRandom::new();
    let _ = ring::rand::SecureRandom::fill(&rng, &mut b);
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

impl crate::FakeGithub {
    /// Registers a GitHub App (see `POST /_fake/apps`): `permissions` as GitHub names them
    /// (`("contents", "write")`, `("pull_requests", "write")`, ...); installed on every owner.
    /// The `create-github-app-token` stand-in then mints tokens for it from `id` and
    /// `private_key` (the `GITOPS_APP_ID` variable and `GITOPS_APP_PRIVATE_KEY` secret of the
    /// rendered workflows).
    ///
    /// # Errors
    /// When fake-github refuses the App.
    pub async fn register_app(
        &self,
        id: u64,
        slug: &str,
        private_key: &str,
        permissions: &[(&str, &str)],
    ) -> Result<(), crate::Error> {
        let perms: serde_json::Map<String, Value> = permissions
            .iter()
            .map(|(k, l)| ((*k).to_owned(), json!(l)))
            .collect();
        self.call(
            reqwest::Method::POST,
            "/_fake/apps",
            Some(json!({"id": id, "slug": slug, "private_key": private_key, "permissions": perms})),
        )
        .await
        .map(drop)
    }

    /// [`crate::FakeGithub::register_app`], installed only on `owners`.
    pub async fn register_app_on(
        &self,
        id: u64,
        slug: &str,
        private_key: &str,
        permissions: &[(&str, &str)],
        owners: &[&str],
    ) -> Result<(), crate::Error> {
        let perms: serde_json::Map<String, Value> = permissions
            .iter()
            .map(|(k, l)| ((*k).to_owned(), json!(l)))
            .collect();
        self.call(
            reqwest::Method::POST,
            "/_fake/apps",
            Some(json!({"id": id, "slug": slug, "private_key": private_key,
                        "permissions": perms, "owners": owners})),
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let app = App::new(&dir.path().join("data"), None).unwrap();
        (dir, app)
    }

    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----";

    fn register_gitops(app: &App) {
        let body = json!({"id": 42, "slug": "acme-gitops", "private_key": KEY,
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read",
                            "deployments": "write", "statuses": "write"}});
        let r = register(app, body.to_string().as_bytes()).unwrap();
        assert_eq!(r.status, 201);
    }

    fn mint(app: &App, body: &Value) -> Result<String, ApiError> {
        let r = token(app, "42", body.to_string().as_bytes())?;
        match r.body {
            super::super::wire::RespBody::Json(v) => Ok(v["token"].as_str().unwrap().to_owned()),
            _ => panic!("no JSON"),
        }
    }

    #[test]
    fn a_token_needs_the_app_key_and_is_limited_to_the_apps_permissions() {
        let (_d, app) = app();
        register_gitops(&app);
        let e = mint(&app, &json!({"private_key": "other", "owner": "acme"})).unwrap_err();
        assert_eq!(e.status, 401);
        let e = token(&app, "7", b"{\"private_key\": \"x\", \"owner\": \"acme\"}").unwrap_err();
        assert_eq!(e.status, 404);
        let e = mint(
            &app,
            &json!({"private_key": KEY, "owner": "acme", "permissions": {"actions": "read"}}),
        )
        .unwrap_err();
        assert_eq!(e.status, 422, "more than the App has");
        let t = mint(
            &app,
            &json!({"private_key": format!("{KEY}\n"), "owner": "Acme"}),
        )
        .unwrap();
        assert!(t.starts_with("ghs_"));
        let grant = lookup(&app, &t).unwrap().unwrap();
        assert_eq!(grant.login(), "acme-gitops[bot]");
        assert_eq!(grant.permissions.get("pull-requests"), Some(&Level::Write));
        assert!(lookup(&app, "ghs_unknown").is_none());
    }

    #[test]
    fn a_token_expires_after_an_hour() {
        let (_d, app) = app();
        register_gitops(&app);
        let t = mint(&app, &json!({"private_key": KEY, "owner": "acme"})).unwrap();
        let expires = lock(&app.apps.tokens).get(&t).unwrap().expires_at;
        assert!((expires - now() - TOKEN_LIFETIME_SECS).abs() <= 2);
        lock(&app.apps.tokens).get_mut(&t).unwrap().expires_at = now() - 1;
        assert!(lookup(&app, &t).unwrap().is_err());
    }

    #[test]
    fn a_token_reaches_its_owners_repositories_only() {
        let t = AppToken {
            slug: "s".into(),
            owner: "acme".into(),
            repositories: None,
            permissions: BTreeMap::new(),
            expires_at: now() + 60,
        };
        assert!(t.reaches("ACME", "checkout-mfe"));
        assert!(!t.reaches("evil", "checkout-mfe"));
        let t = AppToken {
            repositories: Some(vec!["gitops".into()]),
            ..t
        };
        assert!(t.reaches("acme", "gitops") && !t.reaches("acme", "checkout-mfe"));
    }

    /// Over HTTP: the token acts as `<slug>[bot]` on every repository of its owner within the
    /// App's permissions, and nowhere else.
    #[tokio::test]
    async fn an_installation_token_acts_as_the_app_on_its_owners_repositories() {
        use reqwest::Method;
        let dir = tempfile::tempdir().unwrap();
        let gh = crate::FakeGithub::spawn(dir.path().join("gh"), None)
            .await
            .unwrap();
        let sha = gh
            .create_repo("acme", "checkout-mfe", &[("README.md", "x\n")])
            .await
            .unwrap()
            .unwrap();
        gh.create_repo("evil", "thing", &[("README.md", "x\n")])
            .await
            .unwrap();
        gh.register_app(
            42,
            "acme-gitops",
            KEY,
            &[("contents", "write"), ("deployments", "write")],
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let mint = |key: &str| {
            http.post(format!("{}/_fake/apps/42/token", gh.base_url))
                .json(&json!({"private_key": key, "owner": "acme"}))
                .send()
        };
        assert_eq!(mint("not the key").await.unwrap().status().as_u16(), 401);
        let answer: Value = mint(KEY).await.unwrap().json().await.unwrap();
        let token = answer["token"].as_str().unwrap().to_owned();
        assert_eq!(answer["app_slug"], "acme-gitops");
        let deployment = json!({"ref": sha, "environment": "dev", "auto_merge": false,
                                "required_contexts": []});
        let (status, d) = gh
            .api(
                &token,
                Method::POST,
                "/repos/acme/checkout-mfe/deployments",
                Some(deployment.clone()),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{d}");
        assert_eq!(d["creator"]["login"], "acme-gitops[bot]");
        let (status, _) = gh
            .api(
                &token,
                Method::POST,
                "/repos/evil/thing/deployments",
                Some(deployment),
            )
            .await
            .unwrap();
        assert_eq!(status, 403, "another owner's repository");
        let (status, _) = gh
            .api(
                &token,
                Method::POST,
                &format!("/repos/acme/checkout-mfe/statuses/{sha}"),
                Some(json!({"state": "success", "context": "x"})),
            )
            .await
            .unwrap();
        assert_eq!(status, 403, "no statuses permission");
    }

    /// On the runner: a workflow mints a token through the `create-github-app-token` stand-in
    /// (variable `GITOPS_APP_ID`, secret `GITOPS_APP_PRIVATE_KEY`) and acts as the App in
    /// another repository of its owner.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_workflow_mints_an_app_token_through_the_stand_in() {
        use reqwest::Method;
        let test = "a_workflow_mints_an_app_token_through_the_stand_in";
        let Some(act) = std::env::var_os("GITOPS_TEST_ACT").filter(|v| !v.is_empty()) else {
            crate::skip(test, "GITOPS_TEST_ACT (nektos/act) is not set");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::runner::RunnerConfig::new(act, dir.path().join("work"));
        let gh = crate::FakeGithub::spawn_with_runner(dir.path().join("gh"), None, cfg)
            .await
            .unwrap();
        let sha = gh
            .create_repo("acme", "checkout-mfe", &[("README.md", "x\n")])
            .await
            .unwrap()
            .unwrap();
        let workflow = format!(
            r#"on: repository_dispatch
permissions: {{}}
jobs:
  t:
    runs-on: ubuntu-latest
    permissions: {{}}
    steps:
      - id: app-token
        if: vars.GITOPS_APP_ID != ''
        uses: actions/create-github-app-token@fee1f7d63c2ff003460e3d139729b119787bc349 # v2.2.2
        with:
          app-id: ${{{{ vars.GITOPS_APP_ID }}}}
          private-key: ${{{{ secrets.GITOPS_APP_PRIVATE_KEY }}}}
          owner: ${{{{ github.repository_owner }}}}
          permission-deployments: write
      - env:
          TOKEN: ${{{{ steps.app-token.outputs.token }}}}
        run: |
          curl -sS --fail -X POST -H "Authorization: Bearer $TOKEN" \
            "$GITHUB_API_URL/repos/acme/checkout-mfe/deployments" \
            -d '{{"ref": "{sha}", "environment": "dev", "auto_merge": false, "required_contexts": []}}'
"#
        );
        gh.create_repo("acme", "gitops", &[(".github/workflows/t.yml", &workflow)])
            .await
            .unwrap();
        gh.register_app(42, "acme-gitops", KEY, &[("deployments", "write")])
            .await
            .unwrap();
        let user = "octocat:ghp_octocat";
        let (status, _) = gh
            .api(
                user,
                Method::POST,
                "/repos/acme/gitops/actions/variables",
                Some(json!({"name": "GITOPS_APP_ID", "value": "42"})),
            )
            .await
            .unwrap();
        assert_eq!(status, 201);
        gh.set_secret("acme", "gitops", None, "GITOPS_APP_PRIVATE_KEY", KEY)
            .await
            .unwrap();
        let (status, _) = gh
            .api(
                user,
                Method::POST,
                "/repos/acme/gitops/dispatches",
                Some(json!({"event_type": "go", "client_payload": {}})),
            )
            .await
            .unwrap();
        assert_eq!(status, 204);
        let runs = gh
            .settle("acme", "gitops", std::time::Duration::from_mins(3))
            .await
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].conclusion.as_deref(), Some("success"), "{runs:?}");
        let (_, deployments) = gh
            .api(
                user,
                Method::GET,
                "/repos/acme/checkout-mfe/deployments",
                None,
            )
            .await
            .unwrap();
        assert_eq!(deployments[0]["creator"]["login"], "acme-gitops[bot]");
    }
}
