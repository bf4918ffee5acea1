//! EventHub: fans committed events out to the widget sockets entitled to them.
//!
//! It owns the subscription table: for each open socket, who it is (org, user, session, the
//! permissions it was authorized with, the widget it shows) and where to send. Events arrive from the
//! [`OutboxRelay`](super::outbox_relay::OutboxRelay) in sequence order and leave in that order.
//!
//! It must never wait on a socket: pushes use `try_send` into each socket's bounded mailbox, and a
//! socket whose mailbox is full is told to close (it reconnects and resumes from the outbox). It never
//! touches the database.

use crate::db::events::Event;
use crate::domain::PermissionSet;
use crate::live::{self, Audience, Frame};
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the hub sends a socket.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum ToSocket {
    /// A live frame with its sequence number (the socket drops ones it already replayed).
    Frame { seq: i64, text: ByteString },
    /// Close with a WebSocket close code and a reason the page shows.
    Close { code: u16, reason: &'static str },
}

/// Close codes in the private range (RFC 6455 §7.4.2), read by the page script.
pub mod close_codes {
    /// Too slow to keep up: reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The session ended: sign in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// No longer a member of the organization.
    pub const MEMBERSHIP_ENDED: u16 = 4003;
}

pub type SocketId = u64;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: SocketId,
    pub audience: Audience,
    pub socket: Recipient<ToSocket>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub id: SocketId,
}

/// Committed events, in sequence order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Arc<Vec<Event>>);

struct Subscription {
    audience: Audience,
    socket: Recipient<ToSocket>,
}

#[derive(Default)]
pub struct EventHub {
    subs: HashMap<SocketId, Subscription>,
    by_org: HashMap<String, HashSet<SocketId>>,
    by_user: HashMap<String, HashSet<SocketId>>,
}

impl EventHub {
    pub fn new() -> Self {
        Self::default()
    }

    fn remove(&mut self, id: SocketId) {
        if let Some(sub) = self.subs.remove(&id) {
            if let Some(set) = self.by_org.get_mut(&sub.audience.org_id) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_org.remove(&sub.audience.org_id);
                }
            }
            if let Some(set) = self.by_user.get_mut(&sub.audience.user_id) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_user.remove(&sub.audience.user_id);
                }
            }
        }
    }

    /// Sockets that could be in scope for `frame`.
    fn candidates(&self, frame: &Frame) -> Vec<SocketId> {
        let empty = HashSet::new();
        match (&frame.org_id, &frame.user_id) {
            (Some(org), _) => self
                .by_org
                .get(org)
                .unwrap_or(&empty)
                .iter()
                .copied()
                .collect(),
            (None, Some(user)) => self
                .by_user
                .get(user)
                .unwrap_or(&empty)
                .iter()
                .copied()
                .collect(),
            (None, None) => Vec::new(),
        }
    }

    /// Closes every socket of a session with [`close_codes::SESSION_ENDED`].
    fn end_session(&mut self, user_id: &str, session_id: &str) {
        let ids: Vec<SocketId> = self
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                self.subs
                    .get(id)
                    .is_some_and(|s| s.audience.session_id == session_id)
            })
            .collect();
        for id in ids {
            if let Some(sub) = self.subs.get(&id) {
                sub.socket.do_send(ToSocket::Close {
                    code: close_codes::SESSION_ENDED,
                    reason: "signed out",
                });
            }
            self.remove(id);
        }
    }

    fn deliver(&mut self, frame: &Frame) {
        let mut rendered: HashMap<PermissionSet, ByteString> = HashMap::new();
        let mut dropped = Vec::new();
        for id in self.candidates(frame) {
            let Some(sub) = self.subs.get(&id) else {
                continue;
            };
            if !sub.audience.accepts(frame) {
                continue;
            }
            let key = sub.audience.render_key(frame);
            let text = rendered
                .entry(key)
                .or_insert_with(|| live::render(frame, key))
                .clone();
            match sub.socket.try_send(ToSocket::Frame {
                seq: frame.seq,
                text,
            }) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    sub.socket.do_send(ToSocket::Close {
                        code: close_codes::SLOW_CONSUMER,
                        reason: "too slow to keep up; reconnecting",
                    });
                    dropped.push(id);
                }
                Err(SendError::Closed(_)) => dropped.push(id),
            }
        }
        for id in dropped {
            self.remove(id);
        }
    }
}

impl Actor for EventHub {
    // The relay and sockets use `do_send`, which does not wait on the mailbox capacity.
    type Context = Context<Self>;
}

impl Handler<Subscribe> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        self.by_org
            .entry(msg.audience.org_id.clone())
            .or_default()
            .insert(msg.id);
        self.by_user
            .entry(msg.audience.user_id.clone())
            .or_default()
            .insert(msg.id);
        self.subs.insert(
            msg.id,
            Subscription {
                audience: msg.audience,
                socket: msg.socket,
            },
        );
    }
}

impl Handler<Unsubscribe> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Self::Context) {
        self.remove(msg.id);
    }
}

impl Handler<Publish> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Publish, _ctx: &mut Self::Context) {
        for event in msg.0.iter() {
            for frame in live::frames_for(event) {
                self.deliver(&frame);
            }
            // A session ended (on any node): its pages are signed out live.
            if event.event_type == crate::sessions::USER_LOGOUT
                && let (Some(user_id), Some(session_id)) =
                    (event.user_id.as_deref(), event.data["session_id"].as_str())
            {
                self.end_session(user_id, session_id);
            }
        }
    }
}

/// How many sockets are subscribed (for health and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscribers;

impl Handler<CountSubscribers> for EventHub {
    type Result = usize;

    fn handle(&mut self, _: CountSubscribers, _ctx: &mut Self::Context) -> usize {
        self.subs.len()
    }
}
