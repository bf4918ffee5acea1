use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "environments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub logo_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub favicon_url: Option<String>,
    pub primary_color: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub custom_domains: String,
    #[sea_orm(column_type = "Text")]
    pub initiate_login_uri: Option<String>,
    pub session_absolute_minutes: i32,
    pub session_idle_enabled: bool,
    pub session_idle_minutes: i32,
    pub id_token_ttl_secs: i32,
    pub access_token_ttl_secs: i32,
    pub refresh_token_ttl_secs: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
