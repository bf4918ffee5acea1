//! Invites: an emailed, single-use link that makes its recipient a member. The token is minted when
//! the invite mailer sends (only its SHA-256 hash is stored), so a resend replaces the link and the
//! earlier one stops working.

use super::entities::invite;
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub type Invite = invite::Model;

pub const PENDING: &str = "pending";
pub const ACCEPTED: &str = "accepted";
pub const REVOKED: &str = "revoked";

/// How long an invite link works.
pub const TTL_MS: i64 = 7 * 24 * 3600 * 1000;

pub struct NewInvite<'a> {
    pub organization_id: &'a str,
    pub email: &'a str,
    pub role_id: &'a str,
    pub invited_by: Option<&'a str>,
}

/// A pending invite, due to be mailed at once. Its token hash is a placeholder until the mailer
/// mints the real token.
pub async fn create(db: &impl Conn, new: NewInvite<'_>) -> anyhow::Result<Invite> {
    let now = now_ms();
    let row = invite::ActiveModel {
        id: Set(ids::new_id(ids::INVITE)),
        organization_id: Set(new.organization_id.into()),
        email: Set(new.email.into()),
        role_id: Set(new.role_id.into()),
        token_hash: Set(crate::crypto::token_hash(&crate::crypto::random_token(32))),
        invited_by: Set(new.invited_by.map(str::to_string)),
        status: Set(PENDING.into()),
        expires_at: Set(now + TTL_MS),
        send_attempts: Set(0),
        next_send_at: Set(Some(now)),
        sent_at: Set(None),
        last_error: Set(None),
        accepted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    invite::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to store invite")
}

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Invite>> {
    invite::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load invite")
}

pub async fn find_in_org(db: &impl Conn, org_id: &str, id: &str) -> anyhow::Result<Option<Invite>> {
    Ok(find(db, id).await?.filter(|i| i.organization_id == org_id))
}

pub async fn find_by_token_hash(db: &impl Conn, hash: &str) -> anyhow::Result<Option<Invite>> {
    invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(hash))
        .one(db)
        .await
        .context("failed to load invite")
}

/// The pending invite of `email` to an organization, if any.
pub async fn find_pending_for_email(
    db: &impl Conn,
    org_id: &str,
    email: &str,
) -> anyhow::Result<Option<Invite>> {
    invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org_id))
        .filter(invite::Column::Email.eq(email))
        .filter(invite::Column::Status.eq(PENDING))
        .one(db)
        .await
        .context("failed to load invite")
}

/// An organization's invites, newest first, after the cursor (an invite id).
pub async fn list_for_org(
    db: &impl Conn,
    org_id: &str,
    after: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<Invite>> {
    let mut q = invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org_id))
        .order_by_asc(invite::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(invite::Column::Id.gt(after));
    }
    q.all(db).await.context("failed to list invites")
}

/// Pending invites that still hold a seat (not expired).
pub async fn count_pending(db: &impl Conn, org_id: &str, now: i64) -> anyhow::Result<u64> {
    invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org_id))
        .filter(invite::Column::Status.eq(PENDING))
        .filter(invite::Column::ExpiresAt.gt(now))
        .count(db)
        .await
        .context("failed to count invites")
}

/// Invites whose mail is due, oldest first.
pub async fn due(db: &impl Conn, now: i64, limit: u64) -> anyhow::Result<Vec<Invite>> {
    invite::Entity::find()
        .filter(invite::Column::Status.eq(PENDING))
        .filter(invite::Column::NextSendAt.lte(now))
        .order_by_asc(invite::Column::NextSendAt)
        .limit(limit)
        .all(db)
        .await
        .context("failed to load due invites")
}

/// The earliest time any invite's mail is due.
pub async fn next_due(db: &impl Conn) -> anyhow::Result<Option<i64>> {
    Ok(invite::Entity::find()
        .filter(invite::Column::Status.eq(PENDING))
        .filter(invite::Column::NextSendAt.is_not_null())
        .order_by_asc(invite::Column::NextSendAt)
        .one(db)
        .await
        .context("failed to load due invites")?
        .and_then(|i| i.next_send_at))
}

/// Claims a due send: stores the hash of the token about to be mailed and pushes `next_send_at` to
/// `retry_at`, so a crash mid-send retries later and a second node does not send the same mail.
/// False when another sender claimed it first or the invite is no longer pending.
pub async fn claim_send(
    db: &impl Conn,
    invite: &Invite,
    token_hash: &str,
    retry_at: i64,
) -> anyhow::Result<bool> {
    let res = invite::Entity::update_many()
        .col_expr(invite::Column::TokenHash, Expr::value(token_hash))
        .col_expr(invite::Column::NextSendAt, Expr::value(retry_at))
        .col_expr(
            invite::Column::SendAttempts,
            Expr::value(invite.send_attempts + 1),
        )
        .col_expr(invite::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(invite::Column::Id.eq(&invite.id))
        .filter(invite::Column::Status.eq(PENDING))
        .filter(invite::Column::NextSendAt.eq(invite.next_send_at))
        .exec(db)
        .await
        .context("failed to claim invite send")?;
    Ok(res.rows_affected == 1)
}

pub async fn record_sent(db: &impl Conn, id: &str, now: i64) -> anyhow::Result<()> {
    invite::Entity::update_many()
        .col_expr(invite::Column::SentAt, Expr::value(now))
        .col_expr(invite::Column::NextSendAt, Expr::value(Option::<i64>::None))
        .col_expr(
            invite::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(invite::Column::UpdatedAt, Expr::value(now))
        .filter(invite::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to record invite sent")?;
    Ok(())
}

pub async fn record_failure(db: &impl Conn, id: &str, error: &str) -> anyhow::Result<()> {
    invite::Entity::update_many()
        .col_expr(invite::Column::LastError, Expr::value(error))
        .col_expr(invite::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(invite::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to record invite failure")?;
    Ok(())
}

/// Sends again with a fresh link and a fresh seven days.
pub async fn schedule_resend(db: &impl Conn, id: &str, now: i64) -> anyhow::Result<Invite> {
    let row = invite::ActiveModel {
        id: Set(id.into()),
        next_send_at: Set(Some(now)),
        send_attempts: Set(0),
        expires_at: Set(now + TTL_MS),
        last_error: Set(None),
        updated_at: Set(now),
        ..Default::default()
    };
    invite::Entity::update(row)
        .exec(db)
        .await
        .context("failed to schedule invite resend")
}

pub async fn set_status(db: &impl Conn, id: &str, status: &str) -> anyhow::Result<Invite> {
    let now = now_ms();
    let row = invite::ActiveModel {
        id: Set(id.into()),
        status: Set(status.into()),
        next_send_at: Set(None),
        accepted_at: Set((status == ACCEPTED).then_some(now)),
        updated_at: Set(now),
        ..Default::default()
    };
    invite::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update invite")
}

/// Gives up mailing an invite (it expired unsent), saying why.
pub async fn stop_sending(db: &impl Conn, id: &str, why: &str) -> anyhow::Result<()> {
    invite::Entity::update_many()
        .col_expr(invite::Column::NextSendAt, Expr::value(Option::<i64>::None))
        .col_expr(invite::Column::LastError, Expr::value(why))
        .col_expr(invite::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(invite::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to stop sending invite")?;
    Ok(())
}
