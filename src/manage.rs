//! Changes the management API makes outside any one organization's actor: creating
//! organizations, roles and their permissions, users' profiles and the environment's branding.
//! Each is one transaction with its event (`organization.created`, `role.*`, `user.updated`).

use crate::db::events::{self, NewEvent};
use crate::db::{self, orgs::Organization, roles::Role, users::User};
use crate::domain::{Feature, Permission, PermissionSet, RoleName};
use crate::state::AppState;
use crate::wire::UserJson;
use crate::wire::roles::{BrandingJson, RoleJson};
use anyhow::Context;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for Refused {
    fn from(err: sea_orm::DbErr) -> Self {
        Refused::Internal(err.into())
    }
}

pub struct NewOrganization {
    pub name: String,
    pub external_id: Option<String>,
    pub max_users: Option<i32>,
    pub features: Vec<Feature>,
}

pub async fn create_organization(
    state: &AppState,
    new: NewOrganization,
) -> Result<Organization, Refused> {
    let tx = state.db.begin_write().await?;
    if let Some(ext) = &new.external_id
        && db::orgs::find_by_external_id(&tx, ext).await?.is_some()
    {
        return Err(Refused::Conflict(format!(
            "An organization with the external id \"{ext}\" exists already."
        )));
    }
    let mut org = db::orgs::create(
        &tx,
        db::orgs::NewOrganization {
            name: &new.name,
            external_id: new.external_id.as_deref(),
        },
    )
    .await?;
    if new.max_users.is_some() {
        org = db::orgs::update(
            &tx,
            &org.id,
            db::orgs::OrganizationUpdate {
                max_users: Some(new.max_users),
                ..Default::default()
            },
        )
        .await?;
    }
    for f in &new.features {
        db::orgs::set_feature(&tx, &org.id, *f, true).await?;
    }
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "organization.created",
            organization_id: Some(org.id.clone()),
            user_id: None,
            data: crate::actors::org::organization_payload(&org, &new.features),
        }],
    )
    .await?;
    match tx.commit().await {
        Ok(()) => {}
        Err(err) if db::is_unique_violation(&err) => {
            return Err(Refused::Conflict(
                "An organization with this external id exists already.".into(),
            ));
        }
        Err(err) => return Err(anyhow::Error::from(err).into()),
    }
    state.outbox.committed_events(&published);
    Ok(org)
}

fn role_event(event_type: &'static str, role: &Role, permissions: PermissionSet) -> NewEvent {
    NewEvent {
        event_type,
        organization_id: None,
        user_id: None,
        data: serde_json::json!({ "role": RoleJson::new(role, permissions) }),
    }
}

pub async fn create_role(
    state: &AppState,
    name: RoleName,
    display_name: String,
    description: String,
    permissions: PermissionSet,
) -> Result<RoleJson, Refused> {
    let tx = state.db.begin_write().await?;
    if db::roles::find_by_name(&tx, name.as_str()).await?.is_some() {
        return Err(Refused::Conflict(format!(
            "A role named \"{}\" exists already.",
            name.as_str()
        )));
    }
    let role = match db::roles::create(
        &tx,
        db::roles::NewRole {
            name: &name,
            display_name: &display_name,
            description: &description,
        },
    )
    .await
    {
        Ok(role) => role,
        Err(err) if db::is_unique_violation(&err) => {
            return Err(Refused::Conflict(format!(
                "A role named \"{}\" exists already.",
                name.as_str()
            )));
        }
        Err(err) => return Err(err.into()),
    };
    db::roles::set_permissions(&tx, &role.id, permissions).await?;
    let published =
        events::append(&tx, vec![role_event("role.created", &role, permissions)]).await?;
    tx.commit().await.context("failed to create role")?;
    state.outbox.committed_events(&published);
    Ok(RoleJson::new(&role, permissions))
}

/// Fields of a role update; `None` keeps a value.
#[derive(Debug, Default)]
pub struct RoleUpdate {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<PermissionSet>,
}

pub async fn update_role(
    state: &AppState,
    name: &str,
    change: RoleUpdate,
) -> Result<RoleJson, Refused> {
    let tx = state.db.begin_write().await?;
    let role = db::roles::find_by_name(&tx, name)
        .await?
        .ok_or(Refused::NotFound("role"))?;
    if role.name == RoleName::ADMIN
        && change
            .permissions
            .is_some_and(|p| p != PermissionSet::all())
    {
        return Err(Refused::Invalid {
            field: "permissions",
            message: "The admin role always has every permission.".into(),
        });
    }
    let role = db::roles::update(
        &tx,
        &role.id,
        change.display_name.as_deref().unwrap_or(&role.display_name),
        change.description.as_deref().unwrap_or(&role.description),
    )
    .await?;
    if let Some(p) = change.permissions {
        db::roles::set_permissions(&tx, &role.id, p).await?;
    }
    let permissions = db::roles::permissions_of(&tx, &role.id).await?;
    let published =
        events::append(&tx, vec![role_event("role.updated", &role, permissions)]).await?;
    tx.commit().await.context("failed to update role")?;
    state.outbox.committed_events(&published);
    Ok(RoleJson::new(&role, permissions))
}

pub async fn delete_role(state: &AppState, name: &str) -> Result<(), Refused> {
    let tx = state.db.begin_write().await?;
    let role = db::roles::find_by_name(&tx, name)
        .await?
        .ok_or(Refused::NotFound("role"))?;
    if role.builtin {
        return Err(Refused::Conflict(format!(
            "\"{name}\" is a built-in role and cannot be deleted."
        )));
    }
    let used = db::roles::usage(&tx, &role.id).await?;
    if used > 0 {
        return Err(Refused::Conflict(format!(
            "{used} members or pending invites have the role \"{name}\"; give them another role first."
        )));
    }
    let permissions = db::roles::permissions_of(&tx, &role.id).await?;
    let member = db::roles::find_by_name(&tx, RoleName::MEMBER)
        .await?
        .context("the built-in member role is missing")?;
    db::roles::reassign_removed(&tx, &role.id, &member.id).await?;
    db::roles::delete(&tx, &role.id).await?;
    let published =
        events::append(&tx, vec![role_event("role.deleted", &role, permissions)]).await?;
    tx.commit().await.context("failed to delete role")?;
    state.outbox.committed_events(&published);
    Ok(())
}

pub async fn role_json(db: &impl db::Conn, role: &Role) -> anyhow::Result<RoleJson> {
    Ok(RoleJson::new(
        role,
        db::roles::permissions_of(db, &role.id).await?,
    ))
}

/// Parses a list of permission names.
pub fn parse_permissions(names: &[String]) -> Result<PermissionSet, Refused> {
    names
        .iter()
        .map(|n| Permission::parse(n))
        .collect::<Result<PermissionSet, _>>()
        .map_err(|e| Refused::Invalid {
            field: "permissions",
            message: e.to_string(),
        })
}

/// Changes a user's name (the integrator's view of the profile).
pub async fn rename_user(state: &AppState, user_id: &str, name: &str) -> Result<User, Refused> {
    let tx = state.db.begin_write().await?;
    if db::users::find(&tx, user_id).await?.is_none() {
        return Err(Refused::NotFound("user"));
    }
    let user = db::users::update_name(&tx, user_id, name).await?;
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "user.updated",
            organization_id: None,
            user_id: Some(user.id.clone()),
            data: serde_json::json!({ "user": UserJson::from(&user) }),
        }],
    )
    .await?;
    tx.commit().await.context("failed to update user")?;
    state.outbox.committed_events(&published);
    Ok(user)
}

/// Branding fields; `Some(None)` clears one.
#[derive(Debug, Default)]
pub struct BrandingUpdate {
    pub name: Option<String>,
    pub logo_url: Option<Option<String>>,
    pub favicon_url: Option<Option<String>>,
    pub primary_color: Option<Option<String>>,
}

pub fn branding_json(env: &db::environment::Environment) -> BrandingJson {
    BrandingJson {
        name: env.name.clone(),
        logo_url: env.logo_url.clone(),
        favicon_url: env.favicon_url.clone(),
        primary_color: env.primary_color.clone(),
        primary_text_color: env
            .primary_color
            .as_deref()
            .and_then(crate::views::layout::contrast_text)
            .map(str::to_string),
    }
}

pub async fn update_branding(
    state: &AppState,
    change: BrandingUpdate,
) -> Result<BrandingJson, Refused> {
    let env = db::environment::update_branding(state.db.conn(), change).await?;
    Ok(branding_json(&env))
}
