//! Signing users in: credential checks and session creation, shared by every hosted sign-in screen.

use crate::crypto::{self, Passwords};
use crate::db::{self, sessions::Session, users::User};
use crate::domain::EmailAddress;
use crate::state::AppState;
use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

/// The user whose password this is, or `None`; takes the same time for unknown emails.
pub async fn check_password(
    state: &AppState,
    email: &EmailAddress,
    password: &str,
) -> anyhow::Result<Option<User>> {
    let user = db::users::find_by_email(state.db.conn(), email).await?;
    let stored = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    let ok = Passwords::verify(stored, password.to_string()).await;
    Ok(user.filter(|_| ok))
}

/// Starts a session for `user` and returns it with its cookie. The session is for the user's first
/// organization until an authorization request picks another.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    auth_method: &str,
) -> anyhow::Result<(Session, Cookie<'static>)> {
    let conn = state.db.conn();
    let env = db::environment::get(conn).await?;
    let org_id = db::members::active_for_user(conn, &user.id)
        .await?
        .first()
        .map(|m| m.organization_id.clone());
    let now = db::now_ms();
    let absolute_ms = i64::from(env.session_absolute_minutes) * 60_000;
    let idle = env
        .session_idle_enabled
        .then(|| now + i64::from(env.session_idle_minutes) * 60_000);
    let token = crypto::random_token(32);
    let session = db::sessions::create(
        conn,
        db::sessions::NewSession {
            token_hash: crypto::token_hash(&token),
            user_id: &user.id,
            organization_id: org_id.as_deref(),
            auth_method,
            user_agent: crate::web::user_agent(req),
            ip: crate::web::client_ip(req).as_deref(),
            absolute_expires_at: now + absolute_ms,
            idle_expires_at: idle,
        },
    )
    .await?;
    let cookie = crate::web::session_cookie(state, token, absolute_ms / 1000);
    Ok((session, cookie))
}
