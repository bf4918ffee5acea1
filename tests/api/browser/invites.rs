//! An invite end to end in three browsers: one admin invites by email, the email is read from the
//! SMTP sink, a third browser accepts it by creating an account, and both admins' members pages
//! show the invite and then the new member without reloading.

use super::Scenario;
use super::live::{member_row_text, second_admin, watch};
use crate::helpers::{Backend, TestApp};
use crate::smtp::SmtpSink;
use std::time::Duration;

const MEMBERS: &str = "/ui/organization/members";

#[actix_web::test]
async fn an_invite_sent_in_one_browser_and_accepted_in_a_third_appears_live_for_both_admins() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let smtp = sink.url();
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, move |s| s.smtp_url = Some(smtp)).await
    else {
        return;
    };
    let acme = app.org_id("Acme").await;
    second_admin(&app, &acme, "second@acme.test", "Sam Second").await;
    let Some(s) = Scenario::start("invite", app, 3).await else {
        return;
    };
    let ada = s.signed_in("ada", "admin@acme.test").await;
    let sam = s.signed_in("sam", "second@acme.test").await;
    watch(&sam, MEMBERS).await;
    sam.screenshot("members-before").await;

    // Ada invites by email through the form.
    ada.goto(MEMBERS).await;
    ada.click_text("summary", "Invite people").await;
    ada.fill("Email addresses", "ivy@invited.test").await;
    ada.screenshot("invite-form").await;
    ada.click_button("Send invites").await;
    ada.wait_text("Invites sent.").await;
    ada.wait_live().await;
    ada.mark_page().await;
    ada.screenshot("invite-sent").await;
    let invited = member_row_text(&ada, "ivy@invited.test").await;
    assert!(invited.contains("Invited"), "{invited}");

    // Sam's page shows the pending invite without reloading.
    sam.wait_text("ivy@invited.test").await;
    assert!(sam.page_is_marked().await, "Sam's page was not reloaded");
    let invited = member_row_text(&sam, "ivy@invited.test").await;
    assert!(invited.contains("Invited"), "{invited}");
    sam.screenshot("invite-appeared").await;

    // The email says who invited whom to which organization, and carries the link.
    let mail = sink
        .wait_for_message("ivy@invited.test", Duration::from_secs(30))
        .await;
    assert!(
        mail.subject.contains("Ada Admin") && mail.subject.contains("Acme"),
        "{}",
        mail.subject
    );
    let link = mail.link("/a/invite").expect("an invite link");

    // A third browser opens the link and creates the account.
    let ivy = s.browser("ivy").await;
    ivy.goto(&link).await;
    ivy.wait_text("Join Acme").await;
    ivy.screenshot("invite-accept").await;
    ivy.fill("Full name", "Ivy Invitee").await;
    ivy.fill("Choose a password", "saffron-meadow-tundra-orbit-19")
        .await;
    ivy.click_button("Create account and join").await;
    ivy.wait_path("/ui/").await;
    ivy.wait_text("Ivy Invitee").await;
    ivy.screenshot("joined").await;

    // Both admins see the new member, active, without reloading.
    for admin in [&ada, &sam] {
        admin
            .wait_until("the invite to turn into an active member", || async {
                let row = member_row_text(admin, "ivy@invited.test").await;
                row.contains("Active") && row.contains("Ivy Invitee")
            })
            .await;
        assert!(admin.page_is_marked().await, "the page was not reloaded");
        admin.screenshot("member-joined").await;
    }
    ada.close().await;
    sam.close().await;
    ivy.close().await;
}
