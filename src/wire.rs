//! JSON shapes that leave Portal: management API bodies and event payloads (which webhooks and the
//! event stream carry unchanged). Built from entities with `From`; an entity is never serialized.

use crate::db::events::rfc3339;
use crate::db::members::MemberRow;
use crate::db::orgs::Organization;
use crate::db::users::User;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OrganizationJson {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    #[serde(default)]
    pub max_users: Option<i32>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Organization> for OrganizationJson {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
            external_id: o.external_id.clone(),
            logo_url: o.logo_url.clone(),
            allowed_email_domains: crate::db::orgs::allowed_email_domains(o),
            max_users: o.max_users,
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct UserJson {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: String,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// A role as a membership carries it. `permissions` travel with membership events so every node's
/// hub can re-authorize open sockets from the event alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RoleRef {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MembershipJson {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: RoleRef,
    /// `active` or `invited`.
    pub status: String,
    pub created_at: String,
}

/// The user as a membership shows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MemberUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// Payload of `user.organization_membership_*` events, and a member in the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MembershipEvent {
    pub membership: MembershipJson,
    pub user: MemberUser,
}

impl MembershipEvent {
    /// The payload for a member row whose role grants `permissions`.
    pub fn new(r: &MemberRow, permissions: crate::domain::PermissionSet) -> Self {
        Self {
            membership: MembershipJson {
                id: r.membership_id.clone(),
                organization_id: r.organization_id.clone(),
                user_id: r.user_id.clone(),
                role: RoleRef {
                    name: r.role_name.clone(),
                    display_name: r.role_display_name.clone(),
                    permissions: permissions.names().into_iter().map(String::from).collect(),
                },
                status: r.status.clone(),
                created_at: rfc3339(r.created_at),
            },
            user: MemberUser {
                id: r.user_id.clone(),
                email: r.email.clone(),
                name: r.name.clone(),
            },
        }
    }
}

/// A page of a cursor-paginated list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub mod domains;
pub mod invites;
pub mod roles;
pub mod sessions;
pub mod webhooks;
