//! Signed webhooks with durable, at-least-once delivery.
//!
//! ```text
//! events (outbox) ──► WebhookFanout ──► webhook_deliveries ──► WebhookDispatcher ──► integrator
//!   seq order,          persistent cursor,   one row per          leases due rows, POSTs,
//!   commit order        one node at a time   endpoint × event     records every attempt
//! ```
//!
//! - **Fan-out** (`actors::webhook_fanout`) reads the outbox in sequence order from a cursor kept in
//!   `webhook_cursors`, so a restart resumes where it stopped. The cursor row is locked while a batch
//!   is fanned out (`FOR UPDATE SKIP LOCKED` on PostgreSQL: the node that gets it advances it, the
//!   others skip; the write lock on SQLite), and each (endpoint, event) pair is inserted once (unique
//!   index), so a crash between insert and commit just redoes the batch.
//! - **Delivery** (`actors::webhook_dispatcher`) claims due deliveries with a lease
//!   (`lease_until`, `leased_by`), POSTs them, and records the attempt and the next step in one
//!   transaction. A node killed mid-attempt leaves its lease to run out; then any node retries. The
//!   lease outlasts the request timeout, and claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//!   each attempt is made by exactly one node. Delivery is therefore at least once: an attempt whose
//!   response was lost to a crash is made again, with the same `webhook-id`.
//!
//! **Ordering rule.** For each endpoint and organization, deliveries are attempted in event order,
//! one at a time: a delivery is not attempted while an older delivery for the same endpoint and
//! organization is still pending (in flight or waiting for a retry). So a receiver sees one
//! organization's events in order, and a retry holds the organization's later events back until it
//! succeeds or gives up (after the last scheduled attempt, the delivery is `failed` and the next one
//! goes). Different organizations are independent of each other; environment-wide events (no
//! organization) form one more such sequence. Replays are out of band: a replayed delivery is sent
//! at once and holds nothing back.
//!
//! **Retries** follow [`schedule::SCHEDULE`] with ±20 % jitter; `Retry-After` on 429/503 sets the
//! next attempt instead; `410 Gone` disables the endpoint; an endpoint whose attempts have all failed
//! for five days is disabled, and `webhook.endpoint_disabled` is published either way. A disabled
//! endpoint gets no new deliveries; its pending ones wait and resume when it is enabled again.
//!
//! **Signing** follows Standard Webhooks ([`signing`]); endpoint secrets are stored sealed
//! (`crate::sealing`). **SSRF** rules are in [`target`].

pub mod feed;
pub mod filter;
pub mod log_link;
pub mod manage;
pub mod schedule;
pub mod signing;
pub mod target;

use crate::db::webhooks::Endpoint;
use crate::sealing::DataKey;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

pub use feed::DeliveryFeed;
pub use filter::EventTypeFilter;
pub use schedule::Timing;
pub use signing::WebhookSecret;
pub use target::{AllowList, WebhookUrl};

/// Published when Portal disables an endpoint (410 Gone, or failing for five days).
pub const ENDPOINT_DISABLED: &str = "webhook.endpoint_disabled";

/// What the management API and the workers share: the data key, the operator's allow list, the
/// timing, the log feed and a way to wake the dispatcher.
#[derive(Clone)]
pub struct WebhookContext {
    pub key: DataKey,
    pub allow: Arc<AllowList>,
    pub timing: Timing,
    /// How long the previous secret keeps signing after a rotation, unless the request says.
    pub secret_overlap: Duration,
    pub feed: DeliveryFeed,
    wake: Option<actix::Recipient<crate::actors::webhook_dispatcher::DispatchNow>>,
}

impl WebhookContext {
    pub fn new(
        key: DataKey,
        allow: Arc<AllowList>,
        timing: Timing,
        secret_overlap: Duration,
    ) -> Self {
        Self {
            key,
            allow,
            timing,
            secret_overlap,
            feed: DeliveryFeed::default(),
            wake: None,
        }
    }

    pub fn with_dispatcher(
        mut self,
        wake: actix::Recipient<crate::actors::webhook_dispatcher::DispatchNow>,
    ) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Asks the dispatcher to look for due deliveries now (after a replay or a re-enable).
    pub fn wake_dispatcher(&self) {
        if let Some(wake) = &self.wake {
            wake.do_send(crate::actors::webhook_dispatcher::DispatchNow);
        }
    }
}

/// The secrets that sign a delivery now: the current one, and the previous one while its overlap
/// window lasts.
pub fn signing_secrets(
    key: &DataKey,
    endpoint: &Endpoint,
    now_ms: i64,
) -> anyhow::Result<Vec<WebhookSecret>> {
    let open = |sealed: &str| -> anyhow::Result<WebhookSecret> {
        let bytes = key.open(sealed, &endpoint.id)?;
        WebhookSecret::from_bytes(bytes).context("a stored webhook secret has the wrong length")
    };
    let mut secrets = vec![open(&endpoint.secret)?];
    if let (Some(previous), Some(until)) = (
        &endpoint.previous_secret,
        endpoint.previous_secret_expires_at,
    ) && until > now_ms
    {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(
        key: &DataKey,
        current: &WebhookSecret,
        previous: Option<(&WebhookSecret, i64)>,
    ) -> Endpoint {
        Endpoint {
            id: "whe_1".into(),
            environment_id: "env".into(),
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            event_types: "[\"*\"]".into(),
            enabled: true,
            secret: key.seal(current.as_bytes(), "whe_1"),
            previous_secret: previous.map(|(s, _)| key.seal(s.as_bytes(), "whe_1")),
            previous_secret_expires_at: previous.map(|(_, until)| until),
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
            from_seq: 0,
            idempotency_key: None,
            idempotency_hash: None,
        }
    }

    #[test]
    fn the_previous_secret_signs_only_until_its_overlap_ends() {
        let key = DataKey::from_bytes(&[3u8; 32]).unwrap();
        let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let e = endpoint(&key, &new, Some((&old, 1_000)));
        assert_eq!(signing_secrets(&key, &e, 999).unwrap(), [new.clone(), old]);
        assert_eq!(signing_secrets(&key, &e, 1_000).unwrap(), vec![new.clone()]);
        let alone = endpoint(&key, &new, None);
        assert_eq!(signing_secrets(&key, &alone, 0).unwrap(), vec![new]);
        let other_key = DataKey::from_bytes(&[4u8; 32]).unwrap();
        assert!(
            signing_secrets(&other_key, &e, 0).is_err(),
            "never signs with garbage"
        );
    }
}
