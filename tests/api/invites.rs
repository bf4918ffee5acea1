//! Invites end to end against a real SMTP server (the aiosmtpd sink): the email, the link, a new
//! account or a sign-in, the membership; resend, revoke, expiry, reuse, the seat limit and the
//! last admin.

use crate::helpers::{Backend, Browser, PASSWORD, TestApp, form_value, location};
use crate::on_both_backends;
use crate::org_widgets::{api, user_id};
use crate::smtp::{Mail, SmtpSink, app_with_mail};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    an_invited_person_creates_an_account_from_the_email_and_becomes_an_active_member,
    an_existing_user_signs_in_from_the_invite_and_joins,
    a_resent_invite_replaces_the_link_and_a_revoked_one_stops_working,
    an_expired_or_used_link_gets_a_clear_page,
    the_seat_limit_holds_on_invite_and_on_accept,
    the_last_admin_can_be_neither_demoted_nor_removed_in_the_widget,
    invite_mail_is_kept_and_retried_with_backoff_while_smtp_is_down,
    an_invited_address_added_through_the_api_fulfils_its_invite,
);

const MAIL_WAIT: Duration = Duration::from_secs(30);

fn invite_link(mail: &Mail) -> String {
    mail.link("/a/invite?token=").expect("an invite link")
}

fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).expect("link is a URL");
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("token").to_string()
}

async fn admin(app: &TestApp) -> Browser {
    let b = app.browser();
    b.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    b
}

async fn invite_in_widget(admin: &Browser, emails: &str, role: &str) -> reqwest::Response {
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    admin
        .post_form(
            "/ui/organization/members/invite",
            &[("csrf", &csrf), ("emails", emails), ("role", role)],
        )
        .await
}

async fn an_invited_person_creates_an_account_from_the_email_and_becomes_an_active_member(
    backend: Backend,
) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let admin = admin(&app).await;
    let seq = crate::live::page_seq(
        &admin
            .get("/ui/organization/members")
            .await
            .text()
            .await
            .expect("page"),
    );
    let mut socket = admin.open_socket("members", seq).await;
    let res = invite_in_widget(&admin, "Nina.New@acme.test, ole@acme.test", "admin").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/ui/organization/members?notice=invited");

    // Both rows appear live as invited.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = socket.next_frame().await;
        if frame["type"] == "user.organization_membership_created" {
            let html = frame["html"].as_str().expect("html").to_string();
            assert!(html.contains("Invited"), "{html}");
            seen.push(html);
        }
    }
    let mail = sink.wait_for_message("nina.new@acme.test", MAIL_WAIT).await;
    assert!(
        mail.subject.contains("Ada Admin") && mail.subject.contains("Acme"),
        "{}",
        mail.subject
    );
    assert!(mail.text.contains("as Admin") && mail.html.contains("Accept the invitation"));
    let link = invite_link(&mail);
    assert!(link.starts_with(&app.base), "{link}");
    let invite_row = portal::db::invites::find_by_token_hash(
        app.conn(),
        &portal::crypto::token_hash(&token_of(&link)),
    )
    .await
    .expect("lookup")
    .expect("the token is stored hashed");
    assert_ne!(invite_row.token_hash, token_of(&link));

    let nina = app.browser();
    let page = nina.get(&path_of(&link)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page");
    assert!(html.contains("Create account and join") && html.contains("nina.new@acme.test"));
    let csrf = form_value(&html, "csrf").expect("csrf");
    let token = token_of(&link);
    // A weak password is refused; the name stays.
    let res = nina
        .post_form(
            "/a/invite/account",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("name", "Nina New"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("page");
    assert!(html.contains("value=\"Nina New\"") && html.contains("id=\"password-error\""));
    let res = nina
        .post_form(
            "/a/invite/account",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("name", "Nina New"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (page, url) = nina.follow(res).await;
    assert_eq!(
        url,
        app.url("/ui/organization/settings"),
        "signed in, in Acme"
    );
    assert!(page.text().await.expect("page").contains("Nina New"));

    // The row turns active live, and the API agrees.
    loop {
        let frame = socket.next_frame().await;
        if frame["type"] == "user.organization_membership_updated" {
            let html = frame["html"].as_str().expect("html");
            assert!(
                html.contains("nina.new@acme.test") && html.contains("Active"),
                "{html}"
            );
            break;
        }
    }
    let acme = app.org_id("Acme").await;
    let (_, members) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/users?q=nina"),
        None,
    )
    .await;
    assert_eq!(members["data"][0]["membership"]["status"], "active");
    assert_eq!(members["data"][0]["membership"]["role"]["name"], "admin");
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == "user.organization_invitation"
                && e.data["invitation"]["email"] == "nina.new@acme.test"
        })
        .filter_map(|e| e.data["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["created", "accepted"]);
    // The new password works for a later sign-in.
    let again = app.browser();
    assert_eq!(
        again
            .submit_login("/a/auth/login", "nina.new@acme.test", PASSWORD)
            .await
            .status(),
        303
    );
    // Ole still waits, invited.
    let _ = sink.wait_for_message("ole@acme.test", MAIL_WAIT).await;
}

async fn an_existing_user_signs_in_from_the_invite_and_joins(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (s, _) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "admin@globex.test" })),
    )
    .await;
    assert_eq!(s, 201);
    let mail = sink.wait_for_message("admin@globex.test", MAIL_WAIT).await;
    assert!(
        mail.subject.starts_with("An administrator invited you"),
        "{}",
        mail.subject
    );
    let link = invite_link(&mail);
    let gina = app.browser();
    let html = gina.get(&path_of(&link)).await.text().await.expect("page");
    assert!(html.contains("Sign in to accept") && !html.contains("Create account"));
    // Sign in (here by password; the code and magic link carry the same return path) and come back.
    let login = format!(
        "/a/auth/login?return_to={}",
        portal::principal::urlencode(&path_of(&link))
    );
    let login_page = gina.get(&login).await.text().await.expect("login");
    let csrf = form_value(&login_page, "csrf").expect("csrf");
    let return_to = form_value(&login_page, "return_to").expect("return path carried");
    let res = gina
        .post_form(
            "/a/auth/login",
            &[
                ("csrf", &csrf),
                ("email", "admin@globex.test"),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), path_of(&link));
    let html = gina.get(&path_of(&link)).await.text().await.expect("page");
    assert!(html.contains("Join Acme"));
    let csrf = form_value(&html, "csrf").expect("csrf");
    let res = gina
        .post_form("/a/invite", &[("csrf", &csrf), ("token", &token_of(&link))])
        .await;
    assert_eq!(res.status(), 303);
    let members = gina
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        members.contains("admin@acme.test"),
        "the session is now in Acme"
    );
    let (_, list) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/users?q=globex"),
        None,
    )
    .await;
    assert_eq!(list["data"][0]["membership"]["status"], "active");

    // Someone signed in as another user is told so and cannot take the invite.
    let (_, _) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "third@acme.test" })),
    )
    .await;
    let link = invite_link(&sink.wait_for_message("third@acme.test", MAIL_WAIT).await);
    let html = gina.get(&path_of(&link)).await.text().await.expect("page");
    assert!(html.contains("You are signed in as") && html.contains("third@acme.test"));
    let res = gina
        .post_form("/a/invite", &[("csrf", &csrf), ("token", &token_of(&link))])
        .await;
    assert_eq!(res.status(), 403);
}

async fn pending_link(app: &TestApp, sink: &SmtpSink, email: &str) -> (String, Value) {
    let acme = app.org_id("Acme").await;
    let (s, body) = api(
        app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": email })),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let mail = sink.wait_for_message(email, MAIL_WAIT).await;
    (invite_link(&mail), body["data"][0].clone())
}

async fn a_resent_invite_replaces_the_link_and_a_revoked_one_stops_working(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (first, invite) = pending_link(&app, &sink, "rita@acme.test").await;
    let id = invite["id"].as_str().expect("id");
    // Asking again for a pending invite is safe: same invite, no second mail.
    let (s, again) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "rita@acme.test" })),
    )
    .await;
    assert_eq!((s, again["data"][0]["id"].as_str()), (201, Some(id)));
    let (s, resent) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites/{id}/resend"),
        None,
    )
    .await;
    assert_eq!((s, resent["status"].as_str()), (200, Some("pending")));
    let second = invite_link(&sink.wait_for_message("rita@acme.test", MAIL_WAIT).await);
    assert_ne!(first, second);
    assert_eq!(
        sink.received_for("rita@acme.test"),
        2,
        "the repeated create sent nothing"
    );
    let browser = app.browser();
    let old = browser.get(&path_of(&first)).await;
    assert_eq!(old.status(), 410);
    assert!(
        old.text()
            .await
            .expect("page")
            .contains("newer invitation replaced it")
    );
    assert_eq!(browser.get(&path_of(&second)).await.status(), 200);

    // Revoked from the member's page in the widget.
    let admin = admin(&app).await;
    let rita = user_id(&app, "rita@acme.test").await;
    let page = admin
        .get(&format!("/ui/organization/members/{rita}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let invite_field = form_value(&page, "invite").expect("invite id on the page");
    let res = admin
        .post_form(
            &format!("/ui/organization/members/{rita}/revoke"),
            &[("csrf", &csrf), ("invite", &invite_field)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = browser.get(&path_of(&second)).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.expect("page").contains("withdrawn"));
    let members = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !members.contains("rita@acme.test"),
        "a revoked invite leaves the list"
    );
    let (_, got) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites/{id}"),
        None,
    )
    .await;
    assert_eq!(got["status"], "revoked");
    assert_eq!(
        api(
            &app,
            "POST",
            &format!("/api/v1/organizations/{acme}/invites/{id}/resend"),
            None
        )
        .await
        .0,
        409
    );
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == "user.organization_invitation")
        .filter_map(|e| e.data["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["created", "resent", "revoked"]);
}

async fn an_expired_or_used_link_gets_a_clear_page(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let (link, invite) = pending_link(&app, &sink, "late@acme.test").await;
    let id = invite["id"].as_str().expect("id").to_string();
    // Seven days pass (the row says so; nothing sleeps).
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend_kind = app.conn().get_database_backend();
    let sql = match backend_kind {
        DbBackend::Postgres => "UPDATE invites SET expires_at = $1 WHERE id = $2",
        _ => "UPDATE invites SET expires_at = ? WHERE id = ?",
    };
    app.conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            sql,
            [(portal::db::now_ms() - 1).into(), id.clone().into()],
        ))
        .await
        .expect("age the invite");
    let browser = app.browser();
    let res = browser.get(&path_of(&link)).await;
    assert_eq!(res.status(), 410);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("This invite has expired")
    );
    let res = browser
        .post_form(
            "/a/invite/account",
            &[
                ("token", &token_of(&link)),
                ("name", "Late"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        410,
        "nothing is accepted through an expired link"
    );
    let acme = app.org_id("Acme").await;
    let (_, got) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites/{id}"),
        None,
    )
    .await;
    assert_eq!(got["status"], "expired");
    // Resending revives it with a new link.
    assert_eq!(
        api(
            &app,
            "POST",
            &format!("/api/v1/organizations/{acme}/invites/{id}/resend"),
            None
        )
        .await
        .0,
        200
    );
    let fresh = link_of_next(&sink, "late@acme.test").await;
    let page = browser
        .get(&path_of(&fresh))
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = browser
        .post_form(
            "/a/invite/account",
            &[
                ("csrf", &csrf),
                ("token", &token_of(&fresh)),
                ("name", "Late Comer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    // Used once: the same link now says so.
    let other = app.browser();
    let res = other.get(&path_of(&fresh)).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.expect("page").contains("already used"));
    let res = other
        .post_form(
            "/a/invite/account",
            &[
                ("token", &token_of(&fresh)),
                ("name", "Thief"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 410);
}

async fn link_of_next(sink: &SmtpSink, to: &str) -> String {
    invite_link(&sink.wait_for_message(to, MAIL_WAIT).await)
}

async fn the_seat_limit_holds_on_invite_and_on_accept(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    // Two active members; room for two more seats.
    let (s, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{acme}"),
        Some(json!({ "max_users": 4 })),
    )
    .await;
    assert_eq!(s, 200);
    let admin = admin(&app).await;
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("2 of 4 seats in use"));
    let res = invite_in_widget(&admin, "s1@acme.test, s2@acme.test, s3@acme.test", "member").await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.expect("page");
    assert!(
        html.contains("limit of 4 members") && html.contains("s3@acme.test"),
        "refused with the input kept"
    );
    let (s, _) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "emails": ["s1@acme.test", "s2@acme.test"] })),
    )
    .await;
    assert_eq!(s, 201);
    let (s, err) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "s3@acme.test" })),
    )
    .await;
    assert_eq!(s, 409, "pending invites hold seats: {err}");
    let s1 = link_of_next(&sink, "s1@acme.test").await;
    let s2 = link_of_next(&sink, "s2@acme.test").await;
    // The limit shrinks while the invites wait: the first accept fills it, the second is refused.
    let (s, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{acme}"),
        Some(json!({ "max_users": 3 })),
    )
    .await;
    assert_eq!(s, 200);
    for (link, name, expected) in [(&s1, "Seat One", 303), (&s2, "Seat Two", 409)] {
        let b = app.browser();
        let page = b.get(&path_of(link)).await.text().await.expect("page");
        let csrf = form_value(&page, "csrf").expect("csrf");
        let res = b
            .post_form(
                "/a/invite/account",
                &[
                    ("csrf", &csrf),
                    ("token", &token_of(link)),
                    ("name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), expected, "{name}");
        if expected == 409 {
            let html = res.text().await.expect("page");
            assert!(
                html.contains("limit of 3 members") && html.contains("value=\"Seat Two\""),
                "told why, input kept"
            );
        }
    }
    let (_, list) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/users?q=s2@"),
        None,
    )
    .await;
    assert_eq!(list["data"][0]["membership"]["status"], "invited");
}

async fn the_last_admin_can_be_neither_demoted_nor_removed_in_the_widget(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = admin(&app).await;
    let me = user_id(&app, "admin@acme.test").await;
    let page = admin
        .get(&format!("/ui/organization/members/{me}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = admin
        .post_form(
            &format!("/ui/organization/members/{me}/role"),
            &[("csrf", &csrf), ("role", "member")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("An organization must keep at least one active admin")
    );
    let res = admin
        .post_form(
            &format!("/ui/organization/members/{me}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 409);
    // With a second admin, the first may step down.
    let max = user_id(&app, "member@acme.test").await;
    let res = admin
        .post_form(
            &format!("/ui/organization/members/{max}/role"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = admin
        .post_form(
            &format!("/ui/organization/members/{me}/role"),
            &[("csrf", &csrf), ("role", "member")],
        )
        .await;
    assert_eq!(res.status(), 303);
    // Now a member: the role form is gone and writes are refused.
    assert_eq!(
        admin
            .post_form(
                &format!("/ui/organization/members/{max}/remove"),
                &[("csrf", &csrf)]
            )
            .await
            .status(),
        403
    );
}

async fn invite_mail_is_kept_and_retried_with_backoff_while_smtp_is_down(backend: Backend) {
    // A port nobody listens on: every send fails, as when the relay is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let Some(app) = TestApp::spawn_with(backend, move |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await
    else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (s, body) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "patient@acme.test" })),
    )
    .await;
    assert_eq!(s, 201);
    let id = body["data"][0]["id"].as_str().expect("id").to_string();
    // The invite keeps its place with the error and a retry time; it is never dropped.
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE * 3;
    let row = loop {
        let row = portal::db::invites::find(app.conn(), &id)
            .await
            .expect("load")
            .expect("row");
        if row.last_error.is_some() {
            break row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first attempt is made"
        );
        app.app_state
            .invites
            .try_run_once(portal::db::now_ms())
            .await
            .expect("pass");
    };
    assert_eq!(row.status, "pending");
    assert!(row.sent_at.is_none());
    let retry = row.next_send_at.expect("a retry is scheduled");
    assert!(retry > portal::db::now_ms(), "retried later, with backoff");
    let outcome = app
        .app_state
        .invites
        .try_run_once(portal::db::now_ms())
        .await
        .expect("pass");
    assert_eq!(
        outcome.sent + outcome.failed,
        0,
        "nothing is due before the retry time"
    );
    let outcome = app
        .app_state
        .invites
        .try_run_once(retry)
        .await
        .expect("pass");
    assert_eq!(outcome.failed, 1, "retried at its time, still failing");
    let row = portal::db::invites::find(app.conn(), &id)
        .await
        .expect("load")
        .expect("row");
    assert!(
        row.next_send_at.expect("retry") - retry >= 100_000,
        "the wait grows"
    );
    assert!(row.send_attempts >= 2);
}

async fn an_invited_address_added_through_the_api_fulfils_its_invite(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (_, created) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "direct@acme.test" })),
    )
    .await;
    let id = created["data"][0]["id"].as_str().expect("id").to_string();
    let res = app
        .add_member(&acme, json!({ "email": "direct@acme.test" }))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["membership"]["status"], "active");
    let (_, invite) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites/{id}"),
        None,
    )
    .await;
    assert_eq!(invite["status"], "accepted");
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let last: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        last,
        vec![
            "user.organization_membership_updated",
            "user.organization_invitation"
        ]
    );
}
