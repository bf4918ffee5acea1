//! Passkeys: register one on the security page and sign in with it without a username, from a
//! software authenticator; an assertion for another origin and a replayed assertion are refused;
//! adding needs a recent confirmation; rename and delete are the owner's only.
//!
//! WebAuthn needs a domain name, so these servers answer at `http://localhost:<port>`.

mod authenticator;

use crate::helpers::*;
use crate::on_both_backends;
use crate::sessions::{csrf_of, live_sessions, sign_in};
use authenticator::SoftAuthenticator;
use portal::db::{self, entities::session};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

on_both_backends!(
    a_passkey_added_on_the_security_page_signs_in_without_a_username,
    an_assertion_made_for_another_origin_is_refused,
    a_replayed_assertion_is_refused,
    adding_a_passkey_needs_a_recent_confirmation,
    passkeys_are_renamed_and_deleted_by_their_owner_only,
);

/// A server whose public URL is `http://localhost:<port>`.
async fn spawn(backend: Backend) -> Option<TestApp> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    TestApp::spawn_with(backend, move |s| {
        s.listen = format!("127.0.0.1:{port}");
        s.public_url = Some(format!("http://localhost:{port}"));
    })
    .await
}

async fn post_json(browser: &Browser, path: &str, csrf: &str, body: Value) -> reqwest::Response {
    browser
        .client
        .post(browser.abs(path))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .expect("POST")
}

/// Registers a passkey named `name` for the browser's user; returns the finish response.
async fn register(
    app: &TestApp,
    browser: &Browser,
    key: &mut SoftAuthenticator,
    name: &str,
) -> reqwest::Response {
    let csrf = csrf_of(browser, "/ui/security").await;
    let res = post_json(
        browser,
        "/ui/security/passkeys/register/start",
        &csrf,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200, "registration starts");
    let start: Value = res.json().await.unwrap();
    let options = &start["options"];
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "discoverable: {options}"
    );
    let credential = key.create(&app.base, options);
    post_json(
        browser,
        "/ui/security/passkeys/register/finish",
        &csrf,
        json!({ "ceremony_id": start["ceremony_id"], "name": name, "credential": credential }),
    )
    .await
}

/// Starts a sign-in on the login page; returns the CSRF token, the ceremony id and the options.
async fn start_sign_in(browser: &Browser) -> (String, Value, Value) {
    let page = browser.get("/a/auth/login").await.text().await.unwrap();
    assert!(
        page.contains("data-passkey-signin"),
        "the login page offers passkeys"
    );
    let csrf = form_value(&page, "csrf").unwrap();
    let res = post_json(browser, "/a/auth/passkey/start", &csrf, json!({})).await;
    assert_eq!(res.status(), 200);
    let start: Value = res.json().await.unwrap();
    assert!(
        start["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "usernameless: no allowed list"
    );
    (csrf, start["ceremony_id"].clone(), start["options"].clone())
}

async fn finish_sign_in(
    browser: &Browser,
    csrf: &str,
    ceremony: &Value,
    credential: &Value,
) -> reqwest::Response {
    post_json(
        browser,
        "/a/auth/passkey/finish",
        csrf,
        json!({ "ceremony_id": ceremony, "credential": credential }),
    )
    .await
}

/// admin@acme.test with one registered passkey in `key`.
async fn with_passkey(app: &TestApp, key: &mut SoftAuthenticator) {
    let owner = app.browser();
    sign_in(app, &owner, "admin@acme.test").await;
    let res = register(app, &owner, key, "Work laptop").await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

async fn a_passkey_added_on_the_security_page_signs_in_without_a_username(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut key = SoftAuthenticator::new();
    let owner = app.browser();
    sign_in(&app, &owner, "admin@acme.test").await;
    let res = register(&app, &owner, &mut key, "Work laptop").await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let page = owner.get("/ui/security").await.text().await.unwrap();
    assert!(page.contains("value=\"Work laptop\""), "listed by name");

    let browser = app.browser();
    let (csrf, ceremony, options) = start_sign_in(&browser).await;
    let assertion = key.get(&app.base, &options);
    let res = finish_sign_in(&browser, &csrf, &ceremony, &assertion).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["location"].is_string(), "{body}");
    assert_eq!(browser.get("/ui/security").await.status(), 200, "signed in");
    let sessions = live_sessions(&app, "admin@acme.test").await;
    assert!(sessions.iter().any(|s| s.auth_method == "passkey"));
    let page = owner.get("/ui/security").await.text().await.unwrap();
    assert!(page.contains("last used"), "the passkey's use is recorded");
    assert!(
        page.contains("with passkey"),
        "the new session shows its method"
    );
}

async fn an_assertion_made_for_another_origin_is_refused(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut key = SoftAuthenticator::new();
    with_passkey(&app, &mut key).await;
    let browser = app.browser();
    let (csrf, ceremony, options) = start_sign_in(&browser).await;
    let assertion = key.get("https://portal.evil.example", &options);
    let res = finish_sign_in(&browser, &csrf, &ceremony, &assertion).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        browser.get("/ui/security").await.status(),
        303,
        "not signed in"
    );
    // Registering from another origin is refused too.
    let owner = app.browser();
    sign_in(&app, &owner, "admin@acme.test").await;
    let csrf = csrf_of(&owner, "/ui/security").await;
    let start: Value = post_json(
        &owner,
        "/ui/security/passkeys/register/start",
        &csrf,
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let credential = key.create("https://portal.evil.example", &start["options"]);
    let res = post_json(
        &owner,
        "/ui/security/passkeys/register/finish",
        &csrf,
        json!({ "ceremony_id": start["ceremony_id"], "name": "Evil", "credential": credential }),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        db::passkeys::list_for_user(
            app.conn(),
            &crate::sessions::user_id(&app, "admin@acme.test").await
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

async fn a_replayed_assertion_is_refused(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut key = SoftAuthenticator::new();
    with_passkey(&app, &mut key).await;
    let browser = app.browser();
    let (csrf, ceremony, options) = start_sign_in(&browser).await;
    let assertion = key.get(&app.base, &options);
    assert_eq!(
        finish_sign_in(&browser, &csrf, &ceremony, &assertion)
            .await
            .status(),
        200
    );
    let before = live_sessions(&app, "admin@acme.test").await.len();

    // The same assertion again, for the same ceremony: it was spent.
    let attacker = app.browser();
    let page_csrf = csrf_of(&attacker, "/a/auth/login").await;
    let res = finish_sign_in(&attacker, &page_csrf, &ceremony, &assertion).await;
    assert_eq!(res.status(), 400);
    // …and for a fresh ceremony: its challenge is not the one signed.
    let (csrf2, ceremony2, _) = start_sign_in(&attacker).await;
    let res = finish_sign_in(&attacker, &csrf2, &ceremony2, &assertion).await;
    assert_eq!(res.status(), 400);
    assert_eq!(attacker.get("/ui/security").await.status(), 303);
    assert_eq!(live_sessions(&app, "admin@acme.test").await.len(), before);
    // Without the CSRF token nothing starts.
    let res = post_json(&attacker, "/a/auth/passkey/start", "forged", json!({})).await;
    assert_eq!(res.status(), 403);
}

async fn adding_a_passkey_needs_a_recent_confirmation(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let s = sign_in(&app, &browser, "member@acme.test").await;
    session::Entity::update_many()
        .col_expr(
            session::Column::ReauthAt,
            Expr::value(db::now_ms() - 11 * 60_000),
        )
        .filter(session::Column::Id.eq(&s.id))
        .exec(app.conn())
        .await
        .unwrap();
    let page = browser.get("/ui/security").await.text().await.unwrap();
    assert!(page.contains("To add a passkey, first confirm it is you."));
    let csrf = form_value(&page, "csrf").unwrap();
    let res = post_json(
        &browser,
        "/ui/security/passkeys/register/start",
        &csrf,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = browser
        .post_form(
            "/ui/security/confirm",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let mut key = SoftAuthenticator::new();
    assert_eq!(
        register(&app, &browser, &mut key, "Phone").await.status(),
        201
    );
    // A name is required.
    let csrf = csrf_of(&browser, "/ui/security").await;
    let start: Value = post_json(
        &browser,
        "/ui/security/passkeys/register/start",
        &csrf,
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let mut other = SoftAuthenticator::new();
    let credential = other.create(&app.base, &start["options"]);
    let res = post_json(
        &browser,
        "/ui/security/passkeys/register/finish",
        &csrf,
        json!({ "ceremony_id": start["ceremony_id"], "name": "  ", "credential": credential }),
    )
    .await;
    assert_eq!(res.status(), 422);
}

async fn passkeys_are_renamed_and_deleted_by_their_owner_only(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut key = SoftAuthenticator::new();
    with_passkey(&app, &mut key).await;
    let owner_id = crate::sessions::user_id(&app, "admin@acme.test").await;
    let passkey = db::passkeys::list_for_user(app.conn(), &owner_id)
        .await
        .unwrap()
        .remove(0);

    let stranger = app.browser();
    sign_in(&app, &stranger, "member@acme.test").await;
    let csrf = csrf_of(&stranger, "/ui/security").await;
    let res = stranger
        .post_form(
            &format!("/ui/security/passkeys/{}/rename", passkey.id),
            &[("csrf", &csrf), ("name", "Mine")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = stranger
        .post_form(
            &format!("/ui/security/passkeys/{}/delete", passkey.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 404);

    let owner = app.browser();
    sign_in(&app, &owner, "admin@acme.test").await;
    let csrf = csrf_of(&owner, "/ui/security").await;
    let res = owner
        .post_form(
            &format!("/ui/security/passkeys/{}/rename", passkey.id),
            &[("csrf", &csrf), ("name", "Old laptop")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = owner.get("/ui/security").await.text().await.unwrap();
    assert!(page.contains("value=\"Old laptop\""));
    let res = owner
        .post_form(
            &format!("/ui/security/passkeys/{}/delete", passkey.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        db::passkeys::list_for_user(app.conn(), &owner_id)
            .await
            .unwrap()
            .is_empty()
    );
    // A deleted passkey no longer signs in.
    let browser = app.browser();
    let (csrf, ceremony, options) = start_sign_in(&browser).await;
    let assertion = key.get(&app.base, &options);
    assert_eq!(
        finish_sign_in(&browser, &csrf, &ceremony, &assertion)
            .await
            .status(),
        400
    );
}
