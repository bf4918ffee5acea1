//! TXT lookups for domain verification, through hickory-resolver: the configured name servers
//! (`PORTAL_DNS_SERVERS`, `ip[:port]` comma-separated) or the system resolver, with a timeout, a
//! number of attempts and a cache that can be switched off. The resolver's answer is reduced to a
//! [`TxtAnswer`]; what it means for a domain is decided in `domains::evaluate`.

use crate::config::DnsSettings;
use anyhow::Context;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What DNS said about a name's TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The TXT records at the name, each one text (its character-strings joined in order).
    Records(Vec<String>),
    /// The name exists but has no TXT record (NOERROR, no data).
    NoRecords,
    NxDomain,
    ServFail,
    Timeout,
    /// Anything else, in words.
    Failed(String),
}

/// Parses `ip[:port]` entries, comma-separated (`[v6]:port` for IPv6 with a port); port 53 when none
/// is given. An empty list means "use the system resolver".
pub fn parse_servers(raw: &str) -> Result<Vec<SocketAddr>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<SocketAddr>()
                .or_else(|_| entry.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| format!("{entry:?} is not an IP address with an optional :port"))
        })
        .collect()
}

/// A shared resolver for TXT records.
#[derive(Clone)]
pub struct TxtResolver {
    inner: Arc<TokioResolver>,
    source: Arc<str>,
}

impl TxtResolver {
    pub fn from_settings(settings: &DnsSettings) -> anyhow::Result<Self> {
        let servers = parse_servers(&settings.servers)
            .map_err(|e| anyhow::anyhow!("PORTAL_DNS_SERVERS: {e}"))?;
        let (config, mut opts, source) = if servers.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok((config, opts)) => (config, opts, "the system resolver".to_string()),
                // Portal still starts (nothing else needs DNS); checks then say why they fail.
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        "no system DNS configuration; domain checks fail until PORTAL_DNS_SERVERS is set"
                    );
                    (
                        ResolverConfig::from_name_servers(Vec::new()),
                        ResolverOpts::default(),
                        "no name server (system configuration unreadable)".to_string(),
                    )
                }
            }
        } else {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut ns.connections {
                        connection.port = addr.port();
                    }
                    ns
                })
                .collect();
            let listed: Vec<String> = servers.iter().map(SocketAddr::to_string).collect();
            (
                ResolverConfig::from_name_servers(name_servers),
                ResolverOpts::default(),
                listed.join(", "),
            )
        };
        opts.timeout = Duration::from_millis(settings.timeout_ms);
        opts.attempts = settings.attempts;
        if !settings.cache {
            opts.cache_size = 0;
        }
        // Names are always fully qualified (see `lookup`); no search list applies.
        opts.ndots = 0;
        let inner = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .context("failed to build the DNS resolver")?;
        Ok(Self {
            inner: Arc::new(inner),
            source: source.into(),
        })
    }

    /// Where lookups go, for the start-up log.
    pub fn describe(&self) -> &str {
        &self.source
    }

    /// The TXT records at `name` (a host name, fully qualified here so no search domain is added).
    pub async fn lookup(&self, name: &str) -> TxtAnswer {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.inner.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let texts: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if texts.is_empty() {
                    TxtAnswer::NoRecords
                } else {
                    TxtAnswer::Records(texts)
                }
            }
            Err(err) => classify(&err),
        }
    }
}

fn classify(err: &NetError) -> TxtAnswer {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(none))
            if none.response_code == ResponseCode::NXDomain =>
        {
            TxtAnswer::NxDomain
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => TxtAnswer::NoRecords,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => TxtAnswer::ServFail,
        NetError::Dns(DnsError::ResponseCode(code)) => {
            TxtAnswer::Failed(format!("the DNS server answered {code}"))
        }
        NetError::Timeout => TxtAnswer::Timeout,
        other => TxtAnswer::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_ip_with_optional_port() {
        assert_eq!(parse_servers("").unwrap(), Vec::<SocketAddr>::new());
        assert_eq!(
            parse_servers("127.0.0.1:5353, 9.9.9.9,[::1]:53,::1").unwrap(),
            vec![
                "127.0.0.1:5353".parse::<SocketAddr>().unwrap(),
                "9.9.9.9:53".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
            ]
        );
        for bad in ["dns.example", "127.0.0.1:x", "1.2.3.4:99999"] {
            assert!(parse_servers(bad).is_err(), "{bad}");
        }
    }
}
