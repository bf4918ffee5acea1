use super::layout::{BodyAttrs, Brand, page};
use maud::{Markup, html};

/// A full page for an error, with what to do next.
pub fn error_page(
    brand: &Brand,
    status: u16,
    title: &str,
    message: &str,
    next: Option<(&str, &str)>,
) -> Markup {
    page(
        brand,
        title,
        BodyAttrs::default(),
        html! {
            main.auth id="main" {
                div.card role="alert" {
                    p.muted { "Error " (status) }
                    h1 { (title) }
                    p { (message) }
                    @if let Some((href, label)) = next {
                        p { a.button.primary href=(href) { (label) } }
                    }
                }
            }
        },
    )
}
