//! Domain verification: the TXT record an organization publishes to prove it owns a domain, what
//! an answer from DNS means, and (in [`schedule`]) when to look again and what each answer does to
//! the domain. These are pure rules, unit-tested here. The `DomainVerifier` actor runs the
//! schedule and asks [`dns`]; the organization's actor writes every change with its event.
//!
//! The record: name `_portal-challenge.<domain>`, value `portal-verification=<token>`, the token
//! 192 random bits in base64url. The token is not a credential (anyone can read it from DNS); what
//! proves ownership is that it appears in the domain's zone.

pub mod dns;
pub mod manage;
pub mod schedule;

use crate::crypto;
use dns::TxtAnswer;

/// The label the TXT record lives under.
pub const RECORD_LABEL: &str = "_portal-challenge";
/// The key of the record's `key=value` text.
pub const VALUE_KEY: &str = "portal-verification";
/// Random bytes in a token: 192 bits (at least 128 are required), 32 base64url characters.
const TOKEN_BYTES: usize = 24;
/// At most this much of a differing record is quoted back on the widget.
const QUOTE_CHARS: usize = 80;

/// The name the TXT record must be published at.
pub fn record_name(domain: &str) -> String {
    format!("{RECORD_LABEL}.{domain}")
}

/// The text the TXT record must hold.
pub fn record_value(token: &str) -> String {
    format!("{VALUE_KEY}={token}")
}

pub fn new_token() -> String {
    crypto::random_token(TOKEN_BYTES)
}

/// Where a domain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Added; checked on the backoff schedule until its window ends.
    Pending,
    /// Proven (by DNS or by the integrator); verified domains are re-checked daily.
    Verified,
    /// The window ended without the record (or another organization verified the domain first).
    /// "Check now" can still verify it until the token expires.
    Failed,
    /// The token of a failed domain ran out; delete the domain and add it again for a new one.
    Expired,
    /// Was verified, but the record was gone for three days; checked again like a pending domain.
    Unverified,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Verified,
        Status::Failed,
        Status::Expired,
        Status::Unverified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Verified => "verified",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Unverified => "unverified",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Verified => "Verified",
            Status::Failed => "Failed",
            Status::Expired => "Expired",
            Status::Unverified => "Unverified",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// A TXT record at the name holds the expected value.
    Verified,
    /// The name exists but has no TXT record.
    NoRecord,
    /// The name does not exist.
    NxDomain,
    /// TXT records exist at the name, none with the expected value.
    Mismatch,
    Timeout,
    ServFail,
    /// Any other DNS failure (refused, malformed answer, no server reachable).
    Error,
    /// The record is right, but another organization verified the domain first.
    Claimed,
}

impl CheckKind {
    pub const ALL: [CheckKind; 8] = [
        CheckKind::Verified,
        CheckKind::NoRecord,
        CheckKind::NxDomain,
        CheckKind::Mismatch,
        CheckKind::Timeout,
        CheckKind::ServFail,
        CheckKind::Error,
        CheckKind::Claimed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Verified => "verified",
            CheckKind::NoRecord => "no_record",
            CheckKind::NxDomain => "nxdomain",
            CheckKind::Mismatch => "mismatch",
            CheckKind::Timeout => "timeout",
            CheckKind::ServFail => "servfail",
            CheckKind::Error => "error",
            CheckKind::Claimed => "claimed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the answer shows the record is not there (as opposed to DNS failing to answer,
    /// which proves nothing either way).
    pub fn proves_missing(self) -> bool {
        matches!(
            self,
            CheckKind::NoRecord | CheckKind::NxDomain | CheckKind::Mismatch
        )
    }
}

/// A check's finding and its words for the widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub kind: CheckKind,
    pub message: String,
}

impl CheckResult {
    pub fn new(kind: CheckKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn claimed() -> Self {
        Self::new(
            CheckKind::Claimed,
            "record found, but this domain is already verified by another organization",
        )
    }
}

/// What the resolver's answer means for a domain whose token is `token`. A TXT record's
/// character-strings are one text (the resolver joins them); the key is matched without regard to
/// case and surrounding blanks or quotes, the token exactly (tokens are case-sensitive base64url).
pub fn evaluate(answer: &TxtAnswer, name: &str, token: &str) -> CheckResult {
    match answer {
        TxtAnswer::Records(texts) if texts.is_empty() => {
            CheckResult::new(CheckKind::NoRecord, "no TXT record found")
        }
        TxtAnswer::Records(texts) => {
            if texts.iter().any(|t| holds_token(t, token)) {
                return CheckResult::new(CheckKind::Verified, "record found and it matches");
            }
            let quoted: Vec<String> = texts.iter().take(3).map(|t| quote(t)).collect();
            CheckResult::new(
                CheckKind::Mismatch,
                format!(
                    "record found but value differs (found {})",
                    quoted.join(", ")
                ),
            )
        }
        TxtAnswer::NoRecords => CheckResult::new(CheckKind::NoRecord, "no TXT record found"),
        TxtAnswer::NxDomain => CheckResult::new(
            CheckKind::NxDomain,
            format!("no TXT record found: the name {name} does not exist (NXDOMAIN)"),
        ),
        TxtAnswer::Timeout => CheckResult::new(CheckKind::Timeout, "DNS timed out"),
        TxtAnswer::ServFail => {
            CheckResult::new(CheckKind::ServFail, "the DNS server failed (SERVFAIL)")
        }
        TxtAnswer::Failed(why) => {
            CheckResult::new(CheckKind::Error, format!("the DNS lookup failed: {why}"))
        }
    }
}

/// Whether one TXT text is `portal-verification=<token>`.
fn holds_token(text: &str, token: &str) -> bool {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let Some((key, value)) = text.split_once('=') else {
        return false;
    };
    key.trim().eq_ignore_ascii_case(VALUE_KEY)
        && crypto::secure_eq(value.trim().as_bytes(), token.as_bytes())
}

fn quote(text: &str) -> String {
    let mut cut: String = text.chars().take(QUOTE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("\"{cut}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "_portal-challenge.acme.test";

    fn records(texts: &[&str]) -> TxtAnswer {
        TxtAnswer::Records(texts.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn tokens_carry_at_least_128_bits_in_base64url() {
        let token = new_token();
        assert_eq!(token.len(), 32);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(token, new_token());
        assert_eq!(
            record_value("abc"),
            "portal-verification=abc",
            "the value format"
        );
        assert_eq!(record_name("acme.test"), NAME);
    }

    #[test]
    fn the_right_value_among_several_records_verifies() {
        let r = evaluate(
            &records(&["v=spf1 -all", "portal-verification=Tok_en-1"]),
            NAME,
            "Tok_en-1",
        );
        assert_eq!(r.kind, CheckKind::Verified);
    }

    #[test]
    fn the_key_ignores_case_blanks_and_quotes_but_the_token_does_not() {
        for text in [
            "Portal-Verification=Tok",
            "  portal-verification = Tok ",
            "\"portal-verification=Tok\"",
        ] {
            assert_eq!(
                evaluate(&records(&[text]), NAME, "Tok").kind,
                CheckKind::Verified,
                "{text}"
            );
        }
        let r = evaluate(&records(&["portal-verification=tok"]), NAME, "Tok");
        assert_eq!(r.kind, CheckKind::Mismatch);
        assert!(r.message.starts_with("record found but value differs"));
        assert!(
            r.message.contains("portal-verification=tok"),
            "{}",
            r.message
        );
    }

    #[test]
    fn answers_are_put_in_words() {
        let cases = [
            (
                TxtAnswer::NoRecords,
                CheckKind::NoRecord,
                "no TXT record found",
            ),
            (records(&[]), CheckKind::NoRecord, "no TXT record found"),
            (
                TxtAnswer::NxDomain,
                CheckKind::NxDomain,
                "no TXT record found",
            ),
            (TxtAnswer::Timeout, CheckKind::Timeout, "DNS timed out"),
            (
                TxtAnswer::ServFail,
                CheckKind::ServFail,
                "the DNS server failed (SERVFAIL)",
            ),
            (
                TxtAnswer::Failed("refused".into()),
                CheckKind::Error,
                "the DNS lookup failed: refused",
            ),
        ];
        for (answer, kind, words) in cases {
            let r = evaluate(&answer, NAME, "Tok");
            assert_eq!(r.kind, kind);
            assert!(r.message.starts_with(words), "{}", r.message);
        }
    }

    #[test]
    fn long_differing_records_are_cut() {
        let long = "x".repeat(500);
        let r = evaluate(&records(&[&long]), NAME, "Tok");
        assert!(r.message.len() < 200 && r.message.contains('…'));
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for k in CheckKind::ALL {
            assert_eq!(CheckKind::parse(k.as_str()), Some(k));
        }
        assert!(CheckKind::Mismatch.proves_missing());
        assert!(!CheckKind::Timeout.proves_missing());
    }
}
