//! Home-realm discovery: an address on a verified domain of an organization with single sign-on
//! enabled belongs to that organization's realm.
//!
//! Once SSO connections exist, the sign-in screen sends such an address to the organization's
//! identity provider. Until then, the sign-in happens on Portal's own screens and the new session
//! is put into that organization: an authorization request without `organization_id` then
//! completes for it (its tokens carry it), and the organization picker is skipped. Discovery only
//! chooses among organizations the user already belongs to; it never grants a membership (joining
//! by domain is `domain_join`, at sign-up).

use crate::db::{self, Conn, orgs::Organization, sessions::Session, users::User};
use crate::domain::{EmailAddress, Feature};
use crate::state::AppState;

/// The organization whose verified domain covers `email` and that has SSO enabled, if any.
pub async fn discover(
    db: &impl Conn,
    email: &EmailAddress,
) -> anyhow::Result<Option<Organization>> {
    let Some(domain) = db::domains::verified_owner(db, &email.domain()).await? else {
        return Ok(None);
    };
    let features = db::orgs::enabled_features(db, &domain.organization_id).await?;
    if !features.contains(&Feature::Sso) {
        return Ok(None);
    }
    db::orgs::find(db, &domain.organization_id).await
}

/// Puts a session that was just started for `user` into the user's home realm, when there is one
/// and the user is an active member of it. Returns the session as it now is.
pub async fn enter(state: &AppState, mut session: Session, user: &User) -> anyhow::Result<Session> {
    let conn = state.db.conn();
    let Ok(email) = EmailAddress::parse(&user.email) else {
        return Ok(session);
    };
    let Some(org) = discover(conn, &email).await? else {
        return Ok(session);
    };
    if session.organization_id.as_deref() == Some(org.id.as_str()) {
        return Ok(session);
    }
    let member = db::members::find(conn, &org.id, &user.id)
        .await?
        .is_some_and(|m| m.status == db::members::ACTIVE);
    if member {
        crate::sessions::enter_org(conn, &session.id, &org.id).await?;
        session.organization_id = Some(org.id);
    }
    Ok(session)
}
