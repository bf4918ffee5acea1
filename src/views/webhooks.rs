//! The delivery log page an integrator opens from a signed link: recent deliveries of one
//! endpoint, kept current by `webhook-log.js` over a server-sent event stream.

use super::layout::{BodyAttrs, Brand, page};
use crate::db::events::rfc3339;
use crate::db::webhooks::{Delivery, PENDING};
use maud::{Markup, html};

/// One delivery as the log shows it.
#[derive(Debug, Clone)]
pub struct DeliveryRowView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub organization_id: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    /// When it last changed (RFC 3339) and the next attempt, if pending.
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
}

impl From<&Delivery> for DeliveryRowView {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            organization_id: d.organization_id.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            updated_at: rfc3339(d.updated_at),
            next_attempt_at: (d.status == PENDING && d.attempts > 0)
                .then(|| rfc3339(d.next_attempt_at)),
        }
    }
}

pub struct LogPageView<'a> {
    pub brand: &'a Brand,
    pub endpoint_id: &'a str,
    pub url: &'a str,
    pub enabled: bool,
    pub disabled_reason: Option<&'a str>,
    pub rows: &'a [DeliveryRowView],
    /// The stream to follow (signed like the page).
    pub stream_url: &'a str,
    pub expires_at: &'a str,
}

pub fn delivery_dom_id(delivery_id: &str) -> String {
    format!("delivery-{delivery_id}")
}

fn badge(status: &str) -> &'static str {
    match status {
        "succeeded" => "badge active",
        "pending" => "badge pending",
        _ => "badge failed",
    }
}

/// One row; the live stream sends the same markup.
pub fn delivery_row(r: &DeliveryRowView) -> Markup {
    html! {
        tr id=(delivery_dom_id(&r.id)) data-status=(r.status) {
            td { code { (r.event_id) } }
            td { (r.event_type) }
            td.muted { (r.organization_id.as_deref().unwrap_or("—")) }
            td { span class=(badge(&r.status)) { (r.status) } }
            td { (r.attempts) }
            td { @if let Some(code) = r.last_status { (code) } @else { "—" } }
            td.muted {
                @if let Some(err) = &r.last_error { (err) }
                @if let Some(next) = &r.next_attempt_at { " Next attempt " time datetime=(next) { (next) } }
            }
            td.muted { time datetime=(r.updated_at) { (r.updated_at) } }
        }
    }
}

pub fn log_page(v: &LogPageView<'_>) -> Markup {
    page(
        v.brand,
        "Webhook deliveries",
        BodyAttrs::default(),
        html! {
            main.log-page id="main" data-log-stream=(v.stream_url) {
                h1 { "Webhook deliveries" }
                p {
                    code { (v.url) } " "
                    @if v.enabled { span.badge.active { "enabled" } }
                    @else { span.badge.failed { "disabled" } }
                }
                @if let Some(reason) = v.disabled_reason { p role="status" { (reason) } }
                p.muted { "Endpoint " code { (v.endpoint_id) } ". This link works until " (v.expires_at) "." }
                p.live-status data-live-status aria-live="polite" { "" }
                table {
                    thead { tr {
                        th { "Event" } th { "Type" } th { "Organization" } th { "Status" }
                        th { "Attempts" } th { "Last response" } th { "Details" } th { "Updated" }
                    } }
                    tbody data-live-list="deliveries" {
                        @for row in v.rows { (delivery_row(row)) }
                    }
                }
                p.muted data-live-empty hidden[!v.rows.is_empty()] { "No deliveries yet. New ones appear here as they are attempted." }
                script src=(format!("/static/webhook-log.js?v={}", env!("CARGO_PKG_VERSION"))) defer {}
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str) -> DeliveryRowView {
        DeliveryRowView {
            id: "whd_1".into(),
            event_id: "evt_1".into(),
            event_type: "user.created".into(),
            organization_id: None,
            status: status.into(),
            attempts: 2,
            last_status: Some(500),
            last_error: Some("<script>".into()),
            updated_at: "2026-12-03T10:00:00.000Z".into(),
            next_attempt_at: None,
        }
    }

    #[test]
    fn rows_escape_what_the_receiver_said() {
        let html = delivery_row(&row("failed")).into_string();
        assert!(html.contains("id=\"delivery-whd_1\""));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("badge failed"));
    }
}
