//! WebhookFanout: turns committed events into webhook deliveries, one row per matching enabled
//! endpoint, in outbox order.
//!
//! It owns no durable state of its own: its position is the `webhook_cursors` row, advanced in the
//! same transaction as the deliveries it covers, so a crash or restart resumes exactly there, and
//! on several nodes only the one holding the row's lock advances it (see `crate::webhooks`). It keeps
//! a hint of that position to skip empty passes cheaply. It is woken by the outbox relay's commit
//! announcements and by its own short poll (for commits on other nodes), and wakes the dispatcher
//! when it inserted something. It never makes network calls and never touches a delivery after
//! inserting it.

use super::outbox_relay::Wake;
use super::webhook_dispatcher::DispatchNow;
use crate::db::webhooks::{self as store, CursorLock};
use crate::db::{Db, events, now_ms};
use crate::webhooks::EventTypeFilter;
use actix::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Safety-net poll, for events committed on other nodes or by the CLI.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Events per transaction; a full batch runs the next at once.
const BATCH: u64 = 500;

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing new in the outbox.
    Idle,
    /// Another node holds the cursor (PostgreSQL); it is doing this work.
    Busy,
    /// Advanced the cursor over `events` events, inserting `deliveries` deliveries.
    FannedOut {
        events: usize,
        deliveries: u64,
        /// A full batch: there may be more right away.
        more: bool,
    },
}

pub struct WebhookFanout {
    pass: FanoutPass,
    dispatcher: Option<Recipient<DispatchNow>>,
    running: bool,
    again: bool,
}

/// What a pass needs; cloned into each pass's task.
#[derive(Clone)]
struct FanoutPass {
    db: Db,
    /// The cursor as last seen (a hint; the row is the truth).
    seen: Arc<AtomicI64>,
}

impl WebhookFanout {
    pub fn new(db: Db, dispatcher: Option<Recipient<DispatchNow>>) -> Self {
        Self {
            pass: FanoutPass {
                db,
                seen: Arc::new(AtomicI64::new(-1)),
            },
            dispatcher,
            running: false,
            again: false,
        }
    }

    /// Creates the cursor at the current end of the outbox if this database has none yet (history
    /// before webhooks existed is not fanned out). Startup calls it before serving.
    pub async fn ensure_cursor(db: &Db) -> anyhow::Result<()> {
        let last = events::last_seq(db.conn()).await?;
        store::ensure_cursor(db.conn(), last).await
    }

    /// One pass: lock the cursor, read the next batch of events, insert their deliveries, advance.
    pub async fn try_run_once(&self) -> anyhow::Result<Outcome> {
        self.pass.run().await
    }
}

impl FanoutPass {
    async fn run(&self) -> anyhow::Result<Outcome> {
        let last = events::last_seq(self.db.conn()).await?;
        if last <= self.seen.load(Ordering::Relaxed) {
            return Ok(Outcome::Idle);
        }
        let tx = self.db.begin_write().await?;
        let Some(cursor) = store::lock_cursor(&tx, CursorLock::SkipIfHeld).await? else {
            return Ok(Outcome::Busy);
        };
        let batch = events::after(&tx, cursor, BATCH).await?;
        let Some(last_event) = batch.last() else {
            tx.rollback().await?;
            self.seen.store(cursor, Ordering::Relaxed);
            return Ok(Outcome::Idle);
        };
        let new_cursor = last_event.seq;
        let endpoints: Vec<(store::Endpoint, Option<EventTypeFilter>)> =
            store::enabled_endpoints(&tx)
                .await?
                .into_iter()
                .map(|e| {
                    let filter = EventTypeFilter::parse(&store::event_types(&e)).ok();
                    (e, filter)
                })
                .collect();
        let now = now_ms();
        let mut rows = Vec::new();
        for event in &batch {
            for (endpoint, filter) in &endpoints {
                if event.seq > endpoint.from_seq
                    && filter
                        .as_ref()
                        .is_some_and(|f| f.matches(&event.event_type))
                {
                    rows.push(store::new_delivery(&endpoint.id, event, now));
                }
            }
        }
        let deliveries = store::insert_deliveries(&tx, rows).await?;
        store::advance_cursor(&tx, new_cursor).await?;
        tx.commit().await?;
        self.seen.store(new_cursor, Ordering::Relaxed);
        Ok(Outcome::FannedOut {
            events: batch.len(),
            deliveries,
            more: batch.len() as u64 == BATCH,
        })
    }
}

impl Actor for WebhookFanout {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |_, ctx| ctx.notify(Wake { seq: None }));
        ctx.notify(Wake { seq: None });
    }
}

impl Handler<Wake> for WebhookFanout {
    type Result = ();

    fn handle(&mut self, wake: Wake, ctx: &mut Self::Context) {
        if wake
            .seq
            .is_some_and(|seq| seq <= self.pass.seen.load(Ordering::Relaxed))
        {
            return;
        }
        if self.running {
            self.again = true;
            return;
        }
        self.running = true;
        let pass = self.pass.clone();
        let pass = async move { pass.run().await };
        ctx.spawn(super::webhook_dispatcher::off_actor(pass).into_actor(self).map(
            |result, fanout, ctx| {
                fanout.running = false;
                match result {
                    Ok(Outcome::FannedOut {
                        deliveries, more, ..
                    }) => {
                        if deliveries > 0
                            && let Some(dispatcher) = &fanout.dispatcher
                        {
                            dispatcher.do_send(DispatchNow);
                        }
                        fanout.again |= more;
                    }
                    Ok(Outcome::Idle | Outcome::Busy) => {}
                    Err(err) => tracing::warn!(error = %format!("{err:#}"), "webhook fan-out failed; will retry"),
                }
                if std::mem::take(&mut fanout.again) {
                    ctx.notify(Wake { seq: None });
                }
            },
        ));
    }
}
