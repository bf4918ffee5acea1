//! Back-channel logout deliveries: one row per ended session and client it signed into, written in
//! the transaction that ends the session, and one attempt row per POST. A delivery is `pending`
//! until a 2xx answer (`delivered`) or its last attempt (`failed`). Attempts are claimed with a lease
//! (`lease_until`), so a node that dies mid-attempt leaves the row to any node once it runs out.

use super::entities::{backchannel_attempt, backchannel_delivery};
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

pub type Delivery = backchannel_delivery::Model;
pub type Attempt = backchannel_attempt::Model;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

pub async fn create(
    db: &impl Conn,
    session_id: &str,
    client_id: &str,
    user_id: &str,
) -> anyhow::Result<()> {
    let now = now_ms();
    let row = backchannel_delivery::ActiveModel {
        id: Set(ids::new_id(ids::BACKCHANNEL)),
        session_id: Set(session_id.into()),
        client_id: Set(client_id.into()),
        user_id: Set(user_id.into()),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    backchannel_delivery::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to queue a back-channel logout")?;
    Ok(())
}

/// Claims up to `limit` due deliveries for `lease_ms`. Each row is taken with a conditional update,
/// so of two nodes racing for one row exactly one gets it.
pub async fn claim_due(
    db: &impl Conn,
    now: i64,
    lease_ms: i64,
    limit: u64,
) -> anyhow::Result<Vec<Delivery>> {
    use backchannel_delivery::Column as C;
    let free = || {
        Condition::any()
            .add(C::LeaseUntil.is_null())
            .add(C::LeaseUntil.lte(now))
    };
    let due = backchannel_delivery::Entity::find()
        .filter(C::Status.eq(PENDING))
        .filter(C::NextAttemptAt.lte(now))
        .filter(free())
        .order_by_asc(C::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
        .context("failed to read due back-channel logouts")?;
    let mut claimed = Vec::with_capacity(due.len());
    for mut row in due {
        let res = backchannel_delivery::Entity::update_many()
            .col_expr(C::LeaseUntil, Expr::value(now + lease_ms))
            .filter(C::Id.eq(&row.id))
            .filter(C::Status.eq(PENDING))
            .filter(free())
            .exec(db)
            .await
            .context("failed to claim a back-channel logout")?;
        if res.rows_affected == 1 {
            row.lease_until = Some(now + lease_ms);
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// What one POST of a logout token came to.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub succeeded: bool,
    /// When to try again after a failure; `None` gives up (the delivery is `failed`).
    pub retry_at: Option<i64>,
}

/// Records an attempt and the delivery's next state, releasing the lease.
pub async fn record_attempt(
    db: &impl Conn,
    delivery: &Delivery,
    record: &AttemptRecord,
) -> anyhow::Result<()> {
    use backchannel_delivery::Column as C;
    let now = now_ms();
    let attempt = backchannel_attempt::ActiveModel {
        id: Set(ids::new_id("bca")),
        delivery_id: Set(delivery.id.clone()),
        attempted_at: Set(now),
        status_code: Set(record.status_code.map(i32::from)),
        latency_ms: Set(record.latency_ms.clamp(0, i64::from(i32::MAX)) as i32),
        error: Set(record.error.clone()),
    };
    backchannel_attempt::Entity::insert(attempt)
        .exec_without_returning(db)
        .await
        .context("failed to record a back-channel logout attempt")?;
    let status = if record.succeeded {
        DELIVERED
    } else if record.retry_at.is_some() {
        PENDING
    } else {
        FAILED
    };
    let mut update = backchannel_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(status))
        .col_expr(C::Attempts, Expr::value(delivery.attempts + 1))
        .col_expr(C::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(
            C::LastStatus,
            Expr::value(record.status_code.map(i32::from)),
        )
        .col_expr(C::LastError, Expr::value(record.error.clone()))
        .col_expr(C::UpdatedAt, Expr::value(now));
    if record.succeeded {
        update = update.col_expr(C::DeliveredAt, Expr::value(now));
    }
    if let Some(at) = record.retry_at {
        update = update.col_expr(C::NextAttemptAt, Expr::value(at));
    }
    update
        .filter(C::Id.eq(&delivery.id))
        .exec(db)
        .await
        .context("failed to update a back-channel logout")?;
    Ok(())
}

/// The deliveries for a session, oldest first.
pub async fn list_for_session(db: &impl Conn, session_id: &str) -> anyhow::Result<Vec<Delivery>> {
    backchannel_delivery::Entity::find()
        .filter(backchannel_delivery::Column::SessionId.eq(session_id))
        .order_by_asc(backchannel_delivery::Column::CreatedAt)
        .all(db)
        .await
        .context("failed to list back-channel logouts")
}

/// The attempts of a delivery, oldest first.
pub async fn attempts(db: &impl Conn, delivery_id: &str) -> anyhow::Result<Vec<Attempt>> {
    backchannel_attempt::Entity::find()
        .filter(backchannel_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(backchannel_attempt::Column::AttemptedAt)
        .all(db)
        .await
        .context("failed to list back-channel logout attempts")
}
