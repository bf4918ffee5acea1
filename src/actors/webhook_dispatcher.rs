//! WebhookDispatcher: makes the attempts. It claims due deliveries with a lease, POSTs each signed
//! envelope, records the attempt and the next step, and disables endpoints that are gone or have
//! failed for five days.
//!
//! It owns the outgoing HTTP client and a count of attempts in flight, bounded by the configured
//! concurrency; everything else lives in the database (see `crate::webhooks` for leases and the
//! ordering rule). It must never follow a redirect, never connect to an address the SSRF rule
//! refuses (its client resolves names through `GuardedResolver`, and every URL is checked again
//! before each attempt), never send a webhook it cannot sign, and never block its mailbox on the
//! network: attempts run as spawned futures and report back.

use super::outbox_relay::OutboxSignal;
use crate::db::events::{self, Event, NewEvent};
use crate::db::webhooks::{self as store, AttemptRecord, Delivery, Endpoint, Next};
use crate::db::{Db, now_ms};
use crate::webhooks::schedule::{self, DISABLE_AFTER};
use crate::webhooks::signing::signature_header;
use crate::webhooks::target::GuardedResolver;
use crate::webhooks::{ENDPOINT_DISABLED, WebhookContext, WebhookUrl, signing_secrets};
use crate::wire::webhooks::{EndpointDisabledEvent, Envelope, WebhookEndpointJson};
use actix::prelude::*;
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Safety-net poll: retries coming due, leases running out, work from other nodes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// At most this much of a response body is kept.
pub const SNIPPET_BYTES: usize = 1024;

/// "Look for due deliveries now."
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct DispatchNow;

/// What one [`WebhookDispatcher::try_run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub attempted: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// A claimed delivery with what it takes to send it.
struct Job {
    delivery: Delivery,
    endpoint: Endpoint,
    event: Option<Event>,
}

/// How an attempt ended.
struct Finished {
    succeeded: bool,
    /// When the next attempt is due, if one is scheduled.
    retry_in: Option<Duration>,
    /// The next delivery of the same endpoint and organization, already claimed (see
    /// `store::lease_next_in_order`).
    next: Option<Job>,
}

/// Whether finishing an attempt may claim the next delivery of its endpoint and organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    Next,
    Stop,
}

struct Core {
    db: Db,
    http: reqwest::Client,
    node: String,
    ctx: WebhookContext,
    concurrency: usize,
    outbox: Option<OutboxSignal>,
}

pub struct WebhookDispatcher {
    core: Arc<Core>,
    in_flight: usize,
    claiming: bool,
    again: bool,
}

impl WebhookDispatcher {
    /// A dispatcher with its own node identity (what `leased_by` records).
    pub fn new(
        db: Db,
        ctx: WebhookContext,
        concurrency: usize,
        outbox: Option<OutboxSignal>,
    ) -> anyhow::Result<Self> {
        let timing = ctx.timing;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timing.request_timeout())
            .connect_timeout(timing.request_timeout().min(Duration::from_secs(10)))
            .no_proxy()
            .dns_resolver(GuardedResolver::new(ctx.allow.clone()))
            .user_agent(concat!("Portal-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(concurrency.max(1))
            .build()?;
        Ok(Self {
            core: Arc::new(Core {
                db,
                http,
                node: format!("node_{}", crate::crypto::random_token(9)),
                ctx,
                concurrency: concurrency.max(1),
                outbox,
            }),
            in_flight: 0,
            claiming: false,
            again: false,
        })
    }

    pub fn node_id(&self) -> &str {
        &self.core.node
    }

    /// One pass for tests and tools: claim as many due deliveries as the concurrency allows, make
    /// those attempts side by side, record them, and report.
    pub async fn try_run_once(&self) -> anyhow::Result<Outcome> {
        let jobs = self.core.claim(self.core.concurrency).await?;
        let results = join_all(
            jobs.into_iter()
                .map(|job| self.core.attempt(job, Chain::Stop)),
        )
        .await;
        let mut outcome = Outcome::default();
        for finished in results {
            outcome.attempted += 1;
            if finished.succeeded {
                outcome.succeeded += 1;
            } else {
                outcome.failed += 1;
            }
        }
        Ok(outcome)
    }

    /// Claims what the free slots allow and spawns the attempts; each finished attempt frees its
    /// slot and looks again (the next delivery of its organization may now be due).
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.claiming {
            self.again = true;
            return;
        }
        let free = self.core.concurrency.saturating_sub(self.in_flight);
        if free == 0 {
            return;
        }
        self.claiming = true;
        let core = self.core.clone();
        ctx.spawn(
            off_actor(async move { core.claim(free).await })
                .into_actor(self)
                .map(move |claimed, dispatcher, ctx| {
                    dispatcher.claiming = false;
                    match claimed {
                        Ok(jobs) => {
                            dispatcher.again |= jobs.len() == free;
                            dispatcher.in_flight += jobs.len();
                            for job in jobs {
                                dispatcher.spawn_attempt(job, ctx);
                            }
                        }
                        Err(err) => tracing::warn!(
                            error = %format!("{err:#}"),
                            "claiming webhook deliveries failed; will retry"
                        ),
                    }
                    if std::mem::take(&mut dispatcher.again) {
                        ctx.notify(DispatchNow);
                    }
                }),
        );
    }

    /// Runs one attempt in its slot. When it hands over the next delivery of its endpoint and
    /// organization, that one runs in the same slot; otherwise the slot is freed and the
    /// dispatcher looks for more.
    fn spawn_attempt(&mut self, job: Job, ctx: &mut Context<Self>) {
        let core = self.core.clone();
        let attempt = off_actor(async move { Ok(core.attempt(job, Chain::Next).await) });
        ctx.spawn(attempt.into_actor(self).map(
            |finished: anyhow::Result<Finished>, dispatcher, ctx| {
                let next = match finished {
                    Ok(finished) => {
                        if let Some(delay) = finished.retry_in
                            && delay < POLL_INTERVAL
                        {
                            ctx.run_later(delay, |_, ctx| ctx.notify(DispatchNow));
                        }
                        finished.next
                    }
                    Err(_) => None,
                };
                match next {
                    Some(job) => dispatcher.spawn_attempt(job, ctx),
                    None => {
                        dispatcher.in_flight -= 1;
                        ctx.notify(DispatchNow);
                    }
                }
            },
        ));
    }
}

impl Actor for WebhookDispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |_, ctx| ctx.notify(DispatchNow));
        ctx.notify(DispatchNow);
    }
}

impl Handler<DispatchNow> for WebhookDispatcher {
    type Result = ();

    fn handle(&mut self, _: DispatchNow, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Core {
    /// Claims up to `limit` due deliveries and loads their endpoints and events.
    async fn claim(&self, limit: usize) -> anyhow::Result<Vec<Job>> {
        let now = now_ms();
        let lease_until = now + self.ctx.timing.lease().as_millis() as i64;
        let tx = self.db.begin_write().await?;
        let claimed = store::lease_due(&tx, &self.node, now, lease_until, limit as u64).await?;
        tx.commit().await?;
        self.load_jobs(claimed).await
    }

    /// The endpoints and events of claimed deliveries.
    async fn load_jobs(&self, claimed: Vec<Delivery>) -> anyhow::Result<Vec<Job>> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.db.conn();
        let endpoints = store::endpoints_by_id(
            conn,
            claimed.iter().map(|d| d.endpoint_id.clone()).collect(),
        )
        .await?;
        let events =
            store::events_by_id(conn, claimed.iter().map(|d| d.event_id.clone()).collect()).await?;
        Ok(claimed
            .into_iter()
            .filter_map(|delivery| {
                // An endpoint deleted since the claim takes its deliveries with it.
                let endpoint = endpoints.get(&delivery.endpoint_id).cloned()?;
                // Several endpoints' deliveries of one event share it.
                let event = events.get(&delivery.event_id).cloned();
                Some(Job {
                    delivery,
                    endpoint,
                    event,
                })
            })
            .collect())
    }

    /// Makes one attempt and records it. Never fails: a database error is logged and the lease
    /// left to run out, after which the delivery is tried again.
    async fn attempt(&self, job: Job, chain: Chain) -> Finished {
        let sent = self.send(&job).await;
        match self.record(&job, sent, chain).await {
            Ok(finished) => finished,
            Err(err) => {
                // An endpoint deleted mid-attempt takes its deliveries along: nothing to record.
                if !matches!(
                    store::delivery_exists(self.db.conn(), &job.delivery.id).await,
                    Ok(false)
                ) {
                    tracing::warn!(
                        delivery = %job.delivery.id,
                        error = %format!("{err:#}"),
                        "failed to record a webhook attempt; the lease will run out and it is retried"
                    );
                }
                Finished {
                    succeeded: false,
                    retry_in: None,
                    next: None,
                }
            }
        }
    }

    async fn send(&self, job: &Job) -> Sent {
        let attempted_at = now_ms();
        let started = Instant::now();
        let mut sent = Sent {
            attempted_at,
            status: None,
            retry_after: None,
            snippet: None,
            error: None,
            latency: Duration::ZERO,
        };
        let Some(event) = &job.event else {
            sent.error = Some("the event no longer exists in the outbox".into());
            return sent;
        };
        // Checked again on every attempt: the allow list may have changed since the URL was set,
        // and literal addresses do not pass through the resolver.
        let url = match WebhookUrl::parse(&job.endpoint.url, &self.ctx.allow) {
            Ok(url) => url,
            Err(err) => {
                sent.error = Some(format!("refused: {err}"));
                return sent;
            }
        };
        let secrets = match signing_secrets(&self.ctx.key, &job.endpoint, attempted_at) {
            Ok(secrets) => secrets,
            Err(err) => {
                sent.error = Some(format!(
                    "not sent: cannot unseal the signing secret: {err:#}"
                ));
                return sent;
            }
        };
        let body = Envelope::from(event).to_body();
        let timestamp = attempted_at.div_euclid(1000);
        let signature = signature_header(
            &secrets.iter().collect::<Vec<_>>(),
            &event.id,
            timestamp,
            &body,
        );
        let response = self
            .http
            .post(url.as_url().clone())
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(mut res) => {
                let status = res.status();
                sent.status = Some(status.as_u16());
                sent.retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| schedule::parse_retry_after(v, chrono::Utc::now()));
                if status.is_redirection() {
                    sent.error = Some(format!(
                        "redirect not followed ({status}); point the endpoint at the final URL"
                    ));
                }
                let mut buf = Vec::new();
                while buf.len() < SNIPPET_BYTES {
                    match res.chunk().await {
                        Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                sent.snippet = Some(snippet(&buf));
            }
            Err(err) => sent.error = Some(error_chain(&err)),
        }
        sent.latency = started.elapsed();
        sent
    }

    /// Writes the attempt and the delivery's next step in one transaction, with the endpoint's
    /// health (and, when it is disabled, the event that says so, as the last statement).
    async fn record(&self, job: &Job, sent: Sent, chain: Chain) -> anyhow::Result<Finished> {
        let timing = self.ctx.timing;
        let now = sent.attempted_at;
        let succeeded = sent.status.is_some_and(|s| (200..300).contains(&s));
        let gone = sent.status == Some(410);
        let attempts_done = u32::try_from(job.delivery.attempts).unwrap_or(0) + 1;
        let throttled = matches!(sent.status, Some(429 | 503));
        let retry_in = if succeeded || job.event.is_none() {
            None
        } else if let (true, Some(after)) = (throttled, sent.retry_after) {
            (attempts_done < timing.max_attempts()).then_some(after)
        } else {
            timing.delay(attempts_done + 1, schedule::unit_random())
        };
        let next = match (succeeded, retry_in) {
            (true, _) => Next::Succeeded,
            (false, Some(delay)) => Next::RetryAt(now + delay.as_millis() as i64),
            (false, None) => Next::GaveUp,
        };
        let rec = AttemptRecord {
            delivery_id: job.delivery.id.clone(),
            attempted_at: now,
            status_code: sent.status.map(i32::from),
            latency_ms: i32::try_from(sent.latency.as_millis()).unwrap_or(i32::MAX),
            response_snippet: sent.snippet,
            error: sent.error,
        };
        let tx = self.db.begin_write().await?;
        store::insert_attempt(&tx, &rec).await?;
        let held = store::finish_attempt(&tx, &rec, &self.node, next).await?;
        let mut published = Vec::new();
        let mut disable = None;
        if held && succeeded {
            store::mark_endpoint_healthy(&tx, &job.endpoint.id).await?;
        } else if held {
            let since = store::mark_endpoint_failing(&tx, &job.endpoint.id, now).await?;
            disable = if gone {
                Some("The endpoint answered 410 Gone.")
            } else if since.is_some_and(|s| now - s >= DISABLE_AFTER.as_millis() as i64) {
                Some("Every attempt failed for five days.")
            } else {
                None
            };
        }
        // This delivery no longer holds its organization's next one back: claim that one now, in
        // this transaction, so a backlog drains in order without a claim query per delivery.
        let chained = if held
            && chain == Chain::Next
            && disable.is_none()
            && !job.delivery.replayed
            && !matches!(next, Next::RetryAt(_))
        {
            let lease_until = now_ms() + timing.lease().as_millis() as i64;
            store::lease_next_in_order(&tx, &job.delivery, &self.node, now_ms(), lease_until)
                .await?
        } else {
            None
        };
        if let Some(reason) = disable
            && let Some(endpoint) =
                store::disable_endpoint(&tx, &job.endpoint.id, reason, now).await?
        {
            tracing::warn!(endpoint = %endpoint.id, reason, "webhook endpoint disabled");
            let data = serde_json::to_value(EndpointDisabledEvent {
                endpoint: WebhookEndpointJson::from(&endpoint),
                reason: reason.into(),
            })?;
            published = events::append(
                &tx,
                vec![NewEvent {
                    event_type: ENDPOINT_DISABLED,
                    organization_id: None,
                    user_id: None,
                    data,
                }],
            )
            .await?;
        }
        tx.commit().await?;
        if let Some(outbox) = &self.outbox {
            outbox.committed_events(&published);
        }
        self.ctx.feed.publish(&job.endpoint.id, &job.delivery.id);
        let next = match chained {
            // The attempt is recorded whatever happens here; a next delivery that cannot be
            // loaded keeps its lease until it runs out, then any node takes it.
            Some(delivery) => match self.load_jobs(vec![delivery]).await {
                Ok(mut jobs) => jobs.pop(),
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "failed to load the next webhook delivery");
                    None
                }
            },
            None => None,
        };
        Ok(Finished {
            succeeded,
            retry_in: if held { retry_in } else { None },
            next,
        })
    }
}

/// Runs `work` as a task of the runtime rather than of the actor's arbiter. The work holds
/// database connections, which must be released inside a runtime: runtime tasks are dropped inside
/// it at shutdown, arbiter-local ones are not. The actor only awaits the result.
pub(crate) async fn off_actor<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| anyhow::anyhow!("webhook worker task ended: {e}"))?
}

/// What happened on the wire.
struct Sent {
    attempted_at: i64,
    status: Option<u16>,
    retry_after: Option<Duration>,
    snippet: Option<String>,
    error: Option<String>,
    latency: Duration,
}

/// The first KiB of a body as text, cut on a character boundary.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SNIPPET_BYTES)]);
    let mut end = text.len().min(SNIPPET_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// An error with its causes, as the delivery log shows it ("error sending request: … : refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    let joined = parts.join(": ");
    let mut end = joined.len().min(2000);
    while !joined.is_char_boundary(end) {
        end -= 1;
    }
    joined[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_at_most_a_kibibyte_of_text() {
        assert_eq!(snippet(b"ok"), "ok");
        assert_eq!(snippet(&[b'a'; 5000]).len(), SNIPPET_BYTES);
        let mut body = vec![b'a'; 1023];
        body.extend_from_slice("é".as_bytes());
        let s = snippet(&body);
        assert!(s.len() <= SNIPPET_BYTES && s.starts_with("aaa"));
        assert!(snippet(&[0xff, 0xfe]).contains('\u{fffd}'));
    }
}
