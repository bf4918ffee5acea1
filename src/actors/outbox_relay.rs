//! OutboxRelay: reads committed events from the outbox in sequence order and hands them to the
//! [`EventHub`](super::event_hub::EventHub).
//!
//! It owns one number, the last sequence it has published. It is woken after every local commit
//! (with that commit's sequence), by PostgreSQL notifications from other nodes, and by a slow poll
//! that catches anything a wake-up missed. It never skips: it reads `seq > last` and events are
//! numbered in commit order (see `db::events`). It never writes. Commit announcements are also
//! passed on to listeners that follow the outbox themselves (the webhook fan-out), see [`Listen`].

use super::event_hub::{EventHub, Publish};
use crate::db::{Db, events};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Safety-net poll, for writes no wake-up announced (a CLI command, a missed notification).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Events read per query; a full batch schedules another read at once.
const BATCH: u64 = 500;

pub struct OutboxRelay {
    db: Db,
    hub: Addr<EventHub>,
    last_seq: i64,
    listeners: Vec<Recipient<Wake>>,
}

impl OutboxRelay {
    /// A relay that publishes everything after `last_seq` (normally the sequence at start-up).
    pub fn new(db: Db, hub: Addr<EventHub>, last_seq: i64) -> Self {
        Self {
            db,
            hub,
            last_seq,
            listeners: Vec::new(),
        }
    }
}

impl Actor for OutboxRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |_, ctx| ctx.notify(Wake { seq: None }));
    }
}

/// "Events up to `seq` are committed" (`None`: look anyway).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Wake {
    pub seq: Option<i64>,
}

impl Handler<Wake> for OutboxRelay {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, wake: Wake, _ctx: &mut Self::Context) -> Self::Result {
        if wake.seq.is_some() {
            for listener in &self.listeners {
                listener.do_send(wake);
            }
        }
        // A wake-up for events already published costs nothing.
        if wake.seq.is_some_and(|seq| seq <= self.last_seq) {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        let db = self.db.clone();
        let after = self.last_seq;
        AtomicResponse::new(Box::pin(
            async move { events::after(db.conn(), after, BATCH).await }
                .into_actor(self)
                .map(|result, relay, ctx| match result {
                    Ok(batch) if !batch.is_empty() => {
                        let full = batch.len() as u64 == BATCH;
                        relay.last_seq = batch.last().map_or(relay.last_seq, |e| e.seq);
                        relay.hub.do_send(Publish(Arc::new(batch)));
                        if full {
                            ctx.notify(Wake { seq: None });
                        }
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "outbox read failed; will retry"),
                }),
        ))
    }
}

/// Passes every commit announcement on to `0` as well: for readers of the outbox that keep their
/// own position and should hear of commits promptly, without going through the hub.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Listen(pub Recipient<Wake>);

impl Handler<Listen> for OutboxRelay {
    type Result = ();

    fn handle(&mut self, msg: Listen, _ctx: &mut Self::Context) {
        self.listeners.push(msg.0);
    }
}

/// The handle writers use to announce a commit.
#[derive(Clone)]
pub struct OutboxSignal(Recipient<Wake>);

impl OutboxSignal {
    pub fn new(relay: Recipient<Wake>) -> Self {
        Self(relay)
    }

    /// Tells the relay that events up to `seq` are committed.
    pub fn committed(&self, seq: i64) {
        self.0.do_send(Wake { seq: Some(seq) });
    }

    /// Announces the last of `events`, if any.
    pub fn committed_events(&self, events: &[events::Event]) {
        if let Some(last) = events.last() {
            self.committed(last.seq);
        }
    }
}
