//! Indexes the OpenID Connect provider's revocation paths need: refresh tokens by the authorization
//! code they descend from (a replayed code revokes them) and by user (a password reset revokes
//! them), and one-time codes by expiry (clean-up).

use crate::columns::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 3] = [
    (
        "refresh_tokens",
        "refresh_tokens_auth_code",
        "auth_code_hash",
    ),
    ("refresh_tokens", "refresh_tokens_user", "user_id"),
    ("one_time_codes", "one_time_codes_expires", "expires_at"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, column) in INDEXES {
            manager.create_index(index(table, name, &[column])).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
