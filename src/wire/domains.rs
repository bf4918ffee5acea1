//! Domains in the management API and in `organization.domain_*` event payloads.

use crate::db::domains::Domain;
use crate::db::events::rfc3339;
use crate::domains::{record_name, record_value};
use serde::{Deserialize, Serialize};

/// The TXT record to publish.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TxtRecordJson {
    pub name: String,
    pub value: String,
}

/// The last check: when, what kind of answer (`verified`, `no_record`, `nxdomain`, `mismatch`,
/// `timeout`, `servfail`, `error`, `claimed`) and the answer in words.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LastCheckJson {
    pub checked_at: String,
    pub outcome: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DomainJson {
    pub id: String,
    pub organization_id: String,
    /// ASCII form (`xn--…` for international names).
    pub domain: String,
    /// `pending`, `verified`, `failed`, `expired` or `unverified`.
    pub status: String,
    /// `dns` or `admin` while verified.
    pub verification_method: Option<String>,
    pub include_subdomains: bool,
    pub txt_record: TxtRecordJson,
    pub last_check: Option<LastCheckJson>,
    pub next_check_at: Option<String>,
    pub verified_at: Option<String>,
    /// Set while a verified domain's record is missing (three days of it unverify the domain).
    pub record_missing_since: Option<String>,
    /// The end of the current verification window.
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Domain> for DomainJson {
    fn from(d: &Domain) -> Self {
        Self {
            id: d.id.clone(),
            organization_id: d.organization_id.clone(),
            domain: d.domain.clone(),
            status: d.status.clone(),
            verification_method: d.verification_method.clone(),
            include_subdomains: d.include_subdomains,
            txt_record: TxtRecordJson {
                name: record_name(&d.domain),
                value: record_value(&d.verification_token),
            },
            last_check: d.last_checked_at.map(|at| LastCheckJson {
                checked_at: rfc3339(at),
                outcome: d.last_outcome.clone(),
                message: d.last_result.clone(),
            }),
            next_check_at: d.next_check_at.map(rfc3339),
            verified_at: d.verified_at.map(rfc3339),
            record_missing_since: d.missing_since.map(rfc3339),
            expires_at: rfc3339(d.expires_at),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// Payload of every `organization.domain_*` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DomainEvent {
    pub domain: DomainJson,
}

impl From<&Domain> for DomainEvent {
    fn from(d: &Domain) -> Self {
        Self {
            domain: DomainJson::from(d),
        }
    }
}

/// `PUT /api/v1/organizations/{org_id}/domain-join-policy` answers with this.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DomainJoinPolicyJson {
    pub organization_id: String,
    /// `off`, `suggest` or `auto`.
    pub domain_join_policy: String,
}
