//! Users: one account per email address per environment.

use super::entities::user;
use super::environment::DEFAULT_ENVIRONMENT;
use super::{Conn, now_ms};
use crate::domain::{EmailAddress, ids};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

pub type User = user::Model;

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<User>> {
    user::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load user")
}

pub async fn find_by_email(db: &impl Conn, email: &EmailAddress) -> anyhow::Result<Option<User>> {
    user::Entity::find()
        .filter(user::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
        .context("failed to load user")
}

pub struct NewUser<'a> {
    pub email: &'a EmailAddress,
    pub name: &'a str,
    pub email_verified: bool,
    pub password_hash: Option<String>,
}

pub async fn create(db: &impl Conn, new: NewUser<'_>) -> anyhow::Result<User> {
    let now = now_ms();
    let (given, family) = split_name(new.name);
    let row = user::ActiveModel {
        id: Set(ids::new_id(ids::USER)),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        email: Set(new.email.as_str().into()),
        email_verified: Set(new.email_verified),
        name: Set(new.name.into()),
        given_name: Set(given),
        family_name: Set(family),
        password_hash: Set(new.password_hash),
        external_id: Set(None),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    user::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to create user")
}

pub async fn set_password_hash(db: &impl Conn, user_id: &str, hash: String) -> anyhow::Result<()> {
    let row = user::ActiveModel {
        id: Set(user_id.into()),
        password_hash: Set(Some(hash)),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    user::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update password")?;
    Ok(())
}

/// Sets a new password and marks the address verified (a reset link proves the mailbox).
pub async fn reset_password(db: &impl Conn, user_id: &str, hash: String) -> anyhow::Result<()> {
    let row = user::ActiveModel {
        id: Set(user_id.into()),
        password_hash: Set(Some(hash)),
        email_verified: Set(true),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    user::Entity::update(row)
        .exec(db)
        .await
        .context("failed to reset password")?;
    Ok(())
}

/// Marks the user's address verified (they proved they read its mail).
pub async fn mark_email_verified(db: &impl Conn, user_id: &str) -> anyhow::Result<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::EmailVerified,
            sea_orm::sea_query::Expr::value(true),
        )
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::EmailVerified.eq(false))
        .exec(db)
        .await
        .context("failed to mark the email verified")?;
    Ok(())
}

/// Splits a display name into given and family names on the last space ("Ann Marie Lee" → "Ann Marie",
/// "Lee"). A single word is a given name.
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.trim();
    match name.rsplit_once(' ') {
        Some((given, family)) if !given.trim().is_empty() => {
            (Some(given.trim().to_string()), Some(family.to_string()))
        }
        _ if name.is_empty() => (None, None),
        _ => (Some(name.to_string()), None),
    }
}

/// The user with a stored (already lower-cased) address.
pub async fn find_by_email_str(db: &impl Conn, email: &str) -> anyhow::Result<Option<User>> {
    user::Entity::find()
        .filter(user::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
        .context("failed to load user")
}

/// Sets the display name and the given/family names derived from it.
pub async fn update_name(db: &impl Conn, user_id: &str, name: &str) -> anyhow::Result<User> {
    let (given, family) = split_name(name);
    let row = user::ActiveModel {
        id: Set(user_id.into()),
        name: Set(name.into()),
        given_name: Set(given),
        family_name: Set(family),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    user::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update the name")
}

/// Changes the address (already confirmed by a code sent to it). A taken address is a unique
/// violation for the caller.
pub async fn update_email(
    db: &impl Conn,
    user_id: &str,
    email: &EmailAddress,
) -> Result<User, sea_orm::DbErr> {
    let row = user::ActiveModel {
        id: Set(user_id.into()),
        email: Set(email.as_str().into()),
        email_verified: Set(true),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    user::Entity::update(row).exec(db).await
}

/// Whether someone can already sign in as this user (a password, or a verified address that
/// receives codes). Invited addresses start without either.
pub fn has_account(user: &User) -> bool {
    user.password_hash.is_some() || user.email_verified
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_names_on_the_last_space() {
        use super::split_name;
        assert_eq!(
            split_name("Ann Marie Lee"),
            (Some("Ann Marie".into()), Some("Lee".into()))
        );
        assert_eq!(split_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(split_name("  "), (None, None));
    }
}
