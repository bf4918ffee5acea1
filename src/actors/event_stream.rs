//! EventStream: one integrator connection to `GET /api/v1/events/stream`.
//!
//! It owns its connection: the filter it was opened with, the last sequence it sent and its
//! heartbeat. Life cycle, as the widget socket's: subscribe to the hub (awaited), then replay from
//! the outbox what the client missed after `after_seq` (at most [`REPLAY_LIMIT`] events; past that
//! it sends those and closes with 4008, and the client resumes from the last `seq` it got), then
//! live frames, skipping any already replayed. Frames are the events as JSON, one per text message.
//! A client resuming from before what retention kept is closed with 4010 (use the pull API or
//! start from the current sequence). The mailbox is bounded ([`MAILBOX`]): a client that cannot keep
//! up is closed with 4008 by the hub, and resumes.

use super::event_hub::{EventHub, SubscribeStream, ToSocket, Unsubscribe, close_codes};
use crate::db::{Db, events};
use crate::live::stream::StreamFilter;
use crate::metrics;
use actix::prelude::*;
use actix_web_actors::ws;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
pub const MAILBOX: usize = 1024;
/// Events one connection replays before asking the client to resume.
pub const REPLAY_LIMIT: u64 = 10_000;
/// The client asked to resume from before the oldest event retention kept.
pub const EVENTS_PRUNED: u16 = 4010;

pub struct EventStream {
    id: u64,
    filter: StreamFilter,
    hub: Addr<EventHub>,
    db: Db,
    last_sent: i64,
    last_heard: Instant,
}

impl EventStream {
    pub fn new(filter: StreamFilter, hub: Addr<EventHub>, db: Db, after_seq: i64) -> Self {
        Self {
            id: super::event_hub::next_socket_id(),
            filter,
            hub,
            db,
            last_sent: after_seq,
            last_heard: Instant::now(),
        }
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: String) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(code),
            description: Some(reason),
        }));
        ctx.stop();
    }

    fn subscribe_and_replay(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let subscribe = self.hub.send(SubscribeStream {
            id: self.id,
            filter: self.filter.clone(),
            socket: ctx.address().recipient(),
        });
        let db = self.db.clone();
        let after = self.last_sent;
        let org = self.filter.organization_id.clone();
        let work = async move {
            subscribe
                .await
                .map_err(|e| anyhow::anyhow!("hub unavailable: {e}"))?;
            let missed =
                events::after_in_org(db.conn(), after, org.as_deref(), REPLAY_LIMIT + 1).await?;
            let floor = events::retained_after(db.conn()).await?;
            anyhow::Ok((missed, floor))
        };
        ctx.wait(
            work.into_actor(self)
                .map(|result, stream, ctx| match result {
                    Ok((_, floor)) if stream.last_sent < floor => {
                        metrics::REPLAY_RELOADS.fetch_add(1, Relaxed);
                        stream.close(
                            ctx,
                            EVENTS_PRUNED,
                            format!("events up to seq {floor} are no longer kept"),
                        );
                    }
                    Ok((mut missed, _)) => {
                        let more = missed.len() as u64 > REPLAY_LIMIT;
                        missed.truncate(REPLAY_LIMIT as usize);
                        metrics::REPLAYS.fetch_add(1, Relaxed);
                        for event in &missed {
                            if stream.filter.matches(event) {
                                ctx.text(serde_json::to_string(event).unwrap_or_default());
                                metrics::FRAMES_DELIVERED.fetch_add(1, Relaxed);
                                metrics::REPLAYED_EVENTS.fetch_add(1, Relaxed);
                            }
                            stream.last_sent = event.seq;
                        }
                        if more {
                            let last = stream.last_sent;
                            stream.close(
                                ctx,
                                close_codes::SLOW_CONSUMER,
                                format!("more to replay: resume with after_seq={last}"),
                            );
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event stream could not start");
                        ctx.close(Some(ws::CloseCode::Error.into()));
                        ctx.stop();
                    }
                }),
        );
    }
}

impl Actor for EventStream {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        metrics::STREAMS_OPEN.fetch_add(1, Relaxed);
        ctx.run_interval(HEARTBEAT_INTERVAL, |stream, ctx| {
            if stream.last_heard.elapsed() > CLIENT_TIMEOUT {
                stream.close(ctx, 1001, "heartbeat timeout".into());
                return;
            }
            ctx.ping(b"");
        });
        self.subscribe_and_replay(ctx);
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.hub.do_send(Unsubscribe { id: self.id });
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        metrics::STREAMS_OPEN.fetch_sub(1, Relaxed);
    }
}

impl Handler<ToSocket> for EventStream {
    type Result = ();

    fn handle(&mut self, msg: ToSocket, ctx: &mut Self::Context) {
        match msg {
            ToSocket::Frame {
                seq,
                text,
                published,
            } => {
                if seq <= self.last_sent {
                    return;
                }
                self.last_sent = seq;
                ctx.text(text);
                metrics::FRAMES_DELIVERED.fetch_add(1, Relaxed);
                metrics::PUBLISH_TO_SEND.observe(published.elapsed());
            }
            ToSocket::Close { code, reason } => self.close(ctx, code, reason.into()),
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for EventStream {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let Ok(msg) = msg else {
            ctx.stop();
            return;
        };
        self.last_heard = Instant::now();
        match msg {
            ws::Message::Ping(bytes) => ctx.pong(&bytes),
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Continuation(_) => ctx.stop(),
            _ => {}
        }
    }
}
