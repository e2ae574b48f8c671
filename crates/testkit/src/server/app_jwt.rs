//! GitHub's own App flow (issue 19, App mode): `GET /repos/{owner}/{repo}/installation` and
//! `POST /app/installations/{id}/access_tokens`, authenticated by a JWT the App signs with its
//! private key. The JWT is verified here as GitHub verifies it: RS256 under the public half of
//! the registered App's key (which must then be an RSA private key in PEM, PKCS#1 or PKCS#8),
//! `iss` the App's id, `iat` not in the future (60 s of skew allowed), `exp` in the future and
//! at most 10 minutes after `iat`. A token minted this way is the same installation token the
//! `create-github-app-token` stand-in mints (`apps::token`).

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{Value, json};

use super::wire::{ApiError, Resp, err};
use super::{App, lock};
use crate::json::{now, user_id};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Serves the two App-authenticated calls when `path` is one of them and the caller presents a
/// JWT; `None` for anything else (served as usual).
pub(super) fn route(app: &App, method: &str, path: &str, headers: &HeaderMap) -> Option<Resp> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })?;
    if bearer.matches('.').count() != 2 {
        return None;
    }
    let answer = match (method, segs.as_slice()) {
        ("GET", ["repos", owner, repo, "installation"]) => {
            verify(app, bearer).and_then(|id| installation(app, id, owner, repo))
        }
        ("POST", ["app", "installations", installation, "access_tokens"]) => {
            verify(app, bearer).and_then(|id| access_token(app, id, installation))
        }
        _ => return None,
    };
    Some(answer.unwrap_or_else(ApiError::into_resp))
}

/// The App id of a valid JWT.
fn verify(app: &App, jwt: &str) -> Result<u64, ApiError> {
    let refused = || err(401, "A JSON web token could not be decoded");
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refused());
    };
    let decode = |part: &str| B64URL.decode(part).map_err(|_| refused());
    let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| refused())?;
    let claims: Value = serde_json::from_slice(&decode(p)?).map_err(|_| refused())?;
    if header["alg"] != "RS256" {
        return Err(refused());
    }
    let id = match &claims["iss"] {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(refused)?;
    let key = app.app_key(id).ok_or_else(refused)?;
    let public = public_key(&key).ok_or_else(refused)?;
    let signed = format!("{h}.{p}");
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(signed.as_bytes(), &decode(s)?)
        .map_err(|_| refused())?;
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    let t = now();
    match (iat, exp) {
        (Some(iat), Some(exp)) if iat <= t + 60 && exp > t && exp - iat <= 600 => Ok(id),
        _ => Err(err(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        )),
    }
}

/// The DER public key of an RSA private key in PEM.
fn public_key(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = B64.decode(body).ok()?;
    let pair = ring::signature::RsaKeyPair::from_der(&der)
        .or_else(|_| ring::signature::RsaKeyPair::from_pkcs8(&der))
        .ok()?;
    Some(
        ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec(),
    )
}

/// `GET /repos/{owner}/{repo}/installation` as App `id`.
fn installation(app: &App, id: u64, owner: &str, repo: &str) -> Result<Resp, ApiError> {
    let owner = owner.to_ascii_lowercase();
    let exists = lock(&app.state)
        .repos
        .contains_key(&super::ctx::repo_key(&owner, repo));
    if !exists || !app.app_installed_on(id, &owner) {
        return Err(err(404, "Not Found"));
    }
    Ok(Resp::json(
        200,
        json!({
            "id": installation_id(id, &owner),
            "app_id": id,
            "account": {"login": owner, "id": user_id(&owner)},
            "target_type": "Organization",
            "repository_selection": "all",
        }),
    ))
}

/// `POST /app/installations/{installation}/access_tokens` as App `id`.
fn access_token(app: &App, id: u64, installation: &str) -> Result<Resp, ApiError> {
    let owners: Vec<String> = lock(&app.state)
        .repos
        .keys()
        .filter_map(|k| k.split_once('/').map(|(o, _)| o.to_owned()))
        .collect();
    let owner = owners
        .into_iter()
        .find(|o| installation_id(id, o).to_string() == installation)
        .filter(|o| app.app_installed_on(id, o))
        .ok_or_else(|| err(404, "Not Found"))?;
    let key = app.app_key(id).ok_or_else(|| err(404, "Not Found"))?;
    let body = json!({"private_key": key, "owner": owner}).to_string();
    super::apps::token(app, &id.to_string(), body.as_bytes())
}

/// The id of App `id`'s installation on `owner` (as `apps::token` numbers it).
fn installation_id(id: u64, owner: &str) -> u64 {
    user_id(&format!("installation/{id}/{owner}"))
}
