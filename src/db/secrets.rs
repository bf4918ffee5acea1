//! Generated secrets (such as the cookie key), created once and shared by every node.

use super::entities::secret;
use super::{Conn, now_ms};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

/// Returns the secret called `name`, creating it from `generate` the first time. Two nodes starting at
/// once agree: the insert that loses the race does nothing and both read the winner's value.
pub async fn get_or_create(
    db: &impl Conn,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    if let Some(found) = secret::Entity::find_by_id(name).one(db).await? {
        return Ok(found.value);
    }
    let row = secret::ActiveModel {
        name: Set(name.into()),
        value: Set(generate()),
        created_at: Set(now_ms()),
    };
    secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(secret::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .with_context(|| format!("failed to store secret {name}"))?;
    let stored = secret::Entity::find_by_id(name)
        .one(db)
        .await?
        .with_context(|| format!("secret {name} vanished after insert"))?;
    Ok(stored.value)
}

pub async fn find(db: &impl Conn, name: &str) -> anyhow::Result<Option<String>> {
    Ok(secret::Entity::find_by_id(name)
        .one(db)
        .await?
        .map(|s| s.value))
}

pub async fn put(db: &impl Conn, name: &str, value: String) -> anyhow::Result<()> {
    let row = secret::ActiveModel {
        name: Set(name.into()),
        value: Set(value),
        created_at: Set(now_ms()),
    };
    secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(secret::Column::Name)
                .update_column(secret::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .with_context(|| format!("failed to store secret {name}"))?;
    Ok(())
}
