//! The session policy widget: the application default, the organization's override and the policy
//! that results, with the form to change the override.

use super::layout::csrf_field;
use crate::domain::session_policy::PolicyFieldError;
use crate::domain::{OrgSessionPolicy, SessionPolicy};
use maud::{Markup, html};

/// "7 days", "8 hours", "90 minutes".
pub fn minutes_in_words(m: u32) -> String {
    let plural = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if m.is_multiple_of(24 * 60) {
        plural(m / (24 * 60), "day")
    } else if m.is_multiple_of(60) {
        plural(m / 60, "hour")
    } else {
        plural(m, "minute")
    }
}

fn describe(p: &SessionPolicy) -> (String, String) {
    (
        minutes_in_words(p.absolute_minutes),
        match p.idle_minutes {
            Some(m) => format!("after {} without activity", minutes_in_words(m)),
            None => "off".into(),
        },
    )
}

/// What the form shows: what was typed (kept when refused) and the errors per field.
#[derive(Debug, Clone, Default)]
pub struct PolicyForm {
    pub absolute_minutes: String,
    /// `inherit`, `on` or `off`.
    pub idle_mode: String,
    pub idle_minutes: String,
    pub errors: Vec<PolicyFieldError>,
}

impl PolicyForm {
    pub fn from_override(p: &OrgSessionPolicy) -> Self {
        Self {
            absolute_minutes: p
                .absolute_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            idle_mode: match p.idle_enabled {
                None => "inherit",
                Some(true) => "on",
                Some(false) => "off",
            }
            .into(),
            idle_minutes: p.idle_minutes.map(|m| m.to_string()).unwrap_or_default(),
            errors: Vec::new(),
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

pub struct PolicyPage<'a> {
    pub csrf: &'a str,
    pub app: &'a SessionPolicy,
    pub own: &'a OrgSessionPolicy,
    pub effective: &'a SessionPolicy,
    pub can_manage: bool,
    pub form: &'a PolicyForm,
    /// `("ok" | "error", text)`.
    pub notice: Option<(&'a str, String)>,
}

pub fn page(v: &PolicyPage<'_>) -> Markup {
    let (app_abs, app_idle) = describe(v.app);
    let (eff_abs, eff_idle) = describe(v.effective);
    let own_abs = v
        .own
        .absolute_minutes
        .map(minutes_in_words)
        .unwrap_or_else(|| "as the application default".into());
    let own_idle = match (v.own.idle_enabled, v.own.idle_minutes) {
        (None, _) => "as the application default".to_string(),
        (Some(false), _) => "off (the application default still applies)".to_string(),
        (Some(true), Some(m)) => format!("after {} without activity", minutes_in_words(m)),
        (Some(true), None) => "on, with the application's duration".to_string(),
    };
    let abs_error = v.form.error("absolute_timeout_minutes");
    let idle_error = v.form.error("idle_timeout_minutes");
    html! {
        h1 { "Session policy" }
        p.muted {
            "How long your members stay signed in. Your organization can make the application's rules stricter, never looser: "
            "the shorter absolute timeout applies, and the idle timeout is on if either side turns it on, with the shorter duration."
        }
        @if let Some((kind, text)) = &v.notice {
            div class=(format!("alert {kind}")) role=(if *kind == "error" { "alert" } else { "status" }) { (text) }
        }
        table.policy {
            thead { tr { th { "" } th { "Absolute timeout" } th { "Idle timeout" } } }
            tbody {
                tr data-policy="app" { th scope="row" { "Application default" } td { (app_abs) } td { (app_idle) } }
                tr data-policy="override" { th scope="row" { "Your organization" } td { (own_abs) } td { (own_idle) } }
                tr data-policy="effective" { th scope="row" { strong { "In effect" } } td { strong { (eff_abs) } } td { strong { (eff_idle) } } }
            }
        }
        p.muted {
            "A stricter policy also applies to sessions already signed in: their remaining time is shortened at once "
            "(counted from when they signed in and when they were last active), and sessions past the new limit are signed out. "
            "A looser policy applies to new sign-ins only."
        }
        @if v.can_manage {
            form.panel method="post" action="/ui/organization/session-policy" novalidate {
                (csrf_field(v.csrf))
                div.field {
                    label for="absolute_timeout_minutes" { "Absolute timeout (minutes)" }
                    input id="absolute_timeout_minutes" name="absolute_timeout_minutes" type="text" inputmode="numeric"
                        value=(v.form.absolute_minutes) placeholder="as the application default"
                        aria-invalid=[abs_error.map(|_| "true")]
                        aria-describedby=[abs_error.map(|_| "absolute-error")];
                    @if let Some(e) = abs_error { p.field-error id="absolute-error" { (e) } }
                    p.hint { "Members sign in again this long after signing in, however active. Leave empty to follow the application default." }
                }
                div.field {
                    label for="idle_mode" { "Idle timeout" }
                    select id="idle_mode" name="idle_mode" {
                        option value="inherit" selected[v.form.idle_mode == "inherit"] { "As the application default" }
                        option value="on" selected[v.form.idle_mode == "on"] { "On" }
                        option value="off" selected[v.form.idle_mode == "off"] { "Off (the application default still applies)" }
                    }
                }
                div.field {
                    label for="idle_timeout_minutes" { "Idle minutes" }
                    input id="idle_timeout_minutes" name="idle_timeout_minutes" type="text" inputmode="numeric"
                        value=(v.form.idle_minutes) placeholder="as the application default"
                        aria-invalid=[idle_error.map(|_| "true")]
                        aria-describedby=[idle_error.map(|_| "idle-error")];
                    @if let Some(e) = idle_error { p.field-error id="idle-error" { (e) } }
                    p.hint { "With the idle timeout on, members are signed out after this long without activity. It must be shorter than the absolute timeout." }
                }
                button.primary type="submit" { "Save policy" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::minutes_in_words;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(minutes_in_words(10_080), "7 days");
        assert_eq!(minutes_in_words(60), "1 hour");
        assert_eq!(minutes_in_words(480), "8 hours");
        assert_eq!(minutes_in_words(90), "90 minutes");
    }
}
