//! RP-Initiated Logout 1.0 at `/oidc/logout`: `id_token_hint`, `post_logout_redirect_uri` (exact match
//! against the client's registered list), `state` and `client_id`. A request with a valid hint signs
//! out at once; without one the user confirms first, so a link on another site cannot sign anyone out.

use crate::db;
use crate::handlers::errors::PageError;
use crate::oauth::authorize::redirect_with;
use crate::state::AppState;
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// Whom a valid `id_token_hint` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub sub: String,
    pub sid: Option<String>,
    pub client_id: String,
}

/// A checked logout request.
#[derive(Debug, Clone, Default)]
pub struct Logout {
    pub hint: Option<Hint>,
    /// The client the request is for, when it was named (by the hint or `client_id`).
    pub client_id: Option<String>,
    /// The registered post-logout URI asked for, and the client's `state` to send back with it.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl Logout {
    /// Where the browser goes after signing out: the client's URI with its `state`, else Portal's
    /// signed-out page.
    pub fn destination(&self) -> String {
        match &self.post_logout_redirect_uri {
            Some(uri) => match &self.state {
                Some(state) => redirect_with(uri, &[("state", state)]),
                None => uri.clone(),
            },
            None => "/a/auth/login?signed_out=1".into(),
        }
    }
}

/// Reads an ID token of ours as a hint. Expired hints are accepted (OIDC RP-Initiated Logout §2:
/// the hint identifies, it does not authorize access); signature and issuer must hold.
fn parse_hint(state: &AppState, token: &str) -> Option<Hint> {
    let claims = state.keys.verify_id_token(token).ok()?;
    if claims["iss"].as_str() != Some(state.issuer()) {
        return None;
    }
    let client_id = match &claims["aud"] {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(list) => list.first()?.as_str()?.to_string(),
        _ => return None,
    };
    Some(Hint {
        sub: claims["sub"].as_str()?.to_string(),
        sid: claims["sid"].as_str().map(str::to_string),
        client_id,
    })
}

/// Checks the parameters. A post-logout URI that is not registered for the named client is refused
/// with a page (redirecting there would make Portal an open redirector).
pub async fn validate(state: &AppState, p: LogoutParams) -> Result<Logout, PageError> {
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let hint = nonempty(p.id_token_hint).and_then(|t| parse_hint(state, &t));
    let client_param = nonempty(p.client_id);
    if let (Some(h), Some(c)) = (&hint, &client_param)
        && h.client_id != *c
    {
        return Err(PageError::BadRequest(
            "The sign-out request names two different applications (client_id does not match the ID token).".into(),
        ));
    }
    let client_id = hint.as_ref().map(|h| h.client_id.clone()).or(client_param);
    let mut out = Logout {
        hint,
        client_id: client_id.clone(),
        post_logout_redirect_uri: None,
        state: nonempty(p.state),
    };
    if let Some(uri) = nonempty(p.post_logout_redirect_uri) {
        let Some(client_id) = client_id else {
            return Err(PageError::BadRequest(
                "The application asked to return you after signing out but did not say who it is (send client_id or id_token_hint).".into(),
            ));
        };
        let client = db::clients::find(state.db.conn(), &client_id)
            .await?
            .ok_or_else(|| {
                PageError::BadRequest(
                    "The application that sent you here is not registered with Portal.".into(),
                )
            })?;
        if !client.post_logout_redirect_uris.contains(&uri) {
            return Err(PageError::BadRequest(
                "The application asked to return you to an address it has not registered for sign-out. You were not signed out.".into(),
            ));
        }
        out.post_logout_redirect_uri = Some(uri);
    }
    Ok(out)
}

/// Ends the session the hint names, if it belongs to the hinted user.
pub async fn end_hinted_session(state: &AppState, hint: &Hint) -> anyhow::Result<()> {
    let conn = state.db.conn();
    if let Some(sid) = &hint.sid
        && let Some(session) = db::sessions::find(conn, sid).await?
        && session.user_id == hint.sub
    {
        state
            .sessions
            .end(&[session], crate::sessions::EndReason::Logout)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Logout;

    #[test]
    fn destination_carries_state_to_the_registered_uri_only() {
        let mut l = Logout::default();
        assert_eq!(l.destination(), "/a/auth/login?signed_out=1");
        l.state = Some("a b".into());
        assert_eq!(
            l.destination(),
            "/a/auth/login?signed_out=1",
            "no URI, no state"
        );
        l.post_logout_redirect_uri = Some("https://app.example/bye?x=1".into());
        assert_eq!(l.destination(), "https://app.example/bye?x=1&state=a+b");
    }
}
