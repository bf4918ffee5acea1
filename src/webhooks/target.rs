//! Where webhooks may be sent: [`WebhookUrl`] (parsed at the API boundary and again before every
//! attempt), the operator's [`AllowList`] (`PORTAL_WEBHOOK_ALLOW_HOSTS`) and [`GuardedResolver`],
//! the DNS resolver of the delivery client, which drops private addresses after resolution.
//!
//! The SSRF rule: a webhook URL is `https`, and neither its literal address nor any address its
//! name resolves to at delivery time is loopback, private, link-local, CGNAT, multicast,
//! unspecified, reserved or an IPv6 unique-local/link-local address — unless the operator listed
//! the host (by name, address or CIDR) in the allow list, which also permits plain `http`.
//! Redirects are never followed (the client's policy), so a public URL cannot bounce the request
//! inward.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Hosts the operator allows despite the SSRF rule: exact host names (case-insensitive) and
/// address ranges (a bare address is a /32 or /128).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    names: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses a comma-separated list such as `127.0.0.1, hooks.internal, 10.0.0.0/8`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut list = Self::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                list.nets.push(net.trunc());
            } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else if entry.contains('/') {
                return Err(format!("{entry:?} is not a valid CIDR range"));
            } else {
                let name = normalize_name(entry);
                if name.is_empty() || name.contains(['/', ':', ' ', '@']) {
                    return Err(format!("{entry:?} is not a host name, address or CIDR"));
                }
                list.names.push(name);
            }
        }
        Ok(list)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.nets.is_empty()
    }

    pub fn allows_name(&self, name: &str) -> bool {
        let name = normalize_name(name);
        self.names.contains(&name)
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    fn allows_host(&self, host: &Host<&str>) -> bool {
        match host {
            Host::Domain(d) => self.allows_name(d),
            Host::Ipv4(ip) => self.allows_ip(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.allows_ip(IpAddr::V6(*ip)),
        }
    }
}

fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it is.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether an address is off limits for webhooks (not a public unicast address).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // 0.0.0.0/8 "this network"
        || ip.is_loopback() // 127.0.0.0/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16 (cloud metadata lives here)
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // 198.18/15 benchmarking
        || ip.is_documentation()
        || ip.is_multicast() // 224/4
        || a >= 240 // 240/4 reserved, and the broadcast address
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast() // ff00::/8
        || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10 link local
        || (seg[0] & 0xffc0) == 0xfec0 // fec0::/10 old site local
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        // Addresses that carry an IPv4 address: IPv4-compatible (::/96), NAT64 (64:ff9b::/96),
        // 6to4 (2002::/16). Judge the address inside.
        || (seg[..6] == [0, 0, 0, 0, 0, 0] && is_forbidden_v4(embedded_v4(seg[6], seg[7])))
        || (seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_forbidden_v4(embedded_v4(seg[6], seg[7])))
        || (seg[0] == 0x2002 && is_forbidden_v4(embedded_v4(seg[1], seg[2])))
}

/// A webhook URL that passed the SSRF rule as far as it can be checked without DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is not a valid absolute URL.")]
    Malformed,
    #[error("url is longer than {MAX_URL_LEN} characters.")]
    TooLong,
    #[error(
        "url must use https (plain http is allowed only for hosts in PORTAL_WEBHOOK_ALLOW_HOSTS)."
    )]
    NotHttps,
    #[error("url must not contain a user name or password.")]
    Credentials,
    #[error("url must not contain a #fragment.")]
    Fragment,
    #[error(
        "url points at a loopback, private, link-local or otherwise non-public address; webhooks go to public addresses only."
    )]
    PrivateAddress,
}

impl WebhookUrl {
    pub fn parse(raw: &str, allow: &AllowList) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| UrlError::Malformed)?;
        let host = url.host().ok_or(UrlError::Malformed)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let allowed = allow.allows_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            "http" => return Err(UrlError::NotHttps),
            _ => return Err(UrlError::NotHttps),
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !allowed
            && is_forbidden_ip(ip)
        {
            return Err(UrlError::PrivateAddress);
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Refused by the SSRF rule after resolution: the message names the host, never the addresses.
#[derive(Debug, thiserror::Error)]
#[error(
    "refused: {0} resolves only to loopback, private or otherwise non-public addresses (SSRF protection)"
)]
pub struct PrivateResolution(pub String);

/// The delivery client's DNS resolver: the system resolver, then the SSRF rule on every address.
/// Addresses that fail it are dropped; a name left with none is refused. The client connects only
/// to the addresses returned here, so there is no second lookup to rebind.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl GuardedResolver {
    pub fn new(allow: Arc<AllowList>) -> Self {
        Self { allow }
    }

    /// The addresses of `host` a webhook may connect to.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, std::io::Error> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        let host_allowed = self.allow.allows_name(host);
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| host_allowed || self.allow.allows_ip(a.ip()) || !is_forbidden_ip(a.ip()))
            .collect();
        if kept.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                PrivateResolution(host.to_string()),
            ));
        }
        Ok(kept)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let kept = this.resolve_host(&host).await?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> AllowList {
        AllowList::default()
    }

    #[test]
    fn public_https_urls_pass() {
        for ok in [
            "https://hooks.example.com/portal",
            "https://93.184.216.34/x",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/x",
            "https://example.com:8443/a?b=c",
        ] {
            assert!(WebhookUrl::parse(ok, &none()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn literal_private_addresses_are_refused() {
        for bad in [
            "https://127.0.0.1/",
            "https://127.1.2.3/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:10.1.1.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:7f00:1::]/",
            "https://[ff02::1]/",
        ] {
            assert_eq!(
                WebhookUrl::parse(bad, &none()),
                Err(UrlError::PrivateAddress),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_mistakes_are_named() {
        assert_eq!(
            WebhookUrl::parse("http://example.com/", &none()),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("ftp://example.com/", &none()),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            WebhookUrl::parse("https://u:p@example.com/", &none()),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            WebhookUrl::parse("https://example.com/#x", &none()),
            Err(UrlError::Fragment)
        );
        assert_eq!(
            WebhookUrl::parse("not a url", &none()),
            Err(UrlError::Malformed)
        );
        assert_eq!(
            WebhookUrl::parse(&format!("https://e.com/{}", "a".repeat(3000)), &none()),
            Err(UrlError::TooLong)
        );
    }

    #[test]
    fn the_allow_list_admits_hosts_by_name_address_and_range() {
        let allow = AllowList::parse("127.0.0.1, Hooks.Internal., 10.0.0.0/8, [::1]").unwrap();
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/x", &allow).is_ok());
        assert!(WebhookUrl::parse("http://hooks.internal/x", &allow).is_ok());
        assert!(WebhookUrl::parse("https://10.20.30.40/x", &allow).is_ok());
        assert!(WebhookUrl::parse("http://[::1]:8/x", &allow).is_ok());
        assert_eq!(
            WebhookUrl::parse("https://127.0.0.2/", &allow),
            Err(UrlError::PrivateAddress)
        );
        assert_eq!(
            WebhookUrl::parse("http://example.com/", &allow),
            Err(UrlError::NotHttps)
        );
        assert!(allow.allows_ip("::ffff:10.1.2.3".parse().unwrap()));
        assert!(AllowList::parse("10.0.0.0/99").is_err());
        assert!(AllowList::parse("a b").is_err());
        assert!(AllowList::parse("").unwrap().is_empty());
    }

    #[test]
    fn public_addresses_are_not_forbidden() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let guard = GuardedResolver::new(Arc::new(none()));
        let err = guard.resolve_host("localhost").await.unwrap_err();
        assert!(err.to_string().contains("SSRF"), "{err}");
        let allowed = GuardedResolver::new(Arc::new(AllowList::parse("localhost").unwrap()));
        assert!(!allowed.resolve_host("localhost").await.unwrap().is_empty());
        let by_ip = GuardedResolver::new(Arc::new(AllowList::parse("127.0.0.0/8").unwrap()));
        let addrs = by_ip.resolve_host("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()));
    }
}
