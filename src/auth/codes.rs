//! Sign-in by email: a 6-digit code and a magic link in one message, valid together for ten
//! minutes, usable once, with five guesses at the code. Also the code check shared with sign-up.

use super::limits::{self, Kind, Limited};
use super::{Continuation, send_mail};
use crate::crypto;
use crate::db::{self, one_time_codes::OneTimeCode, users::User};
use crate::domain::EmailAddress;
use crate::principal::urlencode;
use crate::state::AppState;
use crate::views;

/// How long an emailed code or link works.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Guesses allowed at one code; a sixth needs a new code.
pub const MAX_ATTEMPTS: i32 = 5;

/// A random 6-digit code (leading zeros kept).
pub fn new_code() -> String {
    format!("{:06}", crypto::random_below(1_000_000))
}

/// The typed code without spaces or dashes, if it is six digits.
pub fn normalize(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// What sending a code or link came to. The same for addresses with and without an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Limited(Limited),
}

/// Emails a sign-in code and link to `email` if it belongs to an active account; otherwise sends
/// nothing. Either way the answer is `Sent` (or `Limited`), so the page reveals nothing.
pub async fn send_sign_in_code(
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
        store_decoy(state, db::one_time_codes::SIGN_IN, email).await?;
        return Ok(Sent::Sent);
    };
    let code = new_code();
    let token = crypto::random_token(32);
    db::one_time_codes::create(
        conn,
        db::one_time_codes::NewCode {
            purpose: db::one_time_codes::SIGN_IN,
            email: email.as_str(),
            user_id: Some(&user.id),
            code: Some(&code),
            link_token: Some(&token),
            data: Some(serde_json::to_value(next)?),
            ttl_ms: CODE_TTL_MS,
        },
    )
    .await?;
    let link = state.url(&format!("/a/auth/code/link?token={}", urlencode(&token)));
    let brand = super::email_brand(state).await?;
    let mail = views::email::sign_in_code(&brand, &code, &link, CODE_TTL_MS / 60_000);
    send_mail(state, email, mail, Some(link));
    Ok(Sent::Sent)
}

/// Stores a code nobody receives for an address that gets no mail (no account at sign-in, an
/// existing account at sign-up). Guesses at it are then counted and cut off after five exactly as
/// for a real code, so the attempt limit does not tell which addresses have accounts. It signs
/// nobody in: it names no user and carries no pending account.
pub async fn store_decoy(
    state: &AppState,
    purpose: &'static str,
    email: &EmailAddress,
) -> anyhow::Result<()> {
    db::one_time_codes::create(
        state.db.conn(),
        db::one_time_codes::NewCode {
            purpose,
            email: email.as_str(),
            user_id: None,
            code: Some(&new_code()),
            link_token: None,
            data: None,
            ttl_ms: CODE_TTL_MS,
        },
    )
    .await?;
    Ok(())
}

/// The result of checking a typed code.
#[derive(Debug)]
pub enum CodeCheck {
    /// Right code; it is now used up.
    Valid(OneTimeCode),
    /// Not six digits; no guess was counted.
    Malformed,
    /// Wrong, expired, or no code was sent (not told apart).
    Wrong,
    /// This code had its five guesses; a new one is needed.
    Exhausted,
    Limited(Limited),
}

/// Checks `input` against the latest live code of `purpose` for `email`, counting the guess.
pub async fn check_code(
    state: &AppState,
    ip: Option<&str>,
    purpose: &str,
    email: &EmailAddress,
    input: &str,
) -> anyhow::Result<CodeCheck> {
    let Some(code) = normalize(input) else {
        return Ok(CodeCheck::Malformed);
    };
    if let Some(limited) = limits::check(state, Kind::CodeFailure, ip, email.as_str()).await? {
        return Ok(CodeCheck::Limited(limited));
    }
    let conn = state.db.conn();
    let row = db::one_time_codes::find_live_for_email(conn, purpose, email.as_str(), db::now_ms())
        .await?;
    let wrong = |exhausted: bool| async move {
        Ok(
            match limits::record(state, Kind::CodeFailure, ip, email.as_str()).await? {
                Some(limited) => CodeCheck::Limited(limited),
                None if exhausted => CodeCheck::Exhausted,
                None => CodeCheck::Wrong,
            },
        )
    };
    let Some(row) = row else {
        return wrong(false).await;
    };
    if !db::one_time_codes::take_attempt(conn, &row.id, MAX_ATTEMPTS).await? {
        return Ok(CodeCheck::Exhausted);
    }
    let expected = row.code_hash.as_deref().unwrap_or("");
    let given = db::one_time_codes::code_hash(&row.id, &code);
    if crypto::secure_eq(given.as_bytes(), expected.as_bytes())
        && db::one_time_codes::spend(conn, &row.id).await?
    {
        return Ok(CodeCheck::Valid(row));
    }
    wrong(row.attempts + 1 >= MAX_ATTEMPTS).await
}

/// The outcome of a sign-in by code or link.
#[derive(Debug)]
pub enum SignIn {
    Valid(User, Continuation),
    Refused(CodeCheck),
}

/// Signs in with a typed code. The address is verified by it.
pub async fn redeem_code(
    state: &AppState,
    ip: Option<&str>,
    email: &EmailAddress,
    input: &str,
) -> anyhow::Result<SignIn> {
    match check_code(state, ip, db::one_time_codes::SIGN_IN, email, input).await? {
        CodeCheck::Valid(row) => match user_of(state, &row).await? {
            Some(user) => Ok(SignIn::Valid(
                user,
                Continuation::from_json(row.data.as_deref()),
            )),
            None => Ok(SignIn::Refused(CodeCheck::Wrong)),
        },
        refused => Ok(SignIn::Refused(refused)),
    }
}

async fn user_of(state: &AppState, row: &OneTimeCode) -> anyhow::Result<Option<User>> {
    let conn = state.db.conn();
    let Some(user_id) = &row.user_id else {
        return Ok(None);
    };
    let user = db::users::find(conn, user_id)
        .await?
        .filter(|u| !u.disabled && u.email == row.email);
    if let Some(user) = &user {
        db::users::mark_email_verified(conn, &user.id).await?;
    }
    Ok(user)
}

/// The address a live magic link signs in, for its confirmation page.
pub async fn peek_link(state: &AppState, token: &str) -> anyhow::Result<Option<String>> {
    Ok(db::one_time_codes::find_live_by_link(
        state.db.conn(),
        db::one_time_codes::SIGN_IN,
        token,
        db::now_ms(),
    )
    .await?
    .map(|row| row.email))
}

/// Signs in with a magic link (once; the code from the same email stops working too).
pub async fn redeem_link(
    state: &AppState,
    token: &str,
) -> anyhow::Result<Option<(User, Continuation)>> {
    let conn = state.db.conn();
    let Some(row) = db::one_time_codes::find_live_by_link(
        conn,
        db::one_time_codes::SIGN_IN,
        token,
        db::now_ms(),
    )
    .await?
    else {
        return Ok(None);
    };
    if !db::one_time_codes::spend(conn, &row.id).await? {
        return Ok(None);
    }
    Ok(user_of(state, &row)
        .await?
        .map(|u| (u, Continuation::from_json(row.data.as_deref()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn typed_codes_are_normalized() {
        assert_eq!(normalize(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalize("123-456").as_deref(), Some("123456"));
        assert_eq!(normalize("12345"), None);
        assert_eq!(normalize("12345a"), None);
        assert_eq!(normalize("１２３４５６"), None, "only ASCII digits");
    }
}
