//! Every form on the screens that exist, used with the keyboard alone (Tab to reach a control,
//! typing, Space, arrow keys and Enter, sent as WebDriver key actions; no clicks), and on every
//! screen visited, every form control has a label.

use super::{Browser, Scenario};
use crate::dns::DnsServer;
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::smtp::SmtpSink;
use fantoccini::key::Key;
use portal::config::DnsSettings;
use portal::db;
use portal::domain::Feature;
use serde_json::Value;
use std::time::Duration;

/// How many Tab presses a control may be away.
const TABS: usize = 40;
const MAIL_DEADLINE: Duration = Duration::from_secs(30);

/// Every visible form control on the page has a label with text (`<label>`, `aria-label` or
/// `aria-labelledby`), and every button says what it does.
pub(super) async fn assert_labelled(browser: &Browser, screen: &str) {
    let unlabelled = browser
        .script(
            r#"const bad = [];
               const named = (e) => {
                 if (e.labels && [...e.labels].some(l => l.textContent.trim() !== "")) return true;
                 if ((e.getAttribute("aria-label") || "").trim() !== "") return true;
                 const by = e.getAttribute("aria-labelledby");
                 return !!by && by.split(/\s+/).some(id => {
                   const t = document.getElementById(id); return t && t.textContent.trim() !== "";
                 });
               };
               for (const e of document.querySelectorAll("input, select, textarea")) {
                 if (e.type === "hidden") continue;
                 if (!named(e)) bad.push(e.outerHTML);
               }
               for (const b of document.querySelectorAll("button, input[type=submit]")) {
                 if ((b.textContent || b.value || b.getAttribute("aria-label") || "").trim() === "")
                   bad.push(b.outerHTML);
               }
               return bad;"#,
            vec![],
        )
        .await;
    assert_eq!(
        unlabelled,
        Value::Array(vec![]),
        "controls without a label on {screen}"
    );
}

/// A screen reached: its controls are labelled, and it is saved.
pub(super) async fn screen(browser: &Browser, name: &str) {
    assert_labelled(browser, name).await;
    browser.screenshot(name).await;
}

/// Tabs to the field labelled `label`.
pub(super) async fn tab_to_field(browser: &Browser, label: &str) {
    browser
        .tab_to(&format!("the field {label:?}"), TABS, |f| {
            f["label"] == label
        })
        .await;
}

/// Tabs to the link or button reading `text`.
pub(super) async fn tab_to_control(browser: &Browser, text: &str) {
    browser
        .tab_to(&format!("{text:?}"), TABS, |f| {
            f["text"] == text && (f["tag"] == "a" || f["tag"] == "button" || f["tag"] == "summary")
        })
        .await;
}

/// Tabs to the link or button reading `text` and presses Enter on it.
pub(super) async fn activate(browser: &Browser, text: &str) {
    tab_to_control(browser, text).await;
    browser.press(&[Key::Enter]).await;
}

/// Tabs to the field labelled `label` and types `text` into it.
pub(super) async fn type_into(browser: &Browser, label: &str, text: &str) {
    tab_to_field(browser, label).await;
    browser.type_text(text).await;
}

/// From the demo app to the hosted sign-in screen, by keyboard.
async fn open_hosted_login(browser: &Browser) {
    browser.goto("/demo/").await;
    browser.wait_text("Demo app").await;
    screen(browser, "demo-app").await;
    activate(browser, "Sign in").await;
    browser.wait_path("/a/auth/login").await;
    browser.wait_text("Forgot your password?").await;
    screen(browser, "hosted-login").await;
}

#[actix_web::test]
async fn every_form_works_by_keyboard_alone_and_every_input_has_a_label() {
    let Some(dns) = DnsServer::start().await else {
        return;
    };
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let (smtp, servers) = (sink.url(), dns.address());
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.smtp_url = Some(smtp);
        s.dns = DnsSettings {
            servers,
            timeout_ms: 1500,
            attempts: 1,
            cache: false,
            concurrency: 4,
        };
    })
    .await
    else {
        return;
    };
    let acme = app.org_id("Acme").await;
    for feature in [Feature::DomainVerification, Feature::SessionPolicy] {
        db::orgs::set_feature(app.conn(), &acme, feature, true)
            .await
            .expect("enable the feature");
    }
    let Some(s) = Scenario::start("keyboard", app, 1).await else {
        return;
    };

    // Sign-up: the form, then the emailed code.
    let newcomer = s.browser("signup").await;
    open_hosted_login(&newcomer).await;
    activate(&newcomer, "Create an account").await;
    newcomer.wait_path("/a/auth/signup").await;
    screen(&newcomer, "signup").await;
    type_into(&newcomer, "Full name", "Kim Keys").await;
    type_into(&newcomer, "Email", "kim@keyboard.test").await;
    type_into(&newcomer, "Password", "violet-harbor-quantum-pebble-42").await;
    newcomer.press(&[Key::Enter]).await;
    newcomer.wait_text("Check your email").await;
    screen(&newcomer, "signup-code").await;
    let mail = sink
        .wait_for_message("kim@keyboard.test", MAIL_DEADLINE)
        .await;
    let code = mail.code().expect("a code in the mail");
    type_into(&newcomer, "6-digit code", &code).await;
    newcomer.press(&[Key::Enter]).await;
    newcomer.wait_text("Signed in as kim@keyboard.test").await;
    screen(&newcomer, "signup-done").await;
    newcomer.close().await;

    // Password reset: ask for the link, open it, choose a new password.
    let forgetful = s.browser("reset").await;
    open_hosted_login(&forgetful).await;
    activate(&forgetful, "Forgot your password?").await;
    forgetful.wait_path("/a/auth/forgot").await;
    screen(&forgetful, "forgot").await;
    type_into(&forgetful, "Email", "member@acme.test").await;
    forgetful.press(&[Key::Enter]).await;
    forgetful.wait_text("Check your email").await;
    screen(&forgetful, "forgot-sent").await;
    let mail = sink
        .wait_for_message("member@acme.test", MAIL_DEADLINE)
        .await;
    let link = mail.link("/a/auth/reset").expect("a reset link");
    forgetful.goto(&link).await;
    forgetful.wait_text("Choose a new password").await;
    screen(&forgetful, "reset").await;
    type_into(
        &forgetful,
        "New password",
        "amber-lantern-glacier-violin-77",
    )
    .await;
    forgetful.press(&[Key::Enter]).await;
    forgetful
        .wait_text("Your password was changed and every session signed out")
        .await;
    screen(&forgetful, "reset-done").await;

    // Sign-in by emailed code with the new password's owner: the second button of the form.
    open_hosted_login(&forgetful).await;
    type_into(&forgetful, "Email", "member@acme.test").await;
    activate(&forgetful, "Email me a sign-in code").await;
    forgetful.wait_text("Check your email").await;
    screen(&forgetful, "login-code").await;
    let mail = sink
        .wait_for_message("member@acme.test", MAIL_DEADLINE)
        .await;
    let code = mail.code().expect("a code in the mail");
    type_into(&forgetful, "6-digit code", &code).await;
    forgetful.press(&[Key::Enter]).await;
    forgetful.wait_text("Signed in as member@acme.test").await;
    screen(&forgetful, "login-code-done").await;
    forgetful.close().await;

    // An admin: password sign-in, then every form of the widgets.
    let admin = s.browser("admin").await;
    open_hosted_login(&admin).await;
    type_into(&admin, "Email", "admin@acme.test").await;
    type_into(&admin, "Password", PASSWORD).await;
    admin.press(&[Key::Enter]).await;
    admin.wait_text("Signed in as admin@acme.test").await;
    screen(&admin, "signed-in").await;
    activate(&admin, "Open the widgets").await;
    admin.wait_path("/ui/organization/settings").await;
    screen(&admin, "settings").await;

    // Organization settings: the display name and the allowed email domains.
    tab_to_field(&admin, "Display name").await;
    admin.select_all().await;
    admin.type_text("Acme Corporation").await;
    type_into(&admin, "Allowed email domains", "acme.test").await;
    activate(&admin, "Save").await;
    admin
        .wait_script(
            "the new name in the navigation",
            "const o = document.querySelector('nav .org'); return !!o && o.innerText.trim() === 'Acme Corporation';",
            vec![],
        )
        .await;
    screen(&admin, "settings-saved").await;

    // Members: invite someone.
    activate(&admin, "Members").await;
    admin.wait_path("/ui/organization/members").await;
    screen(&admin, "members").await;
    activate(&admin, "Invite people").await;
    type_into(&admin, "Email addresses", "quinn@keyboard.test").await;
    tab_to_field(&admin, "Role").await;
    activate(&admin, "Send invites").await;
    admin.wait_text("Invites sent.").await;
    assert!(admin.text().await.contains("quinn@keyboard.test"));
    screen(&admin, "invite-sent").await;
    sink.wait_for_message("quinn@keyboard.test", MAIL_DEADLINE)
        .await;

    // Members: search.
    type_into(&admin, "Search by name or email", "Max").await;
    admin.press(&[Key::Enter]).await;
    admin.wait_path("/ui/organization/members?q=Max").await;
    admin.wait_text("member@acme.test").await;
    assert!(
        !admin.text().await.contains("admin@acme.test\tAdmin"),
        "the search narrowed the list"
    );
    let rows = admin
        .script(
            "return document.querySelectorAll('[data-live-list=members] tr').length;",
            vec![],
        )
        .await;
    assert_eq!(rows, 1, "only Max matches");
    screen(&admin, "members-search").await;

    // Domains: add one (with its subdomains), check it now, choose the join policy, delete it.
    activate(&admin, "Domains").await;
    admin.wait_path("/ui/organization/domains").await;
    admin.wait_text("Add domain").await;
    screen(&admin, "domains").await;
    type_into(&admin, "Domain", "keyboard.test").await;
    tab_to_field(&admin, "Also cover its subdomains (such as eu.example.com)").await;
    admin.press(&[Key::Space]).await;
    activate(&admin, "Add domain").await;
    admin.wait_text("_portal-challenge.keyboard.test").await;
    assert!(admin.text().await.contains("Includes subdomains"));
    screen(&admin, "domain-added").await;

    activate(&admin, "Check now").await;
    admin.wait_text("no TXT record found").await;
    screen(&admin, "domain-checked").await;

    tab_to_field(
        &admin,
        "When someone signs up with an address on a verified domain",
    )
    .await;
    let before = admin
        .script("return document.activeElement.value;", vec![])
        .await;
    admin.press(&[Key::Down]).await;
    let chosen = admin
        .script("return document.activeElement.value;", vec![])
        .await;
    assert_ne!(before, chosen, "the arrow key chose another policy");
    admin.mark_page().await;
    activate(&admin, "Save").await;
    admin
        .wait_until("the page to come back after saving", || async {
            admin.client.execute("return window.__portalTestMark === undefined && document.readyState === 'complete';", vec![]).await.is_ok_and(|v| v == Value::Bool(true))
        })
        .await;
    let shown = admin
        .script("return document.getElementById('policy').value;", vec![])
        .await;
    assert_eq!(shown, chosen, "the page shows the saved policy");
    let stored = db::orgs::find(s.app.conn(), &acme)
        .await
        .expect("query")
        .expect("Acme")
        .domain_join_policy;
    assert_eq!(Value::from(stored), chosen, "the policy was saved");
    screen(&admin, "join-policy-saved").await;

    activate(&admin, "Delete keyboard.test").await;
    admin.wait_text("No domains yet.").await;
    screen(&admin, "domain-deleted").await;

    // Session policy: an absolute timeout, the idle timeout turned on with its minutes.
    activate(&admin, "Session policy").await;
    admin.wait_path("/ui/organization/session-policy").await;
    admin.wait_text("Save policy").await;
    screen(&admin, "session-policy").await;
    type_into(&admin, "Absolute timeout (minutes)", "480").await;
    tab_to_field(&admin, "Idle timeout").await;
    admin.press(&[Key::Down]).await;
    let idle = admin
        .script("return document.activeElement.value;", vec![])
        .await;
    assert_eq!(idle, "on", "the arrow key turned the idle timeout on");
    type_into(&admin, "Idle minutes", "30").await;
    admin.press(&[Key::Enter]).await;
    admin
        .wait_script(
            "the policy in effect to show the new limits",
            r#"const r = document.querySelector("tr[data-policy=override]");
               return !!r && r.innerText.includes("8 hours") && r.innerText.includes("30 minutes");"#,
            vec![],
        )
        .await;
    screen(&admin, "session-policy-saved").await;

    // Security: sign out one other session, then all the others (signed in elsewhere over HTTP).
    for _ in 0..3 {
        s.app
            .browser()
            .sign_in_via_demo("admin@acme.test", PASSWORD)
            .await;
    }
    activate(&admin, "Security").await;
    admin.wait_path("/ui/security").await;
    admin.wait_text("Where you are signed in").await;
    screen(&admin, "security").await;
    let sessions = || async {
        admin
            .script(
                "return document.querySelectorAll('[data-live-list=sessions] li.session').length;",
                vec![],
            )
            .await
    };
    assert_eq!(sessions().await, 4, "this browser and three others");
    activate(&admin, "Sign out this session").await;
    admin
        .wait_until("one session fewer", || async { sessions().await == 3 })
        .await;
    screen(&admin, "session-signed-out").await;
    activate(&admin, "Sign out all other sessions").await;
    admin
        .wait_until("only this device left", || async { sessions().await == 1 })
        .await;
    assert!(admin.text().await.contains("This device"));
    screen(&admin, "other-sessions-signed-out").await;

    // Profile: change the name.
    activate(&admin, "Profile").await;
    admin.wait_path("/ui/profile").await;
    screen(&admin, "profile").await;
    tab_to_field(&admin, "Your name").await;
    admin.select_all().await;
    admin.type_text("Ada Keys").await;
    admin.press(&[Key::Enter]).await;
    admin
        .wait_script(
            "the new name in the user menu",
            "const w = document.querySelector('.user-menu .who'); return !!w && w.innerText.trim() === 'Ada Keys';",
            vec![],
        )
        .await;
    screen(&admin, "profile-saved").await;

    // Sign out: the link, then the confirmation's button.
    activate(&admin, "Sign out").await;
    admin.wait_text("Do you want to sign out").await;
    screen(&admin, "sign-out").await;
    activate(&admin, "Sign out").await;
    admin.wait_text("You have signed out.").await;
    screen(&admin, "signed-out").await;
    admin.goto("/ui/").await;
    admin
        .wait_until("the widgets to need a session again", || async {
            !admin.path().await.starts_with("/ui/")
        })
        .await;
    admin.close().await;
}
