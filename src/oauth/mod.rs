//! The OAuth 2.0 / OpenID Connect authorization server: request validation, codes, tokens and
//! claims. Handlers in `handlers::oauth` only parse the HTTP request and render the outcome.

pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod logout;
pub mod token;

/// Scopes Portal understands; others are ignored (OIDC Core §3.1.2.1).
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The known scopes in `raw`, deduplicated, in the order given.
pub fn parse_scope(raw: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for word in raw.split(' ').filter(|w| !w.is_empty()) {
        if let Some(known) = SUPPORTED_SCOPES.iter().find(|s| **s == word)
            && !out.contains(known)
        {
            out.push(*known);
        }
    }
    out
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_scopes_are_dropped() {
        assert_eq!(
            super::parse_scope("openid  email bogus email"),
            vec!["openid", "email"]
        );
        assert!(super::has_scope("openid email", "email"));
        assert!(!super::has_scope("openid emails", "email"));
    }
}
