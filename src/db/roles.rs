//! Roles and the permissions they grant. `admin` and `member` are built in and always exist.

use super::entities::{permission, role, role_permission};
use super::environment::DEFAULT_ENVIRONMENT;
use super::{Conn, now_ms};
use crate::domain::{Permission, PermissionSet, RoleName, ids};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};

pub type Role = role::Model;

/// The permissions of the built-in member role.
pub const MEMBER_PERMISSIONS: [Permission; 2] =
    [Permission::OrgSettingsRead, Permission::OrgUsersRead];

/// Seeds the permission catalogue and the built-in roles. Safe to run at every start.
pub async fn seed_builtin(db: &impl Conn) -> anyhow::Result<()> {
    let rows = Permission::ALL.map(|p| permission::ActiveModel {
        name: Set(p.as_str().into()),
        description: Set(p.description().into()),
    });
    permission::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(permission::Column::Name)
                .update_column(permission::Column::Description)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to seed permissions")?;

    let admin = ensure_role(db, RoleName::ADMIN, "Admin", "Manages the organization").await?;
    grant(db, &admin.id, &Permission::ALL).await?;
    let member = ensure_role(
        db,
        RoleName::MEMBER,
        "Member",
        "Belongs to the organization",
    )
    .await?;
    grant(db, &member.id, &MEMBER_PERMISSIONS).await?;
    Ok(())
}

async fn ensure_role(
    db: &impl Conn,
    name: &str,
    display: &str,
    description: &str,
) -> anyhow::Result<Role> {
    if let Some(found) = find_by_name(db, name).await? {
        return Ok(found);
    }
    let now = now_ms();
    let row = role::ActiveModel {
        id: Set(ids::new_id(ids::ROLE)),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        name: Set(name.into()),
        display_name: Set(display.into()),
        description: Set(description.into()),
        builtin: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    role::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([role::Column::EnvironmentId, role::Column::Name])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .with_context(|| format!("failed to create role {name}"))?;
    find_by_name(db, name)
        .await?
        .with_context(|| format!("role {name} missing after insert"))
}

async fn grant(db: &impl Conn, role_id: &str, permissions: &[Permission]) -> anyhow::Result<()> {
    let rows = permissions.iter().map(|p| role_permission::ActiveModel {
        role_id: Set(role_id.into()),
        permission: Set(p.as_str().into()),
    });
    role_permission::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                role_permission::Column::RoleId,
                role_permission::Column::Permission,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to grant permissions")?;
    Ok(())
}

pub async fn find_by_name(db: &impl Conn, name: &str) -> anyhow::Result<Option<Role>> {
    role::Entity::find()
        .filter(role::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .filter(role::Column::Name.eq(name))
        .one(db)
        .await
        .context("failed to load role")
}

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Role>> {
    role::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load role")
}

pub async fn permissions_of(db: &impl Conn, role_id: &str) -> anyhow::Result<PermissionSet> {
    let rows = role_permission::Entity::find()
        .filter(role_permission::Column::RoleId.eq(role_id))
        .all(db)
        .await
        .context("failed to load role permissions")?;
    // A permission name the code no longer knows grants nothing.
    Ok(rows
        .iter()
        .filter_map(|r| Permission::parse(&r.permission).ok())
        .collect())
}

/// Every role of the environment, built-in first, then by name.
pub async fn list(db: &impl Conn) -> anyhow::Result<Vec<Role>> {
    use sea_orm::QueryOrder;
    role::Entity::find()
        .filter(role::Column::EnvironmentId.eq(DEFAULT_ENVIRONMENT))
        .order_by_desc(role::Column::Builtin)
        .order_by_asc(role::Column::Name)
        .all(db)
        .await
        .context("failed to list roles")
}

pub struct NewRole<'a> {
    pub name: &'a RoleName,
    pub display_name: &'a str,
    pub description: &'a str,
}

/// Creates a custom role (not built in). A duplicate name is a unique violation for the caller.
pub async fn create(db: &impl Conn, new: NewRole<'_>) -> Result<Role, sea_orm::DbErr> {
    let now = now_ms();
    let row = role::ActiveModel {
        id: Set(ids::new_id(ids::ROLE)),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        name: Set(new.name.as_str().into()),
        display_name: Set(new.display_name.into()),
        description: Set(new.description.into()),
        builtin: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    role::Entity::insert(row).exec_with_returning(db).await
}

/// Changes a role's display name and description.
pub async fn update(
    db: &impl Conn,
    id: &str,
    display_name: &str,
    description: &str,
) -> anyhow::Result<Role> {
    let row = role::ActiveModel {
        id: Set(id.into()),
        display_name: Set(display_name.into()),
        description: Set(description.into()),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    role::Entity::update(row)
        .exec(db)
        .await
        .context("failed to update role")
}

/// Replaces the permissions a role grants.
pub async fn set_permissions(
    db: &impl Conn,
    role_id: &str,
    permissions: PermissionSet,
) -> anyhow::Result<()> {
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::RoleId.eq(role_id))
        .exec(db)
        .await
        .context("failed to clear role permissions")?;
    let list: Vec<Permission> = permissions.iter().collect();
    if !list.is_empty() {
        grant(db, role_id, &list).await?;
    }
    Ok(())
}

pub async fn delete(db: &impl Conn, id: &str) -> anyhow::Result<()> {
    role::Entity::delete_by_id(id)
        .exec(db)
        .await
        .context("failed to delete role")?;
    Ok(())
}

/// How many memberships and invites (not removed) use a role.
pub async fn usage(db: &impl Conn, role_id: &str) -> anyhow::Result<u64> {
    use super::entities::{invite, membership};
    use sea_orm::PaginatorTrait;
    let members = membership::Entity::find()
        .filter(membership::Column::RoleId.eq(role_id))
        .filter(membership::Column::Status.ne(super::members::REMOVED))
        .count(db)
        .await
        .context("failed to count role members")?;
    let invites = invite::Entity::find()
        .filter(invite::Column::RoleId.eq(role_id))
        .filter(invite::Column::Status.eq(super::invites::PENDING))
        .count(db)
        .await
        .context("failed to count role invites")?;
    Ok(members + invites)
}

/// Points removed memberships that still name `role_id` at `replacement`, so the role can be
/// deleted (memberships keep a foreign key to their role; a removed one grants nothing anyway).
pub async fn reassign_removed(
    db: &impl Conn,
    role_id: &str,
    replacement: &str,
) -> anyhow::Result<()> {
    use super::entities::membership;
    membership::Entity::update_many()
        .col_expr(
            membership::Column::RoleId,
            sea_orm::sea_query::Expr::value(replacement),
        )
        .filter(membership::Column::RoleId.eq(role_id))
        .filter(membership::Column::Status.eq(super::members::REMOVED))
        .exec(db)
        .await
        .context("failed to reassign removed memberships")?;
    Ok(())
}
