//! WidgetSocket: one open `/ui/live` WebSocket of a widget page.
//!
//! It owns its connection: the audience it was authorized as, the last sequence it sent and its
//! heartbeat. Life cycle:
//! 1. `started`: subscribe to the hub (awaited, so live frames from here on reach the mailbox), then
//!    replay from the outbox every event after the page's `after` sequence (or, for a page without
//!    one, after the sequence its permissions were loaded at); the actor processes no other message
//!    until the replay is sent. Membership changes met in the replay re-authorize it as the hub
//!    would (reload, or close with a reason).
//! 2. live: frames from the hub are sent unless their sequence was already replayed, so the page sees
//!    each event once and in order.
//! 3. `stopping`: unsubscribe.
//!
//! The session is checked again on every message from the page and every heartbeat: a session that
//! expired or was revoked closes the socket with close code 4001 (sign in again). The hub also
//! closes it at once when the session's `user.logout` is published.
//!
//! The mailbox is bounded ([`MAILBOX`]); the hub drops a socket that lets it fill. The stream handler
//! only dispatches.

use super::event_hub::{EventHub, Subscribe, ToSocket, Unsubscribe, close_codes};
use crate::db::{self, Db, events};
use crate::live::{self, Audience, Verdict, Wire};
use crate::metrics;
use actix::prelude::*;
use actix_web_actors::ws;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How often the server pings.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A client silent for this long (no pong, no message) is disconnected.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Frames a socket may have waiting; past this the hub drops it as too slow.
pub const MAILBOX: usize = 256;
/// Events a reconnecting page may catch up on; beyond this it is told to reload.
pub const REPLAY_LIMIT: u64 = 1000;

pub struct WidgetSocket {
    id: u64,
    audience: Audience,
    hub: Addr<EventHub>,
    db: Db,
    /// The page's sequence at render (or last seen before a reconnect).
    after: Option<i64>,
    last_sent: i64,
    last_heard: Instant,
    /// A session check is in flight (one at a time).
    checking: bool,
}

impl WidgetSocket {
    pub fn new(audience: Audience, hub: Addr<EventHub>, db: Db, after: Option<i64>) -> Self {
        Self {
            id: super::event_hub::next_socket_id(),
            audience,
            hub,
            db,
            after,
            last_sent: after.unwrap_or(0),
            last_heard: Instant::now(),
            checking: false,
        }
    }

    /// Closes the socket with 4001 unless the session is still live.
    fn check_session(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.checking {
            return;
        }
        self.checking = true;
        let db = self.db.clone();
        let session_id = self.audience.session_id.clone();
        let check = async move {
            db::sessions::find(db.conn(), &session_id)
                .await
                .map(|s| s.is_some_and(|s| db::sessions::is_live(&s, db::now_ms())))
        };
        ctx.spawn(check.into_actor(self).map(|live, socket, ctx| {
            socket.checking = false;
            match live {
                Ok(true) => {}
                Ok(false) => {
                    ctx.close(Some(ws::CloseReason {
                        code: ws::CloseCode::Other(close_codes::SESSION_ENDED),
                        description: Some("signed out".into()),
                    }));
                    ctx.stop();
                }
                // A database hiccup is not a sign-out; the next message checks again.
                Err(e) => tracing::warn!(error = %e, "widget socket could not check its session"),
            }
        }));
    }

    fn heartbeat(&self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.run_interval(HEARTBEAT_INTERVAL, |socket, ctx| {
            if socket.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Away,
                    description: Some("heartbeat timeout".into()),
                }));
                ctx.stop();
                return;
            }
            ctx.ping(b"");
            socket.check_session(ctx);
        });
    }

    /// Subscribes, then replays what the page missed, holding the mailbox until both are done.
    fn subscribe_and_replay(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let subscribe = self.hub.send(Subscribe {
            id: self.id,
            audience: self.audience.clone(),
            socket: ctx.address().recipient(),
        });
        let db = self.db.clone();
        let after = self.after.unwrap_or(self.audience.as_of);
        let (org_id, user_id) = (self.audience.org_id.clone(), self.audience.user_id.clone());
        let work = async move {
            subscribe
                .await
                .map_err(|e| Failed(anyhow::anyhow!("hub unavailable: {e}")))?;
            let missed =
                events::after_for_scope(db.conn(), after, &org_id, &user_id, REPLAY_LIMIT + 1)
                    .await
                    .map_err(Failed)?;
            // Checked after the read: events pruned before it show in the floor, ones pruned
            // after it were read.
            let floor = events::retained_after(db.conn()).await.map_err(Failed)?;
            if after < floor {
                return Err(Behind(floor));
            }
            Ok(missed)
        };
        ctx.wait(
            work.into_actor(self)
                .map(|result, socket, ctx| match result {
                    // Behind what the outbox still keeps, or too far behind: the page reloads
                    // (the frame's sequence is above the page's, or the page would ignore it).
                    Err(Behind(floor)) => socket.reload(ctx, floor),
                    Ok(missed) if missed.len() as u64 > REPLAY_LIMIT => {
                        let seq = missed.last().map_or(socket.last_sent + 1, |e| e.seq);
                        socket.reload(ctx, seq);
                    }
                    Ok(missed) => {
                        metrics::REPLAYS.fetch_add(1, Relaxed);
                        metrics::REPLAYED_EVENTS.fetch_add(missed.len() as u64, Relaxed);
                        for event in &missed {
                            if !socket.replay_one(event, ctx) {
                                return;
                            }
                        }
                    }
                    Err(Failed(err)) => {
                        tracing::warn!(error = %err, "widget socket could not start");
                        ctx.close(Some(ws::CloseCode::Error.into()));
                        ctx.stop();
                    }
                }),
        );
    }
}

/// Why a socket could not replay.
enum ReplayError {
    /// The page is behind what retention kept (everything up to this sequence may be gone).
    Behind(i64),
    Failed(anyhow::Error),
}
use ReplayError::{Behind, Failed};

impl WidgetSocket {
    /// Tells the page to reload (it cannot catch up from the outbox).
    fn reload(&mut self, ctx: &mut ws::WebsocketContext<Self>, seq: i64) {
        metrics::REPLAY_RELOADS.fetch_add(1, Relaxed);
        let seq = seq.max(self.last_sent);
        self.last_sent = seq;
        ctx.text(live::to_json(&Wire {
            seq,
            event_type: "portal.reload",
            op: "reload",
            list: None,
            target: None,
            html: None,
        }));
    }

    /// Sends one replayed event's frames, re-authorizing first as the hub does. `false` when the
    /// replay must stop (the page reloads, or the socket closes).
    fn replay_one(&mut self, event: &events::Event, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        if let Some((org_id, user_id, change)) = live::membership_change(event)
            && self.audience.is_member(&org_id, &user_id)
        {
            match self.audience.apply(event.seq, &change) {
                Verdict::Unchanged => {}
                Verdict::Reload => {
                    self.last_sent = self.last_sent.max(event.seq);
                    ctx.text(live::reload_json(event.seq, &event.event_type));
                    return false;
                }
                Verdict::Close { code, reason } => {
                    self.close(ctx, code, reason);
                    return false;
                }
            }
        }
        if live::ended_session(event).is_some_and(|s| s == self.audience.session_id) {
            self.close(ctx, live::close_codes::SESSION_ENDED, live::REASON_SESSION);
            return false;
        }
        for frame in live::frames_for(event) {
            if self.audience.accepts(&frame) {
                let key = self.audience.render_key(&frame);
                ctx.text(live::render(&frame, key));
                metrics::FRAMES_DELIVERED.fetch_add(1, Relaxed);
            }
        }
        self.last_sent = self.last_sent.max(event.seq);
        true
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &'static str) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(code),
            description: Some(reason.into()),
        }));
        ctx.stop();
    }
}

impl Actor for WidgetSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        metrics::SOCKETS_OPEN.fetch_add(1, Relaxed);
        self.heartbeat(ctx);
        self.subscribe_and_replay(ctx);
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.hub.do_send(Unsubscribe { id: self.id });
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        metrics::SOCKETS_OPEN.fetch_sub(1, Relaxed);
    }
}

impl Handler<ToSocket> for WidgetSocket {
    type Result = ();

    fn handle(&mut self, msg: ToSocket, ctx: &mut Self::Context) {
        match msg {
            ToSocket::Frame {
                seq,
                text,
                published,
            } => {
                // Already sent during replay.
                if seq <= self.last_sent {
                    return;
                }
                self.last_sent = seq;
                ctx.text(text);
                metrics::FRAMES_DELIVERED.fetch_add(1, Relaxed);
                metrics::PUBLISH_TO_SEND.observe(published.elapsed());
            }
            ToSocket::Close { code, reason } => self.close(ctx, code, reason),
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WidgetSocket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let Ok(msg) = msg else {
            ctx.stop();
            return;
        };
        self.last_heard = Instant::now();
        match msg {
            ws::Message::Ping(bytes) => ctx.pong(&bytes),
            ws::Message::Text(_) | ws::Message::Binary(_) => self.check_session(ctx),
            ws::Message::Pong(_) => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Continuation(_) => ctx.stop(),
            ws::Message::Nop => {}
        }
    }
}
