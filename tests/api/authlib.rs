//! A third-party OpenID Connect client (Python authlib) runs the whole flow against Portal.

use crate::helpers::*;

#[actix_web::test]
async fn authlib_runs_the_whole_flow_from_discovery_to_logout() {
    let Some(python) = python() else { return };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/authlib_flow.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args([
            app.base.as_str(),
            "demo-app",
            CLIENT_SECRET,
            "admin@acme.test",
            PASSWORD,
        ])
        .output()
        .await
        .expect("run the authlib flow");
    assert!(
        out.status.success(),
        "authlib flow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    assert_eq!(r["issuer"], app.base);
    assert_eq!(r["authorization_url_has_s256"], true);
    assert_eq!(r["callback_has_iss"], true);
    assert_eq!(r["token_type"], "Bearer");
    let id = &r["id_token"];
    assert_eq!(id["iss"], app.base);
    assert_eq!(id["aud"], serde_json::json!(["demo-app"]));
    assert_eq!(id["email"], "admin@acme.test");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["roles"], serde_json::json!(["admin"]));
    assert!(id["sid"].is_string() && id["auth_time"].is_number() && id["at_hash"].is_string());
    assert_eq!(id["oid"], app.org_id("Acme").await);
    assert_eq!(r["userinfo"]["sub"], id["sub"]);
    assert_eq!(r["userinfo"]["email"], "admin@acme.test");
    assert_eq!(r["refreshed"], true);
    assert_eq!(r["refresh_rotated"], true);
    assert_eq!(r["old_refresh"]["status"], 400);
    assert_eq!(r["old_refresh"]["error"], "invalid_grant");
    assert_eq!(r["logout"]["status"], 302);
    assert_eq!(
        r["logout"]["location"],
        format!("{}/demo/?state=logout-state", app.base)
    );
    assert_eq!(r["after_logout"], "login_required");
}
