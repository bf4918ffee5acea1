//! Browser sessions. The cookie holds a random token; the table holds its SHA-256.

use super::entities::{session, session_client};
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};

pub type Session = session::Model;

pub struct NewSession<'a> {
    pub token_hash: String,
    pub user_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub auth_method: &'a str,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub absolute_expires_at: i64,
    pub idle_expires_at: Option<i64>,
}

pub async fn create(db: &impl Conn, new: NewSession<'_>) -> anyhow::Result<Session> {
    let now = now_ms();
    let row = session::ActiveModel {
        id: Set(ids::new_id(ids::SESSION)),
        token_hash: Set(new.token_hash),
        user_id: Set(new.user_id.into()),
        organization_id: Set(new.organization_id.map(str::to_string)),
        auth_method: Set(new.auth_method.into()),
        user_agent: Set(new.user_agent.map(|ua| ua.chars().take(512).collect())),
        browser: Set(None),
        os: Set(None),
        ip: Set(new.ip.map(str::to_string)),
        created_at: Set(now),
        auth_time: Set(now),
        reauth_at: Set(now),
        last_active_at: Set(now),
        idle_expires_at: Set(new.idle_expires_at),
        absolute_expires_at: Set(new.absolute_expires_at),
        revoked_at: Set(None),
        revoke_reason: Set(None),
    };
    session::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to create session")
}

/// The session with this token hash, if it is neither revoked nor expired.
pub async fn find_live_by_token_hash(
    db: &impl Conn,
    token_hash: &str,
) -> anyhow::Result<Option<Session>> {
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
        .context("failed to load session")?;
    Ok(found.filter(|s| is_live(s, now_ms())))
}

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Session>> {
    session::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load session")
}

pub fn is_live(s: &Session, now: i64) -> bool {
    s.revoked_at.is_none()
        && s.absolute_expires_at > now
        && s.idle_expires_at.is_none_or(|t| t > now)
}

/// Records that the session signed into `client_id` (the audience of its back-channel logout).
pub async fn add_client(db: &impl Conn, session_id: &str, client_id: &str) -> anyhow::Result<()> {
    let row = session_client::ActiveModel {
        session_id: Set(session_id.into()),
        client_id: Set(client_id.into()),
        created_at: Set(now_ms()),
    };
    session_client::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                session_client::Column::SessionId,
                session_client::Column::ClientId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to link session and client")?;
    Ok(())
}

pub async fn set_organization(
    db: &impl Conn,
    session_id: &str,
    org_id: &str,
) -> anyhow::Result<()> {
    let row = session::ActiveModel {
        id: Set(session_id.into()),
        organization_id: Set(Some(org_id.into())),
        ..Default::default()
    };
    session::Entity::update(row)
        .exec(db)
        .await
        .context("failed to switch the session's organization")?;
    Ok(())
}

/// Ends a session. Returns whether it was live before.
pub async fn revoke(db: &impl Conn, session_id: &str, reason: &str) -> anyhow::Result<bool> {
    let res = session::Entity::update_many()
        .col_expr(
            session::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .col_expr(
            session::Column::RevokeReason,
            sea_orm::sea_query::Expr::value(reason),
        )
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("failed to revoke session")?;
    Ok(res.rows_affected == 1)
}

/// Ends every live session of a user. Returns how many were live.
pub async fn revoke_all_for_user(
    db: &impl Conn,
    user_id: &str,
    reason: &str,
) -> anyhow::Result<u64> {
    let res = session::Entity::update_many()
        .col_expr(
            session::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .col_expr(
            session::Column::RevokeReason,
            sea_orm::sea_query::Expr::value(reason),
        )
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("failed to revoke sessions")?;
    Ok(res.rows_affected)
}

/// Sessions in an organization that is going away keep their user but lose the organization.
pub async fn clear_organization(db: &impl Conn, org_id: &str) -> anyhow::Result<()> {
    session::Entity::update_many()
        .col_expr(
            session::Column::OrganizationId,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(session::Column::OrganizationId.eq(org_id))
        .exec(db)
        .await
        .context("failed to detach sessions from the organization")?;
    Ok(())
}
