use maud::{DOCTYPE, Markup, html};

/// What every page shows of the environment's branding. Colours reach the page through
/// `/branding.css`, versioned so a change shows at once.
#[derive(Debug, Clone, Default)]
pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
    /// Changes whenever branding does (cache-busting for `/branding.css`).
    pub version: i64,
}

/// The HTML document around every screen.
pub fn page(brand: &Brand, title: &str, body_attrs: BodyAttrs<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · " (brand.name) }
                link rel="stylesheet" href=(format!("/static/portal.css?v={}", env!("CARGO_PKG_VERSION")));
                link rel="stylesheet" href=(format!("/branding.css?v={}", brand.version));
                @if let Some(icon) = &brand.favicon_url {
                    link rel="icon" href=(icon);
                }
            }
            body data-live-widget=[body_attrs.live_widget] data-live-seq=[body_attrs.live_seq] {
                a.skip href="#main" { "Skip to content" }
                (content)
                @if body_attrs.live_widget.is_some() {
                    script src=(format!("/static/live.js?v={}", env!("CARGO_PKG_VERSION"))) defer {}
                }
            }
        }
    }
}

/// Attributes that turn on the live script.
#[derive(Debug, Default, Clone, Copy)]
pub struct BodyAttrs<'a> {
    pub live_widget: Option<&'a str>,
    pub live_seq: Option<i64>,
}

/// `/branding.css`: the brand colour and a text colour that reads on it.
pub fn branding_css(primary: Option<&str>) -> String {
    match primary {
        Some(hex) => format!(
            ":root{{--brand:{hex};--brand-text:{};}}\n",
            contrast_text(hex).unwrap_or("#ffffff")
        ),
        None => String::from("/* default branding */\n"),
    }
}

/// Black or white, whichever contrasts more with `#rrggbb` (WCAG relative luminance).
pub fn contrast_text(hex: &str) -> Option<&'static str> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |i: usize| -> Option<f64> {
        let v = u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()? as f64 / 255.0;
        Some(if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    let l = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    // Contrast against white is 1.05/(l+0.05), against black (l+0.05)/0.05; pick the larger.
    Some(if (l + 0.05) / 0.05 > 1.05 / (l + 0.05) {
        "#000000"
    } else {
        "#ffffff"
    })
}

/// A hidden CSRF field.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_readable_text_colour() {
        assert_eq!(contrast_text("#ffffff"), Some("#000000"));
        assert_eq!(contrast_text("#000000"), Some("#ffffff"));
        assert_eq!(contrast_text("#4f46e5"), Some("#ffffff"));
        assert_eq!(contrast_text("#ffd60a"), Some("#000000"));
        assert_eq!(contrast_text("red"), None);
    }
}
