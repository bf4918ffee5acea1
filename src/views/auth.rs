//! The hosted sign-in screens.

use super::layout::{BodyAttrs, Brand, csrf_field, page};
use maud::{Markup, html};

pub struct LoginView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub email: &'a str,
    /// A message for the whole form, e.g. wrong credentials.
    pub error: Option<&'a str>,
    /// Errors per field.
    pub email_error: Option<&'a str>,
    pub password_error: Option<&'a str>,
    /// The pending authorization request this sign-in completes.
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    /// A confirmation to show above the form, e.g. after signing out.
    pub notice: Option<&'a str>,
}

pub fn login(v: &LoginView<'_>) -> Markup {
    page(
        v.brand,
        "Sign in",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card {
                    (brand_header(v.brand))
                    h1 { "Sign in" }
                    @if let Some(notice) = v.notice {
                        div.alert.ok role="status" { (notice) }
                    }
                    @if let Some(error) = v.error {
                        div.alert.error role="alert" id="form-error" { (error) }
                    }
                    form method="post" action="/a/auth/login" novalidate {
                        (csrf_field(v.csrf))
                        @if let Some(id) = v.request_id { input type="hidden" name="request" value=(id); }
                        @if let Some(rt) = v.return_to { input type="hidden" name="return_to" value=(rt); }
                        (text_field("email", "Email", "email", v.email, "email", v.email_error, true))
                        (text_field("password", "Password", "password", "", "current-password", v.password_error, false))
                        button.primary.block type="submit" { "Sign in" }
                    }
                }
            }
        },
    )
}

pub struct SignupView<'a> {
    pub brand: &'a Brand,
    pub login_href: &'a str,
}

/// Self-service sign-up is not open yet; say so plainly and point to sign-in.
pub fn signup_unavailable(v: &SignupView<'_>) -> Markup {
    page(
        v.brand,
        "Create an account",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card {
                    (brand_header(v.brand))
                    h1 { "Create an account" }
                    div.alert.info role="status" {
                        "Self-service sign-up is not available yet. Ask an administrator of your organization to invite you."
                    }
                    p.links { a href=(v.login_href) { "Already have an account? Sign in" } }
                }
            }
        },
    )
}

fn brand_header(brand: &Brand) -> Markup {
    html! {
        @if let Some(logo) = &brand.logo_url {
            img.logo src=(logo) alt=(format!("{} logo", brand.name));
        } @else {
            div.brand-name { (brand.name) }
        }
    }
}

/// A labelled input with its error text tied to it for screen readers.
#[allow(clippy::too_many_arguments)]
pub fn text_field(
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    autocomplete: &str,
    error: Option<&str>,
    autofocus: bool,
) -> Markup {
    let error_id = format!("{name}-error");
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value) autocomplete=(autocomplete)
                autofocus[autofocus && error.is_none()]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.as_str())];
            @if let Some(e) = error {
                div.field-error id=(error_id) { (e) }
            }
        }
    }
}

/// The sign-out confirmation (RP-initiated logout without a valid hint, or the widgets' link).
pub fn logout_confirm(brand: &Brand, csrf: &str, signed_in: bool) -> Markup {
    page(
        brand,
        "Sign out",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card {
                    (brand_header(brand))
                    h1 { "Sign out" }
                    @if signed_in {
                        p { "Do you want to sign out of " (brand.name) "?" }
                        form method="post" action="/oidc/logout" {
                            (csrf_field(csrf))
                            button.primary.block type="submit" { "Sign out" }
                        }
                    } @else {
                        p { "You are not signed in." }
                        p.links { a href="/a/auth/login" { "Sign in" } }
                    }
                }
            }
        },
    )
}
