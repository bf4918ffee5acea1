//! Passkeys (WebAuthn, through webauthn-rs): registering a named, discoverable credential for a
//! signed-in user, and usernameless sign-in (the browser offers the passkeys it holds for Portal;
//! the assertion's user handle says whose it is).
//!
//! Ceremony state (challenge, expectations) is stored server-side (`db::passkeys`) and spent once,
//! so an assertion cannot be replayed; webauthn-rs checks the origin, the RP ID hash, the
//! challenge, user verification and the signature. The relying party is Portal's public URL: its
//! host is the RP ID and its origin the only origin accepted. WebAuthn needs a domain name, so a
//! Portal served at a bare IP address has no passkeys (the pages say so).

use crate::db::{self, passkeys as store, users::User};
use crate::state::AppState;
use std::sync::Arc;
use webauthn_rs::prelude::*;

pub const REGISTER: &str = "register";
pub const SIGN_IN: &str = "sign_in";
/// Longest passkey name.
pub const MAX_NAME: usize = 100;

/// Why a passkey ceremony failed, in words for the page.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error(
        "Passkeys are not available on this server (it needs a domain name, not an IP address)."
    )]
    Unavailable,
    #[error("This passkey request has expired or was already used. Please try again.")]
    CeremonyGone,
    #[error("The passkey response could not be verified.")]
    Rejected,
    #[error("This passkey is not registered here.")]
    UnknownCredential,
    #[error("This passkey is already registered.")]
    AlreadyRegistered,
    #[error("{0}")]
    InvalidName(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The relying party, built from the public URL; `None` when that URL has no domain name.
pub fn relying_party(public_url: &Url, name: &str) -> Option<Arc<Webauthn>> {
    let host = public_url.domain()?;
    WebauthnBuilder::new(host, public_url)
        .ok()?
        .rp_name(name)
        .build()
        .ok()
        .map(Arc::new)
}

/// The WebAuthn user handle of a Portal user: stable, derived from the user id, revealing nothing.
pub fn user_handle(user_id: &str) -> Uuid {
    let digest = crate::crypto::sha256(format!("portal-passkey-user:{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn webauthn(state: &AppState) -> Result<&Webauthn, PasskeyError> {
    state.webauthn.as_deref().ok_or(PasskeyError::Unavailable)
}

fn credential_key(id: &CredentialID) -> String {
    use base64::Engine;
    let raw: &[u8] = id.as_ref();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// A checked passkey name: trimmed, 1 to [`MAX_NAME`] characters.
pub fn parse_name(raw: &str) -> Result<String, PasskeyError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(PasskeyError::InvalidName(
            "Give the passkey a name, such as \"Work laptop\".".into(),
        ));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName(format!(
            "A passkey name is at most {MAX_NAME} characters, without control characters."
        )));
    }
    Ok(name.to_string())
}

/// Starts registering a passkey for `user`: the options for `navigator.credentials.create` and the
/// ceremony to finish it with (the options as JSON, `CreationChallengeResponse` with one change:
/// the credential is asked to be discoverable, so it can sign in without a username).
pub async fn start_registration(
    state: &AppState,
    user: &User,
) -> Result<(String, serde_json::Value), PasskeyError> {
    let wa = webauthn(state)?;
    let existing: Vec<CredentialID> = store::list_for_user(state.db.conn(), &user.id)
        .await?
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let display = if user.name.is_empty() {
        &user.email
    } else {
        &user.name
    };
    let (options, registration) = wa
        .start_passkey_registration(user_handle(&user.id), &user.email, display, Some(existing))
        .map_err(|e| anyhow::anyhow!("could not start passkey registration: {e}"))?;
    // Discoverable: the authenticator keeps the user handle, so sign-in needs no username.
    // (webauthn-rs's passkey registration leaves this to the authenticator; the server-side state
    // does not depend on it.)
    let mut options = serde_json::to_value(&options).map_err(anyhow::Error::from)?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "required".into();
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = true.into();
    let saved = serde_json::to_string(&registration).map_err(anyhow::Error::from)?;
    let id = store::create_ceremony(state.db.conn(), REGISTER, Some(&user.id), saved).await?;
    Ok((id, options))
}

/// Finishes a registration begun by this user.
pub async fn finish_registration(
    state: &AppState,
    user: &User,
    ceremony_id: &str,
    name: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<store::Passkey, PasskeyError> {
    let wa = webauthn(state)?;
    let name = parse_name(name)?;
    let conn = state.db.conn();
    let saved = store::take_ceremony(conn, ceremony_id, REGISTER, Some(&user.id))
        .await?
        .ok_or(PasskeyError::CeremonyGone)?;
    let registration: PasskeyRegistration =
        serde_json::from_str(&saved).map_err(anyhow::Error::from)?;
    let passkey = wa
        .finish_passkey_registration(credential, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            PasskeyError::Rejected
        })?;
    let key = credential_key(passkey.cred_id());
    if store::find_by_credential_id(conn, &key).await?.is_some() {
        return Err(PasskeyError::AlreadyRegistered);
    }
    let stored = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    Ok(store::create(conn, &user.id, &name, &key, stored).await?)
}

/// Starts a usernameless sign-in: options for `navigator.credentials.get` with no allowed list.
pub async fn start_sign_in(
    state: &AppState,
) -> Result<(String, RequestChallengeResponse), PasskeyError> {
    let wa = webauthn(state)?;
    let (mut options, auth) = wa
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("could not start passkey sign-in: {e}"))?;
    // A button press, not the autofill (conditional) flow webauthn-rs prepares by default.
    options.mediation = None;
    let saved = serde_json::to_string(&auth).map_err(anyhow::Error::from)?;
    let id = store::create_ceremony(state.db.conn(), SIGN_IN, None, saved).await?;
    Ok((id, options))
}

/// Finishes a sign-in: the user whose passkey answered the ceremony's challenge.
pub async fn finish_sign_in(
    state: &AppState,
    ceremony_id: &str,
    credential: &PublicKeyCredential,
) -> Result<User, PasskeyError> {
    let wa = webauthn(state)?;
    let conn = state.db.conn();
    let saved = store::take_ceremony(conn, ceremony_id, SIGN_IN, None)
        .await?
        .ok_or(PasskeyError::CeremonyGone)?;
    let auth: DiscoverableAuthentication =
        serde_json::from_str(&saved).map_err(anyhow::Error::from)?;
    let (handle, cred_id) = wa
        .identify_discoverable_authentication(credential)
        .map_err(|_| PasskeyError::Rejected)?;
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cred_id)
    };
    let row = store::find_by_credential_id(conn, &key)
        .await?
        .ok_or(PasskeyError::UnknownCredential)?;
    if user_handle(&row.user_id) != handle {
        return Err(PasskeyError::Rejected);
    }
    let mut passkey: Passkey =
        serde_json::from_str(&row.credential).map_err(anyhow::Error::from)?;
    #[allow(deprecated)] // the v2 call needs the credential internals feature
    let result = wa
        .finish_discoverable_authentication(credential, auth, &[DiscoverableKey::from(&passkey)])
        .map_err(|e| {
            tracing::info!(error = %e, "passkey sign-in refused");
            PasskeyError::Rejected
        })?;
    passkey.update_credential(&result);
    let stored = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    store::record_use(conn, &row.id, stored).await?;
    db::users::find(conn, &row.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(PasskeyError::UnknownCredential)
}
