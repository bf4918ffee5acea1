//! The rate limits of the hosted sign-in screens: per client IP and per account (the email typed,
//! whether or not it has an account, so limits reveal nothing either), for password guesses, code
//! guesses and mail sends. The counting lives in `db::rate_limits`.

use crate::crypto;
use crate::db::{self, rate_limits::Policy};
use crate::state::AppState;

const MINUTE: i64 = 60_000;

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Wrong passwords.
    PasswordFailure,
    /// Wrong one-time codes (sign-in and sign-up verification).
    CodeFailure,
    /// Mails that a form sends: sign-in codes, sign-up codes, reset links.
    MailSend,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PasswordFailure => "password",
            Kind::CodeFailure => "code",
            Kind::MailSend => "mail",
        }
    }

    /// (per IP, per account). A shared office IP gets more room than one account; every block
    /// starts at a minute and doubles up to an hour.
    fn policies(self) -> (Policy, Policy) {
        let p = |limit| Policy {
            limit,
            window_ms: 15 * MINUTE,
            block_ms: MINUTE,
            max_block_ms: 60 * MINUTE,
        };
        match self {
            Kind::PasswordFailure => (p(30), p(5)),
            Kind::CodeFailure => (p(30), p(10)),
            Kind::MailSend => (p(20), p(5)),
        }
    }
}

/// A refused attempt: try again after this many seconds (the `Retry-After` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

fn keys(kind: Kind, ip: Option<&str>, account: &str) -> (String, String) {
    let ip = ip.unwrap_or("unknown");
    // The account key holds a hash, so the table lists no email addresses.
    let account = &crypto::token_hash(&account.to_lowercase())[..32];
    (
        format!("{}:ip:{ip}", kind.name()),
        format!("{}:acct:{account}", kind.name()),
    )
}

fn limited(wait_ms: i64) -> Limited {
    Limited {
        retry_after_secs: ((wait_ms + 999) / 1000).max(1) as u64,
    }
}

/// Whether the IP or the account is blocked for `kind` right now. Checked before the work (a
/// password hash, a code lookup) so a blocked caller costs almost nothing.
pub async fn check(
    state: &AppState,
    kind: Kind,
    ip: Option<&str>,
    account: &str,
) -> anyhow::Result<Option<Limited>> {
    let (ip_key, account_key) = keys(kind, ip, account);
    let wait =
        db::rate_limits::blocked_for(state.db.conn(), &[ip_key, account_key], db::now_ms()).await?;
    Ok(wait.map(limited))
}

/// Counts one attempt against the IP and the account; refused when either is over its limit.
pub async fn record(
    state: &AppState,
    kind: Kind,
    ip: Option<&str>,
    account: &str,
) -> anyhow::Result<Option<Limited>> {
    let (ip_key, account_key) = keys(kind, ip, account);
    let (ip_policy, account_policy) = kind.policies();
    let now = db::now_ms();
    let a = db::rate_limits::hit(&state.db, &ip_key, &ip_policy, now).await?;
    let b = db::rate_limits::hit(&state.db, &account_key, &account_policy, now).await?;
    Ok(a.max(b).map(limited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hide_the_address_and_ignore_case() {
        let (ip, acct) = keys(Kind::PasswordFailure, Some("10.0.0.1"), "Ann@Example.com");
        assert_eq!(ip, "password:ip:10.0.0.1");
        assert!(!acct.contains("ann"));
        assert_eq!(acct, keys(Kind::PasswordFailure, None, "ann@example.com").1);
        assert_eq!(limited(1).retry_after_secs, 1);
        assert_eq!(limited(60_000).retry_after_secs, 60);
        assert_eq!(limited(60_001).retry_after_secs, 61);
    }
}
