//! PgWakeListener: on PostgreSQL, a dedicated connection that `LISTEN`s on the `portal_events`
//! channel and wakes the [`OutboxRelay`](super::outbox_relay::OutboxRelay) with the sequence each
//! notification carries, so another node's commit reaches this node's sockets at once instead of at
//! the next safety poll.
//!
//! It owns that connection and nothing else. A notification is only a wake-up: the relay still reads
//! the outbox, which is the truth. When the connection drops, notifications sent meanwhile are lost,
//! so after every reconnect it wakes the relay without a sequence (read whatever is new). It never
//! touches the outbox itself.

use super::outbox_relay::Wake;
use crate::db::events::NOTIFY_CHANNEL;
use actix::prelude::*;
use sea_orm::sqlx::postgres::PgListener;
use std::time::Duration;

/// Wait before retrying after the database refused the listening connection.
const RETRY: Duration = Duration::from_secs(1);

pub struct PgWakeListener {
    url: String,
    relay: Recipient<Wake>,
}

impl PgWakeListener {
    pub fn new(url: String, relay: Recipient<Wake>) -> Self {
        Self { url, relay }
    }
}

impl Actor for PgWakeListener {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        // A plain tokio task, not one on the actor's local set: sqlx's listener spawns its clean-up
        // when dropped, which needs the runtime still entered (it is while tokio shuts tasks down).
        tokio::spawn(listen(self.url.clone(), self.relay.clone()));
    }
}

/// Listens until the relay is gone (the node is stopping).
async fn listen(url: String, relay: Recipient<Wake>) {
    while relay.connected() {
        let mut listener = match PgListener::connect(&url).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the notification connection; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        tracing::debug!(
            channel = NOTIFY_CHANNEL,
            "listening for commits of other nodes"
        );
        // Anything committed while not listening is read now.
        relay.do_send(Wake { seq: None });
        let failed = loop {
            if !relay.connected() {
                return;
            }
            match listener.try_recv().await {
                Ok(Some(note)) => relay.do_send(Wake {
                    seq: note.payload().trim().parse().ok(),
                }),
                // The connection was lost. Reconnect here rather than in the next `try_recv`, so
                // the catch-up wake-up above is always sent once LISTEN is in place again.
                Ok(None) => {
                    tracing::info!("notification connection lost; reconnecting");
                    break false;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "notification connection failed; reconnecting");
                    break true;
                }
            }
        };
        drop(listener);
        if failed {
            tokio::time::sleep(RETRY).await;
        }
    }
}
