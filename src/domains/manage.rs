//! The operations behind the domains widget and API: each handler makes one call here, which
//! reaches the organization's actor (the writer) or the verifier (checks).

use crate::actors::org::{
    AddDomain, DeleteDomain, DomainAdded, MarkVerified, OrgError, SetDomainJoinPolicy,
};
use crate::db::domains::Domain;
use crate::db::orgs::Organization;
use crate::domain::{DomainJoinPolicy, DomainName};
use crate::state::AppState;

/// Adds a domain; the verifier checks it a minute later (see `schedule`).
pub async fn add(
    state: &AppState,
    org_id: &str,
    domain: DomainName,
    include_subdomains: bool,
) -> Result<DomainAdded, OrgError> {
    state
        .ask_org(
            org_id,
            AddDomain {
                domain,
                include_subdomains,
            },
        )
        .await
}

pub async fn delete(state: &AppState, org_id: &str, domain_id: &str) -> Result<Domain, OrgError> {
    state
        .ask_org(
            org_id,
            DeleteDomain {
                domain_id: domain_id.into(),
            },
        )
        .await
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
        VerifyMethod::Admin => {
            state
                .ask_org(
                    org_id,
                    MarkVerified {
                        domain_id: domain_id.into(),
                    },
                )
                .await
        }
    }
}

pub async fn set_join_policy(
    state: &AppState,
    org_id: &str,
    policy: DomainJoinPolicy,
) -> Result<Organization, OrgError> {
    state.ask_org(org_id, SetDomainJoinPolicy { policy }).await
}
