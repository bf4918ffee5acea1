//! WidgetSocket: one open `/ui/live` WebSocket of a widget page.
//!
//! It owns its connection: the audience it was authorized as, the last sequence it sent and its
//! heartbeat. Life cycle:
//! 1. `started`: subscribe to the hub (awaited, so live frames from here on reach the mailbox), then
//!    replay from the outbox every event after the page's `after` sequence; the actor processes no
//!    other message until the replay is sent.
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
use crate::live::{self, Audience, Wire};
use actix::prelude::*;
use actix_web_actors::ws;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the server pings.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A client silent for this long (no pong, no message) is disconnected.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Frames a socket may have waiting; past this the hub drops it as too slow.
pub const MAILBOX: usize = 256;
/// Events a reconnecting page may catch up on; beyond this it is told to reload.
pub const REPLAY_LIMIT: u64 = 1000;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
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
        let after = self.after;
        let (org_id, user_id) = (self.audience.org_id.clone(), self.audience.user_id.clone());
        let work = async move {
            subscribe
                .await
                .map_err(|e| anyhow::anyhow!("hub unavailable: {e}"))?;
            match after {
                Some(after) => {
                    events::after_for_scope(db.conn(), after, &org_id, &user_id, REPLAY_LIMIT + 1)
                        .await
                }
                None => Ok(Vec::new()),
            }
        };
        ctx.wait(
            work.into_actor(self)
                .map(|result, socket, ctx| match result {
                    Ok(missed) if missed.len() as u64 > REPLAY_LIMIT => {
                        let seq = missed.last().map_or(socket.last_sent, |e| e.seq);
                        socket.last_sent = seq;
                        ctx.text(live::to_json(&Wire {
                            seq,
                            event_type: "portal.reload",
                            op: "reload",
                            list: None,
                            target: None,
                            html: None,
                        }));
                    }
                    Ok(missed) => {
                        for event in &missed {
                            for frame in live::frames_for(event) {
                                if socket.audience.accepts(&frame) {
                                    let key = socket.audience.render_key(&frame);
                                    ctx.text(live::render(&frame, key));
                                }
                            }
                            socket.last_sent = socket.last_sent.max(event.seq);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "widget socket could not start");
                        ctx.close(Some(ws::CloseCode::Error.into()));
                        ctx.stop();
                    }
                }),
        );
    }
}

impl Actor for WidgetSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.heartbeat(ctx);
        self.subscribe_and_replay(ctx);
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.hub.do_send(Unsubscribe { id: self.id });
        Running::Stop
    }
}

impl Handler<ToSocket> for WidgetSocket {
    type Result = ();

    fn handle(&mut self, msg: ToSocket, ctx: &mut Self::Context) {
        match msg {
            ToSocket::Frame { seq, text } => {
                // Already sent during replay.
                if seq <= self.last_sent {
                    return;
                }
                self.last_sent = seq;
                ctx.text(text);
            }
            ToSocket::Close { code, reason } => {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Other(code),
                    description: Some(reason.into()),
                }));
                ctx.stop();
            }
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
