use super::ParseError;

/// A password someone chose (at sign-up or reset): at least 12 characters and not guessable by
/// zxcvbn's estimate (score 3 of 4 or better, taking the person's name and email into account).
/// Refusals say why, in words fit for the form.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    /// Long enough for any passphrase; bounds the hashing and estimation work per request.
    pub const MAX_CHARS: usize = 256;
    /// zxcvbn's cost grows with length; a prefix this long decides the score just as well.
    const ESTIMATE_CHARS: usize = 64;

    /// `user_inputs` are words the person's own data makes easy to guess (name, email parts).
    pub fn parse(input: &str, user_inputs: &[&str]) -> Result<Self, ParseError> {
        let chars = input.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ParseError::new(format!(
                "Use at least {} characters (this one has {chars}).",
                Self::MIN_CHARS
            )));
        }
        if chars > Self::MAX_CHARS {
            return Err(ParseError::new(format!(
                "Use at most {} characters.",
                Self::MAX_CHARS
            )));
        }
        let sample: String = input.chars().take(Self::ESTIMATE_CHARS).collect();
        let inputs: Vec<&str> = user_inputs
            .iter()
            .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()))
            .filter(|w| w.len() >= 3)
            .collect();
        let estimate = zxcvbn::zxcvbn(&sample, &inputs);
        if u8::from(estimate.score()) >= 3 {
            return Ok(Self(input.to_string()));
        }
        let mut reason = String::from("This password is too easy to guess.");
        if let Some(feedback) = estimate.feedback() {
            if let Some(warning) = feedback.warning() {
                reason.push(' ');
                reason.push_str(&warning.to_string());
            }
            if let Some(first) = feedback.suggestions().first() {
                reason.push(' ');
                reason.push_str(&first.to_string());
            }
        }
        Err(ParseError::new(reason))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::NewPassword;

    #[test]
    fn short_passwords_are_refused_with_the_count() {
        let err = NewPassword::parse("Tr0ub4dor&3", &[]).unwrap_err();
        assert!(
            err.0.contains("at least 12") && err.0.contains("11"),
            "{err}"
        );
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for weak in ["password1234", "qwertyuiopasdf", "aaaaaaaaaaaaaaaa"] {
            let err = NewPassword::parse(weak, &[]).unwrap_err();
            assert!(
                err.0.starts_with("This password is too easy to guess."),
                "{weak}: {err}"
            );
            assert!(
                err.0.len() > "This password is too easy to guess.".len(),
                "{weak} has a reason"
            );
        }
        assert!(
            NewPassword::parse("lovelace12345", &["Ada Lovelace", "ada@lovelace.test"]).is_err()
        );
    }

    #[test]
    fn strong_passphrases_pass() {
        for strong in [
            "correct-horse-battery-staple",
            "Velvet tangerine orbits 42 moons",
        ] {
            assert!(
                NewPassword::parse(strong, &["someone@example.com"]).is_ok(),
                "{strong}"
            );
        }
        assert!(NewPassword::parse(&"x".repeat(300), &[]).is_err());
    }
}
