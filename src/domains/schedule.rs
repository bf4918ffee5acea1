//! When a domain is checked and what each answer does to it: a pure function from the domain's
//! state, the answer and the time to the next state, the next check and the event to publish.
//!
//! - pending (and unverified): checked 1 minute after it is added (time to publish the record),
//!   then after 5 and 15 more minutes, then hourly, until the record matches (verified) or the
//!   7-day window ends (failed). "Check now" checks at once and counts as a check;
//! - verified by DNS: re-checked daily; a record that is gone is re-checked hourly, and after three
//!   days gone the domain is unverified (and checked again like a pending one, in a new window).
//!   DNS failing to answer (timeout, SERVFAIL) proves nothing and starts no grace period;
//! - verified by the integrator (`admin`): never re-checked on its own;
//! - failed: "Check now" may still verify it for 30 days after the window, then it expires.

use super::{CheckKind, Status};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// The waits before the first, second and third check of a window; every later one waits
/// [`LATER`].
pub const BACKOFF: [i64; 3] = [MINUTE, 5 * MINUTE, 15 * MINUTE];
pub const LATER: i64 = HOUR;
/// How long a pending domain is checked before it fails.
pub const WINDOW: i64 = 7 * DAY;
/// How often a verified domain's record is looked at again.
pub const RECHECK_VERIFIED: i64 = DAY;
/// How often a verified domain whose record is gone (or whose DNS does not answer) is looked at.
pub const RECHECK_TROUBLED: i64 = HOUR;
/// How long a verified domain's record may be gone before the domain is unverified.
pub const MISSING_GRACE: i64 = 3 * DAY;
/// How long after its window a failed domain's token still verifies it through "Check now".
pub const FAILED_TOKEN_LIFETIME: i64 = 30 * DAY;
/// A claimed check must be recorded within this long; after it another node may take the domain.
pub const LEASE: i64 = 2 * MINUTE;

pub const METHOD_DNS: &str = "dns";
pub const METHOD_ADMIN: &str = "admin";

pub const EVENT_CREATED: &str = "organization.domain_created";
pub const EVENT_DELETED: &str = "organization.domain_deleted";
pub const EVENT_DNS_SUCCESS: &str = "organization.domain_dns_verification_success";
pub const EVENT_DNS_FAILED: &str = "organization.domain_dns_verification_failed";
/// The integrator marked the domain verified (`verification_method: admin`).
pub const EVENT_VERIFIED: &str = "organization.domain_verified";
/// A verified domain whose record was gone for [`MISSING_GRACE`].
pub const EVENT_UNVERIFIED: &str = "organization.domain_unverified";
/// A failed domain's token ran out.
pub const EVENT_EXPIRED: &str = "organization.domain_verification_expired";

/// The part of a domain the rules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub method: Option<String>,
    pub attempts: i32,
    pub missing_since: Option<i64>,
    pub verified_at: Option<i64>,
    /// The end of the current window.
    pub expires_at: i64,
}

/// The state after a check, and what to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub status: Status,
    pub method: Option<String>,
    pub attempts: i32,
    pub missing_since: Option<i64>,
    pub verified_at: Option<i64>,
    pub expires_at: i64,
    pub next_check_at: Option<i64>,
    pub event: Option<&'static str>,
}

/// The wait before the next check when `done` checks of the window were made.
pub fn backoff(done: i32) -> i64 {
    usize::try_from(done)
        .ok()
        .and_then(|i| BACKOFF.get(i).copied())
        .unwrap_or(LATER)
}

/// When a failed domain's token runs out.
pub fn token_expiry(window_end: i64) -> i64 {
    window_end + FAILED_TOKEN_LIFETIME
}

/// A newly added domain: its first check and the end of its window.
pub fn first(now: i64) -> (i64, i64) {
    (now + backoff(0), now + WINDOW)
}

/// Whether a due domain needs a DNS lookup at all: a failed domain only waits for its token to
/// expire, and an expired one is never looked at.
pub fn needs_lookup(status: Status, manual: bool) -> bool {
    match status {
        Status::Expired => false,
        Status::Failed => manual,
        _ => true,
    }
}

/// The next state of `s` after a check at `now` that found `found` (`None`: no lookup was made).
pub fn step(s: &State, found: Option<CheckKind>, now: i64) -> Step {
    let same = Step {
        status: s.status,
        method: s.method.clone(),
        attempts: s.attempts,
        missing_since: s.missing_since,
        verified_at: s.verified_at,
        expires_at: s.expires_at,
        next_check_at: None,
        event: None,
    };
    let verified = Step {
        status: Status::Verified,
        method: Some(METHOD_DNS.into()),
        attempts: 0,
        missing_since: None,
        verified_at: Some(now),
        next_check_at: Some(now + RECHECK_VERIFIED),
        event: Some(EVENT_DNS_SUCCESS),
        ..same.clone()
    };
    let failed = Step {
        status: Status::Failed,
        next_check_at: Some(token_expiry(s.expires_at)),
        event: Some(EVENT_DNS_FAILED),
        ..same.clone()
    };
    match s.status {
        Status::Expired => same,
        Status::Failed => {
            if now >= token_expiry(s.expires_at) {
                Step {
                    status: Status::Expired,
                    next_check_at: None,
                    event: Some(EVENT_EXPIRED),
                    ..same
                }
            } else if found == Some(CheckKind::Verified) {
                verified
            } else {
                Step {
                    next_check_at: Some(token_expiry(s.expires_at)),
                    ..same
                }
            }
        }
        Status::Pending | Status::Unverified => match found {
            Some(CheckKind::Verified) => verified,
            Some(CheckKind::Claimed) => Step {
                expires_at: s.expires_at.min(now),
                next_check_at: Some(token_expiry(s.expires_at.min(now))),
                ..failed
            },
            _ => {
                let attempts = s.attempts.saturating_add(1);
                if now >= s.expires_at {
                    Step { attempts, ..failed }
                } else {
                    Step {
                        attempts,
                        next_check_at: Some((now + backoff(attempts)).min(s.expires_at)),
                        ..same
                    }
                }
            }
        },
        Status::Verified if s.method.as_deref() == Some(METHOD_ADMIN) => same,
        Status::Verified => match found {
            Some(CheckKind::Verified) => Step {
                missing_since: None,
                next_check_at: Some(now + RECHECK_VERIFIED),
                ..same
            },
            Some(kind) if kind.proves_missing() => {
                let since = s.missing_since.unwrap_or(now);
                if now - since >= MISSING_GRACE {
                    Step {
                        status: Status::Unverified,
                        method: None,
                        attempts: 0,
                        missing_since: Some(since),
                        verified_at: None,
                        expires_at: now + WINDOW,
                        next_check_at: Some(now + backoff(0)),
                        event: Some(EVENT_UNVERIFIED),
                    }
                } else {
                    Step {
                        missing_since: Some(since),
                        next_check_at: Some(now + RECHECK_TROUBLED),
                        ..same
                    }
                }
            }
            _ => Step {
                next_check_at: Some(now + RECHECK_TROUBLED),
                ..same
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn pending() -> State {
        State {
            status: Status::Pending,
            method: None,
            attempts: 0,
            missing_since: None,
            verified_at: None,
            expires_at: T0 + WINDOW,
        }
    }

    /// The state a step leaves behind.
    fn after(step: &Step) -> State {
        State {
            status: step.status,
            method: step.method.clone(),
            attempts: step.attempts,
            missing_since: step.missing_since,
            verified_at: step.verified_at,
            expires_at: step.expires_at,
        }
    }

    #[test]
    fn checks_back_off_one_five_fifteen_minutes_then_hourly() {
        let mut s = pending();
        let (first_check, window_end) = first(T0);
        assert_eq!(window_end, T0 + WINDOW);
        let mut now = first_check;
        let mut waits = vec![(first_check - T0) / MINUTE];
        for _ in 0..5 {
            let step = step(&s, Some(CheckKind::NoRecord), now);
            assert_eq!(step.status, Status::Pending);
            assert_eq!(step.event, None);
            let next = step.next_check_at.expect("scheduled");
            waits.push((next - now) / MINUTE);
            now = next;
            s = after(&step);
        }
        assert_eq!(waits, [1, 5, 15, 60, 60, 60]);
    }

    #[test]
    fn a_match_verifies_and_schedules_the_daily_recheck() {
        let step = step(&pending(), Some(CheckKind::Verified), T0 + 6 * MINUTE);
        assert_eq!(step.status, Status::Verified);
        assert_eq!(step.method.as_deref(), Some(METHOD_DNS));
        assert_eq!(step.verified_at, Some(T0 + 6 * MINUTE));
        assert_eq!(step.next_check_at, Some(T0 + 6 * MINUTE + DAY));
        assert_eq!(step.event, Some(EVENT_DNS_SUCCESS));
    }

    #[test]
    fn the_last_check_of_the_window_falls_on_its_end_and_then_fails() {
        let s = State {
            attempts: 30,
            ..pending()
        };
        let near_end = s.expires_at - 10 * MINUTE;
        let step1 = step(&s, Some(CheckKind::Mismatch), near_end);
        assert_eq!(
            step1.next_check_at,
            Some(s.expires_at),
            "not past the window"
        );
        let s = after(&step1);
        let step2 = step(&s, Some(CheckKind::Mismatch), s.expires_at);
        assert_eq!(step2.status, Status::Failed);
        assert_eq!(step2.event, Some(EVENT_DNS_FAILED));
        assert_eq!(
            step2.next_check_at,
            Some(s.expires_at + FAILED_TOKEN_LIFETIME)
        );
    }

    #[test]
    fn a_failed_domain_can_still_verify_until_its_token_expires() {
        let s = State {
            status: Status::Failed,
            ..pending()
        };
        let soon = s.expires_at + DAY;
        assert!(needs_lookup(Status::Failed, true));
        assert!(!needs_lookup(Status::Failed, false));
        let still = step(&s, Some(CheckKind::NoRecord), soon);
        assert_eq!((still.status, still.event), (Status::Failed, None));
        let ok = step(&s, Some(CheckKind::Verified), soon);
        assert_eq!(ok.status, Status::Verified);
        let late = step(&s, None, token_expiry(s.expires_at));
        assert_eq!(late.status, Status::Expired);
        assert_eq!(late.event, Some(EVENT_EXPIRED));
        assert_eq!(late.next_check_at, None);
        assert!(!needs_lookup(Status::Expired, true));
    }

    #[test]
    fn a_claim_by_another_organization_fails_the_domain_at_once() {
        let step = step(&pending(), Some(CheckKind::Claimed), T0 + MINUTE);
        assert_eq!(step.status, Status::Failed);
        assert_eq!(step.event, Some(EVENT_DNS_FAILED));
        assert_eq!(step.expires_at, T0 + MINUTE);
    }

    #[test]
    fn a_verified_record_gone_for_three_days_unverifies_the_domain() {
        let verified = State {
            status: Status::Verified,
            method: Some(METHOD_DNS.into()),
            verified_at: Some(T0),
            ..pending()
        };
        let gone_at = T0 + DAY;
        let first = step(&verified, Some(CheckKind::NxDomain), gone_at);
        assert_eq!(first.status, Status::Verified);
        assert_eq!(first.missing_since, Some(gone_at));
        assert_eq!(first.next_check_at, Some(gone_at + HOUR));
        let s = after(&first);
        let timeout = step(&s, Some(CheckKind::Timeout), gone_at + 2 * DAY);
        assert_eq!(
            (timeout.status, timeout.missing_since),
            (Status::Verified, Some(gone_at)),
            "a timeout neither starts nor ends the grace"
        );
        let before = step(&s, Some(CheckKind::NoRecord), gone_at + MISSING_GRACE - 1);
        assert_eq!(before.status, Status::Verified);
        let after = step(&s, Some(CheckKind::NoRecord), gone_at + MISSING_GRACE);
        assert_eq!(after.status, Status::Unverified);
        assert_eq!(after.event, Some(EVENT_UNVERIFIED));
        assert_eq!(after.expires_at, gone_at + MISSING_GRACE + WINDOW);
        assert_eq!((after.method, after.verified_at), (None, None));
        let back = step(&s, Some(CheckKind::Verified), gone_at + DAY);
        assert_eq!((back.status, back.missing_since), (Status::Verified, None));
    }

    #[test]
    fn an_unverified_domain_is_checked_like_a_pending_one() {
        let s = State {
            status: Status::Unverified,
            ..pending()
        };
        let step1 = step(&s, Some(CheckKind::NoRecord), T0);
        assert_eq!(step1.status, Status::Unverified);
        assert_eq!(step1.next_check_at, Some(T0 + 5 * MINUTE));
        assert_eq!(
            step(&s, Some(CheckKind::Verified), T0).event,
            Some(EVENT_DNS_SUCCESS)
        );
    }

    #[test]
    fn integrator_verified_domains_are_left_alone() {
        let s = State {
            status: Status::Verified,
            method: Some(METHOD_ADMIN.into()),
            verified_at: Some(T0),
            ..pending()
        };
        let step = step(&s, Some(CheckKind::NxDomain), T0 + 10 * DAY);
        assert_eq!(step.status, Status::Verified);
        assert_eq!((step.next_check_at, step.event), (None, None));
    }
}
