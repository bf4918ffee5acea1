use super::ParseError;

/// A DNS host name in its ASCII (punycode) form: lower case, no trailing dot, at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

/// Mail providers whose domains no organization can own.
const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "qq.com",
    "163.com",
    "126.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
];

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(ParseError::new("Enter a domain name such as example.com."));
        }
        if trimmed.contains("://") || trimmed.contains('/') || trimmed.contains('@') {
            return Err(ParseError::new(
                "Enter only the domain name, such as example.com (no scheme, path or @).",
            ));
        }
        let ascii = idna::domain_to_ascii(trimmed)
            .map_err(|_| ParseError::new(format!("\"{trimmed}\" is not a valid domain name.")))?;
        if ascii.len() > 253 {
            return Err(ParseError::new(
                "A domain name can be at most 253 characters long.",
            ));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(ParseError::new(format!(
                "\"{trimmed}\" is not a full domain name; it needs a dot, as in example.com."
            )));
        }
        for label in &labels {
            let valid = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(ParseError::new(format!(
                    "\"{trimmed}\" is not a valid domain name."
                )));
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("An IP address is not a domain name."));
        }
        Ok(Self(ascii))
    }

    /// A domain that must not be owned by an organization: public mail providers.
    pub fn is_public_mail_provider(&self) -> bool {
        PUBLIC_MAIL_DOMAINS.contains(&self.0.as_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` is `other` or lies below it (`eu.acme.com` is below `acme.com`).
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_strips_trailing_dot() {
        assert_eq!(
            DomainName::parse(" Acme.COM. ").unwrap().as_str(),
            "acme.com"
        );
    }

    #[test]
    fn converts_idn_to_punycode() {
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn refuses_what_is_not_a_domain() {
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "https://acme.com",
            "acme.com/x",
            "me@acme.com",
            "1.2.3.4",
            "acme_inc.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn knows_public_mail_providers() {
        assert!(
            DomainName::parse("GMail.com")
                .unwrap()
                .is_public_mail_provider()
        );
        assert!(
            !DomainName::parse("acme.com")
                .unwrap()
                .is_public_mail_provider()
        );
    }

    #[test]
    fn subdomain_containment_is_by_label() {
        let parent = DomainName::parse("acme.com").unwrap();
        assert!(DomainName::parse("eu.acme.com").unwrap().is_within(&parent));
        assert!(DomainName::parse("acme.com").unwrap().is_within(&parent));
        assert!(!DomainName::parse("notacme.com").unwrap().is_within(&parent));
    }
}
