//! maud views: pure functions from plain data to `Markup`. They never query or read settings.

pub mod auth;
pub mod demo;
pub mod domains;
pub mod email;
pub mod errors;
pub mod invite;
pub mod join;
pub mod layout;
pub mod profile;
pub mod security;
pub mod session_policy;
pub mod settings;
pub mod webhooks;
pub mod widgets;

pub use layout::Brand;

/// The stylesheet and page script, compiled in so the binary serves them with no files around it.
pub const PORTAL_CSS: &str = include_str!("static/portal.css");
pub const LIVE_JS: &str = include_str!("static/live.js");
pub const PASSKEYS_JS: &str = include_str!("static/passkeys.js");
pub const WEBHOOK_LOG_JS: &str = include_str!("static/webhook-log.js");
pub const DOMAINS_JS: &str = include_str!("static/domains.js");

/// `12 Mar 2026` for a millisecond timestamp.
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%-d %b %Y").to_string())
        .unwrap_or_default()
}
