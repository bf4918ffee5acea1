//! The hosted sign-in screens: sign-in (password or emailed code), sign-up, password reset, the
//! organization picker and sign-out. Every form works without script, labels every field and ties
//! each error to its field.

use super::layout::{BodyAttrs, Brand, csrf_field, page};
use crate::principal::urlencode;
use maud::{Markup, html};

/// The query string that carries a pending request (or return path) from screen to screen.
pub fn carry(request_id: Option<&str>, return_to: Option<&str>) -> String {
    match (request_id, return_to) {
        (Some(r), _) => format!("?request={}", urlencode(r)),
        (None, Some(rt)) => format!("?return_to={}", urlencode(rt)),
        (None, None) => String::new(),
    }
}

pub(crate) fn hidden_carry(request_id: Option<&str>, return_to: Option<&str>) -> Markup {
    html! {
        @if let Some(id) = request_id { input type="hidden" name="request" value=(id); }
        @if let Some(rt) = return_to { input type="hidden" name="return_to" value=(rt); }
    }
}

pub fn card(brand: &Brand, title: &str, content: Markup) -> Markup {
    page(
        brand,
        title,
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card {
                    (brand_header(brand))
                    h1 { (title) }
                    (content)
                }
            }
        },
    )
}

fn alerts(notice: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(notice) = notice {
            div.alert.ok role="status" { (notice) }
        }
        @if let Some(error) = error {
            div.alert.error role="alert" id="form-error" { (error) }
        }
    }
}

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
    /// Offer "Sign in with a passkey" (shown by the script where the browser supports it).
    pub passkeys: bool,
}

pub fn login(v: &LoginView<'_>) -> Markup {
    let q = carry(v.request_id, v.return_to);
    card(
        v.brand,
        "Sign in",
        html! {
            (alerts(v.notice, v.error))
            form method="post" action="/a/auth/login" novalidate {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                (text_field("email", "Email", "email", v.email, "email", v.email_error, true))
                (text_field("password", "Password", "password", "", "current-password", v.password_error, false))
                button.primary.block type="submit" { "Sign in" }
                p.or { "or" }
                // Same form, other endpoint: the typed email goes along, no script needed.
                button.block type="submit" formaction="/a/auth/code" formnovalidate { "Email me a sign-in code" }
            }
            @if v.passkeys {
                button.block type="button" hidden data-passkey-signin data-csrf=(v.csrf)
                    data-request=[v.request_id] data-return-to=[v.return_to] { "Sign in with a passkey" }
                p.field-error data-passkey-error role="alert" hidden {}
                script src=(format!("/static/passkeys.js?v={}", env!("CARGO_PKG_VERSION"))) defer {}
            }
            p.links {
                a href=(format!("/a/auth/forgot{q}")) { "Forgot your password?" }
                " · "
                a href=(format!("/a/auth/signup{q}")) { "Create an account" }
            }
        },
    )
}

pub struct CodeEntryView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub title: &'a str,
    /// What was sent, phrased the same whether or not the address has an account.
    pub intro: &'a str,
    /// Where the code is posted.
    pub action: &'a str,
    pub email: &'a str,
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    pub code_error: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Where "send a new code" posts, with the email.
    pub resend_action: Option<&'a str>,
    pub back_href: &'a str,
    pub back_label: &'a str,
}

/// "Check your email": the 6-digit code form.
pub fn code_entry(v: &CodeEntryView<'_>) -> Markup {
    card(
        v.brand,
        v.title,
        html! {
            (alerts(None, v.error))
            p { (v.intro) }
            form method="post" action=(v.action) novalidate {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                input type="hidden" name="email" value=(v.email);
                div.field {
                    label for="code" { "6-digit code" }
                    input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                        pattern="[0-9 ]*" maxlength="9"
                        autofocus[v.code_error.is_none()]
                        aria-invalid=[v.code_error.map(|_| "true")]
                        aria-describedby=[v.code_error.map(|_| "code-error")];
                    @if let Some(e) = v.code_error { div.field-error id="code-error" { (e) } }
                }
                button.primary.block type="submit" { "Continue" }
            }
            @if let Some(resend) = v.resend_action {
                form method="post" action=(resend) {
                    (csrf_field(v.csrf))
                    (hidden_carry(v.request_id, v.return_to))
                    input type="hidden" name="email" value=(v.email);
                    p.links { button.link type="submit" { "Send a new code" } }
                }
            }
            p.links { a href=(v.back_href) { (v.back_label) } }
        },
    )
}

/// The page a magic link opens: one button, so mail scanners that prefetch links sign nobody in.
pub fn magic_link_confirm(brand: &Brand, csrf: &str, token: &str, email: &str) -> Markup {
    card(
        brand,
        "Finish signing in",
        html! {
            p { "Continue as " strong { (email) } "?" }
            form method="post" action="/a/auth/code/link" {
                (csrf_field(csrf))
                input type="hidden" name="token" value=(token);
                button.primary.block type="submit" { "Sign in" }
            }
        },
    )
}

/// A short page that says what happened and where to go.
pub fn notice(
    brand: &Brand,
    title: &str,
    message: &str,
    link: Option<(&str, &str)>,
    alert: bool,
) -> Markup {
    card(
        brand,
        title,
        html! {
            @if alert {
                div.alert.error role="alert" { (message) }
            } @else {
                p role="status" { (message) }
            }
            @if let Some((href, label)) = link {
                p.links { a href=(href) { (label) } }
            }
        },
    )
}

pub struct SignupView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub name_error: Option<&'a str>,
    pub email_error: Option<&'a str>,
    pub password_error: Option<&'a str>,
    pub error: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
}

pub const PASSWORD_HINT: &str =
    "At least 12 characters. A few unrelated words make a strong, memorable password.";

pub fn signup(v: &SignupView<'_>) -> Markup {
    let q = carry(v.request_id, v.return_to);
    card(
        v.brand,
        "Create an account",
        html! {
            (alerts(None, v.error))
            form method="post" action="/a/auth/signup" novalidate {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                (text_field("name", "Full name", "text", v.name, "name", v.name_error, true))
                (text_field("email", "Email", "email", v.email, "email", v.email_error, false))
                (password_field("password", "Password", v.password_error))
                button.primary.block type="submit" { "Create account" }
            }
            p.links { a href=(format!("/a/auth/login{q}")) { "Already have an account? Sign in" } }
        },
    )
}

pub struct ForgotView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub email: &'a str,
    pub email_error: Option<&'a str>,
    pub error: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
}

pub fn forgot(v: &ForgotView<'_>) -> Markup {
    let q = carry(v.request_id, v.return_to);
    card(
        v.brand,
        "Reset your password",
        html! {
            (alerts(None, v.error))
            p { "Enter your email and we will send you a link to choose a new password." }
            form method="post" action="/a/auth/forgot" novalidate {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                (text_field("email", "Email", "email", v.email, "email", v.email_error, true))
                button.primary.block type="submit" { "Send the link" }
            }
            p.links { a href=(format!("/a/auth/login{q}")) { "Back to sign in" } }
        },
    )
}

pub struct ResetView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    pub password_error: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn reset(v: &ResetView<'_>) -> Markup {
    card(
        v.brand,
        "Choose a new password",
        html! {
            (alerts(None, v.error))
            p { "For " strong { (v.email) } ". Choosing a new password signs you out everywhere." }
            form method="post" action="/a/auth/reset" novalidate {
                (csrf_field(v.csrf))
                input type="hidden" name="token" value=(v.token);
                (password_field("password", "New password", v.password_error))
                button.primary.block type="submit" { "Save the new password" }
            }
        },
    )
}

/// One organization the user may sign in to.
pub struct OrgChoice {
    pub id: String,
    pub name: String,
    pub role: String,
}

pub struct OrgPickerView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub user_email: &'a str,
    pub orgs: &'a [OrgChoice],
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn org_picker(v: &OrgPickerView<'_>) -> Markup {
    card(
        v.brand,
        "Choose an organization",
        html! {
            (alerts(None, v.error))
            p { "You belong to several organizations as " strong { (v.user_email) } ". Which one do you want to use?" }
            form method="post" action="/a/auth/organization" {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                ul.choices {
                    @for org in v.orgs {
                        li {
                            button.block type="submit" name="organization_id" value=(org.id) {
                                span.choice-name { (org.name) }
                                " "
                                span.muted { (org.role) }
                            }
                        }
                    }
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

/// A new-password input with the rules always shown, and the refusal reason when there is one.
pub fn password_field(name: &str, label: &str, error: Option<&str>) -> Markup {
    let hint_id = format!("{name}-hint");
    let error_id = format!("{name}-error");
    let described = match error {
        Some(_) => format!("{hint_id} {error_id}"),
        None => hint_id.clone(),
    };
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type="password" autocomplete="new-password"
                minlength="12"
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=(described);
            div.muted.hint id=(hint_id) { (PASSWORD_HINT) }
            @if let Some(e) = error {
                div.field-error id=(error_id) { (e) }
            }
        }
    }
}

pub struct LogoutView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub signed_in: bool,
    /// Validated RP-initiated logout parameters, carried through the confirmation.
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    /// Back to the application, when it registered where.
    pub return_href: Option<String>,
}

/// The sign-out confirmation (RP-initiated logout without a valid hint, or the widgets' link).
pub fn logout_confirm(v: &LogoutView<'_>) -> Markup {
    card(
        v.brand,
        "Sign out",
        html! {
            @if v.signed_in {
                p { "Do you want to sign out of " (v.brand.name) "?" }
                form method="post" action="/oidc/logout" {
                    (csrf_field(v.csrf))
                    @if let Some(c) = v.client_id { input type="hidden" name="client_id" value=(c); }
                    @if let Some(u) = v.post_logout_redirect_uri { input type="hidden" name="post_logout_redirect_uri" value=(u); }
                    @if let Some(s) = v.state { input type="hidden" name="state" value=(s); }
                    button.primary.block type="submit" { "Sign out" }
                }
            } @else {
                p { "You are not signed in." }
                p.links {
                    @if let Some(back) = &v.return_href {
                        a href=(back) { "Return to the application" }
                    } @else {
                        a href="/a/auth/login" { "Sign in" }
                    }
                }
            }
        },
    )
}
