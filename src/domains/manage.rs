//! The operations behind the domains widget and API: each handler makes one call here, which
//! reaches the organization's actor (the writer) or the verifier (checks).

use crate::actors::org::{
    AddDomain, DeleteDomain, DomainAdded, MarkVerified, OrgActor, OrgError, SetDomainJoinPolicy,
};
use crate::actors::org_registry::Lookup;
use crate::db::domains::Domain;
use crate::db::orgs::Organization;
use crate::domain::{DomainJoinPolicy, DomainName};
use crate::state::AppState;
use actix::Addr;

async fn org_actor(state: &AppState, org_id: &str) -> Result<Addr<OrgActor>, OrgError> {
    state
        .orgs
        .send(Lookup {
            org_id: org_id.into(),
        })
        .await
        .map_err(|e| OrgError::Internal(anyhow::anyhow!("organization registry unavailable: {e}")))
}

fn unavailable(e: actix::MailboxError) -> OrgError {
    OrgError::Internal(anyhow::anyhow!("organization actor unavailable: {e}"))
}

/// Adds a domain; the verifier checks it a minute later (see `schedule`).
pub async fn add(
    state: &AppState,
    org_id: &str,
    domain: DomainName,
    include_subdomains: bool,
) -> Result<DomainAdded, OrgError> {
    org_actor(state, org_id)
        .await?
        .send(AddDomain {
            domain,
            include_subdomains,
        })
        .await
        .map_err(unavailable)?
}

pub async fn delete(state: &AppState, org_id: &str, domain_id: &str) -> Result<Domain, OrgError> {
    org_actor(state, org_id)
        .await?
        .send(DeleteDomain {
            domain_id: domain_id.into(),
        })
        .await
        .map_err(unavailable)?
}

/// How a verification is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMethod {
    /// Look the TXT record up now.
    Dns,
    /// The integrator vouches for the domain.
    Admin,
}

pub async fn verify(
    state: &AppState,
    org_id: &str,
    domain_id: &str,
    method: VerifyMethod,
) -> Result<Domain, OrgError> {
    match method {
        VerifyMethod::Dns => state.domains.check_now(org_id, domain_id).await,
        VerifyMethod::Admin => org_actor(state, org_id)
            .await?
            .send(MarkVerified {
                domain_id: domain_id.into(),
            })
            .await
            .map_err(unavailable)?,
    }
}

pub async fn set_join_policy(
    state: &AppState,
    org_id: &str,
    policy: DomainJoinPolicy,
) -> Result<Organization, OrgError> {
    org_actor(state, org_id)
        .await?
        .send(SetDomainJoinPolicy { policy })
        .await
        .map_err(unavailable)?
}
