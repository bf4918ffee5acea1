//! A session ended from a second device signs the first browser out live: the first browser sits
//! on a widget page and does nothing; the second signs that session out from the security widget.

use super::Scenario;
use crate::helpers::{Backend, TestApp};

#[actix_web::test]
async fn a_session_revoked_from_a_second_device_signs_the_first_browser_out_live() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let Some(s) = Scenario::start("session-revoked", app, 2).await else {
        return;
    };
    let laptop = s.signed_in("laptop", "admin@acme.test").await;
    laptop.goto("/ui/organization/members").await;
    laptop.wait_live().await;
    laptop.mark_page().await;
    laptop.screenshot("members").await;

    let phone = s.signed_in("phone", "admin@acme.test").await;
    phone.goto("/ui/security").await;
    phone.wait_text("Where you are signed in").await;
    let sessions = phone
        .script(
            "return document.querySelectorAll('[data-live-list=sessions] li.session').length;",
            vec![],
        )
        .await;
    assert_eq!(sessions, 2, "both devices are listed");
    assert!(phone.text().await.contains("This device"));
    phone.screenshot("security").await;
    phone.click_button("Sign out this session").await;
    phone.wait_text("signed out").await;
    phone.screenshot("session-revoked").await;

    // The laptop, untouched, leaves the widget page on its own and lands on the sign-in screen.
    laptop.wait_path("/a/auth/login").await;
    assert!(
        !laptop.page_is_marked().await,
        "the page navigated away by itself"
    );
    laptop.wait_text("Sign in").await;
    laptop.screenshot("signed-out").await;
    laptop.goto("/ui/organization/members").await;
    laptop.wait_path("/a/auth/login").await;

    // The phone's own session goes on.
    phone.goto("/ui/organization/members").await;
    phone.wait_path("/ui/organization/members").await;
    phone.wait_text("admin@acme.test").await;
    laptop.close().await;
    phone.close().await;
}
