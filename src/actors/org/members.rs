//! The organization actor's member messages beyond adding: changing a member's role and removing a
//! member. Each writes its change and its event in one transaction.
//!
//! The rule "an organization always keeps an active admin" spans rows, so it is checked with the
//! organization row locked (`db::orgs::lock`): two nodes demoting the last two admins at once queue
//! on that lock, and the second sees the first's change and is refused.
//!
//! Events: `user.organization_membership_updated` (payload: the membership with its new role and
//! that role's permissions) and `user.organization_membership_deleted` (the membership as it was,
//! with `status: "removed"`). Both carry `user_id`, so every node's hub re-authorizes or closes the
//! member's open sockets from the event alone.

use super::{OrgActor, OrgError};
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::members::{self, MemberRow};
use crate::db::{self, Db};
use crate::domain::RoleName;
use crate::wire::MembershipEvent;
use actix::prelude::*;
use sea_orm::DatabaseTransaction;
use std::time::Instant;

pub const EVENT_MEMBERSHIP_UPDATED: &str = "user.organization_membership_updated";
pub const EVENT_MEMBERSHIP_DELETED: &str = "user.organization_membership_deleted";

/// Gives a member (active or invited) another role. Asking for the role they already have changes
/// nothing and reports `changed: false` (no event). Refused with [`OrgError::LastAdmin`] when it
/// would leave the organization without an active admin, [`OrgError::MemberNotFound`] when the user
/// is not a member, [`OrgError::UnknownRole`] for a role that does not exist.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<MemberChanged, OrgError>")]
pub struct ChangeRole {
    pub user_id: String,
    pub role: RoleName,
}

#[derive(Debug)]
pub struct MemberChanged {
    /// The membership as it now stands (the `user.organization_membership_updated` payload).
    pub member: MembershipEvent,
    pub changed: bool,
}

/// Removes a member (active or invited). Answers the membership as it was, with status `removed`
/// (the `user.organization_membership_deleted` payload). Refused with [`OrgError::LastAdmin`] for the
/// last active admin and [`OrgError::MemberNotFound`] when the user is not a member.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<MembershipEvent, OrgError>")]
pub struct RemoveMember {
    pub user_id: String,
}

impl Handler<ChangeRole> for OrgActor {
    type Result = AtomicResponse<Self, Result<MemberChanged, OrgError>>;

    fn handle(&mut self, msg: ChangeRole, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (db, outbox, org_id) = (self.db.clone(), self.outbox.clone(), self.org_id.clone());
        AtomicResponse::new(Box::pin(
            async move { change_role(&db, &outbox, &org_id, msg).await }.into_actor(self),
        ))
    }
}

impl Handler<RemoveMember> for OrgActor {
    type Result = AtomicResponse<Self, Result<MembershipEvent, OrgError>>;

    fn handle(&mut self, msg: RemoveMember, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (db, outbox, org_id) = (self.db.clone(), self.outbox.clone(), self.org_id.clone());
        AtomicResponse::new(Box::pin(
            async move { remove_member(&db, &outbox, &org_id, msg).await }.into_actor(self),
        ))
    }
}

/// The member's current row, with the organization locked for the rest of the transaction.
async fn locked_member(
    tx: &DatabaseTransaction,
    org_id: &str,
    user_id: &str,
) -> Result<MemberRow, OrgError> {
    if db::orgs::lock(tx, org_id).await?.is_none() {
        return Err(OrgError::NotFound);
    }
    let membership = members::find(tx, org_id, user_id)
        .await?
        .filter(|m| m.status != members::REMOVED)
        .ok_or(OrgError::MemberNotFound)?;
    Ok(members::row(tx, &membership.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("membership {} vanished", membership.id))?)
}

/// Refuses when `row` is the organization's last active admin.
async fn keep_an_admin(tx: &DatabaseTransaction, row: &MemberRow) -> Result<(), OrgError> {
    if row.status != members::ACTIVE || row.role_name != RoleName::ADMIN {
        return Ok(());
    }
    if members::count_active_with_role(tx, &row.organization_id, &row.role_id).await? <= 1 {
        return Err(OrgError::LastAdmin);
    }
    Ok(())
}

async fn change_role(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: ChangeRole,
) -> Result<MemberChanged, OrgError> {
    let tx = db.begin_write().await?;
    let row = locked_member(&tx, org_id, &msg.user_id).await?;
    let role = db::roles::find_by_name(&tx, msg.role.as_str())
        .await?
        .ok_or_else(|| OrgError::UnknownRole(msg.role.as_str().into()))?;
    if row.role_id == role.id {
        let permissions = db::roles::permissions_of(&tx, &role.id).await?;
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(MemberChanged {
            member: MembershipEvent::new(&row, permissions),
            changed: false,
        });
    }
    keep_an_admin(&tx, &row).await?;
    members::update(&tx, &row.membership_id, Some(&role.id), None).await?;
    let updated = members::row(&tx, &row.membership_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("membership {} vanished", row.membership_id))?;
    let member = MembershipEvent::new(&updated, db::roles::permissions_of(&tx, &role.id).await?);
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: EVENT_MEMBERSHIP_UPDATED,
            organization_id: Some(org_id.into()),
            user_id: Some(msg.user_id),
            data: serde_json::to_value(&member).map_err(anyhow::Error::from)?,
        }],
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(MemberChanged {
        member,
        changed: true,
    })
}

async fn remove_member(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: RemoveMember,
) -> Result<MembershipEvent, OrgError> {
    let tx = db.begin_write().await?;
    let row = locked_member(&tx, org_id, &msg.user_id).await?;
    keep_an_admin(&tx, &row).await?;
    members::update(&tx, &row.membership_id, None, Some(members::REMOVED)).await?;
    let removed = MemberRow {
        status: members::REMOVED.into(),
        ..row
    };
    // The role the member had; a removed membership grants nothing, whatever the role says.
    let member = MembershipEvent::new(&removed, Default::default());
    // The user's sessions in this organization end with the membership (back-channel logout and
    // `user.logout` included), in the same transaction.
    let in_org: Vec<_> = crate::db::sessions::live_for_user(&tx, &msg.user_id, crate::db::now_ms())
        .await?
        .into_iter()
        .filter(|s| s.organization_id.as_deref() == Some(org_id))
        .collect();
    let mut new_events = Vec::new();
    // Removing someone still invited withdraws the invite too, so its link stops working.
    if row.status == members::INVITED
        && let Some(invite) =
            db::invites::find_pending_for_email(&tx, org_id, &removed.email).await?
    {
        let invite = db::invites::set_status(&tx, &invite.id, db::invites::REVOKED).await?;
        let json = crate::wire::invites::InviteJson::new(&invite, &removed.role_name, db::now_ms());
        new_events.push(NewEvent {
            event_type: "user.organization_invitation",
            organization_id: Some(org_id.into()),
            user_id: Some(msg.user_id.clone()),
            data: serde_json::to_value(crate::wire::invites::InvitationEvent {
                status: "revoked".into(),
                invitation: json,
            })
            .map_err(anyhow::Error::from)?,
        });
    }
    new_events.push(NewEvent {
        event_type: EVENT_MEMBERSHIP_DELETED,
        organization_id: Some(org_id.into()),
        user_id: Some(msg.user_id),
        data: serde_json::to_value(&member).map_err(anyhow::Error::from)?,
    });
    new_events.extend(
        crate::sessions::end_in(
            &tx,
            &in_org,
            crate::sessions::EndReason::RemovedFromOrganization,
        )
        .await?,
    );
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(member)
}
