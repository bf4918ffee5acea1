//! The management operations behind `/api/v1/webhooks`: each handler makes one call here.

use super::{EventTypeFilter, WebhookContext, WebhookSecret, WebhookUrl};
use crate::crypto;
use crate::db::webhooks::{self as store, CursorLock, Endpoint, EndpointChanges};
use crate::db::{self, Db, events, now_ms};
use crate::domain::ids;
use std::time::Duration;

/// The longest rotation overlap a request may ask for.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook endpoint not found")]
    NotFound,
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A create request, parsed.
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub url: WebhookUrl,
    pub description: String,
    pub event_types: EventTypeFilter,
    pub enabled: bool,
}

impl EndpointInput {
    /// What identifies the request for idempotency: a retry must send the same thing.
    fn fingerprint(&self) -> String {
        let canonical = serde_json::json!([
            self.url.as_str(),
            self.description,
            self.event_types.entries(),
            self.enabled,
        ]);
        crypto::hex(&crypto::sha256(canonical.to_string().as_bytes()))
    }
}

/// An `Idempotency-Key` header: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_string()))
    }
}

/// The endpoint and its current secret.
pub struct Created {
    pub endpoint: Endpoint,
    pub secret: WebhookSecret,
    /// `false` when an earlier request with the same `Idempotency-Key` made it.
    pub created: bool,
}

/// Creates an endpoint with a fresh secret. With an `Idempotency-Key`, a retry of the same request
/// returns the endpoint the first one made (with its current secret) for as long as it exists,
/// and a different request under the same key is a conflict. Without one, every call creates.
///
/// The endpoint receives the events committed after it was created: it starts at the outbox's
/// last sequence, read under the fan-out cursor's lock so that no batch in progress can miss it.
pub async fn create(
    db: &Db,
    ctx: &WebhookContext,
    input: EndpointInput,
    idempotency: Option<IdempotencyKey>,
) -> Result<Created, WebhookError> {
    let fingerprint = input.fingerprint();
    if let Some(IdempotencyKey(key)) = &idempotency
        && let Some(found) = replay_of(db, ctx, key, &fingerprint).await?
    {
        return Ok(found);
    }
    let id = ids::new_id(ids::WEBHOOK);
    let secret = WebhookSecret::generate();
    let tx = db.begin_write().await?;
    // Under the cursor's lock no fan-out batch is in progress, so every event after `from_seq`
    // commits later and is fanned out after this endpoint is visible.
    store::lock_cursor(&tx, CursorLock::Wait).await?;
    let from_seq = events::last_seq(&tx).await?;
    let inserted = store::insert_endpoint(
        &tx,
        store::NewEndpoint {
            sealed_secret: ctx.key.seal(secret.as_bytes(), &id),
            id,
            url: input.url.as_str().to_string(),
            description: input.description,
            event_types: input.event_types.into_entries(),
            enabled: input.enabled,
            from_seq,
            idempotency: idempotency.clone().map(|k| (k.0, fingerprint.clone())),
        },
    )
    .await;
    match inserted {
        Ok(endpoint) => {
            tx.commit().await.map_err(anyhow::Error::from)?;
            Ok(Created {
                endpoint,
                secret,
                created: true,
            })
        }
        Err(err) if db::is_unique_violation(&err) && idempotency.is_some() => {
            // A concurrent request with the same key won; answer as its retry would be answered.
            drop(tx);
            let key = idempotency.map(|k| k.0).unwrap_or_default();
            replay_of(db, ctx, &key, &fingerprint)
                .await?
                .ok_or_else(|| WebhookError::Conflict("Idempotency-Key is in use.".into()))
        }
        Err(err) => Err(anyhow::Error::from(err)
            .context("failed to create webhook endpoint")
            .into()),
    }
}

async fn replay_of(
    db: &Db,
    ctx: &WebhookContext,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Created>, WebhookError> {
    let Some(endpoint) = store::find_endpoint_by_idempotency_key(db.conn(), key).await? else {
        return Ok(None);
    };
    if endpoint.idempotency_hash.as_deref() != Some(fingerprint) {
        return Err(WebhookError::Conflict(
            "This Idempotency-Key was used for a different request.".into(),
        ));
    }
    let secret = current_secret(ctx, &endpoint)?;
    Ok(Some(Created {
        endpoint,
        secret,
        created: false,
    }))
}

fn current_secret(ctx: &WebhookContext, endpoint: &Endpoint) -> anyhow::Result<WebhookSecret> {
    let bytes = ctx.key.open(&endpoint.secret, &endpoint.id)?;
    Ok(WebhookSecret::from_bytes(bytes)?)
}

/// A PATCH, parsed; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<WebhookUrl>,
    pub description: Option<String>,
    pub event_types: Option<EventTypeFilter>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint. Re-enabling it clears its failure streak and wakes the dispatcher, so
/// deliveries that waited go out at once.
pub async fn update(
    db: &Db,
    ctx: &WebhookContext,
    id: &str,
    patch: EndpointPatch,
) -> Result<Endpoint, WebhookError> {
    let enabling = patch.enabled == Some(true);
    let updated = store::update_endpoint(
        db.conn(),
        id,
        EndpointChanges {
            url: patch.url.map(|u| u.as_str().to_string()),
            description: patch.description,
            event_types: patch.event_types.map(EventTypeFilter::into_entries),
            enabled: patch.enabled,
        },
    )
    .await?
    .ok_or(WebhookError::NotFound)?;
    if enabling {
        ctx.wake_dispatcher();
    }
    Ok(updated)
}

pub async fn delete(db: &Db, id: &str) -> Result<(), WebhookError> {
    if store::delete_endpoint(db.conn(), id).await? {
        Ok(())
    } else {
        Err(WebhookError::NotFound)
    }
}

pub struct Rotated {
    pub secret: WebhookSecret,
    pub previous_expires_at: Option<i64>,
}

/// Replaces the secret. The old one keeps signing (a second `v1,` signature) for `overlap`, so
/// receivers can switch without a gap; an older previous secret is dropped. Zero overlap retires
/// the old secret at once.
pub async fn rotate_secret(
    db: &Db,
    ctx: &WebhookContext,
    id: &str,
    overlap: Duration,
) -> Result<Rotated, WebhookError> {
    let tx = db.begin_write().await?;
    let endpoint = store::find_endpoint(&tx, id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    let secret = WebhookSecret::generate();
    let previous_expires_at = (!overlap.is_zero()).then(|| now_ms() + overlap.as_millis() as i64);
    store::replace_secret(
        &tx,
        id,
        ctx.key.seal(secret.as_bytes(), id),
        previous_expires_at.map(|_| endpoint.secret.clone()),
        previous_expires_at,
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(Rotated {
        secret,
        previous_expires_at,
    })
}

/// What to send again.
#[derive(Debug, Clone)]
pub enum Replay {
    One {
        delivery_id: String,
    },
    /// Every delivery that gave up and was created at or after this time (ms).
    FailedSince(i64),
}

/// Replays deliveries (same `webhook-id`, fresh timestamp and signature) and returns how many.
pub async fn replay(
    db: &Db,
    ctx: &WebhookContext,
    endpoint_id: &str,
    what: Replay,
) -> Result<u64, WebhookError> {
    if store::find_endpoint(db.conn(), endpoint_id)
        .await?
        .is_none()
    {
        return Err(WebhookError::NotFound);
    }
    let now = now_ms();
    let count = match what {
        Replay::One { delivery_id } => {
            store::replay_delivery(db.conn(), endpoint_id, &delivery_id, now)
                .await?
                .ok_or(WebhookError::DeliveryNotFound)?;
            1
        }
        Replay::FailedSince(since) => {
            store::replay_failed_since(db.conn(), endpoint_id, since, now).await?
        }
    };
    if count > 0 {
        ctx.wake_dispatcher();
    }
    Ok(count)
}
