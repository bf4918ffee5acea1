//! The organization's session policy, written through its actor like every other change to it.
//!
//! A stricter policy also shortens the organization's running sessions (in the same transaction):
//! each session's absolute deadline becomes no later than sign-in + the new lifetime, and its idle
//! deadline no later than last activity + the new idle timeout. Sessions the new rule has already
//! expired end at once, with their `user.logout` events. A looser policy never lengthens a running
//! session; it applies to sessions signed in after the change.

use super::{OrgActor, OrgError};
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::{self, Db};
use crate::domain::{OrgSessionPolicy, SessionPolicy};
use crate::sessions::{self, EndReason};
use crate::wire::sessions::SessionPolicyJson;
use actix::prelude::*;
use std::time::Instant;

/// Replaces the organization's override.
#[derive(Message, Debug)]
#[rtype(result = "Result<PolicyChanged, OrgError>")]
pub struct SetSessionPolicy {
    pub policy: OrgSessionPolicy,
}

#[derive(Debug)]
pub struct PolicyChanged {
    pub policy: SessionPolicyJson,
    /// Running sessions whose deadlines moved earlier.
    pub sessions_shortened: usize,
    /// Running sessions the new policy ended at once.
    pub sessions_ended: usize,
}

impl Handler<SetSessionPolicy> for OrgActor {
    type Result = AtomicResponse<Self, Result<PolicyChanged, OrgError>>;

    fn handle(&mut self, msg: SetSessionPolicy, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (db, outbox, org_id) = (self.db.clone(), self.outbox.clone(), self.org_id.clone());
        AtomicResponse::new(Box::pin(
            async move { set_policy(&db, &outbox, &org_id, msg).await }.into_actor(self),
        ))
    }
}

async fn set_policy(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: SetSessionPolicy,
) -> Result<PolicyChanged, OrgError> {
    let tx = db.begin_write().await?;
    if db::orgs::find(&tx, org_id).await?.is_none() {
        return Err(OrgError::NotFound);
    }
    db::orgs::set_session_policy(&tx, org_id, &msg.policy).await?;
    let app = sessions::app_policy(&tx).await?;
    let effective = SessionPolicy::effective(&app, &msg.policy);
    let now = db::now_ms();
    let mut shortened = 0;
    let mut expired_absolute = Vec::new();
    let mut expired_idle = Vec::new();
    for session in db::sessions::live_in_org(&tx, org_id, now).await? {
        if db::sessions::shorten(&tx, &session, &effective).await? {
            shortened += 1;
            let (absolute, idle) = db::sessions::deadlines_under(&session, &effective);
            if absolute <= now {
                expired_absolute.push(session);
            } else if idle.is_some_and(|t| t <= now) {
                expired_idle.push(session);
            }
        }
    }
    let mut new_events =
        sessions::end_in(&tx, &expired_absolute, EndReason::AbsoluteTimeout).await?;
    new_events.extend(sessions::end_in(&tx, &expired_idle, EndReason::IdleTimeout).await?);
    let ended = new_events.len();
    let policy = SessionPolicyJson::new(org_id, &app, &msg.policy);
    new_events.push(NewEvent {
        event_type: "organization.session_policy_updated",
        organization_id: Some(org_id.to_string()),
        user_id: None,
        data: serde_json::json!({
            "session_policy": policy,
            "sessions_shortened": shortened,
        }),
    });
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(PolicyChanged {
        policy,
        sessions_shortened: shortened,
        sessions_ended: ended,
    })
}
