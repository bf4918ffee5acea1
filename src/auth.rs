//! Signing users in: credential checks, emailed codes and links, sign-up, password reset and session
//! creation, shared by every hosted sign-in screen. Handlers parse the forms and make one call here.

pub mod codes;
pub mod domain_join;
pub mod home_realm;
pub mod limits;
pub mod reset;
pub mod signup;

use crate::actors::mailer::SendMail;
use crate::crypto::{self, Passwords};
use crate::db::{self, sessions::Session, users::User};
use crate::domain::EmailAddress;
use crate::state::AppState;
use crate::views::email::{Email, EmailBrand};
use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use limits::{Kind, Limited};
use serde::{Deserialize, Serialize};

/// Where a sign-in goes once it succeeds: the pending authorization request, else a local path.
/// Stored with emailed codes and links so a sign-in finished from the email continues the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

impl Continuation {
    pub fn from_json(data: Option<&str>) -> Self {
        data.and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default()
    }
}

/// The outcome of a password sign-in.
#[derive(Debug)]
pub enum PasswordCheck {
    Valid(Box<User>),
    /// Wrong email or password (the two are not told apart).
    Wrong,
    Limited(Limited),
}

/// Checks a password under the rate limits: a blocked IP or account is refused before any hashing,
/// and each wrong password counts against both.
pub async fn sign_in_with_password(
    state: &AppState,
    ip: Option<&str>,
    email: &EmailAddress,
    password: &str,
) -> anyhow::Result<PasswordCheck> {
    if let Some(limited) = limits::check(state, Kind::PasswordFailure, ip, email.as_str()).await? {
        return Ok(PasswordCheck::Limited(limited));
    }
    if let Some(user) = check_password(state, email, password).await? {
        return Ok(PasswordCheck::Valid(Box::new(user)));
    }
    Ok(
        match limits::record(state, Kind::PasswordFailure, ip, email.as_str()).await? {
            Some(limited) => PasswordCheck::Limited(limited),
            None => PasswordCheck::Wrong,
        },
    )
}

/// The environment's branding as mail shows it.
pub async fn email_brand(state: &AppState) -> anyhow::Result<EmailBrand> {
    let env = db::environment::get(state.db.conn()).await?;
    Ok(EmailBrand {
        name: env.name,
        color: env.primary_color,
        logo_url: env.logo_url,
    })
}

/// Hands a message to the mailer without waiting for delivery: the page answers in the same time
/// whether or not a message went out, so timing does not tell whether an address has an account.
pub fn send_mail(state: &AppState, to: &EmailAddress, email: Email, link: Option<String>) {
    state.mailer.do_send(SendMail {
        to: to.clone(),
        subject: email.subject,
        text: email.text,
        html: email.html,
        link,
    });
}

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

/// Starts a session for `user` and returns it with its cookie. A user of one organization is signed
/// into it; a user of several picks one (the org picker) unless an authorization request names it.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    auth_method: &str,
) -> anyhow::Result<(Session, Cookie<'static>)> {
    let conn = state.db.conn();
    let env = db::environment::get(conn).await?;
    let memberships = db::members::active_for_user(conn, &user.id).await?;
    let org_id = match memberships.as_slice() {
        [only] => Some(only.organization_id.clone()),
        _ => None,
    };
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

/// Ends the session a browser presents, if any (a new sign-in replaces it).
pub async fn end_session_of_token(
    state: &AppState,
    token: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let conn = state.db.conn();
    if let Some(session) =
        db::sessions::find_live_by_token_hash(conn, &crypto::token_hash(token)).await?
    {
        db::sessions::revoke(conn, &session.id, reason).await?;
        state.end_session_sockets(&session.id);
    }
    Ok(())
}
