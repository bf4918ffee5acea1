//! What every handler can reach: the database, keys, the actors, and settings resolved at start-up.

use crate::actors::domain_verifier::DomainChecks;
use crate::actors::event_hub::EventHub;
use crate::actors::mailer::Mailer;
use crate::actors::org::{OrgActor, OrgError};
use crate::actors::org_registry::{self, OrgRegistry};
use crate::actors::outbox_relay::OutboxSignal;
use crate::config::Settings;
use crate::crypto::HmacKey;
use crate::db::Db;
use crate::keys::KeyStore;
use actix::Addr;
use std::sync::Arc;
use url::Url;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// The public base URL; also the OIDC issuer.
    pub public_url: Url,
    pub keys: KeyStore,
    /// Signs CSRF tokens and other values Portal hands to browsers.
    pub cookie_key: HmacKey,
    pub hub: Addr<EventHub>,
    pub orgs: Addr<OrgRegistry>,
    /// Wakes the outbox relay after a local commit.
    pub outbox: OutboxSignal,
    /// Webhook keys, rules and the dispatcher's wake-up.
    pub webhooks: crate::webhooks::WebhookContext,
    /// Sends Portal's mail (SMTP, or `.eml` files without a server).
    pub mailer: Addr<Mailer>,
    /// The domain verifier: wake it, or run a check now.
    pub domains: DomainChecks,
    /// Ends sessions (revoke, back-channel logout, `user.logout`).
    pub sessions: crate::sessions::SessionEnder,
    /// The WebAuthn relying party; `None` when the public URL has no domain name.
    pub webauthn: Option<std::sync::Arc<webauthn_rs::Webauthn>>,
    /// Sends invite mail: wake it after an invite is created or resent.
    pub invites: crate::actors::invite_mailer::InviteMail,
}

impl AppState {
    /// Sends `msg` to an organization's actor and returns its answer (see [`org_registry::ask`]).
    pub async fn ask_org<M, T>(&self, org_id: &str, msg: M) -> Result<T, OrgError>
    where
        M: actix::Message<Result = Result<T, OrgError>> + Send + 'static,
        T: Send + 'static,
        OrgActor: actix::Handler<M>,
    {
        org_registry::ask(&self.orgs, org_id, msg).await
    }

    /// `public_url` joined with an absolute path such as `/oauth/token`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer(), path)
    }

    /// The issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Closes the widget sockets of an ended session on this node (4001). Sessions ended with an
    /// event in `live::SESSION_ENDED_EVENTS` are closed on every node without this.
    pub fn end_session_sockets(&self, session_id: &str) {
        self.hub.do_send(crate::actors::event_hub::EndSession {
            session_id: session_id.to_string(),
        });
    }

    /// Cookies carry `Secure` when Portal is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}
