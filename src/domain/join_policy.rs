use super::ParseError;

/// What happens when someone signs up with an address on one of an organization's verified
/// domains: nothing, a suggestion to join (which they may decline), or joining at once as a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainJoinPolicy {
    Off,
    Suggest,
    Auto,
}

impl DomainJoinPolicy {
    pub const ALL: [DomainJoinPolicy; 3] = [
        DomainJoinPolicy::Off,
        DomainJoinPolicy::Suggest,
        DomainJoinPolicy::Auto,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DomainJoinPolicy::Off => "off",
            DomainJoinPolicy::Suggest => "suggest",
            DomainJoinPolicy::Auto => "auto",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let wanted = input.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| ParseError::new("Choose off, suggest or auto."))
    }

    /// A stored value; anything unknown reads as `off`, the safe choice.
    pub fn from_stored(value: &str) -> Self {
        Self::parse(value).unwrap_or(DomainJoinPolicy::Off)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            DomainJoinPolicy::Off => "Off: people join only by invitation",
            DomainJoinPolicy::Suggest => "Suggest: offer to join after sign-up",
            DomainJoinPolicy::Auto => "Automatic: join as a member at sign-up",
        }
    }
}

impl std::fmt::Display for DomainJoinPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_values_are_off() {
        for p in DomainJoinPolicy::ALL {
            assert_eq!(DomainJoinPolicy::parse(p.as_str()), Ok(p));
        }
        assert_eq!(
            DomainJoinPolicy::parse(" AUTO "),
            Ok(DomainJoinPolicy::Auto)
        );
        assert!(DomainJoinPolicy::parse("always").is_err());
        assert_eq!(DomainJoinPolicy::from_stored("???"), DomainJoinPolicy::Off);
    }
}
