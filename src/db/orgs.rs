//! Organizations and their feature switches.

use super::entities::{organization, organization_feature};
use super::environment::DEFAULT_ENVIRONMENT;
use super::{Conn, now_ms};
use crate::domain::{Feature, ids};
use anyhow::Context;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};

pub type Organization = organization::Model;

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Organization>> {
    organization::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load organization")
}

/// The organization, locked until the transaction ends on PostgreSQL (`FOR UPDATE`), so rules that
/// span its rows (the last admin) hold against writers on other nodes. SQLite writers are serialized
/// by the database lock already.
pub async fn lock(tx: &impl Conn, id: &str) -> anyhow::Result<Option<Organization>> {
    let mut query = organization::Entity::find_by_id(id);
    if tx.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(tx).await.context("failed to lock organization")
}

pub async fn find_by_external_id(
    db: &impl Conn,
    external_id: &str,
) -> anyhow::Result<Option<Organization>> {
    organization::Entity::find()
        .filter(organization::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(organization::Column::ExternalId.eq(external_id))
        .one(db)
        .await
        .context("failed to load organization")
}

/// Organizations in id (creation) order, after the cursor.
pub async fn list(
    db: &impl Conn,
    after: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<Organization>> {
    let mut query = organization::Entity::find()
        .filter(organization::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .order_by_asc(organization::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(organization::Column::Id.gt(after));
    }
    query.all(db).await.context("failed to list organizations")
}

pub struct NewOrganization<'a> {
    pub name: &'a str,
    pub external_id: Option<&'a str>,
}

pub async fn create(db: &impl Conn, new: NewOrganization<'_>) -> anyhow::Result<Organization> {
    let now = now_ms();
    let row = organization::ActiveModel {
        id: Set(ids::new_id(ids::ORG)),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        name: Set(new.name.into()),
        external_id: Set(new.external_id.map(str::to_string)),
        logo_url: Set(None),
        allowed_email_domains: Set("[]".into()),
        max_users: Set(None),
        domain_join_policy: Set("off".into()),
        session_absolute_minutes: Set(None),
        session_idle_enabled: Set(None),
        session_idle_minutes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    organization::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to create organization")
}

/// The features switched on for an organization.
pub async fn enabled_features(db: &impl Conn, org_id: &str) -> anyhow::Result<Vec<Feature>> {
    let rows = organization_feature::Entity::find()
        .filter(organization_feature::Column::OrganizationId.eq(org_id))
        .filter(organization_feature::Column::Enabled.eq(true))
        .all(db)
        .await
        .context("failed to load organization features")?;
    Ok(rows
        .iter()
        .filter_map(|r| Feature::parse(&r.feature).ok())
        .collect())
}

pub async fn set_feature(
    db: &impl Conn,
    org_id: &str,
    feature: Feature,
    enabled: bool,
) -> anyhow::Result<()> {
    let row = organization_feature::ActiveModel {
        organization_id: Set(org_id.into()),
        feature: Set(feature.as_str().into()),
        enabled: Set(enabled),
        updated_at: Set(now_ms()),
    };
    organization_feature::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                organization_feature::Column::OrganizationId,
                organization_feature::Column::Feature,
            ])
            .update_columns([
                organization_feature::Column::Enabled,
                organization_feature::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to set organization feature")?;
    Ok(())
}

/// Stores an organization's session-policy override (`None` fields follow the application default).
pub async fn set_session_policy(
    db: &impl Conn,
    org_id: &str,
    policy: &crate::domain::OrgSessionPolicy,
) -> anyhow::Result<Organization> {
    let to_i32 = |m: Option<u32>| m.map(|v| v.min(i32::MAX as u32) as i32);
    let row = organization::ActiveModel {
        id: Set(org_id.into()),
        session_absolute_minutes: Set(to_i32(policy.absolute_minutes)),
        session_idle_enabled: Set(policy.idle_enabled),
        session_idle_minutes: Set(to_i32(policy.idle_minutes)),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    organization::Entity::update(row)
        .exec(db)
        .await
        .context("failed to store the session policy")
}

/// What an organization's settings form or the API may change; `None` keeps a value.
#[derive(Debug, Default, Clone)]
pub struct OrganizationUpdate {
    pub name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    /// JSON list of lower-cased ASCII domains.
    pub allowed_email_domains: Option<Vec<String>>,
    pub max_users: Option<Option<i32>>,
}

pub async fn update(
    db: &impl Conn,
    id: &str,
    change: OrganizationUpdate,
) -> anyhow::Result<Organization> {
    use sea_orm::ActiveValue::NotSet;
    fn set_or_keep<T: Into<sea_orm::Value>>(v: Option<T>) -> sea_orm::ActiveValue<T> {
        v.map(Set).unwrap_or(NotSet)
    }
    let row = organization::ActiveModel {
        id: Set(id.into()),
        name: set_or_keep(change.name),
        external_id: set_or_keep(change.external_id),
        logo_url: set_or_keep(change.logo_url),
        allowed_email_domains: set_or_keep(
            change
                .allowed_email_domains
                .map(|d| serde_json::to_string(&d).unwrap_or_else(|_| "[]".into())),
        ),
        max_users: set_or_keep(change.max_users),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    organization::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update organization")
}

pub async fn delete(db: &impl Conn, id: &str) -> anyhow::Result<()> {
    organization::Entity::delete_by_id(id)
        .exec(db)
        .await
        .context("failed to delete organization")?;
    Ok(())
}

/// The allowed email domains stored on an organization.
pub fn allowed_email_domains(org: &Organization) -> Vec<String> {
    serde_json::from_str(&org.allowed_email_domains).unwrap_or_default()
}
