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
/// The session's deadlines follow the policy of its organization (the application default until
/// one is chosen); `session.created` and `user.login` are written with it.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    auth_method: &str,
) -> anyhow::Result<(Session, Cookie<'static>)> {
    let conn = state.db.conn();
    let memberships = db::members::active_for_user(conn, &user.id).await?;
    let org_id = match memberships.as_slice() {
        [only] => Some(only.organization_id.clone()),
        _ => None,
    };
    let policy = crate::sessions::policy_for(conn, org_id.as_deref()).await?;
    let now = db::now_ms();
    let token = crypto::random_token(32);
    let tx = state.db.begin_write().await?;
    let session = db::sessions::create(
        &tx,
        db::sessions::NewSession {
            token_hash: crypto::token_hash(&token),
            user_id: &user.id,
            organization_id: org_id.as_deref(),
            auth_method,
            user_agent: crate::web::user_agent(req),
            ip: crate::web::client_ip(req).as_deref(),
            now,
            absolute_expires_at: now + policy.absolute_ms(),
            idle_expires_at: policy.idle_ms().map(|ms| now + ms),
        },
    )
    .await?;
    let mut new_events = Vec::new();
    for kind in [
        crate::sessions::SESSION_CREATED,
        crate::sessions::USER_LOGIN,
    ] {
        if let Some(event) = crate::sessions::session_event(&tx, kind, &session).await? {
            new_events.push(event);
        }
    }
    let published = db::events::append(&tx, new_events).await?;
    tx.commit().await?;
    state.outbox.committed_events(&published);
    let cookie = crate::web::session_cookie(state, token, policy.absolute_ms() / 1000);
    Ok((session, cookie))
}

/// Ends the session a browser presents, if any (a new sign-in replaces it, or the user signs out).
pub async fn end_session_of_token(
    state: &AppState,
    token: &str,
    reason: crate::sessions::EndReason,
) -> anyhow::Result<()> {
    let conn = state.db.conn();
    if let Some(session) =
        db::sessions::find_live_by_token_hash(conn, &crypto::token_hash(token)).await?
    {
        state.sessions.end(&[session], reason).await?;
    }
    Ok(())
}
