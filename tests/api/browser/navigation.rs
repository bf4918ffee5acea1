//! From the demo integrator app through the hosted login to `/ui/`: each widget the role allows is
//! in the navigation and opens; the ones it does not are absent and their address shows the 403
//! page.

use super::{Browser, Scenario};
use crate::helpers::{Backend, TestApp};
use portal::db;
use portal::domain::Feature;
use serde_json::Value;

/// The navigation's links as `(section, label, href)`, in order.
async fn nav_links(browser: &Browser) -> Vec<(String, String, String)> {
    let links = browser
        .script(
            r#"const out = []; let section = null;
               const nav = document.querySelector('nav[aria-label="Widgets"]');
               for (const e of nav.querySelectorAll(":scope > .section, :scope > ul > li > a")) {
                 if (e.classList.contains("section")) section = e.textContent.trim();
                 else out.push([section, e.innerText.trim(), e.getAttribute("href")]);
               }
               return out;"#,
            vec![],
        )
        .await;
    links
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            let s = |i: usize| l[i].as_str().unwrap_or_default().to_string();
            (s(0), s(1), s(2))
        })
        .collect()
}

/// The heading a widget's page opens with.
fn heading(label: &str) -> &str {
    match label {
        "Settings" => "Organization settings",
        other => other,
    }
}

/// Opens every link of the navigation by clicking it; each shows its widget under its own name.
async fn open_each(browser: &Browser, links: &[(String, String, String)]) {
    for (_, label, href) in links {
        browser.click_link(label).await;
        browser.wait_path(href).await;
        browser
            .wait_script(
                &format!("the {label} widget's heading"),
                "const h = document.querySelector('main h1'); return !!h && h.innerText.trim() === arguments[0];",
                vec![Value::from(heading(label))],
            )
            .await;
        let current = browser
            .script(
                "const a = document.querySelector('nav a[aria-current=page]'); return a ? a.getAttribute('href') : null;",
                vec![],
            )
            .await;
        assert_eq!(
            current,
            Value::from(href.as_str()),
            "{label} is marked current"
        );
        browser
            .screenshot(&label.to_lowercase().replace(' ', "-"))
            .await;
    }
}

/// `path` shows the friendly 403 page with a way back.
async fn refused(browser: &Browser, path: &str, shot: &str) {
    browser.goto(path).await;
    browser
        .wait_text("You don't have access to this page")
        .await;
    assert!(browser.text().await.contains("Go to your widgets"));
    browser.screenshot(shot).await;
    browser.click_link("Go to your widgets").await;
    browser.wait_path("/ui/organization/").await;
}

fn labels(links: &[(String, String, String)]) -> Vec<(&str, &str)> {
    links
        .iter()
        .map(|(s, l, _)| (s.as_str(), l.as_str()))
        .collect()
}

#[actix_web::test]
async fn each_role_sees_and_opens_the_widgets_it_may_and_no_others() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    for feature in [Feature::DomainVerification, Feature::SessionPolicy] {
        db::orgs::set_feature(app.conn(), &acme, feature, true)
            .await
            .expect("enable the feature for Acme");
        db::orgs::set_feature(app.conn(), &globex, feature, false)
            .await
            .expect("disable the feature for Globex");
    }
    let Some(s) = Scenario::start("navigation", app, 1).await else {
        return;
    };

    // An admin of Acme: members, domains and the session policy, with the forms to change them.
    let admin = s.signed_in("admin", "admin@acme.test").await;
    admin.click_link("Open the widgets").await;
    admin.wait_path("/ui/organization/settings").await;
    admin.wait_text("Ada Admin").await;
    let links = nav_links(&admin).await;
    assert_eq!(
        labels(&links),
        [
            ("Organization", "Settings"),
            ("Organization", "Members"),
            ("Organization", "Domains"),
            ("Organization", "Session policy"),
            ("Account", "Profile"),
            ("Account", "Security"),
        ],
        "admin's navigation"
    );
    open_each(&admin, &links).await;
    admin.goto("/ui/organization/domains").await;
    assert!(admin.text().await.contains("Add domain"), "admins may add");
    admin.close().await;

    // A member of Acme: members and domains (the member role reads settings) with nothing to
    // change, and no session policy (sk_org_session_policy_read is an admin's).
    let member = s.signed_in("member", "member@acme.test").await;
    member.goto("/ui/").await;
    member.wait_path("/ui/organization/settings").await;
    let links = nav_links(&member).await;
    assert_eq!(
        labels(&links),
        [
            ("Organization", "Settings"),
            ("Organization", "Members"),
            ("Organization", "Domains"),
            ("Account", "Profile"),
            ("Account", "Security"),
        ],
        "member's navigation"
    );
    open_each(&member, &links).await;
    for page in ["/ui/organization/settings", "/ui/organization/domains"] {
        member.goto(page).await;
        member.wait_path(page).await;
        let forms = member
            .script(
                "return document.querySelectorAll('main form[method=post], main [formaction]').length;",
                vec![],
            )
            .await;
        assert_eq!(forms, 0, "a member sees no form that changes {page}");
    }
    member.wait_text("Joining by domain").await;
    let forms = member
        .script(
            "return document.querySelectorAll('main form[method=post], main [formaction]').length;",
            vec![],
        )
        .await;
    assert_eq!(forms, 0, "a member sees no form that changes domains");
    assert!(!member.text().await.contains("Add domain"));
    refused(
        &member,
        "/ui/organization/session-policy",
        "session-policy-refused",
    )
    .await;
    member.close().await;

    // An admin of Globex, which has enabled neither feature: no links, and 403 pages.
    let globex_admin = s.signed_in("globex", "admin@globex.test").await;
    globex_admin.goto("/ui/").await;
    globex_admin.wait_path("/ui/organization/settings").await;
    let links = nav_links(&globex_admin).await;
    assert_eq!(
        labels(&links),
        [
            ("Organization", "Settings"),
            ("Organization", "Members"),
            ("Account", "Profile"),
            ("Account", "Security"),
        ],
        "no domains or session policy links without the features"
    );
    open_each(&globex_admin, &links).await;
    refused(&globex_admin, "/ui/organization/domains", "domains-refused").await;
    refused(
        &globex_admin,
        "/ui/organization/session-policy",
        "session-policy-refused",
    )
    .await;
    assert!(
        !globex_admin.text().await.contains("admin@acme.test"),
        "Globex sees only its own members"
    );
    globex_admin.close().await;
}
