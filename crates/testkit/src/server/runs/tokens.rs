//! The endpoints of job tokens: what a `GITHUB_TOKEN` may do, and OIDC tokens.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Grant;
use crate::json::now;
use crate::runner::oidc;
use crate::server::ctx::repo_key;
use crate::server::{App, lock};

/// Refuses what a job's `GITHUB_TOKEN` may not do (see `permissions`).
pub(in crate::server) fn authorize(
    app: &App,
    grant: &Grant,
    method: &str,
    path: &str,
) -> Result<(), crate::server::wire::ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["repos", owner, name, rest @ ..] => {
            let key = repo_key(owner, name);
            let private = lock(&app.state)
                .repos
                .get(&key)
                .and_then(|d| d.meta.as_ref().map(|m| m.private));
            match private {
                Some(private) => {
                    crate::server::permissions::check(grant, Some((&key, private)), method, rest)
                }
                // An unknown repository answers 404 as usual.
                None => Ok(()),
            }
        }
        _ => crate::server::permissions::check(grant, None, method, &segs),
    }
}

/// `GET /_fake/oidc/token?audience=A` with a job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the job's
/// OIDC token, `{"value": JWT}` (only for jobs with `id-token: write`).
pub(in crate::server) fn oidc_token(
    app: &App,
    headers: &axum::http::HeaderMap,
    q: &HashMap<String, String>,
) -> Result<crate::server::wire::Resp, crate::server::wire::ApiError> {
    use crate::server::wire::{Resp, err};
    let r = app.runner().ok_or_else(|| err(404, "Not Found"))?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
        .ok_or_else(|| err(401, "Requires authentication"))?;
    let grant = lock(&r.tokens).get(&token).cloned();
    let Some(identity) = grant.and_then(|g| g.identity) else {
        return Err(err(403, "Resource not accessible by integration"));
    };
    let audience = q
        .get("audience")
        .cloned()
        .unwrap_or_else(|| format!("https://github.com/{}", identity.owner));
    let claims = oidc::claims(&identity, &audience, now());
    Ok(Resp::json(200, json!({"value": r.signer.sign(&claims)})))
}

/// `POST /_fake/oidc/verify` `{"token": JWT}`: the claims of a token fake-github issued.
pub(in crate::server) fn oidc_verify(app: &App, body: &[u8]) -> crate::server::wire::Resp {
    use crate::server::wire::Resp;
    let Some(r) = app.runner() else {
        return Resp::json(404, crate::json::error("the runner is not started", 404));
    };
    let token = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match r.signer.verify(&token, now()) {
        Ok(claims) => Resp::json(200, claims),
        Err(why) => Resp::json(
            401,
            crate::json::error(&format!("invalid token: {why}"), 401),
        ),
    }
}
