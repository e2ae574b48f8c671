//! Turning an MFE's `artifact` template or an environment's `storage:` value into an
//! `Arc<dyn ObjectStore>` plus an object path.
//!
//! Supported forms:
//!
//! | form | store |
//! |---|---|
//! | `local/artifacts/x-{version}.tgz`, `/abs/x.tgz`, `file:///abs/x.tgz` | `LocalFileSystem` (relative paths resolve against the caller's base directory, the GitOps repository root); a storage *target* is a [`crate::LocalStore`] |
//! | `s3://bucket/key` | `AmazonS3Builder` from the `AWS_*` environment (AWS_ENDPOINT_URL, region, credentials; an `http://` endpoint is used over HTTP without AWS_ALLOW_HTTP, see [`AwsSettings`]) |
//! | `https://host/path/x.tgz`, `http://...` | object_store's HTTP store (Artifactory generic repositories), basic or bearer auth from env |
//!
//! S3 addressing: path-style when an endpoint is configured (emulators, MinIO), virtual-hosted
//! otherwise (unless the bucket name contains a dot, which breaks TLS for virtual-hosted
//! requests, or `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` says otherwise).
//!
//! Timeouts (HTTP and S3): each request may take at most the *request* timeout (connecting
//! at most the *connect* timeout), and object_store's own retries stop once the request
//! timeout has passed since the first attempt, so one operation on a server that accepts
//! connections but never answers ends after about twice the request timeout
//! ([`StoreOpener::with_timeouts`]; defaults [`DEFAULT_CONNECT_TIMEOUT`] and
//! [`DEFAULT_REQUEST_TIMEOUT`]). It is reported as [`Error::Timeout`], which is retryable.

use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gitops_event_model::{MfeName, Version};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientConfigKey, ClientOptions, RetryConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::local::LocalStore;

/// Default connect timeout of HTTP and S3 stores.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default request timeout of HTTP and S3 stores (whole request, body included: artifact
/// transfers can be large).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_mins(5);

/// Authentication for `http(s)://` artifact stores (Artifactory generic repositories).
#[derive(Debug, Clone, Default)]
pub enum HttpAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password or API key.
        password: SecretString,
    },
    /// `Authorization: Bearer <token>` (Artifactory access token).
    Bearer(SecretString),
}

impl HttpAuth {
    /// Reads `ARTIFACTORY_TOKEN` (bearer, preferred) or `ARTIFACTORY_USER` +
    /// `ARTIFACTORY_PASSWORD` (basic). Empty values count as unset (GitHub Actions passes a
    /// missing secret as an empty string); a value that is not UTF-8, or a user without a
    /// password (or the reverse), is an error naming the variable, never "no auth".
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k))
    }

    fn from_vars(
        lookup: impl Fn(&str) -> std::result::Result<String, std::env::VarError>,
    ) -> Result<Self> {
        let var = |k: &'static str| match lookup(k) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid(k, "is not valid UTF-8")),
        };
        if let Some(token) = var("ARTIFACTORY_TOKEN")? {
            return Ok(HttpAuth::Bearer(SecretString::from(token)));
        }
        match (var("ARTIFACTORY_USER")?, var("ARTIFACTORY_PASSWORD")?) {
            (Some(user), Some(password)) => Ok(HttpAuth::Basic {
                user,
                password: SecretString::from(password),
            }),
            (None, None) => Ok(HttpAuth::None),
            (Some(_), None) => Err(Error::invalid(
                "ARTIFACTORY_PASSWORD",
                "is not set, but ARTIFACTORY_USER is",
            )),
            (None, Some(_)) => Err(Error::invalid(
                "ARTIFACTORY_USER",
                "is not set, but ARTIFACTORY_PASSWORD is",
            )),
        }
    }

    fn header(&self) -> Result<Option<http::HeaderValue>> {
        let raw = match self {
            HttpAuth::None => return Ok(None),
            HttpAuth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose_secret());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            HttpAuth::Bearer(token) => format!("Bearer {}", token.expose_secret()),
        };
        let mut value = http::HeaderValue::from_str(&raw).map_err(|_| {
            Error::invalid(
                "ARTIFACTORY credentials",
                "contain characters not allowed in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// S3 settings layered over (or instead of) the process environment.
///
/// Production code uses [`AwsSettings::from_env`]; tests pass the variables explicitly
/// ([`AwsSettings::from_vars`], [`AwsSettings::emulator`]) so parallel tests never mutate
/// process-global environment.
///
/// Plain HTTP: an endpoint the operator configured as `http://` (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_S3`, or [`AwsSettings::endpoint`]) is used over HTTP, as the AWS SDK
/// does; `AWS_ALLOW_HTTP` is not needed for it. `AWS_ALLOW_HTTP=false` together with an
/// `http://` endpoint, an endpoint that is not an `http(s)://` URL, or an `AWS_ALLOW_HTTP`
/// that is not a boolean is an [`Error::Config`] naming the variable and the fix.
#[derive(Clone, Default)]
pub struct AwsSettings {
    /// `AWS_*` variables applied first, as `AmazonS3Builder::from_env` reads them (values
    /// kept secret: `Debug` shows the names only).
    vars: Vec<(String, SecretString)>,
    /// Endpoint override (e.g. `http://127.0.0.1:5000` for moto). Implies path-style requests.
    pub endpoint: Option<String>,
    /// Region override.
    pub region: Option<String>,
    /// Access key id override.
    pub access_key_id: Option<String>,
    /// Secret access key override.
    pub secret_access_key: Option<SecretString>,
    /// Allow plain `http://` endpoints (overrides `AWS_ALLOW_HTTP`; unset: an `http://`
    /// endpoint is allowed, see above).
    pub allow_http: Option<bool>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AwsSettings")
            .field("vars", &names)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl AwsSettings {
    /// Everything from the `AWS_*` environment, no overrides (variables whose name or value is
    /// not UTF-8 are skipped, as `AmazonS3Builder::from_env` does).
    pub fn from_env() -> Self {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// The `AWS_*` variables among `vars` (names as in the environment, e.g.
    /// `AWS_ENDPOINT_URL`), no overrides: what [`AwsSettings::from_env`] does with the
    /// process environment.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        AwsSettings {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .filter(|(k, _)| k.starts_with("AWS_"))
                .collect(),
            ..AwsSettings::default()
        }
    }

    /// Explicit endpoint and static credentials, ignoring the environment (for emulators).
    pub fn emulator(
        endpoint: impl Into<String>,
        access_key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let endpoint = endpoint.into();
        AwsSettings {
            vars: Vec::new(),
            allow_http: Some(endpoint.starts_with("http://")),
            endpoint: Some(endpoint),
            region: Some("us-east-1".to_owned()),
            access_key_id: Some(access_key_id.into()),
            secret_access_key: Some(SecretString::from(secret.into())),
        }
    }

    /// The value of variable `name` among the `AWS_*` variables.
    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose_secret())
    }

    fn builder(&self, bucket: &str) -> Result<AmazonS3Builder> {
        let mut b = AmazonS3Builder::new();
        for (name, value) in &self.vars {
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                b = b.with_config(key, value.expose_secret());
            }
        }
        b = b.with_bucket_name(bucket);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some(k) = &self.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &self.secret_access_key {
            b = b.with_secret_access_key(s.expose_secret());
        }
        // The endpoint requests go to: AWS_ENDPOINT_URL_S3 wins over the general one.
        let endpoint = if let Some(e) = b.get_config_value(&AmazonS3ConfigKey::S3Endpoint) {
            Some(("AWS_ENDPOINT_URL_S3", e))
        } else {
            let from_var = self
                .endpoint
                .is_none()
                .then(|| self.endpoint_var())
                .flatten();
            b.get_config_value(&AmazonS3ConfigKey::Endpoint)
                .map(|e| (from_var.unwrap_or("the S3 endpoint"), e))
        };
        let allow = match self.allow_http {
            Some(h) => Some(h),
            None => self
                .vars
                .iter()
                .rev()
                .find(|(k, _)| k == "AWS_ALLOW_HTTP")
                .map(|(_, v)| parse_allow_http(v.expose_secret()))
                .transpose()?,
        };
        let endpoint_ref = endpoint
            .as_ref()
            .map(|(name, value)| (*name, value.as_str()));
        if let Some(h) = allow_http(endpoint_ref, allow)? {
            b = b.with_allow_http(h);
        }
        let style_from_env = self.var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_some();
        if !style_from_env {
            b = b.with_virtual_hosted_style_request(endpoint.is_none() && !bucket.contains('.'));
        }
        Ok(b)
    }

    /// The variable that set the general endpoint, for messages.
    fn endpoint_var(&self) -> Option<&'static str> {
        ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .into_iter()
            .find(|name| self.var(name).is_some())
    }
}

/// `AWS_ALLOW_HTTP` as object_store reads booleans; anything else is a configuration error.
fn parse_allow_http(raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" => Ok(true),
        "0" | "false" | "off" | "no" | "n" => Ok(false),
        _ => Err(Error::config(format!(
            "AWS_ALLOW_HTTP={raw:?} is not a boolean: set it to true or false, or unset it (an http:// endpoint is used over HTTP without it)"
        ))),
    }
}

/// Whether the S3 client may use plain HTTP, given the endpoint (`(variable, value)`) and
/// the explicit `AWS_ALLOW_HTTP` setting: `Some(true)` for an `http://` endpoint unless HTTP
/// was explicitly forbidden (then a configuration error), the explicit setting otherwise
/// (`None`: object_store's default, HTTPS only). An endpoint that is not an `http(s)://` URL
/// is a configuration error.
fn allow_http(endpoint: Option<(&str, &str)>, explicit: Option<bool>) -> Result<Option<bool>> {
    let Some((name, raw)) = endpoint else {
        return Ok(explicit);
    };
    // Shown in messages: whatever precedes an `@` could be a credential.
    let value = raw
        .rsplit_once('@')
        .map_or_else(|| raw.to_owned(), |(_, host)| format!("***@{host}"));
    let example = "e.g. http://localhost:4566 for an emulator or https://s3.example.com";
    let url = url::Url::parse(raw).map_err(|e| {
        Error::config(format!(
            "{name} `{value}` is not a URL ({e}): set it to an http:// or https:// URL, {example}"
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(format!(
            "{name} contains credentials: remove them from the URL and use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the credential chain"
        )));
    }
    match url.scheme() {
        "http" if explicit == Some(false) => Err(Error::config(format!(
            "{name} `{value}` is a plain-HTTP endpoint, but AWS_ALLOW_HTTP=false forbids plain HTTP: use an https:// endpoint, or unset AWS_ALLOW_HTTP (an http:// endpoint is then used over HTTP)"
        ))),
        "http" => Ok(Some(true)),
        "https" => Ok(explicit),
        other => Err(Error::config(format!(
            "{name} `{value}` has the scheme `{other}`: the S3 endpoint must be an http:// or https:// URL, {example}"
        ))),
    }
}

/// An object inside a store: what an artifact template or URL resolves to.
#[derive(Debug, Clone)]
pub struct ObjectLocation {
    /// The store holding the object.
    pub store: Arc<dyn ObjectStore>,
    /// The object's path in `store`.
    pub path: Path,
    /// The location as written (after template substitution), for messages. Never holds
    /// credentials (URLs with user info are refused).
    pub display: String,
}

impl ObjectLocation {
    /// The path of the `<artifact>.sha256` sidecar next to this object.
    pub fn sidecar_path(&self) -> Path {
        Path::from(format!("{}.sha256", self.path))
    }

    /// The file name of the object (last path segment); an error when the path is empty
    /// (the location names no file).
    pub fn file_name(&self) -> Result<&str> {
        self.path.filename().ok_or_else(|| {
            Error::invalid(
                "artifact location",
                format!("`{}` names no file", self.display),
            )
        })
    }
}

/// Opens stores from artifact templates, artifact URLs and storage targets.
#[derive(Debug, Clone)]
pub struct StoreOpener {
    base_dir: PathBuf,
    aws: AwsSettings,
    http_auth: HttpAuth,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl StoreOpener {
    /// An opener resolving relative paths against `base_dir`, with no S3 environment, no
    /// HTTP auth and the default timeouts (change them with the `with_*` methods).
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        StoreOpener {
            base_dir: base_dir.into(),
            aws: AwsSettings::default(),
            http_auth: HttpAuth::None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// An opener using the process environment: `AWS_*` for S3, `ARTIFACTORY_*` for HTTP
    /// (errors as [`HttpAuth::from_env`]).
    pub fn from_env(base_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(StoreOpener {
            aws: AwsSettings::from_env(),
            http_auth: HttpAuth::from_env()?,
            ..StoreOpener::new(base_dir)
        })
    }

    /// Sets the connect and request timeouts of the HTTP and S3 stores it opens (defaults
    /// [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_REQUEST_TIMEOUT`]). The request timeout covers
    /// a whole request, body included, and also bounds object_store's retries: they stop
    /// once it has passed since the first attempt. They win over `AWS_*` client settings.
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            retry_timeout: self.request_timeout,
            ..RetryConfig::default()
        }
    }

    fn s3_builder(&self, bucket: &str) -> Result<AmazonS3Builder> {
        let nanos = |d: Duration| format!("{}ns", d.as_nanos());
        Ok(self
            .aws
            .builder(bucket)?
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                nanos(self.connect_timeout),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                nanos(self.request_timeout),
            )
            .with_retry(self.retry_config()))
    }

    /// Builds the S3 store for `bucket`; a setting object_store refuses is a configuration
    /// error.
    fn s3_store(&self, bucket: &str) -> Result<object_store::aws::AmazonS3> {
        self.s3_builder(bucket)?.build().map_err(|e| {
            Error::config(format!(
                "the S3 client for bucket `{bucket}` cannot be configured: {}; check the AWS_* variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ALLOW_HTTP, credentials)",
                crate::error::redact(&e.to_string())
            ))
        })
    }

    /// Replaces the S3 settings.
    #[must_use]
    pub fn with_aws(mut self, aws: AwsSettings) -> Self {
        self.aws = aws;
        self
    }

    /// Replaces the HTTP auth.
    #[must_use]
    pub fn with_http_auth(mut self, auth: HttpAuth) -> Self {
        self.http_auth = auth;
        self
    }

    /// Resolves an MFE's `artifact` template for `name` and `version`.
    pub fn open_artifact(
        &self,
        template: &str,
        name: &MfeName,
        version: &Version,
    ) -> Result<ObjectLocation> {
        let location = expand_template(template, name, version)?;
        self.open_object(&location)
    }

    /// Opens a concrete object location (local path, `file://`, `s3://`, `http(s)://`).
    pub fn open_object(&self, location: &str) -> Result<ObjectLocation> {
        let display = location.to_owned();
        if split_scheme(location).is_none() {
            let abs = normalize(&self.base_dir.join(location));
            let path = local_object_path(&abs, location)?;
            return Ok(ObjectLocation {
                store: Arc::new(LocalFileSystem::new()),
                path,
                display,
            });
        }
        let url = url::Url::parse(location)
            .map_err(|e| Error::invalid("artifact location", format!("`{location}`: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid(
                "artifact location",
                "credentials in the URL are refused; use ARTIFACTORY_USER/ARTIFACTORY_PASSWORD or ARTIFACTORY_TOKEN",
            ));
        }
        match url.scheme() {
            "file" => {
                let p = url.to_file_path().map_err(|()| {
                    Error::invalid(
                        "artifact location",
                        format!("`{location}` is not a file path"),
                    )
                })?;
                let abs = normalize(&p);
                Ok(ObjectLocation {
                    store: Arc::new(LocalFileSystem::new()),
                    path: local_object_path(&abs, location)?,
                    display,
                })
            }
            "s3" => {
                let (bucket, key) = s3_parts(&url, location)?;
                if key.is_empty() {
                    return Err(Error::invalid(
                        "artifact location",
                        format!("`{location}` names a bucket but no object"),
                    ));
                }
                let store = self.s3_store(&bucket)?;
                Ok(ObjectLocation {
                    store: Arc::new(store),
                    path: parse_path(&key, location)?,
                    display,
                })
            }
            "http" | "https" => self.open_http(&url, display),
            other => Err(Error::UnsupportedScheme {
                location: location.to_owned(),
                scheme: other.to_owned(),
            }),
        }
    }

    fn open_http(&self, url: &url::Url, display: String) -> Result<ObjectLocation> {
        // `http(s)` URLs always have a path; one that has none names no file.
        let segments: Vec<String> = url
            .path_segments()
            .ok_or_else(|| {
                Error::invalid(
                    "artifact location",
                    format!("`{display}` does not name a file"),
                )
            })?
            .map(str::to_owned)
            .collect();
        let Some((file, dirs)) = segments.split_last().filter(|(f, _)| !f.is_empty()) else {
            return Err(Error::invalid(
                "artifact location",
                format!("`{display}` does not name a file"),
            ));
        };
        if dirs.is_empty() {
            return Err(Error::invalid(
                "artifact location",
                format!("`{display}`: the artifact must be inside a directory of the server"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid(
                "artifact location",
                format!("`{display}`: query strings and fragments are not supported"),
            ));
        }
        let mut base = url.clone();
        base.set_path(&dirs.join("/"));
        let file = percent_decode(file);
        let mut options = ClientOptions::new()
            .with_allow_http(url.scheme() == "http")
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout);
        if let Some(value) = self.http_auth.header()? {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value);
            options = options.with_default_headers(headers);
        }
        let store = HttpBuilder::new()
            .with_url(base.as_str())
            .with_client_options(options)
            .with_retry(self.retry_config())
            .build()?;
        Ok(ObjectLocation {
            store: Arc::new(store),
            path: Path::from(file),
            display,
        })
    }

    /// Opens an environment's storage target (`storage:` in gitops.yaml): a local directory
    /// (relative to the base directory; created when missing), opened as a [`LocalStore`]
    /// (conditional puts across processes, staging in `<dir>.staging/` beside it), or
    /// `s3://bucket[/prefix]`.
    pub fn open_storage(&self, target: &str) -> Result<Arc<dyn ObjectStore>> {
        if split_scheme(target).is_none() {
            return self.open_local_dir(&self.base_dir.join(target));
        }
        let url = url::Url::parse(target)
            .map_err(|e| Error::invalid("storage", format!("`{target}`: {e}")))?;
        match url.scheme() {
            "file" => {
                let p = url.to_file_path().map_err(|()| {
                    Error::invalid("storage", format!("`{target}` is not a file path"))
                })?;
                self.open_local_dir(&p)
            }
            "s3" => {
                let (bucket, prefix) = s3_parts(&url, target)?;
                let store: Arc<dyn ObjectStore> = Arc::new(self.s3_store(&bucket)?);
                if prefix.is_empty() {
                    Ok(store)
                } else {
                    let prefix = parse_path(&prefix, target)?;
                    Ok(Arc::new(PrefixStore::new(store, prefix)))
                }
            }
            other => Err(Error::UnsupportedScheme {
                location: target.to_owned(),
                scheme: other.to_owned(),
            }),
        }
    }

    #[allow(clippy::unused_self)]
    fn open_local_dir(&self, dir: &FsPath) -> Result<Arc<dyn ObjectStore>> {
        let dir = normalize(dir);
        Ok(Arc::new(LocalStore::open(&dir)?))
    }
}

/// Substitutes `{version}` and `{name}` in an artifact template (both valid by their types:
/// lowercase letters, digits, `-`, `.` and `+`, never a path separator or `..`). Any other
/// `{...}` placeholder is an error.
pub fn expand_template(template: &str, name: &MfeName, version: &Version) -> Result<String> {
    let out = template
        .replace("{version}", &version.to_string())
        .replace("{name}", name.as_str());
    if let Some(start) = out.find('{') {
        let rest = &out[start..];
        // An unclosed `{` is shown to the end of the template.
        let end = rest.find('}').map_or(rest.len(), |i| i + 1);
        return Err(Error::invalid(
            "artifact",
            format!(
                "unknown placeholder `{}` in `{template}` (only {{name}} and {{version}})",
                &rest[..end]
            ),
        ));
    }
    Ok(out)
}

fn split_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(scheme)
}

fn s3_parts(url: &url::Url, location: &str) -> Result<(String, String)> {
    let bucket = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| Error::invalid("location", format!("`{location}` has no bucket")))?
        .to_owned();
    let key = percent_decode(url.path().trim_start_matches('/'));
    Ok((bucket, key.trim_end_matches('/').to_owned()))
}

fn percent_decode(s: &str) -> String {
    // url keeps percent escapes; object_store paths are unescaped strings.
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_path(key: &str, location: &str) -> Result<Path> {
    Path::parse(key).map_err(|e| Error::invalid("location", format!("`{location}`: {e}")))
}

fn local_object_path(abs: &FsPath, location: &str) -> Result<Path> {
    let s = abs.to_str().ok_or_else(|| {
        Error::invalid(
            "artifact location",
            format!("`{location}` is not valid UTF-8"),
        )
    })?;
    parse_path(s.trim_start_matches('/'), location)
}

/// Lexical normalization: resolves `.` and `..` without touching the filesystem.
fn normalize(path: &FsPath) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_substitution_and_unknown_placeholder() {
        let name = MfeName::parse("checkout").unwrap();
        let version = Version::parse("1.2.3-rc.1+b5").unwrap();
        assert_eq!(
            expand_template("a/{name}/{name}-{version}.tgz", &name, &version).unwrap(),
            "a/checkout/checkout-1.2.3-rc.1+b5.tgz"
        );
        for bad in ["a/{tag}.tgz", "a/{version.tgz", "a/{}/{name}.tgz"] {
            let err = expand_template(bad, &name, &version).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: "artifact", reason } if reason.contains("unknown placeholder")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn http_auth_from_the_environment() {
        use std::env::VarError;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
                    .ok_or(VarError::NotPresent)
            }
        };
        assert!(matches!(HttpAuth::from_vars(env(&[])), Ok(HttpAuth::None)));
        assert!(matches!(
            HttpAuth::from_vars(env(&[("ARTIFACTORY_TOKEN", ""), ("ARTIFACTORY_USER", "")])),
            Ok(HttpAuth::None)
        ));
        assert!(matches!(
            HttpAuth::from_vars(env(&[
                ("ARTIFACTORY_TOKEN", "t"),
                ("ARTIFACTORY_USER", "u")
            ])),
            Ok(HttpAuth::Bearer(_))
        ));
        assert!(matches!(
            HttpAuth::from_vars(env(&[("ARTIFACTORY_USER", "u"), ("ARTIFACTORY_PASSWORD", "p")])),
            Ok(HttpAuth::Basic { user, .. }) if user == "u"
        ));
        // Half a pair, or a value that is not text, is an error naming the variable.
        for (pairs, field) in [
            (&[("ARTIFACTORY_USER", "u")][..], "ARTIFACTORY_PASSWORD"),
            (
                &[("ARTIFACTORY_USER", "u"), ("ARTIFACTORY_PASSWORD", "")][..],
                "ARTIFACTORY_PASSWORD",
            ),
            (&[("ARTIFACTORY_PASSWORD", "p")][..], "ARTIFACTORY_USER"),
        ] {
            let err = HttpAuth::from_vars(env(pairs)).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: f, .. } if *f == field),
                "{err:?}"
            );
        }
        let not_text = |k: &str| {
            if k == "ARTIFACTORY_TOKEN" {
                Err(VarError::NotUnicode(std::ffi::OsString::from("x")))
            } else {
                Err(VarError::NotPresent)
            }
        };
        let err = HttpAuth::from_vars(not_text).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Invalid {
                    field: "ARTIFACTORY_TOKEN",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_location_without_a_file_name_is_an_error() {
        let location = ObjectLocation {
            store: Arc::new(object_store::memory::InMemory::new()),
            path: Path::default(),
            display: "memory:///".to_owned(),
        };
        let err = location.file_name().unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { reason, .. } if reason.contains("names no file")),
            "{err:?}"
        );
    }

    fn config_reason(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Config { reason }) => reason,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn an_http_endpoint_is_used_over_http_unless_forbidden() {
        let http = Some(("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"));
        let https = Some(("AWS_ENDPOINT_URL", "https://s3.example.com"));
        assert_eq!(allow_http(http, None).unwrap(), Some(true));
        assert_eq!(allow_http(http, Some(true)).unwrap(), Some(true));
        assert_eq!(allow_http(https, None).unwrap(), None);
        assert_eq!(allow_http(https, Some(false)).unwrap(), Some(false));
        assert_eq!(allow_http(None, None).unwrap(), None);
        assert_eq!(allow_http(None, Some(true)).unwrap(), Some(true));
        let reason = config_reason(allow_http(http, Some(false)));
        assert!(
            reason.contains("AWS_ENDPOINT_URL `http://127.0.0.1:5000`")
                && reason.contains("AWS_ALLOW_HTTP=false")
                && reason.contains("use an https:// endpoint, or unset AWS_ALLOW_HTTP"),
            "{reason}"
        );
        for (bad, says) in [
            ("localhost:4566", "scheme `localhost`"),
            ("127.0.0.1:4566", "is not a URL"),
            ("ftp://h", "scheme `ftp`"),
        ] {
            let reason = config_reason(allow_http(Some(("AWS_ENDPOINT_URL_S3", bad)), None));
            assert!(
                reason.starts_with(&format!("AWS_ENDPOINT_URL_S3 `{bad}`"))
                    && reason.contains(says)
                    && reason.contains("http:// or https://"),
                "{bad}: {reason}"
            );
        }
        // What could be a credential in the endpoint is never shown.
        for bad in ["http://key:s3cr3t@h:9000", "key:s3cr3t@h:9000"] {
            let reason = config_reason(allow_http(Some(("AWS_ENDPOINT_URL", bad)), None));
            assert!(!reason.contains("s3cr3t"), "{reason}");
        }
    }

    #[test]
    fn aws_allow_http_must_be_a_boolean() {
        for (raw, want) in [("true", true), ("1", true), ("FALSE", false), ("no", false)] {
            assert_eq!(parse_allow_http(raw).unwrap(), want, "{raw}");
        }
        let reason = config_reason(parse_allow_http("maybe"));
        assert!(
            reason.contains("AWS_ALLOW_HTTP=\"maybe\" is not a boolean"),
            "{reason}"
        );
    }

    #[test]
    fn settings_from_variables_configure_plain_http_and_path_style() {
        let settings = AwsSettings::from_vars([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("HOME", "/root"),
        ]);
        assert!(!format!("{settings:?}").contains("s3cr3t"));
        let b = settings.builder("bucket").unwrap();
        let allow = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
        assert_eq!(b.get_config_value(&allow).as_deref(), Some("true"));
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
                .as_deref(),
            Some("false")
        );
        let settings = AwsSettings::from_vars([("AWS_REGION", "eu-west-1")]);
        let b = settings.builder("bucket").unwrap();
        assert_eq!(b.get_config_value(&allow).as_deref(), Some("false"));
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
                .as_deref(),
            Some("true")
        );
        // Opening a store is where the contradiction surfaces, as a configuration error.
        let opener = StoreOpener::new("/").with_aws(AwsSettings::from_vars([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ALLOW_HTTP", "false"),
        ]));
        let err = opener.open_storage("s3://bucket").unwrap_err();
        assert!(err.is_config() && !err.is_retryable(), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("configuration: AWS_ENDPOINT_URL"),
            "{err}"
        );
    }

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(FsPath::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
