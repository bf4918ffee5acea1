//! The organization actor's domain messages: adding and deleting domains, recording the
//! verifier's checks, the integrator's verification and the domain-join policy. Each writes its
//! change and its event in one transaction.
//!
//! "A domain is verified by one organization only" is checked here in the transaction and, for
//! two organizations racing on different nodes, enforced by the partial unique index on verified
//! domains (`domains_verified_once`): the loser's write fails and is recorded as a claim refused.

use super::{OrgActor, OrgError};
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::domains::{self as store, Domain, DomainUpdate};
use crate::db::events::{self, NewEvent};
use crate::db::orgs::Organization;
use crate::db::{self, Db};
use crate::domain::{DomainJoinPolicy, DomainName};
use crate::domains::schedule::{self, METHOD_ADMIN, State, Step};
use crate::domains::{CheckKind, CheckResult, Status, new_token};
use crate::wire::OrganizationJson;
use crate::wire::domains::DomainEvent;
use actix::prelude::*;
use sea_orm::{DatabaseTransaction, DbErr};
use std::time::Instant;

/// Adds a domain to verify. Adding one the organization already has changes nothing
/// (`created: false`); asking for it again with another `include_subdomains` is a conflict.
/// Refused when another organization has the domain (or a parent of it, with subdomains) verified.
#[derive(Message, Debug)]
#[rtype(result = "Result<DomainAdded, OrgError>")]
pub struct AddDomain {
    pub domain: DomainName,
    pub include_subdomains: bool,
}

#[derive(Debug)]
pub struct DomainAdded {
    pub domain: Domain,
    pub created: bool,
}

/// Deletes one of the organization's domains.
#[derive(Message, Debug)]
#[rtype(result = "Result<Domain, OrgError>")]
pub struct DeleteDomain {
    pub domain_id: String,
}

/// The integrator vouches for the domain: verified without DNS (`verification_method: admin`) and
/// never re-checked on its own.
#[derive(Message, Debug)]
#[rtype(result = "Result<Domain, OrgError>")]
pub struct MarkVerified {
    pub domain_id: String,
}

/// The verifier's finding for a domain it claimed with `lease` (`result: None` when no lookup was
/// needed, as when a failed domain's token runs out). Answers `None` when the domain is gone or
/// the claim was lost (another node recorded a later check).
#[derive(Message, Debug)]
#[rtype(result = "Result<Option<Domain>, OrgError>")]
pub struct RecordCheck {
    pub domain_id: String,
    pub lease: i64,
    pub result: Option<CheckResult>,
    pub now: i64,
}

/// Sets what sign-ups on the organization's verified domains do.
#[derive(Message, Debug)]
#[rtype(result = "Result<Organization, OrgError>")]
pub struct SetDomainJoinPolicy {
    pub policy: DomainJoinPolicy,
}

macro_rules! atomic_handler {
    ($msg:ty, $out:ty, $fun:ident) => {
        impl Handler<$msg> for OrgActor {
            type Result = AtomicResponse<Self, Result<$out, OrgError>>;

            fn handle(&mut self, msg: $msg, _ctx: &mut Self::Context) -> Self::Result {
                self.last_used = Instant::now();
                let (db, outbox, org_id) =
                    (self.db.clone(), self.outbox.clone(), self.org_id.clone());
                AtomicResponse::new(Box::pin(
                    async move { $fun(&db, &outbox, &org_id, msg).await }.into_actor(self),
                ))
            }
        }
    };
}

atomic_handler!(AddDomain, DomainAdded, add_domain);
atomic_handler!(DeleteDomain, Domain, delete_domain);
atomic_handler!(MarkVerified, Domain, mark_verified);
atomic_handler!(RecordCheck, Option<Domain>, record_check);
atomic_handler!(SetDomainJoinPolicy, Organization, set_join_policy);

fn domain_event(event_type: &'static str, domain: &Domain) -> Result<NewEvent, OrgError> {
    Ok(NewEvent {
        event_type,
        organization_id: Some(domain.organization_id.clone()),
        user_id: None,
        data: serde_json::to_value(DomainEvent::from(domain)).map_err(anyhow::Error::from)?,
    })
}

/// Appends `new_events` last, commits and wakes the relay.
async fn finish(
    tx: DatabaseTransaction,
    outbox: &OutboxSignal,
    new_events: Vec<NewEvent>,
) -> Result<(), OrgError> {
    let published = events::append(&tx, new_events).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(())
}

fn is_unique_violation(err: &anyhow::Error) -> bool {
    err.downcast_ref::<DbErr>()
        .is_some_and(db::is_unique_violation)
}

fn taken(domain: &str) -> OrgError {
    OrgError::Conflict(format!(
        "{domain} is already verified by another organization."
    ))
}

async fn add_domain(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: AddDomain,
) -> Result<DomainAdded, OrgError> {
    if msg.domain.is_public_mail_provider() {
        return Err(OrgError::InvalidDomain(format!(
            "{} is a public email provider; an organization cannot own it.",
            msg.domain
        )));
    }
    let tx = db.begin_write().await?;
    if db::orgs::find(&tx, org_id).await?.is_none() {
        return Err(OrgError::NotFound);
    }
    if let Some(existing) = store::find_by_name_in_org(&tx, org_id, &msg.domain).await? {
        tx.rollback().await.map_err(anyhow::Error::from)?;
        if existing.include_subdomains != msg.include_subdomains {
            return Err(OrgError::Conflict(format!(
                "{} was already added with include_subdomains = {}; delete it first to change that.",
                existing.domain, existing.include_subdomains
            )));
        }
        return Ok(DomainAdded {
            domain: existing,
            created: false,
        });
    }
    if store::verified_elsewhere(&tx, &msg.domain, org_id)
        .await?
        .is_some()
    {
        return Err(taken(msg.domain.as_str()));
    }
    let now = db::now_ms();
    let (next_check_at, expires_at) = schedule::first(now);
    let domain = store::create(
        &tx,
        store::NewDomain {
            organization_id: org_id,
            domain: &msg.domain,
            include_subdomains: msg.include_subdomains,
            token: new_token(),
            status: Status::Pending.as_str(),
            next_check_at: Some(next_check_at),
            expires_at,
            now,
        },
    )
    .await;
    let domain = match domain {
        Ok(domain) => domain,
        // The same organization added it a moment ago on another node.
        Err(err) if is_unique_violation(&err) => {
            tx.rollback().await.map_err(anyhow::Error::from)?;
            let existing = store::find_by_name_in_org(db.conn(), org_id, &msg.domain)
                .await?
                .ok_or_else(|| anyhow::anyhow!("domain {} vanished", msg.domain))?;
            return Ok(DomainAdded {
                domain: existing,
                created: false,
            });
        }
        Err(err) => return Err(err.into()),
    };
    let event = domain_event(schedule::EVENT_CREATED, &domain)?;
    finish(tx, outbox, vec![event]).await?;
    Ok(DomainAdded {
        domain,
        created: true,
    })
}

async fn delete_domain(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: DeleteDomain,
) -> Result<Domain, OrgError> {
    let tx = db.begin_write().await?;
    let domain = store::find_in_org(&tx, org_id, &msg.domain_id)
        .await?
        .ok_or(OrgError::DomainNotFound)?;
    store::delete(&tx, &domain.id).await?;
    let event = domain_event(schedule::EVENT_DELETED, &domain)?;
    finish(tx, outbox, vec![event]).await?;
    Ok(domain)
}

async fn mark_verified(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: MarkVerified,
) -> Result<Domain, OrgError> {
    let tx = db.begin_write().await?;
    let domain = store::find_in_org(&tx, org_id, &msg.domain_id)
        .await?
        .ok_or(OrgError::DomainNotFound)?;
    if domain.status == store::VERIFIED
        && domain.verification_method.as_deref() == Some(METHOD_ADMIN)
    {
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(domain);
    }
    let name = stored_name(&domain)?;
    if store::verified_elsewhere(&tx, &name, org_id)
        .await?
        .is_some()
    {
        return Err(taken(&domain.domain));
    }
    let now = db::now_ms();
    let update = DomainUpdate {
        status: Status::Verified.as_str(),
        verification_method: Some(METHOD_ADMIN.into()),
        attempts: 0,
        next_check_at: None,
        missing_since: None,
        verified_at: Some(now),
        expires_at: domain.expires_at,
        checked: None,
    };
    let updated = match store::apply(&tx, &domain.id, None, update, now).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(OrgError::DomainNotFound),
        Err(err) if is_unique_violation(&err) => return Err(taken(&domain.domain)),
        Err(err) => return Err(err.into()),
    };
    let event = domain_event(schedule::EVENT_VERIFIED, &updated)?;
    finish(tx, outbox, vec![event]).await?;
    Ok(updated)
}

async fn record_check(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: RecordCheck,
) -> Result<Option<Domain>, OrgError> {
    match record_once(db, outbox, org_id, &msg, msg.result.clone()).await {
        Ok(row) => Ok(row),
        Err(Lost::Org(err)) => Err(err),
        // Another organization's verification of the domain committed first: record a refusal.
        Err(Lost::Claimed) => {
            match record_once(db, outbox, org_id, &msg, Some(CheckResult::claimed())).await {
                Ok(row) => Ok(row),
                Err(Lost::Org(err)) => Err(err),
                Err(Lost::Claimed) => {
                    Err(anyhow::anyhow!("recording a refused claim conflicted again").into())
                }
            }
        }
    }
}

/// Why recording a check did not go through.
enum Lost {
    Claimed,
    Org(OrgError),
}

impl<E: Into<OrgError>> From<E> for Lost {
    fn from(err: E) -> Self {
        Lost::Org(err.into())
    }
}

async fn record_once(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: &RecordCheck,
    mut result: Option<CheckResult>,
) -> Result<Option<Domain>, Lost> {
    let tx = db.begin_write().await?;
    let Some(domain) = store::find_in_org(&tx, org_id, &msg.domain_id).await? else {
        return Ok(None);
    };
    if domain.next_check_at != Some(msg.lease) {
        return Ok(None);
    }
    if result.as_ref().map(|r| r.kind) == Some(CheckKind::Verified)
        && domain.status != store::VERIFIED
        && store::verified_elsewhere(&tx, &stored_name(&domain)?, org_id)
            .await?
            .is_some()
    {
        result = Some(CheckResult::claimed());
    }
    let step = schedule::step(
        &state_of(&domain)?,
        result.as_ref().map(|r| r.kind),
        msg.now,
    );
    let update = update_from(&step, result.map(|r| (msg.now, r.message, r.kind.as_str())));
    let updated = match store::apply(&tx, &domain.id, Some(msg.lease), update, msg.now).await {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(None),
        Err(err) if is_unique_violation(&err) => return Err(Lost::Claimed),
        Err(err) => return Err(Lost::Org(err.into())),
    };
    let new_events = match step.event {
        Some(event_type) => vec![domain_event(event_type, &updated)?],
        None => Vec::new(),
    };
    finish(tx, outbox, new_events).await?;
    Ok(Some(updated))
}

async fn set_join_policy(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: SetDomainJoinPolicy,
) -> Result<Organization, OrgError> {
    let tx = db.begin_write().await?;
    let org = db::orgs::find(&tx, org_id)
        .await?
        .ok_or(OrgError::NotFound)?;
    if org.domain_join_policy == msg.policy.as_str() {
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(org);
    }
    let org = store::set_join_policy(&tx, org_id, msg.policy).await?;
    let event = NewEvent {
        event_type: "organization.updated",
        organization_id: Some(org.id.clone()),
        user_id: None,
        data: serde_json::json!({
            "organization": OrganizationJson::from(&org),
            "domain_join_policy": org.domain_join_policy,
        }),
    };
    finish(tx, outbox, vec![event]).await?;
    Ok(org)
}

/// A stored domain name, parsed again (it was parsed when added).
fn stored_name(domain: &Domain) -> Result<DomainName, OrgError> {
    DomainName::parse(&domain.domain)
        .map_err(|e| anyhow::anyhow!("stored domain {} is invalid: {e}", domain.id).into())
}

fn state_of(domain: &Domain) -> Result<State, OrgError> {
    let status = Status::parse(&domain.status).ok_or_else(|| {
        anyhow::anyhow!(
            "domain {} has an unknown status {}",
            domain.id,
            domain.status
        )
    })?;
    Ok(State {
        status,
        method: domain.verification_method.clone(),
        attempts: domain.attempts,
        missing_since: domain.missing_since,
        verified_at: domain.verified_at,
        expires_at: domain.expires_at,
    })
}

fn update_from(step: &Step, checked: Option<(i64, String, &'static str)>) -> DomainUpdate {
    DomainUpdate {
        status: step.status.as_str(),
        verification_method: step.method.clone(),
        attempts: step.attempts,
        next_check_at: step.next_check_at,
        missing_since: step.missing_since,
        verified_at: step.verified_at,
        expires_at: step.expires_at,
        checked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_claim_names_the_domain() {
        assert_eq!(
            taken("acme.test").to_string(),
            "acme.test is already verified by another organization."
        );
    }
}
