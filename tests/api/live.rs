//! The real-time layer: member changes through the API, live rows, re-authorization of open sockets,
//! resume, slow consumers, the integrator's event stream, and two nodes sharing PostgreSQL.

use crate::helpers::{Backend, Browser, PASSWORD, Socket, TestApp};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    member_role_changes_and_removals_go_live_and_keep_the_last_admin,
    a_demoted_admin_stops_getting_admin_only_fragments_at_once,
    a_removed_members_socket_is_closed_with_a_reason,
    an_ended_session_closes_its_sockets_and_no_others,
);

/// The sequence a widget page was rendered at.
pub fn page_seq(html: &str) -> i64 {
    let marker = "data-live-seq=\"";
    let start = html.find(marker).expect("live page") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("seq")
        .parse()
        .expect("number")
}

pub async fn user_id(app: &TestApp, email: &str) -> String {
    let email = portal::domain::EmailAddress::parse(email).expect("email");
    portal::db::users::find_by_email(app.conn(), &email)
        .await
        .expect("lookup")
        .expect("user exists")
        .id
}

pub async fn patch_role(app: &TestApp, org: &str, user: &str, body: Value) -> reqwest::Response {
    app.http()
        .patch(app.url(&format!("/api/v1/organizations/{org}/users/{user}")))
        .bearer_auth(app.api_token().await)
        .json(&body)
        .send()
        .await
        .expect("PATCH member")
}

pub async fn remove(app: &TestApp, org: &str, user: &str) -> reqwest::Response {
    app.http()
        .delete(app.url(&format!("/api/v1/organizations/{org}/users/{user}")))
        .bearer_auth(app.api_token().await)
        .send()
        .await
        .expect("DELETE member")
}

async fn member_role_changes_and_removals_go_live_and_keep_the_last_admin(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.browser();
    admin.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    let mut socket = admin.open_socket("members", page_seq(&page)).await;
    let acme = app.org_id("Acme").await;
    let admin_id = user_id(&app, "admin@acme.test").await;
    let member_id = user_id(&app, "member@acme.test").await;

    // The only admin can be neither demoted nor removed.
    for res in [
        patch_role(&app, &acme, &admin_id, json!({ "role": "member" })).await,
        remove(&app, &acme, &admin_id).await,
    ] {
        assert_eq!(res.status(), 409);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "conflict");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .contains("at least one active admin"),
            "{body}"
        );
    }

    let res = patch_role(&app, &acme, &member_id, json!({ "role": "admin" })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["membership"]["role"]["name"], "admin");
    let membership_id = body["membership"]["id"].as_str().expect("id").to_string();
    let frame = socket.next_frame().await;
    assert_eq!(frame["type"], "user.organization_membership_updated");
    assert_eq!(frame["op"], "upsert");
    assert_eq!(frame["target"], format!("member-{membership_id}"));
    assert!(frame["html"].as_str().expect("html").contains("Admin"));

    // The same role again changes nothing (no event: the next frame is the removal).
    let res = patch_role(&app, &acme, &member_id, json!({ "role": "admin" })).await;
    assert_eq!(res.status(), 200);

    assert_eq!(remove(&app, &acme, &member_id).await.status(), 204);
    let frame = socket.next_frame().await;
    assert_eq!(frame["type"], "user.organization_membership_deleted");
    assert_eq!(frame["op"], "remove");
    assert_eq!(frame["target"], format!("member-{membership_id}"));

    let res = remove(&app, &acme, &member_id).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    let res = patch_role(&app, &acme, &admin_id, json!({ "role": "emperor" })).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["field"], "role");
    let res = patch_role(&app, &acme, &admin_id, json!({})).await;
    assert_eq!(res.status(), 422);
    let globex = app.org_id("Globex").await;
    assert_eq!(
        patch_role(&app, &globex, &member_id, json!({ "role": "admin" }))
            .await
            .status(),
        404,
        "a member of another organization is not found"
    );

    // A page opened now shows the same state: the removed member is gone.
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("member@acme.test"), "{page}");
}

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    browser.sign_in_via_demo(email, PASSWORD).await;
    browser
}

async fn open_at_page(browser: &Browser, path: &str, widget: &str) -> Socket {
    let page = browser.get(path).await.text().await.expect("page");
    browser.open_socket(widget, page_seq(&page)).await
}

async fn add_domain(app: &TestApp, org: &str, domain: &str) {
    let res = app
        .http()
        .post(app.url(&format!("/api/v1/organizations/{org}/domains")))
        .bearer_auth(app.api_token().await)
        .json(&json!({ "domain": domain }))
        .send()
        .await
        .expect("add domain");
    assert_eq!(res.status(), 201);
}

/// The session id behind a browser's cookie.
async fn session_id(app: &TestApp, browser: &Browser) -> String {
    let cookie = browser.cookie_header();
    let token = cookie
        .split("; ")
        .find_map(|c| c.strip_prefix("portal_session="))
        .expect("session cookie");
    portal::db::sessions::find_live_by_token_hash(app.conn(), &portal::crypto::token_hash(token))
        .await
        .expect("lookup")
        .expect("live session")
        .id
}

async fn a_demoted_admin_stops_getting_admin_only_fragments_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    portal::db::orgs::set_feature(
        app.conn(),
        &acme,
        portal::domain::Feature::DomainVerification,
        true,
    )
    .await
    .expect("feature");
    let member_id = user_id(&app, "member@acme.test").await;
    let res = patch_role(&app, &acme, &member_id, json!({ "role": "admin" })).await;
    assert_eq!(res.status(), 200);

    let promoted = signed_in(&app, "member@acme.test").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let mut promoted_domains = open_at_page(&promoted, "/ui/organization/domains", "domains").await;
    let mut promoted_members = open_at_page(&promoted, "/ui/organization/members", "members").await;
    let mut admin_domains = open_at_page(&admin, "/ui/organization/domains", "domains").await;

    add_domain(&app, &acme, "one.example").await;
    for socket in [&mut promoted_domains, &mut admin_domains] {
        let frame = socket.next_frame().await;
        let html = frame["html"].as_str().expect("html");
        assert!(
            html.contains("one.example") && html.contains("Check now"),
            "{html}"
        );
    }

    let res = patch_role(&app, &acme, &member_id, json!({ "role": "member" })).await;
    assert_eq!(res.status(), 200);
    // Both of the demoted user's pages are told to reload (their controls were for an admin).
    for socket in [&mut promoted_domains, &mut promoted_members] {
        let frame = socket.next_frame().await;
        assert_eq!(frame["op"], "reload", "{frame}");
        assert_eq!(frame["type"], "user.organization_membership_updated");
    }

    add_domain(&app, &acme, "two.example").await;
    let frame = promoted_domains.next_frame().await;
    let html = frame["html"].as_str().expect("html");
    assert!(html.contains("two.example"), "{html}");
    assert!(
        !html.contains("Check now") && !html.contains("Delete"),
        "a member's row has no admin actions: {html}"
    );
    let frame = admin_domains.next_frame().await;
    let html = frame["html"].as_str().expect("html");
    assert!(
        html.contains("two.example") && html.contains("Check now"),
        "the remaining admin still gets the actions: {html}"
    );
}

async fn a_removed_members_socket_is_closed_with_a_reason(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let member = signed_in(&app, "member@acme.test").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let mut member_socket = open_at_page(&member, "/ui/organization/members", "members").await;
    let mut admin_socket = open_at_page(&admin, "/ui/organization/members", "members").await;

    let member_id = user_id(&app, "member@acme.test").await;
    assert_eq!(remove(&app, &acme, &member_id).await.status(), 204);

    let (code, reason) = member_socket.closed().await.expect("a close frame");
    assert_eq!(code, 4003);
    assert!(reason.contains("no longer a member"), "{reason}");
    let frame = admin_socket.next_frame().await;
    assert_eq!(frame["op"], "remove");
    assert_eq!(frame["type"], "user.organization_membership_deleted");

    // The removed member cannot open a new one.
    assert!(
        member
            .open_socket_with_origin("members", 0, &app.base)
            .await
            .is_err()
    );
}

async fn an_ended_session_closes_its_sockets_and_no_others(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let first = signed_in(&app, "member@acme.test").await;
    let second = signed_in(&app, "member@acme.test").await;
    let third = signed_in(&app, "member@acme.test").await;
    let mut first_socket = open_at_page(&first, "/ui/organization/members", "members").await;
    let mut second_socket = open_at_page(&second, "/ui/organization/members", "members").await;
    let mut third_socket = open_at_page(&third, "/ui/organization/members", "members").await;

    // An event that ends a session closes its sockets on every node (here: the one).
    let first_session = session_id(&app, &first).await;
    let tx = app.app_state.db.begin_write().await.expect("tx");
    portal::db::sessions::revoke(&tx, &first_session, "test")
        .await
        .expect("revoke");
    let published = portal::db::events::append(
        &tx,
        vec![portal::db::events::NewEvent {
            event_type: "session.revoked",
            organization_id: Some(acme.clone()),
            user_id: Some(user_id(&app, "member@acme.test").await),
            data: json!({ "session_id": first_session }),
        }],
    )
    .await
    .expect("append");
    tx.commit().await.expect("commit");
    app.app_state.outbox.committed_events(&published);
    let (code, reason) = first_socket.closed().await.expect("a close frame");
    assert_eq!(code, 4001);
    assert!(reason.contains("session has ended"), "{reason}");

    // So does the hub's EndSession message, for that session only.
    let second_session = session_id(&app, &second).await;
    app.app_state.end_session_sockets(&second_session);
    let (code, _) = second_socket.closed().await.expect("a close frame");
    assert_eq!(code, 4001);

    let res = app
        .add_member(
            &acme,
            json!({ "email": "still.live@acme.test", "name": "Still Live" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let frame = third_socket.next_frame().await;
    assert!(
        frame["html"]
            .as_str()
            .expect("html")
            .contains("still.live@acme.test")
    );
}
