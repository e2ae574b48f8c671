//! Authentication: who a request's token stands for.

use axum::http::HeaderMap;

use super::runs::Grant;
use super::{App, lock};

/// Who is calling.
pub(super) enum Caller {
    /// A user (`<login>:<secret>` tokens name their user, others are the bot).
    Login(String),
    /// A workflow job's `GITHUB_TOKEN`, with what it may do.
    Token(Box<Grant>),
    /// A GitHub App installation token (`apps`).
    App(Box<super::apps::AppToken>),
    /// A `GITHUB_TOKEN` whose job has ended (or that was never issued), or an expired
    /// installation token.
    Revoked,
}

/// The caller a request's `Authorization` header names, if any.
pub(super) fn login(app: &App, headers: &HeaderMap) -> Option<Caller> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
        return None;
    }
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if token.starts_with("ghs_")
        && let Some(t) = super::apps::lookup(app, token)
    {
        return Some(t.map_or(Caller::Revoked, |t| Caller::App(Box::new(t))));
    }
    if token.starts_with("ghs_")
        && let Some(r) = app.runner.get()
    {
        return Some(match lock(&r.tokens).get(token) {
            Some(g) => Caller::Token(Box::new(g.clone())),
            None => Caller::Revoked,
        });
    }
    Some(Caller::Login(match token.split_once(':') {
        Some((login, _))
            if !login.is_empty()
                && login
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            login.to_owned()
        }
        _ => app.default_login.clone(),
    }))
}
