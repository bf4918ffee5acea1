//! The page after sign-up that suggests joining an organization by email domain.

use super::auth::{card, hidden_carry};
use super::layout::{Brand, csrf_field};
use maud::{Markup, html};

pub struct JoinView<'a> {
    pub brand: &'a Brand,
    pub csrf: &'a str,
    pub email: &'a str,
    pub domain: &'a str,
    pub org_id: &'a str,
    pub org_name: &'a str,
    pub request_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn join_suggestion(v: &JoinView<'_>) -> Markup {
    card(
        v.brand,
        &format!("Join {}?", v.org_name),
        html! {
            @if let Some(error) = v.error {
                div.alert.error role="alert" { (error) }
            }
            p {
                "Your address " strong { (v.email) } " is on " strong { (v.domain) } ", a domain "
                strong { (v.org_name) } " has verified. You can join " (v.org_name)
                " as a member now, or continue without joining."
            }
            form method="post" action="/a/auth/join" {
                (csrf_field(v.csrf))
                (hidden_carry(v.request_id, v.return_to))
                input type="hidden" name="organization_id" value=(v.org_id);
                p { button.primary.block type="submit" name="choice" value="join" { "Join " (v.org_name) } }
                p { button.block type="submit" name="choice" value="decline" { "Not now" } }
            }
        },
    )
}
