//! Request plumbing shared by the HTML surfaces: cookies, CSRF tokens and client details.

use crate::crypto;
use crate::state::AppState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Cookie names. Over https they take the `__Host-` prefix, which browsers only accept with
/// `Secure`, `Path=/` and no `Domain`, so no sibling host can plant or read them.
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
}

pub fn cookie_names(secure: bool) -> CookieNames {
    if secure {
        CookieNames {
            session: "__Host-portal_session",
            csrf: "__Host-portal_csrf",
        }
    } else {
        CookieNames {
            session: "portal_session",
            csrf: "portal_csrf",
        }
    }
}

fn base_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies())
        .same_site(SameSite::Lax)
        .finish()
}

/// The session cookie: `HttpOnly; SameSite=Lax` (sent on the top-level redirects of an OAuth flow),
/// `Secure` over https. It lives as long as the session's absolute lifetime.
pub fn session_cookie(state: &AppState, token: String, max_age_secs: i64) -> Cookie<'static> {
    let mut c = base_cookie(state, cookie_names(state.secure_cookies()).session, token);
    c.set_max_age(CookieDuration::seconds(max_age_secs.max(0)));
    c
}

pub fn clear_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = base_cookie(
        state,
        cookie_names(state.secure_cookies()).session,
        String::new(),
    );
    c.make_removal();
    c
}

pub fn session_token(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_names(state.secure_cookies()).session)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// CSRF protection for forms: signed double-submit. The browser holds a random value in an `HttpOnly`
/// cookie; each form carries HMAC(cookie key, value). A cross-site page can neither read the cookie nor
/// compute the HMAC, and a value planted by another site fails verification.
pub struct Csrf {
    pub token: String,
    /// Set when the browser had no CSRF cookie yet; the response must carry it.
    pub new_cookie: Option<Cookie<'static>>,
}

impl Csrf {
    pub fn for_request(req: &HttpRequest, state: &AppState) -> Self {
        let name = cookie_names(state.secure_cookies()).csrf;
        match req
            .cookie(name)
            .map(|c| c.value().to_string())
            .filter(|v| v.len() >= 32)
        {
            Some(value) => Self {
                token: sign_csrf(state, &value),
                new_cookie: None,
            },
            None => {
                let value = crypto::random_token(32);
                Self {
                    token: sign_csrf(state, &value),
                    new_cookie: Some(base_cookie(state, name, value)),
                }
            }
        }
    }

    /// Whether `submitted` is the token for this browser's CSRF cookie.
    pub fn verify(req: &HttpRequest, state: &AppState, submitted: &str) -> bool {
        let name = cookie_names(state.secure_cookies()).csrf;
        let Some(value) = req.cookie(name) else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(submitted) else {
            return false;
        };
        state
            .cookie_key
            .verify(csrf_message(value.value()).as_bytes(), &tag)
    }
}

fn csrf_message(value: &str) -> String {
    format!("csrf:{value}")
}

fn sign_csrf(state: &AppState, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.cookie_key.sign(csrf_message(value).as_bytes()))
}

/// The client's address as the socket saw it. Portal does not trust `X-Forwarded-For` unless a proxy
/// setting says so (not yet configurable), because a client can send any value there.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
}

/// A same-site path to return to after sign-in: must start with one `/` (not `//` or `/\`, which
/// browsers treat as another host).
pub fn safe_return_path(raw: &str) -> Option<&str> {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && !raw.chars().any(|c| c.is_control());
    ok.then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn return_paths_stay_on_this_site() {
        assert_eq!(
            safe_return_path("/ui/organization/members"),
            Some("/ui/organization/members")
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "ui",
            "/ui\n",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad}");
        }
    }
}
