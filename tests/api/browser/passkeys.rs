//! Passkeys in a real browser: a WebAuthn virtual authenticator (chromedriver's W3C extension
//! commands) stands in for the device; the user registers a passkey on the security widget, signs
//! out, and signs in again with it from the hosted login, typing nothing.
//!
//! WebAuthn needs a domain name (not an IP address) in a secure context, so this server's public
//! URL is `http://localhost:<port>`.

use super::Scenario;
use super::keyboard::{activate, screen, tab_to_field};
use crate::helpers::{Backend, TestApp};
use fantoccini::key::Key;
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn a_passkey_registered_on_the_security_widget_signs_in_on_the_hosted_login() {
    // A free port, so the public URL can name it before the server binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.listen = format!("127.0.0.1:{port}");
        s.public_url = Some(format!("http://localhost:{port}"));
    })
    .await
    else {
        return;
    };
    assert_eq!(app.base, format!("http://localhost:{port}"));
    let Some(s) = Scenario::start("passkey", app, 1).await else {
        return;
    };
    let browser = s.browser("user").await;
    let authenticator = browser
        .command(
            Method::POST,
            "webauthn/authenticator",
            Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        )
        .await;
    let authenticator = authenticator
        .as_str()
        .expect("authenticator id")
        .to_string();
    let credentials = || async {
        browser
            .command(
                Method::GET,
                &format!("webauthn/authenticator/{authenticator}/credentials"),
                None,
            )
            .await
    };

    // Register: signed in by password a moment ago, so no further confirmation is asked.
    browser
        .sign_in_via_demo("admin@acme.test", crate::helpers::PASSWORD)
        .await;
    browser.goto("/ui/security").await;
    browser.wait_text("Passkeys").await;
    browser.screenshot("security").await;
    browser
        .fill("Name for the new passkey", "Test laptop")
        .await;
    browser.click_button("Add a passkey").await;
    browser.wait_path("/ui/security?done=passkey").await;
    browser
        .wait_script(
            "the new passkey in the list",
            "return [...document.querySelectorAll('li.passkey input[name=name]')].some(i => i.value === 'Test laptop');",
            vec![],
        )
        .await;
    browser.screenshot("passkey-added").await;
    let stored = credentials().await;
    let stored = stored.as_array().expect("credentials");
    assert_eq!(stored.len(), 1, "the authenticator holds one credential");
    assert_eq!(
        stored[0]["isResidentCredential"], true,
        "a discoverable one"
    );
    assert_eq!(stored[0]["rpId"], "localhost");
    let sign_count = stored[0]["signCount"].as_u64().unwrap_or_default();

    // Sign out, then sign in with the passkey alone.
    browser.goto("/oidc/logout").await;
    browser.wait_text("Do you want to sign out").await;
    browser.click_button("Sign out").await;
    browser.wait_text("You have signed out.").await;
    browser.goto("/demo/").await;
    browser.click_link("Sign in").await;
    browser.wait_path("/a/auth/login").await;
    browser.wait_text("Sign in with a passkey").await;
    browser.screenshot("hosted-login").await;
    browser.click_button("Sign in with a passkey").await;
    browser.wait_text("Signed in as admin@acme.test").await;
    browser.screenshot("signed-in-with-passkey").await;
    let used = credentials().await;
    assert!(
        used[0]["signCount"].as_u64().unwrap_or_default() > sign_count,
        "the authenticator signed an assertion: {used}"
    );

    // The security widget says when the passkey was last used and how this session signed in.
    browser.goto("/ui/security").await;
    browser.wait_text("last used").await;
    assert!(browser.text().await.contains("with passkey"));
    browser.screenshot("security-after").await;

    // Rename and delete it by keyboard alone.
    tab_to_field(&browser, "Name").await;
    browser.select_all().await;
    browser.type_text("Work laptop").await;
    browser.press(&[Key::Enter]).await;
    browser
        .wait_script(
            "the renamed passkey",
            "return [...document.querySelectorAll('li.passkey input[name=name]')].some(i => i.value === 'Work laptop');",
            vec![],
        )
        .await;
    screen(&browser, "passkey-renamed").await;
    activate(&browser, "Delete").await;
    browser.wait_text("No passkeys yet.").await;
    screen(&browser, "passkey-deleted").await;
    browser.close().await;
}
