//! Pending authorization requests and authorization codes.

use super::entities::{auth_code, auth_request};
use super::{Conn, now_ms};
use anyhow::Context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

pub type AuthRequest = auth_request::Model;
pub type AuthCode = auth_code::Model;

pub async fn create_request(db: &impl Conn, request: AuthRequest) -> anyhow::Result<()> {
    let row: auth_request::ActiveModel = request.into();
    auth_request::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to store the authorization request")?;
    Ok(())
}

/// The pending request, if it has not expired.
pub async fn find_request(db: &impl Conn, id: &str) -> anyhow::Result<Option<AuthRequest>> {
    let found = auth_request::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load the authorization request")?;
    Ok(found.filter(|r| r.expires_at > now_ms()))
}

pub async fn delete_request(db: &impl Conn, id: &str) -> anyhow::Result<()> {
    auth_request::Entity::delete_by_id(id)
        .exec(db)
        .await
        .context("failed to delete the authorization request")?;
    Ok(())
}

pub async fn create_code(db: &impl Conn, code: AuthCode) -> anyhow::Result<()> {
    let row: auth_code::ActiveModel = code.into();
    auth_code::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to store the authorization code")?;
    Ok(())
}

/// What happened when a client presented a code.
#[derive(Debug)]
pub enum CodeRedemption {
    /// First use within its lifetime: the code is now spent.
    Redeemed(AuthCode),
    /// Already spent once: the caller must revoke what the first redemption issued (RFC 6749 §4.1.2).
    Replayed(AuthCode),
    Expired,
    Unknown,
}

/// Spends a code exactly once, even under concurrent redemptions: only the `UPDATE … WHERE used_at IS
/// NULL` that changes a row wins.
pub async fn redeem_code(db: &impl Conn, code_hash: &str) -> anyhow::Result<CodeRedemption> {
    let Some(code) = auth_code::Entity::find_by_id(code_hash)
        .one(db)
        .await
        .context("failed to load the authorization code")?
    else {
        return Ok(CodeRedemption::Unknown);
    };
    if code.used_at.is_some() {
        return Ok(CodeRedemption::Replayed(code));
    }
    let now = now_ms();
    if code.expires_at <= now {
        return Ok(CodeRedemption::Expired);
    }
    let spent = auth_code::Entity::update_many()
        .col_expr(auth_code::Column::UsedAt, now.into())
        .filter(auth_code::Column::CodeHash.eq(code_hash))
        .filter(auth_code::Column::UsedAt.is_null())
        .exec(db)
        .await
        .context("failed to spend the authorization code")?;
    if spent.rows_affected == 1 {
        Ok(CodeRedemption::Redeemed(code))
    } else {
        Ok(CodeRedemption::Replayed(code))
    }
}
