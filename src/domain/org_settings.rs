//! The values an organization's settings and the environment's branding hold: a display name, an
//! image URL, a list of allowed email domains and a brand colour. Each parses at the boundary and
//! says in words what is wrong.

use super::{DomainName, ParseError};

/// Longest organization or role display name.
pub const MAX_NAME_CHARS: usize = 100;

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(ParseError::new("Enter a name."));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ParseError::new(format!(
                "Use at most {MAX_NAME_CHARS} characters."
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(ParseError::new(
                "The name cannot contain control characters.",
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An https URL of an image (logo, favicon). Plain http is refused: pages are served over https and
/// would show mixed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    /// `None` for an empty input (no image).
    pub fn parse_optional(input: &str) -> Result<Option<Self>, ParseError> {
        let input = input.trim();
        if input.is_empty() {
            return Ok(None);
        }
        if input.len() > 2048 {
            return Err(ParseError::new(
                "Use an address of at most 2048 characters.",
            ));
        }
        let url = url::Url::parse(input).map_err(|_| {
            ParseError::new("Enter a full address, such as https://example.com/logo.png.")
        })?;
        if url.scheme() != "https" || url.host_str().is_none() {
            return Err(ParseError::new("Use an https:// address."));
        }
        Ok(Some(Self(url.to_string())))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Allowed email domains, one a line (or comma-separated): each parsed as a [`DomainName`]
/// (lower-cased, international names in their `xn--` form), public mail providers refused,
/// duplicates dropped.
pub fn parse_allowed_domains(input: &str) -> Result<Vec<String>, ParseError> {
    let mut out: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for part in input
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match DomainName::parse(part) {
            Ok(d) if d.is_public_mail_provider() => {
                problems.push(format!("{d} is a public email provider"));
            }
            Ok(d) => {
                if !out.iter().any(|o| o == d.as_str()) {
                    out.push(d.as_str().to_string());
                }
            }
            Err(_) => problems.push(format!("\"{part}\" is not a domain")),
        }
    }
    if !problems.is_empty() {
        return Err(ParseError::new(format!("{}.", problems.join("; "))));
    }
    if out.len() > 50 {
        return Err(ParseError::new("List at most 50 domains."));
    }
    Ok(out)
}

/// A colour as `#rrggbb`, stored lower-cased (`#abc` is widened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexColor(String);

impl HexColor {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let hex = input.trim().strip_prefix('#').unwrap_or("");
        let hex = match hex.len() {
            3 => hex.chars().flat_map(|c| [c, c]).collect::<String>(),
            6 => hex.to_string(),
            _ => String::new(),
        };
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ParseError::new(
                "Use a colour such as #4f46e5 (a # and six hex digits).",
            ));
        }
        Ok(Self(format!("#{}", hex.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lowered_punycoded_and_public_providers_refused() {
        let list = parse_allowed_domains("Example.COM\nbücher.example, example.com").expect("ok");
        assert_eq!(list, vec!["example.com", "xn--bcher-kva.example"]);
        let err = parse_allowed_domains("gmail.com, not a domain!").expect_err("refused");
        assert!(
            err.to_string()
                .contains("gmail.com is a public email provider")
        );
        assert!(parse_allowed_domains("").expect("empty is fine").is_empty());
    }

    #[test]
    fn image_urls_must_be_https() {
        assert!(ImageUrl::parse_optional("").expect("empty").is_none());
        assert!(
            ImageUrl::parse_optional("https://cdn.example/logo.png")
                .expect("ok")
                .is_some()
        );
        assert!(ImageUrl::parse_optional("http://cdn.example/logo.png").is_err());
        assert!(ImageUrl::parse_optional("javascript:alert(1)").is_err());
    }

    #[test]
    fn colours_are_hex() {
        assert_eq!(HexColor::parse("#ABC").expect("ok").as_str(), "#aabbcc");
        assert_eq!(HexColor::parse("#4F46E5").expect("ok").as_str(), "#4f46e5");
        for bad in ["red", "#12345", "4f46e5", "#ggg", "#4f46e5;x"] {
            assert!(HexColor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("  Acme ").expect("ok").into_string(),
            "Acme"
        );
        assert!(DisplayName::parse(" ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
    }
}
