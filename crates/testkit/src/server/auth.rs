//! Authentication: who a request's token stands for.

use axum::http::HeaderMap;

use super::App;

/// The login a token stands for: `<login>:<secret>` tokens name their user, others are the bot.
pub(super) fn login(app: &App, headers: &HeaderMap) -> Option<String> {
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
