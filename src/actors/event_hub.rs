//! EventHub: fans committed events out to the widget sockets entitled to them.
//!
//! It owns the subscription table: for each open socket, who it is (org, user, session, the
//! permissions it was authorized with, the widget it shows) and where to send. Events arrive from the
//! [`OutboxRelay`](super::outbox_relay::OutboxRelay) in sequence order and leave in that order.
//!
//! Re-authorization, from the events alone (so it happens on every node): a membership event for a
//! user changes the permissions of that user's sockets in that organization *before* the event's own
//! frames are delivered, so a demoted admin's next fragment is already rendered for a member. A page
//! whose permissions changed is told to reload (its controls were rendered for the old role); one
//! whose new role cannot open its widget is closed with 4004, a removed member's with 4003, and an
//! ended session's (an event in [`live::SESSION_ENDED_EVENTS`] or an [`EndSession`] message) with
//! 4001, each with a reason the page shows.
//!
//! A socket is authorized at some sequence (`Audience::as_of`) and subscribes a moment later; a
//! membership change published in between would be missed. The hub therefore remembers the latest
//! change per (org, user) and the sessions ended, for the last [`RECENT`] of them, and applies them
//! to a subscriber authorized before they happened; a subscriber older than that memory is asked to
//! reconnect (4009).
//!
//! It must never wait on a socket: pushes use `try_send` into each socket's bounded mailbox, and a
//! socket whose mailbox is full is told to close (it reconnects and resumes from the outbox). It never
//! touches the database.

use crate::db::events::Event;
use crate::domain::PermissionSet;
use crate::live::stream::StreamFilter;
use crate::live::{self, Audience, Frame, MembershipChange, Verdict};
use crate::metrics;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

pub use crate::live::close_codes;

/// How many recent membership changes and ended sessions the hub remembers for late subscribers.
const RECENT: usize = 10_000;

/// What the hub sends a socket.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum ToSocket {
    /// A live frame with its sequence number (the socket drops ones it already replayed) and when
    /// the hub took its event (for the publish-to-send latency).
    Frame {
        seq: i64,
        text: ByteString,
        published: Instant,
    },
    /// Close with a WebSocket close code and a reason the page shows.
    Close { code: u16, reason: &'static str },
}

pub type SocketId = u64;

/// A fresh id for a socket or stream subscribing to the hub.
pub fn next_socket_id() -> SocketId {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT_ID.fetch_add(1, Relaxed)
}

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

/// An integrator stream wants the events `filter` matches, as JSON frames.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeStream {
    pub id: SocketId,
    pub filter: StreamFilter,
    pub socket: Recipient<ToSocket>,
}

/// Committed events, in sequence order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Arc<Vec<Event>>);

/// A session ended (signed out, revoked, expired): close its sockets on this node with 4001.
/// Sessions code that ends a session without writing an event in [`live::SESSION_ENDED_EVENTS`] sends
/// this to `AppState::hub`; with the event, every node's hub does it on its own (prefer the event
/// when other nodes may hold the session's sockets).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct EndSession {
    pub session_id: String,
}

struct Subscription {
    audience: Audience,
    socket: Recipient<ToSocket>,
}

struct StreamSubscription {
    filter: StreamFilter,
    socket: Recipient<ToSocket>,
}

/// (organization, user) of a membership.
type MemberKey = (String, String);

#[derive(Default)]
struct Recent {
    /// The latest change per membership, with its sequence.
    latest: HashMap<MemberKey, (i64, MembershipChange)>,
    order: VecDeque<(i64, MemberKey)>,
    /// Changes at or below this sequence may have been forgotten.
    forgotten_through: i64,
    /// Sessions ended lately (a session never comes back, so no sequence is needed).
    ended_sessions: HashSet<String>,
    ended_order: VecDeque<String>,
}

impl Recent {
    fn end_session(&mut self, session_id: &str) {
        if self.ended_sessions.insert(session_id.to_string()) {
            self.ended_order.push_back(session_id.to_string());
            while self.ended_order.len() > RECENT {
                if let Some(old) = self.ended_order.pop_front() {
                    self.ended_sessions.remove(&old);
                }
            }
        }
    }

    fn record(&mut self, seq: i64, key: MemberKey, change: MembershipChange) {
        self.latest.insert(key.clone(), (seq, change));
        self.order.push_back((seq, key));
        while self.order.len() > RECENT {
            let Some((old_seq, old_key)) = self.order.pop_front() else {
                break;
            };
            if self
                .latest
                .get(&old_key)
                .is_some_and(|(s, _)| *s == old_seq)
            {
                self.latest.remove(&old_key);
            }
            self.forgotten_through = self.forgotten_through.max(old_seq);
        }
    }
}

#[derive(Default)]
pub struct EventHub {
    subs: HashMap<SocketId, Subscription>,
    by_org: HashMap<String, HashSet<SocketId>>,
    by_user: HashMap<String, HashSet<SocketId>>,
    streams: HashMap<SocketId, StreamSubscription>,
    recent: Recent,
}

impl EventHub {
    pub fn new() -> Self {
        Self::default()
    }

    fn remove(&mut self, id: SocketId) {
        self.streams.remove(&id);
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

    fn close(&mut self, id: SocketId, code: u16, reason: &'static str) {
        if let Some(sub) = self.subs.get(&id) {
            sub.socket.do_send(ToSocket::Close { code, reason });
            metrics::SOCKETS_CLOSED_BY_AUTHORIZATION.fetch_add(1, Relaxed);
        }
        self.remove(id);
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

    /// Sends `msg` without waiting; a full mailbox drops the socket as too slow.
    fn push(&mut self, id: SocketId, msg: ToSocket) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        match sub.socket.try_send(msg) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                sub.socket.do_send(ToSocket::Close {
                    code: close_codes::SLOW_CONSUMER,
                    reason: "too slow to keep up; reconnecting",
                });
                metrics::SLOW_CONSUMERS_DROPPED.fetch_add(1, Relaxed);
                self.remove(id);
            }
            Err(SendError::Closed(_)) => self.remove(id),
        }
    }

    /// Sends `event` as JSON to the integrator streams whose filter matches (serialized once).
    fn deliver_to_streams(&mut self, event: &Event, published: Instant) {
        if self.streams.is_empty() {
            return;
        }
        let mut text: Option<ByteString> = None;
        let mut dropped = Vec::new();
        for (id, stream) in &self.streams {
            if !stream.filter.matches(event) {
                continue;
            }
            let text = text
                .get_or_insert_with(|| {
                    ByteString::from(serde_json::to_string(event).unwrap_or_default())
                })
                .clone();
            match stream.socket.try_send(ToSocket::Frame {
                seq: event.seq,
                text,
                published,
            }) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    stream.socket.do_send(ToSocket::Close {
                        code: close_codes::SLOW_CONSUMER,
                        reason: "too slow to keep up; resume from the last seq received",
                    });
                    metrics::SLOW_CONSUMERS_DROPPED.fetch_add(1, Relaxed);
                    dropped.push(*id);
                }
                Err(SendError::Closed(_)) => dropped.push(*id),
            }
        }
        for id in dropped {
            self.streams.remove(&id);
        }
    }

    fn deliver(&mut self, frame: &Frame, published: Instant) {
        let mut rendered: HashMap<PermissionSet, ByteString> = HashMap::new();
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
            self.push(
                id,
                ToSocket::Frame {
                    seq: frame.seq,
                    text,
                    published,
                },
            );
        }
    }

    /// Applies a membership change to the member's sockets in that organization.
    fn reauthorize(
        &mut self,
        event: &Event,
        org_id: &str,
        user_id: &str,
        change: &MembershipChange,
        published: Instant,
    ) {
        let ids: Vec<SocketId> = self
            .by_user
            .get(user_id)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            if !sub.audience.is_member(org_id, user_id) {
                continue;
            }
            match sub.audience.apply(event.seq, change) {
                Verdict::Unchanged => {}
                Verdict::Reload => {
                    let text = ByteString::from(live::reload_json(event.seq, &event.event_type));
                    self.push(
                        id,
                        ToSocket::Frame {
                            seq: event.seq,
                            text,
                            published,
                        },
                    );
                }
                Verdict::Close { code, reason } => self.close(id, code, reason),
            }
        }
    }

    fn end_session(&mut self, session_id: &str) {
        self.recent.end_session(session_id);
        let ids: Vec<SocketId> = self
            .subs
            .iter()
            .filter(|(_, sub)| sub.audience.session_id == session_id)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close(id, close_codes::SESSION_ENDED, live::REASON_SESSION);
        }
    }

    /// Brings a new subscriber up to the changes published since it was authorized. `false` when
    /// it was closed instead.
    fn catch_up(
        &self,
        id: SocketId,
        audience: &mut Audience,
        socket: &Recipient<ToSocket>,
    ) -> bool {
        let close = |code, reason| {
            socket.do_send(ToSocket::Close { code, reason });
            false
        };
        if audience.as_of < self.recent.forgotten_through {
            tracing::debug!(
                socket = id,
                "subscriber older than the hub's memory; reconnect"
            );
            return close(close_codes::RECONNECT, "reconnecting");
        }
        if self.recent.ended_sessions.contains(&audience.session_id) {
            metrics::SOCKETS_CLOSED_BY_AUTHORIZATION.fetch_add(1, Relaxed);
            return close(close_codes::SESSION_ENDED, live::REASON_SESSION);
        }
        let key = (audience.org_id.clone(), audience.user_id.clone());
        if let Some((seq, change)) = self.recent.latest.get(&key) {
            match audience.apply(*seq, change) {
                Verdict::Unchanged => {}
                // Its page was rendered for the old role.
                Verdict::Reload => {
                    socket.do_send(ToSocket::Frame {
                        seq: *seq,
                        text: ByteString::from(live::reload_json(*seq, "portal.reauthorized")),
                        published: Instant::now(),
                    });
                }
                Verdict::Close { code, reason } => {
                    metrics::SOCKETS_CLOSED_BY_AUTHORIZATION.fetch_add(1, Relaxed);
                    return close(code, reason);
                }
            }
        }
        true
    }
}

impl Actor for EventHub {
    // The relay and sockets use `do_send`, which does not wait on the mailbox capacity.
    type Context = Context<Self>;
}

impl Handler<Subscribe> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        let mut audience = msg.audience;
        if !self.catch_up(msg.id, &mut audience, &msg.socket) {
            return;
        }
        self.by_org
            .entry(audience.org_id.clone())
            .or_default()
            .insert(msg.id);
        self.by_user
            .entry(audience.user_id.clone())
            .or_default()
            .insert(msg.id);
        self.subs.insert(
            msg.id,
            Subscription {
                audience,
                socket: msg.socket,
            },
        );
    }
}

impl Handler<SubscribeStream> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: SubscribeStream, _ctx: &mut Self::Context) {
        self.streams.insert(
            msg.id,
            StreamSubscription {
                filter: msg.filter,
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
        let published = Instant::now();
        metrics::EVENTS_PUBLISHED.fetch_add(msg.0.len() as u64, Relaxed);
        for event in msg.0.iter() {
            if let Some((org_id, user_id, change)) = live::membership_change(event) {
                self.reauthorize(event, &org_id, &user_id, &change, published);
                self.recent.record(event.seq, (org_id, user_id), change);
            }
            if let Some(session_id) = live::ended_session(event) {
                self.end_session(&session_id);
            }
            for frame in live::frames_for(event) {
                self.deliver(&frame, published);
            }
            self.deliver_to_streams(event, published);
        }
    }
}

impl Handler<EndSession> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: EndSession, _ctx: &mut Self::Context) {
        self.end_session(&msg.session_id);
    }
}

/// Every widget socket's address, for `portal bench live`'s baseline (a bare broadcast loop that
/// skips the outbox, the relay and the hub's filtering and rendering).
#[derive(Message)]
#[rtype(result = "Vec<Recipient<ToSocket>>")]
pub struct SocketRecipients;

impl Handler<SocketRecipients> for EventHub {
    type Result = MessageResult<SocketRecipients>;

    fn handle(&mut self, _: SocketRecipients, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.subs.values().map(|s| s.socket.clone()).collect())
    }
}

/// How many sockets are subscribed (for health and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscribers;

impl Handler<CountSubscribers> for EventHub {
    type Result = usize;

    fn handle(&mut self, _: CountSubscribers, _ctx: &mut Self::Context) -> usize {
        self.subs.len() + self.streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PermissionSet;
    use crate::live::Widget;
    use std::sync::Mutex;

    /// A socket stand-in that records what the hub sends it.
    struct Probe(Arc<Mutex<Vec<ToSocket>>>);

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<ToSocket> for Probe {
        type Result = ();
        fn handle(&mut self, msg: ToSocket, _: &mut Self::Context) {
            self.0.lock().unwrap().push(msg);
        }
    }

    fn removal(seq: i64) -> Event {
        Event {
            id: format!("evt_{seq}"),
            seq,
            event_type: "user.organization_membership_deleted".into(),
            organization_id: Some("org_1".into()),
            user_id: Some("usr_1".into()),
            occurred_at: String::new(),
            data: serde_json::json!({
                "membership": {
                    "id": "mem_1", "organization_id": "org_1", "user_id": "usr_1",
                    "role": { "name": "member", "display_name": "Member", "permissions": [] },
                    "status": "removed", "created_at": ""
                },
                "user": { "id": "usr_1", "email": "a@b.test", "name": "A" }
            }),
        }
    }

    #[actix::test]
    async fn a_subscriber_authorized_before_a_published_removal_is_closed() {
        let hub = EventHub::new().start();
        hub.send(Publish(Arc::new(vec![removal(5)]))).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probe = Probe(seen.clone()).start();
        let audience = |as_of| Audience {
            org_id: "org_1".into(),
            user_id: "usr_1".into(),
            session_id: "ses_1".into(),
            permissions: PermissionSet::all(),
            widget: Widget::Members,
            as_of,
        };
        // Authorized at 4, subscribing after the hub published 5: closed at once.
        hub.send(Subscribe {
            id: 1,
            audience: audience(4),
            socket: probe.clone().recipient(),
        })
        .await
        .unwrap();
        // Authorized at 5 (the load saw the removal, so this cannot really happen; the hub must
        // not close it for an event already reflected).
        hub.send(Subscribe {
            id: 2,
            audience: audience(5),
            socket: probe.clone().recipient(),
        })
        .await
        .unwrap();
        assert_eq!(hub.send(CountSubscribers).await.unwrap(), 1);
        // Let the probe handle its mailbox.
        probe
            .send(ToSocket::Close {
                code: 0,
                reason: "",
            })
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            matches!(
                seen[0],
                ToSocket::Close {
                    code: close_codes::MEMBERSHIP_ENDED,
                    ..
                }
            ),
            "{seen:?}"
        );
    }
}
