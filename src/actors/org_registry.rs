//! OrgRegistry: finds the actor of an organization, starting it on first use.
//!
//! It owns the map from organization id to [`OrgActor`] address. Org actors stop themselves when
//! idle; a stopped one is replaced on the next lookup. It never checks whether the organization
//! exists (the org actor answers `NotFound` for that) and never touches the database.

use super::org::{OrgActor, OrgError};
use super::outbox_relay::OutboxSignal;
use crate::db::Db;
use actix::prelude::*;
use std::collections::HashMap;

pub struct OrgRegistry {
    db: Db,
    outbox: OutboxSignal,
    actors: HashMap<String, Addr<OrgActor>>,
}

impl OrgRegistry {
    pub fn new(db: Db, outbox: OutboxSignal) -> Self {
        Self {
            db,
            outbox,
            actors: HashMap::new(),
        }
    }
}

impl Actor for OrgRegistry {
    type Context = Context<Self>;
}

/// Sends `msg` to organization `org_id`'s actor (started on first use) and returns its answer. A
/// registry or actor that cannot be reached is an internal error.
pub async fn ask<M, T>(registry: &Addr<OrgRegistry>, org_id: &str, msg: M) -> Result<T, OrgError>
where
    M: Message<Result = Result<T, OrgError>> + Send + 'static,
    T: Send + 'static,
    OrgActor: Handler<M>,
{
    let unreachable = |e: MailboxError| {
        OrgError::Internal(anyhow::anyhow!("organization actor unavailable: {e}"))
    };
    let org = registry
        .send(Lookup {
            org_id: org_id.into(),
        })
        .await
        .map_err(unreachable)?;
    org.send(msg).await.map_err(unreachable)?
}

/// The address of an organization's actor.
#[derive(Message)]
#[rtype(result = "Addr<OrgActor>")]
pub struct Lookup {
    pub org_id: String,
}

impl Handler<Lookup> for OrgRegistry {
    type Result = MessageResult<Lookup>;

    fn handle(&mut self, msg: Lookup, _ctx: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.actors.get(&msg.org_id)
            && addr.connected()
        {
            return MessageResult(addr.clone());
        }
        // Drop the addresses of actors that stopped while idle, then start a fresh one.
        self.actors.retain(|_, addr| addr.connected());
        let addr = OrgActor::new(msg.org_id.clone(), self.db.clone(), self.outbox.clone()).start();
        self.actors.insert(msg.org_id, addr.clone());
        MessageResult(addr)
    }
}
