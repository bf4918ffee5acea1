//! The hosted auth screens end to end, with mail delivered to a real SMTP server: sign-in codes and
//! magic links, sign-up with email verification, password reset, rate limits, CSRF on every form,
//! and pages that never tell whether an address has an account.

use crate::helpers::*;
use crate::oidc::{authorize, code_in, input_value, jwt_claims, pkce, redeem};
use crate::on_both_backends;
use crate::smtp::{SmtpSink, app_with_mail};
use portal::db;
use portal::db::entities::{one_time_code, session};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;

on_both_backends!(
    sign_in_code_from_the_email_finishes_the_authorization_request,
    magic_link_from_the_email_signs_in_after_one_click,
    sign_in_code_expires,
    sign_in_code_allows_five_guesses,
    signup_verifies_the_email_then_creates_the_user_and_an_organization,
    signup_refuses_a_weak_password_with_a_reason_and_keeps_the_input,
    signup_with_a_known_email_looks_the_same_and_mails_the_owner,
    password_reset_sets_the_new_password_and_ends_every_session,
    code_request_looks_the_same_for_known_and_unknown_emails,
    reset_request_looks_the_same_for_known_and_unknown_emails,
    wrong_passwords_hit_the_rate_limit_with_retry_after,
    code_requests_hit_the_rate_limit,
    csrf_missing_is_refused_on_the_login_form,
    csrf_missing_is_refused_on_the_code_request_form,
    csrf_missing_is_refused_on_the_code_form,
    csrf_missing_is_refused_on_the_magic_link_form,
    csrf_missing_is_refused_on_the_signup_form,
    csrf_missing_is_refused_on_the_signup_code_form,
    csrf_missing_is_refused_on_the_forgot_password_form,
    csrf_missing_is_refused_on_the_reset_password_form,
    csrf_missing_is_refused_on_the_org_picker_form,
    csrf_missing_is_refused_on_the_logout_form,
);

/// A page's CSRF token (and the cookie that goes with it, now in the browser's jar).
async fn csrf_of(browser: &Browser, path: &str) -> String {
    let page = browser.get(path).await.text().await.expect("page");
    form_value(&page, "csrf").unwrap_or_else(|| panic!("{path} has a CSRF field"))
}

/// Starts an authorization request for the demo client and returns its id.
async fn pending_request(app: &TestApp, browser: &Browser, p: &crate::oidc::Pkce) -> String {
    let res = authorize(app, browser, "openid email", p, &[]).await;
    let to = location(&res);
    crate::oidc::query_of(&browser.abs(&to))["request"].clone()
}

async fn request_code(browser: &Browser, email: &str, request: Option<&str>) -> reqwest::Response {
    let csrf = csrf_of(browser, "/a/auth/login").await;
    let mut form = vec![("csrf", csrf.as_str()), ("email", email)];
    if let Some(r) = request {
        form.push(("request", r));
    }
    browser.post_form("/a/auth/code", &form).await
}

async fn submit_code(
    browser: &Browser,
    action: &str,
    email: &str,
    code: &str,
    request: Option<&str>,
) -> reqwest::Response {
    let csrf = csrf_of(browser, "/a/auth/login").await;
    let mut form = vec![("csrf", csrf.as_str()), ("email", email), ("code", code)];
    if let Some(r) = request {
        form.push(("request", r));
    }
    browser.post_form(action, &form).await
}

fn set_cookie_session(res: &reqwest::Response) -> bool {
    res.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap_or("").starts_with("portal_session=")
            && !c.to_str().unwrap_or("").starts_with("portal_session=;")
    })
}

async fn live_sessions(app: &TestApp) -> u64 {
    session::Entity::find()
        .filter(session::Column::RevokedAt.is_null())
        .count(app.conn())
        .await
        .expect("count")
}

async fn sign_in_code_from_the_email_finishes_the_authorization_request(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let p = pkce();
    let request = pending_request(&app, &browser, &p).await;
    let res = request_code(&browser, "member@acme.test", Some(&request)).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.expect("page");
    assert!(page.contains("6-digit code"), "the code form is shown");
    let mail = sink.wait_for_message("member@acme.test", DEADLINE).await;
    assert!(mail.subject.contains("sign-in code"), "{}", mail.subject);
    assert!(
        mail.html.contains("<a href="),
        "the HTML part carries the link"
    );
    let code = mail.code().expect("a 6-digit code in the mail");
    assert!(
        mail.link("/a/auth/code/link?token=").is_some(),
        "and a magic link"
    );
    let res = submit_code(
        &browser,
        "/a/auth/code/verify",
        "member@acme.test",
        &code,
        Some(&request),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(set_cookie_session(&res));
    let tokens: Value = redeem(&app, &code_in(&res), &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(claims["email"], "member@acme.test");
    // Used once: the same code does not sign in again.
    let again = submit_code(
        &app.browser(),
        "/a/auth/code/verify",
        "member@acme.test",
        &code,
        None,
    )
    .await;
    assert_eq!(again.status(), 401);
}

async fn magic_link_from_the_email_signs_in_after_one_click(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    request_code(&browser, "admin@acme.test", None).await;
    let mail = sink.wait_for_message("admin@acme.test", DEADLINE).await;
    let link = mail.link("/a/auth/code/link?token=").expect("magic link");
    // Opening the link (as a mail scanner would) signs nobody in; it asks for one click.
    let res = browser.get(&link).await;
    assert_eq!(res.status(), 200);
    assert!(!set_cookie_session(&res));
    let page = res.text().await.expect("page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let token = form_value(&page, "token").expect("token");
    let res = browser
        .post_form("/a/auth/code/link", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    assert!(set_cookie_session(&res));
    assert_eq!(location(&res), "/ui/");
    let res = browser
        .post_form("/a/auth/code/link", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(res.status(), 400, "a link works once");
    let code = mail.code().expect("code");
    let res = submit_code(
        &app.browser(),
        "/a/auth/code/verify",
        "admin@acme.test",
        &code,
        None,
    )
    .await;
    assert_eq!(
        res.status(),
        401,
        "the code of the same mail is spent with the link"
    );
}

async fn sign_in_code_expires(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    request_code(&browser, "admin@acme.test", None).await;
    let code = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .code()
        .expect("code");
    one_time_code::Entity::update_many()
        .col_expr(
            one_time_code::Column::ExpiresAt,
            Expr::value(db::now_ms() - 1),
        )
        .filter(one_time_code::Column::Email.eq("admin@acme.test"))
        .exec(app.conn())
        .await
        .expect("expire the code");
    let res = submit_code(
        &browser,
        "/a/auth/code/verify",
        "admin@acme.test",
        &code,
        None,
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(!set_cookie_session(&res));
    assert!(res.text().await.expect("page").contains("expired"));
}

async fn sign_in_code_allows_five_guesses(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    request_code(&browser, "admin@acme.test", None).await;
    let code = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .code()
        .expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 1..=5 {
        let res = submit_code(
            &browser,
            "/a/auth/code/verify",
            "admin@acme.test",
            wrong,
            None,
        )
        .await;
        let expected = if i < 5 { 401 } else { 429 };
        assert_eq!(res.status(), expected, "guess {i}");
    }
    let res = submit_code(
        &browser,
        "/a/auth/code/verify",
        "admin@acme.test",
        &code,
        None,
    )
    .await;
    assert_eq!(
        res.status(),
        429,
        "the right code no longer works after five wrong guesses"
    );
    assert!(res.text().await.expect("page").contains("new one"));
    assert_eq!(live_sessions(&app).await, 0);
}

async fn signup(browser: &Browser, name: &str, email: &str, password: &str) -> reqwest::Response {
    let csrf = csrf_of(browser, "/a/auth/signup").await;
    browser
        .post_form(
            "/a/auth/signup",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("email", email),
                ("password", password),
            ],
        )
        .await
}

const STRONG: &str = "plum-orbit-candle-harbor";

async fn signup_verifies_the_email_then_creates_the_user_and_an_organization(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = signup(&browser, "Grace Hopper", "Grace@Navy.test", STRONG).await;
    assert_eq!(res.status(), 200);
    let user = db::users::find_by_email(
        app.conn(),
        &portal::domain::EmailAddress::parse("grace@navy.test").expect("email"),
    )
    .await
    .expect("query");
    assert!(
        user.is_none(),
        "no account exists before the address is confirmed"
    );
    let mail = sink.wait_for_message("grace@navy.test", DEADLINE).await;
    let code = mail.code().expect("verification code");
    let res = submit_code(
        &browser,
        "/a/auth/signup/verify",
        "grace@navy.test",
        &code,
        None,
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(set_cookie_session(&res));
    assert_eq!(location(&res), "/ui/");
    let user = db::users::find_by_email(
        app.conn(),
        &portal::domain::EmailAddress::parse("grace@navy.test").expect("email"),
    )
    .await
    .expect("query")
    .expect("the account exists now");
    assert!(user.email_verified);
    let events = db::events::after(app.conn(), 0, 100).await.expect("events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "organization.created",
            "user.created",
            "user.organization_membership_created",
            "session.created",
            "user.login"
        ]
    );
    let org = events[0].organization_id.clone().expect("org id");
    assert!(
        events
            .iter()
            .all(|e| e.organization_id.as_deref() == Some(org.as_str()))
    );
    assert_eq!(events[2].data["membership"]["role"]["name"], "admin");
    // The widgets open for the new admin of the new organization.
    let res = browser.get("/ui/organization/members").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("page").contains("grace@navy.test"));
}

async fn signup_refuses_a_weak_password_with_a_reason_and_keeps_the_input(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    for (password, reason) in [
        ("short-one", "at least 12"),
        ("password1234", "too easy to guess"),
    ] {
        let res = signup(&browser, "Alan Turing", "alan@bletchley.test", password).await;
        assert_eq!(res.status(), 422);
        let page = res.text().await.expect("page");
        assert!(page.contains(reason), "{password}: {reason}");
        assert!(
            page.contains("aria-invalid=\"true\""),
            "the field is marked invalid"
        );
        assert_eq!(input_value(&page, "name").as_deref(), Some("Alan Turing"));
        assert_eq!(
            input_value(&page, "email").as_deref(),
            Some("alan@bletchley.test")
        );
        assert!(!page.contains(password), "the password is not echoed back");
    }
    let res = signup(&browser, "", "not-an-email", STRONG).await;
    let page = res.text().await.expect("page");
    assert!(page.contains("Enter your name.") && page.contains("not a valid email address"));
}

async fn signup_with_a_known_email_looks_the_same_and_mails_the_owner(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let known = signup(&browser, "Ada Again", "admin@acme.test", STRONG).await;
    let unknown = signup(&browser, "Ada Again", "fresh@acme.test", STRONG).await;
    assert_eq!(known.status(), unknown.status());
    let known = known
        .text()
        .await
        .expect("page")
        .replace("admin@acme.test", "EMAIL");
    let unknown = unknown
        .text()
        .await
        .expect("page")
        .replace("fresh@acme.test", "EMAIL");
    assert_eq!(
        known, unknown,
        "the page does not tell whether the address has an account"
    );
    let owner = sink.wait_for_message("admin@acme.test", DEADLINE).await;
    assert!(owner.subject.contains("already have"), "{}", owner.subject);
    assert!(
        owner.code().is_none(),
        "no code that could take over the account"
    );
    assert!(owner.link("/a/auth/forgot").is_some());
    let fresh = sink.wait_for_message("fresh@acme.test", DEADLINE).await;
    let real = fresh.code().expect("code");
    // The attempt limit behaves the same for both addresses too.
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let mut answers = Vec::new();
    for email in ["admin@acme.test", "fresh@acme.test"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let res = submit_code(&browser, "/a/auth/signup/verify", email, wrong, None).await;
            statuses.push(res.status().as_u16());
        }
        answers.push(statuses);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], [401, 401, 401, 401, 429, 429]);
}

async fn password_reset_sets_the_new_password_and_ends_every_session(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let laptop = app.browser();
    let phone = app.browser();
    laptop.sign_in_via_demo("member@acme.test", PASSWORD).await;
    phone.sign_in_via_demo("member@acme.test", PASSWORD).await;
    assert_eq!(live_sessions(&app).await, 2);
    let browser = app.browser();
    let csrf = csrf_of(&browser, "/a/auth/forgot").await;
    let res = browser
        .post_form(
            "/a/auth/forgot",
            &[("csrf", &csrf), ("email", "member@acme.test")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let mail = sink.wait_for_message("member@acme.test", DEADLINE).await;
    let link = mail.link("/a/auth/reset?token=").expect("reset link");
    let page = browser.get(&link).await.text().await.expect("reset page");
    let csrf = form_value(&page, "csrf").expect("csrf");
    let token = form_value(&page, "token").expect("token");
    let res = browser
        .post_form(
            "/a/auth/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(res.status(), 422, "the new password follows the same rules");
    let new_password = "saffron-kettle-meadow-42";
    let res = browser
        .post_form(
            "/a/auth/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("password_reset=1"));
    assert_eq!(
        live_sessions(&app).await,
        0,
        "every session of the account ended"
    );
    assert_eq!(
        laptop.get("/ui/").await.status(),
        303,
        "the old browser is signed out"
    );
    let res = browser
        .post_form(
            "/a/auth/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), 400, "the link works once");
    let fresh = app.browser();
    let (_, login) = fresh.follow(fresh.get("/demo/login").await).await;
    assert_eq!(
        fresh
            .submit_login(&login, "member@acme.test", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        fresh
            .submit_login(&login, "member@acme.test", new_password)
            .await
            .status(),
        303
    );
}

async fn code_request_looks_the_same_for_known_and_unknown_emails(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let unknown = request_code(&browser, "ghost@acme.test", None).await;
    let known = request_code(&browser, "admin@acme.test", None).await;
    assert_eq!(known.status(), unknown.status());
    let known = known
        .text()
        .await
        .expect("page")
        .replace("admin@acme.test", "EMAIL");
    let unknown = unknown
        .text()
        .await
        .expect("page")
        .replace("ghost@acme.test", "EMAIL");
    assert_eq!(known, unknown);
    let real = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .code()
        .expect("code");
    assert_eq!(
        sink.received_for("ghost@acme.test"),
        0,
        "nothing is mailed to an address without an account"
    );
    // Guessing codes answers the same way for both, up to and including the attempt limit.
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let mut answers = Vec::new();
    for email in ["ghost@acme.test", "admin@acme.test"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let res = submit_code(&browser, "/a/auth/code/verify", email, wrong, None).await;
            statuses.push(res.status().as_u16());
        }
        answers.push(statuses);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], [401, 401, 401, 401, 429, 429]);
}

async fn reset_request_looks_the_same_for_known_and_unknown_emails(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let mut pages = Vec::new();
    for email in ["ghost@acme.test", "admin@acme.test"] {
        let csrf = csrf_of(&browser, "/a/auth/forgot").await;
        let res = browser
            .post_form("/a/auth/forgot", &[("csrf", &csrf), ("email", email)])
            .await;
        pages.push((
            res.status(),
            res.text().await.expect("page").replace(email, "EMAIL"),
        ));
    }
    assert_eq!(pages[0], pages[1]);
    sink.wait_for_message("admin@acme.test", DEADLINE).await;
    assert_eq!(sink.received_for("ghost@acme.test"), 0);
}

async fn wrong_passwords_hit_the_rate_limit_with_retry_after(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    let (_, login) = browser.follow(browser.get("/demo/login").await).await;
    for i in 1..=5 {
        let res = browser
            .submit_login(&login, "admin@acme.test", "wrong-password")
            .await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    let res = browser
        .submit_login(&login, "admin@acme.test", "wrong-password")
        .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let page = res.text().await.expect("page");
    assert!(page.contains("Too many sign-in attempts"));
    // Even the right password waits out the block, and an unknown address is limited the same way.
    let res = browser
        .submit_login(&login, "admin@acme.test", PASSWORD)
        .await;
    assert_eq!(res.status(), 429);
    for _ in 0..5 {
        browser
            .submit_login(&login, "ghost@acme.test", "wrong-password")
            .await;
    }
    assert_eq!(
        browser
            .submit_login(&login, "ghost@acme.test", "wrong-password")
            .await
            .status(),
        429
    );
    assert_eq!(live_sessions(&app).await, 0);
}

async fn code_requests_hit_the_rate_limit(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    for _ in 0..5 {
        assert_eq!(
            request_code(&browser, "admin@acme.test", None)
                .await
                .status(),
            200
        );
    }
    let res = request_code(&browser, "admin@acme.test", None).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    for _ in 0..5 {
        sink.wait_for_message("admin@acme.test", DEADLINE).await;
    }
    assert_eq!(
        sink.received_for("admin@acme.test"),
        5,
        "the refused request sent nothing"
    );
}

/// Posts `form` (without a CSRF field) and checks it was refused with 400/403.
async fn refused_without_csrf(browser: &Browser, path: &str, form: &[(&str, &str)]) {
    let res = browser.post_form(path, form).await;
    let status = res.status().as_u16();
    assert!(status == 403 || status == 400, "{path} answered {status}");
    assert!(!set_cookie_session(&res), "{path} started no session");
}

async fn csrf_missing_is_refused_on_the_login_form(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    csrf_of(&browser, "/a/auth/login").await;
    refused_without_csrf(
        &browser,
        "/a/auth/login",
        &[("email", "admin@acme.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(live_sessions(&app).await, 0);
}

async fn csrf_missing_is_refused_on_the_code_request_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    csrf_of(&browser, "/a/auth/login").await;
    refused_without_csrf(&browser, "/a/auth/code", &[("email", "admin@acme.test")]).await;
    // A proper request afterwards is the first mail the address gets.
    request_code(&browser, "member@acme.test", None).await;
    sink.wait_for_message("member@acme.test", DEADLINE).await;
    assert_eq!(sink.received_for("admin@acme.test"), 0);
    drop(app);
}

async fn csrf_missing_is_refused_on_the_code_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    request_code(&browser, "admin@acme.test", None).await;
    let code = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .code()
        .expect("code");
    refused_without_csrf(
        &browser,
        "/a/auth/code/verify",
        &[("email", "admin@acme.test"), ("code", &code)],
    )
    .await;
    assert_eq!(live_sessions(&app).await, 0);
}

async fn csrf_missing_is_refused_on_the_magic_link_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    request_code(&browser, "admin@acme.test", None).await;
    let link = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .link("/a/auth/code/link")
        .expect("link");
    let page = browser.get(&link).await.text().await.expect("page");
    let token = form_value(&page, "token").expect("token");
    refused_without_csrf(&browser, "/a/auth/code/link", &[("token", &token)]).await;
    assert_eq!(live_sessions(&app).await, 0);
}

async fn csrf_missing_is_refused_on_the_signup_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    csrf_of(&browser, "/a/auth/signup").await;
    refused_without_csrf(
        &browser,
        "/a/auth/signup",
        &[
            ("name", "Eve"),
            ("email", "eve@x.test"),
            ("password", STRONG),
        ],
    )
    .await;
    signup(&browser, "Bob", "bob@x.test", STRONG).await;
    sink.wait_for_message("bob@x.test", DEADLINE).await;
    assert_eq!(sink.received_for("eve@x.test"), 0);
}

async fn csrf_missing_is_refused_on_the_signup_code_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    signup(&browser, "Bob", "bob@x.test", STRONG).await;
    let code = sink
        .wait_for_message("bob@x.test", DEADLINE)
        .await
        .code()
        .expect("code");
    refused_without_csrf(
        &browser,
        "/a/auth/signup/verify",
        &[("email", "bob@x.test"), ("code", &code)],
    )
    .await;
    let email = portal::domain::EmailAddress::parse("bob@x.test").expect("email");
    assert!(
        db::users::find_by_email(app.conn(), &email)
            .await
            .expect("query")
            .is_none()
    );
}

async fn csrf_missing_is_refused_on_the_forgot_password_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    csrf_of(&browser, "/a/auth/forgot").await;
    refused_without_csrf(&browser, "/a/auth/forgot", &[("email", "admin@acme.test")]).await;
    request_code(&browser, "member@acme.test", None).await;
    sink.wait_for_message("member@acme.test", DEADLINE).await;
    assert_eq!(sink.received_for("admin@acme.test"), 0);
    drop(app);
}

async fn csrf_missing_is_refused_on_the_reset_password_form(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let browser = app.browser();
    let csrf = csrf_of(&browser, "/a/auth/forgot").await;
    browser
        .post_form(
            "/a/auth/forgot",
            &[("csrf", &csrf), ("email", "admin@acme.test")],
        )
        .await;
    let link = sink
        .wait_for_message("admin@acme.test", DEADLINE)
        .await
        .link("/a/auth/reset")
        .expect("link");
    let page = browser.get(&link).await.text().await.expect("page");
    let token = form_value(&page, "token").expect("token");
    refused_without_csrf(
        &browser,
        "/a/auth/reset",
        &[("token", &token), ("password", STRONG)],
    )
    .await;
    let fresh = app.browser();
    let (_, login) = fresh.follow(fresh.get("/demo/login").await).await;
    assert_eq!(
        fresh
            .submit_login(&login, "admin@acme.test", PASSWORD)
            .await
            .status(),
        303,
        "the password did not change"
    );
}

async fn csrf_missing_is_refused_on_the_org_picker_form(backend: Backend) {
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
    let (_, login) = browser.follow(browser.get("/demo/login").await).await;
    let res = browser
        .submit_login(&login, "admin@acme.test", PASSWORD)
        .await;
    let picker = location(&res);
    let page = browser.get(&picker).await.text().await.expect("picker");
    let request = form_value(&page, "request").expect("request");
    refused_without_csrf(
        &browser,
        "/a/auth/organization",
        &[("organization_id", &globex), ("request", &request)],
    )
    .await;
    let sessions = session::Entity::find()
        .all(app.conn())
        .await
        .expect("sessions");
    assert!(
        sessions.iter().all(|s| s.organization_id.is_none()),
        "no organization was chosen"
    );
}

async fn csrf_missing_is_refused_on_the_logout_form(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let browser = app.browser();
    browser.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    csrf_of(&browser, "/oidc/logout").await;
    refused_without_csrf(&browser, "/oidc/logout", &[]).await;
    assert_eq!(live_sessions(&app).await, 1, "still signed in");
}

/// Mail also goes through an SMTP server that requires authentication (`smtp://user:pass@host`).
#[actix_web::test]
async fn mail_reaches_an_smtp_server_that_requires_authentication() {
    let Some(sink) = SmtpSink::start_with_auth("portal:s3cret").await else {
        return;
    };
    let url = format!("smtp://portal:s3cret@127.0.0.1:{}", sink.port);
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.smtp_url = Some(url);
        s.mail_from = "Acme Identity <id@acme.test>".into();
    })
    .await
    else {
        return;
    };
    request_code(&app.browser(), "admin@acme.test", None).await;
    let mail = sink.wait_for_message("admin@acme.test", DEADLINE).await;
    assert!(mail.authenticated, "the sink saw SMTP AUTH");
    assert_eq!(mail.mail_from, "id@acme.test");
    assert!(mail.from.contains("Acme Identity"));
    assert_eq!(mail.to, "admin@acme.test");
}

/// Without SMTP, mail is written as `.eml` files in the data directory (the offline demo).
#[actix_web::test]
async fn without_smtp_mail_is_written_to_the_data_directory() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    request_code(&app.browser(), "admin@acme.test", None).await;
    let dir = app.settings.data_dir.join("mail");
    let deadline = std::time::Instant::now() + DEADLINE;
    // The file is written by the mailer actor on this runtime; yield to it until it is complete.
    loop {
        let complete = std::fs::read_dir(&dir)
            .expect("mail dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .any(|text| text.contains("To: admin@acme.test") && text.contains("sign-in code"));
        if complete {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "an .eml file appears in {}",
            dir.display()
        );
        tokio::task::yield_now().await;
    }
}
