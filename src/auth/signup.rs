//! Self-service sign-up: the address is confirmed by an emailed code before any account exists.
//! The pending account (name and password hash) waits in the code's row; the right code creates the
//! user, their own organization and the membership in one transaction with their events.
//!
//! Signing up with an address that already has an account looks the same on the page; that person
//! gets a "you already have an account" mail instead of a code.

use super::codes::{self, CodeCheck, Sent};
use super::limits::{self, Kind};
use super::{Continuation, send_mail};
use crate::crypto::Passwords;
use crate::db::events::{self, NewEvent};
use crate::db::{self, users::User};
use crate::domain::{EmailAddress, NewPassword, RoleName};
use crate::principal::urlencode;
use crate::state::AppState;
use crate::views;
use crate::wire::{MembershipEvent, OrganizationJson, UserJson};
use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A parsed sign-up form.
#[derive(Debug)]
pub struct Signup {
    pub name: String,
    pub email: EmailAddress,
    pub password: NewPassword,
}

/// What waits in the verification code's row.
#[derive(Serialize, Deserialize)]
struct Pending {
    name: String,
    password_hash: String,
    #[serde(default)]
    next: Continuation,
}

/// Sends the verification code (or, for a known address, the "already registered" mail).
pub async fn start(
    state: &AppState,
    ip: Option<&str>,
    signup: Signup,
    next: &Continuation,
) -> anyhow::Result<Sent> {
    let email = &signup.email;
    if let Some(limited) = limits::record(state, Kind::MailSend, ip, email.as_str()).await? {
        return Ok(Sent::Limited(limited));
    }
    // Hashed in both cases, so a known address does not answer faster.
    let password_hash = Passwords::hash(signup.password.into_string()).await?;
    let conn = state.db.conn();
    let brand = super::email_brand(state).await?;
    if db::users::find_by_email(conn, email).await?.is_some() {
        let query = next
            .request
            .as_deref()
            .map(|r| format!("?request={}", urlencode(r)))
            .unwrap_or_default();
        let sign_in = state.url(&format!("/a/auth/login{query}"));
        let reset = state.url(&format!("/a/auth/forgot{query}"));
        let mail = views::email::already_registered(&brand, &sign_in, &reset);
        send_mail(state, email, mail, Some(sign_in));
        codes::store_decoy(state, db::one_time_codes::VERIFY_EMAIL, email).await?;
        return Ok(Sent::Sent);
    }
    let code = codes::new_code();
    let pending = Pending {
        name: signup.name,
        password_hash,
        next: next.clone(),
    };
    db::one_time_codes::create(
        conn,
        db::one_time_codes::NewCode {
            purpose: db::one_time_codes::VERIFY_EMAIL,
            email: email.as_str(),
            user_id: None,
            code: Some(&code),
            link_token: None,
            data: Some(serde_json::to_value(&pending)?),
            ttl_ms: codes::CODE_TTL_MS,
        },
    )
    .await?;
    let mail = views::email::verify_email(&brand, &code, codes::CODE_TTL_MS / 60_000);
    send_mail(state, email, mail, None);
    Ok(Sent::Sent)
}

/// The outcome of entering the verification code.
#[derive(Debug)]
pub enum Finished {
    Created(User, Continuation),
    /// The address got an account while the code was pending (another tab, an invite).
    AlreadyRegistered,
    Refused(CodeCheck),
}

pub async fn finish(
    state: &AppState,
    ip: Option<&str>,
    email: &EmailAddress,
    input: &str,
) -> anyhow::Result<Finished> {
    let row =
        match codes::check_code(state, ip, db::one_time_codes::VERIFY_EMAIL, email, input).await? {
            CodeCheck::Valid(row) => row,
            refused => return Ok(Finished::Refused(refused)),
        };
    // A decoy (see `codes::store_decoy`) has no pending account: it creates nothing.
    let Some(pending) = row
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str::<Pending>(d).ok())
    else {
        return Ok(Finished::Refused(CodeCheck::Wrong));
    };
    // An address on a verified domain may join that organization instead (see `domain_join`).
    match super::domain_join::create_account(state, email, &pending.name, pending.password_hash)
        .await?
    {
        Some(user) => Ok(Finished::Created(user, pending.next)),
        None => Ok(Finished::AlreadyRegistered),
    }
}

/// Makes `user` the admin of a new organization of their own, in `tx`; returns its
/// `organization.created` and `user.organization_membership_created` events, to append.
async fn own_organization(
    tx: &impl db::Conn,
    user: &User,
    name: &str,
) -> anyhow::Result<(NewEvent, NewEvent)> {
    let org_name = format!(
        "{}'s organization",
        user.given_name.as_deref().unwrap_or(name)
    );
    let org = db::orgs::create(
        tx,
        db::orgs::NewOrganization {
            name: &org_name,
            external_id: None,
        },
    )
    .await?;
    let role = db::roles::find_by_name(tx, RoleName::ADMIN)
        .await?
        .context("the built-in admin role is missing")?;
    let membership =
        db::members::upsert(tx, &org.id, &user.id, &role.id, db::members::ACTIVE).await?;
    let row = db::members::row(tx, &membership.id)
        .await?
        .context("the new membership vanished")?;
    let member = MembershipEvent::new(&row, db::roles::permissions_of(tx, &role.id).await?);
    Ok((
        NewEvent {
            event_type: "organization.created",
            organization_id: Some(org.id.clone()),
            user_id: None,
            data: serde_json::json!({ "organization": OrganizationJson::from(&org) }),
        },
        NewEvent {
            event_type: "user.organization_membership_created",
            organization_id: Some(org.id.clone()),
            user_id: Some(user.id.clone()),
            data: serde_json::to_value(&member)?,
        },
    ))
}

/// Gives an existing user an organization of their own (when joining one by domain failed).
pub async fn give_own_organization(
    state: &AppState,
    user: &User,
    name: &str,
) -> anyhow::Result<()> {
    let tx = state.db.begin_write().await?;
    let (org_created, member_created) = own_organization(&tx, user, name).await?;
    let published = events::append(&tx, vec![org_created, member_created]).await?;
    tx.commit()
        .await
        .context("failed to create the organization")?;
    state.outbox.committed_events(&published);
    Ok(())
}

/// Creates a verified user with their own organization (they are its admin), in one transaction with
/// `organization.created`, `user.created` and `user.organization_membership_created`. `None` if the
/// address has an account already.
pub async fn create_account(
    state: &AppState,
    email: &EmailAddress,
    name: &str,
    password_hash: String,
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
    let (org_created, member_created) = own_organization(&tx, &user, name).await?;
    let user_created = NewEvent {
        event_type: "user.created",
        organization_id: org_created.organization_id.clone(),
        user_id: Some(user.id.clone()),
        data: serde_json::json!({ "user": UserJson::from(&user) }),
    };
    let published = events::append(&tx, vec![org_created, user_created, member_created]).await?;
    match tx.commit().await {
        Ok(()) => {}
        // Lost a race with another sign-up of the same address.
        Err(err) if db::is_unique_violation(&err) => return Ok(None),
        Err(err) => return Err(err).context("failed to create the account"),
    }
    state.outbox.committed_events(&published);
    Ok(Some(user))
}
