use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub organization_id: Option<String>,
    pub auth_method: String,
    #[sea_orm(column_type = "Text")]
    pub user_agent: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
    pub auth_time: i64,
    pub reauth_at: i64,
    pub last_active_at: i64,
    pub idle_expires_at: Option<i64>,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
