use super::{DomainName, ParseError};

/// An email address, lower-cased, with its domain in ASCII form.
///
/// Portal treats addresses case-insensitively (as every mainstream provider does), so `Ann@Acme.com`
/// and `ann@acme.com` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    full: String,
    at: usize,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new("Enter an email address."));
        }
        let invalid = || ParseError::new(format!("\"{trimmed}\" is not a valid email address."));
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(invalid());
        }
        let domain = DomainName::parse(domain).map_err(|_| invalid())?;
        let full = format!("{}@{}", local.to_lowercase(), domain.as_str());
        if full.len() > 254 {
            return Err(ParseError::new(
                "An email address can be at most 254 characters long.",
            ));
        }
        let at = full.rfind('@').ok_or_else(invalid)?;
        Ok(Self { full, at })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn domain(&self) -> DomainName {
        // The domain part was parsed when the address was, so this cannot fail.
        DomainName::parse(&self.full[self.at + 1..]).unwrap_or_else(|_| unreachable!())
    }

    pub fn into_string(self) -> String {
        self.full
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        let email = EmailAddress::parse("  Ann.Lee+x@Acme.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.lee+x@acme.com");
        assert_eq!(email.domain().as_str(), "acme.com");
    }

    #[test]
    fn converts_idn_domain() {
        assert_eq!(
            EmailAddress::parse("ann@bücher.example").unwrap().as_str(),
            "ann@xn--bcher-kva.example"
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "ann",
            "@acme.com",
            "ann@",
            "ann@acme",
            "ann lee@acme.com",
            "ann@@acme.com",
            ".ann@acme.com",
            "ann..lee@acme.com",
            "ann@acme..com",
            "<ann@acme.com>",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        // A cheap deterministic sweep over awkward characters and lengths.
        let pieces = [
            "a", "@", ".", "é", "\u{0}", " ", "-", "xn--", "😀", "\"", "b.c",
        ];
        for i in 0..pieces.len() {
            for j in 0..pieces.len() {
                for k in 0..pieces.len() {
                    let s = format!(
                        "{}{}{}{}",
                        pieces[i],
                        pieces[j],
                        pieces[k],
                        pieces[i].repeat(40)
                    );
                    let _ = EmailAddress::parse(&s);
                }
            }
        }
    }
}
