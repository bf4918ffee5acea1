//! The organization widgets and their access model: custom roles from the API, the permission
//! matrix over every widget route and write action (features on and off), cross-organization
//! isolation, CSRF on every form, field-level errors that keep what was typed, the profile.

use crate::helpers::{Backend, Browser, PASSWORD, TestApp, form_value};
use crate::on_both_backends;
use crate::smtp::app_with_mail;
use portal::domain::Permission;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    each_permission_opens_exactly_its_widgets_and_writes,
    a_globex_admin_reaches_nothing_of_acme,
    every_widget_form_refuses_a_missing_csrf_token,
    refused_settings_and_invites_keep_what_was_typed_with_an_error_per_field,
    settings_are_saved_validated_and_pushed_live_to_readers,
    roles_and_features_are_managed_through_the_api,
    organizations_are_created_found_by_external_id_updated_and_deleted,
    the_profile_changes_the_name_and_the_email_after_a_code,
    members_are_searched_and_paged,
    branding_set_through_the_api_reaches_screens_and_mail,
    the_openapi_document_is_served_from_the_code,
    a_custom_domain_is_served_with_its_own_urls_and_unknown_hosts_are_refused,
);

pub async fn api(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let token = app.api_token().await;
    let mut req = app
        .http()
        .request(method.parse().expect("method"), app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("API request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A browser signed in on Portal's own sign-in page.
pub async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    let res = browser.submit_login("/a/auth/login", email, PASSWORD).await;
    assert_eq!(res.status(), 303, "{email} signs in");
    browser
}

pub async fn user_id(app: &TestApp, email: &str) -> String {
    crate::live::user_id(app, email).await
}

async fn csrf(browser: &Browser, path: &str) -> String {
    let page = browser.get(path).await.text().await.expect("page");
    form_value(&page, "csrf").expect("a form with a CSRF token")
}

/// What a route or action needs: its permissions, and a feature switched on.
struct Check {
    name: &'static str,
    method: &'static str,
    path: String,
    form: Vec<(&'static str, String)>,
    needs: Vec<Permission>,
    feature: bool,
}

async fn each_permission_opens_exactly_its_widgets_and_writes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (s, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{acme}/features"),
        Some(json!({ "domain_verification": true })),
    )
    .await;
    assert_eq!(s, 200);
    let member_id = user_id(&app, "member@acme.test").await;
    let outsider = user_id(&app, "admin@globex.test").await;

    // One role per permission, one per write with its read, and one with nothing.
    let mut roles: Vec<(String, Vec<Permission>)> = Permission::ALL
        .iter()
        .map(|p| (format!("only_{}", p.as_str()), vec![*p]))
        .collect();
    for (read, write) in [
        (Permission::OrgSettingsRead, Permission::OrgSettingsManage),
        (Permission::OrgUsersRead, Permission::OrgUsersInvite),
        (Permission::OrgUsersRead, Permission::OrgUsersDelete),
        (Permission::OrgUsersRead, Permission::OrgUsersRoleChange),
    ] {
        roles.push((format!("pair_{}", write.as_str()), vec![read, write]));
    }
    roles.push(("nothing".into(), vec![]));

    let checks = |csrf: &str| {
        let c = csrf.to_string();
        vec![
            Check {
                name: "settings page",
                method: "GET",
                path: "/ui/organization/settings".into(),
                form: vec![],
                needs: vec![Permission::OrgSettingsRead],
                feature: false,
            },
            Check {
                name: "members page",
                method: "GET",
                path: "/ui/organization/members".into(),
                form: vec![],
                needs: vec![Permission::OrgUsersRead],
                feature: false,
            },
            Check {
                name: "member page",
                method: "GET",
                path: format!("/ui/organization/members/{member_id}"),
                form: vec![],
                needs: vec![Permission::OrgUsersRead],
                feature: false,
            },
            Check {
                name: "domains page",
                method: "GET",
                path: "/ui/organization/domains".into(),
                form: vec![],
                needs: vec![Permission::OrgSettingsRead],
                feature: true,
            },
            Check {
                name: "profile",
                method: "GET",
                path: "/ui/profile".into(),
                form: vec![],
                needs: vec![],
                feature: false,
            },
            Check {
                name: "save settings",
                method: "POST",
                path: "/ui/organization/settings".into(),
                form: vec![
                    ("csrf", c.clone()),
                    ("name", "Acme".into()),
                    ("logo_url", String::new()),
                    ("allowed_email_domains", String::new()),
                ],
                needs: vec![Permission::OrgSettingsRead, Permission::OrgSettingsManage],
                feature: false,
            },
            Check {
                name: "invite",
                method: "POST",
                path: "/ui/organization/members/invite".into(),
                form: vec![
                    ("csrf", c.clone()),
                    ("emails", "matrix@acme.test".into()),
                    ("role", "member".into()),
                ],
                needs: vec![Permission::OrgUsersRead, Permission::OrgUsersInvite],
                feature: false,
            },
            Check {
                name: "change role",
                method: "POST",
                path: format!("/ui/organization/members/{member_id}/role"),
                form: vec![("csrf", c.clone()), ("role", "member".into())],
                needs: vec![Permission::OrgUsersRead, Permission::OrgUsersRoleChange],
                feature: false,
            },
            // Someone who is not a member: allowed means "not found", refused means 403.
            Check {
                name: "remove",
                method: "POST",
                path: format!("/ui/organization/members/{outsider}/remove"),
                form: vec![("csrf", c.clone())],
                needs: vec![Permission::OrgUsersRead, Permission::OrgUsersDelete],
                feature: false,
            },
            Check {
                name: "add domain",
                method: "POST",
                path: "/ui/organization/domains".into(),
                form: vec![("csrf", c.clone()), ("domain", "matrix.example".into())],
                needs: vec![Permission::OrgSettingsRead, Permission::OrgSettingsManage],
                feature: true,
            },
        ]
    };

    let hash = portal::crypto::Passwords::hash(PASSWORD.into())
        .await
        .expect("hash");
    for (role, perms) in &roles {
        let names: Vec<&str> = perms.iter().map(|p| p.as_str()).collect();
        let (s, body) = api(
            &app,
            "POST",
            "/api/v1/roles",
            Some(json!({ "name": role, "permissions": names })),
        )
        .await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(
            body["permissions"].as_array().map(Vec::len),
            Some(perms.len())
        );
        let email = format!("{}@acme.test", role.replace('_', "-"));
        assert_eq!(
            app.add_member(&acme, json!({ "email": email, "role": role }))
                .await
                .status(),
            201
        );
        let uid = user_id(&app, &email).await;
        portal::db::users::reset_password(app.conn(), &uid, hash.clone())
            .await
            .expect("password");
    }

    for features_on in [true, false] {
        if !features_on {
            let (s, body) = api(
                &app,
                "PATCH",
                &format!("/api/v1/organizations/{acme}/features"),
                Some(json!({ "domain_verification": false })),
            )
            .await;
            assert_eq!(
                (s, body["domain_verification"].clone()),
                (200, json!(false))
            );
        }
        for (role, perms) in &roles {
            let email = format!("{}@acme.test", role.replace('_', "-"));
            let browser = sign_in(&app, &email).await;
            let token = csrf(&browser, "/ui/profile").await;
            let nav = browser
                .get("/ui/profile")
                .await
                .text()
                .await
                .expect("profile");
            for check in checks(&token) {
                let allowed = check.needs.iter().all(|p| perms.contains(p))
                    && (!check.feature || features_on);
                let res = if check.method == "GET" {
                    browser.get(&check.path).await
                } else {
                    let form: Vec<(&str, &str)> =
                        check.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    browser.post_form(&check.path, &form).await
                };
                let status = res.status().as_u16();
                if allowed {
                    assert_ne!(
                        status, 403,
                        "{role} may use {} (features on: {features_on})",
                        check.name
                    );
                    assert!(status < 500, "{role} {}: {status}", check.name);
                } else {
                    assert_eq!(
                        status, 403,
                        "{role} may not use {} (features on: {features_on})",
                        check.name
                    );
                    let page = res.text().await.expect("page");
                    assert!(
                        page.contains("You don't have access to this page"),
                        "a friendly page"
                    );
                }
                if check.method == "GET"
                    && check.path.starts_with("/ui/organization/")
                    && !check.path.contains("/members/")
                {
                    let linked = nav.contains(&format!("href=\"{}\"", check.path));
                    assert_eq!(linked, allowed, "{role}: navigation link to {}", check.name);
                }
            }
            // The API side of the same rules: custom roles carry exactly their permissions.
            let (_, role_json) = api(&app, "GET", &format!("/api/v1/roles/{role}"), None).await;
            assert_eq!(
                role_json["permissions"].as_array().map(Vec::len),
                Some(perms.len())
            );
        }
    }
}

async fn a_globex_admin_reaches_nothing_of_acme(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let globex = app.org_id("Globex").await;
    let acme_admin = user_id(&app, "admin@acme.test").await;
    let acme_member = user_id(&app, "member@acme.test").await;
    let (s, invites) = api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "pending@acme.test" })),
    )
    .await;
    assert_eq!(s, 201);
    let invite_id = invites["data"][0]["id"]
        .as_str()
        .expect("invite id")
        .to_string();
    let pending_user = user_id(&app, "pending@acme.test").await;

    let gina = app.browser();
    gina.sign_in_via_demo("admin@globex.test", PASSWORD).await;
    let token = csrf(&gina, "/ui/organization/members").await;
    for path in [
        format!("/ui/organization/members/{acme_admin}"),
        format!("/ui/organization/members/{acme_member}"),
        format!("/ui/organization/members/{pending_user}"),
    ] {
        assert_eq!(gina.get(&path).await.status(), 404, "{path}");
    }
    for (path, extra) in [
        (
            format!("/ui/organization/members/{acme_member}/role"),
            ("role", "admin"),
        ),
        (
            format!("/ui/organization/members/{acme_member}/remove"),
            ("x", ""),
        ),
        (
            format!("/ui/organization/members/{pending_user}/resend"),
            ("invite", invite_id.as_str()),
        ),
        (
            format!("/ui/organization/members/{pending_user}/revoke"),
            ("invite", invite_id.as_str()),
        ),
    ] {
        let res = gina.post_form(&path, &[("csrf", &token), extra]).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    let members = gina
        .get("/ui/organization/members?q=acme")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !members.contains("acme.test"),
        "search never crosses organizations"
    );

    // The API scopes every object to the organization in its path.
    for (method, path, body) in [
        (
            "GET",
            format!("/api/v1/organizations/{globex}/invites/{invite_id}"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/organizations/{globex}/invites/{invite_id}/resend"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/organizations/{globex}/invites/{invite_id}"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/organizations/{globex}/users/{acme_member}"),
            Some(json!({ "role": "admin" })),
        ),
        (
            "DELETE",
            format!("/api/v1/organizations/{globex}/users/{acme_member}"),
            None,
        ),
    ] {
        let (s, body) = api(&app, method, &path, body).await;
        assert_eq!(s, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (_, list) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{globex}/users"),
        None,
    )
    .await;
    let emails: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["user"]["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["admin@globex.test"]);
    // Nothing changed in Acme.
    let (_, invite) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites/{invite_id}"),
        None,
    )
    .await;
    assert_eq!(invite["status"], "pending");
}

async fn every_widget_form_refuses_a_missing_csrf_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let member = user_id(&app, "member@acme.test").await;
    api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "csrf@acme.test" })),
    )
    .await;
    let invited = user_id(&app, "csrf@acme.test").await;
    let admin = app.browser();
    admin.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let page = admin
        .get(&format!("/ui/organization/members/{invited}"))
        .await
        .text()
        .await
        .expect("page");
    let invite_id = form_value(&page, "invite").expect("invite field");
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/ui/organization/settings".into(),
            vec![("name", "Hijacked")],
        ),
        (
            "/ui/organization/members/invite".into(),
            vec![("emails", "evil@acme.test"), ("role", "admin")],
        ),
        (
            format!("/ui/organization/members/{member}/role"),
            vec![("role", "admin")],
        ),
        (format!("/ui/organization/members/{member}/remove"), vec![]),
        (
            format!("/ui/organization/members/{invited}/resend"),
            vec![("invite", &invite_id)],
        ),
        (
            format!("/ui/organization/members/{invited}/revoke"),
            vec![("invite", &invite_id)],
        ),
        ("/ui/profile/name".into(), vec![("name", "Hijacked")]),
        (
            "/ui/profile/email".into(),
            vec![("new_email", "evil@evil.test")],
        ),
        (
            "/ui/profile/email/confirm".into(),
            vec![("new_email", "evil@evil.test"), ("code", "123456")],
        ),
    ];
    for (path, fields) in &forms {
        for token in [None, Some("forged")] {
            let mut form = fields.clone();
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let res = admin.post_form(path, &form).await;
            assert_eq!(res.status(), 403, "{path} without a valid token");
            let html = res.text().await.expect("page");
            assert!(html.contains("This form expired"), "{path} says why");
        }
    }
    // Nothing happened.
    let (_, org) = api(&app, "GET", &format!("/api/v1/organizations/{acme}"), None).await;
    assert_eq!(org["name"], "Acme");
    let (_, members) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/users?q=member@acme"),
        None,
    )
    .await;
    assert_eq!(members["data"][0]["membership"]["role"]["name"], "member");
    let (_, invites) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites"),
        None,
    )
    .await;
    assert_eq!(invites["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(invites["data"][0]["status"], "pending");
    let profile = admin
        .get("/ui/profile")
        .await
        .text()
        .await
        .expect("profile");
    assert!(profile.contains("Ada Admin") && profile.contains("admin@acme.test"));

    // The invite acceptance forms too.
    let accept = app.browser();
    for path in ["/a/invite", "/a/invite/account"] {
        let res = accept
            .post_form(
                path,
                &[("token", "whatever"), ("name", "X"), ("password", "x")],
            )
            .await;
        assert_ne!(
            res.status(),
            303,
            "{path} never acts without a valid link and token"
        );
    }
}

async fn refused_settings_and_invites_keep_what_was_typed_with_an_error_per_field(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.browser();
    admin.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let token = csrf(&admin, "/ui/organization/settings").await;
    let res = admin
        .post_form(
            "/ui/organization/settings",
            &[
                ("csrf", &token),
                ("name", "Acme Renamed"),
                ("logo_url", "http://insecure.example/logo.png"),
                (
                    "allowed_email_domains",
                    "acme.test\ngmail.com\nnot a domain!",
                ),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("page");
    assert!(html.contains("value=\"Acme Renamed\""), "the name is kept");
    assert!(
        html.contains("http://insecure.example/logo.png"),
        "the URL is kept"
    );
    assert!(html.contains("not a domain!"), "the domains are kept");
    assert!(html.contains("id=\"logo_url-error\"") && html.contains("Use an https:// address."));
    assert!(
        html.contains("id=\"allowed_email_domains-error\"")
            && html.contains("gmail.com is a public email provider")
    );
    assert!(
        !html.contains("id=\"name-error\""),
        "the valid field has no error"
    );

    let empty = admin
        .post_form(
            "/ui/organization/settings",
            &[("csrf", &token), ("name", "  ")],
        )
        .await;
    assert_eq!(empty.status(), 422);
    assert!(empty.text().await.expect("page").contains("Enter a name."));

    let res = admin
        .post_form(
            "/ui/organization/members/invite",
            &[
                ("csrf", &token),
                ("emails", "ok@acme.test, broken@, also bad"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("page");
    assert!(
        html.contains("ok@acme.test, broken@, also bad"),
        "the addresses are kept"
    );
    assert!(html.contains("id=\"emails-error\"") && html.contains("broken@"));
    let res = admin
        .post_form(
            "/ui/organization/members/invite",
            &[
                ("csrf", &token),
                ("emails", "someone@acme.test"),
                ("role", "emperor"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("page");
    assert!(html.contains("id=\"invite-role-error\"") && html.contains("someone@acme.test"));
    let acme = app.org_id("Acme").await;
    let (_, invites) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/invites"),
        None,
    )
    .await;
    assert_eq!(
        invites["data"].as_array().map(Vec::len),
        Some(0),
        "no invite was made"
    );
}

async fn settings_are_saved_validated_and_pushed_live_to_readers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let admin = app.browser();
    admin.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let reader = app.browser();
    reader.sign_in_via_demo("member@acme.test", PASSWORD).await;
    let page = reader
        .get("/ui/organization/settings")
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("method=\"post\""), "a reader gets no form");
    assert!(page.contains("id=\"org-settings\""));
    let mut socket = reader
        .open_socket("settings", crate::live::page_seq(&page))
        .await;

    let token = csrf(&admin, "/ui/organization/settings").await;
    let res = admin
        .post_form(
            "/ui/organization/settings",
            &[
                ("csrf", &token),
                ("name", "  Acme Corp "),
                ("logo_url", "https://cdn.example/acme.png"),
                (
                    "allowed_email_domains",
                    "Acme.TEST\nbücher.example, acme.test",
                ),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let frame = socket.next_frame().await;
    assert_eq!(frame["type"], "organization.updated");
    assert_eq!(frame["op"], "replace");
    assert_eq!(frame["target"], "org-settings");
    let html = frame["html"].as_str().expect("html");
    assert!(
        html.contains("Acme Corp") && html.contains("xn--bcher-kva.example"),
        "{html}"
    );

    let (_, org) = api(&app, "GET", &format!("/api/v1/organizations/{acme}"), None).await;
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(org["logo_url"], "https://cdn.example/acme.png");
    assert_eq!(
        org["allowed_email_domains"],
        json!(["acme.test", "xn--bcher-kva.example"])
    );
    // The shell shows the organization's name and logo.
    let shell = admin.get("/ui/profile").await.text().await.expect("page");
    assert!(shell.contains("Acme Corp") && shell.contains("https://cdn.example/acme.png"));
}

async fn roles_and_features_are_managed_through_the_api(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    let (s, list) = api(&app, "GET", "/api/v1/roles", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["admin", "member"]);
    assert_eq!(
        list["data"][0]["permissions"].as_array().map(Vec::len),
        Some(12)
    );
    assert_eq!(
        list["data"][1]["permissions"],
        json!(["sk_org_settings_read", "sk_org_users_read"])
    );

    let (s, role) = api(&app, "POST", "/api/v1/roles", Some(json!({
        "name": "support", "display_name": "Support", "permissions": ["sk_org_users_read", "sk_org_users_invite"]
    }))).await;
    assert_eq!(s, 201, "{role}");
    assert_eq!(role["builtin"], false);
    let (s, _) = api(
        &app,
        "POST",
        "/api/v1/roles",
        Some(json!({ "name": "support" })),
    )
    .await;
    assert_eq!(s, 409, "names are unique");
    for (body, field) in [
        (json!({ "name": "Bad Name" }), "name"),
        (
            json!({ "name": "ok", "permissions": ["sk_org_everything"] }),
            "permissions",
        ),
        (json!({ "name": "ok", "display_name": "" }), "display_name"),
    ] {
        let (s, err) = api(&app, "POST", "/api/v1/roles", Some(body)).await;
        assert_eq!(
            (s, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{err}"
        );
    }
    let (s, role) = api(
        &app,
        "PATCH",
        "/api/v1/roles/support",
        Some(json!({ "permissions": ["sk_org_users_read"] })),
    )
    .await;
    assert_eq!(
        (s, role["permissions"].clone()),
        (200, json!(["sk_org_users_read"]))
    );
    let (s, err) = api(
        &app,
        "PATCH",
        "/api/v1/roles/admin",
        Some(json!({ "permissions": [] })),
    )
    .await;
    assert_eq!(s, 422, "{err}");
    assert_eq!(
        api(&app, "DELETE", "/api/v1/roles/member", None).await.0,
        409,
        "built-in"
    );

    // In use: refused; unused: deleted.
    assert_eq!(
        app.add_member(
            &acme,
            json!({ "email": "help@acme.test", "role": "support" })
        )
        .await
        .status(),
        201
    );
    let (s, err) = api(&app, "DELETE", "/api/v1/roles/support", None).await;
    assert_eq!(s, 409, "{err}");
    let helper = user_id(&app, "help@acme.test").await;
    assert_eq!(
        api(
            &app,
            "DELETE",
            &format!("/api/v1/organizations/{acme}/users/{helper}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api(&app, "DELETE", "/api/v1/roles/support", None).await.0,
        204
    );
    assert_eq!(api(&app, "GET", "/api/v1/roles/support", None).await.0, 404);

    // Features.
    let (s, f) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations/{acme}/features"),
        None,
    )
    .await;
    assert_eq!(
        (s, f),
        (
            200,
            json!({ "dir_sync": false, "domain_verification": false, "session_policy": false, "sso": false })
        )
    );
    let (s, f) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{acme}/features"),
        Some(json!({ "sso": true, "dir_sync": true })),
    )
    .await;
    assert_eq!(
        (
            s,
            f["sso"].clone(),
            f["dir_sync"].clone(),
            f["session_policy"].clone()
        ),
        (200, json!(true), json!(true), json!(false))
    );
    let (s, err) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{acme}/features"),
        Some(json!({ "teleport": true })),
    )
    .await;
    assert_eq!((s, err["error"]["field"].as_str()), (422, Some("features")));

    // Every change is in the outbox.
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for t in [
        "role.created",
        "role.updated",
        "role.deleted",
        "organization.updated",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let deleted = events
        .iter()
        .find(|e| e.event_type == "role.deleted")
        .expect("deleted");
    assert_eq!(deleted.data["role"]["name"], "support");
}

async fn organizations_are_created_found_by_external_id_updated_and_deleted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (s, org) = api(
        &app,
        "POST",
        "/api/v1/organizations",
        Some(json!({
            "name": "Initech", "external_id": "crm-42", "max_users": 5, "features": { "sso": true }
        })),
    )
    .await;
    assert_eq!(s, 201, "{org}");
    let id = org["id"].as_str().expect("id").to_string();
    assert_eq!(
        (org["max_users"].clone(), org["features"]["sso"].clone()),
        (json!(5), json!(true))
    );
    assert_eq!(
        api(
            &app,
            "POST",
            "/api/v1/organizations",
            Some(json!({ "name": "Dup", "external_id": "crm-42" }))
        )
        .await
        .0,
        409
    );
    let (s, err) = api(
        &app,
        "POST",
        "/api/v1/organizations",
        Some(json!({ "name": "" })),
    )
    .await;
    assert_eq!((s, err["error"]["field"].as_str()), (422, Some("name")));

    let (_, found) = api(&app, "GET", "/api/v1/organizations/external:crm-42", None).await;
    assert_eq!(found["id"], id.as_str());
    let (_, listed) = api(
        &app,
        "GET",
        "/api/v1/organizations?external_id=crm-42",
        None,
    )
    .await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (_, page) = api(&app, "GET", "/api/v1/organizations?limit=2", None).await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    let (_, rest) = api(
        &app,
        "GET",
        &format!("/api/v1/organizations?limit=2&after={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["data"][0]["id"], id.as_str());
    assert!(rest.get("next_cursor").is_none());

    let (s, updated) = api(&app, "PATCH", &format!("/api/v1/organizations/{id}"), Some(json!({
        "name": "Initech Ltd", "max_users": null, "allowed_email_domains": ["Initech.example"], "external_id": "crm-43"
    }))).await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(
        (updated["name"].clone(), updated["max_users"].clone()),
        (json!("Initech Ltd"), Value::Null)
    );
    assert_eq!(updated["allowed_email_domains"], json!(["initech.example"]));
    let (s, err) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{id}"),
        Some(json!({ "allowed_email_domains": ["gmail.com"] })),
    )
    .await;
    assert_eq!(
        (s, err["error"]["field"].as_str()),
        (422, Some("allowed_email_domains"))
    );
    let (s, _) = api(
        &app,
        "PATCH",
        &format!("/api/v1/organizations/{id}"),
        Some(json!({ "external_id": "acme" })),
    )
    .await;
    assert_eq!(s, 409, "the demo org has that external id");

    assert_eq!(
        api(&app, "DELETE", &format!("/api/v1/organizations/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api(&app, "GET", &format!("/api/v1/organizations/{id}"), None)
            .await
            .0,
        404
    );
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let types: Vec<&str> = events
        .iter()
        .filter(|e| e.organization_id.as_deref() == Some(id.as_str()))
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        vec![
            "organization.created",
            "organization.updated",
            "organization.deleted"
        ]
    );
}

async fn the_profile_changes_the_name_and_the_email_after_a_code(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    let max = app.browser();
    max.sign_in_via_demo("member@acme.test", PASSWORD).await;
    let page = max.get("/ui/profile").await.text().await.expect("profile");
    assert!(page.contains("Account created") && page.contains("member@acme.test"));
    let token = form_value(&page, "csrf").expect("csrf");
    assert_eq!(
        max.post_form(
            "/ui/profile/name",
            &[("csrf", &token), ("name", "Maxine Member")]
        )
        .await
        .status(),
        303
    );
    assert!(
        max.get("/ui/profile")
            .await
            .text()
            .await
            .expect("page")
            .contains("value=\"Maxine Member\"")
    );

    let res = max
        .post_form(
            "/ui/profile/email",
            &[("csrf", &token), ("new_email", "not-an-address")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("value=\"not-an-address\"")
    );
    let res = max
        .post_form(
            "/ui/profile/email",
            &[("csrf", &token), ("new_email", "Max@New.test")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("We sent a 6-digit code to")
    );
    let mail = sink
        .wait_for_message("max@new.test", Duration::from_secs(20))
        .await;
    let code = mail.code().expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let res = max
        .post_form(
            "/ui/profile/email/confirm",
            &[
                ("csrf", &token),
                ("new_email", "max@new.test"),
                ("code", wrong),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("id=\"code-error\"")
    );
    let res = max
        .post_form(
            "/ui/profile/email/confirm",
            &[
                ("csrf", &token),
                ("new_email", "max@new.test"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = max.get("/ui/profile").await.text().await.expect("page");
    assert!(page.contains("id=\"profile-email\">max@new.test"));
    let events = portal::db::events::after(app.conn(), 0, 1000)
        .await
        .expect("events");
    let updates: Vec<&Value> = events
        .iter()
        .filter(|e| e.event_type == "user.updated")
        .map(|e| &e.data)
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["user"]["email"], "max@new.test");
    // An address of another account is refused at confirmation.
    let res = max
        .post_form(
            "/ui/profile/email",
            &[("csrf", &token), ("new_email", "admin@acme.test")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let mail = sink
        .wait_for_message("admin@acme.test", Duration::from_secs(20))
        .await;
    let res = max
        .post_form(
            "/ui/profile/email/confirm",
            &[
                ("csrf", &token),
                ("new_email", "admin@acme.test"),
                ("code", &mail.code().expect("code")),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("page")
            .contains("belongs to another account")
    );
}

async fn members_are_searched_and_paged(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let acme = app.org_id("Acme").await;
    for i in 0..55 {
        let res = app.add_member(&acme, json!({ "email": format!("user{i:02}@acme.test"), "name": format!("Person {i:02}") })).await;
        assert_eq!(res.status(), 201);
    }
    let admin = app.browser();
    admin.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let first = admin
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(first.contains("57 members"));
    assert_eq!(first.matches("<tr id=\"member-").count(), 50);
    let marker = "href=\"/ui/organization/members?q=&amp;after=";
    let start = first.find(marker).expect("a next page") + "href=\"".len();
    let next = first[start..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&");
    let second = admin.get(&next).await.text().await.expect("page");
    assert_eq!(second.matches("<tr id=\"member-").count(), 7);
    assert!(second.contains("user54@acme.test") && !second.contains("user00@acme.test"));
    let found = admin
        .get("/ui/organization/members?q=PERSON%2007")
        .await
        .text()
        .await
        .expect("page");
    assert!(found.contains("user07@acme.test") && found.contains("1 member match"));
    assert_eq!(found.matches("<tr id=\"member-").count(), 1);
    let by_mail = admin
        .get("/ui/organization/members?q=user1")
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(by_mail.matches("<tr id=\"member-").count(), 10);
    let none = admin
        .get("/ui/organization/members?q=%25")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        none.contains("No members match your search."),
        "a % is a character, not a wildcard"
    );
}

async fn branding_set_through_the_api_reaches_screens_and_mail(backend: Backend) {
    let Some((app, sink)) = app_with_mail(backend).await else {
        return;
    };
    for (body, field) in [
        (json!({ "primary_color": "red" }), "primary_color"),
        (json!({ "primary_color": "#12345g" }), "primary_color"),
        (
            json!({ "logo_url": "http://cdn.example/l.png" }),
            "logo_url",
        ),
        (
            json!({ "favicon_url": "javascript:alert(1)" }),
            "favicon_url",
        ),
    ] {
        let (s, err) = api(&app, "PATCH", "/api/v1/branding", Some(body)).await;
        assert_eq!(
            (s, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{err}"
        );
    }
    let (s, brand) = api(&app, "PATCH", "/api/v1/branding", Some(json!({
        "name": "Acme ID", "primary_color": "#FFD60A", "logo_url": "https://cdn.example/logo.png", "favicon_url": "https://cdn.example/icon.png"
    }))).await;
    assert_eq!(s, 200, "{brand}");
    assert_eq!(
        (
            brand["primary_color"].clone(),
            brand["primary_text_color"].clone()
        ),
        (json!("#ffd60a"), json!("#000000"))
    );
    let browser = app.browser();
    let login = browser
        .get("/a/auth/login")
        .await
        .text()
        .await
        .expect("login");
    assert!(
        login.contains("https://cdn.example/logo.png")
            && login.contains("https://cdn.example/icon.png")
    );
    assert!(login.contains("Acme ID"));
    let css = browser
        .get("/branding.css")
        .await
        .text()
        .await
        .expect("css");
    assert!(
        css.contains("--brand:#ffd60a") && css.contains("--brand-text:#000000"),
        "{css}"
    );
    let widgets = app.browser();
    widgets.sign_in_via_demo("admin@acme.test", PASSWORD).await;
    let page = widgets
        .get("/ui/organization/members")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("https://cdn.example/icon.png") && page.contains("/branding.css?v="));
    // Mail carries the brand too.
    let acme = app.org_id("Acme").await;
    api(
        &app,
        "POST",
        &format!("/api/v1/organizations/{acme}/invites"),
        Some(json!({ "email": "brand@acme.test" })),
    )
    .await;
    let mail = sink
        .wait_for_message("brand@acme.test", Duration::from_secs(30))
        .await;
    assert!(
        mail.subject.contains("Acme ID")
            && mail.html.contains("#ffd60a")
            && mail.html.contains("https://cdn.example/logo.png")
    );
    // Clearing a value.
    let (_, brand) = api(
        &app,
        "PATCH",
        "/api/v1/branding",
        Some(json!({ "primary_color": null })),
    )
    .await;
    assert_eq!(brand["primary_color"], Value::Null);
}

async fn the_openapi_document_is_served_from_the_code(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let res = app
        .http()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let post = &doc["paths"]["/api/v1/organizations/{org_id}/invites"]["post"];
    assert_eq!(post["tags"], json!(["invites"]));
    assert!(post["responses"]["201"].is_object() && post["requestBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn a_custom_domain_is_served_with_its_own_urls_and_unknown_hosts_are_refused(
    backend: Backend,
) {
    let Some(app) =
        TestApp::spawn_with(backend, |s| s.custom_domains = vec!["id.acme.test".into()]).await
    else {
        return;
    };
    let discovery = |host: Option<&'static str>| {
        let mut req = app.http().get(app.url("/.well-known/openid-configuration"));
        if let Some(host) = host {
            req = req.header("host", host);
        }
        req.send()
    };
    let own: Value = discovery(None)
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(own["issuer"], app.base.as_str());
    let custom = discovery(Some("id.acme.test")).await.expect("GET");
    assert_eq!(custom.status(), 200);
    let custom: Value = custom.json().await.expect("json");
    assert_eq!(custom["issuer"], "http://id.acme.test");
    assert!(
        custom["authorization_endpoint"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://id.acme.test/"))
    );
    let refused = discovery(Some("evil.example")).await.expect("GET");
    assert_eq!(refused.status(), 421);
    // The initiate-login redirect names the issuer of the host the browser used.
    let res = app
        .http()
        .get(app.url("/ui/"))
        .header("host", "id.acme.test")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 303);
    let to = crate::helpers::location(&res);
    assert!(
        to.contains("iss=http%3A%2F%2Fid.acme.test")
            && to.contains("target_link_uri=http%3A%2F%2Fid.acme.test%2Fui%2F"),
        "{to}"
    );
}
