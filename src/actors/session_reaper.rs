//! SessionReaper: ends sessions whose absolute or idle deadline has passed.
//!
//! Expired sessions are already refused on every request, socket message and token refresh (each
//! checks the deadlines itself); the reaper makes the end *happen* — the session row is revoked with
//! the reason, its refresh tokens too, back-channel logouts are queued and `user.logout` is
//! published, so integrators and open pages learn of it without waiting for the next request.
//! It owns nothing but its interval; the database says what is due, so any node may reap and two
//! nodes reaping at once end each session once (the revoke is conditional).

use crate::db::{self, Db};
use crate::sessions::{EndReason, SessionEnder};
use actix::prelude::*;
use std::time::Duration;

/// Sessions ended per pass; a larger backlog is taken over the next passes.
const BATCH: u64 = 200;

pub struct SessionReaper {
    db: Db,
    ender: SessionEnder,
    interval: Duration,
    running: bool,
}

impl SessionReaper {
    pub fn new(db: Db, ender: SessionEnder, interval: Duration) -> Self {
        Self {
            db,
            ender,
            interval,
            running: false,
        }
    }

    /// One pass: ends every expired session found (up to a batch). Returns how many it ended.
    pub async fn try_run_once(&self) -> anyhow::Result<usize> {
        reap(&self.db, &self.ender).await
    }
}

async fn reap(db: &Db, ender: &SessionEnder) -> anyhow::Result<usize> {
    let now = db::now_ms();
    let expired = db::sessions::expired(db.conn(), now, BATCH).await?;
    let (absolute, idle): (Vec<_>, Vec<_>) = expired
        .into_iter()
        .partition(|s| s.absolute_expires_at <= now);
    let mut ended = ender.end(&absolute, EndReason::AbsoluteTimeout).await?;
    ended += ender.end(&idle, EndReason::IdleTimeout).await?;
    Ok(ended)
}

#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

#[derive(Message)]
#[rtype(result = "()")]
struct Done;

impl Actor for SessionReaper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |_, ctx| ctx.notify(Tick));
    }
}

impl Handler<Tick> for SessionReaper {
    type Result = ();

    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        if self.running {
            return;
        }
        self.running = true;
        let (db, ender, me) = (self.db.clone(), self.ender.clone(), ctx.address());
        actix::spawn(async move {
            match reap(&db, &ender).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "expired sessions ended"),
                Err(e) => tracing::warn!(error = %e, "session reaper pass failed"),
            }
            me.do_send(Done);
        });
    }
}

impl Handler<Done> for SessionReaper {
    type Result = ();

    fn handle(&mut self, _: Done, _ctx: &mut Self::Context) {
        self.running = false;
    }
}
