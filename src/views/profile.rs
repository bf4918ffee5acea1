//! The profile widget: the user's own name, email address and account age. The email changes only
//! after a code sent to the new address is entered.

use super::layout::csrf_field;
use maud::{Markup, html};

#[derive(Debug, Clone, Default)]
pub struct ProfileForm {
    pub name: String,
    pub name_error: Option<String>,
    pub new_email: String,
    pub email_error: Option<String>,
    /// Set once a code went to `new_email`: the page asks for it.
    pub awaiting_code: bool,
    pub code_error: Option<String>,
}

pub struct ProfilePage<'a> {
    pub email: &'a str,
    pub created: &'a str,
    pub form: &'a ProfileForm,
    pub csrf: &'a str,
    pub notice: Option<(&'a str, &'a str)>,
}

fn error(id: &str, e: Option<&str>) -> Markup {
    html! { @if let Some(e) = e { p.field-error id=(format!("{id}-error")) { (e) } } }
}

pub fn page(v: &ProfilePage<'_>) -> Markup {
    let f = v.form;
    html! {
        h1 { "Profile" }
        @if let Some((kind, text)) = v.notice {
            div class=(format!("alert {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) }
        }
        dl.panel {
            dt { "Email" } dd id="profile-email" { (v.email) }
            dt { "Account created" } dd { (v.created) }
        }
        h2 { "Name" }
        form.toolbar method="post" action="/ui/profile/name" novalidate {
            (csrf_field(v.csrf))
            div.field {
                label for="name" { "Your name" }
                input id="name" name="name" type="text" value=(f.name) autocomplete="name"
                    aria-invalid=[f.name_error.as_ref().map(|_| "true")]
                    aria-describedby=[f.name_error.as_ref().map(|_| "name-error")];
                (error("name", f.name_error.as_deref()))
            }
            button.primary type="submit" { "Save name" }
        }
        h2 { "Email address" }
        @if f.awaiting_code {
            form method="post" action="/ui/profile/email/confirm" novalidate {
                (csrf_field(v.csrf))
                input type="hidden" name="new_email" value=(f.new_email);
                p { "We sent a 6-digit code to " strong { (f.new_email) } ". Enter it to make it your address." }
                div.field {
                    label for="code" { "Code" }
                    input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                        aria-invalid=[f.code_error.as_ref().map(|_| "true")]
                        aria-describedby=[f.code_error.as_ref().map(|_| "code-error")];
                    (error("code", f.code_error.as_deref()))
                }
                button.primary type="submit" { "Confirm new address" }
            }
        } @else {
            form.toolbar method="post" action="/ui/profile/email" novalidate {
                (csrf_field(v.csrf))
                div.field {
                    label for="new_email" { "New email address" }
                    input id="new_email" name="new_email" type="email" value=(f.new_email) autocomplete="email"
                        aria-invalid=[f.email_error.as_ref().map(|_| "true")]
                        aria-describedby=[f.email_error.as_ref().map(|_| "new_email-error")];
                    (error("new_email", f.email_error.as_deref()))
                }
                button type="submit" { "Send a code" }
            }
        }
    }
}
