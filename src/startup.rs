//! Building and running the server: connect, migrate, seed, load keys, bind, start the actors, serve.

use crate::actors::backchannel_dispatcher::BackchannelDispatcher;
use crate::actors::domain_verifier::DomainVerifier;
use crate::actors::event_hub::EventHub;
use crate::actors::key_manager::KeyManager;
use crate::actors::mailer::Mailer;
use crate::actors::org_registry::OrgRegistry;
use crate::actors::outbox_relay::{Listen, OutboxRelay, OutboxSignal};
use crate::actors::outbox_retention::OutboxRetention;
use crate::actors::pg_listener::PgWakeListener;
use crate::actors::session_reaper::SessionReaper;
use crate::actors::webhook_dispatcher::WebhookDispatcher;
use crate::actors::webhook_fanout::WebhookFanout;
use crate::config::Settings;
use crate::crypto::{self, HmacKey};
use crate::db::{self, Db};
use crate::demo::{self, DemoCredentials};
use crate::handlers::{self, demo::DemoApp};
use crate::keys::KeyStore;
use crate::sealing::DataKey;
use crate::sessions::SessionEnder;
use crate::state::AppState;
use crate::webhooks::{AllowList, Timing, WebhookContext};
use actix::Actor;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub struct Application {
    port: u16,
    public_url: Url,
    server: Server,
    state: AppState,
    demo: Option<DemoCredentials>,
}

/// Security headers on every response. Styles and scripts come only from Portal itself; images may
/// come from https (logos are URLs the integrator configures).
const CSP: &str = "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

impl Application {
    /// Everything up to a bound, ready server. Steps are ordered: the schema before any query, the
    /// built-in roles before the demo seed, keys before the first request, the relay after the hub it
    /// feeds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let url = settings.effective_database_url();
        let db = Db::connect(&url).await?;
        tracing::info!(database = %db::redact(&url), "connected to the database");

        db.migrate_up().await?;
        tracing::info!("database schema is up to date");

        db::environment::ensure_default(db.conn()).await?;
        db::roles::seed_builtin(db.conn()).await?;

        let cookie_key = db::secrets::get_or_create(db.conn(), "cookie_key", || {
            STANDARD.encode(crypto::random_bytes(64))
        })
        .await?;
        let cookie_key = HmacKey::new(
            &STANDARD
                .decode(cookie_key)
                .context("stored cookie key is not base64")?,
        );
        // A key rotated while no node ran is promoted before the first token is signed.
        crate::keys::maintain(&db, db::now_ms()).await?;
        let keys = KeyStore::load(&db).await?;
        tracing::info!(kid = keys.active().kid(), "token signing key loaded");

        let addr = settings.listen_addr()?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("failed to listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let public_url = settings.public_base(bound);
        tracing::info!(address = %bound, public_url = %public_url, "listening");

        let demo = if settings.demo {
            let credentials = demo::seed(&db, &settings, &public_url).await?;
            tracing::info!("demo data is in place");
            Some(credentials)
        } else {
            None
        };

        let hub = EventHub::new().start();
        let last_seq = db::events::last_seq(db.conn()).await?;
        let relay = OutboxRelay::new(db.clone(), hub.clone(), last_seq).start();
        let outbox = OutboxSignal::new(relay.clone().recipient());
        let orgs = OrgRegistry::new(db.clone(), outbox.clone()).start();
        tracing::info!(from_seq = last_seq, "event hub and outbox relay started");
        // Other nodes' commits arrive as PostgreSQL notifications (a wake-up only; the relay reads
        // the outbox). With SQLite there is one process, and local commits wake the relay directly.
        if db.is_postgres() {
            PgWakeListener::new(url.clone(), relay.clone().recipient()).start();
            tracing::info!(
                channel = db::events::NOTIFY_CHANNEL,
                "listening for other nodes' commits"
            );
        }
        OutboxRetention::new(
            db.clone(),
            Duration::from_secs(settings.events.retention_hours * 3600),
        )
        .start();
        tracing::info!(
            hours = settings.events.retention_hours,
            "outbox retention started"
        );
        let mailer = Mailer::from_settings(&settings)?;
        tracing::info!(transport = mailer.describe(), "mailer started");
        let mailer = mailer.start();
        KeyManager::new(db.clone(), keys.clone()).start();
        tracing::info!("signing key maintenance started");

        // Webhooks: the data key before any secret is sealed or opened; the dispatcher before the
        // fan-out that wakes it; the fan-out's cursor before the fan-out, which then hears of local
        // commits through the relay.
        let webhooks = webhook_context(&db, &settings).await?;
        let dispatcher = WebhookDispatcher::new(
            db.clone(),
            webhooks.clone(),
            settings.webhooks.concurrency,
            Some(outbox.clone()),
        )?
        .start();
        let webhooks = webhooks.with_dispatcher(dispatcher.clone().recipient());
        WebhookFanout::ensure_cursor(&db).await?;
        let fanout = WebhookFanout::new(db.clone(), Some(dispatcher.recipient())).start();
        relay.do_send(Listen(fanout.recipient()));
        tracing::info!("webhook fan-out and dispatcher started");

        // Domain verification: the verifier writes through the org actors, so it starts after the
        // registry; its schedule is in the database, so its first pass resumes what was pending.
        let resolver = crate::domains::dns::TxtResolver::from_settings(&settings.dns)?;
        let domains =
            DomainVerifier::new(db.clone(), orgs.clone(), resolver, settings.dns.concurrency)
                .launch();
        tracing::info!(
            resolver = domains.resolver().describe(),
            "domain verifier started"
        );

        // Sessions: the back-channel dispatcher first (ending a session wakes it), then the reaper,
        // which ends sessions through the same path as every other way a session ends.
        let backchannel = BackchannelDispatcher::new(
            db.clone(),
            keys.clone(),
            public_url.as_str().trim_end_matches('/').to_string(),
            webhooks.allow.clone(),
            crate::oauth::backchannel::Schedule::scaled(settings.webhooks.retry_scale),
        )?
        .start();
        let sessions = SessionEnder::new(db.clone(), outbox.clone(), Some(backchannel.recipient()));
        SessionReaper::new(
            db.clone(),
            sessions.clone(),
            Duration::from_millis(settings.sessions.reap_interval_ms),
        )
        .start();
        tracing::info!("back-channel logout dispatcher and session reaper started");

        let env = db::environment::get(db.conn()).await?;
        let webauthn = crate::passkeys::relying_party(&public_url, &env.name);
        match &webauthn {
            Some(_) => tracing::info!("passkeys enabled"),
            None => tracing::info!("passkeys disabled: the public URL has no domain name"),
        }
        // Invite mail goes through the mailer; its schedule is in the database, so a pass at start
        // sends what was due while no node ran.
        let invites = crate::actors::invite_mailer::InviteMail::start(
            db.clone(),
            mailer.clone(),
            public_url.as_str().to_string(),
        );
        tracing::info!("invite mailer started");

        let state = AppState {
            db: db.clone(),
            settings: settings.clone(),
            public_url: public_url.clone(),
            keys,
            cookie_key,
            hub,
            orgs,
            outbox,
            webhooks,
            mailer,
            domains,
            sessions,
            webauthn,
            invites,
        };
        let demo_app = demo.as_ref().map(|c| {
            web::Data::new(DemoApp {
                client_secret: c.client_secret.clone(),
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
            })
        });
        let data = web::Data::new(state.clone());
        let with_demo = demo.is_some();
        // Custom domains: each host gets the same routes with its own state, whose public URL (the
        // issuer, every link) is on that host. With any configured, other hosts are refused.
        let custom_hosts: Vec<(String, web::Data<AppState>)> = settings
            .custom_domains
            .iter()
            .map(|host| {
                let mut url = public_url.clone();
                let _ = url.set_host(Some(host));
                let _ = url.set_port(None);
                let mut hosted = state.clone();
                hosted.public_url = url;
                (host.clone(), web::Data::new(hosted))
            })
            .collect();
        let known_hosts = web::Data::new(handlers::KnownHosts((!custom_hosts.is_empty()).then(
            || {
                let mut hosts: Vec<String> = custom_hosts.iter().map(|(h, _)| h.clone()).collect();
                hosts.push(public_url.host_str().unwrap_or_default().to_string());
                hosts
            },
        )));
        if !custom_hosts.is_empty() {
            tracing::info!(hosts = ?settings.custom_domains, "serving custom domains; other hosts are refused");
        }
        let public_host = public_url.host_str().unwrap_or_default().to_string();
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(data.clone())
                .app_data(known_hosts.clone())
                .wrap(
                    middleware::DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Content-Security-Policy", CSP)),
                )
                .wrap(middleware::Compress::default());
            for (host, hosted) in &custom_hosts {
                app = app.service(
                    web::scope("")
                        .guard(actix_web::guard::Host(host))
                        .app_data(hosted.clone())
                        .configure(|cfg| handlers::configure(cfg, with_demo)),
                );
            }
            if custom_hosts.is_empty() {
                app = app.configure(|cfg| handlers::configure(cfg, with_demo));
            } else {
                app = app.service(
                    web::scope("")
                        .guard(actix_web::guard::Host(&public_host))
                        .configure(|cfg| handlers::configure(cfg, with_demo)),
                );
            }
            let mut app = app.default_service(web::to(handlers::not_found));
            if let Some(demo_app) = &demo_app {
                app = app.app_data(demo_app.clone());
            }
            app
        })
        .listen(listener)?;
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server.disable_signals().run();
        Ok(Self {
            port: bound.port(),
            public_url,
            server,
            state,
            demo,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn demo_credentials(&self) -> Option<&DemoCredentials> {
        self.demo.as_ref()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The webhook keys and rules from the settings (validated already in `Settings::validate`).
async fn webhook_context(db: &Db, settings: &Settings) -> anyhow::Result<WebhookContext> {
    let key = DataKey::load(db.conn(), settings.encryption_key.as_deref()).await?;
    tracing::info!(
        source = if settings.encryption_key.is_some() {
            "PORTAL_ENCRYPTION_KEY"
        } else {
            "database"
        },
        "data key loaded"
    );
    let allow = AllowList::parse(&settings.webhooks.allow_hosts)
        .map_err(|e| anyhow::anyhow!("PORTAL_WEBHOOK_ALLOW_HOSTS: {e}"))?;
    Ok(WebhookContext::new(
        key,
        Arc::new(allow),
        Timing::scaled(settings.webhooks.retry_scale),
        Duration::from_secs(settings.webhooks.secret_overlap_secs),
    ))
}

/// Installs the process-wide TLS crypto provider (ring) once, for outgoing HTTPS.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
