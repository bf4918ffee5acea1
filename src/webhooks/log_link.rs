//! Signed, short-lived links to an endpoint's delivery log page.
//!
//! The integrator has no browser session in Portal, so the management API hands out a link
//! (`POST /api/v1/webhooks/{id}/log-link`) the integrator can open or embed in its own admin page.
//! The token is `{expiry seconds}.{base64url HMAC}` over the endpoint id and the expiry, under the
//! cookie key; it opens that endpoint's log (page and live stream) and nothing else, until expiry.

use crate::crypto::HmacKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::Duration;

/// How long a log link works.
pub const LOG_LINK_TTL: Duration = Duration::from_secs(3600);

fn message(endpoint_id: &str, expires_at: i64) -> Vec<u8> {
    format!("portal-webhook-log\n{endpoint_id}\n{expires_at}").into_bytes()
}

/// A token for `endpoint_id` and its expiry (Unix seconds).
pub fn issue(key: &HmacKey, endpoint_id: &str, now_secs: i64) -> (String, i64) {
    let expires_at = now_secs + LOG_LINK_TTL.as_secs() as i64;
    let tag = key.sign(&message(endpoint_id, expires_at));
    (
        format!("{expires_at}.{}", URL_SAFE_NO_PAD.encode(tag)),
        expires_at,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("This link is not valid for this webhook endpoint.")]
    Invalid,
    #[error("This link has expired. Ask for a new one through the management API.")]
    Expired,
}

/// Checks a token for `endpoint_id`; returns its expiry.
pub fn verify(
    key: &HmacKey,
    endpoint_id: &str,
    token: &str,
    now_secs: i64,
) -> Result<i64, LinkError> {
    let (exp, tag) = token.split_once('.').ok_or(LinkError::Invalid)?;
    let expires_at: i64 = exp.parse().map_err(|_| LinkError::Invalid)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| LinkError::Invalid)?;
    if !key.verify(&message(endpoint_id, expires_at), &tag) {
        return Err(LinkError::Invalid);
    }
    if expires_at <= now_secs {
        return Err(LinkError::Expired);
    }
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_own_endpoint_until_it_expires() {
        let key = HmacKey::new(b"k");
        let (token, exp) = issue(&key, "whe_1", 1000);
        assert_eq!(exp, 1000 + 3600);
        assert_eq!(verify(&key, "whe_1", &token, 1001), Ok(exp));
        assert_eq!(verify(&key, "whe_2", &token, 1001), Err(LinkError::Invalid));
        assert_eq!(verify(&key, "whe_1", &token, exp), Err(LinkError::Expired));
        assert_eq!(
            verify(&HmacKey::new(b"other"), "whe_1", &token, 1001),
            Err(LinkError::Invalid)
        );
        let forged = format!("{}{}", exp + 100, &token[token.find('.').unwrap()..]);
        assert_eq!(
            verify(&key, "whe_1", &forged, 1001),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            verify(&key, "whe_1", "garbage", 1001),
            Err(LinkError::Invalid)
        );
    }
}
