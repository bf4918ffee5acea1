//! The demo data behind `serve --demo`: two organizations, three users and a confidential client
//! for the demo integrator app. Seeding is idempotent: it finds what exists and brings it in line.

use crate::config::Settings;
use crate::crypto::{self, Passwords};
use crate::db::{self, Db};
use crate::domain::{EmailAddress, Feature, RoleName};
use anyhow::Context;
use url::Url;

pub const CLIENT_ID: &str = "demo-app";

/// The demo sign-in details, printed at start.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    pub password: String,
    pub client_secret: String,
}

struct DemoUser {
    email: &'static str,
    name: &'static str,
    org: &'static str,
    role: &'static str,
}

const USERS: [DemoUser; 3] = [
    DemoUser {
        email: "admin@acme.test",
        name: "Ada Admin",
        org: "acme",
        role: RoleName::ADMIN,
    },
    DemoUser {
        email: "member@acme.test",
        name: "Max Member",
        org: "acme",
        role: RoleName::MEMBER,
    },
    DemoUser {
        email: "admin@globex.test",
        name: "Gina Globex",
        org: "globex",
        role: RoleName::ADMIN,
    },
];

const ORGS: [(&str, &str); 2] = [("acme", "Acme"), ("globex", "Globex")];

/// A configured value, else one stored by an earlier start, else a new one (stored for next time).
async fn demo_secret(db: &Db, name: &str, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(value) = configured {
        return Ok(value.to_string());
    }
    db::secrets::get_or_create(db.conn(), name, || crypto::random_token(18)).await
}

pub async fn seed(
    db: &Db,
    settings: &Settings,
    public_url: &Url,
) -> anyhow::Result<DemoCredentials> {
    let conn = db.conn();
    let password = demo_secret(db, "demo_password", settings.demo_password.as_deref()).await?;
    let client_secret = demo_secret(
        db,
        "demo_client_secret",
        settings.demo_client_secret.as_deref(),
    )
    .await?;

    let mut org_ids = Vec::new();
    for (external_id, name) in ORGS {
        let org = match db::orgs::find_by_external_id(conn, external_id).await? {
            Some(org) => org,
            None => {
                let org = db::orgs::create(
                    conn,
                    db::orgs::NewOrganization {
                        name,
                        external_id: Some(external_id),
                    },
                )
                .await?;
                // The demo shows the widgets that work without an identity provider of the
                // integrator's; features set later through the API are kept on the next start.
                for feature in [Feature::DomainVerification, Feature::SessionPolicy] {
                    db::orgs::set_feature(conn, &org.id, feature, true).await?;
                }
                org
            }
        };
        org_ids.push((external_id, org.id));
    }

    for demo in USERS {
        let email = EmailAddress::parse(demo.email).context("demo email")?;
        let user = match db::users::find_by_email(conn, &email).await? {
            Some(user) => {
                let current = user.password_hash.as_deref().unwrap_or("");
                let matches = Passwords::verify(Some(current.to_string()), password.clone()).await;
                if !matches {
                    db::users::set_password_hash(
                        conn,
                        &user.id,
                        Passwords::hash(password.clone()).await?,
                    )
                    .await?;
                }
                user
            }
            None => {
                db::users::create(
                    conn,
                    db::users::NewUser {
                        email: &email,
                        name: demo.name,
                        email_verified: true,
                        password_hash: Some(Passwords::hash(password.clone()).await?),
                    },
                )
                .await?
            }
        };
        let role = db::roles::find_by_name(conn, demo.role)
            .await?
            .with_context(|| format!("built-in role {} is missing", demo.role))?;
        let org_id = org_ids
            .iter()
            .find(|(ext, _)| *ext == demo.org)
            .map(|(_, id)| id.as_str())
            .context("demo org")?;
        let current = db::members::find(conn, org_id, &user.id).await?;
        let in_place = current
            .as_ref()
            .is_some_and(|m| m.status == db::members::ACTIVE && m.role_id == role.id);
        if !in_place {
            db::members::upsert(conn, org_id, &user.id, &role.id, db::members::ACTIVE).await?;
        }
    }

    let base = public_url.as_str().trim_end_matches('/');
    // PORTAL_DEMO_BACKCHANNEL_LOGOUT_URI sets the demo client's back-channel logout URI; without it
    // the one set through the API (PATCH /api/v1/clients/demo-app) is kept.
    let backchannel_logout_uri = match &settings.demo_backchannel_logout_uri {
        Some(uri) => Some(uri.clone()),
        None => db::clients::find(conn, CLIENT_ID)
            .await?
            .and_then(|c| c.backchannel_logout_uri),
    };
    db::clients::upsert(
        conn,
        db::clients::ClientSpec {
            id: CLIENT_ID,
            name: "Demo app",
            is_public: false,
            secret_hash: Some(crypto::token_hash(&client_secret)),
            redirect_uris: vec![format!("{base}/demo/callback")],
            post_logout_redirect_uris: vec![format!("{base}/demo/")],
            backchannel_logout_uri,
            grant_types: vec!["authorization_code", "refresh_token", "client_credentials"],
        },
    )
    .await?;

    // The demo app is the environment's initiate-login URI unless an operator set another.
    let env = db::environment::get(conn).await?;
    let ours = format!("{base}/demo/login");
    let keep_operator_choice = env
        .initiate_login_uri
        .as_deref()
        .is_some_and(|uri| !uri.ends_with("/demo/login"));
    if !keep_operator_choice && env.initiate_login_uri.as_deref() != Some(ours.as_str()) {
        db::environment::set_initiate_login_uri(conn, Some(ours)).await?;
    }
    Ok(DemoCredentials {
        password,
        client_secret,
    })
}
