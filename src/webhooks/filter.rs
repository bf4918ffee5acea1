//! [`EventTypeFilter`]: which event types an endpoint subscribes to.

use std::fmt;

/// At most this many entries, each at most [`MAX_ENTRY_LEN`] characters.
pub const MAX_ENTRIES: usize = 50;
pub const MAX_ENTRY_LEN: usize = 100;

/// A parsed list of event-type filters. Each entry is an exact type (`user.created`), a prefix
/// wildcard (`user.*`, matching `user.created` and `user.organization_membership_created` but not
/// `user` itself) or `*` (every event). Segments are `[a-zA-Z0-9_]+`, separated by full stops, as
/// Standard Webhooks recommends for event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilter(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("event_types must list at least one event type (or \"*\" for all).")]
    Empty,
    #[error("event_types may list at most {MAX_ENTRIES} entries.")]
    TooMany,
    #[error(
        "\"{0}\" is not an event type: use names like user.created, a prefix like user.*, or *."
    )]
    Malformed(String),
}

fn is_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_entry(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let name = s.strip_suffix(".*").unwrap_or(s);
    s.len() <= MAX_ENTRY_LEN && name.split('.').all(is_segment)
}

impl EventTypeFilter {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, FilterError> {
        if entries.is_empty() {
            return Err(FilterError::Empty);
        }
        if entries.len() > MAX_ENTRIES {
            return Err(FilterError::TooMany);
        }
        let mut out: Vec<String> = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            if !is_entry(entry) {
                return Err(FilterError::Malformed(entry.chars().take(120).collect()));
            }
            if !out.iter().any(|e| e == entry) {
                out.push(entry.to_string());
            }
        }
        Ok(Self(out))
    }

    /// Whether an event of `event_type` goes to this endpoint.
    pub fn matches(&self, event_type: &str) -> bool {
        self.0.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            match entry.strip_suffix(".*") {
                Some(prefix) => event_type
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => entry == event_type,
            }
        })
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    pub fn into_entries(self) -> Vec<String> {
        self.0
    }
}

impl fmt::Display for EventTypeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_and_prefixes_match() {
        let f = EventTypeFilter::parse(&["user.created", "webhook.*"]).unwrap();
        assert!(f.matches("user.created"));
        assert!(!f.matches("user.created_later"));
        assert!(!f.matches("user.deleted"));
        assert!(f.matches("webhook.endpoint_disabled"));
        assert!(f.matches("webhook.a.b"));
        assert!(!f.matches("webhook"));
        assert!(!f.matches("webhooks.x"));
    }

    #[test]
    fn star_matches_everything() {
        let f = EventTypeFilter::parse(&["*"]).unwrap();
        assert!(f.matches("user.created"));
        assert!(f.matches("anything"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "",
            " ",
            "user.",
            ".user",
            "user..created",
            "user.*.x",
            "us er",
            "user.c*",
            "*.x",
            "user-created",
            "ü.x",
        ] {
            assert!(
                matches!(
                    EventTypeFilter::parse(&[bad]),
                    Err(FilterError::Malformed(_))
                ),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(EventTypeFilter::parse::<&str>(&[]), Err(FilterError::Empty));
        let many: Vec<String> = (0..51).map(|i| format!("e{i}")).collect();
        assert_eq!(EventTypeFilter::parse(&many), Err(FilterError::TooMany));
        assert!(EventTypeFilter::parse(&["a".repeat(101)]).is_err());
    }

    #[test]
    fn duplicates_collapse_and_whitespace_is_trimmed() {
        let f = EventTypeFilter::parse(&[" user.created", "user.created "]).unwrap();
        assert_eq!(f.entries(), ["user.created"]);
    }

    #[test]
    fn any_well_formed_name_matches_itself_and_its_prefix() {
        // A small exhaustive sweep over segment shapes stands in for a property test.
        let segments = ["a", "Z9", "_", "user", "organization_membership"];
        for a in segments {
            for b in segments {
                let name = format!("{a}.{b}");
                let exact = EventTypeFilter::parse(&[name.as_str()]).unwrap();
                assert!(exact.matches(&name));
                let prefix = EventTypeFilter::parse(&[format!("{a}.*")]).unwrap();
                assert!(prefix.matches(&name));
                assert!(!prefix.matches(a));
            }
        }
    }
}
