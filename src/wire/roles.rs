//! Roles as the API and `role.*` events show them.

use crate::db::events::rfc3339;
use crate::db::roles::Role;
use crate::domain::PermissionSet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RoleJson {
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// `admin` and `member` are built in: they cannot be deleted, and admin keeps every permission.
    pub builtin: bool,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl RoleJson {
    pub fn new(r: &Role, permissions: PermissionSet) -> Self {
        Self {
            name: r.name.clone(),
            display_name: r.display_name.clone(),
            description: r.description.clone(),
            builtin: r.builtin,
            permissions: permissions.names().into_iter().map(String::from).collect(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// The environment's branding as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BrandingJson {
    pub name: String,
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
    pub primary_color: Option<String>,
    /// The text colour Portal puts on the primary colour (black or white, whichever reads better).
    pub primary_text_color: Option<String>,
}
