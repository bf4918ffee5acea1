//! Session lifetimes: the environment's default, an organization's override, and the policy that
//! applies to a session ([`SessionPolicy::effective`]).
//!
//! The stricter side wins on every axis: the absolute lifetime is the shorter of the two; the idle
//! timeout is on if either side turns it on, with the shorter duration among the sides that do. An
//! organization can therefore tighten the application's rules but never loosen them.

use std::fmt;

/// Bounds for any timeout, in minutes: long enough to sign in and do something (5 minutes), short
/// enough that a forgotten session does not live for ever (absolute: 90 days; idle: 30 days).
pub const MIN_MINUTES: u32 = 5;
pub const MAX_ABSOLUTE_MINUTES: u32 = 90 * 24 * 60;
pub const MAX_IDLE_MINUTES: u32 = 30 * 24 * 60;

/// The rules one session lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Minutes from sign-in until the session ends, however active.
    pub absolute_minutes: u32,
    /// Minutes without activity that end the session, when the idle timeout is on.
    pub idle_minutes: Option<u32>,
}

/// An organization's override. `None` on a field means "as the application default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgSessionPolicy {
    pub absolute_minutes: Option<u32>,
    pub idle_enabled: Option<bool>,
    pub idle_minutes: Option<u32>,
}

impl OrgSessionPolicy {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl SessionPolicy {
    /// The policy from the environment's stored columns. Stored values outside the bounds (set
    /// directly in the database) are clamped rather than trusted.
    pub fn from_stored(absolute_minutes: i32, idle_enabled: bool, idle_minutes: i32) -> Self {
        let clamp = |v: i32, max: u32| (v.max(0) as u32).clamp(MIN_MINUTES, max);
        Self {
            absolute_minutes: clamp(absolute_minutes, MAX_ABSOLUTE_MINUTES),
            idle_minutes: idle_enabled.then(|| clamp(idle_minutes, MAX_IDLE_MINUTES)),
        }
    }

    /// The policy for sessions of an organization with override `org` under application default `app`.
    pub fn effective(app: &SessionPolicy, org: &OrgSessionPolicy) -> SessionPolicy {
        let absolute_minutes = org
            .absolute_minutes
            .map_or(app.absolute_minutes, |m| m.min(app.absolute_minutes));
        // The org's idle duration, when the org turns idle on (its own minutes, else the app's).
        let org_idle = match org.idle_enabled {
            Some(true) => org
                .idle_minutes
                .or(app.idle_minutes)
                .or(Some(DEFAULT_IDLE_MINUTES)),
            _ => None,
        };
        let idle_minutes = match (app.idle_minutes, org_idle) {
            (Some(a), Some(o)) => Some(a.min(o)),
            (a, o) => a.or(o),
        };
        SessionPolicy {
            absolute_minutes,
            idle_minutes,
        }
    }

    pub fn absolute_ms(&self) -> i64 {
        i64::from(self.absolute_minutes) * 60_000
    }

    pub fn idle_ms(&self) -> Option<i64> {
        self.idle_minutes.map(|m| i64::from(m) * 60_000)
    }
}

/// The idle duration an organization gets when it turns idle on without naming one and the
/// application has none either (one day, the environment's stored default).
pub const DEFAULT_IDLE_MINUTES: u32 = 24 * 60;

/// A refused field of a policy form: which field, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFieldError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for PolicyFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Minutes as typed into a form or sent as JSON, before checking.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    /// Empty or absent: as the application default.
    pub absolute_minutes: Option<String>,
    /// `None`: as the application default; otherwise on or off.
    pub idle_enabled: Option<bool>,
    pub idle_minutes: Option<String>,
}

fn parse_minutes(
    field: &'static str,
    raw: Option<&str>,
    max: u32,
    what: &str,
) -> Result<Option<u32>, PolicyFieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let err = |message: String| PolicyFieldError { field, message };
    let minutes: u32 = raw
        .parse()
        .map_err(|_| err(format!("The {what} must be a whole number of minutes.")))?;
    if !(MIN_MINUTES..=max).contains(&minutes) {
        return Err(err(format!(
            "The {what} must be between {MIN_MINUTES} minutes and {} days.",
            max / (24 * 60)
        )));
    }
    Ok(Some(minutes))
}

impl OrgSessionPolicy {
    /// Parses an override, checked against the application default: each timeout within bounds,
    /// and the idle timeout shorter than the absolute lifetime that will apply. Every refused field
    /// is reported, so a form can mark them all at once.
    pub fn parse(
        input: &PolicyInput,
        app: &SessionPolicy,
    ) -> Result<OrgSessionPolicy, Vec<PolicyFieldError>> {
        let mut errors = Vec::new();
        let absolute = parse_minutes(
            "absolute_timeout_minutes",
            input.absolute_minutes.as_deref(),
            MAX_ABSOLUTE_MINUTES,
            "absolute timeout",
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let idle = parse_minutes(
            "idle_timeout_minutes",
            input.idle_minutes.as_deref(),
            MAX_IDLE_MINUTES,
            "idle timeout",
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let policy = OrgSessionPolicy {
            absolute_minutes: absolute,
            idle_enabled: input.idle_enabled,
            idle_minutes: idle,
        };
        if errors.is_empty() {
            let effective = SessionPolicy::effective(app, &policy);
            if let Some(idle) = effective.idle_minutes
                && idle >= effective.absolute_minutes
            {
                errors.push(PolicyFieldError {
                    field: "idle_timeout_minutes",
                    message: format!(
                        "The idle timeout ({idle} minutes) must be shorter than the absolute timeout ({} minutes).",
                        effective.absolute_minutes
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const APP: SessionPolicy = SessionPolicy {
        absolute_minutes: 10_080,
        idle_minutes: None,
    };

    fn org(abs: Option<u32>, idle_on: Option<bool>, idle: Option<u32>) -> OrgSessionPolicy {
        OrgSessionPolicy {
            absolute_minutes: abs,
            idle_enabled: idle_on,
            idle_minutes: idle,
        }
    }

    #[test]
    fn effective_policy_table() {
        let app_idle = SessionPolicy {
            absolute_minutes: 10_080,
            idle_minutes: Some(60),
        };
        // (case, app, org, expected)
        let table = [
            ("app only", APP, OrgSessionPolicy::default(), APP),
            (
                "org stricter absolute",
                APP,
                org(Some(480), None, None),
                SessionPolicy {
                    absolute_minutes: 480,
                    idle_minutes: None,
                },
            ),
            (
                "org looser absolute",
                APP,
                org(Some(100_000), None, None),
                APP,
            ),
            (
                "idle from the org",
                APP,
                org(None, Some(true), Some(30)),
                SessionPolicy {
                    absolute_minutes: 10_080,
                    idle_minutes: Some(30),
                },
            ),
            (
                "idle from the app",
                app_idle,
                OrgSessionPolicy::default(),
                app_idle,
            ),
            (
                "org cannot turn the app's idle off",
                app_idle,
                org(None, Some(false), None),
                app_idle,
            ),
            (
                "both idle: the shorter",
                app_idle,
                org(None, Some(true), Some(15)),
                SessionPolicy {
                    absolute_minutes: 10_080,
                    idle_minutes: Some(15),
                },
            ),
            (
                "both idle: the org's longer one loses",
                app_idle,
                org(None, Some(true), Some(600)),
                app_idle,
            ),
            (
                "org minutes without turning idle on change nothing",
                APP,
                org(None, None, Some(30)),
                APP,
            ),
            (
                "org turns idle on without minutes: the default",
                APP,
                org(None, Some(true), None),
                SessionPolicy {
                    absolute_minutes: 10_080,
                    idle_minutes: Some(DEFAULT_IDLE_MINUTES),
                },
            ),
        ];
        for (case, app, org, expected) in table {
            assert_eq!(SessionPolicy::effective(&app, &org), expected, "{case}");
        }
    }

    #[test]
    fn parse_reports_each_refused_field() {
        let input = PolicyInput {
            absolute_minutes: Some("abc".into()),
            idle_enabled: Some(true),
            idle_minutes: Some("1".into()),
        };
        let errors = OrgSessionPolicy::parse(&input, &APP).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["absolute_timeout_minutes", "idle_timeout_minutes"]);
        assert!(errors[0].message.contains("whole number"));
        assert!(errors[1].message.contains("between 5 minutes"));
    }

    #[test]
    fn idle_must_be_shorter_than_the_absolute_timeout() {
        let input = PolicyInput {
            absolute_minutes: Some("60".into()),
            idle_enabled: Some(true),
            idle_minutes: Some("60".into()),
        };
        let errors = OrgSessionPolicy::parse(&input, &APP).unwrap_err();
        assert_eq!(errors[0].field, "idle_timeout_minutes");
        assert!(errors[0].message.contains("shorter than the absolute"));
        let ok = PolicyInput {
            idle_minutes: Some("59".into()),
            ..input
        };
        assert_eq!(
            OrgSessionPolicy::parse(&ok, &APP).unwrap(),
            org(Some(60), Some(true), Some(59))
        );
    }

    #[test]
    fn empty_fields_inherit() {
        let parsed = OrgSessionPolicy::parse(&PolicyInput::default(), &APP).unwrap();
        assert!(parsed.is_empty());
    }

    fn any_app() -> impl Strategy<Value = SessionPolicy> {
        (
            MIN_MINUTES..=MAX_ABSOLUTE_MINUTES,
            proptest::option::of(MIN_MINUTES..=MAX_IDLE_MINUTES),
        )
            .prop_map(|(absolute_minutes, idle_minutes)| SessionPolicy {
                absolute_minutes,
                idle_minutes,
            })
    }

    fn any_org() -> impl Strategy<Value = OrgSessionPolicy> {
        (
            proptest::option::of(MIN_MINUTES..=MAX_ABSOLUTE_MINUTES),
            proptest::option::of(any::<bool>()),
            proptest::option::of(MIN_MINUTES..=MAX_IDLE_MINUTES),
        )
            .prop_map(|(a, e, i)| org(a, e, i))
    }

    proptest! {
        /// The effective policy is never looser than the application's, on either axis.
        #[test]
        fn never_looser_than_the_app(app in any_app(), org in any_org()) {
            let eff = SessionPolicy::effective(&app, &org);
            prop_assert!(eff.absolute_minutes <= app.absolute_minutes);
            if let Some(app_idle) = app.idle_minutes {
                prop_assert!(eff.idle_minutes.is_some_and(|i| i <= app_idle));
            }
        }

        /// Nor looser than what the organization asked for.
        #[test]
        fn never_looser_than_the_org(app in any_app(), org in any_org()) {
            let eff = SessionPolicy::effective(&app, &org);
            if let Some(abs) = org.absolute_minutes {
                prop_assert!(eff.absolute_minutes <= abs);
            }
            if org.idle_enabled == Some(true) {
                prop_assert!(eff.idle_minutes.is_some());
                if let Some(i) = org.idle_minutes {
                    prop_assert!(eff.idle_minutes.is_some_and(|e| e <= i));
                }
            }
        }

        /// It is exactly one of the two sides' values on each axis (nothing is made up).
        #[test]
        fn picks_a_side(app in any_app(), org in any_org()) {
            let eff = SessionPolicy::effective(&app, &org);
            prop_assert!(eff.absolute_minutes == app.absolute_minutes
                || Some(eff.absolute_minutes) == org.absolute_minutes);
            if let Some(i) = eff.idle_minutes {
                prop_assert!(Some(i) == app.idle_minutes
                    || Some(i) == org.idle_minutes
                    || i == DEFAULT_IDLE_MINUTES);
            }
        }

        /// Applying the same override twice changes nothing more (the org cannot stack itself).
        #[test]
        fn idempotent(app in any_app(), org in any_org()) {
            let once = SessionPolicy::effective(&app, &org);
            prop_assert_eq!(SessionPolicy::effective(&once, &org), once);
        }

        /// Whatever parses is within bounds and keeps idle shorter than absolute.
        #[test]
        fn parsed_overrides_are_sane(app in any_app(), a in "[0-9]{0,7}", i in "[0-9]{0,7}", on in proptest::option::of(any::<bool>())) {
            let input = PolicyInput { absolute_minutes: Some(a), idle_enabled: on, idle_minutes: Some(i) };
            if let Ok(org) = OrgSessionPolicy::parse(&input, &app) {
                let eff = SessionPolicy::effective(&app, &org);
                prop_assert!((MIN_MINUTES..=MAX_ABSOLUTE_MINUTES).contains(&eff.absolute_minutes));
                if let Some(idle) = eff.idle_minutes {
                    prop_assert!(idle < eff.absolute_minutes);
                }
            }
        }
    }
}
