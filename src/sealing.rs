//! Values Portal must read back but never store in the clear (webhook signing secrets), sealed
//! with AES-256-GCM under one data key.
//!
//! The key comes from `PORTAL_ENCRYPTION_KEY` (base64 of 32 bytes) when it is set, so operators
//! can keep it outside the database; otherwise it is generated once and kept in the `secrets`
//! table, like the cookie key (then a database dump alone reveals sealed values: set the variable
//! where that matters). Each value is bound to the row it belongs to (associated data), so a
//! sealed value copied to another row does not open.
//!
//! Format: `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`, with a random 96-bit nonce per value.

use crate::crypto::random_bytes;
use crate::db::{self, Conn};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::sync::Arc;

const VERSION: &str = "v1.";
/// The name of the generated key in the `secrets` table.
const SECRET_NAME: &str = "data_key";

/// The data key. Cloning shares it.
#[derive(Clone)]
pub struct DataKey(Arc<LessSafeKey>);

impl DataKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        if bytes.len() != 32 {
            bail!("the data key must be 32 bytes, got {}", bytes.len());
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow::anyhow!("the data key was refused"))?;
        Ok(Self(Arc::new(LessSafeKey::new(key))))
    }

    /// Decodes `PORTAL_ENCRYPTION_KEY` (standard or URL-safe base64, padded or not).
    pub fn from_base64(value: &str) -> anyhow::Result<Self> {
        let value = value.trim();
        let bytes = STANDARD
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
            .context("PORTAL_ENCRYPTION_KEY is not base64")?;
        Self::from_bytes(&bytes).context("PORTAL_ENCRYPTION_KEY must decode to 32 bytes")
    }

    /// The configured key, or the one generated into the database on first start.
    pub async fn load(db: &impl Conn, configured: Option<&str>) -> anyhow::Result<Self> {
        if let Some(value) = configured {
            return Self::from_base64(value);
        }
        let stored =
            db::secrets::get_or_create(db, SECRET_NAME, || STANDARD.encode(random_bytes(32)))
                .await?;
        Self::from_base64(&stored).context("the stored data key is damaged")
    }

    pub fn seal(&self, plaintext: &[u8], bound_to: &str) -> String {
        let nonce_bytes = random_bytes(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&nonce_bytes);
        let mut buf = plaintext.to_vec();
        // Sealing fails only for inputs of gigabytes; these are secrets of a few dozen bytes.
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound_to.as_bytes()),
                &mut buf,
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM sealing of a short value cannot fail"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, sealed: &str, bound_to: &str) -> anyhow::Result<Vec<u8>> {
        let body = sealed
            .strip_prefix(VERSION)
            .context("sealed value has an unknown format")?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .context("sealed value is not base64")?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            bail!("sealed value is truncated");
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound_to.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "sealed value does not open with this data key (was PORTAL_ENCRYPTION_KEY changed?)"
                )
            })?;
        Ok(plain.to_vec())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_row() {
        let k = key();
        let sealed = k.seal(b"whsec_abc", "whe_1");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("whsec"));
        assert_eq!(k.open(&sealed, "whe_1").unwrap(), b"whsec_abc");
        assert!(k.open(&sealed, "whe_2").is_err(), "bound to its row");
        let other = DataKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed, "whe_1").is_err(), "bound to its key");
        assert_ne!(
            k.seal(b"x", "r"),
            k.seal(b"x", "r"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn tampering_is_detected() {
        let k = key();
        let sealed = k.seal(b"secret", "row");
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(k.open(&forged, "row").is_err());
        assert!(k.open("v1.AAAA", "row").is_err());
        assert!(k.open("v2.whatever", "row").is_err());
    }

    #[test]
    fn configured_keys_must_be_32_bytes_of_base64() {
        assert!(DataKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(DataKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 32])).is_ok());
        assert!(DataKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(DataKey::from_base64("not base64!").is_err());
    }
}
