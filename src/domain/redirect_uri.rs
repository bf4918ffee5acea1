use super::ParseError;
use url::Url;

/// A client redirect URI as registered: absolute, no fragment, http only for loopback hosts.
/// Matching is exact string comparison (RFC 9700 §4.1.3), so no normalisation happens after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let url = Url::parse(input)
            .map_err(|_| ParseError::new(format!("\"{input}\" is not an absolute URL.")))?;
        if url.fragment().is_some() {
            return Err(ParseError::new(
                "A redirect URI must not contain a fragment (#).",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => {
                return Err(ParseError::new(
                    "A redirect URI must use https (plain http is allowed only for localhost).",
                ));
            }
            // Private-use schemes for native apps (RFC 8252 §7.1), e.g. com.example.app:/callback.
            scheme if scheme.contains('.') => {}
            _ => return Err(ParseError::new("A redirect URI must use https.")),
        }
        Ok(Self(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Exact match against a registered value.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0 == candidate
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_https_and_loopback_http() {
        assert!(RedirectUri::parse("https://app.example.com/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:8080/demo/callback").is_ok());
        assert!(RedirectUri::parse("http://localhost/cb").is_ok());
        assert!(RedirectUri::parse("com.example.app:/oauth").is_ok());
    }

    #[test]
    fn refuses_unsafe_uris() {
        for bad in [
            "/relative",
            "http://app.example.com/cb",
            "https://a.example/cb#x",
            "javascript:alert(1)",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let uri = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(uri.matches("https://app.example.com/cb"));
        assert!(!uri.matches("https://app.example.com/cb/"));
        assert!(!uri.matches("https://APP.example.com/cb"));
        assert!(!uri.matches("https://app.example.com/cb?x=1"));
    }
}
