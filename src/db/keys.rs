//! Stored JWT signing keys and their life cycle (next → active → retired).

use super::entities::signing_key;
use super::{Conn, now_ms};
use anyhow::Context;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

pub type StoredKey = signing_key::Model;

pub const NEXT: &str = "next";
pub const ACTIVE: &str = "active";
pub const RETIRED: &str = "retired";

/// Every key still published in the JWKS: next, active, and retired ones not yet past `retire_at`.
pub async fn published(db: &impl Conn) -> anyhow::Result<Vec<StoredKey>> {
    let now = now_ms();
    let keys = signing_key::Entity::find()
        .order_by_asc(signing_key::Column::CreatedAt)
        .all(db)
        .await
        .context("failed to load signing keys")?;
    Ok(keys
        .into_iter()
        .filter(|k| k.status != RETIRED || k.retire_at.is_some_and(|t| t > now))
        .collect())
}

pub async fn insert(
    db: &impl Conn,
    kid: &str,
    private_key: String,
    status: &str,
) -> anyhow::Result<()> {
    let now = now_ms();
    let row = signing_key::ActiveModel {
        kid: Set(kid.into()),
        algorithm: Set("RS256".into()),
        private_key: Set(private_key),
        status: Set(status.into()),
        created_at: Set(now),
        activated_at: Set((status == ACTIVE).then_some(now)),
        retire_at: Set(None),
    };
    signing_key::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to store a signing key")?;
    Ok(())
}

pub async fn has_active(db: &impl Conn) -> anyhow::Result<bool> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::Status.eq(ACTIVE))
        .one(db)
        .await?
        .is_some())
}

/// Every stored key, oldest first (for `portal keys list`).
pub async fn all(db: &impl Conn) -> anyhow::Result<Vec<StoredKey>> {
    signing_key::Entity::find()
        .order_by_asc(signing_key::Column::CreatedAt)
        .all(db)
        .await
        .context("failed to load signing keys")
}

/// Keys waiting to be promoted, oldest first.
pub async fn next_keys(db: &impl Conn) -> anyhow::Result<Vec<StoredKey>> {
    signing_key::Entity::find()
        .filter(signing_key::Column::Status.eq(NEXT))
        .order_by_asc(signing_key::Column::CreatedAt)
        .all(db)
        .await
        .context("failed to load signing keys")
}

/// Makes `kid` (a `next` key) the active key and retires the active one until `retire_at`. Returns
/// false when another node promoted it first. Call inside a write transaction.
pub async fn promote(db: &impl Conn, kid: &str, retire_at: i64) -> anyhow::Result<bool> {
    let now = now_ms();
    let promoted = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::Status, Expr::value(ACTIVE))
        .col_expr(signing_key::Column::ActivatedAt, Expr::value(now))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::Status.eq(NEXT))
        .exec(db)
        .await
        .context("failed to promote a signing key")?;
    if promoted.rows_affected != 1 {
        return Ok(false);
    }
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::Status, Expr::value(RETIRED))
        .col_expr(signing_key::Column::RetireAt, Expr::value(retire_at))
        .filter(signing_key::Column::Status.eq(ACTIVE))
        .filter(signing_key::Column::Kid.ne(kid))
        .exec(db)
        .await
        .context("failed to retire the previous signing key")?;
    Ok(true)
}

/// Deletes retired keys whose tokens have all expired. Returns how many.
pub async fn delete_retired_before(db: &impl Conn, now: i64) -> anyhow::Result<u64> {
    let res = signing_key::Entity::delete_many()
        .filter(signing_key::Column::Status.eq(RETIRED))
        .filter(signing_key::Column::RetireAt.lte(now))
        .exec(db)
        .await
        .context("failed to delete retired signing keys")?;
    Ok(res.rows_affected)
}
