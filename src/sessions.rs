//! Browser sessions as a whole: the policy a session lives by, and ending sessions.
//!
//! Every way a session ends — the user signing out, revoking it from the security page, an admin
//! removing the user from the organization, a password reset, a new sign-in replacing it, or the
//! reaper finding it expired — goes through [`end_in`] in one transaction: the session is revoked,
//! its refresh tokens too, a back-channel logout is queued for each client it signed into that has
//! a `backchannel_logout_uri`, and a `user.logout` event is written to the outbox. After commit the
//! relay carries the event to the hub (which closes the session's widget sockets, close code 4001)
//! and to webhooks, and the back-channel dispatcher is woken.

use crate::actors::backchannel_dispatcher::DispatchNow;
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::sessions::Session;
use crate::db::{self, Conn, Db};
use crate::domain::{OrgSessionPolicy, SessionPolicy};
use crate::wire::UserJson;
use crate::wire::sessions::SessionJson;
use actix::Recipient;

pub const USER_LOGOUT: &str = "user.logout";
pub const USER_LOGIN: &str = "user.login";
pub const SESSION_CREATED: &str = "session.created";

/// Why a session ended; stored as the session's `revoke_reason` and sent in `user.logout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The user signed out (Portal's page or RP-initiated logout).
    Logout,
    /// The user revoked it from the security page (or an integrator through the API).
    Revoked,
    /// A new sign-in in the same browser replaced it.
    Replaced,
    /// An admin removed the user from the session's organization.
    RemovedFromOrganization,
    PasswordReset,
    IdleTimeout,
    AbsoluteTimeout,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Revoked => "revoked",
            EndReason::Replaced => "replaced",
            EndReason::RemovedFromOrganization => "removed_from_organization",
            EndReason::PasswordReset => "password_reset",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::AbsoluteTimeout => "absolute_timeout",
        }
    }
}

/// The application default, from the environment row.
pub async fn app_policy(conn: &impl Conn) -> anyhow::Result<SessionPolicy> {
    let env = db::environment::get(conn).await?;
    Ok(SessionPolicy::from_stored(
        env.session_absolute_minutes,
        env.session_idle_enabled,
        env.session_idle_minutes,
    ))
}

/// An organization's override (empty when it has none or does not exist).
pub async fn org_override(conn: &impl Conn, org_id: &str) -> anyhow::Result<OrgSessionPolicy> {
    Ok(db::orgs::find(conn, org_id)
        .await?
        .map(|o| OrgSessionPolicy {
            absolute_minutes: o.session_absolute_minutes.map(|m| m.max(0) as u32),
            idle_enabled: o.session_idle_enabled,
            idle_minutes: o.session_idle_minutes.map(|m| m.max(0) as u32),
        })
        .unwrap_or_default())
}

/// The policy for a session in `org_id` (the application default outside any organization).
pub async fn policy_for(conn: &impl Conn, org_id: Option<&str>) -> anyhow::Result<SessionPolicy> {
    let app = app_policy(conn).await?;
    match org_id {
        Some(org) => Ok(SessionPolicy::effective(
            &app,
            &org_override(conn, org).await?,
        )),
        None => Ok(app),
    }
}

/// Moves a session into an organization; its deadlines shorten to the organization's policy.
pub async fn enter_org(conn: &impl Conn, session_id: &str, org_id: &str) -> anyhow::Result<()> {
    let policy = policy_for(conn, Some(org_id)).await?;
    db::sessions::set_organization(conn, session_id, org_id, &policy).await
}

/// The `user.logout` / `session.created` payload: `data.user`, `data.user_session`, and the
/// session id at the top for consumers that only need that.
pub async fn session_event(
    conn: &impl Conn,
    event_type: &'static str,
    session: &Session,
) -> anyhow::Result<Option<NewEvent>> {
    let Some(user) = db::users::find(conn, &session.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(NewEvent {
        event_type,
        organization_id: session.organization_id.clone(),
        user_id: Some(session.user_id.clone()),
        data: serde_json::json!({
            "session_id": session.id,
            "user": UserJson::from(&user),
            "user_session": SessionJson::from(session),
        }),
    }))
}

/// Ends `sessions` inside the caller's transaction and returns the events to append (the caller
/// appends them as the last statement, then commits). Sessions already ended are skipped, so two
/// racing ends write one event.
pub async fn end_in(
    tx: &impl Conn,
    sessions: &[Session],
    reason: EndReason,
) -> anyhow::Result<Vec<NewEvent>> {
    let mut out = Vec::new();
    for s in sessions {
        if !db::sessions::revoke(tx, &s.id, reason.as_str()).await? {
            continue;
        }
        db::refresh_tokens::revoke_for_session(tx, &s.id).await?;
        for client_id in db::sessions::clients_of(tx, &s.id).await? {
            let wants = db::clients::find(tx, &client_id)
                .await?
                .is_some_and(|c| c.backchannel_logout_uri.is_some());
            if wants {
                db::backchannel::create(tx, &s.id, &client_id, &s.user_id).await?;
            }
        }
        let Some(ended) = db::sessions::find(tx, &s.id).await? else {
            continue;
        };
        if let Some(event) = session_event(tx, USER_LOGOUT, &ended).await? {
            out.push(event);
        }
    }
    Ok(out)
}

/// What ending sessions needs outside the database: the relay to wake after commit and the
/// back-channel dispatcher.
#[derive(Clone)]
pub struct SessionEnder {
    db: Db,
    outbox: OutboxSignal,
    backchannel: Option<Recipient<DispatchNow>>,
}

impl SessionEnder {
    pub fn new(db: Db, outbox: OutboxSignal, backchannel: Option<Recipient<DispatchNow>>) -> Self {
        Self {
            db,
            outbox,
            backchannel,
        }
    }

    /// Ends `sessions` in one transaction. Returns how many were live.
    pub async fn end(&self, sessions: &[Session], reason: EndReason) -> anyhow::Result<usize> {
        if sessions.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write().await?;
        let new_events = end_in(&tx, sessions, reason).await?;
        let ended = new_events.len();
        let published = events::append(&tx, new_events).await?;
        tx.commit().await?;
        self.after_commit(&published);
        Ok(ended)
    }

    /// Wakes the relay and the back-channel dispatcher after a commit that ended sessions.
    pub fn after_commit(&self, published: &[events::Event]) {
        self.outbox.committed_events(published);
        if let Some(dispatcher) = &self.backchannel
            && !published.is_empty()
        {
            dispatcher.do_send(DispatchNow);
        }
    }

    /// Ends one session by id (any state; an ended one is left alone).
    pub async fn end_by_id(&self, session_id: &str, reason: EndReason) -> anyhow::Result<bool> {
        let Some(session) = db::sessions::find(self.db.conn(), session_id).await? else {
            return Ok(false);
        };
        Ok(self.end(&[session], reason).await? == 1)
    }

    /// Ends every live session of a user, except `keep` when given.
    pub async fn end_all_for_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: EndReason,
    ) -> anyhow::Result<usize> {
        let live = db::sessions::live_for_user(self.db.conn(), user_id, db::now_ms()).await?;
        let others: Vec<Session> = live
            .into_iter()
            .filter(|s| Some(s.id.as_str()) != keep)
            .collect();
        self.end(&others, reason).await
    }
}
