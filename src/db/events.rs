//! The events outbox.
//!
//! Every state change appends its events in the same transaction as the change. The sequence number is
//! taken by bumping the environment's row in `event_counters` as the **last statement before commit**:
//! that row stays locked until the transaction ends, so a writer holding seq N commits before any writer
//! can take N+1. Sequence order is therefore commit order, and a reader that has seen N can never later
//! find an event below N appear (the classic outbox gap). Rolled-back writers roll their bump back too,
//! so the sequence has no holes. On SQLite writers are serialized by the database lock anyway.
//!
//! On PostgreSQL the same transaction issues `pg_notify('portal_events', <last seq>)`, delivered only
//! on commit, as a wake-up for other nodes; the outbox stays the truth.

use super::entities::{event, event_counter};
use super::environment::DEFAULT_ENVIRONMENT;
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::{Context, bail};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use serde::Serialize;

/// The PostgreSQL channel that carries wake-ups.
pub const NOTIFY_CHANNEL: &str = "portal_events";

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub data: serde_json::Value,
}

/// A committed event, as published to sockets, the event stream and webhooks.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub occurred_at: String,
    pub data: serde_json::Value,
}

impl Event {
    pub fn from_model(m: event::Model) -> anyhow::Result<Self> {
        Ok(Self {
            data: serde_json::from_str(&m.payload)
                .with_context(|| format!("event {} has a malformed payload", m.id))?,
            occurred_at: rfc3339(m.created_at),
            id: m.id,
            seq: m.seq,
            event_type: m.event_type,
            organization_id: m.organization_id,
            user_id: m.user_id,
        })
    }
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Appends `events` with consecutive sequence numbers. Call it as the last step of the transaction
/// (see the module docs), then commit.
pub async fn append(tx: &impl Conn, events: Vec<NewEvent>) -> anyhow::Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let count = events.len() as i64;
    let bumped = event_counter::Entity::update_many()
        .col_expr(
            event_counter::Column::LastSeq,
            Expr::col(event_counter::Column::LastSeq).add(count),
        )
        .filter(event_counter::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .exec_with_returning(tx)
        .await
        .context("failed to take event sequence numbers")?;
    let Some(counter) = bumped.into_iter().next() else {
        bail!("the event counter row is missing");
    };
    let first = counter.last_seq - count + 1;
    let now = now_ms();
    let mut rows = Vec::with_capacity(events.len());
    let mut published = Vec::with_capacity(events.len());
    for (i, new) in events.into_iter().enumerate() {
        let id = ids::new_id(ids::EVENT);
        let seq = first + i as i64;
        rows.push(event::ActiveModel {
            id: Set(id.clone()),
            environment_id: Set(DEFAULT_ENVIRONMENT.into()),
            seq: Set(seq),
            event_type: Set(new.event_type.into()),
            organization_id: Set(new.organization_id.clone()),
            user_id: Set(new.user_id.clone()),
            payload: Set(new.data.to_string()),
            created_at: Set(now),
        });
        published.push(Event {
            id,
            seq,
            event_type: new.event_type.into(),
            organization_id: new.organization_id,
            user_id: new.user_id,
            occurred_at: rfc3339(now),
            data: new.data,
        });
    }
    event::Entity::insert_many(rows)
        .exec_without_returning(tx)
        .await
        .context("failed to write events")?;
    if tx.get_database_backend() == DbBackend::Postgres {
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), counter.last_seq.to_string().into()],
        ))
        .await
        .context("failed to notify other nodes")?;
    }
    Ok(published)
}

/// Events with `seq > after`, in order, at most `limit`.
pub async fn after(db: &impl Conn, after: i64, limit: u64) -> anyhow::Result<Vec<Event>> {
    event::Entity::find()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(event::Column::Seq.gt(after))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
        .context("failed to read events")?
        .into_iter()
        .map(Event::from_model)
        .collect()
}

/// The highest committed sequence number.
pub async fn last_seq(db: &impl Conn) -> anyhow::Result<i64> {
    let counter = event_counter::Entity::find_by_id(DEFAULT_ENVIRONMENT)
        .one(db)
        .await
        .context("failed to read the event counter")?;
    Ok(counter.map(|c| c.last_seq).unwrap_or(0))
}

/// Events with `seq > after` about one organization or one user, in order, at most `limit`: what a
/// widget socket of that user in that organization may need to catch up on.
pub async fn after_for_scope(
    db: &impl Conn,
    after: i64,
    org_id: &str,
    user_id: &str,
    limit: u64,
) -> anyhow::Result<Vec<Event>> {
    use sea_orm::Condition;
    event::Entity::find()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(event::Column::Seq.gt(after))
        .filter(
            Condition::any()
                .add(event::Column::OrganizationId.eq(org_id))
                .add(event::Column::UserId.eq(user_id)),
        )
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
        .context("failed to read events")?
        .into_iter()
        .map(Event::from_model)
        .collect()
}

/// The sequence the outbox still holds everything after: events at or below it may have been
/// deleted by retention, so a reader behind it cannot catch up from the outbox.
pub async fn retained_after(db: &impl Conn) -> anyhow::Result<i64> {
    // The counter first: an event committed between the two reads then makes the answer lower
    // (safe), never higher than what is really kept.
    let counter = last_seq(db).await?;
    let oldest = event::Entity::find()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .order_by_asc(event::Column::Seq)
        .one(db)
        .await
        .context("failed to read the oldest event")?;
    match oldest {
        Some(e) => Ok(e.seq - 1),
        // Empty: everything ever numbered is gone (or nothing was).
        None => Ok(counter),
    }
}

/// Deletes events older than `before_ms`, but none the webhook fan-out has not read yet (its
/// cursor) and at most `limit` at a time. Answers how many went.
pub async fn prune(db: &impl Conn, before_ms: i64, limit: u64) -> anyhow::Result<u64> {
    let cursor = super::webhooks::lock_cursor(db, super::webhooks::CursorLock::NoLock)
        .await?
        .unwrap_or(0);
    let newest_to_delete = event::Entity::find()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(event::Column::CreatedAt.lt(before_ms))
        .filter(event::Column::Seq.lte(cursor))
        .order_by_asc(event::Column::Seq)
        .offset(limit.saturating_sub(1))
        .one(db)
        .await
        .context("failed to find events to prune")?;
    let upto = match newest_to_delete {
        Some(e) => e.seq,
        None => cursor,
    };
    let res = event::Entity::delete_many()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(event::Column::CreatedAt.lt(before_ms))
        .filter(event::Column::Seq.lte(upto))
        .exec(db)
        .await
        .context("failed to prune events")?;
    Ok(res.rows_affected)
}

/// Events with `seq > after`, of one organization if given, in order, at most `limit`: what the
/// integrator's stream and pull API read (their type filter is applied to the result).
pub async fn after_in_org(
    db: &impl Conn,
    after: i64,
    org_id: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<Event>> {
    let mut query = event::Entity::find()
        .filter(event::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(event::Column::Seq.gt(after));
    if let Some(org_id) = org_id {
        query = query.filter(event::Column::OrganizationId.eq(org_id));
    }
    query
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
        .context("failed to read events")?
        .into_iter()
        .map(Event::from_model)
        .collect()
}
