//! Invites as the widgets and the API use them: each call is one org-actor message, and the invite
//! mailer is woken after anything that has mail to send. Also the parsing of "one or many
//! addresses" as people type them into a form.

use crate::actors::org::{
    AcceptInvite, Accepted, CreateInvites, NewAccount, OrgError, ResendInvite, RevokeInvite,
};
use crate::db;
use crate::domain::{EmailAddress, RoleName};
use crate::state::AppState;
use crate::wire::invites::InviteJson;

/// Most addresses one invite request may carry.
pub const MAX_BATCH: usize = 100;

/// Addresses separated by commas, semicolons, spaces or new lines. Refuses the whole list, naming
/// each address that is not one, so the form can say exactly what to fix.
pub fn parse_addresses(input: &str) -> Result<Vec<EmailAddress>, String> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for part in input
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match EmailAddress::parse(part) {
            Ok(email) => good.push(email),
            Err(_) => bad.push(part.to_string()),
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "Not an email address: {}. Separate addresses with commas or new lines.",
            bad.join(", ")
        ));
    }
    if good.is_empty() {
        return Err("Enter at least one email address.".into());
    }
    if good.len() > MAX_BATCH {
        return Err(format!("Invite at most {MAX_BATCH} addresses at a time."));
    }
    Ok(good)
}

pub async fn create(
    state: &AppState,
    org_id: &str,
    emails: Vec<EmailAddress>,
    role: RoleName,
    invited_by: Option<String>,
) -> Result<Vec<InviteJson>, OrgError> {
    let created = state
        .ask_org(
            org_id,
            CreateInvites {
                emails,
                role,
                invited_by,
            },
        )
        .await?;
    state.invites.wake();
    Ok(created)
}

pub async fn resend(
    state: &AppState,
    org_id: &str,
    invite_id: &str,
) -> Result<InviteJson, OrgError> {
    let invite = state
        .ask_org(
            org_id,
            ResendInvite {
                invite_id: invite_id.into(),
            },
        )
        .await?;
    state.invites.wake();
    Ok(invite)
}

pub async fn revoke(
    state: &AppState,
    org_id: &str,
    invite_id: &str,
) -> Result<InviteJson, OrgError> {
    state
        .ask_org(
            org_id,
            RevokeInvite {
                invite_id: invite_id.into(),
            },
        )
        .await
}

pub async fn accept(
    state: &AppState,
    invite: &db::invites::Invite,
    new_account: Option<NewAccount>,
) -> Result<Accepted, OrgError> {
    state
        .ask_org(
            &invite.organization_id,
            AcceptInvite {
                invite_id: invite.id.clone(),
                new_account,
            },
        )
        .await
}

/// Where an invite link stands, for the page that opens it.
#[derive(Debug)]
pub enum LinkState {
    Usable(Box<db::invites::Invite>),
    Accepted,
    Revoked,
    Expired,
    /// No invite has this token (mistyped, or replaced by a newer mail).
    Unknown,
}

pub async fn look_up(state: &AppState, token: &str) -> anyhow::Result<LinkState> {
    let hash = crate::crypto::token_hash(token);
    let Some(invite) = db::invites::find_by_token_hash(state.db.conn(), &hash).await? else {
        return Ok(LinkState::Unknown);
    };
    Ok(match invite.status.as_str() {
        db::invites::ACCEPTED => LinkState::Accepted,
        db::invites::REVOKED => LinkState::Revoked,
        _ if invite.expires_at <= db::now_ms() => LinkState::Expired,
        _ => LinkState::Usable(Box::new(invite)),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_addresses;

    #[test]
    fn many_addresses_in_one_field() {
        let list = parse_addresses("a@acme.test, B@Acme.test\nc@acme.test;").expect("valid");
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].as_str(), "b@acme.test");
        let err = parse_addresses("a@acme.test, nope").expect_err("one is bad");
        assert!(err.contains("nope"));
        assert!(parse_addresses("  ").is_err());
    }
}
