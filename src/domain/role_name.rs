use super::ParseError;

/// A role's machine name: lower-case letters, digits, `_` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleName(String);

impl RoleName {
    pub const ADMIN: &'static str = "admin";
    pub const MEMBER: &'static str = "member";

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let name = input.trim();
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(name.to_string()))
        } else {
            Err(ParseError::new(format!(
                "\"{name}\" is not a valid role name: use 1 to 64 lower-case letters, digits, '_' or '-', starting with a letter."
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_machine_names_only() {
        assert!(RoleName::parse("billing_admin").is_ok());
        for bad in ["", "Admin", "1st", "a b", "x".repeat(65).as_str()] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
