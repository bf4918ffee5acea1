//! DomainVerifier: runs the schedule of domain checks. It finds domains whose `next_check_at` has
//! come, claims each with a short lease (so no two nodes check one domain at once), looks up the
//! TXT record and hands the finding to the domain's organization actor, which applies the rules
//! (`domains::schedule`) and writes the new state with its event.
//!
//! It owns the resolver and a count of checks in flight, bounded by `PORTAL_DNS_CONCURRENCY`. The
//! schedule itself lives in the database, so a restarted node (or any other node) resumes it from
//! `next_check_at`; a check whose node died is taken again once its lease passes. It never writes
//! a domain itself (only the claim, which moves `next_check_at`), never blocks its mailbox on DNS
//! (checks run as spawned tasks and report back) and never sleeps to wait for a check to be due:
//! it polls (schedule steps are minutes apart).

use super::org::{OrgError, RecordCheck};
use super::org_registry::{self, OrgRegistry};
use crate::db::domains::{self as store, Domain};
use crate::db::{Db, now_ms};
use crate::domains::dns::TxtResolver;
use crate::domains::schedule::{self, LEASE};
use crate::domains::{Status, evaluate, record_name};
use actix::prelude::*;
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Duration;

/// How often due checks are looked for; schedule steps are a minute or more apart.
const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What one [`DomainVerifier::try_run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Domains claimed and checked (a failed domain's expiry counts, without a lookup).
    pub checked: usize,
    /// Of those, how many changed status.
    pub changed: usize,
}

/// A domain taken for one check at `now`, held until `lease`.
struct Claim {
    domain: Domain,
    now: i64,
    lease: i64,
}

/// The part shared by the actor, its spawned checks and the handle in `AppState`.
struct Core {
    db: Db,
    orgs: Addr<OrgRegistry>,
    resolver: TxtResolver,
    concurrency: usize,
}

pub struct DomainVerifier {
    core: Arc<Core>,
    in_flight: usize,
    claiming: bool,
    again: bool,
}

impl DomainVerifier {
    pub fn new(db: Db, orgs: Addr<OrgRegistry>, resolver: TxtResolver, concurrency: usize) -> Self {
        Self {
            core: Arc::new(Core {
                db,
                orgs,
                resolver,
                concurrency: concurrency.max(1),
            }),
            in_flight: 0,
            claiming: false,
            again: false,
        }
    }

    /// Starts the actor and returns the handle handlers and tests use.
    pub fn launch(self) -> DomainChecks {
        let core = self.core.clone();
        let addr = self.start();
        DomainChecks { core, addr }
    }

    /// One pass for tests and tools: claims what is due at `now` (as many as the concurrency
    /// allows), checks those side by side as of `now`, and reports.
    pub async fn try_run_once(&self, now: i64) -> anyhow::Result<Outcome> {
        self.core.run_once(now).await
    }

    /// Claims what the free slots allow and spawns the checks; a finished check frees its slot
    /// and looks again.
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
            detached(async move { core.claim_due(now_ms(), free).await })
                .into_actor(self)
                .map(move |claimed, verifier, ctx| {
                    verifier.claiming = false;
                    match claimed {
                        Ok(claimed) => {
                            verifier.again |= claimed.len() == free;
                            verifier.in_flight += claimed.len();
                            for claim in claimed {
                                verifier.spawn_check(claim, ctx);
                            }
                        }
                        Err(err) => tracing::warn!(
                            error = %format!("{err:#}"),
                            "looking for due domain checks failed; will retry"
                        ),
                    }
                    if std::mem::take(&mut verifier.again) {
                        ctx.notify(CheckDue);
                    }
                }),
        );
    }

    fn spawn_check(&mut self, claim: Claim, ctx: &mut Context<Self>) {
        let core = self.core.clone();
        let id = claim.domain.id.clone();
        let check = detached(async move {
            core.check(claim.domain, claim.lease, claim.now, false)
                .await
                .map_err(anyhow::Error::from)
        });
        ctx.spawn(check.into_actor(self).map(move |result, verifier, ctx| {
            if let Err(err) = result {
                tracing::warn!(
                    domain = %id,
                    error = %format!("{err:#}"),
                    "a domain check could not be recorded; it is retried when its lease passes"
                );
            }
            verifier.in_flight -= 1;
            ctx.notify(CheckDue);
        }));
    }
}

impl Actor for DomainVerifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |_, ctx| ctx.notify(CheckDue));
        // Resume at once whatever came due while no node was running.
        ctx.notify(CheckDue);
    }
}

/// "Look for due checks now."
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct CheckDue;

impl Handler<CheckDue> for DomainVerifier {
    type Result = ();

    fn handle(&mut self, _: CheckDue, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

/// Checks one domain of one organization at once ("Check now"), whatever its schedule, and
/// answers with the domain as it is afterwards.
#[derive(Message, Debug)]
#[rtype(result = "Result<Domain, OrgError>")]
pub struct CheckNow {
    pub org_id: String,
    pub domain_id: String,
}

impl Handler<CheckNow> for DomainVerifier {
    type Result = ResponseFuture<Result<Domain, OrgError>>;

    fn handle(&mut self, msg: CheckNow, _ctx: &mut Self::Context) -> Self::Result {
        let core = self.core.clone();
        Box::pin(async move {
            tokio::spawn(async move { core.check_now(&msg.org_id, &msg.domain_id).await })
                .await
                .map_err(|e| OrgError::Internal(anyhow::anyhow!("domain check task ended: {e}")))?
        })
    }
}

/// Stops polling (a node winding down). Checks in flight finish or leave their lease to run out.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for DomainVerifier {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The verifier as handlers and tests reach it.
#[derive(Clone)]
pub struct DomainChecks {
    core: Arc<Core>,
    addr: Addr<DomainVerifier>,
}

impl DomainChecks {
    /// "Check now": one check of the domain, at once.
    pub async fn check_now(&self, org_id: &str, domain_id: &str) -> Result<Domain, OrgError> {
        self.addr
            .send(CheckNow {
                org_id: org_id.into(),
                domain_id: domain_id.into(),
            })
            .await
            .map_err(|e| OrgError::Internal(anyhow::anyhow!("domain verifier unavailable: {e}")))?
    }

    /// See [`DomainVerifier::try_run_once`].
    pub async fn try_run_once(&self, now: i64) -> anyhow::Result<Outcome> {
        self.core.run_once(now).await
    }

    /// Where lookups go, for the start-up log.
    pub fn resolver(&self) -> &TxtResolver {
        &self.core.resolver
    }

    pub fn stop(&self) {
        self.addr.do_send(Stop);
    }
}

impl Core {
    /// Claims up to `limit` domains due at `now`, each with a lease from `now`.
    async fn claim_due(&self, now: i64, limit: usize) -> anyhow::Result<Vec<Claim>> {
        let conn = self.db.conn();
        let lease = now + LEASE;
        let mut claimed = Vec::new();
        for domain in store::due(conn, now, limit as u64).await? {
            if store::claim(conn, &domain.id, domain.next_check_at, lease).await? {
                claimed.push(Claim { domain, now, lease });
            }
        }
        Ok(claimed)
    }

    async fn run_once(&self, now: i64) -> anyhow::Result<Outcome> {
        let claimed = self.claim_due(now, self.concurrency).await?;
        let before: Vec<String> = claimed.iter().map(|c| c.domain.status.clone()).collect();
        let results = join_all(
            claimed
                .into_iter()
                .map(|c| self.check(c.domain, c.lease, c.now, false)),
        )
        .await;
        let mut outcome = Outcome::default();
        for (result, was) in results.into_iter().zip(before) {
            if let Some(after) = result? {
                outcome.checked += 1;
                if after.status != was {
                    outcome.changed += 1;
                }
            }
        }
        Ok(outcome)
    }

    /// Looks the record up (when the domain's state needs it) and has the organization record it.
    async fn check(
        &self,
        domain: Domain,
        lease: i64,
        now: i64,
        manual: bool,
    ) -> Result<Option<Domain>, OrgError> {
        let status = Status::parse(&domain.status).ok_or_else(|| {
            anyhow::anyhow!(
                "domain {} has an unknown status {}",
                domain.id,
                domain.status
            )
        })?;
        let result = if schedule::needs_lookup(status, manual) {
            let name = record_name(&domain.domain);
            let answer = self.resolver.lookup(&name).await;
            Some(evaluate(&answer, &name, &domain.verification_token))
        } else {
            None
        };
        org_registry::ask(
            &self.orgs,
            &domain.organization_id,
            RecordCheck {
                domain_id: domain.id,
                lease,
                result,
                now,
            },
        )
        .await
    }

    async fn check_now(&self, org_id: &str, domain_id: &str) -> Result<Domain, OrgError> {
        let conn = self.db.conn();
        let now = now_ms();
        let domain = store::find_in_org(conn, org_id, domain_id)
            .await?
            .ok_or(OrgError::DomainNotFound)?;
        if domain.status == Status::Expired.as_str() {
            return Err(OrgError::Conflict(format!(
                "The verification of {} expired. Delete the domain and add it again to get a new TXT record.",
                domain.domain
            )));
        }
        let lease = now + LEASE;
        if store::claim(conn, &domain.id, domain.next_check_at, lease).await?
            && let Some(checked) = self.check(domain, lease, now, true).await?
        {
            return Ok(checked);
        }
        // Another check of this domain is running (or just finished): show where it stands.
        store::find_in_org(conn, org_id, domain_id)
            .await?
            .ok_or(OrgError::DomainNotFound)
    }
}

/// Runs `work` as a task of the runtime rather than of the actor's arbiter, so the database
/// connections it holds are released inside the runtime at shutdown; the actor awaits the result.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| anyhow::anyhow!("domain check task ended: {e}"))?
}
