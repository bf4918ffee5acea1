//! InviteMailer: sends invite mail, and keeps trying until it is sent.
//!
//! It owns no invite state: the schedule is in the `invites` table (`next_send_at`). On each pass it
//! takes the invites whose mail is due, mints each a fresh single-use token (only its hash is
//! stored), claims the send by moving `next_send_at` to the next retry time (so a crash or a
//! second node retries later instead of sending twice at once), renders the branded message and
//! hands it to the [`Mailer`]. A delivered message clears `next_send_at`; a refused one keeps the
//! retry time, with backoff (30 s, 2 min, 10 min, 30 min, then hourly) until the invite expires, so
//! an SMTP outage delays invites and never loses one. It never decides who is invited (the org
//! actor does) and never logs a token or a link.

use super::mailer::{Mailer, SendMail};
use crate::db::invites::{self, Invite};
use crate::db::{self, Db, now_ms};
use crate::domain::EmailAddress;
use crate::views::email::EmailBrand;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// How often due mail is looked for when nothing wakes the mailer.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Invites sent per pass.
const BATCH: u64 = 20;

/// The wait before attempt `n + 1` after `n` attempts.
pub fn backoff_ms(attempts: i32) -> i64 {
    match attempts {
        ..=1 => 30_000,
        2 => 120_000,
        3 => 600_000,
        4 => 1_800_000,
        _ => 3_600_000,
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub sent: usize,
    pub failed: usize,
}

struct Core {
    db: Db,
    mailer: Addr<Mailer>,
    /// The public base URL the links point at.
    base_url: String,
}

pub struct InviteMailer {
    core: Arc<Core>,
    running: bool,
    again: bool,
}

/// The handle kept in `AppState`.
#[derive(Clone)]
pub struct InviteMail {
    core: Arc<Core>,
    addr: Addr<InviteMailer>,
}

impl InviteMail {
    pub fn start(db: Db, mailer: Addr<Mailer>, base_url: String) -> Self {
        let core = Arc::new(Core {
            db,
            mailer,
            base_url,
        });
        let addr = InviteMailer {
            core: core.clone(),
            running: false,
            again: false,
        }
        .start();
        Self { core, addr }
    }

    /// Asks for a pass now (after an invite was created or resent).
    pub fn wake(&self) {
        self.addr.do_send(Wake);
    }

    /// One pass at `now`, for tests that drive the schedule.
    pub async fn try_run_once(&self, now: i64) -> anyhow::Result<Outcome> {
        self.core.try_run_once(now).await
    }
}

impl Core {
    async fn try_run_once(&self, now: i64) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        for invite in invites::due(self.db.conn(), now, BATCH).await? {
            match self.send(&invite, now).await? {
                Some(true) => outcome.sent += 1,
                Some(false) => outcome.failed += 1,
                None => {}
            }
        }
        Ok(outcome)
    }

    /// `None` when another sender claimed it; otherwise whether the mail was delivered.
    async fn send(&self, invite: &Invite, now: i64) -> anyhow::Result<Option<bool>> {
        let conn = self.db.conn();
        let token = crate::crypto::random_token(32);
        let retry_at = (now + backoff_ms(invite.send_attempts + 1)).min(invite.expires_at.max(now));
        // An expired invite is not mailed again unless resent.
        if invite.expires_at <= now {
            invites::stop_sending(conn, &invite.id, "expired before it could be sent").await?;
            return Ok(None);
        }
        if !invites::claim_send(conn, invite, &crate::crypto::token_hash(&token), retry_at).await? {
            return Ok(None);
        }
        let Some(org) = db::orgs::find(conn, &invite.organization_id).await? else {
            return Ok(None);
        };
        let role = db::roles::find(conn, &invite.role_id)
            .await?
            .map_or_else(|| "member".to_string(), |r| r.display_name);
        let inviter = match &invite.invited_by {
            Some(id) => db::users::find(conn, id).await?.map(|u| u.name),
            None => None,
        };
        let env = db::environment::get(conn).await?;
        let brand = EmailBrand {
            name: env.name,
            color: env.primary_color,
            logo_url: org.logo_url.clone().or(env.logo_url),
        };
        let link = format!(
            "{}/a/invite?token={}",
            self.base_url.trim_end_matches('/'),
            token
        );
        let mail = crate::views::email::invite(
            &brand,
            inviter.as_deref(),
            &org.name,
            &role,
            &link,
            invites::TTL_MS / 86_400_000,
        );
        let to = EmailAddress::parse(&invite.email)
            .map_err(|e| anyhow::anyhow!("stored invite address: {e}"))?;
        let result = self
            .mailer
            .send(SendMail {
                to,
                subject: mail.subject,
                text: mail.text,
                html: mail.html,
                link: Some(link),
            })
            .await;
        match result {
            Ok(Ok(())) => {
                invites::record_sent(conn, &invite.id, now_ms()).await?;
                Ok(Some(true))
            }
            Ok(Err(err)) => {
                invites::record_failure(conn, &invite.id, &err.to_string()).await?;
                Ok(Some(false))
            }
            Err(err) => {
                invites::record_failure(conn, &invite.id, &format!("mailer unavailable: {err}"))
                    .await?;
                Ok(Some(false))
            }
        }
    }
}

impl Actor for InviteMailer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |actor, ctx| actor.pass(ctx));
        self.pass(ctx);
    }
}

impl InviteMailer {
    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            self.again = true;
            return;
        }
        self.running = true;
        let core = self.core.clone();
        ctx.spawn(
            async move {
                if let Err(err) = core.try_run_once(now_ms()).await {
                    tracing::warn!(error = format!("{err:#}"), "invite mail pass failed");
                }
            }
            .into_actor(self)
            .map(|_, actor, ctx| {
                actor.running = false;
                if std::mem::take(&mut actor.again) {
                    actor.pass(ctx);
                }
            }),
        );
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Wake;

impl Handler<Wake> for InviteMailer {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        self.pass(ctx);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_hourly() {
        use super::backoff_ms;
        assert_eq!(backoff_ms(1), 30_000);
        assert!(backoff_ms(3) > backoff_ms(2));
        assert_eq!(backoff_ms(9), 3_600_000);
    }
}
