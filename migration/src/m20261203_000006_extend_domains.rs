//! What domain verification needs beyond the first schema:
//! - `last_outcome` on domains: the machine-readable kind of the last check (`verified`,
//!   `no_record`, `nxdomain`, `mismatch`, `timeout`, `servfail`, `error`, `claimed`), beside the
//!   words in `last_result`;
//! - one row per domain and organization (`domains_org_domain`);
//! - the rule that a domain is verified by one organization only, as a partial unique index over
//!   verified rows, so it holds across nodes and racing transactions, not just in one process.

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn indexes() -> Vec<IndexCreateStatement> {
    let mut verified_once = unique("domains", "domains_verified_once", &["domain"]);
    verified_once.and_where(Expr::col("status").eq("verified"));
    vec![
        unique(
            "domains",
            "domains_org_domain",
            &["organization_id", "domain"],
        ),
        verified_once,
    ]
}

const INDEX_NAMES: &[&str] = &["domains_org_domain", "domains_verified_once"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("domains")
                    .add_column(string_null("last_outcome"))
                    .to_owned(),
            )
            .await?;
        for stmt in indexes() {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in INDEX_NAMES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table("domains")
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("domains")
                    .drop_column("last_outcome")
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verified_index_is_partial_on_both_backends() {
        let stmt = &indexes()[1];
        for sql in [
            stmt.to_string(SqliteQueryBuilder),
            stmt.to_string(PostgresQueryBuilder),
        ] {
            assert!(
                sql.starts_with("CREATE UNIQUE INDEX")
                    && sql.contains("\"domains_verified_once\"")
                    && sql.ends_with("WHERE \"status\" = 'verified'"),
                "{sql}"
            );
        }
        assert_eq!(indexes().len(), INDEX_NAMES.len());
    }
}
