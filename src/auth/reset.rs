//! Forgotten passwords: an emailed link (thirty minutes, once) to choose a new one. Choosing it ends
//! every session and refresh token of the account, and verifies the address.

use super::codes::Sent;
use super::limits::{self, Kind};
use super::{Continuation, send_mail};
use crate::crypto::{self, Passwords};
use crate::db::{self, one_time_codes::OneTimeCode, users::User};
use crate::domain::{EmailAddress, NewPassword};
use crate::principal::urlencode;
use crate::state::AppState;
use crate::views;

pub const RESET_TTL_MS: i64 = 30 * 60 * 1000;

/// Emails a reset link if `email` has an active account; the answer is the same either way.
pub async fn send_link(
    state: &AppState,
    ip: Option<&str>,
    email: &EmailAddress,
    next: &Continuation,
) -> anyhow::Result<Sent> {
    if let Some(limited) = limits::record(state, Kind::MailSend, ip, email.as_str()).await? {
        return Ok(Sent::Limited(limited));
    }
    let conn = state.db.conn();
    let Some(user) = db::users::find_by_email(conn, email)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(Sent::Sent);
    };
    let token = crypto::random_token(32);
    db::one_time_codes::create(
        conn,
        db::one_time_codes::NewCode {
            purpose: db::one_time_codes::PASSWORD_RESET,
            email: email.as_str(),
            user_id: Some(&user.id),
            code: None,
            link_token: Some(&token),
            data: Some(serde_json::to_value(next)?),
            ttl_ms: RESET_TTL_MS,
        },
    )
    .await?;
    let link = state.url(&format!("/a/auth/reset?token={}", urlencode(&token)));
    let brand = super::email_brand(state).await?;
    let mail = views::email::password_reset(&brand, &link, RESET_TTL_MS / 60_000);
    send_mail(state, email, mail, Some(link));
    Ok(Sent::Sent)
}

/// The live reset link for `token`, if it is one.
pub async fn find_link(state: &AppState, token: &str) -> anyhow::Result<Option<OneTimeCode>> {
    db::one_time_codes::find_live_by_link(
        state.db.conn(),
        db::one_time_codes::PASSWORD_RESET,
        token,
        db::now_ms(),
    )
    .await
}

/// Sets the new password (once per link) and ends all the account's sessions and refresh tokens.
/// `None` when the link was used meanwhile.
pub async fn finish(
    state: &AppState,
    link: &OneTimeCode,
    password: NewPassword,
) -> anyhow::Result<Option<(User, Continuation)>> {
    let Some(user_id) = &link.user_id else {
        return Ok(None);
    };
    let hash = Passwords::hash(password.into_string()).await?;
    let tx = state.db.begin_write().await?;
    let user = db::users::find(&tx, user_id)
        .await?
        .filter(|u| !u.disabled && u.email == link.email);
    let Some(user) = user else {
        tx.rollback().await?;
        return Ok(None);
    };
    if !db::one_time_codes::spend(&tx, &link.id).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    db::users::reset_password(&tx, &user.id, hash).await?;
    let live = db::sessions::live_for_user(&tx, &user.id, db::now_ms()).await?;
    let new_events =
        crate::sessions::end_in(&tx, &live, crate::sessions::EndReason::PasswordReset).await?;
    let ended = new_events.len();
    db::refresh_tokens::revoke_for_user(&tx, &user.id).await?;
    let published = db::events::append(&tx, new_events).await?;
    tx.commit().await?;
    state.sessions.after_commit(&published);
    tracing::info!(user = user.id, sessions_ended = ended, "password reset");
    Ok(Some((user, Continuation::from_json(link.data.as_deref()))))
}
