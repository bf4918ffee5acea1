//! OutboxRetention: deletes outbox events older than the retention window
//! (`events.retention_hours`), a batch at a time, every few minutes.
//!
//! It owns no state but its schedule. It never deletes an event the webhook fan-out has not read
//! (see `db::events::prune`), so a stopped fan-out keeps its backlog. Pages and streams resuming from
//! before the oldest kept event are told to reload (see `db::events::retained_after`). Several nodes
//! may prune at once: deleting is idempotent.

use crate::db::{Db, events, now_ms};
use crate::metrics;
use actix::prelude::*;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(600);
/// Events deleted per statement, so one pass never holds a long lock.
const BATCH: u64 = 5000;

pub struct OutboxRetention {
    db: Db,
    window: Duration,
}

impl OutboxRetention {
    pub fn new(db: Db, window: Duration) -> Self {
        Self { db, window }
    }

    /// One pass as of `now` (ms): deletes what is older than the window, batch by batch. Answers
    /// how many events went.
    pub async fn try_run_once(&self, now: i64) -> anyhow::Result<u64> {
        let before = now - self.window.as_millis() as i64;
        let mut total = 0;
        loop {
            let n = events::prune(self.db.conn(), before, BATCH).await?;
            total += n;
            if n < BATCH {
                break;
            }
        }
        metrics::EVENTS_PRUNED.fetch_add(total, Relaxed);
        Ok(total)
    }
}

impl Actor for OutboxRetention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(INTERVAL, |actor, ctx| {
            let this = OutboxRetention::new(actor.db.clone(), actor.window);
            ctx.spawn(
                async move {
                    match this.try_run_once(now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(events = n, "outbox retention pruned events"),
                        Err(err) => tracing::warn!(error = %err, "outbox retention failed"),
                    }
                }
                .into_actor(actor),
            );
        });
    }
}
