//! Stored JWT signing keys and their life cycle (next → active → retired).

use super::entities::signing_key;
use super::{Conn, now_ms};
use anyhow::Context;
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
