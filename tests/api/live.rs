//! The real-time layer: member changes through the API, live rows, re-authorization of open sockets,
//! resume, slow consumers, the integrator's event stream, and two nodes sharing PostgreSQL.

use crate::helpers::{Backend, Browser, PASSWORD, Socket, TestApp};
use crate::on_both_backends;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

on_both_backends!(
    member_role_changes_and_removals_go_live_and_keep_the_last_admin,
    a_demoted_admin_stops_getting_admin_only_fragments_at_once,
    a_removed_members_socket_is_closed_with_a_reason,
    an_ended_session_closes_its_sockets_and_no_others,
    a_socket_that_missed_three_changes_gets_exactly_those_after_resuming,
    a_page_too_far_behind_is_told_to_reload,
    a_slow_consumer_is_dropped_while_a_normal_one_keeps_receiving,
    every_client_receives_exactly_the_outbox_sequence_of_its_scope,
    the_integrator_stream_and_pull_api_read_the_same_outbox,
    retention_prunes_old_events_and_resumes_from_before_them_reload,
    metrics_count_sockets_events_and_deliveries,
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
    assert!(html(&frame).contains("still.live@acme.test"), "{frame}");
}

async fn add(app: &TestApp, org: &str, email: &str) -> Value {
    let res = app
        .add_member(org, json!({ "email": email, "name": email }))
        .await;
    assert_eq!(res.status(), 201, "add {email}");
    res.json().await.expect("json")
}

fn html(frame: &Value) -> &str {
    frame["html"].as_str().unwrap_or_default()
}

async fn a_socket_that_missed_three_changes_gets_exactly_those_after_resuming(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let mut socket = open_at_page(&admin, "/ui/organization/members", "members").await;
    add(&app, &acme, "zero@acme.test").await;
    let seen = socket.next_frame().await;
    assert!(html(&seen).contains("zero@acme.test"));
    let last = seen["seq"].as_i64().expect("seq");
    drop(socket);

    for email in ["one@acme.test", "two@acme.test", "three@acme.test"] {
        add(&app, &acme, email).await;
    }
    let mut resumed = admin.open_socket("members", last).await;
    let mut seqs = Vec::new();
    for email in ["one@acme.test", "two@acme.test", "three@acme.test"] {
        let frame = resumed.next_frame().await;
        assert!(html(&frame).contains(email), "{email} next, got {frame}");
        seqs.push(frame["seq"].as_i64().expect("seq"));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert!(seqs[0] > last);
    // Nothing is sent twice: the next frame is the next change.
    add(&app, &acme, "four@acme.test").await;
    let frame = resumed.next_frame().await;
    assert!(html(&frame).contains("four@acme.test"), "{frame}");
}

async fn a_page_too_far_behind_is_told_to_reload(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    let seq = page_seq(&page);
    let limit = portal::actors::widget_socket::REPLAY_LIMIT as usize;
    write_big_rows(&app, &acme, limit + 1, 10, "far").await;
    let mut socket = admin.open_socket("members", seq).await;
    let frame = socket.next_frame().await;
    assert_eq!(frame["op"], "reload", "{frame}");
    assert!(frame["seq"].as_i64().expect("seq") > seq);
    // Within the limit, the same page catches up instead.
    let mut near = admin.open_socket("members", seq + 1).await;
    let first = near.next_frame().await;
    assert_eq!(first["op"], "upsert");
    assert!(html(&first).contains("far1@acme.test"), "{first}");
}

/// Writes `n` membership events for `org` whose rows are about `size` bytes each, in one
/// transaction, as a member import would, and wakes the relay.
async fn write_big_rows(app: &TestApp, org: &str, n: usize, size: usize, tag: &str) {
    let name = "x".repeat(size);
    let tx = app.app_state.db.begin_write().await.expect("tx");
    let new = (0..n)
        .map(|i| portal::db::events::NewEvent {
            event_type: "user.organization_membership_created",
            organization_id: Some(org.into()),
            user_id: Some(format!("usr_{tag}_{i}")),
            data: json!({
                "membership": {
                    "id": format!("mem_{tag}_{i}"), "organization_id": org,
                    "user_id": format!("usr_{tag}_{i}"),
                    "role": { "name": "member", "display_name": "Member", "permissions": [] },
                    "status": "invited", "created_at": "2026-01-01T00:00:00Z"
                },
                "user": { "id": format!("usr_{tag}_{i}"), "email": format!("{tag}{i}@acme.test"), "name": name }
            }),
        })
        .collect();
    let published = portal::db::events::append(&tx, new).await.expect("append");
    tx.commit().await.expect("commit");
    app.app_state.outbox.committed_events(&published);
}

async fn subscribers(app: &TestApp) -> usize {
    app.app_state
        .hub
        .send(portal::actors::event_hub::CountSubscribers)
        .await
        .expect("hub")
}

async fn a_slow_consumer_is_dropped_while_a_normal_one_keeps_receiving(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let page = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    let seq = page_seq(&page);
    let mut normal = admin.open_socket("members", seq).await;

    // The slow one has a small receive buffer and never reads.
    let addr = app.base.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = tcp
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let mut req = format!("ws://{addr}/ui/live?widget=members&after={seq}")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", admin.cookie_header().parse().expect("cookie"));
    req.headers_mut()
        .insert("origin", app.base.parse().expect("origin"));
    let (mut slow, _) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("slow socket opens");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while subscribers(&app).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both subscribed");
        tokio::task::yield_now().await;
    }

    // Batches the normal socket reads fully before the next; the slow one's backlog only grows,
    // until its queue is full and the hub drops it.
    let mut batches = 0;
    while subscribers(&app).await == 2 {
        assert!(batches < 200, "the slow consumer was never dropped");
        let tag = format!("b{batches}");
        write_big_rows(&app, &acme, 50, 16 * 1024, &tag).await;
        for i in 0..50 {
            let frame = normal.next_frame().await;
            let want = format!("{tag}{i}@acme.test");
            assert!(
                html(&frame).contains(&want),
                "the normal socket gets {want} next"
            );
        }
        batches += 1;
    }
    // The normal one keeps receiving.
    add(&app, &acme, "after.drop@acme.test").await;
    let frame = normal.next_frame().await;
    assert!(html(&frame).contains("after.drop@acme.test"));

    // The slow one, once it reads, finds a close with 4008 after what it was sent.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let msg = tokio::time::timeout_at(deadline, slow.next())
            .await
            .expect("the slow socket's close arrives");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4008);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("the slow socket ended without a 4008 close: {other:?}"),
        }
    }
}

/// The sequences of the members-widget events of `org` in the outbox after `after`.
async fn outbox_member_seqs(app: &TestApp, org: &str, after: i64) -> Vec<i64> {
    portal::db::events::after(app.conn(), after, 100_000)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|e| e.organization_id.as_deref() == Some(org))
        .filter(|e| e.event_type.starts_with("user.organization_membership_"))
        .map(|e| e.seq)
        .collect()
}

async fn every_client_receives_exactly_the_outbox_sequence_of_its_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    let acme_admin = signed_in(&app, "admin@acme.test").await;
    let acme_member = signed_in(&app, "member@acme.test").await;
    let globex_admin = signed_in(&app, "admin@globex.test").await;
    let start = portal::db::events::last_seq(app.conn()).await.expect("seq");
    let mut clients = vec![
        (acme.clone(), acme_admin.open_socket("members", start).await),
        (
            acme.clone(),
            acme_member.open_socket("members", start).await,
        ),
        (
            globex.clone(),
            globex_admin.open_socket("members", start).await,
        ),
    ];

    // Several writers at once, each a random mix of API changes and direct outbox writes in both
    // organizations, so commits on PostgreSQL really interleave.
    let writers = 4;
    let per_writer = 12;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (state, base, acme, globex) = (
            app.app_state.clone(),
            app.base.clone(),
            acme.clone(),
            globex.clone(),
        );
        let token = app.api_token().await;
        tasks.push(actix_web::rt::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..per_writer {
                let r: u32 = rand::random();
                let org = if r.is_multiple_of(2) { &acme } else { &globex };
                if r.is_multiple_of(3) {
                    let tx = state.db.begin_write().await.expect("tx");
                    let published = portal::db::events::append(
                        &tx,
                        vec![portal::db::events::NewEvent {
                            event_type: "user.organization_membership_created",
                            organization_id: Some(org.clone()),
                            user_id: Some(format!("usr_w{w}_{i}")),
                            data: json!({
                                "membership": {
                                    "id": format!("mem_w{w}_{i}"), "organization_id": org,
                                    "user_id": format!("usr_w{w}_{i}"),
                                    "role": { "name": "member", "display_name": "Member", "permissions": [] },
                                    "status": "invited", "created_at": "2026-01-01T00:00:00Z"
                                },
                                "user": { "id": format!("usr_w{w}_{i}"), "email": format!("w{w}.{i}@x.test"), "name": "W" }
                            }),
                        }],
                    )
                    .await
                    .expect("append");
                    tx.commit().await.expect("commit");
                    state.outbox.committed_events(&published);
                } else {
                    let res = http
                        .post(format!("{base}/api/v1/organizations/{org}/users"))
                        .bearer_auth(&token)
                        .json(&json!({ "email": format!("w{w}.{i}@x.test") }))
                        .send()
                        .await
                        .expect("add");
                    assert_eq!(res.status(), 201);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }

    let expected_acme = outbox_member_seqs(&app, &acme, start).await;
    let expected_globex = outbox_member_seqs(&app, &globex, start).await;
    assert_eq!(
        expected_acme.len() + expected_globex.len(),
        writers * per_writer,
        "every change wrote one membership event"
    );
    for (org, socket) in &mut clients {
        let expected = if *org == acme {
            &expected_acme
        } else {
            &expected_globex
        };
        let mut received = Vec::new();
        while received.len() < expected.len() {
            let frame = socket.next_frame().await;
            received.push(frame["seq"].as_i64().expect("seq"));
        }
        assert_eq!(
            &received, expected,
            "received exactly the outbox order of its scope"
        );
    }
    // And nothing more: the next frame each client sees is a fresh change in its own org.
    let acme_tail = add(&app, &acme, "tail@acme.test").await;
    let globex_tail = add(&app, &globex, "tail@globex.test").await;
    for (org, socket) in &mut clients {
        let frame = socket.next_frame().await;
        let tail = if *org == acme {
            &acme_tail
        } else {
            &globex_tail
        };
        assert_eq!(
            frame["target"],
            format!("member-{}", tail["membership"]["id"].as_str().expect("id"))
        );
    }
}

/// An integrator stream connection.
async fn open_stream(
    app: &TestApp,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}/api/v1/events/stream?{query}",
        app.base.replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.api_token().await)
            .parse()
            .expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("stream opens")
        .0
}

async fn next_event(
    stream: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("an event before the deadline")
            .expect("open")
            .expect("readable");
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).expect("json"),
            Message::Ping(p) => {
                let _ = stream.send(Message::Pong(p)).await;
            }
            Message::Close(c) => panic!("stream closed: {c:?}"),
            _ => {}
        }
    }
}

async fn the_integrator_stream_and_pull_api_read_the_same_outbox(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    let start = portal::db::events::last_seq(app.conn()).await.expect("seq");

    // No token, no stream; a bad filter is a JSON error.
    let anonymous = format!(
        "{}/api/v1/events/stream",
        app.base.replacen("http", "ws", 1)
    );
    assert!(tokio_tungstenite::connect_async(anonymous).await.is_err());
    let token = app.api_token().await;
    let res = app
        .http()
        .get(app.url("/api/v1/events?types=not%20a%20type"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["field"],
        "types"
    );

    let mut acme_users = open_stream(&app, &format!("organization_id={acme}&types=user.*")).await;
    let mut everything = open_stream(&app, "").await;
    let first = add(&app, &acme, "s1@acme.test").await;
    add(&app, &globex, "s1@globex.test").await;
    let second = add(&app, &acme, "s2@acme.test").await;

    // Acme's `user.*` stream: s1's user.created and membership, then s2's; never Globex's.
    let mut acme_seen = Vec::new();
    for _ in 0..4 {
        let e = next_event(&mut acme_users).await;
        assert_eq!(e["organization_id"], acme.as_str());
        assert!(e["type"].as_str().expect("type").starts_with("user."));
        for key in ["id", "seq", "type", "occurred_at", "data"] {
            assert!(e.get(key).is_some(), "{key} in {e}");
        }
        acme_seen.push(e);
    }
    assert_eq!(
        acme_seen[1]["data"]["membership"]["id"],
        first["membership"]["id"]
    );
    assert_eq!(
        acme_seen[3]["data"]["membership"]["id"],
        second["membership"]["id"]
    );
    let mut all_seqs = Vec::new();
    for _ in 0..6 {
        all_seqs.push(
            next_event(&mut everything).await["seq"]
                .as_i64()
                .expect("seq"),
        );
    }

    // The pull API pages through the same events in the same order.
    let mut pulled = Vec::new();
    let mut after = start;
    loop {
        let page: Value = app
            .http()
            .get(app.url(&format!("/api/v1/events?after_seq={after}&limit=2")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        for e in page["data"].as_array().expect("data") {
            pulled.push(e["seq"].as_i64().expect("seq"));
        }
        after = page["next_after_seq"].as_i64().expect("next");
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(pulled, all_seqs);
    let filtered: Value = app
        .http()
        .get(app.url(&format!(
            "/api/v1/events?after_seq={start}&organization_id={acme}&types=user.organization_membership_created"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = filtered["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            acme_seen[1]["id"].as_str().unwrap(),
            acme_seen[3]["id"].as_str().unwrap()
        ]
    );

    // Resuming a stream from a sequence replays what came after it, then goes live.
    let resume_from = acme_seen[1]["seq"].as_i64().expect("seq");
    let mut resumed = open_stream(
        &app,
        &format!("organization_id={acme}&types=user.*&after_seq={resume_from}"),
    )
    .await;
    assert_eq!(next_event(&mut resumed).await["id"], acme_seen[2]["id"]);
    assert_eq!(next_event(&mut resumed).await["id"], acme_seen[3]["id"]);
    let third = add(&app, &acme, "s3@acme.test").await;
    next_event(&mut resumed).await; // user.created
    assert_eq!(
        next_event(&mut resumed).await["data"]["membership"]["id"],
        third["membership"]["id"]
    );
}

async fn retention_prunes_old_events_and_resumes_from_before_them_reload(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let old_seq = page_seq(
        &admin
            .get("/ui/organization/members")
            .await
            .text()
            .await
            .expect("page"),
    );
    add(&app, &acme, "old@acme.test").await;
    let last = portal::db::events::last_seq(app.conn()).await.expect("seq");

    // Retention never deletes what the webhook fan-out has not read: let it catch up first.
    let fanout = portal::actors::webhook_fanout::WebhookFanout::new(app.app_state.db.clone(), None);
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        fanout.try_run_once().await.expect("fan-out pass");
        let tx = app.app_state.db.begin_write().await.expect("tx");
        let cursor =
            portal::db::webhooks::lock_cursor(&tx, portal::db::webhooks::CursorLock::NoLock)
                .await
                .expect("cursor")
                .unwrap_or(0);
        tx.rollback().await.expect("rollback");
        if cursor >= last {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fan-out catches up"
        );
        tokio::task::yield_now().await;
    }
    // Two hours from now, with a one-hour window, everything so far is old.
    let retention = portal::actors::outbox_retention::OutboxRetention::new(
        app.app_state.db.clone(),
        std::time::Duration::from_secs(3600),
    );
    let pruned = retention
        .try_run_once(portal::db::now_ms() + 2 * 3600 * 1000)
        .await
        .expect("prune");
    assert!(pruned >= 2, "pruned {pruned}");
    assert_eq!(
        portal::db::events::retained_after(app.conn())
            .await
            .expect("floor"),
        last
    );

    // A page from before is told to reload; the pull API answers 410; a stream closes with 4010.
    let mut socket = admin.open_socket("members", old_seq).await;
    let frame = socket.next_frame().await;
    assert_eq!(frame["op"], "reload");
    assert!(
        frame["seq"].as_i64().expect("seq") > old_seq,
        "above the page's sequence, or the page would ignore it: {frame}"
    );
    let res = app
        .http()
        .get(app.url(&format!("/api/v1/events?after_seq={old_seq}")))
        .bearer_auth(app.api_token().await)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 410);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "gone"
    );
    let mut stream = open_stream(&app, &format!("after_seq={old_seq}")).await;
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("close arrives")
        {
            Some(Ok(Message::Close(Some(c)))) => {
                assert_eq!(u16::from(c.code), 4010);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a 4010 close, got {other:?}"),
        }
    }
    // From the current sequence everything still works.
    let mut current = admin.open_socket("members", last).await;
    add(&app, &acme, "new@acme.test").await;
    assert!(html(&current.next_frame().await).contains("new@acme.test"));
}

async fn metrics_count_sockets_events_and_deliveries(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = signed_in(&app, "admin@acme.test").await;
    let mut socket = open_at_page(&admin, "/ui/organization/members", "members").await;
    add(&app, &acme, "metered@acme.test").await;
    socket.next_frame().await;
    let res = app
        .http()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.expect("text");
    // Counters are per process (tests share one), so only lower bounds hold.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .parse()
            .expect("number")
    };
    assert!(value("portal_live_sockets_open") >= 1.0);
    assert!(value("portal_events_published_total") >= 1.0);
    assert!(value("portal_live_frames_delivered_total") >= 1.0);
    assert!(value("portal_live_publish_to_send_seconds_count") >= 1.0);
    for name in [
        "portal_live_slow_consumers_dropped_total",
        "portal_live_replays_total",
        "portal_live_replay_reloads_total",
    ] {
        assert!(value(name) >= 0.0);
    }
    assert!(text.contains("portal_live_publish_to_send_seconds_bucket{le=\"+Inf\"}"));
}
