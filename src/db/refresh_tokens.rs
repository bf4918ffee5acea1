//! Refresh tokens: stored as hashes, rotated on every use. Every token descends from one
//! authorization code and shares a `family_id` with the tokens it replaced; presenting a token that
//! was already used revokes the whole family (RFC 9700 §4.14.2), and a replayed authorization code
//! revokes every token it led to.

use super::entities::refresh_token;
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

pub type RefreshToken = refresh_token::Model;

pub struct NewRefreshToken<'a> {
    pub token_hash: String,
    pub family_id: &'a str,
    pub client_id: &'a str,
    pub session_id: Option<&'a str>,
    pub user_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub scope: &'a str,
    pub auth_code_hash: Option<&'a str>,
    pub auth_time: i64,
    pub expires_at: i64,
}

pub fn new_family_id() -> String {
    ids::new_id("rtf")
}

pub async fn create(db: &impl Conn, new: NewRefreshToken<'_>) -> anyhow::Result<()> {
    let row = refresh_token::ActiveModel {
        id: Set(ids::new_id(ids::REFRESH)),
        token_hash: Set(new.token_hash),
        family_id: Set(new.family_id.into()),
        client_id: Set(new.client_id.into()),
        session_id: Set(new.session_id.map(str::to_string)),
        user_id: Set(new.user_id.into()),
        organization_id: Set(new.organization_id.map(str::to_string)),
        scope: Set(new.scope.into()),
        auth_code_hash: Set(new.auth_code_hash.map(str::to_string)),
        auth_time: Set(new.auth_time),
        created_at: Set(now_ms()),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    };
    refresh_token::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to store a refresh token")?;
    Ok(())
}

pub async fn find_by_hash(
    db: &impl Conn,
    token_hash: &str,
) -> anyhow::Result<Option<RefreshToken>> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
        .context("failed to load a refresh token")
}

/// Marks a token used. Returns whether this call did: of two concurrent uses only one wins, and the
/// loser is treated as a reuse.
pub async fn spend(db: &impl Conn, id: &str) -> anyhow::Result<bool> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now_ms()))
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("failed to spend a refresh token")?;
    Ok(res.rows_affected == 1)
}

async fn revoke_where(
    db: &impl Conn,
    column: refresh_token::Column,
    value: &str,
) -> anyhow::Result<u64> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now_ms()))
        .filter(column.eq(value))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("failed to revoke refresh tokens")?;
    Ok(res.rows_affected)
}

/// Revokes every token of a family. Returns how many were still valid.
pub async fn revoke_family(db: &impl Conn, family_id: &str) -> anyhow::Result<u64> {
    revoke_where(db, refresh_token::Column::FamilyId, family_id).await
}

/// Revokes every token that descends from an authorization code.
pub async fn revoke_by_auth_code(db: &impl Conn, code_hash: &str) -> anyhow::Result<u64> {
    revoke_where(db, refresh_token::Column::AuthCodeHash, code_hash).await
}

/// Revokes every refresh token of a user (after a password reset).
pub async fn revoke_for_user(db: &impl Conn, user_id: &str) -> anyhow::Result<u64> {
    revoke_where(db, refresh_token::Column::UserId, user_id).await
}

/// Revokes every refresh token issued in a browser session (the session ended).
pub async fn revoke_for_session(db: &impl Conn, session_id: &str) -> anyhow::Result<u64> {
    revoke_where(db, refresh_token::Column::SessionId, session_id).await
}
