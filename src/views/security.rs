//! The security widget: the user's signed-in sessions (device, IP address, when signed in, last
//! active, "this device"), revoking one or all others, and re-authentication. Rows are also what
//! live frames carry: their buttons submit the page's one CSRF-carrying form
//! (`form="session-actions"`), so a pushed row needs no token of its own.

use super::domains::datetime;
use super::layout::csrf_field;
use crate::db::sessions::Session;
use crate::wire::sessions::SessionJson;
use maud::{Markup, html};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: Option<String>,
    pub method: String,
    pub signed_in_at: i64,
    pub last_active_at: i64,
    pub current: bool,
}

fn method_label(m: &str) -> &str {
    match m {
        "password" => "password",
        "code" => "emailed code",
        "magic_link" => "emailed link",
        "passkey" => "passkey",
        "sso" => "single sign-on",
        "invite" => "invitation",
        other => other,
    }
}

impl SessionRow {
    pub fn new(s: &Session, current_session: &str) -> Self {
        Self {
            id: s.id.clone(),
            device: format!(
                "{} on {}",
                s.browser.as_deref().unwrap_or("Unknown browser"),
                s.os.as_deref().unwrap_or("unknown system")
            ),
            ip: s.ip.clone(),
            method: s.auth_method.clone(),
            signed_in_at: s.created_at,
            last_active_at: s.last_active_at,
            current: s.id == current_session,
        }
    }

    /// A row from an event (never the viewer's own session: that one is already on the page).
    pub fn from_json(s: &SessionJson) -> Self {
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .unwrap_or_default()
        };
        Self {
            id: s.id.clone(),
            device: format!(
                "{} on {}",
                s.browser.as_deref().unwrap_or("Unknown browser"),
                s.os.as_deref().unwrap_or("unknown system")
            ),
            ip: s.ip.clone(),
            method: s.sign_in_method.clone(),
            signed_in_at: ms(&s.created_at),
            last_active_at: ms(&s.last_active_at),
            current: false,
        }
    }
}

pub fn session_dom_id(id: &str) -> String {
    format!("session-{id}")
}

pub fn session_row(r: &SessionRow) -> Markup {
    html! {
        li.session id=(session_dom_id(&r.id)) data-session=(r.id) {
            div {
                strong { (r.device) }
                @if r.current { " " span.badge.active { "This device" } }
            }
            div.muted {
                "IP " (r.ip.as_deref().unwrap_or("unknown"))
                " · signed in " (datetime(r.signed_in_at)) " with " (method_label(&r.method))
                " · last active " (datetime(r.last_active_at))
            }
            @if !r.current {
                button type="submit" form="session-actions"
                    formaction=(format!("/ui/security/sessions/{}/revoke", r.id)) { "Sign out this session" }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub struct SecurityPage<'a> {
    pub csrf: &'a str,
    pub rows: &'a [SessionRow],
    pub passkeys: &'a [PasskeyRow],
    /// The server can do passkeys (it has a domain name).
    pub passkeys_available: bool,
    /// Re-authenticated within the last 10 minutes.
    pub recently_confirmed: bool,
    pub has_password: bool,
    pub notice: Option<(&'a str, String)>,
    pub reauth_error: Option<&'a str>,
}

pub fn page(v: &SecurityPage<'_>) -> Markup {
    let others = v.rows.iter().filter(|r| !r.current).count();
    html! {
        h1 { "Security" }
        p.live-status data-live-status aria-live="polite" { "" }
        @if let Some((kind, text)) = &v.notice {
            div class=(format!("alert {kind}")) role=(if *kind == "error" { "alert" } else { "status" }) { (text) }
        }
        h2 { "Where you are signed in" }
        form id="session-actions" method="post" action="/ui/security" hidden { (csrf_field(v.csrf)) }
        ul.session-list data-live-list="sessions" {
            @for row in v.rows { (session_row(row)) }
        }
        @if others > 0 {
            @if v.recently_confirmed {
                form method="post" action="/ui/security/sessions/revoke-others" {
                    (csrf_field(v.csrf))
                    button.danger type="submit" { "Sign out all other sessions" }
                }
            } @else {
                p.muted { "To sign out all other sessions, first confirm it is you." }
            }
        }
        @if v.passkeys_available {
            h2 { "Passkeys" }
            p.muted { "Sign in with your device's screen lock or a security key instead of a password." }
            ul.passkey-list {
                @for p in v.passkeys {
                    li.passkey id=(format!("passkey-{}", p.id)) {
                        form.inline method="post" action=(format!("/ui/security/passkeys/{}/rename", p.id)) {
                            (csrf_field(v.csrf))
                            label.visually-hidden for=(format!("name-{}", p.id)) { "Name" }
                            input id=(format!("name-{}", p.id)) name="name" type="text" value=(p.name) maxlength="100";
                            button type="submit" { "Rename" }
                        }
                        div.muted {
                            "added " (datetime(p.created_at))
                            @if let Some(used) = p.last_used_at { " · last used " (datetime(used)) }
                        }
                        form.inline method="post" action=(format!("/ui/security/passkeys/{}/delete", p.id)) {
                            (csrf_field(v.csrf))
                            button.danger type="submit" { "Delete" }
                        }
                    }
                }
            }
            @if v.passkeys.is_empty() { p.muted { "No passkeys yet." } }
            @if v.recently_confirmed {
                form.panel data-passkey-form {
                    div.field {
                        label for="passkey-name" { "Name for the new passkey" }
                        input id="passkey-name" name="name" type="text" maxlength="100" placeholder="Work laptop";
                    }
                    button.primary type="submit" hidden data-passkey-register data-csrf=(v.csrf) { "Add a passkey" }
                    p.field-error data-passkey-register-error role="alert" hidden {}
                    noscript { p.muted { "Adding a passkey needs JavaScript." } }
                }
                script src=(format!("/static/passkeys.js?v={}", env!("CARGO_PKG_VERSION"))) defer {}
            } @else {
                p.muted { "To add a passkey, first confirm it is you." }
            }
        }
        @if !v.recently_confirmed {
            h2 { "Confirm it is you" }
            p.muted { "Signing out every other session or adding a passkey needs a confirmation from the last 10 minutes." }
            @if v.has_password {
                form.panel method="post" action="/ui/security/confirm" novalidate {
                    (csrf_field(v.csrf))
                    div.field {
                        label for="password" { "Password" }
                        input id="password" name="password" type="password" autocomplete="current-password"
                            aria-invalid=[v.reauth_error.map(|_| "true")]
                            aria-describedby=[v.reauth_error.map(|_| "password-error")];
                        @if let Some(e) = v.reauth_error { p.field-error id="password-error" { (e) } }
                    }
                    button.primary type="submit" { "Confirm" }
                }
            }
            p { a href="/a/auth/login?return_to=%2Fui%2Fsecurity" { "Or sign in again" } " (with your password or an emailed code)." }
        }
    }
}
