//! Organization domains and their verification state. The rules (what a check does to a domain)
//! live in `crate::domains`; these functions store their outcome. Writes go through the
//! organization's actor, except claims, which only move `next_check_at`.

use super::entities::{domain, organization};
use super::orgs::Organization;
use super::{Conn, now_ms};
use crate::domain::{DomainJoinPolicy, DomainName, ids};
use anyhow::Context;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

pub type Domain = domain::Model;

pub const VERIFIED: &str = "verified";

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Domain>> {
    domain::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load domain")
}

/// The domain `id` if it belongs to `org_id`; another organization's domain is not found.
pub async fn find_in_org(db: &impl Conn, org_id: &str, id: &str) -> anyhow::Result<Option<Domain>> {
    Ok(find(db, id).await?.filter(|d| d.organization_id == org_id))
}

pub async fn find_by_name_in_org(
    db: &impl Conn,
    org_id: &str,
    name: &DomainName,
) -> anyhow::Result<Option<Domain>> {
    domain::Entity::find()
        .filter(domain::Column::OrganizationId.eq(org_id))
        .filter(domain::Column::Domain.eq(name.as_str()))
        .one(db)
        .await
        .context("failed to load domain")
}

/// An organization's domains in the order they were added.
pub async fn list_for_org(db: &impl Conn, org_id: &str) -> anyhow::Result<Vec<Domain>> {
    domain::Entity::find()
        .filter(domain::Column::OrganizationId.eq(org_id))
        .order_by_asc(domain::Column::Id)
        .all(db)
        .await
        .context("failed to list domains")
}

pub struct NewDomain<'a> {
    pub organization_id: &'a str,
    pub domain: &'a DomainName,
    pub include_subdomains: bool,
    pub token: String,
    pub status: &'static str,
    pub next_check_at: Option<i64>,
    pub expires_at: i64,
    /// The time the schedule was computed from.
    pub now: i64,
}

pub async fn create(db: &impl Conn, new: NewDomain<'_>) -> anyhow::Result<Domain> {
    let now = new.now;
    let row = domain::ActiveModel {
        id: Set(ids::new_id(ids::DOMAIN)),
        organization_id: Set(new.organization_id.into()),
        domain: Set(new.domain.as_str().into()),
        status: Set(new.status.into()),
        verification_token: Set(new.token),
        verification_method: Set(None),
        include_subdomains: Set(new.include_subdomains),
        attempts: Set(0),
        next_check_at: Set(new.next_check_at),
        last_checked_at: Set(None),
        last_result: Set(None),
        verified_at: Set(None),
        missing_since: Set(None),
        expires_at: Set(new.expires_at),
        created_at: Set(now),
        updated_at: Set(now),
        last_outcome: Set(None),
    };
    domain::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to add domain")
}

pub async fn delete(db: &impl Conn, id: &str) -> anyhow::Result<()> {
    domain::Entity::delete_by_id(id)
        .exec(db)
        .await
        .context("failed to delete domain")?;
    Ok(())
}

/// The domains above `name` that could cover it (`eu.acme.com` → `acme.com`), not the top level.
fn parents(name: &DomainName) -> Vec<String> {
    let labels: Vec<&str> = name.as_str().split('.').collect();
    (1..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect()
}

/// Verified domains that `name` falls under: itself, or a parent verified with subdomains.
fn covering(name: &DomainName) -> Condition {
    Condition::all()
        .add(domain::Column::Status.eq(VERIFIED))
        .add(
            Condition::any()
                .add(domain::Column::Domain.eq(name.as_str()))
                .add(
                    Condition::all()
                        .add(domain::Column::IncludeSubdomains.eq(true))
                        .add(domain::Column::Domain.is_in(parents(name))),
                ),
        )
}

/// Another organization's verified domain that `name` falls under, if any: then `name` cannot be
/// claimed or verified by `org_id`.
pub async fn verified_elsewhere(
    db: &impl Conn,
    name: &DomainName,
    org_id: &str,
) -> anyhow::Result<Option<Domain>> {
    domain::Entity::find()
        .filter(covering(name))
        .filter(domain::Column::OrganizationId.ne(org_id))
        .one(db)
        .await
        .context("failed to look for a verified domain")
}

/// The verified domain that owns addresses at `name`: `name` itself, else the closest parent
/// verified with its subdomains. A verified parent without `include_subdomains` covers only itself.
pub async fn verified_owner(db: &impl Conn, name: &DomainName) -> anyhow::Result<Option<Domain>> {
    let rows = domain::Entity::find()
        .filter(covering(name))
        .all(db)
        .await
        .context("failed to look for a verified domain")?;
    Ok(rows.into_iter().max_by_key(|d| d.domain.len()))
}

/// Domains whose next check is due at `now`, soonest first.
pub async fn due(db: &impl Conn, now: i64, limit: u64) -> anyhow::Result<Vec<Domain>> {
    domain::Entity::find()
        .filter(domain::Column::NextCheckAt.lte(now))
        .order_by_asc(domain::Column::NextCheckAt)
        .order_by_asc(domain::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .context("failed to list due domains")
}

/// Takes a domain for one check: moves `next_check_at` from what it was (`seen`) to `lease_until`.
/// Only one claimant can move it from the same value, so two nodes never check a domain at once;
/// a check that is never recorded leaves the domain due again once the lease passes.
pub async fn claim(
    db: &impl Conn,
    id: &str,
    seen: Option<i64>,
    lease_until: i64,
) -> anyhow::Result<bool> {
    let guard = match seen {
        Some(at) => domain::Column::NextCheckAt.eq(at),
        None => domain::Column::NextCheckAt.is_null(),
    };
    let result = domain::Entity::update_many()
        .col_expr(domain::Column::NextCheckAt, Expr::value(lease_until))
        .filter(domain::Column::Id.eq(id))
        .filter(guard)
        .exec(db)
        .await
        .context("failed to claim a domain check")?;
    Ok(result.rows_affected == 1)
}

/// The new state of a domain after a check (or a change of status without one).
#[derive(Debug, Clone)]
pub struct DomainUpdate {
    pub status: &'static str,
    pub verification_method: Option<String>,
    pub attempts: i32,
    pub next_check_at: Option<i64>,
    pub missing_since: Option<i64>,
    pub verified_at: Option<i64>,
    pub expires_at: i64,
    /// Set when a lookup was made: when, the answer in words and its kind.
    pub checked: Option<(i64, String, &'static str)>,
}

/// Writes `update` if the domain is still held by the claim `lease` (`None`: no claim is needed,
/// as for the integrator's verification). Returns the stored row, or `None` when the domain is
/// gone or another check took it over.
pub async fn apply(
    db: &impl Conn,
    id: &str,
    lease: Option<i64>,
    update: DomainUpdate,
    now: i64,
) -> anyhow::Result<Option<Domain>> {
    let mut query = domain::Entity::update_many()
        .col_expr(domain::Column::Status, Expr::value(update.status))
        .col_expr(
            domain::Column::VerificationMethod,
            Expr::value(update.verification_method),
        )
        .col_expr(domain::Column::Attempts, Expr::value(update.attempts))
        .col_expr(
            domain::Column::NextCheckAt,
            Expr::value(update.next_check_at),
        )
        .col_expr(
            domain::Column::MissingSince,
            Expr::value(update.missing_since),
        )
        .col_expr(domain::Column::VerifiedAt, Expr::value(update.verified_at))
        .col_expr(domain::Column::ExpiresAt, Expr::value(update.expires_at))
        .col_expr(domain::Column::UpdatedAt, Expr::value(now))
        .filter(domain::Column::Id.eq(id));
    if let Some((at, words, kind)) = update.checked {
        query = query
            .col_expr(domain::Column::LastCheckedAt, Expr::value(at))
            .col_expr(domain::Column::LastResult, Expr::value(words))
            .col_expr(domain::Column::LastOutcome, Expr::value(kind));
    }
    if let Some(lease) = lease {
        query = query.filter(domain::Column::NextCheckAt.eq(lease));
    }
    let result = query
        .exec(db)
        .await
        .context("failed to record a domain check")?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, id).await
}

/// Sets the organization's domain-join policy (it lives on the organization row) and returns the
/// organization.
pub async fn set_join_policy(
    db: &impl Conn,
    org_id: &str,
    policy: DomainJoinPolicy,
) -> anyhow::Result<Organization> {
    let row = organization::ActiveModel {
        id: Set(org_id.into()),
        domain_join_policy: Set(policy.as_str().into()),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    organization::Entity::update(row)
        .exec(db)
        .await
        .context("failed to set the domain-join policy")
}

/// How many rows have `name` verified: never more than one (the schema enforces it).
pub async fn count_verified(db: &impl Conn, name: &str) -> anyhow::Result<u64> {
    use sea_orm::PaginatorTrait;
    domain::Entity::find()
        .filter(domain::Column::Domain.eq(name))
        .filter(domain::Column::Status.eq(VERIFIED))
        .count(db)
        .await
        .context("failed to count verified domains")
}

/// Makes `next_check_at` the given time (tools and tests that move the schedule).
pub async fn set_next_check(db: &impl Conn, id: &str, at: Option<i64>) -> anyhow::Result<()> {
    domain::Entity::update_many()
        .col_expr(domain::Column::NextCheckAt, Expr::value(at))
        .filter(domain::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to reschedule a domain")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_stop_above_the_top_level() {
        let name = DomainName::parse("a.eu.acme.com").unwrap();
        assert_eq!(parents(&name), ["eu.acme.com", "acme.com"]);
        assert!(parents(&DomainName::parse("acme.com").unwrap()).is_empty());
    }
}
