//! Parsed domain types. Input is parsed into these at the boundary (forms, JSON, query strings), so the
//! rest of Portal never sees an unvalidated email, domain, permission or redirect URI.

mod device;
mod domain_name;
mod email;
pub mod ids;
mod join_policy;
mod org_settings;
mod password;
mod permission;
mod redirect_uri;
mod role_name;
pub mod session_policy;

pub use device::Device;
pub use domain_name::DomainName;
pub use email::EmailAddress;
pub use join_policy::DomainJoinPolicy;
pub use org_settings::{DisplayName, HexColor, ImageUrl, parse_allowed_domains};
pub use password::NewPassword;
pub use permission::{Feature, Permission, PermissionSet};
pub use redirect_uri::RedirectUri;
pub use role_name::RoleName;
pub use session_policy::{OrgSessionPolicy, SessionPolicy};

/// Why a value was refused, in words fit to show next to the form field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
