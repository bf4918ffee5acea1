//! Endpoint signing secrets and the Standard Webhooks signature (`v1`, HMAC-SHA256).
//!
//! A secret is shown to the integrator as `whsec_<base64>` and signs `{webhook-id}.{timestamp}.{body}`;
//! the `webhook-signature` header carries `v1,<base64 tag>`, one per secret in force, separated by
//! spaces (both the new and the previous secret during a rotation's overlap window).

use crate::crypto::{HmacKey, random_bytes};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Standard Webhooks asks for 24 to 64 bytes; 32 is the HMAC-SHA256 block-friendly middle.
pub const SECRET_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;
pub const PREFIX: &str = "whsec_";

/// A symmetric signing secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret looks like whsec_ followed by base64")]
    Malformed,
    #[error("a webhook secret has between {MIN_BYTES} and {MAX_BYTES} bytes")]
    Length,
}

impl WebhookSecret {
    pub fn generate() -> Self {
        Self(random_bytes(SECRET_BYTES))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if (MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(SecretError::Length)
        }
    }

    /// Parses the `whsec_…` form.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = STANDARD.decode(b64).map_err(|_| SecretError::Malformed)?;
        Self::from_bytes(bytes)
    }

    /// The `whsec_…` form, for the integrator (returned by create and rotate only).
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut content = Vec::with_capacity(msg_id.len() + body.len() + 24);
        content.extend_from_slice(msg_id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.to_string().as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        format!(
            "v1,{}",
            STANDARD.encode(HmacKey::new(&self.0).sign(&content))
        )
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// The `webhook-signature` header value: one `v1,` signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector used across the Standard Webhooks libraries.
    #[test]
    fn signs_the_reference_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_round_trip_and_hide_in_debug() {
        let s = WebhookSecret::generate();
        let shown = s.reveal();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&shown).unwrap(), s);
        assert_eq!(s.as_bytes().len(), SECRET_BYTES);
        assert_eq!(format!("{s:?}"), "WebhookSecret(…)");
        assert_ne!(WebhookSecret::generate(), s);
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert_eq!(WebhookSecret::parse("whsec_YWJj"), Err(SecretError::Length));
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Malformed)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_!!!"),
            Err(SecretError::Malformed)
        );
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        let header = signature_header(&[&a, &b], "evt_1", 5, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("evt_1", 5, b"{}"), b.sign("evt_1", 5, b"{}")]
        );
    }
}
