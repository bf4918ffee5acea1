//! Passkeys (WebAuthn credentials) and the state of WebAuthn ceremonies in progress.
//!
//! A ceremony's state (the challenge and what the server expects) is kept here, not in the browser,
//! and is taken exactly once: finishing a ceremony deletes its row in the same statement that reads
//! it, so an assertion replayed against the same ceremony finds nothing.

use super::entities::{passkey, webauthn_ceremony};
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

pub type Passkey = passkey::Model;

pub async fn create(
    db: &impl Conn,
    user_id: &str,
    name: &str,
    credential_id: &str,
    credential: String,
) -> anyhow::Result<Passkey> {
    let row = passkey::ActiveModel {
        id: Set(ids::new_id(ids::PASSKEY)),
        user_id: Set(user_id.into()),
        name: Set(name.into()),
        credential_id: Set(credential_id.into()),
        credential: Set(credential),
        created_at: Set(now_ms()),
        last_used_at: Set(None),
    };
    passkey::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to store a passkey")
}

pub async fn list_for_user(db: &impl Conn, user_id: &str) -> anyhow::Result<Vec<Passkey>> {
    passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .order_by_asc(passkey::Column::CreatedAt)
        .all(db)
        .await
        .context("failed to list passkeys")
}

pub async fn find_by_credential_id(
    db: &impl Conn,
    credential_id: &str,
) -> anyhow::Result<Option<Passkey>> {
    passkey::Entity::find()
        .filter(passkey::Column::CredentialId.eq(credential_id))
        .one(db)
        .await
        .context("failed to load a passkey")
}

/// Stores the credential after a sign-in (its counter moved) and when it was used.
pub async fn record_use(db: &impl Conn, id: &str, credential: String) -> anyhow::Result<()> {
    passkey::Entity::update_many()
        .col_expr(passkey::Column::Credential, Expr::value(credential))
        .col_expr(passkey::Column::LastUsedAt, Expr::value(now_ms()))
        .filter(passkey::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to record passkey use")?;
    Ok(())
}

/// Renames one of the user's passkeys. Returns whether it was theirs.
pub async fn rename(db: &impl Conn, user_id: &str, id: &str, name: &str) -> anyhow::Result<bool> {
    let res = passkey::Entity::update_many()
        .col_expr(passkey::Column::Name, Expr::value(name))
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .context("failed to rename a passkey")?;
    Ok(res.rows_affected == 1)
}

/// Deletes one of the user's passkeys. Returns whether it was theirs.
pub async fn delete(db: &impl Conn, user_id: &str, id: &str) -> anyhow::Result<bool> {
    let res = passkey::Entity::delete_many()
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .context("failed to delete a passkey")?;
    Ok(res.rows_affected == 1)
}

/// A ceremony's state lives this long: long enough to touch a security key, short enough that a
/// challenge does not linger.
pub const CEREMONY_TTL_MS: i64 = 5 * 60_000;

pub async fn create_ceremony(
    db: &impl Conn,
    kind: &str,
    user_id: Option<&str>,
    state: String,
) -> anyhow::Result<String> {
    let now = now_ms();
    let id = ids::new_id(ids::CEREMONY);
    // Expired ceremonies are cleared as new ones start.
    webauthn_ceremony::Entity::delete_many()
        .filter(webauthn_ceremony::Column::ExpiresAt.lte(now))
        .exec(db)
        .await
        .context("failed to clear expired ceremonies")?;
    let row = webauthn_ceremony::ActiveModel {
        id: Set(id.clone()),
        kind: Set(kind.into()),
        user_id: Set(user_id.map(str::to_string)),
        state: Set(state),
        created_at: Set(now),
        expires_at: Set(now + CEREMONY_TTL_MS),
    };
    webauthn_ceremony::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to store a ceremony")?;
    Ok(id)
}

/// Takes a live ceremony of `kind` (for `user_id`, when given): returns its state and deletes it,
/// so it can be finished once. `None` when it is unknown, used, expired or someone else's.
pub async fn take_ceremony(
    db: &impl Conn,
    id: &str,
    kind: &str,
    user_id: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let Some(row) = webauthn_ceremony::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load a ceremony")?
    else {
        return Ok(None);
    };
    let deleted = webauthn_ceremony::Entity::delete_many()
        .filter(webauthn_ceremony::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to spend a ceremony")?;
    // Of two requests finishing the same ceremony, only the one whose delete removed the row wins.
    if deleted.rows_affected != 1
        || row.kind != kind
        || row.expires_at <= now_ms()
        || (user_id.is_some() && row.user_id.as_deref() != user_id)
    {
        return Ok(None);
    }
    Ok(Some(row.state))
}
