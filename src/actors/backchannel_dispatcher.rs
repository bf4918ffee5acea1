//! BackchannelDispatcher: sends OpenID Connect back-channel logout tokens.
//!
//! Deliveries are rows written in the transaction that ended the session (`crate::sessions`); this
//! actor claims due ones with a lease, signs a fresh logout token for each attempt, POSTs it to the
//! client's `backchannel_logout_uri`, records the attempt and schedules the next one on failure
//! (`crate::oauth::backchannel::Schedule`). It owns the outgoing HTTP client and whether a pass is
//! running; everything else is in the database, so a restarted node resumes what was pending.
//!
//! It must never follow a redirect, never connect to an address the webhook SSRF rule refuses
//! (the same guarded resolver and allow list), and never block its mailbox on the network: a
//! pass runs as a spawned future and reports back.

use crate::db::backchannel::{self as store, AttemptRecord, Delivery};
use crate::db::{self, Db};
use crate::keys::KeyStore;
use crate::oauth::backchannel::{Schedule, logout_token};
use crate::webhooks::target::{AllowList, GuardedResolver};
use crate::webhooks::{WebhookUrl, schedule::unit_random};
use actix::prelude::*;
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Safety-net poll: retries coming due, leases running out, work queued by other nodes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Deliveries claimed per pass.
const BATCH: u64 = 16;

/// "Look for due deliveries now."
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct DispatchNow;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub attempted: usize,
    pub succeeded: usize,
}

struct Core {
    db: Db,
    keys: KeyStore,
    issuer: String,
    http: reqwest::Client,
    allow: Arc<AllowList>,
    schedule: Schedule,
}

pub struct BackchannelDispatcher {
    core: Arc<Core>,
    running: bool,
    again: bool,
}

impl BackchannelDispatcher {
    pub fn new(
        db: Db,
        keys: KeyStore,
        issuer: String,
        allow: Arc<AllowList>,
        schedule: Schedule,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(schedule.request_timeout())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(allow.clone()))
            .user_agent(concat!("Portal-Logout/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            core: Arc::new(Core {
                db,
                keys,
                issuer,
                http,
                allow,
                schedule,
            }),
            running: false,
            again: false,
        })
    }

    /// One pass, for tests and tools: claim what is due, attempt it, record it.
    pub async fn try_run_once(&self) -> anyhow::Result<Outcome> {
        self.core.run_once().await
    }
}

impl Core {
    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let lease = i64::try_from(self.schedule.lease().as_millis()).unwrap_or(i64::MAX);
        let claimed = store::claim_due(self.db.conn(), db::now_ms(), lease, BATCH).await?;
        let results = join_all(claimed.iter().map(|d| self.attempt(d))).await;
        let mut outcome = Outcome::default();
        for result in results {
            outcome.attempted += 1;
            match result {
                Ok(true) => outcome.succeeded += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "back-channel logout attempt not recorded"),
            }
        }
        Ok(outcome)
    }

    /// Makes one attempt and records it. Returns whether it succeeded.
    async fn attempt(&self, delivery: &Delivery) -> anyhow::Result<bool> {
        let conn = self.db.conn();
        let client = db::clients::find(conn, &delivery.client_id).await?;
        let uri = client.and_then(|c| c.backchannel_logout_uri);
        let started = Instant::now();
        let (status_code, error) = match uri {
            None => (
                None,
                Some("the client no longer has a backchannel_logout_uri".into()),
            ),
            Some(uri) => self.post(&uri, delivery).await,
        };
        let succeeded = status_code.is_some_and(|s| (200..300).contains(&s));
        let attempts_made = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
        let retry_at = if succeeded {
            None
        } else {
            self.schedule
                .delay_after(attempts_made, unit_random())
                .map(|d| db::now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        };
        let record = AttemptRecord {
            status_code,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            error,
            succeeded,
            retry_at,
        };
        store::record_attempt(conn, delivery, &record).await?;
        if succeeded {
            tracing::info!(client = delivery.client_id, "back-channel logout delivered");
        } else {
            tracing::info!(
                client = delivery.client_id,
                attempts = attempts_made,
                status = ?record.status_code,
                error = ?record.error,
                gives_up = retry_at.is_none(),
                "back-channel logout attempt failed"
            );
        }
        Ok(succeeded)
    }

    async fn post(&self, uri: &str, delivery: &Delivery) -> (Option<u16>, Option<String>) {
        if let Err(e) = WebhookUrl::parse(uri, &self.allow) {
            return (None, Some(format!("refused address: {e}")));
        }
        let token = match logout_token(
            &self.keys,
            &self.issuer,
            &delivery.client_id,
            &delivery.user_id,
            &delivery.session_id,
            chrono::Utc::now().timestamp(),
        ) {
            Ok(t) => t,
            Err(e) => return (None, Some(format!("could not sign: {e}"))),
        };
        match self
            .http
            .post(uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
        {
            Ok(res) => {
                let status = res.status().as_u16();
                let error =
                    (!res.status().is_success()).then(|| format!("the receiver answered {status}"));
                (Some(status), error)
            }
            Err(e) if e.is_timeout() => (None, Some("timed out".into())),
            Err(e) => (None, Some(format!("could not connect: {e}"))),
        }
    }
}

impl Actor for BackchannelDispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |_, ctx| ctx.notify(DispatchNow));
        ctx.notify(DispatchNow);
    }
}

/// A pass finished; `more` when it claimed a full batch (there may be more due).
#[derive(Message)]
#[rtype(result = "()")]
struct PassDone {
    more: bool,
}

impl Handler<DispatchNow> for BackchannelDispatcher {
    type Result = ();

    fn handle(&mut self, _: DispatchNow, ctx: &mut Self::Context) {
        if self.running {
            self.again = true;
            return;
        }
        self.running = true;
        let core = self.core.clone();
        let me = ctx.address();
        actix::spawn(async move {
            let more = match core.run_once().await {
                Ok(o) => o.attempted as u64 >= BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "back-channel logout pass failed");
                    false
                }
            };
            me.do_send(PassDone { more });
        });
    }
}

impl Handler<PassDone> for BackchannelDispatcher {
    type Result = ();

    fn handle(&mut self, msg: PassDone, ctx: &mut Self::Context) {
        self.running = false;
        if msg.more || std::mem::take(&mut self.again) {
            ctx.notify(DispatchNow);
        }
    }
}
