//! A GitHub App's credentials (issue 19, App mode; feature `app`): the App's id and private key
//! sign a JWT (RS256, back-dated 60 s against clock skew, valid 9 minutes, as GitHub asks),
//! exchanged for installation tokens (`GET /repos/{owner}/{repo}/installation`, then `POST
//! /app/installations/{id}/access_tokens`: one hour), each cached until 5 minutes before it
//! expires. The calls go through [`GithubForge`]'s transport (timeouts, retries, rate limits,
//! errors that never quote a token). Neither the key, a JWT nor a token reaches a log, an
//! error or a `Debug` line.

use std::collections::HashMap;
use std::fmt;

use gitops_event_model::RepositoryName;
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::GithubForge;
use crate::{Error, Result};

/// Largest private key file read ([`AppCredentials::from_env`]).
const MAX_KEY_BYTES: u64 = 64 * 1024;
/// A token is used until this long before it expires, then minted again.
const REFRESH_BEFORE: time::Duration = time::Duration::minutes(5);

/// A GitHub App: its id and the private key it signs JWTs with.
pub struct AppCredentials {
    id: u64,
    key: jsonwebtoken::EncodingKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl AppCredentials {
    /// The App `id` with its private key (PEM, as GitHub hands it out: `BEGIN RSA PRIVATE KEY`,
    /// or PKCS#8 `BEGIN PRIVATE KEY`). A key that is no RSA private key is
    /// [`Error::Invalid`], naming neither the key nor its content.
    pub fn new(id: u64, private_key_pem: &SecretString) -> Result<Self> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            private_key_pem.expose_secret().as_bytes(),
        )
        .map_err(|_| {
            Error::invalid(
                "GITOPS_APP_PRIVATE_KEY_FILE",
                "is not an RSA private key in PEM (the .pem file GitHub generates for the App)",
            )
        })?;
        Ok(AppCredentials { id, key })
    }

    /// From the environment: `GITOPS_APP_ID` and the key file `GITOPS_APP_PRIVATE_KEY_FILE`
    /// (at most 64 KiB), or the key itself in `GITOPS_APP_PRIVATE_KEY` (a secret injected as
    /// an environment variable, as ECS does); the variable is not read when the file is named.
    pub async fn from_env() -> Result<Self> {
        let id = std::env::var("GITOPS_APP_ID")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| Error::invalid("GITOPS_APP_ID", "must be the App's numeric id"))?;
        let Some(path) = std::env::var_os("GITOPS_APP_PRIVATE_KEY_FILE").filter(|p| !p.is_empty())
        else {
            return match std::env::var("GITOPS_APP_PRIVATE_KEY") {
                Ok(pem) if !pem.trim().is_empty() => Self::new(id, &SecretString::from(pem)),
                _ => Err(Error::invalid(
                    "GITOPS_APP_PRIVATE_KEY_FILE",
                    "must name the App's private key file (or GITOPS_APP_PRIVATE_KEY hold the key)",
                )),
            };
        };
        let unreadable = || {
            Error::invalid(
                "GITOPS_APP_PRIVATE_KEY_FILE",
                "cannot be read (a file of at most 64 KiB)",
            )
        };
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|_| unreadable())?
            .len();
        if size > MAX_KEY_BYTES {
            return Err(unreadable());
        }
        let pem = tokio::fs::read_to_string(&path)
            .await
            .map_err(|_| unreadable())?;
        Self::new(id, &SecretString::from(pem))
    }

    /// The App's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A JWT for the App as of `now`.
    fn jwt(&self, now: OffsetDateTime) -> Result<SecretString> {
        let now = now.unix_timestamp();
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: self.id.to_string(),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map(SecretString::from)
        .map_err(|_| Error::invalid("GITOPS_APP_PRIVATE_KEY_FILE", "cannot sign a JWT"))
    }
}

/// An installation token and when GitHub expires it.
#[derive(Clone)]
struct Minted {
    token: SecretString,
    expires_at: OffsetDateTime,
}

#[derive(Deserialize)]
struct WireInstallation {
    id: u64,
}

#[derive(Deserialize)]
struct WireToken {
    token: String,
    expires_at: String,
}

/// Installation tokens of one App, minted on demand and cached.
pub struct InstallationTokens {
    api_url: String,
    app: AppCredentials,
    /// Repository -> installation; installation -> its newest token.
    cache: tokio::sync::Mutex<(HashMap<RepositoryName, u64>, HashMap<u64, Minted>)>,
}

impl fmt::Debug for InstallationTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationTokens")
            .field("api_url", &self.api_url)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl InstallationTokens {
    /// Tokens of `app` at `api_url` (`https://api.github.com`, a GitHub Enterprise Server's
    /// `/api/v3`, or a test server).
    pub fn new(api_url: &str, app: AppCredentials) -> Self {
        InstallationTokens {
            api_url: api_url.trim_end_matches('/').to_owned(),
            app,
            cache: tokio::sync::Mutex::new((HashMap::new(), HashMap::new())),
        }
    }

    /// A token of the App's installation on `repository`'s account: the cached one while it
    /// has more than 5 minutes left, else a new one (one lookup of the installation per
    /// repository, one mint per installation and hour). Not installed there:
    /// [`Error::NotFound`].
    pub async fn token_for(&self, repository: &RepositoryName) -> Result<SecretString> {
        let now = OffsetDateTime::now_utc();
        let mut cache = self.cache.lock().await;
        let installation = if let Some(id) = cache.0.get(repository) {
            *id
        } else {
            let found: WireInstallation = self
                .as_app(repository, now)?
                .json(
                    Method::GET,
                    &format!("/repos/{repository}/installation"),
                    None,
                )
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => Error::not_found(format!(
                        "an installation of App {} on {repository}",
                        self.app.id
                    )),
                    e => e,
                })?;
            cache.0.insert(repository.clone(), found.id);
            found.id
        };
        if let Some(minted) = cache.1.get(&installation)
            && minted.expires_at - now > REFRESH_BEFORE
        {
            return Ok(minted.token.clone());
        }
        let wire: WireToken = self
            .as_app(repository, now)?
            .json(
                Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
                Some(&serde_json::json!({})),
            )
            .await?;
        let expires_at = OffsetDateTime::parse(
            &wire.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| Error::Malformed {
            what: "POST /app/installations/{id}/access_tokens".to_owned(),
            reason: "expires_at is not an RFC 3339 time".to_owned(),
        })?;
        let minted = Minted {
            token: SecretString::from(wire.token),
            expires_at,
        };
        cache.1.insert(installation, minted.clone());
        Ok(minted.token)
    }

    /// A forge on `repository` with a token of the App's installation there.
    pub async fn forge_for(&self, repository: &RepositoryName) -> Result<GithubForge> {
        let token = self.token_for(repository).await?;
        GithubForge::new(&self.api_url, token, repository.clone())
    }

    /// The transport, authenticated as the App itself (a fresh JWT).
    fn as_app(&self, repository: &RepositoryName, now: OffsetDateTime) -> Result<GithubForge> {
        GithubForge::new(&self.api_url, self.app.jwt(now)?, repository.clone())
    }
}

/// The requester side in App mode: every call on a repository goes out with a token of the
/// App's installation on that repository's account, so requesters in other organisations than
/// the GitOps repository's are told too (where the App is installed).
#[derive(Debug, Clone)]
pub struct InstallationRequester {
    tokens: std::sync::Arc<InstallationTokens>,
}

impl InstallationRequester {
    /// Calls made with `tokens`.
    pub fn new(tokens: std::sync::Arc<InstallationTokens>) -> Self {
        InstallationRequester { tokens }
    }
}

#[async_trait::async_trait]
impl crate::Requester for InstallationRequester {
    async fn create_deployment(
        &self,
        repo: &RepositoryName,
        sha: &gitops_event_model::CommitSha,
        environment: &gitops_event_model::EnvironmentName,
        payload: &gitops_event_model::DeploymentPayload,
        description: &str,
    ) -> Result<u64> {
        let forge = self.tokens.forge_for(repo).await?;
        forge
            .create_deployment(repo, sha, environment, payload, description)
            .await
    }

    async fn create_deployment_status(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
        state: crate::DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()> {
        let forge = self.tokens.forge_for(repo).await?;
        forge
            .create_deployment_status(
                repo,
                deployment_id,
                state,
                description,
                log_url,
                environment_url,
            )
            .await
    }

    async fn list_deployments(
        &self,
        repo: &RepositoryName,
        sha: &gitops_event_model::CommitSha,
        environment: &gitops_event_model::EnvironmentName,
    ) -> Result<Vec<crate::Deployment>> {
        let forge = self.tokens.forge_for(repo).await?;
        forge.list_deployments(repo, sha, environment).await
    }

    async fn deployment_statuses(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
    ) -> Result<Vec<crate::DeploymentStatus>> {
        let forge = self.tokens.forge_for(repo).await?;
        forge.deployment_statuses(repo, deployment_id).await
    }

    async fn dispatch(
        &self,
        repo: &RepositoryName,
        event_type: &gitops_event_model::EventType,
        client_payload: &serde_json::Value,
    ) -> Result<()> {
        let forge = self.tokens.forge_for(repo).await?;
        forge.dispatch(repo, event_type, client_payload).await
    }

    async fn find_workflow_run(
        &self,
        repo: &RepositoryName,
        correlation_id: &gitops_event_model::RequestId,
    ) -> Result<Option<crate::WorkflowRun>> {
        let forge = self.tokens.forge_for(repo).await?;
        forge.find_workflow_run(repo, correlation_id).await
    }
}
