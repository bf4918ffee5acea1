//! `/oauth/authorize`: validating the request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2) and, once
//! the user is signed in, issuing the code.

use crate::crypto;
use crate::db::{self, clients::Client, oauth::AuthRequest, sessions::Session};
use crate::domain::ids;
use crate::handlers::errors::PageError;
use crate::oauth::parse_scope;
use crate::state::AppState;
use serde::Deserialize;
use url::Url;

/// How long a user has to finish signing in.
const REQUEST_TTL_MS: i64 = 30 * 60 * 1000;
/// Authorization codes are short-lived (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_MS: i64 = 60 * 1000;

#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub organization_id: Option<String>,
    pub max_age: Option<String>,
}

/// A refused authorization request: shown as a page when the client or redirect URI cannot be trusted,
/// otherwise sent back to the client (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub enum AuthorizeError {
    Page(PageError),
    Redirect(String),
}

impl From<anyhow::Error> for AuthorizeError {
    fn from(err: anyhow::Error) -> Self {
        AuthorizeError::Page(PageError::Internal(err))
    }
}

/// The client's redirect URI with `params` appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs are parsed at registration; this is unreachable in practice.
        Err(_) => redirect_uri.to_string(),
    }
}

/// The client's redirect URI carrying an error (RFC 6749 §4.1.2.1), its `state`, and `iss` (RFC 9207).
fn error_url(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &str,
    description: &str,
) -> String {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer()));
    redirect_with(redirect_uri, &params)
}

/// A code challenge is 43–128 characters of the unreserved set (RFC 7636 §4.2).
fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The validated request and its client.
pub struct Validated {
    pub request: AuthRequest,
    pub client: Client,
}

/// Checks the request and stores it for the sign-in screens.
pub async fn validate(state: &AppState, p: AuthorizeParams) -> Result<Validated, AuthorizeError> {
    let bad_page = |msg: &str| AuthorizeError::Page(PageError::BadRequest(msg.into()));
    let client_id = p
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad_page("The application did not say who it is (client_id is missing)."))?;
    let client = db::clients::find(state.db.conn(), client_id)
        .await?
        .ok_or_else(|| {
            bad_page("The application that sent you here is not registered with Portal.")
        })?;
    let redirect_uri = p.redirect_uri.as_deref().ok_or_else(|| {
        bad_page("The application did not say where to return you (redirect_uri is missing).")
    })?;
    // Exact string match against the registered list; anything else is refused without redirecting,
    // or Portal would be an open redirector.
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(bad_page(
            "The application asked to return you to an address it has not registered. Nothing was sent to it.",
        ));
    }
    let st = p.state.as_deref();
    let fail = |error: &str, description: &str| {
        AuthorizeError::Redirect(error_url(state, redirect_uri, st, error, description))
    };

    if p.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(
            "unauthorized_client",
            "This client may not use the authorization code flow.",
        ));
    }
    let mut scopes = parse_scope(p.scope.as_deref().unwrap_or(""));
    // offline_access means a refresh token; a client without that grant gets the other scopes only
    // (RFC 6749 §3.3 lets the server narrow the scope, and the token response says so).
    if !client.allows_grant("refresh_token") {
        scopes.retain(|s| *s != "offline_access");
    }
    if scopes.is_empty() {
        return Err(fail("invalid_scope", "Request at least the openid scope."));
    }
    let method = p.code_challenge_method.as_deref();
    let challenge = p.code_challenge.as_deref().filter(|c| !c.is_empty());
    match (challenge, method) {
        (Some(_), Some("plain")) | (Some(_), None) => {
            return Err(fail(
                "invalid_request",
                "PKCE with the plain method is not allowed; use S256.",
            ));
        }
        (Some(c), Some("S256")) if !valid_challenge(c) => {
            return Err(fail(
                "invalid_request",
                "code_challenge must be 43 to 128 URL-safe characters.",
            ));
        }
        (Some(_), Some("S256")) => {}
        (Some(_), Some(_)) => {
            return Err(fail(
                "invalid_request",
                "Unsupported code_challenge_method; use S256.",
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method without code_challenge.",
            ));
        }
        (None, None) if client.is_public => {
            return Err(fail(
                "invalid_request",
                "Public clients must use PKCE (code_challenge with S256).",
            ));
        }
        (None, None) => {}
    }
    let prompt = p.prompt.as_deref().map(str::trim).filter(|v| !v.is_empty());
    if let Some(prompt) = prompt {
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if values.iter().any(|v| {
            !matches!(
                *v,
                "none" | "login" | "create" | "consent" | "select_account"
            )
        }) {
            return Err(fail("invalid_request", "Unsupported prompt value."));
        }
        if values.contains(&"none") && values.len() > 1 {
            return Err(fail(
                "invalid_request",
                "prompt=none cannot be combined with other values.",
            ));
        }
    }
    let max_age = match p.max_age.as_deref().filter(|v| !v.is_empty()) {
        Some(raw) => Some(raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            fail(
                "invalid_request",
                "max_age must be a whole number of seconds.",
            )
        })?),
        None => None,
    };
    let now = db::now_ms();
    let request = AuthRequest {
        id: ids::new_id(ids::AUTH_REQUEST),
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.into(),
        scope: scopes.join(" "),
        state: p.state.clone(),
        nonce: p.nonce.clone(),
        code_challenge: challenge.map(str::to_string),
        code_challenge_method: challenge.map(|_| "S256".to_string()),
        prompt: prompt.map(str::to_string),
        login_hint: p.login_hint.clone(),
        organization_id: p.organization_id.clone().filter(|o| !o.is_empty()),
        max_age,
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
    };
    db::oauth::create_request(state.db.conn(), request.clone()).await?;
    Ok(Validated { request, client })
}

pub fn prompt_has(request: &AuthRequest, value: &str) -> bool {
    request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == value))
}

/// Whether an existing session may answer this request without showing the sign-in screen.
pub fn session_satisfies(request: &AuthRequest, session: &Session) -> bool {
    if prompt_has(request, "login") || prompt_has(request, "create") {
        return false;
    }
    match request.max_age {
        Some(max_age) => db::now_ms() - session.auth_time <= max_age * 1000,
        None => true,
    }
}

/// The organization the sign-in is for: the one asked for, else the session's, else the user's first.
/// `None` if the user belongs to no organization (or not to the one asked for).
async fn choose_org(
    state: &AppState,
    request: &AuthRequest,
    session: &Session,
) -> anyhow::Result<Option<String>> {
    let memberships = db::members::active_for_user(state.db.conn(), &session.user_id).await?;
    let is_member = |org: &str| memberships.iter().any(|m| m.organization_id == org);
    if let Some(wanted) = &request.organization_id {
        return Ok(is_member(wanted).then(|| wanted.clone()));
    }
    if let Some(current) = &session.organization_id
        && is_member(current)
    {
        return Ok(Some(current.clone()));
    }
    Ok(memberships.first().map(|m| m.organization_id.clone()))
}

/// Whether the user must pick an organization before this request can finish: they belong to several,
/// the request names none and the session has none yet.
pub async fn needs_org_choice(
    state: &AppState,
    organization_id: Option<&str>,
    session: &Session,
) -> anyhow::Result<bool> {
    if organization_id.is_some() || session.organization_id.is_some() {
        return Ok(false);
    }
    Ok(
        db::members::active_for_user(state.db.conn(), &session.user_id)
            .await?
            .len()
            > 1,
    )
}

/// The org picker for a pending request.
pub fn org_picker_url(request: &AuthRequest) -> String {
    format!(
        "/a/auth/organization?request={}",
        crate::principal::urlencode(&request.id)
    )
}

/// Where a signed-in browser goes next for `request`: the org picker when a choice is needed,
/// otherwise back to the client with a code.
pub async fn proceed(
    state: &AppState,
    request: &AuthRequest,
    session: &Session,
) -> anyhow::Result<String> {
    if needs_org_choice(state, request.organization_id.as_deref(), session).await? {
        return Ok(org_picker_url(request));
    }
    complete(state, request, session).await
}

/// Where a sign-in without an authorization request goes: the org picker, else `return_to`.
pub async fn after_direct_sign_in(
    state: &AppState,
    session: &Session,
    return_to: Option<&str>,
) -> anyhow::Result<String> {
    let target = return_to
        .and_then(crate::web::safe_return_path)
        .unwrap_or("/ui/");
    if needs_org_choice(state, None, session).await? {
        return Ok(format!(
            "/a/auth/organization?return_to={}",
            crate::principal::urlencode(target)
        ));
    }
    Ok(target.to_string())
}

/// Issues the code for a signed-in session and returns where to send the browser.
pub async fn complete(
    state: &AppState,
    request: &AuthRequest,
    session: &Session,
) -> anyhow::Result<String> {
    let conn = state.db.conn();
    let org_id = choose_org(state, request, session).await?;
    if request.organization_id.is_some() && org_id.is_none() {
        db::oauth::delete_request(conn, &request.id).await?;
        return Ok(error_url(
            state,
            &request.redirect_uri,
            request.state.as_deref(),
            "access_denied",
            "The user is not a member of the requested organization.",
        ));
    }
    if let Some(org) = &org_id
        && session.organization_id.as_ref() != Some(org)
    {
        crate::sessions::enter_org(conn, &session.id, org).await?;
    }
    let code = crypto::random_token(32);
    let now = db::now_ms();
    db::oauth::create_code(
        conn,
        db::oauth::AuthCode {
            code_hash: crypto::token_hash(&code),
            client_id: request.client_id.clone(),
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            organization_id: org_id,
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + CODE_TTL_MS,
            used_at: None,
        },
    )
    .await?;
    db::sessions::add_client(conn, &session.id, &request.client_id).await?;
    db::oauth::delete_request(conn, &request.id).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    // RFC 9207: name the issuer so a client talking to several can detect mix-up attacks.
    params.push(("iss", state.issuer()));
    Ok(redirect_with(&request.redirect_uri, &params))
}

/// The error redirect for `prompt=none` when the user would have to choose an organization.
pub fn interaction_required(state: &AppState, request: &AuthRequest) -> String {
    error_url(
        state,
        &request.redirect_uri,
        request.state.as_deref(),
        "interaction_required",
        "The user must choose an organization; send organization_id or allow a prompt.",
    )
}

/// The error redirect for `prompt=none` without a usable session (OIDC Core §3.1.2.6).
pub fn login_required(state: &AppState, request: &AuthRequest) -> String {
    error_url(
        state,
        &request.redirect_uri,
        request.state.as_deref(),
        "login_required",
        "The user is not signed in.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_existing_query() {
        assert_eq!(
            redirect_with(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "s")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=s"
        );
    }

    #[test]
    fn challenge_shape_follows_rfc7636() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(43))));
    }
}
