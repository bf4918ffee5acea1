//! Identifiers: a short type prefix and a UUIDv7 in hex, so ids sort by creation time and say what
//! they name (`org_…`, `usr_…`, `evt_…`).

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub const ORG: &str = "org";
pub const USER: &str = "usr";
pub const MEMBERSHIP: &str = "mem";
pub const ROLE: &str = "rol";
pub const SESSION: &str = "ses";
pub const EVENT: &str = "evt";
pub const AUTH_REQUEST: &str = "areq";
pub const INVITE: &str = "inv";
pub const DOMAIN: &str = "dom";
pub const KEY: &str = "key";
pub const REFRESH: &str = "rt";
pub const CODE: &str = "otc";
pub const WEBHOOK: &str = "whe";
pub const DELIVERY: &str = "whd";
pub const ATTEMPT: &str = "wha";
pub const BACKCHANNEL: &str = "bcl";
pub const PASSKEY: &str = "pk";
pub const CEREMONY: &str = "wac";

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_ordered() {
        let a = super::new_id("org");
        let b = super::new_id("org");
        assert!(a.starts_with("org_") && a.len() == 36);
        assert!(a < b);
    }
}
