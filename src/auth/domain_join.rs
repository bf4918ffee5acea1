//! Joining an organization by domain at sign-up. Someone who confirms an address on a verified
//! domain of an organization can join it as a member without an invite, as the organization's
//! `domain_join_policy` says: `off` (nothing), `suggest` (a page after the address is confirmed
//! offers it; they may decline) or `auto` (they join at once and get no organization of their
//! own). The membership is written by the organization's actor, like every other.

use super::signup;
use crate::actors::org::{AddMember, OrgError};
use crate::db::events::{self, NewEvent};
use crate::db::{self, Conn, orgs::Organization, users::User};
use crate::domain::{DomainJoinPolicy, EmailAddress};
use crate::state::AppState;
use crate::wire::UserJson;
use anyhow::Context;

/// An organization a sign-up with some address may join, and how.
#[derive(Debug, Clone)]
pub struct JoinOffer {
    pub org: Organization,
    pub policy: DomainJoinPolicy,
    /// The verified domain that covers the address.
    pub domain: String,
}

/// The organization whose verified domain covers `email`, unless its policy is `off`.
pub async fn offer_for(db: &impl Conn, email: &EmailAddress) -> anyhow::Result<Option<JoinOffer>> {
    let Some(domain) = db::domains::verified_owner(db, &email.domain()).await? else {
        return Ok(None);
    };
    let Some(org) = db::orgs::find(db, &domain.organization_id).await? else {
        return Ok(None);
    };
    let policy = DomainJoinPolicy::from_stored(&org.domain_join_policy);
    Ok((policy != DomainJoinPolicy::Off).then_some(JoinOffer {
        org,
        policy,
        domain: domain.domain,
    }))
}

/// Creates the account of a confirmed sign-up: with an `auto` offer the user joins that
/// organization as a member; otherwise they get an organization of their own
/// (`signup::create_account`). `None` if the address has an account already.
pub async fn create_account(
    state: &AppState,
    email: &EmailAddress,
    name: &str,
    password_hash: String,
) -> anyhow::Result<Option<User>> {
    let offer = offer_for(state.db.conn(), email)
        .await?
        .filter(|o| o.policy == DomainJoinPolicy::Auto);
    let Some(offer) = offer else {
        return signup::create_account(state, email, name, password_hash).await;
    };
    let Some(user) = create_user(state, email, name, password_hash, &offer.org.id).await? else {
        return Ok(None);
    };
    if let Err(err) = join(state, &offer.org.id, &user).await {
        // The organization went away or refused: the person still gets a working account.
        tracing::warn!(
            organization = %offer.org.id,
            error = %err,
            "joining by domain failed; the new user gets an organization of their own"
        );
        signup::give_own_organization(state, &user, name).await?;
    }
    Ok(Some(user))
}

/// A verified user without any membership yet, with `user.created` for the organization joined.
async fn create_user(
    state: &AppState,
    email: &EmailAddress,
    name: &str,
    password_hash: String,
    org_id: &str,
) -> anyhow::Result<Option<User>> {
    let tx = state.db.begin_write().await?;
    if db::users::find_by_email(&tx, email).await?.is_some() {
        tx.rollback().await?;
        return Ok(None);
    }
    let user = db::users::create(
        &tx,
        db::users::NewUser {
            email,
            name,
            email_verified: true,
            password_hash: Some(password_hash),
        },
    )
    .await?;
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "user.created",
            organization_id: Some(org_id.into()),
            user_id: Some(user.id.clone()),
            data: serde_json::json!({ "user": UserJson::from(&user) }),
        }],
    )
    .await?;
    match tx.commit().await {
        Ok(()) => {}
        Err(err) if db::is_unique_violation(&err) => return Ok(None),
        Err(err) => return Err(err).context("failed to create the account"),
    }
    state.outbox.committed_events(&published);
    Ok(Some(user))
}

/// Makes `user` a member of `org_id` through the organization's actor.
async fn join(state: &AppState, org_id: &str, user: &User) -> Result<(), OrgError> {
    let email = EmailAddress::parse(&user.email)
        .map_err(|e| anyhow::anyhow!("stored email {} is invalid: {e}", user.id))?;
    state
        .ask_org(
            org_id,
            AddMember {
                email,
                name: user.name.clone(),
                // The default role: member.
                role: None,
            },
        )
        .await?;
    Ok(())
}

/// The organization to suggest to `user` after sign-up: a `suggest` offer for their confirmed
/// address that they have not taken yet.
pub async fn suggestion_for(state: &AppState, user: &User) -> anyhow::Result<Option<JoinOffer>> {
    let conn = state.db.conn();
    let Ok(email) = EmailAddress::parse(&user.email) else {
        return Ok(None);
    };
    if !user.email_verified {
        return Ok(None);
    }
    let Some(offer) = offer_for(conn, &email)
        .await?
        .filter(|o| o.policy == DomainJoinPolicy::Suggest)
    else {
        return Ok(None);
    };
    let member = db::members::find(conn, &offer.org.id, &user.id)
        .await?
        .is_some_and(|m| m.status == db::members::ACTIVE);
    Ok((!member).then_some(offer))
}

/// Takes the suggestion to join `org_id`, checked again now (the offer must still stand), and puts
/// the session into that organization. `false` when there is no such offer for this user.
pub async fn accept(
    state: &AppState,
    user: &User,
    session_id: &str,
    org_id: &str,
) -> anyhow::Result<bool> {
    let Some(offer) = suggestion_for(state, user).await? else {
        return Ok(false);
    };
    if offer.org.id != org_id {
        return Ok(false);
    }
    join(state, org_id, user).await.map_err(|e| match e {
        OrgError::Internal(e) => e,
        other => anyhow::anyhow!("joining {org_id} was refused: {other}"),
    })?;
    crate::sessions::enter_org(state.db.conn(), session_id, org_id).await?;
    Ok(true)
}
