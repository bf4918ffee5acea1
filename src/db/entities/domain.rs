use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "domains")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: String,
    /// ASCII (punycode), lower case, no trailing dot.
    pub domain: String,
    /// pending | verified | failed | expired | unverified (see `crate::domains::Status`).
    pub status: String,
    /// The random value the TXT record must carry. Not a credential: it is published in DNS.
    pub verification_token: String,
    /// dns | admin, once verified.
    pub verification_method: Option<String>,
    pub include_subdomains: bool,
    /// Checks made in the current window (the backoff step).
    pub attempts: i32,
    /// When the verifier next looks at this domain; `None`: never on its own.
    pub next_check_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    /// The last answer, in words for the widget.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_result: Option<String>,
    pub verified_at: Option<i64>,
    /// When a verified domain's record was first found missing.
    pub missing_since: Option<i64>,
    /// The end of the current verification window.
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The kind of the last answer (`crate::domains::CheckKind`).
    pub last_outcome: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
