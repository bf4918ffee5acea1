//! Small cryptographic helpers: random tokens, token hashing, HMAC, constant-time comparison and
//! password hashing on a bounded blocking pool.

use anyhow::Context;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{digest, hmac};
use std::sync::{Arc, OnceLock};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// `n` random bytes from the OS generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .unwrap_or_else(|_| panic!("the operating system's random generator failed"));
    buf
}

/// A URL-safe random token carrying `bytes` bytes of entropy (32 → 256 bits).
pub fn random_token(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// A number in `0..bound`, without modulo bias.
pub fn random_below(bound: u32) -> u32 {
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let b = random_bytes(4);
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v < zone {
            return v % bound;
        }
    }
}

/// The hash stored for a token: hex SHA-256. Tokens are high-entropy random values, so a fast hash is
/// enough (nothing to brute-force) and lookups stay indexable; passwords use argon2 instead.
pub fn token_hash(token: &str) -> String {
    hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Constant-time equality for secrets of possibly different lengths.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A key for HMAC-SHA256 (the cookie key, webhook secrets).
#[derive(Clone)]
pub struct HmacKey(hmac::Key);

impl HmacKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.0, message).as_ref().to_vec()
    }

    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, message, tag).is_ok()
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(…)")
    }
}

/// Argon2id password hashing (argon2's defaults: the OWASP parameters m=19 MiB, t=2, p=1).
///
/// Each hash costs tens of milliseconds of CPU, so hashing runs on the blocking pool behind a
/// semaphore sized to the cores: a burst of logins queues here instead of starving the server.
pub struct Passwords;

fn hashing_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

impl Passwords {
    pub async fn hash(password: String) -> anyhow::Result<String> {
        let _permit = hashing_permits().acquire_owned().await?;
        tokio::task::spawn_blocking(move || Self::hash_blocking(&password))
            .await
            .context("password hashing task failed")?
    }

    pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("failed to hash password: {e}"))
    }

    /// Verifies `password` against a stored hash. With no hash (unknown user, or an account without a
    /// password) it verifies against a fixed dummy hash so the answer takes the same time.
    pub async fn verify(stored: Option<String>, password: String) -> bool {
        let Ok(_permit) = hashing_permits().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let hash = stored.unwrap_or_else(|| dummy_hash().to_string());
            Self::verify_blocking(&hash, &password) && known
        })
        .await
        .unwrap_or(false)
    }

    pub fn verify_blocking(stored: &str, password: &str) -> bool {
        match argon2::password_hash::phc::PasswordHash::new(stored) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Passwords::hash_blocking(&random_token(16)).unwrap_or_else(|_| String::from("$argon2id$"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secure_eq_compares_content_and_length() {
        assert!(secure_eq(b"abc", b"abc"));
        assert!(!secure_eq(b"abc", b"abd"));
        assert!(!secure_eq(b"abc", b"abcd"));
    }

    #[test]
    fn passwords_round_trip() {
        let hash = Passwords::hash_blocking("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(Passwords::verify_blocking(&hash, "correct horse battery"));
        assert!(!Passwords::verify_blocking(&hash, "wrong"));
        assert!(!Passwords::verify_blocking("not a hash", "x"));
    }

    #[test]
    fn random_below_stays_in_range() {
        for _ in 0..1000 {
            assert!(random_below(10) < 10);
        }
    }
}
