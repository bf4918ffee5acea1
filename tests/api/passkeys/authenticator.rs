//! A software WebAuthn authenticator for the tests: ES256 keys (ring), discoverable credentials
//! that keep the user handle, "none" attestation, a signature counter, and client data for any
//! origin the test names (so a wrong origin can be tried). It speaks the JSON the page script
//! sends: base64url fields as in the WebAuthn JSON serialization.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

struct Credential {
    id: Vec<u8>,
    key: EcdsaKeyPair,
    rp_id: String,
    user_handle: Vec<u8>,
}

pub struct SoftAuthenticator {
    rng: SystemRandom,
    credentials: Vec<Credential>,
    counter: u32,
}

/// The head of a CBOR item (RFC 8949 §3): major type and argument.
fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn int(v: i64) -> Vec<u8> {
    if v >= 0 {
        head(0, v as u64)
    } else {
        head(1, (-1 - v) as u64)
    }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn map(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let mut v = head(5, entries.len() as u64);
    for (k, val) in entries {
        v.extend(k);
        v.extend(val);
    }
    v
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("options carry {name}: {v}"))
}

impl SoftAuthenticator {
    pub fn new() -> Self {
        Self {
            rng: SystemRandom::new(),
            credentials: Vec::new(),
            counter: 0,
        }
    }

    /// Answers `navigator.credentials.create({publicKey})` as a browser at `origin` would.
    pub fn create(&mut self, origin: &str, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = field(&pk["rp"], "id").to_string();
        let user_handle = B64
            .decode(field(&pk["user"], "id"))
            .expect("user id is base64url");
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": field(pk, "challenge"),
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &self.rng)
                .unwrap();
        let public = key.public_key().as_ref().to_vec(); // 0x04 || x || y
        let cose = map(vec![
            (int(1), int(2)),  // kty: EC2
            (int(3), int(-7)), // alg: ES256
            (int(-1), int(1)), // crv: P-256
            (int(-2), bytes(&public[1..33])),
            (int(-3), bytes(&public[33..65])),
        ]);
        let mut id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&self.rng, &mut id).unwrap();
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend(cose);
        let attestation = map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), map(vec![])),
            (text("authData"), bytes(&auth_data)),
        ]);
        self.credentials.push(Credential {
            id: id.clone(),
            key,
            rp_id,
            user_handle,
        });
        json!({
            "id": B64.encode(&id),
            "rawId": B64.encode(&id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "attestationObject": B64.encode(attestation),
                "clientDataJSON": B64.encode(client_data),
            },
        })
    }

    /// Answers `navigator.credentials.get({publicKey})` at `origin` with the first credential for
    /// the options' RP ID (discoverable: no allowed list needed).
    pub fn get(&mut self, origin: &str, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = field(pk, "rpId");
        let cred = self
            .credentials
            .iter()
            .find(|c| c.rp_id == rp_id)
            .expect("a credential for this RP");
        self.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": field(pk, "challenge"),
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(0x05); // user present, user verified
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(client_data.as_bytes()));
        let signature = cred.key.sign(&self.rng, &signed).unwrap();
        json!({
            "id": B64.encode(&cred.id),
            "rawId": B64.encode(&cred.id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": B64.encode(&auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(&cred.user_handle),
            },
        })
    }
}
