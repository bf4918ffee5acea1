//! What webhook delivery needs beyond the first schema:
//! - `webhook_cursors`: the fan-out's position in the outbox, one row per environment, so a restart
//!   resumes where the last node stopped and only the node holding the row's lock advances it;
//! - on endpoints, the sequence an endpoint starts after (`from_seq`, so it never receives events
//!   committed before it existed) and the `Idempotency-Key` of the create request (with a hash of
//!   the request, so a reused key with a different body is refused);
//! - on deliveries, the event type (for logs without a join), the ordering key (the organization,
//!   or empty for environment-wide events) and whether the delivery was replayed (replays do not
//!   hold newer deliveries back), plus indexes for the ordering rule and the delivery log.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column definition) pairs, added one statement each (SQLite alters one column at a time).
fn added_columns() -> Vec<(&'static str, ColumnDef)> {
    vec![
        ("webhook_endpoints", big_default("from_seq", 0)),
        ("webhook_endpoints", string_null("idempotency_key")),
        ("webhook_endpoints", string_null("idempotency_hash")),
        (
            "webhook_deliveries",
            ColumnDef::new("event_type")
                .string()
                .not_null()
                .default("")
                .to_owned(),
        ),
        (
            "webhook_deliveries",
            ColumnDef::new("ordering_key")
                .string()
                .not_null()
                .default("")
                .to_owned(),
        ),
        ("webhook_deliveries", flag("replayed", false)),
    ]
}

fn big_default(name: &'static str, default: i64) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(default)
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(
            "webhook_endpoints",
            "webhook_endpoints_idempotency_key",
            &["idempotency_key"],
        ),
        // The ordering rule: "is an older delivery for this endpoint and organization pending?"
        index(
            "webhook_deliveries",
            "webhook_deliveries_endpoint_order",
            &["endpoint_id", "ordering_key", "status", "seq"],
        ),
        // The delivery log, newest first, and its live feed.
        index(
            "webhook_deliveries",
            "webhook_deliveries_endpoint_id",
            &["endpoint_id", "id"],
        ),
        index(
            "webhook_deliveries",
            "webhook_deliveries_endpoint_updated",
            &["endpoint_id", "updated_at"],
        ),
    ]
}

const INDEX_NAMES: &[(&str, &str)] = &[
    ("webhook_endpoints", "webhook_endpoints_idempotency_key"),
    ("webhook_deliveries", "webhook_deliveries_endpoint_order"),
    ("webhook_deliveries", "webhook_deliveries_endpoint_id"),
    ("webhook_deliveries", "webhook_deliveries_endpoint_updated"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table("webhook_cursors")
                    .col(id("environment_id"))
                    .col(big("last_seq"))
                    .col(time("updated_at"))
                    .to_owned(),
            )
            .await?;
        for (table, column) in added_columns() {
            manager
                .alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        for stmt in indexes() {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in INDEX_NAMES {
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
        for (table, column) in added_columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(column.get_column_name())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table("webhook_cursors")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_created_index_is_dropped() {
        let created: Vec<String> = indexes()
            .iter()
            .map(|i| i.to_string(SqliteQueryBuilder))
            .collect();
        assert_eq!(created.len(), INDEX_NAMES.len());
        for (sql, (_, name)) in created.iter().zip(INDEX_NAMES) {
            assert!(
                sql.contains(&format!("\"{name}\"")),
                "{sql} should be {name}"
            );
        }
    }
}
