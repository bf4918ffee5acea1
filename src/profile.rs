//! A signed-in user's own profile: the name, and the email address, changed only after a code
//! sent to the new address proves it. Every change writes `user.updated` in its transaction.

use crate::auth::codes::{self, CodeCheck};
use crate::auth::limits::{self, Kind};
use crate::auth::send_mail;
use crate::db::events::{self, NewEvent};
use crate::db::{self, users::User};
use crate::domain::{DisplayName, EmailAddress};
use crate::state::AppState;
use crate::views;
use crate::wire::UserJson;
use anyhow::Context;

fn user_updated(user: &User) -> NewEvent {
    NewEvent {
        event_type: "user.updated",
        organization_id: None,
        user_id: Some(user.id.clone()),
        data: serde_json::json!({ "user": UserJson::from(user) }),
    }
}

pub async fn rename(state: &AppState, user_id: &str, name: DisplayName) -> anyhow::Result<User> {
    let tx = state.db.begin_write().await?;
    let user = db::users::update_name(&tx, user_id, &name.into_string()).await?;
    let published = events::append(&tx, vec![user_updated(&user)]).await?;
    tx.commit().await.context("failed to rename the user")?;
    state.outbox.committed_events(&published);
    Ok(user)
}

/// Why an email change was refused, in words for the form.
#[derive(Debug)]
pub enum EmailChange {
    Sent,
    Refused(String),
}

/// Mails a code to `new_email`. Addresses of other accounts are refused at the confirmation, not
/// here, so this step does not tell which addresses have accounts.
pub async fn start_email_change(
    state: &AppState,
    ip: Option<&str>,
    user: &User,
    new_email: &EmailAddress,
) -> anyhow::Result<EmailChange> {
    if new_email.as_str() == user.email {
        return Ok(EmailChange::Refused(
            "That is already your email address.".into(),
        ));
    }
    if let Some(limited) = limits::record(state, Kind::MailSend, ip, new_email.as_str()).await? {
        return Ok(EmailChange::Refused(format!(
            "Too many codes were sent. Please wait {} seconds.",
            limited.retry_after_secs
        )));
    }
    let code = codes::new_code();
    db::one_time_codes::create(
        state.db.conn(),
        db::one_time_codes::NewCode {
            purpose: db::one_time_codes::EMAIL_CHANGE,
            email: new_email.as_str(),
            user_id: Some(&user.id),
            code: Some(&code),
            link_token: None,
            data: None,
            ttl_ms: codes::CODE_TTL_MS,
        },
    )
    .await?;
    let brand = crate::auth::email_brand(state).await?;
    let mail = views::email::email_change_code(&brand, &code, codes::CODE_TTL_MS / 60_000);
    send_mail(state, new_email, mail, None);
    Ok(EmailChange::Sent)
}

/// Checks the code and, if right, makes `new_email` the user's address.
pub async fn finish_email_change(
    state: &AppState,
    ip: Option<&str>,
    user: &User,
    new_email: &EmailAddress,
    input: &str,
) -> anyhow::Result<Result<User, String>> {
    let check = codes::check_code(
        state,
        ip,
        db::one_time_codes::EMAIL_CHANGE,
        new_email,
        input,
    )
    .await?;
    let row = match check {
        CodeCheck::Valid(row) if row.user_id.as_deref() == Some(user.id.as_str()) => row,
        CodeCheck::Valid(_) | CodeCheck::Wrong => {
            return Ok(Err("That code is not right, or it has expired.".into()));
        }
        CodeCheck::Malformed => return Ok(Err("Enter the 6-digit code from the email.".into())),
        CodeCheck::Exhausted => {
            return Ok(Err("Too many wrong guesses. Ask for a new code.".into()));
        }
        CodeCheck::Limited(l) => {
            return Ok(Err(format!(
                "Too many attempts. Please wait {} seconds.",
                l.retry_after_secs
            )));
        }
    };
    drop(row);
    let tx = state.db.begin_write().await?;
    let updated = match db::users::update_email(&tx, &user.id, new_email).await {
        Ok(u) => u,
        Err(err) if db::is_unique_violation(&err) => {
            return Ok(Err("That address belongs to another account.".into()));
        }
        Err(err) => return Err(err).context("failed to change the email"),
    };
    let published = events::append(&tx, vec![user_updated(&updated)]).await?;
    match tx.commit().await {
        Ok(()) => {}
        Err(err) if db::is_unique_violation(&err) => {
            return Ok(Err("That address belongs to another account.".into()));
        }
        Err(err) => return Err(err).context("failed to change the email"),
    }
    state.outbox.committed_events(&published);
    Ok(Ok(updated))
}
