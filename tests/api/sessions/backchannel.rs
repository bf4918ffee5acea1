//! Back-channel logout: for every way a session ends, the client it signed into receives a logout
//! token at its `backchannel_logout_uri`, verified by the third-party PyJWT library against
//! Portal's JWKS in `tests/support/backchannel_receiver.py`; a receiver that is down is retried
//! until it is up.

use super::*;
use crate::oidc::jwt_claims;
use crate::smtp::SmtpSink;
use portal::db::entities::{backchannel_attempt, backchannel_delivery};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

on_both_backends!(
    every_kind_of_session_end_reaches_the_client_as_a_valid_logout_token,
    a_receiver_that_is_down_is_retried_until_it_answers,
    the_backchannel_uri_is_set_with_patch_and_checked,
    the_demo_client_takes_its_backchannel_uri_from_the_environment,
);

/// The Python receiver as a child process; each request it gets is one JSON report.
struct LogoutReceiver {
    url: String,
    child: Child,
    reports: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl LogoutReceiver {
    /// Starts the receiver on `port` (0: any), verifying tokens for the demo client.
    async fn spawn(app: &TestApp, port: u16) -> Option<Self> {
        let python = python()?;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/backchannel_receiver.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .arg(&app.base)
            .arg("demo-app")
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python logout receiver");
        let stdout = child.stdout.take().expect("stdout");
        let reports = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (sink, notify) = (reports.clone(), arrived.clone());
        let (port_tx, port_rx) = tokio::sync::oneshot::channel::<u16>();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(port) = value.get("port").and_then(Value::as_u64) {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port as u16);
                    }
                    continue;
                }
                sink.lock().unwrap().push(value);
                notify.notify_waiters();
            }
        });
        let port = tokio::time::timeout(DEADLINE * 3, port_rx)
            .await
            .expect("the receiver starts")
            .expect("the receiver prints its port");
        Some(Self {
            url: format!("http://127.0.0.1:{port}/backchannel-logout"),
            child,
            reports,
            arrived,
        })
    }

    /// Waits for the report of a token for session `sid`.
    async fn report_for(&self, sid: &str) -> Value {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let arrival = self.arrived.notified();
            if let Some(found) = self
                .reports
                .lock()
                .unwrap()
                .iter()
                .find(|r| r["claims"]["sid"] == sid || r["ok"] == false)
            {
                return found.clone();
            }
            if tokio::time::timeout_at(until, arrival).await.is_err() {
                panic!(
                    "no logout token for {sid}; received {:?}",
                    self.reports.lock().unwrap()
                );
            }
        }
    }
}

impl Drop for LogoutReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn app_with_backchannel(backend: Backend) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start().await?;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, move |s| {
        s.webhooks.allow_hosts = "127.0.0.1".into();
        // Retries within milliseconds instead of seconds.
        s.webhooks.retry_scale = 0.001;
        s.smtp_url = Some(smtp);
        // The tests run the reaper themselves.
        s.sessions.reap_interval_ms = 3_600_000;
    })
    .await?;
    Some((app, sink))
}

async fn set_backchannel_uri(app: &TestApp, uri: Option<&str>) -> reqwest::Response {
    api(
        app,
        reqwest::Method::PATCH,
        "/api/v1/clients/demo-app",
        Some(json!({ "backchannel_logout_uri": uri })),
    )
    .await
}

/// Signs `email` into the demo client with a new browser; returns the browser, the tokens and the
/// session (the ID token's `sid`).
async fn signed_into_client(app: &TestApp, email: &str) -> (Browser, Value, db::sessions::Session) {
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(app, &browser, email, "openid offline_access", &p).await;
    let tokens: Value = redeem(app, &code, &p.verifier).await.json().await.unwrap();
    let sid = jwt_claims(tokens["id_token"].as_str().expect("id_token"))["sid"]
        .as_str()
        .expect("sid in the ID token")
        .to_string();
    let s = session(app, &sid).await;
    (browser, tokens, s)
}

/// The report is a valid logout token for `s`, and the session's refresh token no longer works.
async fn assert_logged_out(
    app: &TestApp,
    receiver: &LogoutReceiver,
    s: &db::sessions::Session,
    tokens: &Value,
    kind: &str,
) {
    let report = receiver.report_for(&s.id).await;
    assert_eq!(report["ok"], true, "{kind}: {report}");
    assert_eq!(
        report["content_type"], "application/x-www-form-urlencoded",
        "{kind}"
    );
    assert_eq!(report["header"]["typ"], "logout+jwt", "{kind}");
    assert_eq!(report["header"]["alg"], "RS256", "{kind}");
    let claims = &report["claims"];
    assert_eq!(claims["iss"], app.base.as_str(), "{kind}");
    assert_eq!(claims["aud"], "demo-app", "{kind}");
    assert_eq!(claims["sub"], s.user_id.as_str(), "{kind}");
    assert_eq!(claims["sid"], s.id.as_str(), "{kind}");
    assert!(claims.get("nonce").is_none(), "{kind}");
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{kind}"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 120, "{kind}: short-lived");
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        "{kind}"
    );
    let res = refresh(app, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400, "{kind}: the refresh token is revoked");
}

async fn every_kind_of_session_end_reaches_the_client_as_a_valid_logout_token(backend: Backend) {
    let Some((app, sink)) = app_with_backchannel(backend).await else {
        return;
    };
    let Some(receiver) = LogoutReceiver::spawn(&app, 0).await else {
        return;
    };
    assert_eq!(
        set_backchannel_uri(&app, Some(&receiver.url))
            .await
            .status(),
        200
    );

    // 1. The user signs out at the application (RP-initiated logout with an ID token hint).
    let (browser, tokens, s) = signed_into_client(&app, "admin@acme.test").await;
    let res = browser
        .client
        .get(app.url("/oidc/logout"))
        .query(&[("id_token_hint", tokens["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert_logged_out(&app, &receiver, &s, &tokens, "logout").await;

    // 2. The user revokes it from the security page of another browser.
    let (_, tokens, s) = signed_into_client(&app, "admin@acme.test").await;
    let other = app.browser();
    sign_in(&app, &other, "admin@acme.test").await;
    let csrf = csrf_of(&other, "/ui/security").await;
    let res = other
        .post_form(
            &format!("/ui/security/sessions/{}/revoke", s.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_logged_out(&app, &receiver, &s, &tokens, "revoked in the widget").await;

    // 3. The integrator revokes it through the API.
    let (_, tokens, s) = signed_into_client(&app, "admin@acme.test").await;
    let res = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/sessions/{}/revoke", s.id),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_logged_out(&app, &receiver, &s, &tokens, "revoked by the API").await;

    // 4. The session's policy expires it (the reaper).
    let (_, tokens, s) = signed_into_client(&app, "admin@acme.test").await;
    expire(&app, &s.id, session::Column::IdleExpiresAt).await;
    assert!(reaper(&app).try_run_once().await.unwrap() >= 1);
    assert_logged_out(&app, &receiver, &s, &tokens, "idle expiry").await;

    // 5. An admin removes the user from the organization (management API).
    let (_, tokens, s) = signed_into_client(&app, "member@acme.test").await;
    let acme = app.org_id("Acme").await;
    let res = api(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/organizations/{acme}/users/{}", s.user_id),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_logged_out(
        &app,
        &receiver,
        &s,
        &tokens,
        "removed from the organization",
    )
    .await;
    assert_eq!(
        session(&app, &s.id).await.revoke_reason.as_deref(),
        Some("removed_from_organization")
    );

    // 6. A password reset ends every session of the account.
    let (_, tokens, s) = signed_into_client(&app, "admin@globex.test").await;
    let browser = app.browser();
    let csrf = csrf_of(&browser, "/a/auth/forgot").await;
    browser
        .post_form(
            "/a/auth/forgot",
            &[("csrf", &csrf), ("email", "admin@globex.test")],
        )
        .await;
    let mail = sink.wait_for_message("admin@globex.test", DEADLINE).await;
    let link = mail.link("/a/auth/reset?token=").expect("reset link");
    let page = browser.get(&link).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf").unwrap();
    let token = form_value(&page, "token").unwrap();
    let res = browser
        .post_form(
            "/a/auth/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "saffron-kettle-meadow-42"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_logged_out(&app, &receiver, &s, &tokens, "password reset").await;

    // Each ended session got one delivery, delivered at the first attempt.
    let deliveries = backchannel_delivery::Entity::find()
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 6);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == "delivered" || d.status == "pending")
    );
}

async fn a_receiver_that_is_down_is_retried_until_it_answers(backend: Backend) {
    let Some((app, _sink)) = app_with_backchannel(backend).await else {
        return;
    };
    // A port nothing listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}/backchannel-logout");
    assert_eq!(set_backchannel_uri(&app, Some(&uri)).await.status(), 200);
    let (_, tokens, s) = signed_into_client(&app, "admin@acme.test").await;
    let res = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/sessions/{}/revoke", s.id),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);

    // Wait for failed attempts to be recorded (a condition with a deadline, not a fixed sleep).
    let until = tokio::time::Instant::now() + DEADLINE;
    let failed = loop {
        let attempts = backchannel_attempt::Entity::find()
            .all(app.conn())
            .await
            .unwrap();
        if attempts.len() >= 2 {
            break attempts;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "attempts while down: {attempts:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(failed.iter().all(|a| a.status_code.is_none()));
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("connect"),
        "{:?}",
        failed[0].error
    );
    let delivery = backchannel_delivery::Entity::find()
        .one(app.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.status, "pending", "still retrying");

    // The receiver comes up on that port: the next retry gets through.
    let Some(receiver) = LogoutReceiver::spawn(&app, port).await else {
        return;
    };
    assert_logged_out(&app, &receiver, &s, &tokens, "after retries").await;
    let until = tokio::time::Instant::now() + DEADLINE;
    let delivered = loop {
        let d = backchannel_delivery::Entity::find()
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        if d.status == "delivered" {
            break d;
        }
        assert!(tokio::time::Instant::now() < until, "delivery: {d:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(delivered.attempts >= 3, "{delivered:?}");
    assert_eq!(delivered.last_status, Some(200));
    let attempts = backchannel_attempt::Entity::find()
        .filter(backchannel_attempt::Column::DeliveryId.eq(&delivered.id))
        .all(app.conn())
        .await
        .unwrap();
    assert_eq!(
        attempts.len() as i32,
        delivered.attempts,
        "each attempt recorded"
    );
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a.status_code == Some(200))
            .count(),
        1
    );
}

async fn the_backchannel_uri_is_set_with_patch_and_checked(backend: Backend) {
    let Some((app, _sink)) = app_with_backchannel(backend).await else {
        return;
    };
    for bad in ["not a url", "http://10.1.2.3/logout", "ftp://127.0.0.1/x"] {
        let res = set_backchannel_uri(&app, Some(bad)).await;
        assert_eq!(res.status(), 422, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["field"], "backchannel_logout_uri");
    }
    let res = set_backchannel_uri(&app, Some("http://127.0.0.1:9/logout")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["backchannel_logout_uri"], "http://127.0.0.1:9/logout");
    // Without the field nothing changes; null clears it.
    let res = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/clients/demo-app",
        Some(json!({})),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["backchannel_logout_uri"], "http://127.0.0.1:9/logout");
    let body: Value = set_backchannel_uri(&app, None).await.json().await.unwrap();
    assert_eq!(body["backchannel_logout_uri"], Value::Null);
    // A session ended now queues nothing for the client.
    let (_, _, s) = signed_into_client(&app, "admin@acme.test").await;
    api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/sessions/{}/revoke", s.id),
        None,
    )
    .await;
    assert!(
        backchannel_delivery::Entity::find()
            .all(app.conn())
            .await
            .unwrap()
            .is_empty()
    );
    let res = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/clients/nope",
        Some(json!({})),
    )
    .await;
    assert_eq!(res.status(), 404);
}

async fn the_demo_client_takes_its_backchannel_uri_from_the_environment(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.demo_backchannel_logout_uri = Some("https://app.example/backchannel".into());
    })
    .await
    else {
        return;
    };
    let client = db::clients::find(app.conn(), "demo-app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        client.backchannel_logout_uri.as_deref(),
        Some("https://app.example/backchannel")
    );
    // One set through the API survives a restart without the variable.
    assert_eq!(
        set_backchannel_uri(&app, Some("https://app.example/other"))
            .await
            .status(),
        200
    );
    let db = app.stop().await;
    let app = TestApp::spawn_on(db).await;
    let client = db::clients::find(app.conn(), "demo-app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        client.backchannel_logout_uri.as_deref(),
        Some("https://app.example/other")
    );
}
