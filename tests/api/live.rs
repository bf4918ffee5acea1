//! The real-time layer: member changes through the API, live rows, re-authorization of open sockets,
//! resume, slow consumers, the integrator's event stream, and two nodes sharing PostgreSQL.

use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(member_role_changes_and_removals_go_live_and_keep_the_last_admin);

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
