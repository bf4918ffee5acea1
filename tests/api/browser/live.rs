//! Pages that stay current on their own: two admins watch a widget in two browsers while the
//! organization changes (through the management API, a form in the other browser, or a DNS check),
//! and both see it happen without reloading.

use super::{Browser, Scenario};
use crate::dns::DnsServer;
use crate::helpers::{Backend, PASSWORD, TestApp};
use portal::config::DnsSettings;
use portal::crypto::Passwords;
use portal::db;
use portal::domain::{EmailAddress, Feature};
use serde_json::{Value, json};

/// Adds a second admin to `org_id` through the management API and gives them the demo password,
/// so a second browser can sign in as another admin of the same organization.
pub async fn second_admin(app: &TestApp, org_id: &str, email: &str, name: &str) {
    let res = app
        .add_member(
            org_id,
            json!({ "email": email, "name": name, "role": "admin" }),
        )
        .await;
    assert_eq!(res.status(), 201, "second admin added");
    let user = db::users::find_by_email(app.conn(), &EmailAddress::parse(email).expect("email"))
        .await
        .expect("query")
        .expect("the user exists");
    let hash = Passwords::hash(PASSWORD.into()).await.expect("hash");
    db::users::set_password_hash(app.conn(), &user.id, hash)
        .await
        .expect("set password");
    db::users::mark_email_verified(app.conn(), &user.id)
        .await
        .expect("verify email");
}

/// Opens `path` and waits until its live socket is connected, then marks the document so the test
/// can tell later that it was never reloaded.
pub async fn watch(browser: &Browser, path: &str) {
    browser.goto(path).await;
    browser.wait_live().await;
    browser.mark_page().await;
}

/// The text of the members table's row for `email` (empty when there is none).
pub async fn member_row_text(browser: &Browser, email: &str) -> String {
    browser
        .script(
            r#"for (const tr of document.querySelectorAll("[data-live-list=members] tr"))
                 if (tr.innerText.includes(arguments[0])) return tr.innerText;
               return "";"#,
            vec![json!(email)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The number of rows in the members table.
async fn member_rows(browser: &Browser) -> u64 {
    browser
        .script(
            "return document.querySelectorAll('[data-live-list=members] tr').length;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap_or_default()
}

#[actix_web::test]
async fn a_member_added_through_the_api_appears_on_both_admins_pages_without_reload() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    second_admin(&app, &acme, "second@acme.test", "Sam Second").await;
    let Some(s) = Scenario::start("members-live", app, 2).await else {
        return;
    };
    let ada = s.signed_in("ada", "admin@acme.test").await;
    let sam = s.signed_in("sam", "second@acme.test").await;
    for admin in [&ada, &sam] {
        watch(admin, "/ui/organization/members").await;
        admin.screenshot("members-before").await;
    }
    let before = member_rows(&ada).await;
    assert_eq!(before, member_rows(&sam).await);
    assert!(!ada.text().await.contains("newcomer@acme.test"));

    let res = s
        .app
        .add_member(
            &acme,
            json!({ "email": "newcomer@acme.test", "name": "Nora Newcomer" }),
        )
        .await;
    assert_eq!(res.status(), 201);

    for admin in [&ada, &sam] {
        admin.wait_text("newcomer@acme.test").await;
        assert!(admin.page_is_marked().await, "the page was not reloaded");
        assert_eq!(member_rows(admin).await, before + 1, "one row more");
        let row = member_row_text(admin, "newcomer@acme.test").await;
        assert!(
            row.contains("Nora Newcomer") && row.contains("Member") && row.contains("Active"),
            "{row}"
        );
        admin.screenshot("members-after").await;
    }
    ada.close().await;
    sam.close().await;
}

/// A server whose domain checks ask `dns`, with domain verification on for Acme.
async fn app_with_dns(dns: &DnsServer) -> Option<(TestApp, String)> {
    let settings = DnsSettings {
        servers: dns.address(),
        timeout_ms: 1500,
        attempts: 1,
        cache: false,
        concurrency: 4,
    };
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| s.dns = settings).await?;
    let acme = app.org_id("Acme").await;
    db::orgs::set_feature(app.conn(), &acme, Feature::DomainVerification, true)
        .await
        .expect("enable domains");
    Some((app, acme))
}

/// The domain row's status and its badge's computed colour, as `[status, color]`.
async fn domain_state(browser: &Browser, domain: &str) -> Value {
    browser
        .script(
            r#"for (const li of document.querySelectorAll("[data-live-list=domains] li.domain")) {
                 if (li.querySelector(".domain-name").innerText.trim() !== arguments[0]) continue;
                 const badge = li.querySelector(".badge");
                 return [li.getAttribute("data-status"), badge.innerText.trim(),
                         getComputedStyle(badge).color, getComputedStyle(li).borderTopColor];
               }
               return null;"#,
            vec![json!(domain)],
        )
        .await
}

#[actix_web::test]
async fn a_domain_added_in_one_browser_turns_verified_in_both_without_reload() {
    let Some(dns) = DnsServer::start().await else {
        return;
    };
    let Some((app, acme)) = app_with_dns(&dns).await else {
        return;
    };
    second_admin(&app, &acme, "second@acme.test", "Sam Second").await;
    let Some(s) = Scenario::start("domains-live", app, 2).await else {
        return;
    };
    let ada = s.signed_in("ada", "admin@acme.test").await;
    let sam = s.signed_in("sam", "second@acme.test").await;
    watch(&sam, "/ui/organization/domains").await;
    sam.screenshot("domains-empty").await;

    // Ada adds the domain with the form; Sam's page shows it at once, pending.
    ada.goto("/ui/organization/domains").await;
    ada.fill("Domain", "acme-browser.test").await;
    ada.click_button("Add domain").await;
    ada.wait_text("_portal-challenge.acme-browser.test").await;
    ada.wait_live().await;
    ada.mark_page().await;
    ada.screenshot("domain-added").await;
    sam.wait_text("_portal-challenge.acme-browser.test").await;
    assert!(sam.page_is_marked().await, "Sam's page was not reloaded");
    let pending = domain_state(&sam, "acme-browser.test").await;
    assert_eq!(pending[0], "pending", "{pending}");
    assert_eq!(pending[1], "Pending");
    sam.screenshot("domain-pending").await;

    // The record Ada's page shows is published; the scheduled check finds it.
    let record = ada
        .script(
            r#"const li = document.querySelector("[data-live-list=domains] li.domain");
               const codes = li.querySelectorAll("dl.txt-record code");
               return [codes[1].innerText.trim(), codes[2].innerText.trim()];"#,
            vec![],
        )
        .await;
    let (name, value) = (
        record[0].as_str().expect("record name"),
        record[1].as_str().expect("record value"),
    );
    assert_eq!(name, "_portal-challenge.acme-browser.test");
    assert!(value.starts_with("portal-verification="), "{value}");
    dns.set_txt_value(name, value);
    let domain = db::domains::list_for_org(s.app.conn(), &acme)
        .await
        .expect("list")
        .pop()
        .expect("the domain");
    let due = domain.next_check_at.expect("a check is scheduled");
    let outcome = s
        .app
        .app_state
        .domains
        .try_run_once(due)
        .await
        .expect("the scheduled check runs");
    assert_eq!(outcome.changed, 1, "{outcome:?}");

    // Both pages turn green without reloading.
    for admin in [&ada, &sam] {
        admin
            .wait_script(
                "the domain row to turn verified",
                r#"const li = document.querySelector("[data-live-list=domains] li.domain");
                   return !!li && li.getAttribute("data-status") === "verified";"#,
                vec![],
            )
            .await;
        assert!(admin.page_is_marked().await, "the page was not reloaded");
        let verified = domain_state(admin, "acme-browser.test").await;
        assert_eq!(verified[1], "Verified", "{verified}");
        // --ok (#067647) on the badge, the green border (#abefc6) on the row.
        assert_eq!(verified[2], "rgb(6, 118, 71)", "the badge is green");
        assert_eq!(
            verified[3], "rgb(171, 239, 198)",
            "the row's border is green"
        );
        assert!(
            admin.text().await.contains("record found and it matches"),
            "the answer in words"
        );
        admin.screenshot("domain-verified").await;
    }
    ada.close().await;
    sam.close().await;
}

#[actix_web::test]
async fn a_member_removed_through_the_api_leaves_both_pages_live_and_is_told_why_then_signed_out() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let max = db::users::find_by_email(
        app.conn(),
        &EmailAddress::parse("member@acme.test").expect("email"),
    )
    .await
    .expect("query")
    .expect("Max exists");
    let Some(s) = Scenario::start("member-removed", app, 2).await else {
        return;
    };
    let ada = s.signed_in("ada", "admin@acme.test").await;
    let max_browser = s.signed_in("max", "member@acme.test").await;
    for browser in [&ada, &max_browser] {
        watch(browser, "/ui/organization/members").await;
        assert!(
            member_row_text(browser, "member@acme.test")
                .await
                .contains("Max Member")
        );
        browser.screenshot("members-before").await;
    }

    let token = s.app.api_token().await;
    let res = s
        .app
        .http()
        .delete(
            s.app
                .url(&format!("/api/v1/organizations/{acme}/users/{}", max.id)),
        )
        .bearer_auth(token)
        .send()
        .await
        .expect("remove Max");
    assert_eq!(res.status(), 204);

    // Ada's list loses the row in place.
    ada.wait_until("Max's row to go", || async {
        member_row_text(&ada, "member@acme.test").await.is_empty()
    })
    .await;
    assert!(ada.page_is_marked().await, "Ada's page was not reloaded");
    ada.screenshot("members-after").await;

    // Max's page says why before it leaves, and the widgets are no longer his.
    max_browser
        .wait_script(
            "the page to say the membership ended",
            r#"const s = document.querySelector("[data-live-status]");
               return !!s && s.getAttribute("data-state") === "ended" && s.innerText.trim() !== "";"#,
            vec![],
        )
        .await;
    let status = max_browser
        .script(
            "return document.querySelector('[data-live-status]').innerText.trim();",
            vec![],
        )
        .await;
    assert_eq!(status, "You are no longer a member of this organization.");
    max_browser.screenshot("told-why").await;
    max_browser
        .wait_until("the page to leave the members widget", || async {
            !max_browser.page_is_marked().await
        })
        .await;
    // Removal ended his sessions in the organization: the widgets ask him to sign in again.
    max_browser.wait_path("/a/auth/login").await;
    max_browser.wait_text("Sign in").await;
    max_browser.goto("/ui/organization/members").await;
    max_browser.wait_path("/a/auth/login").await;
    assert!(!max_browser.text().await.contains("admin@acme.test"));
    max_browser.screenshot("after-removal").await;
    ada.close().await;
    max_browser.close().await;
}
