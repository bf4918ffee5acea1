//! JWT signing keys: RS256 over `ring` (about five times faster than the pure-Rust signer that
//! openidconnect ships), plugged into openidconnect through its `PrivateSigningKey` trait so ID tokens
//! are still built by that crate. Keys live in the database so every node signs with the same key.
//!
//! Rotation: a new key is inserted as `next` (published in the JWKS, not yet signing); promoting it
//! makes it `active` and retires the old one, which stays published until every token it signed has
//! expired.

use crate::crypto;
use crate::db::{self, Db};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One RSA key able to sign.
pub struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    jwk: CoreJsonWebKey,
}

impl SigningKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn from_stored(kid: &str, pkcs8_b64: &str) -> anyhow::Result<(Self, Verifier)> {
        let der = STANDARD
            .decode(pkcs8_b64)
            .with_context(|| format!("signing key {kid} is not base64"))?;
        let pair = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| anyhow::anyhow!("signing key {kid} is not a usable RSA key: {e}"))?;
        let (n, e) = rsa_components(&der)?;
        let jwk =
            CoreJsonWebKey::new_rsa(n.clone(), e.clone(), Some(JsonWebKeyId::new(kid.into())));
        Ok((
            Self {
                kid: kid.into(),
                pair,
                jwk,
            },
            Verifier { n, e },
        ))
    }

    fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| SigningError::Other("RSA signing failed".into()))?;
        Ok(sig)
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match alg {
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => self.sign_rs256(message),
            other => Err(SigningError::UnsupportedAlg(format!("{other:?}"))),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// The public half, for verifying our own tokens.
#[derive(Clone)]
struct Verifier {
    n: Vec<u8>,
    e: Vec<u8>,
}

fn rsa_components(pkcs8: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).context("stored key is not PKCS#8 RSA")?;
    Ok((key.n().to_bytes_be(), key.e().to_bytes_be()))
}

/// Generates a 2048-bit RSA key, PKCS#8 DER in base64.
pub fn generate_rsa_key() -> anyhow::Result<String> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .context("RSA key generation failed")?;
    let der = key.to_pkcs8_der().context("failed to encode the RSA key")?;
    Ok(STANDARD.encode(der.as_bytes()))
}

struct KeySet {
    active: Arc<SigningKey>,
    published: Vec<CoreJsonWebKey>,
    verifiers: HashMap<String, Verifier>,
}

/// The keys in use, shared by every handler; reloaded after a rotation.
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<RwLock<Arc<KeySet>>>,
}

impl KeyStore {
    /// Loads the published keys, generating the first active key when there is none.
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        if !db::keys::has_active(db.conn()).await? {
            let kid = crate::domain::ids::new_id(crate::domain::ids::KEY);
            let pem = tokio::task::spawn_blocking(generate_rsa_key).await??;
            db::keys::insert(db.conn(), &kid, pem, db::keys::ACTIVE).await?;
            tracing::info!(kid, "generated the first token signing key");
        }
        let set = Self::read(db).await?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    pub async fn reload(&self, db: &Db) -> anyhow::Result<()> {
        let set = Self::read(db).await?;
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }

    async fn read(db: &Db) -> anyhow::Result<KeySet> {
        let stored = db::keys::published(db.conn()).await?;
        let mut active = None;
        let mut published = Vec::new();
        let mut verifiers = HashMap::new();
        for key in &stored {
            let (signing, verifier) = SigningKey::from_stored(&key.kid, &key.private_key)?;
            published.push(signing.as_verification_key());
            verifiers.insert(key.kid.clone(), verifier);
            // Keys come oldest first, so the newest active key wins if two nodes raced at first start.
            if key.status == db::keys::ACTIVE {
                active = Some(Arc::new(signing));
            }
        }
        let Some(active) = active else {
            bail!("no active signing key is stored");
        };
        Ok(KeySet {
            active,
            published,
            verifiers,
        })
    }

    fn current(&self) -> Arc<KeySet> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn active(&self) -> Arc<SigningKey> {
        self.current().active.clone()
    }

    pub fn jwks(&self) -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(self.current().published.clone())
    }

    /// Signs `claims` as a compact JWS with the active key and the given `typ` header.
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let key = self.active();
        let header = serde_json::json!({ "alg": "RS256", "typ": typ, "kid": key.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let sig = key
            .sign_rs256(signing_input.as_bytes())
            .map_err(|e| anyhow::anyhow!("failed to sign token: {e}"))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Verifies a compact JWS signed by one of our published keys and returns its claims. Checks only
    /// the signature and header; the caller checks the claims.
    pub fn verify_jwt(&self, token: &str, typ: &str) -> Result<serde_json::Value, TokenError> {
        self.verify_with(token, |t| t == Some(typ))
    }

    /// Verifies an ID token of ours (no `typ` header, or `JWT`) and returns its claims; the caller
    /// checks them. Used for `id_token_hint`, which may be expired.
    pub fn verify_id_token(&self, token: &str) -> Result<serde_json::Value, TokenError> {
        self.verify_with(token, |t| t.is_none_or(|t| t.eq_ignore_ascii_case("JWT")))
    }

    /// The key ids in the JWKS, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        self.current()
            .published
            .iter()
            .filter_map(|k| {
                use openidconnect::JsonWebKey;
                k.key_id().map(|id| id.as_str().to_string())
            })
            .collect()
    }

    fn verify_with(
        &self,
        token: &str,
        typ_ok: impl Fn(Option<&str>) -> bool,
    ) -> Result<serde_json::Value, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = decode_json(h)?;
        if header["alg"] != "RS256" || !typ_ok(header.get("typ").and_then(|t| t.as_str())) {
            return Err(TokenError::Malformed);
        }
        let kid = header["kid"].as_str().ok_or(TokenError::Malformed)?;
        let set = self.current();
        let verifier = set.verifiers.get(kid).ok_or(TokenError::UnknownKey)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        RsaPublicKeyComponents {
            n: &verifier.n,
            e: &verifier.e,
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &sig,
        )
        .map_err(|_| TokenError::BadSignature)?;
        decode_json(p)
    }
}

fn decode_json(part: &str) -> Result<serde_json::Value, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid here")]
    WrongAudience,
}

/// How long a new key is published before it signs. Longer than the JWKS cache lifetime
/// (`Cache-Control: max-age=300` on `/.well-known/jwks.json`) plus a reload interval, so every
/// verifier has fetched the key before the first token it signs.
pub const PUBLISH_DELAY_MS: i64 = 10 * 60 * 1000;
/// How often each node re-reads the keys, so nodes converge after a rotation elsewhere.
pub const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What `portal keys rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A new key is published and starts signing at `signs_from` (ms).
    Published { kid: String, signs_from: i64 },
    /// A key from an earlier rotation is still waiting for its publish delay.
    AlreadyPending { kid: String, signs_from: i64 },
}

/// Starts a rotation: a new `next` key, published at once, signing after [`PUBLISH_DELAY_MS`].
pub async fn rotate(db: &Db) -> anyhow::Result<Rotation> {
    maintain(db, db::now_ms()).await?;
    if let Some(pending) = db::keys::next_keys(db.conn()).await?.into_iter().last() {
        return Ok(Rotation::AlreadyPending {
            signs_from: pending.created_at + PUBLISH_DELAY_MS,
            kid: pending.kid,
        });
    }
    let kid = crate::domain::ids::new_id(crate::domain::ids::KEY);
    let pem = tokio::task::spawn_blocking(generate_rsa_key).await??;
    if !db::keys::has_active(db.conn()).await? {
        // Nothing signs yet (Portal never started on this database): the new key signs at once.
        db::keys::insert(db.conn(), &kid, pem, db::keys::ACTIVE).await?;
        return Ok(Rotation::Published {
            kid,
            signs_from: db::now_ms(),
        });
    }
    db::keys::insert(db.conn(), &kid, pem, db::keys::NEXT).await?;
    let created = db::keys::next_keys(db.conn())
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .map(|k| k.created_at)
        .unwrap_or_else(db::now_ms);
    Ok(Rotation::Published {
        kid,
        signs_from: created + PUBLISH_DELAY_MS,
    })
}

/// What one maintenance pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// The key that became active.
    pub promoted: Option<String>,
    /// Retired keys deleted because every token they signed has expired.
    pub dropped: u64,
}

/// Promotes a `next` key whose publish delay has passed (retiring the active key for the longest
/// token lifetime) and deletes retired keys past `retire_at`. Safe on several nodes at once: the
/// promotion is a conditional update in one transaction. `now` is a parameter so tests can step
/// time instead of waiting.
pub async fn maintain(db: &Db, now: i64) -> anyhow::Result<Maintenance> {
    let mut out = Maintenance::default();
    let due = db::keys::next_keys(db.conn())
        .await?
        .into_iter()
        .rfind(|k| k.created_at + PUBLISH_DELAY_MS <= now);
    if let Some(key) = due {
        let env = db::environment::get(db.conn()).await?;
        let lifetimes = db::environment::TokenLifetimes::of(&env);
        let tx = db.begin_write().await?;
        let promoted =
            db::keys::promote(&tx, &key.kid, now + lifetimes.longest_signed_ms()).await?;
        tx.commit()
            .await
            .context("failed to commit a key promotion")?;
        if promoted {
            tracing::info!(kid = key.kid, "signing key promoted to active");
            out.promoted = Some(key.kid);
        }
    }
    out.dropped = db::keys::delete_retired_before(db.conn(), now).await?;
    Ok(out)
}

/// A short fingerprint for logs that must not show a key or token.
pub fn fingerprint(secret: &str) -> String {
    crypto::hex(&crypto::sha256(secret.as_bytes())[..4])
}
