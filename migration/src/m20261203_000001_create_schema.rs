//! The whole first schema: environment settings, OAuth clients and keys, organizations, users, roles,
//! memberships, invites, domains, sessions, the events outbox, webhooks, back-channel logout, SSO, SCIM
//! and passkeys. Later migrations add to it; they do not reshape it.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; `down` drops them in reverse so children go before parents.
const TABLES: &[&str] = &[
    "environments",
    "event_counters",
    "secrets",
    "signing_keys",
    "clients",
    "organizations",
    "organization_features",
    "users",
    "permissions",
    "roles",
    "role_permissions",
    "memberships",
    "invites",
    "domains",
    "sessions",
    "session_clients",
    "auth_requests",
    "auth_codes",
    "refresh_tokens",
    "one_time_codes",
    "rate_limits",
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "backchannel_deliveries",
    "sso_connections",
    "scim_directories",
    "scim_tokens",
    "passkeys",
    "webauthn_ceremonies",
];

fn tables() -> Vec<TableCreateStatement> {
    vec![
        // One row per environment (a deployment has one today; the id keeps the door open).
        table("environments")
            .col(id("id"))
            .col(string("name"))
            .col(text_null("logo_url"))
            .col(text_null("favicon_url"))
            .col(string_null("primary_color"))
            // JSON list of host names served as custom domains.
            .col(text("custom_domains"))
            .col(text_null("initiate_login_uri"))
            .col(int("session_absolute_minutes", 10080))
            .col(flag("session_idle_enabled", false))
            .col(int("session_idle_minutes", 1440))
            .col(int("id_token_ttl_secs", 3600))
            .col(int("access_token_ttl_secs", 900))
            .col(int("refresh_token_ttl_secs", 2_592_000))
            .col(time("created_at"))
            .col(time("updated_at"))
            .to_owned(),
        // The per-environment event sequence. Writers bump it inside their transaction, so the row lock
        // orders commits and readers never see seq N+1 before N (see db::events).
        table("event_counters")
            .col(id("environment_id"))
            .col(big("last_seq"))
            .to_owned(),
        // Generated secrets such as the cookie key. Never logged.
        table("secrets")
            .col(id("name"))
            .col(text("value"))
            .col(time("created_at"))
            .to_owned(),
        // JWT signing keys. status: next (published, not signing) | active (signing) | retired (published
        // until `retire_at`, then dropped from the JWKS).
        table("signing_keys")
            .col(id("kid"))
            .col(string("algorithm"))
            .col(text("private_key"))
            .col(string("status"))
            .col(time("created_at"))
            .col(time_null("activated_at"))
            .col(time_null("retire_at"))
            .to_owned(),
        table("clients")
            .col(id("id"))
            .col(string("environment_id"))
            .col(string("name"))
            // confidential | public
            .col(string("client_type"))
            .col(string_null("secret_hash"))
            .col(text("redirect_uris"))
            .col(text("post_logout_redirect_uris"))
            .col(text_null("backchannel_logout_uri"))
            .col(text("grant_types"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade("clients", "environment_id", "environments"))
            .to_owned(),
        table("organizations")
            .col(id("id"))
            .col(string("environment_id"))
            .col(string("name"))
            .col(string_null("external_id"))
            .col(text_null("logo_url"))
            .col(text("allowed_email_domains"))
            .col(int_null("max_users"))
            // off | suggest | auto
            .col(string("domain_join_policy"))
            .col(int_null("session_absolute_minutes"))
            .col(flag_null("session_idle_enabled"))
            .col(int_null("session_idle_minutes"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "organizations",
                "environment_id",
                "environments",
            ))
            .to_owned(),
        table("organization_features")
            .col(string("organization_id"))
            .col(string("feature"))
            .col(flag("enabled", false))
            .col(time("updated_at"))
            .primary_key(Index::create().col("organization_id").col("feature"))
            .foreign_key(&mut cascade(
                "organization_features",
                "organization_id",
                "organizations",
            ))
            .to_owned(),
        table("users")
            .col(id("id"))
            .col(string("environment_id"))
            // Stored lower-cased; unique per environment.
            .col(string("email"))
            .col(flag("email_verified", false))
            .col(string("name"))
            .col(string_null("given_name"))
            .col(string_null("family_name"))
            .col(text_null("password_hash"))
            .col(string_null("external_id"))
            .col(flag("disabled", false))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade("users", "environment_id", "environments"))
            .to_owned(),
        table("permissions")
            .col(id("name"))
            .col(text("description"))
            .to_owned(),
        table("roles")
            .col(id("id"))
            .col(string("environment_id"))
            .col(string("name"))
            .col(string("display_name"))
            .col(text("description"))
            .col(flag("builtin", false))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade("roles", "environment_id", "environments"))
            .to_owned(),
        table("role_permissions")
            .col(string("role_id"))
            .col(string("permission"))
            .primary_key(Index::create().col("role_id").col("permission"))
            .foreign_key(&mut cascade("role_permissions", "role_id", "roles"))
            .foreign_key(
                ForeignKey::create()
                    .from("role_permissions", "permission")
                    .to("permissions", "name")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
        table("memberships")
            .col(id("id"))
            .col(string("organization_id"))
            .col(string("user_id"))
            .col(string("role_id"))
            // active | invited | removed
            .col(string("status"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "memberships",
                "organization_id",
                "organizations",
            ))
            .foreign_key(&mut cascade("memberships", "user_id", "users"))
            .foreign_key(
                ForeignKey::create()
                    .from("memberships", "role_id")
                    .to("roles", "id")
                    .on_delete(ForeignKeyAction::Restrict),
            )
            .to_owned(),
        table("invites")
            .col(id("id"))
            .col(string("organization_id"))
            .col(string("email"))
            .col(string("role_id"))
            .col(string("token_hash"))
            .col(string_null("invited_by"))
            // pending | accepted | revoked | expired
            .col(string("status"))
            .col(time("expires_at"))
            .col(int("send_attempts", 0))
            .col(time_null("next_send_at"))
            .col(time_null("sent_at"))
            .col(text_null("last_error"))
            .col(time_null("accepted_at"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade("invites", "organization_id", "organizations"))
            .foreign_key(&mut cascade("invites", "role_id", "roles"))
            .to_owned(),
        table("domains")
            .col(id("id"))
            .col(string("organization_id"))
            .col(string("domain"))
            // pending | verified | failed | unverified
            .col(string("status"))
            .col(string("verification_token"))
            .col(string_null("verification_method"))
            .col(flag("include_subdomains", false))
            .col(int("attempts", 0))
            .col(time_null("next_check_at"))
            .col(time_null("last_checked_at"))
            .col(text_null("last_result"))
            .col(time_null("verified_at"))
            .col(time_null("missing_since"))
            .col(time("expires_at"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade("domains", "organization_id", "organizations"))
            .to_owned(),
        table("sessions")
            .col(id("id"))
            .col(string("token_hash"))
            .col(string("user_id"))
            .col(string_null("organization_id"))
            // password | code | magic_link | passkey | sso | invite
            .col(string("auth_method"))
            .col(text_null("user_agent"))
            .col(string_null("browser"))
            .col(string_null("os"))
            .col(string_null("ip"))
            .col(time("created_at"))
            .col(time("auth_time"))
            .col(time("reauth_at"))
            .col(time("last_active_at"))
            .col(time_null("idle_expires_at"))
            .col(time("absolute_expires_at"))
            .col(time_null("revoked_at"))
            .col(string_null("revoke_reason"))
            .foreign_key(&mut cascade("sessions", "user_id", "users"))
            .to_owned(),
        // Which clients a session has signed into: the audience of back-channel logout.
        table("session_clients")
            .col(string("session_id"))
            .col(string("client_id"))
            .col(time("created_at"))
            .primary_key(Index::create().col("session_id").col("client_id"))
            .foreign_key(&mut cascade("session_clients", "session_id", "sessions"))
            .foreign_key(&mut cascade("session_clients", "client_id", "clients"))
            .to_owned(),
        // A validated /oauth/authorize request waiting for the user to sign in.
        table("auth_requests")
            .col(id("id"))
            .col(string("client_id"))
            .col(text("redirect_uri"))
            .col(text("scope"))
            .col(text_null("state"))
            .col(text_null("nonce"))
            .col(string_null("code_challenge"))
            .col(string_null("code_challenge_method"))
            .col(string_null("prompt"))
            .col(text_null("login_hint"))
            .col(string_null("organization_id"))
            .col(ColumnDef::new("max_age").big_integer().null())
            .col(time("created_at"))
            .col(time("expires_at"))
            .foreign_key(&mut cascade("auth_requests", "client_id", "clients"))
            .to_owned(),
        table("auth_codes")
            .col(id("code_hash"))
            .col(string("client_id"))
            .col(string("session_id"))
            .col(string("user_id"))
            .col(string_null("organization_id"))
            .col(text("redirect_uri"))
            .col(text("scope"))
            .col(text_null("nonce"))
            .col(string_null("code_challenge"))
            .col(time("auth_time"))
            .col(time("created_at"))
            .col(time("expires_at"))
            .col(time_null("used_at"))
            .foreign_key(&mut cascade("auth_codes", "client_id", "clients"))
            .foreign_key(&mut cascade("auth_codes", "session_id", "sessions"))
            .to_owned(),
        table("refresh_tokens")
            .col(id("id"))
            .col(string("token_hash"))
            .col(string("family_id"))
            .col(string("client_id"))
            .col(string_null("session_id"))
            .col(string("user_id"))
            .col(string_null("organization_id"))
            .col(text("scope"))
            .col(string_null("auth_code_hash"))
            .col(time("auth_time"))
            .col(time("created_at"))
            .col(time("expires_at"))
            .col(time_null("used_at"))
            .col(time_null("revoked_at"))
            .foreign_key(&mut cascade("refresh_tokens", "client_id", "clients"))
            .foreign_key(&mut cascade("refresh_tokens", "user_id", "users"))
            .to_owned(),
        // Emailed one-time codes and links: sign-in codes, email verification, password reset, email change.
        table("one_time_codes")
            .col(id("id"))
            .col(string("purpose"))
            .col(string("email"))
            .col(string_null("user_id"))
            .col(string_null("code_hash"))
            .col(string_null("link_hash"))
            .col(int("attempts", 0))
            .col(text_null("data"))
            .col(time("created_at"))
            .col(time("expires_at"))
            .col(time_null("used_at"))
            .to_owned(),
        // Fixed-window counters with exponential back-off, shared by every node.
        table("rate_limits")
            .col(id("key"))
            .col(int("count", 0))
            .col(int("strikes", 0))
            .col(time("window_start"))
            .col(time_null("blocked_until"))
            .to_owned(),
        // The events outbox: the single source of truth for live pushes, the event stream and webhooks.
        // No foreign keys: an event outlives what it describes.
        table("events")
            .col(id("id"))
            .col(string("environment_id"))
            .col(big("seq"))
            .col(string("event_type"))
            .col(string_null("organization_id"))
            .col(string_null("user_id"))
            .col(text("payload"))
            .col(time("created_at"))
            .to_owned(),
        table("webhook_endpoints")
            .col(id("id"))
            .col(string("environment_id"))
            .col(text("url"))
            .col(text("description"))
            .col(text("event_types"))
            .col(flag("enabled", true))
            .col(text("secret"))
            .col(text_null("previous_secret"))
            .col(time_null("previous_secret_expires_at"))
            .col(text_null("disabled_reason"))
            .col(time_null("failing_since"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "webhook_endpoints",
                "environment_id",
                "environments",
            ))
            .to_owned(),
        table("webhook_deliveries")
            .col(id("id"))
            .col(string("endpoint_id"))
            .col(string("event_id"))
            .col(big("seq"))
            .col(string_null("organization_id"))
            // pending | succeeded | failed (gave up) | cancelled
            .col(string("status"))
            .col(int("attempts", 0))
            .col(time("next_attempt_at"))
            .col(time_null("lease_until"))
            .col(string_null("leased_by"))
            .col(int_null("last_status"))
            .col(text_null("last_error"))
            .col(time_null("delivered_at"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "webhook_deliveries",
                "endpoint_id",
                "webhook_endpoints",
            ))
            .to_owned(),
        table("webhook_attempts")
            .col(id("id"))
            .col(string("delivery_id"))
            .col(time("attempted_at"))
            .col(int_null("status_code"))
            .col(int("latency_ms", 0))
            .col(text_null("response_snippet"))
            .col(text_null("error"))
            .foreign_key(&mut cascade(
                "webhook_attempts",
                "delivery_id",
                "webhook_deliveries",
            ))
            .to_owned(),
        table("backchannel_deliveries")
            .col(id("id"))
            .col(string("session_id"))
            .col(string("client_id"))
            .col(string("user_id"))
            .col(string("status"))
            .col(int("attempts", 0))
            .col(time("next_attempt_at"))
            .col(time_null("lease_until"))
            .col(int_null("last_status"))
            .col(text_null("last_error"))
            .col(time_null("delivered_at"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "backchannel_deliveries",
                "client_id",
                "clients",
            ))
            .to_owned(),
        table("sso_connections")
            .col(id("id"))
            .col(string("organization_id"))
            .col(string("provider"))
            .col(string("protocol"))
            .col(string("status"))
            .col(text("config"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "sso_connections",
                "organization_id",
                "organizations",
            ))
            .to_owned(),
        table("scim_directories")
            .col(id("id"))
            .col(string("organization_id"))
            .col(string("provider"))
            .col(string("status"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .foreign_key(&mut cascade(
                "scim_directories",
                "organization_id",
                "organizations",
            ))
            .to_owned(),
        table("scim_tokens")
            .col(id("id"))
            .col(string("directory_id"))
            .col(string("token_hash"))
            .col(string("prefix"))
            .col(time("created_at"))
            .col(time_null("last_used_at"))
            .col(time_null("revoked_at"))
            .foreign_key(&mut cascade(
                "scim_tokens",
                "directory_id",
                "scim_directories",
            ))
            .to_owned(),
        table("passkeys")
            .col(id("id"))
            .col(string("user_id"))
            .col(string("name"))
            .col(string("credential_id"))
            .col(text("credential"))
            .col(time("created_at"))
            .col(time_null("last_used_at"))
            .foreign_key(&mut cascade("passkeys", "user_id", "users"))
            .to_owned(),
        table("webauthn_ceremonies")
            .col(id("id"))
            .col(string("kind"))
            .col(string_null("user_id"))
            .col(text("state"))
            .col(time("created_at"))
            .col(time("expires_at"))
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(
            "organizations",
            "organizations_external_id",
            &["environment_id", "external_id"],
        ),
        unique("users", "users_email", &["environment_id", "email"]),
        unique("roles", "roles_name", &["environment_id", "name"]),
        unique(
            "memberships",
            "memberships_org_user",
            &["organization_id", "user_id"],
        ),
        index("memberships", "memberships_user", &["user_id"]),
        index(
            "memberships",
            "memberships_org_created",
            &["organization_id", "created_at"],
        ),
        unique("invites", "invites_token_hash", &["token_hash"]),
        index(
            "invites",
            "invites_org_email",
            &["organization_id", "email"],
        ),
        index("invites", "invites_next_send", &["status", "next_send_at"]),
        index("domains", "domains_domain", &["domain"]),
        index("domains", "domains_next_check", &["next_check_at"]),
        unique("sessions", "sessions_token_hash", &["token_hash"]),
        index("sessions", "sessions_user", &["user_id"]),
        index("sessions", "sessions_org", &["organization_id"]),
        index(
            "sessions",
            "sessions_absolute_expiry",
            &["absolute_expires_at"],
        ),
        unique(
            "refresh_tokens",
            "refresh_tokens_token_hash",
            &["token_hash"],
        ),
        index("refresh_tokens", "refresh_tokens_family", &["family_id"]),
        index("refresh_tokens", "refresh_tokens_session", &["session_id"]),
        index(
            "one_time_codes",
            "one_time_codes_purpose_email",
            &["purpose", "email"],
        ),
        unique("one_time_codes", "one_time_codes_link_hash", &["link_hash"]),
        unique("events", "events_env_seq", &["environment_id", "seq"]),
        index("events", "events_org_seq", &["organization_id", "seq"]),
        index("events", "events_created", &["created_at"]),
        unique(
            "webhook_deliveries",
            "webhook_deliveries_endpoint_event",
            &["endpoint_id", "event_id"],
        ),
        index(
            "webhook_deliveries",
            "webhook_deliveries_due",
            &["status", "next_attempt_at"],
        ),
        index(
            "webhook_attempts",
            "webhook_attempts_delivery",
            &["delivery_id"],
        ),
        index(
            "backchannel_deliveries",
            "backchannel_deliveries_due",
            &["status", "next_attempt_at"],
        ),
        unique("scim_tokens", "scim_tokens_token_hash", &["token_hash"]),
        unique("passkeys", "passkeys_credential_id", &["credential_id"]),
        index("passkeys", "passkeys_user", &["user_id"]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for stmt in tables() {
            manager.create_table(stmt).await?;
        }
        for stmt in indexes() {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*name).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_created_table_is_dropped() {
        let created = tables();
        assert_eq!(created.len(), TABLES.len());
        for (stmt, name) in created.iter().zip(TABLES) {
            let sql = stmt.to_string(SqliteQueryBuilder);
            let head = format!("CREATE TABLE IF NOT EXISTS \"{name}\"");
            assert!(sql.starts_with(&head), "{sql} should create {name}");
        }
    }
}
