//! What sessions and back-channel logout need beyond the first schema:
//! - `backchannel_attempts`: one row per POST of a logout token (status, latency, error), so an
//!   integrator's failures can be seen, as with webhook attempts;
//! - an index on `sessions.idle_expires_at`, which the reaper scans beside the absolute expiry;
//! - an index on `refresh_tokens.session_id` exists already; `backchannel_deliveries` gets one on
//!   `session_id` so a session's deliveries can be listed.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("sessions", "sessions_idle_expiry", &["idle_expires_at"]),
        index(
            "backchannel_deliveries",
            "backchannel_deliveries_session",
            &["session_id"],
        ),
        index(
            "backchannel_attempts",
            "backchannel_attempts_delivery",
            &["delivery_id"],
        ),
    ]
}

const INDEXES: &[(&str, &str)] = &[
    ("sessions", "sessions_idle_expiry"),
    ("backchannel_deliveries", "backchannel_deliveries_session"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("backchannel_attempts")
                    .col(id("id"))
                    .col(string("delivery_id"))
                    .col(time("attempted_at"))
                    .col(int_null("status_code"))
                    .col(int("latency_ms", 0))
                    .col(text_null("error"))
                    .foreign_key(&mut cascade(
                        "backchannel_attempts",
                        "delivery_id",
                        "backchannel_deliveries",
                    ))
                    .to_owned(),
            )
            .await?;
        for stmt in indexes() {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(*table)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table("backchannel_attempts")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
