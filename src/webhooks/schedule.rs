//! When attempts happen: the retry schedule, its jitter, `Retry-After`, the request timeout and
//! the lease, and when a failing endpoint is given up on.

use std::time::Duration;

/// Delay before each attempt (Standard Webhooks' example schedule, cut at eight attempts, about
/// 28 hours in all): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. After the last one
/// fails the delivery is `failed` (it can still be replayed).
pub const SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// An endpoint that has failed every attempt for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// Standard Webhooks recommends 15–30 s; we take the low end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Retry delays are spread by ±20 % so endpoints that failed together do not retry together.
const JITTER: f64 = 0.2;

/// The schedule as configured. `scale` multiplies every delay; it exists so tests can run the
/// whole schedule in milliseconds (`PORTAL_WEBHOOK_RETRY_SCALE`, tests only) and is 1 otherwise.
/// Below 1 it also shortens the request timeout and the lease, never below 2 s and 4 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    scale: f64,
}

impl Default for Timing {
    fn default() -> Self {
        Self { scale: 1.0 }
    }
}

impl Timing {
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale.min(1.0)
        } else {
            1.0
        };
        Self { scale }
    }

    pub fn max_attempts(&self) -> u32 {
        SCHEDULE.len() as u32
    }

    /// The delay before attempt `next` (1-based), before jitter; `None` once the schedule is spent.
    pub fn base_delay(&self, next: u32) -> Option<Duration> {
        let index = usize::try_from(next.checked_sub(1)?).ok()?;
        SCHEDULE.get(index).map(|d| d.mul_f64(self.scale))
    }

    /// The delay before attempt `next`, with jitter drawn from `unit` (uniform in `[0, 1)`).
    pub fn delay(&self, next: u32, unit: f64) -> Option<Duration> {
        let base = self.base_delay(next)?;
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }

    /// The whole-request timeout: connect, send, and read the response head and snippet.
    pub fn request_timeout(&self) -> Duration {
        REQUEST_TIMEOUT
            .mul_f64(self.scale)
            .max(Duration::from_secs(2))
    }

    /// How long a claimed delivery stays claimed. It outlasts the request timeout, so an attempt
    /// still in flight is never claimed again; when it runs out, the node is presumed dead and any
    /// node may retry.
    pub fn lease(&self) -> Duration {
        self.request_timeout() * 2
    }
}

/// A uniform draw in `[0, 1)` for jitter.
pub fn unit_random() -> f64 {
    f64::from(crate::crypto::random_below(1 << 24)) / f64::from(1u32 << 24)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), capped at
/// [`MAX_RETRY_AFTER`]; `None` when absent or unreadable.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_immediately_then_backing_off() {
        let t = Timing::default();
        let secs: Vec<u64> = (1..=8)
            .map(|n| t.base_delay(n).unwrap().as_secs())
            .collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(t.base_delay(9), None);
        assert_eq!(t.base_delay(0), None);
        assert_eq!(t.max_attempts(), 8);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let t = Timing::default();
        assert_eq!(t.delay(2, 0.0).unwrap(), Duration::from_secs(4));
        assert_eq!(t.delay(2, 1.0).unwrap(), Duration::from_secs(6));
        assert_eq!(t.delay(1, 0.7).unwrap(), Duration::ZERO);
        for _ in 0..100 {
            let d = t.delay(3, unit_random()).unwrap().as_secs_f64();
            assert!((240.0..=360.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn scale_shrinks_delays_but_keeps_timeouts_sane() {
        let t = Timing::scaled(0.001);
        assert_eq!(t.base_delay(2).unwrap(), Duration::from_millis(5));
        assert_eq!(t.request_timeout(), Duration::from_secs(2));
        assert_eq!(t.lease(), Duration::from_secs(4));
        let d = Timing::default();
        assert_eq!(d.request_timeout(), Duration::from_secs(15));
        assert_eq!(d.lease(), Duration::from_secs(30));
        assert_eq!(Timing::scaled(f64::NAN), Timing::default());
        assert_eq!(Timing::scaled(7.0), Timing::default());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("9999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
