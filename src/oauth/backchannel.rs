//! OpenID Connect Back-Channel Logout 1.0: the logout token and the retry schedule.
//!
//! The token (§2.4) is a JWT signed with the same key as ID tokens, typed `logout+jwt` (the
//! explicit typing the specification recommends, so it cannot be mistaken for an ID token), with
//! `iss`, `aud` (the client), `iat`, `exp`, `jti`, `sub`, `sid` and `events` holding the
//! back-channel-logout event as an empty object. It never carries a `nonce` (§2.4 forbids it, so a
//! logout token cannot be replayed as an ID token). It is POSTed as the form field `logout_token`
//! (§2.5); any 2xx answer is success (§2.8), anything else is retried on the schedule below.

use crate::keys::KeyStore;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Lifetime of a logout token: short, as §4 advises, so a captured one cannot be replayed later.
/// Each attempt signs a fresh token.
pub const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

#[derive(Debug, Serialize)]
pub struct LogoutClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: &'a str,
    pub sid: &'a str,
    pub events: BTreeMap<&'static str, serde_json::Map<String, serde_json::Value>>,
}

/// A signed logout token for the session `sid` of user `sub`, for client `aud`.
pub fn logout_token(
    keys: &KeyStore,
    issuer: &str,
    aud: &str,
    sub: &str,
    sid: &str,
    now_secs: i64,
) -> anyhow::Result<String> {
    let claims = LogoutClaims {
        iss: issuer,
        aud,
        iat: now_secs,
        exp: now_secs + LOGOUT_TOKEN_TTL_SECS,
        jti: crate::crypto::random_token(16),
        sub,
        sid,
        events: BTreeMap::from([(BACKCHANNEL_LOGOUT_EVENT, serde_json::Map::new())]),
    };
    keys.sign_jwt(LOGOUT_TOKEN_TYP, &claims)
}

/// Delays before attempts 2, 3, …: quick at first (a receiver restarting), then spread over a day.
/// After the last, the delivery is `failed`.
const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(24 * 60 * 60),
];

/// Per-attempt request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The schedule, scaled for tests (the webhook retry scale, `PORTAL_WEBHOOK_RETRY_SCALE`).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    scale: f64,
}

impl Schedule {
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale.min(1.0)
        } else {
            1.0
        };
        Self { scale }
    }

    /// The delay after `attempts_made` failed attempts, with ±20 % jitter from `unit` in `[0, 1)`;
    /// `None` once the schedule is spent.
    pub fn delay_after(&self, attempts_made: u32, unit: f64) -> Option<Duration> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        let base = SCHEDULE.get(index)?.mul_f64(self.scale);
        Some(base.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0)))
    }

    pub fn max_attempts(&self) -> u32 {
        SCHEDULE.len() as u32 + 1
    }

    pub fn request_timeout(&self) -> Duration {
        REQUEST_TIMEOUT
            .mul_f64(self.scale)
            .max(Duration::from_secs(2))
    }

    pub fn lease(&self) -> Duration {
        self.request_timeout() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_ends_after_eight_attempts() {
        let s = Schedule::scaled(1.0);
        assert_eq!(s.delay_after(0, 0.5), None);
        assert_eq!(s.delay_after(1, 0.5), Some(Duration::from_secs(5)));
        assert!(s.delay_after(7, 0.5).is_some());
        assert_eq!(s.delay_after(8, 0.5), None);
        assert_eq!(s.max_attempts(), 8);
        let fast = Schedule::scaled(0.001);
        assert!(fast.delay_after(1, 0.99).unwrap() < Duration::from_millis(10));
        assert_eq!(fast.request_timeout(), Duration::from_secs(2));
    }
}
