//! Invites as the API and the `user.organization_invitation` event show them.

use crate::db::events::rfc3339;
use crate::db::invites::{self, Invite};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct InviteJson {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted`, `revoked` or `expired` (a pending invite past its expiry).
    pub status: String,
    pub invited_by: Option<String>,
    pub expires_at: String,
    pub sent_at: Option<String>,
    pub send_attempts: i32,
    pub last_error: Option<String>,
    pub accepted_at: Option<String>,
    pub created_at: String,
}

impl InviteJson {
    pub fn new(i: &Invite, role_name: &str, now: i64) -> Self {
        Self {
            id: i.id.clone(),
            organization_id: i.organization_id.clone(),
            email: i.email.clone(),
            role: role_name.into(),
            status: effective_status(i, now).into(),
            invited_by: i.invited_by.clone(),
            expires_at: rfc3339(i.expires_at),
            sent_at: i.sent_at.map(rfc3339),
            send_attempts: i.send_attempts,
            last_error: i.last_error.clone(),
            accepted_at: i.accepted_at.map(rfc3339),
            created_at: rfc3339(i.created_at),
        }
    }
}

/// The status as a reader should see it: a pending invite past its expiry is `expired`.
pub fn effective_status(i: &Invite, now: i64) -> &str {
    if i.status == invites::PENDING && i.expires_at <= now {
        "expired"
    } else {
        &i.status
    }
}

/// Payload of `user.organization_invitation`: the invite and what just happened to it
/// (`created`, `resent`, `revoked`, `accepted`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct InvitationEvent {
    pub status: String,
    pub invitation: InviteJson,
}
