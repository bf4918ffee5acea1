//! The org actor's invite messages: invite, resend, revoke, accept. An invite holds a membership
//! row with status `invited` (so the members widget lists it with everyone else) and a seat; the
//! seat limit (`max_users`) counts active members plus pending, unexpired invites when inviting,
//! and active members when accepting. Every change writes `user.organization_invitation` (with
//! `data.status`) and the membership event that moves the widget's row, in one transaction.

use super::{OrgActor, OrgError};
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::invites::{self, Invite};
use crate::db::{self, Db, now_ms};
use crate::domain::{EmailAddress, RoleName};
use crate::wire::MembershipEvent;
use crate::wire::UserJson;
use crate::wire::invites::{InvitationEvent, InviteJson};
use actix::prelude::*;
use std::time::Instant;

/// Invites each address with `role`. Addresses that already have a pending invite keep it (the
/// call is safe to repeat); an address that is already an active member is refused as a whole,
/// as is a batch that would pass the seat limit.
#[derive(Message, Debug)]
#[rtype(result = "Result<Vec<InviteJson>, OrgError>")]
pub struct CreateInvites {
    pub emails: Vec<EmailAddress>,
    pub role: RoleName,
    /// The user who invited, if a person did (the API has none).
    pub invited_by: Option<String>,
}

/// Mails a pending invite again, with a new link and a fresh seven days.
#[derive(Message, Debug)]
#[rtype(result = "Result<InviteJson, OrgError>")]
pub struct ResendInvite {
    pub invite_id: String,
}

/// Withdraws a pending invite: its link stops working and its row leaves the members list.
#[derive(Message, Debug)]
#[rtype(result = "Result<InviteJson, OrgError>")]
pub struct RevokeInvite {
    pub invite_id: String,
}

/// What a new account chooses while accepting.
#[derive(Debug)]
pub struct NewAccount {
    pub name: String,
    pub password_hash: String,
}

/// Accepts a pending invite for the user with the invite's address: the membership becomes active.
/// With `new_account`, the invited address had no usable account yet and now gets its name and
/// password (and counts as verified: the link proves the mailbox).
#[derive(Message, Debug)]
#[rtype(result = "Result<Accepted, OrgError>")]
pub struct AcceptInvite {
    pub invite_id: String,
    pub new_account: Option<NewAccount>,
}

#[derive(Debug)]
pub struct Accepted {
    pub user_id: String,
    pub member: MembershipEvent,
}

macro_rules! atomic {
    ($msg:ty, $ret:ty, $f:ident) => {
        impl Handler<$msg> for OrgActor {
            type Result = AtomicResponse<Self, Result<$ret, OrgError>>;

            fn handle(&mut self, msg: $msg, _ctx: &mut Self::Context) -> Self::Result {
                self.last_used = Instant::now();
                let (db, outbox, org_id) =
                    (self.db.clone(), self.outbox.clone(), self.org_id.clone());
                AtomicResponse::new(Box::pin(
                    async move { $f(&db, &outbox, &org_id, msg).await }.into_actor(self),
                ))
            }
        }
    };
}

atomic!(CreateInvites, Vec<InviteJson>, create_invites);
atomic!(ResendInvite, InviteJson, resend_invite);
atomic!(RevokeInvite, InviteJson, revoke_invite);
atomic!(AcceptInvite, Accepted, accept_invite);

/// Refused when the organization would have more seats in use than `max_users`.
fn seat_limit(max: i32) -> OrgError {
    OrgError::SeatLimit(format!(
        "This organization has reached its limit of {max} members (active members and pending invites count). Revoke an invite or remove a member first."
    ))
}

fn invitation_event(
    org_id: &str,
    user_id: Option<&str>,
    status: &str,
    invite: InviteJson,
) -> NewEvent {
    NewEvent {
        event_type: "user.organization_invitation",
        organization_id: Some(org_id.into()),
        user_id: user_id.map(str::to_string),
        data: serde_json::to_value(InvitationEvent {
            status: status.into(),
            invitation: invite,
        })
        .unwrap_or_default(),
    }
}

async fn membership_event(
    tx: &impl db::Conn,
    event_type: &'static str,
    membership_id: &str,
) -> Result<(MembershipEvent, NewEvent), OrgError> {
    let row = db::members::row(tx, membership_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("membership {membership_id} vanished"))?;
    let member = MembershipEvent::new(&row, db::roles::permissions_of(tx, &row.role_id).await?);
    let event = NewEvent {
        event_type,
        organization_id: Some(row.organization_id.clone()),
        user_id: Some(row.user_id.clone()),
        data: serde_json::to_value(&member).map_err(anyhow::Error::from)?,
    };
    Ok((member, event))
}

async fn create_invites(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: CreateInvites,
) -> Result<Vec<InviteJson>, OrgError> {
    let tx = db.begin_write().await?;
    // Locked: the seat limit spans rows, and other nodes may invite or accept at the same time.
    let org = db::orgs::lock(&tx, org_id)
        .await?
        .ok_or(OrgError::NotFound)?;
    let role = db::roles::find_by_name(&tx, msg.role.as_str())
        .await?
        .ok_or_else(|| OrgError::UnknownRole(msg.role.as_str().into()))?;
    let now = now_ms();
    let mut emails = msg.emails;
    emails.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    emails.dedup();
    let mut out = Vec::new();
    let mut new_events = Vec::new();
    let mut fresh = Vec::new();
    for email in &emails {
        if let Some(existing) = invites::find_pending_for_email(&tx, org_id, email.as_str()).await?
            && existing.expires_at > now
        {
            let role_name = db::roles::find(&tx, &existing.role_id)
                .await?
                .map_or_else(String::new, |r| r.name);
            out.push(InviteJson::new(&existing, &role_name, now));
            continue;
        }
        if let Some(user) = db::users::find_by_email(&tx, email).await?
            && let Some(m) = db::members::find(&tx, org_id, &user.id).await?
            && m.status == db::members::ACTIVE
        {
            return Err(OrgError::Conflict(format!(
                "{email} is already a member of this organization."
            )));
        }
        fresh.push(email.clone());
    }
    if let Some(max) = org.max_users {
        let used = db::members::count_active(&tx, org_id).await?
            + invites::count_pending(&tx, org_id, now).await?;
        if used + fresh.len() as u64 > u64::try_from(max).unwrap_or(0) {
            return Err(seat_limit(max));
        }
    }
    for email in &fresh {
        // An expired pending invite of the same address is replaced by the new one.
        if let Some(old) = invites::find_pending_for_email(&tx, org_id, email.as_str()).await? {
            invites::set_status(&tx, &old.id, invites::REVOKED).await?;
        }
        let user = match db::users::find_by_email(&tx, email).await? {
            Some(user) => user,
            None => {
                let user = db::users::create(
                    &tx,
                    db::users::NewUser {
                        email,
                        name: "",
                        email_verified: false,
                        password_hash: None,
                    },
                )
                .await?;
                new_events.push(NewEvent {
                    event_type: "user.created",
                    organization_id: Some(org_id.into()),
                    user_id: Some(user.id.clone()),
                    data: serde_json::json!({ "user": UserJson::from(&user) }),
                });
                user
            }
        };
        let invite = invites::create(
            &tx,
            invites::NewInvite {
                organization_id: org_id,
                email: email.as_str(),
                role_id: &role.id,
                invited_by: msg.invited_by.as_deref(),
            },
        )
        .await?;
        let existed = db::members::find(&tx, org_id, &user.id).await?.is_some();
        let membership =
            db::members::upsert(&tx, org_id, &user.id, &role.id, db::members::INVITED).await?;
        let kind = if existed {
            "user.organization_membership_updated"
        } else {
            "user.organization_membership_created"
        };
        let (_, member_event) = membership_event(&tx, kind, &membership.id).await?;
        let json = InviteJson::new(&invite, &role.name, now);
        new_events.push(invitation_event(
            org_id,
            Some(&user.id),
            "created",
            json.clone(),
        ));
        new_events.push(member_event);
        out.push(json);
    }
    if new_events.is_empty() {
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(out);
    }
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(out)
}

/// The pending invite `id` of this organization, with its role's name.
async fn pending(tx: &impl db::Conn, org_id: &str, id: &str) -> Result<(Invite, String), OrgError> {
    let invite = invites::find_in_org(tx, org_id, id)
        .await?
        .ok_or(OrgError::InviteNotFound)?;
    let role = db::roles::find(tx, &invite.role_id)
        .await?
        .map_or_else(String::new, |r| r.name);
    if invite.status != invites::PENDING {
        return Err(OrgError::Conflict(format!(
            "This invite is {} and can no longer change.",
            invite.status
        )));
    }
    Ok((invite, role))
}

async fn resend_invite(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: ResendInvite,
) -> Result<InviteJson, OrgError> {
    let tx = db.begin_write().await?;
    let (invite, role) = pending(&tx, org_id, &msg.invite_id).await?;
    db::orgs::lock(&tx, org_id).await?;
    let now = now_ms();
    // An expired invite resent takes its seat back: check the limit as for a new one.
    if invite.expires_at <= now
        && let Some(org) = db::orgs::find(&tx, org_id).await?
        && let Some(max) = org.max_users
    {
        let used = db::members::count_active(&tx, org_id).await?
            + invites::count_pending(&tx, org_id, now).await?;
        if used + 1 > u64::try_from(max).unwrap_or(0) {
            return Err(seat_limit(max));
        }
    }
    let invite = invites::schedule_resend(&tx, &invite.id, now).await?;
    let json = InviteJson::new(&invite, &role, now);
    let user = db::users::find_by_email_str(&tx, &invite.email).await?;
    let event = invitation_event(
        org_id,
        user.as_ref().map(|u| u.id.as_str()),
        "resent",
        json.clone(),
    );
    let published = events::append(&tx, vec![event]).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(json)
}

async fn revoke_invite(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: RevokeInvite,
) -> Result<InviteJson, OrgError> {
    let tx = db.begin_write().await?;
    let (invite, role) = pending(&tx, org_id, &msg.invite_id).await?;
    let invite = invites::set_status(&tx, &invite.id, invites::REVOKED).await?;
    let json = InviteJson::new(&invite, &role, now_ms());
    let mut new_events = Vec::new();
    let user = db::users::find_by_email_str(&tx, &invite.email).await?;
    if let Some(user) = &user
        && let Some(m) = db::members::find(&tx, org_id, &user.id).await?
        && m.status == db::members::INVITED
    {
        let (_, event) =
            membership_event(&tx, "user.organization_membership_deleted", &m.id).await?;
        db::members::set_status(&tx, &m.id, db::members::REMOVED).await?;
        new_events.push(event);
    }
    new_events.insert(
        0,
        invitation_event(
            org_id,
            user.as_ref().map(|u| u.id.as_str()),
            "revoked",
            json.clone(),
        ),
    );
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(json)
}

async fn accept_invite(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: AcceptInvite,
) -> Result<Accepted, OrgError> {
    let tx = db.begin_write().await?;
    // Locked: the seat limit spans rows, and other nodes may invite or accept at the same time.
    let org = db::orgs::lock(&tx, org_id)
        .await?
        .ok_or(OrgError::NotFound)?;
    let (invite, role) = pending(&tx, org_id, &msg.invite_id).await?;
    let now = now_ms();
    if invite.expires_at <= now {
        return Err(OrgError::InviteUnusable(
            "This invite has expired. Ask the person who invited you to send a new one.".into(),
        ));
    }
    if let Some(max) = org.max_users
        && db::members::count_active(&tx, org_id).await? >= u64::try_from(max).unwrap_or(0)
    {
        return Err(OrgError::SeatLimit(format!(
            "{} has reached its limit of {max} members. Ask an administrator to free a seat, then open the link again.",
            org.name
        )));
    }
    let mut new_events = Vec::new();
    let user = match db::users::find_by_email_str(&tx, &invite.email).await? {
        Some(user) => user,
        None => {
            let email = EmailAddress::parse(&invite.email)
                .map_err(|e| anyhow::anyhow!("stored invite address: {e}"))?;
            let user = db::users::create(
                &tx,
                db::users::NewUser {
                    email: &email,
                    name: "",
                    email_verified: false,
                    password_hash: None,
                },
            )
            .await?;
            new_events.push(NewEvent {
                event_type: "user.created",
                organization_id: Some(org_id.into()),
                user_id: Some(user.id.clone()),
                data: serde_json::json!({ "user": UserJson::from(&user) }),
            });
            user
        }
    };
    if let Some(account) = msg.new_account {
        db::users::reset_password(&tx, &user.id, account.password_hash).await?;
        db::users::update_name(&tx, &user.id, account.name.trim()).await?;
        let updated = db::users::find(&tx, &user.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("user {} vanished", user.id))?;
        new_events.push(NewEvent {
            event_type: "user.updated",
            organization_id: Some(org_id.into()),
            user_id: Some(user.id.clone()),
            data: serde_json::json!({ "user": UserJson::from(&updated) }),
        });
    } else {
        // Following the link proves the mailbox.
        db::users::mark_email_verified(&tx, &user.id).await?;
    }
    let existed = db::members::find(&tx, org_id, &user.id).await?.is_some();
    let membership =
        db::members::upsert(&tx, org_id, &user.id, &invite.role_id, db::members::ACTIVE).await?;
    let invite = invites::set_status(&tx, &invite.id, invites::ACCEPTED).await?;
    let kind = if existed {
        "user.organization_membership_updated"
    } else {
        "user.organization_membership_created"
    };
    let (member, member_event) = membership_event(&tx, kind, &membership.id).await?;
    new_events.push(invitation_event(
        org_id,
        Some(&user.id),
        "accepted",
        InviteJson::new(&invite, &role, now),
    ));
    new_events.push(member_event);
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(Accepted {
        user_id: user.id,
        member,
    })
}
