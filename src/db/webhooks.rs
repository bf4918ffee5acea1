//! Webhook endpoints, deliveries, attempts and the fan-out cursor.
//!
//! The two queue queries are written in SQL because they need what the query builder does not
//! say on both backends: `FOR UPDATE SKIP LOCKED` on PostgreSQL, and the ordering rule (see
//! `crate::webhooks`) as a `NOT EXISTS` over the `webhook_deliveries_endpoint_order` index.

use super::entities::{event, webhook_attempt, webhook_cursor, webhook_delivery, webhook_endpoint};
use super::environment::DEFAULT_ENVIRONMENT;
use super::events::Event;
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use std::collections::HashMap;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
/// Gave up after the last scheduled attempt; can be replayed.
pub const FAILED: &str = "failed";

/// An endpoint row. Its secrets are sealed (`crate::sealing`); `event_types` is a JSON list.
pub type Endpoint = webhook_endpoint::Model;
pub type Delivery = webhook_delivery::Model;
pub type Attempt = webhook_attempt::Model;

/// The endpoint's filter entries as stored.
pub fn event_types(e: &Endpoint) -> Vec<String> {
    serde_json::from_str(&e.event_types).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Endpoints

pub struct NewEndpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub sealed_secret: String,
    /// Events up to this sequence are not sent to the endpoint (they predate it).
    pub from_seq: i64,
    /// `(Idempotency-Key, hash of the request)`.
    pub idempotency: Option<(String, String)>,
}

/// Inserts an endpoint. The raw database error is returned so a caller can tell a lost race on
/// the idempotency key (`db::is_unique_violation`) from a failure.
pub async fn insert_endpoint(db: &impl Conn, new: NewEndpoint) -> Result<Endpoint, DbErr> {
    let now = now_ms();
    let (key, hash) = new.idempotency.unzip();
    let row = webhook_endpoint::ActiveModel {
        id: Set(new.id),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        url: Set(new.url),
        description: Set(new.description),
        event_types: Set(serde_json::Value::from(new.event_types).to_string()),
        enabled: Set(new.enabled),
        secret: Set(new.sealed_secret),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        disabled_reason: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        from_seq: Set(new.from_seq),
        idempotency_key: Set(key),
        idempotency_hash: Set(hash),
    };
    webhook_endpoint::Entity::insert(row)
        .exec_with_returning(db)
        .await
}

pub async fn find_endpoint(db: &impl Conn, id: &str) -> anyhow::Result<Option<Endpoint>> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .one(db)
        .await
        .context("failed to load webhook endpoint")
}

pub async fn find_endpoint_by_idempotency_key(
    db: &impl Conn,
    key: &str,
) -> anyhow::Result<Option<Endpoint>> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
        .context("failed to look up the idempotency key")
}

/// Endpoints in id (creation) order, after the cursor.
pub async fn list_endpoints(
    db: &impl Conn,
    after: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<Endpoint>> {
    let mut query = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .order_by_asc(webhook_endpoint::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(webhook_endpoint::Column::Id.gt(after));
    }
    query
        .all(db)
        .await
        .context("failed to list webhook endpoints")
}

pub async fn enabled_endpoints(db: &impl Conn) -> anyhow::Result<Vec<Endpoint>> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(db)
        .await
        .context("failed to load enabled webhook endpoints")
}

pub async fn endpoints_by_id(
    db: &impl Conn,
    ids: Vec<String>,
) -> anyhow::Result<HashMap<String, Endpoint>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(ids))
        .all(db)
        .await
        .context("failed to load webhook endpoints")?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect())
}

/// What a PATCH may change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Applies `changes`. Enabling an endpoint clears why it was disabled and its failure streak.
pub async fn update_endpoint(
    db: &impl Conn,
    id: &str,
    changes: EndpointChanges,
) -> anyhow::Result<Option<Endpoint>> {
    let Some(current) = find_endpoint(db, id).await? else {
        return Ok(None);
    };
    let mut row: webhook_endpoint::ActiveModel = current.into();
    if let Some(url) = changes.url {
        row.url = Set(url);
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    if let Some(types) = changes.event_types {
        row.event_types = Set(serde_json::Value::from(types).to_string());
    }
    if let Some(enabled) = changes.enabled {
        row.enabled = Set(enabled);
        if enabled {
            row.disabled_reason = Set(None);
            row.failing_since = Set(None);
        }
    }
    row.updated_at = Set(now_ms());
    let updated = webhook_endpoint::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update webhook endpoint")?;
    Ok(Some(updated))
}

/// Deletes an endpoint with its deliveries and attempts (foreign keys cascade).
pub async fn delete_endpoint(db: &impl Conn, id: &str) -> anyhow::Result<bool> {
    let res = webhook_endpoint::Entity::delete_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .exec(db)
        .await
        .context("failed to delete webhook endpoint")?;
    Ok(res.rows_affected > 0)
}

/// Stores a new secret, keeping the old one (sealed) until `previous_expires_at`.
pub async fn replace_secret(
    db: &impl Conn,
    id: &str,
    sealed_secret: String,
    sealed_previous: Option<String>,
    previous_expires_at: Option<i64>,
) -> anyhow::Result<Option<Endpoint>> {
    let res = webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::Secret, Expr::value(sealed_secret))
        .col_expr(
            webhook_endpoint::Column::PreviousSecret,
            Expr::value(sealed_previous),
        )
        .col_expr(
            webhook_endpoint::Column::PreviousSecretExpiresAt,
            Expr::value(previous_expires_at),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to store the new webhook secret")?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    find_endpoint(db, id).await
}

/// A successful attempt ends the endpoint's failure streak.
pub async fn mark_endpoint_healthy(db: &impl Conn, id: &str) -> anyhow::Result<()> {
    webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            Expr::value(Option::<i64>::None),
        )
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::FailingSince.is_not_null())
        .exec(db)
        .await
        .context("failed to clear the endpoint's failure streak")?;
    Ok(())
}

/// Starts the failure streak if none is running; returns when it started.
pub async fn mark_endpoint_failing(
    db: &impl Conn,
    id: &str,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::FailingSince, Expr::value(now))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::FailingSince.is_null())
        .exec(db)
        .await
        .context("failed to record the endpoint's failure streak")?;
    Ok(find_endpoint(db, id).await?.and_then(|e| e.failing_since))
}

/// Disables an enabled endpoint and returns it; `None` if it was already disabled or is gone.
pub async fn disable_endpoint(
    db: &impl Conn,
    id: &str,
    reason: &str,
    now: i64,
) -> anyhow::Result<Option<Endpoint>> {
    let res = webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
        .col_expr(
            webhook_endpoint::Column::DisabledReason,
            Expr::value(reason.to_string()),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .exec(db)
        .await
        .context("failed to disable the webhook endpoint")?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    find_endpoint(db, id).await
}

// ---------------------------------------------------------------------------------------------
// The fan-out cursor

/// Creates the cursor at `start_seq` unless it exists.
pub async fn ensure_cursor(db: &impl Conn, start_seq: i64) -> anyhow::Result<()> {
    let row = webhook_cursor::ActiveModel {
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        last_seq: Set(start_seq),
        updated_at: Set(now_ms()),
    };
    webhook_cursor::Entity::insert(row)
        .on_conflict(
            OnConflict::column(webhook_cursor::Column::EnvironmentId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to create the webhook cursor")?;
    Ok(())
}

pub async fn cursor(db: &impl Conn) -> anyhow::Result<Option<i64>> {
    Ok(webhook_cursor::Entity::find_by_id(DEFAULT_ENVIRONMENT)
        .one(db)
        .await
        .context("failed to read the webhook cursor")?
        .map(|c| c.last_seq))
}

/// How to take the cursor row on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorLock {
    /// `FOR UPDATE SKIP LOCKED`: the fan-out, which has nothing to do while another node holds it.
    SkipIfHeld,
    /// `FOR UPDATE`: wait for the holder (endpoint creation, which must not race a batch).
    Wait,
    /// Only read the position (outbox retention, which deletes nothing above it).
    NoLock,
}

/// Takes the cursor for this transaction and returns its position. On PostgreSQL the row is
/// locked; with [`CursorLock::SkipIfHeld`], `None` means another node holds it right now. On SQLite
/// the caller's write transaction already excludes every other writer.
pub async fn lock_cursor(tx: &impl Conn, how: CursorLock) -> anyhow::Result<Option<i64>> {
    let backend = tx.get_database_backend();
    let lock = match (backend, how) {
        (DbBackend::Postgres, CursorLock::SkipIfHeld) => " FOR UPDATE SKIP LOCKED",
        (DbBackend::Postgres, CursorLock::Wait) => " FOR UPDATE",
        _ => "",
    };
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT last_seq FROM webhook_cursors WHERE environment_id = $1{lock}"),
            [DEFAULT_ENVIRONMENT.into()],
        ))
        .await
        .context("failed to lock the webhook cursor")?;
    row.map(|r| r.try_get::<i64>("", "last_seq"))
        .transpose()
        .context("failed to read the webhook cursor")
}

pub async fn advance_cursor(tx: &impl Conn, seq: i64) -> anyhow::Result<()> {
    webhook_cursor::Entity::update_many()
        .col_expr(webhook_cursor::Column::LastSeq, Expr::value(seq))
        .col_expr(webhook_cursor::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(webhook_cursor::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .exec(tx)
        .await
        .context("failed to advance the webhook cursor")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deliveries

/// A pending delivery of `event` to `endpoint_id`, due now.
pub fn new_delivery(endpoint_id: &str, event: &Event, now: i64) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(ids::new_id(ids::DELIVERY)),
        endpoint_id: Set(endpoint_id.into()),
        event_id: Set(event.id.clone()),
        seq: Set(event.seq),
        organization_id: Set(event.organization_id.clone()),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        leased_by: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        event_type: Set(event.event_type.clone()),
        ordering_key: Set(event.organization_id.clone().unwrap_or_default()),
        replayed: Set(false),
    }
}

/// Inserts deliveries, skipping any (endpoint, event) pair that already has one; returns how many
/// were new. Rows go in chunks to stay under SQLite's bound-parameter limit.
pub async fn insert_deliveries(
    tx: &impl Conn,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> anyhow::Result<u64> {
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(200).collect();
        let res = webhook_delivery::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([
                webhook_delivery::Column::EndpointId,
                webhook_delivery::Column::EventId,
            ])
            .exec_without_returning(tx)
            .await
            .context("failed to insert webhook deliveries")?;
        if let sea_orm::TryInsertResult::Inserted(n) = res {
            inserted += n;
        }
    }
    Ok(inserted)
}

/// Claims up to `limit` deliveries that are due, for `node`, until `lease_until`.
///
/// A delivery is due when it is pending, its time has come, no live lease covers it, its endpoint
/// is enabled, and — the ordering rule — no older delivery for the same endpoint and ordering key
/// (organization) is still pending, unless it is a replay (replays go out of band). On PostgreSQL
/// `FOR UPDATE SKIP LOCKED` makes concurrent claims from several nodes take disjoint rows, so each
/// attempt is made by one node; on SQLite the write transaction serializes claims.
pub async fn lease_due(
    db: &impl Conn,
    node: &str,
    now: i64,
    lease_until: i64,
    limit: u64,
) -> anyhow::Result<Vec<Delivery>> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until = $1, leased_by = $2 \
         WHERE id IN ( \
           SELECT d.id FROM webhook_deliveries d \
           JOIN webhook_endpoints e ON e.id = d.endpoint_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
             AND (d.lease_until IS NULL OR d.lease_until <= $3) \
             AND e.enabled = TRUE \
             AND (d.replayed = TRUE OR NOT EXISTS ( \
               SELECT 1 FROM webhook_deliveries o \
               WHERE o.endpoint_id = d.endpoint_id AND o.ordering_key = d.ordering_key \
                 AND o.status = 'pending' AND o.seq < d.seq AND o.replayed = FALSE)) \
           ORDER BY d.next_attempt_at, d.seq \
           LIMIT $4 {lock}) \
         RETURNING *"
    );
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [
            lease_until.into(),
            node.into(),
            now.into(),
            (limit as i64).into(),
        ],
    );
    webhook_delivery::Entity::find()
        .from_raw_sql(stmt)
        .all(db)
        .await
        .context("failed to claim due webhook deliveries")
}

/// After `done` stopped being pending, claims the next delivery of its endpoint and ordering key
/// for `node` if that one may go now: it is the group's oldest pending delivery (so the ordering
/// rule allows it), it is due, unleased, and the endpoint is enabled. Run in the transaction that
/// finished `done`; the row lock of the `UPDATE` (re-checked after any wait on PostgreSQL) keeps
/// two nodes from both claiming it.
pub async fn lease_next_in_order(
    tx: &impl Conn,
    done: &Delivery,
    node: &str,
    now: i64,
    lease_until: i64,
) -> anyhow::Result<Option<Delivery>> {
    let backend = tx.get_database_backend();
    let stmt = Statement::from_sql_and_values(
        backend,
        "UPDATE webhook_deliveries SET lease_until = $1, leased_by = $2 \
         WHERE id = ( \
           SELECT n.id FROM webhook_deliveries n \
           WHERE n.endpoint_id = $3 AND n.ordering_key = $4 \
             AND n.status = 'pending' AND n.replayed = FALSE \
           ORDER BY n.seq LIMIT 1) \
           AND next_attempt_at <= $5 \
           AND (lease_until IS NULL OR lease_until <= $5) \
           AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = $3 AND e.enabled = TRUE) \
         RETURNING *",
        [
            lease_until.into(),
            node.into(),
            done.endpoint_id.clone().into(),
            done.ordering_key.clone().into(),
            now.into(),
        ],
    );
    Ok(webhook_delivery::Entity::find()
        .from_raw_sql(stmt)
        .all(tx)
        .await
        .context("failed to claim the next delivery in order")?
        .into_iter()
        .next())
}

/// Events by id (for the envelope of each claimed delivery).
pub async fn events_by_id(
    db: &impl Conn,
    ids: Vec<String>,
) -> anyhow::Result<HashMap<String, Event>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    event::Entity::find()
        .filter(event::Column::Id.is_in(ids))
        .all(db)
        .await
        .context("failed to load events for webhooks")?
        .into_iter()
        .map(|m| Event::from_model(m).map(|e| (e.id.clone(), e)))
        .collect()
}

/// One attempt as it happened.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub attempted_at: i64,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_snippet: Option<String>,
    pub error: Option<String>,
}

pub async fn insert_attempt(db: &impl Conn, rec: &AttemptRecord) -> anyhow::Result<()> {
    let row = webhook_attempt::ActiveModel {
        id: Set(ids::new_id(ids::ATTEMPT)),
        delivery_id: Set(rec.delivery_id.clone()),
        attempted_at: Set(rec.attempted_at),
        status_code: Set(rec.status_code),
        latency_ms: Set(rec.latency_ms),
        response_snippet: Set(rec.response_snippet.clone()),
        error: Set(rec.error.clone()),
    };
    webhook_attempt::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .context("failed to record the webhook attempt")?;
    Ok(())
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(i64),
    GaveUp,
}

/// Records the outcome of an attempt on the delivery and releases the lease. Returns `false` when
/// `node` no longer held the lease (it ran out and another node took the delivery over): the
/// attempt row still stands, but the other node's outcome decides the delivery.
pub async fn finish_attempt(
    db: &impl Conn,
    rec: &AttemptRecord,
    node: &str,
    next: Next,
) -> anyhow::Result<bool> {
    let now = rec.attempted_at;
    let mut update = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Attempts,
            Expr::col(webhook_delivery::Column::Attempts).add(1),
        )
        .col_expr(
            webhook_delivery::Column::LastStatus,
            Expr::value(rec.status_code),
        )
        .col_expr(
            webhook_delivery::Column::LastError,
            Expr::value(rec.error.clone()),
        )
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            webhook_delivery::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now_ms()));
    update = match next {
        Next::Succeeded => update
            .col_expr(webhook_delivery::Column::Status, Expr::value(SUCCEEDED))
            .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now)),
        Next::RetryAt(at) => update
            .col_expr(webhook_delivery::Column::Status, Expr::value(PENDING))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at)),
        Next::GaveUp => update.col_expr(webhook_delivery::Column::Status, Expr::value(FAILED)),
    };
    let res = update
        .filter(webhook_delivery::Column::Id.eq(rec.delivery_id.as_str()))
        .filter(webhook_delivery::Column::LeasedBy.eq(node))
        .exec(db)
        .await
        .context("failed to record the delivery outcome")?;
    Ok(res.rows_affected > 0)
}

pub async fn delivery_exists(db: &impl Conn, id: &str) -> anyhow::Result<bool> {
    Ok(webhook_delivery::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to look up webhook delivery")?
        .is_some())
}

pub async fn find_delivery(
    db: &impl Conn,
    endpoint_id: &str,
    id: &str,
) -> anyhow::Result<Option<Delivery>> {
    webhook_delivery::Entity::find_by_id(id)
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .one(db)
        .await
        .context("failed to load webhook delivery")
}

/// An endpoint's deliveries, newest first, after the cursor (a delivery id), optionally of one
/// status.
pub async fn list_deliveries(
    db: &impl Conn,
    endpoint_id: &str,
    after: Option<&str>,
    status: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<Delivery>> {
    let mut query = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(webhook_delivery::Column::Id.lt(after));
    }
    if let Some(status) = status {
        query = query.filter(webhook_delivery::Column::Status.eq(status));
    }
    query
        .all(db)
        .await
        .context("failed to list webhook deliveries")
}

/// A page of an endpoint's deliveries (see [`list_deliveries`]) with their attempts; `None` when
/// the endpoint does not exist.
pub async fn delivery_page(
    db: &impl Conn,
    endpoint_id: &str,
    after: Option<&str>,
    status: Option<&str>,
    limit: u64,
) -> anyhow::Result<Option<Vec<(Delivery, Vec<Attempt>)>>> {
    if find_endpoint(db, endpoint_id).await?.is_none() {
        return Ok(None);
    }
    let rows = list_deliveries(db, endpoint_id, after, status, limit).await?;
    let mut attempts = attempts_of(db, rows.iter().map(|d| d.id.clone()).collect()).await?;
    Ok(Some(
        rows.into_iter()
            .map(|d| {
                let tries = attempts.remove(&d.id).unwrap_or_default();
                (d, tries)
            })
            .collect(),
    ))
}

/// An endpoint and its `limit` most recent deliveries (the delivery log page).
pub async fn endpoint_log(
    db: &impl Conn,
    endpoint_id: &str,
    limit: u64,
) -> anyhow::Result<Option<(Endpoint, Vec<Delivery>)>> {
    let Some(endpoint) = find_endpoint(db, endpoint_id).await? else {
        return Ok(None);
    };
    let rows = list_deliveries(db, endpoint_id, None, None, limit).await?;
    Ok(Some((endpoint, rows)))
}

/// Deliveries of an endpoint changed at or after `since` (ms), oldest change first.
pub async fn deliveries_changed_since(
    db: &impl Conn,
    endpoint_id: &str,
    since: i64,
    limit: u64,
) -> anyhow::Result<Vec<Delivery>> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::UpdatedAt.gte(since))
        .order_by_asc(webhook_delivery::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
        .context("failed to read changed webhook deliveries")
}

/// The attempts of each delivery, oldest first.
pub async fn attempts_of(
    db: &impl Conn,
    delivery_ids: Vec<String>,
) -> anyhow::Result<HashMap<String, Vec<Attempt>>> {
    let mut out: HashMap<String, Vec<Attempt>> = HashMap::new();
    if delivery_ids.is_empty() {
        return Ok(out);
    }
    let rows = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(delivery_ids))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await
        .context("failed to load webhook attempts")?;
    for row in rows {
        out.entry(row.delivery_id.clone()).or_default().push(row);
    }
    Ok(out)
}

/// Sends a delivery again: a finished one starts a new round of attempts, due now, out of band
/// (it does not hold newer deliveries back); a pending one is simply made due now. `None` when
/// the delivery does not exist for this endpoint.
pub async fn replay_delivery(
    db: &impl Conn,
    endpoint_id: &str,
    delivery_id: &str,
    now: i64,
) -> anyhow::Result<Option<()>> {
    let Some(delivery) = find_delivery(db, endpoint_id, delivery_id).await? else {
        return Ok(None);
    };
    if delivery.status == PENDING {
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.eq(delivery_id))
            .exec(db)
            .await
            .context("failed to replay the webhook delivery")?;
    } else {
        restart_rounds(
            db,
            Condition::all().add(webhook_delivery::Column::Id.eq(delivery_id)),
            now,
        )
        .await?;
    }
    Ok(Some(()))
}

/// Replays every delivery of the endpoint that gave up (`failed`) and was created at or after
/// `since`; returns how many.
pub async fn replay_failed_since(
    db: &impl Conn,
    endpoint_id: &str,
    since: i64,
    now: i64,
) -> anyhow::Result<u64> {
    restart_rounds(
        db,
        Condition::all()
            .add(webhook_delivery::Column::EndpointId.eq(endpoint_id))
            .add(webhook_delivery::Column::Status.eq(FAILED))
            .add(webhook_delivery::Column::CreatedAt.gte(since)),
        now,
    )
    .await
}

async fn restart_rounds(db: &impl Conn, which: Condition, now: i64) -> anyhow::Result<u64> {
    let res = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(PENDING))
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(webhook_delivery::Column::Replayed, Expr::value(true))
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            webhook_delivery::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
        .filter(which)
        .filter(webhook_delivery::Column::Status.ne(PENDING))
        .exec(db)
        .await
        .context("failed to replay webhook deliveries")?;
    Ok(res.rows_affected)
}
