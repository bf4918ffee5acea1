//! Session and session-policy JSON: the management API and the `user.logout` / `session.created`
//! event payloads.

use crate::db::events::rfc3339;
use crate::db::sessions::Session;
use crate::domain::{OrgSessionPolicy, SessionPolicy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionJson {
    pub id: String,
    pub user_id: String,
    pub organization_id: Option<String>,
    /// `password`, `code`, `magic_link`, `passkey`, …
    pub sign_in_method: String,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub ip: Option<String>,
    pub created_at: String,
    pub last_active_at: String,
    pub absolute_expires_at: String,
    pub idle_expires_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
}

impl From<&Session> for SessionJson {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            organization_id: s.organization_id.clone(),
            sign_in_method: s.auth_method.clone(),
            browser: s.browser.clone(),
            os: s.os.clone(),
            ip: s.ip.clone(),
            created_at: rfc3339(s.created_at),
            last_active_at: rfc3339(s.last_active_at),
            absolute_expires_at: rfc3339(s.absolute_expires_at),
            idle_expires_at: s.idle_expires_at.map(rfc3339),
            ended_at: s.revoked_at.map(rfc3339),
            end_reason: s.revoke_reason.clone(),
        }
    }
}

/// A policy as applied: the absolute lifetime and the idle timeout (`null` when off).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyJson {
    pub absolute_timeout_minutes: u32,
    pub idle_timeout_enabled: bool,
    pub idle_timeout_minutes: Option<u32>,
}

impl From<&SessionPolicy> for PolicyJson {
    fn from(p: &SessionPolicy) -> Self {
        Self {
            absolute_timeout_minutes: p.absolute_minutes,
            idle_timeout_enabled: p.idle_minutes.is_some(),
            idle_timeout_minutes: p.idle_minutes,
        }
    }
}

/// An organization's override; `null` fields follow the application default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OverrideJson {
    pub absolute_timeout_minutes: Option<u32>,
    pub idle_timeout_enabled: Option<bool>,
    pub idle_timeout_minutes: Option<u32>,
}

impl From<&OrgSessionPolicy> for OverrideJson {
    fn from(p: &OrgSessionPolicy) -> Self {
        Self {
            absolute_timeout_minutes: p.absolute_minutes,
            idle_timeout_enabled: p.idle_enabled,
            idle_timeout_minutes: p.idle_minutes,
        }
    }
}

/// `GET /api/v1/organizations/{org_id}/session-policy`, and the `organization.session_policy_updated`
/// event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionPolicyJson {
    pub organization_id: String,
    pub app_default: PolicyJson,
    #[serde(rename = "override")]
    pub org_override: OverrideJson,
    pub effective: PolicyJson,
}

impl SessionPolicyJson {
    pub fn new(org_id: &str, app: &SessionPolicy, org: &OrgSessionPolicy) -> Self {
        Self {
            organization_id: org_id.to_string(),
            app_default: PolicyJson::from(app),
            org_override: OverrideJson::from(org),
            effective: PolicyJson::from(&SessionPolicy::effective(app, org)),
        }
    }
}
