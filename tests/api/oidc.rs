//! The OpenID Connect provider as an integrator's client library sees it: discovery, authorize,
//! token grants, refresh rotation, userinfo, logout and key rotation, with the negative cases a
//! security review tries.

use crate::helpers::*;
use crate::on_both_backends;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal::db;
use portal::db::entities::{auth_code, refresh_token};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use std::collections::HashMap;

on_both_backends!(
    discovery_advertises_what_is_implemented,
    token_exchange_with_another_redirect_uri_is_refused,
    public_client_without_pkce_is_refused_at_authorize,
    public_client_with_plain_pkce_is_refused_at_authorize,
    public_client_with_pkce_gets_tokens_without_a_secret,
    wrong_code_verifier_is_refused,
    expired_code_is_refused,
    replayed_code_revokes_the_refresh_tokens_it_issued,
    refresh_rotates_and_the_old_token_is_refused,
    replayed_refresh_token_revokes_the_whole_family,
    refresh_needs_offline_access,
    the_same_refresh_token_twice_at_once_is_a_reuse,
    refresh_stops_when_the_session_ends,
    prompt_none_without_session_returns_login_required,
    prompt_none_with_session_returns_a_code,
    prompt_login_forces_a_fresh_sign_in,
    max_age_zero_forces_a_fresh_sign_in,
    prompt_create_opens_signup_and_login_hint_prefills_the_email,
    authorize_errors_go_back_to_the_client_with_state,
    organization_id_selects_the_org_and_non_members_are_denied,
    user_of_several_orgs_picks_one_before_the_code,
    several_orgs_and_prompt_none_without_a_choice_is_interaction_required,
    refresh_may_narrow_the_scope_but_never_widen_it,
    client_secret_post_works_and_a_wrong_secret_is_refused,
    logout_with_a_valid_hint_signs_out_and_returns_with_state,
    logout_without_a_hint_asks_first,
    logout_to_an_unregistered_uri_is_refused,
    key_rotation_publishes_first_and_retires_after_tokens_expire,
    a_rotation_on_one_node_reaches_another_on_its_next_reload,
    token_lifetimes_follow_the_environment,
);

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = portal::crypto::random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(portal::crypto::sha256(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// `GET /oauth/authorize` for the demo client with PKCE, plus `extra` parameters.
pub async fn authorize(
    app: &TestApp,
    browser: &Browser,
    scope: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let redirect = app.url("/demo/callback");
    let mut q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "demo-app"),
        ("redirect_uri", &redirect),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    browser
        .client
        .get(app.url("/oauth/authorize"))
        .query(&q)
        .send()
        .await
        .expect("authorize")
}

/// The code a redirect to the demo callback carries.
pub fn code_in(res: &reqwest::Response) -> String {
    let to = location(res);
    assert!(
        to.contains("/demo/callback"),
        "redirects to the client: {to}"
    );
    let q = query_of(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("a code in {to}"))
}

/// Authorize → sign in as `email` → the code.
pub async fn sign_in_for_code(
    app: &TestApp,
    browser: &Browser,
    email: &str,
    scope: &str,
    pkce: &Pkce,
) -> String {
    let res = authorize(app, browser, scope, pkce, &[]).await;
    assert_eq!(res.status(), 302);
    let login = browser.abs(&location(&res));
    assert!(login.contains("/a/auth/login?request="), "{login}");
    let res = browser.submit_login(&login, email, PASSWORD).await;
    assert_eq!(res.status(), 303, "sign-in succeeds");
    code_in(&res)
}

pub async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http()
        .post(app.url("/oauth/token"))
        .basic_auth("demo-app", Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .expect("token request")
}

pub async fn redeem(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    let redirect = app.url("/demo/callback");
    token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

pub async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    token_request(
        app,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("RFC 6749 error JSON");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// Tokens with a refresh token for admin@acme.test.
async fn offline_tokens(app: &TestApp, browser: &Browser) -> (Value, String) {
    let p = pkce();
    let code = sign_in_for_code(
        app,
        browser,
        "admin@acme.test",
        "openid email offline_access",
        &p,
    )
    .await;
    let res = redeem(app, &code, &p.verifier).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.expect("json");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access gives a refresh token: {tokens}"
    );
    (tokens, code)
}

async fn discovery_advertises_what_is_implemented(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let d: Value = app
        .http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(d["issuer"], app.base);
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("end_session_endpoint", "/oidc/logout"),
    ] {
        assert_eq!(d[key], app.url(path), "{key}");
    }
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(
            d["scopes_supported"]
                .as_array()
                .expect("scopes")
                .iter()
                .any(|s| s == scope)
        );
    }
    for claim in [
        "sid",
        "auth_time",
        "oid",
        "roles",
        "permissions",
        "email_verified",
    ] {
        assert!(
            d["claims_supported"]
                .as_array()
                .expect("claims")
                .iter()
                .any(|c| c == claim)
        );
    }
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert!(jwks["keys"][0]["kid"].is_string(), "keys carry kid");
}

async fn token_exchange_with_another_redirect_uri_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &p).await;
    let other = app.url("/demo/other");
    let res = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &other),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

/// Registers a public client (no secret) through the db layer.
async fn register_public_client(app: &TestApp) -> String {
    let redirect = app.url("/spa/callback");
    db::clients::upsert(
        app.conn(),
        db::clients::ClientSpec {
            id: "spa",
            name: "Single-page app",
            is_public: true,
            secret_hash: None,
            redirect_uris: vec![redirect.clone()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            grant_types: vec!["authorization_code", "refresh_token"],
        },
    )
    .await
    .expect("register public client");
    redirect
}

async fn public_authorize(
    app: &TestApp,
    browser: &Browser,
    pkce_params: &[(&str, &str)],
) -> reqwest::Response {
    let redirect = app.url("/spa/callback");
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", redirect.as_str()),
        ("scope", "openid"),
        ("state", "spa-state"),
    ];
    q.extend_from_slice(pkce_params);
    browser
        .client
        .get(app.url("/oauth/authorize"))
        .query(&q)
        .send()
        .await
        .expect("authorize")
}

async fn public_client_without_pkce_is_refused_at_authorize(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let redirect = register_public_client(&app).await;
    let res = public_authorize(&app, &app.browser(), &[]).await;
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(to.starts_with(&redirect), "{to}");
    let q = query_of(&to);
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "spa-state");
    assert!(!q.contains_key("code"));
}

async fn public_client_with_plain_pkce_is_refused_at_authorize(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    register_public_client(&app).await;
    let verifier = "p".repeat(43);
    let res = public_authorize(
        &app,
        &app.browser(),
        &[
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("plain"), "{q:?}");
}

async fn public_client_with_pkce_gets_tokens_without_a_secret(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let redirect = register_public_client(&app).await;
    let browser = app.browser();
    let p = pkce();
    let res = public_authorize(
        &app,
        &browser,
        &[
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let login = browser.abs(&location(&res));
    let res = browser
        .submit_login(&login, "admin@acme.test", PASSWORD)
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let res = app
        .http()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.expect("json");
    assert!(tokens["id_token"].is_string());
}

async fn wrong_code_verifier_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &p).await;
    let res = redeem(&app, &code, &pkce().verifier).await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
    // The code was spent by the failed attempt too: PKCE failures do not leave it usable.
    let res = redeem(&app, &code, &p.verifier).await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

async fn expired_code_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &p).await;
    auth_code::Entity::update_many()
        .col_expr(auth_code::Column::ExpiresAt, Expr::value(db::now_ms() - 1))
        .filter(auth_code::Column::CodeHash.eq(portal::crypto::token_hash(&code)))
        .exec(app.conn())
        .await
        .expect("expire the code");
    let res = redeem(&app, &code, &p.verifier).await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("expired"),
        "{body}"
    );
}

async fn replayed_code_revokes_the_refresh_tokens_it_issued(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
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
    let first: Value = redeem(&app, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let rt = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let replay = redeem(&app, &code, &p.verifier).await;
    assert_eq!(error_of(replay).await, (400, "invalid_grant".into()));
    let res = refresh(&app, &rt).await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "the first redemption's refresh token is revoked"
    );
}

async fn refresh_rotates_and_the_old_token_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    let old = tokens["refresh_token"].as_str().expect("rt");
    let res = refresh(&app, old).await;
    assert_eq!(res.status(), 200);
    let next: Value = res.json().await.expect("json");
    let new = next["refresh_token"]
        .as_str()
        .expect("a rotated refresh token");
    assert_ne!(new, old);
    assert!(next["access_token"].is_string() && next["id_token"].is_string());
    // The stored value is a hash, never the token.
    let stored = refresh_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    assert!(
        stored
            .iter()
            .all(|r| r.token_hash != new && r.token_hash != old)
    );
    assert_eq!(
        stored
            .iter()
            .map(|r| &r.family_id)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1
    );
    let info = app
        .http()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(next["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 200);
    let res = refresh(&app, old).await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "the old token is refused"
    );
}

async fn replayed_refresh_token_revokes_the_whole_family(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    let first = tokens["refresh_token"].as_str().expect("rt").to_string();
    let second: Value = refresh(&app, &first).await.json().await.expect("json");
    let second = second["refresh_token"].as_str().expect("rt").to_string();
    // An attacker replays the first token: the family dies, so the legitimate second one stops too.
    assert_eq!(
        error_of(refresh(&app, &first).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(
        error_of(refresh(&app, &second).await).await,
        (400, "invalid_grant".into())
    );
    let rows = refresh_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    assert!(
        rows.iter().all(|r| r.revoked_at.is_some()),
        "every token of the family is revoked"
    );
}

async fn the_same_refresh_token_twice_at_once_is_a_reuse(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let (a, b) = futures_util::join!(refresh(&app, rt), refresh(&app, rt));
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(
        statuses.contains(&400),
        "at most one use wins: {statuses:?}"
    );
    // Whichever won, the family is gone: the reuse revoked the winner's new token too.
    let rows = refresh_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    assert!(rows.iter().all(|r| r.revoked_at.is_some()), "{rows:?}");
}

async fn refresh_needs_offline_access(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid email", &p).await;
    let tokens: Value = redeem(&app, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token: {tokens}"
    );
    assert_eq!(
        error_of(refresh(&app, "made-up").await).await,
        (400, "invalid_grant".into())
    );
}

async fn refresh_stops_when_the_session_ends(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    let page = browser
        .get("/oidc/logout")
        .await
        .text()
        .await
        .expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = browser.post_form("/oidc/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let res = refresh(&app, tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

async fn prompt_none_without_session_returns_login_required(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = authorize(
        &app,
        &app.browser(),
        "openid",
        &pkce(),
        &[("prompt", "none")],
    )
    .await;
    assert_eq!(res.status(), 302);
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], app.base);
}

async fn prompt_none_with_session_returns_a_code(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &pkce()).await;
    let p = pkce();
    let res = authorize(&app, &browser, "openid", &p, &[("prompt", "none")]).await;
    let code = code_in(&res);
    assert_eq!(redeem(&app, &code, &p.verifier).await.status(), 200);
}

async fn prompt_login_forces_a_fresh_sign_in(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &pkce()).await;
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "login")]).await;
    assert!(
        location(&res).starts_with("/a/auth/login?request="),
        "{}",
        location(&res)
    );
    // Signing in again replaces the old session.
    let res = browser
        .submit_login(&browser.abs(&location(&res)), "admin@acme.test", PASSWORD)
        .await;
    code_in(&res);
    let live = portal::db::entities::session::Entity::find()
        .filter(portal::db::entities::session::Column::RevokedAt.is_null())
        .all(app.conn())
        .await
        .expect("sessions");
    assert_eq!(live.len(), 1, "one live session after the fresh sign-in");
}

async fn max_age_zero_forces_a_fresh_sign_in(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &pkce()).await;
    // Sessions older than max_age seconds need a new sign-in; age 0 is always too old a moment later.
    let res = authorize(&app, &browser, "openid", &pkce(), &[("max_age", "0")]).await;
    let to = location(&res);
    let to = if to.contains("/demo/callback") {
        // The same millisecond: try once more, a millisecond on is too old.
        location(&authorize(&app, &browser, "openid", &pkce(), &[("max_age", "0")]).await)
    } else {
        to
    };
    assert!(to.starts_with("/a/auth/login?request="), "{to}");
    let res = authorize(&app, &browser, "openid", &pkce(), &[("max_age", "3600")]).await;
    code_in(&res);
}

async fn prompt_create_opens_signup_and_login_hint_prefills_the_email(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = authorize(
        &app,
        &browser,
        "openid",
        &pkce(),
        &[("prompt", "create"), ("login_hint", "newbie@example.com")],
    )
    .await;
    let to = location(&res);
    assert!(to.starts_with("/a/auth/signup?request="), "{to}");
    let page = browser.get(&to).await.text().await.expect("page");
    assert_eq!(
        input_value(&page, "email").as_deref(),
        Some("newbie@example.com")
    );
    let res = authorize(
        &app,
        &browser,
        "openid",
        &pkce(),
        &[("login_hint", "admin@acme.test")],
    )
    .await;
    let page = browser
        .get(&location(&res))
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(
        input_value(&page, "email").as_deref(),
        Some("admin@acme.test")
    );
}

async fn authorize_errors_go_back_to_the_client_with_state(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("prompt", "bogus")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
    ] {
        let redirect = app.url("/demo/callback");
        let p = pkce();
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", "demo-app"),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid"),
            ("state", "keep-me"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            q.retain(|(key, _)| *key != k);
            q.push((k, v));
        }
        let res = app
            .http()
            .get(app.url("/oauth/authorize"))
            .query(&q)
            .send()
            .await
            .expect("authorize");
        assert_eq!(res.status(), 302);
        let back = query_of(&location(&res));
        assert_eq!(back["error"], error);
        assert_eq!(back["state"], "keep-me");
    }
}

async fn organization_id_selects_the_org_and_non_members_are_denied(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    let browser = app.browser();
    sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &pkce()).await;
    let res = authorize(
        &app,
        &browser,
        "openid",
        &pkce(),
        &[("organization_id", &globex)],
    )
    .await;
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-1");
    let p = pkce();
    let res = authorize(&app, &browser, "openid", &p, &[("organization_id", &acme)]).await;
    let tokens: Value = redeem(&app, &code_in(&res), &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(claims["oid"], acme);
}

/// The `value` of the visible input with id `id` (attributes in any order).
pub fn input_value(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<input id=\"{id}\""))?;
    let tag = &html[start..start + html[start..].find('>')?];
    let v = tag.find("value=\"")? + 7;
    Some(tag[v..v + tag[v..].find('"')?].replace("&amp;", "&"))
}

/// The payload of a JWT (no verification: the tests that verify use libraries).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("claims JSON")
}

async fn user_of_several_orgs_picks_one_before_the_code(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let globex = app.org_id("Globex").await;
    let res = app
        .add_member(&globex, serde_json::json!({ "email": "admin@acme.test", "name": "Ada Admin", "role": "member" }))
        .await;
    assert_eq!(res.status(), 201);
    let browser = app.browser();
    let p = pkce();
    let res = authorize(&app, &browser, "openid", &p, &[]).await;
    let res = browser
        .submit_login(&browser.abs(&location(&res)), "admin@acme.test", PASSWORD)
        .await;
    let picker = location(&res);
    assert!(
        picker.starts_with("/a/auth/organization?request="),
        "{picker}"
    );
    let page = browser.get(&picker).await.text().await.expect("picker");
    assert!(
        page.contains("Acme") && page.contains("Globex"),
        "both orgs are offered"
    );
    let csrf = form_value(&page, "csrf").expect("csrf");
    let request = form_value(&page, "request").expect("request");
    // Without the CSRF token the choice is refused.
    let res = browser
        .post_form(
            "/a/auth/organization",
            &[("organization_id", &globex), ("request", &request)],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = browser
        .post_form(
            "/a/auth/organization",
            &[
                ("csrf", &csrf),
                ("organization_id", &globex),
                ("request", &request),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let tokens: Value = redeem(&app, &code_in(&res), &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(claims["oid"], globex);
    assert_eq!(claims["roles"], serde_json::json!(["member"]));
    // The choice sticks to the session; switching later goes through organization_id.
    let p = pkce();
    let res = authorize(&app, &browser, "openid", &p, &[]).await;
    let tokens: Value = redeem(&app, &code_in(&res), &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().expect("id"))["oid"],
        globex
    );
    let acme = app.org_id("Acme").await;
    let p = pkce();
    let res = authorize(&app, &browser, "openid", &p, &[("organization_id", &acme)]).await;
    let tokens: Value = redeem(&app, &code_in(&res), &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(claims["oid"], acme);
    assert_eq!(claims["roles"], serde_json::json!(["admin"]));
}

async fn several_orgs_and_prompt_none_without_a_choice_is_interaction_required(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let globex = app.org_id("Globex").await;
    app.add_member(
        &globex,
        serde_json::json!({ "email": "admin@acme.test", "name": "Ada", "role": "member" }),
    )
    .await;
    let browser = app.browser();
    let res = browser
        .submit_login(&app.url("/a/auth/login"), "admin@acme.test", PASSWORD)
        .await;
    assert!(
        location(&res).starts_with("/a/auth/organization?return_to="),
        "{}",
        location(&res)
    );
    // The widgets also ask for the choice first.
    let res = browser.get("/ui/organization/members").await;
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/a/auth/organization?return_to="),
        "{}",
        location(&res)
    );
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "none")]).await;
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "interaction_required");
    assert_eq!(q["state"], "st-1");
}

async fn refresh_may_narrow_the_scope_but_never_widen_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("scope", "openid email profile offline_access"),
    ];
    assert_eq!(
        error_of(token_request(&app, &wider).await).await,
        (400, "invalid_scope".into())
    );
    let narrower = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("scope", "openid offline_access"),
    ];
    let res = token_request(&app, &narrower).await;
    assert_eq!(res.status(), 200);
    let narrowed: Value = res.json().await.expect("json");
    assert_eq!(narrowed["scope"], "openid offline_access");
    let claims = jwt_claims(narrowed["id_token"].as_str().expect("id_token"));
    assert!(
        claims.get("email").is_none(),
        "the narrowed scope drops the email claim"
    );
    assert_eq!(
        claims["auth_time"],
        jwt_claims(tokens["id_token"].as_str().expect("id"))["auth_time"]
    );
}

async fn client_secret_post_works_and_a_wrong_secret_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .http()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-app"),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    let res = app
        .http()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-app"),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}

async fn logout_with_a_valid_hint_signs_out_and_returns_with_state(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &p).await;
    let tokens: Value = redeem(&app, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let back = app.url("/demo/");
    let res = browser
        .client
        .get(app.url("/oidc/logout"))
        .query(&[
            (
                "id_token_hint",
                tokens["id_token"].as_str().expect("id_token"),
            ),
            ("post_logout_redirect_uri", &back),
            ("state", "bye"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), format!("{back}?state=bye"));
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "none")]).await;
    assert_eq!(
        query_of(&location(&res))["error"],
        "login_required",
        "the session ended"
    );
}

async fn logout_without_a_hint_asks_first(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &pkce()).await;
    let back = app.url("/demo/");
    let res = browser
        .client
        .get(app.url("/oidc/logout"))
        .query(&[
            ("client_id", "demo-app"),
            ("post_logout_redirect_uri", back.as_str()),
            ("state", "s2"),
            ("id_token_hint", "not-a-token"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(
        res.status(),
        200,
        "a confirmation page, not a silent sign-out"
    );
    let page = res.text().await.expect("page");
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "none")]).await;
    assert!(location(&res).contains("code="), "still signed in");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let res = browser
        .post_form(
            "/oidc/logout",
            &[
                ("csrf", &csrf),
                ("client_id", "demo-app"),
                ("post_logout_redirect_uri", &back),
                ("state", "s2"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{back}?state=s2"));
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "none")]).await;
    assert_eq!(query_of(&location(&res))["error"], "login_required");
}

async fn logout_to_an_unregistered_uri_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let code = sign_in_for_code(&app, &browser, "admin@acme.test", "openid", &p).await;
    let tokens: Value = redeem(&app, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    for uri in [
        "https://evil.example/",
        &app.url("/demo/callback"),
        &app.url("/demo"),
    ] {
        let res = browser
            .client
            .get(app.url("/oidc/logout"))
            .query(&[
                ("id_token_hint", tokens["id_token"].as_str().expect("id")),
                ("post_logout_redirect_uri", uri),
            ])
            .send()
            .await
            .expect("logout");
        assert_eq!(res.status(), 400, "{uri}");
        assert!(res.headers().get("location").is_none());
    }
    let res = authorize(&app, &browser, "openid", &pkce(), &[("prompt", "none")]).await;
    assert!(
        location(&res).contains("code="),
        "a refused logout signs nobody out"
    );
}

async fn key_rotation_publishes_first_and_retires_after_tokens_expire(backend: Backend) {
    use portal::actors::key_manager::KeyManager;
    use portal::keys::{PUBLISH_DELAY_MS, Rotation};
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let state = &app.app_state;
    let old_kid = state.keys.active().kid().to_string();
    let jwks_kids = |app: &TestApp| {
        let app_url = app.url("/.well-known/jwks.json");
        let http = app.http();
        async move {
            let jwks: Value = http
                .get(app_url)
                .send()
                .await
                .expect("jwks")
                .json()
                .await
                .expect("json");
            jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k["kid"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    let old_token = app.api_token().await;

    let Rotation::Published {
        kid: new_kid,
        signs_from,
    } = portal::keys::rotate(&state.db).await.expect("rotate")
    else {
        panic!("a fresh environment has no pending key");
    };
    assert!(matches!(
        portal::keys::rotate(&state.db).await.expect("rotate"),
        Rotation::AlreadyPending { .. }
    ));
    KeyManager::try_run_once(&state.db, &state.keys, db::now_ms())
        .await
        .expect("maintain");
    let kids = jwks_kids(&app).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "the new key is published at once: {kids:?}"
    );
    let token = app.api_token().await;
    assert_eq!(jwt_header_kid(&token), old_kid, "but it does not sign yet");

    // After the publish delay the next key signs and the old one is retired, still published.
    let later = signs_from.max(db::now_ms() + PUBLISH_DELAY_MS);
    let done = KeyManager::try_run_once(&state.db, &state.keys, later)
        .await
        .expect("maintain");
    assert_eq!(done.promoted.as_deref(), Some(new_kid.as_str()));
    let token = app.api_token().await;
    assert_eq!(jwt_header_kid(&token), new_kid);
    assert!(
        jwks_kids(&app).await.contains(&old_kid),
        "the old key stays for its tokens"
    );
    let res = app
        .http()
        .get(app.url("/api/v1/organizations"))
        .bearer_auth(&old_token)
        .send()
        .await
        .expect("api");
    assert_eq!(
        res.status(),
        200,
        "tokens signed by the retired key still verify"
    );

    // Once every token it signed has expired, the old key is dropped.
    let env = db::environment::get(app.conn()).await.expect("env");
    let longest = db::environment::TokenLifetimes::of(&env).longest_signed_ms();
    let done = KeyManager::try_run_once(&state.db, &state.keys, later + longest + 1)
        .await
        .expect("maintain");
    assert_eq!(done.dropped, 1);
    assert_eq!(jwks_kids(&app).await, vec![new_kid]);
}

fn jwt_header_kid(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let v: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    v["kid"].as_str().expect("kid").to_string()
}

async fn a_rotation_on_one_node_reaches_another_on_its_next_reload(backend: Backend) {
    use portal::actors::key_manager::KeyManager;
    use portal::keys::{PUBLISH_DELAY_MS, Rotation};
    let Some(a) = TestApp::spawn(backend).await else {
        return;
    };
    // A second node on the same database.
    let b = portal::startup::Application::build(a.settings.clone())
        .await
        .expect("second node builds");
    let b_state = b.state().clone();
    let b_base = b.public_url().as_str().trim_end_matches('/').to_string();
    let b_handle = b.server_handle();
    actix_web::rt::spawn(b.run_until_stopped());
    let old = a.app_state.keys.active().kid().to_string();
    assert_eq!(
        b_state.keys.active().kid(),
        old,
        "both nodes start on the same key"
    );

    let Rotation::Published { kid, signs_from } =
        portal::keys::rotate(&a.app_state.db).await.expect("rotate")
    else {
        panic!("no key was pending");
    };
    let later = signs_from.max(db::now_ms() + PUBLISH_DELAY_MS);
    KeyManager::try_run_once(&a.app_state.db, &a.app_state.keys, later)
        .await
        .expect("node a");
    assert_eq!(a.app_state.keys.active().kid(), kid);
    assert_eq!(
        b_state.keys.active().kid(),
        old,
        "node b signs with the old key until it reloads"
    );
    let from_b = b_state
        .keys
        .sign_jwt("at+jwt", &serde_json::json!({ "sub": "x" }))
        .expect("sign");
    a.app_state
        .keys
        .verify_jwt(&from_b, "at+jwt")
        .expect("node a still verifies node b's tokens");

    KeyManager::try_run_once(&b_state.db, &b_state.keys, db::now_ms())
        .await
        .expect("node b");
    assert_eq!(
        b_state.keys.active().kid(),
        kid,
        "after its reload node b signs with the new key"
    );
    let jwks: Value = a
        .http()
        .get(format!("{b_base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&old.as_str()) && kids.contains(&kid.as_str()),
        "{kids:?}"
    );
    drop(b_handle.stop(false));
}

async fn token_lifetimes_follow_the_environment(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let lifetimes = db::environment::TokenLifetimes {
        id_token_secs: 120,
        access_token_secs: 60,
        refresh_token_secs: 600,
    };
    db::environment::set_token_lifetimes(app.conn(), lifetimes)
        .await
        .expect("set lifetimes");
    let browser = app.browser();
    let (tokens, _) = offline_tokens(&app, &browser).await;
    assert_eq!(tokens["expires_in"], 60);
    let access = jwt_claims(tokens["access_token"].as_str().expect("at"));
    assert_eq!(
        access["exp"].as_i64().expect("exp") - access["iat"].as_i64().expect("iat"),
        60
    );
    let id = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(
        id["exp"].as_i64().expect("exp") - id["iat"].as_i64().expect("iat"),
        120
    );
    let rows = refresh_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    let ttl = rows[0].expires_at - rows[0].created_at;
    assert!(
        (599_000..=600_000).contains(&ttl),
        "refresh token lives 600 s, got {ttl} ms"
    );
}
