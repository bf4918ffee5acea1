//! KeyManager: the background worker of signing-key rotation.
//!
//! Every [`RELOAD_INTERVAL`](crate::keys::RELOAD_INTERVAL) it promotes a `next` key whose publish
//! delay has passed, deletes retired keys nobody can need, and reloads this node's [`KeyStore`] so
//! a rotation started on any node (or by `portal keys rotate`) reaches every node. It owns no state
//! but its timer: the keys live in the database and the store. It never generates keys (the
//! `rotate` command does) and never blocks requests: signing reads the store's current snapshot.

use crate::db::{self, Db};
use crate::keys::{self, KeyStore, Maintenance};
use actix::prelude::*;

pub struct KeyManager {
    db: Db,
    keys: KeyStore,
}

impl KeyManager {
    pub fn new(db: Db, keys: KeyStore) -> Self {
        Self { db, keys }
    }

    /// One pass at `now`: promote, prune, reload. Tests call it with a `now` of their choosing.
    pub async fn try_run_once(db: &Db, store: &KeyStore, now: i64) -> anyhow::Result<Maintenance> {
        let outcome = keys::maintain(db, now).await?;
        store.reload(db).await?;
        Ok(outcome)
    }
}

impl Actor for KeyManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(keys::RELOAD_INTERVAL, |actor, ctx| {
            let (db, store) = (actor.db.clone(), actor.keys.clone());
            ctx.spawn(
                async move {
                    if let Err(err) = Self::try_run_once(&db, &store, db::now_ms()).await {
                        tracing::warn!(
                            error = format!("{err:#}"),
                            "signing key maintenance failed"
                        );
                    }
                }
                .into_actor(actor),
            );
        });
    }
}
