//! The environment: branding, the app's default session policy, token lifetimes, initiate-login URI.

use super::entities::{environment, event_counter};
use super::{Conn, now_ms};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

/// Portal serves one environment per deployment; the id is kept in every row so that can change.
pub const DEFAULT_ENVIRONMENT: &str = "env_default";

pub type Environment = environment::Model;

/// Creates the default environment and its event counter if they do not exist yet.
pub async fn ensure_default(db: &impl Conn) -> anyhow::Result<Environment> {
    let now = now_ms();
    let row = environment::ActiveModel {
        id: Set(DEFAULT_ENVIRONMENT.into()),
        name: Set("Portal".into()),
        logo_url: Set(None),
        favicon_url: Set(None),
        primary_color: Set(None),
        custom_domains: Set("[]".into()),
        initiate_login_uri: Set(None),
        session_absolute_minutes: Set(7 * 24 * 60),
        session_idle_enabled: Set(false),
        session_idle_minutes: Set(24 * 60),
        id_token_ttl_secs: Set(3600),
        access_token_ttl_secs: Set(900),
        refresh_token_ttl_secs: Set(30 * 24 * 3600),
        created_at: Set(now),
        updated_at: Set(now),
    };
    environment::Entity::insert(row)
        .on_conflict(
            OnConflict::column(environment::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to create the default environment")?;
    let counter = event_counter::ActiveModel {
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        last_seq: Set(0),
    };
    event_counter::Entity::insert(counter)
        .on_conflict(
            OnConflict::column(event_counter::Column::EnvironmentId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to create the event counter")?;
    get(db).await
}

pub async fn get(db: &impl Conn) -> anyhow::Result<Environment> {
    environment::Entity::find_by_id(DEFAULT_ENVIRONMENT)
        .one(db)
        .await
        .context("failed to load the environment")?
        .context("the environment row is missing; run `portal migrate up`")
}

pub async fn set_initiate_login_uri(db: &impl Conn, uri: Option<String>) -> anyhow::Result<()> {
    let row = environment::ActiveModel {
        id: Set(DEFAULT_ENVIRONMENT.into()),
        initiate_login_uri: Set(uri),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    environment::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update the initiate-login URI")?;
    Ok(())
}

/// Token lifetimes of the environment, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub id_token_secs: i32,
    pub access_token_secs: i32,
    pub refresh_token_secs: i32,
}

impl TokenLifetimes {
    pub fn of(env: &Environment) -> Self {
        Self {
            id_token_secs: env.id_token_ttl_secs,
            access_token_secs: env.access_token_ttl_secs,
            refresh_token_secs: env.refresh_token_ttl_secs,
        }
    }

    /// The longest a signed token (ID or access token) stays valid: how long a retired signing key
    /// must stay published. Refresh tokens are opaque and need no key.
    pub fn longest_signed_ms(&self) -> i64 {
        i64::from(self.id_token_secs.max(self.access_token_secs)) * 1000
    }
}

pub async fn set_token_lifetimes(db: &impl Conn, t: TokenLifetimes) -> anyhow::Result<()> {
    let row = environment::ActiveModel {
        id: Set(DEFAULT_ENVIRONMENT.into()),
        id_token_ttl_secs: Set(t.id_token_secs),
        access_token_ttl_secs: Set(t.access_token_secs),
        refresh_token_ttl_secs: Set(t.refresh_token_secs),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    environment::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update token lifetimes")?;
    Ok(())
}

/// Changes the environment's branding; fields left `None` keep their value.
pub async fn update_branding(
    db: &impl Conn,
    change: crate::manage::BrandingUpdate,
) -> anyhow::Result<Environment> {
    use sea_orm::ActiveValue::NotSet;
    fn keep<T: Into<sea_orm::Value>>(v: Option<T>) -> sea_orm::ActiveValue<T> {
        v.map(Set).unwrap_or(NotSet)
    }
    let row = environment::ActiveModel {
        id: Set(DEFAULT_ENVIRONMENT.into()),
        name: keep(change.name),
        logo_url: keep(change.logo_url),
        favicon_url: keep(change.favicon_url),
        primary_color: keep(change.primary_color),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    environment::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update the branding")
}
