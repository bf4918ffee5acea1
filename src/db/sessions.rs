//! Browser sessions. The cookie holds a random token; the table holds its SHA-256.

use super::entities::{session, session_client};
use super::{Conn, now_ms};
use crate::domain::{Device, SessionPolicy, ids};
use anyhow::Context;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};
use sea_orm::{QueryOrder, QuerySelect};

pub type Session = session::Model;

pub struct NewSession<'a> {
    pub token_hash: String,
    pub user_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub auth_method: &'a str,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// The sign-in time the deadlines were computed from.
    pub now: i64,
    pub absolute_expires_at: i64,
    pub idle_expires_at: Option<i64>,
}

pub async fn create(db: &impl Conn, new: NewSession<'_>) -> anyhow::Result<Session> {
    let now = new.now;
    let device = Device::from_user_agent(new.user_agent);
    let row = session::ActiveModel {
        id: Set(ids::new_id(ids::SESSION)),
        token_hash: Set(new.token_hash),
        user_id: Set(new.user_id.into()),
        organization_id: Set(new.organization_id.map(str::to_string)),
        auth_method: Set(new.auth_method.into()),
        user_agent: Set(new.user_agent.map(|ua| ua.chars().take(512).collect())),
        browser: Set(Some(device.browser)),
        os: Set(Some(device.os)),
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

/// Moves the session into an organization, shortening its deadlines to that organization's
/// `policy` where it is stricter.
pub async fn set_organization(
    db: &impl Conn,
    session_id: &str,
    org_id: &str,
    policy: &SessionPolicy,
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
    if let Some(session) = find(db, session_id).await? {
        shorten(db, &session, policy).await?;
    }
    Ok(())
}

/// The deadlines `policy` gives a session, never later than the ones it has: a stricter policy
/// shortens a running session, a looser one does not lengthen it.
pub fn deadlines_under(s: &Session, policy: &SessionPolicy) -> (i64, Option<i64>) {
    let absolute = s
        .absolute_expires_at
        .min(s.created_at + policy.absolute_ms());
    let idle = match (s.idle_expires_at, policy.idle_ms()) {
        (Some(current), Some(ms)) => Some(current.min(s.last_active_at + ms)),
        (None, Some(ms)) => Some(s.last_active_at + ms),
        (current, None) => current,
    };
    (absolute, idle)
}

/// Applies [`deadlines_under`] to one session. Returns whether anything changed.
pub async fn shorten(db: &impl Conn, s: &Session, policy: &SessionPolicy) -> anyhow::Result<bool> {
    let (absolute, idle) = deadlines_under(s, policy);
    if absolute == s.absolute_expires_at && idle == s.idle_expires_at {
        return Ok(false);
    }
    session::Entity::update_many()
        .col_expr(session::Column::AbsoluteExpiresAt, Expr::value(absolute))
        .col_expr(session::Column::IdleExpiresAt, Expr::value(idle))
        .filter(session::Column::Id.eq(&s.id))
        .exec(db)
        .await
        .context("failed to shorten a session")?;
    Ok(true)
}

/// Live sessions of an organization (for applying a new policy).
pub async fn live_in_org(db: &impl Conn, org_id: &str, now: i64) -> anyhow::Result<Vec<Session>> {
    let rows = session::Entity::find()
        .filter(session::Column::OrganizationId.eq(org_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::AbsoluteExpiresAt.gt(now))
        .all(db)
        .await
        .context("failed to list the organization's sessions")?;
    Ok(rows.into_iter().filter(|s| is_live(s, now)).collect())
}

/// A user's live sessions, most recently active first.
pub async fn live_for_user(
    db: &impl Conn,
    user_id: &str,
    now: i64,
) -> anyhow::Result<Vec<Session>> {
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::AbsoluteExpiresAt.gt(now))
        .order_by_desc(session::Column::LastActiveAt)
        .all(db)
        .await
        .context("failed to list the user's sessions")?;
    Ok(rows.into_iter().filter(|s| is_live(s, now)).collect())
}

/// Sessions not yet ended whose absolute or idle deadline has passed: the reaper's work.
pub async fn expired(db: &impl Conn, now: i64, limit: u64) -> anyhow::Result<Vec<Session>> {
    session::Entity::find()
        .filter(session::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(session::Column::AbsoluteExpiresAt.lte(now))
                .add(session::Column::IdleExpiresAt.lte(now)),
        )
        .order_by_asc(session::Column::AbsoluteExpiresAt)
        .limit(limit)
        .all(db)
        .await
        .context("failed to find expired sessions")
}

/// How often activity is written: at most once a minute per session, so a busy page does not turn
/// every request into a write.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Records activity: `last_active_at` moves to `now` and the idle deadline moves with it (keeping
/// the session's idle duration). Does nothing within [`TOUCH_EVERY_MS`] of the last write.
pub async fn touch(db: &impl Conn, s: &Session, now: i64) -> anyhow::Result<()> {
    if now - s.last_active_at < TOUCH_EVERY_MS {
        return Ok(());
    }
    let idle = s
        .idle_expires_at
        .map(|t| now + (t - s.last_active_at).max(0));
    session::Entity::update_many()
        .col_expr(session::Column::LastActiveAt, Expr::value(now))
        .col_expr(session::Column::IdleExpiresAt, Expr::value(idle))
        .filter(session::Column::Id.eq(&s.id))
        // Of two requests racing to touch, one writes.
        .filter(session::Column::LastActiveAt.eq(s.last_active_at))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .context("failed to record session activity")?;
    Ok(())
}

/// Marks a fresh re-authentication (password, code or passkey) in this session.
pub async fn mark_reauthenticated(
    db: &impl Conn,
    session_id: &str,
    now: i64,
) -> anyhow::Result<()> {
    session::Entity::update_many()
        .col_expr(session::Column::ReauthAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await
        .context("failed to record re-authentication")?;
    Ok(())
}

/// The clients a session signed into.
pub async fn clients_of(db: &impl Conn, session_id: &str) -> anyhow::Result<Vec<String>> {
    Ok(session_client::Entity::find()
        .filter(session_client::Column::SessionId.eq(session_id))
        .all(db)
        .await
        .context("failed to list the session's clients")?
        .into_iter()
        .map(|r| r.client_id)
        .collect())
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
