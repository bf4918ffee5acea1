//! The demo integrator app at `/demo/`: what an application using Portal looks like from outside.

use super::layout::{BodyAttrs, Brand, page};
use maud::{Markup, html};

pub fn home(brand: &Brand, sign_in_href: &str) -> Markup {
    page(
        brand,
        "Demo app",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card {
                    h1 { "Demo app" }
                    p { "This small app stands in for your product. It signs users in through Portal with OpenID Connect, then sends them to the hosted widgets." }
                    p { a.button.primary.block href=(sign_in_href) { "Sign in" } }
                }
            }
        },
    )
}

pub fn signed_in(brand: &Brand, claims_json: &str, email: &str, sign_out_href: &str) -> Markup {
    page(
        brand,
        "Signed in",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card.wide {
                    h1 { "Signed in as " (email) }
                    p { "The demo app exchanged the authorization code for tokens. These are the ID token's claims:" }
                    pre.claims data-testid="claims" { (claims_json) }
                    p { a.button.primary href="/ui/" { "Open the widgets" } " " a.button href="/demo/" { "Back to the demo app" } " " a.button href=(sign_out_href) { "Sign out" } }
                }
            }
        },
    )
}

pub fn failed(brand: &Brand, message: &str) -> Markup {
    page(
        brand,
        "Sign-in failed",
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card role="alert" {
                    h1 { "Sign-in failed" }
                    p { (message) }
                    p { a.button href="/demo/" { "Try again" } }
                }
            }
        },
    )
}
