//! Sessions: the session policy (API and widget), expiry enforced on HTTP, sockets and token
//! refresh, the reaper, the security widget (revoke one, revoke all others), session events, and
//! OpenID Connect back-channel logout checked by a third-party JWT library.

mod backchannel;

use crate::helpers::*;
use crate::oidc::{pkce, redeem, refresh, sign_in_for_code};
use crate::on_both_backends;
use portal::actors::session_reaper::SessionReaper;
use portal::db::{self, entities::event, entities::session};
use portal::domain::{EmailAddress, Feature};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    session_policy_api_shows_default_override_and_effective,
    session_policy_api_refuses_bad_values_by_field,
    a_stricter_policy_shortens_running_sessions_of_that_org_only,
    idle_expiry_is_enforced_on_http_socket_and_refresh,
    absolute_expiry_is_enforced_on_http_socket_and_refresh,
    the_reaper_ends_expired_sessions_and_signs_their_pages_out_live,
    activity_moves_the_idle_deadline_at_most_once_a_minute,
    revoking_one_session_leaves_the_others_working,
    revoke_all_others_needs_a_recent_confirmation_and_keeps_the_current_one,
    security_page_shows_device_ip_and_this_device,
    sessions_api_lists_and_revokes,
    sign_in_and_sign_out_publish_session_events,
    session_policy_widget_saves_and_reports_field_errors,
);

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A browser that sends a user agent.
pub fn browser_with_agent(app: &TestApp, ua: &str) -> Browser {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .user_agent(ua)
        .build()
        .expect("client");
    Browser {
        client,
        jar,
        base: app.base.clone(),
    }
}

pub async fn user_id(app: &TestApp, email: &str) -> String {
    db::users::find_by_email(app.conn(), &EmailAddress::parse(email).expect("email"))
        .await
        .expect("user query")
        .expect("user exists")
        .id
}

pub async fn live_sessions(app: &TestApp, email: &str) -> Vec<db::sessions::Session> {
    let user = user_id(app, email).await;
    db::sessions::live_for_user(app.conn(), &user, db::now_ms())
        .await
        .expect("sessions")
}

pub async fn session(app: &TestApp, id: &str) -> db::sessions::Session {
    db::sessions::find(app.conn(), id)
        .await
        .expect("session query")
        .expect("session exists")
}

/// Signs in through the hosted form (no client) and returns the new session.
pub async fn sign_in(app: &TestApp, browser: &Browser, email: &str) -> db::sessions::Session {
    let before: Vec<String> = live_sessions(app, email)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    let res = browser.submit_login("/a/auth/login", email, PASSWORD).await;
    assert_eq!(res.status(), 303, "sign-in succeeds");
    live_sessions(app, email)
        .await
        .into_iter()
        .find(|s| !before.contains(&s.id))
        .expect("a new session")
}

/// Moves a session's deadline into the past: what the tests use instead of waiting for a clock.
pub async fn expire(app: &TestApp, session_id: &str, column: session::Column) {
    session::Entity::update_many()
        .col_expr(column, Expr::value(db::now_ms() - 1000))
        .filter(session::Column::Id.eq(session_id))
        .exec(app.conn())
        .await
        .expect("move the deadline");
}

pub async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let token = app.api_token().await;
    let mut req = app.http().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("API request")
}

pub async fn seq(app: &TestApp) -> i64 {
    db::events::last_seq(app.conn()).await.expect("last seq")
}

pub fn reaper(app: &TestApp) -> SessionReaper {
    SessionReaper::new(
        app.app_state.db.clone(),
        app.app_state.sessions.clone(),
        Duration::from_secs(3600),
    )
}

/// The CSRF token of a page this browser opens.
pub async fn csrf_of(browser: &Browser, path: &str) -> String {
    let page = browser.get(path).await.text().await.expect("page");
    form_value(&page, "csrf").expect("csrf field")
}

async fn session_policy_api_shows_default_override_and_effective(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let path = format!("/api/v1/organizations/{acme}/session-policy");
    let body: Value = api(&app, reqwest::Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["app_default"]["absolute_timeout_minutes"], 10080);
    assert_eq!(body["app_default"]["idle_timeout_enabled"], false);
    assert_eq!(body["override"]["absolute_timeout_minutes"], Value::Null);
    assert_eq!(body["effective"], body["app_default"]);

    // The organization's stricter lifetime wins; its idle timeout turns idle on.
    let res = api(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"absolute_timeout_minutes": 480, "idle_timeout_enabled": true, "idle_timeout_minutes": 30})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["effective"]["absolute_timeout_minutes"], 480);
    assert_eq!(body["effective"]["idle_timeout_minutes"], 30);
    assert_eq!(body["app_default"]["absolute_timeout_minutes"], 10080);

    // A looser lifetime than the application's does not loosen it.
    let res = api(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"absolute_timeout_minutes": 20000})),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["override"]["absolute_timeout_minutes"], 20000);
    assert_eq!(body["effective"]["absolute_timeout_minutes"], 10080);
    assert_eq!(body["effective"]["idle_timeout_enabled"], false);

    let res = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/organizations/org_missing/session-policy",
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
}

async fn session_policy_api_refuses_bad_values_by_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let path = format!("/api/v1/organizations/{acme}/session-policy");
    for (body, field, words) in [
        (
            json!({"absolute_timeout_minutes": 3}),
            "absolute_timeout_minutes",
            "between 5 minutes",
        ),
        (
            json!({"absolute_timeout_minutes": 200000}),
            "absolute_timeout_minutes",
            "90 days",
        ),
        (
            json!({"absolute_timeout_minutes": 60, "idle_timeout_enabled": true, "idle_timeout_minutes": 60}),
            "idle_timeout_minutes",
            "shorter than the absolute",
        ),
    ] {
        let res = api(&app, reqwest::Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(res.status(), 422, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(words),
            "{err}"
        );
    }
    let body: Value = api(&app, reqwest::Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["override"]["absolute_timeout_minutes"],
        Value::Null,
        "nothing was stored"
    );
}

async fn a_stricter_policy_shortens_running_sessions_of_that_org_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme_browser = app.browser();
    let globex_browser = app.browser();
    let acme_session = sign_in(&app, &acme_browser, "member@acme.test").await;
    let globex_session = sign_in(&app, &globex_browser, "admin@globex.test").await;
    let week = 7 * 24 * 60 * 60_000;
    assert!(acme_session.absolute_expires_at - acme_session.created_at >= week - 1000);

    let acme = app.org_id("Acme").await;
    let res = api(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/organizations/{acme}/session-policy"),
        Some(json!({"absolute_timeout_minutes": 60, "idle_timeout_enabled": true, "idle_timeout_minutes": 15})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["sessions_shortened"].as_u64().unwrap() >= 1, "{body}");

    let shortened = session(&app, &acme_session.id).await;
    assert_eq!(
        shortened.absolute_expires_at,
        shortened.created_at + 60 * 60_000
    );
    assert_eq!(
        shortened.idle_expires_at,
        Some(shortened.last_active_at + 15 * 60_000)
    );
    let untouched = session(&app, &globex_session.id).await;
    assert_eq!(
        untouched.absolute_expires_at,
        globex_session.absolute_expires_at
    );
    assert_eq!(untouched.idle_expires_at, None);

    // A new sign-in into Acme gets the new policy from the start.
    let fresh = sign_in(&app, &app.browser(), "member@acme.test").await;
    assert_eq!(fresh.absolute_expires_at - fresh.created_at, 60 * 60_000);

    // A policy the running session already exceeds ends it at once, announced like any end.
    session::Entity::update_many()
        .col_expr(
            session::Column::CreatedAt,
            Expr::value(db::now_ms() - 30 * 60_000),
        )
        .filter(session::Column::Id.eq(&acme_session.id))
        .exec(app.conn())
        .await
        .unwrap();
    let res = api(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/organizations/{acme}/session-policy"),
        Some(json!({"absolute_timeout_minutes": 20})),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert!(body["sessions_ended"].as_u64().unwrap() >= 1, "{body}");
    let ended = session(&app, &acme_session.id).await;
    assert_eq!(ended.revoke_reason.as_deref(), Some("absolute_timeout"));
    assert!(
        location(&acme_browser.get("/ui/").await).contains("/demo/login"),
        "signed out"
    );
    assert!(
        location(&globex_browser.get("/ui/").await).starts_with("/ui/organization"),
        "Globex is not signed out"
    );
}

/// Signs admin@acme.test in through the demo client with a refresh token and an open socket, moves
/// one deadline into the past, and checks each surface refuses the session.
async fn expiry_is_enforced(backend: Backend, deadline: session::Column) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    // Idle on, so the session has an idle deadline to pass.
    api(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/organizations/{acme}/session-policy"),
        Some(json!({"idle_timeout_enabled": true, "idle_timeout_minutes": 30})),
    )
    .await;
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(
        &app,
        &browser,
        "admin@acme.test",
        "openid offline_access",
        &p,
    )
    .await;
    let tokens: Value = redeem(&app, &code, &p.verifier).await.json().await.unwrap();
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let current = live_sessions(&app, "admin@acme.test").await.remove(0);
    assert!(current.idle_expires_at.is_some());
    assert_eq!(browser.get("/ui/organization/members").await.status(), 200);
    let mut socket = browser.open_socket("members", seq(&app).await).await;

    expire(&app, &current.id, deadline).await;

    // The socket: the next message from the page finds the session over (4001: sign in again).
    socket.send_text(r#"{"ack":0}"#).await;
    assert_eq!(socket.close_code().await, Some(4001));
    // HTTP: the initiate-login redirect.
    let res = browser.get("/ui/organization/members").await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("/demo/login"), "{}", location(&res));
    // A new socket is refused.
    assert!(
        browser
            .open_socket_with_origin("members", 0, &app.base.clone())
            .await
            .is_err()
    );
    // Refresh: invalid_grant.
    let res = refresh(&app, &refresh_token).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant");
}

async fn idle_expiry_is_enforced_on_http_socket_and_refresh(backend: Backend) {
    expiry_is_enforced(backend, session::Column::IdleExpiresAt).await
}

async fn absolute_expiry_is_enforced_on_http_socket_and_refresh(backend: Backend) {
    expiry_is_enforced(backend, session::Column::AbsoluteExpiresAt).await
}

async fn the_reaper_ends_expired_sessions_and_signs_their_pages_out_live(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let ended = sign_in(&app, &browser, "admin@acme.test").await;
    let other = app.browser();
    let kept = sign_in(&app, &other, "admin@acme.test").await;
    let mut socket = browser.open_socket("members", seq(&app).await).await;
    let kept_socket = other.open_socket("members", seq(&app).await).await;
    expire(&app, &ended.id, session::Column::AbsoluteExpiresAt).await;

    assert_eq!(reaper(&app).try_run_once().await.unwrap(), 1);
    // Without the page saying anything, the hub closes its socket.
    assert_eq!(socket.close_code().await, Some(4001));
    let row = session(&app, &ended.id).await;
    assert_eq!(row.revoke_reason.as_deref(), Some("absolute_timeout"));
    assert!(session(&app, &kept.id).await.revoked_at.is_none());
    assert_eq!(reaper(&app).try_run_once().await.unwrap(), 0, "ended once");

    let logout = event::Entity::find()
        .filter(event::Column::EventType.eq("user.logout"))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(logout.len(), 1);
    let data: Value = serde_json::from_str(&logout[0].payload).unwrap();
    assert_eq!(data["session_id"], ended.id.as_str());
    assert_eq!(data["user"]["email"], "admin@acme.test");
    assert_eq!(data["user_session"]["id"], ended.id.as_str());
    assert_eq!(data["user_session"]["end_reason"], "absolute_timeout");

    // The other session's page still works and its socket stays open.
    assert_eq!(other.get("/ui/organization/members").await.status(), 200);
    drop(kept_socket);
}

async fn activity_moves_the_idle_deadline_at_most_once_a_minute(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    api(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/organizations/{acme}/session-policy"),
        Some(json!({"idle_timeout_enabled": true, "idle_timeout_minutes": 30})),
    )
    .await;
    let browser = app.browser();
    let s = sign_in(&app, &browser, "member@acme.test").await;
    assert_eq!(browser.get("/ui/security").await.status(), 200);
    let same = session(&app, &s.id).await;
    assert_eq!(
        same.last_active_at, s.last_active_at,
        "not written within a minute"
    );
    // Two minutes ago, by the session's clock.
    let earlier = db::now_ms() - 2 * 60_000;
    session::Entity::update_many()
        .col_expr(session::Column::LastActiveAt, Expr::value(earlier))
        .col_expr(
            session::Column::IdleExpiresAt,
            Expr::value(earlier + 30 * 60_000),
        )
        .filter(session::Column::Id.eq(&s.id))
        .exec(app.conn())
        .await
        .unwrap();
    assert_eq!(browser.get("/ui/security").await.status(), 200);
    let touched = session(&app, &s.id).await;
    assert!(touched.last_active_at > earlier + 60_000);
    assert_eq!(
        touched.idle_expires_at,
        Some(touched.last_active_at + 30 * 60_000),
        "the idle deadline moves with activity"
    );
}

async fn revoking_one_session_leaves_the_others_working(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let laptop = app.browser();
    let phone = app.browser();
    let tablet = app.browser();
    let laptop_session = sign_in(&app, &laptop, "admin@acme.test").await;
    let phone_session = sign_in(&app, &phone, "admin@acme.test").await;
    let tablet_session = sign_in(&app, &tablet, "admin@acme.test").await;
    let mut phone_socket = phone.open_socket("members", seq(&app).await).await;
    let mut laptop_socket = laptop.open_socket("security", seq(&app).await).await;

    let csrf = csrf_of(&laptop, "/ui/security").await;
    let res = laptop
        .post_form(
            &format!("/ui/security/sessions/{}/revoke", phone_session.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        phone_socket.close_code().await,
        Some(4001),
        "signed out live"
    );
    // The laptop's security page drops the phone's row live.
    let frame = laptop_socket.next_frame().await;
    assert_eq!(frame["op"], "remove");
    assert_eq!(frame["target"], format!("session-{}", phone_session.id));

    assert_eq!(
        phone.get("/ui/security").await.status(),
        303,
        "the phone is signed out"
    );
    assert_eq!(laptop.get("/ui/security").await.status(), 200);
    assert_eq!(tablet.get("/ui/security").await.status(), 200);
    assert_eq!(
        session(&app, &phone_session.id)
            .await
            .revoke_reason
            .as_deref(),
        Some("revoked")
    );
    assert!(session(&app, &laptop_session.id).await.revoked_at.is_none());
    assert!(session(&app, &tablet_session.id).await.revoked_at.is_none());

    // Someone else's session id is not found, and nothing happens to it.
    let globex = app.browser();
    let globex_session = sign_in(&app, &globex, "admin@globex.test").await;
    let res = laptop
        .post_form(
            &format!("/ui/security/sessions/{}/revoke", globex_session.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(session(&app, &globex_session.id).await.revoked_at.is_none());
    // Without the CSRF token, nothing happens.
    let res = laptop
        .post_form(
            &format!("/ui/security/sessions/{}/revoke", tablet_session.id),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(session(&app, &tablet_session.id).await.revoked_at.is_none());
}

async fn revoke_all_others_needs_a_recent_confirmation_and_keeps_the_current_one(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let laptop = app.browser();
    let phone = app.browser();
    let tablet = app.browser();
    let current = sign_in(&app, &laptop, "member@acme.test").await;
    sign_in(&app, &phone, "member@acme.test").await;
    sign_in(&app, &tablet, "member@acme.test").await;
    // The sign-in was 11 minutes ago: too long for a sensitive action.
    session::Entity::update_many()
        .col_expr(
            session::Column::ReauthAt,
            Expr::value(db::now_ms() - 11 * 60_000),
        )
        .filter(session::Column::Id.eq(&current.id))
        .exec(app.conn())
        .await
        .unwrap();
    let csrf = csrf_of(&laptop, "/ui/security").await;
    let res = laptop
        .post_form("/ui/security/sessions/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("Confirm it is you"));
    assert_eq!(live_sessions(&app, "member@acme.test").await.len(), 3);

    let res = laptop
        .post_form(
            "/ui/security/confirm",
            &[("csrf", &csrf), ("password", "wrong-password-123")],
        )
        .await;
    assert_eq!(res.status(), 401);
    let res = laptop
        .post_form(
            "/ui/security/confirm",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = laptop
        .post_form("/ui/security/sessions/revoke-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);

    let left = live_sessions(&app, "member@acme.test").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, current.id, "the current session is kept");
    assert_eq!(laptop.get("/ui/security").await.status(), 200);
    assert_eq!(phone.get("/ui/security").await.status(), 303);
    assert_eq!(tablet.get("/ui/security").await.status(), 303);
}

async fn security_page_shows_device_ip_and_this_device(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let firefox = browser_with_agent(&app, FIREFOX);
    let current = sign_in(&app, &firefox, "member@acme.test").await;
    let other = sign_in(&app, &app.browser(), "member@acme.test").await;
    assert_eq!(current.browser.as_deref(), Some("Firefox 128"));
    assert_eq!(current.os.as_deref(), Some("Linux"));
    assert_eq!(current.ip.as_deref(), Some("127.0.0.1"));
    let page = firefox.get("/ui/security").await.text().await.unwrap();
    assert!(page.contains("Firefox 128 on Linux"), "{page}");
    assert!(page.contains("IP 127.0.0.1"));
    assert!(page.contains("This device"));
    assert_eq!(page.matches("This device").count(), 1);
    assert!(page.contains(&format!("/ui/security/sessions/{}/revoke", other.id)));
    assert!(
        !page.contains(&format!("/ui/security/sessions/{}/revoke", current.id)),
        "no revoke button on this device's row"
    );
    assert!(
        page.contains("href=\"/ui/security\""),
        "the security page is in the navigation"
    );
}

async fn sessions_api_lists_and_revokes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.browser();
    let b = app.browser();
    let first = sign_in(&app, &a, "member@acme.test").await;
    let second = sign_in(&app, &b, "member@acme.test").await;
    let user = user_id(&app, "member@acme.test").await;
    let body: Value = api(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/users/{user}/sessions"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.id.as_str()) && ids.contains(&second.id.as_str()));
    assert_eq!(body["data"][0]["sign_in_method"], "password");

    let res = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/sessions/{}/revoke", first.id),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["end_reason"], "revoked");
    assert!(body["ended_at"].is_string());
    assert_eq!(a.get("/ui/security").await.status(), 303);
    assert_eq!(b.get("/ui/security").await.status(), 200);
    let res = api(
        &app,
        reqwest::Method::POST,
        "/api/v1/sessions/ses_missing/revoke",
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/users/usr_missing/sessions",
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
}

async fn sign_in_and_sign_out_publish_session_events(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let s = sign_in(&app, &browser, "member@acme.test").await;
    let csrf = csrf_of(&browser, "/oidc/logout").await;
    let res = browser.post_form("/oidc/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let events = event::Entity::find()
        .filter(event::Column::UserId.eq(&s.user_id))
        .order_by_asc(event::Column::Seq)
        .all(app.conn())
        .await
        .unwrap();
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| {
            ["session.created", "user.login", "user.logout"].contains(&e.event_type.as_str())
        })
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["session.created", "user.login", "user.logout"]);
    for e in &events {
        let data: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(data["user"]["id"], s.user_id.as_str(), "{}", e.event_type);
        assert_eq!(data["user_session"]["id"], s.id.as_str());
        assert_eq!(data["session_id"], s.id.as_str());
        assert_eq!(e.organization_id, s.organization_id);
    }
    let data: Value = serde_json::from_str(&events[2].payload).unwrap();
    assert_eq!(data["user_session"]["end_reason"], "logout");
}

async fn session_policy_widget_saves_and_reports_field_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = app.browser();
    sign_in(&app, &admin, "admin@acme.test").await;
    let member = app.browser();
    sign_in(&app, &member, "member@acme.test").await;
    // Without the feature the page is closed, even to an admin.
    assert_eq!(
        admin.get("/ui/organization/session-policy").await.status(),
        403
    );
    db::orgs::set_feature(app.conn(), &acme, Feature::SessionPolicy, true)
        .await
        .unwrap();
    let page = admin
        .get("/ui/organization/session-policy")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Application default") && page.contains("In effect"));
    assert!(page.contains("7 days"));
    assert!(
        page.contains("shortened at once"),
        "the page says what a stricter policy does"
    );
    // Members lack sk_org_session_policy_read.
    assert_eq!(
        member.get("/ui/organization/session-policy").await.status(),
        403
    );

    let csrf = form_value(&page, "csrf").unwrap();
    let res = admin
        .post_form(
            "/ui/organization/session-policy",
            &[
                ("csrf", &csrf),
                ("absolute_timeout_minutes", "60"),
                ("idle_mode", "on"),
                ("idle_timeout_minutes", "90"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("must be shorter than the absolute timeout"),
        "{page}"
    );
    assert!(page.contains("value=\"90\""), "what was typed is kept");
    let res = admin
        .post_form(
            "/ui/organization/session-policy",
            &[
                ("csrf", "forged"),
                ("absolute_timeout_minutes", "60"),
                ("idle_mode", "inherit"),
                ("idle_timeout_minutes", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = admin
        .post_form(
            "/ui/organization/session-policy",
            &[
                ("csrf", &csrf),
                ("absolute_timeout_minutes", "480"),
                ("idle_mode", "on"),
                ("idle_timeout_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Saved."), "{page}");
    assert!(page.contains("8 hours"));
    let body: Value = api(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/organizations/{acme}/session-policy"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["effective"]["absolute_timeout_minutes"], 480);
    assert_eq!(body["effective"]["idle_timeout_minutes"], 30);
}
