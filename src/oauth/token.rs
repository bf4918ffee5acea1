//! `/oauth/token` (RFC 6749 §3.2): client authentication and the grants.

use crate::crypto;
use crate::db::{self, clients::Client, oauth::CodeRedemption};
use crate::handlers::errors::OAuthError;
use crate::oauth::claims::{self, load_subject};
use crate::oauth::has_scope;
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1: both parts form-urlencoded).
pub fn basic_credentials(header: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = header else { return Ok(None) };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("Malformed Basic credentials.");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Authenticates the client: `client_secret_basic`, `client_secret_post`, or a public client by id.
async fn authenticate_client(
    state: &AppState,
    basic: Option<(String, String)>,
    form: &TokenForm,
) -> Result<Client, OAuthError> {
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if form.client_id.as_deref().is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials.",
                ));
            }
            if form.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method, not two.",
                ));
            }
            (id, Some(secret))
        }
        None => {
            let id = form
                .client_id
                .clone()
                .ok_or_else(|| OAuthError::invalid_client("Client authentication is required."))?;
            (id, form.client_secret.clone())
        }
    };
    let unknown = || OAuthError::invalid_client("Client authentication failed.");
    let client = db::clients::find(state.db.conn(), &client_id)
        .await?
        .ok_or_else(unknown)?;
    if client.is_public {
        if secret.is_some() {
            return Err(unknown());
        }
        return Ok(client);
    }
    let (Some(secret), Some(stored)) = (secret, client.secret_hash.as_deref()) else {
        return Err(unknown());
    };
    // Client secrets are 256-bit random values, so their SHA-256 is stored and compared in constant time.
    if !crypto::secure_eq(crypto::token_hash(&secret).as_bytes(), stored.as_bytes()) {
        return Err(unknown());
    }
    Ok(client)
}

pub async fn exchange(
    state: &AppState,
    basic: Option<(String, String)>,
    form: TokenForm,
) -> Result<TokenResponse, OAuthError> {
    let grant = form
        .grant_type
        .clone()
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    let client = authenticate_client(state, basic, &form).await?;
    if !client.allows_grant(&grant) {
        return match grant.as_str() {
            "authorization_code" | "client_credentials" | "refresh_token" => {
                Err(OAuthError::unauthorized_client(format!(
                    "This client may not use the {grant} grant."
                )))
            }
            _ => Err(OAuthError::unsupported_grant_type(
                "Unsupported grant_type.",
            )),
        };
    }
    match grant.as_str() {
        "authorization_code" => authorization_code(state, &client, form).await,
        "client_credentials" => client_credentials(state, &client, form).await,
        "refresh_token" => refresh(state, &client, form).await,
        _ => Err(OAuthError::unsupported_grant_type(
            "Unsupported grant_type.",
        )),
    }
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    form: TokenForm,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .code
        .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let conn = state.db.conn();
    let code_hash = crypto::token_hash(&code);
    let code = match db::oauth::redeem_code(conn, &code_hash).await? {
        CodeRedemption::Redeemed(code) => code,
        CodeRedemption::Replayed(_) => {
            // A second redemption means the code leaked: revoke what the first one issued
            // (RFC 6749 §4.1.2). Access tokens are short-lived JWTs and simply expire.
            let revoked = db::refresh_tokens::revoke_by_auth_code(conn, &code_hash).await?;
            tracing::warn!(
                revoked,
                "authorization code replayed; its refresh tokens are revoked"
            );
            return Err(OAuthError::invalid_grant(
                "The authorization code has already been used.",
            ));
        }
        CodeRedemption::Expired => {
            return Err(OAuthError::invalid_grant(
                "The authorization code has expired.",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "The authorization code is not valid.",
            ));
        }
    };
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    if form.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request.",
        ));
    }
    match (&code.code_challenge, form.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(crypto::sha256(verifier.as_bytes()));
            if !crypto::secure_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant(
                    "The PKCE code_verifier does not match.",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required.")),
        // A verifier for a request that had no challenge signals a downgrade attempt (RFC 9700 §2.1.1).
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "No code_challenge was sent for this code.",
            ));
        }
        (None, None) => {}
    }
    let session = db::sessions::find(conn, &code.session_id)
        .await?
        .filter(|s| db::sessions::is_live(s, db::now_ms()))
        .ok_or_else(|| OAuthError::invalid_grant("The sign-in session has ended."))?;
    let subject = load_subject(
        state,
        &code.user_id,
        &session.id,
        code.auth_time,
        code.organization_id.as_deref(),
    )
    .await?
    .ok_or_else(|| OAuthError::invalid_grant("The user is no longer active."))?;
    let grant = UserGrant {
        scope: &code.scope,
        nonce: code.nonce.as_deref(),
        rotates: None,
        auth_code_hash: &code_hash,
    };
    user_tokens(state, client, &subject, grant).await
}

/// What a user token response is issued for.
struct UserGrant<'a> {
    scope: &'a str,
    nonce: Option<&'a str>,
    /// The refresh token this grant spends (its family continues); a new family when `None`.
    rotates: Option<&'a db::refresh_tokens::RefreshToken>,
    auth_code_hash: &'a str,
}

/// Access token, ID token (with `openid`) and a refresh token (with `offline_access` and the grant).
async fn user_tokens(
    state: &AppState,
    client: &Client,
    subject: &claims::Subject,
    grant: UserGrant<'_>,
) -> Result<TokenResponse, OAuthError> {
    let conn = state.db.conn();
    let env = db::environment::get(conn).await?;
    let access_ttl = i64::from(env.access_token_ttl_secs);
    let access_token =
        claims::user_access_token(state, subject, &client.id, grant.scope, access_ttl)?;
    let id_token = if has_scope(grant.scope, "openid") {
        Some(claims::id_token(
            state,
            subject,
            &client.id,
            grant.scope,
            grant.nonce,
            &access_token,
            i64::from(env.id_token_ttl_secs),
        )?)
    } else {
        None
    };
    let issue_refresh =
        has_scope(grant.scope, "offline_access") && client.allows_grant("refresh_token");
    let refresh_token = issue_refresh.then(|| crypto::random_token(32));
    // Spending the presented token and storing its successor happen in one short transaction (the
    // tokens above are signed before it), so a rotation never loses the family half-way.
    if grant.rotates.is_some() || refresh_token.is_some() {
        let tx = state.db.begin_write().await?;
        if let Some(spent) = grant.rotates
            && !db::refresh_tokens::spend(&tx, &spent.id).await?
        {
            // Another request spent it a moment ago: the same token was presented twice.
            tx.rollback().await.map_err(anyhow::Error::from)?;
            return reused(state, &spent.family_id).await;
        }
        if let Some(token) = &refresh_token {
            let family = grant
                .rotates
                .map(|t| t.family_id.clone())
                .unwrap_or_else(db::refresh_tokens::new_family_id);
            db::refresh_tokens::create(
                &tx,
                db::refresh_tokens::NewRefreshToken {
                    token_hash: crypto::token_hash(token),
                    family_id: &family,
                    client_id: &client.id,
                    session_id: Some(&subject.session_id),
                    user_id: &subject.user.id,
                    organization_id: subject.org_id.as_deref(),
                    scope: grant.scope,
                    auth_code_hash: Some(grant.auth_code_hash),
                    auth_time: subject.auth_time_ms,
                    expires_at: db::now_ms() + i64::from(env.refresh_token_ttl_secs) * 1000,
                },
            )
            .await?;
        }
        tx.commit().await.map_err(anyhow::Error::from)?;
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: access_ttl,
        id_token,
        refresh_token,
        scope: grant.scope.to_string(),
    })
}

/// A used refresh token came back: revoke its whole family (RFC 9700 §4.14.2).
async fn reused(state: &AppState, family: &str) -> Result<TokenResponse, OAuthError> {
    let revoked = db::refresh_tokens::revoke_family(state.db.conn(), family).await?;
    tracing::warn!(
        family,
        revoked,
        "refresh token reused; the family is revoked"
    );
    Err(OAuthError::invalid_grant(
        "The refresh token was already used; every token of this sign-in is now revoked.",
    ))
}

/// The refresh grant (RFC 6749 §6): only for grants with `offline_access`, only while the sign-in
/// session lives; the token rotates on every use, and a used token presented again revokes its
/// whole family (RFC 9700 §4.14.2).
async fn refresh(
    state: &AppState,
    client: &Client,
    form: TokenForm,
) -> Result<TokenResponse, OAuthError> {
    let presented = form
        .refresh_token
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
    let conn = state.db.conn();
    let invalid = || OAuthError::invalid_grant("The refresh token is not valid.");
    let token = db::refresh_tokens::find_by_hash(conn, &crypto::token_hash(&presented))
        .await?
        .ok_or_else(invalid)?;
    if token.client_id != client.id {
        return Err(invalid());
    }
    if token.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("The refresh token was revoked."));
    }
    if token.used_at.is_some() {
        return reused(state, &token.family_id).await;
    }
    if token.expires_at <= db::now_ms() {
        return Err(OAuthError::invalid_grant("The refresh token has expired."));
    }
    if !has_scope(&token.scope, "offline_access") {
        return Err(invalid());
    }
    let scope = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        // A narrower scope may be asked for, never a wider one (RFC 6749 §6).
        Some(asked) => {
            let asked = crate::oauth::parse_scope(asked);
            if asked.iter().any(|s| !has_scope(&token.scope, s)) {
                return Err(OAuthError::invalid_scope(
                    "The requested scope exceeds the scope originally granted.",
                ));
            }
            if !asked.contains(&"offline_access") {
                return Err(OAuthError::invalid_scope(
                    "Keep offline_access in the scope to refresh.",
                ));
            }
            asked.join(" ")
        }
        None => token.scope.clone(),
    };
    let session_id = token.session_id.clone().unwrap_or_default();
    let session = db::sessions::find(conn, &session_id)
        .await?
        .filter(|s| db::sessions::is_live(s, db::now_ms()));
    let Some(session) = session else {
        db::refresh_tokens::revoke_family(conn, &token.family_id).await?;
        return Err(OAuthError::invalid_grant("The sign-in session has ended."));
    };
    // An application refreshing tokens is the user being active in it.
    db::sessions::touch(conn, &session, db::now_ms()).await?;
    let subject = load_subject(
        state,
        &token.user_id,
        &session.id,
        token.auth_time,
        token.organization_id.as_deref(),
    )
    .await?
    .ok_or_else(|| OAuthError::invalid_grant("The user is no longer active."))?;
    let grant = UserGrant {
        scope: &scope,
        nonce: None,
        rotates: Some(&token),
        auth_code_hash: token.auth_code_hash.as_deref().unwrap_or(""),
    };
    user_tokens(state, client, &subject, grant).await
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    form: TokenForm,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use client_credentials.",
        ));
    }
    // Machine tokens carry no user scopes; a requested scope is ignored (RFC 6749 §3.3 lets the server
    // issue a different scope than asked, and says so in the response).
    let _ = form.scope;
    let env = db::environment::get(state.db.conn()).await?;
    let ttl = i64::from(env.access_token_ttl_secs);
    let access_token = claims::client_access_token(state, &client.id, "", ttl)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        id_token: None,
        refresh_token: None,
        scope: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("demo%2Dapp:s%3Acret+x"));
        assert_eq!(
            basic_credentials(Some(&header)).unwrap(),
            Some(("demo-app".into(), "s:cret x".into()))
        );
        assert!(basic_credentials(Some("Basic !!!")).is_err());
        assert_eq!(basic_credentials(Some("Bearer x")).unwrap(), None);
        assert_eq!(basic_credentials(None).unwrap(), None);
    }
}
