//! `portal bench webhooks`: deliveries per second through the real fan-out and dispatcher to a
//! loopback receiver. Prints one line.

use crate::actors::webhook_dispatcher::WebhookDispatcher;
use crate::actors::webhook_fanout::WebhookFanout;
use crate::db::entities::webhook_delivery;
use crate::db::events::{self, NewEvent};
use crate::db::webhooks::SUCCEEDED;
use crate::db::{self, Db};
use crate::sealing::DataKey;
use crate::webhooks::manage::{self, EndpointInput};
use crate::webhooks::{AllowList, EventTypeFilter, Timing, WebhookContext, WebhookUrl};
use actix::Actor;
use anyhow::Context;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What `portal bench webhooks` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookBench {
    /// Events to deliver.
    #[arg(long, default_value_t = 5000)]
    pub events: u64,
    /// Organizations the events are spread over (deliveries of one organization go in order, one at
    /// a time per endpoint).
    #[arg(long, default_value_t = 16)]
    pub organizations: u64,
    #[arg(long, default_value_t = 1)]
    pub endpoints: u64,
    /// Attempts in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// A PostgreSQL (or SQLite) URL; unset: a scratch SQLite file.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Delivers `events` events (spread over `organizations`, so the per-organization ordering rule
/// allows that many deliveries in flight) to `endpoints` endpoints on a loopback receiver that
/// answers 204, through the real fan-out and dispatcher, and reports deliveries per second from
/// the first fan-out to the last recorded attempt.
pub async fn run(b: WebhookBench) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let scratch =
        std::env::temp_dir().join(format!("portal-bench-{}", crate::crypto::random_token(6)));
    let url = b
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", scratch.join("bench.db").display()));
    let db = Db::connect(&url).await?;
    db.migrate_up().await?;
    db::environment::ensure_default(db.conn()).await?;

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let receiver = actix_web::HttpServer::new(move || {
        let counter = counter.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { actix_web::HttpResponse::NoContent().finish() }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")?;
    let port = receiver.addrs()[0].port();
    let receiver = receiver.disable_signals().run();
    let receiver_handle = receiver.handle();
    actix_web::rt::spawn(receiver);

    let allow = Arc::new(AllowList::parse("127.0.0.1").map_err(anyhow::Error::msg)?);
    let ctx = WebhookContext::new(
        DataKey::from_bytes(&crate::crypto::random_bytes(32))?,
        allow.clone(),
        Timing::default(),
        Duration::from_secs(3600),
    );
    WebhookFanout::ensure_cursor(&db).await?;
    for i in 0..b.endpoints {
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hook/{i}"), &allow)
            .map_err(anyhow::Error::msg)?;
        manage::create(
            &db,
            &ctx,
            EndpointInput {
                url,
                description: format!("bench {i}"),
                event_types: EventTypeFilter::parse(&["bench.*"]).map_err(anyhow::Error::msg)?,
                enabled: true,
            },
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut orgs = Vec::new();
    for i in 0..b.organizations.max(1) {
        let org = db::orgs::create(
            db.conn(),
            db::orgs::NewOrganization {
                name: &format!("Bench {i}"),
                external_id: None,
            },
        )
        .await?;
        orgs.push(org.id);
    }
    let mut written = 0;
    while written < b.events {
        let tx = db.begin_write().await?;
        let n = (b.events - written).min(500);
        let batch = (written..written + n)
            .map(|i| NewEvent {
                event_type: "bench.ping",
                organization_id: Some(orgs[(i as usize) % orgs.len()].clone()),
                user_id: None,
                data: serde_json::json!({ "n": i }),
            })
            .collect();
        events::append(&tx, batch).await?;
        tx.commit().await?;
        written += n;
    }
    let total = b.events * b.endpoints;
    println!(
        "bench webhooks: {} events × {} endpoint(s) over {} organization(s), concurrency {}, {}",
        b.events,
        b.endpoints,
        orgs.len(),
        b.concurrency,
        db::redact(&url).split('?').next().unwrap_or_default()
    );

    let started = Instant::now();
    let dispatcher = WebhookDispatcher::new(db.clone(), ctx, b.concurrency, None)?.start();
    let fanout = WebhookFanout::new(db.clone(), Some(dispatcher.clone().recipient())).start();
    fanout.do_send(crate::actors::outbox_relay::Wake { seq: None });
    let deadline = started + Duration::from_secs(600);
    loop {
        // The receiver's count is free to read; the database is asked only once it is complete
        // (the last attempts may still be recording).
        if received.load(Ordering::Relaxed) < total {
            if Instant::now() > deadline {
                anyhow::bail!("the receiver did not get {total} requests within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let done = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Status.eq(SUCCEEDED))
            .count(db.conn())
            .await
            .context("failed to count deliveries")?;
        if done >= total {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {done} of {total} deliveries succeeded within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "{total} deliveries in {:.2} s: {:.0} deliveries/s ({} requests received)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        received.load(Ordering::Relaxed)
    );
    receiver_handle.stop(false).await;
    db.close().await;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
