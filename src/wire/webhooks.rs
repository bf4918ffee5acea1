//! Webhook JSON: the envelope every delivery carries, and the management API's shapes.

use crate::db::environment::DEFAULT_ENVIRONMENT;
use crate::db::events::{Event, rfc3339};
use crate::db::webhooks::{self as store, Attempt, Delivery, Endpoint};
use serde::Serialize;

/// The body of a webhook (Standard Webhooks payload structure): the event as the outbox has it.
/// `id` is also the `webhook-id` header, the same on every retry and replay.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub occurred_at: &'a str,
    pub environment_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub data: &'a serde_json::Value,
}

impl<'a> From<&'a Event> for Envelope<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            id: &e.id,
            event_type: &e.event_type,
            occurred_at: &e.occurred_at,
            environment_id: DEFAULT_ENVIRONMENT,
            organization_id: e.organization_id.as_deref(),
            data: &e.data,
        }
    }
}

impl Envelope<'_> {
    /// The exact bytes sent and signed (compact JSON).
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

/// An endpoint as the API shows it: never its secrets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebhookEndpointJson {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Portal disabled the endpoint (410 Gone, or failing for five days).
    pub disabled_reason: Option<String>,
    /// When the current run of failed attempts began.
    pub failing_since: Option<String>,
    /// While set (and in the future), deliveries are signed with the previous secret too.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Endpoint> for WebhookEndpointJson {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: store::event_types(e),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: time(e.failing_since),
            previous_secret_expires_at: time(e.previous_secret_expires_at),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// The answer to create: the endpoint and, this once, its secret.
#[derive(Debug, Serialize)]
pub struct CreatedEndpointJson {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointJson,
    pub secret: String,
}

#[derive(Debug, Serialize)]
pub struct RotatedSecretJson {
    pub secret: String,
    /// Until then the previous secret signs too.
    pub previous_secret_expires_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AttemptJson {
    pub id: String,
    pub attempted_at: String,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// The first KiB of the response body.
    pub response_snippet: Option<String>,
    pub error: Option<String>,
}

impl From<&Attempt> for AttemptJson {
    fn from(a: &Attempt) -> Self {
        Self {
            id: a.id.clone(),
            attempted_at: rfc3339(a.attempted_at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_snippet: a.response_snippet.clone(),
            error: a.error.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryJson {
    pub id: String,
    /// Also the `webhook-id` header.
    pub event_id: String,
    pub event_type: String,
    pub organization_id: Option<String>,
    /// `pending`, `succeeded` or `failed` (gave up; can be replayed).
    pub status: String,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every attempt, oldest first, replays included.
    pub attempts: Vec<AttemptJson>,
}

impl DeliveryJson {
    pub fn new(d: &Delivery, attempts: &[Attempt]) -> Self {
        Self {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            organization_id: d.organization_id.clone(),
            status: d.status.clone(),
            next_attempt_at: (d.status == store::PENDING).then(|| rfc3339(d.next_attempt_at)),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: time(d.delivered_at),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            attempts: attempts.iter().map(AttemptJson::from).collect(),
        }
    }
}

/// Payload of `webhook.endpoint_disabled`.
#[derive(Debug, Serialize)]
pub struct EndpointDisabledEvent {
    pub endpoint: WebhookEndpointJson,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ReplayedJson {
    pub replayed: u64,
}

#[derive(Debug, Serialize)]
pub struct LogLinkJson {
    pub url: String,
    pub expires_at: String,
}
