//! One typed settings tree. Sources, lowest to highest priority: built-in defaults, the TOML file given
//! with `--config`, `PORTAL_*` environment variables, command-line flags.
//!
//! | key (TOML)        | environment                                  | default                      |
//! |-------------------|----------------------------------------------|------------------------------|
//! | `listen`          | `PORTAL_LISTEN`                              | `127.0.0.1:8080`             |
//! | `data_dir`        | `PORTAL_DATA_DIR`                            | `./portal-data`              |
//! | `database_url`    | `PORTAL_DATABASE_URL`, else `DATABASE_URL`   | SQLite at `<data_dir>/portal.db` |
//! | `public_url`      | `PORTAL_PUBLIC_URL`                          | `http://<bound address>`     |
//! | `demo`            | `PORTAL_DEMO` (`--demo`)                     | off                          |
//! | `demo_password`   | `PORTAL_DEMO_PASSWORD`                       | generated, printed at start  |
//! | `demo_client_secret` | `PORTAL_DEMO_CLIENT_SECRET`               | generated, printed at start  |
//! | `demo_backchannel_logout_uri` | `PORTAL_DEMO_BACKCHANNEL_LOGOUT_URI` | none             |
//! | `sessions.reap_interval_ms` | `PORTAL_SESSION_REAP_INTERVAL_MS`  | `30000`                      |
//! | `log`             | `PORTAL_LOG`                                 | `info,sqlx=warn`             |
//! | `smtp_url`        | `PORTAL_SMTP_URL`                            | none: mail is written as `.eml` under `<data_dir>/mail/` |
//! | `mail_from`       | `PORTAL_MAIL_FROM`                           | `Portal <portal@localhost>`  |
//! | `custom_domains`  | `PORTAL_CUSTOM_DOMAINS` (host names, comma-separated) | none: any host is served |
//! | `encryption_key`  | `PORTAL_ENCRYPTION_KEY` (base64, 32 bytes)   | generated into the database  |
//! | `webhooks.allow_hosts` | `PORTAL_WEBHOOK_ALLOW_HOSTS` (hosts, IPs, CIDRs, comma-separated) | none |
//! | `webhooks.concurrency` | `PORTAL_WEBHOOK_CONCURRENCY`            | `16` attempts in flight per node |
//! | `webhooks.secret_overlap_secs` | `PORTAL_WEBHOOK_SECRET_OVERLAP_SECS` | `86400` (24 h)        |
//! | `webhooks.retry_scale` | `PORTAL_WEBHOOK_RETRY_SCALE` (tests only) | `1`                       |
//! | `dns.servers`     | `PORTAL_DNS_SERVERS` (`ip[:port]`, comma-separated) | the system resolver   |
//! | `dns.timeout_ms`  | `PORTAL_DNS_TIMEOUT_MS`                      | `5000` per attempt           |
//! | `dns.attempts`    | `PORTAL_DNS_ATTEMPTS`                        | `2`                          |
//! | `dns.cache`       | `PORTAL_DNS_CACHE` (`true`/`false`)          | `true`                       |
//! | `dns.concurrency` | `PORTAL_DNS_CONCURRENCY`                     | `8` domain checks in flight per node |
//! | `events.retention_hours` | `PORTAL_EVENT_RETENTION_HOURS`        | `168` (7 days) of outbox kept |

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to bind; port 0 picks a free port (the log says which).
    pub listen: String,
    /// Where the embedded database, generated mail and other local state live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Unset: SQLite in the data dir.
    pub database_url: Option<String>,
    /// The URL browsers and integrators use to reach Portal; the OIDC issuer. Unset: the bound address.
    pub public_url: Option<String>,
    /// Seed the demo organizations and serve the demo integrator app at `/demo/`.
    pub demo: bool,
    pub demo_password: Option<String>,
    pub demo_client_secret: Option<String>,
    /// The demo client's back-channel logout URI (`PORTAL_DEMO_BACKCHANNEL_LOGOUT_URI`).
    pub demo_backchannel_logout_uri: Option<String>,
    /// Log filter in `tracing` syntax.
    pub log: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Outgoing mail: `smtp://[user:pass@]host[:port]` (plain; add `?tls=required` for STARTTLS) or
    /// `smtps://…` (TLS from the first byte). Unset: messages are written as `.eml` files under
    /// `<data_dir>/mail/` and their links are logged, so the demo works offline.
    pub smtp_url: Option<String>,
    /// The sender of Portal's mail.
    pub mail_from: String,
    /// Base64 of 32 bytes: the key that seals stored secrets (webhook signing secrets). Unset: one is
    /// generated once and kept in the database.
    pub encryption_key: Option<String>,
    /// Host names besides the public URL's that Portal answers on, each with its own URLs (issuer,
    /// links) on that host and the public URL's scheme. Set: requests for any other host are refused.
    pub custom_domains: Vec<String>,
    pub webhooks: WebhookSettings,
    pub dns: DnsSettings,
    pub sessions: SessionSettings,
    pub events: EventSettings,
}

/// Browser sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// How often the reaper looks for expired sessions to end (and announce).
    pub reap_interval_ms: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            reap_interval_ms: 30_000,
        }
    }
}

/// The events outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Events older than this are deleted (once the webhook fan-out has read them); a page or
    /// stream resuming from before the oldest kept event is told to reload.
    pub retention_hours: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            retention_hours: 168,
        }
    }
}

/// DNS lookups for domain verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSettings {
    /// Name servers, `ip[:port]` comma-separated. Empty: the system resolver (`/etc/resolv.conf`).
    pub servers: String,
    /// How long one attempt waits for an answer.
    pub timeout_ms: u64,
    /// Tries per lookup (hickory's `attempts`).
    pub attempts: usize,
    /// Keep answers for their TTL. Tests switch it off so a changed record is seen at once.
    pub cache: bool,
    /// Domain checks in flight at once on this node.
    pub concurrency: usize,
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self {
            servers: String::new(),
            timeout_ms: 5000,
            attempts: 2,
            cache: true,
            concurrency: 8,
        }
    }
}

/// Outgoing webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Hosts (names, addresses or CIDR ranges, comma-separated) exempt from the SSRF rule: they may
    /// be private or loopback addresses and may use plain http.
    pub allow_hosts: String,
    /// Attempts in flight at once on this node.
    pub concurrency: usize,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_overlap_secs: u64,
    /// Multiplies the retry schedule (and shortens timeouts and leases); for tests only.
    pub retry_scale: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_hosts: String::new(),
            concurrency: 16,
            secret_overlap_secs: 24 * 3600,
            retry_scale: 1.0,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./portal-data"),
            database_url: None,
            public_url: None,
            demo: false,
            demo_password: None,
            demo_client_secret: None,
            demo_backchannel_logout_uri: None,
            log: "info,sqlx=warn".into(),
            workers: 0,
            smtp_url: None,
            mail_from: "Portal <portal@localhost>".into(),
            encryption_key: None,
            custom_domains: Vec::new(),
            webhooks: WebhookSettings::default(),
            dns: DnsSettings::default(),
            sessions: SessionSettings::default(),
            events: EventSettings::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub demo: bool,
}

impl Settings {
    /// Builds the settings from every source, in priority order.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Self> {
        let mut settings = match &overrides.config_file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok());
        if let Some(listen) = &overrides.listen {
            settings.listen = listen.clone();
        }
        if let Some(dir) = &overrides.data_dir {
            settings.data_dir = dir.clone();
        }
        settings.demo |= overrides.demo;
        settings.validate()?;
        Ok(settings)
    }

    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Applies `PORTAL_*` variables; `lookup` is the environment (a parameter so tests need not touch it).
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        let set = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let Some(v) = set("PORTAL_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = set("PORTAL_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = set("PORTAL_DATABASE_URL").or_else(|| set("DATABASE_URL")) {
            self.database_url = Some(v);
        }
        if let Some(v) = set("PORTAL_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = set("PORTAL_DEMO") {
            self.demo = matches!(v.as_str(), "1" | "true" | "yes" | "on");
        }
        if let Some(v) = set("PORTAL_DEMO_PASSWORD") {
            self.demo_password = Some(v);
        }
        if let Some(v) = set("PORTAL_DEMO_CLIENT_SECRET") {
            self.demo_client_secret = Some(v);
        }
        if let Some(v) = set("PORTAL_DEMO_BACKCHANNEL_LOGOUT_URI") {
            self.demo_backchannel_logout_uri = Some(v);
        }
        if let Some(v) = set("PORTAL_SESSION_REAP_INTERVAL_MS").and_then(|v| v.parse().ok()) {
            self.sessions.reap_interval_ms = v;
        }
        if let Some(v) = set("PORTAL_LOG") {
            self.log = v;
        }
        if let Some(v) = set("PORTAL_WORKERS").and_then(|v| v.parse().ok()) {
            self.workers = v;
        }
        if let Some(v) = set("PORTAL_SMTP_URL") {
            self.smtp_url = Some(v);
        }
        if let Some(v) = set("PORTAL_MAIL_FROM") {
            self.mail_from = v;
        }
        if let Some(v) = set("PORTAL_CUSTOM_DOMAINS") {
            self.custom_domains = v
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect();
        }
        if let Some(v) = set("PORTAL_ENCRYPTION_KEY") {
            self.encryption_key = Some(v);
        }
        if let Some(v) = set("PORTAL_WEBHOOK_ALLOW_HOSTS") {
            self.webhooks.allow_hosts = v;
        }
        if let Some(v) = set("PORTAL_WEBHOOK_CONCURRENCY").and_then(|v| v.parse().ok()) {
            self.webhooks.concurrency = v;
        }
        if let Some(v) = set("PORTAL_WEBHOOK_SECRET_OVERLAP_SECS").and_then(|v| v.parse().ok()) {
            self.webhooks.secret_overlap_secs = v;
        }
        if let Some(v) = set("PORTAL_WEBHOOK_RETRY_SCALE").and_then(|v| v.parse().ok()) {
            self.webhooks.retry_scale = v;
        }
        if let Some(v) = set("PORTAL_DNS_SERVERS") {
            self.dns.servers = v;
        }
        if let Some(v) = set("PORTAL_DNS_TIMEOUT_MS").and_then(|v| v.parse().ok()) {
            self.dns.timeout_ms = v;
        }
        if let Some(v) = set("PORTAL_DNS_ATTEMPTS").and_then(|v| v.parse().ok()) {
            self.dns.attempts = v;
        }
        if let Some(v) = set("PORTAL_DNS_CACHE") {
            self.dns.cache = matches!(v.as_str(), "1" | "true" | "yes" | "on");
        }
        if let Some(v) = set("PORTAL_DNS_CONCURRENCY").and_then(|v| v.parse().ok()) {
            self.dns.concurrency = v;
        }
        if let Some(v) = set("PORTAL_EVENT_RETENTION_HOURS").and_then(|v| v.parse().ok()) {
            self.events.retention_hours = v;
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        for host in &self.custom_domains {
            let parsed = crate::domain::DomainName::parse(host)
                .map_err(|e| anyhow::anyhow!("PORTAL_CUSTOM_DOMAINS {host:?}: {e}"))?;
            if parsed.as_str() != host {
                bail!("PORTAL_CUSTOM_DOMAINS {host:?}: write it as {parsed}");
            }
        }
        if let Some(url) = &self.public_url {
            let parsed = Url::parse(url)
                .with_context(|| format!("PORTAL_PUBLIC_URL {url:?} is not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                bail!("PORTAL_PUBLIC_URL must be an http(s) URL with a host, got {url:?}");
            }
        }
        if let Some(pw) = &self.demo_password
            && pw.chars().count() < 12
        {
            bail!("PORTAL_DEMO_PASSWORD must be at least 12 characters");
        }
        if let Some(url) = &self.smtp_url {
            let parsed = Url::parse(url).map_err(|_| {
                anyhow::anyhow!("PORTAL_SMTP_URL is not a URL (expected smtp://host:port)")
            })?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host().is_none() {
                bail!("PORTAL_SMTP_URL must be smtp://host[:port] or smtps://host[:port]");
            }
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "PORTAL_MAIL_FROM {:?} is not a mailbox such as \"Portal <portal@example.com>\"",
                self.mail_from
            );
        }
        if let Some(key) = &self.encryption_key {
            crate::sealing::DataKey::from_base64(key)?;
        }
        crate::webhooks::AllowList::parse(&self.webhooks.allow_hosts)
            .map_err(|e| anyhow::anyhow!("PORTAL_WEBHOOK_ALLOW_HOSTS: {e}"))?;
        if self.webhooks.concurrency == 0 || self.webhooks.concurrency > 1024 {
            bail!("PORTAL_WEBHOOK_CONCURRENCY must be between 1 and 1024");
        }
        let scale = self.webhooks.retry_scale;
        if !(scale.is_finite() && scale > 0.0 && scale <= 1.0) {
            bail!("PORTAL_WEBHOOK_RETRY_SCALE must be in (0, 1]");
        }
        crate::domains::dns::parse_servers(&self.dns.servers)
            .map_err(|e| anyhow::anyhow!("PORTAL_DNS_SERVERS: {e}"))?;
        if !(1..=60_000).contains(&self.dns.timeout_ms) {
            bail!("PORTAL_DNS_TIMEOUT_MS must be between 1 and 60000");
        }
        if !(1..=10).contains(&self.dns.attempts) {
            bail!("PORTAL_DNS_ATTEMPTS must be between 1 and 10");
        }
        if !(1..=256).contains(&self.dns.concurrency) {
            bail!("PORTAL_DNS_CONCURRENCY must be between 1 and 256");
        }
        if !(10..=3_600_000).contains(&self.sessions.reap_interval_ms) {
            bail!("PORTAL_SESSION_REAP_INTERVAL_MS must be between 10 and 3600000");
        }
        if self.events.retention_hours == 0 {
            bail!("PORTAL_EVENT_RETENTION_HOURS must be at least 1");
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen
            .parse()
            .with_context(|| format!("listen address {:?} is not host:port", self.listen))
    }

    /// The database URL in effect: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("portal.db").display()
            ),
        }
    }

    /// The public base URL (no trailing slash), falling back to the address actually bound.
    pub fn public_base(&self, bound: SocketAddr) -> Url {
        let raw = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = if bound.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else if bound.is_ipv6() {
                    format!("[{}]", bound.ip())
                } else {
                    bound.ip().to_string()
                };
                format!("http://{host}:{}", bound.port())
            }
        };
        // Validated in `validate`; the fallback is built from a socket address.
        Url::parse(&raw).unwrap_or_else(|_| unreachable!("public URL {raw} was validated"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = Settings::default();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert!(
            s.effective_database_url()
                .starts_with("sqlite://./portal-data/portal.db")
        );
        s.validate().unwrap();
    }

    #[test]
    fn portal_database_url_wins_over_database_url() {
        let mut s = Settings::default();
        s.apply_env(env(&[
            ("DATABASE_URL", "postgres://a/b"),
            ("PORTAL_DATABASE_URL", "postgres://c/d"),
        ]));
        assert_eq!(s.database_url.as_deref(), Some("postgres://c/d"));
        let mut s = Settings::default();
        s.apply_env(env(&[("DATABASE_URL", "postgres://a/b")]));
        assert_eq!(s.database_url.as_deref(), Some("postgres://a/b"));
    }

    #[test]
    fn public_url_falls_back_to_bound_port() {
        let s = Settings::default();
        let url = s.public_base("127.0.0.1:41234".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:41234/");
        let url = s.public_base("0.0.0.0:80".parse().unwrap());
        assert_eq!(url.host_str(), Some("127.0.0.1"));
    }

    #[test]
    fn file_rejects_unknown_keys() {
        assert!(toml::from_str::<Settings>("listen = \"127.0.0.1:1\"\nlisten_port = 3").is_err());
        let s: Settings = toml::from_str("listen = \"127.0.0.1:9\"\ndemo = true").unwrap();
        assert!(s.demo);
    }

    #[test]
    fn mail_settings_are_read_and_checked() {
        let mut s = Settings::default();
        s.apply_env(env(&[
            ("PORTAL_SMTP_URL", "smtps://me:pw@mail.example.com"),
            ("PORTAL_MAIL_FROM", "Acme <id@acme.test>"),
        ]));
        assert_eq!(
            s.smtp_url.as_deref(),
            Some("smtps://me:pw@mail.example.com")
        );
        s.validate().unwrap();
        for bad in ["http://mail.example.com", "mail.example.com:25"] {
            let s = Settings {
                smtp_url: Some(bad.into()),
                ..Settings::default()
            };
            assert!(s.validate().is_err(), "{bad}");
        }
        let s = Settings {
            mail_from: "not a mailbox".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn session_settings_come_from_the_environment_and_are_checked() {
        let mut s = Settings::default();
        s.apply_env(env(&[
            (
                "PORTAL_DEMO_BACKCHANNEL_LOGOUT_URI",
                "https://app.example/bcl",
            ),
            ("PORTAL_SESSION_REAP_INTERVAL_MS", "500"),
        ]));
        assert_eq!(
            s.demo_backchannel_logout_uri.as_deref(),
            Some("https://app.example/bcl")
        );
        assert_eq!(s.sessions.reap_interval_ms, 500);
        s.validate().unwrap();
        let mut s = Settings::default();
        s.apply_env(env(&[("PORTAL_SESSION_REAP_INTERVAL_MS", "0")]));
        assert!(s.validate().is_err());
    }

    #[test]
    fn webhook_settings_come_from_the_environment_and_are_checked() {
        let mut s = Settings::default();
        s.apply_env(env(&[
            ("PORTAL_WEBHOOK_ALLOW_HOSTS", "127.0.0.1, hooks.internal"),
            ("PORTAL_WEBHOOK_RETRY_SCALE", "0.001"),
            ("PORTAL_WEBHOOK_CONCURRENCY", "4"),
            ("PORTAL_WEBHOOK_SECRET_OVERLAP_SECS", "60"),
        ]));
        assert_eq!(s.webhooks.allow_hosts, "127.0.0.1, hooks.internal");
        assert_eq!(s.webhooks.retry_scale, 0.001);
        assert_eq!(s.webhooks.concurrency, 4);
        assert_eq!(s.webhooks.secret_overlap_secs, 60);
        s.validate().unwrap();
        for (name, value) in [
            ("PORTAL_WEBHOOK_ALLOW_HOSTS", "10.0.0.0/99"),
            ("PORTAL_WEBHOOK_RETRY_SCALE", "0"),
            ("PORTAL_ENCRYPTION_KEY", "c2hvcnQ="),
        ] {
            let mut s = Settings::default();
            s.apply_env(env(&[(name, value)]));
            assert!(s.validate().is_err(), "{name}={value} should be refused");
        }
        let s: Settings = toml::from_str("[webhooks]\nallow_hosts = \"localhost\"").unwrap();
        assert_eq!(s.webhooks.allow_hosts, "localhost");
    }

    #[test]
    fn dns_settings_come_from_the_environment_and_are_checked() {
        let mut s = Settings::default();
        s.apply_env(env(&[
            ("PORTAL_DNS_SERVERS", "127.0.0.1:5353,10.0.0.2"),
            ("PORTAL_DNS_TIMEOUT_MS", "300"),
            ("PORTAL_DNS_ATTEMPTS", "1"),
            ("PORTAL_DNS_CACHE", "false"),
            ("PORTAL_DNS_CONCURRENCY", "2"),
        ]));
        assert_eq!(s.dns.servers, "127.0.0.1:5353,10.0.0.2");
        assert_eq!((s.dns.timeout_ms, s.dns.attempts), (300, 1));
        assert!(!s.dns.cache);
        assert_eq!(s.dns.concurrency, 2);
        s.validate().unwrap();
        for (name, value) in [
            ("PORTAL_DNS_SERVERS", "dns.example.com"),
            ("PORTAL_DNS_TIMEOUT_MS", "0"),
            ("PORTAL_DNS_ATTEMPTS", "0"),
            ("PORTAL_DNS_CONCURRENCY", "0"),
        ] {
            let mut s = Settings::default();
            s.apply_env(env(&[(name, value)]));
            assert!(s.validate().is_err(), "{name}={value} should be refused");
        }
        let s: Settings = toml::from_str("[dns]\nservers = \"127.0.0.1:53\"").unwrap();
        assert_eq!(s.dns.servers, "127.0.0.1:53");
    }

    #[test]
    fn bad_values_are_reported() {
        let s = Settings {
            listen: "nope".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        let s = Settings {
            public_url: Some("ftp://x".into()),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }
}
