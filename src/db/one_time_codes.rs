//! Emailed one-time codes and links: sign-in codes (with their magic link), email verification at
//! sign-up, password reset links. Only hashes are stored; a code is bound to its row by hashing it with
//! the row id, so equal codes in two rows hash differently.

use super::entities::one_time_code;
use super::{Conn, now_ms};
use crate::crypto;
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

pub type OneTimeCode = one_time_code::Model;

/// A sign-in code and magic link for an existing user.
pub const SIGN_IN: &str = "sign_in";
/// The code that confirms the address of a sign-up; `data` holds the pending account.
pub const VERIFY_EMAIL: &str = "verify_email";
/// A password reset link.
pub const PASSWORD_RESET: &str = "password_reset";
/// The code that confirms a new address for an existing account (`user_id` set).
pub const EMAIL_CHANGE: &str = "email_change";

/// The hash stored for `code` in row `id`.
pub fn code_hash(id: &str, code: &str) -> String {
    crypto::token_hash(&format!("{id}:{code}"))
}

pub struct NewCode<'a> {
    pub purpose: &'static str,
    pub email: &'a str,
    pub user_id: Option<&'a str>,
    /// The short code the user types, if this kind has one.
    pub code: Option<&'a str>,
    /// The token of the link, if this kind has one.
    pub link_token: Option<&'a str>,
    pub data: Option<serde_json::Value>,
    pub ttl_ms: i64,
}

/// Stores a new code. Earlier unused codes of the same purpose and address stop working, so only the
/// latest email counts.
pub async fn create(db: &impl Conn, new: NewCode<'_>) -> anyhow::Result<OneTimeCode> {
    let now = now_ms();
    one_time_code::Entity::update_many()
        .col_expr(one_time_code::Column::UsedAt, Expr::value(now))
        .filter(one_time_code::Column::Purpose.eq(new.purpose))
        .filter(one_time_code::Column::Email.eq(new.email))
        .filter(one_time_code::Column::UsedAt.is_null())
        .exec(db)
        .await
        .context("failed to retire earlier codes")?;
    let id = ids::new_id(ids::CODE);
    let row = one_time_code::ActiveModel {
        code_hash: Set(new.code.map(|c| code_hash(&id, c))),
        link_hash: Set(new.link_token.map(crypto::token_hash)),
        id: Set(id),
        purpose: Set(new.purpose.into()),
        email: Set(new.email.into()),
        user_id: Set(new.user_id.map(str::to_string)),
        attempts: Set(0),
        data: Set(new.data.map(|d| d.to_string())),
        created_at: Set(now),
        expires_at: Set(now + new.ttl_ms),
        used_at: Set(None),
    };
    one_time_code::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to store a one-time code")
}

/// The latest usable code of `purpose` for `email`.
pub async fn find_live_for_email(
    db: &impl Conn,
    purpose: &str,
    email: &str,
    now: i64,
) -> anyhow::Result<Option<OneTimeCode>> {
    one_time_code::Entity::find()
        .filter(one_time_code::Column::Purpose.eq(purpose))
        .filter(one_time_code::Column::Email.eq(email))
        .filter(one_time_code::Column::UsedAt.is_null())
        .filter(one_time_code::Column::ExpiresAt.gt(now))
        .order_by_desc(one_time_code::Column::CreatedAt)
        .one(db)
        .await
        .context("failed to load a one-time code")
}

/// The usable code of `purpose` whose link token is `token`.
pub async fn find_live_by_link(
    db: &impl Conn,
    purpose: &str,
    token: &str,
    now: i64,
) -> anyhow::Result<Option<OneTimeCode>> {
    one_time_code::Entity::find()
        .filter(one_time_code::Column::LinkHash.eq(crypto::token_hash(token)))
        .filter(one_time_code::Column::Purpose.eq(purpose))
        .filter(one_time_code::Column::UsedAt.is_null())
        .filter(one_time_code::Column::ExpiresAt.gt(now))
        .one(db)
        .await
        .context("failed to load a one-time link")
}

/// Counts one guess at a code, unless `max` guesses were already made. Returns whether this guess
/// may be checked; the conditional update keeps the limit under concurrent guesses.
pub async fn take_attempt(db: &impl Conn, id: &str, max: i32) -> anyhow::Result<bool> {
    let res = one_time_code::Entity::update_many()
        .col_expr(
            one_time_code::Column::Attempts,
            Expr::col(one_time_code::Column::Attempts).add(1),
        )
        .filter(one_time_code::Column::Id.eq(id))
        .filter(one_time_code::Column::Attempts.lt(max))
        .exec(db)
        .await
        .context("failed to count a code attempt")?;
    Ok(res.rows_affected == 1)
}

/// Uses a code up. Returns whether this call did (only one of several concurrent callers does).
pub async fn spend(db: &impl Conn, id: &str) -> anyhow::Result<bool> {
    let res = one_time_code::Entity::update_many()
        .col_expr(one_time_code::Column::UsedAt, Expr::value(now_ms()))
        .filter(one_time_code::Column::Id.eq(id))
        .filter(one_time_code::Column::UsedAt.is_null())
        .exec(db)
        .await
        .context("failed to use up a one-time code")?;
    Ok(res.rows_affected == 1)
}
