//! What the members widget, invites and roles need beyond the first schema:
//! - `memberships_org_status_id`: the members page walks an organization's memberships in id order
//!   (keyset pagination) skipping removed ones, and counts seats, without touching other orgs' rows;
//! - `invites_org_status`: pending invites of an organization (seat counting, the widget).

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index(
            "memberships",
            "memberships_org_status_id",
            &["organization_id", "status", "id"],
        ),
        index(
            "invites",
            "invites_org_status",
            &["organization_id", "status"],
        ),
    ]
}

const INDEXES: &[(&str, &str)] = &[
    ("memberships", "memberships_org_status_id"),
    ("invites", "invites_org_status"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_index_is_dropped() {
        assert_eq!(super::indexes().len(), super::INDEXES.len());
    }
}
