//! The walking skeleton: sign in through the hosted login, see the members widget, watch a member
//! appear live — on SQLite and PostgreSQL.

use crate::helpers::*;
use crate::on_both_backends;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, Nonce};
use portal::oauth::claims::PortalIdToken;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::str::FromStr;

on_both_backends!(
    migrations_go_up_down_and_up_again,
    demo_seed_twice_gives_the_same_data,
    authorize_with_unknown_client_shows_an_error_page_and_does_not_redirect,
    authorize_with_unregistered_redirect_uri_shows_an_error_page_and_does_not_redirect,
    wrong_password_gets_a_generic_error_and_no_session,
    right_password_yields_a_code_whose_id_token_verifies_against_the_jwks,
    an_authorization_code_works_only_once,
    ui_without_a_session_redirects_to_the_initiate_login_uri,
    members_widget_lists_the_own_organization_only,
    a_member_added_through_the_api_appears_live_on_the_own_organization_only,
    member_api_rejects_bad_input_with_clear_json_errors,
    widget_socket_refuses_foreign_origins_and_missing_sessions,
    health_check_answers_once_migrations_ran,
    api_errors_from_the_address_are_json_and_the_root_leads_to_the_widgets,
);

async fn migrations_go_up_down_and_up_again(backend: Backend) {
    use migration::MigratorTrait;
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let conn = sea_orm::Database::connect(&db.url).await.expect("connect");
    migration::Migrator::up(&conn, None).await.expect("up");
    let count = |conn: sea_orm::DatabaseConnection| async move {
        conn.execute_unprepared("SELECT COUNT(*) FROM events")
            .await
            .is_ok()
    };
    assert!(count(conn.clone()).await, "events table exists after up");
    migration::Migrator::down(&conn, None).await.expect("down");
    assert!(
        !count(conn.clone()).await,
        "events table is gone after down"
    );
    let status = migration::Migrator::get_pending_migrations(&conn)
        .await
        .expect("status");
    assert_eq!(
        status.len(),
        migration::Migrator::migrations().len(),
        "every migration is pending again after down"
    );
    migration::Migrator::up(&conn, None)
        .await
        .expect("up again");
    assert!(
        count(conn.clone()).await,
        "events table exists after up again"
    );
    assert!(
        migration::Migrator::get_pending_migrations(&conn)
            .await
            .expect("status")
            .is_empty()
    );
}

/// Everything the demo seed owns, in a comparable form.
async fn demo_snapshot(app: &TestApp) -> Vec<String> {
    use portal::db::entities::*;
    let conn = app.conn();
    let mut rows = Vec::new();
    for o in organization::Entity::find().all(conn).await.expect("orgs") {
        rows.push(format!("org {} {} {:?}", o.id, o.name, o.external_id));
    }
    for u in user::Entity::find().all(conn).await.expect("users") {
        rows.push(format!(
            "user {} {} {} {:?}",
            u.id, u.email, u.name, u.password_hash
        ));
    }
    for m in membership::Entity::find()
        .all(conn)
        .await
        .expect("memberships")
    {
        rows.push(format!(
            "member {} {} {} {} {}",
            m.id, m.organization_id, m.user_id, m.role_id, m.status
        ));
    }
    for c in client::Entity::find().all(conn).await.expect("clients") {
        rows.push(format!(
            "client {} {:?} {}",
            c.id, c.secret_hash, c.redirect_uris
        ));
    }
    rows.sort();
    rows
}

async fn demo_seed_twice_gives_the_same_data(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let before = demo_snapshot(&app).await;
    assert_eq!(before.iter().filter(|r| r.starts_with("org ")).count(), 2);
    assert_eq!(before.iter().filter(|r| r.starts_with("user ")).count(), 3);
    assert_eq!(
        before.iter().filter(|r| r.starts_with("member ")).count(),
        3
    );
    portal::demo::seed(&app.app_state.db, &app.settings, &app.app_state.public_url)
        .await
        .expect("second seed");
    assert_eq!(
        demo_snapshot(&app).await,
        before,
        "a second seed changes nothing"
    );
}

async fn authorize_with_unknown_client_shows_an_error_page_and_does_not_redirect(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .http()
        .get(app.url("/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=https://evil.example/cb&scope=openid&state=s"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 400);
    assert!(
        res.headers().get("location").is_none(),
        "no redirect to an unverified URI"
    );
    let body = res.text().await.expect("body");
    assert!(body.contains("not registered"), "the page explains: {body}");
}

async fn authorize_with_unregistered_redirect_uri_shows_an_error_page_and_does_not_redirect(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for uri in [
        "https://evil.example/demo/callback".to_string(),
        app.url("/demo/callback/"),
        app.url("/demo/callback?x=1"),
        app.url("/demo/CALLBACK"),
    ] {
        let res = app
            .http()
            .get(app.url("/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", "demo-app"),
                ("redirect_uri", &uri),
                ("scope", "openid"),
                ("state", "s"),
            ])
            .send()
            .await
            .expect("authorize");
        assert_eq!(res.status(), 400, "{uri} is refused");
        assert!(
            res.headers().get("location").is_none(),
            "{uri} gets no redirect"
        );
    }
}

async fn session_count(app: &TestApp) -> u64 {
    portal::db::entities::session::Entity::find()
        .count(app.conn())
        .await
        .expect("count")
}

async fn wrong_password_gets_a_generic_error_and_no_session(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (_, login_url) = browser.follow(browser.get("/demo/login").await).await;
    for (email, password) in [
        ("admin@acme.test", "not-the-password"),
        ("nobody@acme.test", PASSWORD),
    ] {
        let res = browser.submit_login(&login_url, email, password).await;
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap_or("").starts_with("portal_session=")),
            "no session cookie is set"
        );
        let body = res.text().await.expect("body");
        assert!(
            body.contains("Incorrect email or password."),
            "generic message for {email}"
        );
        assert!(
            body.contains(&format!("value=\"{email}\"")),
            "the email the user typed is kept"
        );
    }
    assert_eq!(session_count(&app).await, 0, "no session row was created");
}

/// Runs authorize → login for the demo client with a PKCE verifier of our own and returns the code.
async fn authorize_and_sign_in(
    app: &TestApp,
    browser: &Browser,
    nonce: &str,
    verifier: &str,
) -> String {
    use base64::Engine;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let res = browser
        .client
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "demo-app"),
            ("redirect_uri", &app.url("/demo/callback")),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302);
    let login_url = browser.abs(&location(&res));
    assert!(login_url.contains("/a/auth/login?request="), "{login_url}");
    let res = browser
        .submit_login(&login_url, "admin@acme.test", PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap_or("").to_string())
        .find(|c| c.starts_with("portal_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let back = url::Url::parse(&location(&res)).expect("redirect URL");
    assert_eq!(back.path(), "/demo/callback");
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("st-123"),
        "state comes back"
    );
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(app.base.as_str()),
        "issuer is named"
    );
    q.get("code").expect("code").clone()
}

async fn redeem(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    app.http()
        .post(app.url("/oauth/token"))
        .basic_auth("demo-app", Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.url("/demo/callback")),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token")
}

async fn right_password_yields_a_code_whose_id_token_verifies_against_the_jwks(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let verifier = "v".repeat(50);
    let code = authorize_and_sign_in(&app, &browser, "n-42", &verifier).await;
    assert_eq!(session_count(&app).await, 1);
    let res = redeem(&app, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let tokens: Value = res.json().await.expect("json");
    assert_eq!(tokens["token_type"], "Bearer");

    let discovery: Value = app
        .http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], app.base);
    let jwks: CoreJsonWebKeySet = app
        .http()
        .get(discovery["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let verifier: IdTokenVerifier<CoreJsonWebKey> = IdTokenVerifier::new_confidential_client(
        ClientId::new("demo-app".into()),
        ClientSecret::new(CLIENT_SECRET.into()),
        IssuerUrl::new(app.base.clone()).expect("issuer"),
        jwks,
    );
    let token = PortalIdToken::from_str(tokens["id_token"].as_str().expect("id_token"))
        .expect("parse id token");
    let claims = token
        .claims(&verifier, &Nonce::new("n-42".into()))
        .expect("ID token verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("admin@acme.test"));
    let extra = claims.additional_claims();
    assert_eq!(extra.roles, vec!["admin".to_string()]);
    assert_eq!(extra.permissions.len(), 12);
    assert_eq!(
        extra.oid.as_deref(),
        Some(app.org_id("Acme").await.as_str())
    );
    assert!(extra.sid.is_some());

    // The access token answers at userinfo.
    let info: Value = app
        .http()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["email"], "admin@acme.test");
}

async fn an_authorization_code_works_only_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let verifier = "w".repeat(64);
    let code = authorize_and_sign_in(&app, &browser, "n", &verifier).await;
    assert_eq!(redeem(&app, &code, &verifier).await.status(), 200);
    let replay = redeem(&app, &code, &verifier).await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
}

async fn ui_without_a_session_redirects_to_the_initiate_login_uri(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .http()
        .get(app.url("/ui/organization/members"))
        .send()
        .await
        .expect("ui");
    assert_eq!(res.status(), 303);
    let to = url::Url::parse(&location(&res)).expect("absolute initiate-login URI");
    assert_eq!(to.path(), "/demo/login");
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q.get("iss"), Some(&app.base));
    assert_eq!(
        q.get("target_link_uri"),
        Some(&app.url("/ui/organization/members"))
    );

    // Following it signs in and lands on the page that was asked for.
    let browser = app.browser();
    let (_, login_url) = browser.follow(browser.get(to.as_str()).await).await;
    let res = browser
        .submit_login(&login_url, "admin@acme.test", PASSWORD)
        .await;
    let (page, url) = browser.follow(res).await;
    assert_eq!(url, app.url("/ui/organization/members"));
    assert!(page.text().await.expect("page").contains("Members"));
}

async fn members_widget_lists_the_own_organization_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let claims_page = browser.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    assert!(claims_page.contains("Signed in as admin@acme.test"));
    let (_, url) = browser.follow(browser.get("/ui/").await).await;
    assert_eq!(
        url,
        app.url("/ui/organization/settings"),
        "/ui/ opens the first widget of the navigation"
    );
    let html = browser
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains("admin@acme.test") && html.contains("member@acme.test"));
    assert!(
        !html.contains("globex"),
        "no Globex member is shown to Acme"
    );

    let globex = app.browser();
    globex.sign_in_via_demo("admin@globex.test", PASSWORD).await;
    let html = globex
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains("admin@globex.test"));
    assert!(
        !html.contains("acme.test"),
        "no Acme member is shown to Globex"
    );
}

/// The `data-live-seq` a widget page was rendered at.
fn page_seq(html: &str) -> i64 {
    let marker = "data-live-seq=\"";
    let start = html.find(marker).expect("live page") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("seq")
        .parse()
        .expect("number")
}

async fn a_member_added_through_the_api_appears_live_on_the_own_organization_only(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme_admin = app.browser();
    acme_admin
        .sign_in_via_demo("admin@acme.test", PASSWORD)
        .await;
    let acme_member = app.browser();
    acme_member
        .sign_in_via_demo("member@acme.test", PASSWORD)
        .await;
    let globex_admin = app.browser();
    globex_admin
        .sign_in_via_demo("admin@globex.test", PASSWORD)
        .await;

    let seq = page_seq(
        &acme_admin
            .get("/ui/organization/members")
            .await
            .text()
            .await
            .expect("page"),
    );
    let mut acme_socket = acme_admin.open_socket("members", seq).await;
    let mut member_socket = acme_member.open_socket("members", seq).await;
    let mut globex_socket = globex_admin.open_socket("members", seq).await;

    let acme = app.org_id("Acme").await;
    let res = app
        .add_member(
            &acme,
            json!({ "email": "New.Hire@Acme.test", "name": "New Hire", "role": "member" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    assert_eq!(created["user"]["email"], "new.hire@acme.test");

    for socket in [&mut acme_socket, &mut member_socket] {
        let frame = socket.next_frame().await;
        assert_eq!(frame["op"], "upsert");
        assert_eq!(frame["list"], "members");
        assert_eq!(frame["type"], "user.organization_membership_created");
        let html = frame["html"].as_str().expect("html");
        assert!(
            html.contains("new.hire@acme.test") && html.contains("New Hire"),
            "{html}"
        );
    }

    // Globex's socket must not get Acme's row. Frames leave in sequence order, so once Globex's own
    // (later) change reaches it first, the Acme one was never sent there.
    let globex = app.org_id("Globex").await;
    assert_eq!(
        app.add_member(
            &globex,
            json!({ "email": "ops@globex.test", "name": "Ops" })
        )
        .await
        .status(),
        201
    );
    let frame = globex_socket.next_frame().await;
    let html = frame["html"].as_str().expect("html");
    assert!(
        html.contains("ops@globex.test"),
        "Globex's first frame is its own: {html}"
    );
    assert!(!html.contains("acme"));

    // A page opened now shows the same state the pushes built.
    let html = acme_admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains("new.hire@acme.test"));

    // Adding the same person again is idempotent and pushes nothing new.
    let again = app
        .add_member(
            &acme,
            json!({ "email": "new.hire@acme.test", "name": "New Hire" }),
        )
        .await;
    assert_eq!(again.status(), 200);
}

async fn member_api_rejects_bad_input_with_clear_json_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let cases = [
        (json!({ "name": "No Email" }), 422, Some("email")),
        (json!({ "email": "not-an-email" }), 422, Some("email")),
        (
            json!({ "email": "a@acme.test", "role": "emperor" }),
            422,
            Some("role"),
        ),
        (
            json!({ "email": "a@acme.test", "role": "Bad Role" }),
            422,
            Some("role"),
        ),
        (
            json!({ "email": "a@acme.test", "colour": "red" }),
            422,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let res = app.add_member(&acme, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
        let err: Value = res.json().await.expect("json error");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
        if let Some(field) = field {
            assert_eq!(err["error"]["field"], field, "{body}");
        }
    }
    let res = app
        .add_member("org_doesnotexist", json!({ "email": "a@acme.test" }))
        .await;
    assert_eq!(res.status(), 404);
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["code"], "not_found");

    let res = app
        .http()
        .post(app.url(&format!("/api/v1/organizations/{acme}/users")))
        .header("content-type", "application/json")
        .body("{not json")
        .bearer_auth(app.api_token().await)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 422);

    // An existing member asked for with another role is a conflict, not a silent no-op.
    let res = app
        .add_member(
            &acme,
            json!({ "email": "member@acme.test", "role": "admin" }),
        )
        .await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.expect("json");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("already a member")
    );
    // Valid JSON without its content type is told what is missing.
    let res = app
        .http()
        .post(app.url(&format!("/api/v1/organizations/{acme}/users")))
        .body(r#"{"email":"x@acme.test"}"#)
        .bearer_auth(app.api_token().await)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.expect("json");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Content-Type: application/json")
    );

    let res = app
        .http()
        .get(app.url("/api/v1/organizations"))
        .send()
        .await
        .expect("no token");
    assert_eq!(res.status(), 401);
    let res = app
        .http()
        .get(app.url("/api/v1/organizations"))
        .bearer_auth("garbage")
        .send()
        .await
        .expect("bad token");
    assert_eq!(res.status(), 401);

    // A user's access token is not a management token.
    let browser = app.browser();
    let verifier = "u".repeat(43);
    let code = authorize_and_sign_in(&app, &browser, "n", &verifier).await;
    let tokens: Value = redeem(&app, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let res = app
        .http()
        .get(app.url("/api/v1/organizations"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("user token");
    assert_eq!(res.status(), 401);
    // Nothing was written by the refused calls.
    let members = portal::db::members::list(app.conn(), &acme, None, None, 100)
        .await
        .expect("list");
    assert_eq!(members.len(), 2);
}

async fn widget_socket_refuses_foreign_origins_and_missing_sessions(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    browser.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let foreign = browser
        .open_socket_with_origin("members", 0, "https://evil.example")
        .await;
    assert!(foreign.is_err(), "a foreign Origin is refused");
    let anonymous = app.browser();
    let res = anonymous
        .open_socket_with_origin("members", 0, &app.base)
        .await;
    assert!(res.is_err(), "no session, no socket");
    assert!(
        browser
            .open_socket_with_origin("members", 0, &app.base)
            .await
            .is_ok()
    );
}

async fn health_check_answers_once_migrations_ran(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .http()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let _ = app
        .conn()
        .execute_unprepared("SELECT 1")
        .await
        .expect("db up");
}

async fn api_errors_from_the_address_are_json_and_the_root_leads_to_the_widgets(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.api_token().await;
    let res = app
        .http()
        .get(app.url("/api/v1/organizations?limit=abc"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), 422);
    let err: Value = res
        .json()
        .await
        .expect("a JSON error for a malformed query");
    assert_eq!(err["error"]["code"], "invalid_request", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("query")),
        "{err}"
    );
    let res = app.http().get(app.url("/")).send().await.expect("root");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/ui/");
}

/// Verifies an ID token with PyJWT (a library we did not write) against the published JWKS.
#[actix_web::test]
async fn id_token_verifies_with_a_third_party_jwt_library() {
    let Some(python) = python() else { return };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let browser = app.browser();
    let verifier = "p".repeat(45);
    let code = authorize_and_sign_in(&app, &browser, "nonce-py", &verifier).await;
    let tokens: Value = redeem(&app, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let jwks = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .text()
        .await
        .expect("body");
    let script = r#"
import json, sys, jwt
jwks, token, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
keys = {k.key_id: k for k in jwt.PyJWKSet.from_json(jwks).keys}
kid = jwt.get_unverified_header(token)["kid"]
claims = jwt.decode(token, keys[kid].key, algorithms=["RS256"], audience="demo-app", issuer=issuer)
print(json.dumps(claims))
"#;
    let out = std::process::Command::new(python)
        .args([
            "-c",
            script,
            &jwks,
            tokens["id_token"].as_str().expect("id_token"),
            &app.base,
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: Value = serde_json::from_slice(&out.stdout).expect("claims JSON");
    assert_eq!(claims["email"], "admin@acme.test");
    assert_eq!(claims["nonce"], "nonce-py");
    assert_eq!(claims["roles"], json!(["admin"]));
}
