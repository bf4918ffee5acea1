//! Token contents: ID tokens (built and signed by openidconnect with our ring-backed key) and JWT
//! access tokens (RFC 9068 `at+jwt`).

use crate::db::{self, users::User};
use crate::domain::{PermissionSet, ids};
use crate::oauth::has_scope;
use crate::state::AppState;
use anyhow::Context;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, EndUserEmail, EndUserFamilyName, EndUserGivenName,
    EndUserName, IdToken, IdTokenClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Portal's claims beyond the standard ones, in ID tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The organization this sign-in is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

impl AdditionalClaims for PortalClaims {}

pub type PortalIdToken = IdToken<
    PortalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Access token claims. `sid` is absent for client (machine) tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// Who a user token speaks for.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user: User,
    pub session_id: String,
    pub auth_time_ms: i64,
    pub org_id: Option<String>,
    pub roles: Vec<String>,
    pub permissions: PermissionSet,
}

/// Loads the user's role and permissions in `org_id` (none if they are no longer an active member).
pub async fn load_subject(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    auth_time_ms: i64,
    org_id: Option<&str>,
) -> anyhow::Result<Option<Subject>> {
    let conn = state.db.conn();
    let Some(user) = db::users::find(conn, user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(None);
    };
    let mut subject = Subject {
        user,
        session_id: session_id.into(),
        auth_time_ms,
        org_id: None,
        roles: Vec::new(),
        permissions: PermissionSet::default(),
    };
    if let Some(org_id) = org_id
        && let Some(m) = db::members::find(conn, org_id, user_id).await?
        && m.status == db::members::ACTIVE
    {
        subject.org_id = Some(org_id.into());
        subject.permissions = db::roles::permissions_of(conn, &m.role_id).await?;
        if let Some(role) = db::roles::find(conn, &m.role_id).await? {
            subject.roles.push(role.name);
        }
    }
    Ok(Some(subject))
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A user access token for `client_id`; returns the token and its lifetime in seconds.
pub fn user_access_token(
    state: &AppState,
    subject: &Subject,
    client_id: &str,
    scope: &str,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let iat = now_secs();
    let claims = AccessClaims {
        iss: state.issuer().into(),
        sub: subject.user.id.clone(),
        aud: client_id.into(),
        exp: iat + ttl_secs,
        iat,
        jti: ids::new_id("at"),
        client_id: client_id.into(),
        scope: scope.into(),
        sid: Some(subject.session_id.clone()),
        oid: subject.org_id.clone(),
        roles: subject.roles.clone(),
        permissions: subject
            .permissions
            .names()
            .into_iter()
            .map(String::from)
            .collect(),
    };
    state.keys.sign_jwt(ACCESS_TOKEN_TYP, &claims)
}

/// A machine token from `client_credentials`, for the management API.
pub fn client_access_token(
    state: &AppState,
    client_id: &str,
    scope: &str,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let iat = now_secs();
    let claims = AccessClaims {
        iss: state.issuer().into(),
        sub: client_id.into(),
        aud: crate::principal::management_audience(state),
        exp: iat + ttl_secs,
        iat,
        jti: ids::new_id("at"),
        client_id: client_id.into(),
        scope: scope.into(),
        sid: None,
        oid: None,
        roles: Vec::new(),
        permissions: Vec::new(),
    };
    state.keys.sign_jwt(ACCESS_TOKEN_TYP, &claims)
}

/// An ID token for `client_id`. Profile and email claims follow the granted scopes.
pub fn id_token(
    state: &AppState,
    subject: &Subject,
    client_id: &str,
    scope: &str,
    nonce: Option<&str>,
    access_token: &str,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now();
    let user = &subject.user;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(user.id.clone()));
    if has_scope(scope, "email") {
        standard = standard
            .set_email(Some(EndUserEmail::new(user.email.clone())))
            .set_email_verified(Some(user.email_verified));
    }
    if has_scope(scope, "profile") {
        standard = standard
            .set_name(Some(EndUserName::new(user.name.clone()).into()))
            .set_given_name(
                user.given_name
                    .clone()
                    .map(|n| EndUserGivenName::new(n).into()),
            )
            .set_family_name(
                user.family_name
                    .clone()
                    .map(|n| EndUserFamilyName::new(n).into()),
            );
    }
    let additional = PortalClaims {
        sid: Some(subject.session_id.clone()),
        oid: subject.org_id.clone(),
        roles: subject.roles.clone(),
        permissions: subject
            .permissions
            .names()
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let issuer = IssuerUrl::new(state.issuer().into()).context("issuer is not a URL")?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(client_id.into())],
        now + chrono::Duration::seconds(ttl_secs),
        now,
        standard,
        additional,
    )
    .set_auth_time(chrono::DateTime::from_timestamp_millis(
        subject.auth_time_ms,
    ))
    .set_nonce(nonce.map(|n| Nonce::new(n.into())));
    let key = state.keys.active();
    let token = PortalIdToken::new(
        claims,
        key.as_ref(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&AccessToken::new(access_token.into())),
        None,
    )
    .context("failed to sign the ID token")?;
    Ok(token.to_string())
}
