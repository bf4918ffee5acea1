//! OrgActor: the single writer of one organization's members and domains (see `domains`), and, as
//! they land, its invites and session policy.
//!
//! Every change to the organization goes through its actor, one message at a time, so rules that
//! span rows (the last admin, the seat limit) are checked and written without interleaving on this
//! node; the transaction itself keeps them right across nodes. Each change writes its outbox events
//! in the same transaction and wakes the relay after commit. It holds no cached rows: the database
//! is the state, the actor is the lock and the place the rules live.

mod domains;
mod invites;
mod members;
mod session_policy;
mod settings;

pub use domains::{
    AddDomain, DeleteDomain, DomainAdded, MarkVerified, RecordCheck, SetDomainJoinPolicy,
};
pub use invites::{AcceptInvite, Accepted, CreateInvites, NewAccount, ResendInvite, RevokeInvite};
pub use members::{
    ChangeRole, EVENT_MEMBERSHIP_DELETED, EVENT_MEMBERSHIP_UPDATED, MemberChanged, RemoveMember,
};
pub use session_policy::{PolicyChanged, SetSessionPolicy};
pub use settings::{DeleteOrganization, SetFeatures, UpdateSettings, organization_payload};

use super::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::{self, Db};
use crate::domain::{EmailAddress, RoleName};
use crate::wire::{MembershipEvent, UserJson};
use actix::prelude::*;
use std::time::{Duration, Instant};

/// An org actor with nothing to do for this long stops; the registry starts a new one on demand.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct OrgActor {
    org_id: String,
    db: Db,
    outbox: OutboxSignal,
    last_used: Instant,
}

impl OrgActor {
    pub fn new(org_id: String, db: Db, outbox: OutboxSignal) -> Self {
        Self {
            org_id,
            db,
            outbox,
            last_used: Instant::now(),
        }
    }
}

impl Actor for OrgActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(IDLE_TIMEOUT / 4, |actor, ctx| {
            if actor.last_used.elapsed() >= IDLE_TIMEOUT {
                ctx.stop();
            }
        });
    }
}

/// Why an organization refused a change.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("organization not found")]
    NotFound,
    #[error("domain not found")]
    DomainNotFound,
    /// The user is not a member (active or invited) of the organization.
    #[error("member not found")]
    MemberNotFound,
    /// The change would leave the organization without an active admin.
    #[error(
        "an organization must keep at least one active admin: make another member an admin first"
    )]
    LastAdmin,
    /// A domain the organization may not have (a public mail provider).
    #[error("{0}")]
    InvalidDomain(String),
    #[error("role \"{0}\" does not exist")]
    UnknownRole(String),
    #[error("{0}")]
    Conflict(String),
    /// The seat limit (`max_users`) would be passed.
    #[error("{0}")]
    SeatLimit(String),
    #[error("invite not found")]
    InviteNotFound,
    /// An invite that cannot be accepted (expired), with what to do.
    #[error("{0}")]
    InviteUnusable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Adds a user (found by email, or created) as an active member with `role` (default `member`).
/// Adding someone who is already an active member changes nothing and reports `created: false`, unless
/// a different role was asked for: that is a conflict (role changes are their own operation).
#[derive(Message, Debug)]
#[rtype(result = "Result<MemberAdded, OrgError>")]
pub struct AddMember {
    pub email: EmailAddress,
    pub name: String,
    pub role: Option<RoleName>,
}

#[derive(Debug)]
pub struct MemberAdded {
    pub member: MembershipEvent,
    pub created: bool,
}

impl Handler<AddMember> for OrgActor {
    type Result = AtomicResponse<Self, Result<MemberAdded, OrgError>>;

    fn handle(&mut self, msg: AddMember, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (db, outbox, org_id) = (self.db.clone(), self.outbox.clone(), self.org_id.clone());
        AtomicResponse::new(Box::pin(
            async move { add_member(&db, &outbox, &org_id, msg).await }.into_actor(self),
        ))
    }
}

async fn add_member(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: AddMember,
) -> Result<MemberAdded, OrgError> {
    let tx = db.begin_write().await?;
    if db::orgs::find(&tx, org_id).await?.is_none() {
        return Err(OrgError::NotFound);
    }
    let role_name = msg.role.as_ref().map_or(RoleName::MEMBER, RoleName::as_str);
    let role = db::roles::find_by_name(&tx, role_name)
        .await?
        .ok_or_else(|| OrgError::UnknownRole(role_name.into()))?;
    let mut new_events = Vec::new();
    let user = match db::users::find_by_email(&tx, &msg.email).await? {
        Some(user) => user,
        None => {
            let user = db::users::create(
                &tx,
                db::users::NewUser {
                    email: &msg.email,
                    name: msg.name.trim(),
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
    if let Some(existing) = db::members::find(&tx, org_id, &user.id).await?
        && existing.status == db::members::ACTIVE
    {
        let row = db::members::row(&tx, &existing.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("membership {} vanished", existing.id))?;
        if msg.role.is_some() && existing.role_id != role.id {
            return Err(OrgError::Conflict(format!(
                "{} is already a member with the role \"{}\"; change a member's role with PATCH /api/v1/organizations/{{org_id}}/users/{{user_id}}.",
                row.email, row.role_name
            )));
        }
        let permissions = db::roles::permissions_of(&tx, &row.role_id).await?;
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(MemberAdded {
            member: MembershipEvent::new(&row, permissions),
            created: false,
        });
    }
    // Someone still invited who is added directly: the invite is fulfilled, the row turns active.
    let was_invited = db::members::find(&tx, org_id, &user.id)
        .await?
        .is_some_and(|m| m.status == db::members::INVITED);
    if was_invited
        && let Some(invite) =
            db::invites::find_pending_for_email(&tx, org_id, msg.email.as_str()).await?
    {
        let invite = db::invites::set_status(&tx, &invite.id, db::invites::ACCEPTED).await?;
        new_events.push(NewEvent {
            event_type: "user.organization_invitation",
            organization_id: Some(org_id.into()),
            user_id: Some(user.id.clone()),
            data: serde_json::to_value(crate::wire::invites::InvitationEvent {
                status: "accepted".into(),
                invitation: crate::wire::invites::InviteJson::new(
                    &invite,
                    role_name,
                    crate::db::now_ms(),
                ),
            })
            .map_err(anyhow::Error::from)?,
        });
    }
    let membership =
        db::members::upsert(&tx, org_id, &user.id, &role.id, db::members::ACTIVE).await?;
    let row = db::members::row(&tx, &membership.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("membership {} vanished", membership.id))?;
    let member = MembershipEvent::new(&row, db::roles::permissions_of(&tx, &role.id).await?);
    new_events.push(NewEvent {
        event_type: if was_invited {
            "user.organization_membership_updated"
        } else {
            "user.organization_membership_created"
        },
        organization_id: Some(org_id.into()),
        user_id: Some(user.id.clone()),
        data: serde_json::to_value(&member).map_err(anyhow::Error::from)?,
    });
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(MemberAdded {
        member,
        created: true,
    })
}
