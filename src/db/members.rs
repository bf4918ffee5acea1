//! Memberships: who belongs to which organization, with which role and status.

use super::entities::membership;
use super::{Conn, now_ms};
use crate::domain::ids;
use anyhow::Context;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, LikeExpr, Order, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter};

pub type Membership = membership::Model;

pub const ACTIVE: &str = "active";
pub const INVITED: &str = "invited";
pub const REMOVED: &str = "removed";

/// One line of the members widget and the members API.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MemberRow {
    pub membership_id: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role_id: String,
    pub role_name: String,
    pub role_display_name: String,
    pub status: String,
    pub created_at: i64,
}

/// Members of an organization (active and invited), oldest first, after the cursor (a membership id),
/// optionally filtered by a case-insensitive substring of name or email.
pub async fn list(
    db: &impl Conn,
    org_id: &str,
    search: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> anyhow::Result<Vec<MemberRow>> {
    let mut query = member_query();
    query
        .and_where(Expr::col(("m", "organization_id")).eq(org_id))
        .and_where(Expr::col(("m", "status")).ne(REMOVED))
        .order_by(("m", "id"), Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        query.and_where(Expr::col(("m", "id")).gt(after));
    }
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        query.and_where(
            Expr::expr(Func::lower(Expr::col(("u", "name"))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
                .or(Expr::col(("u", "email")).like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    let stmt = db.get_database_backend().build(&query);
    MemberRow::find_by_statement(stmt)
        .all(db)
        .await
        .context("failed to list members")
}

/// One member row by membership id.
pub async fn row(db: &impl Conn, membership_id: &str) -> anyhow::Result<Option<MemberRow>> {
    let mut query = member_query();
    query.and_where(Expr::col(("m", "id")).eq(membership_id));
    let stmt = db.get_database_backend().build(&query);
    MemberRow::find_by_statement(stmt)
        .one(db)
        .await
        .context("failed to load member")
}

fn member_query() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr_as(Expr::col(("m", "id")), "membership_id")
        .expr_as(Expr::col(("m", "organization_id")), "organization_id")
        .expr_as(Expr::col(("m", "user_id")), "user_id")
        .expr_as(Expr::col(("u", "email")), "email")
        .expr_as(Expr::col(("u", "name")), "name")
        .expr_as(Expr::col(("m", "role_id")), "role_id")
        .expr_as(Expr::col(("r", "name")), "role_name")
        .expr_as(Expr::col(("r", "display_name")), "role_display_name")
        .expr_as(Expr::col(("m", "status")), "status")
        .expr_as(Expr::col(("m", "created_at")), "created_at")
        .from_as("memberships", Alias::new("m"))
        .join_as(
            JoinType::InnerJoin,
            "users",
            Alias::new("u"),
            Expr::col(("u", "id")).equals(("m", "user_id")),
        )
        .join_as(
            JoinType::InnerJoin,
            "roles",
            Alias::new("r"),
            Expr::col(("r", "id")).equals(("m", "role_id")),
        )
        .to_owned()
}

fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn find(
    db: &impl Conn,
    org_id: &str,
    user_id: &str,
) -> anyhow::Result<Option<Membership>> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await
        .context("failed to load membership")
}

/// The user's active memberships, oldest first.
pub async fn active_for_user(db: &impl Conn, user_id: &str) -> anyhow::Result<Vec<Membership>> {
    use sea_orm::QueryOrder;
    membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(ACTIVE))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await
        .context("failed to load memberships")
}

/// Inserts a membership, or revives a removed/invited one for the same user, with `status` and `role_id`.
pub async fn upsert(
    db: &impl Conn,
    org_id: &str,
    user_id: &str,
    role_id: &str,
    status: &str,
) -> anyhow::Result<Membership> {
    let now = now_ms();
    if let Some(existing) = find(db, org_id, user_id).await? {
        let row = membership::ActiveModel {
            id: Set(existing.id.clone()),
            role_id: Set(role_id.into()),
            status: Set(status.into()),
            updated_at: Set(now),
            ..Default::default()
        };
        return membership::Entity::update(row)
            .exec(db)
            .await
            .context("failed to update membership");
    }
    let row = membership::ActiveModel {
        id: Set(ids::new_id(ids::MEMBERSHIP)),
        organization_id: Set(org_id.into()),
        user_id: Set(user_id.into()),
        role_id: Set(role_id.into()),
        status: Set(status.into()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    membership::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .context("failed to create membership")
}

/// How many active members of the organization hold the role.
pub async fn count_active_with_role(
    db: &impl Conn,
    org_id: &str,
    role_id: &str,
) -> anyhow::Result<u64> {
    use sea_orm::PaginatorTrait;
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::RoleId.eq(role_id))
        .filter(membership::Column::Status.eq(ACTIVE))
        .count(db)
        .await
        .context("failed to count members with a role")
}

/// Sets a membership's role and/or status.
pub async fn update(
    db: &impl Conn,
    membership_id: &str,
    role_id: Option<&str>,
    status: Option<&str>,
) -> anyhow::Result<Membership> {
    let mut row = membership::ActiveModel {
        id: Set(membership_id.into()),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    if let Some(role_id) = role_id {
        row.role_id = Set(role_id.into());
    }
    if let Some(status) = status {
        row.status = Set(status.into());
    }
    membership::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update membership")
}

/// Active members of an organization (the seats in use).
pub async fn count_active(db: &impl Conn, org_id: &str) -> anyhow::Result<u64> {
    use sea_orm::PaginatorTrait;
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::Status.eq(ACTIVE))
        .count(db)
        .await
        .context("failed to count members")
}

/// Members (active and invited) of an organization matching `search`, for the page's count.
pub async fn count(db: &impl Conn, org_id: &str, search: Option<&str>) -> anyhow::Result<u64> {
    let mut query = Query::select()
        .expr(Expr::col(("m", "id")).count())
        .from_as("memberships", Alias::new("m"))
        .join_as(
            JoinType::InnerJoin,
            "users",
            Alias::new("u"),
            Expr::col(("u", "id")).equals(("m", "user_id")),
        )
        .and_where(Expr::col(("m", "organization_id")).eq(org_id))
        .and_where(Expr::col(("m", "status")).is_in([ACTIVE, INVITED]))
        .to_owned();
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        query.and_where(
            Expr::expr(Func::lower(Expr::col(("u", "name"))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
                .or(Expr::col(("u", "email")).like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    let stmt = db.get_database_backend().build(&query);
    let row = db
        .query_one_raw(stmt)
        .await
        .context("failed to count members")?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// Sets a membership's status (e.g. an invite accepted or revoked).
pub async fn set_status(db: &impl Conn, id: &str, status: &str) -> anyhow::Result<Membership> {
    let row = membership::ActiveModel {
        id: Set(id.into()),
        status: Set(status.into()),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    membership::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update membership")
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
