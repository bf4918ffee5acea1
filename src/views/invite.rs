//! The page an invite link opens: join as the signed-in user, create an account (name and
//! password), or sign in first. Links that no longer work get their own notice pages.

use super::auth::{card, password_field, text_field};
use super::layout::{Brand, csrf_field};
use crate::principal::urlencode;
use maud::{Markup, html};

/// What the person opening the link can do.
pub enum InviteChoice<'a> {
    /// Signed in as the invited address: one button.
    Join,
    /// The address has no account yet: choose a name and a password.
    CreateAccount {
        name: &'a str,
        name_error: Option<&'a str>,
        password_error: Option<&'a str>,
    },
    /// The address has an account: sign in (by any method), then come back here.
    SignIn,
    /// Signed in as someone else.
    WrongUser { signed_in_as: &'a str },
}

pub struct InviteView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub token: &'a str,
    pub org_name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub choice: InviteChoice<'a>,
    pub error: Option<&'a str>,
}

pub fn accept(v: &InviteView<'_>) -> Markup {
    let back = format!("/a/invite?token={}", urlencode(v.token));
    card(
        v.brand,
        &format!("Join {}", v.org_name),
        html! {
            @if let Some(error) = v.error { div.alert.error role="alert" { (error) } }
            p { "You were invited to join " strong { (v.org_name) } " as " (v.role) " with the address " strong { (v.email) } "." }
            @match &v.choice {
                InviteChoice::Join => {
                    form method="post" action="/a/invite" {
                        (csrf_field(v.csrf))
                        input type="hidden" name="token" value=(v.token);
                        button.primary.block type="submit" { "Join " (v.org_name) }
                    }
                }
                InviteChoice::CreateAccount { name, name_error, password_error } => {
                    form method="post" action="/a/invite/account" novalidate {
                        (csrf_field(v.csrf))
                        input type="hidden" name="token" value=(v.token);
                        (text_field("name", "Full name", "text", name, "name", *name_error, true))
                        (password_field("password", "Choose a password", *password_error))
                        button.primary.block type="submit" { "Create account and join" }
                    }
                }
                InviteChoice::SignIn => {
                    p { "Sign in as " (v.email) " to accept." }
                    p { a.button.primary.block href=(format!("/a/auth/login?return_to={}", urlencode(&back))) { "Sign in to accept" } }
                }
                InviteChoice::WrongUser { signed_in_as } => {
                    div.alert.info role="status" {
                        "You are signed in as " strong { (signed_in_as) } ". This invite is for " strong { (v.email) } "."
                    }
                    p { a.button.block href="/oidc/logout" { "Sign out, then open the link again" } }
                }
            }
        },
    )
}
