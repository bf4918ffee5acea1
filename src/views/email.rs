//! The messages Portal mails, branded with the environment's name, colour and logo. Pure functions
//! from data to a subject, a plain-text body and an HTML body; the mailer actor sends them.
//!
//! Email clients ignore stylesheets, so the HTML carries inline styles and a single-column table.

use maud::{DOCTYPE, Markup, html};

/// What a message shows of the environment's branding.
#[derive(Debug, Clone, Default)]
pub struct EmailBrand {
    pub name: String,
    /// `#rrggbb`; Portal's default indigo when unset.
    pub color: Option<String>,
    pub logo_url: Option<String>,
}

impl EmailBrand {
    fn color(&self) -> &str {
        self.color
            .as_deref()
            .filter(|c| c.len() == 7 && c.starts_with('#'))
            .unwrap_or("#4f46e5")
    }
}

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn layout(brand: &EmailBrand, heading: &str, content: Markup) -> String {
    let color = brand.color();
    let text_on = super::layout::contrast_text(color).unwrap_or("#ffffff");
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (heading) } }
            body style="margin:0;padding:0;background:#f5f6fa;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2330" {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="padding:24px 0" {
                    tr { td align="center" {
                        table role="presentation" width="480" cellpadding="0" cellspacing="0" style="background:#ffffff;border:1px solid #dfe2ea;border-radius:10px" {
                            tr { td style=(format!("background:{color};color:{text_on};padding:16px 24px;border-radius:10px 10px 0 0;font-weight:600")) {
                                @if let Some(logo) = &brand.logo_url {
                                    img src=(logo) alt=(brand.name) height="32" style="display:block;max-height:32px";
                                } @else {
                                    (brand.name)
                                }
                            } }
                            tr { td style="padding:24px" {
                                h1 style="font-size:20px;margin:0 0 16px" { (heading) }
                                (content)
                            } }
                        }
                        p style="font-size:12px;color:#5d6474;margin-top:16px" {
                            "Sent by " (brand.name) ". If you did not ask for this, you can ignore this message."
                        }
                    } }
                }
            }
        }
    }
    .into_string()
}

fn button(brand: &EmailBrand, href: &str, label: &str) -> Markup {
    let color = brand.color();
    let text_on = super::layout::contrast_text(color).unwrap_or("#ffffff");
    html! {
        p style="margin:24px 0" {
            a href=(href) style=(format!("background:{color};color:{text_on};padding:10px 18px;border-radius:8px;text-decoration:none;font-weight:600;display:inline-block")) { (label) }
        }
    }
}

fn code_block(code: &str) -> Markup {
    html! {
        p style="font-size:32px;letter-spacing:6px;font-weight:700;font-family:ui-monospace,Menlo,Consolas,monospace;margin:16px 0" { (code) }
    }
}

/// A sign-in code and magic link, both for one sign-in.
pub fn sign_in_code(brand: &EmailBrand, code: &str, link: &str, minutes: i64) -> Email {
    let subject = format!("Your {} sign-in code: {code}", brand.name);
    let text = format!(
        "Your sign-in code for {name} is:\n\n    {code}\n\nOr open this link to sign in:\n{link}\n\n\
         The code and the link work once, for {minutes} minutes.\n\
         If you did not try to sign in, you can ignore this message.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        "Your sign-in code",
        html! {
            p { "Enter this code on the sign-in page:" }
            (code_block(code))
            p { "Or sign in with one click:" }
            (button(brand, link, "Sign in"))
            p style="color:#5d6474" { "The code and the link work once, for " (minutes) " minutes." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

/// The code that confirms a new account's email address.
pub fn verify_email(brand: &EmailBrand, code: &str, minutes: i64) -> Email {
    let subject = format!("Confirm your email for {}: {code}", brand.name);
    let text = format!(
        "Welcome to {name}. Enter this code to confirm your email address and finish creating your account:\n\n    {code}\n\n\
         The code works once, for {minutes} minutes.\n\
         If you did not sign up, you can ignore this message; no account is created without the code.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        "Confirm your email address",
        html! {
            p { "Enter this code to finish creating your account:" }
            (code_block(code))
            p style="color:#5d6474" { "The code works once, for " (minutes) " minutes. Without it, no account is created." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

/// Sent instead of a verification code when someone signs up with an address that has an account.
pub fn already_registered(brand: &EmailBrand, sign_in_link: &str, reset_link: &str) -> Email {
    let subject = format!("You already have a {} account", brand.name);
    let text = format!(
        "Someone (hopefully you) tried to create a {name} account with this email address, but it already has one.\n\n\
         Sign in: {sign_in_link}\nForgot your password? Reset it: {reset_link}\n\n\
         If this was not you, you can ignore this message; nothing has changed.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        "You already have an account",
        html! {
            p { "Someone (hopefully you) tried to create an account with this email address, but it already has one." }
            (button(brand, sign_in_link, "Sign in"))
            p { "Forgot your password? " a href=(reset_link) { "Reset it" } "." }
            p style="color:#5d6474" { "If this was not you, nothing has changed." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

/// A link to choose a new password.
pub fn password_reset(brand: &EmailBrand, link: &str, minutes: i64) -> Email {
    let subject = format!("Reset your {} password", brand.name);
    let text = format!(
        "Open this link to choose a new password for {name}:\n{link}\n\n\
         The link works once, for {minutes} minutes. Choosing a new password signs you out everywhere.\n\
         If you did not ask for this, you can ignore this message; your password has not changed.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        "Reset your password",
        html! {
            p { "Choose a new password with this link:" }
            (button(brand, link, "Choose a new password"))
            p style="color:#5d6474" { "The link works once, for " (minutes) " minutes. Choosing a new password signs you out everywhere." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

/// An invitation to join an organization: who invited, to which organization, with which role.
pub fn invite(
    brand: &EmailBrand,
    inviter: Option<&str>,
    org_name: &str,
    role: &str,
    link: &str,
    days: i64,
) -> Email {
    let who = inviter
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("An administrator");
    let subject = format!("{who} invited you to join {org_name} on {}", brand.name);
    let text = format!(
        "{who} invited you to join {org_name} on {name} as {role}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once, for {days} days. If you did not expect this, you can ignore this message.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        &format!("Join {org_name}"),
        html! {
            p { strong { (who) } " invited you to join " strong { (org_name) } " as " (role) "." }
            (button(brand, link, "Accept the invitation"))
            p style="color:#5d6474" { "The link works once, for " (days) " days." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

/// The code that confirms a new address for an existing account.
pub fn email_change_code(brand: &EmailBrand, code: &str, minutes: i64) -> Email {
    let subject = format!("Confirm your new email for {}: {code}", brand.name);
    let text = format!(
        "Enter this code on your {name} profile to make this your account's email address:\n\n    {code}\n\n\
         The code works once, for {minutes} minutes. If you did not ask for this, you can ignore this message.\n",
        name = brand.name
    );
    let html = layout(
        brand,
        "Confirm your new email address",
        html! {
            p { "Enter this code on your profile page:" }
            (code_block(code))
            p style="color:#5d6474" { "The code works once, for " (minutes) " minutes." }
        },
    );
    Email {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> EmailBrand {
        EmailBrand {
            name: "Acme ID".into(),
            color: Some("#ffd60a".into()),
            logo_url: None,
        }
    }

    #[test]
    fn sign_in_mail_carries_code_link_and_brand() {
        let m = sign_in_code(
            &brand(),
            "123456",
            "https://id.example/a/auth/code/link?token=t<x>",
            10,
        );
        assert!(m.subject.contains("123456") && m.subject.contains("Acme ID"));
        assert!(m.text.contains("123456") && m.text.contains("token=t<x>"));
        assert!(m.html.contains("#ffd60a") && m.html.contains("color:#000000"));
        assert!(
            m.html.contains("token=t&lt;x&gt;"),
            "links are escaped in HTML"
        );
    }

    #[test]
    fn invite_mail_says_who_invited_to_which_org() {
        let m = invite(
            &brand(),
            Some("Ada Admin"),
            "Acme",
            "member",
            "https://id.example/a/invite?token=t",
            7,
        );
        assert!(m.subject.contains("Ada Admin") && m.subject.contains("Acme"));
        assert!(
            m.text.contains("https://id.example/a/invite?token=t") && m.text.contains("7 days")
        );
        assert!(m.html.contains("#ffd60a"));
    }

    #[test]
    fn unknown_colours_fall_back_to_the_default() {
        let b = EmailBrand {
            color: Some("red;background:url(x)".into()),
            ..brand()
        };
        let m = password_reset(&b, "https://x", 30);
        assert!(m.html.contains("#4f46e5") && !m.html.contains("url(x)"));
    }
}
