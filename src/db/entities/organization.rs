use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub environment_id: String,
    pub name: String,
    pub external_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub logo_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub allowed_email_domains: String,
    pub max_users: Option<i32>,
    pub domain_join_policy: String,
    pub session_absolute_minutes: Option<i32>,
    pub session_idle_enabled: Option<bool>,
    pub session_idle_minutes: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
