//! The organization settings widget: name, logo and allowed email domains. Managers get a form;
//! readers see the values. The form keeps what was typed and ties each error to its field.

use super::layout::csrf_field;
use maud::{Markup, html};

/// The settings form as typed (or as stored), with errors per field.
#[derive(Debug, Clone, Default)]
pub struct SettingsForm {
    pub name: String,
    pub logo_url: String,
    /// One domain a line, as typed.
    pub allowed_email_domains: String,
    pub name_error: Option<String>,
    pub logo_url_error: Option<String>,
    pub domains_error: Option<String>,
}

pub struct SettingsPage<'a> {
    pub form: &'a SettingsForm,
    pub can_manage: bool,
    pub csrf: &'a str,
    pub notice: Option<(&'a str, &'a str)>,
    pub max_users: Option<i32>,
}

fn field(
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    hint: Option<&str>,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(id) type=(kind) value=(value)
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| format!("{id}-error"))];
            @if let Some(hint) = hint { p.muted { (hint) } }
            @if let Some(error) = error { p.field-error id=(format!("{id}-error")) { (error) } }
        }
    }
}

pub fn page(v: &SettingsPage<'_>) -> Markup {
    let f = v.form;
    html! {
        h1 { "Organization settings" }
        p.live-status data-live-status aria-live="polite" { "" }
        @if let Some((kind, text)) = v.notice {
            div class=(format!("alert {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) }
        }
        @if v.can_manage {
            form.panel method="post" action="/ui/organization/settings" novalidate {
                (csrf_field(v.csrf))
                (field("name", "Display name", "text", &f.name, f.name_error.as_deref(), None))
                (field("logo_url", "Logo URL", "url", &f.logo_url, f.logo_url_error.as_deref(),
                    Some("An https address of an image; leave empty for none.")))
                div.field {
                    label for="allowed_email_domains" { "Allowed email domains" }
                    textarea id="allowed_email_domains" name="allowed_email_domains" rows="3"
                        aria-invalid=[f.domains_error.as_ref().map(|_| "true")]
                        aria-describedby=[f.domains_error.as_ref().map(|_| "allowed_email_domains-error")] { (f.allowed_email_domains) }
                    p.muted { "One a line, such as example.com. Public mail providers (gmail.com …) cannot be used." }
                    @if let Some(error) = &f.domains_error { p.field-error id="allowed_email_domains-error" { (error) } }
                }
                button.primary type="submit" { "Save" }
            }
        } @else {
            (summary(&f.name, &f.logo_url, &f.allowed_email_domains))
        }
        @if let Some(max) = v.max_users { p.muted { "Seat limit: " (max) " members." } }
    }
}

/// The settings as readers see them; also what a live frame replaces when they change.
pub fn summary(name: &str, logo_url: &str, domains: &str) -> Markup {
    html! {
        dl.panel id=(SUMMARY_ID) {
            dt { "Display name" } dd { (name) }
            dt { "Logo" } dd { @if logo_url.is_empty() { "None" } @else { img src=(logo_url) alt="Organization logo" height="32"; } }
            dt { "Allowed email domains" } dd { @if domains.is_empty() { "Any" } @else { (domains) } }
        }
    }
}

pub const SUMMARY_ID: &str = "org-settings";
